//! A build's context: the request's tar unpacked (confined, as `docker cp` unpacks) into a
//! private directory that is removed when the build ends, and its `.dockerignore`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use berth_build::ignore::Matcher;

use super::files::resolve;
use super::{io_error, BuildError, BuildResult};
use crate::task::blocking;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// An unpacked context; its directory goes away on drop.
#[derive(Debug)]
pub struct Context {
    dir: PathBuf,
    ignore: Option<Matcher>,
}

impl Context {
    /// Unpacks the context tar read from `input` (plain, gzip or zstd) under `tmp`.
    pub async fn unpack(tmp: &Path, input: impl Read + Send + 'static) -> BuildResult<Context> {
        let dir = tmp.join(format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let target = dir.clone();
        blocking("unpack build context", move || -> BuildResult<Context> {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&target)
                .map_err(io_error(format!("create {}", target.display())))?;
            // From here on the directory is removed however this ends.
            let mut context = Context {
                dir: target,
                ignore: None,
            };
            let root = std::fs::File::open(&context.dir)
                .map_err(io_error(format!("open {}", context.dir.display())))?;
            let input = berth_image::layer::decompress(input)?;
            let options = berth_image::extract::Extract::default();
            berth_image::extract::extract(std::os::fd::AsFd::as_fd(&root), input, &options)
                .map_err(|e| BuildError::Invalid(format!("reading the build context: {e}")))?;
            if let Some(path) = resolve(&context.dir, ".dockerignore")? {
                let bytes = std::fs::read(&path).map_err(io_error("read .dockerignore"))?;
                context.ignore = Some(Matcher::from_dockerignore(&bytes).map_err(|e| {
                    BuildError::Invalid(format!("failed to parse .dockerignore: {e}"))
                })?);
            }
            Ok(context)
        })
        .await?
    }

    /// The Dockerfile `name` (a path in the context).
    pub fn dockerfile(&self, name: &str) -> BuildResult<Vec<u8>> {
        let missing = || BuildError::Invalid(format!("Cannot locate specified Dockerfile: {name}"));
        let path = resolve(&self.dir, name)
            .map_err(|_| missing())?
            .ok_or_else(missing)?;
        std::fs::read(&path).map_err(|_| missing())
    }

    /// The unpacked context.
    pub fn root(&self) -> &Path {
        &self.dir
    }

    /// Whether `.dockerignore` leaves `path` (relative, `/`-separated) out of the context.
    pub fn excluded(&self, path: &str) -> bool {
        self.ignore.as_ref().is_some_and(|m| m.excludes(path))
    }

    /// Whether a directory left out may still hold paths put back by a `!` pattern.
    pub fn must_walk(&self, dir: &str) -> bool {
        self.ignore.as_ref().is_some_and(|m| m.must_walk(dir))
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("berthd: removing build context {}: {e}", self.dir.display());
            }
        }
    }
}
