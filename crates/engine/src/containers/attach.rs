//! `POST /containers/{id}/attach`: a connection to the container's shim whose bytes (already in
//! Docker's framing, or raw for a tty) are relayed to the client's hijacked connection, and the
//! client's bytes to the container's stdin.
//!
//! An attach to a container that is not running waits for its next start; it is registered
//! before the API answers, so the docker CLI's `attach → start` sequence never loses output.

use std::os::unix::net::UnixStream;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use super::table::AttachStreams;
use super::ContainerService;
use crate::error::{Error, Result};

/// An attach made but not yet relayed.
pub enum Attachment {
    Live(UnixStream),
    Pending(oneshot::Receiver<Result<UnixStream>>),
}

impl ContainerService {
    /// Connects to the container's streams now, or registers for its next start.
    pub async fn attach_prepare(&self, key: &str, streams: AttachStreams) -> Result<Attachment> {
        let entry = self.find(key)?;
        if !entry.record().state.status.is_live() {
            let (tx, rx) = oneshot::channel();
            entry
                .pending_attach
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((streams, tx));
            return Ok(Attachment::Pending(rx));
        }
        let client = berth_shim::Client::new(&self.shim_socket(&entry.id));
        let stream = super::blocking("attach", move || {
            client.attach(streams.stdin, streams.stdout, streams.stderr)
        })
        .await?
        .map_err(|e| Error::Shim(e.to_string()))?;
        self.publish("attach", &entry.id);
        Ok(Attachment::Live(stream))
    }
}

impl Attachment {
    /// Relays between the client connection and the container until its output ends.
    pub async fn relay<S>(self, conn: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let stream = match self {
            Attachment::Live(stream) => stream,
            Attachment::Pending(rx) => match rx.await {
                Ok(Ok(stream)) => stream,
                _ => return,
            },
        };
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let Ok(shim) = tokio::net::UnixStream::from_std(stream) else {
            return;
        };
        let (mut shim_read, mut shim_write) = shim.into_split();
        let (mut client_read, mut client_write) = tokio::io::split(conn);
        let input = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut client_read, &mut shim_write).await;
            // The client closed its input: the shim closes the container's stdin (--stdin-once).
            let _ = shim_write.shutdown().await;
        });
        let _ = tokio::io::copy(&mut shim_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
        input.abort();
    }
}
