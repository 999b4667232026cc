//! `berth cp`: copies files between a container and the host through the daemon's archive
//! endpoints, with the docker CLI's renaming rules (a destination that exists as a directory
//! receives the source in it; otherwise the source takes the destination's name; `dir/.`
//! copies the contents).
//!
//! A tar from the daemon is unpacked with the same confined extraction the daemon uses for
//! layers: nothing it holds can land outside the destination.

use std::fs;
use std::io::{self, IsTerminal, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use base64::Engine;
use berth_api::archive::{file_mode, ContainerPathStat, PATH_STAT_HEADER};
use berth_image::extract::Extract;
use berth_image::tree_tar::TreeWriter;
use clap::Args;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::client::{escape, Daemon};
use crate::error::{Error, Result};
use crate::format::human_size;
use crate::http::Body;
use crate::read_ahead::ReadAhead;
use crate::Context;

/// `berth cp` flags.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// Suppress progress output during copy. Progress output is automatically suppressed if
    /// no terminal is attached
    #[arg(short, long)]
    quiet: bool,
    /// CONTAINER:SRC_PATH or SRC_PATH|-
    source: String,
    /// DEST_PATH|- or CONTAINER:DEST_PATH
    destination: String,
}

/// `CONTAINER:PATH` split; an absolute path or one starting with `.` is local even with a `:`.
fn split_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((container, path)) if !container.starts_with('.') => (Some(container), path),
        _ => (None, arg),
    }
}

/// Copies between a container and the host.
pub fn cp(cx: &Context, args: &CpArgs) -> Result<()> {
    if args.source.is_empty() {
        return Err(Error::Refused("source can not be empty".into()));
    }
    if args.destination.is_empty() {
        return Err(Error::Refused("destination can not be empty".into()));
    }
    let quiet = args.quiet || !io::stderr().is_terminal();
    match (split_arg(&args.source), split_arg(&args.destination)) {
        ((Some(_), _), (Some(_), _)) => Err(Error::Refused(
            "copying between containers is not supported".into(),
        )),
        ((Some(container), src), (None, dst)) => {
            copy_from(&cx.daemon()?, container, src, dst, args.follow_link, quiet)
        }
        ((None, src), (Some(container), dst)) => {
            let to = Upload {
                container,
                dst,
                follow_link: args.follow_link,
                copy_uid_gid: args.archive,
                quiet,
            };
            copy_to(&cx.daemon()?, src, &to)
        }
        _ => Err(Error::Refused(
            "must specify at least one container source".into(),
        )),
    }
}

