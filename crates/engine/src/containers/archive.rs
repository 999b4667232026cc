//! `docker cp`'s daemon side: the stat of a path in a container, a tar of it, and a tar
//! extracted into a directory of it, for running and stopped containers alike.
//!
//! The container's files are hostile: every lookup goes through `berth_safepath` (the root is
//! the container's, `..` and symlinks never leave it) and trees are walked and written through
//! directory descriptors without following symlinks (`berth_image::tree_tar`,
//! `berth_image::layer::extract`). A running container is reached through its init process's
//! root (`/proc/<pid>/root`), so its volumes and binds are seen as its processes see them; a
//! stopped one through its root file system, mounted for the copy. Nothing from the container
//! is ever executed.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::archive::{file_mode, ContainerPathStat};
use berth_image::extract::Extract;
use berth_image::tree_tar::TreeWriter;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, fstatat, FileStat, Mode};
use tokio::sync::oneshot;

use super::archive_path::{self, Target};
use super::mount_plan::Source;
use super::record::ContainerRecord;
use super::table::Entry;
use super::{blocking, io, ContainerService};
use crate::error::{Error, Result};

/// What a `PUT /containers/{id}/archive` asks besides the tar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// Refuse to replace a directory with a non-directory or the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// Keep the owners in the tar; without it everything belongs to the container's root.
    pub copy_uid_gid: bool,
}

/// The tar of a `GET`, read as the daemon writes it.
pub type ArchiveReader = tokio::net::unix::pipe::Receiver;

/// Bytes the archive's pipe holds, and the tar writer gathers before each write to it: small
/// files' headers and contents go out in few writes.
const ARCHIVE_PIPE_SIZE: i32 = 1 << 20;

impl ContainerService {
    /// The mounts of a stopped container that `docker cp` sees through: (destination in the
    /// container, directory on the host, read-only). A running container's are seen through
    /// its own root.
    fn mount_sources(&self, record: &ContainerRecord) -> Vec<(PathBuf, PathBuf, bool)> {
        record
            .mount_points
            .iter()
            .map(|point| {
                let source = match &point.source {
                    Source::Volume(name) => self.inner.volumes.mountpoint(name),
                    Source::Bind(path) => path.clone(),
                };
                (PathBuf::from(&point.destination), source, point.read_only)
            })
            // A bind of a single file is copied as the root file system holds it.
            .filter(|(_, source, _)| source.is_dir())
            .collect()
    }
}

/// A container's file system opened for one copy.
struct ContainerRoot {
    root: OwnedFd,
    /// A stopped container's mounts, opened: (destination, source directory, read-only).
    mounts: Vec<(PathBuf, OwnedFd, bool)>,
    /// What the client called the container, for errors.
    name: String,
}

impl ContainerRoot {
    /// The mount (destination, source) `path` is under, the deepest one.
    fn mount_of(&self, path: &Path) -> Option<&(PathBuf, OwnedFd, bool)> {
        self.mounts
            .iter()
            .filter(|(dest, _, _)| path.starts_with(dest))
            .max_by_key(|(dest, _, _)| dest.components().count())
    }

