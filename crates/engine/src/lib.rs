//! Sovereign's local inference engine: GGUF models run by llama.cpp (through `llama-cpp-2`), with
//! what llama-swap adds on top built in — models loaded by the name a request asks for, at most N
//! resident, unloaded after an idle time — and a bounded queue per model that answers "busy"
//! instead of piling up work.
//!
//! Each resident model has its own thread (llama.cpp's model and context are not `Send`); a
//! request is a [`Generate`] and its answer a stream of [`Event`]s. Dropping the receiver cancels
//! the generation at the next token, which is how a client that goes away frees its slot.

mod error;
pub mod gguf;
mod grammar;
mod request;
mod text;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use llama_cpp_2::llama_backend::LlamaBackend;
use tokio::sync::{mpsc, watch};

pub use error::{EngineError, ErrorClass};
pub use request::{ChatMessage, Constraint, Event, FinishReason, Generate, Prompt, Sampling, Usage};
use worker::{Job, LoadState, ProgressFn, Task, Worker};

/// Context size used when neither the config nor the request sets one (capped by what the model
/// was trained for).
pub const DEFAULT_CONTEXT: u32 = 4096;

/// A model the engine can load.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// The name requests use.
    pub name: String,
    /// The GGUF file.
    pub path: PathBuf,
    /// Context size in tokens; `None`: the smaller of the trained context and [`DEFAULT_CONTEXT`].
    pub context: Option<u32>,
    /// CPU threads; `None`: all CPUs (at most 16).
    pub threads: Option<i32>,
    /// Layers offloaded to the GPU (needs the `cuda` or `vulkan` feature).
    pub gpu_layers: u32,
    /// Chat template to use instead of the GGUF's own: a llama.cpp template name (`chatml`,
    /// `gemma`, `llama3`, …) or a template text. `None`: the GGUF's, else ChatML.
    pub template: Option<String>,
    /// Sampling for requests that leave it unset.
    pub sampling: Sampling,
}

/// What a loaded model reports about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Its name.
    pub name: String,
    /// `general.architecture`.
    pub architecture: String,
    /// The context size in use.
    pub context: u32,
    /// The context it was trained for.
    pub trained_context: u32,
    /// Parameter count.
    pub parameters: u64,
    /// Size of its weights in bytes.
    pub size_bytes: u64,
    /// How long loading took.
    pub load_ms: f64,
}

/// Engine-wide limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// At most this many models are loaded at once; loading another unloads the least recently used.
    pub max_resident: usize,
    /// Unload a model after this long without requests; `None`: never.
    pub idle_unload: Option<Duration>,
    /// Requests that may wait for a model beyond the one it is working on.
    pub queue: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self { max_resident: 1, idle_unload: Some(Duration::from_secs(600)), queue: 8 }
    }
}

/// Whether a model is in memory.
#[derive(Debug, Clone, PartialEq)]
pub enum Residency {
    /// Not loaded.
    Unloaded,
    /// Loading now.
    Loading,
    /// Loaded and answering.
    Loaded(ModelInfo),
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    queued: AtomicUsize,
    requests: AtomicU64,
    prompt_tokens: AtomicU64,
    cached_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    prompt_micros: AtomicU64,
    generation_micros: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Requests waiting for their model now.
    pub queued: usize,
    /// Generations finished.
    pub requests: u64,
    /// Prompt tokens processed (including cached ones).
    pub prompt_tokens: u64,
    /// Prompt tokens taken from the KV cache.
    pub cached_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Time spent on prompts, in microseconds.
    pub prompt_micros: u64,
    /// Time spent generating, in microseconds.
    pub generation_micros: u64,
}

impl Metrics {
    fn enqueued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dequeued(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn record(&self, usage: &Usage) {
        let micros = |ms: f64| (ms * 1e3).max(0.0) as u64;
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.prompt_tokens.fetch_add(usage.prompt_tokens as u64, Ordering::Relaxed);
        self.cached_tokens.fetch_add(usage.cached_tokens as u64, Ordering::Relaxed);
        self.completion_tokens.fetch_add(usage.completion_tokens as u64, Ordering::Relaxed);
        self.prompt_micros.fetch_add(micros(usage.prompt_ms), Ordering::Relaxed);
        self.generation_micros.fetch_add(micros(usage.generation_ms), Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            queued: self.queued.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            cached_tokens: self.cached_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
            prompt_micros: self.prompt_micros.load(Ordering::Relaxed),
            generation_micros: self.generation_micros.load(Ordering::Relaxed),
        }
    }
}

/// The model catalogue and the workers of the resident ones.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    backend: &'static LlamaBackend,
    models: BTreeMap<String, ModelSpec>,
    default_model: Option<String>,
    options: EngineOptions,
    residents: Mutex<HashMap<String, Resident>>,
    metrics: Arc<Metrics>,
    progress: ProgressFn,
}

struct Resident {
    jobs: SyncSender<Job>,
    state: watch::Receiver<LoadState>,
    last_used: Instant,
    thread: Option<JoinHandle<()>>,
}