/// The stat of `path` in `container`; `None` if the daemon answers 404.
fn stat(daemon: &Daemon, container: &str, path: &str) -> Result<Option<ContainerPathStat>> {
    let url = archive_url(container, path);
    match daemon.request("HEAD", &url, &[], Body::Empty) {
        Ok(response) => decode_stat(daemon, response.header(PATH_STAT_HEADER)).map(Some),
        Err(Error::Daemon { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn archive_url(container: &str, path: &str) -> String {
    format!(
        "/containers/{}/archive?path={}",
        escape(container),
        escape(path)
    )
}

fn decode_stat(daemon: &Daemon, header: Option<&str>) -> Result<ContainerPathStat> {
    let header = header.ok_or_else(|| daemon.protocol("no path stat in the archive answer"))?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(header)
        .map_err(|e| daemon.protocol(format!("malformed path stat: {e}")))?;
    serde_json::from_slice(&json).map_err(|e| daemon.protocol(format!("malformed path stat: {e}")))
}

/// Go's `filepath.Split` then `Base`/`Dir` as the docker CLI's `SplitPathDirEntry`: the
/// directory and the entry a path names (`.` for `dir/.`).
fn split_dir_entry(path: &str) -> (String, String) {
    let cleaned = clean(path);
    let cleaned = if path == "." || path.ends_with("/.") {
        format!("{}/.", cleaned.trim_end_matches('/'))
    } else {
        cleaned
    };
    match cleaned.rfind('/') {
        Some(0) if cleaned.len() == 1 => ("/".into(), "/".into()),
        Some(0) => ("/".into(), cleaned[1..].to_string()),
        Some(i) => (cleaned[..i].to_string(), cleaned[i + 1..].to_string()),
        None => (".".into(), cleaned),
    }
}

/// Go's `filepath.Clean`.
fn clean(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Whether the path says it is a directory (`dir/`, `dir/.`).
fn asserts_directory(path: &str) -> bool {
    path.ends_with('/') || path == "." || path.ends_with("/.")
}

/// `path` made absolute from the working directory, its trailing `/` or `/.` kept.
fn absolute(path: &str) -> Result<String> {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        let cwd = std::env::current_dir().map_err(|e| Error::io("working directory", e))?;
        format!("{}/{path}", cwd.display())
    };
    let mut out = clean(&joined);
    if path == "." || path.ends_with("/.") {
        out = format!("{}/.", out.trim_end_matches('/'));
    } else if path.ends_with('/') && out != "/" {
        out.push('/');
    }
    Ok(out)
}

/// Joins a relative link target to the directory of `path`.
fn link_target(path: &str, target: &str) -> String {
    if target.starts_with('/') {
        return target.to_string();
    }
    let (dir, _) = split_dir_entry(path);
    clean(&format!("{dir}/{target}"))
}

/// Where and under which name a copy lands on the host (the docker CLI's
/// `CopyInfoDestinationPath` and `PrepareArchiveCopy`): the directory to unpack into and, when
/// the top entry must be renamed, `(old, new)`.
fn destination(dst: &str, src_base: &str, src_is_dir: bool) -> Result<(PathBuf, Option<String>)> {
    let mut path = dst.to_string();
    let mut exists = None;
    for _ in 0..=10 {
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&path).map_err(|e| Error::io(path.clone(), e))?;
                path = link_target(&path, &target.to_string_lossy());
            }
            Ok(meta) => {
                exists = Some(meta.is_dir());
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (parent, _) = split_dir_entry(&path);
                match fs::metadata(&parent) {
                    Ok(meta) if meta.is_dir() => break,
                    Ok(_) => return Err(Error::Refused("not a directory".into())),
                    Err(e) => return Err(Error::io(format!("stat {parent}"), e)),
                }
            }
            Err(e) => return Err(Error::io(format!("stat {path}"), e)),
        }
    }
    if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Refused(format!("too many symlinks in {dst}")));
    }
    let (dir, base) = split_dir_entry(&path);
    match exists {
        Some(true) => Ok((PathBuf::from(&path), None)),
        Some(false) if src_is_dir => Err(Error::Refused("cannot copy directory".into())),
        None if !src_is_dir && asserts_directory(&path) => {
            Err(Error::Refused("no such directory".into()))
        }
        _ => Ok((PathBuf::from(dir), Some(base).filter(|b| b != src_base))),
    }
}

/// `berth cp CONTAINER:SRC DEST`.
fn copy_from(
    daemon: &Daemon,
    container: &str,
    src: &str,
    dst: &str,
    follow_link: bool,
    quiet: bool,
) -> Result<()> {
    let dst = if dst == "-" {
        dst.to_string()
    } else {
        let dst = absolute(dst)?;
        check_output_path(&dst)?;
        dst
    };
    let mut src = src.to_string();
    let mut rebase_name = None;
    if follow_link {
        if let Some(stat) = stat(daemon, container, &src)? {
            if file_mode::is_symlink(stat.mode) {
                let target = link_target(&src, &stat.link_target);
                let (_, base) = split_dir_entry(&src);
                let (_, target_base) = split_dir_entry(&target);
                if base != target_base {
                    rebase_name = Some(base);
                }
                src = target;
            }
        }
    }
    let response = daemon.request("GET", &archive_url(container, &src), &[], Body::Empty)?;
    let stat = decode_stat(daemon, response.header(PATH_STAT_HEADER))?;
    if dst == "-" {
        io::copy(&mut { response.body }, &mut io::stdout().lock())
            .map_err(|e| Error::io("write stdout", e))?;
        return Ok(());
    }
    let body = ReadAhead::new(response.body).map_err(|e| Error::io("start a reader thread", e))?;
    let mut body = Counted::new(body);
    // The archive's top entry is named after what was fetched; it lands named after what was
    // asked for (a followed link keeps the link's name), or after the destination.
    let (_, archived) = split_dir_entry(&src);
    let asked = rebase_name.unwrap_or(archived.clone());
    let (into, rename) = destination(&dst, &asked, file_mode::is_dir(stat.mode))?;
    let rename = Some(rename.unwrap_or(asked)).filter(|name| *name != archived);
    let dir = nix::fcntl::open(
        &into,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io(format!("open {}", into.display()), e.into()))?;
    let options = Extract {
        rebase: rename.map(|new| (archived, new)),
        no_chown: true,
        no_overwrite_dir_non_dir: true,
        ..Extract::default()
    };
    berth_image::extract::extract(dir.as_fd(), &mut body, &options)
        .map_err(|e| Error::Refused(e.to_string()))?;
    if !quiet {
        eprintln!("Successfully copied {} to {dst}", human_size(body.count));
    }
    Ok(())
}

