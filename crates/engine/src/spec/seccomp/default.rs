//! Docker's default seccomp profile as data: the table of moby's
//! `profiles/seccomp/default.json` as of moby commit 00f3d189 (the Docker 25–27 profile, with
//! `clone3` answering ENOSYS to callers without CAP_SYS_ADMIN so libcs fall back to `clone`).
//! x86_64, x32 and x86 share one allow list through the arch map.

use super::{ArchMap, Arg, Filter, Profile, Rule};

/// ENOSYS: what `clone3` gets, so glibc falls back to the filtered `clone`.
const ENOSYS: u32 = 38;
/// EPERM: what every syscall outside the profile gets.
const EPERM: u32 = 1;
/// The namespace flags of `clone` (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET):
/// without CAP_SYS_ADMIN, `clone` is allowed only with none of them set.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// Allowed for every container.
#[rustfmt::skip]
const ALWAYS: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl",
    "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
    "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
    "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
    "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
    "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl",
    "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
    "ioprio_set", "io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup",
    "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
    "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
    "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "membarrier",
    "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open",
    "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc",
    "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
    "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64",
    "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv",
    "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
    "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity",
    "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
    "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32",
    "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
    "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat",
    "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
    "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
    "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
    "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev",
];

/// A rule of the table; `const` builders keep the table close to the JSON it mirrors.
struct Entry {
    names: &'static [&'static str],
    errno: Option<u32>,
    arg: Option<(u32, u64, &'static str)>,
    caps: &'static [&'static str],
    not_caps: &'static [&'static str],
    arches: &'static [&'static str],
    not_arches: &'static [&'static str],
    min_kernel: Option<&'static str>,
}

const fn allow(names: &'static [&'static str]) -> Entry {
    Entry {
        names,
        errno: None,
        arg: None,
        caps: &[],
        not_caps: &[],
        arches: &[],
        not_arches: &[],
        min_kernel: None,
    }
}

impl Entry {
    const fn errno(self, errno: u32) -> Entry {
        Entry {
            errno: Some(errno),
            ..self
        }
    }
    const fn arg(self, index: u32, value: u64, op: &'static str) -> Entry {
        Entry {
            arg: Some((index, value, op)),
            ..self
        }
    }
    const fn caps(self, caps: &'static [&'static str]) -> Entry {
        Entry { caps, ..self }
    }
    const fn not_caps(self, not_caps: &'static [&'static str]) -> Entry {
        Entry { not_caps, ..self }
    }
    const fn arches(self, arches: &'static [&'static str]) -> Entry {
        Entry { arches, ..self }
    }
    const fn not_arches(self, not_arches: &'static [&'static str]) -> Entry {
        Entry { not_arches, ..self }
    }
    const fn min_kernel(self, version: &'static str) -> Entry {
        Entry {
            min_kernel: Some(version),
            ..self
        }
    }
}

const S390: &[&str] = &["s390", "s390x"];

