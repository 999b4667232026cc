//! A container's changes as a layer: an uncompressed tar stream, entries in a fixed order
//! (sorted by name, parents first) so the same changes always give the same diff id.
//!
//! Two sources: an overlay upper directory (whiteouts are 0:0 character devices, opaque
//! directories carry `trusted.overlay.opaque`), and a copied root file system compared
//! against the layer snapshots it was made from. Nothing here follows a symlink: every file is
//! examined with `lstat`/`l*xattr` and only regular files are opened (with `O_NOFOLLOW`).

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_safepath::proc_path;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::os::fd::OwnedFd;
use tar::{EntryType, Header};

use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{Context, Result};

/// What a diff wrote: the layer's diff id (sha256 of the tar stream) and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDiff {
    pub diff_id: Digest,
    pub size: u64,
}

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Writes the changes recorded in an overlay upper directory (or a layer snapshot, which has
/// the same form) to `out` as a layer tar; `clamp` as in [`LayerWriter::new`].
pub fn overlay_diff(upper: &Path, clamp: Option<u64>, out: impl Write) -> Result<LayerDiff> {
    let mut w = LayerWriter::new(out, clamp);
    walk_overlay(&mut w, &open_dir(upper)?, Path::new(""))?;
    w.finish()
}

/// Writes the changes of `container` (a root file system made by copying `layers`, bottom
/// first) to `out` as a layer tar: what was added or changed, and a whiteout for what was
/// deleted; `clamp` as in [`LayerWriter::new`].
pub fn copy_diff(
    container: &Path,
    layers: &[PathBuf],
    clamp: Option<u64>,
    out: impl Write,
) -> Result<LayerDiff> {
    let mut w = LayerWriter::new(out, clamp);
    let lower = Lower { layers };
    let mut parents = Vec::new();
    let root = open_dir(container)?;
    walk_copy(&mut w, &root, &lower, Path::new(""), &mut parents)?;
    w.finish()
}

/// Opens a directory without following a symlink at its end. The walks below hold one such
/// descriptor per level and reach each entry as `/proc/self/fd/<dir>/<name>`: the kernel
/// resolves only that last name, never a path a container could swap a symlink into while
/// it is walked.
pub(crate) fn open_dir(path: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("open directory {}", path.display()))
}

/// Names in a directory, sorted by their bytes.
pub(crate) fn sorted_names(dir: &Path) -> Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).context(|| format!("read {}", dir.display()))? {
        names.push(
            entry
                .context(|| format!("read {}", dir.display()))?
                .file_name(),
        );
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

pub(crate) fn lstat(path: &Path) -> Result<Option<Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context(|| format!("stat {}", path.display())),
    }
}

/// An overlay whiteout: a character device numbered 0:0.
pub(crate) fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// The extended attributes of `path` itself, without overlayfs's own bookkeeping.
fn xattrs(path: &Path) -> Result<BTreeMap<OsString, Vec<u8>>> {
    let ctx = || format!("list xattrs of {}", path.display());
    let mut out = BTreeMap::new();
    let size = match rustix::fs::llistxattr_query(path) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(out),
        Err(e) => return Err(io::Error::from(e)).context(ctx),
    };
    if size == 0 {
        return Ok(out);
    }
    let mut list = vec![0u8; size];
    let n = rustix::fs::llistxattr(path, &mut list[..])
        .map_err(io::Error::from)
        .context(ctx)?;
    for name in list[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"trusted.overlay.") {
            continue;
        }
        let name = OsStr::from_bytes(name);
        out.insert(name.to_owned(), xattr(path, name)?.unwrap_or_default());
    }
    Ok(out)
}

