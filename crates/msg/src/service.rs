//! The messaging service: accounts polled on a thread of their own, and what the API needs to
//! read, send and report.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use sov_gate::Gate;

use crate::accounts::{Accounts, Secrets};
use crate::store::MessageStore;
use crate::{Backend, MsgError, email, lock, signal};

/// How one account's last poll went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PollState {
    /// When it ended, ms since the epoch.
    pub last_poll_ms: i64,
    /// Messages it added.
    pub added: usize,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// The messaging service; cheap to clone.
#[derive(Clone)]
pub struct Messaging {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) gate: Arc<Gate>,
    /// The API's connection; polls write through their own, so reads never wait on an ingest.
    pub(crate) reader: Mutex<MessageStore>,
    writer: Mutex<MessageStore>,
    secrets: Secrets,
    pub(crate) console_url: String,
    pub(crate) started: Instant,
    poll_every: Duration,
    pub(crate) polls: Mutex<BTreeMap<String, PollState>>,
}

impl Messaging {
    /// The service on `database`, with passwords from `data_dir`; confirm URLs point at
    /// `console_url`; accounts are polled every `poll_every`.
    pub fn open(
        gate: Arc<Gate>,
        database: &Path,
        data_dir: &Path,
        console_url: &str,
        poll_every: Duration,
    ) -> Result<Messaging, MsgError> {
        Ok(Messaging {
            inner: Arc::new(Inner {
                gate,
                reader: Mutex::new(MessageStore::open(database)?),
                writer: Mutex::new(MessageStore::open(database)?),
                secrets: Secrets::new(data_dir),
                console_url: console_url.trim_end_matches('/').to_owned(),
                started: Instant::now(),
                poll_every,
                polls: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// The API's store connection.
    pub(crate) fn reader(&self) -> MutexGuard<'_, MessageStore> {
        lock(&self.inner.reader)
    }

    /// The configured accounts, read afresh (`sov msg … add` may have changed them).
    pub fn accounts(&self) -> Result<Accounts, MsgError> {
        Accounts::load(&self.reader())
    }

    /// Polls every account once; returns how many messages were new. Every account is polled
    /// even when one fails; then the failures are the error (and `/status` shows them too).
    pub fn poll_once(&self) -> Result<usize, MsgError> {
        let accounts = self.accounts()?;
        let mut total = 0;
        let mut failures = Vec::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| MsgError::Server(format!("starting the poller: {e}")))?;
        for account in &accounts.email {
            let result = match self.inner.secrets.password(&account.address) {
                Ok(password) => runtime.block_on(email::poll(account, &password, &self.inner.writer)),
                Err(e) => Err(e),
            };
            total += self.record(Backend::Email, &account.address, result, &mut failures);
        }
        for account in &accounts.signal {
            let result = signal::receive(account, &self.inner.writer);
            total += self.record(Backend::Signal, &account.number, result, &mut failures);
        }
        match failures.is_empty() {
            true => Ok(total),
            false => Err(MsgError::Server(failures.join("; "))),
        }
    }

    fn record(
        &self,
        backend: Backend,
        address: &str,
        result: Result<usize, MsgError>,
        failures: &mut Vec<String>,
    ) -> usize {
        let (added, error) = match result {
            Ok(n) => (n, None),
            Err(e) => {
                tracing::warn!(%backend, account = address, "poll failed: {e}");
                failures.push(e.to_string());
                (0, Some(e.to_string()))
            }
        };
        if added > 0 {
            tracing::info!(%backend, account = address, added, "new messages");
        }
        lock(&self.inner.polls)
            .insert(format!("{backend}:{address}"), PollState { last_poll_ms: sov_core::now_ms(), added, error });
        added
    }

    /// Polls every account now and then every `poll_every` on a thread of its own, until the
    /// returned [`Poller`] is dropped.
    pub fn start_polling(&self) -> std::io::Result<Poller> {
        let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let (service, signal) = (self.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("msg-poller".into()).spawn(move || {
            loop {
                // Failures are logged per account inside.
                let _ = service.poll_once();
                let (flag, wake) = &*signal;
                let stopped = lock(flag);
                let (stopped, _) = wake
                    .wait_timeout_while(stopped, service.inner.poll_every, |s| !*s)
                    .unwrap_or_else(PoisonError::into_inner);
                if *stopped {
                    break;
                }
            }
        })?;
        Ok(Poller { stop, thread: Some(thread) })
    }
}

/// The polling thread; dropping it stops it (after the poll under way, if any).
pub struct Poller {
    stop: Arc<(Mutex<bool>, std::sync::Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Poller {
    fn drop(&mut self) {
        *lock(&self.stop.0) = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
