//! The spec `spec::build` makes for a plain `docker run IMAGE sh` compared with the one Debian's
//! dockerd (20.10) hands containerd for the same container: the security defaults must agree.

mod spec_support;

use std::collections::{BTreeMap, BTreeSet};

use berth_engine::spec::{build, etc_paths, write_etc_files};
use berth_testkit::{busybox_layer, docker_archive, Engine, EngineOptions};
use serde_json::Value;
use spec_support::Bundle;

/// The spec dockerd stored for a created container, read back from containerd.
fn docker_spec(engine: &Engine) -> Value {
    let archive = engine.dir.join("busybox.tar");
    docker_archive(&archive, &[busybox_layer()], Some("spec-busybox:1"));
    engine.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    // dockerd 20.10 hands the spec to containerd only when the container starts.
    let id = engine.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "spec-busybox:1",
        "/bin/busybox",
        "sleep",
        "600",
    ]);
    let out = engine.ctr(&["--namespace", "moby", "containers", "info", id.trim()]);
    let info: Value = serde_json::from_str(&engine.expect_ok(out).stdout).unwrap();
    info["Spec"].clone()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// Each mount as (type, sorted options), by destination.
fn mounts(spec: &Value) -> BTreeMap<String, (String, BTreeSet<String>)> {
    spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["destination"].as_str().unwrap().to_string(),
                (
                    m["type"].as_str().unwrap_or("").to_string(),
                    strings(&m["options"]),
                ),
            )
        })
        .collect()
}

/// Every (syscall, action, errno, args) the filter lists.
fn seccomp_rules(spec: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rule in spec["linux"]["seccomp"]["syscalls"].as_array().unwrap() {
        for name in rule["names"].as_array().unwrap() {
            out.insert(format!(
                "{} {} {} {}",
                name.as_str().unwrap(),
                rule["action"],
                rule["errnoRet"],
                sorted_keys(&rule["args"])
            ));
        }
    }
    out
}

/// `value` as JSON text with every object's keys sorted, so that equal rules compare equal.
fn sorted_keys(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let fields: std::collections::BTreeMap<_, _> =
                map.iter().map(|(k, v)| (k, sorted_keys(v))).collect();
            let fields: Vec<String> = fields
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(sorted_keys).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// What moby changed in its defaults after 20.10 (the version Debian 12 ships), which berth
/// follows: syscalls it allows since, `socket` closed to AF_VSOCK, powercap masked.
const NEWER_ALLOWED: [&str; 7] = [
    "name_to_handle_at \"SCMP_ACT_ALLOW\" null null",
    "pkey_alloc \"SCMP_ACT_ALLOW\" null null",
    "pkey_free \"SCMP_ACT_ALLOW\" null null",
    "pkey_mprotect \"SCMP_ACT_ALLOW\" null null",
    "process_vm_readv \"SCMP_ACT_ALLOW\" null null",
    "process_vm_writev \"SCMP_ACT_ALLOW\" null null",
    "socket \"SCMP_ACT_ALLOW\" null [{\"index\":0,\"op\":\"SCMP_CMP_NE\",\"value\":40}]",
];
const OLDER_ALLOWED: [&str; 1] = ["socket \"SCMP_ACT_ALLOW\" null null"];

#[test]
fn plain_run_matches_dockerd() {
    let engine = Engine::start("spec-docker", EngineOptions::default());
    let docker = docker_spec(&engine);
    let b = Bundle::busybox("docker");
    let mut input = b.input(&["sh"]);
    let etc = b.dir.join("etc-files");
    std::fs::create_dir(&etc).unwrap();
    write_etc_files(&etc, "spectest", "127.0.0.1\tlocalhost\n", "").unwrap();
    input.etc_files = etc_paths(&etc);
    let ours = serde_json::to_value(build(&input).unwrap()).unwrap();

    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        assert_eq!(
            strings(&ours["process"]["capabilities"][set]),
            strings(&docker["process"]["capabilities"][set]),
            "capabilities.{set}"
        );
    }
    let mut docker_masked = strings(&docker["linux"]["maskedPaths"]);
    docker_masked.insert("/sys/devices/virtual/powercap".to_string());
    assert_eq!(strings(&ours["linux"]["maskedPaths"]), docker_masked);
    assert_eq!(
        strings(&ours["linux"]["readonlyPaths"]),
        strings(&docker["linux"]["readonlyPaths"])
    );
    assert_eq!(mounts(&ours), mounts(&docker));
    let ns = |s: &Value| {
        s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(ns(&ours), ns(&docker));
    assert_eq!(
        ours["process"]["oomScoreAdj"],
        docker["process"]["oomScoreAdj"]
    );
    assert!(ours["process"]["rlimits"].is_null() && docker["process"]["rlimits"].is_null());

    // Devices: both deny everything first; every device dockerd allows, berth allows (berth
    // also lists the mknod, pts, ptmx, full and tun rules runc adds by itself under dockerd).
    let our_rules = ours["linux"]["resources"]["devices"].as_array().unwrap();
    let docker_rules = docker["linux"]["resources"]["devices"].as_array().unwrap();
    assert_eq!(our_rules[0]["allow"], false);
    assert_eq!(docker_rules[0]["allow"], false);
    for rule in docker_rules.iter().filter(|r| r["allow"] == true) {
        assert!(
            our_rules.contains(rule),
            "dockerd allows {rule}, berth does not"
        );
    }

    let (ours_s, docker_s) = (&ours["linux"]["seccomp"], &docker["linux"]["seccomp"]);
    assert_eq!(ours_s["defaultAction"], docker_s["defaultAction"]);
    assert_eq!(ours_s["architectures"], docker_s["architectures"]);
    let (our_rules, docker_rules) = (seccomp_rules(&ours), seccomp_rules(&docker));
    let only_docker: Vec<&str> = docker_rules
        .difference(&our_rules)
        .map(|s| s.as_str())
        .collect();
    let only_ours: Vec<&str> = our_rules
        .difference(&docker_rules)
        .map(|s| s.as_str())
        .collect();
    assert_eq!(only_docker, OLDER_ALLOWED);
    assert_eq!(only_ours, NEWER_ALLOWED);
}
