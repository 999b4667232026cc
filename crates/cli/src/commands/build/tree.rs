//! The tar of a context directory, as the docker CLI writes it: entries in lexical order,
//! names relative to the context, modes kept, owners 0:0, hard links as links, sockets left
//! out, symlinks stored and never followed. Written by a thread into a bounded channel so
//! that a large context is never held in memory; a failure reaches the reader as an error
//! (never as a short but well-formed archive).

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use super::context::{go_words, Plan};

/// Bytes per message, and messages in flight: at most 512 KiB buffered.
const CHUNK: usize = 64 * 1024;
const IN_FLIGHT: usize = 8;

/// Starts writing the archive of `plan`; read it from the returned reader.
pub fn spawn(plan: Plan) -> ChannelReader {
    let (tx, rx) = sync_channel(IN_FLIGHT);
    std::thread::spawn(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let written = write_archive(&plan, &mut out).and_then(|()| out.flush());
        if let Err(e) = written {
            let _ = tx.send(Err(e.to_string()));
        }
    });
    ChannelReader {
        rx,
        current: io::Cursor::new(Vec::new()),
    }
}

/// The reading end: the archive's bytes, or the error that stopped its writing.
pub struct ChannelReader {
    rx: Receiver<Result<Vec<u8>, String>>,
    current: io::Cursor<Vec<u8>>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => self.current = io::Cursor::new(chunk),
                Ok(Err(message)) => return Err(io::Error::other(message)),
                // The writer finished and hung up.
                Err(_) => return Ok(0),
            }
        }
    }
}

struct ChannelWriter {
    tx: SyncSender<Result<Vec<u8>, String>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))
    }
}

/// Writes the whole archive of `plan` to `out`.
fn write_archive(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    let mut walk = Walk {
        plan,
        tar: tar::Builder::new(out),
        links: HashMap::new(),
    };
    walk.directory(&plan.root, "")?;
    if let Some(added) = &plan.added {
        walk.extra(".dockerignore", &added.dockerignore)?;
        walk.extra(&plan.dockerfile, &added.dockerfile)?;
    }
    walk.tar.finish()
}

struct Walk<'a, W: Write> {
    plan: &'a Plan,
    tar: tar::Builder<W>,
    /// Files with several links already written: (device, inode) → their name.
    links: HashMap<(u64, u64), String>,
}

/// The error the docker CLI gives for a file of the context it cannot read.
fn unreadable(path: &Path, e: &io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::PermissionDenied {
        io::Error::other(format!(
            "error checking context: no permission to read from '{}'",
            path.display()
        ))
    } else {
        io::Error::other(format!(
            "error checking context: can't stat '{}': {}",
            path.display(),
            go_words(e)
        ))
    }
}

