//! Running berth-imagectl from the integration tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `berth-imagectl --data-root DATA_ROOT ARGS…` and returns what it did.
pub fn imagectl(data_root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth-imagectl"))
        .arg("--data-root")
        .arg(data_root)
        .args(args)
        .output()
        .expect("run berth-imagectl")
}

/// Output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
