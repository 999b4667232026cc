//! `docker import` and `docker export`: a plain root file system tar becomes a one-layer image,
//! and a directory tree (a container's mounted root file system) becomes a tar.
//!
//! Export walks the tree through directory descriptors and never follows a symlink: the tree
//! belongs to a container that may change it while it is read, so every step is `openat` with
//! `O_NOFOLLOW` relative to the directory already open, never a path resolved from the top.

use std::collections::HashMap;

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_safepath::proc_path;
use nix::fcntl::AtFlags;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstatat, FileStat, Mode, SFlag};
use serde_json::json;

use crate::changes;
use crate::digest::Digest;
use crate::error::{Context, Error, Result};
use crate::images::{ImageRecord, ImageStore};
use crate::inspect::ContainerConfig;
use crate::layer;

/// `docker import`: stores the tar read from `input` (any compression) as the single layer of
/// a new image for this host's platform, its config shaped by `changes` (`CMD ["sh"]`, `ENV
/// A=1`…) and its history noting `message` (empty: `Imported from -`). Returns the image id;
/// the caller names it.
pub fn import(
    store: &mut ImageStore,
    input: impl Read,
    changes: &[&str],
    message: &str,
) -> Result<Digest> {
    let mut config = ContainerConfig::default();
    for change in changes {
        changes::apply(&mut config, change)?;
    }
    let (diff_id, _) = store.blobs().put_stream(&mut layer::decompress(input)?)?;
    check_tar(store, &diff_id)?;
    let created = crate::time::format(crate::time::now());
    let message = if message.is_empty() {
        "Imported from -"
    } else {
        message
    };
    let image_config = json!({
        "architecture": crate::oci_layout::host_architecture(),
        "os": "linux",
        "created": created,
        "comment": message,
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": created, "comment": message }],
    });
    let id = store
        .blobs()
        .put_new(&serde_json::to_vec(&image_config).expect("JSON values serialise"))?;
    store.add(
        ImageRecord {
            id: id.clone(),
            layers: vec![diff_id.clone()],
            diff_ids: vec![diff_id],
            repo_digests: Vec::new(),
        },
        &[],
    )?;
    Ok(id)
}

/// Reads through the stored layer's headers: what is imported must be a tar.
fn check_tar(store: &ImageStore, digest: &Digest) -> Result<()> {
    let not_tar = |e: io::Error| Error::Layer {
        entry: PathBuf::from(digest.to_string()),
        reason: format!("the imported file is not a tar archive: {e}"),
    };
    let mut archive = tar::Archive::new(store.blobs().open_blob(digest)?);
    for entry in archive.entries().map_err(not_tar)? {
        entry.map_err(not_tar)?;
    }
    Ok(())
}

/// `docker export`: writes the tree under `dir` to `out` as a tar, keeping owners, modes,
/// times, hard links, devices, FIFOs and extended attributes; symlinks are stored, never
/// followed. Sockets are left out (tar cannot hold them).
pub fn export(dir: &Path, out: impl Write) -> Result<()> {
    let root = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("open {}", dir.display()))?;
    let mut exporter = Exporter {
        tar: tar::Builder::new(out),
        inodes: HashMap::new(),
        top: dir.to_path_buf(),
    };
    exporter.dir(&root, Path::new(""))?;
    exporter
        .tar
        .into_inner()
        .and_then(|mut out| out.flush())
        .context(|| format!("finish the export of {}", dir.display()))
}

struct Exporter<W: Write> {
    tar: tar::Builder<W>,
    /// Files with several links seen so far: (device, inode) → the path they were written at.
    inodes: HashMap<(u64, u64), PathBuf>,
    top: PathBuf,
}

