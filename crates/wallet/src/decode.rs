//! What a transaction would do, read from its bytes by the wallet itself: the function, its
//! arguments, and the reasons it must wait for the human whatever the daily caps say.
//!
//! The gate's caps count value; they cannot see that an `approve` hands over every token, that
//! a `transfer` carries the user's notes hex-encoded after its arguments, or that a swap pays
//! its output to someone else. This module can, and says so in [`Decoded::must_confirm`], which
//! the wallet copies into the gate action (`ActionRequest::must_confirm`).
//!
//! # What it decodes
//! - No call data: a plain ETH transfer.
//! - ERC-20 `transfer`, `transferFrom`, `approve`, `increaseAllowance`, EIP-2612 `permit`;
//!   ERC-721/1155 `setApprovalForAll`; Permit2's `approve` and `permit`; Uniswap V2 router
//!   swaps (`swapExact…`, exact input).
//! - Anything else is [`Call::Unknown`]: always confirmed, with any readable text it carries
//!   shown.
//!
//! # Always confirmed
//! An `approve`/`increaseAllowance`/`permit` of a non-zero amount (revoking, amount 0, is
//! not), `setApprovalForAll(…, true)`, `transferFrom` (it moves tokens by an allowance, which
//! is not how the user pays), any Permit2 call, a swap whose output goes to an address that is
//! not one of the user's, a call whose bytes are not exactly the canonical encoding of its
//! arguments (extra bytes after them, dirty padding: room for smuggled data), an unknown call,
//! and ETH sent along with a call that does not take it.
//!
//! # Not decided here
//! Prices and slippage (the wallet's quote against the swap's minimum), the recipient's
//! history (the gate: a first payment is confirmed), and typed-data signatures
//! (`eth_signTypedData`), which are never transactions and are always confirmed where they are
//! made.

use alloy::primitives::{Address, U256};
use alloy::sol;
use alloy::sol_types::SolCall;

sol! {
    function transfer(address to, uint256 amount) returns (bool);
    function transferFrom(address from, address to, uint256 amount) returns (bool);
    function approve(address spender, uint256 amount) returns (bool);
    function increaseAllowance(address spender, uint256 addedValue) returns (bool);
    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s);
    function setApprovalForAll(address operator, bool approved);
    function swapExactETHForTokens(uint256 amountOutMin, address[] path, address to, uint256 deadline) returns (uint256[] amounts);
    function swapExactTokensForETH(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline) returns (uint256[] amounts);
    function swapExactTokensForTokens(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline) returns (uint256[] amounts);
}

/// Permit2's own `approve(address token, address spender, uint160 amount, uint48 expiration)`
/// and its `permit` overloads (single, batch) and `permitTransferFrom` forms, by selector:
/// the wallet does not build them, so it only needs to know them when it sees them.
const PERMIT2_SELECTORS: [([u8; 4], &str); 5] = [
    ([0x87, 0x51, 0x7c, 0x45], "Permit2 approve(token, spender, amount, expiration)"),
    ([0x2b, 0x67, 0xb5, 0x70], "Permit2 permit(owner, permitSingle, signature)"),
    ([0x2a, 0x2d, 0x80, 0xd1], "Permit2 permit(owner, permitBatch, signature)"),
    ([0x30, 0xf2, 0x8b, 0x7a], "Permit2 permitTransferFrom(permit, transferDetails, owner, signature)"),
    ([0xed, 0xd9, 0x44, 0x4b], "Permit2 permitTransferFrom(permit, transferDetails[], owner, signature)"),
];

/// An amount this large (or larger) is "unlimited": no one approves 2^255 units of anything
/// for a purpose of their own.
fn unlimited(amount: U256) -> bool {
    amount >= U256::from(1u8) << 255
}

