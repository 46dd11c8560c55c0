//! The deposit tree's roots a ticket may be proved against, and how the provider follows them
//! on chain.
//!
//! What this guarantees:
//! - A root enters the window only as read from the contract, never as named by a ticket.
//! - When a member leaves the tree (a withdrawal or a slash makes its secret public), the window
//!   restarts from the tree without it at the first look that sees the reveal: proofs against
//!   the older roots would still verify for the departed member.
//! - A ticket naming a root the window lacks makes the provider look at the chain again before
//!   it is refused ([`RootFollower::catch_up`]), so a call made right after a deposit is paid
//!   without waiting for the next periodic look. Such looks are rate-limited: at most one per
//!   [`RootFollower::with_min_interval`] (default [`MIN_REFRESH_INTERVAL`]), however many
//!   tickets ask; every ticket waiting when a look starts shares its outcome. A flood of
//!   tickets naming invented roots thus costs at most one look (four RPC requests) per
//!   interval, never one per ticket.
//!
//! What it cannot do:
//! - Tell an honest client's new root from an invented one without asking the chain: the rate
//!   limit bounds that cost but cannot make it zero, and a ticket that must wait for the next
//!   permitted look holds its connection for up to one interval (plus the look).
//! - Know a root before its own RPC node does: a client whose node is ahead still gets
//!   `unknown_root` until the provider's node has the block.
//! - See a removal before it looks: between a reveal and the next look (periodic, or caught up
//!   for a ticket with an unknown root) a proof against the tree that still holds the departed
//!   member verifies, as it would at the contract.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rln::prelude::Fr;
use sov_chain::Credits;
use tokio::time::Instant;

use crate::ZkError;
use crate::chain::fr;

/// The contract's recent roots a ticket may prove membership of.
pub struct Roots {
    window: RwLock<VecDeque<Fr>>,
    size: usize,
}

impl Roots {
    /// An empty window holding at most `size` roots (the contract keeps as many).
    pub fn new(size: usize) -> Self {
        Self { window: RwLock::new(VecDeque::with_capacity(size)), size }
    }

    /// Adds the newest root, forgetting the oldest beyond the window.
    pub fn push(&self, root: Fr) {
        if let Ok(mut window) = self.window.write()
            && window.back() != Some(&root)
        {
            window.push_back(root);
            while window.len() > self.size {
                window.pop_front();
            }
        }
    }

    /// Forgets every root but `root`, after a member left the tree. Proofs against the earlier
    /// roots would still verify for the departed member, whose secret is now public, so from
    /// now on only proofs against the tree without it count. A client whose proof was made
    /// against a forgotten root gets 402 and pays again with a proof against the new tree.
    pub fn reset(&self, root: Fr) {
        if let Ok(mut window) = self.window.write() {
            window.clear();
            window.push_back(root);
        }
    }

    /// Whether `root` is in the window.
    pub fn contains(&self, root: &Fr) -> bool {
        self.window.read().is_ok_and(|w| w.contains(root))
    }

    /// The roots, oldest first.
    pub fn snapshot(&self) -> Vec<Fr> {
        self.window.read().map(|w| w.iter().copied().collect()).unwrap_or_default()
    }
}

/// Fewest milliseconds between two looks at the chain asked for by tickets, by default.
pub const MIN_REFRESH_MS: u64 = 250;

/// [`MIN_REFRESH_MS`] as a duration.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_millis(MIN_REFRESH_MS);

/// Longest a look at the chain may take before it counts as failed.
pub const LOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Keeps a [`Roots`] window up to date with the deposit contract: periodically
/// ([`RootFollower::follow`]) and, rate-limited, when a ticket names a root the window lacks
/// ([`RootFollower::catch_up`]).
pub struct RootFollower {
    credits: Credits,
    roots: Arc<Roots>,
    min_interval: Duration,
    state: tokio::sync::Mutex<Looks>,
    looks: AtomicU64,
}

/// What the follower remembers between looks; held under one lock, so looks never overlap.
struct Looks {
    /// The first block whose reveals have not been read.
    from_block: u64,
    /// When the last look started, and why it failed if it did.
    last: Option<(Instant, Option<String>)>,
    /// When the last look asked for by a ticket started.
    last_demanded: Option<Instant>,
}

