use pretty_assertions::assert_eq;
use sov_chain::bindings::ZkApiCredits as C;
use sov_chain::testing::Anvil;
use sov_chain::{MemberState, Revert, ServedBatch, ServedTicket, U256};

use super::harness::{Chain, Identity, PRICE, WINDOW, price, refused};

fn noise(seed: u64) -> Vec<U256> {
    (0..5).map(|i| Identity::new(50_000 + seed * 10 + i).nullifier(0)).collect()
}

#[tokio::test]
async fn an_honest_withdrawal_pays_the_provider_its_served_tickets_and_refunds_the_rest() {
    let chain = Chain::start().await;
    let provider = &chain.provider;
    let user = chain.account(1);
    let id = Identity::new(21);
    user.deposit(id.commitment, price(5)).await.unwrap();

    // The provider serves tickets 0, 1 and 2 among other users' and commits them in two batches.
    let mut first = noise(1);
    first.insert(2, id.nullifier(0));
    first.push(id.nullifier(1));
    let first = ServedBatch::new(first).unwrap();
    let mut second = noise(2);
    second.insert(4, id.nullifier(2));
    let second = ServedBatch::new(second).unwrap();
    let b1 = provider.commit_served(first.root()).await.unwrap();
    let b2 = provider.commit_served(second.root()).await.unwrap();
    assert_eq!((b1.batch_index, b2.batch_index), (0, 1));
    assert_eq!(provider.batch_count().await.unwrap(), 2);
    assert_eq!(provider.batch(1).await.unwrap().root, second.root());

    let mut mirror = chain.mirror().await;
    let siblings = mirror.siblings(0);
    assert_eq!(
        refused(chain.account(2).request_withdraw(id.secret, &siblings).await),
        Revert::NotDepositor(C::NotDepositor {
            caller: Anvil::signer(2).address(),
            depositor: Anvil::signer(1).address()
        })
    );
    let request = user.request_withdraw(id.secret, &siblings).await.unwrap();
    mirror.zero(0);
    assert_eq!(request.root, mirror.root());
    assert_eq!(user.leaves().await.unwrap(), mirror.leaves());
    assert_eq!(user.member(id.commitment).await.unwrap().unwrap().state, MemberState::Withdrawing);
    let withdrawal = user.withdrawal(id.commitment).await.unwrap().unwrap();
    assert_eq!((withdrawal.secret, withdrawal.deadline, withdrawal.spent), (id.secret, request.deadline, 0));

    let batches = [(b1.batch_index, first), (b2.batch_index, second)];
    let claims = provider.claimable(id.commitment, &id.tickets(5), &batches).await.unwrap();
    assert_eq!(claims.iter().map(|t| (t.message_id, t.batch_index)).collect::<Vec<_>>(), [(0, 0), (1, 0), (2, 1)]);
    assert_eq!(
        refused(user.claim_served(id.commitment, &claims).await),
        Revert::NotProvider(C::NotProvider { caller: Anvil::signer(1).address() })
    );
    let claimed = provider.claim_served(id.commitment, &claims[..2]).await.unwrap();
    assert_eq!((claimed.count, claimed.spent), (2, 2));
    let claimed = provider.claim_served(id.commitment, &claims[2..]).await.unwrap();
    assert_eq!((claimed.count, claimed.spent), (1, 3));
    assert!(provider.ticket_claimed(id.commitment, 2).await.unwrap());
    assert!(!provider.ticket_claimed(id.commitment, 3).await.unwrap());
    assert_eq!(provider.claimable(id.commitment, &id.tickets(5), &batches).await.unwrap(), vec![]);

    let anyone = chain.account(3);
    assert_eq!(
        refused(anyone.finalize_withdraw(id.commitment).await),
        Revert::ClaimWindowOpen(C::ClaimWindowOpen { deadline: U256::from(request.deadline) })
    );
    chain.anvil.advance_time(WINDOW).await.unwrap();
    assert_eq!(
        refused(provider.claim_served(id.commitment, &claims[..1]).await),
        Revert::ClaimWindowClosed(C::ClaimWindowClosed { deadline: U256::from(request.deadline) })
    );

    let user_before = anyone.balance(Anvil::signer(1).address()).await.unwrap();
    let provider_before = anyone.balance(Anvil::signer(0).address()).await.unwrap();
    let finalized = anyone.finalize_withdraw(id.commitment).await.unwrap();
    assert_eq!((finalized.refund, finalized.provider_amount), (price(2), price(3)));
    assert_eq!(anyone.balance(Anvil::signer(1).address()).await.unwrap(), user_before + price(2));
    assert_eq!(anyone.balance(Anvil::signer(0).address()).await.unwrap(), provider_before + price(3));
    assert_eq!(anyone.balance(anyone.address()).await.unwrap(), U256::ZERO);
    let member = anyone.member(id.commitment).await.unwrap().unwrap();
    assert_eq!((member.state, member.amount), (MemberState::Withdrawn, U256::ZERO));
    assert_eq!(
        refused(anyone.finalize_withdraw(id.commitment).await),
        Revert::WrongState(C::WrongState { idCommitment: id.commitment, state: 3 })
    );
}

