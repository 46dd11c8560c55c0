//! `web.search`: the sanitised query to every configured engine at once, each by a connection
//! (by Tor: a circuit) of its own; results merged in turns, duplicates dropped. A `zkapi`
//! engine is a SearXNG API behind a `sov provider`, each query paid with an anonymous ticket
//! ([`crate::paid`]: the provider learns the query and that some depositor paid, not which).

use std::collections::HashSet;
use std::time::Duration;

use scraper::{Html, Selector};
use url::Url;

use crate::{Error, Web, flags, frame};

/// One result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hit {
    /// The page's title.
    pub title: String,
    /// Its URL.
    pub url: String,
    /// The engine's snippet, as text.
    pub snippet: String,
    /// The engine kind that found it.
    pub engine: String,
}

/// How one engine did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EngineReport {
    /// Its kind.
    pub engine: String,
    /// Its base URL.
    pub url: String,
    /// Results it gave.
    pub results: usize,
    /// What went wrong, if anything (a CAPTCHA, an error status, no answer in time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A text the sanitiser replaced in the query: the placeholder that went out and what kind of
/// thing it stands for (never the text itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Replaced {
    /// What was sent instead.
    pub placeholder: String,
    /// The kind (`name`, `email`, `street-address`, ...).
    pub kind: String,
}

/// A search's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Search {
    /// The query as it was sent (sanitised).
    pub query: String,
    /// What the sanitiser replaced.
    pub replaced: Vec<Replaced>,
    /// The merged results.
    pub results: Vec<Hit>,
    /// Each engine's report.
    pub engines: Vec<EngineReport>,
    /// Instruction-like passages in titles and snippets.
    pub flags: Vec<flags::Flag>,
}

impl Search {
    /// The results as the model reads them: quoted in the fixed frame.
    pub fn framed(&self) -> String {
        let mut body = String::new();
        for (i, hit) in self.results.iter().enumerate() {
            body.push_str(&format!("{}. {}\n   {}\n   {} ({})\n", i + 1, hit.title, hit.url, hit.snippet, hit.engine));
        }
        for report in &self.engines {
            if let Some(error) = &report.error {
                body.push_str(&format!("[engine {} failed: {error}]\n", report.engine));
            }
        }
        if self.results.is_empty() {
            body.push_str("[no results]\n");
        }
        frame::frame("web.search", &format!("search:{}", self.query), body.trim_end(), &self.flags)
    }
}

impl Web {
    /// The query, sanitised, as it would be sent, and what was replaced: the rules of
    /// `[sanitize]`, then the local model's pass when [`Web::with_model_pass`] named one.
    ///
    /// # Errors
    /// [`Error::NotSent`] when the model's pass could not run (nothing was sent).
    pub async fn sanitise_query(&self, query: &str) -> Result<(String, Vec<Replaced>), Error> {
        let mut map = sov_sanitize::Map::default();
        let text = match &self.finder {
            None => self.sanitizer.sanitize_into(query.trim(), &mut map),
            Some(finder) => self.sanitizer.sanitize_with_into(query.trim(), finder, &mut map).await.map_err(|e| {
                Error::NotSent(format!(
                    "not searched: the local model `{}` could not check the query ({e}); nothing was sent",
                    self.model
                ))
            })?,
        };
        let replaced = map
            .entries()
            .map(|e| Replaced { placeholder: e.placeholder().to_owned(), kind: e.kind().name().to_owned() })
            .collect();
        Ok((text, replaced))
    }

    /// Searches every engine for `query` (sanitised first). One engine failing is in its report;
    /// only no engine at all is an error.
    ///
    /// # Errors
    /// [`Error::Config`] when `[web]` lists no engine.
    pub async fn search(&self, query: &str) -> Result<Search, Error> {
        if self.config.engines.is_empty() {
            return Err(Error::Config("[web] lists no search engine; add a [[web.engines]] entry".into()));
        }
        let (query, replaced) = self.sanitise_query(query).await?;
        self.search_sanitised(&query, replaced).await
    }

