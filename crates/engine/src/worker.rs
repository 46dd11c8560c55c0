//! One thread per resident model. It owns the llama.cpp model and context (which are not `Send`),
//! takes jobs from a bounded queue, and keeps the KV cache of the last conversation so the next
//! turn only evaluates what is new.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use tokio::sync::{mpsc, watch};

use crate::text::{Pushed, TextAssembler};
use crate::{
    ChatMessage, Constraint, EngineError, Event, FinishReason, Generate, Metrics, ModelInfo, ModelSpec, Prompt, Usage,
    gguf,
};

/// A queued generation and where its events go. A closed `events` channel means the client went
/// away, which cancels the job.
pub(crate) struct Job {
    pub(crate) task: Task,
    pub(crate) events: mpsc::UnboundedSender<Event>,
}

pub(crate) enum Task {
    Generate(Generate),
    Embed(Vec<String>),
}

/// Where a worker is in its life.
#[derive(Debug, Clone)]
pub(crate) enum LoadState {
    Loading,
    Ready(ModelInfo),
    Failed(EngineError),
}

pub(crate) type ProgressFn = Arc<dyn Fn(&str, f32) + Send + Sync>;

pub(crate) struct Worker {
    pub(crate) spec: ModelSpec,
    pub(crate) backend: &'static LlamaBackend,
    pub(crate) jobs: Receiver<Job>,
    pub(crate) state: watch::Sender<LoadState>,
    pub(crate) progress: ProgressFn,
    pub(crate) metrics: Arc<Metrics>,
    /// The worker of an evicted model: its memory must be freed before this one loads.
    pub(crate) predecessor: Option<JoinHandle<()>>,
}

