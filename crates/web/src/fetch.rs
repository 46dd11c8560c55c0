//! `web.fetch`: one GET through the outbound policy, with every limit a hostile server could
//! test: redirects (each checked again), the body size, the whole time, compression, content type.
//! HTML goes to [`text`], PDF to [`pdf`], plain text and JSON are read as they are.

use std::time::Duration;

use futures_util::StreamExt as _;
use url::Url;

use crate::{Error, Web, flags, frame, pdf, text};

/// The one user agent every Sovereign user sends: Firefox ESR on Windows, the most common
/// fingerprint of the Tor Browser's family, so a site cannot tell users apart by it.
pub const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// A GET of `url` with the headers every Sovereign user sends alike: the one user agent, one
/// language, `accept`, and no compression; no cookie, no `Referer`.
pub(crate) fn get_request(url: &Url, accept: &str) -> Result<http::Request<bytes::Bytes>, http::Error> {
    http::Request::get(url.as_str())
        .header(http::header::USER_AGENT, USER_AGENT)
        .header(http::header::ACCEPT, accept)
        .header(http::header::ACCEPT_LANGUAGE, "en-US,en;q=0.5")
        .header(http::header::ACCEPT_ENCODING, "identity")
        .body(bytes::Bytes::new())
}

/// A fetched page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page {
    /// The URL asked for.
    pub url: String,
    /// The URL answered, after redirects.
    pub final_url: String,
    /// The redirects followed, in order.
    pub redirects: Vec<String>,
    /// The HTTP status of the last answer.
    pub status: u16,
    /// Its `Content-Type`.
    pub content_type: String,
    /// The page's title (HTML, PDF), or empty.
    pub title: String,
    /// The readable text.
    pub text: String,
    /// Links, `[n]` in the text.
    pub links: Vec<text::Link>,
    /// Hidden elements dropped from the text.
    pub hidden_dropped: usize,
    /// Whether the body was cut at `[web] max_bytes`.
    pub truncated: bool,
    /// Bytes read.
    pub bytes: usize,
    /// Instruction-like passages in the text.
    pub flags: Vec<flags::Flag>,
}

impl Page {
    /// The page as the model reads it: quoted in the fixed frame.
    pub fn framed(&self) -> String {
        let mut body = String::new();
        // First, so that a reader who shows only the start (an agent's output cap) still says so.
        if self.truncated {
            body.push_str(&format!("[cut: the page is longer than {} bytes; only its start is here]\n\n", self.bytes));
        }
        if !self.title.is_empty() {
            body.push_str(&format!("# {}\n\n", self.title));
        }
        body.push_str(&self.text);
        if !self.links.is_empty() {
            body.push_str("\n\nLinks:\n");
            for (i, link) in self.links.iter().enumerate() {
                body.push_str(&format!("[{}] {} {}\n", i + 1, link.url, link.text));
            }
        }
        frame::frame("web.fetch", &self.final_url, &body, &self.flags)
    }
}

