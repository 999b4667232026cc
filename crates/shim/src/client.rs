//! Talking to a running shim over its socket (one connection per request).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::protocol::{Request, State};

/// A handle on one container's shim, by its socket path.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client for the shim listening on `socket` (nothing is connected yet).
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_path_buf(),
        }
    }

    /// Starts the created container.
    pub fn start(&self) -> Result<()> {
        self.call_ok(&Request::Start).map(drop)
    }

    /// Attaches to the container's streams: returns the connection, which then carries output
    /// (Docker's multiplexed framing, or raw bytes for a tty) and takes input when `stdin`.
    pub fn attach(&self, stdin: bool, stdout: bool, stderr: bool) -> Result<UnixStream> {
        self.call_ok(&Request::Attach {
            stdin,
            stdout,
            stderr,
        })
    }

    /// Blocks until the container exited and returns how.
    pub fn wait(&self) -> Result<ExitStatus> {
        self.call(&Request::Wait)
    }

    /// Sends `signal` to the container's init, or with `all` to every process in its cgroup.
    pub fn kill(&self, signal: i32, all: bool) -> Result<()> {
        self.call_ok(&Request::Kill { signal, all }).map(drop)
    }

    /// Sets the size of the container's terminal.
    pub fn resize(&self, height: u16, width: u16) -> Result<()> {
        self.call_ok(&Request::Resize { height, width }).map(drop)
    }

    /// The container's pid and status.
    pub fn state(&self) -> Result<State> {
        self.call(&Request::State)
    }

    fn socket_error(&self, source: std::io::Error) -> Error {
        Error::Socket {
            socket: self.socket.clone(),
            source,
        }
    }

    /// Sends `request` and returns the connection with the reply line read.
    fn exchange(&self, request: &Request) -> Result<(UnixStream, String)> {
        let mut stream = UnixStream::connect(&self.socket).map_err(|e| self.socket_error(e))?;
        let mut line = serde_json::to_vec(request).unwrap_or_default();
        line.push(b'\n');
        stream.write_all(&line).map_err(|e| self.socket_error(e))?;
        // Byte by byte: whatever follows the reply line (an attach stream) stays unread.
        let mut reply = Vec::new();
        let mut byte = [0u8];
        loop {
            match stream.read(&mut byte) {
                Ok(0) => break,
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) => reply.push(byte[0]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.socket_error(e)),
            }
        }
        let reply = String::from_utf8_lossy(&reply).into_owned();
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&reply) {
            if let Some(message) = map.get("error").and_then(|m| m.as_str()) {
                return Err(Error::Refused {
                    socket: self.socket.clone(),
                    message: message.to_string(),
                });
            }
        }
        Ok((stream, reply))
    }

    fn call<T: DeserializeOwned>(&self, request: &Request) -> Result<T> {
        let (_, reply) = self.exchange(request)?;
        serde_json::from_str(&reply).map_err(|_| Error::BadReply {
            socket: self.socket.clone(),
            reply,
        })
    }

    fn call_ok(&self, request: &Request) -> Result<UnixStream> {
        let (stream, reply) = self.exchange(request)?;
        if reply != crate::protocol::OK {
            return Err(Error::BadReply {
                socket: self.socket.clone(),
                reply,
            });
        }
        Ok(stream)
    }
}
