//! Crash points for the exactly-once tests: with `SOV_TEST_CRASH_AT=STEP` in its environment,
//! the process kills itself with SIGKILL (as `kill -9` would) when it reaches STEP. Nothing else
//! reads the variable; unset, a crash point costs one comparison.

use std::sync::OnceLock;

/// The environment variable naming the step to crash at.
pub const CRASH_ENV: &str = "SOV_TEST_CRASH_AT";

/// The gate's steps, in the order an action passes them. Executors may name steps of their own
/// inside `after-claim`…`after-effect` (the messaging executor has `message-handed-off`).
pub const STEPS: &[&str] =
    &["after-submit", "after-review", "after-approve", "after-claim", "after-effect", "after-finish"];

/// Kills this process with SIGKILL if `SOV_TEST_CRASH_AT` names `step`.
pub fn point(step: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    if AT.get_or_init(|| std::env::var(CRASH_ENV).ok()).as_deref() == Some(step) {
        tracing::warn!(step, "{CRASH_ENV}: killing this process");
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}
