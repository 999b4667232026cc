//! Unpacking a layer (a tar stream, plain, gzip or zstd) onto a directory, with OCI and AUFS
//! whiteouts. Layers are hostile input: no entry may create, change or remove anything outside
//! the target directory, whatever its path (`..`, absolute), the symlinks earlier entries
//! planted, or the hardlink and whiteout names it carries.
//!
//! Every parent directory is resolved inside the target with `RESOLVE_IN_ROOT`, and every
//! change to the last component is made relative to that parent's descriptor without following
//! a symlink there (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, `unlinkat`).

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use berth_safepath::{self as safepath, proc_path, Leaf};
use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, mknodat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, unlinkat, Gid, Uid, UnlinkatFlags};
use tar::{Archive, EntryType};

use crate::digest::{Digest, HashingReader};
use crate::error::{Context, Error, Result};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// How a layer's tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Recognises the compression from the stream's first bytes.
pub fn detect(head: &[u8]) -> Compression {
    match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        _ => Compression::None,
    }
}

/// What unpacking did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub entries: u64,
    pub whiteouts: u64,
    pub bytes: u64,
}

/// Reduces an entry path to components inside the root: `.` and the root are dropped, `..`
/// removes the previous component and never climbs above the root.
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn layer_error(entry: &Path, reason: impl Into<String>) -> Error {
    Error::Layer {
        entry: entry.to_path_buf(),
        reason: reason.into(),
    }
}

/// What to do with whiteout entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// Remove what they hide: `target` holds the layers below (a flattened root file system).
    Apply,
    /// Record them as overlayfs does (a 0:0 character device, the `trusted.overlay.opaque`
    /// attribute): `target` is one layer of an overlay mount.
    Overlay,
}

/// Unpacks the layer read from `input` (any compression) onto the directory `target`,
/// removing what its whiteouts hide.
pub fn apply(target: &Path, input: impl Read) -> Result<Stats> {
    apply_with(target, input, Whiteouts::Apply)
}

/// Unpacks the layer read from `input` (any compression) onto `target`.
pub fn apply_with(target: &Path, input: impl Read, whiteouts: Whiteouts) -> Result<Stats> {
    apply_tar(target, decompress(input)?, whiteouts)
}

/// Unpacks like [`apply_with`], and checks that the uncompressed stream is `diff_id` (the
/// image config's record of the layer). On a mismatch the target holds unverified content:
/// the caller must discard it.
pub fn apply_verified(
    target: &Path,
    input: impl Read,
    whiteouts: Whiteouts,
    diff_id: &Digest,
) -> Result<Stats> {
    let mut tar = HashingReader::new(decompress(input)?, diff_id.algorithm());
    let stats = apply_tar(target, &mut tar, whiteouts)?;
    // The tar reader stops at the end-of-archive blocks; the diff id covers any padding after.
    tar.verify(diff_id)?;
    Ok(stats)
}

/// The uncompressed tar stream of a layer, whatever its compression.
pub fn decompress<'a>(input: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let head = input.fill_buf().context(|| "read layer")?.to_vec();
    Ok(match detect(&head) {
        Compression::None => Box::new(input),
        // Several gzip members in a row are one stream (eStargz layers are made that way).
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(input).context(|| "start zstd decoder")?,
        ),
    })
}

/// Bytes gathered before each write of a file's content: fewer, larger writes.
const COPY_BUFFER: usize = 1 << 20;

/// Copies `input` to `out`, filling `buffer` before each write; returns the bytes copied.
fn copy_in_large_writes(
    input: &mut impl Read,
    out: &mut impl io::Write,
    buffer: &mut [u8],
) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let mut filled = 0;
        while filled < buffer.len() {
            match input.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        out.write_all(&buffer[..filled])?;
        total += filled as u64;
        if filled < buffer.len() {
            return Ok(total);
        }
    }
}

/// A directory whose times are set once everything inside it is written.
struct DeferredTimes {
    path: PathBuf,
    mtime: u64,
}

fn apply_tar(target: &Path, input: impl Read, whiteouts: Whiteouts) -> Result<Stats> {
    let root = nix::fcntl::open(
        target,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("open layer target {}", target.display()))?;
    unpack(
        root,
        input,
        Some(whiteouts),
        &crate::extract::Extract::default(),
    )
}

