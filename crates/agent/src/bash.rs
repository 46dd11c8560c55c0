//! The `bash` tool: a shell command in the sandbox's working directory, killed (its whole
//! process group) after a timeout or when the user cancels the step.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::tool::{OUTPUT_CAP, Tool, ToolError, cap, object_schema, parse};

/// Longest `bash` run when no timeout is given.
pub const DEFAULT_BASH_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest timeout a `bash` call may ask for.
pub const MAX_BASH_TIMEOUT: Duration = Duration::from_secs(600);

/// `bash`: runs a command with `sh -c` in `root`.
#[derive(Debug, Clone)]
pub struct Bash {
    root: PathBuf,
    cancel: Arc<AtomicBool>,
}

impl Bash {
    /// Commands in `root`; a running one is killed when `cancel` becomes true (Ctrl-C).
    pub fn new(root: impl Into<PathBuf>, cancel: Arc<AtomicBool>) -> Bash {
        Bash { root: root.into(), cancel }
    }

    /// Runs `command` with `sh -c` in the working directory; kills its whole process group after
    /// `timeout`. Answers the exit status and the combined output, capped.
    pub fn execute(&self, command: &str, timeout: Duration) -> Result<String, ToolError> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| ToolError(format!("starting sh: {e}")))?;
        let readers: Vec<_> = [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .map(|mut stream| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = stream.by_ref().take((OUTPUT_CAP * 4) as u64).read_to_end(&mut buf);
                // Drain the rest so the command never blocks on a full pipe.
                let _ = std::io::copy(&mut stream, &mut std::io::sink());
                buf
            })
        })
        .collect();
        // The wait runs on its own thread so the answer comes the moment the command ends; this
        // thread only wakes to enforce the timeout and Ctrl-C.
        let group = rustix::process::Pid::from_raw(child.id() as i32);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done_tx.send(child.wait());
        });
        let deadline = Instant::now() + timeout;
        let mut killed = false;
        let status = loop {
            match done_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(status) => {
                    let status = status.map_err(|e| ToolError(format!("waiting for the command: {e}")))?;
                    break if killed { None } else { Some(status) };
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(ToolError("waiting for the command: the waiter went away".into()));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if !killed && (Instant::now() >= deadline || self.cancel.load(Ordering::SeqCst)) {
                        if let Some(group) = group {
                            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                        }
                        killed = true;
                    }
                }
            }
        };
        let mut out = Vec::new();
        for reader in readers {
            out.extend(reader.join().unwrap_or_default());
        }
        let mut text = String::from_utf8_lossy(&out).into_owned();
        match status {
            None if self.cancel.load(Ordering::SeqCst) => text.push_str("\n[killed: the user cancelled this step]"),
            None => {
                text.push_str(&format!("\n[killed after {} s: the command did not finish in time]", timeout.as_secs()))
            }
            Some(status) => match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
                (Some(0), _) => {}
                (Some(code), _) => text.push_str(&format!("\n[exit status {code}]")),
                (None, Some(signal)) => text.push_str(&format!("\n[killed by signal {signal}]")),
                (None, None) => {}
            },
        }
        Ok(cap(text))
    }
}

impl Tool for Bash {
    fn name(&self) -> &str {
        "bash"
    }

    fn description(&self) -> &str {
        "Run a shell command in the sandbox (working directory: the project). Output is capped; the command is killed after timeout seconds."
    }

    fn schema(&self) -> Value {
        object_schema(
            json!({"command": {"type": "string"}, "timeout": {"type": "integer", "description": "seconds, default 120, at most 600"}}),
            &["command"],
        )
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct A {
            command: String,
            timeout: Option<u64>,
        }
        let a: A = parse(self.name(), arguments)?;
        let timeout = a.timeout.map_or(DEFAULT_BASH_TIMEOUT, Duration::from_secs).min(MAX_BASH_TIMEOUT);
        self.execute(&a.command, timeout)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn bash_reports_status_caps_output_and_kills_on_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let t = Bash::new(dir.path(), Arc::new(AtomicBool::new(false)));
        assert_eq!(t.run(r#"{"command": "echo hi; echo err >&2; exit 3"}"#).unwrap(), "hi\nerr\n\n[exit status 3]");
        let big = t.run(r#"{"command": "yes x | head -c 200000"}"#).unwrap();
        assert!(big.len() < OUTPUT_CAP + 100 && big.ends_with("bytes shown]"), "{}", big.len());
        let started = Instant::now();
        let out = t.execute("sleep 30 & sleep 30; echo never", Duration::from_secs(1)).unwrap();
        assert!(out.contains("killed after 1 s") && !out.contains("never"), "{out}");
        assert!(started.elapsed() < Duration::from_secs(10), "the whole group, background included, must die");
    }
}
