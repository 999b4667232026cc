//! `exec`: starting another process inside a running container's namespaces and cgroup, with
//! the container's (or the given) privileges.

use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::sched::{setns, CloneFlags};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::{Capability, LinuxNamespaceType, Process};

use crate::error::{Context, Error, Result};
use crate::state::{StateRoot, Status};
use crate::sync::{self, Message};
use crate::verified_exec::RuntimeBinary;
use crate::{console, fsutil, namespaces, process, run, seccomp, spec};

/// What `exec` was asked to run, from `--process` or from flags.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub process_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub user: Option<(u32, Option<u32>)>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub tty: bool,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
}

/// Builds the process to run: the `--process` file as is, or the container's own process with
/// the flags applied on top, as runc does.
fn build_process(base: &Process, opts: &ExecOptions) -> Result<Process> {
    if let Some(path) = &opts.process_file {
        let data =
            std::fs::read(path).context(|| format!("read process file {}", path.display()))?;
        return serde_json::from_slice(&data).map_err(|e| Error::Config {
            path: path.clone(),
            reason: e.to_string(),
        });
    }
    if opts.args.is_empty() {
        return Err(Error::InvalidArgument("exec needs a command to run".into()));
    }
    let mut p = base.clone();
    p.set_args(Some(opts.args.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(opts.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    p.set_terminal(Some(opts.tty));
    if let Some((uid, gid)) = opts.user {
        let mut user = p.user().clone();
        user.set_uid(uid);
        if let Some(gid) = gid {
            user.set_gid(gid);
        }
        p.set_user(user);
    }
    if !opts.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(opts.additional_gids.clone()));
        p.set_user(user);
    }
    if !opts.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &opts.caps {
            let cap: Capability =
                serde_json::from_value(serde_json::Value::String(name.clone()))
                    .map_err(|_| Error::InvalidArgument(format!("unknown capability {name:?}")))?;
            let add = |s: &Option<std::collections::HashSet<Capability>>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
            caps.set_ambient(add(caps.ambient()));
        }
        p.set_capabilities(Some(caps));
    }
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &opts.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &opts.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    Ok(p)
}

