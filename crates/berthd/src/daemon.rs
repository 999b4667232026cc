//! Wiring: lock the roots, open the image service, listen on the sockets, serve until a
//! signal, clean up.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use berth_engine::containers::{ContainerService, Paths};
use berth_engine::events::Events;

use crate::api::{self as server, Daemon, Identity};
use berth_distribution::ClientConfig;
use berth_engine::networks::{NetworkPaths, NetworkService};
use berth_engine::volumes::VolumeService;
use berth_engine::ImageService;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::chown;

/// How long a shutdown waits for requests in progress.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The group whose members may use the sockets.
const SOCKET_GROUP: &str = "berth";

/// What the flags decided.
pub struct Config {
    pub hosts: Vec<String>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// `--add-runtime NAME=PATH`.
    pub runtimes: Vec<(String, PathBuf)>,
    pub verbose: bool,
}

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(config: Config) -> Result<()> {
    let sockets = config
        .hosts
        .iter()
        .map(|h| socket_path(h))
        .collect::<Result<Vec<_>>>()?;
    private_dir(&config.data_root)?;
    private_dir(&config.exec_root)?;
    // Both roots are locked: a second daemon may not share either.
    let _pid = PidFile::lock(&config.exec_root.join("berthd.pid"))?;
    let _data = PidFile::lock(&config.data_root.join("berthd.lock"))?;
    let identity = Identity {
        id: engine_id(&config.data_root)?,
        name: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        data_root: config.data_root.clone(),
    };
    let images = ImageService::open(
        &config.data_root,
        &config.exec_root,
        ClientConfig::default(),
    )
    .with_context(|| format!("open the images under {}", config.data_root.display()))?;
    let gid = socket_group()?;
    let mut paths = Paths::under(&config.data_root, &config.exec_root);
    for (name, path) in &config.runtimes {
        paths
            .runtimes
            .add(name, path)
            .with_context(|| format!("--add-runtime {name}={}", path.display()))?;
    }

    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    let result = runtime.block_on(async {
        let events = Events::default();
        let networks = NetworkService::open(
            NetworkPaths::new(&config.data_root, &config.exec_root),
            events.clone(),
        )
        .await
        .with_context(|| format!("open the networks under {}", config.data_root.display()))?;
        let volumes = VolumeService::open(&config.data_root.join("volumes"), events.clone())
            .with_context(|| format!("open the volumes under {}", config.data_root.display()))?;
        let containers = ContainerService::open(
            paths,
            images.clone(),
            networks,
            volumes.clone(),
            events.clone(),
        )
        .await
        .with_context(|| format!("open the containers under {}", config.data_root.display()))?;
        // Mounts of tmpfs and bind volumes a dead daemon left, that no container uses.
        if let Err(e) = volumes.settle() {
            eprintln!("berthd: volumes: {e}");
        }
        let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
        let builds = berth_engine::build::BuildService::open(
            &config.data_root,
            &config.exec_root,
            containers.clone(),
            images.clone(),
        )
        .with_context(|| format!("open the build cache under {}", config.data_root.display()))?;
        builds.remove_interrupted().await;
        let daemon = Daemon {
            images,
            volumes,
            builds,
            containers,
            events,
            identity,
            stopping,
        };
        let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
        let mut servers = Vec::new();
        for path in &sockets {
            let listener = listen(path, gid)?;
            if config.verbose {
                eprintln!("berthd: API listening on {}", path.display());
            }
            let mut stopped = stop.subscribe();
            let shutdown = async move {
                let _ = stopped.recv().await;
            };
            servers.push(tokio::spawn(server::serve(
                listener,
                daemon.clone(),
                shutdown,
            )));
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("install the SIGTERM handler")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        if config.verbose {
            eprintln!("berthd: shutting down");
        }
        // Streams that would run on (events, logs -f, stats) end now, as dockerd's do.
        let _ = stopping_tx.send(true);
        let _ = stop.send(());
        // Requests still running get a grace period; the daemon exits after it regardless.
        let finished = async {
            for server in servers {
                server.await.context("API server task")??;
            }
            Ok::<_, anyhow::Error>(())
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, finished).await {
            Ok(result) => result,
            Err(_) => {
                eprintln!("berthd: requests still running after {SHUTDOWN_GRACE:?}; exiting");
                Ok(())
            }
        }
    });
    // Blocking tasks still running (a log being followed) are not waited for: the containers
    // and their logs live on without the daemon.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    for path in &sockets {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// The socket path of a `unix://PATH` host.
fn socket_path(host: &str) -> Result<PathBuf> {
    match host.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(PathBuf::from(path)),
        _ => bail!("--host {host:?}: only unix:///absolute/path sockets are supported"),
    }
}

fn private_dir(path: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("create {}", path.display()))
}

/// The gid of `name` in /etc/group. (berthd links statically, where glibc's NSS lookups
/// through getgrnam cannot load their modules; the local file is what groupadd writes.)
fn group_id(name: &str) -> Result<Option<u32>> {
    let groups = std::fs::read_to_string("/etc/group").context("read /etc/group")?;
    Ok(groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name))
            .then(|| fields.nth(1).and_then(|gid| gid.parse().ok()))
            .flatten()
    }))
}

/// The id of group `berth`, created when missing.
fn socket_group() -> Result<u32> {
    let lookup = || group_id(SOCKET_GROUP);
    if let Some(gid) = lookup()? {
        return Ok(gid);
    }
    let status = std::process::Command::new("groupadd")
        .args(["-r", SOCKET_GROUP])
        .status()
        .context("run groupadd -r berth")?;
    match lookup()? {
        Some(gid) => Ok(gid),
        None => bail!(
            "group {SOCKET_GROUP} is missing and groupadd -r {SOCKET_GROUP} failed ({status})"
        ),
    }
}

/// Binds `path` (replacing a stale socket: the pid file lock says no daemon owns it) with mode
/// 0660 and group `berth`.
fn listen(path: &Path, gid: u32) -> Result<tokio::net::UnixListener> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("remove stale socket {}", path.display())),
    }
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("listen on {}", path.display()))?;
    chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
        .with_context(|| format!("chown {} to group {SOCKET_GROUP}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod 0660 {}", path.display()))?;
    Ok(listener)
}

/// A file locked with flock for the daemon's lifetime, holding its pid; removed on drop.
struct PidFile {
    path: PathBuf,
    _lock: Flock<File>,
}

impl PidFile {
    fn lock(path: &Path) -> Result<PidFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("open {}", path.display()))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                bail!(
                    "another berthd (pid {}) is running on these roots: {} is locked",
                    pid.trim(),
                    path.display()
                );
            }
            Err((_, errno)) => {
                return Err(errno).with_context(|| format!("lock {}", path.display()))
            }
        };
        let write = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.rewind()?;
            writeln!(f, "{}", std::process::id())?;
            f.sync_all()
        };
        write(&mut lock).with_context(|| format!("write {}", path.display()))?;
        Ok(PidFile {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A random id kept in `<data-root>/engine-id`, so `docker info` shows the same ID across
/// restarts.
fn engine_id(data_root: &Path) -> Result<String> {
    let path = data_root.join("engine-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    }
    let id = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .context("read /proc/sys/kernel/random/uuid")?
        .trim()
        .to_string();
    let tmp = data_root.join(".engine-id.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(id.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        File::open(data_root)?.sync_all()
    };
    write().with_context(|| format!("write {}", path.display()))?;
    Ok(id)
}
