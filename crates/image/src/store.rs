//! The content-addressed blob store: `<root>/blobs/<algorithm>/<hex>`.
//!
//! A blob is written to `<root>/ingest/`, hashed as it streams in, checked against the digest
//! and size it was announced with, fsynced and only then renamed into place: a blob under
//! `blobs/` always matches its name. A write that fails or is abandoned leaves no blob.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{Context, Error, Result};

static INGEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A directory of blobs named by their digest.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

fn mkdir_private(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .context(|| format!("create {}", path.display()))
}

impl BlobStore {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: &Path) -> Result<Self> {
        for dir in ["blobs/sha256", "blobs/sha512", "ingest"] {
            mkdir_private(&root.join(dir))?;
        }
        Ok(BlobStore {
            root: root.to_path_buf(),
        })
    }

    /// Where the blob `digest` lives (whether or not it is there).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        // Digest validation guarantees the name is plain hex: no separators, no dots.
        self.root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Starts writing a blob announced as `expected` (and `expected_size`, when known).
    pub fn writer(&self, expected: &Digest, expected_size: Option<u64>) -> Result<BlobWriter> {
        let (tmp, file) = self.ingest_file(expected.hex())?;
        Ok(BlobWriter {
            file: Some(file),
            tmp,
            target: self.path(expected),
            hasher: Some(Hasher::new(expected.algorithm())),
            size: 0,
            expected: expected.clone(),
            expected_size,
        })
    }

    /// Stores `data` as the blob `expected`, refusing it if it does not match.
    pub fn put(&self, expected: &Digest, data: &[u8]) -> Result<()> {
        let mut writer = self.writer(expected, Some(data.len() as u64))?;
        writer
            .write_all(data)
            .context(|| format!("write blob {expected}"))?;
        writer.commit()
    }

    /// Stores `data` under its sha256 digest and returns the digest.
    pub fn put_new(&self, data: &[u8]) -> Result<Digest> {
        let digest = crate::digest::sha256(data);
        self.put(&digest, data)?;
        Ok(digest)
    }

    /// Stores whatever `input` yields under its sha256 digest (content whose digest is not known
    /// in advance, such as the files of an image archive). Returns the digest and size.
    pub fn put_stream(&self, input: &mut impl Read) -> Result<(Digest, u64)> {
        let (tmp, mut file) = self.ingest_file("unnamed")?;
        let guard = RemoveOnDrop(&tmp);
        let mut hasher = Hasher::new(Algorithm::Sha256);
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = input.read(&mut buf).context(|| "read blob content")?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .context(|| format!("write {}", tmp.display()))?;
            size += n as u64;
        }
        let digest = hasher.finish();
        self.install(&tmp, file, &digest)?;
        std::mem::forget(guard);
        Ok((digest, size))
    }

    /// Stores what `produce` writes under the digest it returns, which is trusted: for
    /// content berth makes itself and hashes as it writes it (a container's diff), so that
    /// it is neither piped nor hashed a second time. Returns the digest and size.
    pub fn put_produced(
        &self,
        produce: impl FnOnce(&mut dyn Write) -> Result<Digest>,
    ) -> Result<(Digest, u64)> {
        let (tmp, file) = self.ingest_file("unnamed")?;
        let guard = RemoveOnDrop(&tmp);
        let mut out = io::BufWriter::with_capacity(1 << 20, file);
        let digest = produce(&mut out)?;
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .context(|| format!("write {}", tmp.display()))?;
        let size = file
            .metadata()
            .context(|| format!("stat {}", tmp.display()))?
            .len();
        self.install(&tmp, file, &digest)?;
        std::mem::forget(guard);
        Ok((digest, size))
    }

    /// A new file in `ingest/`, named after `what` it will hold (the expected digest's hex, or
    /// `unnamed` while the digest is not known yet).
    fn ingest_file(&self, what: &str) -> Result<(PathBuf, File)> {
        let tmp = self.root.join("ingest").join(format!(
            "{what}-{}-{}",
            std::process::id(),
            INGEST_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .context(|| format!("create {}", tmp.display()))?;
        Ok((tmp, file))
    }

    /// Makes the ingested `file` durable and moves it into place as the blob `digest`.
    fn install(&self, tmp: &Path, file: File, digest: &Digest) -> Result<()> {
        file.sync_all().context(|| format!("fsync blob {digest}"))?;
        drop(file);
        let target = self.path(digest);
        fs::rename(tmp, &target).context(|| format!("store blob {digest}"))?;
        if let Some(dir) = target.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .context(|| format!("fsync {}", dir.display()))?;
        }
        Ok(())
    }

    /// Opens a stored blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        File::open(self.path(digest)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(digest.to_string()),
            _ => Error::Io {
                context: format!("open blob {digest}"),
                source: e,
            },
        })
    }

    /// Reads a whole blob, checking it still matches its digest.
    pub fn get(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut data)
            .context(|| format!("read blob {digest}"))?;
        let actual = hash_of(digest.algorithm(), &data);
        if &actual != digest {
            return Err(Error::DigestMismatch {
                digest: digest.to_string(),
                actual: actual.to_string(),
                size: data.len() as u64,
            });
        }
        Ok(data)
    }

    /// Re-hashes a stored blob (`image verify`): an error if it no longer matches its name.
    pub fn verify(&self, digest: &Digest) -> Result<()> {
        let mut file = self.open_blob(digest)?;
        let mut hasher = Hasher::new(digest.algorithm());
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .context(|| format!("read blob {digest}"))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        let actual = hasher.finish();
        if &actual != digest {
            return Err(Error::DigestMismatch {
                digest: digest.to_string(),
                actual: actual.to_string(),
                size,
            });
        }
        Ok(())
    }

    /// Removes a blob; removing one that is not there is not an error.
    pub fn delete(&self, digest: &Digest) -> Result<()> {
        match fs::remove_file(self.path(digest)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(e).context(|| format!("remove blob {digest}"))
            }
            _ => Ok(()),
        }
    }

    /// Every stored blob, sorted. Files under `blobs/` that are not valid digests are skipped.
    pub fn digests(&self) -> Result<Vec<Digest>> {
        let mut all = Vec::new();
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.root.join("blobs").join(algorithm.name());
            for entry in fs::read_dir(&dir).context(|| format!("read {}", dir.display()))? {
                let entry = entry.context(|| format!("read {}", dir.display()))?;
                let name = format!(
                    "{}:{}",
                    algorithm.name(),
                    entry.file_name().to_string_lossy()
                );
                if let Ok(digest) = name.parse() {
                    all.push(digest);
                }
            }
        }
        all.sort();
        Ok(all)
    }

    /// Removes ingest files left by writers that died (a killed pull); call when no writer runs.
    pub fn clean_ingest(&self) -> Result<usize> {
        let dir = self.root.join("ingest");
        let mut removed = 0;
        for entry in fs::read_dir(&dir).context(|| format!("read {}", dir.display()))? {
            let entry = entry.context(|| format!("read {}", dir.display()))?;
            fs::remove_file(entry.path())
                .context(|| format!("remove {}", entry.path().display()))?;
            removed += 1;
        }
        Ok(removed)
    }
}

