//! The container's streams inside the shim: pumping its output into the log and to attached
//! clients, and feeding their input to its stdin.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::logfile::{Lines, LogWriter};
use crate::protocol::{frame, Stream};

/// How many chunks (of at most `CHUNK` bytes) a client may lag behind before it is dropped.
const QUEUE: usize = 128;
/// The most read from the container in one go.
const CHUNK: usize = 32 * 1024;
/// How long a write to a client may block before the client is given up.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// One attached client's output queue.
struct Subscriber {
    stdout: bool,
    stderr: bool,
    queue: SyncSender<Arc<Vec<u8>>>,
    /// The connection, to cut it off when the client is dropped.
    conn: Option<UnixStream>,
}

#[derive(Default)]
struct Clients {
    closed: bool,
    list: Vec<Subscriber>,
    writers: Vec<JoinHandle<()>>,
}

/// The attached clients that receive output.
pub(crate) struct Subscribers {
    tty: bool,
    clients: Mutex<Clients>,
}

impl Subscribers {
    pub(crate) fn new(tty: bool) -> Subscribers {
        Subscribers {
            tty,
            clients: Mutex::new(Clients::default()),
        }
    }

    /// Adds a client, which gets `greeting` before any output; once the output is over it
    /// gets end-of-file right after the greeting.
    pub(crate) fn add(&self, mut conn: UnixStream, stdout: bool, stderr: bool, greeting: Vec<u8>) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.closed {
            let _ = conn.write_all(&greeting);
            let _ = conn.shutdown(std::net::Shutdown::Write);
            return;
        }
        let (queue, chunks) = sync_channel::<Arc<Vec<u8>>>(QUEUE);
        // The queue is empty: the greeting fits.
        let _ = queue.try_send(Arc::new(greeting));
        let _ = conn.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT));
        let cut_off = conn.try_clone().ok();
        let writer = std::thread::spawn(move || {
            let mut conn = conn;
            for chunk in chunks {
                if conn.write_all(&chunk).is_err() {
                    break;
                }
            }
            let _ = conn.shutdown(std::net::Shutdown::Write);
        });
        clients.writers.retain(|w| !w.is_finished());
        clients.writers.push(writer);
        clients.list.push(Subscriber {
            stdout,
            stderr,
            queue,
            conn: cut_off,
        });
    }

    /// Queues output for every client that asked for its stream; a client whose queue is full
    /// (or that went away) is dropped, so that nobody can stall the container.
    fn publish(&self, stream: Stream, data: &[u8]) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.list.is_empty() {
            return;
        }
        let chunk = Arc::new(if self.tty {
            data.to_vec()
        } else {
            frame(stream, data)
        });
        clients.list.retain(|s| {
            let wanted = match stream {
                Stream::Stdout => s.stdout,
                Stream::Stderr => s.stderr,
            };
            if !wanted || s.queue.try_send(chunk.clone()).is_ok() {
                return true;
            }
            // Its writer may be stuck in a write: end the connection so that it stops.
            if let Some(conn) = &s.conn {
                let _ = conn.shutdown(std::net::Shutdown::Both);
            }
            false
        });
    }

    /// Ends every client's stream after what is queued, and waits (until `deadline`) for them
    /// to receive it.
    pub(crate) fn close(&self, deadline: Instant) {
        let writers = {
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            clients.closed = true;
            clients.list.clear();
            std::mem::take(&mut clients.writers)
        };
        for writer in writers {
            while !writer.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if writer.is_finished() {
                let _ = writer.join();
            }
        }
    }
}

/// Copies one output stream of the container into the log and to the clients until it ends.
pub(crate) fn spawn_pump(
    mut source: File,
    stream: Stream,
    log: Arc<Mutex<LogWriter>>,
    subscribers: Arc<Subscribers>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut lines = Lines::default();
        let mut buf = vec![0u8; CHUNK];
        let mut to_log = |text: &[u8], _partial: bool| {
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = log.write(stream, SystemTime::now(), text) {
                eprintln!("berth-shim: {e}");
            }
        };
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // A pty master reads EIO once the last slave is closed: the end of output.
                Err(_) => break,
            };
            subscribers.publish(stream, &buf[..n]);
            lines.push(&buf[..n], &mut to_log);
        }
        lines.finish(&mut to_log);
    })
}

/// The container's stdin as attached clients write to it.
pub(crate) struct StdinSink {
    tty: bool,
    writer: Mutex<Option<File>>,
}

impl StdinSink {
    /// `writer` is the pipe to the container's stdin, or the pty master; `None` without --stdin.
    pub(crate) fn new(writer: Option<File>, tty: bool) -> StdinSink {
        StdinSink {
            tty,
            writer: Mutex::new(writer),
        }
    }

    /// Copies a client's input to the container until the client closes it; then, with
    /// `once`, closes the container's stdin.
    pub(crate) fn feed_from(self: &Arc<Self>, mut conn: UnixStream, once: bool) {
        if self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
        {
            return;
        }
        let sink = self.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut writer = sink.writer.lock().unwrap_or_else(|e| e.into_inner());
                match writer.as_mut().map(|w| w.write_all(&buf[..n])) {
                    Some(Ok(())) => {}
                    _ => return,
                }
            }
            if once {
                sink.close();
            }
        });
    }

    /// Ends the container's input: closes the pipe, or sends end-of-file (^D) on a terminal.
    fn close(&self) {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if self.tty {
            if let Some(w) = writer.as_mut() {
                let _ = w.write_all(&[4]);
            }
        }
        *writer = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_client_gets_its_greeting_then_all_output_published_once_it_is_added() {
        let subscribers = Subscribers::new(true);
        let (ours, theirs) = UnixStream::pair().unwrap();
        subscribers.add(ours, true, true, b"{\"ok\":true}\n".to_vec());
        // Output made right after the client was added (a start it asked for) reaches it.
        subscribers.publish(Stream::Stdout, b"hello\r\n");
        subscribers.close(Instant::now() + Duration::from_secs(5));
        let mut received = String::new();
        (&theirs).read_to_string(&mut received).unwrap();
        assert_eq!(received, "{\"ok\":true}\nhello\r\n");
    }
}
