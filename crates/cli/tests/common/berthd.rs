//! A berthd for tests: started in its own network namespace on a socket with its roots in a temp
//! dir and driven with `berth` (and `docker`, to compare); on drop its containers are removed,
//! the daemon is stopped, whatever it left (runtime state, shims, container processes) is
//! cleaned up and then its namespace deleted.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use berth_testkit::archive::{busybox_image_layer, docker_archive};
use berth_testkit::daemon::{berthd_args, berthd_log};
use berth_testkit::engine::{run_command, Outcome};
use berth_testkit::forward::Forward;
use berth_testkit::netns::NetNs;
use berth_testkit::tempdir::TempDir;

use super::{berth_at, berth_on_terminal_at, berth_with_stdin_at};

/// A berthd on `<dir>/berth.sock`, data and exec roots under `dir`, in a network namespace of
/// its own.
pub struct Berthd {
    child: Child,
    /// The socket it serves the Engine API on.
    pub socket: PathBuf,
    /// Its roots, its log and the tests' scratch files.
    pub dir: TempDir,
    // Dropped last: after the daemon and its containers are gone.
    netns: NetNs,
}

/// berthd in `netns` on `socket`, data and exec roots under `dir`, its stderr appended to
/// `<dir>/berthd.log`.
fn spawn_berthd(netns: &NetNs, dir: &Path, socket: &Path) -> Child {
    let mut command = netns.command([sibling("berthd")]);
    berthd_args(&mut command, dir, socket);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(berthd_log(dir))
        .spawn()
        .expect("start berthd (run `cargo build --workspace` first)")
}

/// A binary built next to `berth` (berthd, berth-runtime).
fn sibling(name: &str) -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_berth"))
        .parent()
        .expect("the berth binary is in a directory")
        .join(name)
}

impl Berthd {
    /// Starts berthd in a new network namespace and waits until its socket answers.
    pub fn start(test: &str) -> Berthd {
        let dir = TempDir::new(test);
        let socket = dir.join("berth.sock");
        let netns = NetNs::new();
        let child = spawn_berthd(&netns, dir.path(), &socket);
        let mut daemon = Berthd {
            child,
            socket,
            dir,
            netns,
        };
        daemon.wait_ready();
        daemon
    }

