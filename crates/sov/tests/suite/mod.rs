mod cli;
mod escape;
mod harness;
mod sbox;
