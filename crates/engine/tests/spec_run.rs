//! Containers run from `spec::build`: what a program inside sees matches Docker's defaults.

mod spec_support;

use spec_support::Bundle;

#[test]
fn default_capabilities_are_dockers() {
    let b = Bundle::busybox("caps");
    let out = b.sh("grep Cap /proc/self/status", |_| {});
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    assert!(out.contains("CapPrm:\t00000000a80425fb"), "{out}");
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    assert!(out.contains("CapInh:\t0000000000000000"), "{out}");
    assert!(out.contains("CapAmb:\t0000000000000000"), "{out}");
}

#[test]
fn privileged_gets_every_capability_and_no_masks() {
    let b = Bundle::busybox("privileged");
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let host_bounding = host.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    let out = b.sh(
        "grep Cap /proc/self/status; wc -c < /proc/timer_list",
        |i| i.privileged = true,
    );
    let eff = host_bounding.replace("CapBnd", "CapEff");
    assert!(out.contains(&eff), "host {host_bounding}, container {out}");
    let timer_list: u64 = out.lines().last().unwrap().trim().parse().unwrap();
    assert!(timer_list > 0, "/proc/timer_list is masked: {out}");
}

#[test]
fn cap_add_and_drop_change_the_mask() {
    let b = Bundle::busybox("capadd");
    let out = b.sh("grep CapEff /proc/self/status", |i| {
        i.cap_add = vec!["NET_ADMIN".into()];
        i.cap_drop = vec!["CAP_CHOWN".into()];
    });
    // a80425fb without CHOWN (bit 0), with NET_ADMIN (bit 12).
    assert_eq!(out.trim(), "CapEff:\t00000000a80435fa");
    let out = b.sh("grep CapEff /proc/self/status", |i| {
        i.cap_drop = vec!["ALL".into()];
        i.cap_add = vec!["KILL".into()];
    });
    assert_eq!(out.trim(), "CapEff:\t0000000000000020");
}

#[test]
fn masked_and_readonly_paths() {
    let b = Bundle::busybox("masked");
    let out = b.sh(
        "echo timer_list=$(wc -c < /proc/timer_list); echo firmware=$(ls -A /sys/firmware | wc -l); \
         echo 1 > /proc/sys/kernel/ns_last_pid || echo sys-write-refused",
        |_| {},
    );
    // (This host's kernel has no /proc/kcore; /proc/timer_list is masked the same way.)
    assert!(
        out.contains("timer_list=0\n"),
        "/proc/timer_list is readable: {out}"
    );
    assert!(
        out.contains("firmware=0\n"),
        "/sys/firmware is visible: {out}"
    );
    assert!(out.contains("sys-write-refused"), "{out}");
}

#[test]
fn dev_shm_is_64_mib_unless_asked() {
    let b = Bundle::busybox("shm");
    let out = b.sh("df -k /dev/shm | tail -1", |_| {});
    assert_eq!(out.split_whitespace().nth(1), Some("65536"), "{out}");
    let out = b.sh("df -k /dev/shm | tail -1", |i| i.shm_size = Some(8 << 20));
    assert_eq!(out.split_whitespace().nth(1), Some("8192"), "{out}");
}

#[test]
fn standard_mounts_and_devices() {
    let b = Bundle::busybox("mounts");
    let out = b.sh(
        "grep -E ' (/proc|/dev|/dev/pts|/sys|/dev/mqueue) ' /proc/mounts; \
         echo hi > /dev/null && head -c 4 /dev/zero | wc -c",
        |_| {},
    );
    for (mnt, fs) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/sys", "sysfs"),
        ("/dev/mqueue", "mqueue"),
    ] {
        assert!(
            out.lines().any(|l| l.split_whitespace().nth(1) == Some(mnt)
                && l.split_whitespace().nth(2) == Some(fs)),
            "no {fs} on {mnt}: {out}"
        );
    }
    let sys = out
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("/sys"))
        .unwrap();
    assert!(
        sys.split_whitespace().nth(3).unwrap().starts_with("ro,"),
        "{sys}"
    );
    assert_eq!(out.lines().last(), Some("4"));
}

#[test]
fn environment_has_path_hostname_and_home() {
    let b = Bundle::busybox("env");
    let out = b.sh("env", |i| i.env = vec!["FOO=bar".into()]);
    let vars: Vec<&str> = out.lines().collect();
    assert!(
        vars.contains(&"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "{out}"
    );
    assert!(vars.contains(&"HOSTNAME=spectest"), "{out}");
    assert!(vars.contains(&"HOME=/root"), "{out}");
    assert!(vars.contains(&"FOO=bar"), "{out}");
    assert!(!out.contains("TERM="), "{out}");
    let out = b.sh("env; hostname", |i| i.env = vec!["PATH=/bin".into()]);
    assert!(out.lines().any(|l| l == "PATH=/bin"), "{out}");
    assert_eq!(out.lines().last(), Some("spectest"));
}

#[test]
fn working_directory_is_created() {
    let b = Bundle::busybox("cwd");
    let out = b.sh("pwd", |i| i.cwd = "/srv/app/data".into());
    assert_eq!(out.trim(), "/srv/app/data");
    assert!(b.rootfs().join("srv/app/data").is_dir());
}

#[test]
fn user_by_name_from_the_image_passwd() {
    let b = Bundle::busybox("user");
    let out = b.sh(
        "grep -E '^(Uid|Gid|Groups)' /proc/self/status; echo $HOME",
        |i| {
            i.user = "app".into();
            i.group_add = vec!["root".into(), "777".into()];
        },
    );
    assert!(out.contains("Uid:\t1234\t1234\t1234\t1234"), "{out}");
    assert!(out.contains("Gid:\t2345\t2345\t2345\t2345"), "{out}");
    let groups = out.lines().find(|l| l.starts_with("Groups:")).unwrap();
    assert_eq!(
        groups.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["0", "777", "3456"]
    );
    assert_eq!(out.lines().last(), Some("/home/app"));
    let out = b.sh("id -u; id -g", |i| i.user = "4000:audio".into());
    assert_eq!(out, "4000\n3456\n");
}

#[test]
fn unknown_user_is_an_error() {
    let b = Bundle::busybox("nouser");
    let mut input = b.input(&["true"]);
    input.user = "ghost".into();
    let err = berth_engine::spec::build(&input).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find user ghost: no matching entries in passwd file"
    );
}

#[test]
fn read_only_root_with_a_tmpfs() {
    let b = Bundle::busybox("readonly");
    let out = b.sh(
        "touch /newfile 2>&1 || echo root-refused; touch /scratch/ok && grep ' /scratch ' /proc/mounts",
        |i| {
            i.read_only = true;
            i.tmpfs = vec![("/scratch".into(), "size=1m,mode=1777".into())];
        },
    );
    assert!(out.contains("root-refused"), "{out}");
    let mnt = out.lines().find(|l| l.contains(" /scratch ")).unwrap();
    assert!(
        mnt.starts_with("tmpfs /scratch tmpfs rw,nosuid,nodev,noexec"),
        "{mnt}"
    );
    assert!(mnt.contains("size=1024k"), "{mnt}");
    assert!(!b.rootfs().join("newfile").exists());
}

#[test]
fn memory_limit_reaches_the_cgroup() {
    let b = Bundle::busybox("memory");
    let out = b.sh("cat /sys/fs/cgroup/memory/memory.limit_in_bytes", |i| {
        i.memory = Some(64 << 20);
        i.pids_limit = Some(50);
    });
    assert_eq!(out.trim(), (64u64 << 20).to_string());
}
