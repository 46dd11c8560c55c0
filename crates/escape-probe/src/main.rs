//! Test-only escape probe: run inside `sbox` by the escape suite, it attempts one attack and
//! reports the outcome. Never installed or shipped.
//!
//! Usage: `sov-escape-probe ATTACK [ARGS]`. Prints `ESCAPED: …` and exits 1 when the attack worked,
//! `CONTAINED: …` and exits 0 when it was stopped, exits 2 on bad usage. Run outside a sandbox, the
//! same attacks succeed: the suite uses that as its control, so no test here can pass vacuously.

// The probe makes the raw system calls an attacker would; that needs `unsafe` FFI. It is a test
// tool only and no other crate depends on it.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match args.as_slice() {
        ["connect", port] => connect(port),
        ["abstract", name] => abstract_socket(name),
        ["talk", port, message] => talk(port, message),
        ["raw-socket"] => socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP),
        ["packet-socket"] => socket(libc::AF_PACKET, libc::SOCK_RAW, 0),
        ["ptrace", pid] => ptrace(pid),
        ["ptrace-child"] => ptrace_child(),
        ["kill", pid] => kill(pid),
        ["environ", pid, needle] => environ(pid, needle),
        ["mount"] => mount(),
        ["unshare-user"] => unshare(libc::CLONE_NEWUSER),
        ["unshare-mount"] => unshare(libc::CLONE_NEWNS),
        ["clone-newuser"] => clone_newuser(),
        ["setns", path] => setns(path),
        ["tiocsti"] => tiocsti(),
        ["hardlink", src, dst] => hardlink(src, dst),
        ["interfaces"] => interfaces(),
        ["routes"] => routes(),
        _ => {
            eprintln!("usage: sov-escape-probe ATTACK [ARGS]  (see the source for the list)");
            std::process::exit(2);
        }
    };
    match outcome {
        Ok(detail) => {
            println!("ESCAPED: {detail}");
            std::process::exit(1);
        }
        Err(detail) => {
            println!("CONTAINED: {detail}");
            std::process::exit(0);
        }
    }
}

/// `Ok` = the attack worked, `Err` = it was stopped (with why).
type Outcome = Result<String, String>;

fn errno() -> String {
    std::io::Error::last_os_error().to_string()
}

fn connect(port: &str) -> Outcome {
    let port: u16 = port.parse().map_err(|_| "bad port".to_string())?;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let _ = stream.write_all(b"probe\n");
    let mut reply = [0u8; 64];
    let n = stream.read(&mut reply).map_err(|e| format!("connected but no reply: {e}"))?;
    if n == 0 {
        return Err("connection closed without a reply".into());
    }
    Ok(format!("127.0.0.1:{port} answered {:?}", String::from_utf8_lossy(&reply[..n])))
}

/// Not an attack: the positive case. Sends `message` to a granted port and prints the reply
/// (exit 0), or says why not (exit 3).
fn talk(port: &str, message: &str) -> ! {
    match connect_and_send(port, message) {
        Ok(reply) => {
            println!("{reply}");
            std::process::exit(0)
        }
        Err(e) => {
            println!("NO REPLY: {e}");
            std::process::exit(3)
        }
    }
}

fn connect_and_send(port: &str, message: &str) -> Result<String, String> {
    let port: u16 = port.parse().map_err(|_| "bad port".to_string())?;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    stream.write_all(message.as_bytes()).map_err(|e| e.to_string())?;
    stream.shutdown(std::net::Shutdown::Write).map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).map_err(|e| e.to_string())?;
    Ok(reply)
}

fn abstract_socket(name: &str) -> Outcome {
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).map_err(|e| e.to_string())?;
    UnixStream::connect_addr(&addr).map(|_| format!("connected to abstract socket @{name}")).map_err(|e| e.to_string())
}

fn socket(domain: i32, kind: i32, protocol: i32) -> Outcome {
    // SAFETY: plain syscall with integer arguments; the fd is closed right away.
    let fd = unsafe { libc::socket(domain, kind, protocol) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: fd was just returned by socket() and is owned here.
    unsafe { libc::close(fd) };
    Ok(format!("opened socket({domain}, {kind}, {protocol})"))
}

fn ptrace(pid: &str) -> Outcome {
    let pid: i32 = pid.parse().map_err(|_| "bad pid".to_string())?;
    // SAFETY: PTRACE_ATTACH takes no pointers.
    let rc = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0) };
    if rc == 0 { Ok(format!("attached to pid {pid}")) } else { Err(errno()) }
}