/// What a call does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// ETH to `to`, no call data.
    EthTransfer {
        /// The recipient.
        to: Address,
        /// Wei.
        value: U256,
    },
    /// ERC-20 `transfer` on `token`.
    Transfer {
        /// The token contract.
        token: Address,
        /// The recipient.
        to: Address,
        /// In the token's smallest unit.
        amount: U256,
    },
    /// ERC-20 `transferFrom` on `token`.
    TransferFrom {
        /// The token contract.
        token: Address,
        /// Whose tokens.
        from: Address,
        /// The recipient.
        to: Address,
        /// In the token's smallest unit.
        amount: U256,
    },
    /// `approve`, `increaseAllowance` or EIP-2612 `permit` on `token`: `spender` may take
    /// `amount` (on top of what it had, for `increaseAllowance`).
    Allowance {
        /// The token contract.
        token: Address,
        /// The function's name.
        function: &'static str,
        /// Who may spend.
        spender: Address,
        /// How much.
        amount: U256,
    },
    /// `setApprovalForAll` on a collection.
    ApprovalForAll {
        /// The collection contract.
        collection: Address,
        /// Who may move every item.
        operator: Address,
        /// Granted (true) or revoked.
        approved: bool,
    },
    /// A Uniswap V2 router swap with an exact input.
    Swap {
        /// The router.
        router: Address,
        /// The function's name.
        function: &'static str,
        /// What goes in (wei for `swapExactETHForTokens`).
        amount_in: U256,
        /// The least that may come out.
        amount_out_min: U256,
        /// Token path, first in, last out.
        path: Vec<Address>,
        /// Who gets the output.
        to: Address,
        /// Unix seconds after which the router refuses it.
        deadline: U256,
    },
    /// A Permit2 call (named).
    Permit2 {
        /// The contract called.
        contract: Address,
        /// Which function.
        function: &'static str,
    },
    /// Anything else.
    Unknown {
        /// The contract called.
        contract: Address,
        /// The first four bytes, if there are four.
        selector: Option<[u8; 4]>,
    },
}

/// A decoded transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// What it does.
    pub call: Call,
    /// Why it needs the human whatever the caps, one plain sentence each (empty: the caps and
    /// the recipient's history decide).
    pub must_confirm: Vec<String>,
}

/// Runs of at least this many printable ASCII characters in call data are shown as text.
const TEXT_RUN: usize = 12;

/// The readable text in `data` (runs of printable ASCII), at most a few, each cut short.
fn readable_text(data: &[u8]) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current = String::new();
    for &b in data.iter().chain(std::iter::once(&0u8)) {
        if (0x20..0x7f).contains(&b) {
            current.push(char::from(b));
        } else {
            if current.trim().len() >= TEXT_RUN {
                let shown: String = current.trim().chars().take(60).collect();
                runs.push(shown);
            }
            current.clear();
        }
    }
    runs.truncate(3);
    runs
}

/// `data` decoded as `C`, only if it is exactly `C`'s canonical encoding (no bytes after the
/// arguments, no dirty padding); `Err` says how many bytes it has beyond that, or that it does
/// not decode.
fn strict<C: SolCall>(data: &[u8]) -> Result<C, String> {
    let call = C::abi_decode(data).map_err(|e| format!("its arguments do not decode ({e})"))?;
    let canonical = call.abi_encode();
    if canonical == data {
        return Ok(call);
    }
    Err(match data.len().checked_sub(canonical.len()) {
        Some(extra) if extra > 0 && data.starts_with(&canonical) => {
            format!("it carries {extra} bytes after its arguments")
        }
        _ => "its arguments are not in the standard encoding (dirty padding or offsets)".into(),
    })
}

