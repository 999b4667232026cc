//! Seccomp and the other security options of `spec::build`, seen from inside real containers.

mod spec_support;

use berth_engine::spec::SeccompChoice;
use spec_support::Bundle;

#[test]
fn default_seccomp_blocks_namespaces_but_not_ordinary_programs() {
    let b = Bundle::busybox("seccomp-default");
    let mut input = b.input(&["unshare", "-U", "true"]);
    let ran = b.run(&input);
    assert_ne!(ran.code, Some(0), "unshare -U succeeded: {}", ran.stderr);
    assert!(
        ran.stderr.contains("Operation not permitted"),
        "{}",
        ran.stderr
    );
    // Ordinary work — forks, pipes, files — goes on.
    let out = b.sh("echo one | tr o O; mkdir /tmp/d && ls /tmp", |_| {});
    assert_eq!(out, "One\nd\n");
    // Unconfined lets the same call through.
    input.seccomp = SeccompChoice::Unconfined;
    let ran = b.run(&input);
    assert_eq!(ran.code, Some(0), "unconfined unshare -U: {}", ran.stderr);
}

#[test]
fn cap_sys_admin_opens_the_profile_like_docker() {
    let b = Bundle::busybox("seccomp-sysadmin");
    let out = b.sh("unshare -m true && echo unshared", |i| {
        i.cap_add = vec!["SYS_ADMIN".into()];
    });
    assert_eq!(out, "unshared\n");
}

#[test]
fn profile_file_denying_mkdir() {
    let b = Bundle::busybox("seccomp-profile");
    let profile = r#"{
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    }"#;
    let mut input = b.input(&["mkdir", "/tmp/nope"]);
    input.seccomp = SeccompChoice::Profile(profile.to_string());
    let ran = b.run(&input);
    assert_ne!(ran.code, Some(0));
    assert!(
        ran.stderr.contains("Operation not permitted"),
        "{}",
        ran.stderr
    );
    assert!(!b.rootfs().join("tmp/nope").exists());
    let out = b.sh("touch /tmp/file && echo touched", |i| {
        i.seccomp = SeccompChoice::Profile(profile.to_string());
    });
    assert_eq!(out, "touched\n");
}

#[test]
fn malformed_profile_is_refused_before_running() {
    let b = Bundle::busybox("seccomp-bad");
    let mut input = b.input(&["true"]);
    input.seccomp = SeccompChoice::Profile(r#"{"defaultAction": "SCMP_ACT_PERHAPS"}"#.into());
    let err = berth_engine::spec::build(&input).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid seccomp profile: unknown action \"SCMP_ACT_PERHAPS\""
    );
}

#[test]
fn no_new_privileges_is_visible() {
    let b = Bundle::busybox("nnp");
    let out = b.sh("grep NoNewPrivs /proc/self/status", |_| {});
    assert_eq!(out, "NoNewPrivs:\t0\n");
    let out = b.sh("grep NoNewPrivs /proc/self/status", |i| {
        i.no_new_privileges = true
    });
    assert_eq!(out, "NoNewPrivs:\t1\n");
}

#[test]
fn namespaced_sysctls_apply_and_others_are_refused() {
    let b = Bundle::busybox("sysctl");
    let out = b.sh(
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
        |i| {
            i.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
            i.sysctls.insert("kernel.shmmni".into(), "1000".into());
        },
    );
    assert_eq!(out, "1\n1000\n");
    let mut input = b.input(&["true"]);
    input.sysctls.insert("kernel.panic".into(), "1".into());
    let err = berth_engine::spec::build(&input).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"kernel.panic\" is not in a separate kernel namespace"),
        "{err}"
    );
    let mut input = b.input(&["true"]);
    input.network = berth_engine::spec::Namespace::Host;
    input
        .sysctls
        .insert("net.ipv4.ip_forward".into(), "1".into());
    let err = berth_engine::spec::build(&input).unwrap_err();
    assert!(err.to_string().contains("host network namespace"), "{err}");
}

#[test]
fn devices_outside_the_defaults_are_denied() {
    let b = Bundle::busybox("devices");
    // A node made with CAP_MKNOD exists, but the device cgroup refuses opening it.
    let out = b.sh(
        "mknod /tmp/mem c 1 1 && (head -c 1 /tmp/mem >/dev/null 2>&1 && echo opened || echo denied)",
        |_| {},
    );
    assert_eq!(out, "denied\n");
    let out = b.sh("head -c 3 /dev/urandom | wc -c", |_| {});
    assert_eq!(out.trim(), "3");
}

#[test]
fn ulimits_and_pids_limit() {
    let b = Bundle::busybox("ulimit");
    let out = b.sh("ulimit -n; ulimit -Hn", |i| {
        i.ulimits = vec![berth_engine::spec::Ulimit {
            name: "nofile".into(),
            soft: 256,
            hard: 512,
        }];
    });
    assert_eq!(out, "256\n512\n");
    let out = b.sh("cat /sys/fs/cgroup/pids/pids.max", |i| {
        i.pids_limit = Some(42)
    });
    assert_eq!(out, "42\n");
}

#[test]
fn device_flag_adds_the_node_and_its_rule() {
    let b = Bundle::busybox("device-flag");
    let out = b.sh(
        "ls -l /dev/myfuse | cut -c1; (exec 3<>/dev/myfuse) && echo opened",
        |i| {
            i.devices = vec![berth_engine::spec::Device {
                host_path: "/dev/fuse".into(),
                container_path: "/dev/myfuse".into(),
                permissions: "rw".into(),
            }];
        },
    );
    assert_eq!(out, "c\nopened\n");
    let out = b.sh(
        "mknod /tmp/fuse c 10 229 && ((exec 3<>/tmp/fuse) 2>/dev/null && echo opened || echo denied)",
        |_| {},
    );
    assert_eq!(out, "denied\n");
}

#[test]
fn privileged_sees_host_devices() {
    let b = Bundle::busybox("device-privileged");
    let out = b.sh("(exec 3<>/dev/fuse) && echo opened", |i| {
        i.privileged = true
    });
    assert_eq!(out, "opened\n");
}
