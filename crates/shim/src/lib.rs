//! berth-shim: the small process between berthd and one running container. It is the
//! container's parent, holds its stdio (pipes or a pty), writes its json-file log, serves
//! requests on a unix socket and records the exit, so that the daemon can die and come back
//! while the container runs on.
//!
//! The library is what the daemon uses: [`spawn`] a shim, talk to it with a [`Client`], read
//! the [`logfile`] and the exit file. The `berth-shim` binary runs [`server::run`].

pub mod client;
pub mod error;
pub mod exit;
pub mod logfile;
pub mod options;
pub mod protocol;
pub mod server;
pub mod spawn;

/// The timestamps of logs and exit records (the runtime's calendar).
pub use berth_runtime::time;
pub use client::Client;
pub use error::{Error, Result};
pub use exit::{read_exit_file, ExitStatus};
pub use options::Options;
pub use protocol::{State, Status, Stream};
pub use spawn::{spawn, Spawned};
