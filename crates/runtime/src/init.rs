//! The container's first process, between clone and exec: it joins and creates namespaces,
//! builds the root file system, drops privileges, waits to be started, and execs the program.
//! It reports progress and errors to the runtime over the sync channel.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::Spec;

use crate::cgroups::CgroupPath;
use crate::error::{Context, Error, Result};
use crate::namespaces::Plan;
use crate::rootfs::Rootfs;
use crate::sync::{Channel, Message};
use crate::verified_exec::RuntimeBinary;
use crate::{console, hooks, process};

/// Where the init waits for `start`.
pub enum StartSignal {
    /// `create`: a read on the exec FIFO (opened read-write, so it never sees end-of-file).
    Fifo(OwnedFd),
    /// `run`: a `Start` message on the sync channel.
    Channel,
}

/// Everything the init needs, prepared by the runtime before cloning.
pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub cgroup: &'a CgroupPath,
    pub channel: Channel,
    pub namespaces: Plan,
    pub console_socket: Option<UnixStream>,
    /// Send the pty master to the runtime (foreground `run` with a terminal).
    pub terminal_to_parent: bool,
    pub start: StartSignal,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    /// Run the prestart/createRuntime handshake (hooks exist, or a seccomp agent needs state).
    pub has_early_hooks: bool,
    /// Connected to the seccomp agent's `listenerPath` when the filter uses SCMP_ACT_NOTIFY.
    pub seccomp_agent: Option<UnixStream>,
    /// The seccomp filter, compiled by the runtime before the clone.
    pub seccomp_filter: Option<crate::seccomp::Prepared>,
}

