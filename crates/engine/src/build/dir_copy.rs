//! Copying a directory tree on the host, keeping modes, owners, times and symbolic links (not
//! following them): a cache mount seeded from a stage or image.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::{io_error, BuildResult};

/// Copies directory `source` to `dest` (which must not exist).
pub fn copy_tree(source: &Path, dest: &Path) -> BuildResult<()> {
    let mut todo = vec![(source.to_path_buf(), dest.to_path_buf())];
    while let Some((from, to)) = todo.pop() {
        let meta = std::fs::symlink_metadata(&from)
            .map_err(io_error(format!("stat {}", from.display())))?;
        copy_entry(&from, &to, &meta)?;
        if !meta.is_dir() {
            continue;
        }
        let entries =
            std::fs::read_dir(&from).map_err(io_error(format!("read {}", from.display())))?;
        for entry in entries {
            let entry = entry.map_err(io_error(format!("read {}", from.display())))?;
            todo.push((entry.path(), to.join(entry.file_name())));
        }
    }
    Ok(())
}

/// One directory (made empty), file, or link at `to`, with `meta`'s mode, owner and times.
fn copy_entry(from: &Path, to: &Path, meta: &std::fs::Metadata) -> BuildResult<()> {
    let fail = |what: &str, path: &Path| io_error(format!("{what} {}", path.display()));
    let kind = meta.file_type();
    if kind.is_dir() {
        std::fs::create_dir(to).map_err(fail("create", to))?;
    } else if kind.is_symlink() {
        let target = std::fs::read_link(from).map_err(fail("read link", from))?;
        std::os::unix::fs::symlink(&target, to).map_err(fail("create link", to))?;
    } else if kind.is_file() {
        std::fs::copy(from, to).map_err(fail("copy to", to))?;
    } else {
        // Sockets, fifos and devices are not copied, as a COPY leaves them out.
        return Ok(());
    }
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid())).map_err(fail("chown", to))?;
    if !kind.is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(fail("chmod", to))?;
        let times = std::fs::FileTimes::new()
            .set_accessed(meta.accessed().map_err(fail("stat", from))?)
            .set_modified(meta.modified().map_err(fail("stat", from))?);
        std::fs::File::open(to)
            .and_then(|f| f.set_times(times))
            .map_err(fail("set the times of", to))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_keeps_links_and_modes() {
        let dir = berth_testkit::TempDir::new("build-copy");
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            src.join("sub/run.sh"),
            std::fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        copy_tree(&src, &dir.join("dst")).unwrap();
        let copied = dir.join("dst");
        let mode = std::fs::metadata(copied.join("sub/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o750);
        assert_eq!(
            std::fs::read_link(copied.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
    }
}