/// The docker CLI's `ValidateOutputPath`: the parent directory must exist, and an existing
/// destination may not be a device.
fn check_output_path(path: &str) -> Result<()> {
    let (dir, _) = split_dir_entry(path.trim_end_matches("/."));
    if !Path::new(&dir).exists() {
        return Err(Error::Refused(format!(
            "invalid output path: directory {dir:?} does not exist"
        )));
    }
    if let Ok(meta) = fs::metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_block_device() || kind.is_char_device() {
            return Err(Error::Refused(format!(
                "invalid output path: {path:?} must be a directory or a regular file: got a device"
            )));
        }
    }
    Ok(())
}

/// Where `berth cp SRC CONTAINER:DST` copies to, and how.
struct Upload<'a> {
    container: &'a str,
    dst: &'a str,
    follow_link: bool,
    copy_uid_gid: bool,
    quiet: bool,
}

/// `berth cp SRC CONTAINER:DEST`.
fn copy_to(daemon: &Daemon, src: &str, to: &Upload<'_>) -> Result<()> {
    let container = to.container;
    let mut dst_path = to.dst.to_string();
    let mut dst_stat = stat(daemon, container, &dst_path)?;
    if let Some(stat) = dst_stat.as_ref().filter(|s| file_mode::is_symlink(s.mode)) {
        dst_path = link_target(&dst_path, &stat.link_target);
        dst_stat = self::stat(daemon, container, &dst_path)?;
    }
    if let Some(stat) = &dst_stat {
        if stat.mode & file_mode::DEVICE != 0 {
            return Err(Error::Refused(format!(
                "destination \"{container}:{}\" must be a directory or a regular file: got a device",
                to.dst
            )));
        }
    }
    let dst_is_dir = dst_stat.as_ref().is_some_and(|s| file_mode::is_dir(s.mode));
    let query = format!("&noOverwriteDirNonDir=true&copyUIDGID={}", to.copy_uid_gid);
    if src == "-" {
        if !dst_is_dir {
            return Err(Error::Refused(format!(
                "destination \"{container}:{}\" must be a directory",
                to.dst
            )));
        }
        let body = Body::Stream {
            content_type: "application/x-tar",
            len: None,
            reader: &mut io::stdin().lock(),
        };
        return put(daemon, container, &dst_path, &query, body);
    }
    let src = absolute(src)?;
    let (resolved, rebase_name) = resolve_source(&src, to.follow_link)?;
    let meta =
        fs::symlink_metadata(&resolved).map_err(|e| Error::io(format!("lstat {resolved}"), e))?;
    let (src_dir, src_base) = split_dir_entry(&resolved);
    let top = rebase_name.unwrap_or(src_base.clone());
    // As PrepareArchiveCopy: into an existing directory as is; otherwise into the destination's
    // parent, the top entry renamed after the destination.
    let (into, top) = match &dst_stat {
        Some(_) if dst_is_dir => (dst_path.clone(), top),
        Some(_) if meta.is_dir() => return Err(Error::Refused("cannot copy directory".into())),
        None if !meta.is_dir() && asserts_directory(&dst_path) => {
            return Err(Error::Refused("no such directory".into()))
        }
        _ => {
            let (dir, base) = split_dir_entry(&dst_path);
            (dir, base)
        }
    };
    let source = PathBuf::from(&resolved);
    let open = |path: &Path| {
        nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(format!("open {}", path.display()), e.into()))
    };
    // The tree is archived straight onto the connection. A failure to read it ends the upload
    // cut short (the daemon refuses what it got) and is what the user is told.
    let mut walk_error = None;
    let mut size = 0;
    let mut write = |out: &mut dyn io::Write| -> io::Result<()> {
        // Gathered so that large files are read in large pieces (`io::copy` reads straight
        // into a `BufWriter`'s buffer).
        let mut out = io::BufWriter::with_capacity(1 << 20, Counted::new(out));
        let written = (|| {
            let refused = |e: berth_image::Error| Error::Refused(e.to_string());
            let mut tree = TreeWriter::new(&mut out, &source);
            if src_base == "." {
                let dir = open(&source)?;
                tree.directory(dir.as_fd(), Path::new(&top))
                    .map_err(refused)?;
            } else {
                let parent = open(Path::new(&src_dir))?;
                let entry = std::ffi::OsStr::new(&src_base);
                let top = Path::new(&top);
                tree.entry(parent.as_fd(), entry, top).map_err(refused)?;
            }
            tree.finish().map(drop).map_err(refused)
        })();
        size = out.get_ref().count;
        written.map_err(|e| {
            let message = e.to_string();
            walk_error = Some(e);
            io::Error::other(message)
        })
    };
    let body = Body::Produced {
        content_type: "application/x-tar",
        write: &mut write,
    };
    let sent = put(daemon, container, &into, &query, body);
    if let Some(e) = walk_error {
        return Err(e);
    }
    sent?;
    if !to.quiet {
        eprintln!(
            "Successfully copied {} to {container}:{}",
            human_size(size),
            to.dst
        );
    }
    Ok(())
}

