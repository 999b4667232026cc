//! Preparing the build context as the docker CLI does: a directory's `.dockerignore` read
//! (the Dockerfile and `.dockerignore` always kept), a Dockerfile outside the context or from
//! stdin added under a random name that `.dockerignore` then lists, a tar or a Dockerfile on
//! stdin told apart by their first bytes.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_build::ignore::{keep_build_files, read_patterns, Matcher};

use super::tree;
use crate::error::{Error, Result};
use crate::format::human_size_4;

/// A directory context, ready to be archived.
pub struct Plan {
    /// The context directory, symlinks resolved.
    pub root: PathBuf,
    /// The Dockerfile's path in the archive (`dockerfile=`).
    pub dockerfile: String,
    /// The `.dockerignore` rules.
    pub matcher: Matcher,
    /// A Dockerfile that is not a file of the context, and the `.dockerignore` that hides it.
    pub added: Option<Added>,
}

/// What the archive gets besides the directory's files.
pub struct Added {
    /// The Dockerfile's contents (stored under [`Plan::dockerfile`]).
    pub dockerfile: Vec<u8>,
    /// The `.dockerignore` sent instead of the directory's, listing the Dockerfile.
    pub dockerignore: Vec<u8>,
}

fn prepare_error(what: &str, path: &Path, e: &io::Error) -> Error {
    Error::Refused(format!(
        "unable to prepare context: {what}: lstat {}: {}",
        path.display(),
        go_words(e)
    ))
}

