//! What a COPY or ADD puts into the image: its sources picked from a [`Tree`] (the received
//! context, or a stage's root file system), hashed by path, content digest, mode, owner and
//! link target (never by modification time) for the cache, and only when the step runs
//! written as one tar of absolute paths that the container's confined unpacker applies at `/`.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use berth_build::ignore::Matcher;
use berth_image::digest::{Algorithm, Hasher};
use berth_image::Digest;

use super::{io_error, BuildError, BuildResult};

/// What an entry of a tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File {
        size: u64,
    },
    Symlink(PathBuf),
    /// A device, fifo or socket: never copied.
    Other,
}

/// An entry's type and what of its metadata a copy keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    /// Unix seconds.
    pub mtime: u64,
}

/// Where sources come from. Paths are relative, cleaned and `/`-separated; `""` is the top.
pub trait Tree {
    /// `rel` without following a final symbolic link; None when it does not exist. A tree's
    /// content is not trusted: links on the way are followed only inside the tree (a stage's
    /// files) or refused (the context).
    fn lookup(&self, rel: &str) -> BuildResult<Option<Meta>>;
    /// The entries of the directory `rel`, by name.
    fn list(&self, rel: &str) -> BuildResult<Vec<(String, Meta)>>;
    /// The bytes of the regular file `rel`.
    fn open(&self, rel: &str) -> BuildResult<Box<dyn Read + '_>>;
    /// The digest of the regular file `rel`'s bytes.
    fn digest(&self, rel: &str) -> BuildResult<Digest>;
    /// Whether `.dockerignore` leaves `rel` out.
    fn excluded(&self, _rel: &str) -> bool {
        false
    }
    /// Whether an excluded directory must still be walked (a `!` pattern below it).
    fn must_walk(&self, _rel: &str) -> bool {
        false
    }
}

/// A directory of the host (a stage's mounted root file system) as a [`Tree`].
pub struct DirTree<'a> {
    pub root: &'a Path,
}

fn meta_of(meta: &std::fs::Metadata, path: &Path) -> BuildResult<Meta> {
    let kind = meta.file_type();
    let kind = if kind.is_dir() {
        Kind::Dir
    } else if kind.is_file() {
        Kind::File { size: meta.len() }
    } else if kind.is_symlink() {
        Kind::Symlink(
            std::fs::read_link(path).map_err(io_error(format!("read link {}", path.display())))?,
        )
    } else {
        Kind::Other
    };
    Ok(Meta {
        kind,
        mode: meta.mode() & 0o7777,
        mtime: meta.mtime().max(0) as u64,
    })
}

impl DirTree<'_> {
    /// Where `rel` is under the root, links on the way followed inside it (never the host's
    /// own paths a link names).
    fn located(&self, rel: &str) -> BuildResult<PathBuf> {
        resolve(self.root, rel)?.ok_or_else(|| {
            BuildError::Invalid(format!("{rel}: no such file or directory in the source"))
        })
    }
}

impl Tree for DirTree<'_> {
    fn lookup(&self, rel: &str) -> BuildResult<Option<Meta>> {
        let Some(path) = resolve(self.root, rel)? else {
            return Ok(None);
        };
        let meta = std::fs::symlink_metadata(&path).map_err(io_error(format!("stat {rel}")))?;
        meta_of(&meta, &path).map(Some)
    }

    fn list(&self, rel: &str) -> BuildResult<Vec<(String, Meta)>> {
        let dir = self.located(rel)?;
        let read = io_error(format!("read {}", if rel.is_empty() { "." } else { rel }));
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(read)? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry
                .metadata()
                .map_err(io_error(format!("stat {}", join(rel, &name))))?;
            entries.push((name, meta_of(&meta, &entry.path())?));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    fn open(&self, rel: &str) -> BuildResult<Box<dyn Read + '_>> {
        let path = self.located(rel)?;
        let file = File::options()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io_error(format!("open {}", path.display())))?;
        Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
    }

    fn digest(&self, rel: &str) -> BuildResult<Digest> {
        let mut hasher = Hasher::new(Algorithm::Sha256);
        let mut reader = HashingRead {
            inner: self.open(rel)?,
            hasher: &mut hasher,
        };
        io::copy(&mut reader, &mut io::sink()).map_err(io_error(format!("read {rel}")))?;
        Ok(hasher.finish())
    }
}

