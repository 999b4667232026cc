//! What a container's process sees: identity, capabilities, limits, terminal, seccomp, user
//! namespaces, sysctls and a read-only root. Each check is made from inside the container.

mod common;

use std::io::Read;
use std::os::unix::net::UnixListener;
use std::path::Path;

use common::{stderr, stdout, unique, Bundle, Runtime};
use serde_json::json;

fn run_output(bundle: &Bundle) -> String {
    let rt = Runtime::new();
    let out = rt.run_in(&bundle.dir, &["run", &unique("feat")]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn process_identity_limits_and_capabilities() {
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "id -u; id -G; ulimit -n; umask; pwd; grep -E '^Cap(Eff|Bnd)' /proc/self/status; grep NoNewPrivs /proc/self/status; echo $GREETING",
    ]);
    bundle.edit(|c| {
        c["process"]["user"] =
            json!({ "uid": 1000, "gid": 1000, "additionalGids": [2000, 3000], "umask": 63 });
        c["process"]["rlimits"] = json!([{ "type": "RLIMIT_NOFILE", "hard": 512, "soft": 256 }]);
        c["process"]["cwd"] = json!("/tmp");
        c["process"]["env"] = json!(["PATH=/bin", "GREETING=hello"]);
        for set in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            c["process"]["capabilities"][set] = json!(["CAP_NET_BIND_SERVICE", "CAP_KILL"]);
        }
    });
    let out = run_output(&bundle);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "1000 2000 3000");
    assert_eq!(lines[2], "256");
    assert_eq!(lines[3], "0077");
    assert_eq!(lines[4], "/tmp");
    // CAP_KILL (5) and CAP_NET_BIND_SERVICE (10), kept across the uid change as ambient caps.
    assert_eq!(lines[5], "CapEff:\t0000000000000420");
    assert_eq!(lines[6], "CapBnd:\t0000000000000420");
    assert_eq!(lines[7], "NoNewPrivs:\t1");
    assert_eq!(lines[8], "hello");
}

#[test]
fn read_only_root_hostname_and_sysctl() {
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo rw || echo ro; hostname; cat /proc/sys/kernel/domainname; cat /proc/sys/net/ipv4/ip_unprivileged_port_start",
    ]);
    bundle.edit(|c| {
        c["hostname"] = json!("berth-box");
        c["domainname"] = json!("example.test");
        c["linux"]["sysctl"] = json!({ "net.ipv4.ip_unprivileged_port_start": "80" });
    });
    assert_eq!(
        run_output(&bundle).lines().collect::<Vec<_>>(),
        ["ro", "berth-box", "example.test", "80"]
    );
}

#[test]
fn seccomp_errno_rule_blocks_a_syscall() {
    let mut bundle = Bundle::busybox(&["sh", "-c", "mkdir /tmp/d 2>&1; echo still-running"]);
    bundle.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 }]
        });
        c["root"]["readonly"] = json!(false);
    });
    let out = run_output(&bundle);
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("still-running"));
}

/// A user namespace whose root is host uid/gid 100000 (65536 ids).
fn map_root_to_100000(c: &mut serde_json::Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "user" }));
    c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    // sysfs and the cgroup hierarchy cannot be mounted by an unprivileged user namespace.
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["type"] != "sysfs" && m["type"] != "cgroup");
}

#[test]
fn user_namespace_maps_root_to_an_unprivileged_host_id() {
    let mut bundle = Bundle::busybox(&["sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let rootfs = bundle.rootfs();
    // The mapped root must be able to read its root file system.
    std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(&rootfs)
        .status()
        .unwrap();
    bundle.edit(map_root_to_100000);
    let out = run_output(&bundle);
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields, ["0", "0", "100000", "65536"]);
}

#[test]
fn console_socket_receives_the_pty_master() {
    let mut bundle = Bundle::busybox(&["sh", "-c", "tty; echo on-the-terminal"]);
    bundle.edit(|c| c["process"]["terminal"] = json!(true));
    let socket_path = bundle.dir.join("console.sock");
    let listener = UnixListener::bind(&socket_path).unwrap();
    let rt = Runtime::new();
    let id = unique("tty");
    let receiver = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let (_, master) =
            berth_sys::recv_with_fd(std::os::fd::AsFd::as_fd(&stream), &mut buf).unwrap();
        let mut master = std::fs::File::from(master.expect("a pty master"));
        let mut text = String::new();
        let mut chunk = [0u8; 1024];
        // Read until the slave side closes (EIO) after the program exits.
        while let Ok(n) = master.read(&mut chunk) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&chunk[..n]));
            if text.contains("on-the-terminal") {
                break;
            }
        }
        text
    });
    rt.ok(
        &bundle.dir,
        &[
            "run",
            "-d",
            "--console-socket",
            socket_path.to_str().unwrap(),
            &id,
        ],
    );
    let text = receiver.join().unwrap();
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("on-the-terminal"), "{text:?}");
}

