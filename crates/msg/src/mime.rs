//! One raw RFC 5322 message into a [`NewMessage`]: text/plain preferred, HTML converted to text,
//! encoded words and charsets decoded, attachments listed (name, type, size) and never inlined.
//! And the other way, [`crlf_lines`]: the line ends of text that goes out in a message.
//!
//! # Line ends on the wire
//! SMTP ends a line with CRLF and the data with `CRLF . CRLF`. A server that also ends a line at
//! a bare CR or a bare LF can be made to see the data end early: a body `x\r.\r\nMAIL FROM:…`
//! would carry a second, smuggled message with its own envelope (SMTP smuggling). lettre turns a
//! bare LF into CRLF and doubles a dot after CRLF, but leaves a bare CR alone (and doubles no dot
//! after it). So every outgoing body goes through [`crlf_lines`] first: afterwards the only line
//! end left is CRLF, and lettre's dot-stuffing sees every line start. Header fields never get
//! there with a line end at all: [`crate::address::check_header_field`] refuses CR and LF.

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};
use serde_json::{Value, json};

use crate::Backend;
use crate::store::NewMessage;

/// Longest body kept, in bytes; the rest is cut (and `metadata.truncated` says so).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Where a raw message came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The account's address.
    pub account: &'a str,
    /// The folder.
    pub folder: &'a str,
    /// The folder's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The message's UID.
    pub uid: u32,
    /// The server's INTERNALDATE, ms, used when the message has no usable Date header.
    pub internal_date_ms: Option<i64>,
}

/// Decodes `raw`. A message the parser cannot make sense of is still stored, with an empty body
/// and `metadata.unparsable`, so a poll never stalls on it.
pub fn decode(raw: &[u8], origin: Origin<'_>) -> NewMessage {
    let uid = format!("{}/{}/{}", origin.folder, origin.uidvalidity, origin.uid);
    let Some(message) = MessageParser::default().parse(raw) else {
        return NewMessage {
            backend: Backend::Email,
            account: origin.account.to_owned(),
            thread_id: uid.clone(),
            uid,
            sender: String::new(),
            sender_name: String::new(),
            recipient: String::new(),
            subject: String::new(),
            body: String::new(),
            timestamp_ms: origin.internal_date_ms.unwrap_or_else(sov_core::now_ms),
            metadata: json!({"folder": origin.folder, "unparsable": true, "size": raw.len()}),
        };
    };
    let from = message.from().and_then(Address::first);
    let sender = from.and_then(|a| a.address()).map(|a| a.trim().to_ascii_lowercase()).unwrap_or_default();
    // The name is shown for this sender, and for them as a recipient of a reply: without
    // invisible formatting characters, so it reads on screen as it is.
    let sender_name =
        from.and_then(|a| a.name()).map(|n| crate::address::shown_name(&clean_line(n))).unwrap_or_default();
    let message_id = message.message_id().map(|id| format!("<{id}>"));
    let references = id_list(message.references());
    let in_reply_to = id_list(message.in_reply_to());
    let thread_id = references
        .first()
        .or(in_reply_to.first())
        .cloned()
        .or_else(|| message_id.clone())
        .unwrap_or_else(|| uid.clone());
    let mut body = message.body_text(0).map(|b| clean_body(&b)).unwrap_or_default();
    let truncated = body.len() > MAX_BODY_BYTES;
    if truncated {
        let mut cut = MAX_BODY_BYTES;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
    }
    let attachments: Vec<Value> = message
        .attachments()
        .map(|part| {
            let content_type = part.content_type().map_or_else(
                || "application/octet-stream".to_owned(),
                |ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream")).to_ascii_lowercase(),
            );
            json!({
                "filename": part.attachment_name().map(clean_line),
                "content_type": content_type,
                "size": part.contents().len(),
            })
        })
        .collect();
    let timestamp_ms = message
        .date()
        .map(|d| d.to_timestamp().saturating_mul(1000))
        .filter(|ms| *ms > 0)
        .or(origin.internal_date_ms)
        .unwrap_or_else(sov_core::now_ms);
    NewMessage {
        backend: Backend::Email,
        account: origin.account.to_owned(),
        uid,
        sender,
        sender_name,
        recipient: addresses(message.to()),
        subject: message.subject().map(clean_line).unwrap_or_default(),
        body,
        thread_id,
        timestamp_ms,
        metadata: json!({
            "folder": origin.folder,
            "message_id": message_id,
            "in_reply_to": in_reply_to,
            "references": references,
            "cc": addresses(message.cc()),
            "reply_to": addresses(message.reply_to()),
            "html": message.html_body_count() > 0,
            "attachments": attachments,
            "truncated": truncated,
            "size": raw.len(),
        }),
    }
}

fn addresses(address: Option<&Address<'_>>) -> String {
    address
        .map(|a| {
            a.iter().filter_map(|a| a.address()).map(|a| a.trim().to_ascii_lowercase()).collect::<Vec<_>>().join(", ")
        })
        .unwrap_or_default()
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![format!("<{id}>")],
        HeaderValue::TextList(ids) => ids.iter().map(|id| format!("<{id}>")).collect(),
        _ => Vec::new(),
    }
}

/// A header value on one line, without control characters.
fn clean_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

