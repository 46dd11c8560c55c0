mod channel;
mod danted;
mod gateway;
mod harness;
mod keyfile;
mod stream;
mod transport;
