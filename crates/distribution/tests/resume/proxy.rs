//! A small HTTP proxy in front of the real registry that misbehaves on purpose: it cuts a blob
//! download midway, hides `Range` from the registry, or redirects blob downloads to a separate
//! "blob storage" server (on another host name) that serves the registry's files directly.
//! Every connection carries one request (`Connection: close`), so each request can be seen.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What the proxy does to blob downloads (`GET /v2/…/blobs/sha256:…`).
#[derive(Clone)]
pub enum Mode {
    /// Closes the first full download of blob `digest` after `after` bytes (headers
    /// included); with `strip_range`, the registry never sees `Range` and answers resumed
    /// downloads with the whole blob.
    CutBlob {
        digest: String,
        after: usize,
        strip_range: bool,
    },
    /// Answers `307` to `http://localhost:<port>` of a blob storage server reading the
    /// registry's storage directory.
    Redirect { storage: PathBuf },
}

/// One request as the proxy (or the storage server) saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub line: String,
    pub range: Option<String>,
    pub authorization: bool,
}

/// A listening proxy; stops on drop.
pub struct Proxy {
    pub address: String,
    /// Requests for blob downloads, as received.
    pub blobs: Arc<Mutex<Vec<Seen>>>,
    /// Requests the storage server received (with [`Mode::Redirect`]).
    pub storage: Arc<Mutex<Vec<Seen>>>,
    stops: Vec<(Arc<AtomicBool>, String, Option<JoinHandle<()>>)>,
}

/// A request head: request line, headers (name lowercased), and any body.
struct Request {
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn read(stream: &TcpStream) -> Option<Request> {
        let mut reader = BufReader::new(stream.try_clone().ok()?);
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).ok()?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':')?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        Some(Request {
            line: line.trim_end().to_string(),
            headers,
            body,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.line.split(' ').nth(1).unwrap_or_default()
    }

    fn is_blob_get(&self) -> bool {
        self.line.starts_with("GET ") && self.path().contains("/blobs/sha256:")
    }

    fn seen(&self) -> Seen {
        Seen {
            line: self.line.clone(),
            range: self.header("range").map(str::to_string),
            authorization: self.header("authorization").is_some(),
        }
    }
}

/// Accepts connections until stopped, each handled on its own thread.
fn serve(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    handle: impl Fn(TcpStream) + Send + Sync + 'static,
) -> JoinHandle<()> {
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let handle = handle.clone();
            std::thread::spawn(move || handle(stream));
        }
    })
}

fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    (listener, address)
}

impl Proxy {
    /// A proxy to the registry at `upstream` behaving as `mode` says.
    pub fn start(upstream: &str, mode: Mode) -> Proxy {
        let blobs = Arc::new(Mutex::new(Vec::new()));
        let storage_seen = Arc::new(Mutex::new(Vec::new()));
        let mut stops = Vec::new();
        let mut redirect_to = None;
        if let Mode::Redirect { storage } = &mode {
            let (listener, address) = listen();
            let port = address.rsplit_once(':').unwrap().1.to_string();
            redirect_to = Some(format!("localhost:{port}"));
            let stop = Arc::new(AtomicBool::new(false));
            let (storage, seen) = (storage.clone(), storage_seen.clone());
            let thread = serve(listener, stop.clone(), move |stream| {
                serve_blob(stream, &storage, &seen)
            });
            stops.push((stop, address, Some(thread)));
        }
        let (listener, address) = listen();
        let stop = Arc::new(AtomicBool::new(false));
        let cut_done = Arc::new(AtomicBool::new(false));
        let (upstream, seen) = (upstream.to_string(), blobs.clone());
        let thread = serve(listener, stop.clone(), move |client| {
            let Some(request) = Request::read(&client) else {
                return;
            };
            let blob = request.is_blob_get();
            if blob {
                seen.lock().unwrap().push(request.seen());
            }
            if let (true, Some(to)) = (blob, &redirect_to) {
                let answer = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{to}{}\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n",
                    request.path()
                );
                let _ = (&client).write_all(answer.as_bytes());
                return;
            }
            let (mut limit, mut strip_range) = (usize::MAX, false);
            if let Mode::CutBlob {
                digest,
                after,
                strip_range: strip,
            } = &mode
            {
                strip_range = *strip;
                if blob
                    && request.path().ends_with(digest.as_str())
                    && request.header("range").is_none()
                    && !cut_done.swap(true, Ordering::SeqCst)
                {
                    limit = *after;
                }
            }
            forward(&client, &upstream, &request, strip_range, limit);
        });
        stops.push((stop, address.clone(), Some(thread)));
        Proxy {
            address,
            blobs,
            storage: storage_seen,
            stops,
        }
    }
}

/// Sends `request` to `upstream` with `Connection: close` and copies at most `limit` bytes of
/// the answer back; then closes the client's connection.
fn forward(client: &TcpStream, upstream: &str, request: &Request, strip_range: bool, limit: usize) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let mut head = format!("{}\r\n", request.line);
    for (name, value) in &request.headers {
        if name == "connection" || (strip_range && name == "range") {
            continue;
        }
        head += &format!("{name}: {value}\r\n");
    }
    head += "connection: close\r\n\r\n";
    if server.write_all(head.as_bytes()).is_err() || server.write_all(&request.body).is_err() {
        return;
    }
    let mut client = client;
    let mut left = limit;
    let mut buf = vec![0; 1 << 16];
    while left > 0 {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n.min(left),
        };
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
        left -= n;
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Serves `GET /v2/<repo>/blobs/sha256:<hex>` from the registry's storage directory.
fn serve_blob(stream: TcpStream, storage: &std::path::Path, seen: &Mutex<Vec<Seen>>) {
    let Some(request) = Request::read(&stream) else {
        return;
    };
    seen.lock().unwrap().push(request.seen());
    let hex = request.path().rsplit("sha256:").next().unwrap_or_default();
    let file = storage
        .join("docker/registry/v2/blobs/sha256")
        .join(hex.get(..2).unwrap_or("none"))
        .join(hex)
        .join("data");
    let mut stream = stream;
    match std::fs::read(&file) {
        Ok(data) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                data.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&data);
        }
        Err(_) => {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for (stop, address, thread) in &mut self.stops {
            stop.store(true, Ordering::SeqCst);
            // Wakes the accept loop so it sees the flag.
            let _ = TcpStream::connect(&*address);
            if let Some(thread) = thread.take() {
                let _ = thread.join();
            }
        }
    }
}
