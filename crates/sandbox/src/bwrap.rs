//! The bubblewrap command line for a [`Plan`]: a pure function, unit-tested argument by argument.
//!
//! Mount order matters, and is this:
//! 1. a fresh root (bubblewrap's tmpfs) with the system read-only: `/usr`, the `/bin`/`/lib*`
//!    links or binds, NixOS's `/nix` and `/run/current-system` where present;
//! 2. `/etc` built from an allowlist of harmless files, plus a generated `passwd`, `group`,
//!    `hosts` and `hostname` that name only root, the user and `nobody` (no host accounts,
//!    no host name, no `/etc/shadow`). bubblewrap writes those four into the sandbox's own root
//!    from descriptors `sbox` fills (`--file FD PATH`): no host file lies behind them, so the
//!    sandbox's mount table names no host path for them, and a start needs four mounts fewer;
//! 3. fresh `/proc` (own PID namespace), minimal `/dev`, empty tmpfs `/tmp` and `$HOME`;
//! 4. the working directory and granted paths, shallow before deep, so a read-only grant inside
//!    a writable one stays read-only;
//! 5. the relay sockets under `/run/sovereign`, read-only, when ports are granted.
//!
//! Sovereign's init is not mounted: bubblewrap executes it from a descriptor `sbox` hands down
//! (see [`crate::launch`]), which saves a bind mount on every start.
//!
//! Namespaces: all of them (`--unshare-all` plus a mandatory `--unshare-user`), further user
//! namespaces disabled, all capabilities dropped, `--new-session` against TIOCSTI, and
//! `--die-with-parent` so nothing outlives `sbox`. [`HARDENING`] is also given on bubblewrap's
//! command line itself, so it holds even if the options never arrive.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::plan::{Plan, RUN_DIR};

/// `/etc` entries that carry no secrets and that ordinary programs need.
pub const ETC_ALLOWLIST: &[&str] = &[
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "fonts",
    "gitconfig",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "pki",
    "profile",
    "profile.d",
    "protocols",
    "services",
    "ssl",
    "static",
    "terminfo",
    "timezone",
    "vim",
    "xdg",
];

/// Top-level system directories bound read-only when they are real directories, or recreated as
/// the same symlink when they are links (merged-/usr systems).
pub const SYSTEM_TOP_DIRS: &[&str] = &["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// The `/etc` files generated for every sandbox ([`etc_files`]).
pub const ETC_GENERATED: [&str; 4] = ["passwd", "group", "hosts", "hostname"];

/// The flags that do not depend on the plan; part of [`bwrap_args`], and also passed on
/// bubblewrap's own command line, ahead of the options it reads from a pipe.
pub const HARDENING: &[&str] = &["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"];

/// Facts about the host that shape the argv but are not part of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLayout {
    /// For each of [`SYSTEM_TOP_DIRS`] that exists: its path and, when it is a symlink, its target.
    pub top_dirs: Vec<(PathBuf, Option<PathBuf>)>,
    /// Whether `/nix` exists (NixOS, or Nix on another distribution).
    pub nix: bool,
    /// The descriptors bubblewrap reads the generated [`ETC_GENERATED`] files from, in that order.
    pub etc_fds: Vec<i32>,
    /// Host directory holding the relay sockets, when ports are granted.
    pub ports_dir: Option<PathBuf>,
    /// GPU device nodes that exist on the host.
    pub gpu_devices: Vec<PathBuf>,
}

impl HostLayout {
    /// Looks at the real host's `/` (a handful of `lstat`s; `/dev` is listed only when `gpu`).
    pub fn probe(etc_fds: Vec<i32>, ports_dir: Option<PathBuf>, gpu: bool) -> Self {
        let top_dirs = SYSTEM_TOP_DIRS
            .iter()
            .filter_map(|dir| {
                let meta = std::fs::symlink_metadata(dir).ok()?;
                let target = if meta.file_type().is_symlink() { std::fs::read_link(dir).ok() } else { None };
                Some((PathBuf::from(dir), target))
            })
            .collect();
        let gpu_devices = if gpu { gpu_device_nodes() } else { Vec::new() };
        Self { top_dirs, nix: Path::new("/nix").exists(), etc_fds, ports_dir, gpu_devices }
    }
}

/// Path of the relay socket directory inside the sandbox.
pub fn ports_path() -> PathBuf {
    Path::new(RUN_DIR).join("ports")
}

