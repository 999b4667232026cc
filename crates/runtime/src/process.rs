//! The last steps before the container's process runs: limits, identity, privileges, seccomp,
//! working directory, and finding the executable inside the container.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{PosixRlimitType, Process};

use crate::capabilities;
use crate::error::{Context, Error, Result};
use crate::seccomp;
use crate::verified_exec::{self, Prepared, RuntimeBinary};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn resource(typ: PosixRlimitType) -> Result<Resource> {
    Ok(match typ {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    })
}

/// Sets `process.rlimits`.
pub fn set_rlimits(process: &Process) -> Result<()> {
    for limit in process.rlimits().iter().flatten() {
        setrlimit(resource(limit.typ())?, limit.soft(), limit.hard()).context(|| {
            format!(
                "set {:?} to soft {} hard {}",
                limit.typ(),
                limit.soft(),
                limit.hard()
            )
        })?;
    }
    Ok(())
}

/// Applies `process.scheduler`, `process.ioPriority` and the final `execCPUAffinity`.
pub fn set_scheduling(process: &Process) -> Result<()> {
    use oci_spec::runtime::{IOPriorityClass, LinuxSchedulerFlag, LinuxSchedulerPolicy};
    if let Some(s) = process.scheduler() {
        let policy = match s.policy() {
            LinuxSchedulerPolicy::SchedOther => 0,
            LinuxSchedulerPolicy::SchedFifo => 1,
            LinuxSchedulerPolicy::SchedRr => 2,
            LinuxSchedulerPolicy::SchedBatch => 3,
            LinuxSchedulerPolicy::SchedIso => 4,
            LinuxSchedulerPolicy::SchedIdle => 5,
            LinuxSchedulerPolicy::SchedDeadline => 6,
        };
        let flags = s.flags().iter().flatten().fold(0u64, |acc, f| {
            acc | match f {
                LinuxSchedulerFlag::SchedResetOnFork => 0x01,
                LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
                LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
                LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
                LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
                LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
                LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
            }
        });
        let attr = berth_sys::SchedAttr {
            policy,
            flags,
            nice: s.nice().unwrap_or(0),
            priority: s.priority().unwrap_or(0).max(0) as u32,
            runtime: s.runtime().unwrap_or(0),
            deadline: s.deadline().unwrap_or(0),
            period: s.period().unwrap_or(0),
        };
        berth_sys::sched_setattr(&attr).context(|| format!("set scheduler {:?}", s.policy()))?;
    }
    if let Some(io) = process.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        berth_sys::ioprio_set(class, io.priority().clamp(0, 7) as u32)
            .context(|| format!("set I/O priority {:?} {}", io.class(), io.priority()))?;
    }
    if let Some(cpus) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().clone())
    {
        let mut set = nix::sched::CpuSet::new();
        for cpu in parse_cpu_list(&cpus)? {
            set.set(cpu).map_err(|_| {
                Error::InvalidSpec(format!("cpu {cpu} in {cpus:?} is out of range"))
            })?;
        }
        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
            .context(|| format!("set CPU affinity {cpus}"))?;
    }
    Ok(())
}

/// Parses a CPU list such as `0-3,7`.
fn parse_cpu_list(text: &str) -> Result<Vec<usize>> {
    let bad = || Error::InvalidSpec(format!("invalid CPU list {text:?}"));
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(cpus)
}

/// Applies the AppArmor profile or SELinux label for the next exec, or explains why it cannot.
pub fn set_security_labels(process: &Process) -> Result<()> {
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !Path::new("/sys/kernel/security/apparmor").exists() {
            return Err(Error::InvalidSpec(format!(
                "apparmor profile {profile:?} requested but AppArmor is not enabled on this host"
            )));
        }
        let attr = if Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        std::fs::write(attr, format!("exec {profile}"))
            .context(|| format!("apply apparmor profile {profile}"))?;
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        if !Path::new("/sys/fs/selinux/enforce").exists() {
            return Err(Error::InvalidSpec(format!(
                "selinux label {label:?} requested but SELinux is not enabled on this host"
            )));
        }
        std::fs::write("/proc/self/attr/exec", label)
            .context(|| format!("apply selinux label {label}"))?;
    }
    Ok(())
}

