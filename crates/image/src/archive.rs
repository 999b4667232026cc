//! `load`: images from an image archive, either what `docker save` writes (`manifest.json`,
//! old or new layout) or a pure OCI image layout (`index.json` only, names from annotations).
//!
//! Archives are hostile input. Every regular file goes into the blob store as it streams by
//! (memory stays bounded), and the archive's paths are resolved lexically inside the archive:
//! an entry, link or manifest path that climbs out of it is refused. JSON documents are read
//! only up to 4 MiB. Every image is checked (config, layer count, digests) before any name is
//! recorded, so a refused archive names nothing.

use std::collections::HashMap;
use std::io::Read;

use oci_spec::image::ImageConfiguration;
use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{Context, Error, Result};
use crate::images::{ImageRecord, ImageStore};
use crate::layer::Compression;
use crate::progress::{Event, Observer, Status};
use crate::reference::Reference;
use crate::snapshot::Snapshotter;
use crate::store::BlobStore;

/// One entry of a docker-save `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// An archive that breaks the format or tries to escape it; `what` names the part concerned.
pub(crate) fn invalid(what: String) -> Error {
    Error::Io {
        context: what,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "invalid image archive"),
    }
}

/// Largest JSON document accepted from an archive.
pub(crate) const MAX_JSON: u64 = 4 << 20;

/// How many links one archive path may go through.
const MAX_LINKS: usize = 16;

/// Reduces `path` (relative to the directory `base`) to a path inside the archive, refusing
/// absolute paths and `..` that climbs above the archive's root.
fn normalize(base: &str, path: &str) -> Result<String> {
    if path.starts_with('/') {
        return Err(invalid(format!("path {path:?} is outside the archive")));
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(invalid(format!("path {path:?} is outside the archive")));
                }
            }
            name => parts.push(name),
        }
    }
    Ok(parts.join("/"))
}

/// What an archive holds: its files (stored as blobs) and its links, by normalised path.
#[derive(Default)]
pub(crate) struct Files {
    files: HashMap<String, (Digest, u64)>,
    /// Link path → the normalised path it points at.
    links: HashMap<String, String>,
}

impl Files {
    /// Reads the whole archive, storing each regular file as a blob.
    fn read(blobs: &BlobStore, input: impl Read) -> Result<Files> {
        let mut archive = tar::Archive::new(input);
        let mut files = Files::default();
        for entry in archive.entries().context(|| "read image archive")? {
            let mut entry = entry.context(|| "read image archive entry")?;
            let raw = entry.path().context(|| "read archive path")?;
            let raw = raw.to_string_lossy().into_owned();
            let path = normalize("", &raw)?;
            let parent = path.rsplit_once('/').map_or("", |(dir, _)| dir).to_string();
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let stored = blobs.put_stream(&mut entry)?;
                    files.files.insert(path, stored);
                }
                tar::EntryType::Symlink => {
                    let target = link_target(&entry, &raw)?;
                    files.links.insert(path, normalize(&parent, &target)?);
                }
                tar::EntryType::Link => {
                    let target = link_target(&entry, &raw)?;
                    files.links.insert(path, normalize("", &target)?);
                }
                _ => {}
            }
        }
        Ok(files)
    }

    /// The blob an archive path holds, following links inside the archive.
    pub(crate) fn get(&self, path: &str) -> Result<&(Digest, u64)> {
        let mut path = normalize("", path)?;
        for _ in 0..MAX_LINKS {
            if let Some(found) = self.files.get(&path) {
                return Ok(found);
            }
            match self.links.get(&path) {
                Some(target) => path = target.clone(),
                None => return Err(invalid(format!("the archive has no file {path}"))),
            }
        }
        Err(invalid(format!("too many links from {path}")))
    }

    /// Whether the archive has the file (or link) `path`.
    fn has(&self, path: &str) -> bool {
        self.files.contains_key(path) || self.links.contains_key(path)
    }

    /// Reads the JSON document at `path`, refusing one over 4 MiB.
    pub(crate) fn json<T: for<'de> Deserialize<'de>>(
        &self,
        blobs: &BlobStore,
        path: &str,
    ) -> Result<T> {
        let (digest, size) = self.get(path)?;
        if *size > MAX_JSON {
            return Err(invalid(format!("{path} is larger than 4 MiB")));
        }
        serde_json::from_slice(&blobs.get(digest)?).map_err(|e| invalid(format!("{path}: {e}")))
    }
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>, path: &str) -> Result<String> {
    let target = entry
        .link_name()
        .context(|| format!("read link target of {path}"))?
        .ok_or_else(|| invalid(format!("link {path} has no target")))?;
    Ok(target.to_string_lossy().into_owned())
}

