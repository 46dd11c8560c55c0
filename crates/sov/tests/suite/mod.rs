mod audit;
mod cli;
mod console;
mod escape;
mod harness;
mod sbox;
mod wallet;
