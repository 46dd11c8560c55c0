// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.7.0;

import "@ensdomains/ens/contracts/ENS.sol";

/// @notice A minimal ENS resolver for tests: the `addr` (EIP-137) and `name` (EIP-181) profiles
/// of ENS's PublicResolver, with the same rule that only the node's owner in the registry may set
/// a record. (PublicResolver itself would bring in the DNSSEC oracle and half of ENS's packages.)
/// ENS's ReverseRegistrar uses it as its default resolver through `setName(bytes32,string)`.
contract TestResolver {
    bytes4 private constant INTERFACE_META_ID = 0x01ffc9a7; // supportsInterface(bytes4)
    bytes4 private constant ADDR_INTERFACE_ID = 0x3b3b57de; // addr(bytes32)
    bytes4 private constant NAME_INTERFACE_ID = 0x691f3431; // name(bytes32)

    ENS public immutable ens;
    mapping(bytes32 => address) private addresses;
    mapping(bytes32 => string) private names;

    event AddrChanged(bytes32 indexed node, address a);
    event NameChanged(bytes32 indexed node, string name);

    constructor(ENS ens_) {
        ens = ens_;
    }

    modifier authorised(bytes32 node) {
        address owner = ens.owner(node);
        require(owner == msg.sender || ens.isApprovedForAll(owner, msg.sender), "not authorised for this node");
        _;
    }

    function setAddr(bytes32 node, address a) external authorised(node) {
        addresses[node] = a;
        emit AddrChanged(node, a);
    }

    function addr(bytes32 node) external view returns (address) {
        return addresses[node];
    }

    function setName(bytes32 node, string calldata newName) external authorised(node) {
        names[node] = newName;
        emit NameChanged(node, newName);
    }

    function name(bytes32 node) external view returns (string memory) {
        return names[node];
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == INTERFACE_META_ID || interfaceId == ADDR_INTERFACE_ID || interfaceId == NAME_INTERFACE_ID;
    }
}
