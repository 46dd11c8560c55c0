//! The seccomp filter installed inside every sandbox, in front of the command.
//!
//! Guarantees: once installed (it cannot be removed, and `no_new_privs` is set first), the
//! sandboxed process tree gets `EPERM` for system calls that an ordinary program never needs and
//! that would help an escape: debugging other processes (`ptrace`, `process_vm_*`), mounting,
//! new namespaces (`unshare`, `setns`, `clone` with `CLONE_NEW*`), BPF, keyrings, kexec, kernel
//! modules, `userfaultfd`, `perf_event_open`, `io_uring` (its operations bypass seccomp), raw
//! and packet sockets, and terminal input injection (`TIOCSTI`, `TIOCLINUX`). `clone3` answers
//! `ENOSYS`, because its flags live in memory seccomp cannot read; libc then falls back to
//! `clone`, whose flags are checked.
//!
//! No file the sandbox writes can become a privileged program on the host. A sandbox started by
//! root writes files owned by root into the working directory, and a set-user-ID bit there would
//! leave a root shell behind for anyone who can run it outside. So, in two layers:
//! - this filter refuses (`EPERM`) every mode with set-user-ID or set-group-ID (`06000`): in
//!   `chmod`, `fchmod`, `fchmodat`, `fchmodat2`, in `open`, `openat` and `creat` when they
//!   may create a file (`O_CREAT`, `O_TMPFILE`), and in `mknod`/`mknodat`. `openat2` answers
//!   `ENOSYS` like `clone3` (its mode is in memory; libc falls back to `openat`). Extended
//!   attributes cannot be set at all (`setxattr`, `lsetxattr`, `fsetxattr`, `setxattrat`
//!   answer `EOPNOTSUPP`, which `cp -a` and `tar` take as "not supported here" and go on), so
//!   neither can file capabilities (`security.capability`), which the kernel would also refuse
//!   for want of `CAP_SETFCAP`: bubblewrap drops every capability (`--cap-drop ALL`);
//! - bubblewrap mounts every bind `nosuid`, so inside the sandbox no set-ID bit takes effect
//!   either (this covers files that already carry one, which the filter cannot see).
//!
//! Everything else is allowed: the sandbox's walls are the namespaces and Landlock; this filter
//! closes the kernel's sharper edges.

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, sock_filter};

use crate::{Error, Result};

/// System calls denied outright.
fn denied_syscalls() -> Vec<i64> {
    let mut calls = vec![
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_mount_setattr,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_bpf,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_userfaultfd,
        libc::SYS_perf_event_open,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_reboot,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_syslog,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([libc::SYS_iopl, libc::SYS_ioperm, libc::SYS_uselib]);
    calls
}

/// Namespace flags refused in `clone`'s first argument (all in its low 32 bits).
const NAMESPACE_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u32
    | 0x80; // CLONE_NEWTIME, not exported by libc for every target

/// The set-user-ID and set-group-ID mode bits (`S_ISUID | S_ISGID`).
const SET_ID_BITS: u32 = 0o6000;
/// Open flags under which the mode argument counts: `O_CREAT` and `__O_TMPFILE` (the bit of
/// `O_TMPFILE` that is not `O_DIRECTORY`).
const CREATING_FLAGS: u32 = (libc::O_CREAT | (libc::O_TMPFILE & !libc::O_DIRECTORY)) as u32;
/// Calls newer than the `libc` crate knows for every target; the same number on all of them.
const SYS_FCHMODAT2: i64 = 452;
const SYS_SETXATTRAT: i64 = 463;

/// `SOCK_PACKET`: obsolete, still accepted by the kernel.
const SOCK_PACKET: u32 = 10;
/// The socket type's low bits (the rest are `SOCK_NONBLOCK`/`SOCK_CLOEXEC`).
const SOCK_TYPE_MASK: u32 = 0xf;
/// x32 system calls carry this bit in their number on x86_64; none is allowed.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 62 | 0x8000_0000 | 0x4000_0000; // EM_X86_64 | 64BIT | LE
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 183 | 0x8000_0000 | 0x4000_0000; // EM_AARCH64 | 64BIT | LE

/// Offsets in `struct seccomp_data`: the call number, the architecture, and the low 32 bits of
/// an argument (little-endian targets only, which are the only ones built for).
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const fn data_arg_low(index: u32) -> u32 {
    16 + 8 * index
}

const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const RET_KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const fn ret_errno(errno: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (errno as u32 & 0xffff)
}

/// What the filter does with one system call number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Refused with this errno, whatever the arguments.
    Refuse(i32),
    /// `clone`: refused when a namespace flag is set.
    Clone,
    /// `socket`: refused for packet sockets and raw sockets other than netlink.
    Socket,
    /// `ioctl`: refused for terminal input injection.
    Ioctl,
    /// A call that sets a file's mode: refused when argument `mode` has a set-ID bit.
    SetsMode { mode: u32 },
    /// A call that opens and may create a file: refused when argument `flags` may create and
    /// argument `mode` has a set-ID bit.
    MayCreate { flags: u32, mode: u32 },
}