    /// The root to resolve `path` in, and `path` relative to it: a path under a mount
    /// destination is looked up in the mount's source.
    fn locate<'a>(&'a self, path: &Path) -> (BorrowedFd<'a>, PathBuf) {
        let clean = archive_path::lexical(path);
        match self.mount_of(&clean) {
            Some((dest, source, _)) => {
                let rest = clean.strip_prefix(dest).unwrap_or(Path::new(""));
                (source.as_fd(), Path::new("/").join(rest))
            }
            None => (self.root.as_fd(), clean),
        }
    }

    fn not_found(&self, target: &Target) -> Error {
        Error::NoSuchPath {
            path: target.asked.clone(),
            container: self.name.clone(),
        }
    }

    /// Opens the directory `target.dir` (every link followed inside the root).
    fn open_dir(&self, target: &Target) -> Result<(BorrowedFd<'_>, OwnedFd)> {
        let (root, rel) = self.locate(&target.dir);
        match berth_safepath::open(root, &rel) {
            Ok(Some(fd)) => Ok((root, fd)),
            Ok(None) => Err(self.not_found(target)),
            Err(e) if e.source.raw_os_error() == Some(nix::libc::ENOTDIR) => {
                Err(self.not_found(target))
            }
            Err(e) => Err(io(format!("resolve {}", target.asked), e.source)),
        }
    }

    /// The stat of what `target` names, with the directory it is in (the object itself when
    /// the path ends in `/` or `/.`).
    fn stat(&self, target: &Target) -> Result<(ContainerPathStat, OwnedFd)> {
        let (root, dir) = self.open_dir(target)?;
        let stat = match &target.base {
            None => {
                let stat = fstat(dir.as_fd()).map_err(|e| io(target.asked.clone(), e.into()))?;
                if stat.st_mode & nix::libc::S_IFMT != nix::libc::S_IFDIR {
                    return Err(Error::BadRequest(format!(
                        "{}: not a directory",
                        target.asked
                    )));
                }
                stat
            }
            Some(base) => match fstatat(
                &dir,
                base.as_os_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(stat) => stat,
                Err(nix::errno::Errno::ENOENT) => return Err(self.not_found(target)),
                Err(e) => return Err(io(format!("stat {}", target.asked), e.into())),
            },
        };
        let mut link_target = String::new();
        if file_mode::is_symlink(file_mode::from_unix(stat.st_mode)) {
            let (_, rel) = self.locate(&target.abs);
            let real = berth_safepath::real_path(root, &rel)
                .map_err(|e| io(format!("resolve {}", target.asked), e.source))?;
            // Under a mount the path was resolved in its source: put the destination back.
            let mount = self.mount_of(&archive_path::lexical(&target.abs));
            let top = mount.map_or(Path::new("/"), |(dest, _, _)| dest.as_path());
            let real = top.join(real.strip_prefix("/").unwrap_or(&real));
            link_target = real.display().to_string();
        }
        let mut path_stat = path_stat(&target.name, &stat);
        path_stat.link_target = link_target;
        Ok((path_stat, dir))
    }
}

fn path_stat(name: &str, stat: &FileStat) -> ContainerPathStat {
    ContainerPathStat {
        name: name.to_string(),
        size: stat.st_size,
        mode: file_mode::from_unix(stat.st_mode),
        mtime: archive_path::rfc3339_nanos(stat.st_mtime, stat.st_mtime_nsec),
        link_target: String::new(),
    }
}

/// Opens a running container's root as its init process sees it, making sure `pid` is still
/// that process: the pidfd taken first must still be alive once the root is open, and the root
/// must be the container's root file system (a recycled pid would show another root).
fn open_running_root(pid: i32, rootfs: &Path) -> Result<OwnedFd> {
    let proc_root = format!("/proc/{pid}/root");
    let gone = || Error::Conflict(format!("container process {pid} has exited"));
    let pidfd = berth_sys::pidfd_open(pid).map_err(|_| gone())?;
    let root = nix::fcntl::open(
        proc_root.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|_| gone())?;
    if !berth_sys::pidfd_alive(&pidfd).map_err(|e| io(format!("poll pidfd of {pid}"), e))? {
        return Err(gone());
    }
    let seen = fstat(root.as_fd()).map_err(|e| io(proc_root.clone(), e.into()))?;
    let expected =
        nix::sys::stat::stat(rootfs).map_err(|e| io(rootfs.display().to_string(), e.into()))?;
    if (seen.st_dev, seen.st_ino) != (expected.st_dev, expected.st_ino) {
        return Err(gone());
    }
    Ok(root)
}

impl ContainerService {
    /// `HEAD /containers/{id}/archive?path=`: what `path` is in the container.
    pub async fn stat_path(&self, key: &str, path: &str) -> Result<ContainerPathStat> {
        let target = Target::parse(path)?;
        let entry = self.find(key)?;
        self.with_root(&entry, key, move |root| Ok(root.stat(&target)?.0))
            .await
    }

