//! What a COPY or ADD puts into the image: its sources picked from a tree (the context, or a
//! stage's root file system), written as one tar of absolute paths that the container's
//! confined unpacker applies at `/`, and hashed by content, mode, owner and link target (never
//! by modification time) for the cache.

use std::fs::{File, Metadata};
use std::io::{self, BufReader, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_build::ignore::Matcher;
use berth_image::digest::{Algorithm, Hasher};
use berth_image::Digest;

use super::{io_error, BuildError, BuildResult};

/// Where sources come from.
pub struct Tree<'a> {
    pub root: &'a Path,
    /// Whether a path (relative, `/`-separated) is left out (`.dockerignore`).
    pub excluded: &'a dyn Fn(&str) -> bool,
    /// Whether an excluded directory must still be walked (a `!` pattern below it).
    pub must_walk: &'a dyn Fn(&str) -> bool,
}

/// One COPY or ADD, expanded.
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

/// The tar written and what identifies its content.
pub struct Written {
    /// Over every entry's path, type, mode, owner, link target and content.
    pub hash: Digest,
    /// `file`, `dir` or `multi`, as Docker's history names a copy's source.
    pub kind: &'static str,
}

/// `rel` under `root`, lexically cleaned; None when it does not exist. Symbolic links on
/// the way are followed inside `root` (see [`super::scoped`]): the tree's content is not
/// trusted.
pub fn resolve(root: &Path, rel: &str) -> BuildResult<Option<PathBuf>> {
    super::scoped::resolve(root, &clean(rel)?, rel)
}

