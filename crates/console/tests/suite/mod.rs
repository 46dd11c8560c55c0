mod console;
mod harness;
