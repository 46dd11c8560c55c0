//! Email: polling IMAP folders into the store (UID-based and incremental), and sending through
//! SMTP submission.
//!
//! TLS is rustls with the system's certificate authorities plus an account's own `ca_file`;
//! plain text is accepted only for a server on this machine (see [`EmailAccount::validate`]).

use std::fmt::Debug;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::TryStreamExt;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as SmtpTls, TlsParameters};
use lettre::{SmtpTransport, Transport};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::accounts::{EmailAccount, Tls};
use crate::address::check_header_field;
use crate::mime::{self, Origin};
use crate::store::{FolderProgress, MessageStore};
use crate::{MsgError, lock};

/// Messages fetched per IMAP command and stored per transaction.
pub const FETCH_BATCH: u32 = 500;
/// Longest wait for a server to connect or answer.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(60);

trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}
type Stream = Box<dyn Io>;

fn server_error(account: &EmailAccount, what: &str, e: impl std::fmt::Display) -> MsgError {
    MsgError::Server(format!("{} ({}:{}): {what}: {e}", account.address, account.imap_host, account.imap_port))
}

fn root_store(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, MsgError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|source| MsgError::File { path: path.to_owned(), source })?;
        let certs: Vec<_> = rustls::pki_types::pem::PemObject::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| MsgError::Server(format!("{}: not a PEM certificate file: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(MsgError::Server(format!("{}: holds no PEM certificate", path.display())));
        }
        roots.add_parsable_certificates(certs);
    }
    Ok(roots)
}

async fn tls_wrap(account: &EmailAccount, stream: impl Io + 'static, what: &str) -> Result<Stream, MsgError> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| server_error(account, "TLS set-up", e))?
        .with_root_certificates(root_store(account.ca_file.as_deref())?)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(account.imap_host.trim_matches(['[', ']']).to_owned())
        .map_err(|e| server_error(account, "server name", e))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(|e| server_error(account, what, e))?;
    Ok(Box::new(tls))
}

async fn login(account: &EmailAccount, password: &str) -> Result<async_imap::Session<Stream>, MsgError> {
    let tcp = tokio::time::timeout(SERVER_TIMEOUT, TcpStream::connect((account.imap_host.as_str(), account.imap_port)))
        .await
        .map_err(|_| server_error(account, "connecting", "timed out"))?
        .map_err(|e| server_error(account, "connecting", e))?;
    let stream: Stream = match account.imap_tls {
        Tls::Tls => tls_wrap(account, tcp, "TLS handshake").await?,
        Tls::Starttls | Tls::Plain => Box::new(tcp),
    };
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .map_err(|e| server_error(account, "reading the greeting", e))?
        .ok_or_else(|| server_error(account, "reading the greeting", "connection closed"))?;
    if account.imap_tls == Tls::Starttls {
        client.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| server_error(account, "STARTTLS", e))?;
        let plain = client.into_inner();
        client = async_imap::Client::new(tls_wrap(account, plain, "TLS handshake after STARTTLS").await?);
    }
    client.login(&account.user, password).await.map_err(|(e, _)| server_error(account, "login", e))
}

/// Fetches every message of `account`'s folders that is not stored yet; returns how many were
/// new. Folders are opened read-only (EXAMINE), so nothing is marked as read on the server.
pub async fn poll(account: &EmailAccount, password: &str, store: &Mutex<MessageStore>) -> Result<usize, MsgError> {
    let mut session = tokio::time::timeout(SERVER_TIMEOUT, login(account, password))
        .await
        .map_err(|_| server_error(account, "logging in", "timed out"))??;
    let mut added = 0;
    for folder in &account.folders {
        added += poll_folder(account, folder, &mut session, store).await?;
    }
    let _ = session.logout().await;
    Ok(added)
}

