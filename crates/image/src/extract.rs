//! Unpacking a plain tar (`docker cp`) with the layer unpacker's confinement: nothing it holds
//! lands outside the target, whatever its names, links or the symlinks already there. Unlike a
//! layer, whiteout names are ordinary names, the owner may be overridden and the top entry
//! renamed.

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use crate::error::{Context, Result};
use crate::layer::{clean, Stats};

/// How [`extract`] unpacks an archive that is not a layer (`docker cp`): whiteout names are
/// ordinary names there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extract {
    /// Renames the archive's top entry (`(old, new)`: `old/x` is unpacked as `new/x`), as
    /// `docker cp` renames what it copies; an `old` of `/` puts everything under `new`.
    pub rebase: Option<(String, String)>,
    /// The owner every entry gets instead of the archive's; `None` keeps the archive's.
    pub owner: Option<(u32, u32)>,
    /// Leaves owners as the extracting user makes them (a client unpacking on its host).
    pub no_chown: bool,
    /// Refuses to replace a directory with a non-directory, or a non-directory with a
    /// directory.
    pub no_overwrite_dir_non_dir: bool,
}

/// Unpacks the plain tar read from `input` into the directory open at `target`, confined to
/// it as a layer is.
pub fn extract(target: BorrowedFd<'_>, input: impl Read, options: &Extract) -> Result<Stats> {
    let root = target.try_clone_to_owned().context(|| "duplicate target")?;
    crate::layer::unpack(root, input, None, options)
}

/// `path` with its first component `old` replaced by `new` (see [`Extract::rebase`]).
pub(crate) fn rebased(path: PathBuf, rebase: &Option<(String, String)>) -> PathBuf {
    let Some((old, new)) = rebase else {
        return path;
    };
    if old == "/" || old.is_empty() {
        return Path::new(new).join(clean(&path));
    }
    let mut components = path.components();
    match components.next() {
        Some(first) if first.as_os_str() == OsStr::new(old) => {
            Path::new(new).join(components.as_path())
        }
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;

    /// A tar entry written byte for byte (names the tar crate refuses: `..`, absolute).
    fn raw(tar: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o640);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_size(data.len() as u64);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().next_multiple_of(512), 0);
    }

    fn unpack_into(dir: &Path, tar: &[u8], options: &Extract) -> Result<Stats> {
        let target = nix::fcntl::open(
            dir,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap();
        extract(target.as_fd(), tar, options)
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("berth-extract-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("target")).unwrap();
        fs::create_dir_all(dir.join("outside")).unwrap();
        dir
    }

    #[test]
    fn hostile_names_and_links_stay_in_the_target() {
        let dir = temp("hostile");
        let outside = dir.join("outside").display().to_string();
        let mut tar = Vec::new();
        use tar::EntryType::{Link, Regular, Symlink};
        raw(
            &mut tar,
            &format!("../../../..{outside}/dotdot"),
            Regular,
            "",
            b"x",
        );
        raw(&mut tar, &format!("{outside}/absolute"), Regular, "", b"x");
        raw(&mut tar, "evil", Symlink, &outside, b"");
        raw(&mut tar, "evil/through", Regular, "", b"x");
        raw(&mut tar, "up", Symlink, "../..", b"");
        raw(&mut tar, "up/outside/through-up", Regular, "", b"x");
        raw(&mut tar, ".wh.kept", Regular, "", b"not a whiteout");
        tar.extend_from_slice(&[0; 1024]);
        let options = Extract {
            owner: Some((0, 0)),
            ..Extract::default()
        };
        unpack_into(&dir.join("target"), &tar, &options).unwrap();
        let outside_now = fs::read_dir(dir.join("outside")).unwrap().count();
        let kept = fs::read(dir.join("target/.wh.kept")).unwrap();
        let owner = fs::metadata(dir.join("target/.wh.kept")).unwrap().uid();
        let mut link = Vec::new();
        raw(
            &mut link,
            "hl",
            Link,
            &format!("../../..{outside}/../outside"),
            b"",
        );
        link.extend_from_slice(&[0; 1024]);
        let linked = unpack_into(&dir.join("target"), &link, &options);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(outside_now, 0, "nothing written outside the target");
        assert_eq!(kept, b"not a whiteout", "whiteout names are plain names");
        assert_eq!(owner, 0, "the owner override applies");
        assert!(linked.is_err(), "a hard link to outside is refused");
    }

    #[test]
    fn directories_and_files_do_not_replace_each_other_when_asked() {
        let dir = temp("overwrite");
        fs::create_dir(dir.join("target/d")).unwrap();
        fs::write(dir.join("target/f"), b"old").unwrap();
        let options = Extract {
            no_overwrite_dir_non_dir: true,
            no_chown: true,
            ..Extract::default()
        };
        let mut file_on_dir = Vec::new();
        raw(&mut file_on_dir, "d", tar::EntryType::Regular, "", b"x");
        file_on_dir.extend_from_slice(&[0; 1024]);
        let mut dir_on_file = Vec::new();
        raw(&mut dir_on_file, "f/", tar::EntryType::Directory, "", b"");
        dir_on_file.extend_from_slice(&[0; 1024]);
        let first = unpack_into(&dir.join("target"), &file_on_dir, &options);
        let second = unpack_into(&dir.join("target"), &dir_on_file, &options);
        let (d, f) = (
            dir.join("target/d").is_dir(),
            fs::read(dir.join("target/f")),
        );
        fs::remove_dir_all(&dir).unwrap();
        assert!(first.is_err() && second.is_err());
        assert!(d);
        assert_eq!(f.unwrap(), b"old");
    }

    #[test]
    fn rebasing_renames_the_top_entry_only() {
        let re = |p: &str, old: &str, new: &str| {
            rebased(PathBuf::from(p), &Some((old.into(), new.into())))
        };
        assert_eq!(re("./a", ".", "dst"), PathBuf::from("dst/a"));
        assert_eq!(re("src/x/src", "src", "dst"), PathBuf::from("dst/x/src"));
        assert_eq!(re("srcx/a", "src", "dst"), PathBuf::from("srcx/a"));
        assert_eq!(re("/bin/sh", "/", "out"), PathBuf::from("out/bin/sh"));
    }
}