pub(crate) fn unpack(
    root: OwnedFd,
    input: impl Read,
    whiteouts: Option<Whiteouts>,
    options: &crate::extract::Extract,
) -> Result<Stats> {
    let mut archive = Archive::new(input);
    let mut stats = Stats::default();
    let mut copy_buffer = vec![0u8; COPY_BUFFER];
    let mut dir_times = Vec::new();
    // The last parent directory opened: entries mostly come directory by directory. Removing
    // an entry never removes the parent it is in, so only whiteouts (which can remove a
    // directory the cache is under) drop it.
    let mut last_parent: Option<(PathBuf, OwnedFd)> = None;
    for entry in archive.entries().context(|| "read layer")? {
        let mut entry = entry.context(|| "read layer entry")?;
        let raw_path = entry.path().context(|| "read entry path")?.into_owned();
        let raw_path = crate::extract::rebased(raw_path, &options.rebase);
        let path = clean(&raw_path);
        stats.entries += 1;
        let Some(name) = path.file_name().map(OsStr::to_owned) else {
            continue; // the root itself: its metadata belongs to the snapshot, not the layer
        };
        let parent_path = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let name_str = name.to_string_lossy();
        let whiteout = name_str.strip_prefix(WHITEOUT_PREFIX).zip(whiteouts);
        if let Some((hidden, whiteouts)) = whiteout {
            stats.whiteouts += 1;
            last_parent = None;
            let parent = safepath::open_or_create(root.as_fd(), &parent_path, Leaf::Directory)?;
            let parent = reopen_dir(&parent, &raw_path)?;
            if name_str == OPAQUE_WHITEOUT {
                match whiteouts {
                    Whiteouts::Apply => clear_dir(parent.as_fd(), &raw_path)?,
                    Whiteouts::Overlay => {
                        berth_sys::fsetxattr(parent.as_fd(), c"trusted.overlay.opaque", b"y")
                            .context(|| format!("mark {} opaque", parent_path.display()))?
                    }
                }
            } else if hidden.starts_with(".wh.") {
                // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): nothing to apply.
            } else if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
                return Err(layer_error(&raw_path, "whiteout of an invalid name"));
            } else {
                remove_at(parent.as_fd(), OsStr::new(hidden), &raw_path)?;
                if whiteouts == Whiteouts::Overlay {
                    mknodat(
                        parent.as_fd(),
                        OsStr::new(hidden),
                        SFlag::S_IFCHR,
                        Mode::empty(),
                        0,
                    )
                    .context(|| format!("record whiteout {}", raw_path.display()))?;
                }
            }
            continue;
        }
        let parent = match last_parent.take() {
            Some((path, fd)) if path == parent_path => fd,
            _ => {
                let fd = safepath::open_or_create(root.as_fd(), &parent_path, Leaf::Directory)?;
                reopen_dir(&fd, &raw_path)?
            }
        };
        let parent = &last_parent.insert((parent_path, parent)).1;
        let header = entry.header().clone();
        let mode = header.mode().context(|| "read entry mode")? & 0o7777;
        // An empty owner field means 0, as Go's archive/tar (which wrote most layers) reads it.
        let (uid, gid) = options.owner.unwrap_or((
            header.uid().unwrap_or(0) as u32,
            header.gid().unwrap_or(0) as u32,
        ));
        let owner = (!options.no_chown).then_some((uid, gid));
        let mtime = header.mtime().unwrap_or(0);
        let kind = header.entry_type();
        let existing = fstatat(
            parent.as_fd(),
            name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .ok();
        let existing_is_dir = existing.is_some_and(|st| {
            SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
        });
        let is_dir = kind == EntryType::Directory;
        if options.no_overwrite_dir_non_dir && existing.is_some() && existing_is_dir != is_dir {
            return Err(layer_error(
                &raw_path,
                if existing_is_dir {
                    "cannot overwrite a directory with a non-directory"
                } else {
                    "cannot overwrite a non-directory with a directory"
                },
            ));
        }
        if existing.is_some() && !(is_dir && existing_is_dir) {
            remove_at(parent.as_fd(), &name, &raw_path)?;
        }
        let c_name =
            CString::new(name.as_bytes()).map_err(|_| layer_error(&raw_path, "NUL in name"))?;
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                let fd = openat(
                    parent.as_fd(),
                    c_name.as_c_str(),
                    OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_WRONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .context(|| format!("create {}", raw_path.display()))?;
                let mut file = File::from(fd);
                stats.bytes += copy_in_large_writes(&mut entry, &mut file, &mut copy_buffer)
                    .context(|| format!("write {}", raw_path.display()))?;
                set_owner_mode(file.as_fd(), owner, mode, &raw_path)?;
                set_xattrs(file.as_fd(), &mut entry, &raw_path)?;
                set_times(parent.as_fd(), &c_name, mtime, &raw_path)?;
            }
            EntryType::Directory => {
                if !existing_is_dir {
                    nix::sys::stat::mkdirat(
                        parent.as_fd(),
                        c_name.as_c_str(),
                        Mode::from_bits_truncate(0o700),
                    )
                    .context(|| format!("mkdir {}", raw_path.display()))?;
                }
                let fd = openat(
                    parent.as_fd(),
                    c_name.as_c_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .context(|| format!("open {}", raw_path.display()))?;
                set_owner_mode(fd.as_fd(), owner, mode, &raw_path)?;
                set_xattrs(fd.as_fd(), &mut entry, &raw_path)?;
                dir_times.push(DeferredTimes {
                    path: path.clone(),
                    mtime,
                });
            }
            EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .context(|| "read symlink target")?
                    .ok_or_else(|| layer_error(&raw_path, "symlink without a target"))?
                    .into_owned();
                // The target is only text: nothing here ever follows it.
                nix::unistd::symlinkat(link.as_path(), parent.as_fd(), c_name.as_c_str())
                    .context(|| format!("symlink {}", raw_path.display()))?;
                chown_no_follow(parent.as_fd(), &c_name, owner, &raw_path)?;
                set_times(parent.as_fd(), &c_name, mtime, &raw_path)?;
            }
            EntryType::Link => {
                let link = entry
                    .link_name()
                    .context(|| "read hardlink target")?
                    .ok_or_else(|| layer_error(&raw_path, "hardlink without a target"))?
                    .into_owned();
                let link = crate::extract::rebased(link, &options.rebase);
                let source =
                    safepath::open_no_follow(root.as_fd(), &clean(&link))?.ok_or_else(|| {
                        layer_error(
                            &raw_path,
                            format!("hardlink target {} is not in the layer", link.display()),
                        )
                    })?;
                let st =
                    nix::sys::stat::fstat(source.as_fd()).context(|| "stat hardlink target")?;
                if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
                    return Err(layer_error(&raw_path, "hardlink to a directory"));
                }
                nix::unistd::linkat(
                    source.as_fd(),
                    c"",
                    parent.as_fd(),
                    c_name.as_c_str(),
                    AtFlags::AT_EMPTY_PATH,
                )
                .context(|| format!("hardlink {}", raw_path.display()))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let kind_flag = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                mknodat(
                    parent.as_fd(),
                    c_name.as_c_str(),
                    kind_flag,
                    Mode::from_bits_truncate(mode),
                    nix::sys::stat::makedev(major.into(), minor.into()),
                )
                .context(|| format!("mknod {}", raw_path.display()))?;
                chown_no_follow(parent.as_fd(), &c_name, owner, &raw_path)?;
                nix::sys::stat::fchmodat(
                    parent.as_fd(),
                    c_name.as_c_str(),
                    Mode::from_bits_truncate(mode),
                    nix::sys::stat::FchmodatFlags::NoFollowSymlink,
                )
                .or_else(|e| {
                    if e == Errno::EOPNOTSUPP {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .context(|| format!("chmod {}", raw_path.display()))?;
                set_times(parent.as_fd(), &c_name, mtime, &raw_path)?;
            }
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => {}
            other => {
                return Err(layer_error(
                    &raw_path,
                    format!("unsupported entry type {other:?}"),
                ))
            }
        }
    }
    // Children change their directory's mtime: directories get theirs last, deepest first.
    dir_times.sort_by_key(|d| std::cmp::Reverse(d.path.components().count()));
    for d in dir_times {
        if let Some(fd) = safepath::open_no_follow(root.as_fd(), &d.path)? {
            let t = TimeSpec::new(d.mtime as i64, 0);
            nix::sys::stat::utimensat(
                nix::fcntl::AT_FDCWD,
                &proc_path(&fd),
                &t,
                &t,
                nix::sys::stat::UtimensatFlags::FollowSymlink,
            )
            .context(|| format!("set times of {}", d.path.display()))?;
        }
    }
    Ok(stats)
}

/// Opens the O_PATH parent as a real directory descriptor (needed for directory iteration).
fn reopen_dir(parent: &OwnedFd, entry: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        &proc_path(parent),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("open parent directory of {}", entry.display()))
}

