//! A container's life through the runc command line: run, create, start, state, exec, pause,
//! resume, kill, delete, list, ps, update, events.

mod common;

use std::path::Path;

use common::{leftover_cgroups, stderr, stdout, unique, Bundle, Runtime};
use serde_json::json;

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    let bundle = Bundle::busybox(&["sh", "-c", "echo pid=$$ host=$(hostname); exit 3"]);
    let rt = Runtime::new();
    let id = unique("run");
    let out = rt.run_in(&bundle.dir, &["run", &id]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "pid=1 host=runc");
    assert!(
        leftover_cgroups(&id).is_empty(),
        "cgroups left: {:?}",
        leftover_cgroups(&id)
    );
    assert!(!rt.root.join(&id).exists(), "state left behind");
}

#[test]
fn a_signal_that_kills_the_container_gives_128_plus_its_number() {
    let bundle = Bundle::busybox(&["sleep", "60"]);
    let rt = Runtime::new();
    let id = unique("sig");
    let mut run = rt
        .command()
        .args(["run", &id])
        .current_dir(&bundle.dir)
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if rt.root.join(&id).join("state.json").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    rt.wait_status(&id, "running");
    rt.ok(Path::new("/"), &["kill", &id, "KILL"]);
    assert_eq!(run.wait().unwrap().code(), Some(137));
    assert!(
        !rt.root.join(&id).exists(),
        "run removes the container after it exits"
    );
}

#[test]
fn create_start_state_exec_pause_kill_delete() {
    let bundle = Bundle::busybox(&["sleep", "60"]);
    let rt = Runtime::new();
    let id = unique("life");
    let pid_file = bundle.dir.join("pid");
    rt.ok(
        &bundle.dir,
        &["create", "--pid-file", pid_file.to_str().unwrap(), &id],
    );
    let state = rt.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], id.as_str());
    let pid = state["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert!(rt.ok(Path::new("/"), &["list"]).contains(&id));

    rt.ok(Path::new("/"), &["start", &id]);
    assert_eq!(rt.state(&id)["status"], "running");
    let again = rt.run_in(Path::new("/"), &["start", &id]);
    assert!(!again.status.success(), "starting twice must fail");

    let out = rt.run_in(
        Path::new("/"),
        &["exec", &id, "sh", "-c", "echo in $(hostname); exit 7"],
    );
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stdout(&out).trim(), "in runc");
    let ps = rt.ok(Path::new("/"), &["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_str(&ps).unwrap();
    assert!(pids.contains(&pid), "ps {pids:?} lacks init {pid}");

    rt.ok(Path::new("/"), &["pause", &id]);
    assert_eq!(rt.state(&id)["status"], "paused");
    rt.ok(Path::new("/"), &["resume", &id]);
    assert_eq!(rt.state(&id)["status"], "running");

    let stats = rt.ok(Path::new("/"), &["events", "--stats", &id]);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["type"], "stats");
    assert!(stats["data"]["pids"]["current"].as_u64().unwrap() >= 1);

    let refused = rt.run_in(Path::new("/"), &["delete", &id]);
    assert!(
        !refused.status.success(),
        "deleting a running container needs --force"
    );
    rt.ok(Path::new("/"), &["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    rt.ok(Path::new("/"), &["delete", &id]);
    let gone = rt.run_in(Path::new("/"), &["state", &id]);
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("does not exist"),
        "{}",
        stderr(&gone)
    );
    assert!(leftover_cgroups(&id).is_empty());
}

#[test]
fn delete_force_kills_a_paused_container() {
    let bundle = Bundle::busybox(&["sleep", "60"]);
    let rt = Runtime::new();
    let id = unique("frozen");
    rt.ok(&bundle.dir, &["run", "--detach", &id]);
    rt.ok(Path::new("/"), &["pause", &id]);
    rt.ok(Path::new("/"), &["delete", "--force", &id]);
    assert!(leftover_cgroups(&id).is_empty());
    assert!(!rt.root.join(&id).exists());
}

#[test]
fn limits_are_applied_and_updated() {
    let mut bundle = Bundle::busybox(&["sleep", "60"]);
    let id = unique("limits");
    bundle.edit(|c| {
        c["linux"]["resources"]["memory"] = json!({ "limit": 64 << 20 });
        c["linux"]["resources"]["pids"] = json!({ "limit": 32 });
        c["linux"]["cgroupsPath"] = json!(format!("/berth-test/{id}"));
    });
    let rt = Runtime::new();
    rt.ok(&bundle.dir, &["run", "-d", &id]);
    let cgroup = |controller: &str, file: &str| {
        let v1 = Path::new("/sys/fs/cgroup")
            .join(controller)
            .join("berth-test")
            .join(&id)
            .join(file);
        std::fs::read_to_string(v1)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(
        cgroup("memory", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(cgroup("pids", "pids.max"), "32");
    rt.ok(
        Path::new("/"),
        &["update", "--memory", "128m", "--pids-limit", "64", &id],
    );
    assert_eq!(
        cgroup("memory", "memory.limit_in_bytes"),
        (128u64 << 20).to_string()
    );
    assert_eq!(cgroup("pids", "pids.max"), "64");
    let inside = rt.ok(
        Path::new("/"),
        &["exec", &id, "cat", "/sys/fs/cgroup/pids/pids.max"],
    );
    assert_eq!(inside.trim(), "64");
    rt.ok(Path::new("/"), &["delete", "-f", &id]);
    let _ = std::fs::remove_dir("/sys/fs/cgroup/memory/berth-test");
    for c in [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
        "unified",
    ] {
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(c).join("berth-test"));
    }
}

#[test]
fn hooks_receive_the_state_and_run_in_order() {
    let mut bundle = Bundle::busybox(&["true"]);
    let log = bundle.dir.join("hooks.log");
    let hook = |name: &str| json!({ "path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} $(cat) >> {}", log.display())] });
    bundle.edit(|c| {
        c["hooks"] = json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")],
        });
    });
    let rt = Runtime::new();
    let id = unique("hooks");
    rt.ok(&bundle.dir, &["run", &id]);
    let text = std::fs::read_to_string(&log).unwrap();
    let order: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        order,
        ["prestart", "createRuntime", "poststart", "poststop"]
    );
    for line in text.lines() {
        let state: serde_json::Value =
            serde_json::from_str(line.split_once(' ').unwrap().1).unwrap();
        assert_eq!(state["id"], id.as_str());
    }
}

