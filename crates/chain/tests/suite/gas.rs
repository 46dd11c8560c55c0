//! Gas of each operation, printed for `bench/gas.sh` (run with `--nocapture`).

use sov_chain::{Address, ServedBatch};

use super::harness::{Chain, Identity, WINDOW, price};

#[tokio::test]
async fn gas_report() {
    let chain = Chain::start().await;
    let provider = &chain.provider;
    let user = chain.account(1);
    let mut lines =
        vec![("deploy ZkApiCredits (Poseidon libraries already on chain)", provider.deployment().unwrap().gas_used)];

    let ids: Vec<Identity> = (0..4).map(|i| Identity::new(900 + i)).collect();
    let mut deposits = Vec::new();
    for id in &ids {
        deposits.push(user.deposit(id.commitment, price(10)).await.unwrap().gas_used);
    }
    lines.push(("deposit, first leaf", deposits[0]));
    lines.push(("deposit, later leaf (max of 3)", deposits[1..].iter().copied().max().unwrap()));

    let served: Vec<_> = (0..8).map(|m| ids[1].nullifier(m)).chain((0..24).map(|m| ids[3].nullifier(m))).collect();
    let batch = ServedBatch::new(served).unwrap();
    let committed = provider.commit_served(batch.root()).await.unwrap();
    lines.push(("commitServed (one batch root)", committed.gas_used));

    let mirror = chain.mirror().await;
    let slash = user.slash(ids[0].secret, Address::repeat_byte(0xbe), &mirror.siblings(0)).await.unwrap();
    lines.push(("slash", slash.gas_used));

    let mirror = chain.mirror().await;
    let request = user.request_withdraw(ids[1].secret, &mirror.siblings(1)).await.unwrap();
    lines.push(("requestWithdraw", request.gas_used));
    let batches = [(committed.batch_index, batch)];
    let claims = provider.claimable(ids[1].commitment, &ids[1].tickets(10), &batches).await.unwrap();
    assert_eq!(claims.len(), 8);
    let one = provider.claim_served(ids[1].commitment, &claims[..1]).await.unwrap();
    lines.push(("claimServed, 1 ticket", one.gas_used));
    let seven = provider.claim_served(ids[1].commitment, &claims[1..]).await.unwrap();
    lines.push(("claimServed, 7 tickets", seven.gas_used));
    chain.anvil.advance_time(WINDOW).await.unwrap();
    let finalized = user.finalize_withdraw(ids[1].commitment).await.unwrap();
    lines.push(("finalizeWithdraw", finalized.gas_used));

    println!("gas used (solc 0.8.37, optimizer 200 runs, anvil):");
    for (what, gas) in lines {
        println!("gas: {what:<58} {gas:>9}");
    }
}
