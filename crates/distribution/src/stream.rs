//! One layer from the registry into both the blob store and its snapshot at once: a download
//! thread writes the compressed bytes to the store (hashing them) and hands them on through a
//! bounded channel to the unpacker, which decompresses, hashes (the diff id) and writes files.

use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use berth_image::digest::Digest;
use berth_image::progress::{Observer, Status};
use berth_image::snapshot::Snapshotter;
use berth_image::store::BlobWriter;
use berth_image::BlobStore;

use crate::client::{Error, Registry, Result};
use crate::pull::event;

/// Chunks in flight between the download and the unpacker (64 KiB each).
const CHANNEL_CHUNKS: usize = 32;
const CHUNK: usize = 1 << 16;
/// Bytes between two "Downloading" progress events.
const REPORT_EVERY: u64 = 1 << 20;

/// A layer of the image being pulled.
pub(crate) struct LayerJob {
    pub blob: Digest,
    pub size: u64,
    pub diff_id: Digest,
    pub chain_id: Digest,
}

/// Downloads and unpacks `job` concurrently. The blob is stored only if it matches its digest,
/// the snapshot only if the blob did and the unpacked stream matches the diff id.
pub(crate) fn stream_layer(
    registry: &Registry,
    repository: &str,
    blobs: &BlobStore,
    snapshots: &Snapshotter,
    job: &LayerJob,
    observer: &dyn Observer,
) -> Result<()> {
    let pending = snapshots.prepare(&job.chain_id)?;
    let (tx, rx) = sync_channel(CHANNEL_CHUNKS);
    let (downloaded, unpacked) = std::thread::scope(|scope| {
        let download = scope.spawn(|| download(registry, repository, blobs, job, tx, observer));
        let unpacked = pending.unpack(ChannelReader::new(rx), &job.diff_id);
        let downloaded = download
            .join()
            .unwrap_or_else(|_| Err(invalid(&job.blob, "the download thread panicked")));
        (downloaded, unpacked)
    });
    // The download's own failure explains a truncated stream better than the unpacker can;
    // a blob that does not match its digest is named before whatever its content did.
    match downloaded? {
        Some(writer) => writer.commit()?,
        None => {
            unpacked?;
            return Err(invalid(
                &job.blob,
                "unpacking stopped before the download ended",
            ));
        }
    }
    unpacked?;
    pending.commit()?;
    Ok(())
}

fn invalid(blob: &Digest, reason: impl ToString) -> Error {
    Error::Invalid {
        what: format!("layer {blob}"),
        reason: reason.to_string(),
    }
}

/// Copies the blob into the store and on to the unpacker. `None` when the unpacker hung up
/// (it failed: its error is the one to report).
fn download(
    registry: &Registry,
    repository: &str,
    blobs: &BlobStore,
    job: &LayerJob,
    tx: SyncSender<Vec<u8>>,
    observer: &dyn Observer,
) -> Result<Option<BlobWriter>> {
    let mut reader = registry.blob_reader(repository, &job.blob, Some(job.size))?;
    let mut writer = blobs.writer(&job.blob, Some(job.size))?;
    let (mut done, mut reported) = (0u64, 0u64);
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let n = reader
            .read(&mut chunk)
            .map_err(|e| invalid(&job.blob, format!("download: {e}")))?;
        if n == 0 {
            break;
        }
        chunk.truncate(n);
        writer
            .write_all(&chunk)
            .map_err(|e| invalid(&job.blob, format!("store: {e}")))?;
        done += n as u64;
        if done - reported >= REPORT_EVERY {
            observer.event(event(&job.blob, Status::Downloading, done, Some(job.size)));
            reported = done;
        }
        if tx.send(chunk).is_err() {
            return Ok(None);
        }
    }
    observer.event(event(&job.blob, Status::Extracting, done, Some(job.size)));
    Ok(Some(writer))
}

/// Reads the chunks the download sends; the end of the channel is the end of the stream.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    fn new(rx: Receiver<Vec<u8>>) -> Self {
        ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
