//! More of the runtime spec, each checked from inside the container: seccomp notify and argument
//! conditions, cgroup and time namespaces, --no-pivot, oom_score_adj, and the hooks that run
//! inside the container or time out.

mod common;

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{leftover_cgroups, stderr, stdout, unique, Bundle, Runtime};
use serde_json::json;

fn run_ok(bundle: &Bundle, extra: &[&str]) -> String {
    let rt = Runtime::new();
    let id = unique("cov");
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.push(&id);
    let out = rt.run_in(&bundle.dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn seccomp_notify_hands_the_listener_and_state_to_the_agent() {
    let mut bundle = Bundle::busybox(&["sh", "-c", "mkdir /tmp/notified 2>&1; echo done"]);
    let socket = bundle.dir.join("agent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    bundle.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket,
            "listenerMetadata": "from-the-test",
            "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY" }]
        });
    });
    // The agent: take the listener, answer the first notification with EACCES.
    let agent = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 8192];
        let (len, fd) =
            berth_sys::recv_with_fd(std::os::fd::AsFd::as_fd(&stream), &mut buf).unwrap();
        let fd = fd.expect("the seccomp listener fd");
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        let request = libseccomp::ScmpNotifReq::receive(raw).unwrap();
        let response = libseccomp::ScmpNotifResp::new_error(
            request.id,
            -libc::EACCES,
            libseccomp::ScmpNotifRespFlags::empty(),
        );
        response.respond(raw).unwrap();
        serde_json::from_slice::<serde_json::Value>(&buf[..len]).unwrap()
    });
    let out = run_ok(&bundle, &[]);
    let payload = agent.join().unwrap();
    assert!(out.contains("Permission denied"), "{out}");
    assert!(out.contains("done"));
    assert_eq!(payload["fds"], json!(["seccompFd"]));
    assert_eq!(payload["metadata"], "from-the-test");
    assert!(
        payload["state"]["id"].as_str().unwrap().starts_with("cov-"),
        "{payload}"
    );
}

#[test]
fn seccomp_argument_conditions_select_calls() {
    // personality(PER_LINUX32) is refused; personality(PER_LINUX) is not.
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "linux32 true && echo 32-allowed || echo 32-refused; linux64 true && echo 64-allowed || echo 64-refused",
    ]);
    bundle.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 1,
                "args": [{ "index": 0, "value": 8, "op": "SCMP_CMP_EQ" }]
            }]
        });
    });
    let out = run_ok(&bundle, &[]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["32-refused", "64-allowed"]
    );
}

#[test]
fn cgroup_namespace_hides_the_host_path() {
    let mut bundle = Bundle::busybox(&["sh", "-c", "grep -E ':(memory|pids):' /proc/self/cgroup"]);
    bundle.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "type": "cgroup" }))
    });
    let out = run_ok(&bundle, &[]);
    assert!(!out.is_empty());
    for line in out.lines() {
        assert!(
            line.ends_with(":/"),
            "the container sees its cgroup as the root: {out}"
        );
    }
}

#[test]
fn time_namespace_offsets_the_monotonic_clocks() {
    let mut bundle = Bundle::busybox(&["cut", "-d.", "-f1", "/proc/uptime"]);
    bundle.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "type": "time" }));
        c["linux"]["timeOffsets"] = json!({ "boottime": { "secs": 31_536_000u64, "nanosecs": 0 } });
    });
    let uptime: u64 = run_ok(&bundle, &[]).trim().parse().unwrap();
    assert!(uptime >= 31_536_000, "uptime {uptime} not offset by a year");
}

#[test]
fn no_pivot_and_oom_score_adj() {
    let mut bundle = Bundle::busybox(&["sh", "-c", "cat /proc/self/oom_score_adj; ls /"]);
    bundle.edit(|c| c["process"]["oomScoreAdj"] = json!(500));
    let out = run_ok(&bundle, &["--no-pivot"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "500");
    assert!(lines.contains(&"bin") && !lines.contains(&"work"), "{out}");
}

#[test]
fn container_side_hooks_run_in_the_container() {
    let mut bundle = Bundle::busybox(&["true"]);
    let host_log = bundle.dir.join("create-container.log");
    bundle.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["hooks"] = json!({
            // Path resolved in the runtime's namespace, run in the container's mount namespace
            // before pivot_root: the host's files are still visible.
            "createContainer": [{ "path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", host_log.display())] }],
            // Runs inside the container after pivot_root: /tmp is the container's.
            "startContainer": [{ "path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/start-container.log"] }]
        });
    });
    run_ok(&bundle, &[]);
    let created: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&host_log).unwrap()).unwrap();
    assert_eq!(created["status"], "created");
    let started = std::fs::read_to_string(bundle.rootfs().join("tmp/start-container.log")).unwrap();
    assert!(started.contains("\"id\""), "{started}");
}

#[test]
fn a_hook_that_outlives_its_timeout_fails_the_create() {
    let mut bundle = Bundle::busybox(&["true"]);
    bundle.edit(|c| {
        c["hooks"] = json!({ "createRuntime": [{ "path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1 }] });
    });
    let rt = Runtime::new();
    let id = unique("slowhook");
    let started = Instant::now();
    let out = rt.run_in(&bundle.dir, &["create", &id]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("timed out after 1s"),
        "{}",
        stderr(&out)
    );
    assert!(leftover_cgroups(&id).is_empty());
    assert!(!Path::new(&rt.root).join(&id).exists());
}
