//! `sov doctor` (what on this machine keeps Sovereign from working, and the fix) and
//! `sov service` (systemd units for `sov serve`, user units by default).

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use sov_core::config::Config;
use sov_core::paths::Paths;
use sov_engine::gguf;
use sov_service::doctor::{self, Distro, Finding, Status};
use sov_service::unit::{Scope, Unit};

/// `sov doctor`
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the findings as JSON (an array of {check, status, found, fix}).
    #[arg(long)]
    json: bool,
    /// Also bootstrap Tor when a route uses it (this reaches the Tor network; up to
    /// net.bootstrap_timeout_secs).
    #[arg(long)]
    tor: bool,
}

/// `sov service …`
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Write the unit file for `sov serve` and enable and start it (`systemctl --user` unless
    /// --system).
    Install(UnitArgs),
    /// Print the unit file `install` would write, and write nothing.
    Print(UnitArgs),
    /// `systemctl status` of the unit.
    Status(ScopeArgs),
    /// The unit's log (`journalctl -u`), the last 200 lines.
    Logs(ScopeArgs),
    /// Stop and disable the unit and remove its file.
    Uninstall(ScopeArgs),
}

/// Which manager.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// The system's manager (as root; runs as the `sovereign` account) instead of yours.
    #[arg(long)]
    system: bool,
}

/// What the unit runs.
#[derive(Debug, Args)]
pub struct UnitArgs {
    /// Which manager.
    #[command(flatten)]
    scope: ScopeArgs,
    /// Write the file only: do not run systemctl.
    #[arg(long)]
    no_start: bool,
}

const UNIT_NAME: &str = "sovereign.service";
const SYSTEM_USER: &str = "sovereign";

/// `sov doctor`: prints every finding; exit status 1 when any check failed.
pub fn doctor(args: &DoctorArgs, config: &Config, paths: &Paths) -> Result<i32> {
    let findings = findings(args, config, paths);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else {
        for f in &findings {
            let status = match f.status {
                Status::Ok => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
            };
            println!("{status}  {:<26} {}", f.check, f.found);
            if let Some(fix) = &f.fix {
                println!("      {:<26} fix: {fix}", "");
            }
        }
    }
    let failed = findings.iter().filter(|f| f.status == Status::Fail).count();
    if !args.json {
        match failed {
            0 => println!("no problems found"),
            n => println!("{n} problem{} found", if n == 1 { "" } else { "s" }),
        }
    }
    Ok(i32::from(failed > 0))
}

fn findings(args: &DoctorArgs, config: &Config, paths: &Paths) -> Vec<Finding> {
    let distro = Distro::read(Path::new("/etc/os-release"));
    let mut out = Vec::new();
    let bwrap = doctor::bubblewrap(&config.sandbox.bwrap, std::env::var_os("PATH").as_deref(), &distro);
    let have_bwrap = bwrap.status == Status::Ok;
    out.push(bwrap);
    out.extend(doctor::user_namespaces(Path::new("/proc"), &distro));
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    out.push(doctor::landlock(Path::new("/sys"), release.trim(), config.sandbox.insecure_allow_without_landlock));
    out.push(doctor::seccomp(Path::new("/proc")));
    if have_bwrap {
        out.push(sandbox_runs(paths));
    }

    out.push(doctor::private_dir("data dir", &paths.data_dir));
    out.push(doctor::private_dir("keystore", &paths.data_dir.join("wallet").join("keystore")));
    let secrets = [
        ("serve.api_key_file", &config.serve.api_key_file),
        ("wallet.passphrase_file", &config.wallet.passphrase_file),
        ("zkapi.key_file", &config.zkapi.key_file),
    ];
    out.extend(
        secrets
            .iter()
            .filter(|(_, file)| !file.as_os_str().is_empty())
            .filter_map(|(key, file)| doctor::secret_file(key, file)),
    );
    out.push(
        doctor::secret_file("database", &paths.database())
            .unwrap_or_else(|| Finding::ok("database", format!("{} does not exist yet", paths.database().display()))),
    );

    out.extend(models(config, paths));

    let running = sov_core::protected::running().is_ok_and(|records| {
        let data = sov_core::protected::physical(&paths.data_dir);
        records.iter().any(|r| r.dirs.iter().any(|d| d.path == data))
    });
    for (key, addr) in [
        ("serve.listen", &config.serve.listen),
        ("gate.tool_listen", &config.gate.tool_listen),
        ("gate.console_listen", &config.gate.console_listen),
    ] {
        out.push(doctor::port(key, addr, running));
    }
    if running {
        out.push(Finding::ok("sov serve", "running on this data directory"));
    }
    out.extend(routes(args, config, paths));
    out.push(service_state());
    out
}

