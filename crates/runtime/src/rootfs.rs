//! Building the container's root file system inside its new mount namespace: the mounts of the
//! spec, /dev, masked and read-only paths, and the switch into it with pivot_root.
//!
//! Every destination is resolved inside the root with [`berth_safepath`], and mounted on through its
//! `/proc/self/fd/N` path, so a symlink planted in the image can never redirect a mount outside.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fstat, makedev, mknodat, Mode, SFlag};
use nix::unistd::{chdir, chroot, fchdir, pivot_root};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::cgroups::CgroupPath;
use crate::error::{Context, Error, Result};
use crate::mount_options::{self, MountOptions};
use berth_safepath::{self as safepath, proc_path, Leaf};

/// What the root file system set-up needs to know besides the spec.
pub struct Rootfs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub cgroup: &'a CgroupPath,
    pub new_cgroup_ns: bool,
    root_fd: Option<OwnedFd>,
}

fn none() -> Option<&'static str> {
    None
}

impl<'a> Rootfs<'a> {
    pub fn new(
        spec: &'a Spec,
        rootfs: &'a Path,
        cgroup: &'a CgroupPath,
        new_cgroup_ns: bool,
    ) -> Self {
        Rootfs {
            spec,
            rootfs,
            cgroup,
            new_cgroup_ns,
            root_fd: None,
        }
    }