const TABLE: &[Entry] = &[
    allow(ALWAYS),
    allow(&["process_vm_readv", "process_vm_writev", "ptrace"]).min_kernel("4.8"),
    // AF_VSOCK (40) sockets stay closed.
    allow(&["socket"]).arg(0, 40, "SCMP_CMP_NE"),
    // personality(2) only for the harmless personas: PER_LINUX, PER_LINUX32, UNAME26 variants
    // and the query 0xffffffff.
    allow(&["personality"]).arg(0, 0, "SCMP_CMP_EQ"),
    allow(&["personality"]).arg(0, 8, "SCMP_CMP_EQ"),
    allow(&["personality"]).arg(0, 131_072, "SCMP_CMP_EQ"),
    allow(&["personality"]).arg(0, 131_080, "SCMP_CMP_EQ"),
    allow(&["personality"]).arg(0, 4_294_967_295, "SCMP_CMP_EQ"),
    allow(&["sync_file_range2", "swapcontext"]).arches(&["ppc64le"]),
    allow(&[
        "arm_fadvise64_64",
        "arm_sync_file_range",
        "sync_file_range2",
        "breakpoint",
        "cacheflush",
        "set_tls",
    ])
    .arches(&["arm", "arm64"]),
    allow(&["arch_prctl"]).arches(&["amd64", "x32"]),
    allow(&["modify_ldt"]).arches(&["amd64", "x32", "x86"]),
    allow(&[
        "s390_pci_mmio_read",
        "s390_pci_mmio_write",
        "s390_runtime_instr",
    ])
    .arches(S390),
    allow(&["riscv_flush_icache"]).arches(&["riscv64"]),
    allow(&["open_by_handle_at"]).caps(&["CAP_DAC_READ_SEARCH"]),
    allow(&[
        "bpf",
        "clone",
        "clone3",
        "fanotify_init",
        "fsconfig",
        "fsmount",
        "fsopen",
        "fspick",
        "lookup_dcookie",
        "mount",
        "mount_setattr",
        "move_mount",
        "open_tree",
        "perf_event_open",
        "quotactl",
        "quotactl_fd",
        "setdomainname",
        "sethostname",
        "setns",
        "syslog",
        "umount",
        "umount2",
        "unshare",
    ])
    .caps(&["CAP_SYS_ADMIN"]),
    allow(&["clone"])
        .arg(0, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ")
        .not_caps(&["CAP_SYS_ADMIN"])
        .not_arches(S390),
    // s390 passes clone's flags second.
    allow(&["clone"])
        .arg(1, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ")
        .arches(S390)
        .not_caps(&["CAP_SYS_ADMIN"]),
    allow(&["clone3"])
        .errno(ENOSYS)
        .not_caps(&["CAP_SYS_ADMIN"]),
    allow(&["reboot"]).caps(&["CAP_SYS_BOOT"]),
    allow(&["chroot"]).caps(&["CAP_SYS_CHROOT"]),
    allow(&["delete_module", "init_module", "finit_module"]).caps(&["CAP_SYS_MODULE"]),
    allow(&["acct"]).caps(&["CAP_SYS_PACCT"]),
    allow(&[
        "kcmp",
        "pidfd_getfd",
        "process_madvise",
        "process_vm_readv",
        "process_vm_writev",
        "ptrace",
    ])
    .caps(&["CAP_SYS_PTRACE"]),
    allow(&["iopl", "ioperm"]).caps(&["CAP_SYS_RAWIO"]),
    allow(&["settimeofday", "stime", "clock_settime", "clock_settime64"]).caps(&["CAP_SYS_TIME"]),
    allow(&["vhangup"]).caps(&["CAP_SYS_TTY_CONFIG"]),
    allow(&[
        "get_mempolicy",
        "mbind",
        "set_mempolicy",
        "set_mempolicy_home_node",
    ])
    .caps(&["CAP_SYS_NICE"]),
    allow(&["syslog"]).caps(&["CAP_SYSLOG"]),
    allow(&["bpf"]).caps(&["CAP_BPF"]),
    allow(&["perf_event_open"]).caps(&["CAP_PERFMON"]),
];

/// Architectures and the other ABIs each one runs.
const ARCH_MAP: &[(&str, &[&str])] = &[
    ("SCMP_ARCH_X86_64", &["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ("SCMP_ARCH_AARCH64", &["SCMP_ARCH_ARM"]),
    (
        "SCMP_ARCH_MIPS64",
        &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
    ),
    (
        "SCMP_ARCH_MIPS64N32",
        &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"],
    ),
    (
        "SCMP_ARCH_MIPSEL64",
        &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
    ),
    (
        "SCMP_ARCH_MIPSEL64N32",
        &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"],
    ),
    ("SCMP_ARCH_S390X", &["SCMP_ARCH_S390"]),
    ("SCMP_ARCH_RISCV64", &[]),
];

fn strings(list: &[&str]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.iter().map(|s| s.to_string()).collect())
}

/// The profile, in the same form a `seccomp=FILE` profile is parsed into.
pub(super) fn profile() -> Profile {
    let syscalls = TABLE
        .iter()
        .map(|e| Rule {
            name: None,
            names: strings(e.names),
            action: if e.errno.is_some() {
                "SCMP_ACT_ERRNO"
            } else {
                "SCMP_ACT_ALLOW"
            }
            .to_string(),
            args: e.arg.map(|(index, value, op)| {
                vec![Arg {
                    index,
                    value,
                    value_two: 0,
                    op: op.to_string(),
                }]
            }),
            errno_ret: e.errno,
            includes: Filter {
                caps: strings(e.caps),
                arches: strings(e.arches),
                min_kernel: e.min_kernel.map(str::to_string),
            },
            excludes: Filter {
                caps: strings(e.not_caps),
                arches: strings(e.not_arches),
                min_kernel: None,
            },
        })
        .collect();
    Profile {
        default_action: "SCMP_ACT_ERRNO".to_string(),
        default_errno_ret: Some(EPERM),
        architectures: None,
        arch_map: Some(
            ARCH_MAP
                .iter()
                .map(|(main, subs)| ArchMap {
                    architecture: main.to_string(),
                    sub_architectures: strings(subs),
                })
                .collect(),
        ),
        syscalls: Some(syscalls),
    }
}
