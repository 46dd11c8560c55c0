use pretty_assertions::assert_eq;
use sov_chain::bindings::ZkApiCredits as C;
use sov_chain::testing::Anvil;
use sov_chain::{Credits, MemberState, Revert, U256};

use super::harness::{Chain, Identity, Mirror, PRICE, external_nullifier, price, refused};

/// The BN254 scalar field's modulus, the bound on every field element the contract accepts.
fn field() -> U256 {
    "21888242871839275222246405745257275088548364400416034343698204186575808495617".parse().unwrap()
}

#[tokio::test]
async fn a_new_contract_reads_back_its_parameters_and_rlns_empty_root() {
    let chain = Chain::start().await;
    let c = &chain.provider;
    assert_eq!(c.price().await.unwrap(), U256::from(PRICE));
    assert_eq!(c.external_nullifier().await.unwrap(), external_nullifier());
    assert_eq!(c.provider().await.unwrap(), Anvil::signer(0).address());
    assert_eq!(c.claim_window().await.unwrap(), super::harness::WINDOW);
    assert_eq!(c.leaf_count().await.unwrap(), 0);
    let empty = Mirror::new().root();
    assert_eq!(c.root().await.unwrap(), empty);
    assert!(c.is_known_root(empty).await.unwrap());
    assert!(!c.is_known_root(U256::ZERO).await.unwrap(), "unused history slots must not make 0 a root");
    assert_eq!(c.leaves().await.unwrap(), Vec::<U256>::new());
    assert!(c.deployment().unwrap().gas_used > 0);
}

#[tokio::test]
async fn deployment_refuses_a_zero_price_or_an_external_nullifier_outside_the_field() {
    let anvil = Anvil::start().unwrap();
    let http = anvil.http();
    let deploy = |price: u64, ext: U256, window: u64| {
        Credits::deploy(anvil.url(), Anvil::signer(0), U256::from(price), ext, window, &http)
    };
    assert_eq!(refused(deploy(0, U256::from(1u64), 10).await), Revert::ZeroPrice(C::ZeroPrice {}));
    assert_eq!(refused(deploy(1, U256::from(1u64), 0).await), Revert::ZeroClaimWindow(C::ZeroClaimWindow {}));
    assert_eq!(
        refused(deploy(1, field(), 10).await),
        Revert::ExternalNullifierNotInField(C::ExternalNullifierNotInField { externalNullifier: field() })
    );
}

#[tokio::test]
async fn bad_deposits_are_refused_with_the_named_error_and_change_nothing() {
    let chain = Chain::start().await;
    let user = chain.account(1);
    let id = Identity::new(1).commitment;
    let root_before = user.root().await.unwrap();

    let zero = user.deposit(U256::ZERO, price(1)).await.unwrap_err();
    assert!(zero.to_string().contains("deposit refused by the contract: ZeroCommitment"), "{zero}");
    assert_eq!(refused(user.deposit(U256::ZERO, price(1)).await), Revert::ZeroCommitment(C::ZeroCommitment {}));
    assert_eq!(
        refused(user.deposit(field(), price(1)).await),
        Revert::CommitmentNotInField(C::CommitmentNotInField { idCommitment: field() })
    );
    assert_eq!(
        refused(user.deposit(id, U256::ZERO).await),
        Revert::LimitOutOfRange(C::LimitOutOfRange { limit: U256::ZERO, maxLimit: U256::from(65535u64) })
    );
    let odd = price(2) + U256::from(1u64);
    assert_eq!(
        refused(user.deposit(id, odd).await),
        Revert::ValueNotMultipleOfPrice(C::ValueNotMultipleOfPrice { value: odd, price: U256::from(PRICE) })
    );
    assert_eq!(
        refused(user.deposit(id, price(65536)).await),
        Revert::LimitOutOfRange(C::LimitOutOfRange { limit: U256::from(65536u64), maxLimit: U256::from(65535u64) })
    );
    assert_eq!(user.leaf_count().await.unwrap(), 0);
    assert_eq!(user.root().await.unwrap(), root_before);
    assert_eq!(user.member(id).await.unwrap(), None);

    // Refused calls must not leave a nonce gap that would stall this account's next transaction.
    user.deposit(id, price(65535)).await.unwrap();
    let again = chain.account(2).deposit(id, price(1)).await;
    assert_eq!(refused(again), Revert::AlreadyRegistered(C::AlreadyRegistered { idCommitment: id }));
    assert_eq!(user.leaf_count().await.unwrap(), 1);
}

#[tokio::test]
async fn the_contracts_root_is_rlns_root_after_every_deposit_and_stays_known() {
    let chain = Chain::start().await;
    let mut mirror = Mirror::new();
    let mut roots = vec![mirror.root()];
    let limits = [1u64, 3, 100, 2, 65535, 7];
    for (i, limit) in limits.iter().enumerate() {
        let id = Identity::new(10 + i as u64);
        let user = chain.account(1 + i % 3);
        let deposit = user.deposit(id.commitment, price(*limit)).await.unwrap();
        mirror.push(id.rate_commitment(*limit));
        assert_eq!(deposit.leaf_index as usize, i);
        assert_eq!(u64::from(deposit.limit), *limit);
        assert_eq!(deposit.rate_commitment, id.rate_commitment(*limit), "leaf = Poseidon([idCommitment, limit])");
        assert_eq!(deposit.root, mirror.root(), "root after deposit {i}");
        assert_eq!(user.root().await.unwrap(), mirror.root());
        roots.push(deposit.root);

        let member = user.member(id.commitment).await.unwrap().unwrap();
        assert_eq!(
            member,
            sov_chain::Member {
                depositor: Anvil::signer(1 + i % 3).address(),
                leaf_index: i as u32,
                limit: *limit as u16,
                state: MemberState::Active,
                amount: price(*limit),
            }
        );
    }
    for root in &roots {
        assert!(chain.provider.is_known_root(*root).await.unwrap());
    }
    assert_eq!(chain.provider.leaves().await.unwrap(), mirror.leaves());
    let records = chain.provider.deposits().await.unwrap();
    assert_eq!(records.len(), limits.len());
    assert_eq!(records.iter().map(|r| r.root).collect::<Vec<_>>(), roots[1..]);
    assert_eq!(records[4].amount, price(65535));
    assert_eq!(chain.provider.balance(chain.provider.address()).await.unwrap(), price(limits.iter().sum()));
}

#[tokio::test]
async fn the_root_history_keeps_the_last_64_roots() {
    let chain = Chain::start().await;
    let user = chain.account(1);
    let first = user.root().await.unwrap();
    let mut roots = vec![first];
    for i in 0..64 {
        roots.push(user.deposit(Identity::new(1000 + i).commitment, price(1)).await.unwrap().root);
    }
    assert!(!user.is_known_root(first).await.unwrap(), "65 roots ago: forgotten");
    for root in &roots[1..] {
        assert!(user.is_known_root(*root).await.unwrap());
    }
}

#[tokio::test]
async fn the_poseidon_libraries_arrive_through_the_keyless_proxy_on_a_chain_without_one() {
    let chain = Chain::start_on(Anvil::start_with(&["--disable-default-create2-deployer"]).unwrap()).await;
    let id = Identity::new(5);
    let deposit = chain.account(1).deposit(id.commitment, price(2)).await.unwrap();
    let mut mirror = Mirror::new();
    mirror.push(id.rate_commitment(2));
    assert_eq!(deposit.root, mirror.root());
}
