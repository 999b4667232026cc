//! The OCI runtime spec (`config.json`) of a container: a `docker run` request plus the
//! image's config, turned into what berth-runtime runs, with Docker's defaults — capabilities,
//! the default seccomp profile, masked and read-only paths, mounts, device rules — so a
//! program sees the same container it would under Docker.

mod capabilities;
mod devices;
mod error;
mod etc;
mod mounts;
mod resources;
mod rootfs;
pub mod seccomp;
mod user;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxNamespace, LinuxNamespaceType, Mount, Process, Root, Spec};

pub use devices::Device;
pub use error::{Error, Result};
pub use etc::{etc_paths, write_etc_files};
pub use mounts::{Bind, DEFAULT_SHM_SIZE, INIT_PATH, MASKED_PATHS, READONLY_PATHS};
pub use resources::Ulimit;
pub use user::{resolve_user, ExecUser};

/// The PATH a container gets when its image sets none (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Which seccomp filter the container gets (`--security-opt seccomp=…`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SeccompChoice {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filter (`seccomp=unconfined`).
    Unconfined,
    /// A profile in Docker's JSON format (the content of `seccomp=FILE`).
    Profile(String),
}

/// Whether the container gets a namespace of its own, shares the host's, or joins one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Namespace {
    /// A new namespace (a new network namespace has only `lo`).
    #[default]
    New,
    /// The host's namespace (`--network host`, `--pid host`…).
    Host,
    /// The namespace at this path (`/proc/PID/ns/net`, a bind-mounted namespace file).
    Path(PathBuf),
}

/// What the daemon knows about a container to run, with Docker's API types already mapped
/// onto plain fields. `Default` is an unprivileged container with every option unset.
#[derive(Debug, Clone, Default)]
pub struct SpecInput {
    /// The mounted root file system (absolute).
    pub rootfs: PathBuf,
    /// Entrypoint and command, combined; not empty.
    pub args: Vec<String>,
    /// The image's environment merged with `-e`.
    pub env: Vec<String>,
    /// The working directory ("" = "/"); created if missing.
    pub cwd: String,
    /// `-u`: "", "name", "uid", "name:group", "uid:gid".
    pub user: String,
    /// `--group-add`: group names or gids.
    pub group_add: Vec<String>,
    /// The container's hostname.
    pub hostname: String,
    /// The container's NIS domain name ("" = none).
    pub domainname: String,
    /// `-t`: a terminal for the process.
    pub tty: bool,
    /// `-i`: stdin kept open (the daemon's business; it does not change the spec).
    pub stdin: bool,
    /// `--privileged`.
    pub privileged: bool,
    /// `--cap-add` ("NET_ADMIN", "CAP_NET_ADMIN", "ALL").
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--read-only`: the root file system is mounted read-only.
    pub read_only: bool,
    /// `--security-opt seccomp=…`.
    pub seccomp: SeccompChoice,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--security-opt apparmor=…`: applied only if the host runs AppArmor.
    pub apparmor: Option<String>,
    /// Masked paths; `None` = Docker's defaults.
    pub masked_paths: Option<Vec<String>>,
    /// Read-only paths; `None` = Docker's defaults.
    pub readonly_paths: Option<Vec<String>>,
    /// `--tmpfs PATH[:OPTIONS]` as (path, options).
    pub tmpfs: Vec<(String, String)>,
    /// Bind mounts (`-v /host:/ctr`).
    pub binds: Vec<Bind>,
    /// `--device`.
    pub devices: Vec<Device>,
    /// `--sysctl`.
    pub sysctls: BTreeMap<String, String>,
    /// `--ulimit`.
    pub ulimits: Vec<Ulimit>,
    /// `-m` in bytes.
    pub memory: Option<i64>,
    /// `--memory-swap` in bytes (-1 = unlimited).
    pub memory_swap: Option<i64>,
    /// `--memory-reservation` in bytes.
    pub memory_reservation: Option<i64>,
    /// `--cpus` in billionths of a CPU.
    pub nano_cpus: Option<i64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--cpu-quota` in microseconds.
    pub cpu_quota: Option<i64>,
    /// `--cpu-period` in microseconds.
    pub cpu_period: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit` (0 or -1 = unlimited).
    pub pids_limit: Option<i64>,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: bool,
    /// `--shm-size` in bytes (`None` = 64 MiB).
    pub shm_size: Option<u64>,
    /// `--network`.
    pub network: Namespace,
    /// `--ipc`.
    pub ipc: Namespace,
    /// `--pid`.
    pub pid: Namespace,
    /// `--uts`.
    pub uts: Namespace,
    /// The cgroup path the daemon chose ("/berth/<id>").
    pub cgroups_path: String,
    /// Host files bind-mounted read-write at container paths (see [`etc_files`]).
    pub etc_files: Vec<(PathBuf, String)>,
    /// `--init`: a host binary mounted at [`INIT_PATH`] that runs the command.
    pub init: Option<PathBuf>,
    /// Labels, passed on as annotations.
    pub labels: BTreeMap<String, String>,
}