fn xattr(path: &Path, name: &OsStr) -> Result<Option<Vec<u8>>> {
    let ctx = || format!("read xattr {name:?} of {}", path.display());
    let size = match rustix::fs::lgetxattr_query(path, name) {
        Ok(n) => n,
        Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => return Ok(None),
        Err(e) => return Err(io::Error::from(e)).context(ctx),
    };
    let mut value = vec![0u8; size];
    let n = rustix::fs::lgetxattr(path, name, &mut value[..])
        .map_err(io::Error::from)
        .context(ctx)?;
    value.truncate(n);
    Ok(Some(value))
}

pub(crate) fn is_opaque(dir: &Path) -> Result<bool> {
    Ok(xattr(dir, OsStr::new(OPAQUE_XATTR))?.as_deref() == Some(b"y"))
}

fn walk_overlay<W: Write>(w: &mut LayerWriter<W>, dir_fd: &OwnedFd, rel: &Path) -> Result<()> {
    let dir = proc_path(dir_fd);
    for name in sorted_names(&dir)? {
        let path = dir.join(&name);
        let entry = rel.join(&name);
        let Some(meta) = lstat(&path)? else { continue };
        if is_whiteout(&meta) {
            w.whiteout(rel, &name)?;
        } else if meta.is_dir() {
            w.entry(&path, &entry, &meta)?;
            if is_opaque(&path)? {
                w.whiteout(&entry, OsStr::new(".wh."))?;
            }
            walk_overlay(w, &open_dir(&path)?, &entry)?;
        } else {
            w.entry(&path, &entry, &meta)?;
        }
    }
    Ok(())
}

/// The layers a copied root file system was made from, looked up as overlayfs would merge
/// them (whiteouts and opaque directories hide what is below).
pub(crate) struct Lower<'a> {
    pub(crate) layers: &'a [PathBuf],
}

impl Lower<'_> {
    /// Where `rel` lives in the merged view of the layers, if it is there.
    pub(crate) fn lookup(&self, rel: &Path) -> Result<Option<(PathBuf, Metadata)>> {
        let depth = rel.components().count();
        'layers: for layer in self.layers.iter().rev() {
            let mut cur = layer.clone();
            let mut opaque_above = false;
            for (i, component) in rel.components().enumerate() {
                cur.push(component);
                match lstat(&cur)? {
                    None if opaque_above => return Ok(None),
                    None => continue 'layers,
                    Some(m) if is_whiteout(&m) => return Ok(None),
                    Some(m) if i + 1 == depth => return Ok(Some((cur, m))),
                    Some(m) if !m.is_dir() => return Ok(None),
                    Some(_) => opaque_above |= is_opaque(&cur)?,
                }
            }
        }
        Ok(None)
    }

    /// Every name any layer has in the directory `rel` (visible or not).
    pub(crate) fn names(&self, rel: &Path) -> Result<Vec<OsString>> {
        let mut all = Vec::new();
        for layer in self.layers {
            let dir = layer.join(rel);
            if lstat(&dir)?.is_some_and(|m| m.is_dir()) {
                all.extend(sorted_names(&dir)?);
            }
        }
        Ok(all)
    }
}

/// Whether a file differs from the lower one it may replace: type, size, mode, owner, mtime,
/// device number, symlink target or extended attributes.
fn changed(path: &Path, meta: &Metadata, lower: &Path, old: &Metadata) -> Result<bool> {
    if meta.file_type() != old.file_type()
        || meta.mode() != old.mode()
        || meta.uid() != old.uid()
        || meta.gid() != old.gid()
        || meta.mtime() != old.mtime()
        || meta.mtime_nsec() != old.mtime_nsec()
        || meta.rdev() != old.rdev()
        || (!meta.is_dir() && meta.len() != old.len())
    {
        return Ok(true);
    }
    if meta.file_type().is_symlink()
        && fs::read_link(path).context(|| format!("read link {}", path.display()))?
            != fs::read_link(lower).context(|| format!("read link {}", lower.display()))?
    {
        return Ok(true);
    }
    Ok(xattrs(path)? != xattrs(lower)?)
}

