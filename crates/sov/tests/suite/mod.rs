mod audit;
mod cli;
mod console;
mod escape;
mod harness;
mod know;
mod sbox;
mod wallet;
