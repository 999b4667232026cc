//! What can go wrong in a command, and the exit code each kind gets (docker's: 1 for a
//! failed operation, 125 for a usage error or an unreachable daemon).

/// An error of one `berth` command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line or a `--format` template is wrong.
    #[error("{0}")]
    Usage(String),
    /// Nothing answers on the daemon's socket.
    #[error("Cannot connect to the berth daemon at {host}. Is the daemon running?")]
    Connect { host: String },
    /// The daemon answered with an error.
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    /// The daemon's answer could not be understood, or the connection broke.
    #[error("talking to the daemon at {host}: {reason}")]
    Protocol { host: String, reason: String },
    /// A local file or terminal could not be read or written.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Registry credentials could not be read or stored.
    #[error(transparent)]
    Credentials(#[from] berth_distribution::Error),
    /// The error that ended a progress stream (a failed pull, push or load).
    #[error("{0}")]
    Stream(String),
    /// The container (or exec) ended with this code; nothing more to say.
    #[error("")]
    Exit(i32),
    /// A failure with docker's exit code for it (125 could not create or start, 126 could not
    /// invoke the command, 127 command not found).
    #[error("{message}")]
    Coded { code: i32, message: String },
    /// A `run` or `create` failure, printed as docker prints it: prefixed with the program's
    /// name and followed by where to find help.
    #[error("berth: {source}\n\nRun 'berth {command} --help' for more information")]
    WithHelp {
        command: &'static str,
        source: Box<Error>,
    },
    /// Anything else a command refuses to do (`save` to a terminal, an aborted prune).
    #[error("{0}")]
    Refused(String),
}

impl Error {
    /// The process exit code for this error, as docker uses them.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Connect { .. } => 125,
            Error::Exit(code) | Error::Coded { code, .. } => *code,
            Error::WithHelp { source, .. } => source.exit_code(),
            _ => 1,
        }
    }

    /// This error as `berth command` reports it (a container's own exit code stays silent).
    pub fn with_help(self, command: &'static str) -> Error {
        match self {
            Error::Exit(_) => self,
            source => Error::WithHelp {
                command,
                source: Box::new(source),
            },
        }
    }

    /// An I/O error about `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// The result of a command step.
pub type Result<T, E = Error> = std::result::Result<T, E>;