/// bubblewrap's options (everything before `--`) for `plan` on a host shaped like `layout`; the
/// command it then runs is Sovereign's init, as the sandbox's PID 1 when [`Plan::keeps_init`].
pub fn bwrap_args(plan: &Plan, layout: &HostLayout) -> Vec<OsString> {
    let mut args = Args::default();
    args.0.extend(HARDENING.iter().map(OsString::from));
    args.flag("--unshare-user");
    let privileged_port = plan.ports.iter().any(|p| *p < 1024);
    if !privileged_port {
        // bubblewrap implements this with a nested user namespace, which would leave the network
        // namespace owned by the outer one; with a privileged port granted, seccomp alone keeps
        // new user namespaces out.
        args.flag("--disable-userns");
    }
    if plan.keeps_init() {
        args.flag("--as-pid-1");
    }
    if privileged_port {
        // The relay must listen on a privileged port of the sandbox's *own* network namespace.
        args.pair("--cap-add", "CAP_NET_BIND_SERVICE");
    }
    args.pair("--hostname", "sbox");

    // 1. system
    args.same("--ro-bind", "/usr");
    for (dir, target) in &layout.top_dirs {
        match target {
            Some(target) => args.triple("--symlink", target, dir),
            None => args.same("--ro-bind", dir),
        }
    }
    if layout.nix {
        args.same("--ro-bind", "/nix");
        args.same("--ro-bind-try", "/run/current-system");
    }

    // 2. /etc
    args.pair("--dir", "/etc");
    for name in ETC_ALLOWLIST {
        args.same("--ro-bind-try", Path::new("/etc").join(name));
    }
    for (name, fd) in ETC_GENERATED.iter().zip(&layout.etc_fds) {
        args.pair("--perms", "0644");
        args.triple("--file", fd.to_string(), Path::new("/etc").join(name));
    }

    // 3. kernel interfaces and scratch space
    args.pair("--proc", "/proc");
    args.pair("--dev", "/dev");
    args.pair("--tmpfs", "/tmp");
    if !plan.binds.iter().any(|b| plan.home.starts_with(&b.dest)) {
        args.pair("--tmpfs", &plan.home);
    }
    if plan.gpu {
        for dev in &layout.gpu_devices {
            args.same("--dev-bind-try", dev);
        }
    }

    // 4. working dir and grants, shallow before deep (the plan is sorted so)
    for bind in &plan.binds {
        let op = if bind.writable { "--bind" } else { "--ro-bind" };
        args.triple(op, &bind.source, &bind.dest);
    }
    for socket in &plan.audio_sockets {
        args.same("--bind-try", socket);
    }

    // 5. Sovereign's own pieces
    if let Some(dir) = &layout.ports_dir {
        args.triple("--ro-bind", dir, ports_path());
    }
    args.pair("--chdir", &plan.workdir);
    args.0
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn flag(&mut self, flag: &str) {
        self.0.push(flag.into());
    }
    fn pair(&mut self, flag: &str, value: impl AsRef<std::ffi::OsStr>) {
        self.0.extend([flag.into(), value.as_ref().to_owned()]);
    }
    fn triple(&mut self, flag: &str, a: impl AsRef<std::ffi::OsStr>, b: impl AsRef<std::ffi::OsStr>) {
        self.0.extend([flag.into(), a.as_ref().to_owned(), b.as_ref().to_owned()]);
    }
    fn same(&mut self, flag: &str, path: impl AsRef<std::ffi::OsStr>) {
        self.triple(flag, &path, &path);
    }
}

fn gpu_device_nodes() -> Vec<PathBuf> {
    let mut devices: Vec<PathBuf> = ["/dev/dri", "/dev/kfd"].iter().map(PathBuf::from).filter(|p| p.exists()).collect();
    if let Ok(entries) = std::fs::read_dir("/dev") {
        let mut nvidia: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("nvidia"))
            .map(|e| e.path())
            .collect();
        nvidia.sort();
        devices.extend(nvidia);
    }
    devices
}

