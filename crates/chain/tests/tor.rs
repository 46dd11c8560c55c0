//! The chain client through Tor: anvil "off the machine" (on 10.99.0.1, an extra address of `lo`
//! in a network namespace this test makes, so the outbound policy does not take it for loopback)
//! reached only through the exit of a private Tor network of Debian's `tor`, by arti in process.
//! A contract is deployed, a deposit made and the deposit tree read back, all through Tor.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::Ipv4Addr;

use sov_chain::testing::Anvil;
use sov_chain::{Credits, U256};
use sov_core::config::{NetConfig, Transport};
use sov_net::{Class, Net, Route};

const OFF_MACHINE: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

#[test]
fn the_deposit_tree_is_written_and_read_through_tor_on_a_private_network() {
    if !sov_tor_testnet::in_private_netns("the_deposit_tree_is_written_and_read_through_tor_on_a_private_network") {
        return;
    }
    sov_tor_testnet::add_lo_address(OFF_MACHINE).unwrap();
    let anvil = Anvil::start_on(&OFF_MACHINE.to_string(), &[]).unwrap();
    let tor = sov_tor_testnet::TestNet::start(sov_tor_testnet::Options::default()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let config = NetConfig {
        chain: Transport::Tor,
        tor_dir: scratch.path().join("tor"),
        arti: toml::from_str(&sov_tor_testnet::arti_toml(&tor)).unwrap(),
        ..NetConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let net = Net::new(&config, scratch.path()).unwrap();
        assert_eq!(net.route(Class::Chain), Route::Tor);
        let http = net.http(Class::Chain);
        let credits = Credits::deploy(anvil.url(), Anvil::signer(0), U256::from(1000u64), U256::from(7u64), 60, &http)
            .await
            .unwrap();
        let user = Credits::at(anvil.url(), credits.address(), Anvil::signer(1), &http).unwrap();
        user.deposit(U256::from(42u64), U256::from(5000u64)).await.unwrap();
        let reader = Credits::at(anvil.url(), credits.address(), Anvil::signer(2), &http).unwrap();
        assert_eq!(reader.leaves().await.unwrap().len(), 1);
        assert_eq!(reader.root().await.unwrap(), user.root().await.unwrap());
        let streams = net.tor().unwrap().streams_opened();
        assert!(streams >= 4, "every RPC went by Tor, each on a stream of its own: {streams}");
        eprintln!("{streams} JSON-RPC requests through Tor, each on a circuit of its own");
    });
}
