//! `sov`: the one Sovereign command. Exit codes: 0 success, 1 error (the message says which and
//! what to do), 2 bad usage; `sov sbox` passes the command's own status through and uses 125 when
//! the sandbox itself cannot start, 126 when the command cannot run, 127 when it is not found.

fn main() -> std::process::ExitCode {
    sov_cli::main(std::env::args_os().collect())
}
