//! End to end: real container engines drive `berth-runtime` as their OCI runtime.
//!
//! * dockerd, started with `--add-runtime berth=<berth-runtime>`, runs
//!   `docker run --runtime berth ...` (output, exit codes, exec, top, pause, stop, rm).
//! * containerd, driven by `ctr run --runtime io.containerd.runc.v2 --runc-binary <berth-runtime>`,
//!   runs containers from a plain rootfs directory and from an imported image.
//!
//! Each test starts its own daemons: containerd with a generated config (own root, state and
//! socket in a temporary directory), dockerd with its own data root, exec root, pid file and
//! socket, inside its own network namespace (`unshare --net`) so that `--bridge=none` cannot touch
//! the host's network. Containers get their own cgroup parent. A `Drop` guard kills and removes
//! everything (containers, shims, daemons, mounts, cgroups, directories), also when a test fails.
//!
//! The tests need root and the engines: `apt-get install docker.io containerd busybox-static`.
//! They fail (they do not skip) when something is missing.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_testkit::engine::cleanup::cgroup_mounts;
use berth_testkit::engine::{
    find_in_path, list_dir, path_str, run_command, tool, Engine, EngineOptions, Outcome,
    CTR_NAMESPACE, INSTALL_HINT,
};

mod image;
mod sandbox;

use image::*;
use sandbox::*;

const RUNTIME: &str = env!("CARGO_BIN_EXE_berth-runtime");
/// Where the logs of a failed test are kept.
const KEEP_LOGS_DIR: &str = env!("CARGO_TARGET_TMPDIR");
const BUSYBOX: &str = "/bin/busybox";
/// Name of the docker image imported from the busybox rootfs.
const DOCKER_IMAGE: &str = "berth-test/busybox:latest";
/// Tag in the hand-made image archive for `ctr images import` (containerd adds `docker.io/`).
const CTR_IMAGE_TAG: &str = "berth-test/busybox:latest";
const CTR_IMAGE: &str = "docker.io/berth-test/busybox:latest";

#[test]
fn dockerd_runs_containers_with_berth_runtime() {
    let mut sb = Sandbox::new("docker");
    sb.require_tools(&[
        "containerd",
        "containerd-shim-runc-v2",
        "ctr",
        "dockerd",
        "docker",
        "unshare",
        "tar",
    ]);
    sb.start_containerd();
    sb.start_dockerd();

    let rootfs = build_busybox_rootfs(&sb, &sb.dir.join("rootfs"));
    let rootfs_tar = tar_dir(&sb, &rootfs, &sb.dir.join("rootfs.tar"));
    sb.expect_ok(sb.docker(&[
        OsStr::new("import"),
        rootfs_tar.as_os_str(),
        OsStr::new(DOCKER_IMAGE),
    ]));

    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--network", "none", "--runtime", "berth"];
        all.push(DOCKER_IMAGE);
        all.extend_from_slice(args);
        sb.docker_str(&all)
    };

    // 1. Output reaches `docker run`.
    let out = sb.expect_ok(run(&["echo", "hello"]));
    sb.check(
        out.stdout.trim() == "hello",
        "docker run ... echo hello prints hello",
        &out,
    );

    // 2. The exit code propagates.
    let out = run(&["sh", "-c", "exit 3"]);
    sb.check(
        out.code() == Some(3),
        "docker run ... sh -c 'exit 3' exits with 3",
        &out,
    );

    // 3. A detached container: exec, top, pause/unpause, stop (SIGTERM reaches it), rm.
    let script = "trap 'exit 7' TERM; echo ready; while :; do sleep 0.1; done";
    let out = sb.expect_ok(sb.docker_str(&[
        "run",
        "-d",
        "--network",
        "none",
        "--runtime",
        "berth",
        DOCKER_IMAGE,
        "sh",
        "-c",
        script,
    ]));
    let id = out.stdout.trim().to_string();
    sb.check(
        !id.is_empty(),
        "docker run -d prints the container id",
        &out,
    );

    let out = sb.expect_ok(sb.docker_str(&["inspect", "-f", "{{.HostConfig.Runtime}}", &id]));
    sb.check(
        out.stdout.trim() == "berth",
        "the container uses the berth runtime",
        &out,
    );

    let out = sb.docker_str(&["exec", &id, "sh", "-c", "echo exec-ok; exit 5"]);
    sb.check(
        out.code() == Some(5) && out.stdout.trim() == "exec-ok",
        "docker exec prints exec-ok and exits with 5",
        &out,
    );

    let out = sb.expect_ok(sb.docker_str(&["top", &id]));
    sb.check(
        out.stdout.contains("PID"),
        "docker top lists the processes",
        &out,
    );

    sb.expect_ok(sb.docker_str(&["pause", &id]));
    let out = sb.expect_ok(sb.docker_str(&["inspect", "-f", "{{.State.Status}}", &id]));
    sb.check(
        out.stdout.trim() == "paused",
        "docker pause pauses the container",
        &out,
    );
    sb.expect_ok(sb.docker_str(&["unpause", &id]));
    let out = sb.expect_ok(sb.docker_str(&["exec", &id, "echo", "after-unpause"]));
    sb.check(
        out.stdout.trim() == "after-unpause",
        "the container runs again after docker unpause",
        &out,
    );

    sb.expect_ok(sb.docker_str(&["stop", "-t", "10", &id]));
    let out = sb.expect_ok(sb.docker_str(&["inspect", "-f", "{{.State.ExitCode}}", &id]));
    sb.check(
        out.stdout.trim() == "7",
        "docker stop delivers SIGTERM (the container's trap exits with 7)",
        &out,
    );
    let out = sb.expect_ok(sb.docker_str(&["logs", &id]));
    sb.check(
        out.stdout.contains("ready"),
        "docker logs shows the container's output",
        &out,
    );
    sb.expect_ok(sb.docker_str(&["rm", &id]));

    // The runtime cleaned up after itself: no container state left in its --root (the kept
    // seccomp programs in `.seccomp` stay, by design), no container cgroups.
    let state_root = sb.dir.join("docker/exec/runtime-runc/moby");
    let leftovers = container_state(&state_root);
    sb.check_msg(
        leftovers.is_empty(),
        &format!(
            "no runtime state left in {} after docker rm, found {leftovers:?}",
            state_root.display()
        ),
    );
    sb.check_no_container_cgroups();
}