/// Runs a process in container `id`. Returns its exit code, or 0 when detached.
pub fn exec(root: &StateRoot, id: &str, opts: &ExecOptions) -> Result<i32> {
    let record = root.load(id)?;
    let status = root.status(&record);
    // Not into a created container: its init still runs the runtime's binary, and a process
    // exec'd next to it could reach that binary through /proc.
    if status != Status::Running {
        return Err(Error::WrongState {
            id: id.into(),
            status: status.as_str(),
            action: "exec in it",
        });
    }
    let base = record.spec.process().clone().unwrap_or_default();
    let process = build_process(&base, opts)?;
    if !process.cwd().is_absolute() {
        return Err(Error::InvalidArgument(format!(
            "cwd {} is not absolute",
            process.cwd().display()
        )));
    }
    let terminal = process.terminal() == Some(true);
    if terminal && opts.detach && opts.console_socket.is_none() {
        return Err(Error::InvalidArgument(
            "cannot allocate a terminal without --console-socket when detached".into(),
        ));
    }
    let console_socket = opts
        .console_socket
        .as_deref()
        .map(console::connect_socket)
        .transpose()?;

    // Open the container's namespaces; the pid namespace is joined here so the child lands in it.
    let mut joins = Vec::new();
    let mut join_pid = None;
    let mut join_user = None;
    for ns in spec::namespaces(&record.spec) {
        let name = match ns.typ() {
            LinuxNamespaceType::Mount => "mnt",
            LinuxNamespaceType::Network => "net",
            LinuxNamespaceType::Pid => "pid",
            LinuxNamespaceType::Ipc => "ipc",
            LinuxNamespaceType::Uts => "uts",
            LinuxNamespaceType::User => "user",
            LinuxNamespaceType::Cgroup => "cgroup",
            LinuxNamespaceType::Time => "time",
        };
        let path = format!("/proc/{}/ns/{name}", record.pid);
        let fd = nix::fcntl::open(
            path.as_str(),
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .context(|| format!("open {path}"))?;
        match ns.typ() {
            LinuxNamespaceType::Pid => join_pid = Some(fd),
            LinuxNamespaceType::User => join_user = Some(fd),
            // The mount namespace last: after it, host paths are gone.
            LinuxNamespaceType::Mount => joins.push((CloneFlags::CLONE_NEWNS, fd)),
            other => joins.insert(0, (namespaces::flag(other), fd)),
        }
    }
    joins.sort_by_key(|(f, _)| *f == CloneFlags::CLONE_NEWNS);
    if let Some(user) = join_user {
        joins.insert(0, (CloneFlags::CLONE_NEWUSER, user));
    }
    if let Some(pid_ns) = &join_pid {
        setns(pid_ns.as_fd(), CloneFlags::CLONE_NEWPID)
            .context(|| "join the container's pid namespace")?;
    }
    let (parent_end, child_end) = sync::pair()?;
    let cgroup_dir = record.cgroup.open_clone_target()?;
    let seccomp = record
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone());
    let notify = seccomp.as_ref().is_some_and(seccomp::uses_notify);
    let seccomp_filter = seccomp
        .as_ref()
        .map(|filter| seccomp::prepare(filter, &root.seccomp_cache()))
        .transpose()?;
    let foreground_tty = terminal && console_socket.is_none();
    nix::sys::prctl::set_dumpable(false).context(|| "make the runtime non-dumpable")?;
    let runtime_binary = RuntimeBinary::identify()?;
    let fork = berth_sys::fork_into(0, cgroup_dir.as_ref().map(|f| f.as_fd()))
        .context(|| "fork exec process")?;
    let pid = match fork {
        berth_sys::ForkResult::Child => {
            drop(parent_end);
            let result = (|| -> Result<std::convert::Infallible> {
                child_end.expect(Message::Proceed)?;
                for (flag, fd) in &joins {
                    setns(fd.as_fd(), *flag).context(|| format!("join namespace {flag:?}"))?;
                }
                drop(joins);
                if terminal {
                    let size = process
                        .console_size()
                        .map(|b| (b.height() as u16, b.width() as u16));
                    let master = console::create_pty(size)?;
                    match &console_socket {
                        Some(socket) => console::send_master(socket, &master)?,
                        None => child_end.send(
                            &Message::PtyMaster,
                            Some(std::os::fd::AsRawFd::as_raw_fd(&master)),
                        )?,
                    }
                }
                process::set_rlimits(&process)?;
                process::set_security_labels(&process)?;
                process::set_scheduling(&process)?;
                let (program, env) =
                    process::prepare_program(&process, &runtime_binary, opts.preserve_fds)?;
                process::drop_privileges(&process, seccomp_filter.as_ref(), notify)?;
                let umask = process.user().umask().unwrap_or(0o022);
                nix::sys::stat::umask(Mode::from_bits_truncate(umask));
                Err(program.exec(&env))
            })();
            let error = match result {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = child_end.send(&Message::Failed(error.to_string()), None);
            std::process::exit(127);
        }
        berth_sys::ForkResult::Parent { pid } => Pid::from_raw(pid),
    };
    drop(child_end);
    if cgroup_dir.is_none() {
        record.cgroup.add_process(pid.as_raw())?;
    }
    let signals = if opts.detach {
        None
    } else {
        Some(run::block_signals()?)
    };
    parent_end.send(&Message::Proceed, None)?;
    let mut master = None;
    loop {
        match parent_end.recv()? {
            None => break,
            Some((Message::PtyMaster, fd)) => master = fd,
            Some((Message::Failed(text), _)) => {
                let _ = nix::sys::wait::waitpid(pid, None);
                return Err(Error::Init(text));
            }
            Some((other, _)) => return Err(Error::Init(format!("unexpected message {other:?}"))),
        }
    }
    if let Some(pid_file) = &opts.pid_file {
        fsutil::write_atomic(pid_file, pid.as_raw().to_string().as_bytes())?;
    }
    match signals {
        None => Ok(0),
        Some(signals) => {
            run::wait_foreground(pid, &signals, if foreground_tty { master } else { None })
        }
    }
}
