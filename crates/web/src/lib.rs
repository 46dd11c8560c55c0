//! Web search and web pages for agents: `web.search` and `web.fetch`, run by the gate after its
//! rules (and, where they say so, both approvals), leaving by the outbound policy's `[net] web`
//! route (Tor by default).
//!
//! # Guarantees
//! - **Nothing leaves by another route**: every request is made by the [`sov_net::Http`] this
//!   service is given, so by Tor each query and each page has a circuit of its own, and no two
//!   requests share a connection.
//! - **The query is sanitised first** ([`Web::sanitise_query`]): the names and accounts of
//!   `[sanitize]`, e-mail addresses, phone numbers, keys and the other deterministic kinds are
//!   replaced by placeholders before any engine sees it; what was replaced is in the outcome by
//!   placeholder and kind, never by value.
//! - **Never this machine or its network** ([`policy`]): a fetch to a loopback, private,
//!   link-local or unique-local address, in any spelling, or to a local name, is refused before
//!   anything is sent, also when a redirect points there; by the direct route the address
//!   actually connected to is checked. `[web] allow` lists the exceptions.
//! - **Paid search without an account** ([`paid`]): a `zkapi` engine pays each query with a
//!   ZK-API ticket from the wallet given by [`Web::with_tickets`]; the provider learns that some
//!   depositor paid, not which, and two queries are unlinkable by their tickets.
//! - **Limits a hostile server cannot stretch**: `[web] max_bytes` read at most (the rest is cut
//!   off and the result says so), `[web] timeout_secs` for the whole fetch redirects included (a
//!   slow or endless answer is dropped), `[web] max_redirects`, no compressed answers (only
//!   `identity` is asked for; anything else is refused, not unpacked), only HTML, text, JSON and
//!   PDF. A PDF ([`pdf`]) is checked for what hangs or kills its parser, then parsed on a
//!   thread of its own: a cut one is refused, a parser's panic is an error, the deadline holds.
//! - **Safe to read**: text reaches the model in a fixed frame ([`frame`]) saying it is content
//!   from the internet, with hidden text dropped ([`text`]) and instruction-like passages
//!   flagged ([`flags`]) in the result for the agent, the AI reviewer and the human.
//! - **No fingerprint of the user**: one fixed browser-like user agent ([`fetch::USER_AGENT`]),
//!   no cookies, no `Referer`, no JavaScript.
//!
//! # Non-goals
//! - Judging whether a page lies. The frame and the flags show what it is; the gate's taint rule
//!   (a session that read the internet cannot read private data unconfirmed, and one that read
//!   private data needs a confirmation per query) decides what may follow.
//! - Hiding *what* is searched from the engine: it sees the sanitised query, but not who asked.
//! - Text in pictures (a scanned PDF: no OCR), pages that need JavaScript, logins.

pub mod api;
pub mod exec;
pub mod fetch;
pub mod flags;
pub mod frame;
pub mod paid;
pub mod pdf;
pub mod policy;
pub mod search;
pub mod text;

pub use exec::{FetchExecutor, SearchExecutor};
pub use fetch::Page;
pub use paid::{TicketFor, Tickets};
pub use search::{EngineReport, Hit, Replaced, Search};

use sov_core::config::WebConfig;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `[web]` or `[sanitize]` is not usable.
    #[error("{0}")]
    Config(String),
    /// The URL is refused by the policy; nothing was sent.
    #[error("refused: {0}")]
    Refused(#[from] policy::Refused),
    /// The outbound route refused before sending (Tor not ready, proxy down); nothing was sent.
    #[error("{0}")]
    NotSent(String),
    /// The connection or the exchange failed.
    #[error("{0}")]
    Net(String),
    /// A limit of `[web]` ended the fetch.
    #[error("{0}")]
    Limit(String),
    /// The answer is not a page that is read.
    #[error("{0}")]
    Page(String),
}

impl Error {
    fn net(url: &url::Url, e: sov_net::Error) -> Error {
        let text = format!("{url}: {e}");
        match e {
            sov_net::Error::TorNotReady { .. }
            | sov_net::Error::ProxyUnreachable { .. }
            | sov_net::Error::InvalidRequest(_)
            | sov_net::Error::Config(_)
            | sov_net::Error::Refused { .. } => Error::NotSent(text),
            sov_net::Error::BodyTooLarge { .. } | sov_net::Error::Timeout { .. } => Error::Limit(text),
            _ => Error::Net(text),
        }
    }

    /// Whether nothing was sent.
    pub fn nothing_sent(&self) -> bool {
        matches!(self, Error::Config(_) | Error::Refused(_) | Error::NotSent(_))
    }
}

/// The web service.
pub struct Web {
    config: WebConfig,
    policy: policy::Policy,
    http: sov_net::Http,
    sanitizer: sov_sanitize::Sanitizer,
    /// `[sanitize] model`: the local model's pass over each query, after the rules'.
    model: String,
    finder: Option<sov_sanitize::OpenAiSpanFinder>,
    payment: paid::Payment,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("engines", &self.config.engines.len())
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl Web {
    /// The service of `config`'s `[web]` and `[sanitize]`, making its requests by `http`
    /// (`Net::http(Class::Web)`).
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad entry.
    pub fn new(config: &sov_core::config::Config, http: sov_net::Http) -> Result<Web, Error> {
        let policy = policy::Policy::new(&config.web.allow).map_err(Error::Config)?;
        let rules = sov_sanitize::Config::for_user(&config.sanitize.names, &config.sanitize.accounts);
        let sanitizer =
            sov_sanitize::Sanitizer::new(rules).map_err(|e| Error::Config(format!("config [sanitize]: {e}")))?;
        let timeouts = sov_net::Timeouts {
            connect: std::time::Duration::from_secs(config.web.timeout_secs.max(1)),
            read: Some(std::time::Duration::from_secs(config.web.timeout_secs.max(1))),
        };
        Ok(Web {
            config: config.web.clone(),
            policy,
            http: http.with_timeouts(timeouts),
            sanitizer,
            model: config.sanitize.model.clone(),
            finder: None,
            payment: paid::Payment::default(),
        })
    }

    /// With `[sanitize] model` set, each query also goes through that local model's pass (names,
    /// street addresses, employers, health and money facts the rules cannot see), asked through
    /// the LLM API at `llm_base` (`http://ADDR`, this `sov serve`'s). Without it, the rules only.
    /// When the pass cannot run, the search is refused: a query never leaves half checked.
    ///
    /// # Errors
    /// [`Error::Config`] when the client for the model cannot be made.
    pub fn with_model_pass(mut self, llm_base: &str) -> Result<Web, Error> {
        if !self.model.is_empty() {
            let finder = sov_sanitize::OpenAiSpanFinder::new(llm_base, &self.model)
                .map_err(|e| Error::Config(format!("[sanitize] model `{}` at {llm_base}: {e}", self.model)))?;
            self.finder = Some(finder);
        }
        Ok(self)
    }

    /// The URL policy.
    pub fn policy(&self) -> &policy::Policy {
        &self.policy
    }
}