static BACKEND: OnceLock<LlamaBackend> = OnceLock::new();
static BACKEND_INIT: Mutex<()> = Mutex::new(());

fn init_backend() -> Result<&'static LlamaBackend, EngineError> {
    let _guard = BACKEND_INIT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(backend) = BACKEND.get() {
        return Ok(backend);
    }
    llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
    let backend = LlamaBackend::init().map_err(|e| EngineError::Inference {
        model: String::new(),
        problem: format!("llama.cpp did not start: {e}"),
    })?;
    Ok(BACKEND.get_or_init(|| backend))
}

impl Engine {
    /// An engine over `models`; `default_model` answers requests that name no model (or
    /// `"default"`). `progress` is told how far each model load has got (0.0 to 1.0).
    pub fn new(
        models: Vec<ModelSpec>,
        default_model: Option<String>,
        options: EngineOptions,
        progress: impl Fn(&str, f32) + Send + Sync + 'static,
    ) -> Result<Self, EngineError> {
        let backend = init_backend()?;
        let models: BTreeMap<_, _> = models.into_iter().map(|m| (m.name.clone(), m)).collect();
        if let Some(name) = &default_model
            && !models.contains_key(name)
        {
            return Err(unknown_model(name, &models));
        }
        let default_model = default_model.or_else(|| models.keys().next().cloned());
        let inner = Arc::new(Inner {
            backend,
            models,
            default_model,
            options: EngineOptions { max_resident: options.max_resident.max(1), ..options },
            residents: Mutex::new(HashMap::new()),
            metrics: Arc::new(Metrics::default()),
            progress: Arc::new(progress),
        });
        if let Some(idle) = inner.options.idle_unload {
            spawn_idle_reaper(Arc::downgrade(&inner), idle);
        }
        Ok(Self { inner })
    }

    /// The models that can be requested, by name.
    pub fn models(&self) -> impl Iterator<Item = &ModelSpec> {
        self.inner.models.values()
    }

    /// The model used when a request names none.
    pub fn default_model(&self) -> Option<&str> {
        self.inner.default_model.as_deref()
    }

    /// The counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// Whether `name` is in memory.
    pub fn residency(&self, name: &str) -> Residency {
        let residents = self.inner.lock();
        match residents.get(name).map(|r| r.state.borrow().clone()) {
            Some(LoadState::Loading) => Residency::Loading,
            Some(LoadState::Ready(info)) => Residency::Loaded(info),
            Some(LoadState::Failed(_)) | None => Residency::Unloaded,
        }
    }

    /// Resolves a requested model name: empty or `default` means the default model.
    pub fn resolve(&self, requested: &str) -> Result<String, EngineError> {
        let name = match requested {
            "" | "default" => {
                self.inner.default_model.clone().ok_or_else(|| unknown_model(requested, &self.inner.models))?
            }
            name => name.to_owned(),
        };
        if self.inner.models.contains_key(&name) { Ok(name) } else { Err(unknown_model(&name, &self.inner.models)) }
    }

    /// The sampling a request for `requested` starts from: the model's configured defaults, or
    /// llama-server's when it sets none or the name is unknown (which [`Engine::resolve`] reports).
    pub fn sampling_defaults(&self, requested: &str) -> Sampling {
        self.resolve(requested)
            .ok()
            .and_then(|name| self.inner.models.get(&name).map(|m| m.sampling.clone()))
            .unwrap_or_default()
    }

    /// Queues a generation; events arrive on the returned channel. Dropping it cancels the job.
    pub fn generate(&self, mut request: Generate) -> Result<mpsc::UnboundedReceiver<Event>, EngineError> {
        request.sampling.validate()?;
        if request.max_tokens == Some(0) {
            return Err(EngineError::invalid("max_tokens", "is 0; ask for at least 1 token"));
        }
        request.model = self.resolve(&request.model)?;
        let name = request.model.clone();
        self.submit(name, Task::Generate(request))
    }

    /// Queues an embedding of each input (mean-pooled, unit length); the answer arrives as one
    /// [`Event::Embeddings`].
    pub fn embed(&self, model: &str, inputs: Vec<String>) -> Result<mpsc::UnboundedReceiver<Event>, EngineError> {
        if inputs.is_empty() || inputs.iter().any(String::is_empty) {
            return Err(EngineError::invalid("input", "is empty; send one or more non-empty strings"));
        }
        let name = self.resolve(model)?;
        self.submit(name, Task::Embed(inputs))
    }

    fn submit(&self, name: String, task: Task) -> Result<mpsc::UnboundedReceiver<Event>, EngineError> {
        let jobs = self.inner.resident(&name);
        let (events, receiver) = mpsc::unbounded_channel();
        self.inner.metrics.enqueued();
        match jobs.try_send(Job { task, events }) {
            Ok(()) => Ok(receiver),
            Err(TrySendError::Full(_)) => {
                self.inner.metrics.dequeued();
                Err(EngineError::Busy { model: name, queued: self.inner.options.queue })
            }
            Err(TrySendError::Disconnected(_)) => {
                // The worker is gone (it can only end by panicking while its queue is open); forget
                // it so the next request starts a fresh one.
                self.inner.metrics.dequeued();
                self.inner.lock().remove(&name);
                Err(EngineError::WorkerGone { model: name })
            }
        }
    }

