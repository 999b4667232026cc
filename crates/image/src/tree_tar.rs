//! Writing a directory tree someone else controls (a container's root file system, a running
//! container's files) to a tar stream, for `docker export` and `docker cp`.
//!
//! The walk goes through directory descriptors and never follows a symlink: the tree may
//! change while it is read, so every step is `openat` with `O_NOFOLLOW` relative to the
//! directory already open, never a path resolved from the top. Entry names are written as
//! given (`./a` stays `./a`, as Docker's `cp` of `dir/.` sends them), directories with a
//! trailing `/`; names too long for the header go in a PAX `path` record.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_safepath::proc_path;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};

use crate::error::{Context, Error, Result};

/// A tar being written from directory descriptors.
pub struct TreeWriter<W: Write> {
    tar: tar::Builder<W>,
    /// Files with several links seen so far: (device, inode) → the name they were written as.
    inodes: HashMap<(u64, u64), PathBuf>,
    /// Where the tree is, for error messages.
    label: PathBuf,
}

impl<W: Write> TreeWriter<W> {
    /// A writer of entries to `out`; `label` names the tree in errors (a host path, a
    /// container path).
    pub fn new(out: W, label: &Path) -> Self {
        TreeWriter {
            tar: tar::Builder::new(out),
            inodes: HashMap::new(),
            label: label.to_path_buf(),
        }
    }

    /// Writes the end of the archive and returns the output, flushed.
    pub fn finish(self) -> Result<W> {
        let label = self.label.clone();
        self.tar
            .into_inner()
            .and_then(|mut out| out.flush().map(|()| out))
            .context(|| format!("finish the archive of {}", label.display()))
    }

    /// Writes everything inside the directory `dir` (not the directory itself), named relative
    /// to it, recursively.
    pub fn contents(&mut self, dir: BorrowedFd<'_>) -> Result<()> {
        let dir = reopen_dir(dir).context(|| format!("open {}", self.label.display()))?;
        self.children(&dir, Path::new(""))
    }

    /// Writes the directory `dir` itself as `name`, then everything inside it as `name/…`.
    pub fn directory(&mut self, dir: BorrowedFd<'_>, name: &Path) -> Result<()> {
        let dir = reopen_dir(dir).context(|| format!("open {}", self.label.display()))?;
        let stat = fstat(dir.as_fd()).context(|| format!("stat {}", self.label.display()))?;
        let dir = std::fs::File::from(dir);
        let mut pax = Vec::new();
        file_xattrs(&dir, &mut pax).context(|| format!("list xattrs of {}", self.at(name)))?;
        let mut h = header(&stat, tar::EntryType::Directory);
        self.append(&mut h, name, None, pax, io::empty())?;
        self.children(&OwnedFd::from(dir), name)
    }

    /// Writes the object `entry` of the directory `parent` (a symlink is stored, not followed)
    /// as `name`, and if it is a directory everything inside it.
    pub fn entry(&mut self, parent: BorrowedFd<'_>, entry: &OsStr, name: &Path) -> Result<()> {
        let stat = fstatat(parent, entry, AtFlags::AT_SYMLINK_NOFOLLOW)
            .context(|| format!("stat {}", self.at(name)))?;
        self.one(parent, entry, name, &stat)
    }

    fn at(&self, path: &Path) -> String {
        self.label.join(path).display().to_string()
    }

    /// Writes the entries of the open directory `fd` (named `path` in the archive), recursively.
    fn children(&mut self, fd: &OwnedFd, path: &Path) -> Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(proc_path(fd))
            .and_then(|listing| listing.map(|e| e.map(|e| e.file_name())).collect())
            .context(|| format!("list {}", self.at(path)))?;
        let names: &mut Vec<std::ffi::OsString> = &mut names;
        names.sort();
        for name in names.iter() {
            let child = path.join(name);
            let stat = fstatat(fd, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .context(|| format!("stat {}", self.at(&child)))?;
            self.one(fd.as_fd(), name, &child, &stat)?;
        }
        Ok(())
    }