#[test]
fn a_failing_hook_fails_create_and_leaves_nothing() {
    let mut bundle = Bundle::busybox(&["true"]);
    bundle.edit(|c| c["hooks"] = json!({ "createRuntime": [{ "path": "/bin/false" }] }));
    let rt = Runtime::new();
    let id = unique("badhook");
    let out = rt.run_in(&bundle.dir, &["create", &id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("createRuntime hook /bin/false"),
        "{}",
        stderr(&out)
    );
    assert!(!rt.root.join(&id).exists());
    assert!(leftover_cgroups(&id).is_empty());
}

#[test]
fn spec_matches_runc_spec() {
    let Ok(runc) = std::process::Command::new("runc").arg("--version").output() else {
        panic!("runc is needed for this comparison (apt-get install runc)");
    };
    assert!(runc.status.success());
    let dir = std::env::temp_dir().join(unique("spec"));
    std::fs::create_dir_all(dir.join("runc")).unwrap();
    std::fs::create_dir_all(dir.join("berth")).unwrap();
    assert!(std::process::Command::new("runc")
        .args(["spec"])
        .current_dir(dir.join("runc"))
        .status()
        .unwrap()
        .success());
    let rt = Runtime::new();
    rt.ok(&dir.join("berth"), &["spec"]);
    let read = |p: &str| -> serde_json::Value {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(p).join("config.json")).unwrap())
                .unwrap();
        v.as_object_mut().unwrap().remove("ociVersion");
        v
    };
    assert_eq!(read("berth"), read("runc"));
    let again = rt.run_in(&dir.join("berth"), &["spec"]);
    assert!(
        !again.status.success(),
        "spec must not overwrite config.json"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
