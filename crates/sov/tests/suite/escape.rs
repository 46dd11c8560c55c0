//! The escape suite: each test is an attack from inside `sbox` that must fail, with the same
//! attack run unsandboxed as a control wherever that is safe, so no test passes vacuously.
//! CI runs this suite as root and again as an unprivileged user.

use std::process::Command;

use super::harness::*;

#[test]
fn planted_ssh_key_and_shadow_are_unreadable() {
    let world = World::new();
    let key = world.home.path().join(".ssh/id_ed25519");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), PLANTED_KEY, "control: the key is readable on the host");
    let out =
        world.sbox_sh(&[], &format!("cat {}; cat ~/.ssh/id_ed25519; cat /etc/shadow; cat /etc/gshadow", key.display()));
    assert!(!stdout(&out).contains("sov-test-planted-key"), "{out:?}");
    assert!(!stdout(&out).contains("root:"), "shadow leaked: {out:?}");
    assert_eq!(stderr(&out).matches("No such file or directory").count(), 4, "{}", stderr(&out));
}

#[test]
fn host_home_root_and_tmp_are_not_listed() {
    let world = World::new();
    let marker = tempfile::Builder::new().prefix("sov-host-tmp-marker").tempfile_in("/tmp").unwrap();
    let marker_name = marker.path().file_name().unwrap().to_str().unwrap().to_owned();
    let out = world.sbox_sh(&[], "ls -A /tmp; echo ---; ls -A /root 2>&1; echo ---; ls -A /home 2>&1; echo ---; ls -A ~; echo ---; ls -A /run/user 2>&1");
    let text = stdout(&out);
    assert!(!text.contains(&marker_name), "host /tmp is visible: {text}");
    let sections: Vec<&str> = text.split("---\n").collect();
    assert_eq!(sections.len(), 5, "{text}");
    // /tmp holds only the (empty) paths leading to the sandbox's own home and working dir.
    for entry in sections[0].lines() {
        let path = std::path::Path::new("/tmp").join(entry);
        assert!(world.home.path() == path || world.work() == path, "unexpected /tmp entry {entry}");
    }
    assert!(sections[1].trim().is_empty() || sections[1].contains("No such file"), "/root: {}", sections[1]);
    assert!(sections[2].trim().is_empty() || sections[2].contains("No such file"), "/home: {}", sections[2]);
    assert_eq!(sections[3].trim(), "", "the home seen inside must be empty (no .ssh)");
    assert!(sections[4].contains("No such file"), "/run/user: {}", sections[4]);
}

#[test]
fn writes_outside_the_workdir_and_into_ro_grants_fail() {
    let world = World::new();
    let granted = tempfile::tempdir().unwrap();
    std::fs::write(granted.path().join("notes.md"), "original").unwrap();
    let g = granted.path().display();
    let script = format!(
        "echo x > {g}/notes.md; echo x > {g}/new; rm {g}/notes.md; touch /usr/pwned /etc/pwned /pwned {h}/pwned; \
         mkdir -p /tmp/scratch && echo ok > /tmp/scratch/f && cat /tmp/scratch/f",
        h = world.home.path().display()
    );
    let out = world.sbox_sh(&["--ro", &granted.path().to_string_lossy()], &script);
    assert_eq!(std::fs::read_to_string(granted.path().join("notes.md")).unwrap(), "original");
    assert!(!granted.path().join("new").exists());
    for path in ["/usr/pwned", "/etc/pwned", "/pwned"] {
        assert!(!std::path::Path::new(path).exists(), "{path} was created on the host");
    }
    assert!(!world.home.path().join("pwned").exists(), "the host home was written");
    assert!(!std::path::Path::new("/tmp/scratch/f").exists(), "sandbox /tmp leaked to the host");
    assert_eq!(stdout(&out).trim(), "ok", "sandbox /tmp must be usable: {out:?}");
    assert!(stderr(&out).contains("Read-only file system"), "{}", stderr(&out));
}

