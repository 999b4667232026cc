//! What can go wrong turning a run request into an OCI spec.

use std::path::PathBuf;

/// Why a container's spec could not be made; each variant names the thing concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is wrong (`what` names the field or value).
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },
    /// `-u NAME` (or a group name) is not in the container's passwd or group file.
    #[error("unable to find {kind} {name}: no matching entries in {file} file")]
    NoSuchEntry {
        kind: &'static str,
        name: String,
        file: &'static str,
    },
    /// A seccomp profile given with `--security-opt seccomp=…` is malformed.
    #[error("invalid seccomp profile: {reason}")]
    SeccompProfile { reason: String },
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A path inside the container's root file system could not be resolved or created.
    #[error(transparent)]
    InRoot(#[from] berth_safepath::Error),
    /// oci-spec refused a value.
    #[error("build the OCI spec: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
}

impl Error {
    /// An [`Error::Invalid`] for the request field `what`.
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results in this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
