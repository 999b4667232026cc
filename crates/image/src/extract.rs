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
