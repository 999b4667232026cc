//! Compressing layers for a push: a stored layer (plain, gzip or zstd) becomes a gzip or zstd
//! blob in the store. Levels favour speed: pushing is bound by compression time far more than by
//! a few percent of size.

use std::io::{BufReader, Read};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layer::{decompress, detect, Compression};
use crate::store::BlobStore;

/// gzip level 1: several times faster than the default 6, and the layers it makes are about
/// a tenth larger.
pub const GZIP_LEVEL: u32 = 1;
/// zstd level 3 (zstd's own default): faster than gzip level 1 and smaller than gzip level 6.
pub const ZSTD_LEVEL: i32 = 3;

/// How the stored blob `digest` is compressed, from its first bytes.
pub fn stored_compression(blobs: &BlobStore, digest: &Digest) -> Result<Compression> {
    let mut head = [0u8; 4];
    let mut file = blobs.open_blob(digest)?;
    let mut filled = 0;
    while filled < head.len() {
        let n = file.read(&mut head[filled..]).map_err(|e| Error::Io {
            context: format!("read blob {digest}"),
            source: e,
        })?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(detect(&head[..filled]))
}

/// Stores the layer `digest` compressed as `target` and returns the new blob's digest and size.
/// A layer already compressed that way is returned as it is; one compressed otherwise is
/// decompressed first. `target` must be gzip or zstd.
pub fn compress_layer(
    blobs: &BlobStore,
    digest: &Digest,
    target: Compression,
) -> Result<(Digest, u64)> {
    if target == Compression::None {
        return Err(Error::Io {
            context: format!("compress layer {digest}"),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the target compression must be gzip or zstd",
            ),
        });
    }
    let current = stored_compression(blobs, digest)?;
    if current == target {
        let size = blob_size(blobs, digest)?;
        return Ok((digest.clone(), size));
    }
    let file = BufReader::with_capacity(1 << 20, blobs.open_blob(digest)?);
    let plain = decompress(file)?;
    let context = || format!("compress layer {digest}");
    match target {
        Compression::Gzip => {
            let mut encoder =
                flate2::read::GzEncoder::new(plain, flate2::Compression::new(GZIP_LEVEL));
            blobs
                .put_stream(&mut encoder)
                .map_err(|e| wrap(e, context()))
        }
        Compression::Zstd => {
            let mut encoder =
                zstd::stream::read::Encoder::new(plain, ZSTD_LEVEL).map_err(|e| Error::Io {
                    context: context(),
                    source: e,
                })?;
            blobs
                .put_stream(&mut encoder)
                .map_err(|e| wrap(e, context()))
        }
        Compression::None => unreachable!("refused above"),
    }
}

/// The size in bytes of a stored blob.
pub fn blob_size(blobs: &BlobStore, digest: &Digest) -> Result<u64> {
    let file = blobs.open_blob(digest)?;
    file.metadata().map(|m| m.len()).map_err(|e| Error::Io {
        context: format!("stat blob {digest}"),
        source: e,
    })
}

/// Adds which layer was being compressed to an I/O error from the store.
fn wrap(error: Error, context: String) -> Error {
    match error {
        Error::Io {
            context: inner,
            source,
        } => Error::Io {
            context: format!("{context}: {inner}"),
            source,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256;

    fn plain_layer() -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let data = b"hello from a layer\n".repeat(1000);
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, "etc/greeting", &data[..]).unwrap();
        tar.into_inner().unwrap()
    }

    /// Removes the test's store even when an assertion fails.
    struct TempDir(std::path::PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn layers_convert_between_compressions_and_keep_their_content() {
        let dir = std::env::temp_dir().join(format!("berth-compress-{}", std::process::id()));
        let dir = TempDir(dir);
        let blobs = BlobStore::open(&dir.0).unwrap();
        let layer = plain_layer();
        let plain = blobs.put_new(&layer).unwrap();
        assert_eq!(
            stored_compression(&blobs, &plain).unwrap(),
            Compression::None
        );

        let (gz, gz_size) = compress_layer(&blobs, &plain, Compression::Gzip).unwrap();
        assert_eq!(stored_compression(&blobs, &gz).unwrap(), Compression::Gzip);
        assert!(gz_size < layer.len() as u64 / 4, "{gz_size}");
        // Deterministic: the same layer compresses to the same blob, so a second push reuses it.
        assert_eq!(
            compress_layer(&blobs, &plain, Compression::Gzip).unwrap().0,
            gz
        );
        // Already gzip: nothing to do.
        assert_eq!(
            compress_layer(&blobs, &gz, Compression::Gzip).unwrap(),
            (gz.clone(), gz_size)
        );

        let (zst, _) = compress_layer(&blobs, &gz, Compression::Zstd).unwrap();
        assert_eq!(stored_compression(&blobs, &zst).unwrap(), Compression::Zstd);
        let mut back = Vec::new();
        decompress(blobs.open_blob(&zst).unwrap())
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(sha256(&back), plain);

        let err = compress_layer(&blobs, &plain, Compression::None).unwrap_err();
        assert!(err.to_string().contains(&plain.to_string()), "{err}");
    }
}
