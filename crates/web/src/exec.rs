//! The gate's executors of `web.search` and `web.fetch`. Both only read: running one twice
//! sends the request twice, which is why neither is idempotent (after a crash mid-request it
//! is not sent again).

use std::sync::Arc;

use serde_json::{Value, json};
use sov_gate::{ActionRecord, ExecError, Executor};

use crate::{Error, Web};

fn exec_error(e: Error) -> ExecError {
    match e.nothing_sent() {
        true => ExecError::NotDone(e.to_string()),
        false => ExecError::Failed(e.to_string()),
    }
}

/// `web.search` with `params.query`.
pub struct SearchExecutor {
    /// The service.
    pub web: Arc<Web>,
    /// The runtime requests run on.
    pub runtime: tokio::runtime::Handle,
}

impl Executor for SearchExecutor {
    fn execute(&self, action: &ActionRecord, _key: &str) -> Result<Value, ExecError> {
        let query = action.request.query().ok_or_else(|| ExecError::NotDone("params.query is missing".into()))?;
        // The query was sanitised (rules and model) before the action existed; it is sent as
        // approved. What was replaced came with it.
        let replaced = action
            .request
            .params
            .get("replaced")
            .and_then(|r| serde_json::from_value::<Vec<crate::search::Replaced>>(r.clone()).ok())
            .unwrap_or_default();
        let search = self.runtime.block_on(self.web.search_sanitised(query, replaced)).map_err(exec_error)?;
        Ok(json!({
            "frame": crate::frame::NOTICE,
            "text": search.framed(),
            "query": search.query,
            "replaced": search.replaced,
            "results": search.results,
            "engines": search.engines,
            "flags": search.flags,
        }))
    }

    fn idempotent(&self) -> bool {
        false
    }
}

/// `web.fetch` with `params.url`.
pub struct FetchExecutor {
    /// The service.
    pub web: Arc<Web>,
    /// The runtime requests run on.
    pub runtime: tokio::runtime::Handle,
}

impl Executor for FetchExecutor {
    fn execute(&self, action: &ActionRecord, _key: &str) -> Result<Value, ExecError> {
        let url = action.request.url().ok_or_else(|| ExecError::NotDone("params.url is missing".into()))?;
        let page = self.runtime.block_on(self.web.fetch(url)).map_err(exec_error)?;
        Ok(json!({
            "frame": crate::frame::NOTICE,
            "text": page.framed(),
            "url": page.url,
            "final_url": page.final_url,
            "redirects": page.redirects,
            "status": page.status,
            "content_type": page.content_type,
            "title": page.title,
            "links": page.links,
            "hidden_dropped": page.hidden_dropped,
            "truncated": page.truncated,
            "bytes": page.bytes,
            "flags": page.flags,
        }))
    }

    fn idempotent(&self) -> bool {
        false
    }
}