    /// `GET /containers/{id}/archive?path=`: the stat of `path` and a tar of it, its top entry
    /// named after the path's base (`.` with its contents for `dir/.`). The tar is written while
    /// it is read; an error met after the stat ends it early.
    pub async fn get_archive(
        &self,
        key: &str,
        path: &str,
    ) -> Result<(ContainerPathStat, ArchiveReader)> {
        let target = Target::parse(path)?;
        let entry = self.find(key)?;
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
            .map_err(|e| io("create a pipe".into(), e.into()))?;
        nix::fcntl::fcntl(&read, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map_err(|e| io("set the pipe non-blocking".into(), e.into()))?;
        // A larger pipe lets the tar writer run further ahead of the socket; the default size
        // is kept where the system allows less.
        let _ = nix::fcntl::fcntl(&read, nix::fcntl::FcntlArg::F_SETPIPE_SZ(ARCHIVE_PIPE_SIZE));
        let reader =
            ArchiveReader::from_owned_fd(read).map_err(|e| io("register the pipe".into(), e))?;
        let (stat_tx, stat_rx) = oneshot::channel();
        let stat_tx: StatSender = Arc::new(std::sync::Mutex::new(Some(stat_tx)));
        let service = self.clone();
        let name = key.to_string();
        let id = entry.id.clone();
        let copy_tx = stat_tx.clone();
        tokio::spawn(async move {
            let copied = service
                .with_root(&entry, &name, move |root| {
                    let (stat, dir) = root.stat(&target)?;
                    let _ = answer(&copy_tx, Ok(stat));
                    let out = std::fs::File::from(write);
                    write_tar(
                        &dir,
                        &target,
                        std::io::BufWriter::with_capacity(ARCHIVE_PIPE_SIZE as usize, out),
                    )
                })
                .await;
            if let Err(e) = copied {
                if let Some(Err(error)) = answer(&stat_tx, Err(e)) {
                    // The status is sent: the client sees a short tar.
                    eprintln!("berthd: archive of {}: {error}", entry.id);
                }
            }
        });
        let stat = stat_rx.await.map_err(|_| Error::Task {
            operation: format!("archive {path}"),
            reason: "ended before the path was examined".into(),
        })??;
        self.publish("archive-path", &id);
        Ok((stat, reader))
    }

    /// `PUT /containers/{id}/archive?path=`: extracts the tar read from `input` into the
    /// directory `path` of the container.
    pub async fn put_archive(
        &self,
        key: &str,
        path: &str,
        input: impl Read + Send + 'static,
        options: PutOptions,
    ) -> Result<()> {
        let target = Target::parse(path)?;
        let entry = self.find(key)?;
        let record = entry.snapshot();
        let running = record.state.status.is_live();
        let readonly = record.host_config.readonly_rootfs;
        self.with_root(&entry, key, move |root| {
            let (into, rel) = root.locate(&target.abs);
            if !running {
                match root.mount_of(&target.abs) {
                    None if readonly => {
                        return Err(Error::BadRequest(
                            "container rootfs is marked read-only".into(),
                        ))
                    }
                    Some((_, _, true)) => {
                        return Err(Error::BadRequest(
                            "mounted volume is marked read-only".into(),
                        ))
                    }
                    _ => {}
                }
            }
            let dir = match berth_safepath::open(into, &rel) {
                Ok(Some(fd)) => fd,
                Ok(None) => return Err(root.not_found(&target)),
                Err(e) if e.source.raw_os_error() == Some(nix::libc::ENOTDIR) => {
                    return Err(root.not_found(&target))
                }
                Err(e) => return Err(io(format!("resolve {}", target.asked), e.source)),
            };
            let stat = fstat(dir.as_fd()).map_err(|e| io(target.asked.clone(), e.into()))?;
            if stat.st_mode & nix::libc::S_IFMT != nix::libc::S_IFDIR {
                return Err(Error::BadRequest(
                    "extraction point is not a directory".into(),
                ));
            }
            // A running container's read-only root or volume shows in the mount it is on.
            let mount = nix::sys::statvfs::fstatvfs(&dir)
                .map_err(|e| io(format!("statvfs {}", target.asked), e.into()))?;
            if mount
                .flags()
                .contains(nix::sys::statvfs::FsFlags::ST_RDONLY)
            {
                let on_root = fstat(root.root.as_fd()).is_ok_and(|r| r.st_dev == stat.st_dev);
                return Err(Error::BadRequest(if on_root {
                    "container rootfs is marked read-only".into()
                } else {
                    "mounted volume is marked read-only".into()
                }));
            }
            let extract = Extract {
                owner: (!options.copy_uid_gid).then_some((0, 0)),
                no_overwrite_dir_non_dir: options.no_overwrite_dir_non_dir,
                ..Extract::default()
            };
            berth_image::extract::extract(dir.as_fd(), input, &extract)
                .map(drop)
                .map_err(|e| match e {
                    berth_image::Error::Layer { entry, reason } => Error::BadRequest(format!(
                        "{}: {reason}",
                        Path::new(&target.asked).join(entry).display()
                    )),
                    other => Error::Image(other),
                })
        })
        .await?;
        self.publish("extract-to-dir", &entry.id);
        Ok(())
    }

    /// Runs `work` on the blocking pool with the container's file system open: a running
    /// container's through its process, a stopped one's root file system mounted meanwhile
    /// (under the op lock, so it does not start or go away) and unmounted after.
    async fn with_root<T: Send + 'static>(
        &self,
        entry: &Arc<Entry>,
        name: &str,
        work: impl FnOnce(&ContainerRoot) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let op = entry.op.lock().await;
        let record = entry.snapshot();
        let name = name.to_string();
        if record.state.status.is_live() && record.state.pid > 0 {
            let pid = record.state.pid as i32;
            let rootfs = record.rootfs.clone();
            let root = blocking("open container root", move || {
                open_running_root(pid, &rootfs)
            })
            .await??;
            // The open root keeps the container's files reachable: its life may go on.
            drop(op);
            let root = ContainerRoot {
                root,
                mounts: Vec::new(),
                name,
            };
            return blocking("copy", move || work(&root)).await?;
        }
        let mounted = self.inner.images.mount_rootfs(entry.id.clone()).await?;
        let sources = self.mount_sources(&record);
        let result = blocking("copy", move || {
            let open = |path: &Path| {
                nix::fcntl::open(
                    path,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| io(format!("open {}", path.display()), e.into()))
            };
            let mut mounts = Vec::new();
            for (dest, source, read_only) in sources {
                mounts.push((archive_path::lexical(&dest), open(&source)?, read_only));
            }
            let root = ContainerRoot {
                root: open(&mounted)?,
                mounts,
                name,
            };
            work(&root)
        })
        .await;
        if !entry.record().state.status.is_live() {
            let _ = self.inner.images.unmount_rootfs(entry.id.clone()).await;
        }
        drop(op);
        result?
    }
}

/// Where the stat of a `GET` goes: the copy sends it once the path is found, or the failure
/// to get that far is sent instead.
type StatSender = Arc<std::sync::Mutex<Option<oneshot::Sender<Result<ContainerPathStat>>>>>;

/// Sends `stat` if nothing was sent yet; gives it back otherwise.
fn answer(tx: &StatSender, stat: Result<ContainerPathStat>) -> Option<Result<ContainerPathStat>> {
    match tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(tx) => {
            let _ = tx.send(stat);
            None
        }
        None => Some(stat),
    }
}

/// Writes the tar of `target` (in `dir`, the directory it was found in) to `out`.
fn write_tar(dir: &OwnedFd, target: &Target, out: impl Write) -> Result<()> {
    let label = PathBuf::from(&target.asked);
    let mut tree = TreeWriter::new(out, &label);
    let top = PathBuf::from(&target.top);
    match &target.base {
        Some(base) => tree.entry(dir.as_fd(), base.as_os_str(), &top)?,
        None => tree.directory(dir.as_fd(), &top)?,
    }
    tree.finish().map(drop).map_err(Error::Image)
}
