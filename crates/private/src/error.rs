//! What can go wrong on the private remote path.

/// Why a remote call could not be made or answered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration does not allow the call (a missing `[remote.NAME]`, a bad `[attest]`,
    /// an URL changed since the call was approved): fix the config, or ask again.
    #[error("{0}")]
    Config(String),
    /// The sanitiser could not check the text; it is not sent.
    #[error("the text could not be checked for private data, so it is not sent: {0}")]
    Sanitize(String),
    /// An approved action's parameters are not those of a `remote.llm` action.
    #[error("the action's parameters are not a remote.llm request: {0}")]
    Params(String),
    /// Attesting, sealing, sending or opening failed (`sov-remote` says which).
    #[error(transparent)]
    Remote(#[from] sov_remote::Error),
    /// No ticket could be made (no deposit, all tickets used, the chain unreadable).
    #[error("cannot pay the call: {0}")]
    Payment(#[from] sov_zkapi::ZkError),
    /// The provider refused the call or failed; its status and its reason.
    #[error("remote {name} answered {status}: {message}")]
    Provider {
        /// The remote's `NAME`.
        name: String,
        /// The HTTP status.
        status: u16,
        /// The provider's reason (its `error.message`, or the start of its body).
        message: String,
    },
    /// The wallet holds no deposit with tickets left for this contract; nothing was sent.
    #[error("no credit with tickets left for {contract}; deposit with `sov zkapi deposit --contract {contract}`")]
    NoCredit {
        /// The deposit contract.
        contract: String,
    },
    /// A provider's description of itself contradicts its contract: nothing is paid.
    #[error("the provider of {provider}: {problem}")]
    Misdescribed {
        /// Its deposit contract.
        provider: String,
        /// What contradicts.
        problem: String,
    },
    /// The remote's answer is not an OpenAI chat answer.
    #[error("remote {name} gave an answer that is not an OpenAI chat answer: {problem}")]
    Answer {
        /// The remote's `NAME`.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
}
