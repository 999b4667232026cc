//! Running the tools tests need (openssl, mkfs, skopeo...).

use std::process::{Command, Output};

/// Runs a test tool; fails the test, with what the tool printed, when it fails.
pub fn run(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