/// One COPY or ADD, expanded.
#[derive(Clone)]
pub struct CopySpec {
    /// `COPY` or `ADD`, for messages.
    pub instruction: &'static str,
    pub sources: Vec<String>,
    /// Absolute destination; a trailing `/` makes it a directory.
    pub dest: String,
    pub owner: (u32, u32),
    pub mode: Option<u32>,
    /// ADD: local tar archives are unpacked at the destination.
    pub unpack_archives: bool,
}

/// `rel` under `root`, lexically cleaned; None when it does not exist. Symbolic links on
/// the way are followed inside `root` (see [`super::scoped`]): the tree's content is not
/// trusted.
pub fn resolve(root: &Path, rel: &str) -> BuildResult<Option<PathBuf>> {
    super::scoped::resolve(root, &clean(rel)?, rel)
}

/// `rel`'s components without `.` and empty ones; `..` may not climb above the root.
pub fn clean(rel: &str) -> BuildResult<Vec<String>> {
    let mut parts: Vec<String> = Vec::new();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(BuildError::Invalid(format!(
                        "forbidden path outside the build context: {rel}"
                    )));
                }
            }
            p => parts.push(p.to_string()),
        }
    }
    Ok(parts)
}

fn has_wildcard(source: &str) -> bool {
    source.contains(['*', '?', '['])
}

/// One thing a copy takes.
enum Item {
    /// An entry of the tree (`rel`) as `name` in the image (relative to `/`).
    Entry {
        rel: String,
        name: String,
        meta: Meta,
    },
    /// A tar archive of the tree (`rel`) that ADD unpacks at the destination.
    Archive { rel: String },
}

/// What a COPY or ADD takes from a tree, in the order it is written.
pub struct Selection {
    items: Vec<Item>,
    /// `file`, `dir` or `multi`, as Docker's history names a copy's source.
    pub kind: &'static str,
    /// The destination without its leading and trailing `/`.
    dest: String,
}

/// Picks what `spec` copies from `tree`.
pub fn select(tree: &dyn Tree, spec: &CopySpec) -> BuildResult<Selection> {
    let mut picked: Vec<(String, Meta)> = Vec::new();
    let mut wildcard = false;
    for source in &spec.sources {
        if super::download::is_url(source) {
            return Err(BuildError::Invalid(format!(
                "source can't be a URL for {}",
                spec.instruction
            )));
        }
        if has_wildcard(source) {
            wildcard = true;
            picked.extend(matching(tree, source)?);
            continue;
        }
        let rel = clean(source)?.join("/");
        match tree.lookup(&rel)? {
            Some(meta) if rel.is_empty() || !tree.excluded(&rel) => picked.push((rel, meta)),
            _ => {
                return Err(BuildError::Invalid(format!(
                    "{} failed: file not found in build context or excluded by .dockerignore: stat {source}: file does not exist",
                    spec.instruction
                )))
            }
        }
    }
    if picked.is_empty() {
        return Err(BuildError::Invalid(format!(
            "{} failed: no source files were specified",
            spec.instruction
        )));
    }
    let dest_is_dir = spec.dest.ends_with('/') || picked.len() > 1 || wildcard;
    let dest = spec.dest.trim_start_matches('/').trim_end_matches('/');
    let mut selection = Selection {
        items: Vec::new(),
        kind: "file",
        dest: dest.to_string(),
    };
    for (rel, meta) in &picked {
        if meta.kind == Kind::Dir {
            selection.kind = "dir";
            selection.tree(tree, rel, meta, dest, true)?;
            continue;
        }
        let name = rel.rsplit('/').next().filter(|n| !n.is_empty());
        let target = match (dest_is_dir, name) {
            (true, Some(name)) => join(dest, name),
            _ => dest.to_string(),
        };
        if spec.unpack_archives && matches!(meta.kind, Kind::File { .. }) && is_archive(tree, rel)?
        {
            selection.kind = "dir";
            selection.items.push(Item::Archive { rel: rel.clone() });
            continue;
        }
        selection.items.push(Item::Entry {
            rel: rel.clone(),
            name: target,
            meta: meta.clone(),
        });
    }
    if picked.len() > 1 {
        selection.kind = "multi";
    }
    Ok(selection)
}

