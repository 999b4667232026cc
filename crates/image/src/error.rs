//! The image crate's error type.

use std::path::PathBuf;

/// What can go wrong with images, blobs and layers; each variant names what it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid digest {0:?}: {1}")]
    InvalidDigest(String, &'static str),
    #[error("invalid reference {0:?}: {1}")]
    InvalidReference(String, &'static str),
    #[error("blob {0} not found")]
    BlobNotFound(String),
    #[error("blob {digest} does not match its content: got {actual} ({size} bytes)")]
    DigestMismatch {
        digest: String,
        actual: String,
        size: u64,
    },
    #[error("blob {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("layer entry {entry:?}: {reason}")]
    Layer { entry: PathBuf, reason: String },
    #[error("image {0} not found")]
    ImageNotFound(String),
    /// The operation would break Docker's rules for the image (names, containers using it).
    #[error("image {image}: {reason}")]
    Conflict { image: String, reason: String },
    #[error("invalid change {change:?}: {reason}")]
    InvalidChange { change: String, reason: String },
    #[error(transparent)]
    Path(#[from] berth_safepath::Error),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds what was being done to an I/O error.
pub trait Context<T> {
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
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
            source: errno.into(),
        })
    }
}
