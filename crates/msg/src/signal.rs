//! Signal through signal-cli's JSON-RPC daemon (`signal-cli -a NUMBER daemon --tcp ADDR
//! --receive-mode manual`): newline-delimited JSON-RPC 2.0 over TCP.
//!
//! Receiving polls manual mode's `receive` call, so messages wait on the Signal server until
//! Sovereign asks for them, and nothing is lost while Sovereign is down. (signal-cli acknowledges
//! a message to the server before it hands it over; a crash of signal-cli in between replays
//! it, which the store de-duplicates by sender and timestamp.)

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::accounts::SignalAccount;
use crate::address::Recipient;
use crate::email::SendFailure;
use crate::store::{MessageStore, NewMessage};
use crate::{Backend, MsgError};

/// Longest wait for signal-cli to answer one call.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(60);
/// Seconds `receive` waits for messages when none are queued.
const RECEIVE_WAIT_SECS: u64 = 1;
/// Longest line accepted from signal-cli.
const MAX_LINE: u64 = 16 * 1024 * 1024;

/// A JSON-RPC error or a broken connection.
#[derive(Debug)]
pub enum RpcError {
    /// The connection failed before an answer came; whether a call took effect is unknown.
    Connection(String),
    /// signal-cli answered with an error: the call did not take effect.
    Refused(String),
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::Connection(e) | RpcError::Refused(e) => f.write_str(e),
        }
    }
}

/// Calls `method` on the signal-cli daemon at `rpc`; answers the result. Notifications that
/// arrive meanwhile are skipped.
pub fn call(rpc: &str, method: &str, params: Value) -> Result<Value, RpcError> {
    let connection = |e: std::io::Error| RpcError::Connection(format!("signal-cli at {rpc}: {method}: {e}"));
    let address: std::net::SocketAddr =
        rpc.parse().map_err(|_| RpcError::Refused(format!("{rpc:?} is not an address and port")))?;
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(10)).map_err(connection)?;
    stream.set_read_timeout(Some(RPC_TIMEOUT)).map_err(connection)?;
    let id = sov_core::random_hex(8).map_err(|e| RpcError::Refused(e.to_string()))?;
    let mut request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
    request.push('\n');
    (&stream).write_all(request.as_bytes()).map_err(connection)?;
    let mut reader = BufReader::new(std::io::Read::take(&stream, MAX_LINE));
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(connection)? == 0 {
            return Err(RpcError::Connection(format!(
                "signal-cli at {rpc}: {method}: the connection closed before an answer"
            )));
        }
        let Ok(answer) = serde_json::from_str::<Value>(&line) else { continue };
        if answer.get("id").and_then(Value::as_str) != Some(id.as_str()) {
            continue;
        }
        if let Some(error) = answer.get("error") {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("unknown error");
            return Err(RpcError::Refused(format!("signal-cli: {method}: {message}")));
        }
        return Ok(answer.get("result").cloned().unwrap_or(Value::Null));
    }
}

/// Sends `body` from `account` to `recipients` (a note to self when the one recipient is the
/// account itself).
pub fn send(account: &SignalAccount, recipients: &[Recipient], body: &str) -> Result<Value, SendFailure> {
    let mut params = json!({"account": account.number, "message": body});
    match recipients {
        [Recipient::Phone(number)] if *number == account.number => params["noteToSelf"] = json!(true),
        [Recipient::SignalGroup(group)] => params["groupId"] = json!(group),
        _ => {
            let mut numbers = Vec::new();
            for r in recipients {
                match r {
                    Recipient::Phone(n) => numbers.push(n.clone()),
                    other => return Err(SendFailure::Refused(format!("{other}: a group must be the only recipient"))),
                }
            }
            params["recipient"] = json!(numbers);
        }
    }
    match call(&account.rpc, "send", params) {
        Ok(result) => Ok(json!({"timestamp": result.get("timestamp"), "results": result.get("results")})),
        Err(RpcError::Refused(e)) => Err(SendFailure::Refused(e)),
        Err(RpcError::Connection(e)) => Err(SendFailure::Unknown(e)),
    }
}

/// Fetches the messages signal-cli holds for `account` and stores them; returns how many were
/// new.
pub fn receive(account: &SignalAccount, store: &Mutex<MessageStore>) -> Result<usize, MsgError> {
    // A daemon started with `-a NUMBER` refuses an `account` parameter on `receive`; one serving
    // several accounts requires it.
    let result = match call(&account.rpc, "receive", json!({"timeout": RECEIVE_WAIT_SECS})) {
        Err(RpcError::Refused(e)) if e.contains("account") => {
            call(&account.rpc, "receive", json!({"account": account.number, "timeout": RECEIVE_WAIT_SECS}))
        }
        other => other,
    }
    .map_err(|e| MsgError::Server(e.to_string()))?;
    let envelopes: Vec<&Value> = match &result {
        Value::Array(list) => list.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    let messages: Vec<NewMessage> = envelopes.into_iter().filter_map(|e| decode(&account.number, e)).collect();
    if messages.is_empty() {
        return Ok(0);
    }
    crate::lock(store).insert(&messages, None)
}

/// One received envelope as a message: a data message from someone, or a sync message (the
/// user's own sends from another device, and notes to self). Receipts, typing and other
/// envelopes without text are skipped.
pub fn decode(account: &str, item: &Value) -> Option<NewMessage> {
    let envelope = item.get("envelope").unwrap_or(item);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let source = text(envelope.get("sourceNumber").or(envelope.get("source")));
    let (data, sender, recipient) = if let Some(data) = envelope.get("dataMessage") {
        (data, source.clone(), account.to_owned())
    } else {
        let sent = envelope.get("syncMessage")?.get("sentMessage")?;
        let to = text(sent.get("destinationNumber").or(sent.get("destination")));
        (sent, account.to_owned(), if to.is_empty() { account.to_owned() } else { to })
    };
    let body = text(data.get("message"));
    let attachments: Vec<Value> = data
        .get("attachments")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|a| json!({"filename": a.get("filename"), "content_type": a.get("contentType"), "size": a.get("size")}))
                .collect()
        })
        .unwrap_or_default();
    if body.is_empty() && attachments.is_empty() {
        return None;
    }
    let timestamp_ms =
        data.get("timestamp").or(envelope.get("timestamp")).and_then(Value::as_i64).unwrap_or_else(sov_core::now_ms);
    let group = data.get("groupInfo").and_then(|g| g.get("groupId")).and_then(Value::as_str);
    let thread_id = match group {
        Some(g) => format!("group:{g}"),
        None if sender == account => recipient.clone(),
        None => sender.clone(),
    };
    Some(NewMessage {
        backend: Backend::Signal,
        account: account.to_owned(),
        uid: format!("{sender}/{timestamp_ms}"),
        sender_name: crate::address::shown_name(&text(envelope.get("sourceName"))),
        sender,
        recipient,
        subject: String::new(),
        body: body.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect(),
        thread_id,
        timestamp_ms,
        metadata: json!({
            "group_id": group,
            "source_uuid": envelope.get("sourceUuid"),
            "attachments": attachments,
            "sync": envelope.get("syncMessage").is_some(),
        }),
    })
}