impl Worker {
    pub(crate) fn run(mut self) {
        if let Some(previous) = self.predecessor.take() {
            let _ = previous.join();
        }
        let name = self.spec.name.clone();
        let path = self.spec.path.clone();
        let fail = |worker: &Worker, error: EngineError| {
            tracing::error!(model = %worker.spec.name, "{error}");
            worker.state.send_replace(LoadState::Failed(error.clone()));
            // Answer everything queued until the manager drops the queue.
            for job in worker.jobs.iter() {
                worker.metrics.dequeued();
                let _ = job.events.send(Event::Failed(error.clone()));
            }
        };
        let header = match gguf::inspect(&path) {
            Ok(header) => header,
            Err(e) => return fail(&self, EngineError::bad_file(&name, path, &e)),
        };
        let started = Instant::now();
        let progress = Arc::clone(&self.progress);
        let progress_name = name.clone();
        let params = LlamaModelParams::default().with_n_gpu_layers(self.spec.gpu_layers).with_progress_callback(
            move |fraction| {
                progress(&progress_name, fraction);
                true
            },
        );
        let model = match LlamaModel::load_from_file(self.backend, &path, &params) {
            Ok(model) => model,
            Err(_) => {
                let architecture = header.architecture;
                return fail(&self, EngineError::LoadFailed { name, path, architecture });
            }
        };
        let context_size = self.spec.context.unwrap_or_else(|| {
            // The trained context can be huge (128k+); a default that fits in memory is better.
            model.n_ctx_train().min(crate::DEFAULT_CONTEXT)
        });
        let threads = self.spec.threads.unwrap_or_else(default_threads);
        // swa_full off, as in llama-server: sliding-window layers keep only their window, which
        // saves memory and time on long prompts (a prefix then cannot always be reused; see generate).
        let context_params = LlamaContextParams::default()
            .with_swa_full(false)
            .with_n_ctx(NonZeroU32::new(context_size))
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let mut context = match model.new_context(self.backend, context_params) {
            Ok(context) => context,
            Err(e) => {
                return fail(
                    &self,
                    EngineError::Inference { model: name, problem: format!("cannot create a context: {e}") },
                );
            }
        };
        let info = ModelInfo {
            name: name.clone(),
            architecture: header.architecture,
            context: context.n_ctx(),
            trained_context: model.n_ctx_train(),
            parameters: model.n_params(),
            size_bytes: model.size(),
            load_ms: started.elapsed().as_secs_f64() * 1e3,
        };
        tracing::info!(
            model = %name,
            context = info.context,
            threads,
            load_ms = info.load_ms.round(),
            "model loaded"
        );
        self.state.send_replace(LoadState::Ready(info));

        // The configured template, else the model's own from its GGUF metadata, else ChatML.
        let template = match &self.spec.template {
            Some(text) => LlamaChatTemplate::new(text).ok(),
            None => model.chat_template(None).ok(),
        };
        let mut cached: Vec<LlamaToken> = Vec::new();
        // Found once: scanning a 150k-token vocabulary per request would cost milliseconds.
        let vocab = model.vocab();
        let end_of_generation: Vec<LlamaToken> = vocab.tokens().filter(|t| vocab.is_eog(*t)).collect();
        // Created on the first embedding request: generative models rarely get one.
        let mut embedding_context: Option<LlamaContext<'_>> = None;
        for job in self.jobs.iter() {
            self.metrics.dequeued();
            if job.events.is_closed() {
                continue;
            }
            let outcome = match &job.task {
                Task::Generate(request) => {
                    let mut session = Session {
                        model: &model,
                        context: &mut context,
                        cached: &mut cached,
                        name: &name,
                        end_of_generation: &end_of_generation,
                        metrics: &self.metrics,
                    };
                    session.generate(request, &job.events, template.as_ref())
                }
                Task::Embed(inputs) => {
                    if embedding_context.is_none() {
                        let params = LlamaContextParams::default()
                            .with_n_ctx(NonZeroU32::new(context_size))
                            .with_n_batch(context_size)
                            .with_n_ubatch(context_size)
                            .with_embeddings(true)
                            .with_pooling_type(LlamaPoolingType::Mean)
                            .with_n_threads(threads)
                            .with_n_threads_batch(threads);
                        embedding_context = model.new_context(self.backend, params).ok();
                    }
                    match embedding_context.as_mut() {
                        Some(context) => embed(&model, context, &name, inputs, &job.events),
                        None => Err(EngineError::Inference {
                            model: name.clone(),
                            problem: "cannot create an embedding context".into(),
                        }),
                    }
                }
            };
            if let Err(error) = outcome {
                tracing::warn!(model = %name, "{error}");
                let _ = job.events.send(Event::Failed(error));
            }
        }
        tracing::info!(model = %name, "model unloaded");
    }
}

/// llama.cpp's own default: one thread per physical core is best for generation; without a way to
/// count physical cores here, all logical CPUs it is, capped where more threads stop helping.
fn default_threads() -> i32 {
    std::thread::available_parallelism().map_or(4, |n| i32::try_from(n.get()).unwrap_or(4)).min(16)
}

fn chatml() -> Result<LlamaChatTemplate, EngineError> {
    LlamaChatTemplate::new("chatml").map_err(|e| EngineError::invalid("messages", e.to_string()))
}

struct Session<'m, 'c> {
    model: &'m LlamaModel,
    context: &'c mut LlamaContext<'m>,
    /// The tokens whose keys and values are in the context's cache, in order.
    cached: &'c mut Vec<LlamaToken>,
    name: &'c str,
    /// The vocabulary's end-of-generation tokens, banned by `ignore_eos`.
    end_of_generation: &'c [LlamaToken],
    metrics: &'c Metrics,
}

impl Session<'_, '_> {
    fn inference_error(&self, problem: impl std::fmt::Display) -> EngineError {
        EngineError::Inference { model: self.name.to_owned(), problem: problem.to_string() }
    }