/// Decodes a transaction to `to` sending `value` wei with `data`, for a user whose accounts are
/// `own` (a swap's output to anyone else is flagged).
pub fn decode(to: Address, value: U256, data: &[u8], own: &[Address]) -> Decoded {
    let mut must_confirm = Vec::new();
    if data.is_empty() {
        return Decoded { call: Call::EthTransfer { to, value }, must_confirm };
    }
    let selector: Option<[u8; 4]> = data.get(..4).and_then(|s| s.try_into().ok());
    let unknown = |why: String, must_confirm: &mut Vec<String>| {
        let mut reason = format!("a call to {to} the wallet cannot decode: {why}");
        let text = readable_text(data);
        if !text.is_empty() {
            reason.push_str(&format!("; it carries text: {}", text.join(" / ")));
        }
        must_confirm.push(reason);
        Call::Unknown { contract: to, selector }
    };
    let call = match selector {
        Some(transferCall::SELECTOR) => match strict::<transferCall>(data) {
            Ok(c) => Call::Transfer { token: to, to: c.to, amount: c.amount },
            Err(why) => unknown(format!("a transfer whose bytes are odd: {why}"), &mut must_confirm),
        },
        Some(transferFromCall::SELECTOR) => match strict::<transferFromCall>(data) {
            Ok(c) => {
                must_confirm
                    .push(format!("transferFrom moves {}'s tokens by an allowance, which is not how you pay", c.from));
                Call::TransferFrom { token: to, from: c.from, to: c.to, amount: c.amount }
            }
            Err(why) => unknown(format!("a transferFrom whose bytes are odd: {why}"), &mut must_confirm),
        },
        Some(approveCall::SELECTOR) => match strict::<approveCall>(data) {
            Ok(c) => allowance(to, "approve", c.spender, c.amount, &mut must_confirm),
            Err(why) => unknown(format!("an approve whose bytes are odd: {why}"), &mut must_confirm),
        },
        Some(increaseAllowanceCall::SELECTOR) => match strict::<increaseAllowanceCall>(data) {
            Ok(c) => allowance(to, "increaseAllowance", c.spender, c.addedValue, &mut must_confirm),
            Err(why) => unknown(format!("an increaseAllowance whose bytes are odd: {why}"), &mut must_confirm),
        },
        Some(permitCall::SELECTOR) => match strict::<permitCall>(data) {
            Ok(c) => {
                let call = allowance(to, "permit", c.spender, c.value, &mut must_confirm);
                if c.value.is_zero() {
                    must_confirm.push("a permit is a signature someone else may use: confirm it yourself".into());
                }
                call
            }
            Err(why) => unknown(format!("a permit whose bytes are odd: {why}"), &mut must_confirm),
        },
        Some(setApprovalForAllCall::SELECTOR) => match strict::<setApprovalForAllCall>(data) {
            Ok(c) => {
                if c.approved {
                    must_confirm
                        .push(format!("setApprovalForAll lets {} move every item of the collection {to}", c.operator));
                }
                Call::ApprovalForAll { collection: to, operator: c.operator, approved: c.approved }
            }
            Err(why) => unknown(format!("a setApprovalForAll whose bytes are odd: {why}"), &mut must_confirm),
        },
        Some(
            selector @ (swapExactETHForTokensCall::SELECTOR
            | swapExactTokensForETHCall::SELECTOR
            | swapExactTokensForTokensCall::SELECTOR),
        ) => {
            // (function, amount in, least out, path, recipient, deadline): one shape, three ABIs.
            let decoded = match selector {
                swapExactETHForTokensCall::SELECTOR => strict::<swapExactETHForTokensCall>(data)
                    .map(|c| ("swapExactETHForTokens", value, c.amountOutMin, c.path, c.to, c.deadline)),
                swapExactTokensForETHCall::SELECTOR => strict::<swapExactTokensForETHCall>(data)
                    .map(|c| ("swapExactTokensForETH", c.amountIn, c.amountOutMin, c.path, c.to, c.deadline)),
                _ => strict::<swapExactTokensForTokensCall>(data)
                    .map(|c| ("swapExactTokensForTokens", c.amountIn, c.amountOutMin, c.path, c.to, c.deadline)),
            };
            match decoded {
                Ok((function, amount_in, least, path, recipient, deadline)) => {
                    swap(to, function, amount_in, least, path, recipient, deadline, own, &mut must_confirm)
                }
                Err(why) => unknown(format!("a swap whose bytes are odd: {why}"), &mut must_confirm),
            }
        }
        Some(s) => match PERMIT2_SELECTORS.iter().find(|(sel, _)| *sel == s) {
            Some((_, function)) => {
                must_confirm
                    .push(format!("{function}: a Permit2 allowance or signature lets someone else take your tokens"));
                Call::Permit2 { contract: to, function }
            }
            None => unknown(format!("its function 0x{} is not one it knows", alloy::hex::encode(s)), &mut must_confirm),
        },
        None => {
            unknown(format!("its {} bytes of data are not even a function selector", data.len()), &mut must_confirm)
        }
    };
    let takes_eth = matches!(&call, Call::Swap { function: "swapExactETHForTokens", .. });
    if !value.is_zero() && !takes_eth && !matches!(call, Call::Unknown { .. }) {
        must_confirm.push(format!("{value} wei is sent along with a call that does not take ETH"));
    }
    Decoded { call, must_confirm }
}

