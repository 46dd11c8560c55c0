mod deposits;
mod gas;
mod harness;
mod slashing;
mod transport;
mod wallet_fixtures;
mod withdrawal;
