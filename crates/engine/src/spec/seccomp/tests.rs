use super::*;

fn amd64() -> Host {
    Host {
        goarch: "amd64",
        scmp_arch: "SCMP_ARCH_X86_64",
        kernel: (6, 1),
    }
}

fn caps(list: &[&str]) -> HashSet<String> {
    list.iter().map(|c| c.to_string()).collect()
}

fn rules_for<'a>(seccomp: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
    seccomp
        .syscalls()
        .iter()
        .flatten()
        .filter(|s| s.names().iter().any(|n| n == name))
        .collect()
}

#[test]
fn default_profile_for_default_caps() {
    let default_caps = crate::spec::capabilities::DEFAULT;
    let s = to_oci(&default_profile(), &caps(&default_caps), &amd64()).unwrap();
    assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(s.default_errno_ret(), Some(1));
    assert_eq!(
        s.architectures().clone().unwrap(),
        [Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    );
    assert!(rules_for(&s, "unshare").is_empty());
    assert!(rules_for(&s, "mount").is_empty());
    assert!(rules_for(&s, "keyctl").is_empty());
    assert!(
        rules_for(&s, "chroot").len() == 1,
        "CAP_SYS_CHROOT is a default"
    );
    assert_eq!(rules_for(&s, "arch_prctl").len(), 1);
    assert!(rules_for(&s, "s390_runtime_instr").is_empty());
    let clone = rules_for(&s, "clone");
    assert_eq!(clone.len(), 1);
    let arg = clone[0].args().clone().unwrap()[0];
    assert_eq!(
        (arg.index(), arg.value(), arg.op()),
        (0, 0x7E02_0000, LinuxSeccompOperator::ScmpCmpMaskedEq)
    );
    let clone3 = rules_for(&s, "clone3");
    assert_eq!(clone3.len(), 1);
    assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(clone3[0].errno_ret(), Some(38));
    assert_eq!(
        rules_for(&s, "read")[0].action(),
        LinuxSeccompAction::ScmpActAllow
    );
}

#[test]
fn sys_admin_opens_namespaces_and_mount() {
    let s = to_oci(&default_profile(), &caps(&["CAP_SYS_ADMIN"]), &amd64()).unwrap();
    assert_eq!(rules_for(&s, "unshare").len(), 1);
    assert_eq!(rules_for(&s, "mount").len(), 1);
    let clone3 = rules_for(&s, "clone3");
    assert_eq!(clone3.len(), 1);
    assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActAllow);
    assert!(rules_for(&s, "clone").iter().all(|r| r.args().is_none()));
}

#[test]
fn min_kernel_is_checked() {
    let old = Host {
        kernel: (4, 4),
        ..amd64()
    };
    let s = to_oci(&default_profile(), &caps(&[]), &old).unwrap();
    assert!(rules_for(&s, "ptrace").is_empty());
    let s = to_oci(&default_profile(), &caps(&[]), &amd64()).unwrap();
    assert_eq!(rules_for(&s, "ptrace").len(), 1);
}

#[test]
fn user_profile_translates() {
    let json = r#"{
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"name": "personality", "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS", "excludes": {"caps": ["sys_boot"]}}
        ]
    }"#;
    let s = to_oci(
        &parse_profile(json).unwrap(),
        &caps(&["CAP_SYS_BOOT"]),
        &amd64(),
    )
    .unwrap();
    assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
    assert_eq!(s.architectures().clone().unwrap(), [Arch::ScmpArchX86_64]);
    assert_eq!(rules_for(&s, "mkdirat")[0].errno_ret(), Some(13));
    let arg = rules_for(&s, "personality")[0].args().clone().unwrap()[0];
    assert_eq!((arg.value(), arg.value_two()), (255, Some(8)));
    assert!(rules_for(&s, "reboot").is_empty());
}

#[test]
fn malformed_profiles_say_what_is_wrong() {
    let cases = [
        ("{", "EOF"),
        (r#"{"syscalls": []}"#, "defaultAction"),
        (r#"{"defaultAction": "SCMP_ACT_MAYBE"}"#, "SCMP_ACT_MAYBE"),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]}"#,
            "SCMP_CMP_SOMETIMES",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ERRNO"}]}"#,
            "both name and names",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}"#,
            "names no syscall",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
            "both architectures and archMap",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}"#,
            "SCMP_ARCH_VAX",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
            "index 6",
        ),
    ];
    for (json, expected) in cases {
        let err = parse_profile(json)
            .and_then(|p| to_oci(&p, &caps(&[]), &amd64()))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("invalid seccomp profile"),
            "{json}: {text}"
        );
        assert!(text.contains(expected), "{json}: {text}");
    }
}

#[test]
fn kernel_versions_parse() {
    assert_eq!(parse_kernel("6.18.44-fc-v669\n"), Some((6, 18)));
    assert_eq!(parse_kernel("4.8"), Some((4, 8)));
    assert_eq!(parse_kernel("x"), None);
}

#[test]
fn default_table_holds_only_syscall_names() {
    let profile = default_profile();
    let rules = profile.syscalls.unwrap();
    let always = rules[0].names.as_ref().unwrap();
    assert_eq!(always.len(), 349, "moby's unconditional allow list");
    let unique: HashSet<_> = always.iter().collect();
    assert_eq!(unique.len(), always.len());
    for name in rules.iter().flat_map(|r| r.names.iter().flatten()) {
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{name:?}"
        );
    }
}