    /// Searches for `query` as given, already sanitised by [`Web::sanitise_query`] (an approved
    /// action's query, with what was `replaced` in it): the rules run over it again as a check,
    /// the model's pass does not, so what leaves is the text that was approved.
    ///
    /// # Errors
    /// [`Error::Config`] when `[web]` lists no engine.
    pub async fn search_sanitised(&self, query: &str, replaced: Vec<Replaced>) -> Result<Search, Error> {
        if self.config.engines.is_empty() {
            return Err(Error::Config("[web] lists no search engine; add a [[web.engines]] entry".into()));
        }
        let query = self.sanitizer.sanitize(query.trim()).text;
        let limit = Duration::from_secs(self.config.timeout_secs);
        let asks = self.config.engines.iter().map(|engine| {
            let query = query.clone();
            async move {
                let found = match tokio::time::timeout(limit, self.ask(engine, &query)).await {
                    Ok(found) => found,
                    Err(_) => Err(format!("no answer within {} s", self.config.timeout_secs)),
                };
                (engine, found)
            }
        });
        let answers = futures_util::future::join_all(asks).await;
        let mut engines = Vec::new();
        let mut lists = Vec::new();
        for (engine, found) in answers {
            let (hits, error) = match found {
                Ok(hits) => (hits, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            let results = hits.len();
            if let Some(error) = &error {
                tracing::info!(engine = %engine.kind, %error, "a search engine failed");
            }
            engines.push(EngineReport { engine: engine.kind.clone(), url: engine.url.clone(), results, error });
            lists.push(hits);
        }
        let results = merge(lists, self.config.max_results);
        let flags =
            flags::flags(&results.iter().map(|h| format!("{}\n{}", h.title, h.snippet)).collect::<Vec<_>>().join("\n"));
        Ok(Search { query, replaced, results, engines, flags })
    }

    /// One engine's results, or why there are none.
    async fn ask(&self, engine: &sov_core::config::SearchEngineConfig, query: &str) -> Result<Vec<Hit>, String> {
        let base = Url::parse(&engine.url).map_err(|e| format!("its url `{}`: {e}", engine.url))?;
        let n = self.config.max_results.to_string();
        let mut hits = match engine.kind.as_str() {
            "searxng" => {
                let body = self.get(&base, "search", &[("q", query), ("format", "json")]).await?;
                searxng(&body)?
            }
            // The same API behind a `sov provider`, paid per query ([`crate::paid`]).
            "zkapi" => searxng(&self.paid_search(&base, query).await?)?,
            "wikipedia" => {
                let body = self
                    .get(
                        &base,
                        "w/api.php",
                        &[
                            ("action", "query"),
                            ("list", "search"),
                            ("srsearch", query),
                            ("srlimit", &n),
                            ("format", "json"),
                            ("utf8", "1"),
                        ],
                    )
                    .await?;
                wikipedia(&body, &base)?
            }
            "duckduckgo" => {
                let body = self.get(&base, "html/", &[("q", query)]).await?;
                duckduckgo(&body)?
            }
            "kiwix" => {
                let book = match engine.book.as_str() {
                    "" => kiwix_first_book(&self.get(&base, "catalog/v2/entries", &[]).await?)?,
                    book => book.to_owned(),
                };
                // Full text first (archives made with a full-text index, as Kiwix's Wikipedia
                // ones are); an archive without one answers 404, and its titles are searched.
                let fulltext = self
                    .get(
                        &base,
                        "search",
                        &[("books.name", &book), ("pattern", query), ("format", "xml"), ("pageLength", &n)],
                    )
                    .await
                    .and_then(|body| kiwix_fulltext(&body, &base));
                match fulltext {
                    Ok(hits) => hits,
                    Err(e) => {
                        tracing::debug!(%book, error = %e, "no full-text search in the archive; searching its titles");
                        let body =
                            self.get(&base, "suggest", &[("content", &book), ("term", query), ("count", &n)]).await?;
                        kiwix(&body, &base, &book)?
                    }
                }
            }
            other => return Err(format!("unknown engine kind `{other}`")),
        };
        for hit in &mut hits {
            hit.engine.clone_from(&engine.kind);
        }
        Ok(hits)
    }

    /// GET `base/path?query` by the engine route; the body as text (at most `[web] max_bytes`).
    async fn get(&self, base: &Url, path: &str, query: &[(&str, &str)]) -> Result<String, String> {
        let mut url = base.join(path).map_err(|e| e.to_string())?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let request =
            crate::fetch::get_request(&url, "text/html,application/json;q=0.9,*/*;q=0.8").map_err(|e| e.to_string())?;
        let (status, body) = self.exchange(request).await?;
        checked(status, body)
    }

    /// `request` by the engine route: the answer's status and its body as text (at most `[web]
    /// max_bytes`).
    pub(crate) async fn exchange(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<(http::StatusCode, String), String> {
        let response = self.http.send(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.into_body().collect(self.config.max_bytes).await.map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// An engine's answer as results to read, or why not: a CAPTCHA, an error status.
pub(crate) fn checked(status: http::StatusCode, body: String) -> Result<String, String> {
    if captcha(status.as_u16(), &body) {
        return Err(format!("answered with a CAPTCHA or a block page ({status}); try again later or another engine"));
    }
    if !status.is_success() {
        let said: String = body.chars().take(200).collect();
        return Err(format!("answered {status}: {}", said.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    Ok(body)
}

/// Whether an answer is a CAPTCHA or a bot block rather than results.
fn captcha(status: u16, body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    status == 429
        || (matches!(status, 202 | 403 | 503)
            && ["captcha", "challenge", "anomaly", "unusual traffic", "are you a robot", "bots use duckduckgo"]
                .iter()
                .any(|w| lower.contains(w)))
        || lower.contains("anomaly-modal")
        || lower.contains("g-recaptcha")
        || lower.contains("h-captcha")
}

/// The lists merged in turns (first of each engine, then second of each, ...), the same URL
/// once, at most `max`.
fn merge(lists: Vec<Vec<Hit>>, max: usize) -> Vec<Hit> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for list in &lists {
            if let Some(hit) = list.get(i)
                && out.len() < max
                && seen.insert(same_page(&hit.url))
            {
                out.push(hit.clone());
            }
        }
    }
    out
}

/// A URL without fragment, trailing slash, `www.` or scheme: two spellings of one page match.
fn same_page(url: &str) -> String {
    let url = url.split('#').next().unwrap_or_default();
    let url = url.trim_start_matches("https://").trim_start_matches("http://").trim_start_matches("www.");
    url.trim_end_matches('/').to_ascii_lowercase()
}

/// Text of an HTML snippet, whitespace collapsed.
fn plain(html: &str) -> String {
    let fragment = Html::parse_fragment(html);
    fragment.root_element().text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ")
}

fn json(body: &str, what: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(body).map_err(|e| format!("its answer is not {what} JSON: {e}"))
}

fn text_of(v: &serde_json::Value, key: &str) -> String {
    v.get(key).and_then(serde_json::Value::as_str).map(plain).unwrap_or_default()
}

/// SearXNG's `format=json`: `results[]` with `url`, `title`, `content`.
fn searxng(body: &str) -> Result<Vec<Hit>, String> {
    let v = json(body, "SearXNG")?;
    let results = v
        .get("results")
        .and_then(serde_json::Value::as_array)
        .ok_or("its answer has no `results`; is `json` in the instance's search.formats?")?;
    Ok(results
        .iter()
        .filter_map(|r| {
            let url = r.get("url").and_then(serde_json::Value::as_str)?;
            Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https"))?;
            Some(Hit {
                title: text_of(r, "title"),
                url: url.to_owned(),
                snippet: text_of(r, "content"),
                engine: String::new(),
            })
        })
        .collect())
}

/// MediaWiki's `list=search`: `query.search[]` with `title` and an HTML `snippet`.
fn wikipedia(body: &str, base: &Url) -> Result<Vec<Hit>, String> {
    let v = json(body, "MediaWiki")?;
    if let Some(error) = v.get("error") {
        return Err(format!("the wiki said: {}", text_of(error, "info")));
    }
    let results =
        v.pointer("/query/search").and_then(serde_json::Value::as_array).ok_or("its answer has no query.search")?;
    Ok(results
        .iter()
        .filter_map(|r| {
            let title = r.get("title").and_then(serde_json::Value::as_str)?;
            let url = base.join(&format!("wiki/{}", title.replace(' ', "_"))).ok()?;
            Some(Hit {
                title: title.to_owned(),
                url: url.to_string(),
                snippet: text_of(r, "snippet"),
                engine: String::new(),
            })
        })
        .collect())
}

/// DuckDuckGo's HTML page (no JavaScript): `.result` blocks, ads left out; result links point
/// to `/l/?uddg=<the URL>`.
fn duckduckgo(body: &str) -> Result<Vec<Hit>, String> {
    let page = Html::parse_document(body);
    let sel = |s: &str| Selector::parse(s).map_err(|e| format!("selector {s}: {e:?}"));
    let (result, link, snippet) = (sel("div.result")?, sel("a.result__a")?, sel(".result__snippet")?);
    let mut hits = Vec::new();
    for block in page.select(&result) {
        if block.value().classes().any(|c| c == "result--ad") {
            continue;
        }
        let Some(a) = block.select(&link).next() else { continue };
        let href = a.value().attr("href").unwrap_or_default();
        let absolute = Url::parse("https://duckduckgo.com/").and_then(|b| b.join(href)).ok();
        let target = absolute.as_ref().and_then(|u| {
            if u.path() == "/l/" {
                u.query_pairs().find(|(k, _)| k == "uddg").map(|(_, v)| v.into_owned())
            } else {
                Some(u.to_string())
            }
        });
        let Some(target) = target.filter(|t| t.starts_with("http://") || t.starts_with("https://")) else { continue };
        let text =
            |e: scraper::ElementRef<'_>| e.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ");
        hits.push(Hit {
            title: text(a),
            url: target,
            snippet: block.select(&snippet).next().map(text).unwrap_or_default(),
            engine: String::new(),
        });
    }
    if hits.is_empty() && !body.contains("no-results") && !body.to_ascii_lowercase().contains("no results") {
        return Err("its page had no results in the expected form (blocked, or the page changed)".into());
    }
    Ok(hits)
}

/// The first book a kiwix-serve lists in its OPDS catalog (`<link type="text/html" href="/NAME"`).
fn kiwix_first_book(catalog: &str) -> Result<String, String> {
    catalog
        .split("<link type=\"text/html\" href=\"/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|book| book.trim_end_matches('/').to_owned())
        .filter(|book| !book.is_empty())
        .ok_or_else(|| "it serves no book; start kiwix-serve with a ZIM file".into())
}

/// kiwix-serve's `/suggest` (title search): `[{value, label, kind, path}]`; `kind: "pattern"` is
/// its "containing …" entry, not a page.
/// kiwix-serve's full-text search (`/search?…&format=xml`): an RSS channel whose `item`s hold a
/// `title`, a `link` relative to the server and a `description` with the matched words in `<b>`.
fn kiwix_fulltext(body: &str, base: &Url) -> Result<Vec<Hit>, String> {
    let doc = roxmltree::Document::parse(body).map_err(|e| format!("its full-text answer is not XML: {e}"))?;
    if !doc.root_element().has_tag_name("rss") {
        return Err(format!("its full-text answer is `<{}>`, not RSS", doc.root_element().tag_name().name()));
    }
    let child_text = |item: roxmltree::Node<'_, '_>, name: &str| {
        item.children()
            .find(|c| c.has_tag_name(name))
            .map(|c| c.descendants().filter(roxmltree::Node::is_text).filter_map(|d| d.text()).collect::<String>())
            .unwrap_or_default()
    };
    Ok(doc
        .descendants()
        .filter(|n| n.has_tag_name("item"))
        .filter_map(|item| {
            let url = base.join(child_text(item, "link").trim()).ok()?;
            Some(Hit {
                title: child_text(item, "title").trim().to_owned(),
                url: url.to_string(),
                snippet: child_text(item, "description").split_whitespace().collect::<Vec<_>>().join(" "),
                engine: String::new(),
            })
        })
        .collect())
}

fn kiwix(body: &str, base: &Url, book: &str) -> Result<Vec<Hit>, String> {
    let v = json(body, "kiwix-serve suggest")?;
    let entries = v.as_array().ok_or("its answer is not a list")?;
    Ok(entries
        .iter()
        .filter(|e| e.get("kind").and_then(serde_json::Value::as_str) == Some("path"))
        .filter_map(|e| {
            let path = e.get("path").and_then(serde_json::Value::as_str)?;
            let mut url = base.clone();
            url.path_segments_mut().ok()?.pop_if_empty().push(book).extend(path.split('/'));
            Some(Hit {
                title: text_of(e, "value"),
                url: url.to_string(),
                snippet: String::new(),
                engine: String::new(),
            })
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hit(url: &str, engine: &str) -> Hit {
        Hit { title: url.into(), url: url.into(), snippet: String::new(), engine: engine.into() }
    }

    #[test]
    fn lists_merge_in_turns_without_duplicates() {
        let a = vec![hit("https://a.example/1", "a"), hit("https://b.example/", "a"), hit("https://a.example/3", "a")];
        let b = vec![hit("http://www.b.example", "b"), hit("https://c.example/", "b")];
        let merged: Vec<_> = merge(vec![a, b], 10).into_iter().map(|h| h.url).collect();
        assert_eq!(
            merged,
            ["https://a.example/1", "http://www.b.example", "https://c.example/", "https://a.example/3"]
        );
        assert_eq!(merge(vec![vec![hit("https://a.example/", "a")]; 3], 10).len(), 1);
    }

    #[test]
    fn duckduckgo_results_are_read_and_ads_and_captchas_are_not_results() {
        let page = r#"<div class="result result--ad"><a class="result__a" href="https://ads.example/">Ad</a></div>
            <div class="result"><a class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Ftorproject.org%2F&amp;rut=x">The <b>Tor</b> Project</a>
            <a class="result__snippet">Browse privately.</a></div>"#;
        let hits = duckduckgo(page).unwrap();
        assert_eq!(
            hits,
            vec![Hit {
                title: "The Tor Project".into(),
                url: "https://torproject.org/".into(),
                snippet: "Browse privately.".into(),
                engine: String::new()
            }]
        );
        assert!(captcha(202, "<form id=\"challenge-form\">anomaly</form>"));
        assert!(!captcha(200, "<div class=\"result\">fine</div>"));
    }

    #[test]
    fn kiwix_full_text_answers_are_read_and_an_error_page_or_broken_xml_is_not_taken_for_results() {
        let base = Url::parse("http://127.0.0.1:8080/").unwrap();
        let rss = "<?xml version=\"1.0\"?><rss><channel><item><title>Sourdough</title><link>/notes/s.html</link>\
                   <description>wild <b>yeast</b>\n and more</description><book><title>Notes</title></book></item></channel></rss>";
        let hits = kiwix_fulltext(rss, &base).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!((hits[0].title.as_str(), hits[0].url.as_str()), ("Sourdough", "http://127.0.0.1:8080/notes/s.html"));
        assert_eq!(hits[0].snippet, "wild yeast and more");
        let unavailable = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><error>Fulltext search unavailable</error>";
        assert!(kiwix_fulltext(unavailable, &base).unwrap_err().contains("not RSS"));
        assert!(kiwix_fulltext("<rss><channel>", &base).unwrap_err().contains("not XML"));
    }

    #[test]
    fn wikipedia_and_searxng_answers_are_read() {
        let base = Url::parse("https://en.wikipedia.org").unwrap();
        let hits = wikipedia(r#"{"query":{"search":[{"title":"Onion routing","snippet":"<span class=\"searchmatch\">Onion</span> routing is"}]}}"#, &base).unwrap();
        assert_eq!(hits[0].url, "https://en.wikipedia.org/wiki/Onion_routing");
        assert_eq!(hits[0].snippet, "Onion routing is");
        let hits = searxng(r#"{"query":"q","results":[{"url":"https://x.example/","title":"X","content":"c","engine":"bing"},{"url":"javascript:alert(1)","title":"bad"}]}"#).unwrap();
        assert_eq!(hits.len(), 1);
        assert!(searxng(r#"{"error":"format not allowed"}"#).unwrap_err().contains("search.formats"));
    }
}
