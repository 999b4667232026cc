//! Blocking work (files, sockets, cgroups, child programs) run off the async threads.

use crate::error::{Error, Result};

/// Runs `work` on tokio's blocking pool; `operation` names it if the task is lost.
pub(crate) async fn blocking<T: Send + 'static>(
    operation: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Task {
            operation: operation.to_string(),
            reason: e.to_string(),
        })
}
