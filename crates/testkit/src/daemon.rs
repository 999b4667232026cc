//! How the integration tests run berthd: on a socket, with its data and exec roots under one
//! directory, quiet but for errors, its stderr appended to `<dir>/berthd.log` (so a restart
//! keeps what the first daemon said).

use std::fs::File;
use std::path::Path;
use std::process::Command;

/// Adds berthd's arguments for `socket` and the roots under `dir` to `command` (whatever
/// starts berthd).
pub fn berthd_args(command: &mut Command, dir: &Path, socket: &Path) {
    command
        .arg("--host")
        .arg(format!("unix://{}", socket.display()))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .args(["--log-level", "error"]);
}

/// `<dir>/berthd.log`, opened for appending: berthd's stderr.
pub fn berthd_log(dir: &Path) -> File {
    File::options()
        .create(true)
        .append(true)
        .open(dir.join("berthd.log"))
        .expect("open berthd.log")
}
