//! A build's context as it arrives: the request's tar (plain, gzip or zstd) read once, its
//! bytes kept in a [`Spool`], its names in an [`Index`] and every regular file's digest taken
//! on the way in. Nothing is unpacked: a cached COPY (or RUN binding part of the context) needs
//! only the digests, and a COPY that runs reads its files back from the spool, as a RUN that
//! runs does for the directory it binds (see [`super::context_dir`]). `.dockerignore` is
//! applied here, as dockerd does.

use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_build::ignore::Matcher;
use berth_image::digest::{Algorithm, Hasher};
use berth_image::Digest;

use super::files::{Kind, Meta, Tree};
use super::index::{Content, Index, Node};
use super::spool::Spool;
use super::{io_error, BuildError, BuildResult};
use crate::task::blocking;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A received context.
pub struct Context {
    spool: Spool,
    index: Index,
    ignore: Option<Matcher>,
}

/// Keeps what the tar reader reads.
struct Tee<'a, R> {
    inner: R,
    spool: &'a mut Spool,
    /// Where the spool's overflow file goes.
    overflow: &'a Path,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.spool.append(&buf[..n], self.overflow)?;
        Ok(n)
    }
}

fn invalid(e: impl std::fmt::Display) -> BuildError {
    BuildError::Invalid(format!("reading the build context: {e}"))
}

impl Context {
    /// Reads the context tar from `input` (plain, gzip or zstd); a context larger than the
    /// spool keeps in memory overflows into an unlinked file under `tmp`.
    pub async fn receive(tmp: &Path, input: impl Read + Send + 'static) -> BuildResult<Context> {
        let overflow = tmp.join(format!(
            "context-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = tmp.to_path_buf();
        blocking("receive the build context", move || {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&tmp)
                .map_err(io_error(format!("create {}", tmp.display())))?;
            let mut spool = Spool::new();
            let mut input = berth_image::layer::decompress(input)?;
            let index = read_tar(&mut input, &mut spool, &overflow)?;
            // What follows the end-of-archive blocks, so the client's upload completes.
            io::copy(&mut input, &mut io::sink()).map_err(invalid)?;
            let mut context = Context {
                spool,
                index,
                ignore: None,
            };
            if let Some(bytes) = context.read(".dockerignore")? {
                context.ignore = Some(Matcher::from_dockerignore(&bytes).map_err(|e| {
                    BuildError::Invalid(format!("failed to parse .dockerignore: {e}"))
                })?);
            }
            Ok(context)
        })
        .await?
    }

    /// The regular file `rel` (symbolic links followed inside the context); None when it
    /// is not one.
    fn read(&self, rel: &str) -> BuildResult<Option<Vec<u8>>> {
        let Some(content) = self.index.follow(rel).and_then(|n| n.content.as_ref()) else {
            return Ok(None);
        };
        let mut bytes = Vec::with_capacity(content.size as usize);
        self.spool
            .reader(content.offset, content.size)
            .read_to_end(&mut bytes)
            .map_err(io_error(format!("read {rel} from the build context")))?;
        Ok(Some(bytes))
    }

    /// The Dockerfile `name` (a path in the context).
    pub fn dockerfile(&self, name: &str) -> BuildResult<Vec<u8>> {
        self.read(name)?.ok_or_else(|| {
            BuildError::Invalid(format!("Cannot locate specified Dockerfile: {name}"))
        })
    }

    fn node(&self, rel: &str) -> BuildResult<Option<&Node>> {
        let parts: Vec<String> = rel
            .split('/')
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect();
        self.index.lookup(&parts).map_err(|at| {
            BuildError::Invalid(format!(
                "forbidden path {rel}: {} is a symbolic link",
                parts[..=at].join("/")
            ))
        })
    }

    fn content(&self, rel: &str) -> BuildResult<&Content> {
        self.node(rel)?
            .and_then(|n| n.content.as_ref())
            .ok_or_else(|| BuildError::Invalid(format!("{rel} is not a file of the build context")))
    }
}

impl Tree for Context {
    fn lookup(&self, rel: &str) -> BuildResult<Option<Meta>> {
        Ok(self.node(rel)?.map(|n| n.meta.clone()))
    }

    fn list(&self, rel: &str) -> BuildResult<Vec<(String, Meta)>> {
        let node = self
            .node(rel)?
            .filter(|n| n.meta.kind == Kind::Dir)
            .ok_or_else(|| {
                BuildError::Invalid(format!("{rel} is not a directory of the build context"))
            })?;
        Ok(node
            .children()
            .map(|(name, child)| (name.clone(), child.meta.clone()))
            .collect())
    }

    fn open(&self, rel: &str) -> BuildResult<Box<dyn Read + '_>> {
        let content = self.content(rel)?;
        Ok(Box::new(self.spool.reader(content.offset, content.size)))
    }

    fn digest(&self, rel: &str) -> BuildResult<Digest> {
        Ok(self.content(rel)?.digest.clone())
    }

    fn excluded(&self, path: &str) -> bool {
        self.ignore.as_ref().is_some_and(|m| m.excludes(path))
    }

    fn must_walk(&self, dir: &str) -> bool {
        self.ignore.as_ref().is_some_and(|m| m.must_walk(dir))
    }
}

