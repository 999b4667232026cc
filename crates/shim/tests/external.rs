//! The shim driving runc (`--runtime`): the same socket, log and exit file as with
//! berth-runtime in process, and runc's own state gone after the exit.

mod common;

use std::process::{Command, Stdio};

use berth_shim::{read_exit_file, Status};
use common::{read_frames, stream_bytes, Setup, Shim};

/// A shim for `script` under runc; whatever runc still holds is deleted on drop.
struct UnderRunc(Shim);

impl UnderRunc {
    fn new(name: &str, script: &str, tty: bool) -> UnderRunc {
        let mut setup = Setup::new(name, script, tty);
        setup.opts.runtime = Some("runc".into());
        UnderRunc(setup.spawn())
    }
}

impl Drop for UnderRunc {
    fn drop(&mut self) {
        let opts = &self.0.setup.opts;
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&opts.runtime_root)
            .args(["delete", "--force", &opts.id])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn runc_creates_starts_and_deletes_the_container_the_shim_watches() {
    let mut shim = UnderRunc::new("shim-runc", "echo out; echo err >&2; exit 7", false);
    let shim = &mut shim.0;
    let state = shim.client.state().unwrap();
    assert_eq!(state.status, Status::Created);
    assert_eq!(state.pid as u32, shim.pid());
    let runc_state = Command::new("runc")
        .arg("--root")
        .arg(&shim.setup.opts.runtime_root)
        .args(["state", &shim.setup.opts.id])
        .output()
        .unwrap();
    let runc_state: serde_json::Value = serde_json::from_slice(&runc_state.stdout).unwrap();
    assert_eq!(runc_state["status"], "created");
    assert_eq!(runc_state["pid"], shim.pid());

    let mut conn = shim.client.attach(false, true, true).unwrap();
    shim.client.start().unwrap();
    let err = shim.client.start().unwrap_err().to_string();
    assert!(err.contains("already started"), "{err}");
    let frames = read_frames(&mut conn);
    assert_eq!(stream_bytes(&frames, 1), "out\n");
    assert_eq!(stream_bytes(&frames, 2), "err\n");
    let exit = shim.client.wait().unwrap();
    assert_eq!(exit.exit_code, 7);
    let opts = shim.setup.opts.clone();
    assert_eq!(read_exit_file(&opts.exit_file).unwrap(), Some(exit));
    let log = std::fs::read_to_string(&opts.log).unwrap();
    assert!(log.contains(r#""log":"out\n","stream":"stdout""#), "{log}");
    shim.assert_cleaned_up();
}

#[test]
fn a_tty_comes_back_from_runc_over_the_console_socket() {
    let mut shim = UnderRunc::new("shim-runc-tty", "tty; exit 2", true);
    let shim = &mut shim.0;
    let mut conn = shim.client.attach(false, true, false).unwrap();
    shim.client.start().unwrap();
    let mut output = Vec::new();
    std::io::Read::read_to_end(&mut conn, &mut output).unwrap();
    assert_eq!(String::from_utf8_lossy(&output), "/dev/pts/0\r\n");
    assert_eq!(shim.client.wait().unwrap().exit_code, 2);
    let console = berth_shim::server::console_socket(&shim.setup.opts.socket);
    assert!(!console.exists(), "{} left", console.display());
    shim.assert_cleaned_up();
}

#[test]
fn what_runc_refuses_is_the_spawn_error() {
    let mut setup = Setup::new("shim-runc-bad", "true", false);
    setup.opts.runtime = Some("runc".into());
    setup.edit_config(|c| c["process"]["args"] = serde_json::json!(["/nope"]));
    let err = berth_shim::spawn(&setup.shim, &setup.opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("runtime runc create container") && err.contains("/nope"),
        "{err}"
    );
    assert!(!setup.opts.socket.exists());
    assert!(!setup.opts.runtime_root.join(&setup.opts.id).exists());
}
