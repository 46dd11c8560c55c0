//! The positive side of `sbox`: what a sandboxed command is meant to be able to do, exit codes,
//! signals, and the clear refusals.

use super::harness::*;

#[test]
fn a_granted_port_works_both_ways() {
    let world = World::new();
    let server = EchoServer::start();
    let port = server.port.to_string();
    let probe = probe_bin();
    let out = world
        .sov(&[
            "sbox",
            "--port",
            &port,
            "--ro",
            probe.to_str().unwrap(),
            "--",
            probe.to_str().unwrap(),
            "talk",
            &port,
            "hello from inside\n",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "PONG:hello from inside\n\n", "{}", stderr(&out));
    assert_eq!(server.connection_count(), 1);
}

#[test]
fn the_working_directory_is_writable_at_its_own_path() {
    let world = World::new();
    let out = world.sbox_sh(&[], "pwd; echo made-inside > result.txt");
    assert_eq!(stdout(&out).trim(), world.work().to_str().unwrap());
    assert_eq!(std::fs::read_to_string(world.work().join("result.txt")).unwrap(), "made-inside\n");
}

#[test]
fn whitelisted_paths_are_readable_and_rw_grants_writable() {
    let world = World::new();
    let ro = tempfile::tempdir().unwrap();
    let rw = tempfile::tempdir().unwrap();
    std::fs::write(ro.path().join("manual.txt"), "read me").unwrap();
    let script = format!("cat {}/manual.txt; echo saved > {}/out", ro.path().display(), rw.path().display());
    let out = world.sbox_sh(&["--ro", ro.path().to_str().unwrap(), "--rw", rw.path().to_str().unwrap()], &script);
    assert_eq!(stdout(&out), "read me");
    assert_eq!(std::fs::read_to_string(rw.path().join("out")).unwrap(), "saved\n");
}

#[test]
fn profiles_from_the_config_file_grant_paths() {
    let world = World::new();
    let notes = tempfile::tempdir().unwrap();
    std::fs::write(notes.path().join("n.md"), "note").unwrap();
    std::fs::write(
        world.home.path().join("config.toml"),
        format!("[sandbox.profiles.notes]\nro = [\"{}\"]\n", notes.path().display()),
    )
    .unwrap();
    let cat = format!("{}/n.md", notes.path().display());
    let out = world.sov(&["sbox", "--profile", "notes", "--", "cat", &cat]).output().unwrap();
    assert_eq!(stdout(&out), "note", "{}", stderr(&out));
    let out = world.sov(&["sbox", "--", "cat", &cat]).output().unwrap();
    assert_ne!(out.status.code(), Some(0), "without the profile the path is not granted");
    let out = world.sov(&["sbox", "--profile", "nope", "--", "true"]).output().unwrap();
    assert!(stderr(&out).contains("no such sandbox profile") && stderr(&out).contains("notes"), "{}", stderr(&out));
}

#[test]
fn exit_codes_pass_through() {
    let world = World::new();
    assert_eq!(world.sov(&["sbox", "--", "sh", "-c", "exit 42"]).status().unwrap().code(), Some(42));
    assert_eq!(world.sov(&["sbox", "--", "true"]).status().unwrap().code(), Some(0));
    assert_eq!(world.sov(&["sbox", "--", "sh", "-c", "kill -TERM $$"]).status().unwrap().code(), Some(143));
    let out = world.sov(&["sbox", "--", "no-such-command-xyz"]).output().unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(stderr(&out).contains("no-such-command-xyz: command not found"), "{}", stderr(&out));
}

#[test]
fn signals_reach_the_sandboxed_command() {
    // Without a granted port the command runs under bubblewrap's PID 1 and sbox signals it
    // directly; with one, Sovereign's init is PID 1 and passes the signal on. Both through
    // `sov sbox` and through the `sbox` program, whose start-up differs.
    let server = EchoServer::start();
    let port = server.port.to_string();
    for program in ["sov sbox", "sbox"] {
        for grants in [vec![], vec!["--port", port.as_str()]] {
            let world = World::new();
            let script = "trap 'exit 7' TERM; echo ready; cat /proc/1/comm; while :; do sleep 0.1; done";
            let mut args = grants.clone();
            args.extend(["--", "sh", "-c", script]);
            let mut command =
                if program == "sbox" { world.sbox(&args) } else { world.sov(&[&["sbox"][..], &args].concat()) };
            let mut child = command.stdout(std::process::Stdio::piped()).spawn().unwrap();
            let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
            assert_eq!(lines.next().unwrap().unwrap(), "ready");
            let pid_1 = lines.next().unwrap().unwrap();
            assert_eq!(pid_1, if grants.is_empty() { "bwrap" } else { "sbox-init" }, "{program} {grants:?}");
            rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::TERM)
                .unwrap();
            assert_eq!(child.wait().unwrap().code(), Some(7), "{program} {grants:?}");
        }
    }
}