#[tokio::test]
async fn claims_the_provider_cannot_back_are_refused() {
    let chain = Chain::start().await;
    let provider = &chain.provider;
    let user = chain.account(1);
    let id = Identity::new(31);
    let other = Identity::new(32);
    user.deposit(id.commitment, price(4)).await.unwrap();
    user.deposit(other.commitment, price(4)).await.unwrap();

    let served = ServedBatch::new(vec![id.nullifier(0), other.nullifier(1), id.nullifier(1)]).unwrap();
    let before = provider.commit_served(served.root()).await.unwrap().batch_index;
    let mirror = chain.mirror().await;
    user.request_withdraw(id.secret, &mirror.siblings(0)).await.unwrap();
    // Computed from the revealed secret: never served, committed only after the reveal.
    let invented = ServedBatch::new(vec![id.nullifier(2), id.nullifier(3)]).unwrap();
    let after = provider.commit_served(invented.root()).await.unwrap().batch_index;

    let ticket = |message_id: u64, batch_index: u64, proof: Vec<_>| ServedTicket { message_id, batch_index, proof };
    let revert = refused(provider.claim_served(id.commitment, &[ticket(2, after, invented.proof(0).unwrap())]).await);
    assert!(matches!(revert, Revert::BatchNotBeforeReveal(ref e) if e.batchIndex == U256::from(after)), "{revert:?}");

    // Another member's served ticket, or a proof of another ticket, does not prove this one.
    let forged = ticket(2, before, served.proof(2).unwrap());
    assert_eq!(
        refused(provider.claim_served(id.commitment, &[forged]).await),
        Revert::InclusionProofInvalid(C::InclusionProofInvalid {
            messageId: U256::from(2u64),
            batchIndex: U256::from(before)
        })
    );
    let borrowed = ticket(1, before, served.proof(1).unwrap());
    assert!(matches!(
        refused(provider.claim_served(id.commitment, &[borrowed]).await),
        Revert::InclusionProofInvalid(_)
    ));
    let mut tampered = served.proof(0).unwrap();
    tampered[0].0[31] ^= 1;
    assert!(matches!(
        refused(provider.claim_served(id.commitment, &[ticket(0, before, tampered)]).await),
        Revert::InclusionProofInvalid(_)
    ));

    assert_eq!(
        refused(provider.claim_served(id.commitment, &[ticket(0, 7, served.proof(0).unwrap())]).await),
        Revert::UnknownBatch(C::UnknownBatch { batchIndex: U256::from(7u64) })
    );
    assert_eq!(
        refused(provider.claim_served(id.commitment, &[ticket(4, before, served.proof(0).unwrap())]).await),
        Revert::MessageIdOutOfRange(C::MessageIdOutOfRange { messageId: U256::from(4u64), limit: U256::from(4u64) })
    );
    let twice = [ticket(0, before, served.proof(0).unwrap()), ticket(0, before, served.proof(0).unwrap())];
    assert_eq!(
        refused(provider.claim_served(id.commitment, &twice).await),
        Revert::MessageIdsNotIncreasing(C::MessageIdsNotIncreasing { messageId: U256::ZERO })
    );
    assert_eq!(provider.claim_served(id.commitment, &twice[..1]).await.unwrap().spent, 1);
    assert_eq!(
        refused(provider.claim_served(id.commitment, &twice[..1]).await),
        Revert::TicketAlreadyClaimed(C::TicketAlreadyClaimed { messageId: U256::ZERO })
    );
    assert_eq!(
        refused(provider.claim_served(other.commitment, &[ticket(1, before, served.proof(1).unwrap())]).await),
        Revert::WrongState(C::WrongState { idCommitment: other.commitment, state: 1 }),
        "claims only against members that revealed their secret"
    );

    chain.anvil.advance_time(super::harness::WINDOW).await.unwrap();
    let finalized = chain.account(5).finalize_withdraw(id.commitment).await.unwrap();
    assert_eq!((finalized.refund, finalized.provider_amount), (price(3), U256::from(PRICE)));
}

/// A batch mined in the same block as the reveal could have been slipped in ahead of it by a
/// provider watching the mempool, so it does not count.
#[tokio::test]
async fn a_batch_committed_in_the_reveal_block_does_not_count() {
    let chain = Chain::start().await;
    let provider = &chain.provider;
    let user = chain.account(1);
    let id = Identity::new(41);
    user.deposit(id.commitment, price(2)).await.unwrap();
    let siblings = chain.mirror().await.siblings(0);
    let batch = ServedBatch::new(vec![id.nullifier(0)]).unwrap();

    chain.anvil.set_automine(false).await.unwrap();
    let mine = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        chain.anvil.mine().await.unwrap();
    };
    let (committed, requested, ()) =
        tokio::join!(provider.commit_served(batch.root()), user.request_withdraw(id.secret, &siblings), mine);
    chain.anvil.set_automine(true).await.unwrap();
    let committed = committed.unwrap();
    requested.unwrap();
    let reveal_block = user.withdrawal(id.commitment).await.unwrap().unwrap().reveal_block;
    assert_eq!(provider.batch(committed.batch_index).await.unwrap().block_number, reveal_block);

    let tickets = [ServedTicket { message_id: 0, batch_index: committed.batch_index, proof: batch.proof(0).unwrap() }];
    assert!(matches!(refused(provider.claim_served(id.commitment, &tickets).await), Revert::BatchNotBeforeReveal(_)));
}
