//! A path looked up inside a tree whose content is not trusted (an image's root file system,
//! a build context), as Docker's `FollowSymlinkInScope` does: a symbolic link on the way is
//! followed as if the tree's root were `/` (an absolute target starts again at the root,
//! `..` stops at it), so `COPY --from=img /lib/x` finds `/usr/lib/x` when `/lib -> usr/lib`,
//! and no link can lead out of the tree. The last component is not followed: a link named
//! as a source is copied as a link.

use std::io;
use std::path::{Path, PathBuf};

use super::{io_error, BuildError, BuildResult};

/// How many links one lookup follows before it is taken for a loop (Linux's `MAXSYMLINKS`
/// is 40).
const MAX_LINKS: usize = 40;

/// `parts` (cleaned components of `rel`) under `root`, links on the way followed inside
/// `root`; None when something on the way does not exist or is not a directory.
pub(super) fn resolve(root: &Path, parts: &[String], rel: &str) -> BuildResult<Option<PathBuf>> {
    // Components still to walk, the next one last.
    let mut pending: Vec<String> = parts.iter().rev().cloned().collect();
    let mut walked: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                walked.pop();
                continue;
            }
            _ => {}
        }
        walked.push(part);
        let path = join(root, &walked);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOTDIR) => return Ok(None),
            Err(e) => return Err(io_error(format!("stat {rel}"))(e)),
        };
        if pending.is_empty() || !meta.file_type().is_symlink() {
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(BuildError::Invalid(format!(
                "{rel}: too many levels of symbolic links"
            )));
        }
        let target = std::fs::read_link(&path).map_err(io_error(format!("read link {rel}")))?;
        let target = target.to_string_lossy();
        walked.pop();
        if target.starts_with('/') {
            walked.clear();
        }
        pending.extend(target.split('/').rev().map(str::to_string));
    }
    Ok(Some(join(root, &walked)))
}

fn join(root: &Path, parts: &[String]) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(parts);
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn parts(rel: &str) -> Vec<String> {
        rel.split('/').map(str::to_string).collect()
    }

    #[test]
    fn links_on_the_way_are_followed_inside_the_root() {
        let dir = berth_testkit::TempDir::new("build-scoped");
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::write(root.join("usr/lib/libc.so"), "c").unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("/usr/lib", root.join("abs")).unwrap();
        symlink("../../../../usr", root.join("usr/lib/up")).unwrap();
        symlink("/etc", root.join("hostetc")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        symlink("libc.so", root.join("usr/lib/last")).unwrap();

        let found = |rel: &str| resolve(root, &parts(rel), rel).unwrap();
        let wanted = Some(root.join("usr/lib/libc.so"));
        assert_eq!(found("lib/libc.so"), wanted);
        assert_eq!(found("abs/libc.so"), wanted);
        // `..` in a link's target stops at the root.
        assert_eq!(found("lib/up/lib/libc.so"), wanted);
        // The host's /etc is not the tree's: the link points at the tree's, which is missing.
        assert_eq!(found("hostetc/passwd"), None);
        // A link named last is not followed.
        assert_eq!(found("lib/last"), Some(root.join("usr/lib/last")));
        let err = resolve(root, &parts("loop/x"), "loop/x").unwrap_err();
        assert!(err.to_string().contains("too many levels"), "{err}");
    }
}