    /// Loads `name` now (if it is not loaded) and waits until it is ready.
    pub async fn load(&self, name: &str) -> Result<ModelInfo, EngineError> {
        let name = self.resolve(name)?;
        self.inner.resident(&name);
        let mut state = {
            let residents = self.inner.lock();
            match residents.get(&name) {
                Some(r) => r.state.clone(),
                None => return Err(EngineError::WorkerGone { model: name }),
            }
        };
        let outcome = state
            .wait_for(|s| !matches!(s, LoadState::Loading))
            .await
            .map(|s| s.clone())
            .map_err(|_| EngineError::WorkerGone { model: name.clone() })?;
        match outcome {
            LoadState::Ready(info) => Ok(info),
            LoadState::Failed(e) => Err(e),
            LoadState::Loading => Err(EngineError::WorkerGone { model: name }),
        }
    }

    /// Unloads `name` once its queued requests are answered. Returns whether it was resident.
    pub fn unload(&self, name: &str) -> bool {
        self.inner.lock().remove(name).is_some()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Resident>> {
        // A panic while holding this lock leaves only bookkeeping behind; carry on with it.
        self.residents.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The job queue of `name`'s worker, starting the worker (and evicting another) if needed.
    fn resident(&self, name: &str) -> SyncSender<Job> {
        let mut residents = self.lock();
        if let Some(r) = residents.get_mut(name) {
            if !matches!(*r.state.borrow(), LoadState::Failed(_)) {
                r.last_used = Instant::now();
                return r.jobs.clone();
            }
            // A failed load is retried: the file may have been fixed since.
            residents.remove(name);
        }
        let mut predecessor = None;
        while residents.len() >= self.options.max_resident {
            let Some(victim) = residents.iter().min_by_key(|(_, r)| r.last_used).map(|(n, _)| n.clone()) else {
                break;
            };
            tracing::info!(model = %victim, "unloading to make room for {name}");
            if let Some(mut evicted) = residents.remove(&victim) {
                // The evicted worker answers what it has queued, then frees its memory; the new
                // worker waits for that before it loads, so at most N models are ever in memory.
                let previous = evicted.thread.take();
                predecessor = match (predecessor, previous) {
                    (None, p) | (p, None) => p,
                    (Some(a), Some(b)) => Some(join_both(a, b)),
                };
            }
        }
        let (jobs, receiver) = std::sync::mpsc::sync_channel(self.options.queue);
        let (state_sender, state) = watch::channel(LoadState::Loading);
        let worker = Worker {
            spec: self.models[name].clone(),
            backend: self.backend,
            jobs: receiver,
            state: state_sender,
            progress: Arc::clone(&self.progress),
            metrics: Arc::clone(&self.metrics),
            predecessor,
        };
        let thread = std::thread::Builder::new().name(format!("model-{name}")).spawn(move || worker.run()).ok();
        residents.insert(name.to_owned(), Resident { jobs: jobs.clone(), state, last_used: Instant::now(), thread });
        jobs
    }
}

fn join_both(a: JoinHandle<()>, b: JoinHandle<()>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let _ = a.join();
        let _ = b.join();
    })
}

fn spawn_idle_reaper(inner: Weak<Inner>, idle: Duration) {
    let tick = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    std::thread::Builder::new()
        .name("model-idle-reaper".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                let Some(inner) = inner.upgrade() else { return };
                let mut residents = inner.lock();
                residents.retain(|name, r| {
                    let keep = r.last_used.elapsed() < idle;
                    if !keep {
                        tracing::info!(model = %name, idle_secs = idle.as_secs(), "unloading idle model");
                    }
                    keep
                });
            }
        })
        .ok();
}

fn unknown_model(name: &str, models: &BTreeMap<String, ModelSpec>) -> EngineError {
    let available =
        if models.is_empty() { "none".to_owned() } else { models.keys().cloned().collect::<Vec<_>>().join(", ") };
    EngineError::UnknownModel { name: name.to_owned(), available }
}

/// The models in `dir` (`*.gguf`, named by file stem) merged with the configured ones, which win
/// on a name clash. Relative configured paths are resolved against `dir`.
pub fn catalog(configured: Vec<ModelSpec>, dir: &Path) -> Vec<ModelSpec> {
    let mut models: BTreeMap<String, ModelSpec> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                models.insert(
                    stem.to_owned(),
                    ModelSpec {
                        name: stem.to_owned(),
                        path,
                        context: None,
                        threads: None,
                        gpu_layers: 0,
                        template: None,
                        sampling: Sampling::default(),
                    },
                );
            }
        }
    }
    for mut spec in configured {
        if spec.path.is_relative() {
            spec.path = dir.join(&spec.path);
        }
        models.insert(spec.name.clone(), spec);
    }
    models.into_values().collect()
}