/// A directory not written yet: it is written, unchanged, before the first change inside
/// it, because unpacking that change touches the directory (as overlay's copy-up does).
struct Pending {
    path: PathBuf,
    entry: PathBuf,
    meta: Metadata,
}

fn flush<W: Write>(w: &mut LayerWriter<W>, parents: &mut Vec<Pending>) -> Result<()> {
    for p in parents.drain(..) {
        w.entry(&p.path, &p.entry, &p.meta)?;
    }
    Ok(())
}

fn walk_copy<W: Write>(
    w: &mut LayerWriter<W>,
    dir_fd: &OwnedFd,
    lower: &Lower<'_>,
    rel: &Path,
    parents: &mut Vec<Pending>,
) -> Result<()> {
    let dir = proc_path(dir_fd);
    let present = sorted_names(&dir)?;
    let mut deleted: Vec<OsString> = lower
        .names(rel)?
        .into_iter()
        .filter(|n| {
            present
                .binary_search_by(|p| p.as_bytes().cmp(n.as_bytes()))
                .is_err()
        })
        .collect();
    deleted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    deleted.dedup();
    let mut merged: Vec<(OsString, bool)> = present.into_iter().map(|n| (n, true)).collect();
    for name in deleted {
        if lower.lookup(&rel.join(&name))?.is_some() {
            merged.push((name, false));
        }
    }
    merged.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (name, is_present) in merged {
        let entry = rel.join(&name);
        if !is_present {
            flush(w, parents)?;
            w.whiteout(rel, &name)?;
            continue;
        }
        let path = dir.join(&name);
        let Some(meta) = lstat(&path)? else { continue };
        let differs = match lower.lookup(&entry)? {
            None => true,
            Some((old_path, old)) => changed(&path, &meta, &old_path, &old)?,
        };
        if differs {
            flush(w, parents)?;
            w.entry(&path, &entry, &meta)?;
        }
        if meta.is_dir() {
            let depth = parents.len();
            if !differs {
                parents.push(Pending {
                    path: path.clone(),
                    entry: entry.clone(),
                    meta,
                });
            }
            walk_copy(w, &open_dir(&path)?, lower, &entry, parents)?;
            parents.truncate(depth);
        }
    }
    Ok(())
}

/// Bytes hashed at a time by [`Hashing`]'s thread.
const HASH_CHUNK: usize = 1 << 20;

/// Counts and hashes what goes through it, a chunk at a time: each chunk is written, then
/// hashed on a thread of its own while the next one is made (hashing a layer costs about as
/// much as reading and writing it).
struct Hashing<W> {
    inner: W,
    chunk: Vec<u8>,
    to_hasher: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    /// Chunks the hasher is done with, to be filled again.
    recycled: std::sync::mpsc::Receiver<Vec<u8>>,
    hasher: Option<std::thread::JoinHandle<Digest>>,
    size: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        let (to_hasher, chunks) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (give_back, recycled) = std::sync::mpsc::channel();
        let hasher = std::thread::spawn(move || {
            let mut hasher = Hasher::new(Algorithm::Sha256);
            for mut chunk in chunks {
                hasher.update(&chunk);
                chunk.clear();
                let _ = give_back.send(chunk);
            }
            hasher.finish()
        });
        Hashing {
            inner,
            chunk: Vec::with_capacity(HASH_CHUNK),
            to_hasher: Some(to_hasher),
            recycled,
            hasher: Some(hasher),
            size: 0,
        }
    }

    /// Writes the chunk and hands it to the hasher.
    fn pass_on(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        self.inner.write_all(&self.chunk)?;
        let next = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK));
        let full = std::mem::replace(&mut self.chunk, next);
        self.to_hasher
            .as_ref()
            .expect("the hasher runs until finish")
            .send(full)
            .map_err(|_| io::Error::other("the layer hasher stopped"))
    }

    /// Passes on what is left and returns the digest of everything written.
    fn finish(&mut self) -> io::Result<Digest> {
        self.pass_on()?;
        self.to_hasher = None;
        Ok(self
            .hasher
            .take()
            .expect("finished once")
            .join()
            .expect("the hasher does not panic"))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.chunk.extend_from_slice(buf);
        self.size += buf.len() as u64;
        if self.chunk.len() >= HASH_CHUNK {
            self.pass_on()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.pass_on()?;
        self.inner.flush()
    }
}