#[test]
fn planted_symlinks_pointing_outside_lead_nowhere() {
    let world = World::new();
    let key = world.home.path().join(".ssh/id_ed25519");
    let host_target = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&key, world.work().join("key-link")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", world.work().join("shadow-link")).unwrap();
    std::os::unix::fs::symlink(host_target.path().join("dropped"), world.work().join("write-link")).unwrap();
    let out =
        world.sbox_sh(&[], "cat key-link; cat shadow-link; echo payload > write-link; cat ../../etc/shadow; ls -A ..");
    assert!(!stdout(&out).contains("sov-test-planted-key") && !stdout(&out).contains("root:"), "{out:?}");
    assert!(!host_target.path().join("dropped").exists(), "a write through a symlink reached the host");
    // The workdir's parent inside lists only the sandbox's own entries, never the host's siblings.
    for entry in stdout(&out).lines() {
        let path = world.work().parent().unwrap().join(entry);
        assert!(path == world.work() || path == world.home.path(), "host entry {entry} visible via ..");
    }
}

#[test]
fn hard_links_to_files_outside_the_workdir_cannot_be_made() {
    let world = World::new();
    let granted = tempfile::tempdir().unwrap();
    std::fs::write(granted.path().join("secret"), "ro-data").unwrap();
    let grant = granted.path().to_string_lossy().into_owned();
    let target = world.work().join("link").to_string_lossy().into_owned();
    let source = granted.path().join("secret").to_string_lossy().into_owned();
    world.probe_inside(&["--ro", &grant], &["hardlink", &source, &target]).assert_contained();
    world.probe_inside(&[], &["hardlink", "/etc/hostname", &target]).assert_contained();
    assert!(!world.work().join("link").exists());
}

#[test]
fn non_granted_loopback_ports_and_a_granted_ports_neighbour_are_unreachable() {
    let world = World::new();
    let (granted, neighbour) = adjacent_servers();
    let other = EchoServer::start();
    probe_outside(&["connect", &other.port.to_string()]).assert_escaped();
    let before = other.connection_count();
    world.probe_inside(&[], &["connect", &other.port.to_string()]).assert_contained();
    let grant = granted.port.to_string();
    world.probe_inside(&["--port", &grant], &["connect", &neighbour.port.to_string()]).assert_contained();
    world.probe_inside(&["--port", &grant], &["connect", &other.port.to_string()]).assert_contained();
    assert_eq!(other.connection_count(), before, "the ungranted listener saw a connection");
    assert_eq!(neighbour.connection_count(), 0, "the neighbour port saw a connection");
}