    fn render(&self, prompt: &Prompt, template: Option<&LlamaChatTemplate>) -> Result<String, EngineError> {
        let messages = match prompt {
            Prompt::Text(text) => return Ok(text.clone()),
            Prompt::Chat(messages) => messages,
        };
        let messages = messages
            .iter()
            .map(|ChatMessage { role, content }| {
                LlamaChatMessage::new(role.clone(), content.clone())
                    .map_err(|_| EngineError::invalid("messages", "contain a NUL character"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rendered = match template {
            Some(template) => self.model.apply_chat_template(template, &messages, true),
            None => {
                return self
                    .model
                    .apply_chat_template(&chatml()?, &messages, true)
                    .map_err(|e| self.inference_error(e));
            }
        };
        match rendered {
            Ok(text) => Ok(text),
            Err(_) => {
                // llama.cpp recognises templates by their text; an unknown one falls back to ChatML,
                // which most instruction-tuned models understand.
                tracing::warn!(model = %self.name, "chat template not recognised by llama.cpp; using ChatML");
                self.model.apply_chat_template(&chatml()?, &messages, true).map_err(|e| self.inference_error(e))
            }
        }
    }

    fn sampler(&self, request: &Generate) -> Result<TokenSampler, EngineError> {
        let (sampling, constraint) = (&request.sampling, request.constraint.as_ref());
        let mut chain = Vec::new();
        if request.ignore_eos {
            let banned: Vec<LlamaLogitBias> =
                self.end_of_generation.iter().map(|t| LlamaLogitBias::new(*t, f32::NEG_INFINITY)).collect();
            chain.push(LlamaSampler::logit_bias(self.model.n_vocab(), &banned));
        }
        let grammar = match constraint {
            None => None,
            Some(constraint) => {
                let grammar = match constraint {
                    Constraint::Grammar(grammar) => {
                        // llama.cpp prints a grammar it cannot parse to stderr, whole: it must
                        // never see one (see `grammar`).
                        let vocab = self.model.vocab();
                        crate::grammar::check(grammar, &|token| {
                            vocab.tokenize(token.as_bytes(), false, true).len() == 1
                        })
                        .map_err(|e| EngineError::InvalidGrammar { what: "grammar", problem: e.to_string() })?;
                        grammar.clone()
                    }
                    Constraint::JsonSchema(schema) => llama_cpp_2::json_schema_to_grammar(schema)
                        .map_err(|e| EngineError::InvalidGrammar { what: "JSON schema", problem: e.to_string() })?,
                };
                Some(LlamaSampler::grammar(self.model, &grammar, "root").map_err(|e| EngineError::InvalidGrammar {
                    what: "grammar",
                    problem: format!("llama.cpp rejected it ({e})"),
                })?)
            }
        };
        if sampling.repeat_penalty != 1.0 || sampling.presence_penalty != 0.0 || sampling.frequency_penalty != 0.0 {
            chain.push(LlamaSampler::penalties(
                self.model.n_vocab(),
                sampling.repeat_last_n,
                sampling.repeat_penalty,
                sampling.frequency_penalty,
                sampling.presence_penalty,
            ));
        }
        if sampling.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            if sampling.top_k > 0 {
                chain.push(LlamaSampler::top_k(sampling.top_k));
            }
            chain.push(LlamaSampler::top_p(sampling.top_p, 1));
            chain.push(LlamaSampler::min_p(sampling.min_p, 1));
            chain.push(LlamaSampler::temp(sampling.temperature));
            chain.push(LlamaSampler::dist(sampling.seed.unwrap_or_else(random_seed)));
        }
        Ok(TokenSampler { chain: LlamaSampler::chain_simple(chain), grammar })
    }

    fn generate(
        &mut self,
        request: &Generate,
        events: &mpsc::UnboundedSender<Event>,
        template: Option<&LlamaChatTemplate>,
    ) -> Result<(), EngineError> {
        let text = self.render(&request.prompt, template)?;
        let tokens = self.model.vocab().tokenize(text.as_bytes(), true, true);
        if tokens.is_empty() {
            return Err(EngineError::invalid("prompt", "is empty"));
        }
        let context_size = self.context.n_ctx();
        let context_len = usize::try_from(context_size).unwrap_or(usize::MAX);
        if tokens.len() >= context_len {
            return Err(EngineError::ContextOverflow {
                model: self.name.to_owned(),
                prompt_tokens: tokens.len(),
                context: context_size,
            });
        }
        let mut sampler = self.sampler(request)?;
        if events.send(Event::Started { prompt_tokens: tokens.len() }).is_err() {
            return Ok(());
        }

        // Reuse the cached prefix; at least the last prompt token is evaluated again, for its logits.
        let mut reuse = self.cached.iter().zip(&tokens).take_while(|(a, b)| a == b).count();
        reuse = reuse.min(tokens.len() - 1);
        let kept =
            u32::try_from(reuse).ok().and_then(|p0| self.context.clear_kv_cache_seq(Some(0), Some(p0), None).ok());
        if kept != Some(true) {
            // Recurrent models cannot drop a tail of their state; start over.
            self.context.clear_kv_cache();
            reuse = 0;
        }
        self.cached.truncate(reuse);

        let started = Instant::now();
        let batch_size = usize::try_from(self.context.n_batch()).unwrap_or(512).max(1);
        let mut batch = LlamaBatch::new(batch_size, 1);
        let pending = &tokens[reuse..];
        for (chunk_index, chunk) in pending.chunks(batch_size).enumerate() {
            batch.clear();
            let last_chunk = (chunk_index + 1) * batch_size >= pending.len();
            for (i, token) in chunk.iter().enumerate() {
                let position = reuse + chunk_index * batch_size + i;
                let wants_logits = last_chunk && i + 1 == chunk.len();
                batch.add(*token, pos(position), &[0], wants_logits).map_err(|e| self.inference_error(e))?;
            }
            self.context.decode(&mut batch).map_err(|e| self.inference_error(e))?;
            self.cached.extend_from_slice(chunk);
            if events.is_closed() {
                self.metrics.record(&Usage { prompt_tokens: tokens.len(), cached_tokens: reuse, ..Usage::default() });
                return Ok(());
            }
        }
        let prompt_ms = started.elapsed().as_secs_f64() * 1e3;

        let generation_started = Instant::now();
        let budget = request.max_tokens.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let mut assembler = TextAssembler::new(request.stop.clone());
        let mut logits_index = batch.n_tokens() - 1;
        let mut generated = 0usize;
        let mut piece = Vec::with_capacity(32);
        let vocab = self.model.vocab();
        let finish = loop {
            if generated >= budget || self.cached.len() >= context_len {
                break FinishReason::Length;
            }
            let token = sampler.sample(self.context, logits_index);
            if vocab.is_eog(token) {
                break FinishReason::Stop;
            }
            generated += 1;
            piece.clear();
            vocab.token_to_piece_into(token, &mut piece, false, None);
            let stopped = match assembler.push(&piece) {
                Pushed::Text(text) => {
                    if !text.is_empty() && events.send(Event::Text(text)).is_err() {
                        break FinishReason::Stop;
                    }
                    false
                }
                Pushed::Stopped(text) => {
                    if !text.is_empty() {
                        let _ = events.send(Event::Text(text));
                    }
                    true
                }
            };
            if stopped {
                break FinishReason::StopString;
            }
            batch.clear();
            batch.add(token, pos(self.cached.len()), &[0], true).map_err(|e| self.inference_error(e))?;
            self.context.decode(&mut batch).map_err(|e| self.inference_error(e))?;
            self.cached.push(token);
            logits_index = 0;
        };
        let rest = assembler.finish();
        if !rest.is_empty() {
            let _ = events.send(Event::Text(rest));
        }
        let usage = Usage {
            prompt_tokens: tokens.len(),
            cached_tokens: reuse,
            completion_tokens: generated,
            prompt_ms,
            generation_ms: generation_started.elapsed().as_secs_f64() * 1e3,
        };
        // Counted before the client hears of it, so /metrics never lags a finished answer.
        self.metrics.record(&usage);
        let _ = events.send(Event::Done { finish, usage });
        Ok(())
    }
}

fn pos(position: usize) -> i32 {
    // Positions are bounded by the context size, itself a u32 that llama.cpp keeps below i32::MAX.
    i32::try_from(position).unwrap_or(i32::MAX)
}

fn random_seed() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    // Truncation is the point: any 32 bits of a random 64-bit hash are random.
    hasher.finish() as u32
}

/// Mean-pooled, unit-length embeddings of `inputs`, each evaluated on its own.
fn embed(
    model: &LlamaModel,
    context: &mut LlamaContext<'_>,
    name: &str,
    inputs: &[String],
    events: &mpsc::UnboundedSender<Event>,
) -> Result<(), EngineError> {
    let failed = |problem: String| EngineError::Inference { model: name.to_owned(), problem };
    let context_len = usize::try_from(context.n_ctx()).unwrap_or(usize::MAX);
    let mut vectors = Vec::with_capacity(inputs.len());
    let mut prompt_tokens = 0;
    for input in inputs {
        let tokens = model.vocab().tokenize(input.as_bytes(), true, false);
        if tokens.len() > context_len {
            return Err(EngineError::ContextOverflow {
                model: name.to_owned(),
                prompt_tokens: tokens.len(),
                context: context.n_ctx(),
            });
        }
        prompt_tokens += tokens.len();
        context.clear_kv_cache();
        let mut batch = LlamaBatch::new(tokens.len(), 1);
        batch.add_sequence(&tokens, 0, true).map_err(|e| failed(e.to_string()))?;
        context.decode(&mut batch).map_err(|e| failed(e.to_string()))?;
        let pooled = context.embeddings_seq_ith(0).map_err(|e| failed(e.to_string()))?;
        let norm = pooled.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        vectors.push(pooled.iter().map(|x| x / norm).collect());
        if events.is_closed() {
            return Ok(());
        }
    }
    let _ = events.send(Event::Embeddings { vectors, prompt_tokens });
    Ok(())
}

/// Picks each next token: the sampling chain, and the grammar when the answer is constrained.
///
/// Checking a grammar against the whole vocabulary at every step is what makes constrained
/// answers slow (tool calls offer many alternatives; vocabularies reach 256k tokens). So, as
/// llama.cpp's own server does, the chain picks a token first and only that token is checked;
/// only when the grammar rejects it is the grammar applied to every candidate and the pick
/// made again. The result is the same token the full check would give for greedy sampling,
/// and a token from the same constrained distribution otherwise.
pub(crate) struct TokenSampler {
    chain: LlamaSampler,
    grammar: Option<LlamaSampler>,
}

impl TokenSampler {
    fn sample(&mut self, context: &LlamaContext<'_>, index: i32) -> LlamaToken {
        let Some(grammar) = self.grammar.as_mut() else { return self.chain.sample(context, index) };
        let mut candidates = context.token_data_array_ith(index);
        candidates.apply_sampler(&mut self.chain);
        if let Some(token) = candidates.selected_token() {
            let mut single = LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 1.0, 0.0)], false);
            single.apply_sampler(grammar);
            if single.data.first().is_some_and(|d| d.logit() != f32::NEG_INFINITY) {
                grammar.accept(token);
                self.chain.accept(token);
                return token;
            }
        }
        let mut candidates = context.token_data_array_ith(index);
        candidates.apply_sampler(grammar);
        candidates.apply_sampler(&mut self.chain);
        let token = candidates.selected_token().unwrap_or_else(|| candidates.sample_token_greedy());
        grammar.accept(token);
        self.chain.accept(token);
        token
    }
}
