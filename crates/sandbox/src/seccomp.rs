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
//! Everything else is allowed: the sandbox's walls are the namespaces and Landlock; this filter
//! closes the kernel's sharper edges.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

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

const NAMESPACE_FLAGS: [u64; 8] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWCGROUP as u64,
    0x80, // CLONE_NEWTIME, not exported by libc for every target
];

/// Builds the filters, in installation order, for the running architecture.
pub fn filters() -> Result<Vec<BpfProgram>> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| Error::Seccomp(format!("unsupported architecture {}: {e:?}", std::env::consts::ARCH)))?;
    let cond = |arg: u8, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(|e| Error::Seccomp(e.to_string()))
    };
    let rule = |conds: Vec<SeccompCondition>| SeccompRule::new(conds).map_err(|e| Error::Seccomp(e.to_string()));

    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = denied_syscalls().into_iter().map(|nr| (nr, vec![])).collect();

    // clone(flags, ...): deny any namespace flag (the flags are the first argument on x86_64 and aarch64).
    let mut clone_rules = Vec::new();
    for flag in NAMESPACE_FLAGS {
        clone_rules.push(rule(vec![cond(0, SeccompCmpOp::MaskedEq(flag), flag)?])?);
    }
    rules.insert(libc::SYS_clone, clone_rules);

    // socket(domain, type, protocol): no packet sockets, no raw sockets of any family but
    // netlink (whose sockets are SOCK_RAW by convention, and which `ip` needs to list interfaces).
    let sock_type_mask = 0xf;
    rules.insert(
        libc::SYS_socket,
        vec![
            rule(vec![cond(0, SeccompCmpOp::Eq, libc::AF_PACKET as u64)?])?,
            rule(vec![
                cond(1, SeccompCmpOp::MaskedEq(sock_type_mask), libc::SOCK_RAW as u64)?,
                cond(0, SeccompCmpOp::Ne, libc::AF_NETLINK as u64)?,
            ])?,
            rule(vec![cond(
                1,
                SeccompCmpOp::MaskedEq(sock_type_mask),
                10, /* SOCK_PACKET, obsolete but still accepted by the kernel */
            )?])?,
        ],
    );

    // ioctl(fd, request, ...): no terminal input injection. The request is an int: compare 32 bits.
    let ioctl_cmd = |value: u64| {
        SeccompCondition::new(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)
            .map_err(|e| Error::Seccomp(e.to_string()))
            .and_then(|c| rule(vec![c]))
    };
    rules.insert(libc::SYS_ioctl, vec![ioctl_cmd(libc::TIOCSTI)?, ioctl_cmd(libc::TIOCLINUX)?]);

    let deny = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(|e| Error::Seccomp(e.to_string()))?;
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, vec![])]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| Error::Seccomp(e.to_string()))?;

    [deny, clone3].into_iter().map(|f| BpfProgram::try_from(f).map_err(|e| Error::Seccomp(e.to_string()))).collect()
}

/// Installs the filters on the calling thread (and, through inheritance, every process it starts).
/// Requires `no_new_privs`, which Landlock's `restrict_self` has already set.
pub fn install(programs: &[BpfProgram]) -> Result<()> {
    for program in programs {
        seccompiler::apply_filter(program).map_err(|e| Error::Seccomp(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn filters_compile_for_this_architecture() {
        let programs = filters().unwrap();
        assert_eq!(programs.len(), 2);
        assert!(programs[0].len() > denied_syscalls().len(), "every denied call needs at least one instruction");
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
