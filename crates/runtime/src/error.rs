//! The runtime's error type: one enum, each variant naming the container, path or hook involved.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while creating or managing a container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container {0} already exists")]
    AlreadyExists(String),
    #[error("cannot load bundle config {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("invalid config: {0}")]
    InvalidSpec(String),
    #[error("container {id} is {status}: cannot {action}")]
    WrongState {
        id: String,
        status: &'static str,
        action: &'static str,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("container init: {0}")]
    Init(String),
    #[error("{kind} hook {path}: {reason}")]
    Hook {
        kind: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("cgroup {path}: {reason}")]
    Cgroup { path: PathBuf, reason: String },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Path(#[from] berth_safepath::Error),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a description of what was being done to low-level errors.
pub trait Context<T> {
    /// Wraps the error with `what`, computed only on failure.
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: what().into(),
            source,
        })
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|errno| Error::Io {
            context: what().into(),
            source: io::Error::from(errno),
        })
    }
}
