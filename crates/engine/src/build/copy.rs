//! The sources of a COPY or ADD: their hash, which the step's cache key needs, and their tar,
//! which only a step that runs needs. From the context the hash comes from the digests taken
//! as it arrived; from another stage or image it is remembered by the image's id (which fixes
//! every byte of its file system), so a cached build mounts nothing.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use berth_image::Digest;
use serde_json::json;

use super::files::{self, CopySpec, DirTree};
use super::run_mounts::Scratch;
use super::stage::Run;
use super::{download, io_error, BuildError, BuildResult};
use crate::task::blocking;

static NEXT_TAR: AtomicU64 = AtomicU64::new(0);

/// How many copies from images [`CopyMemo`] remembers before it starts over.
const MEMO_ENTRIES: usize = 4096;

/// The hashes of copies from images, by image and copy.
#[derive(Default)]
pub struct CopyMemo(Mutex<HashMap<Digest, (Digest, &'static str)>>);

impl CopyMemo {
    fn key(image: &Digest, spec: &CopySpec) -> Digest {
        let text = json!({
            "image": image.to_string(),
            "instruction": spec.instruction,
            "sources": spec.sources,
            "dest": spec.dest,
            "owner": spec.owner,
            "mode": spec.mode,
            "unpack": spec.unpack_archives,
        });
        berth_image::digest::sha256(text.to_string().as_bytes())
    }

    fn get(&self, key: &Digest) -> Option<(Digest, &'static str)> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn put(&self, key: Digest, value: (Digest, &'static str)) {
        let mut memo = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if memo.len() >= MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(key, value);
    }
}

/// A temporary file removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A copy's sources, hashed.
pub(super) struct Sources {
    spec: CopySpec,
    /// The stage's or image's files they come from; None: the context.
    from: Option<Digest>,
    /// Over every entry's path, type, mode, owner, link target and content.
    pub hash: Digest,
    /// `file`, `dir` or `multi`, as Docker's history names a copy's source.
    pub kind: &'static str,
    /// Their tar, when hashing had to write it.
    tar: Option<TempFile>,
}

impl Sources {
    /// Where their tar is, once [`Run::copy_tar`] wrote it.
    pub(super) fn tar_path(&self) -> Option<&std::path::Path> {
        self.tar.as_ref().map(|tar| tar.0.as_path())
    }
}

impl Run<'_> {
    fn temp_tar(&self) -> TempFile {
        TempFile(self.service.root.join("tmp").join(format!(
            "copy-{}-{}.tar",
            std::process::id(),
            NEXT_TAR.fetch_add(1, Ordering::Relaxed)
        )))
    }

    /// Hashes what `spec` takes from the context, or from the image `from`.
    pub(super) async fn copy_sources(
        &self,
        spec: CopySpec,
        from: Option<Digest>,
    ) -> BuildResult<Sources> {
        if spec.sources.iter().any(|s| download::is_url(s)) {
            return self.downloaded_sources(spec).await;
        }
        let Some(image) = from else {
            let selection = files::select(self.context, &spec)?;
            let hash = selection.hash(self.context, &spec)?;
            return Ok(Sources {
                spec,
                from: None,
                hash,
                kind: selection.kind,
                tar: None,
            });
        };
        let memo_key = CopyMemo::key(&image, &spec);
        if let Some((hash, kind)) = self.service.copies.get(&memo_key) {
            return Ok(Sources {
                spec,
                from: Some(image),
                hash,
                kind,
                tar: None,
            });
        }
        // Mounted now, so written now: a step that then runs needs no second mount.
        let tar = self.temp_tar();
        let (path, for_tar) = (tar.0.clone(), spec.clone());
        let (hash, kind) = self
            .with_rootfs(&image, move |root| {
                hash_and_write(&DirTree { root }, &for_tar, &path)
            })
            .await?;
        self.service.copies.put(memo_key, (hash.clone(), kind));
        Ok(Sources {
            spec,
            from: Some(image),
            hash,
            kind,
            tar: Some(tar),
        })
    }

    /// `ADD <url>…`: every source fetched (see [`download`]) into a directory of the build's
    /// own, hashed and written to the copy's tar at once; the directory goes after.
    async fn downloaded_sources(&self, spec: CopySpec) -> BuildResult<Sources> {
        if spec.instruction != "ADD" {
            return Err(BuildError::Invalid("source can't be a URL for COPY".into()));
        }
        if !spec.sources.iter().all(|s| download::is_url(s)) {
            return Err(BuildError::Invalid(
                "ADD of URLs and of files from the context in one instruction is not supported: split it in two".into(),
            ));
        }
        let dir = Scratch::new(&self.service.root.join("tmp"), "add")?;
        let tar = self.temp_tar();
        let (root, path, urls) = (dir.0.clone(), tar.0.clone(), spec.sources.clone());
        let mut local = spec.clone();
        // A downloaded archive is never unpacked.
        local.unpack_archives = false;
        let (hash, kind) = blocking("download", move || {
            let mut names = Vec::new();
            for url in &urls {
                let name = download::fetch(url, &root)?;
                if names.contains(&name) {
                    return Err(BuildError::Invalid(format!(
                        "two sources of ADD download to the same name {name}"
                    )));
                }
                names.push(name);
            }
            local.sources = names;
            hash_and_write(&DirTree { root: &root }, &local, &path)
        })
        .await??;
        Ok(Sources {
            spec,
            from: None,
            hash,
            kind,
            tar: Some(tar),
        })
    }

    /// The tar of `sources`, opened for reading; written now if hashing did not write it.
    pub(super) async fn copy_tar(&self, sources: &mut Sources) -> BuildResult<File> {
        if sources.tar.is_none() {
            let tar = self.temp_tar();
            match &sources.from {
                None => {
                    // The spool is read on the build's own task, as the context was received
                    // on the blocking pool: these are memory reads and local writes.
                    let selection = files::select(self.context, &sources.spec)?;
                    selection.write(self.context, &sources.spec, create(&tar.0)?)?;
                }
                Some(image) => {
                    let (path, spec) = (tar.0.clone(), sources.spec.clone());
                    self.with_rootfs(image, move |root| {
                        let tree = DirTree { root };
                        files::select(&tree, &spec)?.write(&tree, &spec, create(&path)?)
                    })
                    .await?;
                }
            }
            sources.tar = Some(tar);
        }
        let path = &sources.tar.as_ref().expect("the tar was just written").0;
        File::open(path).map_err(io_error(format!("open {}", path.display())))
    }
}

/// Selects what `spec` copies from `tree`, writes its tar to `path`; returns its hash and
/// kind.
fn hash_and_write(
    tree: &dyn files::Tree,
    spec: &CopySpec,
    path: &std::path::Path,
) -> BuildResult<(Digest, &'static str)> {
    let selection = files::select(tree, spec)?;
    let hash = selection.hash(tree, spec)?;
    selection.write(tree, spec, create(path)?)?;
    Ok((hash, selection.kind))
}

fn create(path: &std::path::Path) -> BuildResult<File> {
    File::create(path).map_err(io_error(format!("create {}", path.display())))
}