    fn root(&self) -> std::os::fd::BorrowedFd<'_> {
        self.root_fd.as_ref().expect("rootfs prepared").as_fd()
    }

    /// Makes the host's mounts invisible to changes here, binds the rootfs onto itself and
    /// performs every mount of the spec, then populates /dev.
    pub fn mount_all(&mut self, prepared_root: Option<OwnedFd>) -> Result<()> {
        let linux = self.spec.linux().as_ref();
        self.root_fd = Some(match prepared_root {
            Some(fd) => fd,
            None => bind_root(self.spec, self.rootfs)?,
        });
        let mounts = self.spec.mounts().clone().unwrap_or_default();
        for m in &mounts {
            self.mount_entry(m)?;
        }
        let dev_is_bind = mounts.iter().any(|m| {
            m.destination() == Path::new("/dev")
                && mount_options::parse(m.options().as_deref().unwrap_or_default())
                    .is_ok_and(|o| o.is_bind())
        });
        if !dev_is_bind {
            self.create_default_devices()?;
        }
        let devices = linux.and_then(|l| l.devices().clone()).unwrap_or_default();
        for device in &devices {
            self.create_device(device)?;
        }
        if !dev_is_bind {
            self.create_dev_symlinks()?;
        }
        Ok(())
    }

    fn mount_entry(&self, m: &Mount) -> Result<()> {
        let destination = m.destination();
        if !destination.is_absolute() {
            return Err(Error::InvalidSpec(format!(
                "mount destination {} is not absolute",
                destination.display()
            )));
        }
        if safepath::open(self.root(), destination)?.is_some()
            && destination.components().count() <= 1
        {
            return Err(Error::InvalidSpec(
                "a mount destination of / is not allowed".into(),
            ));
        }
        let options = mount_options::parse(m.options().as_deref().unwrap_or_default())?;
        let typ = m.typ().as_deref().unwrap_or("");
        if options.is_bind() {
            return self.bind_mount(m, &options);
        }
        match typ {
            "cgroup" | "cgroup2" => return self.mount_cgroup(m, &options),
            "" | "none" => {
                return Err(Error::InvalidSpec(format!(
                    "mount {} has no type and is not a bind mount",
                    destination.display()
                )))
            }
            _ => {}
        }
        let target = safepath::open_or_create(self.root(), destination, Leaf::Directory)?;
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let data = (!options.data.is_empty()).then_some(options.data.as_str());
        let result = mount(
            Some(&source),
            &proc_path(&target),
            Some(typ),
            options.flags,
            data,
        );
        match (result, typ) {
            (Ok(()), _) => {}
            // Without its own network namespace (or in a user namespace) the kernel refuses a
            // new sysfs or mqueue; give the container the host's instead, as runc does.
            (Err(nix::errno::Errno::EPERM), "sysfs" | "mqueue") => {
                let host = if typ == "sysfs" {
                    "/sys"
                } else {
                    "/dev/mqueue"
                };
                let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
                mount(Some(host), &proc_path(&target), none(), flags, none())
                    .context(|| format!("bind {host} to {}", destination.display()))?;
                remount_bind(
                    &self.reopen(destination)?,
                    options.remount_flags(),
                    destination,
                )?;
            }
            (Err(e), _) => {
                return Err(e).context(|| format!("mount {typ} on {}", destination.display()))
            }
        }
        self.set_propagation(&self.reopen(destination)?, &options, destination)
    }

    fn bind_mount(&self, m: &Mount, options: &MountOptions) -> Result<()> {
        let destination = m.destination();
        let source = m.source().clone().ok_or_else(|| {
            Error::InvalidSpec(format!(
                "bind mount {} has no source",
                destination.display()
            ))
        })?;
        let source_meta = std::fs::metadata(&source)
            .context(|| format!("bind mount source {}", source.display()))?;
        let leaf = if source_meta.is_dir() {
            Leaf::Directory
        } else {
            Leaf::File
        };
        let target = safepath::open_or_create(self.root(), destination, leaf)?;
        let flags = MsFlags::MS_BIND | (options.flags & MsFlags::MS_REC);
        mount(Some(&source), &proc_path(&target), none(), flags, none()).context(|| {
            format!(
                "bind mount {} on {}",
                source.display(),
                destination.display()
            )
        })?;
        let target = self.reopen(destination)?;
        if !options.remount_flags().is_empty() {
            remount_bind(&target, options.remount_flags(), destination)?;
        }
        self.set_propagation(&target, options, destination)
    }

    /// Opens `destination` again after mounting on it: a descriptor opened before the mount
    /// still points at the directory underneath, not at the new mount.
    fn reopen(&self, destination: &Path) -> Result<OwnedFd> {
        safepath::open(self.root(), destination)?.ok_or_else(|| {
            Error::InvalidSpec(format!("{} vanished after mounting", destination.display()))
        })
    }

    fn set_propagation(&self, target: &OwnedFd, options: &MountOptions, dest: &Path) -> Result<()> {
        for p in &options.propagation {
            mount(none(), &proc_path(target), none(), *p, none())
                .context(|| format!("set propagation of {}", dest.display()))?;
        }
        Ok(())
    }

    /// Mounts the container's own cgroup hierarchy view at the destination.
    fn mount_cgroup(&self, m: &Mount, options: &MountOptions) -> Result<()> {
        let destination = m.destination();
        let target = safepath::open_or_create(self.root(), destination, Leaf::Directory)?;
        let flags = options.flags & !MsFlags::MS_RDONLY;
        match &self.cgroup.layout {
            crate::cgroups::Layout::V2 { root } => {
                if self.new_cgroup_ns {
                    mount(
                        Some("cgroup2"),
                        &proc_path(&target),
                        Some("cgroup2"),
                        flags,
                        none(),
                    )
                    .context(|| format!("mount cgroup2 on {}", destination.display()))?;
                } else {
                    let own = root.join(&self.cgroup.path);
                    mount(
                        Some(&own),
                        &proc_path(&target),
                        none(),
                        MsFlags::MS_BIND,
                        none(),
                    )
                    .context(|| format!("bind {} on {}", own.display(), destination.display()))?;
                }
            }
            crate::cgroups::Layout::V1 { hierarchies, .. } => {
                mount(
                    Some("tmpfs"),
                    &proc_path(&target),
                    Some("tmpfs"),
                    flags,
                    Some("mode=755"),
                )
                .context(|| format!("mount tmpfs on {}", destination.display()))?;
                let base = PathBuf::from(destination);
                for (host_mount, controllers) in hierarchies {
                    let name = host_mount
                        .file_name()
                        .map(PathBuf::from)
                        .unwrap_or_default();
                    let sub =
                        safepath::open_or_create(self.root(), &base.join(&name), Leaf::Directory)?;
                    let own = host_mount.join(&self.cgroup.path);
                    mount(
                        Some(&own),
                        &proc_path(&sub),
                        none(),
                        MsFlags::MS_BIND,
                        none(),
                    )
                    .context(|| {
                        format!("bind {} on {}", own.display(), base.join(&name).display())
                    })?;
                    let sub = self.reopen(&base.join(&name))?;
                    remount_bind(&sub, options.remount_flags(), &base.join(&name))?;
                    // cpu,cpuacct style hierarchies get their per-controller symlinks.
                    if controllers.len() > 1 {
                        for c in controllers.iter().filter(|c| !c.contains('=')) {
                            if c.as_str() != name.to_string_lossy() {
                                let link_dir =
                                    safepath::open(self.root(), &base)?.expect("just mounted");
                                let _ = nix::unistd::symlinkat(
                                    name.as_path(),
                                    link_dir.as_fd(),
                                    c.as_str(),
                                );
                            }
                        }
                    }
                }
            }
        }
        if options.flags.contains(MsFlags::MS_RDONLY) {
            remount_bind(
                &self.reopen(destination)?,
                options.remount_flags(),
                destination,
            )?;
        }
        Ok(())
    }

    fn create_default_devices(&self) -> Result<()> {
        for (name, major, minor) in [
            ("null", 1, 3),
            ("zero", 1, 5),
            ("full", 1, 7),
            ("random", 1, 8),
            ("urandom", 1, 9),
            ("tty", 5, 0),
        ] {
            self.make_device(
                Path::new("/dev").join(name).as_path(),
                SFlag::S_IFCHR,
                major,
                minor,
                0o666,
                0,
                0,
            )?;
        }
        Ok(())
    }

    fn create_device(&self, device: &LinuxDevice) -> Result<()> {
        let kind = match device.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::InvalidSpec(format!(
                    "device {} has type 'a', which only device cgroup rules may use",
                    device.path().display()
                )))
            }
        };
        let mode = device.file_mode().unwrap_or(0o666);
        let uid = device.uid().unwrap_or(0);
        let gid = device.gid().unwrap_or(0);
        self.make_device(
            device.path(),
            kind,
            device.major(),
            device.minor(),
            mode,
            uid,
            gid,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn make_device(
        &self,
        path: &Path,
        kind: SFlag,
        major: i64,
        minor: i64,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<()> {
        if !path.starts_with("/dev") {
            return Err(Error::InvalidSpec(format!(
                "device {} is not under /dev",
                path.display()
            )));
        }
        let parent_path = path.parent().unwrap_or(Path::new("/dev"));
        let name = path.file_name().ok_or_else(|| {
            Error::InvalidSpec(format!("device path {} has no name", path.display()))
        })?;
        let parent = safepath::open_or_create(self.root(), parent_path, Leaf::Directory)?;
        let _ = nix::unistd::unlinkat(
            parent.as_fd(),
            name,
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
        let dev = makedev(major as u64, minor as u64);
        let perm = Mode::from_bits_truncate(mode & 0o7777);
        match mknodat(parent.as_fd(), name, kind, perm, dev) {
            Ok(()) => {
                let node = safepath::open(self.root(), path)?.expect("just created");
                // mknod applies the umask; set the exact mode through the descriptor's path.
                use std::os::unix::fs::PermissionsExt;
                let permissions = std::fs::Permissions::from_mode(mode & 0o7777);
                std::fs::set_permissions(proc_path(&node), permissions)
                    .context(|| format!("chmod device {}", path.display()))?;
                std::os::unix::fs::chown(proc_path(&node), Some(uid), Some(gid))
                    .context(|| format!("chown device {}", path.display()))?;
                Ok(())
            }
            // In a user namespace mknod is not allowed: bind the host's node instead.
            Err(nix::errno::Errno::EPERM) => {
                let target = safepath::open_or_create(self.root(), path, Leaf::File)?;
                mount(
                    Some(path),
                    &proc_path(&target),
                    none(),
                    MsFlags::MS_BIND,
                    none(),
                )
                .context(|| format!("bind host device {}", path.display()))
            }
            Err(e) => Err(e).context(|| format!("mknod {}", path.display())),
        }
    }

    fn create_dev_symlinks(&self) -> Result<()> {
        let dev = safepath::open_or_create(self.root(), Path::new("/dev"), Leaf::Directory)?;
        let mut links = vec![
            ("/proc/self/fd", "fd"),
            ("/proc/self/fd/0", "stdin"),
            ("/proc/self/fd/1", "stdout"),
            ("/proc/self/fd/2", "stderr"),
            ("/proc/kcore", "core"),
        ];
        if safepath::open(self.root(), Path::new("/dev/pts/ptmx"))?.is_some() {
            let _ =
                nix::unistd::unlinkat(dev.as_fd(), "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir);
            links.push(("pts/ptmx", "ptmx"));
        }
        for (target, name) in links {
            match nix::unistd::symlinkat(target, dev.as_fd(), name) {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                Err(e) => return Err(e).context(|| format!("symlink /dev/{name}")),
            }
        }
        Ok(())
    }

    /// Hides `maskedPaths` and makes `readonlyPaths` read-only.
    pub fn mask_and_protect(&self) -> Result<()> {
        let Some(linux) = self.spec.linux() else {
            return Ok(());
        };
        let host_null = open_host_null()?;
        for path in linux.masked_paths().iter().flatten() {
            let Some(target) = safepath::open(self.root(), Path::new(path))? else {
                continue;
            };
            let is_dir = fstat(target.as_fd())
                .map(|s| SFlag::from_bits_truncate(s.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
                .unwrap_or(false);
            let result = if is_dir {
                mount(
                    Some("tmpfs"),
                    &proc_path(&target),
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    Some("size=0"),
                )
            } else {
                mount(
                    Some(&proc_path(&host_null)),
                    &proc_path(&target),
                    none(),
                    MsFlags::MS_BIND,
                    none(),
                )
            };
            result.context(|| format!("mask {path}"))?;
        }
        for path in linux.readonly_paths().iter().flatten() {
            let Some(target) = safepath::open(self.root(), Path::new(path))? else {
                continue;
            };
            mount(
                Some(&proc_path(&target)),
                &proc_path(&target),
                none(),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                none(),
            )
            .context(|| format!("bind {path} read-only"))?;
            remount_bind(
                &self.reopen(Path::new(path))?,
                MsFlags::MS_RDONLY,
                Path::new(path),
            )?;
        }
        Ok(())
    }

    /// Switches the process's root to the rootfs and applies a read-only root.
    pub fn enter(&self, no_pivot: bool) -> Result<()> {
        fchdir(self.root()).context(|| "enter rootfs")?;
        if no_pivot {
            mount(Some("."), "/", none(), MsFlags::MS_MOVE, none())
                .context(|| "move rootfs to /")?;
            chroot(".").context(|| "chroot into rootfs")?;
        } else {
            pivot_root(".", ".").context(|| "pivot_root")?;
            // The old root is now stacked under "."; detach it without telling the host.
            mount(
                none(),
                ".",
                none(),
                MsFlags::MS_SLAVE | MsFlags::MS_REC,
                none(),
            )
            .context(|| "make old root a slave")?;
            umount2(".", MntFlags::MNT_DETACH).context(|| "detach old root")?;
        }
        chdir("/").context(|| "chdir /")?;
        let linux = self.spec.linux().as_ref();
        if let Some(p) = linux.and_then(|l| l.rootfs_propagation().as_deref()) {
            if !p.is_empty() {
                mount(none(), "/", none(), mount_options::propagation(p)?, none())
                    .context(|| "set rootfs propagation")?;
            }
        }
        if self.spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
            let root = open(
                "/",
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .context(|| "open /")?;
            remount_bind(&root, MsFlags::MS_RDONLY, Path::new("/"))?;
        }
        Ok(())
    }
}

/// Makes the host's mounts invisible to changes in this mount namespace, binds the rootfs onto
/// itself (pivot_root needs a mount point) and returns a descriptor of that mount's root.
pub fn bind_root(spec: &Spec, rootfs: &Path) -> Result<OwnedFd> {
    let linux = spec.linux().as_ref();
    let propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        Some(p) if !p.is_empty() => mount_options::propagation(p)?,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    // Until the root is switched, / is a slave (private if asked): never shared, which would
    // make pivot_root fail, nor unbindable, which would refuse the rootfs bind below. The
    // requested propagation is applied after pivot_root.
    let root_flags = if propagation.contains(MsFlags::MS_PRIVATE) {
        MsFlags::MS_PRIVATE | MsFlags::MS_REC
    } else {
        MsFlags::MS_SLAVE | MsFlags::MS_REC
    };
    mount(none(), "/", none(), root_flags, none()).context(|| "set propagation of /")?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(rootfs), rootfs, none(), flags, none())
        .context(|| format!("bind mount rootfs {}", rootfs.display()))?;
    open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("open rootfs {}", rootfs.display()))
}

/// Opens the host's /dev/null and checks it really is the null device, so a masked path can
/// never be bound to some other file (the CVE-2025-31133 class of attacks).
fn open_host_null() -> Result<OwnedFd> {
    let fd = open(
        "/dev/null",
        OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .context(|| "open /dev/null")?;
    let st = fstat(fd.as_fd()).context(|| "stat /dev/null")?;
    let is_char = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_char || st.st_rdev != makedev(1, 3) {
        return Err(Error::InvalidSpec(
            "/dev/null on the host is not the null device".into(),
        ));
    }
    Ok(fd)
}

/// Remounts a bind mount with `flags`, keeping the flags the kernel locks (nosuid, nodev,
/// noexec, atime) from the mount as it is, since dropping them would fail in a user namespace.
fn remount_bind(target: &OwnedFd, flags: MsFlags, what: &Path) -> Result<()> {
    use nix::sys::statvfs::{fstatvfs, FsFlags};
    let current = fstatvfs(target.as_fd()).context(|| format!("statvfs {}", what.display()))?;
    let mut keep = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if current.flags().contains(fs) {
            keep |= ms;
        }
    }
    let all = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | keep;
    mount(none(), &proc_path(target), none(), all, none())
        .context(|| format!("remount {} with {flags:?}", what.display()))
}
