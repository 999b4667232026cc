//! Regression tests for the runtime escapes the issue names: CVE-2019-5736 (/proc/self/exe),
//! CVE-2024-21626 (leaked fds and cwd), and mount destinations or masked paths that follow
//! symlinks out of the root (CVE-2021-30465, CVE-2025-31133 class).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{stderr, stdout, unique, Bundle, Runtime};
use serde_json::json;

#[test]
fn no_runtime_descriptor_reaches_the_container() {
    let bundle = Bundle::busybox(&["/bin/berth-probe", "fds"]);
    let rt = Runtime::new();
    let out = rt.run_in(&bundle.dir, &["run", &unique("fds")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "0 1 2");
}

#[test]
fn preserve_fds_passes_exactly_the_requested_descriptors() {
    let bundle = Bundle::busybox(&["/bin/berth-probe", "fds"]);
    let rt = Runtime::new();
    let id = unique("preserve");
    let script = format!(
        "exec 3</etc/hostname 4</etc/hostname; exec {} --root {} run --preserve-fds 1 {id}",
        common::runtime_path(),
        rt.root.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .current_dir(&bundle.dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "0 1 2 3");
}

#[test]
fn a_cwd_outside_the_root_through_proc_is_refused() {
    let mut bundle = Bundle::busybox(&["true"]);
    let rt = Runtime::new();
    for fd in 3..8 {
        bundle.edit(|c| c["process"]["cwd"] = json!(format!("/proc/self/fd/{fd}")));
        let id = unique("cwd");
        let out = rt.run_in(&bundle.dir, &["run", &id]);
        assert!(!out.status.success(), "cwd /proc/self/fd/{fd} was accepted");
        assert!(stderr(&out).contains("cwd"), "{}", stderr(&out));
        assert!(!rt.root.join(&id).exists());
    }
}

#[test]
fn mount_destinations_through_symlinks_stay_in_the_root() {
    let outside = std::env::temp_dir().join(unique("berth-outside"));
    std::fs::create_dir_all(&outside).unwrap();
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "grep -c -e ' /tmp/berth-outside[^ ]*/sub ' -e ' /sub2 ' /proc/mounts",
    ]);
    std::os::unix::fs::symlink(&outside, bundle.rootfs().join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", bundle.rootfs().join("tmp/up"))
        .unwrap_or(());
    bundle.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({ "destination": "/evil/sub", "type": "tmpfs", "source": "tmpfs" }));
        mounts.push(json!({ "destination": "/tmp/up/sub2", "type": "tmpfs", "source": "tmpfs" }));
        c["root"]["readonly"] = json!(false);
    });
    let rt = Runtime::new();
    let out = rt.run_in(&bundle.dir, &["run", &unique("symlink")]);
    let escaped = std::fs::read_dir(&outside).unwrap().count();
    std::fs::remove_dir_all(&outside).unwrap();
    assert_eq!(escaped, 0, "a mount point was created outside the root");
    assert!(
        !Path::new("/sub2").exists(),
        "a mount point was created at the host's /"
    );
    assert!(
        bundle
            .rootfs()
            .join(outside.strip_prefix("/").unwrap())
            .join("sub")
            .is_dir(),
        "created inside the root instead"
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "2",
        "both mounts inside the container's root"
    );
}

