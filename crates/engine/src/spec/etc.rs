//! The /etc/hostname, /etc/hosts and /etc/resolv.conf a container gets: written by the daemon
//! in the container's own directory and bind-mounted read-write over the image's files. Their
//! contents come from the container's networking (berth-network's `etc` rules).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::{Error, Result};

/// The files' names in the container's directory and where they go in the container.
pub const ETC_FILES: [(&str, &str); 3] = [
    ("hostname", "/etc/hostname"),
    ("hosts", "/etc/hosts"),
    ("resolv.conf", "/etc/resolv.conf"),
];

/// Writes `path` atomically (a temp file renamed into place). Not flushed to disk: the daemon
/// writes these files again at every start of the container, as Docker does.
fn write_atomic(path: &Path, content: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    file.write_all(content.as_bytes())
        .map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("rename into place", path, e))
}

/// Writes hostname, hosts and resolv.conf into `dir`.
pub fn write_etc_files(dir: &Path, hostname: &str, hosts: &str, resolv_conf: &str) -> Result<()> {
    let hostname = format!("{hostname}\n");
    for ((name, _), content) in ETC_FILES
        .iter()
        .zip([hostname.as_str(), hosts, resolv_conf])
    {
        write_atomic(&dir.join(name), content)?;
    }
    Ok(())
}

/// The files' paths in `dir` paired with where they go in the container, ready for
/// [`super::SpecInput::etc_files`].
pub fn etc_paths(dir: &Path) -> Vec<(PathBuf, String)> {
    ETC_FILES
        .iter()
        .map(|(name, target)| (dir.join(name), target.to_string()))
        .collect()
}