/// A body without control characters other than newline and tab, and with CRLF as LF.
fn clean_body(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `text` with every line end, whether CRLF, a bare CR or a bare LF, written as CRLF: one line
/// break stays one line break, and no CR or LF is left that is not part of a CRLF pair.
pub fn crlf_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// Every CR is followed by LF and every LF preceded by CR.
    fn only_crlf(text: &[u8]) -> bool {
        text.iter().enumerate().all(|(i, b)| match b {
            b'\r' => text.get(i + 1) == Some(&b'\n'),
            b'\n' => i > 0 && text[i - 1] == b'\r',
            _ => true,
        })
    }

    #[test]
    fn every_line_end_becomes_crlf_and_one_break_stays_one() {
        for (text, want) in [
            ("", ""),
            ("no line end", "no line end"),
            ("a\r\nb", "a\r\nb"),
            ("a\nb", "a\r\nb"),
            ("a\rb", "a\r\nb"),
            ("a\n\rb", "a\r\n\r\nb"),
            ("a\r\r\nb", "a\r\n\r\nb"),
            ("\r", "\r\n"),
            ("\n\n", "\r\n\r\n"),
            (
                "x\r.\r\nMAIL FROM:<a@b.example>\rRCPT TO:<c@d.example>\n",
                "x\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n",
            ),
            ("Grüße\r😀", "Grüße\r\n😀"),
        ] {
            assert_eq!(crlf_lines(text), want, "{text:?}");
            assert!(only_crlf(crlf_lines(text).as_bytes()), "{text:?}");
            assert_eq!(crlf_lines(&crlf_lines(text)), crlf_lines(text), "idempotent for {text:?}");
        }
    }

    const ORIGIN: Origin<'static> =
        Origin { account: "alice@example.org", folder: "INBOX", uidvalidity: 7, uid: 3, internal_date_ms: Some(5) };

    #[test]
    fn plain_text_with_an_encoded_subject_and_a_reply_chain() {
        let raw = b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <Juergen@Example.ORG>\r\n\
To: Alice <alice@example.org>, bob@example.org\r\n\
Subject: =?iso-8859-1?q?Gr=FC=DFe_aus_K=F6ln?=\r\n\
Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n\
Message-ID: <m3@example.org>\r\n\
In-Reply-To: <m2@example.org>\r\n\
References: <m1@example.org> <m2@example.org>\r\n\
\r\n\
Hallo Alice,\r\nbis bald.\r\n";
        let m = decode(raw, ORIGIN);
        assert_eq!(m.uid, "INBOX/7/3");
        assert_eq!(m.sender, "juergen@example.org");
        assert_eq!(m.sender_name, "Jürgen Müller");
        assert_eq!(m.recipient, "alice@example.org, bob@example.org");
        assert_eq!(m.subject, "Grüße aus Köln");
        assert_eq!(m.body, "Hallo Alice,\nbis bald.");
        assert_eq!(m.thread_id, "<m1@example.org>");
        assert_eq!(m.timestamp_ms, 1_795_255_200_000);
        assert_eq!(m.metadata["message_id"], "<m3@example.org>");
        assert_eq!(m.metadata["references"], json!(["<m1@example.org>", "<m2@example.org>"]));
    }

    #[test]
    fn html_only_becomes_text_and_attachments_are_listed_not_inlined() {
        let raw = b"From: shop@example.net\r\nTo: alice@example.org\r\nSubject: Receipt\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/html; charset=windows-1252\r\n\r\n<html><body><p>Total: 12 \x80</p><div style=\"display:none\">secret instruction</div></body></html>\r\n\
--b1\r\nContent-Type: application/pdf; name=\"receipt.pdf\"\r\nContent-Disposition: attachment; filename=\"receipt.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n\
--b1--\r\n";
        let m = decode(raw, ORIGIN);
        assert!(m.body.contains("Total: 12 €"), "{}", m.body);
        assert!(!m.body.contains('<'), "{}", m.body);
        assert!(!m.body.contains("JVBER"), "the attachment was inlined: {}", m.body);
        assert_eq!(
            m.metadata["attachments"],
            json!([{"filename": "receipt.pdf", "content_type": "application/pdf", "size": 9}])
        );
        assert_eq!(m.metadata["html"], true);
        assert_eq!(m.thread_id, "INBOX/7/3");
        assert_eq!(m.timestamp_ms, 5);
    }

    #[test]
    fn alternative_prefers_the_text_part_and_header_tricks_stay_inert() {
        let raw = b"From: \"alice@example.org\" <evil@attacker.test>\r\nTo: alice@example.org\r\n\
Subject: =?utf-8?b?SGkNCkJjYzogZXZpbEBhdHRhY2tlci50ZXN0?=\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n\
--x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain version\r\n\
--x\r\nContent-Type: text/html\r\n\r\n<b>html version</b>\r\n--x--\r\n";
        let m = decode(raw, ORIGIN);
        assert_eq!(m.body, "plain version");
        assert_eq!(m.sender, "evil@attacker.test", "the display name must not pass for the address");
        assert_eq!(m.sender_name, "alice@example.org");
        assert!(!m.subject.contains('\n') && !m.subject.contains('\r'), "{:?}", m.subject);
    }

    #[test]
    fn a_display_name_keeps_no_invisible_formatting_characters() {
        // "Bob \u{202E}gro.elpmaxe@\u{200B}" as an encoded word.
        let raw = b"From: =?utf-8?b?Qm9iIOKArmdyby5lbHBtYXhlQOKAiw==?= <bob@example.org>\r\nTo: alice@example.org\r\n\r\nhi\r\n";
        let m = decode(raw, ORIGIN);
        assert_eq!(m.sender_name, "Bob gro.elpmaxe@");
    }

    #[test]
    fn garbage_is_stored_not_fatal() {
        let m = decode(b"", ORIGIN);
        assert_eq!(m.uid, "INBOX/7/3");
    }
}