/// Writes layer entries: files with their metadata, hardlinks to files already written,
/// whiteouts.
pub(crate) struct LayerWriter<W: Write> {
    tar: tar::Builder<Hashing<W>>,
    /// (device, inode) of files with several links → the entry first written for them.
    links: HashMap<(u64, u64), PathBuf>,
    clamp: Option<u64>,
}

impl<W: Write> LayerWriter<W> {
    /// A writer to `out`. With `clamp` (a build's `SOURCE_DATE_EPOCH`), modification times
    /// later than it are written as it, as BuildKit's `rewrite-timestamp` does, so a layer
    /// does not depend on when its files were made. The headers carry nothing else that
    /// varies: no atime or ctime, no user or group names, entries in a fixed order.
    pub(crate) fn new(out: W, clamp: Option<u64>) -> Self {
        LayerWriter {
            tar: tar::Builder::new(Hashing::new(out)),
            links: HashMap::new(),
            clamp,
        }
    }

    /// A whiteout for `name` in the directory `dir`; `.wh.` alone makes the opaque marker.
    pub(crate) fn whiteout(&mut self, dir: &Path, name: &OsStr) -> Result<()> {
        let mut marker = OsString::from(".wh.");
        marker.push(if name == ".wh." {
            OsStr::new(".wh..opq")
        } else {
            name
        });
        let entry = dir.join(marker);
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o600);
        h.set_size(0);
        h.set_mtime(0);
        self.tar
            .append_data(&mut h, &entry, io::empty())
            .context(|| format!("write layer entry {}", entry.display()))
    }

    /// The file at `path` (already `lstat`ed as `meta`) as the entry `entry`.
    pub(crate) fn entry(&mut self, path: &Path, entry: &Path, meta: &Metadata) -> Result<()> {
        let ctx = || format!("write layer entry {}", entry.display());
        let ft = meta.file_type();
        let mut h = Header::new_gnu();
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(meta.uid().into());
        h.set_gid(meta.gid().into());
        let mtime = meta.mtime().max(0) as u64;
        h.set_mtime(self.clamp.map_or(mtime, |clamp| mtime.min(clamp)));
        h.set_size(0);
        if ft.is_file() || ft.is_dir() {
            self.pax_xattrs(path, entry)?;
        }
        if ft.is_symlink() {
            h.set_entry_type(EntryType::Symlink);
            let target = fs::read_link(path).context(|| format!("read link {}", path.display()))?;
            return self.tar.append_link(&mut h, entry, target).context(ctx);
        }
        if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            return self
                .tar
                .append_data(&mut h, entry, io::empty())
                .context(ctx);
        }
        if ft.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = self.links.get(&key) {
                    h.set_entry_type(EntryType::Link);
                    let first = first.clone();
                    return self.tar.append_link(&mut h, entry, first).context(ctx);
                }
                self.links.insert(key, entry.to_path_buf());
            }
            let (file, _) = crate::regular_file::open_regular(
                crate::regular_file::Location::Path(path),
                meta.dev(),
                meta.ino(),
            )
            .context(|| format!("open {}", path.display()))?;
            h.set_entry_type(EntryType::Regular);
            h.set_size(meta.len());
            // A file that changes while it is read would corrupt the stream: take exactly
            // the size stat reported, and fail if there is less.
            let mut data = io::Read::take(file, meta.len());
            return append_exact(&mut self.tar, &mut h, entry, &mut data, meta.len()).context(ctx);
        }
        let kind = if ft.is_char_device() {
            EntryType::Char
        } else if ft.is_block_device() {
            EntryType::Block
        } else if ft.is_fifo() {
            EntryType::Fifo
        } else {
            return Ok(()); // sockets do not belong in layers
        };
        h.set_entry_type(kind);
        let rdev = meta.rdev();
        h.set_device_major(nix::sys::stat::major(rdev) as u32)
            .context(ctx)?;
        h.set_device_minor(nix::sys::stat::minor(rdev) as u32)
            .context(ctx)?;
        self.tar
            .append_data(&mut h, entry, io::empty())
            .context(ctx)
    }

    /// A PAX header carrying the file's extended attributes (`SCHILY.xattr.*`), if it has any.
    fn pax_xattrs(&mut self, path: &Path, entry: &Path) -> Result<()> {
        let attrs = xattrs(path)?;
        if attrs.is_empty() {
            return Ok(());
        }
        let mut data = Vec::new();
        for (name, value) in &attrs {
            let mut record = b" SCHILY.xattr.".to_vec();
            record.extend_from_slice(name.as_bytes());
            record.push(b'=');
            record.extend_from_slice(value);
            record.push(b'\n');
            // The length prefix counts itself.
            let mut len = record.len() + 1;
            while format!("{len}").len() + record.len() != len {
                len = format!("{len}").len() + record.len();
            }
            data.extend_from_slice(format!("{len}").as_bytes());
            data.extend_from_slice(&record);
        }
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        self.tar
            .append_data(&mut h, "PaxHeader", &data[..])
            .context(|| format!("write xattrs of layer entry {}", entry.display()))
    }

    /// Ends the stream and returns its diff id and size.
    pub(crate) fn finish(self) -> Result<LayerDiff> {
        let mut out = self.tar.into_inner().context(|| "finish layer")?;
        let diff_id = out.finish().context(|| "finish layer")?;
        out.inner.flush().context(|| "flush layer")?;
        Ok(LayerDiff {
            diff_id,
            size: out.size,
        })
    }
}

