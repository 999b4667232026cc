//! Device rules on cgroup v2 are an eBPF program; this checks it against the kernel by putting a
//! shell into a cgroup2 directory with the program attached (works on hybrid hosts too).

use std::process::Command;

use berth_runtime::cgroups::{devices, Layout};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

fn rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(typ);
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.into()));
    r
}

/// Removes the cgroup directory even if the test fails.
struct TempCgroup(std::path::PathBuf);

impl Drop for TempCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn ebpf_device_rules_allow_and_deny_as_listed() {
    let layout = Layout::detect().unwrap();
    let unified = layout.unified().expect("a cgroup2 hierarchy is mounted");
    let dir = TempCgroup(unified.join(format!("berth-test-devices-{}", std::process::id())));
    std::fs::create_dir(&dir.0).unwrap();
    let rules = [
        rule(false, None, None, None, "rwm"),
        rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), "r"),
        rule(true, Some(LinuxDeviceType::C), Some(1), Some(7), "rw"),
        rule(false, Some(LinuxDeviceType::C), Some(1), Some(7), "w"),
    ];
    devices::apply(&dir.0, &rules).unwrap();
    // No redirection to /dev/null in here: writing it is one of the denied accesses.
    let script = format!(
        "echo $$ > {}/cgroup.procs; exec 2>&-; \
         cat /dev/null && echo null-read-ok; \
         (echo x > /dev/null) && echo null-write-ok || echo null-write-denied; \
         [ \"$(head -c1 /dev/zero | wc -c)\" = 1 ] && echo zero-ok || echo zero-denied; \
         [ \"$(head -c1 /dev/full | wc -c)\" = 1 ] && echo full-read-ok || echo full-read-denied; \
         (echo x > /dev/full) && echo full-write-ok || echo full-write-denied",
        dir.0.display()
    );
    let out = Command::new("/bin/sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "null-read-ok",
            "null-write-denied",
            "zero-denied",
            "full-read-ok",
            "full-write-denied"
        ],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