/// Drops privileges to `process`'s user, capabilities and seccomp filter. Returns the seccomp
/// notify listener when the filter has one.
pub fn drop_privileges(
    process: &Process,
    filter: Option<&seccomp::Prepared>,
    notify: bool,
) -> Result<Option<std::os::fd::OwnedFd>> {
    let no_new_privs = process.no_new_privileges() == Some(true);
    let mut listener = None;
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs().context(|| "set no_new_privs")?;
    }
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before dropping.
    if let (Some(filter), false) = (filter, no_new_privs) {
        listener = seccomp::load_prepared(filter, notify)?;
    }
    if let Some(caps) = process.capabilities() {
        capabilities::drop_bounding(caps)?;
    }
    let user = process.user();
    let mut groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    groups.dedup();
    if let Err(e) = setgroups(&groups) {
        // A user namespace with setgroups denied cannot change groups; only fail if asked to.
        if !groups.is_empty() || e != nix::errno::Errno::EPERM {
            return Err(e).context(|| "setgroups");
        }
    }
    nix::sys::prctl::set_keepcaps(true).context(|| "keep capabilities across setuid")?;
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).context(|| format!("setgid {}", user.gid()))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).context(|| format!("setuid {}", user.uid()))?;
    nix::sys::prctl::set_keepcaps(false).context(|| "reset keepcaps")?;
    match process.capabilities() {
        Some(caps) => capabilities::apply_sets(caps)?,
        None => capabilities::apply_sets(&empty_capabilities())?,
    }
    if let (Some(filter), true) = (filter, no_new_privs) {
        listener = seccomp::load_prepared(filter, notify)?;
    }
    Ok(listener)
}

fn empty_capabilities() -> oci_spec::runtime::LinuxCapabilities {
    let mut caps = oci_spec::runtime::LinuxCapabilities::default();
    caps.set_bounding(None);
    caps.set_effective(None);
    caps.set_inheritable(None);
    caps.set_permitted(None);
    caps.set_ambient(None);
    caps
}

/// Changes into `cwd` and refuses one that lies outside the container's root (e.g. reached
/// through a leaked descriptor, CVE-2024-21626).
pub fn enter_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).context(|| format!("chdir to cwd {}", cwd.display()))?;
    match nix::unistd::getcwd() {
        Ok(path) if path.is_absolute() => Ok(()),
        _ => Err(Error::InvalidSpec(format!(
            "cwd {} resolves outside the container root",
            cwd.display()
        ))),
    }
}

/// Gets the process ready to exec while the runtime still may do anything that seccomp or the
/// new user could forbid: enters and checks the cwd, finds, opens and checks the program, and
/// marks every descriptor from `3 + preserve_fds` up close-on-exec. Returns the program and
/// its environment.
pub fn prepare_program(
    process: &Process,
    runtime: &RuntimeBinary,
    preserve_fds: u32,
) -> Result<(Prepared, Vec<String>)> {
    enter_cwd(process.cwd())?;
    let env = process.env().clone().unwrap_or_default();
    let args = process.args().clone().unwrap_or_default();
    let first = args
        .first()
        .ok_or_else(|| Error::InvalidSpec("process.args must not be empty".into()))?;
    let executable = find_executable(first, &env)?;
    let program = verified_exec::prepare(runtime, &executable, &args)?;
    berth_sys::close_fds_on_exec_from(3 + preserve_fds).context(|| "mark fds close-on-exec")?;
    Ok((program, env))
}

/// The value of `key` in a list of `KEY=value` strings.
pub fn env_value<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .filter_map(|e| e.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Finds `program` as the container's shell would: as given if it contains a slash, otherwise
/// in the container's `PATH`.
pub fn find_executable(program: &str, env: &[String]) -> Result<PathBuf> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let path = env_value(env, "PATH").unwrap_or(DEFAULT_PATH);
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok()
            && candidate.metadata().is_ok_and(|m| m.is_file())
        {
            return Ok(candidate);
        }
    }
    Err(Error::Init(format!(
        "exec: {program:?}: executable file not found in $PATH"
    )))
}

/// Converts strings for execve; a NUL byte inside is an error naming the value.
pub fn c_strings(values: &[String]) -> Result<Vec<CString>> {
    values
        .iter()
        .map(|v| {
            CString::new(v.as_bytes())
                .map_err(|_| Error::InvalidSpec(format!("{v:?} contains a NUL byte")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_ranges_and_singles() {
        assert_eq!(parse_cpu_list("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
    }

    #[test]
    fn executables_are_found_in_the_given_path_only() {
        let env = vec!["PATH=/usr/bin:/bin".to_string()];
        let sh = find_executable("sh", &env).unwrap();
        assert!(sh.starts_with("/usr/bin") || sh.starts_with("/bin"));
        assert!(find_executable("definitely-not-a-program", &env).is_err());
        assert_eq!(find_executable("./x", &env).unwrap(), PathBuf::from("./x"));
    }
}