/// An image found in an archive, not yet recorded.
pub(crate) struct Found {
    pub(crate) id: Digest,
    pub(crate) layers: Vec<Digest>,
    pub(crate) diff_ids: Vec<Digest>,
    pub(crate) names: Vec<Reference>,
}

/// Checks an image made of the stored blobs `config` and `layers` (with the archive paths they
/// came from, for errors): the config parses, and lists one diff id per layer, and every
/// uncompressed layer is exactly its diff id (compressed ones are checked when unpacked).
pub(crate) fn check_image(
    blobs: &BlobStore,
    config: (&Digest, &str),
    layers: &[(Digest, String)],
    names: Vec<Reference>,
) -> Result<Found> {
    let (id, config_path) = config;
    let config_size = std::fs::metadata(blobs.path(id))
        .context(|| format!("stat {config_path}"))?
        .len();
    if config_size > MAX_JSON {
        return Err(invalid(format!("{config_path} is larger than 4 MiB")));
    }
    let config_bytes = blobs.get(id)?;
    let parsed = ImageConfiguration::from_reader(&config_bytes[..])
        .map_err(|e| invalid(format!("{config_path}: {e}")))?;
    let diff_ids: Vec<Digest> = parsed
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| d.parse())
        .collect::<Result<_>>()?;
    if diff_ids.len() != layers.len() {
        return Err(invalid(format!(
            "{config_path}: {} layers in the manifest but {} diff_ids in the config",
            layers.len(),
            diff_ids.len()
        )));
    }
    for ((digest, path), diff_id) in layers.iter().zip(&diff_ids) {
        let compression = crate::save::compression_of(blobs, digest)?;
        if compression == Compression::None && digest != diff_id {
            return Err(invalid(format!(
                "layer {path} is {digest}, but the config says {diff_id}"
            )));
        }
        if compression != Compression::None {
            // Checked before any name moves to the image: a refused archive names nothing.
            let tar = crate::layer::decompress(blobs.open_blob(digest)?)?;
            let (actual, _) = crate::digest::HashingReader::new(tar, diff_id.algorithm())
                .finish()
                .context(|| format!("read layer {path}"))?;
            if &actual != diff_id {
                return Err(invalid(format!(
                    "layer {path} unpacks to {actual}, but the config says {diff_id}"
                )));
            }
        }
    }
    Ok(Found {
        id: id.clone(),
        layers: layers.iter().map(|(d, _)| d.clone()).collect(),
        diff_ids,
        names,
    })
}

/// The images of an archive [`read`] brought into the blob store, each once with all its
/// names, for [`unpack`] and [`record`].
pub struct ArchiveImages(Vec<(ImageRecord, Vec<Reference>)>);

/// Loads every image in an image archive (docker-save, either layout, or a pure OCI layout);
/// returns the ids with their names.
pub fn load_docker_archive(
    store: &mut ImageStore,
    input: impl Read,
) -> Result<Vec<(Digest, Vec<Reference>)>> {
    let images = read(store.blobs(), input)?;
    record(store, images)
}

