//! The OCI runtimes containers can run with, by name, as `docker run --runtime NAME` picks
//! them: berth-runtime (the default, a library in the shim), runc and crun when found on
//! `PATH`, and any added with `berthd --add-runtime NAME=PATH`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The default runtime's name.
pub const DEFAULT_RUNTIME: &str = "berth-runtime";

/// Runtimes looked for on `PATH` at start.
const WELL_KNOWN: [&str; 2] = ["runc", "crun"];

/// The runtime one container runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runtime {
    /// berth-runtime: called as a library by the shim, as a binary for exec.
    Builtin,
    /// A binary with runc's command line.
    External {
        /// The name containers ask for.
        name: String,
        /// The binary (a bare name is looked up on `PATH`).
        path: PathBuf,
    },
}

/// The runtimes a daemon knows, by name.
#[derive(Debug, Clone, Default)]
pub struct Runtimes {
    external: BTreeMap<String, PathBuf>,
}

impl Runtimes {
    /// berth-runtime, and runc and crun if `path_var` (a `PATH` value) has them.
    pub fn discover(path_var: Option<&std::ffi::OsStr>) -> Runtimes {
        let external = WELL_KNOWN
            .into_iter()
            .filter(|name| on_path(path_var, name))
            .map(|name| (name.to_string(), PathBuf::from(name)))
            .collect();
        Runtimes { external }
    }

    /// Adds (or replaces) runtime `name`; berth-runtime cannot be redefined.
    pub fn add(&mut self, name: &str, path: &Path) -> Result<()> {
        if name.is_empty() || name == DEFAULT_RUNTIME {
            return Err(Error::InvalidParameter {
                what: "--add-runtime".into(),
                reason: format!("runtime name {name:?} is reserved"),
            });
        }
        self.external.insert(name.to_string(), path.to_path_buf());
        Ok(())
    }

    /// The runtime `name` means (`""` is the default); Docker's error for one it does not know.
    pub fn get(&self, name: &str) -> Result<Runtime> {
        if name.is_empty() || name == DEFAULT_RUNTIME {
            return Ok(Runtime::Builtin);
        }
        self.external
            .get(name)
            .map(|path| Runtime::External {
                name: name.to_string(),
                path: path.clone(),
            })
            .ok_or_else(|| Error::UnknownRuntime(name.to_string()))
    }

    /// The added runtimes' names and binaries, by name.
    pub fn external(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.external.iter().map(|(n, p)| (n.as_str(), p.as_path()))
    }
}

/// Parses `--add-runtime NAME=PATH`.
pub fn parse_added(text: &str) -> std::result::Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!("{text:?} is not NAME=PATH")),
    }
}

/// Whether an executable `name` is in one of `path_var`'s directories.
fn on_path(path_var: Option<&std::ffi::OsStr>, name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path_var) = path_var else {
        return false;
    };
    std::env::split_paths(path_var).any(|dir| {
        std::fs::metadata(dir.join(name))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_come_from_path_and_additions_by_name() {
        let dir = berth_testkit::TempDir::new("engine-runtimes");
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let runc = bin.join("runc");
        std::fs::write(&runc, "#!/bin/sh\n").unwrap();
        std::fs::write(bin.join("crun"), "not executable").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runc, std::fs::Permissions::from_mode(0o755)).unwrap();

        let mut runtimes = Runtimes::discover(Some(bin.as_os_str()));
        runtimes
            .add("fast", Path::new("/opt/fast/bin/fast"))
            .unwrap();
        let names: Vec<_> = runtimes.external().map(|(n, _)| n).collect();
        assert_eq!(names, ["fast", "runc"]);
        assert_eq!(runtimes.get("").unwrap(), Runtime::Builtin);
        assert_eq!(runtimes.get(DEFAULT_RUNTIME).unwrap(), Runtime::Builtin);
        assert_eq!(
            runtimes.get("fast").unwrap(),
            Runtime::External {
                name: "fast".into(),
                path: "/opt/fast/bin/fast".into()
            }
        );
        assert_eq!(
            runtimes.get("crun").unwrap_err().to_string(),
            "unknown or invalid runtime name: crun"
        );

        let err = runtimes.add(DEFAULT_RUNTIME, Path::new("/bin/true"));
        assert!(err.is_err());
        assert_eq!(Runtimes::discover(None).external().count(), 0);
    }

    #[test]
    fn added_runtimes_are_name_equals_path() {
        assert_eq!(
            parse_added("kata=/usr/bin/kata-runtime").unwrap(),
            ("kata".to_string(), PathBuf::from("/usr/bin/kata-runtime"))
        );
        for bad in ["kata", "=/usr/bin/x", "kata="] {
            assert!(parse_added(bad).is_err(), "{bad}");
        }
    }
}
