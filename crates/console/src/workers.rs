//! The daemon's workers: the AI reviewer and the executor, each a thread that sleeps until the
//! gate changes (or a second passes, to notice decisions made by `sov confirm` in another
//! process).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sov_engine::{ChatMessage, Constraint, Engine, Event, Generate, Prompt, Sampling};
use sov_gate::review::{REVIEWER_PROMPT, parse_verdict, review_message, verdict_schema};
use sov_gate::{ActionRecord, Executors, Gate, ReviewError, Reviewer, Verdict};

/// How often workers look for changes made by other processes.
const POLL: Duration = Duration::from_secs(1);
/// How often undecided actions are checked for expiry.
const EXPIRY_SWEEP: Duration = Duration::from_secs(10);

/// The running workers; dropping them stops them.
pub struct Workers {
    stop: Arc<AtomicBool>,
    gate: Arc<Gate>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts the reviewer and executor threads. Actions a previous process left running are
    /// settled first (see [`Gate::recover`]).
    pub fn start(gate: Arc<Gate>, reviewer: Arc<dyn Reviewer>, executors: Executors) -> std::io::Result<Workers> {
        let stop = Arc::new(AtomicBool::new(false));
        if let Err(e) = gate.recover(&executors) {
            tracing::error!("settling interrupted actions: {e}");
        }
        let review = {
            let (gate, stop) = (gate.clone(), stop.clone());
            std::thread::Builder::new()
                .name("gate-reviewer".into())
                .spawn(move || review_loop(&gate, &*reviewer, &stop))?
        };
        let execute = {
            let (gate, stop) = (gate.clone(), stop.clone());
            std::thread::Builder::new()
                .name("gate-executor".into())
                .spawn(move || execute_loop(&gate, &executors, &stop))?
        };
        Ok(Workers { stop, gate, threads: vec![review, execute] })
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

fn review_loop(gate: &Gate, reviewer: &dyn Reviewer, stop: &AtomicBool) {
    let mut seen = 0;
    while !stop.load(Ordering::SeqCst) {
        match gate.next_for_review() {
            Ok(Some(record)) => {
                let (verdict, reason) = reviewer.review(&record).unwrap_or_else(|e| {
                    tracing::warn!(id = %record.id, "the AI reviewer failed: {e}");
                    (
                        Verdict::Deny,
                        format!("the AI reviewer could not review this action ({e}), so it counts as denied"),
                    )
                });
                if let Err(e) = gate.record_review(&record.id, verdict, &reason) {
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

fn execute_loop(gate: &Gate, executors: &Executors, stop: &AtomicBool) {
    let mut seen = 0;
    let mut swept = Instant::now() - EXPIRY_SWEEP;
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = gate.run_approved(executors) {
            tracing::error!("running approved actions: {e}");
        }
        if swept.elapsed() >= EXPIRY_SWEEP {
            swept = Instant::now();
            match gate.expire_due() {
                Ok(0) => {}
                Ok(n) => tracing::info!("{n} undecided actions expired"),
                Err(e) => tracing::error!("expiring actions: {e}"),
            }
        }
        gate.wait_for_change(&mut seen, POLL);
    }
}

/// The local model as the AI reviewer: a fresh conversation per action with the fixed reviewer
/// prompt, greedy sampling, no tools, and the answer constrained to the verdict schema.
pub struct EngineReviewer {
    engine: Engine,
    model: String,
}

impl EngineReviewer {
    /// Reviews with `model` (a name the engine resolves; `default` for the default model).
    pub fn new(engine: Engine, model: String) -> EngineReviewer {
        EngineReviewer { engine, model }
    }
}

impl Reviewer for EngineReviewer {
    fn review(&self, record: &ActionRecord) -> Result<(Verdict, String), ReviewError> {
        let request = Generate {
            model: self.model.clone(),
            prompt: Prompt::Chat(vec![
                ChatMessage { role: "system".into(), content: REVIEWER_PROMPT.into() },
                ChatMessage { role: "user".into(), content: review_message(record) },
            ]),
            sampling: Sampling { temperature: 0.0, ..Sampling::default() },
            max_tokens: Some(200),
            stop: Vec::new(),
            constraint: Some(Constraint::JsonSchema(verdict_schema().to_string())),
            ignore_eos: false,
        };
        let mut events = self.engine.generate(request).map_err(|e| ReviewError::Unavailable(e.to_string()))?;
        let mut text = String::new();
        while let Some(event) = events.blocking_recv() {
            match event {
                Event::Text(t) => text.push_str(&t),
                Event::Done { .. } => return parse_verdict(&text),
                Event::Failed(e) => return Err(ReviewError::Unavailable(e.to_string())),
                Event::Started { .. } | Event::Embeddings { .. } => {}
            }
        }
        Err(ReviewError::Malformed("the model stopped without finishing its answer".into()))
    }
}
