//! `sbox`: the same as `sov sbox`, under the short name the reference setup already uses.

fn main() -> std::process::ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `sbox ARGS…` is `sov sbox ARGS…`, except for the sandbox's own init re-entry.
    if args.get(1).is_none_or(|a| a != sov_sandbox::init::INIT_SUBCOMMAND) {
        args.insert(1, "sbox".into());
    }
    sov_cli::main(args)
}
