//! Configuration and the sanitising entry points.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::detect::{Engine, resolve};
use crate::finder::{SpanFinder, locate};
use crate::{Detection, Error, Kind, Map};

/// What to look for. The defaults enable every deterministic detector (names of people found by
/// the word lists and context included) and know none of the user's own names.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The user's home directory (`/home/alice`): paths under it are replaced, and its last
    /// component (`alice`) is treated as an account name unless it is generic (`user`, `root`, …).
    /// Paths under any `/home/<name>/`, `/Users/<name>/`, `~/` and `$HOME/` are replaced
    /// regardless.
    pub home_dir: Option<PathBuf>,
    /// The user's own names (`Alice Liddell`, `Alice`): matched exactly, case-insensitively and
    /// word-bounded, whitespace inside a name matching any whitespace. Replaced as `[PERSON_n]`.
    pub names: Vec<String>,
    /// The user's accounts and handles (`alice_l`, `@alice`): same matching, `[ACCOUNT_n]`.
    pub accounts: Vec<String>,
    /// The detectors that run; by default [`Kind::DETERMINISTIC`]. `person` and `account` control
    /// the `names`/`accounts` lists.
    pub enabled: BTreeSet<Kind>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            home_dir: None,
            names: Vec::new(),
            accounts: Vec::new(),
            enabled: Kind::DETERMINISTIC.into_iter().collect(),
        }
    }
}

