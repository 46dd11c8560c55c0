use pretty_assertions::assert_eq;
use sov_chain::bindings::ZkApiCredits as C;
use sov_chain::{Address, MemberState, Revert, U256};

use super::harness::{Chain, Identity, Mirror, price, refused};

#[tokio::test]
async fn slashing_with_the_secret_pays_the_whole_deposit_and_a_wrong_secret_moves_nothing() {
    let chain = Chain::start().await;
    let user = chain.account(1);
    let id = Identity::new(7);
    user.deposit(Identity::new(6).commitment, price(1)).await.unwrap();
    user.deposit(id.commitment, price(40)).await.unwrap();
    let mut mirror = chain.mirror().await;
    let beneficiary = Address::repeat_byte(0xbe);
    let slasher = chain.account(3);
    let contract_before = slasher.balance(slasher.address()).await.unwrap();

    let wrong = Identity::new(8);
    assert_eq!(
        refused(slasher.slash(wrong.secret, beneficiary, &mirror.siblings(1)).await),
        Revert::UnknownMember(C::UnknownMember { idCommitment: wrong.commitment })
    );
    let stale = mirror.siblings(0);
    assert!(matches!(refused(slasher.slash(id.secret, beneficiary, &stale).await), Revert::SiblingsDoNotMatchRoot(_)));
    assert_eq!(
        refused(slasher.slash(id.secret, beneficiary, &mirror.siblings(1)[..19]).await),
        Revert::WrongSiblingCount(C::WrongSiblingCount { given: U256::from(19u64), expected: U256::from(20u64) })
    );
    assert_eq!(slasher.balance(beneficiary).await.unwrap(), U256::ZERO);
    assert_eq!(slasher.balance(slasher.address()).await.unwrap(), contract_before);

    let slash = slasher.slash(id.secret, beneficiary, &mirror.siblings(1)).await.unwrap();
    mirror.zero(1);
    assert_eq!(slash.amount, price(40));
    assert_eq!(slasher.balance(beneficiary).await.unwrap(), price(40));
    assert_eq!(slasher.balance(slasher.address()).await.unwrap(), price(1));
    assert_eq!(slash.root, mirror.root());
    assert_eq!(slasher.root().await.unwrap(), mirror.root());
    assert_eq!(slasher.leaves().await.unwrap(), mirror.leaves());
    let member = slasher.member(id.commitment).await.unwrap().unwrap();
    assert_eq!((member.state, member.amount), (MemberState::Slashed, U256::ZERO));

    assert_eq!(
        refused(slasher.slash(id.secret, beneficiary, &mirror.siblings(1)).await),
        Revert::WrongState(C::WrongState { idCommitment: id.commitment, state: 4 })
    );
}

/// Zeroing leaves anywhere (the last one, inside the append path's cached subtrees, far left)
/// and appending afterwards keeps the contract's tree equal to RLN's.
#[tokio::test]
async fn removals_and_later_deposits_keep_the_tree_equal_to_rlns() {
    let chain = Chain::start().await;
    let user = chain.account(1);
    let ids: Vec<Identity> = (0..11).map(|i| Identity::new(100 + i)).collect();
    let mut mirror = Mirror::new();
    let beneficiary = Address::repeat_byte(0xbe);

    let deposit = async |i: usize, mirror: &mut Mirror| {
        let d = user.deposit(ids[i].commitment, price(1 + i as u64)).await.unwrap();
        mirror.push(ids[i].rate_commitment(1 + i as u64));
        assert_eq!(d.root, mirror.root(), "after depositing leaf {i}");
    };
    for i in 0..7 {
        deposit(i, &mut mirror).await;
    }
    for index in [6usize, 5, 1] {
        let slash = user.slash(ids[index].secret, beneficiary, &mirror.siblings(index)).await.unwrap();
        mirror.zero(index);
        assert_eq!(slash.root, mirror.root(), "after zeroing leaf {index}");
    }
    for i in 7..10 {
        deposit(i, &mut mirror).await;
    }
    let slash = user.slash(ids[8].secret, beneficiary, &mirror.siblings(8)).await.unwrap();
    mirror.zero(8);
    assert_eq!(slash.root, mirror.root());
    deposit(10, &mut mirror).await;
    assert_eq!(user.leaves().await.unwrap(), mirror.leaves());
    assert_eq!(Mirror::from_leaves(&user.leaves().await.unwrap()).root(), user.root().await.unwrap());
}

#[tokio::test]
async fn a_withdrawing_member_cannot_be_slashed_with_its_now_public_secret() {
    let chain = Chain::start().await;
    let user = chain.account(1);
    let id = Identity::new(9);
    user.deposit(id.commitment, price(3)).await.unwrap();
    let mut mirror = chain.mirror().await;
    user.request_withdraw(id.secret, &mirror.siblings(0)).await.unwrap();
    mirror.zero(0);
    let thief = chain.account(4);
    assert_eq!(
        refused(thief.slash(id.secret, thief.address(), &mirror.siblings(0)).await),
        Revert::WrongState(C::WrongState { idCommitment: id.commitment, state: 2 })
    );

    // Both ways a secret becomes public are reported, in chain order, with the secret itself.
    let other = Identity::new(10);
    user.deposit(other.commitment, price(2)).await.unwrap();
    mirror.push(other.rate_commitment(2));
    let bystander = Identity::new(11);
    user.deposit(bystander.commitment, price(2)).await.unwrap();
    mirror.push(bystander.rate_commitment(2));
    thief.slash(other.secret, thief.address(), &mirror.siblings(1)).await.unwrap();
    let head = thief.block_number().await.unwrap();
    let reveals = thief.reveals(0, head).await.unwrap();
    let seen: Vec<_> = reveals.iter().map(|r| (r.id_commitment, r.secret, r.slashed)).collect();
    assert_eq!(seen, vec![(id.commitment, id.secret, false), (other.commitment, other.secret, true)]);
    assert!(reveals[0].block_number < reveals[1].block_number);
    assert_eq!(thief.reveals(head, head).await.unwrap(), reveals[1..], "a range holds only its own blocks' reveals");
}