    fn one(
        &mut self,
        parent: BorrowedFd<'_>,
        entry: &OsStr,
        name: &Path,
        stat: &FileStat,
    ) -> Result<()> {
        let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
        if kind == SFlag::S_IFSOCK {
            return Ok(()); // A tar cannot hold a socket; Docker leaves them out too.
        }
        // Regular files and directories: their attributes are read from the descriptor opened
        // to read them; other entries' through their parent's.
        let mut pax = Vec::new();
        if kind != SFlag::S_IFDIR && kind != SFlag::S_IFREG {
            name_xattrs(&proc_path(&parent).join(entry), &mut pax)
                .context(|| format!("list xattrs of {}", self.at(name)))?;
        }
        match kind {
            SFlag::S_IFDIR => {
                let sub = openat(
                    parent,
                    entry,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .context(|| format!("open {}", self.at(name)))?;
                let sub = std::fs::File::from(sub);
                file_xattrs(&sub, &mut pax)
                    .context(|| format!("list xattrs of {}", self.at(name)))?;
                let mut h = header(stat, tar::EntryType::Directory);
                self.append(&mut h, name, None, pax, io::empty())?;
                self.children(&OwnedFd::from(sub), name)
            }
            SFlag::S_IFREG => self.file(parent, entry, name, stat, pax),
            SFlag::S_IFLNK => {
                let target =
                    readlinkat(parent, entry).context(|| format!("read link {}", self.at(name)))?;
                let mut h = header(stat, tar::EntryType::Symlink);
                let target = PathBuf::from(target);
                self.append(&mut h, name, Some(&target), pax, io::empty())
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                let entry_type = match kind {
                    SFlag::S_IFCHR => tar::EntryType::Char,
                    SFlag::S_IFBLK => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = header(stat, entry_type);
                if kind != SFlag::S_IFIFO {
                    let major = nix::sys::stat::major(stat.st_rdev) as u32;
                    let minor = nix::sys::stat::minor(stat.st_rdev) as u32;
                    h.set_device_major(major)
                        .and_then(|()| h.set_device_minor(minor))
                        .context(|| format!("archive device {}", self.at(name)))?;
                }
                self.append(&mut h, name, None, pax, io::empty())
            }
            _ => Err(Error::Layer {
                entry: self.label.join(name),
                reason: format!("unknown file type {:o}", stat.st_mode),
            }),
        }
    }

    /// A regular file, or a hard link to one already written.
    fn file(
        &mut self,
        dir: BorrowedFd<'_>,
        entry: &OsStr,
        name: &Path,
        stat: &FileStat,
        pax: Records,
    ) -> Result<()> {
        let inode = (stat.st_dev, stat.st_ino);
        if stat.st_nlink > 1 {
            if let Some(first) = self.inodes.get(&inode).cloned() {
                let mut h = header(stat, tar::EntryType::Link);
                return self.append(&mut h, name, Some(&first), pax, io::empty());
            }
            self.inodes.insert(inode, name.to_path_buf());
        }
        // The header describes what was opened; anything swapped in for the file since it was
        // examined (a device, a FIFO) is refused before it is opened.
        let (file, stat) = crate::regular_file::open_regular(
            crate::regular_file::Location::At(dir, Path::new(entry)),
            inode.0,
            inode.1,
        )
        .map_err(|e| Error::Layer {
            entry: self.label.join(name),
            reason: format!("open for archiving: {e}"),
        })?;
        let mut pax = pax;
        file_xattrs(&file, &mut pax).context(|| format!("list xattrs of {}", self.at(name)))?;
        let mut h = header(&stat, tar::EntryType::Regular);
        let size = stat.st_size as u64;
        h.set_size(size);
        // A file that shrinks while being read would leave the archive short: pad with zeros,
        // as GNU tar does; one that grows is cut at the size in the header.
        let data = file.take(size).chain(io::repeat(0)).take(size);
        self.append(&mut h, name, None, pax, data)
    }

    /// Appends one entry: its name (and link target) set byte for byte, PAX records first.
    fn append(
        &mut self,
        h: &mut tar::Header,
        name: &Path,
        link: Option<&Path>,
        mut pax: Records,
        data: impl Read,
    ) -> Result<()> {
        let mut bytes = name.as_os_str().as_bytes().to_vec();
        if h.entry_type() == tar::EntryType::Directory && !bytes.ends_with(b"/") {
            bytes.push(b'/');
        }
        set_field(&mut h.as_old_mut().name, "path", &bytes, &mut pax);
        if let Some(link) = link {
            let target = link.as_os_str().as_bytes();
            set_field(&mut h.as_old_mut().linkname, "linkpath", target, &mut pax);
        }
        let at = self.at(name);
        let what = || format!("archive {at}");
        if !pax.is_empty() {
            self.tar
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .context(what)?;
        }
        h.set_cksum();
        self.tar.append(h, data).context(what)
    }
}

/// Puts `value` in a fixed header field, or a PAX record `key` when it does not fit.
fn set_field(field: &mut [u8], key: &str, value: &[u8], pax: &mut Records) {
    field.fill(0);
    if value.len() <= field.len() {
        field[..value.len()].copy_from_slice(value);
    } else {
        let cut = field.len();
        field.copy_from_slice(&value[..cut]);
        pax.push((key.to_string(), value.to_vec()));
    }
}

fn reopen_dir(dir: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        &proc_path(&dir),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
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

type Records = Vec<(String, Vec<u8>)>;

/// The extended attributes of the entry at `proc` (a path through its parent's descriptor,
/// the last component not followed) as `SCHILY.xattr.` PAX records.
fn name_xattrs(proc: &Path, records: &mut Records) -> io::Result<()> {
    let names: Vec<_> = match xattr::list(proc) {
        Ok(names) => names.collect(),
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in names {
        if let Some(value) = xattr::get(proc, &name)? {
            records.push((xattr_key(&name), value));
        }
    }
    Ok(())
}

/// The extended attributes of the open file or directory `file`, as [`name_xattrs`].
fn file_xattrs(file: &std::fs::File, records: &mut Records) -> io::Result<()> {
    use xattr::FileExt;
    let names: Vec<_> = match file.list_xattr() {
        Ok(names) => names.collect(),
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in names {
        if let Some(value) = file.get_xattr(&name)? {
            records.push((xattr_key(&name), value));
        }
    }
    Ok(())
}

fn xattr_key(name: &OsStr) -> String {
    format!("SCHILY.xattr.{}", name.to_string_lossy())
}