impl Config {
    /// The rules for the user running this process: their names and accounts, their home
    /// directory (`$HOME`) as a path to hide, and every deterministic kind.
    pub fn for_user(names: &[String], accounts: &[String]) -> Self {
        Self {
            home_dir: std::env::var_os("HOME").map(PathBuf::from),
            names: names.to_vec(),
            accounts: accounts.to_vec(),
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("home_dir", &self.home_dir.as_ref().map(|_| "[redacted]"))
            .field("names", &format_args!("[{} redacted]", self.names.len()))
            .field("accounts", &format_args!("[{} redacted]", self.accounts.len()))
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// The text to send and the map that restores the answer. Send `text`; keep `map`.
#[derive(Debug, Clone)]
pub struct Sanitized {
    /// The input with private data replaced by placeholders: exactly what may leave the machine.
    pub text: String,
    /// Placeholder ↔ value assignments. Never sent.
    pub map: Map,
}

/// Replaces private data by placeholders. Build once (it compiles its detectors), use often.
pub struct Sanitizer {
    engine: Engine,
}

impl std::fmt::Debug for Sanitizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sanitizer").finish_non_exhaustive()
    }
}

impl Sanitizer {
    /// Compiles the detectors for `config`.
    ///
    /// Fails with [`Error::Config`] if a name or account is shorter than two characters (it would
    /// replace too much) or the lists do not compile.
    pub fn new(config: Config) -> Result<Self, Error> {
        let clean = |list: &[String], what: &str| -> Result<Vec<String>, Error> {
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    let s = s.trim();
                    if s.chars().count() < 2 {
                        Err(Error::Config(format!("{what}[{i}] is shorter than two characters")))
                    } else {
                        Ok(s.to_owned())
                    }
                })
                .collect()
        };
        let names = clean(&config.names, "names")?;
        let accounts = clean(&config.accounts, "accounts")?;
        let engine = Engine::new(config.enabled, config.home_dir.as_deref(), &names, &accounts)?;
        Ok(Self { engine })
    }

    /// The deterministic detections in `text`, overlaps resolved, in text order.
    pub fn detect(&self, text: &str) -> Vec<Detection> {
        resolve(self.engine.candidates(text))
    }

    /// Sanitises `text` with the deterministic detectors into a fresh map.
    pub fn sanitize(&self, text: &str) -> Sanitized {
        let mut map = Map::new();
        let text = self.sanitize_into(text, &mut map);
        Sanitized { text, map }
    }

    /// Sanitises `text` with an existing map, so that several texts (the messages of one
    /// conversation) share placeholders: the same value gets the same placeholder everywhere.
    pub fn sanitize_into(&self, text: &str, map: &mut Map) -> String {
        self.apply(text, Vec::new(), map)
    }

    /// Like [`sanitize`](Self::sanitize), plus the spans `finder` (a local model) names.
    ///
    /// If the finder fails, the error is returned and nothing is sanitised: the caller must not
    /// fall back to sending the text silently.
    pub async fn sanitize_with(&self, text: &str, finder: &dyn SpanFinder) -> Result<Sanitized, Error> {
        let mut map = Map::new();
        let text = self.sanitize_with_into(text, finder, &mut map).await?;
        Ok(Sanitized { text, map })
    }

    /// Like [`sanitize_into`](Self::sanitize_into), plus the spans `finder` names.
    pub async fn sanitize_with_into(
        &self,
        text: &str,
        finder: &dyn SpanFinder,
        map: &mut Map,
    ) -> Result<String, Error> {
        let spans = finder.find_spans(text).await?;
        let extra = locate(text, &spans);
        Ok(self.apply(text, extra, map))
    }

    fn apply(&self, text: &str, mut extra: Vec<Detection>, map: &mut Map) -> String {
        // Placeholder-shaped literals first: reserve them, or quote those this map already
        // assigned (see the `map` module docs).
        for m in self.engine.literal.find_iter(text) {
            if !map.reserve(m.as_str()) {
                extra.push(Detection { range: m.range(), kind: Kind::Literal });
            }
        }
        let mut cands = self.engine.candidates(text);
        cands.append(&mut extra);
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for d in resolve(cands) {
            out.push_str(&text[at..d.range.start]);
            out.push_str(map.assign(&text[d.range.clone()], d.kind));
            at = d.range.end;
        }
        out.push_str(&text[at..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[allow(clippy::unwrap_used)]
    fn sanitizer() -> Sanitizer {
        Sanitizer::new(Config {
            home_dir: Some("/home/alice".into()),
            names: vec!["Alice Liddell".into()],
            ..Config::default()
        })
        .unwrap()
    }

    #[test]
    fn same_value_same_placeholder_and_exact_restore() {
        let s = sanitizer();
        let input = "Alice Liddell <alice@example.org> wrote to bob@example.org; cc alice@example.org";
        let out = s.sanitize(input);
        assert_eq!(out.text, "[PERSON_1] <[EMAIL_1]> wrote to [EMAIL_2]; cc [EMAIL_1]");
        assert_eq!(out.map.restore(&out.text), input);
    }

    #[test]
    fn literal_placeholders_in_input_survive() {
        let s = sanitizer();
        let input = "Template: [EMAIL_1] goes here; real: carol@example.org";
        let out = s.sanitize(input);
        assert_eq!(out.text, "Template: [EMAIL_1] goes here; real: [EMAIL_2]");
        assert_eq!(out.map.restore(&out.text), input);
        // A later message that quotes an assigned placeholder gets it quoted.
        let mut map = out.map;
        let second = s.sanitize_into("You said [EMAIL_2] and [EMAIL_1].", &mut map);
        assert_eq!(second, "You said [LITERAL_1] and [EMAIL_1].");
        assert_eq!(map.restore(&second), "You said [EMAIL_2] and [EMAIL_1].");
    }

    #[test]
    fn bad_names_are_config_errors() {
        let err = Sanitizer::new(Config { names: vec!["A".into()], ..Config::default() });
        assert!(matches!(err, Err(Error::Config(_))));
    }

    #[test]
    fn disabled_kinds_are_not_detected() {
        #[allow(clippy::unwrap_used)]
        let s = Sanitizer::new(Config { enabled: [Kind::Email].into_iter().collect(), ..Config::default() }).unwrap();
        assert_eq!(s.sanitize("a@b.org 10.1.2.3").text, "[EMAIL_1] 10.1.2.3");
    }
}