/// The paths of `tree` that the glob `source` names; a matching directory is not searched.
fn matching(tree: &dyn Tree, source: &str) -> BuildResult<Vec<(String, Meta)>> {
    let pattern = clean(source)?.join("/");
    let matcher = Matcher::new(std::slice::from_ref(&pattern))
        .map_err(|e| BuildError::Invalid(format!("bad source pattern {source}: {e}")))?;
    let mut found = Vec::new();
    let mut todo = vec![String::new()];
    while let Some(rel) = todo.pop() {
        for (name, meta) in tree.list(&rel)? {
            let child = join(&rel, &name);
            if tree.excluded(&child) {
                continue;
            }
            if matcher.excludes(&child) {
                found.push((child, meta));
            } else if meta.kind == Kind::Dir {
                todo.push(child);
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// `name` under the relative path `parent` (`""`: the top).
fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// Whether the file `rel` is a tar archive (plain or compressed), which ADD unpacks.
fn is_archive(tree: &dyn Tree, rel: &str) -> BuildResult<bool> {
    let Ok(mut input) = berth_image::layer::decompress(tree.open(rel)?) else {
        return Ok(false);
    };
    let mut head = vec![0u8; 512];
    let mut read = 0;
    while read < head.len() {
        match input.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(_) => return Ok(false),
        }
    }
    Ok(read == 512 && &head[257..262] == b"ustar")
}

impl Selection {
    /// Directory `rel` (with `meta`) as `dest`, with everything in it.
    fn tree(
        &mut self,
        tree: &dyn Tree,
        rel: &str,
        meta: &Meta,
        dest: &str,
        with_entry: bool,
    ) -> BuildResult<()> {
        if with_entry && !dest.is_empty() {
            self.items.push(Item::Entry {
                rel: rel.to_string(),
                name: dest.to_string(),
                meta: meta.clone(),
            });
        }
        for (name, meta) in tree.list(rel)? {
            let child_rel = join(rel, &name);
            let child_dest = join(dest, &name);
            let excluded = tree.excluded(&child_rel);
            if meta.kind == Kind::Dir {
                // An excluded directory is walked only for what a `!` pattern puts back,
                // without an entry of its own.
                if !excluded || tree.must_walk(&child_rel) {
                    self.tree(tree, &child_rel, &meta, &child_dest, !excluded)?;
                }
            } else if !excluded {
                self.items.push(Item::Entry {
                    rel: child_rel,
                    name: child_dest,
                    meta,
                });
            }
        }
        Ok(())
    }

    /// The entries picked: path in the tree, name under the destination, metadata (an ADD's
    /// archives are not among them).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, &Meta)> {
        self.items.iter().filter_map(|item| match item {
            Item::Entry { rel, name, meta } => Some((rel.as_str(), name.as_str(), meta)),
            Item::Archive { .. } => None,
        })
    }

    /// The mode an entry gets: `--chmod` applies to what is copied, not to the directories
    /// holding it (which would lose their search permission to a mode such as 640).
    fn mode(spec: &CopySpec, meta: &Meta) -> u32 {
        match spec.mode {
            Some(mode) if meta.kind != Kind::Dir => mode,
            _ => meta.mode,
        }
    }

    /// Over every entry's path, type, mode, owner, link target and content digest.
    pub fn hash(&self, tree: &dyn Tree, spec: &CopySpec) -> BuildResult<Digest> {
        let mut hasher = Hasher::new(Algorithm::Sha256);
        let mut line = |text: &str| {
            hasher.update(text.as_bytes());
            hasher.update(b"\n");
        };
        let (uid, gid) = spec.owner;
        for item in &self.items {
            match item {
                Item::Entry { rel, name, meta } => {
                    let mode = Self::mode(spec, meta);
                    line(&format!("{name}\0{mode:o}\0{uid}:{gid}\0"));
                    match &meta.kind {
                        Kind::Dir => line("d"),
                        Kind::Symlink(target) => line(&format!("l{}", target.display())),
                        Kind::File { .. } => line(&format!("f{}", tree.digest(rel)?)),
                        Kind::Other => {}
                    }
                }
                Item::Archive { rel } => {
                    line(&format!("archive\0{}\0{}", self.dest, tree.digest(rel)?));
                }
            }
        }
        Ok(hasher.finish())
    }

    /// Writes the tar of what was picked to `out`.
    pub fn write(&self, tree: &dyn Tree, spec: &CopySpec, out: File) -> BuildResult<()> {
        let mut tar = tar::Builder::new(io::BufWriter::with_capacity(1 << 16, out));
        let (uid, gid) = spec.owner;
        for item in &self.items {
            let (rel, name, meta) = match item {
                Item::Entry { rel, name, meta } => (rel, name, meta),
                Item::Archive { rel } => {
                    unpack_archive(&mut tar, tree, rel, &self.dest)?;
                    continue;
                }
            };
            let fail = |what: &str| io_error(format!("{what} {rel}"));
            let mut header = tar::Header::new_gnu();
            header.set_uid(uid.into());
            header.set_gid(gid.into());
            header.set_mode(Self::mode(spec, meta));
            header.set_mtime(meta.mtime);
            header.set_size(0);
            match &meta.kind {
                Kind::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    tar.append_data(&mut header, format!("{name}/"), io::empty())
                        .map_err(fail("add"))?;
                }
                Kind::Symlink(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    tar.append_link(&mut header, name, target)
                        .map_err(fail("add"))?;
                }
                Kind::File { size } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(*size);
                    // A file that shrank since it was listed is padded, one that grew cut:
                    // the tar stays well-formed.
                    let data = tree.open(rel)?.take(*size).chain(io::repeat(0)).take(*size);
                    tar.append_data(&mut header, name, data)
                        .map_err(fail("add"))?;
                }
                // Sockets, devices and fifos are skipped, as Docker skips sockets.
                Kind::Other => {}
            }
        }
        let mut out = tar
            .into_inner()
            .map_err(io_error("finish the copy's tar"))?;
        out.flush().map_err(io_error("write the copy's tar"))?;
        Ok(())
    }
}

