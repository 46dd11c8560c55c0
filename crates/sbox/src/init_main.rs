//! `sbox-init`: the sandbox's init on its own, installed beside `sbox` and `sov`. It holds only
//! what runs inside a sandbox before the command (no argument parser, config or logging), so
//! it starts in a fraction of the time the full program takes.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let code = match args.split_first() {
        Some((first, rest)) if first == sov_sandbox::init::INIT_SUBCOMMAND => sov_sandbox::init::main(rest),
        _ => {
            eprintln!("sbox-init: this is the sandbox's init, started by `sbox`; run `sbox` instead");
            sov_sandbox::init::EXIT_SANDBOX_FAILED
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
