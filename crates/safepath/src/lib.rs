//! Resolving paths inside a root directory (a container's root file system, a layer being
//! unpacked) without ever leaving it: every lookup goes through
//! `openat2(RESOLVE_IN_ROOT)`, so `..` and symlinks (absolute or relative) are confined to the
//! root, and magic links such as `/proc/self/fd/N` are refused.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// A lookup or creation inside the root failed; `path` is the path as asked for.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path} inside the root: {source}")]
pub struct Error {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn fail(action: &'static str, path: &Path, errno: Errno) -> Error {
    Error {
        action,
        path: path.to_path_buf(),
        source: errno.into(),
    }
}

/// What to create at the end of a path that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Directory,
    File,
}

fn how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

/// Strips the leading `/` so the path is looked up relative to the root descriptor.
fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect()
}

/// Opens `path` inside `root` as an `O_PATH` descriptor. `Ok(None)` if it does not exist.
pub fn open(root: BorrowedFd<'_>, path: &Path) -> Result<Option<OwnedFd>> {
    let rel = relative(path);
    let target = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &rel
    };
    match openat2(root, target, how(OFlag::O_PATH)) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(fail("resolve", path, e)),
    }
}

/// Opens `path` inside `root` as an `O_PATH` descriptor of the object itself: a symlink at the
/// end is not followed (parents still resolve inside the root). `Ok(None)` if it does not exist.
pub fn open_no_follow(root: BorrowedFd<'_>, path: &Path) -> Result<Option<OwnedFd>> {
    let rel = relative(path);
    if rel.as_os_str().is_empty() {
        return open(root, path);
    }
    match openat2(root, &rel, how(OFlag::O_PATH | OFlag::O_NOFOLLOW)) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(fail("resolve", path, e)),
    }
}

/// Opens `path` inside `root`, creating missing directories and, if `leaf` says so, an empty
/// file at the end. Returns an `O_PATH` descriptor of the final object.
pub fn open_or_create(root: BorrowedFd<'_>, path: &Path, leaf: Leaf) -> Result<OwnedFd> {
    open_or_create_following(root, path, leaf, 0)
}

/// How many dangling symlinks a path may lead through, like the kernel's limit.
const MAX_SYMLINKS: u32 = 40;

fn open_or_create_following(
    root: BorrowedFd<'_>,
    path: &Path,
    leaf: Leaf,
    depth: u32,
) -> Result<OwnedFd> {
    if depth > MAX_SYMLINKS {
        return Err(fail("resolve", path, Errno::ELOOP));
    }
    if let Some(fd) = open(root, path)? {
        return Ok(fd);
    }
    let rel = relative(path);
    let components: Vec<_> = rel.components().collect();
    let mut parent: OwnedFd = root.try_clone_to_owned().map_err(|e| Error {
        action: "duplicate the root descriptor for",
        path: path.to_path_buf(),
        source: e,
    })?;
    for (i, component) in components.iter().enumerate() {
        // Each prefix is resolved from the root, so symlinks met on the way stay confined to it.
        let prefix: PathBuf = components[..=i].iter().collect();
        let fd = match openat2(root, &prefix, how(OFlag::O_PATH)) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                // mkdirat/O_EXCL never follow a symlink in the last component.
                let name = component.as_os_str();
                let created = if i + 1 == components.len() && leaf == Leaf::File {
                    let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
                    nix::fcntl::openat(
                        parent.as_fd(),
                        name,
                        flags | OFlag::O_CLOEXEC,
                        Mode::from_bits_truncate(0o644),
                    )
                    .map(drop)
                } else {
                    nix::sys::stat::mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o755))
                };
                match created {
                    Ok(()) => {}
                    // Something is there but does not resolve: a dangling symlink. Create what
                    // it points to, read as a path inside the root.
                    Err(Errno::EEXIST) => {
                        if let Ok(target) = nix::fcntl::readlinkat(parent.as_fd(), name) {
                            let base = prefix.parent().unwrap_or(Path::new(""));
                            let mut next = Path::new("/").join(base).join(PathBuf::from(target));
                            next.extend(&components[i + 1..]);
                            return open_or_create_following(root, &next, leaf, depth + 1);
                        }
                    }
                    Err(e) => return Err(fail("create", path, e)),
                }
                openat2(root, &prefix, how(OFlag::O_PATH)).map_err(|e| fail("open", &prefix, e))?
            }
            Err(e) => return Err(fail("resolve", &prefix, e)),
        };
        parent = fd;
    }
    Ok(parent)
}

/// How many symlinks [`real_path`] follows before giving up, as Go's `filepath.EvalSymlinks`.
const MAX_LINKS_FOLLOWED: u32 = 255;

