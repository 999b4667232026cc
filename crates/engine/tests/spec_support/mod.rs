//! Running a spec made by `berth_engine::spec::build` as a real container: a busybox root file
//! system, the spec written to a bundle, `berth-runtime run`; everything removed on drop.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use berth_engine::spec::{build, SpecInput};
use berth_testkit::TempDir;

/// berth-runtime, built beside this test by `cargo build --workspace`.
pub fn runtime() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("berth-runtime");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// What a container printed and how it ended.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A bundle directory with a busybox root file system and a private runtime state root.
pub struct Bundle {
    pub dir: TempDir,
    id: String,
}

impl Bundle {
    /// A busybox root with every applet linked in /bin, /tmp, and /etc/passwd and /etc/group
    /// holding root, `app` (1234:2345, home /home/app) and its groups.
    pub fn busybox(name: &str) -> Bundle {
        let dir = TempDir::new(&format!("spec-{name}"));
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        tar::Archive::new(&berth_testkit::busybox_layer()[..])
            .unpack(&rootfs)
            .unwrap();
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
        std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:App:/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\napp:x:2345:\naudio:x:3456:app,other\n",
        )
        .unwrap();
        let id = format!(
            "spec-{name}-{}-{}",
            std::process::id(),
            dir.path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .rsplit('-')
                .next()
                .unwrap()
        );
        Bundle { dir, id }
    }

    /// The root file system.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// An input running `args` in this bundle's root, with its own cgroup.
    pub fn input(&self, args: &[&str]) -> SpecInput {
        SpecInput {
            rootfs: self.rootfs(),
            args: args.iter().map(|a| a.to_string()).collect(),
            hostname: "spectest".to_string(),
            cgroups_path: format!("/berth-test/{}", self.id),
            ..SpecInput::default()
        }
    }

    fn state_root(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Builds the spec, writes config.json and runs the container to its end.
    pub fn run(&self, input: &SpecInput) -> Ran {
        let spec = build(input).expect("build the spec");
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&spec).unwrap(),
        )
        .unwrap();
        // Output goes through files: the container's processes hold their stdio.
        let out = self.dir.join("stdout");
        let err = self.dir.join("stderr");
        let status = Command::new(runtime())
            .arg("--root")
            .arg(self.state_root())
            .args(["run", "--bundle"])
            .arg(self.dir.path())
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        let ran = Ran {
            code: status.code(),
            stdout: std::fs::read_to_string(&out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        };
        self.delete();
        ran
    }

    /// Runs `sh -c script` with `tweak` applied to the input; panics unless it exits 0.
    pub fn sh(&self, script: &str, tweak: impl FnOnce(&mut SpecInput)) -> String {
        let mut input = self.input(&["sh", "-c", script]);
        tweak(&mut input);
        let ran = self.run(&input);
        assert_eq!(
            ran.code,
            Some(0),
            "{script}: stdout {:?} stderr {:?}",
            ran.stdout,
            ran.stderr
        );
        ran.stdout
    }

    fn delete(&self) {
        let _ = Command::new(runtime())
            .arg("--root")
            .arg(self.state_root())
            .args(["delete", "-f", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        self.delete();
        // The runtime removes the container's cgroup; the shared parent goes once empty.
        if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in hierarchies.flatten() {
                let _ = std::fs::remove_dir(h.path().join("berth-test"));
            }
        }
    }
}