fn set_owner_mode(
    fd: BorrowedFd<'_>,
    owner: Option<(u32, u32)>,
    mode: u32,
    entry: &Path,
) -> Result<()> {
    if let Some((uid, gid)) = owner {
        nix::unistd::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
            .context(|| format!("chown {}", entry.display()))?;
    }
    // After chown: changing the owner clears setuid/setgid bits.
    fchmod(fd, Mode::from_bits_truncate(mode)).context(|| format!("chmod {}", entry.display()))
}

/// Sets the owner of `name` in `parent` itself (a symlink or device, not what it points to).
fn chown_no_follow(
    parent: BorrowedFd<'_>,
    name: &CString,
    owner: Option<(u32, u32)>,
    entry: &Path,
) -> Result<()> {
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
    fchownat(
        parent,
        name.as_c_str(),
        uid,
        gid,
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .context(|| format!("chown {}", entry.display()))
}

fn set_times(parent: BorrowedFd<'_>, name: &CString, mtime: u64, entry: &Path) -> Result<()> {
    let t = TimeSpec::new(mtime as i64, 0);
    nix::sys::stat::utimensat(
        parent,
        name.as_c_str(),
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .context(|| format!("set times of {}", entry.display()))
}

/// Applies `SCHILY.xattr.*` PAX records (file capabilities among them).
fn set_xattrs<R: Read>(
    fd: BorrowedFd<'_>,
    entry: &mut tar::Entry<'_, R>,
    path: &Path,
) -> Result<()> {
    let Some(extensions) = entry.pax_extensions().context(|| "read PAX records")? else {
        return Ok(());
    };
    for ext in extensions {
        let ext = ext.context(|| "read PAX record")?;
        let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
            continue;
        };
        let name = CString::new(name).map_err(|_| layer_error(path, "NUL in xattr name"))?;
        berth_sys::fsetxattr(fd, &name, ext.value_bytes())
            .context(|| format!("set xattr {name:?} on {}", path.display()))?;
    }
    Ok(())
}

/// Removes `name` in `parent`, recursively if it is a directory, never following symlinks.
fn remove_at(parent: BorrowedFd<'_>, name: &OsStr, entry: &Path) -> Result<()> {
    let st = match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e).context(|| format!("stat {}", entry.display())),
    };
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
        let dir = openat(
            parent,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .context(|| format!("open {}", entry.display()))?;
        clear_dir(dir.as_fd(), entry)?;
        unlinkat(parent, name, UnlinkatFlags::RemoveDir)
            .context(|| format!("remove {}", entry.display()))
    } else {
        unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)
            .context(|| format!("remove {}", entry.display()))
    }
}

