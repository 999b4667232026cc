//! `save`: images → one tar stream, either the archive current Docker writes (`manifest.json`
//! and `repositories` beside an OCI layout, uncompressed layers) or a pure OCI layout with the
//! layers kept as stored (podman's `oci-archive`).
//!
//! Memory stays bounded: a compressed layer is decompressed twice, once to learn its size and
//! check it against its diff id, once to write it after a header carrying that size.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};

use serde_json::{json, Value};

use crate::digest::{Digest, HashingReader};
use crate::error::{Context, Error, Result};
use crate::images::{ImageRecord, ImageStore};
use crate::layer::{self, Compression};
use crate::reference::Reference;
use crate::store::BlobStore;

/// Which archive `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// What `docker save` writes since Docker 25: `docker load`, `skopeo docker-archive:` and
    /// `oci-archive:` all read it.
    Docker,
    /// An OCI image layout only (`podman save --format oci-archive`).
    Oci,
}

/// Media types of the OCI image specification.
pub(crate) mod media {
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
}

/// The annotation containerd and Docker put the full image name in.
pub(crate) const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI annotation naming a manifest in an index (Docker writes the tag there).
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One image to save and the names it is saved under.
struct Saved {
    record: ImageRecord,
    names: Vec<Reference>,
}

/// Resolves the arguments of `save`: a name saves the image under that name; an id saves it
/// with no name. Several arguments naming one image save it once with all those names.
fn resolve(store: &ImageStore, names_or_ids: &[&str]) -> Result<Vec<Saved>> {
    let mut saved: Vec<Saved> = Vec::new();
    for arg in names_or_ids {
        let record = store
            .get(arg)
            .ok_or_else(|| Error::ImageNotFound(arg.to_string()))?;
        let name = arg
            .parse::<Reference>()
            .ok()
            .filter(|r| r.digest().is_none())
            .filter(|r| store.names_of(&record.id).contains(&r.to_string().as_str()));
        let entry = match saved.iter_mut().position(|s| s.record.id == record.id) {
            Some(i) => &mut saved[i],
            None => {
                saved.push(Saved {
                    record: record.clone(),
                    names: Vec::new(),
                });
                saved.last_mut().expect("just pushed")
            }
        };
        if let Some(name) = name {
            if !entry.names.contains(&name) {
                entry.names.push(name);
            }
        }
    }
    Ok(saved)
}

/// Writes the images `names_or_ids` (names or ids, several at once) to `out` as one archive.
pub fn save(
    store: &ImageStore,
    names_or_ids: &[&str],
    format: Format,
    out: impl Write,
) -> Result<()> {
    let images = resolve(store, names_or_ids)?;
    let mut w = ArchiveWriter {
        tar: tar::Builder::new(out),
        written: HashSet::new(),
    };
    w.dir("blobs/")?;
    w.dir("blobs/sha256/")?;
    let mut index = Vec::new();
    let mut docker_manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for image in &images {
        let record = &image.record;
        let mut layers = Vec::new();
        for (stored, diff_id) in record.layers.iter().zip(&record.diff_ids) {
            layers.push(match format {
                Format::Docker => w.uncompressed_layer(store.blobs(), stored, diff_id)?,
                Format::Oci => w.stored_layer(store.blobs(), stored)?,
            });
        }
        let config_size = w.blob(store.blobs(), &record.id)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::MANIFEST,
            "config": { "mediaType": media::CONFIG, "digest": record.id, "size": config_size },
            "layers": layers,
        });
        let manifest = serde_json::to_vec(&manifest).expect("JSON values serialise");
        let manifest_digest = crate::digest::sha256(&manifest);
        w.bytes(&blob_path(&manifest_digest), &manifest)?;
        let descriptor = |annotations: Option<Value>| {
            let mut d = json!({
                "mediaType": media::MANIFEST,
                "digest": manifest_digest,
                "size": manifest.len(),
            });
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if image.names.is_empty() {
            index.push(descriptor(None));
        }
        for name in &image.names {
            index.push(descriptor(Some(json!({
                CONTAINERD_NAME: name.to_string(),
                REF_NAME: name.tag().unwrap_or("latest"),
            }))));
            let familiar = name.familiar();
            let (repo, tag) = familiar
                .rsplit_once(':')
                .expect("a familiar name without digest ends in its tag");
            repositories
                .entry(repo.to_string())
                .or_default()
                .insert(tag.to_string(), record.id.hex().to_string());
        }
        let tags: Vec<String> = image.names.iter().map(Reference::familiar).collect();
        docker_manifest.push(json!({
            "Config": blob_path(&record.id),
            "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
            "Layers": record.diff_ids.iter().map(blob_path).collect::<Vec<_>>(),
        }));
    }
    let index = json!({ "schemaVersion": 2, "mediaType": media::INDEX, "manifests": index });
    w.bytes(
        "index.json",
        &serde_json::to_vec(&index).expect("JSON values serialise"),
    )?;
    w.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    if format == Format::Docker {
        w.bytes(
            "manifest.json",
            &serde_json::to_vec(&docker_manifest).expect("JSON values serialise"),
        )?;
        if !repositories.is_empty() {
            w.bytes(
                "repositories",
                &serde_json::to_vec(&repositories).expect("JSON values serialise"),
            )?;
        }
    }
    w.tar
        .into_inner()
        .and_then(|mut out| out.flush())
        .context(|| "finish image archive")
}