/// The path inside the root that `path` leads to, every symlink on the way (the last one too)
/// followed as a process whose root is `root` sees it; from the first part that does not
/// exist on, the rest is joined as written (a dangling link's target). For reporting only
/// (`docker cp`'s link target): access goes through [`open`], since the tree may change
/// between the two.
pub fn real_path(root: BorrowedFd<'_>, path: &Path) -> Result<PathBuf> {
    let mut resolved = PathBuf::from("/");
    let mut pending: Vec<std::ffi::OsString> = Vec::new();
    let push = |pending: &mut Vec<std::ffi::OsString>, path: &Path| {
        for c in path.components().rev() {
            match c {
                Component::Normal(n) => pending.push(n.to_owned()),
                Component::ParentDir => pending.push("..".into()),
                _ => {}
            }
        }
    };
    push(&mut pending, path);
    let mut followed = 0;
    let mut missing = false;
    while let Some(name) = pending.pop() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&name);
        let found = match open_no_follow(root, &candidate) {
            Err(e) if e.source.raw_os_error() == Some(Errno::ENOTDIR as i32) => None,
            other => other?,
        };
        let Some(fd) = found.filter(|_| !missing) else {
            missing = true;
            resolved = candidate;
            continue;
        };
        let stat = nix::sys::stat::fstat(fd.as_fd()).map_err(|e| fail("stat", &candidate, e))?;
        if stat.st_mode & nix::libc::S_IFMT != nix::libc::S_IFLNK {
            resolved = candidate;
            continue;
        }
        followed += 1;
        if followed > MAX_LINKS_FOLLOWED {
            return Err(fail("resolve", path, Errno::ELOOP));
        }
        let target = nix::fcntl::readlinkat(fd.as_fd(), Path::new(""))
            .map_err(|e| fail("read link", &candidate, e))?;
        let target = PathBuf::from(target);
        if target.is_absolute() {
            resolved = PathBuf::from("/");
        }
        push(&mut pending, &target);
    }
    Ok(resolved)
}

/// The `/proc/self/fd/N` path of a descriptor, for syscalls that only take paths (`mount`).
pub fn proc_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn temp_root(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("berth-safepath-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("root")).unwrap();
        dir
    }

    fn open_dir(path: &Path) -> OwnedFd {
        nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap()
    }

    #[test]
    fn absolute_symlink_stays_inside_root() {
        let dir = temp_root("abs");
        symlink("/", dir.join("root/escape")).unwrap();
        let root = open_dir(&dir.join("root"));
        open_or_create(root.as_fd(), Path::new("/escape/created"), Leaf::Directory).unwrap();
        assert!(dir.join("root/created").is_dir(), "created inside the root");
        assert!(!Path::new("/created").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dot_dot_and_relative_symlinks_stay_inside_root() {
        let dir = temp_root("dotdot");
        fs::create_dir_all(dir.join("outside")).unwrap();
        symlink("../../outside", dir.join("root/up")).unwrap();
        let root = open_dir(&dir.join("root"));
        open_or_create(root.as_fd(), Path::new("../../up/x"), Leaf::File).unwrap();
        assert!(dir.join("root/x").exists() || dir.join("root/outside/x").exists());
        assert!(
            !dir.join("outside/x").exists(),
            "nothing written outside the root"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dangling_symlinks_are_followed_inside_the_root() {
        let dir = temp_root("dangling");
        fs::create_dir_all(dir.join("host-target")).unwrap();
        symlink(dir.join("host-target"), dir.join("root/link")).unwrap();
        let root = open_dir(&dir.join("root"));
        open_or_create(root.as_fd(), Path::new("/link/sub"), Leaf::Directory).unwrap();
        assert_eq!(fs::read_dir(dir.join("host-target")).unwrap().count(), 0);
        let inside = dir
            .join("root")
            .join(dir.strip_prefix("/").unwrap())
            .join("host-target/sub");
        assert!(inside.is_dir(), "{} missing", inside.display());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn symlink_loops_end_with_an_error() {
        let dir = temp_root("loop");
        symlink("/b", dir.join("root/a")).unwrap();
        symlink("/a", dir.join("root/b")).unwrap();
        let root = open_dir(&dir.join("root"));
        assert!(open_or_create(root.as_fd(), Path::new("/a/x"), Leaf::Directory).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn real_paths_follow_links_inside_the_root() {
        let dir = temp_root("real");
        fs::create_dir_all(dir.join("root/a/b")).unwrap();
        symlink("/a", dir.join("root/abs")).unwrap();
        symlink("../../../a/b", dir.join("root/a/b/up")).unwrap();
        symlink("/", dir.join("root/top")).unwrap();
        let root = open_dir(&dir.join("root"));
        let real = |p: &str| real_path(root.as_fd(), Path::new(p)).unwrap();
        assert_eq!(real("/abs/b"), PathBuf::from("/a/b"));
        assert_eq!(real("/a/b/up"), PathBuf::from("/a/b"));
        assert_eq!(real("/top/../abs"), PathBuf::from("/a"));
        assert_eq!(real("/abs/missing/../x"), PathBuf::from("/a/x"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn magic_links_are_refused() {
        let dir = temp_root("magic");
        symlink("/proc/self/root", dir.join("root/proc-root")).unwrap();
        let root = open_dir(&dir.join("root"));
        // The symlink resolves to /proc/self/root inside the root, which does not exist there.
        assert!(open(root.as_fd(), Path::new("/proc-root/etc"))
            .unwrap()
            .is_none());
        fs::remove_dir_all(&dir).unwrap();
    }
}
