//! The gate's executor for `remote.llm`: sends exactly the approved messages, the private way,
//! and hands the answer's pieces to the request waiting for them.

use std::sync::Arc;

use serde_json::{Value, json};
use sov_core::config::Config;
use sov_core::paths::Paths;
use sov_gate::{ActionRecord, ExecError, Executor};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::Error;
use crate::params::RemoteLlmParams;
use crate::send::{Payers, send_private, take_events};
use crate::streams::Streams;

/// Runs approved `remote.llm` actions. The outcome it records is `{text, finish_reason,
/// usage}` with the whole (sanitised) text.
pub struct RemoteLlmExecutor {
    config: Arc<Config>,
    paths: Paths,
    runtime: tokio::runtime::Handle,
    /// Verified attestation bundles, kept until their collateral or epoch expires.
    attestations: Arc<sov_attest::Cache>,
    payers: Payers,
    streams: Streams,
    net: Arc<sov_net::Net>,
}

impl RemoteLlmExecutor {
    /// An executor for `config`'s remotes, paying from the wallet under `paths`, doing its I/O
    /// on `runtime`, streaming answers to the requests registered in `streams`, every
    /// connection by the outbound policy `net`.
    pub fn new(
        config: Arc<Config>,
        paths: Paths,
        runtime: tokio::runtime::Handle,
        streams: Streams,
        net: Arc<sov_net::Net>,
    ) -> Self {
        RemoteLlmExecutor {
            config,
            paths,
            runtime,
            attestations: Arc::new(sov_attest::Cache::new()),
            payers: Payers::new(),
            streams,
            net,
        }
    }

    fn run(&self, action: &ActionRecord) -> Result<Value, Error> {
        let params = RemoteLlmParams::from_params(&action.request.params)?;
        let name = &params.remote;
        let remote = self
            .config
            .remote
            .get(name)
            .ok_or_else(|| Error::Config(format!("no [remote.{name}] in the config any more")))?;
        if params.url != remote.url {
            return Err(Error::Config(format!(
                "remote.{name}.url is now {}, not the {} that was approved; ask again",
                remote.url, params.url
            )));
        }
        let (transport, _) = self.config.remote_route(remote);
        if params.transport != transport {
            return Err(Error::Config(format!(
                "remote.{name} now travels by {transport}, not the {} that was approved; ask again",
                params.transport
            )));
        }
        let body = params.body(&remote.model);
        // Taken now, so that the pieces go to the waiting request as they come; dropped at the
        // end, which tells it that the text is complete.
        let pieces = self.streams.take(&action.id);
        self.runtime.block_on(async {
            let response = send_private(
                name,
                remote,
                &body,
                self.attestations.clone(),
                &self.payers,
                &self.config,
                &self.paths,
                &self.net,
            )
            .await?;
            read_answer(name, response, pieces).await
        })
    }
}

impl Executor for RemoteLlmExecutor {
    fn execute(&self, action: &ActionRecord, _key: &str) -> Result<Value, ExecError> {
        self.run(action).map_err(|e| ExecError::Failed(e.to_string()))
    }

    /// Each attempt pays a ticket and asks again: an interrupted call is not repeated.
    fn idempotent(&self) -> bool {
        false
    }
}

/// The remote's answer, whole or streamed, as `{text, finish_reason, usage}`; each piece of
/// text also goes to `pieces` as it arrives.
async fn read_answer(
    name: &str,
    response: sov_remote::RemoteResponse,
    pieces: Option<UnboundedSender<String>>,
) -> Result<Value, Error> {
    let status = response.status;
    let failed = |message: String| Error::Provider { name: name.to_owned(), status: status.as_u16(), message };
    let malformed = |problem: String| Error::Answer { name: name.to_owned(), problem };
    let give = |text: &str| {
        if let Some(pieces) = &pieces
            && !text.is_empty()
        {
            // The request may have gone away; the outcome keeps the whole text anyway.
            let _ = pieces.send(text.to_owned());
        }
    };
    let (text, finish, usage) = match response.body {
        sov_remote::RemoteBody::Whole(bytes) => {
            if !status.is_success() {
                return Err(failed(String::from_utf8_lossy(&bytes).chars().take(500).collect()));
            }
            let answer: Value = serde_json::from_slice(&bytes).map_err(|e| malformed(format!("not JSON: {e}")))?;
            let choice = &answer["choices"][0];
            let text = choice["message"]["content"].as_str().unwrap_or_default().to_owned();
            give(&text);
            (text, choice["finish_reason"].as_str().unwrap_or("stop").to_owned(), answer["usage"].clone())
        }
        sov_remote::RemoteBody::Stream(mut stream) => {
            let (mut pending, mut text, mut finish, mut usage) = (Vec::new(), String::new(), None, Value::Null);
            while let Some(chunk) = stream.next_chunk().await? {
                pending.extend_from_slice(&chunk);
                for event in take_events(&mut pending) {
                    if let Some(error) = event.get("error") {
                        return Err(malformed(format!("it failed while answering: {error}")));
                    }
                    let choice = &event["choices"][0];
                    let piece = choice["delta"]["content"].as_str().unwrap_or_default();
                    give(piece);
                    text.push_str(piece);
                    if let Some(reason) = choice["finish_reason"].as_str() {
                        finish = Some(reason.to_owned());
                    }
                    if event["usage"].is_object() {
                        usage = event["usage"].clone();
                    }
                }
            }
            if !status.is_success() {
                return Err(failed(String::from_utf8_lossy(&pending).chars().take(500).collect()));
            }
            (text, finish.unwrap_or_else(|| "stop".into()), usage)
        }
    };
    Ok(json!({ "text": text, "finish_reason": finish, "usage": usage }))
}