fn append_exact<W: Write>(
    tar: &mut tar::Builder<W>,
    h: &mut Header,
    entry: &Path,
    data: &mut io::Take<File>,
    size: u64,
) -> io::Result<()> {
    let mut counted = Counted { inner: data, n: 0 };
    tar.append_data(h, entry, &mut counted)?;
    if counted.n != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file shrank while it was read",
        ));
    }
    Ok(())
}

struct Counted<'a, R> {
    inner: &'a mut R,
    n: u64,
}

impl<R: io::Read> io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_id_is_the_digest_of_the_stream() {
        let dir = std::env::temp_dir().join(format!("berth-diff-id-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("d")).unwrap();
        // Larger than a hashing chunk, and not a multiple of one.
        let big: Vec<u8> = (0..3 * HASH_CHUNK + 777).map(|i| (i % 251) as u8).collect();
        fs::write(dir.join("d/big"), &big).unwrap();
        fs::write(dir.join("small"), b"x").unwrap();
        let mut out = Vec::new();
        let diff = overlay_diff(&dir, None, &mut out).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(diff.size, out.len() as u64);
        assert_eq!(diff.diff_id, crate::digest::sha256(&out));
        let mut archive = tar::Archive::new(&out[..]);
        let sizes: Vec<u64> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().header().size().unwrap())
            .collect();
        assert_eq!(sizes, [0, big.len() as u64, 1]);
    }

    #[test]
    fn whiteout_names_follow_the_oci_spec() {
        let mut w = LayerWriter::new(Vec::new(), None);
        w.whiteout(Path::new("etc"), OsStr::new("motd")).unwrap();
        w.whiteout(Path::new("var"), OsStr::new(".wh.")).unwrap();
        let mut out = w.tar.into_inner().unwrap();
        out.flush().unwrap();
        let bytes = out.inner;
        let mut archive = tar::Archive::new(&bytes[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["etc/.wh.motd", "var/.wh..wh..opq"]);
    }
}
