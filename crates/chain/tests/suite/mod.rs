mod deposits;
mod gas;
mod harness;
mod slashing;
mod transport;
mod withdrawal;
