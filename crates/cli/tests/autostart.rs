//! `berth` with no daemon named and none running starts berthd itself (on a temp socket and
//! roots, via BERTH_DEFAULT_SOCKET / BERTH_DEFAULT_ROOT, never the machine's /run/berth.sock).
//! `berth` runs in a network namespace of the test's, so the berthd it starts does too.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_testkit::engine::{run_command, Outcome};
use berth_testkit::netns::NetNs;
use berth_testkit::tempdir::TempDir;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The temp roots and network namespace; stops the daemon berth started, if any, when dropped,
/// before the namespace is deleted.
struct Roots {
    dir: TempDir,
    netns: NetNs,
}

impl Roots {
    fn socket(&self) -> PathBuf {
        self.dir.join("berth.sock")
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("root/exec/berthd.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }

    fn berth(&self, args: &[&str]) -> Outcome {
        let mut cmd = self.netns.command([env!("CARGO_BIN_EXE_berth")]);
        cmd.env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .env("BERTH_DEFAULT_SOCKET", self.socket())
            .env("BERTH_DEFAULT_ROOT", self.dir.join("root"))
            .args(args);
        run_command(&mut cmd, self.dir.path())
    }
}

impl Drop for Roots {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            for _ in 0..100 {
                if kill(Pid::from_raw(pid), None).is_err() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

fn berthd_beside_berth() -> bool {
    Path::new(env!("CARGO_BIN_EXE_berth"))
        .with_file_name("berthd")
        .is_file()
}

#[test]
fn the_first_command_starts_berthd_and_later_ones_reuse_it() {
    assert!(
        berthd_beside_berth(),
        "berthd must be built next to berth: cargo build -p berthd"
    );
    let roots = Roots {
        // Short: the shims' socket paths under it must fit in 107 bytes.
        dir: TempDir::new("as"),
        netns: NetNs::new(),
    };
    assert!(!roots.socket().exists());

    let first = roots.berth(&["images", "-q"]);
    assert!(first.success(), "{}", first.describe());
    assert_eq!(first.stdout, "");
    assert!(
        roots.socket().exists(),
        "berthd listens on the default socket"
    );
    let pid = roots.pid().expect("berthd wrote its pid in the exec root");
    let inode = |path: &Path| std::fs::metadata(path).unwrap().ino();
    assert_eq!(
        inode(Path::new(&format!("/proc/{pid}/ns/net"))),
        inode(roots.netns.path()),
        "berthd runs in the network namespace berth ran in"
    );
    assert!(roots.dir.join("root/berthd.log").is_file());

    let info = roots.berth(&["info", "--format", "{{.DockerRootDir}}"]);
    assert!(info.success(), "{}", info.describe());
    assert_eq!(
        info.stdout.trim(),
        roots.dir.join("root/data").display().to_string()
    );
    assert_eq!(roots.pid(), Some(pid), "the running daemon is reused");

    // A host that is named is never started: the error is docker's.
    let named = roots.berth(&["-H", "unix:///nonexistent/berth.sock", "images"]);
    assert_eq!(named.code(), Some(125), "{}", named.describe());
    assert!(named
        .stderr
        .contains("Cannot connect to the berth daemon at unix:///nonexistent/berth.sock"));
}
