//! Creating a container: the runtime's side of the set-up (state directory, cgroup, clone, id
//! maps, hooks) while the init does its part in the new namespaces.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, Spec};

use crate::cgroups::CgroupPath;
use crate::error::{Context, Error, Result};
use crate::init::{self, InitArgs, StartSignal};
use crate::state::{ContainerRecord, StateRoot, Status, EXEC_FIFO};
use crate::sync::{self, Channel, Message};
use crate::{console, fsutil, hooks, namespaces, seccomp, spec};

/// What `create` and `run` are asked to do.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub systemd_cgroup: bool,
}

/// How the container will be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// `create`: the init waits on the exec FIFO for a later `start`.
    Create,
    /// `run`: this process starts it right away; `foreground_tty` asks for the pty master.
    Run { foreground_tty: bool },
}

/// A container whose init is set up and waiting to exec.
pub struct Created {
    pub record: ContainerRecord,
    /// The runtime's end of the sync channel (used by `run` to start the init).
    pub channel: Channel,
    /// The pty master when `run` proxies the terminal itself.
    pub pty_master: Option<OwnedFd>,
}

/// Undoes a half-made container unless disarmed.
struct Rollback<'a> {
    root: &'a StateRoot,
    id: String,
    cgroup: Option<CgroupPath>,
    child: Option<Pid>,
    armed: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.child {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cgroup) = &self.cgroup {
            let _ = cgroup.signal_all(Signal::SIGKILL);
            let _ = cgroup.destroy();
        }
        let _ = self.root.remove(&self.id);
    }
}