/// An I/O error as Go prints it (`no such file or directory`).
pub fn go_words(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Works out what to send of the directory `dir`: `file` is `-f` (relative to the working
/// directory), `stdin_dockerfile` the Dockerfile of `-f -`.
pub fn plan_directory(
    dir: &Path,
    file: Option<&str>,
    stdin_dockerfile: Option<Vec<u8>>,
) -> Result<Plan> {
    let root = std::fs::canonicalize(dir)
        .map_err(|e| prepare_error("unable to evaluate symlinks in context path", dir, &e))?;
    let (dockerfile, added_file) = match stdin_dockerfile {
        Some(text) => (None, Some(text)),
        None => {
            let path = match file {
                Some(file) => std::path::absolute(file)
                    .map_err(|e| Error::io(format!("the path of {file}"), e))?,
                None => {
                    let upper = root.join("Dockerfile");
                    let lower = root.join("dockerfile");
                    if upper.symlink_metadata().is_err() && lower.symlink_metadata().is_ok() {
                        lower
                    } else {
                        upper
                    }
                }
            };
            let resolved = std::fs::canonicalize(&path).map_err(|e| {
                prepare_error("unable to evaluate symlinks in Dockerfile path", &path, &e)
            })?;
            match resolved.strip_prefix(&root) {
                Ok(rel) => (Some(slash_path(rel)), None),
                Err(_) => {
                    let text = std::fs::read(&resolved)
                        .map_err(|e| Error::io(format!("read {}", resolved.display()), e))?;
                    (None, Some(text))
                }
            }
        }
    };
    let ignore_path = root.join(".dockerignore");
    let ignore = match std::fs::read(&ignore_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(format!("read {}", ignore_path.display()), e)),
    };
    let patterns = read_patterns(ignore.as_deref().unwrap_or_default());
    let bad = |e: berth_build::ignore::IgnoreError| {
        Error::Refused(format!(
            "error checking context: {}: {e}",
            ignore_path.display()
        ))
    };
    let patterns = keep_build_files(patterns, dockerfile.as_deref()).map_err(bad)?;
    let matcher = Matcher::new(&patterns).map_err(bad)?;
    Ok(match added_file {
        None => Plan {
            root,
            dockerfile: dockerfile.unwrap_or_default(),
            matcher,
            added: None,
        },
        Some(text) => {
            let name = format!(".dockerfile.{}", random_hex(10)?);
            let mut dockerignore = ignore.unwrap_or_else(|| b".dockerignore".to_vec());
            dockerignore.extend_from_slice(format!("\n{name}\n").as_bytes());
            Plan {
                root,
                dockerfile: name,
                matcher,
                added: Some(Added {
                    dockerfile: text,
                    dockerignore,
                }),
            }
        }
    })
}

/// `rel` with `/` separators.
fn slash_path(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// `bytes` random bytes in hex.
fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| Error::io("read /dev/urandom", e))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The archive of `plan`, written by another thread while it is read.
pub fn stream_directory(plan: Plan) -> Result<Box<dyn Read>> {
    Ok(Box::new(tree::spawn(plan)))
}

/// The context on stdin: an archive (plain or compressed) sent as is, or else a Dockerfile
/// put alone in an archive. Returns the body and the `dockerfile=` value.
pub fn from_stdin(file: Option<&str>) -> Result<(Box<dyn Read>, String)> {
    let mut stdin = io::stdin();
    let mut head = Vec::with_capacity(1024);
    (&mut stdin)
        .take(1024)
        .read_to_end(&mut head)
        .map_err(|e| Error::io("read the context from stdin", e))?;
    if is_archive(&head) {
        let body = io::Cursor::new(head).chain(stdin);
        return Ok((Box::new(body), file.unwrap_or_default().to_string()));
    }
    let mut text = head;
    stdin
        .read_to_end(&mut text)
        .map_err(|e| Error::io("read the Dockerfile from stdin", e))?;
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(text.len() as u64);
    header.set_mtime(now());
    tar.append_data(&mut header, "Dockerfile", text.as_slice())
        .and_then(|()| tar.finish())
        .map_err(|e| Error::io("archive the Dockerfile from stdin", e))?;
    let bytes = tar
        .into_inner()
        .map_err(|e| Error::io("archive the Dockerfile from stdin", e))?;
    Ok((Box::new(io::Cursor::new(bytes)), "Dockerfile".into()))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether `head` starts an archive as the docker CLI decides: a compression's magic
/// (gzip, bzip2, xz, zstd) or a tar header whose checksum holds.
fn is_archive(head: &[u8]) -> bool {
    const MAGICS: [&[u8]; 4] = [
        &[0x1f, 0x8b, 0x08],
        b"BZh",
        &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
        &[0x28, 0xb5, 0x2f, 0xfd],
    ];
    if MAGICS.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    let Some(block) = head.get(..512) else {
        return false;
    };
    let field = String::from_utf8_lossy(&block[148..156]);
    let Ok(stored) = u64::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    sum == stored
}

/// The context on its way to the daemon; on a terminal, docker's "Sending build context"
/// line counts the bytes.
pub struct Sending {
    inner: Box<dyn Read>,
    sent: u64,
    terminal: bool,
    shown: Option<Instant>,
    /// Why the context could not be read (not why the upload broke).
    failure: Option<String>,
}

impl Sending {
    /// Wraps `inner`; `terminal` says whether to show progress.
    pub fn new(inner: Box<dyn Read>, terminal: bool) -> Sending {
        Sending {
            inner,
            sent: 0,
            terminal,
            shown: None,
            failure: None,
        }
    }

    /// The error that stopped the context from being read, if one did.
    pub fn failure(&mut self) -> Option<String> {
        self.failure.take()
    }

    fn show(&mut self, last: bool) {
        let mut out = io::stdout().lock();
        let end = if last { "\n" } else { "" };
        let _ = write!(
            out,
            "\rSending build context to Docker daemon {:>8}{end}",
            human_size_4(self.sent)
        );
        let _ = out.flush();
        self.shown = Some(Instant::now());
    }

    /// Shows the final count.
    pub fn finish(&mut self) {
        if self.terminal {
            self.show(true);
        }
    }
}

impl Read for Sending {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .inner
            .read(buf)
            .inspect_err(|e| self.failure = Some(e.to_string()))?;
        self.sent += n as u64;
        if self.terminal
            && self
                .shown
                .is_none_or(|at| at.elapsed() > Duration::from_millis(100))
        {
            self.show(false);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_told_from_dockerfiles() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        tar.append_data(&mut h, "f", &b"x"[..]).unwrap();
        let bytes = tar.into_inner().unwrap();
        assert!(is_archive(&bytes));
        assert!(is_archive(&[0x1f, 0x8b, 0x08, 0, 0]));
        assert!(!is_archive(b"FROM busybox\nRUN true\n"));
        assert!(!is_archive(&[b'F'; 1024]));
        let mut broken = bytes.clone();
        broken[0] ^= 1;
        assert!(!is_archive(&broken));
    }
}