/// `rel`'s components without `.` and empty ones; `..` may not climb above the root.
fn clean(rel: &str) -> BuildResult<Vec<String>> {
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

/// Writes the tar of `spec`'s sources from `tree` to `out`.
pub fn write_tar(tree: &Tree<'_>, spec: &CopySpec, out: File) -> BuildResult<Written> {
    let mut picked: Vec<(String, PathBuf)> = Vec::new();
    let mut wildcard = false;
    for source in &spec.sources {
        if source.starts_with("http://") || source.starts_with("https://") {
            return Err(BuildError::Invalid(format!(
                "{} failed: {source}: berthd does not download build sources (it has no internet access); download it into the context instead",
                spec.instruction
            )));
        }
        if has_wildcard(source) {
            wildcard = true;
            let found = matching(tree, source)?;
            picked.extend(found);
            continue;
        }
        let rel = clean(source)?.join("/");
        let path = match resolve(tree.root, &rel)? {
            Some(path) if rel.is_empty() || !(tree.excluded)(&rel) => path,
            _ => {
                return Err(BuildError::Invalid(format!(
                    "{} failed: file not found in build context or excluded by .dockerignore: stat {source}: file does not exist",
                    spec.instruction
                )))
            }
        };
        picked.push((rel, path));
    }
    if picked.is_empty() {
        return Err(BuildError::Invalid(format!(
            "{} failed: no source files were specified",
            spec.instruction
        )));
    }
    let dest_is_dir = spec.dest.ends_with('/') || picked.len() > 1 || wildcard;
    let dest = spec.dest.trim_start_matches('/').trim_end_matches('/');
    let mut writer = Writer {
        tar: tar::Builder::new(out),
        hasher: Hasher::new(Algorithm::Sha256),
        spec,
    };
    let mut kind = "file";
    for (rel, path) in &picked {
        let meta = std::fs::symlink_metadata(path).map_err(io_error(format!("stat {rel}")))?;
        if meta.is_dir() {
            kind = "dir";
            writer.tree(tree, rel, path, dest, true)?;
            continue;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let target = match (dest_is_dir, name) {
            (true, Some(name)) => join(dest, &name),
            _ => dest.to_string(),
        };
        if spec.unpack_archives && meta.is_file() && is_archive(path)? {
            kind = "dir";
            writer.archive(path, dest)?;
            continue;
        }
        writer.entry(path, &meta, &target)?;
    }
    if picked.len() > 1 {
        kind = "multi";
    }
    let mut out = writer
        .tar
        .into_inner()
        .map_err(io_error("finish the copy's tar"))?;
    out.flush().map_err(io_error("write the copy's tar"))?;
    Ok(Written {
        hash: writer.hasher.finish(),
        kind,
    })
}

/// The paths of `tree` that the glob `source` names; a matching directory is not searched.
fn matching(tree: &Tree<'_>, source: &str) -> BuildResult<Vec<(String, PathBuf)>> {
    let pattern = clean(source)?.join("/");
    let matcher = Matcher::new(std::slice::from_ref(&pattern))
        .map_err(|e| BuildError::Invalid(format!("bad source pattern {source}: {e}")))?;
    let mut found = Vec::new();
    let mut todo = vec![(String::new(), tree.root.to_path_buf())];
    while let Some((rel, dir)) = todo.pop() {
        for entry in sorted_entries(&dir, &rel)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = join(&rel, &name);
            if (tree.excluded)(&child) {
                continue;
            }
            if matcher.excludes(&child) {
                found.push((child, entry.path()));
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push((child, entry.path()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The entries of directory `dir` (`rel` in the tree) by name.
fn sorted_entries(dir: &Path, rel: &str) -> BuildResult<Vec<std::fs::DirEntry>> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_error(format!(
            "read {}",
            if rel.is_empty() { "." } else { rel }
        )))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// `name` under the relative path `parent` (`""`: the top).
fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// Whether `path` is a tar archive (plain or compressed), which ADD unpacks.
fn is_archive(path: &Path) -> BuildResult<bool> {
    let file = File::open(path).map_err(io_error(format!("open {}", path.display())))?;
    let Ok(mut input) = berth_image::layer::decompress(file) else {
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

struct Writer<'a> {
    tar: tar::Builder<File>,
    hasher: Hasher,
    spec: &'a CopySpec,
}

impl Writer<'_> {
    /// Directory `path` (`rel` in the tree) as `dest`, with everything in it.
    fn tree(
        &mut self,
        tree: &Tree<'_>,
        rel: &str,
        path: &Path,
        dest: &str,
        with_entry: bool,
    ) -> BuildResult<()> {
        if with_entry && !dest.is_empty() {
            let meta = std::fs::metadata(path).map_err(io_error(format!("stat {rel}")))?;
            self.entry(path, &meta, dest)?;
        }
        for entry in sorted_entries(path, rel)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let child_rel = join(rel, &name);
            let child_dest = join(dest, &name);
            let meta = entry
                .metadata()
                .map_err(io_error(format!("stat {child_rel}")))?;
            let excluded = (tree.excluded)(&child_rel);
            if meta.is_dir() {
                // An excluded directory is walked only for what a `!` pattern puts back,
                // without an entry of its own.
                if !excluded || (tree.must_walk)(&child_rel) {
                    self.tree(tree, &child_rel, &entry.path(), &child_dest, !excluded)?;
                }
            } else if !excluded {
                self.entry(&entry.path(), &meta, &child_dest)?;
            }
        }
        Ok(())
    }

    /// One file, directory or link at `path` as `name`.
    fn entry(&mut self, path: &Path, meta: &Metadata, name: &str) -> BuildResult<()> {
        let (uid, gid) = self.spec.owner;
        // `--chmod` applies to what is copied, not to the directories holding it (which
        // would lose their search permission to a mode such as 640).
        let own_mode = meta.permissions().mode() & 0o7777;
        let mode = match self.spec.mode {
            Some(mode) if !meta.is_dir() => mode,
            _ => own_mode,
        };
        let mut header = tar::Header::new_gnu();
        header.set_uid(uid.into());
        header.set_gid(gid.into());
        header.set_mode(mode);
        header.set_mtime(meta.mtime().max(0) as u64);
        let kind = meta.file_type();
        let fail = |what: &str| io_error(format!("{what} {}", path.display()));
        self.hash_line(&format!("{name}\0{mode:o}\0{uid}:{gid}\0"));
        if kind.is_dir() {
            self.hasher.update(b"d");
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            self.tar
                .append_data(&mut header, format!("{name}/"), io::empty())
                .map_err(fail("add"))?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(path).map_err(fail("read link"))?;
            self.hash_line(&format!("l{}", target.display()));
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            self.tar
                .append_link(&mut header, name, &target)
                .map_err(fail("add"))?;
        } else if kind.is_file() {
            self.hasher.update(b"f");
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            let file = File::open(path).map_err(fail("open"))?;
            let reader = HashingRead {
                inner: BufReader::new(file),
                hasher: &mut self.hasher,
            };
            self.tar
                .append_data(&mut header, name, reader)
                .map_err(fail("add"))?;
        }
        // Sockets, devices and fifos in a context are skipped, as Docker skips sockets.
        Ok(())
    }

    /// The entries of the tar archive at `path` under `dest`, as ADD unpacks one.
    fn archive(&mut self, path: &Path, dest: &str) -> BuildResult<()> {
        let fail = |what: &str| io_error(format!("{what} {}", path.display()));
        let mut file = File::open(path).map_err(fail("open"))?;
        let mut hashing = HashingRead {
            inner: &mut file,
            hasher: &mut self.hasher,
        };
        io::copy(&mut hashing, &mut io::sink()).map_err(fail("read"))?;
        self.hash_line(&format!("archive\0{dest}"));
        file.rewind().map_err(fail("rewind"))?;
        let input = berth_image::layer::decompress(file)?;
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
                self.tar
                    .append_link(&mut header, &name, &target)
                    .map_err(fail("add from"))?;
            } else if kind.is_file() || kind.is_dir() {
                self.tar
                    .append_data(&mut header, &name, &mut entry)
                    .map_err(fail("add from"))?;
            }
        }
        Ok(())
    }

    fn hash_line(&mut self, text: &str) {
        self.hasher.update(text.as_bytes());
        self.hasher.update(b"\n");
    }
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