fn rules() -> BTreeMap<u32, Rule> {
    let mut rules: BTreeMap<u32, Rule> =
        denied_syscalls().into_iter().map(|nr| (nr as u32, Rule::Refuse(libc::EPERM))).collect();
    rules.insert(libc::SYS_clone as u32, Rule::Clone);
    rules.insert(libc::SYS_socket as u32, Rule::Socket);
    rules.insert(libc::SYS_ioctl as u32, Rule::Ioctl);
    // clone3's flags live in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
    rules.insert(libc::SYS_clone3 as u32, Rule::Refuse(libc::ENOSYS));
    for (nr, rule) in set_id_rules() {
        rules.insert(nr as u32, rule);
    }
    rules
}

/// The calls that could leave a set-user-ID or set-group-ID file, or a file capability, behind.
fn set_id_rules() -> Vec<(i64, Rule)> {
    let mut rules = vec![
        (libc::SYS_fchmod, Rule::SetsMode { mode: 1 }),
        (libc::SYS_fchmodat, Rule::SetsMode { mode: 2 }),
        (SYS_FCHMODAT2, Rule::SetsMode { mode: 2 }),
        (libc::SYS_mknodat, Rule::SetsMode { mode: 2 }),
        (libc::SYS_openat, Rule::MayCreate { flags: 2, mode: 3 }),
        // Its flags and mode are in memory seccomp cannot read: libc falls back to openat.
        (libc::SYS_openat2, Rule::Refuse(libc::ENOSYS)),
        (libc::SYS_setxattr, Rule::Refuse(libc::EOPNOTSUPP)),
        (libc::SYS_lsetxattr, Rule::Refuse(libc::EOPNOTSUPP)),
        (libc::SYS_fsetxattr, Rule::Refuse(libc::EOPNOTSUPP)),
        (SYS_SETXATTRAT, Rule::Refuse(libc::EOPNOTSUPP)),
    ];
    #[cfg(target_arch = "x86_64")]
    rules.extend([
        (libc::SYS_chmod, Rule::SetsMode { mode: 1 }),
        (libc::SYS_creat, Rule::SetsMode { mode: 1 }),
        (libc::SYS_mknod, Rule::SetsMode { mode: 1 }),
        (libc::SYS_open, Rule::MayCreate { flags: 1, mode: 2 }),
    ]);
    rules
}

/// The filter, as one classic BPF program for the running architecture.
///
/// It is written out by hand rather than by a rule compiler because of what the kernel does at
/// installation: it runs the filter once for every system call number to find the ones it may
/// allow without running it again, and a linear chain of comparisons made that step the most
/// expensive part of starting a sandbox. Here the call number goes through a balanced tree of
/// comparisons (a handful per call); only `clone`, `socket`, `ioctl` and the calls that set a
/// file's mode look at arguments.
pub fn program() -> Result<BpfProgram> {
    let rules: Vec<(u32, Rule)> = rules().into_iter().collect();
    let mut program = vec![load(DATA_ARCH), jump(libc::BPF_JEQ, AUDIT_ARCH, 1, 0), ret(RET_KILL), load(DATA_NR)];
    #[cfg(target_arch = "x86_64")]
    program.extend([jump(libc::BPF_JGE, X32_SYSCALL_BIT, 0, 1), ret(ret_errno(libc::EPERM))]);
    program.extend(decision_tree(&rules)?);
    Ok(program)
}

/// Compares the call number (in the accumulator) against the sorted `rules`; every path ends
/// in a return.
fn decision_tree(rules: &[(u32, Rule)]) -> Result<Vec<sock_filter>> {
    const LEAF_SIZE: usize = 4;
    if rules.len() <= LEAF_SIZE {
        let mut code = Vec::new();
        for (nr, rule) in rules {
            let block = rule_block(*rule);
            code.push(jump(libc::BPF_JEQ, *nr, 0, offset(block.len())?));
            code.extend(block);
        }
        code.push(ret(RET_ALLOW));
        return Ok(code);
    }
    let (low, high) = rules.split_at(rules.len() / 2);
    let low_code = decision_tree(low)?;
    let mut code = vec![jump(libc::BPF_JGE, high[0].0, offset(low_code.len())?, 0)];
    code.extend(low_code);
    code.extend(decision_tree(high)?);
    Ok(code)
}