async fn poll_folder(
    account: &EmailAccount,
    folder: &str,
    session: &mut async_imap::Session<Stream>,
    store: &Mutex<MessageStore>,
) -> Result<usize, MsgError> {
    let mailbox =
        session.examine(folder).await.map_err(|e| server_error(account, &format!("opening folder {folder:?}"), e))?;
    let uidvalidity = mailbox.uid_validity.unwrap_or(0);
    let known = lock(store).folder_progress(&account.address, folder)?;
    // A new UIDVALIDITY means the server renumbered the folder: read it again from the start
    // (messages already stored under the old numbering stay, under their old uid).
    let mut next = match known {
        Some(p) if p.uidvalidity == uidvalidity => p.last_uid.saturating_add(1),
        _ => 1,
    };
    let end = mailbox.uid_next.unwrap_or(u32::MAX);
    let mut added = 0;
    while next < end && mailbox.exists > 0 {
        let last = next.saturating_add(FETCH_BATCH - 1).min(end.saturating_sub(1));
        let fetches: Vec<_> = session
            .uid_fetch(format!("{next}:{last}"), "(UID INTERNALDATE BODY.PEEK[])")
            .await
            .map_err(|e| server_error(account, &format!("fetching from {folder:?}"), e))?
            .try_collect()
            .await
            .map_err(|e| server_error(account, &format!("fetching from {folder:?}"), e))?;
        let mut highest = last;
        let mut batch = Vec::with_capacity(fetches.len());
        for fetch in &fetches {
            // `UID FETCH n:m` may also answer the newest message below n; skip what is known.
            let Some(uid) = fetch.uid.filter(|uid| *uid >= next) else { continue };
            let Some(raw) = fetch.body() else { continue };
            highest = highest.max(uid);
            let origin = Origin {
                account: &account.address,
                folder,
                uidvalidity,
                uid,
                internal_date_ms: fetch.internal_date().map(|d| d.timestamp_millis()),
            };
            batch.push(mime::decode(raw, origin));
        }
        let progress = FolderProgress { uidvalidity, last_uid: highest };
        added += lock(store).insert(&batch, Some((&account.address, folder, progress)))?;
        if mailbox.uid_next.is_none() && fetches.is_empty() {
            break;
        }
        next = highest.saturating_add(1);
    }
    Ok(added)
}

/// One email to send.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// Recipients, canonical.
    pub to: &'a [String],
    /// Subject.
    pub subject: &'a str,
    /// Text body.
    pub body: &'a str,
    /// Message-ID, with angle brackets.
    pub message_id: &'a str,
}

/// Why a send failed.
#[derive(Debug)]
pub enum SendFailure {
    /// The server answered with a refusal: the message certainly did not leave.
    Refused(String),
    /// The connection failed; whether the server took the message is unknown.
    Unknown(String),
}

/// The message `mail` from `from`, as it goes on the wire: no header field holds a line end or
/// another control character (refused, as at submission: what is sent is what was approved), and
/// the body's line ends are all CRLF ([`mime::crlf_lines`]; see there for why).
pub fn build(from: &str, mail: &Outgoing<'_>) -> Result<lettre::Message, SendFailure> {
    let refused = |what: &str, e: &dyn std::fmt::Display| SendFailure::Refused(format!("{from}: {what}: {e}"));
    check_header_field("subject", mail.subject).map_err(|e| refused("the subject", &e))?;
    check_header_field("message_id", mail.message_id).map_err(|e| refused("the Message-ID", &e))?;
    let from: Mailbox = from.parse().map_err(|e| refused("the From address", &e))?;
    let mut builder = lettre::Message::builder()
        .from(from)
        .subject(mail.subject)
        .message_id(Some(mail.message_id.to_owned()))
        .header(ContentType::TEXT_PLAIN);
    for to in mail.to {
        check_header_field("to", to).map_err(|e| refused("a recipient", &e))?;
        builder = builder.to(to.parse().map_err(|e| refused("a recipient", &e))?);
    }
    builder.body(mime::crlf_lines(mail.body)).map_err(|e| refused("building the message", &e))
}

