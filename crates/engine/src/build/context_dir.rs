//! What a `RUN --mount=type=bind` takes from the build context. The context is not on disk,
//! so the bound directory or file is written from the spool into the build's temporary area
//! when the RUN runs (and removed when it ends, so a read-write mount's writes go nowhere);
//! what `.dockerignore` leaves out stays out, as for a COPY. Its part of the step's cache key
//! comes from the digests taken as the context arrived: nothing is read again for it.

use std::fs::{File, FileTimes};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use berth_image::Digest;

use super::files::{self, CopySpec, Kind, Meta, Tree};
use super::{io_error, BuildError, BuildResult};

/// The copy of `rel` (a cleaned relative path, `""` for the top) to the top of a directory.
fn spec(rel: &str) -> CopySpec {
    CopySpec {
        instruction: "RUN --mount",
        sources: vec![if rel.is_empty() {
            ".".into()
        } else {
            rel.into()
        }],
        dest: "/".into(),
        owner: (0, 0),
        mode: None,
        unpack_archives: false,
    }
}

/// `rel` of `tree`, which must exist and not be a symbolic link (the runtime would resolve it
/// on the host).
fn source(tree: &dyn Tree, rel: &str) -> BuildResult<Meta> {
    let meta = tree.lookup(rel)?.ok_or_else(|| {
        BuildError::Invalid(format!(
            "failed to compute cache key: \"/{rel}\" not found in the build context"
        ))
    })?;
    if matches!(meta.kind, Kind::Symlink(_)) {
        return Err(BuildError::Invalid(format!(
            "RUN --mount: source /{rel} in the build context is a symbolic link; mount what it points to"
        )));
    }
    Ok(meta)
}

/// A hash of what a bind of `rel` shows: paths, types, modes, link targets and contents.
pub fn hash(tree: &dyn Tree, rel: &str) -> BuildResult<Digest> {
    source(tree, rel)?;
    let spec = spec(rel);
    files::select(tree, &spec)?.hash(tree, &spec)
}

fn times(mtime: u64) -> FileTimes {
    let at = UNIX_EPOCH + Duration::from_secs(mtime);
    FileTimes::new().set_accessed(at).set_modified(at)
}

/// Writes `rel` of `tree` into the empty directory `dir`; returns what to bind: `dir` itself
/// for a directory (the context's top readable by any user, as a RUN may run as one), the file
/// in it for a file.
pub fn write(tree: &dyn Tree, rel: &str, dir: &Path) -> BuildResult<PathBuf> {
    let top = source(tree, rel)?;
    let spec = spec(rel);
    let selection = files::select(tree, &spec)?;
    let fail = |what: &str, path: &Path| io_error(format!("{what} {}", path.display()));
    let mut dirs = vec![(
        dir.to_path_buf(),
        if rel.is_empty() { 0o755 } else { top.mode },
        top.mtime,
    )];
    let mut bound = dir.to_path_buf();
    for (from, name, meta) in selection.entries() {
        // Names come from the index (cleaned, never through a link) and every directory on
        // the way is made here: nothing is written outside `dir`.
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            // A directory left out but walked for what a `!` pattern puts back.
            std::fs::create_dir_all(parent).map_err(fail("create", parent))?;
        }
        match &meta.kind {
            Kind::Dir => {
                std::fs::create_dir(&path).map_err(fail("create", &path))?;
                dirs.push((path, meta.mode, meta.mtime));
            }
            Kind::File { size } => {
                let mut out = File::options()
                    .write(true)
                    .create_new(true)
                    .custom_flags(nix::libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(fail("create", &path))?;
                io::copy(&mut tree.open(from)?.take(*size), &mut out)
                    .map_err(fail("write", &path))?;
                out.set_permissions(std::fs::Permissions::from_mode(meta.mode))
                    .and_then(|()| out.set_times(times(meta.mtime)))
                    .map_err(fail("set the mode and times of", &path))?;
                if top.kind != Kind::Dir {
                    bound = path;
                }
            }
            Kind::Symlink(target) => {
                std::os::unix::fs::symlink(target, &path).map_err(fail("create link", &path))?;
            }
            // Devices, fifos and sockets, which a COPY leaves out too.
            Kind::Other => {}
        }
    }
    // Deepest first, after their content: a read-only directory can still be filled.
    for (path, mode, mtime) in dirs.iter().rev() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
            .and_then(|()| File::open(path)?.set_times(times(*mtime)))
            .map_err(fail("set the mode and times of", path))?;
    }
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_testkit::raw_tar_entry as raw;

    #[tokio::test]
    async fn a_bound_directory_holds_what_is_not_ignored_and_its_hash_follows_content() {
        let dir = berth_testkit::TempDir::new("build-context-dir");
        let context = |data: &'static [u8]| {
            let mut tar = Vec::new();
            let regular = tar::EntryType::Regular;
            let link = tar::EntryType::Symlink;
            for (name, kind, target, bytes) in [
                (
                    ".dockerignore",
                    regular,
                    "",
                    &b"src/*.key\n!src/keep.key\n"[..],
                ),
                ("src/a.txt", regular, "", data),
                ("src/x.key", regular, "", b"k"),
                ("src/keep.key", regular, "", b"kept"),
                ("src/sub/link", link, "../a.txt", b""),
                ("top", link, "src", b""),
            ] {
                raw(&mut tar, name, kind, target, bytes);
            }
            tar.extend_from_slice(&[0; 1024]);
            super::super::context::Context::receive(dir.path(), io::Cursor::new(tar))
        };
        let first = context(b"alpha").await.unwrap();
        let out = dir.join("out");
        std::fs::create_dir(&out).unwrap();
        assert_eq!(write(&first, "src", &out).unwrap(), out);
        assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"alpha");
        assert_eq!(std::fs::read(out.join("sub/link")).unwrap(), b"alpha");
        assert_eq!(std::fs::read(out.join("keep.key")).unwrap(), b"kept");
        assert!(!out.join("x.key").exists(), "left out by .dockerignore");
        let file_dir = dir.join("file");
        std::fs::create_dir(&file_dir).unwrap();
        let file = write(&first, "src/a.txt", &file_dir).unwrap();
        assert_eq!(file, file_dir.join("a.txt"));

        let second = context(b"beta").await.unwrap();
        assert_eq!(hash(&first, "src").unwrap(), hash(&first, "src").unwrap());
        assert_ne!(hash(&first, "src").unwrap(), hash(&second, "src").unwrap());
        let err = hash(&first, "top").err().unwrap();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        let err = hash(&first, "missing").err().unwrap();
        assert!(err.to_string().contains("\"/missing\" not found"), "{err}");
    }
}
