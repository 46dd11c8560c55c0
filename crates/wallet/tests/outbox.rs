//! The outbox on a real anvil: a transaction is signed once and reaches the chain once, whatever
//! step a crash interrupts (a crash is the outbox dropped and opened again on the same file,
//! between the steps `Outbox::send` takes), and nonces stay consistent.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use alloy::primitives::{Bytes, U256};
use alloy::providers::Provider;
use sov_chain::testing::Anvil;
use sov_wallet::send::{Outbox, Outgoing, provider};

const ETH: u128 = 1_000_000_000_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_is_signed_once_and_reaches_the_chain_once_across_crashes() {
    let anvil = Anvil::start().unwrap();
    let chain = provider(anvil.url(), &anvil.http()).unwrap();
    let signer = Anvil::signer(1);
    let me = signer.address();
    let bob = Anvil::signer(5).address();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wallet/outbox.db");
    let pay = Outgoing { to: bob, value: U256::from(ETH), data: Bytes::new() };
    let bob_before = chain.get_balance(bob).await.unwrap();

    // A crash after signing, before broadcasting: stored, and nothing on the chain.
    let outbox = Outbox::open(&path).unwrap();
    let (signed, _, again) = outbox.sign("action-1", &pay, &signer, &chain).await.unwrap();
    assert!(!again);
    assert_eq!((signed.nonce, signed.state.as_str()), (0, "signed"));
    assert_eq!(chain.get_transaction_count(me).await.unwrap(), 0, "nothing was broadcast");
    drop(outbox);

    // The gate runs the action again after the restart: the stored bytes go out, not new ones.
    let outbox = Outbox::open(&path).unwrap();
    let sent = outbox.send("action-1", &pay, &signer, &chain).await.unwrap();
    assert!(sent.again && sent.hash == signed.hash, "{sent:?}");
    // A crash after broadcasting (before the outbox said so): run again, the node has it.
    drop(outbox);
    let outbox = Outbox::open(&path).unwrap();
    let resent = outbox.send("action-1", &pay, &signer, &chain).await.unwrap();
    assert_eq!((resent.hash, resent.nonce, resent.again), (signed.hash, 0, true));
    // Even asked to send something else under the same action, it sends what it signed.
    let other = Outgoing { to: bob, value: U256::from(5 * ETH), data: Bytes::new() };
    assert_eq!(outbox.send("action-1", &other, &signer, &chain).await.unwrap().hash, signed.hash);
    // One transaction on the chain: one nonce used, exactly 1 ETH arrived.
    assert!(chain.get_transaction_receipt(signed.hash).await.unwrap().is_some_and(|r| r.status()));
    assert_eq!(chain.get_transaction_count(me).await.unwrap(), 1);
    assert_eq!(chain.get_balance(bob).await.unwrap() - bob_before, U256::from(ETH));
    assert_eq!(outbox.get("action-1").unwrap().unwrap().state, "broadcast");

    // Two actions signed before either is broadcast take the next two nonces, not the same one.
    let (second, _, _) = outbox.sign("action-2", &pay, &signer, &chain).await.unwrap();
    let (third, _, _) = outbox.sign("action-3", &pay, &signer, &chain).await.unwrap();
    assert_eq!((second.nonce, third.nonce), (1, 2));
    for action in ["action-3", "action-2"] {
        outbox.send(action, &pay, &signer, &chain).await.unwrap();
    }
    for hash in [second.hash, third.hash] {
        let mut mined = None;
        for _ in 0..100 {
            mined = chain.get_transaction_receipt(hash).await.unwrap();
            if mined.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(mined.is_some_and(|r| r.status()), "{hash} was not mined");
    }
    assert_eq!(chain.get_transaction_count(me).await.unwrap(), 3);
    assert_eq!(chain.get_balance(bob).await.unwrap() - bob_before, U256::from(3 * ETH));

    // A transaction that cannot succeed (more than the account holds) is refused before it is
    // signed: nothing stored, nothing sent.
    let too_much = Outgoing { to: bob, value: U256::from(1_000_000 * ETH), data: Bytes::new() };
    let err = outbox.send("action-4", &too_much, &signer, &chain).await.unwrap_err();
    assert!(err.to_string().contains("not signed"), "{err}");
    assert_eq!(outbox.get("action-4").unwrap(), None);
    assert_eq!(chain.get_transaction_count(me).await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_transfer_that_would_revert_is_never_signed_and_one_that_can_goes_through() {
    use alloy::sol_types::SolCall;
    use sov_chain::testing::wallet::{ALICE, ALICE_TEST, WalletChain};
    let anvil = Anvil::start().unwrap();
    let fixtures = WalletChain::deploy(anvil.url(), &anvil.http()).await.unwrap();
    let chain = provider(anvil.url(), &anvil.http()).unwrap();
    let alice = Anvil::signer(ALICE);
    let bob = Anvil::signer(5).address();
    let outbox = Outbox::open(&tempfile::tempdir().unwrap().path().join("outbox.db")).unwrap();
    let transfer = |amount: U256| Outgoing {
        to: fixtures.test_token,
        value: U256::ZERO,
        data: sov_wallet::decode::transferCall { to: bob, amount }.abi_encode().into(),
    };
    let nonce = chain.get_transaction_count(alice.address()).await.unwrap();
    let err = outbox.send("too-much", &transfer(U256::from(ALICE_TEST + 1)), &alice, &chain).await.unwrap_err();
    assert!(err.to_string().contains("would fail"), "{err}");
    assert_eq!(outbox.get("too-much").unwrap(), None);
    assert_eq!(chain.get_transaction_count(alice.address()).await.unwrap(), nonce, "nothing was signed");
    let sent = outbox.send("fine", &transfer(U256::from(7u8)), &alice, &chain).await.unwrap();
    assert_eq!(sent.nonce, nonce);
    assert!(chain.get_transaction_receipt(sent.hash).await.unwrap().is_some_and(|r| r.status()));
}
