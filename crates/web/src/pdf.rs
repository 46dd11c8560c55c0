//! PDF to text, for `web.fetch`: the text layer of every page and the document's title, by
//! [`sov_pdf`] (whose checks keep a hostile file from hanging or killing the parser; see its
//! docs); flagged and framed like any page by the caller. Here:
//! - **A cut PDF is not read**: a body cut at `[web] max_bytes` is refused before parsing (a
//!   PDF's index is at its end; what parsed would be a guess), and the error says to raise the
//!   limit. The checks' bounds are 32 and 64 times `[web] max_bytes`, the text is capped at it.
//! - **A panic is an error**: its message ends up in [`crate::Error::Page`], and the service
//!   goes on.
//! - **The fetch's deadline holds**: the parser runs on a blocking thread
//!   ([`tokio::task::spawn_blocking`]); if it is not done by the deadline of `[web]
//!   timeout_secs` the fetch ends with [`crate::Error::Limit`] while the thread finishes on its
//!   own. At most [`PARSERS`] run at once, overrunning ones included, so hostile files cannot
//!   pile up threads: a fetch that finds them all busy waits, within its deadline.
//!
//! Text drawn in white, tiny or off the page is *kept*: unlike HTML, nothing here tells hidden
//! from shown, so the flags of [`crate::flags`] are what shows an instruction hidden that way.
//! Not bounded: what the parser unpacks while it loads the file (see [`sov_pdf`]); the deadline
//! and [`PARSERS`] bound how long a fetch waits and how many run, not their memory nor how long
//! a runaway thread goes on. A process of its own for the parser would bound all.

use sov_pdf::{Text, Unread, extract_guarded};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

use crate::Error;

/// How many PDFs are parsed at once, at most (this machine has few cores; an overrunning
/// parser keeps its place until it ends).
pub const PARSERS: usize = 2;

static RUNNING: Semaphore = Semaphore::const_new(PARSERS);

/// The text of the PDF `body` fetched from `url`, at most `max` bytes of it, done by `deadline`.
///
/// # Errors
/// [`Error::Limit`] when `truncated` (the body was cut at `max` bytes) or the deadline passed;
/// [`Error::Page`] when the file gives no text ([`Unread`]).
pub(crate) async fn text(
    url: &Url,
    body: Vec<u8>,
    truncated: bool,
    max: usize,
    deadline: Instant,
) -> Result<Text, Error> {
    if truncated {
        return Err(Error::Limit(format!(
            "{url}: the PDF could not be read: it is longer than {max} bytes ([web] max_bytes), and a PDF cut short \
             cannot be read (its index is at the end); raise [web] max_bytes to read it"
        )));
    }
    let late = |what: &str| {
        Error::Limit(format!(
            "{url}: the PDF could not be read in time ([web] timeout_secs): {what}; try again, or raise [web] timeout_secs"
        ))
    };
    let permit = tokio::time::timeout_at(deadline, RUNNING.acquire())
        .await
        .map_err(|_| late(&format!("{PARSERS} other PDF(s) were still being read")))?
        .map_err(|_| Error::Page(format!("{url}: the PDF could not be read: the PDF reader is closed")))?;
    let parse = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        extract_guarded(&body, max)
    });
    let extracted = match tokio::time::timeout_at(deadline, parse).await {
        Err(_) => return Err(late("the parser did not finish; it was left to end on its own")),
        Ok(Err(e)) => Err(Unread::Panicked(e.to_string())),
        Ok(Ok(result)) => result,
    };
    extracted.map_err(|why| Error::Page(format!("{url}: the PDF could not be read: {why}")))
}