#[test]
fn abstract_unix_sockets_of_the_host_are_unreachable() {
    use std::os::linux::net::SocketAddrExt;
    let world = World::new();
    let name = format!("sov-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    probe_outside(&["abstract", &name]).assert_escaped();
    world.probe_inside(&[], &["abstract", &name]).assert_contained();
}

#[test]
fn only_loopback_exists_and_there_is_no_route() {
    let world = World::new();
    world.probe_inside(&[], &["interfaces"]).assert_contained();
    world.probe_inside(&[], &["routes"]).assert_contained();
    world.probe_inside(&["--port", "9999"], &["interfaces"]).assert_contained();
    // Control where the host has a network: the probe does see it there.
    if probe_outside(&["interfaces"]).code == Some(1) {
        probe_outside(&["routes"]).assert_escaped();
    }
}

#[test]
fn raw_and_packet_sockets_are_refused() {
    let world = World::new();
    if is_root() {
        probe_outside(&["raw-socket"]).assert_escaped();
    }
    // Inside, the sandbox holds CAP_NET_RAW in its own namespaces; seccomp still refuses.
    world.probe_inside(&[], &["raw-socket"]).assert_contained();
    world.probe_inside(&[], &["packet-socket"]).assert_contained();
}

#[test]
fn host_processes_cannot_be_traced_signalled_or_read() {
    let world = World::new();
    let mut victim =
        std::process::Command::new("sleep").arg("60").env("SOV_VICTIM_SECRET", HOST_SECRET).spawn().unwrap();
    let pid = victim.id().to_string();
    // Until `sleep` has been exec'd, /proc/PID/environ still shows the test's own environment.
    for _ in 0..250 {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if String::from_utf8_lossy(&environ).contains(HOST_SECRET) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    probe_outside(&["environ", &pid, HOST_SECRET]).assert_escaped();
    world.probe_inside(&[], &["ptrace", &pid]).assert_contained();
    world.probe_inside(&[], &["kill", &pid]).assert_contained();
    world.probe_inside(&[], &["environ", &pid, HOST_SECRET]).assert_contained();
    world.probe_inside(&[], &["environ", "1", HOST_SECRET]).assert_contained();
    world.probe_inside(&[], &["ptrace-child"]).assert_contained();
    assert!(victim.try_wait().unwrap().is_none(), "the host process was killed");
    victim.kill().unwrap();
    victim.wait().unwrap();
}

#[test]
fn mount_unshare_and_setns_cannot_regain_privileges() {
    let world = World::new();
    for attack in [
        &["mount"][..],
        &["unshare-user"],
        &["unshare-mount"],
        &["clone-newuser"],
        &["setns", "/proc/self/ns/user"],
        &["setns", "/proc/1/ns/mnt"],
    ] {
        world.probe_inside(&[], attack).assert_contained();
    }
    if is_root() {
        // A privileged granted port changes how bubblewrap nests namespaces; seccomp still refuses.
        world.probe_inside(&["--port", "9"], &["unshare-user"]).assert_contained();
        world.probe_inside(&["--port", "9"], &["clone-newuser"]).assert_contained();
    }
    // And with the real tools an attacker would reach for:
    let out = world.sbox_sh(&[], "unshare -r id 2>&1; unshare -m true 2>&1; echo done");
    assert!(!stdout(&out).contains("uid=0(root) gid=0(root) groups=0(root),65534") && stdout(&out).contains("done"));
    assert!(stdout(&out).matches("Operation not permitted").count() >= 2, "{}", stdout(&out));
}

#[test]
fn tiocsti_cannot_inject_into_the_terminal() {
    let world = World::new();
    let (_master, slave) = open_pty();
    let probe = probe_bin();
    let out = world
        .sov(&["sbox", "--ro", probe.to_str().unwrap(), "--", probe.to_str().unwrap(), "tiocsti"])
        .stdin(slave.try_clone().unwrap())
        .output()
        .unwrap();
    let probe = Probe::from(out);
    probe.assert_contained();
    assert!(probe.stdout.contains("Operation not permitted"), "{probe:?}");
    // Nothing is waiting to be read on the terminal: no byte was injected.
    rustix::fs::fcntl_setfl(&slave, rustix::fs::OFlags::NONBLOCK).unwrap();
    let mut buf = [0u8; 16];
    let read = rustix::io::read(&slave, &mut buf);
    assert!(matches!(read, Err(rustix::io::Errno::AGAIN)), "terminal had input: {read:?}");
}

#[test]
fn host_environment_secrets_stay_out() {
    let world = World::new();
    let out = world.sbox_sh(&[], "env");
    let env = stdout(&out);
    assert!(!env.contains(HOST_SECRET), "a host secret leaked: {env}");
    assert!(env.contains("SOV_SANDBOX=1") && env.contains("TERM=xterm"), "{env}");
    // Passing one by name is the user's explicit choice, and only that one passes.
    let out = world.sbox_sh(&["--env", "SOV_TEST_SECRET"], "env");
    assert!(stdout(&out).contains(&format!("SOV_TEST_SECRET={HOST_SECRET}")));
    assert!(!stdout(&out).contains("GITHUB_TOKEN"));
}

/// The attack of issue [2.1]: `exec 7<console.secret 8<data-dir; sbox -- …` left both open
/// in the sandbox, where reading a descriptor or listing through it needs no path Landlock
/// checks. Here a secret file and a directory outside the working directory stand in for them.
struct InheritedFds {
    outside: tempfile::TempDir,
}

const FD_SECRET: &str = "sov-test-inherited-console-secret";

impl InheritedFds {
    fn new(world: &World) -> Self {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("console.secret"), FD_SECRET).unwrap();
        std::fs::write(outside.path().join("sovereign.db"), "").unwrap();
        std::fs::write(
            world.work().join("attack.sh"),
            "cat <&7; echo; python3 -c 'import os; print(os.listdir(8))'; echo ---; ls /proc/self/fd\n",
        )
        .unwrap();
        Self { outside }
    }

    /// `program ARGS` started from a shell that opened the secret as 7 and the directory as 8.
    fn run(&self, world: &World, program: &std::path::Path, args: &[&str]) -> Command {
        let mut shell = world.command("sh");
        shell.args(["-c", "exec 7<\"$1\" 8<\"$2\"; shift 2; exec \"$@\"", "sh"]);
        shell.arg(self.outside.path().join("console.secret")).arg(self.outside.path()).arg(program).args(args);
        shell
    }
}

#[test]
fn inherited_descriptors_never_reach_the_sandbox_unless_kept() {
    let world = World::new();
    let fds = InheritedFds::new(&world);
    // Control: unsandboxed, the attack reads the secret and lists the directory.
    let out = fds.run(&world, std::path::Path::new("sh"), &["attack.sh"]).output().unwrap();
    assert!(stdout(&out).contains(FD_SECRET) && stdout(&out).contains("sovereign.db"), "{out:?}");

    let server = EchoServer::start();
    let port = server.port.to_string();
    let sov = std::path::PathBuf::from(sov_bin());
    // Through both programs, and with a granted port (the init stays as PID 1) and without.
    for (program, sbox) in [(sbox_bin(), vec![]), (sov, vec!["sbox"])] {
        for grants in [vec![], vec!["--port", port.as_str()]] {
            let args = [&sbox[..], &grants[..], &["--", "sh", "attack.sh"]].concat();
            let out = fds.run(&world, &program, &args).output().unwrap();
            let text = stdout(&out);
            assert!(!text.contains(FD_SECRET) && !text.contains("sovereign.db"), "{args:?}: {out:?}");
            assert!(stderr(&out).contains("Bad file descriptor"), "{args:?}: {}", stderr(&out));
            // Only the standard three, and the descriptor `ls` lists them through.
            let listed: Vec<&str> = text.split("---\n").nth(1).unwrap_or_default().lines().collect();
            assert_eq!(listed, ["0", "1", "2", "3"], "{args:?}: {out:?}");
        }
    }

    // Named with --keep-fd, exactly that one passes: the user's explicit choice.
    let out = fds.run(&world, &sbox_bin(), &["--keep-fd", "7", "--", "sh", "attack.sh"]).output().unwrap();
    let text = stdout(&out);
    assert!(text.contains(FD_SECRET) && !text.contains("sovereign.db"), "{out:?}");
    assert_eq!(text.split("---\n").nth(1).unwrap().lines().collect::<Vec<_>>(), ["0", "1", "2", "3", "7"]);
    let out = fds
        .run(&world, std::path::Path::new(sov_bin()), &["sbox", "--keep-fd=7", "--", "sh", "attack.sh"])
        .output()
        .unwrap();
    assert!(stdout(&out).contains(FD_SECRET) && !stdout(&out).contains("sovereign.db"), "{out:?}");

    // A descriptor that is not open, or a standard one, is refused with a clear message.
    let out = fds.run(&world, &sbox_bin(), &["--keep-fd", "9", "--", "touch", "ran"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(stderr(&out).contains("cannot keep descriptor 9 (--keep-fd 9): it is not open"), "{}", stderr(&out));
    let out = fds.run(&world, &sbox_bin(), &["--keep-fd", "2", "--", "touch", "ran"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!world.work().join("ran").exists());
    // And so is one that leads into Sovereign's own data, even when named.
    let data = world.home.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("console.secret"), FD_SECRET).unwrap();
    let mut shell = world.command("sh");
    shell.args(["-c", "exec 7<\"$1\"; shift; exec \"$@\"", "sh"]).arg(data.join("console.secret"));
    let out = shell.arg(sbox_bin()).args(["--keep-fd", "7", "--", "sh", "attack.sh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(!stdout(&out).contains(FD_SECRET), "{out:?}");
    assert!(stderr(&out).contains("--keep-fd 7") && stderr(&out).contains("Sovereign's data"), "{}", stderr(&out));
}

#[test]
fn bubblewrap_itself_inherits_none_of_the_callers_descriptors() {
    use std::io::BufRead;
    let world = World::new();
    let fds = InheritedFds::new(&world);
    let secret = fds.outside.path().join("console.secret");
    let mut child = fds
        .run(&world, &sbox_bin(), &["--", "sh", "-c", "echo ready; exec sleep 30"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    // Control: sbox itself holds both (close-on-exec), so the check below can see them.
    let held = open_files(child.id());
    assert!(held.contains(&secret) && held.contains(&fds.outside.path().to_owned()), "{held:?}");
    let below = descendants(child.id());
    assert!(below.len() >= 2, "bubblewrap and the command: {below:?}");
    for pid in below {
        let open = open_files(pid);
        assert!(!open.iter().any(|f| f.starts_with(fds.outside.path())), "process {pid} holds {open:?}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn no_set_id_program_or_file_capability_can_be_left_on_the_host() {
    // As root, a set-user-ID copy of a shell in the working directory is a root shell on the
    // host for whoever can run it; as any user, set-ID bits on one's own files are refused too.
    let world = World::new();
    // Control: the host check below sees set-ID bits where they are set.
    let control = tempfile::tempdir().unwrap();
    std::fs::write(control.path().join("x"), "").unwrap();
    std::fs::set_permissions(control.path().join("x"), std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
    assert_eq!(set_id_files(control.path()).len(), 1);

    let script = r#"cp /bin/sh ./x || echo cp-failed
chmod 4755 ./x 2>/dev/null || echo refused:chmod-4755
chmod 2755 ./x 2>/dev/null || echo refused:chmod-2755
chmod u+s ./x 2>/dev/null || echo refused:chmod-u+s
python3 - <<'EOF'
import errno, os, stat
def attempt(name, call):
    try:
        call()
        print("allowed:" + name)
    except OSError as e:
        print("refused:%s:%s" % (name, errno.errorcode[e.errno]))
attempt("open-creat-4755", lambda: os.open("y", os.O_CREAT | os.O_WRONLY, 0o4755))
attempt("mknod-4755", lambda: os.mknod("z", stat.S_IFREG | 0o4755))
attempt("fchmod-6755", lambda: os.fchmod(os.open("x", os.O_RDONLY), 0o6755))
# EOPNOTSUPP, which Python names by its alias ENOTSUP.
attempt("setxattr-capability", lambda: os.setxattr("x", "security.capability", b"\x01\x00\x00\x02" + bytes(16)))
EOF
chmod 700 ./x && echo ordinary-chmod-works
echo data > plain && cp -a plain copied && echo cp-a-works
"#;
    let out = world.sbox_sh(&[], script);
    assert_eq!(
        stdout(&out),
        "refused:chmod-4755\nrefused:chmod-2755\nrefused:chmod-u+s\nrefused:open-creat-4755:EPERM\n\
         refused:mknod-4755:EPERM\nrefused:fchmod-6755:EPERM\nrefused:setxattr-capability:ENOTSUP\n\
         ordinary-chmod-works\ncp-a-works\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(set_id_files(world.work()), Vec::<std::path::PathBuf>::new(), "set-ID files left on the host");
    assert!(!world.work().join("y").exists() && !world.work().join("z").exists());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(world.work().join("x")).unwrap().permissions());
    assert_eq!(mode & 0o7777, 0o700);
}

/// The files under `dir` with a set-user-ID or set-group-ID bit.
fn set_id_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.path().symlink_metadata().unwrap();
        if meta.is_dir() {
            found.extend(set_id_files(&entry.path()));
        } else if meta.permissions().mode() & 0o6000 != 0 {
            found.push(entry.path());
        }
    }
    found
}

#[test]
fn the_mount_table_inside_names_no_host_runtime_path_and_every_bind_is_nosuid() {
    let world = World::new();
    let uid = rustix::process::getuid().as_raw();
    let granted = tempfile::tempdir().unwrap();
    let granted_path = granted.path().to_str().unwrap();
    let script = "cat /proc/self/mountinfo; echo ---; cat /etc/hostname; ls -l /etc/passwd; id -un";
    // With the runtime directory from XDG_RUNTIME_DIR, and without (then /tmp/sovereign-UID).
    for from_xdg in [true, false] {
        let mut sbox = world.sbox(&["--ro", granted_path, "--", "sh", "-c", script]);
        if !from_xdg {
            sbox.env_remove("XDG_RUNTIME_DIR");
        }
        let out = sbox.output().unwrap();
        let text = stdout(&out);
        let (table, etc) = text.split_once("---\n").unwrap_or_else(|| panic!("{out:?}"));
        assert!(table.lines().count() > 5, "{table}");
        let runtime = world.runtime.path().to_str().unwrap();
        for host in [runtime, &format!("sovereign-{uid}"), "/etc-"] {
            assert!(!table.contains(host), "the mount table names {host}: {table}");
        }
        // The generated /etc files are there all the same, readable, and not writable by others.
        let mut etc = etc.lines();
        assert_eq!(etc.next(), Some("sbox"), "{text}");
        assert!(etc.next().is_some_and(|l| l.starts_with("-rw-r--r-- ")), "{text}");
        assert_eq!(etc.next(), Some(if uid == 0 { "root" } else { "user" }), "{text} {}", stderr(&out));
        // Every bind is nosuid: a set-ID file already in one takes no effect inside.
        for dest in [world.work().to_str().unwrap(), granted_path] {
            let line = table.lines().find(|l| l.split(' ').nth(4) == Some(dest)).unwrap_or_else(|| panic!("{table}"));
            let options = line.split(' ').nth(5).unwrap();
            assert!(options.split(',').any(|o| o == "nosuid"), "{line}");
        }
    }
}

#[test]
fn a_running_servers_console_and_data_are_refused_whatever_sboxs_own_environment_says() {
    // The World has another HOME, config and data directory than the server, and its config
    // names the default console port, not the one the server listens on.
    let world = World::new();
    let mut server = Serve::start();
    let port = server.console_port.to_string();
    assert_ne!(server.console_port, 7000);
    assert!(server.record().exists(), "{} was not published", server.record().display());
    let elsewhere = tempfile::tempdir().unwrap();

    let named = format!("port {port} is the human console of the running `sov` (pid {})", server.pid());
    for mut sbox in [
        world.sbox(&["--port", &port, "--", "touch", "ran"]),
        world.sov(&["sbox", "--port", &port, "--", "touch", "ran"]),
    ] {
        let out = sbox.env("HOME", elsewhere.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{out:?}");
        assert!(stderr(&out).contains(&named), "{}", stderr(&out));
    }
    assert!(!world.work().join("ran").exists());
    let data = server.data_dir();
    let out = world
        .sbox(&["--rw", data.to_str().unwrap(), "--", "sh", "-c", "ls; touch pwned"])
        .env("HOME", elsewhere.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let refusal = stderr(&out);
    assert!(
        refusal.contains("a granted path") && refusal.contains("Sovereign's data of the running `sov`"),
        "{refusal}"
    );
    assert!(!stdout(&out).contains("sovereign.db"), "{out:?}");
    // Nor from inside it as the working directory, or from its config directory.
    for dir in [data.clone(), server.home.path().to_owned()] {
        let out = world.sbox(&["--", "touch", "pwned"]).current_dir(&dir).output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{out:?}");
        assert!(stderr(&out).contains("the working directory"), "{}", stderr(&out));
    }
    assert!(!data.join("pwned").exists() && !server.home.path().join("pwned").exists());

    // Once the server has ended, its record is gone and the port is an ordinary one again.
    let record = server.record();
    server.stop(rustix::process::Signal::TERM);
    assert!(!record.exists(), "{} outlived its server", record.display());
    let out = world.sbox(&["--port", &port, "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // A server killed outright leaves its record, which no longer counts: its lock went with it.
    let mut killed = Serve::start();
    let port = killed.console_port.to_string();
    killed.stop(rustix::process::Signal::KILL);
    assert!(killed.record().exists(), "a killed server cannot remove its record");
    let out = world.sbox(&["--port", &port, "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let _ = std::fs::remove_file(killed.record());
}
