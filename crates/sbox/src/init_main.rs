//! `sbox-init`: the sandbox's init on its own, installed beside `sbox` and `sov`. It holds only
//! what runs inside a sandbox before the command (no argument parser, config or logging), so
//! it starts in a fraction of the time the full program takes.
//!
//! It also does without Rust's usual `main`: the runtime's set-up around it (the main thread's
//! stack guard found by reading /proc/self/maps, an alternate signal stack and handlers for stack
//! overflow, SIGPIPE ignored, standard descriptors checked) measured ~35 µs of every sandbox
//! start here, and the init needs none of it. It is started by bubblewrap with the descriptors
//! `sbox` checked, writes only error messages, and either replaces itself with the command at
//! once or stays as the namespace's PID 1, which the kernel already spares a default SIGPIPE.
//! The arguments still come from `std::env::args_os`, which glibc initialises before `main`.

#![no_main]
// The one `unsafe` here is exporting the C `main` symbol, which this program defines once.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int};

/// The C entry point; the arguments are read through `std::env::args_os` instead.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match args.split_first() {
        Some((first, rest)) if first == sov_sandbox::init::INIT_SUBCOMMAND => sov_sandbox::init::main(rest),
        _ => {
            eprintln!("sbox-init: this is the sandbox's init, started by `sbox`; run `sbox` instead");
            sov_sandbox::init::EXIT_SANDBOX_FAILED
        }
    }
}