/// Removes a temporary file unless forgotten.
struct RemoveOnDrop<'a>(&'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.0);
    }
}

fn hash_of(algorithm: Algorithm, data: &[u8]) -> Digest {
    let mut h = Hasher::new(algorithm);
    h.update(data);
    h.finish()
}

/// A blob being written; nothing is stored unless [`BlobWriter::commit`] succeeds.
pub struct BlobWriter {
    file: Option<File>,
    tmp: PathBuf,
    target: PathBuf,
    hasher: Option<Hasher>,
    size: u64,
    expected: Digest,
    expected_size: Option<u64>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(limit) = self.expected_size {
            if self.size + buf.len() as u64 > limit {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "blob {} is larger than the announced {limit} bytes",
                        self.expected
                    ),
                ));
            }
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already closed"))?;
        let n = file.write(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl BlobWriter {
    /// Checks size and digest, makes the data durable, and moves the blob into place.
    pub fn commit(mut self) -> Result<()> {
        let digest = self.expected.to_string();
        if let Some(expected) = self.expected_size {
            if expected != self.size {
                return Err(Error::SizeMismatch {
                    digest,
                    expected,
                    actual: self.size,
                });
            }
        }
        let actual = self
            .hasher
            .take()
            .expect("hasher present until commit")
            .finish();
        if actual != self.expected {
            return Err(Error::DigestMismatch {
                digest,
                actual: actual.to_string(),
                size: self.size,
            });
        }
        let file = self.file.take().expect("file present until commit");
        file.sync_all().context(|| format!("fsync blob {digest}"))?;
        drop(file);
        fs::rename(&self.tmp, &self.target).context(|| format!("store blob {digest}"))?;
        if let Some(dir) = self.target.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .context(|| format!("fsync {}", dir.display()))?;
        }
        Ok(())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Not committed (or commit failed before the rename): remove the partial data.
        let _ = fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store(name: &str) -> (PathBuf, BlobStore) {
        let dir = std::env::temp_dir().join(format!("berth-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = BlobStore::open(&dir).unwrap();
        (dir, store)
    }

    #[test]
    fn stored_blobs_are_named_by_their_content() {
        let (dir, store) = temp_store("put");
        let digest = store.put_new(b"hello").unwrap();
        assert!(store.contains(&digest));
        assert_eq!(store.get(&digest).unwrap(), b"hello");
        store.verify(&digest).unwrap();
        assert_eq!(store.digests().unwrap(), vec![digest.clone()]);
        store.delete(&digest).unwrap();
        assert!(!store.contains(&digest));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn content_that_does_not_match_is_never_stored() {
        let (dir, store) = temp_store("mismatch");
        let claimed = crate::digest::sha256(b"the real thing");
        let err = store.put(&claimed, b"something else").unwrap_err();
        assert!(
            matches!(
                err,
                Error::SizeMismatch { .. } | Error::DigestMismatch { .. }
            ),
            "{err}"
        );
        let same_size = crate::digest::sha256(b"abcd");
        let err = store.put(&same_size, b"abce").unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!store.contains(&claimed) && !store.contains(&same_size));
        assert_eq!(
            fs::read_dir(dir.join("ingest")).unwrap().count(),
            0,
            "no partial file left"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn oversized_writes_fail_as_they_happen() {
        let (dir, store) = temp_store("oversize");
        let digest = crate::digest::sha256(b"ab");
        let mut w = store.writer(&digest, Some(2)).unwrap();
        assert!(w.write_all(b"abc").is_err());
        drop(w);
        assert!(!store.contains(&digest));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn verify_detects_a_blob_corrupted_on_disk() {
        let (dir, store) = temp_store("corrupt");
        let digest = store.put_new(b"original").unwrap();
        fs::write(store.path(&digest), b"tampered").unwrap();
        assert!(matches!(
            store.verify(&digest),
            Err(Error::DigestMismatch { .. })
        ));
        assert!(store.get(&digest).is_err());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn abandoned_ingest_files_are_cleaned() {
        let (dir, store) = temp_store("ingest");
        let digest = crate::digest::sha256(b"x");
        let mut w = store.writer(&digest, None).unwrap();
        w.write_all(b"x").unwrap();
        std::mem::forget(w); // as if the process were killed midway
        assert_eq!(store.clean_ingest().unwrap(), 1);
        assert!(!store.contains(&digest));
        fs::remove_dir_all(dir).unwrap();
    }
}
