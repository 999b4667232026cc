//! Shared helpers for the shim's integration tests: a busybox bundle and a shim spawned for it,
//! with everything (container, shim, runtime state, cgroup, files) removed on drop.

#![allow(dead_code)]

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_runtime::cgroups::CgroupPath;
use berth_runtime::StateRoot;
use berth_shim::{Client, Options, Spawned};
use berth_testkit::TempDir;
use serde_json::{json, Value};

/// The shim binary built with these tests.
pub fn shim_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth-shim"))
}

/// A temporary directory with a busybox bundle running `script` under `sh -c`, and the paths a
/// shim for it uses.
pub struct Setup {
    pub dir: TempDir,
    /// The `berth-shim` binary.
    pub shim: PathBuf,
    pub opts: Options,
}

impl Setup {
    /// A bundle running `sh -c script`, with a terminal when `tty`.
    pub fn new(name: &str, script: &str, tty: bool) -> Setup {
        let dir = TempDir::new(name);
        let id = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let bundle = dir.join("bundle");
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        tar::Archive::new(&berth_testkit::busybox_layer()[..])
            .unpack(&rootfs)
            .unwrap();
        for d in ["proc", "sys", "dev", "tmp", "etc", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
        let mut config: Value = serde_json::from_str(&berth_runtime::spec::to_pretty_json(
            &berth_runtime::spec::default_spec(),
        ))
        .unwrap();
        config["process"]["terminal"] = json!(tty);
        config["process"]["args"] = json!(["/bin/sh", "-c", script]);
        config["linux"]["cgroupsPath"] = json!(format!("/{id}"));
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        let opts = Options {
            id,
            bundle,
            runtime_root: dir.join("runtime"),
            runtime: None,
            socket: dir.join("shim.sock"),
            exit_file: dir.join("exit.json"),
            log: dir.join("container.log"),
            log_max_size: 0,
            log_max_files: 1,
            tty,
            stdin: false,
            stdin_once: false,
            size: None,
        };
        Setup {
            dir,
            shim: shim_binary(),
            opts,
        }
    }

    /// Changes the bundle's config.json.
    pub fn edit_config(&self, f: impl FnOnce(&mut Value)) {
        let path = self.opts.bundle.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        f(&mut config);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }

    /// Spawns the shim; the container is created, not started.
    pub fn spawn(self) -> Shim {
        let spawned = berth_shim::spawn(&self.shim, &self.opts).expect("spawn the shim");
        Shim {
            client: Client::new(&self.opts.socket),
            spawned: Some(spawned),
            setup: self,
        }
    }

    /// The cgroup directories of the container (none should remain after it is gone).
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let path = format!("/{}", self.opts.id);
        CgroupPath::resolve(Some(Path::new(&path)), &self.opts.id, false)
            .unwrap()
            .dirs()
    }

    /// Kills what is left of the container through the runtime and checks nothing remains.
    fn force_cleanup(&self) {
        if let Ok(root) = StateRoot::open(&self.opts.runtime_root) {
            let _ = berth_runtime::ops::delete(&root, &self.opts.id, true);
        }
        for dir in self.cgroup_dirs() {
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// A running shim; on drop the container is killed, the shim reaped, and the rest removed.
pub struct Shim {
    pub setup: Setup,
    pub client: Client,
    pub spawned: Option<Spawned>,
}

impl Shim {
    pub fn pid(&self) -> u32 {
        self.spawned.as_ref().unwrap().pid
    }

    /// Waits (up to 10 s) for the shim process to exit and returns its status code.
    pub fn shim_exit(&mut self) -> Option<i32> {
        let mut spawned = self.spawned.take()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = spawned.shim.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = spawned.shim.kill();
                let _ = spawned.shim.wait();
                panic!("the shim did not exit after its container did");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Asserts that the shim exited cleanly and left nothing behind but the log and exit file.
    pub fn assert_cleaned_up(&mut self) {
        assert_eq!(self.shim_exit(), Some(0));
        let opts = &self.setup.opts;
        assert!(
            !opts.socket.exists(),
            "socket {} left",
            opts.socket.display()
        );
        assert!(
            !opts.runtime_root.join(&opts.id).exists(),
            "runtime state of {} left",
            opts.id
        );
        let left: Vec<_> = self
            .setup
            .cgroup_dirs()
            .into_iter()
            .filter(|d| d.exists())
            .collect();
        assert!(left.is_empty(), "cgroups left: {left:?}");
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        if self.setup.opts.socket.exists() {
            let _ = self.client.kill(9, true);
        }
        if let Some(mut spawned) = self.spawned.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while spawned.shim.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = spawned.shim.kill();
            let _ = spawned.shim.wait();
        }
        self.setup.force_cleanup();
    }
}

/// Reads a multiplexed attach stream to its end: (stream id, bytes) per frame.
pub fn read_frames(conn: &mut UnixStream) -> Vec<(u8, Vec<u8>)> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut data = Vec::new();
    conn.read_to_end(&mut data).expect("the attach stream ends");
    let mut frames = Vec::new();
    let mut rest = &data[..];
    while !rest.is_empty() {
        assert!(rest.len() >= 8, "truncated frame header in {data:?}");
        let len = u32::from_be_bytes(rest[4..8].try_into().unwrap()) as usize;
        assert_eq!(&rest[1..4], &[0, 0, 0], "frame header padding");
        frames.push((rest[0], rest[8..8 + len].to_vec()));
        rest = &rest[8 + len..];
    }
    frames
}

/// All bytes of one stream id in `frames`.
pub fn stream_bytes(frames: &[(u8, Vec<u8>)], id: u8) -> String {
    let bytes: Vec<u8> = frames
        .iter()
        .filter(|(s, _)| *s == id)
        .flat_map(|(_, b)| b.clone())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
