//! Reading a stream ahead of its consumer on a thread of its own: while the consumer is busy
//! (unpacking a large file into the page cache), the daemon's data keeps arriving instead of
//! waiting in a full socket buffer, and the daemon keeps producing instead of waiting on us.

use std::io::{self, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::thread::JoinHandle;

/// Bytes asked of the source per read.
const CHUNK: usize = 1 << 20;
/// Chunks read before the consumer takes them: how far ahead the reader may get (32 MiB).
const AHEAD: usize = 32;

/// A reader fed by a thread that reads `source` ahead, up to [`AHEAD`] chunks of [`CHUNK`].
/// Chunks read out go back to the thread to be filled again: fresh memory for every chunk
/// costs a page fault per page.
pub struct ReadAhead {
    /// Chunks read, each with the length of its filled part.
    chunks: Receiver<io::Result<(Vec<u8>, usize)>>,
    used: Sender<Vec<u8>>,
    current: Vec<u8>,
    filled: usize,
    position: usize,
    done: bool,
    reader: Option<JoinHandle<()>>,
}

impl ReadAhead {
    /// Starts reading `source` on a new thread.
    pub fn new(mut source: impl Read + Send + 'static) -> io::Result<Self> {
        let (tx, chunks) = sync_channel(AHEAD);
        let (used, recycled) = channel::<Vec<u8>>();
        let reader = std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || loop {
                let mut chunk = recycled.try_recv().unwrap_or_else(|_| vec![0; CHUNK]);
                let read = match source.read(&mut chunk) {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                // The consumer gone (it failed): stop reading.
                if tx.send(Ok((chunk, read))).is_err() {
                    return;
                }
            })?;
        Ok(ReadAhead {
            chunks,
            used,
            current: Vec::new(),
            filled: 0,
            position: 0,
            done: false,
            reader: Some(reader),
        })
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.filled {
            if self.done {
                return Ok(0);
            }
            match self.chunks.recv() {
                Ok(chunk) => {
                    let (chunk, filled) = chunk?;
                    let done = std::mem::replace(&mut self.current, chunk);
                    if done.len() == CHUNK {
                        // The reader gone, the chunk is just dropped.
                        let _ = self.used.send(done);
                    }
                    (self.filled, self.position) = (filled, 0);
                }
                // The reader ended: the source is at its end.
                Err(_) => {
                    self.done = true;
                    if let Some(reader) = self.reader.take() {
                        let _ = reader.join();
                    }
                }
            }
        }
        let n = buf.len().min(self.filled - self.position);
        buf[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that hands out its bytes a few at a time and then fails.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        fail_at_end: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.data.len() {
                return match self.fail_at_end {
                    true => Err(io::Error::other("connection reset")),
                    false => Ok(0),
                };
            }
            let n = buf.len().min(7).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn everything_arrives_in_order_and_a_failure_is_passed_on() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let source = Trickle {
            data: data.clone(),
            at: 0,
            fail_at_end: false,
        };
        let mut read = Vec::new();
        ReadAhead::new(source)
            .unwrap()
            .read_to_end(&mut read)
            .unwrap();
        assert_eq!(read, data);

        let failing = Trickle {
            data: data.clone(),
            at: 0,
            fail_at_end: true,
        };
        let mut read = Vec::new();
        let err = ReadAhead::new(failing)
            .unwrap()
            .read_to_end(&mut read)
            .unwrap_err();
        assert_eq!(err.to_string(), "connection reset");
        assert_eq!(read, data, "what came before the failure is delivered");
    }
}
