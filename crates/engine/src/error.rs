//! The engine's error type: what failed, keeping the image or registry error it came from so
//! the API can map it to a status in one place.

/// What can go wrong in an engine service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image library failed (a missing image, a conflict, a broken blob, I/O).
    #[error(transparent)]
    Image(#[from] berth_image::Error),
    /// Talking to a registry failed.
    #[error(transparent)]
    Distribution(#[from] berth_distribution::Error),
    /// A request parameter is wrong (`what` names it).
    #[error("invalid {what}: {reason}")]
    InvalidParameter { what: String, reason: String },
    /// The blocking task doing the work did not finish (it panicked or was cancelled).
    #[error("image operation {operation} did not complete: {reason}")]
    Task { operation: String, reason: String },
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