/// PUTs the tar `body` into `dir` of `container`.
fn put(daemon: &Daemon, container: &str, dir: &str, query: &str, body: Body<'_>) -> Result<()> {
    let url = format!("{}{query}", archive_url(container, dir));
    daemon
        .request("PUT", &url, &[], body)?
        .bytes()
        .map_err(|e| daemon.protocol(format!("PUT {url}: {e}")))?;
    Ok(())
}

/// The docker CLI's `ResolveHostSourcePath`: the path to archive and, when a link in the last
/// component changed its name, the name the archive must use.
fn resolve_source(path: &str, follow_link: bool) -> Result<(String, Option<String>)> {
    let canonical = |p: &str| {
        fs::canonicalize(p)
            .map(|p| p.display().to_string())
            .map_err(|e| Error::io(format!("lstat {p}"), e))
    };
    let (_, base) = split_dir_entry(path);
    if follow_link {
        let mut resolved = canonical(path)?;
        if path == "." || path.ends_with("/.") {
            resolved = format!("{}/.", resolved.trim_end_matches('/'));
        }
        let (_, resolved_base) = split_dir_entry(&resolved);
        return Ok((resolved, Some(base).filter(|b| *b != resolved_base)));
    }
    let (dir_part, entry) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("./", path),
    };
    let resolved_dir = canonical(dir_part)?;
    let resolved = format!("{}/{entry}", resolved_dir.trim_end_matches('/'));
    let (_, resolved_base) = split_dir_entry(&resolved);
    let rebase = (path.ends_with('/') && base != resolved_base).then_some(base);
    Ok((resolved, rebase))
}

/// A reader or writer that counts what passes.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Self {
        Counted { inner, count: 0 }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl<W: io::Write> io::Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_as_docker_splits_them() {
        assert_eq!(split_arg("c:/etc"), (Some("c"), "/etc"));
        assert_eq!(split_arg("/abs:x"), (None, "/abs:x"));
        assert_eq!(split_arg("./f:x"), (None, "./f:x"));
        assert_eq!(split_arg("file"), (None, "file"));
    }

    #[test]
    fn paths_split_into_directory_and_entry() {
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(split_dir_entry("/a/b"), s("/a", "b"));
        assert_eq!(split_dir_entry("/a/b/"), s("/a", "b"));
        assert_eq!(split_dir_entry("/a/b/."), s("/a/b", "."));
        assert_eq!(split_dir_entry("/a"), s("/", "a"));
        assert_eq!(split_dir_entry("/"), s("/", "/"));
        assert_eq!(split_dir_entry("b"), s(".", "b"));
        assert_eq!(clean("/a/../../b/./c/"), "/b/c");
        assert_eq!(link_target("/a/link", "../x"), "/x");
    }
}