fn header(stat: &FileStat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(stat.st_mode & 0o7777);
    h.set_uid(u64::from(stat.st_uid));
    h.set_gid(u64::from(stat.st_gid));
    h.set_mtime(stat.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

impl<W: Write> Exporter<W> {
    fn at(&self, path: &Path) -> String {
        self.top.join(path).display().to_string()
    }

    /// Writes the entries of the open directory `fd` (at `path` in the archive), recursively.
    fn dir(&mut self, fd: &OwnedFd, path: &Path) -> Result<()> {
        let listing = proc_path(fd);
        let mut names: Vec<_> = std::fs::read_dir(&listing)
            .context(|| format!("list {}", self.at(path)))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .context(|| format!("list {}", self.at(path)))?;
        names.sort();
        for name in names {
            let child = path.join(&name);
            let stat = fstatat(fd, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .context(|| format!("stat {}", self.at(&child)))?;
            let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
            if kind == SFlag::S_IFSOCK {
                continue; // A tar cannot hold a socket; Docker leaves them out too.
            }
            self.xattrs(&listing.join(&name), &child)?;
            match kind {
                SFlag::S_IFDIR => {
                    let mut h = header(&stat, tar::EntryType::Directory);
                    self.append(&mut h, &child, io::empty())?;
                    let sub = openat(
                        fd,
                        name.as_os_str(),
                        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )
                    .context(|| format!("open {}", self.at(&child)))?;
                    self.dir(&sub, &child)?;
                }
                SFlag::S_IFREG => self.file(fd, &name, &child, &stat)?,
                SFlag::S_IFLNK => {
                    let target = readlinkat(fd, name.as_os_str())
                        .context(|| format!("read link {}", self.at(&child)))?;
                    let mut h = header(&stat, tar::EntryType::Symlink);
                    self.tar
                        .append_link(&mut h, &child, &target)
                        .context(|| format!("export {}", self.at(&child)))?;
                }
                SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                    let entry_type = match kind {
                        SFlag::S_IFCHR => tar::EntryType::Char,
                        SFlag::S_IFBLK => tar::EntryType::Block,
                        _ => tar::EntryType::Fifo,
                    };
                    let mut h = header(&stat, entry_type);
                    if kind != SFlag::S_IFIFO {
                        let major = nix::sys::stat::major(stat.st_rdev) as u32;
                        let minor = nix::sys::stat::minor(stat.st_rdev) as u32;
                        h.set_device_major(major)
                            .and_then(|()| h.set_device_minor(minor))
                            .context(|| format!("export device {}", self.at(&child)))?;
                    }
                    self.append(&mut h, &child, io::empty())?;
                }
                _ => {
                    return Err(Error::Layer {
                        entry: self.top.join(&child),
                        reason: format!("unknown file type {:o}", stat.st_mode),
                    })
                }
            }
        }
        Ok(())
    }

    /// A regular file, or a hard link to one already written.
    fn file(
        &mut self,
        dir: &OwnedFd,
        name: &std::ffi::OsStr,
        path: &Path,
        stat: &FileStat,
    ) -> Result<()> {
        let inode = (stat.st_dev, stat.st_ino);
        if stat.st_nlink > 1 {
            if let Some(first) = self.inodes.get(&inode).cloned() {
                let mut h = header(stat, tar::EntryType::Link);
                return self
                    .tar
                    .append_link(&mut h, path, &first)
                    .context(|| format!("export {}", self.at(path)));
            }
            self.inodes.insert(inode, path.to_path_buf());
        }
        // The header describes what was opened; anything swapped in for the file since it was
        // examined (a device, a FIFO) is refused before it is opened.
        let (file, stat) = crate::regular_file::open_regular(
            crate::regular_file::Location::At(std::os::fd::AsFd::as_fd(dir), Path::new(name)),
            inode.0,
            inode.1,
        )
        .map_err(|e| Error::Layer {
            entry: self.top.join(path),
            reason: format!("open for export: {e}"),
        })?;
        let mut h = header(&stat, tar::EntryType::Regular);
        let size = stat.st_size as u64;
        h.set_size(size);
        // A file that shrinks while being read would leave the archive short: pad with zeros,
        // as GNU tar does; one that grows is cut at the size in the header.
        let data = file.take(size).chain(io::repeat(0)).take(size);
        self.append(&mut h, path, data)
    }

    fn append(&mut self, h: &mut tar::Header, path: &Path, data: impl Read) -> Result<()> {
        self.tar
            .append_data(h, path, data)
            .context(|| format!("export {}", self.at(path)))
    }

    /// Writes the extended attributes of the entry at `proc` (a path through the parent's
    /// descriptor, last component not followed) as PAX records for the next entry.
    fn xattrs(&mut self, proc: &Path, path: &Path) -> Result<()> {
        let names: Vec<_> = match xattr::list(proc) {
            Ok(names) => names.collect(),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => return Ok(()),
            Err(e) => return Err(e).context(|| format!("list xattrs of {}", self.at(path))),
        };
        let mut records = Vec::new();
        for name in names {
            let Some(value) = xattr::get(proc, &name)
                .context(|| format!("read xattr {name:?} of {}", self.at(path)))?
            else {
                continue;
            };
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(name.as_bytes());
            records.push((key, value));
        }
        if records.is_empty() {
            return Ok(());
        }
        let records: Vec<(String, &[u8])> = records
            .iter()
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.as_slice()))
            .collect();
        self.tar
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
            .context(|| format!("export xattrs of {}", self.at(path)))
    }
}
