//! The escape suite: each test is an attack from inside `sbox` that must fail, with the same
//! attack run unsandboxed as a control wherever that is safe, so no test passes vacuously.
//! CI runs this suite as root and again as an unprivileged user.

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