/// The contents of the generated [`ETC_GENERATED`] files, in that order. They name only root,
/// the user (by uid, with the home path) and nobody, and map `localhost` to loopback.
pub fn etc_files(uid: u32, gid: u32, user: &str, home: &Path) -> [String; 4] {
    let passwd = format!(
        "root:x:0:0:root:/root:/bin/sh\n{}nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        if uid == 0 { String::new() } else { format!("{user}:x:{uid}:{gid}:{user}:{}:/bin/sh\n", home.display()) }
    );
    let group =
        format!("root:x:0:\n{}nogroup:x:65534:\n", if gid == 0 { String::new() } else { format!("{user}:x:{gid}:\n") });
    [
        passwd,
        group,
        "127.0.0.1 localhost sbox\n::1 localhost ip6-localhost ip6-loopback\n".to_owned(),
        "sbox\n".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::plan::Bind;
    use pretty_assertions::assert_eq;

    fn plan() -> Plan {
        Plan {
            workdir: "/home/ada/proj".into(),
            home: "/home/ada".into(),
            binds: vec![
                Bind { source: "/home/ada/proj".into(), dest: "/home/ada/proj".into(), writable: true },
                Bind { source: "/data/notes".into(), dest: "/home/ada/notes".into(), writable: false },
            ],
            ports: vec![8080],
            audio_sockets: vec![],
            audio_runtime_dir: None,
            gpu: false,
            env: vec![],
            keep_fds: vec![],
            command: vec!["true".into()],
            terminal: false,
        }
    }

    fn layout() -> HostLayout {
        HostLayout {
            top_dirs: vec![("/bin".into(), Some("usr/bin".into())), ("/lib".into(), None)],
            nix: false,
            etc_fds: vec![5, 6, 7, 8],
            ports_dir: Some("/run/user/1000/sovereign/sbox-1/ports".into()),
            gpu_devices: vec!["/dev/dri".into()],
        }
    }

    fn render(args: &[OsString]) -> String {
        args.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn namespaces_and_hardening_flags_come_first() {
        let args = render(&bwrap_args(&plan(), &layout()));
        assert!(args.starts_with(
            "--unshare-all --die-with-parent --new-session --cap-drop ALL --unshare-user --disable-userns --as-pid-1 --hostname sbox --ro-bind /usr /usr --symlink usr/bin /bin --ro-bind /lib /lib --dir /etc"
        ), "{args}");
    }

    #[test]
    fn the_init_is_pid_1_only_when_it_stays_to_relay_ports_or_own_the_terminal() {
        let pid_1 = |plan: &Plan| render(&bwrap_args(plan, &layout())).contains("--as-pid-1");
        let mut plan = plan();
        assert!(pid_1(&plan), "ports are relayed by the init");
        plan.ports.clear();
        assert!(!pid_1(&plan), "the init becomes the command under bubblewrap's PID 1");
        plan.terminal = true;
        assert!(pid_1(&plan), "the terminal is owned by the init");
    }

    #[test]
    fn no_secret_etc_files_and_generated_identity() {
        let args = render(&bwrap_args(&plan(), &layout()));
        for secret in
            ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh", "/etc/machine-id", "--bind /etc/passwd"]
        {
            assert!(!args.contains(secret), "{secret} must not be bound: {args}");
        }
        assert!(
            args.contains(
                "--perms 0644 --file 5 /etc/passwd --perms 0644 --file 6 /etc/group \
                 --perms 0644 --file 7 /etc/hosts --perms 0644 --file 8 /etc/hostname --proc /proc"
            ),
            "{args}"
        );
    }

    #[test]
    fn home_is_an_empty_tmpfs_before_grants_are_mounted_into_it() {
        let args = render(&bwrap_args(&plan(), &layout()));
        let tail = args.split("--tmpfs /tmp ").nth(1).unwrap();
        assert_eq!(
            tail,
            "--tmpfs /home/ada --bind /home/ada/proj /home/ada/proj --ro-bind /data/notes /home/ada/notes \
             --ro-bind /run/user/1000/sovereign/sbox-1/ports /run/sovereign/ports \
             --chdir /home/ada/proj"
        );
    }

    #[test]
    fn home_is_not_hidden_when_the_workdir_contains_it() {
        let mut plan = plan();
        plan.workdir = "/home".into();
        plan.binds = vec![Bind { source: "/home".into(), dest: "/home".into(), writable: true }];
        assert!(!render(&bwrap_args(&plan, &layout())).contains("--tmpfs /home/ada"));
    }

    #[test]
    fn gpu_and_nix_only_when_present_and_asked() {
        assert!(!render(&bwrap_args(&plan(), &layout())).contains("/dev/dri"));
        let mut plan = plan();
        plan.gpu = true;
        let mut layout = layout();
        layout.nix = true;
        let args = render(&bwrap_args(&plan, &layout));
        assert!(args.contains("--dev-bind-try /dev/dri /dev/dri") && args.contains("--ro-bind /nix /nix"), "{args}");
    }

    #[test]
    fn generated_passwd_names_only_root_user_and_nobody() {
        let [passwd, group, ..] = etc_files(1000, 1000, "ada", Path::new("/home/ada"));
        let users: Vec<&str> = passwd.lines().map(|l| l.split(':').next().unwrap()).collect();
        assert_eq!(users, ["root", "ada", "nobody"]);
        assert_eq!(group, "root:x:0:\nada:x:1000:\nnogroup:x:65534:\n");
        let [passwd, ..] = etc_files(0, 0, "root", Path::new("/root"));
        assert_eq!(passwd.lines().count(), 2, "root is named once: {passwd}");
    }
}
