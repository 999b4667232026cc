//! How `docker cp` reads a path in a container: made absolute and cleaned as Go's
//! `filepath.Clean` does, keeping what a trailing `/` or `/.` says (the directory itself, its
//! contents), and split into the directory to resolve and the entry in it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A path of a `/containers/{id}/archive` request, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// As the client wrote it, for messages.
    pub asked: String,
    /// Absolute and clean.
    pub abs: PathBuf,
    /// The directory to resolve, every symlink followed inside the container.
    pub dir: PathBuf,
    /// The entry of `dir` the path names, not followed; `None`: `dir` itself (`/`, `d/`, `d/.`).
    pub base: Option<OsString>,
    /// The stat's name: Go's `filepath.Base` of the path (`.` for `d/.`, `/` for the root).
    pub name: String,
    /// The name of the tar's top entry.
    pub top: String,
}

impl Target {
    /// Reads `path` (relative paths are taken from the container's root).
    pub fn parse(path: &str) -> Result<Target> {
        if path.is_empty() {
            return Err(Error::BadRequest("path cannot be empty".into()));
        }
        let abs = lexical(Path::new(path));
        let contents = path == "." || path.ends_with("/.");
        let last = abs.file_name().map(|n| n.to_string_lossy().into_owned());
        let (dir, base, name) = if contents {
            (abs.clone(), None, ".".to_string())
        } else if path.ends_with('/') || last.is_none() {
            (abs.clone(), None, last.unwrap_or_else(|| "/".into()))
        } else {
            let parent = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
            let base = abs.file_name().map(OsString::from);
            (parent, base, last.unwrap_or_default())
        };
        Ok(Target {
            asked: path.to_string(),
            top: name.clone(),
            abs,
            dir,
            base,
            name,
        })
    }
}

/// `path` made absolute and clean: `.` dropped, `..` removing what precedes it, never above `/`.
pub(super) fn lexical(path: &Path) -> PathBuf {
    Path::new("/").join(berth_image::layer::clean(path))
}

/// RFC 3339 with nanoseconds as Go writes a `time.Time` in JSON (trailing zeros dropped).
pub(super) fn rfc3339_nanos(secs: i64, nanos: i64) -> String {
    let whole = berth_image::time::format(secs);
    if nanos <= 0 {
        return whole;
    }
    let fraction = format!("{nanos:09}");
    let fraction = fraction.trim_end_matches('0');
    format!("{}.{fraction}Z", whole.trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(path: &str) -> (String, Option<String>, String) {
        let t = Target::parse(path).unwrap();
        (
            t.dir.display().to_string(),
            t.base.map(|b| b.to_string_lossy().into_owned()),
            t.name,
        )
    }

    #[test]
    fn paths_split_as_docker_reads_them() {
        let s = |x: &str| x.to_string();
        assert_eq!(
            parts("/etc/passwd"),
            (s("/etc"), Some(s("passwd")), s("passwd"))
        );
        assert_eq!(
            parts("etc/../etc/hosts"),
            (s("/etc"), Some(s("hosts")), s("hosts"))
        );
        assert_eq!(parts("/etc/"), (s("/etc"), None, s("etc")));
        assert_eq!(parts("/etc/."), (s("/etc"), None, s(".")));
        assert_eq!(parts("/"), (s("/"), None, s("/")));
        assert_eq!(parts("/../../x"), (s("/"), Some(s("x")), s("x")));
        assert!(Target::parse("").is_err());
    }

    #[test]
    fn times_read_as_go_writes_them() {
        assert_eq!(rfc3339_nanos(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_nanos(1, 500_000_000), "1970-01-01T00:00:01.5Z");
    }
}
