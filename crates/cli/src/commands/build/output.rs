//! `--output`: the legacy build API returns only an image, so its files are exported after the
//! build through a container created for the purpose (never started) and
//! `GET /containers/{id}/export`, then written as a tar or unpacked, confined, into a
//! directory.

use std::io::{self, IsTerminal};
use std::os::fd::AsFd;
use std::path::PathBuf;

use berth_image::extract::Extract;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use serde_json::{json, Value};

use crate::client::{escape, Daemon};
use crate::error::{Error, Result};
use crate::http::Body;

/// Where an `--output` goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// `type=local,dest=DIR`: the files unpacked into a directory.
    Local(PathBuf),
    /// `type=tar,dest=FILE`: one tar; `None` is stdout.
    Tar(Option<PathBuf>),
}

/// Parses every `--output` value.
pub fn parse_all(values: &[String]) -> Result<Vec<Output>> {
    values.iter().map(|v| parse(v)).collect()
}

/// `type=local,dest=DIR`, `type=tar,dest=FILE|-`, or the short forms `DIR` and `-`.
fn parse(value: &str) -> Result<Output> {
    if !value.contains('=') {
        return Ok(match value {
            "-" => Output::Tar(None),
            dir => Output::Local(PathBuf::from(dir)),
        });
    }
    let mut kind = None;
    let mut dest = None;
    for field in value.split(',') {
        match field.split_once('=') {
            Some(("type", t)) => kind = Some(t),
            Some(("dest", d)) => dest = Some(d),
            _ => {
                return Err(Error::Usage(format!(
                "invalid output {value:?}: unknown field {field:?} (want type=local|tar,dest=PATH)"
            )))
            }
        }
    }
    match (kind, dest) {
        (Some("local"), Some(dest)) if dest != "-" => Ok(Output::Local(PathBuf::from(dest))),
        (Some("local"), _) => Err(Error::Usage(format!(
            "invalid output {value:?}: type=local needs a dest directory"
        ))),
        (Some("tar"), Some("-") | None) => Ok(Output::Tar(None)),
        (Some("tar"), Some(dest)) => Ok(Output::Tar(Some(PathBuf::from(dest)))),
        (Some(other), _) => Err(Error::Usage(format!(
            "invalid output {value:?}: unsupported type {other:?} (berth build exports local and tar)"
        ))),
        (None, _) => Err(Error::Usage(format!("invalid output {value:?}: no type"))),
    }
}

/// A container made only to export an image's files; removed on drop.
struct Scratch<'a> {
    daemon: &'a Daemon,
    id: String,
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        let path = format!("/containers/{}?v=1&force=1", escape(&self.id));
        if let Err(e) = self.daemon.call("DELETE", &path) {
            eprintln!("cannot remove the export container {}: {e}", self.id);
        }
    }
}

/// Writes the files of `image` where `output` says.
pub fn export(daemon: &Daemon, image: &str, output: &Output) -> Result<()> {
    if *output == Output::Tar(None) && io::stdout().is_terminal() {
        return Err(Error::Refused(
            "refusing to write the output tar to a terminal: redirect stdout or give dest=FILE"
                .into(),
        ));
    }
    // The command is never run; the daemon wants one when the image has none.
    let body = json!({ "Image": image, "Cmd": ["berth-build-output"] });
    let created: Value = daemon.post_json("/containers/create", Some(&body))?;
    let id = created["Id"]
        .as_str()
        .ok_or_else(|| daemon.protocol("POST /containers/create: no Id in the answer"))?;
    let scratch = Scratch {
        daemon,
        id: id.to_string(),
    };
    let path = format!("/containers/{}/export", escape(&scratch.id));
    let mut response = daemon.request("GET", &path, &[], Body::Empty)?;
    let broken = |e: io::Error| daemon.protocol(format!("GET {path}: {e}"));
    match output {
        Output::Tar(None) => {
            io::copy(&mut response.body, &mut io::stdout().lock()).map_err(broken)?;
        }
        Output::Tar(Some(file)) => {
            let mut out = std::fs::File::create(file)
                .map_err(|e| Error::io(format!("create {}", file.display()), e))?;
            io::copy(&mut response.body, &mut out).map_err(broken)?;
            out.sync_all()
                .map_err(|e| Error::io(format!("write {}", file.display()), e))?;
        }
        Output::Local(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
            let fd = nix::fcntl::open(
                dir,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io(format!("open {}", dir.display()), e.into()))?;
            let options = Extract {
                no_chown: !nix::unistd::geteuid().is_root(),
                ..Extract::default()
            };
            berth_image::extract::extract(fd.as_fd(), &mut response.body, &options)
                .map_err(|e| Error::Refused(format!("unpack into {}: {e}", dir.display())))?;
        }
    }
    drop(scratch);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_long_and_short() {
        assert_eq!(
            parse("type=local,dest=out").unwrap(),
            Output::Local("out".into())
        );
        assert_eq!(
            parse("type=tar,dest=a.tar").unwrap(),
            Output::Tar(Some("a.tar".into()))
        );
        assert_eq!(parse("-").unwrap(), Output::Tar(None));
        assert_eq!(parse("dir").unwrap(), Output::Local("dir".into()));
        assert!(parse("type=oci,dest=x").is_err());
        assert!(parse("type=local").is_err());
        assert!(parse("type=tar,dest=x,compression=gzip").is_err());
    }
}