impl RootFollower {
    /// A follower of `credits`' roots into `roots`, reading reveals from `from_block` on (the
    /// block after the one the window's first root was read at).
    pub fn new(credits: Credits, roots: Arc<Roots>, from_block: u64) -> Self {
        Self {
            credits,
            roots,
            min_interval: MIN_REFRESH_INTERVAL,
            state: tokio::sync::Mutex::new(Looks { from_block, last: None, last_demanded: None }),
            looks: AtomicU64::new(0),
        }
    }

    /// At most one look asked for by tickets per `interval`.
    #[must_use]
    pub fn with_min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval;
        self
    }

    /// The window this follower keeps.
    pub fn roots(&self) -> &Arc<Roots> {
        &self.roots
    }

    /// How many looks at the chain were started so far (periodic and caught up); each costs at
    /// most four RPC requests.
    pub fn looks(&self) -> u64 {
        self.looks.load(Ordering::Relaxed)
    }

    /// Looks at the chain every `poll`, forever; failures are logged and retried at the next.
    pub async fn follow(self: Arc<Self>, poll: Duration) {
        loop {
            tokio::time::sleep(poll).await;
            let mut state = self.state.lock().await;
            if let Err(e) = self.look(&mut state).await {
                tracing::warn!(error = %e, "cannot follow the contract's roots");
            }
        }
    }

    /// Looks at the chain now, unless a look started after `since` (when a ticket naming an
    /// unknown root arrived) already did; waits for the next look the rate limit permits.
    /// `Ok` once a look that started after `since` succeeded; the error of the look otherwise.
    pub async fn catch_up(&self, since: Instant) -> Result<(), ZkError> {
        let mut state = self.state.lock().await;
        if let Some((started, failure)) = &state.last
            && *started >= since
        {
            return failure.clone().map_or(Ok(()), |why| Err(ZkError::ChainUnreadable(why)));
        }
        if let Some(previous) = state.last_demanded {
            // Holding the lock: every ticket that arrives meanwhile waits for this one look.
            tokio::time::sleep_until(previous + self.min_interval).await;
        }
        state.last_demanded = Some(Instant::now());
        self.look(&mut state).await
    }

    /// One look: new reveals since the last (then the window restarts from the current root),
    /// else the current root added to the window.
    async fn look(&self, state: &mut Looks) -> Result<(), ZkError> {
        let started = Instant::now();
        state.last = Some((started, Some("the look did not finish".into())));
        self.looks.fetch_add(1, Ordering::Relaxed);
        let from_block = state.from_block;
        let credits = &self.credits;
        let seen = async {
            let head = credits.block_number().await?;
            let removed = head >= from_block && !credits.reveals(from_block, head).await?.is_empty();
            Ok::<_, ZkError>((head, removed, fr(credits.root().await?)?))
        };
        let seen = tokio::time::timeout(LOOK_TIMEOUT, seen).await.unwrap_or(Err(ZkError::ChainTimeout(LOOK_TIMEOUT)));
        let (head, removed, root) = match seen {
            Ok(seen) => seen,
            Err(e) => {
                state.last = Some((started, Some(e.to_string())));
                return Err(e);
            }
        };
        if removed {
            tracing::info!("a member left the tree: only proofs against the new root are accepted");
            self.roots.reset(root);
        } else {
            self.roots.push(root);
        }
        state.from_block = from_block.max(head + 1);
        state.last = Some((started, None));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_window_keeps_the_newest_roots_and_a_reset_keeps_one() {
        let roots = Roots::new(2);
        for n in [1u32, 2, 2, 3] {
            roots.push(Fr::from(n));
        }
        assert_eq!(roots.snapshot(), [Fr::from(2u32), Fr::from(3u32)]);
        assert!(roots.contains(&Fr::from(3u32)) && !roots.contains(&Fr::from(1u32)));
        roots.reset(Fr::from(9u32));
        assert_eq!(roots.snapshot(), [Fr::from(9u32)]);
    }
}
