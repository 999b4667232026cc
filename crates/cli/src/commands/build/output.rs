//! `--output`: the legacy build API returns only an image, so its files are exported after the
//! build through a container created for the purpose (never started) and
//! `GET /containers/{id}/export`, then written as a tar or unpacked, confined, into a
//! directory; `type=oci` writes the image itself as an OCI image layout tar, from
//! `GET /images/{id}/get`.

use std::io::{self, IsTerminal};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_image::extract::Extract;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use serde_json::{json, Value};

use crate::client::{escape, Daemon};
use crate::commands::transfer::write_atomically;
use crate::error::{Error, Result};
use crate::http::Body;

/// Where an `--output` goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// `type=local,dest=DIR`: the files unpacked into a directory.
    Local(PathBuf),
    /// `type=tar,dest=FILE`: one tar; `None` is stdout.
    Tar(Option<PathBuf>),
    /// `type=oci,dest=FILE`: the image as an OCI image layout tar (`index.json`,
    /// `oci-layout`, `blobs/sha256/…`), as BuildKit's oci exporter writes it; `None` is
    /// stdout.
    Oci(Option<PathBuf>),
}

/// Parses every `--output` value; only one may go to stdout.
pub fn parse_all(values: &[String]) -> Result<Vec<Output>> {
    let outputs: Vec<Output> = values.iter().map(|v| parse(v)).collect::<Result<_>>()?;
    if outputs.iter().filter(|o| o.to_stdout()).count() > 1 {
        return Err(Error::Usage(
            "invalid output: only one output can go to stdout".into(),
        ));
    }
    Ok(outputs)
}

impl Output {
    /// Whether it writes a tar on stdout (then the build's own output goes to stderr).
    pub fn to_stdout(&self) -> bool {
        matches!(self, Output::Tar(None) | Output::Oci(None))
    }
}

/// `type=local,dest=DIR`, `type=tar,dest=FILE|-`, `type=oci,dest=FILE|-`, or the short forms
/// `DIR` and `-`.
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
                "invalid output {value:?}: unknown field {field:?} (want type=local|tar|oci,dest=PATH)"
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
        (Some("oci"), Some("-") | None) => Ok(Output::Oci(None)),
        (Some("oci"), Some(dest)) => Ok(Output::Oci(Some(PathBuf::from(dest)))),
        (Some(other), _) => Err(Error::Usage(format!(
            "invalid output {value:?}: unsupported type {other:?} (berth build exports local, tar and oci)"
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

/// Writes the files of `image` (or, for `type=oci`, the image) where `output` says.
pub fn export(daemon: &Daemon, image: &str, output: &Output) -> Result<()> {
    if output.to_stdout() && io::stdout().is_terminal() {
        return Err(Error::Refused(
            "refusing to write the output tar to a terminal: redirect stdout or give dest=FILE"
                .into(),
        ));
    }
    if let Output::Oci(file) = output {
        return export_oci(daemon, image, file.as_deref());
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
        Output::Oci(_) => unreachable!("written by export_oci"),
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

/// The files of a `docker save` archive that are not part of the OCI image layout.
const DOCKER_ONLY: [&str; 2] = ["manifest.json", "repositories"];

/// Writes `image` to `file` (or stdout) as an OCI image layout tar: the daemon's `docker
/// save` archive (an OCI layout since Docker 25) without its docker-only files. A failed
/// export leaves no partial layout (see [`write_atomically`]).
fn export_oci(daemon: &Daemon, image: &str, file: Option<&Path>) -> Result<()> {
    let path = format!("/images/{}/get", escape(image));
    let response = daemon.request("GET", &path, &[], Body::Empty)?;
    let Some(file) = file else {
        return copy_layout(response.body, io::stdout().lock(), "stdout").map(drop);
    };
    let what = file.display().to_string();
    write_atomically(file, |out| {
        copy_layout(response.body, io::BufWriter::new(out), &what).map(drop)
    })
}

/// Copies the entries of the archive `body` but the docker-only ones as a tar to `out`
/// (named `what` in errors), and returns it flushed.
fn copy_layout<W: io::Write>(body: impl io::Read, out: W, what: &str) -> Result<W> {
    let read_error =
        |e: io::Error| Error::Refused(format!("read the image archive from the daemon: {e}"));
    let write_error = |e: io::Error| Error::io(format!("write {what}"), e);
    let mut tar = tar::Builder::new(out);
    let mut archive = tar::Archive::new(body);
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let name = entry.path().map_err(read_error)?.into_owned();
        if DOCKER_ONLY.iter().any(|n| name == Path::new(n)) {
            continue;
        }
        let mut header = entry.header().clone();
        tar.append_data(&mut header, &name, &mut entry)
            .map_err(write_error)?;
    }
    let mut out = tar.into_inner().map_err(write_error)?;
    out.flush().map_err(write_error)?;
    Ok(out)
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
        assert_eq!(
            parse("type=oci,dest=img.tar").unwrap(),
            Output::Oci(Some("img.tar".into()))
        );
        assert_eq!(parse("type=oci").unwrap(), Output::Oci(None));
        assert_eq!(parse("type=oci,dest=-").unwrap(), Output::Oci(None));
        assert!(parse("type=docker,dest=x").is_err());
        assert!(parse_all(&["-".into(), "type=oci".into()]).is_err());
        assert!(parse_all(&["-".into(), "type=oci,dest=x".into()]).is_ok());
        assert!(parse("type=local").is_err());
        assert!(parse("type=tar,dest=x,compression=gzip").is_err());
    }
}
