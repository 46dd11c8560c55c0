//! The sanitiser for this user, built once and used for every text that leaves.

use sov_core::config::Config;

use crate::error::Error;

/// The sanitiser for this user (the config's names and accounts, and the home directory) with
/// the local-model pass of a model when one is named.
pub struct Redactor {
    sanitizer: sov_sanitize::Sanitizer,
    finder: Option<sov_sanitize::OpenAiSpanFinder>,
}

impl Redactor {
    /// The rules of `config`'s `[sanitize]`; `model` (empty: the rules only) is asked through the
    /// LLM API at `llm_base` (`http://ADDR`).
    pub fn new(config: &Config, model: &str, llm_base: &str) -> Result<Redactor, Error> {
        let rules = sov_sanitize::Config::for_user(&config.sanitize.names, &config.sanitize.accounts);
        let sanitizer =
            sov_sanitize::Sanitizer::new(rules).map_err(|e| Error::Config(format!("config [sanitize]: {e}")))?;
        let finder = match model.is_empty() {
            true => None,
            false => Some(
                sov_sanitize::OpenAiSpanFinder::new(llm_base, model)
                    .map_err(|e| Error::Config(format!("[sanitize] model `{model}` at {llm_base}: {e}")))?,
            ),
        };
        Ok(Redactor { sanitizer, finder })
    }

    /// `text` with private data replaced by placeholders, recorded in `map`. When the model's
    /// pass fails the error is returned: the text must not leave with the rules' pass alone.
    pub async fn redact(&self, text: &str, map: &mut sov_sanitize::Map) -> Result<String, Error> {
        Ok(match &self.finder {
            None => self.sanitizer.sanitize_into(text, map),
            Some(finder) => self
                .sanitizer
                .sanitize_with_into(text, finder, map)
                .await
                .map_err(|e| Error::Sanitize(e.to_string()))?,
        })
    }
}