/// Reads an image archive (docker-save, either layout, or a pure OCI layout) into `blobs` and
/// checks its images, recording nothing, so that a store's records stay free while a client
/// sends the archive. Hold [`crate::lock::DataLock::writer`] until [`record`].
pub fn read(blobs: &BlobStore, input: impl Read) -> Result<ArchiveImages> {
    let files = Files::read(blobs, input)?;
    let found = if files.has("manifest.json") {
        docker_manifest(blobs, &files)?
    } else if files.has("index.json") {
        crate::oci_layout::images(blobs, &files)?
    } else {
        return Err(invalid(
            "the archive has neither manifest.json nor index.json".into(),
        ));
    };
    // One image may appear several times (once per name): kept once with all its names.
    let mut images: Vec<(ImageRecord, Vec<Reference>)> = Vec::new();
    for image in found {
        let names = match images.iter_mut().find(|(record, _)| record.id == image.id) {
            Some((_, names)) => names,
            None => {
                let record = ImageRecord {
                    id: image.id,
                    layers: image.layers,
                    diff_ids: image.diff_ids,
                    repo_digests: Vec::new(),
                };
                images.push((record, Vec::new()));
                &mut images.last_mut().expect("just pushed").1
            }
        };
        for name in image.names {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(ArchiveImages(images))
}

/// Records the images [`read`] found in `store` (those it has already stay as they are), with
/// their names; returns their ids and names.
pub fn record(
    store: &mut ImageStore,
    images: ArchiveImages,
) -> Result<Vec<(Digest, Vec<Reference>)>> {
    let mut loaded = Vec::new();
    for (record, names) in images.0 {
        // An image the store has already (pulled, say) keeps its record: its repo digests
        // and the compressed layers they name stay as they were; only names are added.
        let known = store
            .get(&record.id.to_string())
            .is_some_and(|existing| existing.diff_ids == record.diff_ids);
        if !known {
            store.add(record.clone(), &[])?;
        }
        for name in &names {
            store.tag(&record.id.to_string(), name)?;
        }
        loaded.push((record.id, names));
    }
    Ok(loaded)
}

/// Unpacks the layers of the images [`read`] found into `snapshots`, so that a container can
/// start from them at once.
pub fn unpack(
    blobs: &BlobStore,
    snapshots: &Snapshotter,
    images: &ArchiveImages,
    observer: &dyn Observer,
) -> Result<()> {
    for (record, _) in &images.0 {
        let event = |layer: &Digest, status| Event {
            id: layer.short().to_string(),
            status,
            current: 0,
            total: None,
        };
        for layer in &record.layers {
            observer.event(event(layer, Status::Loading));
        }
        snapshots.layers(blobs, record)?;
        for layer in &record.layers {
            observer.event(event(layer, Status::Loaded));
        }
    }
    Ok(())
}

/// The images a docker-save `manifest.json` lists.
fn docker_manifest(blobs: &BlobStore, files: &Files) -> Result<Vec<Found>> {
    let manifest: Vec<SavedImage> = files.json(blobs, "manifest.json")?;
    let mut found = Vec::new();
    for image in manifest {
        let (id, _) = files.get(&image.config)?;
        let layers = image
            .layers
            .iter()
            .map(|path| Ok((files.get(path)?.0.clone(), path.clone())))
            .collect::<Result<Vec<_>>>()?;
        let names = image
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| t.parse())
            .collect::<Result<_>>()?;
        found.push(check_image(blobs, (id, &image.config), &layers, names)?);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn paths_stay_inside_the_archive() {
        assert_eq!(normalize("", "./a/./b").unwrap(), "a/b");
        assert_eq!(normalize("x/y", "../z").unwrap(), "x/z");
        assert!(normalize("", "../etc/passwd").is_err());
        assert!(normalize("a", "../../b").is_err());
        assert!(normalize("", "/etc/passwd").is_err());
    }
}
