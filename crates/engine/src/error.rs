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
    /// A request is wrong, in words that need no prefix (Docker's, for mounts).
    #[error("{0}")]
    BadRequest(String),
    /// `--runtime NAME` names no runtime the daemon knows (Docker's wording).
    #[error("unknown or invalid runtime name: {0}")]
    UnknownRuntime(String),
    /// No image has this name or id (the docker CLI pulls on this 404).
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// The container's shim failed or is gone.
    #[error("{0}")]
    Shim(String),
    /// The runtime failed (pause, update, stats, …).
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    /// An external runtime (runc, crun) refused or failed a request about a container.
    #[error("runtime {binary} {args}: {message}")]
    ExternalRuntime {
        binary: std::path::PathBuf,
        args: String,
        message: String,
    },
    /// The container's configuration cannot become a runtime spec.
    #[error(transparent)]
    Spec(#[from] crate::spec::Error),
    /// No container has this id, id prefix or name.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// No network has this name, id or id prefix.
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    /// `docker cp`: the path is not in the container (Docker's wording; `container` as the
    /// client named it).
    #[error("Could not find the file {path} in container {container}")]
    NoSuchPath { path: String, container: String },
    /// No volume has this name (Docker's wording).
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    /// The request is understood but not allowed (removing a predefined network, or one in use).
    #[error("{0}")]
    Forbidden(String),
    /// Setting up or taking down networking failed (netlink, nftables, namespaces).
    #[error("{0}")]
    Network(String),
    /// No exec instance has this id.
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// The request conflicts with the container's state or another container (a name in use,
    /// removing a running container, …).
    #[error("{0}")]
    Conflict(String),
    /// Nothing to do: the container already is in the asked state (HTTP 304).
    #[error("container {0} is already {1}")]
    NotModified(String, &'static str),
    /// The container could not be started or run; `code` is the exit code docker reports for it
    /// (126 cannot invoke, 127 not found, 125 otherwise).
    #[error("{message}")]
    Start { message: String, code: i32 },
    /// File system work on the daemon's own state failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The blocking task doing the work did not finish (it panicked or was cancelled).
    #[error("operation {operation} did not complete: {reason}")]
    Task { operation: String, reason: String },
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