/// Creates the container `opts.id` from its bundle.
pub fn create(root: &StateRoot, opts: &CreateOptions, mode: StartMode) -> Result<Created> {
    let bundle = opts.bundle.canonicalize().map_err(|e| Error::Config {
        path: opts.bundle.clone(),
        reason: e.to_string(),
    })?;
    let (spec, rootfs) = spec::load_bundle(&bundle)?;
    // The init of a container with its own pid namespace is visible to no other process: the
    // verified exec protects it. One that shares or joins a pid namespace can be reached through
    // /proc by processes there, so the runtime first re-executes itself from a sealed mount.
    let own_pid_namespace = spec::namespaces(&spec)
        .iter()
        .any(|ns| ns.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && ns.path().is_none());
    if !own_pid_namespace {
        crate::seal::ensure_sealed()?;
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::InvalidSpec("process is required to create a container".into()))?;
    let terminal = process.terminal() == Some(true);
    if terminal
        && opts.console_socket.is_none()
        && mode
            != (StartMode::Run {
                foreground_tty: true,
            })
    {
        return Err(Error::InvalidArgument(
            "cannot allocate a terminal without --console-socket when detached".into(),
        ));
    }
    let dir = root.reserve(&opts.id)?;
    let mut rollback = Rollback {
        root,
        id: opts.id.clone(),
        cgroup: None,
        child: None,
        armed: true,
    };

    let linux = spec.linux().as_ref();
    let cgroups_path = linux.and_then(|l| l.cgroups_path().as_deref());
    let cgroup = CgroupPath::resolve(cgroups_path, &opts.id, opts.systemd_cgroup)?;
    rollback.cgroup = Some(cgroup.clone());
    cgroup.create(spec::resources_with_device_defaults(&spec).as_ref())?;

    let mut plan = namespaces::plan(&spec)?;
    if let Some(pid_ns) = &plan.join_pid {
        nix::sched::setns(pid_ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWPID)
            .context(|| "join pid namespace")?;
    }
    if plan.new_time {
        nix::sched::unshare(namespaces::flag(
            oci_spec::runtime::LinuxNamespaceType::Time,
        ))
        .context(|| "create time namespace")?;
        namespaces::write_time_offsets(&spec)?;
    }
    let console_socket = opts
        .console_socket
        .as_deref()
        .map(console::connect_socket)
        .transpose()?;
    let seccomp_agent = seccomp_agent(&spec)?;
    let seccomp_filter = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(|filter| seccomp::prepare(filter, &root.seccomp_cache()))
        .transpose()?;
    let start = match mode {
        StartMode::Create => StartSignal::Fifo(make_exec_fifo(&dir)?),
        StartMode::Run { .. } => StartSignal::Channel,
    };
    let hooks = spec.hooks().clone().unwrap_or_default();
    let has_early_hooks = hooks.prestart().as_ref().is_some_and(|h| !h.is_empty())
        || hooks
            .create_runtime()
            .as_ref()
            .is_some_and(|h| !h.is_empty())
        || hooks
            .create_container()
            .as_ref()
            .is_some_and(|h| !h.is_empty())
        || seccomp_agent.is_some();
    let (parent_end, child_end) = sync::pair()?;
    let cgroup_dir = cgroup.open_clone_target()?;
    // Inherited by the child: no window after the fork in which a process in the container could
    // ptrace it or open its /proc files.
    nix::sys::prctl::set_dumpable(false).context(|| "make the runtime non-dumpable")?;
    let clone_flags = plan.clone.bits() as u64;
    let fork = berth_sys::fork_into(clone_flags, cgroup_dir.as_ref().map(|f| f.as_fd()))
        .context(|| "clone the container's init")?;
    let pid = match fork {
        berth_sys::ForkResult::Child => {
            drop(parent_end);
            init::run(InitArgs {
                spec: &spec,
                rootfs: &rootfs,
                cgroup: &cgroup,
                channel: child_end,
                namespaces: std::mem::replace(&mut plan, namespaces::Plan::empty()),
                console_socket,
                terminal_to_parent: mode
                    == StartMode::Run {
                        foreground_tty: true,
                    },
                start,
                preserve_fds: opts.preserve_fds,
                no_pivot: opts.no_pivot,
                has_early_hooks,
                seccomp_agent,
                seccomp_filter,
            })
        }
        berth_sys::ForkResult::Parent { pid } => Pid::from_raw(pid),
    };
    drop(child_end);
    drop(start);
    drop(console_socket);
    drop(seccomp_agent);
    rollback.child = Some(pid);

    if plan.new_user {
        let linux = spec.linux().as_ref();
        write_id_map(
            pid,
            "uid_map",
            linux.and_then(|l| l.uid_mappings().as_deref()),
        )?;
        write_id_map(
            pid,
            "gid_map",
            linux.and_then(|l| l.gid_mappings().as_deref()),
        )?;
    }
    if plan.new_user && plan.new_mount {
        let root = bind_root_for(pid, &spec, &rootfs)?;
        parent_end.send(
            &Message::PreparedRoot,
            Some(std::os::fd::AsRawFd::as_raw_fd(&root)),
        )?;
    }
    send_to_init(&parent_end, Message::Proceed)?;
    // On cgroup v1 moving a task is slow (the kernel waits for an RCU grace period); the child
    // builds its mounts meanwhile and waits for this message before it needs the cgroup.
    if cgroup_dir.is_none() {
        cgroup.add_process(pid.as_raw())?;
    }
    send_to_init(&parent_end, Message::CgroupJoined)?;

    let (pid_start_time, _) = crate::state::process_start_time(pid.as_raw())
        .ok_or_else(|| Error::Init("the container's init exited during set-up".into()))?;
    let record = ContainerRecord {
        id: opts.id.clone(),
        bundle,
        rootfs,
        pid: pid.as_raw(),
        pid_start_time,
        created: crate::time::format(std::time::SystemTime::now()),
        owner: String::new(),
        cgroup,
        spec,
    };
    let mut pty_master = None;
    loop {
        match parent_end.recv()? {
            Some((Message::RunHooks, _)) => {
                let state =
                    serde_json::to_vec(&record.document(Status::Created)).unwrap_or_default();
                hooks::run_all(
                    "prestart",
                    &hooks.prestart().clone().unwrap_or_default(),
                    &state,
                )?;
                hooks::run_all(
                    "createRuntime",
                    &hooks.create_runtime().clone().unwrap_or_default(),
                    &state,
                )?;
                let state =
                    serde_json::to_string(&record.document(Status::Created)).unwrap_or_default();
                send_to_init(&parent_end, Message::HooksDone(state))?;
            }
            Some((Message::PtyMaster, fd)) => pty_master = fd,
            Some((Message::Ready, _)) => break,
            Some((Message::Failed(text), _)) => return Err(Error::Init(text)),
            Some((other, _)) => return Err(Error::Init(format!("unexpected message {other:?}"))),
            None => {
                return Err(Error::Init(
                    "the container's init exited during set-up".into(),
                ))
            }
        }
    }
    root.save(&record)?;
    if let Some(pid_file) = &opts.pid_file {
        fsutil::write_atomic(&absolute(pid_file)?, pid.as_raw().to_string().as_bytes())?;
    }
    rollback.armed = false;
    Ok(Created {
        record,
        channel: parent_end,
        pty_master,
    })
}

