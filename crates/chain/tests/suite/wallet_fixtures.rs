//! The wallet's test chain (`sov_chain::testing::wallet`) works as the wallet will use it: token
//! balances and metadata, Uniswap V2 quotes and a real swap, ENS forward and reverse resolution
//! through registry → resolver, all on an anvil on loopback.

use alloy::primitives::{Address, U256, keccak256};
use alloy::providers::Provider;
use pretty_assertions::assert_eq;
use sov_chain::testing::Anvil;
use sov_chain::testing::wallet::bindings::{
    ENSRegistry, ReverseRegistrar, TestResolver, TestToken, UniswapV2Factory, UniswapV2Pair, UniswapV2Router02,
};
use sov_chain::testing::wallet::{self, WalletChain, namehash, reverse_name};

const PAIR_ARTIFACT: &str = include_str!("../../../../contracts/test-fixtures/build/UniswapV2Pair.json");

/// Uniswap V2's `getAmountOut`: 0.3 % fee, constant product.
fn amount_out(amount_in: U256, reserve_in: U256, reserve_out: U256) -> U256 {
    let with_fee = amount_in * U256::from(997);
    with_fee * reserve_out / (reserve_in * U256::from(1000) + with_fee)
}

#[tokio::test]
async fn the_wallet_chain_has_tokens_a_dex_with_liquidity_and_ens_names() {
    let anvil = Anvil::start().unwrap();
    assert!(anvil.url().starts_with("http://127.0.0.1:"), "{}", anvil.url());
    let http = anvil.http();
    let chain = WalletChain::deploy(anvil.url(), &http).await.unwrap();
    assert_eq!(
        (chain.deployer, chain.alice, chain.spoofer),
        (
            Anvil::signer(wallet::DEPLOYER).address(),
            Anvil::signer(wallet::ALICE).address(),
            Anvil::signer(wallet::SPOOFER).address()
        )
    );
    let alice = wallet::connect(anvil.url(), Anvil::signer(wallet::ALICE), &http).unwrap();

    // Tokens: metadata and Alice's balances, the hostile one's strings byte for byte.
    let mut tokens = Vec::new();
    for token in [chain.test_token, chain.usdc, chain.hostile_token] {
        let erc20 = TestToken::new(token, &alice);
        tokens.push((
            erc20.name().call().await.unwrap(),
            erc20.symbol().call().await.unwrap(),
            erc20.decimals().call().await.unwrap(),
            erc20.balanceOf(chain.alice).call().await.unwrap(),
        ));
    }
    assert_eq!(
        tokens,
        [
            ("Test Token".to_owned(), "TEST".to_owned(), 18, U256::from(wallet::ALICE_TEST)),
            ("USD Coin (test)".to_owned(), "USDC".to_owned(), 6, U256::from(wallet::ALICE_USDC)),
            (wallet::HOSTILE_NAME.to_owned(), wallet::HOSTILE_SYMBOL.to_owned(), 18, U256::from(wallet::ALICE_HOSTILE)),
        ]
    );

    // The pair the factory made is where the router's init code hash says it is.
    let factory = UniswapV2Factory::new(chain.factory, &alice);
    assert_eq!(factory.getPair(chain.usdc, chain.weth).call().await.unwrap(), chain.usdc_weth_pair);
    assert_eq!(factory.allPairsLength().call().await.unwrap(), U256::from(2));
    let artifact: serde_json::Value = serde_json::from_str(PAIR_ARTIFACT).unwrap();
    let init_code_hash: alloy::primitives::B256 = artifact["initCodeHash"].as_str().unwrap().parse().unwrap();
    let (token0, token1) = if chain.usdc < chain.weth { (chain.usdc, chain.weth) } else { (chain.weth, chain.usdc) };
    let salt = keccak256([token0.as_slice(), token1.as_slice()].concat());
    assert_eq!(chain.factory.create2(salt, init_code_hash), chain.usdc_weth_pair);

    // Reserves at the known price, and the router's quote is the constant-product formula's.
    let pair = UniswapV2Pair::new(chain.usdc_weth_pair, &alice);
    let reserves = pair.getReserves().call().await.unwrap();
    let (reserve0, reserve1) = (U256::from(reserves._reserve0), U256::from(reserves._reserve1));
    let (reserve_usdc, reserve_eth) = if token0 == chain.usdc { (reserve0, reserve1) } else { (reserve1, reserve0) };
    assert_eq!((reserve_usdc, reserve_eth), (U256::from(wallet::POOL_USDC), U256::from(wallet::POOL_ETH)));
    let router = UniswapV2Router02::new(chain.router, &alice);
    let one_eth = U256::from(10u64).pow(U256::from(18));
    let path = vec![chain.weth, chain.usdc];
    let quote = router.getAmountsOut(one_eth, path.clone()).call().await.unwrap();
    let expected = amount_out(one_eth, reserve_eth, reserve_usdc);
    assert_eq!(quote, vec![one_eth, expected]);
    // About 2 000 USDC less the fee and the price impact: 1 974.32 USDC.
    assert_eq!(expected, U256::from(1_974_316_068u64));
    let quote_test = router.getAmountsOut(one_eth, vec![chain.weth, chain.test_token]).call().await.unwrap();
    assert_eq!(quote_test[1], amount_out(one_eth, U256::from(wallet::POOL_ETH), U256::from(wallet::POOL_TEST)));

    // A real swap, ETH → USDC, as Alice: she gets exactly the quote and pays 1 ETH plus gas.
    let eth_before = alice.get_balance(chain.alice).await.unwrap();
    let swap = router.swapExactETHForTokens(expected, path, chain.alice, U256::MAX).value(one_eth);
    let receipt = swap.send().await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status());
    let gas = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    assert_eq!(alice.get_balance(chain.alice).await.unwrap(), eth_before - one_eth - gas);
    let usdc = TestToken::new(chain.usdc, &alice);
    assert_eq!(usdc.balanceOf(chain.alice).call().await.unwrap(), U256::from(wallet::ALICE_USDC) + expected);
    // The price moved: the same ETH now buys less.
    let requote = router.getAmountsOut(one_eth, vec![chain.weth, chain.usdc]).call().await.unwrap();
    assert!(requote[1] < expected, "{} !< {expected}", requote[1]);

    // ENS forward: namehash → registry → resolver → addr.
    let ens = ENSRegistry::new(chain.ens_registry, &alice);
    let node = namehash(wallet::ALICE_NAME);
    assert_eq!(ens.owner(node).call().await.unwrap(), chain.alice, "Alice owns her name");
    let resolver_address = ens.resolver(node).call().await.unwrap();
    assert_eq!(resolver_address, chain.resolver);
    let resolver = TestResolver::new(resolver_address, &alice);
    let addr_interface = alloy::primitives::FixedBytes([0x3b, 0x3b, 0x57, 0xde]);
    let name_interface = alloy::primitives::FixedBytes([0x69, 0x1f, 0x34, 0x31]);
    assert!(resolver.supportsInterface(addr_interface).call().await.unwrap(), "addr(bytes32)");
    assert!(resolver.supportsInterface(name_interface).call().await.unwrap(), "name(bytes32)");
    assert_eq!(resolver.addr(node).call().await.unwrap(), chain.alice);
    // An unregistered name has no resolver.
    assert_eq!(ens.resolver(namehash("nobody.eth")).call().await.unwrap(), Address::ZERO);

    // ENS reverse: the registrar's node is namehash("addr.reverse"); Alice's reverse record names
    // alice.eth, and so does the spoofer's, whose address alice.eth does not resolve to.
    let registrar = ReverseRegistrar::new(chain.reverse_registrar, &alice);
    assert_eq!(registrar.ADDR_REVERSE_NODE().call().await.unwrap(), namehash("addr.reverse"));
    assert_eq!(registrar.node(chain.alice).call().await.unwrap(), namehash(&reverse_name(chain.alice)));
    let mut reverse = Vec::new();
    for account in [chain.alice, chain.spoofer, chain.deployer] {
        let node = namehash(&reverse_name(account));
        let resolver = ens.resolver(node).call().await.unwrap();
        let name = match resolver {
            Address::ZERO => None,
            r => Some(TestResolver::new(r, &alice).name(node).call().await.unwrap()),
        };
        let forward = match &name {
            Some(name) => Some(resolver_addr(&ens, name).await),
            None => None,
        };
        reverse.push((name, forward));
    }
    assert_eq!(
        reverse,
        [
            (Some("alice.eth".to_owned()), Some(chain.alice)),
            (Some("alice.eth".to_owned()), Some(chain.alice)), // not the spoofer: a client must check
            (None, None),
        ]
    );

    // Only a node's owner sets its records.
    let spoofer = wallet::connect(anvil.url(), Anvil::signer(wallet::SPOOFER), &http).unwrap();
    let as_spoofer = TestResolver::new(chain.resolver, &spoofer);
    let hijack = as_spoofer.setAddr(node, chain.spoofer).send().await;
    let refusal = hijack.unwrap_err().to_string();
    assert!(
        refusal.contains("not authorised for this node"),
        "the spoofer cannot point alice.eth at itself: {refusal}"
    );
    assert_eq!(resolver.addr(node).call().await.unwrap(), chain.alice);
}

/// Forward resolution as an ENS client does it.
async fn resolver_addr<P: Provider>(ens: &ENSRegistry::ENSRegistryInstance<P>, name: &str) -> Address {
    let node = namehash(name);
    let resolver = ens.resolver(node).call().await.unwrap();
    TestResolver::new(resolver, ens.provider()).addr(node).call().await.unwrap()
}