/// Where a blob lives in an OCI layout.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}

struct ArchiveWriter<W: Write> {
    tar: tar::Builder<W>,
    written: HashSet<String>,
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

impl<W: Write> ArchiveWriter<W> {
    fn dir(&mut self, path: &str) -> Result<()> {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        self.tar
            .append_data(&mut h, path, io::empty())
            .context(|| format!("write {path} to the archive"))
    }

    /// Writes `size` bytes from `data` as the file `path`; fails if `data` holds fewer.
    fn file(&mut self, path: &str, size: u64, data: impl Read) -> Result<()> {
        let mut h = header(tar::EntryType::Regular, 0o644, size);
        let mut exact = Exact {
            inner: data.take(size),
            remaining: size,
        };
        self.tar
            .append_data(&mut h, path, &mut exact)
            .context(|| format!("write {path} to the archive"))?;
        self.written.insert(path.to_string());
        Ok(())
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<()> {
        if self.written.contains(path) {
            return Ok(());
        }
        self.file(path, data.len() as u64, data)
    }

    /// Copies a stored blob as is; returns its size.
    fn blob(&mut self, blobs: &BlobStore, digest: &Digest) -> Result<u64> {
        let file = blobs.open_blob(digest)?;
        let size = file
            .metadata()
            .context(|| format!("stat blob {digest}"))?
            .len();
        let path = blob_path(digest);
        if !self.written.contains(&path) {
            // The store verified the content when it took it; a file changed since fails here.
            let mut hashing = HashingReader::new(file, digest.algorithm());
            self.file(&path, size, &mut hashing)?;
            hashing.verify(digest)?;
        }
        Ok(size)
    }

    /// A layer in its stored compression; returns its descriptor.
    fn stored_layer(&mut self, blobs: &BlobStore, digest: &Digest) -> Result<Value> {
        let compression = compression_of(blobs, digest)?;
        let size = self.blob(blobs, digest)?;
        let media_type = match compression {
            Compression::None => media::LAYER,
            Compression::Gzip => media::LAYER_GZIP,
            Compression::Zstd => media::LAYER_ZSTD,
        };
        Ok(json!({ "mediaType": media_type, "digest": digest, "size": size }))
    }

    /// A layer as the uncompressed tar `diff_id`; returns its descriptor.
    fn uncompressed_layer(
        &mut self,
        blobs: &BlobStore,
        stored: &Digest,
        diff_id: &Digest,
    ) -> Result<Value> {
        let size = if stored == diff_id {
            self.blob(blobs, stored)?
        } else {
            let size = uncompressed_size(blobs, stored, diff_id)?;
            let path = blob_path(diff_id);
            if !self.written.contains(&path) {
                let tar = layer::decompress(blobs.open_blob(stored)?)?;
                let mut hashing = HashingReader::new(tar, diff_id.algorithm());
                self.file(&path, size, &mut hashing)?;
                hashing.verify(diff_id)?;
            }
            size
        };
        Ok(json!({ "mediaType": media::LAYER, "digest": diff_id, "size": size }))
    }
}

/// The compression of a stored layer, from its first bytes.
pub(crate) fn compression_of(blobs: &BlobStore, digest: &Digest) -> Result<Compression> {
    let mut head = [0u8; 4];
    let mut file = blobs.open_blob(digest)?;
    let mut n = 0;
    while n < head.len() {
        match file
            .read(&mut head[n..])
            .context(|| format!("read blob {digest}"))?
        {
            0 => break,
            read => n += read,
        }
    }
    Ok(layer::detect(&head[..n]))
}

/// Decompresses the stored layer `stored` to count its bytes, checking they are `diff_id`.
pub(crate) fn uncompressed_size(
    blobs: &BlobStore,
    stored: &Digest,
    diff_id: &Digest,
) -> Result<u64> {
    let tar = layer::decompress(blobs.open_blob(stored)?)?;
    let mut hashing = HashingReader::new(tar, diff_id.algorithm());
    io::copy(&mut hashing, &mut io::sink()).context(|| format!("decompress layer {stored}"))?;
    hashing.verify(diff_id)
}

/// A reader that fails instead of ending early: a tar entry must hold as many bytes as its
/// header says.
struct Exact<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} bytes short of the announced size", self.remaining),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}
