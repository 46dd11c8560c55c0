//! An in-memory cache of verified bundles.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::Error;
use crate::bundle::{Bundle, verify_bundle};
use crate::policy::Policy;
use crate::verdict::Verdict;

/// At most this many entries are kept; beyond it the soonest-expiring entry is dropped.
const MAX_ENTRIES: usize = 1024;

/// Cache of verified bundles; share it with `Arc<Cache>`.
///
/// Keyed by SHA-256 of the bundle's bytes **and** of the policy, so a verdict reached under one
/// policy is never reused under another. An entry lives until the verdict's
/// [`Verdict::usable_until`]: the earlier of the collateral's expiry and the end of the bundle's
/// key epoch. Only successful verifications are cached.
#[derive(Debug, Default)]
pub struct Cache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

#[derive(Debug)]
struct Entry {
    policy: [u8; 32],
    verdict: Verdict,
}

/// A verdict and whether it came from the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cached {
    /// The verdict.
    pub verdict: Verdict,
    /// `true` if it was found in the cache, `false` if the bundle was verified now.
    pub hit: bool,
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cache key of a bundle: SHA-256 of its bytes as served.
    pub fn bundle_key(bundle_json: &[u8]) -> [u8; 32] {
        Sha256::digest(bundle_json).into()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        // A panic elsewhere cannot leave an entry half-written (inserts are single calls).
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached verdict for these bundle bytes under this policy, if still usable at `at`.
    /// An expired entry is removed.
    pub fn get(&self, bundle_json: &[u8], policy: &Policy, at: SystemTime) -> Option<Verdict> {
        let key = Self::bundle_key(bundle_json);
        let mut entries = self.lock();
        let entry = entries.get(&key)?;
        if at >= entry.verdict.usable_until() {
            entries.remove(&key);
            return None;
        }
        if entry.policy != policy.fingerprint() {
            return None;
        }
        Some(entry.verdict.clone())
    }

    /// Remember a verdict for these bundle bytes under this policy.
    pub fn insert(&self, bundle_json: &[u8], policy: &Policy, verdict: Verdict) {
        let mut entries = self.lock();
        let now = verdict.verified_at;
        entries.retain(|_, e| now < e.verdict.usable_until());
        if entries.len() >= MAX_ENTRIES
            && let Some(k) = entries.iter().min_by_key(|(_, e)| e.verdict.usable_until()).map(|(k, _)| *k)
        {
            entries.remove(&k);
        }
        entries.insert(Self::bundle_key(bundle_json), Entry { policy: policy.fingerprint(), verdict });
    }

    /// Return the cached verdict, or parse and verify the bundle and cache the result.
    pub fn verify(&self, bundle_json: &[u8], at: SystemTime, policy: &Policy) -> Result<Cached, Error> {
        if let Some(verdict) = self.get(bundle_json, policy, at) {
            return Ok(Cached { verdict, hit: true });
        }
        let bundle = Bundle::from_json(bundle_json)?;
        let verdict = verify_bundle(&bundle, at, policy)?;
        self.insert(bundle_json, policy, verdict.clone());
        Ok(Cached { verdict, hit: false })
    }

    /// Number of entries (expired ones included until the next lookup or insert).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