fn allowance(
    token: Address,
    function: &'static str,
    spender: Address,
    amount: U256,
    must_confirm: &mut Vec<String>,
) -> Call {
    if !amount.is_zero() {
        let how_much = if unlimited(amount) { "every".to_owned() } else { format!("up to {amount} units of") };
        must_confirm.push(format!("{function} lets {spender} take {how_much} token {token} you hold"));
    }
    Call::Allowance { token, function, spender, amount }
}

#[allow(clippy::too_many_arguments)]
fn swap(
    router: Address,
    function: &'static str,
    amount_in: U256,
    amount_out_min: U256,
    path: Vec<Address>,
    to: Address,
    deadline: U256,
    own: &[Address],
    must_confirm: &mut Vec<String>,
) -> Call {
    if !own.contains(&to) {
        must_confirm.push(format!("the swap pays its output to {to}, which is not one of your accounts"));
    }
    if path.len() < 2 {
        must_confirm.push("the swap's path names fewer than two tokens".into());
    }
    Call::Swap { router, function, amount_in, amount_out_min, path, to, deadline }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;

    const TOKEN: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    const ALICE: Address = address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    const MALLORY: Address = address!("0x00000000000000000000000000000000DeaDBeef");

    fn calldata<C: SolCall>(call: C) -> Vec<u8> {
        call.abi_encode()
    }

    #[test]
    fn a_plain_transfer_decodes_and_waits_for_nothing_but_the_caps() {
        let data = calldata(transferCall { to: ALICE, amount: U256::from(5u8) });
        let d = decode(TOKEN, U256::ZERO, &data, &[ALICE]);
        assert_eq!(d.call, Call::Transfer { token: TOKEN, to: ALICE, amount: U256::from(5u8) });
        assert!(d.must_confirm.is_empty(), "{:?}", d.must_confirm);
        let eth = decode(ALICE, U256::from(7u8), &[], &[]);
        assert_eq!(eth.call, Call::EthTransfer { to: ALICE, value: U256::from(7u8) });
        assert!(eth.must_confirm.is_empty());
    }

    #[test]
    fn a_transfer_with_notes_after_its_arguments_is_confirmed_and_shows_them() {
        let mut data = calldata(transferCall { to: ALICE, amount: U256::from(1u8) });
        data.extend_from_slice(b"seed: abandon ability able about above absent absorb");
        let d = decode(TOKEN, U256::ZERO, &data, &[]);
        assert!(matches!(d.call, Call::Unknown { .. }), "{:?}", d.call);
        let reason = d.must_confirm.join(" ");
        assert!(reason.contains("bytes after its arguments") && reason.contains("seed: abandon"), "{reason}");
    }

    #[test]
    fn dirty_padding_is_not_a_transfer() {
        let mut data = calldata(transferCall { to: ALICE, amount: U256::from(1u8) });
        data[4] = 0x42; // the address word's first (padding) byte
        let d = decode(TOKEN, U256::ZERO, &data, &[]);
        assert!(matches!(d.call, Call::Unknown { .. }), "{:?}", d.call);
        assert!(!d.must_confirm.is_empty());
    }

    #[test]
    fn allowances_are_confirmed_and_revoking_is_not() {
        let max = decode(TOKEN, U256::ZERO, &calldata(approveCall { spender: MALLORY, amount: U256::MAX }), &[]);
        assert!(max.must_confirm[0].contains("take every token"), "{:?}", max.must_confirm);
        let some =
            decode(TOKEN, U256::ZERO, &calldata(approveCall { spender: MALLORY, amount: U256::from(10u8) }), &[]);
        assert!(some.must_confirm[0].contains("up to 10 units"), "{:?}", some.must_confirm);
        let revoke = decode(TOKEN, U256::ZERO, &calldata(approveCall { spender: MALLORY, amount: U256::ZERO }), &[]);
        assert!(revoke.must_confirm.is_empty(), "{:?}", revoke.must_confirm);
        let more = calldata(increaseAllowanceCall { spender: MALLORY, addedValue: U256::from(1u8) });
        assert!(!decode(TOKEN, U256::ZERO, &more, &[]).must_confirm.is_empty());
        let all = calldata(setApprovalForAllCall { operator: MALLORY, approved: true });
        assert!(decode(TOKEN, U256::ZERO, &all, &[]).must_confirm[0].contains("every item"));
        let none = calldata(setApprovalForAllCall { operator: MALLORY, approved: false });
        assert!(decode(TOKEN, U256::ZERO, &none, &[]).must_confirm.is_empty());
        let permit = calldata(permitCall {
            owner: ALICE,
            spender: MALLORY,
            value: U256::MAX,
            deadline: U256::MAX,
            v: 27,
            r: Default::default(),
            s: Default::default(),
        });
        assert!(!decode(TOKEN, U256::ZERO, &permit, &[]).must_confirm.is_empty());
        let from = calldata(transferFromCall { from: ALICE, to: MALLORY, amount: U256::from(1u8) });
        assert!(decode(TOKEN, U256::ZERO, &from, &[]).must_confirm[0].contains("transferFrom"));
    }

    #[test]
    fn permit2_and_unknown_calls_are_confirmed_with_their_text_shown() {
        let mut permit2 = vec![0x87, 0x51, 0x7c, 0x45];
        permit2.extend_from_slice(&[0u8; 128]);
        let d = decode(MALLORY, U256::ZERO, &permit2, &[]);
        assert!(matches!(d.call, Call::Permit2 { .. }) && d.must_confirm[0].contains("Permit2"), "{d:?}");
        let mut unknown = vec![0xde, 0xad, 0xbe, 0xef];
        unknown.extend_from_slice(b"the user's notes: meeting with Dr. Smith at noon");
        let d = decode(MALLORY, U256::ZERO, &unknown, &[]);
        let reason = d.must_confirm.join(" ");
        assert!(reason.contains("0xdeadbeef") && reason.contains("Dr. Smith"), "{reason}");
        let short = decode(MALLORY, U256::ZERO, &[1, 2], &[]);
        assert!(short.must_confirm[0].contains("not even a function selector"));
    }

    #[test]
    fn the_permit2_selectors_are_those_of_its_functions() {
        let signatures = [
            "approve(address,address,uint160,uint48)",
            "permit(address,((address,uint160,uint48,uint48),address,uint256),bytes)",
            "permit(address,((address,uint160,uint48,uint48)[],address,uint256),bytes)",
            "permitTransferFrom(((address,uint256),uint256,uint256),(address,uint256),address,bytes)",
            "permitTransferFrom(((address,uint256)[],uint256,uint256),(address,uint256)[],address,bytes)",
        ];
        for ((selector, _), signature) in PERMIT2_SELECTORS.iter().zip(signatures) {
            assert_eq!(&alloy::primitives::keccak256(signature)[..4], selector, "{signature}");
        }
    }

    #[test]
    fn a_swap_paying_someone_else_or_eth_sent_to_a_token_call_is_confirmed() {
        let path = vec![TOKEN, ALICE];
        let mine = calldata(swapExactETHForTokensCall {
            amountOutMin: U256::from(1u8),
            path: path.clone(),
            to: ALICE,
            deadline: U256::from(2_000_000_000u64),
        });
        let d = decode(MALLORY, U256::from(100u8), &mine, &[ALICE]);
        assert!(matches!(d.call, Call::Swap { amount_in, .. } if amount_in == U256::from(100u8)), "{d:?}");
        assert!(d.must_confirm.is_empty(), "{:?}", d.must_confirm);
        let theirs = calldata(swapExactTokensForTokensCall {
            amountIn: U256::from(5u8),
            amountOutMin: U256::ZERO,
            path,
            to: MALLORY,
            deadline: U256::from(2_000_000_000u64),
        });
        let d = decode(MALLORY, U256::ZERO, &theirs, &[ALICE]);
        assert!(d.must_confirm[0].contains("not one of your accounts"), "{:?}", d.must_confirm);
        let data = calldata(transferCall { to: ALICE, amount: U256::from(1u8) });
        let d = decode(TOKEN, U256::from(1u8), &data, &[ALICE]);
        assert!(d.must_confirm[0].contains("does not take ETH"), "{:?}", d.must_confirm);
    }
}