/// Sends `mail` from `account` through its SMTP server; answers what the server said.
pub fn send(account: &EmailAccount, password: &str, mail: &Outgoing<'_>) -> Result<Value, SendFailure> {
    let refused =
        |what: &str, e: &dyn std::fmt::Display| SendFailure::Refused(format!("{}: {what}: {e}", account.address));
    let message = build(&account.address, mail)?;
    let tls = || -> Result<TlsParameters, SendFailure> {
        let mut params = TlsParameters::builder(account.smtp_host.clone());
        if let Some(path) = &account.ca_file {
            let pem = std::fs::read(path).map_err(|e| refused(&path.display().to_string(), &e))?;
            params = params.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| refused("ca_file", &e))?);
        }
        params.build_rustls().map_err(|e| refused("TLS set-up", &e))
    };
    let transport = SmtpTransport::builder_dangerous(account.smtp_host.clone())
        .port(account.smtp_port)
        .tls(match account.smtp_tls {
            Tls::Tls => SmtpTls::Wrapper(tls()?),
            Tls::Starttls => SmtpTls::Required(tls()?),
            Tls::Plain => SmtpTls::None,
        })
        .credentials(Credentials::new(account.user.clone(), password.to_owned()))
        .timeout(Some(SERVER_TIMEOUT))
        .build();
    match transport.send(&message) {
        Ok(response) => Ok(json!({
            "message_id": mail.message_id,
            "smtp": format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" ")),
        })),
        Err(e) if e.is_permanent() || e.is_transient() => Err(SendFailure::Refused(format!(
            "{} ({}:{}): the server refused the message: {e}",
            account.address, account.smtp_host, account.smtp_port
        ))),
        Err(e) => {
            Err(SendFailure::Unknown(format!("{} ({}:{}): {e}", account.address, account.smtp_host, account.smtp_port)))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn outgoing<'a>(to: &'a [String], subject: &'a str, body: &'a str) -> Outgoing<'a> {
        Outgoing { to, subject, body, message_id: "<k1@example.org>" }
    }

    /// What lettre writes after DATA (before its own dot-stuffing).
    fn wire(message: &lettre::Message) -> String {
        String::from_utf8(message.formatted()).unwrap()
    }

    #[test]
    fn a_bare_cr_or_lf_in_the_body_leaves_as_crlf_so_no_data_end_can_be_smuggled() {
        let to = ["alice@example.org".to_owned()];
        let attack =
            "x\r.\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@evil.example>\r\nDATA\r\nsmuggled\n.\rQUIT\r";
        let text = wire(&build("alice@example.org", &outgoing(&to, "Note", attack)).unwrap());
        assert_eq!(mime::crlf_lines(&text), text, "a bare CR or LF is on the wire: {text:?}");
        let body = text.split_once("\r\n\r\n").unwrap().1;
        assert!(
            body.starts_with("x\r\n.\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@evil.example>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n"),
            "{body:?}"
        );
        // Non-ASCII goes quoted-printable or base64: still CRLF only.
        let text = wire(&build("alice@example.org", &outgoing(&to, "Grüße", "Grüße\r.\rAlice 😀\n")).unwrap());
        assert_eq!(mime::crlf_lines(&text), text, "{text:?}");
    }

    #[test]
    fn a_line_end_in_a_header_field_is_refused_not_sent() {
        let to = ["alice@example.org".to_owned()];
        for (subject, to) in [
            ("Hi\r\nBcc: bob@evil.example", &to[..]),
            ("Hi\rBcc: bob@evil.example", &to[..]),
            ("Hi\nBcc: bob@evil.example", &to[..]),
            ("Hi", &["alice@example.org\r\nBcc: bob@evil.example".to_owned()][..]),
        ] {
            match build("alice@example.org", &outgoing(to, subject, "body")) {
                Err(SendFailure::Refused(e)) => assert!(e.contains("U+000"), "{e}"),
                other => panic!("{subject:?} {to:?}: {other:?}"),
            }
        }
    }
}
