//! What a send is worth in US dollars: the number the gate's daily caps count, computed by the
//! wallet from `[wallet] prices` (USD per whole unit, by `ETH` or a token's contract address),
//! never taken from an agent.
//!
//! A fixed table, the user's own: nothing is asked of a price oracle or an exchange (which would
//! learn what the user holds, and whose answer an attacker who moves a pool can choose). What is
//! not in the table is not valued, and a send of it is refused rather than guessed.

use std::collections::BTreeMap;

use alloy::primitives::{Address, U256};

use crate::Error;

/// What is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    /// Ether (18 decimals).
    Eth,
    /// An ERC-20 token, by its contract.
    Token(Address),
}

impl std::fmt::Display for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Asset::Eth => f.write_str("ETH"),
            Asset::Token(address) => write!(f, "the token {address}"),
        }
    }
}

/// The user's price table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prices {
    eth: Option<f64>,
    tokens: BTreeMap<Address, f64>,
}

impl Prices {
    /// The table of `[wallet] prices` (already validated by the config: `ETH` or an address, a
    /// price above zero).
    pub fn from_config(config: &sov_core::config::WalletConfig) -> Prices {
        let mut prices = Prices::default();
        for (asset, usd) in &config.prices {
            match asset.as_str() {
                "ETH" => prices.eth = Some(*usd),
                address => {
                    if let Ok(address) = address.parse::<Address>() {
                        prices.tokens.insert(address, *usd);
                    }
                }
            }
        }
        prices
    }

    /// `amount` (in the smallest unit) of `asset` with `decimals`, in US dollars.
    ///
    /// # Errors
    /// [`Error::NoPrice`] when the table has no price for `asset`.
    pub fn usd(&self, asset: Asset, amount: U256, decimals: u8) -> Result<f64, Error> {
        let per_unit = match asset {
            Asset::Eth => self.eth,
            Asset::Token(address) => self.tokens.get(&address).copied(),
        }
        .ok_or_else(|| Error::NoPrice { asset: asset.to_string() })?;
        // Whole units as a float: exact enough for caps (a cent in a billion), and no amount a
        // U256 can hold overflows an f64.
        let units = amount.to_string().parse::<f64>().unwrap_or(f64::INFINITY) / 10f64.powi(i32::from(decimals));
        Ok(units * per_unit)
    }
}

/// `amount` of a token with `decimals` as a decimal string (`1.5`), exact.
pub(crate) fn whole_units(amount: U256, decimals: u8) -> String {
    let digits = amount.to_string();
    let decimals = usize::from(decimals);
    if decimals == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = decimals + 1);
    let (int, frac) = padded.split_at(padded.len() - decimals);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() { int.to_owned() } else { format!("{int}.{frac}") }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_exactly_in_whole_units() {
        assert_eq!(whole_units(U256::from(1_500_000_000_000_000_000u128), 18), "1.5");
        assert_eq!(whole_units(U256::from(5u8), 6), "0.000005");
        assert_eq!(whole_units(U256::ZERO, 18), "0");
        assert_eq!(whole_units(U256::from(2_000_000u64), 6), "2");
        assert_eq!(whole_units(U256::from(7u8), 0), "7");
        assert_eq!(whole_units(U256::MAX, 18).len(), 79, "{}", whole_units(U256::MAX, 18));
    }
    use alloy::primitives::address;

    const USDC: Address = address!("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48");

    fn table() -> Prices {
        let config = sov_core::config::WalletConfig {
            prices: [("ETH".to_owned(), 3000.0), (USDC.to_string().to_lowercase(), 1.0)].into_iter().collect(),
            ..Default::default()
        };
        Prices::from_config(&config)
    }

    #[test]
    fn sends_are_valued_from_the_users_table_and_anything_else_is_refused() {
        let prices = table();
        let half_eth = U256::from(500_000_000_000_000_000u128);
        assert!((prices.usd(Asset::Eth, half_eth, 18).unwrap() - 1500.0).abs() < 1e-9);
        let thirty_usdc = U256::from(30_000_000u64);
        assert!((prices.usd(Asset::Token(USDC), thirty_usdc, 6).unwrap() - 30.0).abs() < 1e-9);
        let unknown = Asset::Token(address!("0x00000000000000000000000000000000DeaDBeef"));
        let err = prices.usd(unknown, U256::from(1u8), 18).unwrap_err().to_string();
        assert!(err.contains("[wallet] prices") && err.contains("DeaDBeef"), "{err}");
        assert!(Prices::default().usd(Asset::Eth, U256::from(1u8), 18).is_err());
        // The largest amount is a (huge) finite value, never a wrap-around to something small.
        let max = prices.usd(Asset::Eth, U256::MAX, 0).unwrap();
        assert!(max > 1e80, "{max}");
    }
}