#[test]
fn masked_paths_use_the_real_null_device_and_readonly_paths_hold() {
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "stat -c %t:%T /proc/version; echo x > /proc/sys/kernel/core_pattern && echo writable || echo readonly",
    ]);
    // A planted /dev/null symlink must not decide what gets mounted over masked paths.
    std::fs::create_dir_all(bundle.rootfs().join("dev")).unwrap();
    std::os::unix::fs::symlink(
        "/proc/sys/kernel/core_pattern",
        bundle.rootfs().join("dev/null"),
    )
    .unwrap();
    bundle.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        c["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push(json!("/proc/version"));
    });
    let before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let rt = Runtime::new();
    let out = rt.run_in(&bundle.dir, &["run", &unique("mask")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>(),
        ["1:3", "readonly"]
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
}

/// CVE-2019-5736 through /proc/PID/exe: a container that shares the host's pid namespace has
/// an init that other processes can see while it runs the runtime's binary, so the runtime
/// re-executes itself from a sealed read-only mount first. An attacker with CAP_SYS_PTRACE in
/// the host pid namespace takes a handle on that binary, waits until no one executes it, then
/// tries to open it for writing: it must fail with EROFS.
#[test]
fn the_runtime_binary_cannot_be_opened_for_writing_from_a_container() {
    let mut victim = Bundle::busybox(&["true"]);
    victim.edit(|c| c["linux"]["namespaces"] = json!([{ "type": "mount" }, { "type": "uts" }]));
    let rt = Runtime::new();
    let victim_id = unique("victim");
    rt.ok(&victim.dir, &["create", &victim_id]);
    let init_pid = rt.state(&victim_id)["pid"].as_i64().unwrap();

    let shared = std::env::temp_dir().join(unique("berth-shared"));
    std::fs::create_dir_all(&shared).unwrap();
    let mut attacker = Bundle::busybox(&[
        "sh",
        "-c",
        &format!("/bin/berth-probe hold-exe {init_pid} /shared/go > /shared/result 2>&1"),
    ]);
    attacker.edit(|c| {
        // Host pid namespace and CAP_SYS_PTRACE: the most an attacker could have short of
        // being handed the host outright.
        c["linux"]["namespaces"] =
            json!([{ "type": "mount" }, { "type": "uts" }, { "type": "ipc" }]);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] =
                json!(["CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE", "CAP_KILL"]);
        }
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]
        }));
    });
    let attacker_id = unique("attacker");
    rt.ok(&attacker.dir, &["run", "-d", &attacker_id]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !shared.join("go.ready").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    rt.ok(Path::new("/"), &["delete", "-f", &victim_id]);
    std::fs::write(shared.join("go"), "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let result = loop {
        let text = std::fs::read_to_string(shared.join("result")).unwrap_or_default();
        if !text.is_empty() || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::fs::remove_dir_all(&shared).unwrap();
    assert_eq!(
        result.trim(),
        "refused: EROFS",
        "the attacker's attempt: {result:?}"
    );
}

/// CVE-2019-5736 the classic way: the container's program resolves to /proc/self/exe (directly,
/// through a symlink, or as a script's interpreter), which during the init's exec is the
/// runtime's binary. It must be refused, never run.
#[test]
fn the_container_cannot_execute_the_runtime_binary() {
    let cases: [(&str, &[&str]); 3] = [
        ("direct", &["/proc/self/exe", "--version"]),
        ("symlink", &["/bin/evil", "--version"]),
        ("script", &["/bin/evil-script"]),
    ];
    for (name, args) in cases {
        let bundle = Bundle::busybox(args);
        std::os::unix::fs::symlink("/proc/self/exe", bundle.rootfs().join("bin/evil")).unwrap();
        std::fs::write(
            bundle.rootfs().join("bin/evil-script"),
            "#!/proc/self/exe\n",
        )
        .unwrap();
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(bundle.rootfs().join("bin/evil-script"), mode).unwrap();
        let rt = Runtime::new();
        let out = rt.run_in(&bundle.dir, &["run", &unique(name)]);
        assert!(
            !out.status.success(),
            "{name}: the runtime binary ran: {}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains("it is the runtime's own binary"),
            "{name}: {}",
            stderr(&out)
        );
        assert!(
            !stdout(&out).contains("berth-runtime"),
            "{name}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn scripts_still_run_with_the_arguments_the_kernel_would_give() {
    let bundle = Bundle::busybox(&["/bin/show-args", "one", "two"]);
    std::fs::write(
        bundle.rootfs().join("bin/show-args"),
        "#!/bin/sh -e\necho \"$0 $*\"\n",
    )
    .unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(bundle.rootfs().join("bin/show-args"), mode).unwrap();
    let rt = Runtime::new();
    let out = rt.run_in(&bundle.dir, &["run", &unique("script")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "/bin/show-args one two");
}