impl<W: Write> Walk<'_, W> {
    /// The entries of the directory `dir` (named `prefix` in the archive), recursively.
    fn directory(&mut self, dir: &Path, prefix: &str) -> io::Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect())
            .map_err(|e| unreadable(dir, &e))?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let rel = format!("{prefix}{}", name.to_string_lossy());
            if self.plan.added.is_some() && rel == ".dockerignore" {
                continue; // Replaced at the end.
            }
            let meta = path.symlink_metadata().map_err(|e| unreadable(&path, &e))?;
            if self.plan.matcher.excludes(&rel) {
                // An exception may still bring back something below an excluded directory.
                if meta.is_dir()
                    && self.plan.matcher.has_exclusions()
                    && self.plan.matcher.must_walk(&rel)
                {
                    self.directory(&path, &format!("{rel}/"))?;
                }
                continue;
            }
            self.entry(&path, &rel, &meta)?;
            if meta.is_dir() {
                self.directory(&path, &format!("{rel}/"))?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, rel: &str, meta: &Metadata) -> io::Result<()> {
        let kind = meta.file_type();
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        h.set_size(0);
        let what = |e: io::Error| io::Error::new(e.kind(), format!("archive {rel}: {e}"));
        if kind.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            self.tar
                .append_data(&mut h, format!("{rel}/"), io::empty())
                .map_err(what)
        } else if kind.is_symlink() {
            let target = std::fs::read_link(path).map_err(|e| unreadable(path, &e))?;
            h.set_entry_type(tar::EntryType::Symlink);
            self.tar.append_link(&mut h, rel, target).map_err(what)
        } else if kind.is_file() {
            self.file(path, rel, meta, h)
        } else if kind.is_socket() {
            Ok(())
        } else {
            let (entry_type, device) = if kind.is_fifo() {
                (tar::EntryType::Fifo, false)
            } else if kind.is_char_device() {
                (tar::EntryType::Char, true)
            } else {
                (tar::EntryType::Block, true)
            };
            h.set_entry_type(entry_type);
            if device {
                let rdev = meta.rdev();
                h.set_device_major(nix::sys::stat::major(rdev) as u32)?;
                h.set_device_minor(nix::sys::stat::minor(rdev) as u32)?;
            }
            self.tar.append_data(&mut h, rel, io::empty()).map_err(what)
        }
    }

    /// A regular file, opened without following a symlink swapped in since it was listed;
    /// a second name of a file already written becomes a hard link to it.
    fn file(
        &mut self,
        path: &Path,
        rel: &str,
        meta: &Metadata,
        mut h: tar::Header,
    ) -> io::Result<()> {
        let what = |e: io::Error| io::Error::new(e.kind(), format!("archive {rel}: {e}"));
        let inode = (meta.dev(), meta.ino());
        if meta.nlink() > 1 {
            if let Some(first) = self.links.get(&inode).cloned() {
                h.set_entry_type(tar::EntryType::Link);
                return self.tar.append_link(&mut h, rel, first).map_err(what);
            }
            self.links.insert(inode, rel.to_string());
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(path)
            .map_err(|e| unreadable(path, &e))?;
        let opened = file.metadata().map_err(|e| unreadable(path, &e))?;
        if !opened.is_file() || (opened.dev(), opened.ino()) != inode {
            return Err(io::Error::other(format!(
                "error checking context: {} changed while it was read",
                path.display()
            )));
        }
        let size = opened.len();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(size);
        // A file that shrinks while it is read is padded, one that grows cut, as GNU tar does.
        let data = file.take(size).chain(io::repeat(0)).take(size);
        self.tar.append_data(&mut h, rel, data).map_err(what)
    }

    /// A file that is not in the directory (`.dockerignore` rewritten, a Dockerfile).
    fn extra(&mut self, name: &str, contents: &[u8]) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o600);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(contents.len() as u64);
        h.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        self.tar.append_data(&mut h, name, contents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_build::ignore::Matcher;

    /// Names and kinds in the archive of `root` with `patterns`.
    fn archive(root: &Path, patterns: &[&str]) -> Vec<(String, char, u64)> {
        let plan = Plan {
            root: root.to_path_buf(),
            dockerfile: "Dockerfile".into(),
            matcher: Matcher::new(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>())
                .unwrap(),
            added: None,
        };
        let mut bytes = Vec::new();
        spawn(plan).read_to_end(&mut bytes).unwrap();
        let mut tar = tar::Archive::new(bytes.as_slice());
        tar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
                let kind = match h.entry_type() {
                    tar::EntryType::Directory => 'd',
                    tar::EntryType::Symlink => 'l',
                    tar::EntryType::Link => 'h',
                    _ => 'f',
                };
                (
                    e.path().unwrap().display().to_string(),
                    kind,
                    h.mode().unwrap() as u64,
                )
            })
            .collect()
    }

    #[test]
    fn a_context_that_cannot_be_read_is_an_error_not_a_short_archive() {
        let plan = Plan {
            root: "/nonexistent/berth-context".into(),
            dockerfile: "Dockerfile".into(),
            matcher: Matcher::new(&[]).unwrap(),
            added: None,
        };
        let mut bytes = Vec::new();
        let err = spawn(plan).read_to_end(&mut bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "error checking context: can't stat '/nonexistent/berth-context': no such file or directory"
        );
    }

    #[test]
    fn ignored_files_stay_home_and_exceptions_come_back() {
        let dir = std::env::temp_dir().join(format!("berth-build-tree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("logs/keep")).unwrap();
        std::fs::create_dir_all(dir.join("src/deep")).unwrap();
        std::fs::write(dir.join("logs/a.log"), "x").unwrap();
        std::fs::write(dir.join("logs/keep/b.log"), "x").unwrap();
        std::fs::write(dir.join("src/deep/x.tmp"), "x").unwrap();
        std::fs::write(dir.join("src/main.rs"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).unwrap();
        std::fs::hard_link(dir.join("src/main.rs"), dir.join("twin")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("src/main.rs"),
            std::fs::Permissions::from_mode(0o751),
        )
        .unwrap();
        let got = archive(&dir, &["logs", "!logs/keep/*.log", "**/*.tmp"]);
        let _ = std::fs::remove_dir_all(&dir);
        let names: Vec<(&str, char)> = got.iter().map(|(n, k, _)| (n.as_str(), *k)).collect();
        assert_eq!(
            names,
            [
                ("link", 'l'),
                ("logs/keep/b.log", 'f'),
                ("src/", 'd'),
                ("src/deep/", 'd'),
                ("src/main.rs", 'f'),
                ("twin", 'h'),
            ]
        );
        assert_eq!(got[4].2, 0o751);
    }
}