/// Runs `true` in a real sandbox: everything sbox needs at once (bubblewrap, namespaces,
/// Landlock, seccomp), with the sandbox's own error when it cannot start.
fn sandbox_runs(paths: &Paths) -> Finding {
    const CHECK: &str = "sandbox";
    let Ok(exe) = std::env::current_exe() else {
        return Finding::fail(CHECK, "cannot find this program to run its sandbox", "run sov by its full path");
    };
    let Ok(dir) = tempfile::tempdir() else {
        return Finding::fail(CHECK, "cannot make a temporary directory", "check that $TMPDIR or /tmp is writable");
    };
    let mut cmd = Process::new(exe);
    cmd.args(["sbox", "--", "true"]).current_dir(dir.path()).stdin(std::process::Stdio::null());
    if paths.config_file.exists() {
        cmd.env("SOV_CONFIG", &paths.config_file);
    }
    match cmd.output() {
        Ok(out) if out.status.success() => Finding::ok(CHECK, "`sov sbox -- true` ran"),
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim();
            Finding::fail(
                CHECK,
                format!("`sov sbox -- true` failed ({}): {first}", out.status),
                "fix the findings above; `sov sbox -v -- true` shows every step",
            )
        }
        Err(e) => Finding::fail(CHECK, format!("cannot run the sandbox: {e}"), "run sov by its full path"),
    }
}

fn models(config: &Config, paths: &Paths) -> Vec<Finding> {
    let catalog = match crate::llm::catalog(config, paths) {
        Ok(catalog) => catalog,
        Err(e) => {
            return vec![Finding::fail("models", format!("{e:#}"), "fix the [models] section of the config file")];
        }
    };
    if catalog.is_empty() {
        return vec![Finding::warn(
            "models",
            "no models: `sov serve` has nothing to answer with",
            "sov models add FILE.gguf (the README's first command installs SmolLM2)",
        )];
    }
    let available = mem_available();
    catalog
        .iter()
        .map(|model| {
            let check = format!("model {}", model.name);
            match gguf::inspect(&model.path) {
                Err(e) => Finding::fail(
                    check,
                    format!("{}: {e}", model.path.display()),
                    format!("download the file again, or `sov models rm {}`", model.name),
                ),
                Ok(info) if available.is_some_and(|a| info.file_size > a) => Finding::warn(
                    check,
                    format!(
                        "{} MiB, more than the {} MiB of memory free now",
                        info.file_size >> 20,
                        available.unwrap_or(0) >> 20
                    ),
                    "use a smaller quantisation, or free memory before it loads",
                ),
                Ok(info) => Finding::ok(check, format!("{}, {} MiB", info.architecture, info.file_size >> 20)),
            }
        })
        .collect()
}

/// `MemAvailable` in bytes.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn routes(args: &DoctorArgs, config: &Config, paths: &Paths) -> Vec<Finding> {
    use sov_net::{Class, Route};
    let net = match crate::net::open(config, paths) {
        Ok(net) => net,
        Err(e) => return vec![Finding::fail("net", format!("{e:#}"), "fix the [net] section of the config file")],
    };
    let mut out = Vec::new();
    for class in Class::ALL {
        let check = format!("route {}", class.as_str());
        out.push(match net.route(class) {
            Route::Tor => Finding::ok(check, "Tor, in process"),
            Route::Socks5(proxy) => Finding::ok(check, format!("SOCKS5 via {proxy}")),
            Route::DirectInsecureDev => Finding::warn(
                check,
                "direct: the other side sees this machine's IP address",
                format!("set [net] {} = \"tor\" (the default)", class.as_str()),
            ),
        });
    }
    if args.tor && Class::ALL.iter().any(|c| net.route(*c) == Route::Tor) {
        let bootstrapped =
            tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting a runtime").and_then(
                |rt| {
                    rt.block_on(async {
                        let limit = Duration::from_secs(config.net.bootstrap_timeout_secs.max(1));
                        match tokio::time::timeout(limit, crate::net::ready(&net, &Route::Tor)).await {
                            Ok(done) => done,
                            Err(_) => bail!("no bootstrap within {} s", limit.as_secs()),
                        }
                    })
                },
            );
        out.push(match bootstrapped {
            Ok(()) => Finding::ok("tor", "bootstrapped"),
            Err(e) => Finding::fail(
                "tor",
                format!("not bootstrapped: {e:#}"),
                "check that this machine reaches the internet; where Tor is blocked set [net] transport to socks5 with a bridge-using tor",
            ),
        });
    }
    out
}

fn service_state() -> Finding {
    let user = user_unit_path();
    let system = Path::new("/etc/systemd/system").join(UNIT_NAME);
    match (user.as_ref().filter(|p| p.exists()), system.exists()) {
        (Some(path), _) => Finding::ok("service", format!("user unit {}", path.display())),
        (None, true) => Finding::ok("service", format!("system unit {}", system.display())),
        (None, false) => Finding::ok("service", "no unit installed (`sov service install` writes one; optional)"),
    }
}