#[test]
fn exec_with_a_process_document() {
    let bundle = Bundle::busybox(&["sleep", "60"]);
    let rt = Runtime::new();
    let id = unique("procdoc");
    rt.ok(&bundle.dir, &["run", "-d", &id]);
    let process = json!({
        "args": ["sh", "-c", "id -u; pwd; echo $FROM_DOC"],
        "env": ["PATH=/bin", "FROM_DOC=yes"],
        "cwd": "/tmp",
        "user": { "uid": 65534, "gid": 65534 }
    });
    let doc = bundle.dir.join("process.json");
    std::fs::write(&doc, process.to_string()).unwrap();
    let out = rt.ok(
        Path::new("/"),
        &["exec", "--process", doc.to_str().unwrap(), &id],
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["65534", "/tmp", "yes"]);
}

#[test]
fn foreground_run_relays_a_terminal() {
    let mut bundle = Bundle::busybox(&["sh"]);
    bundle.edit(|c| c["process"]["terminal"] = json!(true));
    let rt = Runtime::new();
    let mut child = rt
        .command()
        .args(["run", &unique("fgtty")])
        .current_dir(&bundle.dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo typed-$((40+2)); exit 4\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stdout).contains("typed-42"));
}

#[test]
fn scheduler_io_priority_and_cpu_affinity() {
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "grep -E '^policy' /proc/self/sched | tr -d ' '; cut -d' ' -f19 /proc/self/stat; ionice -p $$; grep Cpus_allowed_list /proc/self/status",
    ]);
    bundle.edit(|c| {
        c["process"]["scheduler"] = json!({ "policy": "SCHED_BATCH", "nice": 5 });
        c["process"]["ioPriority"] = json!({ "class": "IOPRIO_CLASS_BE", "priority": 4 });
        c["process"]["execCPUAffinity"] = json!({ "final": "0" });
    });
    let out = run_output(&bundle);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "policy:3", "{out}");
    assert_eq!(lines[1], "5", "{out}");
    assert!(
        lines[2].contains("best-effort") && lines[2].contains('4'),
        "{out}"
    );
    assert_eq!(lines[3], "Cpus_allowed_list:\t0", "{out}");
}

#[test]
fn devices_are_created_including_fifos() {
    let mut bundle = Bundle::busybox(&["sh", "-c", "ls -l /dev/fuse /dev/test-fifo | cut -c1"]);
    bundle.edit(|c| {
        c["linux"]["devices"] = json!([
            { "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438 },
            { "path": "/dev/test-fifo", "type": "p", "major": 0, "minor": 0, "fileMode": 432 }
        ]);
    });
    assert_eq!(run_output(&bundle).lines().collect::<Vec<_>>(), ["c", "p"]);
}

#[test]
fn a_mount_namespace_joined_by_path_still_gets_the_root_file_system() {
    // A process that holds a fresh mount namespace open for the container to join.
    let mut holder = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sleep", "60"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut bundle = Bundle::busybox(&["sh", "-c", "test -x /bin/berth-probe && echo in-rootfs"]);
    let path = format!("/proc/{}/ns/mnt", holder.id());
    bundle.edit(|c| {
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|n| n["type"] != "mount");
        namespaces.push(json!({ "type": "mount", "path": path }));
    });
    let rt = Runtime::new();
    let out = rt.run_in(&bundle.dir, &["run", &unique("joinmnt")]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "in-rootfs");
}

#[test]
fn a_user_namespace_root_need_not_reach_the_bundle() {
    // The bundle sits in a root-owned 0700 directory that host uid 100000 cannot enter.
    let private = std::env::temp_dir().join(unique("berth-private"));
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut bundle = Bundle::busybox(&["id", "-u"]);
    let moved = private.join("bundle");
    std::fs::rename(&bundle.dir, &moved).unwrap();
    bundle.dir = moved;
    bundle.edit(map_root_to_100000);
    let out = run_output(&bundle);
    drop(bundle);
    std::fs::remove_dir_all(&private).unwrap();
    assert_eq!(out.trim(), "0");
}