/// The instructions that decide one call; each path ends in a return.
fn rule_block(rule: Rule) -> Vec<sock_filter> {
    let refuse = || ret(ret_errno(libc::EPERM));
    match rule {
        Rule::Refuse(errno) => vec![ret(ret_errno(errno))],
        Rule::Clone => {
            vec![load(data_arg_low(0)), jump(libc::BPF_JSET, NAMESPACE_FLAGS, 0, 1), refuse(), ret(RET_ALLOW)]
        }
        Rule::Socket => vec![
            load(data_arg_low(0)), // domain
            jump(libc::BPF_JEQ, libc::AF_PACKET as u32, 0, 1),
            refuse(),
            load(data_arg_low(1)), // type
            stmt(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, SOCK_TYPE_MASK),
            jump(libc::BPF_JEQ, SOCK_PACKET, 0, 1),
            refuse(),
            jump(libc::BPF_JEQ, libc::SOCK_RAW as u32, 0, 3),
            // Netlink sockets are SOCK_RAW by convention, and `ip` needs them to list interfaces.
            load(data_arg_low(0)),
            jump(libc::BPF_JEQ, libc::AF_NETLINK as u32, 1, 0),
            refuse(),
            ret(RET_ALLOW),
        ],
        Rule::Ioctl => vec![
            load(data_arg_low(1)), // the request is an int: its low 32 bits are all of it
            jump(libc::BPF_JEQ, libc::TIOCSTI as u32, 1, 0),
            jump(libc::BPF_JEQ, libc::TIOCLINUX as u32, 0, 1),
            refuse(),
            ret(RET_ALLOW),
        ],
        // Modes and flags are ints (the kernel reads a mode as 16 bits): the low 32 bits hold them.
        Rule::SetsMode { mode } => {
            vec![load(data_arg_low(mode)), jump(libc::BPF_JSET, SET_ID_BITS, 0, 1), refuse(), ret(RET_ALLOW)]
        }
        Rule::MayCreate { flags, mode } => vec![
            load(data_arg_low(flags)),
            jump(libc::BPF_JSET, CREATING_FLAGS, 0, 3),
            load(data_arg_low(mode)),
            jump(libc::BPF_JSET, SET_ID_BITS, 0, 1),
            refuse(),
            ret(RET_ALLOW),
        ],
    }
}

fn offset(len: usize) -> Result<u8> {
    u8::try_from(len).map_err(|_| Error::Seccomp(format!("a jump over {len} instructions does not fit classic BPF")))
}

fn load(offset: u32) -> sock_filter {
    stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset)
}

fn ret(value: u32) -> sock_filter {
    stmt(libc::BPF_RET | libc::BPF_K, value)
}

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter { code: code as u16, jt: 0, jf: 0, k }
}

fn jump(condition: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code: (libc::BPF_JMP | condition | libc::BPF_K) as u16, jt, jf, k }
}

