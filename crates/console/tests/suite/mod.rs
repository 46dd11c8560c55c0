mod chat;
mod console;
mod harness;
