// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A test-only ERC-20 on OpenZeppelin's ERC20: `supply` (in base units) minted to
/// `holder` at construction, and the given number of decimals (18 like most tokens, 6 like USDC).
/// Name and symbol are whatever the deployer says, so a test can deploy a hostile one whose
/// `symbol()` reads like an instruction to the model.
contract TestToken is ERC20 {
    uint8 private immutable _decimals;

    constructor(string memory name_, string memory symbol_, uint8 decimals_, address holder, uint256 supply)
        ERC20(name_, symbol_)
    {
        _decimals = decimals_;
        _mint(holder, supply);
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }
}
