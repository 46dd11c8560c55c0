//! An SMTP server that ends a line at a bare CR, a bare LF or CRLF alike, as servers vulnerable
//! to SMTP smuggling do, and records every envelope it is given.
//!
//! Why a scripted server: no SMTP server Debian ships splits lines on a bare CR by default (that
//! is exactly the vulnerability), so the real OpenSMTPD of `mail.rs` cannot show whether a
//! smuggled second message would get through. This one can: it believes every line end, so a
//! `CR . CR LF` inside a body ends the data for it, and whatever follows is read as commands.
//!
//! It speaks just enough for lettre: EHLO (advertising AUTH PLAIN), AUTH PLAIN (any
//! credentials), MAIL, RCPT, DATA, RSET, NOOP, QUIT, on plain TCP on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One envelope as the server understood it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The MAIL FROM path, without brackets.
    pub from: String,
    /// The RCPT TO paths, without brackets.
    pub to: Vec<String>,
    /// The data's lines (dot-unstuffed), joined with `\n`; `None` until the data ended.
    pub data: Option<String>,
}

/// The server; it stops taking connections when dropped.
pub struct BareCrSmtp {
    pub port: u16,
    envelopes: Arc<Mutex<Vec<Envelope>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl BareCrSmtp {
    pub fn start() -> BareCrSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let envelopes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let (envelopes, stop) = (envelopes.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let envelopes = envelopes.clone();
                            std::thread::spawn(move || session(stream, &envelopes));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            });
        }
        BareCrSmtp { port, envelopes, stop }
    }

    /// Every envelope seen so far, in order.
    pub fn envelopes(&self) -> Vec<Envelope> {
        self.envelopes.lock().unwrap().clone()
    }
}

impl Drop for BareCrSmtp {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Splits a byte stream into lines the vulnerable way: CR, LF and CRLF each end one line.
#[derive(Default)]
struct Lines {
    line: Vec<u8>,
    after_cr: bool,
}

impl Lines {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<String>) {
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    out.push(String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned());
                    self.after_cr = b == b'\r';
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(b);
                }
            }
        }
    }
}

fn path(arg: &str) -> String {
    let arg = arg.trim();
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg.find('>').unwrap_or(arg.len());
    arg[start..end.max(start)].to_owned()
}

fn reply(stream: &mut TcpStream, text: &str) -> bool {
    stream.write_all(text.as_bytes()).is_ok()
}

fn session(mut stream: TcpStream, envelopes: &Mutex<Vec<Envelope>>) {
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    if !reply(&mut stream, "220 localhost ESMTP bare-CR test server\r\n") {
        return;
    }
    let mut lines = Lines::default();
    let mut pending = Vec::new();
    let mut in_data = false;
    let mut data: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        lines.push(&buf[..n], &mut pending);
        for line in pending.drain(..) {
            if in_data {
                if line == "." {
                    in_data = false;
                    if let Some(last) = envelopes.lock().unwrap().last_mut() {
                        last.data = Some(std::mem::take(&mut data).join("\n"));
                    }
                    if !reply(&mut stream, "250 2.0.0 queued\r\n") {
                        return;
                    }
                } else {
                    data.push(line.strip_prefix('.').map_or(line.clone(), str::to_owned));
                }
                continue;
            }
            let upper = line.to_ascii_uppercase();
            let answer = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                "250-localhost\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("AUTH PLAIN ") {
                "235 2.7.0 accepted\r\n"
            } else if upper.starts_with("MAIL FROM:") {
                envelopes.lock().unwrap().push(Envelope { from: path(&line[10..]), ..Envelope::default() });
                "250 2.1.0 ok\r\n"
            } else if upper.starts_with("RCPT TO:") {
                if let Some(last) = envelopes.lock().unwrap().last_mut() {
                    last.to.push(path(&line[8..]));
                }
                "250 2.1.5 ok\r\n"
            } else if upper == "DATA" {
                in_data = true;
                "354 end with <CR><LF>.<CR><LF>\r\n"
            } else if upper == "QUIT" {
                reply(&mut stream, "221 2.0.0 bye\r\n");
                return;
            } else if upper == "RSET" || upper == "NOOP" || upper.is_empty() {
                "250 2.0.0 ok\r\n"
            } else {
                "500 5.5.2 what?\r\n"
            };
            if !reply(&mut stream, answer) {
                return;
            }
        }
    }
}
