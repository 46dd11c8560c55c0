use std::path::PathBuf;

use crate::gguf::GgufError;

/// What went wrong, phrased for the person who sent the request or wrote the config.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The request named a model that is neither configured nor in the models directory.
    #[error("no model named `{name}`; available: {available}")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The names that exist, comma-separated.
        available: String,
    },
    /// No model is configured at all.
    #[error("no models are configured: add one with `sov models add FILE.gguf`, or put .gguf files in {dir}")]
    NoModels {
        /// The models directory.
        dir: PathBuf,
    },
    /// The model file is missing or not a usable GGUF.
    #[error("model `{name}` ({path}): {problem}")]
    BadModelFile {
        /// Model name.
        name: String,
        /// Its file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// llama.cpp refused a file whose header looked fine.
    #[error(
        "model `{name}` ({path}): llama.cpp could not load it; its architecture `{architecture}` is unknown to \
         this build of llama.cpp, or its tensors do not match that architecture (run with -v for llama.cpp's log)"
    )]
    LoadFailed {
        /// Model name.
        name: String,
        /// Its file.
        path: PathBuf,
        /// `general.architecture` from the header.
        architecture: String,
    },
    /// The prompt does not fit the context window.
    #[error(
        "the prompt is {prompt_tokens} tokens but model `{model}` has a context of {context} tokens; shorten \
         the conversation or raise `context` for this model in the config"
    )]
    ContextOverflow {
        /// Model name.
        model: String,
        /// Tokens in the prompt.
        prompt_tokens: usize,
        /// The context size.
        context: u32,
    },
    /// A sampling or request parameter is out of range.
    #[error("`{field}` {problem}")]
    InvalidParameter {
        /// The request field.
        field: &'static str,
        /// Why it is invalid, and what is allowed.
        problem: String,
    },
    /// A grammar or JSON schema could not be compiled.
    #[error("the {what} cannot be used: {problem}")]
    InvalidGrammar {
        /// `grammar` or `JSON schema`.
        what: &'static str,
        /// The reason.
        problem: String,
    },
    /// Too many requests are already waiting for this model.
    #[error("model `{model}` is busy: {queued} requests are already queued; retry later")]
    Busy {
        /// Model name.
        model: String,
        /// The queue bound.
        queued: usize,
    },
    /// The model's worker stopped (it was unloaded, or crashed) before answering.
    #[error("model `{model}` stopped before it answered; retry")]
    WorkerGone {
        /// Model name.
        model: String,
    },
    /// llama.cpp failed during inference.
    #[error("inference failed in model `{model}`: {problem}")]
    Inference {
        /// Model name.
        model: String,
        /// llama.cpp's error.
        problem: String,
    },
}

/// The class of an [`EngineError`], which the API maps to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request itself is wrong (400).
    InvalidRequest,
    /// The model asked for does not exist (404).
    NotFound,
    /// The model exists but its file cannot be loaded (400: the request cannot succeed as is).
    ModelUnusable,
    /// The server is at capacity (503).
    Busy,
    /// The server or its model files are at fault (500).
    Server,
}

impl EngineError {
    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::UnknownModel { .. } => ErrorClass::NotFound,
            Self::ContextOverflow { .. } | Self::InvalidParameter { .. } | Self::InvalidGrammar { .. } => {
                ErrorClass::InvalidRequest
            }
            Self::Busy { .. } => ErrorClass::Busy,
            Self::BadModelFile { .. } | Self::LoadFailed { .. } => ErrorClass::ModelUnusable,
            Self::NoModels { .. } | Self::WorkerGone { .. } | Self::Inference { .. } => ErrorClass::Server,
        }
    }

    pub(crate) fn bad_file(name: &str, path: PathBuf, problem: &GgufError) -> Self {
        Self::BadModelFile { name: name.to_owned(), path, problem: problem.to_string() }
    }

    pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        Self::InvalidParameter { field, problem: problem.into() }
    }
}
