//! Answers on their way from the executor to the request that waits for them.
//!
//! The request registers a sender under its action's id in the same critical section as it
//! submits the action, so the executor, which looks the sender up when it starts, cannot miss
//! it. The pieces are sanitised text: only the request holds the placeholder map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc::UnboundedSender;

/// Action id → where its answer's pieces go; shared by [`crate::GatedRemote`] and
/// [`crate::RemoteLlmExecutor`].
#[derive(Clone, Default)]
pub struct Streams {
    waiting: Arc<Mutex<HashMap<String, UnboundedSender<String>>>>,
}

impl Streams {
    /// An empty registry.
    pub fn new() -> Streams {
        Streams::default()
    }

    /// Runs `submit` (which returns the new action's id with its result) and registers
    /// `sender` under that id before any executor can look it up.
    pub(crate) fn submit_and_register<T, E>(
        &self,
        sender: UnboundedSender<String>,
        submit: impl FnOnce() -> Result<(String, T), E>,
    ) -> Result<(String, T), E> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let (id, value) = submit()?;
        waiting.insert(id.clone(), sender);
        Ok((id, value))
    }

    /// The sender for action `id`, taken out: `None` when nobody waits for it (a restart, a
    /// caller gone).
    pub(crate) fn take(&self, id: &str) -> Option<UnboundedSender<String>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner).remove(id)
    }

    /// Forgets action `id` (its caller went away or it settled).
    pub(crate) fn forget(&self, id: &str) {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.waiting.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Streams").field("waiting", &count).finish()
    }
}
