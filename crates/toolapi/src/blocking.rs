//! Blocking work (SQLite, fsync, the gate's waits) off the async threads.

use crate::error::ApiError;

/// Runs `work` on Tokio's blocking pool and answers what it answered; a task that panicked or
/// was cancelled is a 500 (the detail is logged when answered).
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| Err(ApiError::internal(format!("internal error: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[tokio::test]
    async fn an_answer_comes_back_and_a_panic_is_a_500() {
        assert_eq!(blocking(|| Ok(7)).await, Ok(7));
        #[allow(clippy::panic)]
        let died = blocking::<()>(|| panic!("a bug")).await;
        assert_eq!(died.map_err(|e| e.status()), Err(StatusCode::INTERNAL_SERVER_ERROR));
    }
}