fn ptrace_child() -> Outcome {
    // SAFETY: the child only sleeps and is killed below; no locks are held across fork.
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: async-signal-safe calls only in the child.
        unsafe {
            libc::sleep(10);
            libc::_exit(0)
        }
    }
    let outcome = ptrace(&child.to_string());
    // SAFETY: child is our own child process.
    unsafe {
        libc::kill(child, libc::SIGKILL);
        libc::waitpid(child, std::ptr::null_mut(), 0);
    }
    outcome
}

fn kill(pid: &str) -> Outcome {
    let pid: i32 = pid.parse().map_err(|_| "bad pid".to_string())?;
    // SAFETY: plain syscall.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    if rc == 0 { Ok(format!("sent SIGTERM to pid {pid}")) } else { Err(errno()) }
}

fn environ(pid: &str, needle: &str) -> Outcome {
    let text = std::fs::read(format!("/proc/{pid}/environ")).map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&text).contains(needle) {
        Ok(format!("read /proc/{pid}/environ containing the secret"))
    } else {
        Err(format!("/proc/{pid}/environ readable but without the secret (another process)"))
    }
}

fn mount() -> Outcome {
    let dir = std::env::temp_dir().join("probe-mount");
    let _ = std::fs::create_dir_all(&dir);
    let target = CString::new(dir.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call.
    let rc = unsafe { libc::mount(c"none".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, std::ptr::null()) };
    if rc == 0 { Ok("mounted a tmpfs".into()) } else { Err(errno()) }
}

fn unshare(flags: i32) -> Outcome {
    // SAFETY: plain syscall.
    let rc = unsafe { libc::unshare(flags) };
    if rc == 0 { Ok(format!("unshare({flags:#x}) succeeded")) } else { Err(errno()) }
}

fn clone_newuser() -> Outcome {
    // SAFETY: raw clone without CLONE_VM behaves like fork; the child exits at once.
    let rc = unsafe { libc::syscall(libc::SYS_clone, libc::CLONE_NEWUSER | libc::SIGCHLD, 0, 0, 0, 0) };
    match rc {
        0 => unsafe { libc::_exit(0) },
        -1 => Err(errno()),
        child => {
            // SAFETY: reaping our own child.
            unsafe { libc::waitpid(child as i32, std::ptr::null_mut(), 0) };
            Ok("cloned into a new user namespace".into())
        }
    }
}

fn setns(path: &str) -> Outcome {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    use std::os::fd::AsRawFd;
    // SAFETY: fd is valid for the duration of the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), 0) };
    if rc == 0 { Ok(format!("joined namespace {path}")) } else { Err(errno()) }
}

fn tiocsti() -> Outcome {
    let byte: libc::c_char = b'#' as libc::c_char;
    // SAFETY: TIOCSTI reads one byte from the valid pointer.
    let rc = unsafe { libc::ioctl(0, libc::TIOCSTI, &byte) };
    if rc == 0 { Ok("injected a byte into the terminal".into()) } else { Err(errno()) }
}

fn hardlink(src: &str, dst: &str) -> Outcome {
    std::fs::hard_link(src, dst).map_err(|e| e.to_string())?;
    let content = std::fs::read(dst).map_err(|e| format!("linked but unreadable: {e}"))?;
    Ok(format!("hard-linked {src} and read {} bytes", content.len()))
}

fn interfaces() -> Outcome {
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills the pointer; freed below.
    if unsafe { libc::getifaddrs(&mut addrs) } != 0 {
        return Err(errno());
    }
    let mut names = Vec::new();
    let mut cursor = addrs;
    while !cursor.is_null() {
        // SAFETY: cursor walks the list getifaddrs returned; names are NUL-terminated.
        let entry = unsafe { &*cursor };
        let name = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) }.to_string_lossy().into_owned();
        if !names.contains(&name) {
            names.push(name);
        }
        cursor = entry.ifa_next;
    }
    // SAFETY: addrs came from getifaddrs.
    unsafe { libc::freeifaddrs(addrs) };
    let others: Vec<&String> = names.iter().filter(|n| *n != "lo").collect();
    if others.is_empty() { Err(format!("only {names:?}")) } else { Ok(format!("interfaces {names:?}")) }
}

fn routes() -> Outcome {
    let mut found = Vec::new();
    for file in ["/proc/net/route", "/proc/net/ipv6_route"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        found.extend(
            text.lines()
                .filter(|l| !l.starts_with("Iface") && !l.trim().is_empty())
                // IPv6 routing lists loopback's own routes on `lo`; those lead nowhere.
                .filter(|l| !l.trim_end().ends_with(" lo"))
                .map(str::to_owned),
        );
    }
    if found.is_empty() { Err("no routes".into()) } else { Ok(format!("routes: {found:?}")) }
}