/// Removes everything inside the directory `dir` (an opaque whiteout).
fn clear_dir(dir: BorrowedFd<'_>, entry: &Path) -> Result<()> {
    let listing = nix::dir::Dir::from_fd(
        dir.try_clone_to_owned()
            .context(|| "duplicate directory fd")?,
    )
    .context(|| format!("list {}", entry.display()))?;
    let mut names = Vec::new();
    let mut listing = listing;
    for item in listing.iter() {
        let item = item.context(|| format!("list {}", entry.display()))?;
        let name = item.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_owned());
        }
    }
    for name in names {
        remove_at(dir, &name, entry)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_climb_above_the_root() {
        assert_eq!(
            clean(Path::new("../../etc/passwd")),
            PathBuf::from("etc/passwd")
        );
        assert_eq!(clean(Path::new("/abs/./x/../y")), PathBuf::from("abs/y"));
        assert_eq!(clean(Path::new("./")), PathBuf::new());
    }

    #[test]
    fn a_layer_gzipped_in_several_members_is_one_stream() {
        let mut tar = tar::Builder::new(Vec::new());
        for name in ["a", "b"] {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(1);
            tar.append_data(&mut h, name, &b"x"[..]).unwrap();
        }
        let tar = tar.into_inner().unwrap();
        let diff_id = crate::digest::sha256(&tar);
        // Two gzip members, split in the middle of the tar stream (as eStargz does per file).
        let mut gz = Vec::new();
        for part in [&tar[..512], &tar[512..]] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            io::Write::write_all(&mut e, part).unwrap();
            gz.extend(e.finish().unwrap());
        }
        let dir = std::env::temp_dir().join(format!("berth-multigz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let result = apply_verified(&dir, &gz[..], Whiteouts::Apply, &diff_id);
        let both = dir.join("a").exists() && dir.join("b").exists();
        std::fs::remove_dir_all(&dir).unwrap();
        result.unwrap();
        assert!(both, "the second member was not read");
    }

    #[test]
    fn compression_is_recognised_by_magic() {
        assert_eq!(detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(detect(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(detect(b"ustar"), Compression::None);
    }
}