/// `env` with `defaults` first, each overridden by a variable of the same name in `env`.
fn merge_env(defaults: Vec<String>, env: &[String]) -> Vec<String> {
    let name = |v: &str| v.split_once('=').map_or(v, |(n, _)| n).to_string();
    let mut out = defaults;
    for var in env {
        match out.iter_mut().find(|o| name(o) == name(var)) {
            Some(slot) => *slot = var.clone(),
            None => out.push(var.clone()),
        }
    }
    out
}

fn namespace(typ: LinuxNamespaceType, ns: &Namespace) -> Option<LinuxNamespace> {
    let mut out = LinuxNamespace::default();
    out.set_typ(typ);
    match ns {
        Namespace::Host => return None,
        Namespace::New => {}
        Namespace::Path(path) => {
            out.set_path(Some(path.clone()));
        }
    }
    Some(out)
}

fn host_bind(path: &str) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(path));
    m.set_typ(Some("bind".to_string()));
    m.set_source(Some(PathBuf::from(path)));
    m.set_options(Some(vec!["rbind".into(), "rprivate".into()]));
    m
}

fn all_mounts(input: &SpecInput) -> Result<Vec<Mount>> {
    let mut list = mounts::defaults(input.privileged, input.shm_size.unwrap_or(DEFAULT_SHM_SIZE));
    if input.ipc == Namespace::Host {
        list.push(host_bind("/dev/shm"));
        list.push(host_bind("/dev/mqueue"));
    }
    for (path, options) in &input.tmpfs {
        list.push(mounts::tmpfs(path, options)?);
    }
    for b in &input.binds {
        list.push(mounts::bind(b)?);
    }
    for (host, target) in &input.etc_files {
        list.push(mounts::bind(&Bind {
            source: host.clone(),
            destination: target.clone(),
            read_only: false,
            propagation: String::new(),
        })?);
    }
    if let Some(init) = &input.init {
        list.push(mounts::bind(&Bind {
            source: init.clone(),
            destination: INIT_PATH.to_string(),
            read_only: true,
            propagation: String::new(),
        })?);
    }
    Ok(mounts::ordered(list))
}

fn process(input: &SpecInput, cap_names: &BTreeSet<String>) -> Result<Process> {
    if input.args.is_empty() || input.args[0].is_empty() {
        return Err(Error::invalid(
            "command",
            "no command given (the image has no entrypoint or cmd)",
        ));
    }
    let cwd = if input.cwd.is_empty() {
        "/"
    } else {
        input.cwd.as_str()
    };
    if !cwd.starts_with('/') {
        return Err(Error::invalid(
            "working directory",
            format!("{cwd:?} is invalid, it needs to be an absolute path"),
        ));
    }
    rootfs::ensure_dir(&input.rootfs, cwd)?;
    let user = resolve_user(&input.rootfs, &input.user, &input.group_add)?;

    let mut defaults = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", input.hostname),
    ];
    if input.tty {
        defaults.push("TERM=xterm".to_string());
    }
    let mut env = merge_env(defaults, &input.env);
    if !env.iter().any(|v| v.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }

    let mut args = Vec::new();
    if input.init.is_some() {
        args.extend([INIT_PATH.to_string(), "--".to_string()]);
    }
    args.extend(input.args.iter().cloned());

    let mut p = Process::default();
    p.set_terminal(Some(input.tty));
    p.set_user(user.to_oci());
    p.set_args(Some(args));
    p.set_env(Some(env));
    p.set_cwd(PathBuf::from(cwd));
    p.set_capabilities(Some(capabilities::to_oci(cap_names)?));
    let rlimits = resources::rlimits(&input.ulimits)?;
    p.set_rlimits((!rlimits.is_empty()).then_some(rlimits));
    p.set_no_new_privileges(Some(input.no_new_privileges));
    p.set_oom_score_adj(Some(0));
    let apparmor_host = Path::new("/sys/kernel/security/apparmor").exists();
    p.set_apparmor_profile(
        input
            .apparmor
            .clone()
            .filter(|a| apparmor_host && !a.is_empty() && a != "unconfined"),
    );
    Ok(p)
}