#[test]
fn stdin_and_stdout_pass_through() {
    use std::io::Write;
    let world = World::new();
    let mut child = world
        .sov(&["sbox", "--", "tr", "a-z", "A-Z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"sovereign\n").unwrap();
    assert_eq!(stdout(&child.wait_with_output().unwrap()), "SOVEREIGN\n");
}

#[test]
fn missing_bubblewrap_is_refused_with_the_fix() {
    let world = World::new();
    std::fs::write(world.home.path().join("config.toml"), "[sandbox]\nbwrap = \"/nonexistent/bwrap\"\n").unwrap();
    let out = world.sov(&["sbox", "--", "touch", "ran-unsandboxed"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("apt install bubblewrap") && stderr(&out).contains("never runs a command unsandboxed"),
        "{}",
        stderr(&out)
    );
    assert!(!world.work().join("ran-unsandboxed").exists());
}

#[test]
fn bad_grants_are_named() {
    let world = World::new();
    let out = world.sov(&["sbox", "--ro", "/no/such/dir", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("--ro /no/such/dir"), "{}", stderr(&out));
    let out = world.sov(&["sbox", "--port", "0", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "clap rejects port 0: {}", stderr(&out));
}

#[test]
fn dry_run_shows_the_bubblewrap_command_line() {
    let world = World::new();
    let out = world.sov(&["sbox", "--dry-run", "--port", "8080", "--", "true"]).output().unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("--unshare-all") && text.contains("--die-with-parent") && text.contains("granted ports: [8080]"),
        "{text}"
    );
    assert!(!text.contains(HOST_SECRET), "dry-run printed a secret");
}

#[test]
fn the_sbox_name_works_like_sov_sbox() {
    let world = World::new();
    let out = world.sbox(&["--", "sh", "-c", "echo $SOV_SANDBOX"]).output().unwrap();
    assert_eq!(stdout(&out), "1\n", "{}", stderr(&out));
}

#[test]
fn privileged_ports_work_for_root_and_are_refused_clearly_otherwise() {
    let world = World::new();
    let out = world.sbox_sh(&["--port", "9"], "echo inside");
    if is_root() {
        assert_eq!(stdout(&out), "inside\n", "{}", stderr(&out));
    } else {
        assert_eq!(out.status.code(), Some(125));
        assert!(stderr(&out).contains("below 1024") && stderr(&out).contains("from 1024 up"), "{}", stderr(&out));
    }
}

#[test]
fn an_interactive_shell_works_on_a_terminal() {
    use std::io::{Read, Write};
    let world = World::new();
    let (master, slave) = open_pty();
    let mut child = world
        .sov(&["sbox", "--", "sh", "-i"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut terminal = std::fs::File::from(master);
    let mut reader = terminal.try_clone().unwrap();
    let output = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        // Reading the master ends with EIO once the last slave fd is closed.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("answer=42") {
                break;
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    // /dev/tty opens only where the shell has a controlling terminal: the sandbox's own pty.
    terminal.write_all(b"test -t 0 && : < /dev/tty && echo \"answer=$((6*7))\"\n").unwrap();
    let seen = output.join().unwrap();
    assert!(seen.contains("answer=42"), "terminal output: {seen:?}");
    terminal.write_all(b"exit 5\n").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(5));
}

#[test]
fn sound_is_reachable_only_with_audio() {
    let world = World::new();
    let pulse = world.runtime.path().join("pulse");
    std::fs::create_dir_all(&pulse).unwrap();
    let _server = std::os::unix::net::UnixListener::bind(pulse.join("native")).unwrap();
    let check = format!("test -S {}/native && echo visible:$XDG_RUNTIME_DIR || echo hidden", pulse.display());
    assert_eq!(stdout(&world.sbox_sh(&[], &check)), "hidden\n");
    let out = world.sbox_sh(&["--audio"], &check);
    assert_eq!(stdout(&out), format!("visible:{}\n", world.runtime.path().display()), "{}", stderr(&out));
}

#[test]
fn audio_without_a_sound_server_is_refused_clearly() {
    let world = World::new();
    let out = world.sov(&["sbox", "--audio", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("no PipeWire") && stderr(&out).contains("sound server"), "{}", stderr(&out));
}

#[test]
fn the_sbox_program_kills_the_bubblewrap_it_started_early_when_it_runs_nothing() {
    // `sbox` starts bubblewrap before reading its command line and config. Were one left behind,
    // it would go on without options, find nothing to run in its empty root, and say so on this
    // stderr, which `output()` reads to its end.
    let world = World::new();
    let quiet = |out: &std::process::Output| !stderr(out).contains("bwrap: ");
    let out = world.sbox(&["--help"]).output().unwrap();
    assert!(out.status.success() && stdout(&out).contains("Usage: sbox") && quiet(&out), "{}", stderr(&out));
    let out = world.sbox(&["--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(quiet(&out), "{}", stderr(&out));
    let out = world.sbox(&["--dry-run", "--", "true"]).output().unwrap();
    assert!(out.status.success() && stdout(&out).contains("--unshare-all") && quiet(&out), "{}", stderr(&out));
    let out = world.sbox(&["--ro", "/no/such/dir", "--", "touch", "ran"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("--ro /no/such/dir") && quiet(&out), "{}", stderr(&out));
    assert!(!world.work().join("ran").exists());

    // A config naming another bubblewrap replaces the one started early (it names the same
    // program by its path here), and a missing one is refused with the fix.
    let bwrap = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join("bwrap"))
        .find(|p| p.is_file())
        .unwrap();
    std::fs::write(world.home.path().join("config.toml"), format!("[sandbox]\nbwrap = {:?}\n", bwrap)).unwrap();
    let out = world.sbox(&["--", "sh", "-c", "echo inside"]).output().unwrap();
    assert_eq!(stdout(&out), "inside\n", "{}", stderr(&out));
    assert!(quiet(&out), "{}", stderr(&out));
    std::fs::write(world.home.path().join("config.toml"), "[sandbox]\nbwrap = \"/nonexistent/bwrap\"\n").unwrap();
    let out = world.sbox(&["--", "touch", "ran-unsandboxed"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("apt install bubblewrap") && quiet(&out), "{}", stderr(&out));
    assert!(!world.work().join("ran-unsandboxed").exists());
}

#[test]
fn the_sbox_program_hands_valid_standard_descriptors_and_survives_a_closed_pipe() {
    let world = World::new();
    let sbox = sbox_bin();
    // Started with stdin closed, the command still gets a stdin (/dev/null), and no descriptor
    // sbox opened takes its number.
    let script = format!("exec {} -- sh -c 'readlink /proc/self/fd/0' <&-", sbox.display());
    let out = world.command("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(stdout(&out), "/dev/null\n", "{}", stderr(&out));

    // A reader that stops early: sbox neither panics nor dies of SIGPIPE.
    let script = format!("{} --dry-run -- true | head -c 1 >/dev/null; echo \"sbox: $?\"", sbox.display());
    let out = world.command("bash").args(["-c", &format!("set -o pipefail; {script}")]).output().unwrap();
    assert_eq!(stdout(&out), "sbox: 0\n", "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn a_bubblewrap_gone_before_its_options_leaves_its_status_not_a_broken_pipe() {
    // A stand-in for bubblewrap that exits at once, and options larger than a pipe holds: sbox's
    // write into the pipe fails, which must not kill it (SIGPIPE); it reports that exit status.
    let world = World::new();
    let fake = world.home.path().join("fake-bwrap");
    std::fs::write(&fake, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(world.home.path().join("config.toml"), format!("[sandbox]\nbwrap = {:?}\n", fake)).unwrap();
    let out = world
        .sbox(&["--env", "BIG", "--", "true"])
        // Over the 64 KiB a pipe holds, under the 128 KiB one variable may have.
        .env("BIG", "x".repeat(100 << 10))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{:?} {}", out.status, stderr(&out));
}
