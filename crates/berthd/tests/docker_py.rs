//! docker-py against berthd: tests/python/docker_py_check.py drives the daemon through the
//! `docker` package from PyPI, installed in a venv cached under the target dir
//! (`$CARGO_TARGET_TMPDIR/docker-py-venv`) so that only the first run needs PyPI.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::archive::{busybox_image_layer, docker_archive};

mod common;
use common::Daemon;

/// The docker-py major version the check is written for.
const DOCKER_PY: &str = "docker>=7,<8";

/// The venv's python with docker-py importable, made (python3 -m venv, pip install) if needed.
fn docker_py_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docker-py-venv");
    let python = venv.join("bin/python");
    let importable = || {
        Command::new(&python)
            .args(["-c", "import docker"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable() {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let made = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .output()
        .expect("run python3 -m venv");
    assert!(
        made.status.success(),
        "cannot make a venv at {}: {}",
        venv.display(),
        String::from_utf8_lossy(&made.stderr)
    );
    let pip = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            DOCKER_PY,
        ])
        .output()
        .expect("run pip");
    assert!(
        pip.status.success() && importable(),
        "pip could not install {DOCKER_PY:?} from PyPI into {}: {}{}",
        venv.display(),
        String::from_utf8_lossy(&pip.stdout),
        String::from_utf8_lossy(&pip.stderr)
    );
    python
}

#[test]
fn docker_py_drives_berthd() {
    let python = docker_py_python();
    let daemon = Daemon::start();
    let archive = daemon.dir.join("busybox.tar");
    docker_archive(&archive, &[busybox_image_layer()], Some("busybox:latest"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/docker_py_check.py");
    let output = daemon.dir.join("docker-py.out");
    let mut child = Command::new(&python)
        .arg(&script)
        .arg(&archive)
        .env("DOCKER_HOST", format!("unix://{}", daemon.socket.display()))
        .env("DOCKER_CONFIG", daemon.dir.join("docker-config"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(std::fs::File::create(daemon.dir.join("docker-py.err")).unwrap())
        .spawn()
        .expect("run the docker-py check");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let printed = format!(
        "{}{}",
        std::fs::read_to_string(&output).unwrap_or_default(),
        std::fs::read_to_string(daemon.dir.join("docker-py.err")).unwrap_or_default()
    );
    match status {
        None => panic!("the docker-py check hung (killed after 180 s):\n{printed}"),
        Some(status) => assert!(status.success(), "docker-py check: {status}\n{printed}"),
    }
    assert_eq!(printed.matches("ok   ").count(), 13, "{printed}");
}