/// Runs the init; never returns. On failure the error goes to the runtime (and stderr).
pub fn run(args: InitArgs<'_>) -> ! {
    let error = match setup_and_exec(&args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // Once `create` has returned nobody reads the channel: the container's stderr is the only
    // place left to explain why it did not start.
    if args
        .channel
        .send(&Message::Failed(error.to_string()), None)
        .is_err()
    {
        eprintln!("berth-runtime: {error}");
    }
    std::process::exit(127);
}

enum Never {}

fn setup_and_exec(args: &InitArgs<'_>) -> Result<Never> {
    let spec = args.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::InvalidSpec("the container has no process".into()))?;
    let runtime_binary = RuntimeBinary::identify()?;
    let prepared_root = if args.namespaces.new_user && args.namespaces.new_mount {
        match args.channel.recv()? {
            Some((Message::PreparedRoot, Some(fd))) => Some(fd),
            Some((Message::Failed(text), _)) => return Err(Error::Init(text)),
            other => {
                return Err(Error::Init(format!(
                    "expected the prepared rootfs, got {other:?}"
                )))
            }
        }
    } else {
        None
    };
    args.channel.expect(Message::Proceed)?;

    for (flag, fd) in &args.namespaces.join {
        setns(fd.as_fd(), *flag).context(|| format!("join namespace {flag:?}"))?;
    }
    if args.namespaces.new_user {
        // The id maps are written: become root of the new user namespace.
        setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .context(|| "setgid 0 in user namespace")?;
        setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .context(|| "setuid 0 in user namespace")?;
    }
    // A cgroup namespace is rooted at the cgroup the process is in: join first.
    let mut cgroup_joined = false;
    if args.namespaces.new_cgroup {
        args.channel.expect(Message::CgroupJoined)?;
        cgroup_joined = true;
    }
    if !args.namespaces.unshare.is_empty() {
        unshare(args.namespaces.unshare)
            .context(|| format!("unshare {:?}", args.namespaces.unshare))?;
    }
    // A new or joined mount namespace gets the spec's mounts and pivot_root; without one the
    // process shares the runtime's mount namespace and is only chrooted.
    let joined_mount = args
        .namespaces
        .join
        .iter()
        .any(|(f, _)| *f == CloneFlags::CLONE_NEWNS);
    let mut rootfs = if args.namespaces.new_mount || joined_mount {
        let mut rootfs = Rootfs::new(spec, args.rootfs, args.cgroup, args.namespaces.new_cgroup);
        rootfs.mount_all(prepared_root)?;
        Some(rootfs)
    } else {
        None
    };
    if !cgroup_joined {
        args.channel.expect(Message::CgroupJoined)?;
    }

    let mut state_for_hooks = String::new();
    if args.has_early_hooks {
        args.channel.send(&Message::RunHooks, None)?;
        match args.channel.recv()? {
            Some((Message::HooksDone(state), _)) => state_for_hooks = state,
            other => return Err(Error::Init(format!("expected HooksDone, got {other:?}"))),
        }
        let container_hooks = spec
            .hooks()
            .as_ref()
            .and_then(|h| h.create_container().clone());
        hooks::run_all(
            "createContainer",
            &container_hooks.unwrap_or_default(),
            state_for_hooks.as_bytes(),
        )?;
    }
    // Sysctls before /proc/sys turns read-only. The host's /proc/sys shows the namespaces of
    // the process that opens it, which are the container's by now.
    if let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        for (key, value) in sysctl {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            std::fs::write(&path, value).context(|| format!("set sysctl {key}={value}"))?;
        }
    }
    match rootfs.take() {
        Some(rootfs) => {
            rootfs.mask_and_protect()?;
            rootfs.enter(args.no_pivot)?;
        }
        None => {
            nix::unistd::chroot(args.rootfs)
                .context(|| format!("chroot {}", args.rootfs.display()))?;
            nix::unistd::chdir("/").context(|| "chdir /")?;
        }
    }

    if let Some(hostname) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(hostname).context(|| format!("set hostname {hostname}"))?;
    }
    if let Some(domain) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        let c = std::ffi::CString::new(domain)
            .map_err(|_| Error::InvalidSpec("domainname contains NUL".into()))?;
        berth_sys::setdomainname(&c).context(|| format!("set domainname {domain}"))?;
    }
    if process.terminal() == Some(true) {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        let master = console::create_pty(size)?;
        if let Some(socket) = &args.console_socket {
            console::send_master(socket, &master)?;
        } else if args.terminal_to_parent {
            args.channel
                .send(&Message::PtyMaster, Some(master.as_raw_fd()))?;
        } else {
            return Err(Error::InvalidArgument(
                "terminal is true but no --console-socket was given".into(),
            ));
        }
    }
    if let Some(score) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", score.to_string())
            .context(|| "set oom_score_adj")?;
    }
    process::set_rlimits(process)?;
    process::set_security_labels(process)?;
    process::set_scheduling(process)?;
    if let Some(personality) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        set_personality(personality)?;
    }
    // Everything that seccomp or the new user might forbid happens first: the cwd check, opening
    // and checking the program, and marking the runtime's descriptors close-on-exec.
    let (program, env) = process::prepare_program(process, &runtime_binary, args.preserve_fds)?;
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let notify = seccomp.is_some_and(crate::seccomp::uses_notify);
    let listener = process::drop_privileges(process, args.seccomp_filter.as_ref(), notify)?;
    if let (Some(listener), Some(seccomp)) = (listener, seccomp) {
        let agent = args.seccomp_agent.as_ref().ok_or_else(|| {
            Error::Seccomp("SCMP_ACT_NOTIFY is used but listenerPath is not set".into())
        })?;
        send_seccomp_listener(agent, seccomp, listener, &state_for_hooks)?;
    }
    let umask = process.user().umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));

    args.channel.send(&Message::Ready, None)?;
    match &args.start {
        StartSignal::Fifo(fifo) => {
            let mut byte = [0u8; 1];
            loop {
                match nix::unistd::read(fifo, &mut byte) {
                    Ok(_) => break,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e).context(|| "wait on exec fifo"),
                }
            }
        }
        StartSignal::Channel => args.channel.expect(Message::Start)?,
    }
    if let Some(start_hooks) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().clone())
    {
        hooks::run_all_checked(
            "startContainer",
            &start_hooks,
            state_for_hooks.as_bytes(),
            &runtime_binary,
        )?;
    }
    Err(program.exec(&env))
}

fn set_personality(p: &oci_spec::runtime::LinuxPersonality) -> Result<()> {
    use nix::sys::personality::Persona;
    use oci_spec::runtime::LinuxPersonalityDomain;
    let persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => Persona::empty(),
        LinuxPersonalityDomain::PerLinux32 => Persona::from_bits_retain(0x0008),
    };
    nix::sys::personality::set(persona).context(|| "set personality")?;
    Ok(())
}

/// Hands the seccomp notify listener to the agent with the container's process state, in the
/// shape the runtime spec defines (`fds`, `pid`, `metadata`, `state`).
fn send_seccomp_listener(
    agent: &UnixStream,
    seccomp: &oci_spec::runtime::LinuxSeccomp,
    listener: OwnedFd,
    state: &str,
) -> Result<()> {
    let state: serde_json::Value = serde_json::from_str(state).unwrap_or_default();
    let payload = serde_json::json!({
        "ociVersion": crate::spec::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": state.get("pid").cloned().unwrap_or_default(),
        "metadata": seccomp.listener_metadata().clone().unwrap_or_default(),
        "state": state,
    })
    .to_string();
    let fds = [listener.as_raw_fd()];
    let iov = [std::io::IoSlice::new(payload.as_bytes())];
    nix::sys::socket::sendmsg::<()>(
        agent.as_raw_fd(),
        &iov,
        &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .context(|| "send seccomp listener fd")?;
    Ok(())
}
