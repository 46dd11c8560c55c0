//! The verified-bundle cache.

use pretty_assertions::assert_eq;
use sov_attest::{Cache, Error, Policy, verify_intel_quote};

use super::bundle::dev_bundle;
use super::*;

#[test]
fn second_lookup_hits_and_expired_entry_misses() {
    let cache = Cache::new();
    let json = dev_bundle().to_json();
    let policy = Policy { allow_dev: true, ..Policy::default() };
    let t0 = at("2029-06-01T00:00:00Z");

    let first = cache.verify(&json, t0, &policy).unwrap();
    assert!(!first.hit);
    let second = cache.verify(&json, at("2029-06-02T00:00:00Z"), &policy).unwrap();
    assert!(second.hit);
    assert_eq!(second.verdict, first.verdict);
    assert_eq!(cache.len(), 1);

    // Another policy does not reuse the verdict (and here refuses the bundle outright).
    assert!(cache.get(&json, &Policy::default(), t0).is_none());
    assert!(matches!(cache.verify(&json, t0, &Policy::default()), Err(Error::DevRefused)));

    // Other bytes, other key.
    let mut other = dev_bundle();
    other.epoch += 1;
    assert!(cache.get(&other.to_json(), &policy, t0).is_none());

    // After the epoch's end (2030-01-01) the entry is gone, and verification refuses the bundle.
    let late = at("2030-01-01T00:00:01Z");
    assert!(cache.get(&json, &policy, late).is_none());
    assert_eq!(cache.len(), 0);
    assert!(matches!(cache.verify(&json, late, &policy), Err(Error::BundleExpired { .. })));
}

#[test]
fn entry_expires_with_the_collateral() {
    // A real TDX verdict, valid until its collateral expires (2025-07-19T10:00:35Z).
    let cache = Cache::new();
    let p = allowlisting_samples();
    let v = verify_intel_quote(&read("tdx/tdx_quote"), &collateral("tdx_quote"), tdx_v4_time(), &p, None).unwrap();
    let key = b"bundle bytes";
    cache.insert(key, &p, v.clone());
    assert_eq!(cache.get(key, &p, at("2025-07-19T10:00:34Z")), Some(v));
    assert_eq!(cache.get(key, &p, at("2025-07-19T10:00:35Z")), None);
    assert!(cache.is_empty());
}