#[test]
fn containerd_ctr_runs_containers_with_berth_runtime() {
    let mut sb = Sandbox::new("ctr");
    sb.require_tools(&[
        "containerd",
        "containerd-shim-runc-v2",
        "ctr",
        "tar",
        "sha256sum",
    ]);
    sb.start_containerd();

    let rootfs = build_busybox_rootfs(&sb, &sb.dir.join("rootfs"));

    // 1. From a plain rootfs directory (no snapshotter).
    let out = sb.expect_ok(sb.ctr_run(
        "c1",
        &["--rootfs", path_str(&rootfs)],
        &["/bin/echo", "hello"],
    ));
    sb.check(
        out.stdout.trim() == "hello",
        "ctr run --rootfs ... echo hello prints hello",
        &out,
    );

    let out = sb.ctr_run(
        "c2",
        &["--rootfs", path_str(&rootfs)],
        &["/bin/sh", "-c", "exit 3"],
    );
    sb.check(
        out.code() == Some(3),
        "ctr run --rootfs ... sh -c 'exit 3' exits with 3",
        &out,
    );

    // 2. From an imported image (rootfs mounted by containerd's snapshotter).
    let layer = tar_dir(&sb, &rootfs, &sb.dir.join("layer.tar"));
    let archive = build_image_archive(&sb, &layer, &sb.dir.join("image"));
    sb.expect_ok(sb.ctr(&[
        OsStr::new("images"),
        OsStr::new("import"),
        archive.as_os_str(),
    ]));
    let out = sb.expect_ok(sb.ctr_run(
        "c3",
        &[CTR_IMAGE],
        &[
            "sh",
            "-c",
            "echo \"image PATH=$PATH\"; cat /proc/self/cgroup",
        ],
    ));
    sb.check(
        out.stdout.lines().next() == Some("image PATH=/bin:/sbin"),
        "ctr run IMAGE ... prints the image's PATH",
        &out,
    );
    sb.check(
        out.stdout.contains(&format!("/{}/c3", sb.cgroup_parent)),
        "the container runs in the cgroup given with ctr run --cgroup",
        &out,
    );
    let out = sb.ctr_run(
        "c4",
        &[CTR_IMAGE],
        &["sh", "-c", "echo to-stderr >&2; exit 42"],
    );
    sb.check(
        out.code() == Some(42) && out.stderr.contains("to-stderr"),
        "ctr run IMAGE ... passes stderr through and exits with 42",
        &out,
    );

    // `--rm` deleted everything through the runtime.
    let out = sb.expect_ok(sb.ctr_str(&["tasks", "ls", "-q"]));
    sb.check(
        out.stdout.trim().is_empty(),
        "no tasks left after ctr run --rm",
        &out,
    );
    let out = sb.expect_ok(sb.ctr_str(&["containers", "ls", "-q"]));
    sb.check(
        out.stdout.trim().is_empty(),
        "no containers left after ctr run --rm",
        &out,
    );
    let state_root = sb.dir.join("ctr-runc").join(CTR_NAMESPACE);
    let leftovers = container_state(&state_root);
    sb.check_msg(
        leftovers.is_empty(),
        &format!(
            "no runtime state left in {} after ctr run --rm, found {leftovers:?}",
            state_root.display()
        ),
    );
    sb.check_no_container_cgroups();
}

// ---------------------------------------------------------------------------------------------
// Commands

/// The entries of a runtime state root that belong to containers (not the seccomp cache).
fn container_state(root: &std::path::Path) -> Vec<String> {
    list_dir(root)
        .into_iter()
        .filter(|name| name != ".seccomp")
        .collect()
}