/// Reads the tar from `input` into `spool`, hashing each regular file's bytes; returns the
/// index of its names.
fn read_tar(input: &mut dyn Read, spool: &mut Spool, overflow: &Path) -> BuildResult<Index> {
    let tee = Tee {
        inner: input,
        spool,
        overflow,
    };
    let mut archive = tar::Archive::new(tee);
    let mut index = Index::new();
    let mut buf = vec![0u8; 1 << 16];
    for entry in archive.entries().map_err(invalid)? {
        let mut entry = entry.map_err(invalid)?;
        let name = entry.path().map_err(invalid)?.into_owned();
        let header = entry.header();
        let bad = |e: io::Error| invalid(format!("{}: {e}", name.display()));
        let mode = header.mode().map_err(bad)? & 0o7777;
        let mtime = header.mtime().map_err(bad)?;
        let kind = header.entry_type();
        let meta = |kind| Meta { kind, mode, mtime };
        let added = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let offset = entry.raw_file_position();
                let size = entry.size();
                let mut hasher = Hasher::new(Algorithm::Sha256);
                loop {
                    let n = entry.read(&mut buf).map_err(bad)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
                let content = Content {
                    offset,
                    size,
                    digest: hasher.finish(),
                };
                index.insert(&name, meta(Kind::File { size }), Some(content))
            }
            tar::EntryType::Directory => index.insert(&name, meta(Kind::Dir), None),
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .unwrap_or_default()
                    .into_owned();
                if kind == tar::EntryType::Link {
                    index.hard_link(&name, &target)
                } else {
                    index.insert(&name, meta(Kind::Symlink(target)), None)
                }
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                index.insert(&name, meta(Kind::Other), None)
            }
            other => Err(format!(
                "{}: unsupported entry type {:?}",
                name.display(),
                other
            )),
        };
        added.map_err(invalid)?;
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_testkit::raw_tar_entry as raw;

    async fn receive(tar: Vec<u8>) -> BuildResult<Context> {
        let dir = berth_testkit::TempDir::new("build-context");
        Context::receive(dir.path(), io::Cursor::new(tar)).await
    }

    #[tokio::test]
    async fn files_are_read_back_from_the_spool_with_their_digests() {
        let mut tar = Vec::new();
        raw(
            &mut tar,
            "Dockerfile",
            tar::EntryType::Regular,
            "",
            b"FROM scratch\n",
        );
        raw(
            &mut tar,
            ".dockerignore",
            tar::EntryType::Regular,
            "",
            b"secret\n",
        );
        raw(&mut tar, "src/a", tar::EntryType::Regular, "", b"alpha");
        raw(&mut tar, "src/twin", tar::EntryType::Link, "src/a", b"");
        raw(&mut tar, "secret", tar::EntryType::Regular, "", b"s");
        tar.extend_from_slice(&[0; 1024]);
        let context = receive(tar).await.unwrap();
        assert_eq!(context.dockerfile("Dockerfile").unwrap(), b"FROM scratch\n");
        assert!(context.excluded("secret") && !context.excluded("src/a"));
        let names: Vec<String> = context
            .list("src")
            .unwrap()
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(names, ["a", "twin"]);
        let mut bytes = Vec::new();
        context
            .open("src/twin")
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(bytes, b"alpha");
        assert_eq!(
            context.digest("src/a").unwrap(),
            berth_image::digest::sha256(b"alpha")
        );
        let err = context.dockerfile("missing").err().unwrap();
        assert_eq!(
            err.to_string(),
            "Cannot locate specified Dockerfile: missing"
        );
    }

    #[tokio::test]
    async fn a_hostile_context_reaches_nothing_outside_it() {
        let mut tar = Vec::new();
        raw(&mut tar, "../../escape", tar::EntryType::Regular, "", b"x");
        raw(&mut tar, "/abs", tar::EntryType::Regular, "", b"y");
        raw(&mut tar, "etc", tar::EntryType::Symlink, "/etc", b"");
        raw(
            &mut tar,
            "Dockerfile",
            tar::EntryType::Symlink,
            "../../../etc/hostname",
            b"",
        );
        tar.extend_from_slice(&[0; 1024]);
        let context = receive(tar).await.unwrap();
        // Cleaned into the context, as unpacking would.
        assert_eq!(context.lookup("escape").unwrap().unwrap().mode, 0o644);
        assert!(context.lookup("abs").unwrap().is_some());
        let err = context.lookup("etc/passwd").err().unwrap();
        assert_eq!(
            err.to_string(),
            "forbidden path etc/passwd: etc is a symbolic link"
        );
        // The link is followed inside the context, where there is no etc/hostname.
        assert!(context.dockerfile("Dockerfile").is_err());

        let mut tar = Vec::new();
        raw(&mut tar, "passwd", tar::EntryType::Link, "/etc/passwd", b"");
        let err = receive(tar).await.err().unwrap();
        assert_eq!(
            err.to_string(),
            "reading the build context: passwd: a hard link to /etc/passwd, which is not a file of the context"
        );

        let mut tar = Vec::new();
        raw(&mut tar, "f", tar::EntryType::Regular, "", b"x");
        raw(&mut tar, "f/g", tar::EntryType::Regular, "", b"x");
        let err = receive(tar).await.err().unwrap();
        assert!(err.to_string().contains("f is not a directory"), "{err}");
    }
}