/// Installs the filter on the calling thread (and, through inheritance, every process it starts).
/// Requires `no_new_privs`, which Landlock's `restrict_self` has already set.
pub fn install(program: &BpfProgram) -> Result<()> {
    seccompiler::apply_filter(program).map_err(|e| Error::Seccomp(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Runs a classic BPF program (the instructions this module emits) on one call, the way
    /// the kernel does, refusing anything malformed.
    fn run(program: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend(nr.to_le_bytes());
        data.extend(arch.to_le_bytes());
        data.extend(0u64.to_le_bytes());
        for arg in args {
            data.extend(arg.to_le_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let insn = program.get(pc).expect("fell off the end of the program");
            let code = u32::from(insn.code);
            pc += 1;
            match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    let at = insn.k as usize;
                    acc = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
                }
                c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => acc &= insn.k,
                c if c == libc::BPF_RET | libc::BPF_K => return insn.k,
                c if c & 0x07 == libc::BPF_JMP => {
                    let taken = match c & 0xf0 {
                        libc::BPF_JEQ => acc == insn.k,
                        libc::BPF_JGE => acc >= insn.k,
                        libc::BPF_JSET => acc & insn.k != 0,
                        other => panic!("unexpected jump {other:#x}"),
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                other => panic!("unexpected instruction {other:#x}"),
            }
        }
    }

    fn decide(nr: i64, args: [u64; 6]) -> u32 {
        run(&program().unwrap(), AUDIT_ARCH, nr as u32, args)
    }

    const EPERM: u32 = ret_errno(libc::EPERM);

    #[test]
    fn every_call_number_gets_the_decision_of_its_rule() {
        let rules = rules();
        let program = program().unwrap();
        for nr in 0..1024u32 {
            let got = run(&program, AUDIT_ARCH, nr, [0; 6]);
            let want = match rules.get(&nr) {
                Some(Rule::Refuse(errno)) => ret_errno(*errno),
                // Zero arguments: no namespace flag, domain 0, type 0, request 0, mode 0.
                Some(Rule::Clone | Rule::Socket | Rule::Ioctl | Rule::SetsMode { .. } | Rule::MayCreate { .. })
                | None => RET_ALLOW,
            };
            assert_eq!(got, want, "call {nr}");
        }
        for nr in denied_syscalls() {
            assert_eq!(decide(nr, [0; 6]), EPERM, "call {nr}");
        }
        assert_eq!(decide(libc::SYS_clone3, [0; 6]), ret_errno(libc::ENOSYS));
        assert_eq!(decide(libc::SYS_read, [0; 6]), RET_ALLOW);
        assert_eq!(decide(libc::SYS_execve, [0; 6]), RET_ALLOW);
    }

    #[test]
    fn clone_is_refused_with_any_namespace_flag_and_allowed_for_threads_and_forks() {
        for flag in [
            libc::CLONE_NEWNS,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWCGROUP,
            0x80,
        ] {
            assert_eq!(decide(libc::SYS_clone, [flag as u64 | libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), EPERM);
        }
        let thread = libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID;
        assert_eq!(decide(libc::SYS_clone, [thread as u64, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(decide(libc::SYS_clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), RET_ALLOW);
    }

    #[test]
    fn sockets_refuse_packet_and_raw_but_allow_netlink_and_ordinary_ones() {
        let socket = |domain: i32, kind: i32| decide(libc::SYS_socket, [domain as u64, kind as u64, 0, 0, 0, 0]);
        assert_eq!(socket(libc::AF_PACKET, libc::SOCK_DGRAM), EPERM);
        assert_eq!(socket(libc::AF_INET, libc::SOCK_RAW), EPERM);
        assert_eq!(socket(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK), EPERM);
        assert_eq!(socket(libc::AF_INET, SOCK_PACKET as i32), EPERM);
        assert_eq!(socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC), RET_ALLOW);
        assert_eq!(socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC), RET_ALLOW);
        assert_eq!(socket(libc::AF_UNIX, libc::SOCK_DGRAM), RET_ALLOW);
        // The kernel reads int arguments from the low 32 bits; so does the filter.
        assert_eq!(decide(libc::SYS_socket, [libc::AF_PACKET as u64 | 1 << 40, 2, 0, 0, 0, 0]), EPERM);
    }

    #[test]
    #[allow(clippy::unnecessary_cast)] // the request type is c_ulong on glibc, c_int on musl
    fn terminal_injection_ioctls_are_refused_others_allowed() {
        let ioctl = |request: u64| decide(libc::SYS_ioctl, [0, request, 0, 0, 0, 0]);
        assert_eq!(ioctl(libc::TIOCSTI as u64), EPERM);
        assert_eq!(ioctl(libc::TIOCSTI as u64 | 1 << 32), EPERM);
        assert_eq!(ioctl(libc::TIOCLINUX as u64), EPERM);
        assert_eq!(ioctl(libc::TIOCGWINSZ as u64), RET_ALLOW);
    }

    #[test]
    fn set_id_bits_are_refused_wherever_a_mode_is_set_and_ordinary_modes_pass() {
        let mut sets_mode =
            vec![(libc::SYS_fchmod, 1), (libc::SYS_fchmodat, 2), (SYS_FCHMODAT2, 2), (libc::SYS_mknodat, 2)];
        #[cfg(target_arch = "x86_64")]
        sets_mode.extend([(libc::SYS_chmod, 1), (libc::SYS_creat, 1), (libc::SYS_mknod, 1)]);
        let with = |at: usize, value: u64, rest: [u64; 6]| {
            let mut args = rest;
            args[at] = value;
            args
        };
        let file = u64::from(libc::S_IFREG);
        for (nr, at) in sets_mode {
            for mode in [0o4755, 0o2755, 0o6755, 0o4000, file | 0o4755, 0o2755 | 1 << 40] {
                assert_eq!(decide(nr, with(at, mode, [3, 3, 3, 3, 3, 3])), EPERM, "call {nr} mode {mode:o}");
            }
            for mode in [0o755, 0o644, 0o1777, file | 0o644, 0] {
                assert_eq!(decide(nr, with(at, mode, [3, 3, 3, 3, 3, 3])), RET_ALLOW, "call {nr} mode {mode:o}");
            }
        }
        let mut may_create = vec![(libc::SYS_openat, 2, 3)];
        #[cfg(target_arch = "x86_64")]
        may_create.push((libc::SYS_open, 1, 2));
        let create = (libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC) as u64;
        let tmpfile = (libc::O_TMPFILE | libc::O_RDWR) as u64;
        for (nr, flags_at, mode_at) in may_create {
            let open = |flags: u64, mode: u64| decide(nr, with(mode_at, mode, with(flags_at, flags, [0; 6])));
            assert_eq!(open(create, 0o4755), EPERM, "call {nr}");
            assert_eq!(open(create | libc::O_EXCL as u64, 0o2700), EPERM, "call {nr}");
            assert_eq!(open(tmpfile, 0o6755), EPERM, "call {nr}");
            assert_eq!(open(create, 0o755), RET_ALLOW, "call {nr}");
            assert_eq!(open(tmpfile, 0o600), RET_ALLOW, "call {nr}");
            // Without O_CREAT the kernel ignores the mode, and so does the filter.
            assert_eq!(open(libc::O_RDONLY as u64, 0o4755), RET_ALLOW, "call {nr}");
        }
    }

    #[test]
    fn openat2_falls_back_and_extended_attributes_are_unsupported() {
        assert_eq!(decide(libc::SYS_openat2, [0; 6]), ret_errno(libc::ENOSYS));
        for nr in [libc::SYS_setxattr, libc::SYS_lsetxattr, libc::SYS_fsetxattr, SYS_SETXATTRAT] {
            assert_eq!(decide(nr, [0; 6]), ret_errno(libc::EOPNOTSUPP), "call {nr}");
        }
        // Reading and removing them stays allowed.
        for nr in [libc::SYS_getxattr, libc::SYS_listxattr, libc::SYS_removexattr] {
            assert_eq!(decide(nr, [0; 6]), RET_ALLOW, "call {nr}");
        }
    }

    #[test]
    fn another_architecture_is_killed_and_x32_calls_are_refused() {
        let program = program().unwrap();
        assert_eq!(run(&program, AUDIT_ARCH ^ 1, libc::SYS_read as u32, [0; 6]), RET_KILL);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(run(&program, AUDIT_ARCH, X32_SYSCALL_BIT | libc::SYS_read as u32, [0; 6]), EPERM);
    }

    #[test]
    fn an_allowed_call_takes_a_handful_of_comparisons() {
        // The installation cost the hand-written tree exists for: count the instructions an
        // allowed call runs, for every call number.
        let program = program().unwrap();
        let longest = (0..1024u32).filter(|nr| !rules().contains_key(nr)).map(|nr| steps(&program, nr)).max().unwrap();
        assert!(longest <= 16, "an allowed call runs {longest} instructions");
        // Small enough that a jump over the tree's lower half stays far from classic BPF's 8-bit
        // offsets (`program` refuses a tree whose jumps do not fit).
        assert!(program.len() < 256, "{} instructions", program.len());
    }

    fn steps(program: &[sock_filter], nr: u32) -> usize {
        let mut pc = 0usize;
        let mut count = 0;
        let mut acc = 0u32;
        loop {
            let insn = &program[pc];
            count += 1;
            pc += 1;
            match u32::from(insn.code) {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    acc = if insn.k == DATA_ARCH { AUDIT_ARCH } else { nr }
                }
                c if c == libc::BPF_RET | libc::BPF_K => return count,
                c if c & 0xf0 == libc::BPF_JEQ => pc += usize::from(if acc == insn.k { insn.jt } else { insn.jf }),
                c if c & 0xf0 == libc::BPF_JGE => pc += usize::from(if acc >= insn.k { insn.jt } else { insn.jf }),
                other => panic!("unexpected instruction {other:#x} on an allowed call's path"),
            }
        }
    }

    #[test]
    fn every_denied_syscall_is_distinct() {
        let mut calls = denied_syscalls();
        let count = calls.len();
        calls.sort_unstable();
        calls.dedup();
        assert_eq!(calls.len(), count);
    }
}
