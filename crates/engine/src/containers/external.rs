//! Asking an external OCI runtime (runc, crun) about a container it runs: `pause`, `resume`,
//! `update`; its error output becomes the error.

use std::path::Path;
use std::process::Stdio;

use crate::error::{Error, Result};

/// Runs `BINARY --root ROOT ARGS…` and waits for it; a failure carries what it printed.
pub(super) async fn run(binary: &Path, root: &Path, args: &[&str]) -> Result<()> {
    let output = tokio::process::Command::new(binary)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| Error::ExternalRuntime {
            binary: binary.to_path_buf(),
            args: args.join(" "),
            message: format!("cannot execute it: {e}"),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let message = match said.trim() {
        "" => output.status.to_string(),
        text => text.to_string(),
    };
    Err(Error::ExternalRuntime {
        binary: binary.to_path_buf(),
        args: args.join(" "),
        message,
    })
}
