//! The daemon's workers: the AI review loop, one execute lane per kind, and the expiry sweep,
//! each a thread that sleeps until the gate changes (or a second passes, to notice decisions
//! made by `sov confirm` in another process). The reviewer is any [`Reviewer`]: `sov serve`
//! gives it the local model.
//!
//! Lanes: each registered kind has a thread of its own that claims only actions of its kind
//! ([`Gate::run_approved_of`]), so a slow `remote.llm` never holds up a `message.send`. Actions
//! of one kind run one at a time, in the order they were asked for. Claiming is one durable
//! transaction, so an action runs once however many lanes (or processes) look for work; actions
//! a previous process left `executing` are settled by [`Gate::recover`] before any lane starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::action::Kind;
use crate::exec::{Executor, Executors};
use crate::queue::Gate;
use crate::record::Verdict;
use crate::review::Reviewer;

/// How often workers look for changes made by other processes.
const POLL: Duration = Duration::from_secs(1);
/// How often undecided actions are checked for expiry.
const EXPIRY_SWEEP: Duration = Duration::from_secs(10);

/// The running workers; dropping them stops them (an executor in the middle of an action
/// finishes it first).
pub struct Workers {
    stop: Arc<AtomicBool>,
    gate: Arc<Gate>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.threads.iter().filter_map(|t| t.thread().name()).collect();
        f.debug_struct("Workers").field("threads", &names).finish_non_exhaustive()
    }
}

impl Workers {
    /// Settles the actions a previous process left running ([`Gate::recover`]), then starts the
    /// reviewer, the expiry sweep, and one execute lane per kind in `executors`.
    pub fn start(gate: Arc<Gate>, reviewer: Arc<dyn Reviewer>, executors: Executors) -> std::io::Result<Workers> {
        if let Err(e) = gate.recover(&executors) {
            tracing::error!("settling interrupted actions: {e}");
        }
        let mut workers = Workers { stop: Arc::new(AtomicBool::new(false)), gate, threads: Vec::new() };
        workers.spawn("gate-reviewer".into(), move |gate, stop| review_loop(gate, &*reviewer, stop))?;
        workers.spawn("gate-expiry".into(), expiry_loop)?;
        for kind in executors.kinds() {
            let Some(executor) = executors.get(kind).cloned() else { continue };
            workers.spawn(format!("gate-exec-{kind}"), move |gate, stop| execute_lane(gate, kind, &*executor, stop))?;
        }
        Ok(workers)
    }

    fn spawn(&mut self, name: String, work: impl FnOnce(&Gate, &AtomicBool) + Send + 'static) -> std::io::Result<()> {
        let (gate, stop) = (self.gate.clone(), self.stop.clone());
        // On failure `self` is dropped by the caller's `?`, which stops the threads started so far.
        self.threads.push(std::thread::Builder::new().name(name).spawn(move || work(&gate, &stop))?);
        Ok(())
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.gate.wake();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The name the code reviewer's verdicts are recorded under (where a model's name goes).
pub const CODE_REVIEWER: &str = "code";

fn review_loop(gate: &Gate, reviewer: &dyn Reviewer, stop: &AtomicBool) {
    let mut seen = 0;
    while !stop.load(Ordering::SeqCst) {
        match gate.next_for_review() {
            Ok(Some(record)) => {
                // Code first: what the session was served, and the signals that weigh deny,
                // decide a deny whatever a model says (the model is not asked then). Its
                // reviewer is recorded as `code`.
                let (model, verdict, reason) = match (gate.code_review(&record), record.signals.deny_reason()) {
                    (Err(e), _) => {
                        tracing::warn!(id = %record.id, "the code reviewer failed: {e}");
                        let reason = format!(
                            "the gate could not check what this session read ({e}), so the action counts as denied"
                        );
                        (Some(CODE_REVIEWER.to_owned()), Verdict::Deny, reason)
                    }
                    (Ok(provenance), signals) if provenance.is_some() || signals.is_some() => {
                        let reason = provenance.into_iter().chain(signals).collect::<Vec<_>>().join("; and ");
                        (Some(CODE_REVIEWER.to_owned()), Verdict::Deny, reason)
                    }
                    (Ok(_), _) => match reviewer.review(&record) {
                        Ok((verdict, reason)) => (reviewer.model(), verdict, reason),
                        Err(e) => {
                            tracing::warn!(id = %record.id, "the AI reviewer failed: {e}");
                            let reason =
                                format!("the AI reviewer could not review this action ({e}), so it counts as denied");
                            (None, Verdict::Deny, reason)
                        }
                    },
                };
                if let Err(e) = gate.record_review_by(&record.id, model.as_deref(), verdict, &reason) {
                    tracing::error!(id = %record.id, "recording the review: {e}");
                    gate.wait_for_change(&mut seen, POLL);
                }
            }
            Ok(None) => gate.wait_for_change(&mut seen, POLL),
            Err(e) => {
                tracing::error!("looking for actions to review: {e}");
                gate.wait_for_change(&mut seen, POLL);
            }
        }
    }
}

fn expiry_loop(gate: &Gate, stop: &AtomicBool) {
    let mut seen = 0;
    let mut since_sweep = EXPIRY_SWEEP;
    while !stop.load(Ordering::SeqCst) {
        if since_sweep >= EXPIRY_SWEEP {
            since_sweep = Duration::ZERO;
            match gate.expire_due() {
                Ok(0) => {}
                Ok(n) => tracing::info!("{n} undecided actions expired"),
                Err(e) => tracing::error!("expiring actions: {e}"),
            }
        }
        let started = std::time::Instant::now();
        gate.wait_for_change(&mut seen, POLL);
        since_sweep += started.elapsed();
    }
}

fn execute_lane(gate: &Gate, kind: Kind, executor: &dyn Executor, stop: &AtomicBool) {
    let mut seen = 0;
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = gate.run_approved_of(kind, executor) {
            tracing::error!(%kind, "running approved actions: {e}");
        }
        gate.wait_for_change(&mut seen, POLL);
    }
}