fn linux(input: &SpecInput, cap_names: &BTreeSet<String>) -> Result<Linux> {
    let mut linux = Linux::default();
    let namespaces = [
        (LinuxNamespaceType::Mount, &Namespace::New),
        (LinuxNamespaceType::Network, &input.network),
        (LinuxNamespaceType::Ipc, &input.ipc),
        (LinuxNamespaceType::Pid, &input.pid),
        (LinuxNamespaceType::Uts, &input.uts),
    ];
    let mut namespaces: Vec<_> = namespaces
        .iter()
        .filter_map(|(t, ns)| namespace(*t, ns))
        .collect();
    // Docker's default cgroup namespace: private on a cgroup v2 host, the host's on v1.
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        namespaces.extend(namespace(LinuxNamespaceType::Cgroup, &Namespace::New));
    }
    linux.set_namespaces(Some(namespaces));

    let mut resources = resources::resources(input)?;
    let mut device_nodes = Vec::new();
    let mut rules = if input.privileged {
        device_nodes = devices::host_devices()?;
        devices::allow_all()
    } else {
        devices::default_rules()
    };
    for d in &input.devices {
        let (nodes, more) = devices::requested(d)?;
        device_nodes.extend(nodes);
        if !input.privileged {
            rules.extend(more);
        }
    }
    resources.set_devices(Some(rules));
    linux.set_resources(Some(resources));
    linux.set_devices((!device_nodes.is_empty()).then_some(device_nodes));

    resources::check_sysctls(&input.sysctls, input)?;
    linux.set_sysctl(
        (!input.sysctls.is_empty()).then(|| input.sysctls.clone().into_iter().collect()),
    );
    linux.set_cgroups_path(
        (!input.cgroups_path.is_empty()).then(|| PathBuf::from(&input.cgroups_path)),
    );
    linux.set_rootfs_propagation(mounts::rootfs_propagation(&input.binds).map(str::to_string));

    let strings = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if input.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        linux.set_masked_paths(Some(
            input
                .masked_paths
                .clone()
                .unwrap_or_else(|| strings(&MASKED_PATHS)),
        ));
        linux.set_readonly_paths(Some(
            input
                .readonly_paths
                .clone()
                .unwrap_or_else(|| strings(&READONLY_PATHS)),
        ));
    }

    let profile = match (&input.seccomp, input.privileged) {
        (_, true) | (SeccompChoice::Unconfined, _) => None,
        (SeccompChoice::Default, _) => Some(seccomp::default_profile()),
        (SeccompChoice::Profile(json), _) => Some(seccomp::parse_profile(json)?),
    };
    if let Some(profile) = profile {
        let caps: HashSet<String> = cap_names.iter().cloned().collect();
        linux.set_seccomp(Some(seccomp::to_oci(
            &profile,
            &caps,
            &seccomp::Host::current(),
        )?));
    }
    Ok(linux)
}

/// The OCI spec of the container `input` describes. Reads the container's /etc/passwd and
/// /etc/group and creates its working directory, inside `input.rootfs` only.
pub fn build(input: &SpecInput) -> Result<Spec> {
    if !input.rootfs.is_absolute() {
        return Err(Error::invalid(
            "root file system",
            format!("{} is not absolute", input.rootfs.display()),
        ));
    }
    let cap_names = capabilities::effective(input.privileged, &input.cap_add, &input.cap_drop)?;
    let mut root = Root::default();
    root.set_path(input.rootfs.clone());
    root.set_readonly(Some(input.read_only));

    let mut spec = Spec::default();
    spec.set_version("1.0.2-dev".to_string());
    spec.set_root(Some(root));
    spec.set_process(Some(process(input, &cap_names)?));
    spec.set_mounts(Some(all_mounts(input)?));
    let own_uts = input.uts != Namespace::Host;
    spec.set_hostname((own_uts && !input.hostname.is_empty()).then(|| input.hostname.clone()));
    spec.set_domainname(
        (own_uts && !input.domainname.is_empty()).then(|| input.domainname.clone()),
    );
    spec.set_hooks(None);
    spec.set_annotations(
        (!input.labels.is_empty()).then(|| input.labels.clone().into_iter().collect()),
    );
    spec.set_linux(Some(linux(input, &cap_names)?));
    Ok(spec)
}