/// Binds the rootfs inside the child's new mount namespace and returns a descriptor of the
/// mount. The root of a user namespace often cannot even reach the bundle (a root-owned 0700
/// directory on the way), while the runtime still can; the descriptor needs no path lookups.
fn bind_root_for(pid: Pid, spec: &Spec, rootfs: &Path) -> Result<OwnedFd> {
    use nix::fcntl::{open, OFlag};
    use nix::sched::{setns, CloneFlags};
    let own_ns = open(
        "/proc/self/ns/mnt",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| "open the runtime's mount namespace")?;
    let cwd = open(
        ".",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| "open the current directory")?;
    let child_ns_path = format!("/proc/{}/ns/mnt", pid.as_raw());
    let child_ns = open(
        child_ns_path.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("open {child_ns_path}"))?;
    setns(child_ns.as_fd(), CloneFlags::CLONE_NEWNS)
        .context(|| "enter the container's mount namespace")?;
    let root = crate::rootfs::bind_root(spec, rootfs);
    if let Err(e) = setns(own_ns.as_fd(), CloneFlags::CLONE_NEWNS) {
        // Carrying on in the container's mount namespace would act on the wrong files.
        eprintln!("berth-runtime: cannot return to the runtime's mount namespace: {e}");
        std::process::abort();
    }
    nix::unistd::fchdir(cwd.as_fd()).context(|| "return to the working directory")?;
    root
}

/// Sends to the init; if it already died, its own error message explains why.
fn send_to_init(channel: &Channel, message: Message) -> Result<()> {
    channel
        .send(&message, None)
        .map_err(|send_error| match channel.recv() {
            Ok(Some((Message::Failed(text), _))) => Error::Init(text),
            _ => send_error,
        })
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context(|| "current directory")?
        .join(path))
}

/// Connects to the seccomp agent when the filter hands out a notify listener.
fn seccomp_agent(spec: &Spec) -> Result<Option<UnixStream>> {
    let Some(filter) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    if !seccomp::uses_notify(filter) {
        return Ok(None);
    }
    let path = filter.listener_path().as_ref().ok_or_else(|| {
        Error::Seccomp("SCMP_ACT_NOTIFY is used but listenerPath is not set".into())
    })?;
    UnixStream::connect(path)
        .map(Some)
        .context(|| format!("connect to seccomp agent {}", path.display()))
}

/// Makes the FIFO a created container waits on, and opens it read-write for the init.
fn make_exec_fifo(dir: &Path) -> Result<OwnedFd> {
    let path = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))
        .context(|| format!("mkfifo {}", path.display()))?;
    nix::fcntl::open(
        &path,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("open {}", path.display()))
}

fn write_id_map(pid: Pid, file: &str, mappings: Option<&[LinuxIdMapping]>) -> Result<()> {
    let Some(mappings) = mappings.filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    let text: String = mappings
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    let path = format!("/proc/{}/{file}", pid.as_raw());
    std::fs::write(&path, text).context(|| format!("write {path}"))
}
