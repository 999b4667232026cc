//! The shim library's error type: each variant names the socket, file or container involved.

use std::io;
use std::path::PathBuf;

/// What can go wrong spawning a shim, talking to it, or reading what it wrote.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Connecting to or talking over a shim's socket failed.
    #[error("shim socket {socket}: {source}")]
    Socket {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The shim answered a request with an error.
    #[error("shim socket {socket}: {message}")]
    Refused { socket: PathBuf, message: String },
    /// The shim's answer was not what the protocol promises.
    #[error("shim socket {socket}: unexpected reply {reply:?}")]
    BadReply { socket: PathBuf, reply: String },
    /// The shim could not be started or could not create the container.
    #[error("shim {shim} for container {id}: {message}")]
    Spawn {
        shim: PathBuf,
        id: String,
        message: String,
    },
    /// An exit file holds something other than an exit record.
    #[error("exit file {path}: {reason}")]
    ExitFile { path: PathBuf, reason: String },
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the action and path to an I/O error.
pub(crate) trait IoContext<T> {
    /// Wraps the error as `Error::Io { action, path }`.
    fn at(self, action: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}
