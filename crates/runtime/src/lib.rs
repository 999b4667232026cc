//! berth's OCI runtime: turns a bundle (a root file system and a `config.json` in the format of
//! the OCI runtime spec) into a running container, and manages it afterwards.
//!
//! The container's init is a fork of the calling process, not a re-executed binary: it builds
//! the container in the new namespaces and then execs the user's program directly.

mod capabilities;
pub mod cgroups;
mod console;
pub mod create;
pub mod error;
pub mod exec;
pub mod features;
mod fsutil;
mod hooks;
mod init;
mod mount_options;
pub mod mountinfo;
mod namespaces;
pub mod ops;
mod process;
mod rootfs;
pub mod run;
pub mod seal;
mod seccomp;
pub mod spec;
pub mod state;
mod sync;
pub mod time;
mod verified_exec;

pub use create::{create, CreateOptions, StartMode};
pub use error::{Error, Result};
pub use exec::{exec, ExecOptions};
pub use run::run;
pub use state::{StateRoot, Status, DEFAULT_ROOT};
