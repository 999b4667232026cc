//! Request bodies the engine reads as they arrive (`cp` into a container, `import`, `load`,
//! the build context), and what happens to the rest of one the engine refused.
//!
//! A client still sending when the answer comes may hit a reset connection and report that
//! instead of the error (the docker CLI prints "write: broken pipe"). So once the engine
//! stops reading, the rest is read and dropped, up to [`DRAIN_LIMIT`], before the answer goes
//! out, as Go's server does.

use std::io::{self, Read};

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::io::{StreamReader, SyncIoBridge};

/// How much of a refused body is read and dropped before answering.
const DRAIN_LIMIT: usize = 256 << 10;

/// How long the rest of a refused body is waited for.
const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The task passing a request body on to its reader.
pub struct Upload {
    forwarding: JoinHandle<()>,
}

/// `body` as a blocking reader (for the engine's blocking side), and the [`Upload`] feeding
/// it.
pub fn reader(body: Body) -> (impl Read + Send + 'static, Upload) {
    let (tx, rx) = mpsc::channel(16);
    let forwarding = tokio::spawn(forward(body, tx));
    let chunks = Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    (
        SyncIoBridge::new(StreamReader::new(chunks)),
        Upload { forwarding },
    )
}

impl Upload {
    /// Waits until the client has sent the whole body, or [`DRAIN_LIMIT`] more of it after
    /// the reader was dropped, or [`DRAIN_WAIT`] passed (a client that stopped sending gets
    /// its answer all the same). Call it after the reader is gone and before answering with
    /// an error.
    pub async fn settle(self) {
        let _ = tokio::time::timeout(DRAIN_WAIT, self.forwarding).await;
    }
}

/// Passes the body on while the reader reads; once it is dropped, reads and drops up to
/// [`DRAIN_LIMIT`] more.
async fn forward(body: Body, tx: mpsc::Sender<io::Result<Bytes>>) {
    let mut data = body.into_data_stream();
    let mut drained = 0;
    while let Some(chunk) = data.next().await {
        if drained == 0 {
            match tx.send(chunk.map_err(io::Error::other)).await {
                Ok(()) => continue,
                Err(unsent) => drained += unsent.0.map(|c| c.len()).unwrap_or(0).max(1),
            }
        } else if let Ok(chunk) = chunk {
            drained += chunk.len();
        }
        if drained > DRAIN_LIMIT {
            break;
        }
    }
}
