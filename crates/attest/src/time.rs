//! RFC 3339 rendering and parsing of [`SystemTime`], and a serde adapter for it.
//!
//! All times in this crate are UTC with whole seconds, rendered like `2025-07-19T10:00:35Z`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch; times before 1970 count as 0.
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The [`SystemTime`] `secs` seconds after the Unix epoch.
pub(crate) fn from_unix_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Render `t` as RFC 3339 in UTC with whole seconds, e.g. `2025-07-19T10:00:35Z`.
pub fn format_rfc3339(t: SystemTime) -> String {
    let secs = i64::try_from(unix_secs(t)).unwrap_or(i64::MAX);
    match chrono::DateTime::<chrono::Utc>::from_timestamp(secs, 0) {
        Some(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        None => format!("@{secs}"),
    }
}

/// Parse an RFC 3339 time such as `2025-07-01T00:00:00Z` or `2025-07-01T02:00:00+02:00`.
///
/// Fractions of a second are dropped; times before 1970 are refused.
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    let dt = chrono::DateTime::parse_from_rfc3339(s.trim())
        .map_err(|e| format!("`{s}` is not an RFC 3339 time (e.g. 2025-07-01T00:00:00Z): {e}"))?;
    let secs = u64::try_from(dt.timestamp()).map_err(|_| format!("`{s}` is before 1970"))?;
    Ok(from_unix_secs(secs))
}

/// Serde adapter: a [`SystemTime`] as an RFC 3339 string.
pub(crate) mod serde_rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339(*t))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde adapter: an optional [`SystemTime`] as an RFC 3339 string or `null`.
pub(crate) mod serde_rfc3339_opt {
    use std::time::SystemTime;

    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format_rfc3339(*t)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip() {
        let t = parse_rfc3339("2025-07-19T10:00:35Z").unwrap();
        assert_eq!(unix_secs(t), 1_752_919_235);
        assert_eq!(format_rfc3339(t), "2025-07-19T10:00:35Z");
        let t2 = parse_rfc3339("2025-07-19T12:00:35+02:00").unwrap();
        assert_eq!(t, t2);
        assert!(parse_rfc3339("yesterday").unwrap_err().contains("not an RFC 3339 time"));
    }
}
