//! Shared helpers for the runtime's integration tests: busybox bundles, a runtime with its own
//! state root, and cleanup that runs even when a test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique name for this test process and call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// The static probe (tools/probe), built beside berth-runtime by `cargo build --workspace`.
pub fn probe_path() -> PathBuf {
    let path = Path::new(runtime_path()).with_file_name("berth-probe");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A bundle in a temporary directory: a busybox root file system and a config.json made by
/// `berth-runtime spec`, removed on drop.
pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    /// A bundle running `args` with the default spec (no terminal).
    pub fn busybox(args: &[&str]) -> Bundle {
        let dir = std::env::temp_dir().join(unique("berth-test-bundle"));
        let rootfs = dir.join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("/bin/busybox (apt-get install busybox-static)");
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
        std::fs::copy(probe_path(), rootfs.join("bin/berth-probe")).unwrap();
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n",
        )
        .unwrap();
        let out = Command::new(runtime_path())
            .args(["spec", "--bundle"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config: Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        let mut bundle = Bundle { dir, config };
        bundle.config["process"]["terminal"] = Value::Bool(false);
        bundle.config["process"]["args"] =
            args.iter().map(|a| Value::String(a.to_string())).collect();
        bundle.save();
        bundle
    }

    /// Writes `config` back to config.json.
    pub fn save(&mut self) {
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// Applies `f` to the config and saves it.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) {
        f(&mut self.config);
        self.save();
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn runtime_path() -> &'static str {
    env!("CARGO_BIN_EXE_berth-runtime")
}

/// berth-runtime with a private state root; on drop every container in it is force-deleted.
pub struct Runtime {
    pub root: PathBuf,
}

impl Runtime {
    pub fn new() -> Runtime {
        let root = std::env::temp_dir().join(unique("berth-test-root"));
        Runtime { root }
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(runtime_path());
        c.arg("--root").arg(&self.root);
        c
    }

    /// Runs `berth-runtime --root R args…` in `cwd` and returns its output. Output goes through
    /// files, not pipes: a created container's init keeps the runtime's stdio open.
    pub fn run_in(&self, cwd: &Path, args: &[&str]) -> Output {
        let out_path = std::env::temp_dir().join(unique("berth-test-out"));
        let err_path = std::env::temp_dir().join(unique("berth-test-err"));
        let status = self
            .command()
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .status()
            .unwrap();
        let output = Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(&out_path);
        let _ = std::fs::remove_file(&err_path);
        output
    }

    pub fn ok(&self, cwd: &Path, args: &[&str]) -> String {
        let out = self.run_in(cwd, args);
        assert!(
            out.status.success(),
            "berth-runtime {args:?} failed ({:?}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `state ID` parsed.
    pub fn state(&self, id: &str) -> Value {
        let out = self.ok(Path::new("/"), &["state", id]);
        serde_json::from_str(&out).unwrap()
    }

    /// Waits until `state ID` reports `status` (up to 10 s).
    pub fn wait_status(&self, id: &str, status: &str) {
        for _ in 0..1000 {
            if self.state(id)["status"] == status {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("container {id} never reached {status}: {}", self.state(id));
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for e in entries.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.command().args(["delete", "-f", &id]).output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Every cgroup directory named `id` under the host's hierarchies (should be none after delete).
pub fn leftover_cgroups(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            let p = e.path().join(id);
            if p.exists() {
                found.push(p);
            }
        }
    }
    if Path::new("/sys/fs/cgroup").join(id).exists() {
        found.push(Path::new("/sys/fs/cgroup").join(id));
    }
    found
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