impl Web {
    /// GETs `url`: policy first (and for each redirect), then the limits of `[web]`.
    ///
    /// # Errors
    /// [`Error::Refused`] before anything was sent; the others after a connection was tried.
    pub async fn fetch(&self, url: &str) -> Result<Page, Error> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(self.config.timeout_secs);
        let answer = match tokio::time::timeout_at(deadline, self.fetch_unlimited(url)).await {
            Ok(answer) => answer?,
            Err(_) => {
                return Err(Error::Limit(format!(
                    "{url}: no complete answer in time ({} s, [web] timeout_secs); what arrived was dropped",
                    self.config.timeout_secs
                )));
            }
        };
        // Reading a PDF may take long and cannot be interrupted: it keeps to the same deadline
        // by itself (the parser's thread is left behind, not waited for).
        answer.page(self.config.max_bytes, deadline).await
    }

    async fn fetch_unlimited(&self, asked: &str) -> Result<Answer, Error> {
        let mut url = self.policy.parse(asked)?;
        let mut redirects = Vec::new();
        loop {
            let request = get_request(&url, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
                .map_err(|e| Error::Refused(crate::policy::Refused { url: url.to_string(), reason: e.to_string() }))?;
            let http = self.http.clone().with_address_check(self.policy.address_check(&url));
            let response = http.send(request).await.map_err(|e| Error::net(&url, e))?;
            let status = response.status();
            if status.is_redirection() && status != http::StatusCode::NOT_MODIFIED {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| Error::Page(format!("{url}: answered {status} without a Location")))?;
                let next =
                    url.join(location).map_err(|e| Error::Page(format!("{url}: redirect to `{location}`: {e}")))?;
                if redirects.len() >= self.config.max_redirects as usize {
                    return Err(Error::Limit(format!(
                        "{asked}: more than {} redirects ([web] max_redirects); stopped before {next}",
                        self.config.max_redirects
                    )));
                }
                self.policy.check(&next).map_err(|e| {
                    Error::Refused(crate::policy::Refused {
                        url: e.url,
                        reason: format!("redirected from {url}: {}", e.reason),
                    })
                })?;
                redirects.push(next.to_string());
                url = next;
                continue;
            }
            return self.read(asked, url, redirects, response).await;
        }
    }

    async fn read(
        &self,
        asked: &str,
        url: Url,
        redirects: Vec<String>,
        response: http::Response<sov_net::Body>,
    ) -> Result<Answer, Error> {
        let header = |name: http::header::HeaderName| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().trim().to_ascii_lowercase()
        };
        let encoding = header(http::header::CONTENT_ENCODING);
        if !encoding.is_empty() && encoding != "identity" {
            return Err(Error::Page(format!(
                "{url}: the answer is compressed (`{encoding}`) although only `identity` was asked for; it is not \
                 unpacked (a small compressed body can unpack to gigabytes)"
            )));
        }
        let content_type = header(http::header::CONTENT_TYPE);
        let kind = Kind::of(&content_type);
        if kind == Kind::Other {
            return Err(Error::Page(format!(
                "{url}: the answer is `{content_type}`, not a page; only HTML, plain text, JSON and PDF are read"
            )));
        }
        let status = response.status().as_u16();
        let max = self.config.max_bytes;
        let mut body = Vec::with_capacity(max.min(64 << 10));
        let mut truncated = false;
        let mut stream = response.into_body();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::net(&url, e))?;
            let room = max - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        drop(stream);
        Ok(Answer { asked: asked.to_owned(), url, redirects, status, content_type, kind, body, truncated })
    }
}

/// An answer read within the limits, before it is made a [`Page`].
struct Answer {
    asked: String,
    url: Url,
    redirects: Vec<String>,
    status: u16,
    content_type: String,
    kind: Kind,
    body: Vec<u8>,
    truncated: bool,
}

impl Answer {
    /// The readable text of the answer; a PDF is read by `deadline`, its text at most `max` bytes.
    async fn page(self, max: usize, deadline: tokio::time::Instant) -> Result<Page, Error> {
        let Answer { asked, url, redirects, status, content_type, kind, body, truncated } = self;
        let bytes = body.len();
        let (title, text, links, hidden_dropped) = match kind {
            Kind::Pdf => {
                let pdf = pdf::text(&url, body, truncated, max, deadline).await?;
                (pdf.title, pdf.text, Vec::new(), 0)
            }
            Kind::Html => {
                let page = text::readable(&String::from_utf8_lossy(&body), Some(&url));
                (page.title, page.text, page.links, page.hidden_dropped)
            }
            Kind::Json => {
                let raw = String::from_utf8_lossy(&body);
                let text = serde_json::from_str::<serde_json::Value>(&raw)
                    .ok()
                    .and_then(|v| serde_json::to_string_pretty(&v).ok())
                    .unwrap_or_else(|| raw.into_owned());
                (String::new(), text, Vec::new(), 0)
            }
            _ => (String::new(), String::from_utf8_lossy(&body).into_owned(), Vec::new(), 0),
        };
        let flags = flags::flags(&format!("{title}\n{text}"));
        Ok(Page {
            url: asked,
            final_url: url.to_string(),
            redirects,
            status,
            content_type,
            title,
            text,
            links,
            hidden_dropped,
            truncated,
            bytes,
            flags,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Html,
    Text,
    Json,
    Pdf,
    Other,
}

impl Kind {
    fn of(content_type: &str) -> Kind {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        match essence {
            "text/html" | "application/xhtml+xml" => Kind::Html,
            "application/json" | "application/ld+json" => Kind::Json,
            "application/pdf" | "application/x-pdf" => Kind::Pdf,
            e if e.ends_with("+json") => Kind::Json,
            // No type at all: read as text, as a browser sniffing a plain file would.
            "" | "application/xml" | "application/rss+xml" | "application/atom+xml" => Kind::Text,
            e if e.starts_with("text/") => Kind::Text,
            _ => Kind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_read_by_kind() {
        for (content_type, kind) in [
            ("text/html; charset=utf-8", Kind::Html),
            ("application/pdf", Kind::Pdf),
            ("application/x-pdf", Kind::Pdf),
            ("application/vnd.api+json", Kind::Json),
            ("", Kind::Text),
            ("text/csv", Kind::Text),
            ("application/octet-stream", Kind::Other),
            ("image/png", Kind::Other),
        ] {
            assert_eq!(Kind::of(content_type), kind, "{content_type}");
        }
    }
}
