//! The mount points a RUN's mounts needed that its image lacked: the runtime makes them in the
//! container's root file system, and, as BuildKit does, they are removed again before the
//! layer is taken (when still empty), so a mount leaves nothing in the image. The parents'
//! times are put back, so the directories holding them do not show as changed either.

use std::path::{Path, PathBuf};

/// The paths (relative to the root file system, deepest first per target) that did not exist.
#[derive(Debug, Default)]
pub struct Stubs(Vec<PathBuf>);

/// The components of absolute `target` (cleaned).
fn components(target: &str) -> Vec<&str> {
    target
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

impl Stubs {
    /// Records which of `targets` (absolute, cleaned) and their parents are missing under
    /// `rootfs`. A path through a symbolic link is skipped: the runtime resolves it inside the
    /// container, and nothing here follows it on the host.
    pub fn find(rootfs: &Path, targets: &[String]) -> Stubs {
        let mut stubs = Vec::new();
        for target in targets {
            let parts = components(target);
            let mut path = PathBuf::new();
            let mut missing_from = None;
            for (i, part) in parts.iter().enumerate() {
                path.push(part);
                match std::fs::symlink_metadata(rootfs.join(&path)) {
                    Ok(meta) if meta.file_type().is_symlink() => break,
                    Ok(meta) if meta.is_dir() => continue,
                    Ok(_) => break,
                    Err(_) => {
                        missing_from = Some(i);
                        break;
                    }
                }
            }
            if let Some(first) = missing_from {
                let mut chain: Vec<PathBuf> = (first..parts.len())
                    .map(|end| parts[..=end].iter().collect())
                    .collect();
                chain.reverse();
                stubs.extend(chain);
            }
        }
        Stubs(stubs)
    }

    /// Removes the stubs under `rootfs` that are still an empty directory or an empty file,
    /// restoring their parent directory's times.
    pub fn remove(&self, rootfs: &Path) {
        for stub in &self.0 {
            if !real_directories(rootfs, stub.parent().unwrap_or(Path::new(""))) {
                continue;
            }
            let path = rootfs.join(stub);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let parent = path.parent().unwrap_or(rootfs).to_path_buf();
            let parent_times = std::fs::metadata(&parent).ok().and_then(|m| {
                Some(
                    std::fs::FileTimes::new()
                        .set_accessed(m.accessed().ok()?)
                        .set_modified(m.modified().ok()?),
                )
            });
            let removed = if meta.is_dir() {
                std::fs::remove_dir(&path).is_ok()
            } else if meta.is_file() && meta.len() == 0 {
                std::fs::remove_file(&path).is_ok()
            } else {
                false
            };
            if let (true, Some(times)) = (removed, parent_times) {
                let _ = std::fs::File::open(&parent).and_then(|f| f.set_times(times));
            }
        }
    }
}

/// Whether every component of `rel` under `root` is a directory, not a link (a RUN may have
/// replaced one by a link to somewhere on the host).
fn real_directories(root: &Path, rel: &Path) -> bool {
    let mut path = root.to_path_buf();
    for part in rel.components() {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_was_missing_and_stayed_empty_goes() {
        let dir = berth_testkit::TempDir::new("build-stubs");
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/local")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let stubs = Stubs::find(
            root,
            &[
                "/usr/local/cache".into(),
                "/run/secrets/token".into(),
                "/link/x".into(),
                "/kept/dir".into(),
            ],
        );
        assert_eq!(
            stubs.0,
            [
                PathBuf::from("usr/local/cache"),
                "run/secrets/token".into(),
                "run/secrets".into(),
                "run".into(),
                "kept/dir".into(),
                "kept".into(),
            ]
        );
        std::fs::create_dir_all(root.join("usr/local/cache")).unwrap();
        std::fs::create_dir_all(root.join("run/secrets")).unwrap();
        std::fs::write(root.join("run/secrets/token"), "").unwrap();
        std::fs::create_dir_all(root.join("kept/dir")).unwrap();
        std::fs::write(root.join("kept/dir/written"), "by the RUN").unwrap();
        stubs.remove(root);
        assert!(!root.join("usr/local/cache").exists());
        assert!(root.join("usr/local").is_dir());
        assert!(!root.join("run").exists());
        assert!(root.join("kept/dir/written").exists());
    }
}