    /// SIGKILLs the daemon (its containers' shims live on) and starts it again on the same
    /// roots, socket and namespace.
    pub fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
        self.child = spawn_berthd(&self.netns, self.dir.path(), &self.socket);
        self.wait_ready();
    }

    /// Waits until the socket answers; panics with the log if the daemon exits first.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&self.socket).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("berthd exited with {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "berthd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `unix://<socket>`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The file the daemon's network namespace is bind-mounted on.
    pub fn netns_path(&self) -> &Path {
        self.netns.path()
    }

    /// `argv` run inside the daemon's network namespace (nsenter --net), e.g. curl on a port
    /// published on 127.0.0.1 or `nft list ruleset`.
    pub fn in_netns(&self, argv: &[&str]) -> Command {
        self.netns.command(argv)
    }

    /// Makes `address` (`127.0.0.1:PORT`) of the test's namespace, e.g. a registry's,
    /// reachable at the same address from the daemon, until the result is dropped.
    pub fn forward(&self, address: &str) -> Forward {
        self.netns.forward(address)
    }

    /// As [`Berthd::forward`], the answers passing through `gate`.
    pub fn forward_gated(&self, address: &str, gate: &berth_testkit::forward::Gate) -> Forward {
        self.netns.forward_gated(address, gate)
    }

    /// Links, addresses, routes and the nftables ruleset of the daemon's namespace, without
    /// what changes by itself: equal snapshots mean nothing was left set up in between.
    pub fn net_snapshot(&self) -> String {
        self.netns.snapshot()
    }

    /// What berthd wrote on stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("berthd.log")).unwrap_or_default()
    }

    /// `berth -H unix://<socket> args…`.
    pub fn berth(&self, args: &[&str]) -> Outcome {
        berth_at(
            &self.host(),
            &self.dir.join("berth-config"),
            self.dir.path(),
            args,
        )
    }

    /// Like [`Berthd::berth`], and it must succeed; returns stdout.
    pub fn berth_ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(out.success(), "{}", out.describe());
        out.stdout
    }

    /// `berth args…` with `input` on its stdin.
    pub fn berth_with_stdin(&self, args: &[&str], input: &[u8]) -> Outcome {
        berth_with_stdin_at(
            &self.host(),
            &self.dir.join("berth-config"),
            self.dir.path(),
            args,
            input,
        )
    }

    /// `berth args…` on a pseudo-terminal.
    pub fn berth_on_terminal(&self, args: &[&str]) -> Outcome {
        berth_on_terminal_at(
            &self.host(),
            &self.dir.join("berth-config"),
            self.dir.path(),
            args,
        )
    }

    /// The `berth` command, for a test that runs it alongside others (`logs -f`, `attach`).
    pub fn berth_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        command
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .arg("-H")
            .arg(self.host())
            .arg("--config")
            .arg(self.dir.join("berth-config"))
            .args(args);
        command
    }

    /// `docker -H unix://<socket> args…` with a private client config.
    pub fn docker(&self, args: &[&str]) -> Outcome {
        run_command(&mut self.docker_command(args), self.dir.path())
    }

    /// The `docker` command against this daemon, for a test that runs it itself.
    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .arg("-H")
            .arg(self.host())
            .args(args);
        command
    }

    /// Like [`Berthd::docker`], and it must succeed; returns stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.success(), "{}", out.describe());
        out.stdout
    }

    /// Loads busybox (every applet linked) as `name` with `berth load`; returns its output.
    pub fn load_busybox(&self, name: &str) -> String {
        let archive = self.dir.join("busybox.tar");
        docker_archive(&archive, &[busybox_image_layer()], Some(name));
        self.berth_ok(&["load", "-i", archive.to_str().unwrap()])
    }

    /// The ids of the containers recorded under the data root.
    fn container_ids(&self) -> Vec<String> {
        berth_testkit::leftovers::container_ids(&self.dir.join("data"))
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        let ids = self.container_ids();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.berth(&args);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        berth_testkit::leftovers::remove(
            &sibling("berth-runtime"),
            &self.dir.join("exec/runtime"),
            &ids,
            self.dir.path(),
        );
    }
}

/// A process a test started alongside others, killed if the test ends before it does.
pub struct Spawned(std::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `command` with piped stdin and stdout; its stdout lines arrive on the receiver.
pub fn spawn_lines(mut command: Command) -> (Spawned, ChildStdin, Receiver<String>) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    (Spawned(child), stdin, receive)
}

/// The next line from `lines`, waiting at most 10 s.
pub fn next_line(lines: &Receiver<String>, what: &str) -> String {
    lines
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{what}: no line: {e}"))
}

/// The exit code of `process` once it ends, or `None` at `deadline`.
pub fn wait_until(process: &mut Spawned, deadline: Instant) -> Option<i32> {
    while Instant::now() < deadline {
        if let Some(status) = process.0.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// `berth args` and `docker args` against `daemon` have the same exit code, stdout and stderr
/// (with each one's name in its messages); returns stdout. docker 20.10 ends some failures with
/// its exit status (`exit status 1`), which berth does not copy.
pub fn same(daemon: &Berthd, args: &[&str]) -> String {
    let ours = daemon.berth(args);
    let theirs = daemon.docker(args);
    assert_eq!(
        (
            ours.code(),
            &ours.stdout,
            ours.stderr.replace("berth", "docker")
        ),
        (
            theirs.code(),
            &theirs.stdout,
            theirs.stderr.replace("exit status 1\n", "")
        ),
        "{args:?}: berth\n{}\ndocker\n{}",
        ours.describe(),
        theirs.describe()
    );
    ours.stdout
}

/// The words of `line`, for command lines without quoting.
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}
