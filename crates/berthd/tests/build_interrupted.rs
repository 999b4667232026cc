//! A daemon killed during a build's RUN leaves, once restarted, no step container, no
//! snapshot the build made and no mount of either behind.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{wait_until, Daemon, Killed};

#[test]
fn a_build_interrupted_by_a_daemon_kill_leaves_no_step_container() {
    let mut daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    let context = daemon.dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=bind,from=busybox,target=/b sleep 30\n",
    )
    .unwrap();
    // A container the user labels like a step container is not one: it stays.
    daemon.docker_ok(&[
        "create",
        "--name",
        "mine",
        "--label",
        "berth.build.step=x",
        "busybox",
        "true",
    ]);

    let mut build = daemon.docker_command(&["build", context.to_str().unwrap()]);
    build
        .env("DOCKER_BUILDKIT", "0")
        .env_remove("DOCKER_HOST")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let build = Killed(build.spawn().expect("run docker build"));
    let step_running = || {
        daemon
            .docker_ok(&["ps", "--format", "{{.Command}}"])
            .contains("sleep 30")
    };
    wait_until("the RUN step to run", Duration::from_secs(30), step_running);
    let data = daemon.dir.join("data").display().to_string();
    assert!(
        daemon.mounts().iter().any(|m| m.contains(&data)),
        "the step's root file system is mounted"
    );
    assert!(
        snapshot_ids(&daemon)
            .iter()
            .any(|id| id.starts_with("build-")),
        "the RUN's bind of busybox is a snapshot of the build's own"
    );

    daemon.kill_and_restart();
    drop(build);

    let left = daemon.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.Command}}"]);
    assert_eq!(left, "mine \"true\"\n");
    let mounts: Vec<String> = daemon
        .mounts()
        .into_iter()
        .filter(|m| m.contains(&data))
        .collect();
    assert!(mounts.is_empty(), "{mounts:?}");
    assert_eq!(daemon.container_ids().len(), 1, "only mine is recorded");
    let markers = daemon.dir.join("data/build/steps");
    let leftover: Vec<_> = std::fs::read_dir(&markers)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftover.is_empty(), "{leftover:?}");
    let snapshots = snapshot_ids(&daemon);
    assert_eq!(snapshots, [daemon.container_ids()[0].clone()]);
}

/// The ids of the container root file systems under the daemon's data root.
fn snapshot_ids(daemon: &Daemon) -> Vec<String> {
    let dir = daemon.dir.join("data/snapshots/containers");
    let mut ids: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}