/// The entries of the tar archive `rel` of `tree` under `dest`, as ADD unpacks one.
fn unpack_archive(
    tar: &mut tar::Builder<impl Write>,
    tree: &dyn Tree,
    rel: &str,
    dest: &str,
) -> BuildResult<()> {
    let fail = |what: &str| io_error(format!("{what} {rel}"));
    let input = berth_image::layer::decompress(tree.open(rel)?)?;
    let mut archive = tar::Archive::new(input);
    let prefix = |name: &Path| -> BuildResult<String> {
        let rel = clean(&name.to_string_lossy())?.join("/");
        Ok(if rel.is_empty() {
            dest.to_string()
        } else {
            join(dest, &rel)
        })
    };
    for entry in archive.entries().map_err(fail("read"))? {
        let mut entry = entry.map_err(fail("read"))?;
        let name = prefix(&entry.path().map_err(fail("read"))?)?;
        if name.is_empty() {
            continue;
        }
        let mut header = entry.header().clone();
        let kind = header.entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(fail("read"))?
                .unwrap_or_default()
                .into_owned();
            let target = if kind.is_hard_link() {
                PathBuf::from(prefix(&target)?)
            } else {
                target
            };
            tar.append_link(&mut header, &name, &target)
                .map_err(fail("add from"))?;
        } else if kind.is_file() || kind.is_dir() {
            tar.append_data(&mut header, &name, &mut entry)
                .map_err(fail("add from"))?;
        }
    }
    Ok(())
}

/// Hashes what is read through it.
struct HashingRead<'h, R> {
    inner: R,
    hasher: &'h mut Hasher,
}

impl<R: Read> Read for HashingRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_may_not_leave_the_root() {
        assert_eq!(clean("a/./b/../c/").unwrap(), ["a", "c"]);
        assert!(clean("../etc/passwd").is_err());
        assert!(clean("a/../../b").is_err());
        let dir = berth_testkit::TempDir::new("build-files");
        std::os::unix::fs::symlink("/etc", dir.join("link")).unwrap();
        // The host's /etc is not the tree's.
        assert!(resolve(dir.path(), "link/passwd").unwrap().is_none());
        assert!(resolve(dir.path(), "missing").unwrap().is_none());
    }
}