/// `~/.config/systemd/user/sovereign.service` (or under `$XDG_CONFIG_HOME`).
fn user_unit_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("systemd").join("user").join(UNIT_NAME))
}

/// The unit for `sov serve` on this user's (or the system's) configuration.
pub fn unit(system: bool, paths: &Paths) -> Result<Unit> {
    let exe = std::env::current_exe().context("finding this program's path for ExecStart")?;
    let exe = exe.to_str().context("this program's path is not UTF-8; install sov under a UTF-8 path")?.to_owned();
    let utf8 = |p: &Path| p.to_str().map(str::to_owned).with_context(|| format!("{} is not UTF-8", p.display()));
    if system {
        return Ok(Unit {
            description: "Sovereign: local LLM API, Tool API and console".into(),
            exec: vec![exe, "serve".into()],
            scope: Scope::System { user: SYSTEM_USER },
            environment: vec![
                ("SOV_CONFIG".into(), "/etc/sovereign/config.toml".into()),
                ("SOV_DATA_DIR".into(), "/var/lib/sovereign".into()),
            ],
            read_write: vec!["/var/lib/sovereign".into()],
        });
    }
    let mut read_write = vec![paths.data_dir.clone()];
    if paths.state_dir != paths.data_dir {
        read_write.push(paths.state_dir.clone());
    }
    Ok(Unit {
        description: "Sovereign: local LLM API, Tool API and console".into(),
        exec: vec![exe, "serve".into()],
        scope: Scope::User,
        environment: vec![
            ("SOV_CONFIG".into(), utf8(&paths.config_file)?),
            ("SOV_DATA_DIR".into(), utf8(&paths.data_dir)?),
        ],
        read_write,
    })
}

/// `sov service …`
pub fn run(cmd: ServiceCommand, paths: &Paths) -> Result<i32> {
    match cmd {
        ServiceCommand::Print(args) => {
            print!("{}", unit(args.scope.system, paths)?.render());
            Ok(0)
        }
        ServiceCommand::Install(args) => {
            let system = args.scope.system;
            let text = unit(system, paths)?.render();
            let path = unit_path(system)?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
            if system {
                println!(
                    "the unit runs as the `{SYSTEM_USER}` account with /etc/sovereign/config.toml and /var/lib/sovereign; \
                     make it with: sudo useradd --system --home-dir /var/lib/sovereign {SYSTEM_USER}"
                );
            }
            if args.no_start {
                println!("start it with: {} enable --now {UNIT_NAME}", systemctl_name(system));
                return Ok(0);
            }
            systemctl(system, &["daemon-reload"])?;
            systemctl(system, &["enable", "--now", UNIT_NAME])?;
            println!("started; `sov service status` shows it, `sov service logs` its log");
            Ok(0)
        }
        ServiceCommand::Status(scope) => systemctl(scope.system, &["status", "--no-pager", UNIT_NAME]).map(|()| 0),
        ServiceCommand::Logs(scope) => {
            let mut cmd = Process::new("journalctl");
            if !scope.system {
                cmd.arg("--user");
            }
            cmd.args(["-u", UNIT_NAME, "-n", "200", "--no-pager"]);
            let status = cmd.status().context("running journalctl (is systemd's journal on this machine?)")?;
            Ok(status.code().unwrap_or(1))
        }
        ServiceCommand::Uninstall(scope) => {
            let path = unit_path(scope.system)?;
            if !path.exists() {
                bail!("no unit at {}: nothing to remove", path.display());
            }
            // Stopping may fail where systemd does not run; the file goes either way.
            if let Err(e) = systemctl(scope.system, &["disable", "--now", UNIT_NAME]) {
                eprintln!("sov service: {e:#}; removing the file anyway");
            }
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            println!("removed {}", path.display());
            Ok(0)
        }
    }
}

fn unit_path(system: bool) -> Result<PathBuf> {
    if system {
        return Ok(Path::new("/etc/systemd/system").join(UNIT_NAME));
    }
    user_unit_path().context("neither XDG_CONFIG_HOME nor HOME is set: cannot place a user unit")
}

fn systemctl_name(system: bool) -> &'static str {
    if system { "systemctl" } else { "systemctl --user" }
}

fn systemctl(system: bool, args: &[&str]) -> Result<()> {
    let mut cmd = Process::new("systemctl");
    if !system {
        cmd.arg("--user");
    }
    let out = cmd
        .args(args)
        .output()
        .with_context(|| format!("running `{} {}` (is systemd installed?)", systemctl_name(system), args.join(" ")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "`{} {}` failed: {}; the unit file is in place, start it once systemd runs",
            systemctl_name(system),
            args.join(" "),
            err.trim()
        );
    }
    print!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}
