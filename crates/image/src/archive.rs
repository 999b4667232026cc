//! `load`: images from a `docker save` archive.

use std::collections::HashMap;
use std::io::Read;

use oci_spec::image::ImageConfiguration;
use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{Context, Error, Result};
use crate::images::{ImageRecord, ImageStore};
use crate::reference::Reference;

/// One entry of a docker-save `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn invalid(what: String) -> Error {
    Error::Io {
        context: what,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "invalid image archive"),
    }
}

/// Largest JSON document accepted from an archive.
const MAX_JSON: u64 = 4 << 20;

/// Loads every image in a docker-save archive; returns the ids with their names.
pub fn load_docker_archive(
    store: &mut ImageStore,
    input: impl Read,
) -> Result<Vec<(Digest, Vec<Reference>)>> {
    let mut archive = tar::Archive::new(input);
    // Every regular file goes straight into the blob store; the archive path maps to its digest.
    let mut files: HashMap<String, (Digest, u64)> = HashMap::new();
    for entry in archive.entries().context(|| "read image archive")? {
        let mut entry = entry.context(|| "read image archive entry")?;
        if !matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        ) {
            continue;
        }
        let path = entry
            .path()
            .context(|| "read archive path")?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let stored = store.blobs().put_stream(&mut entry)?;
        files.insert(path, stored);
    }
    let read_json = |store: &ImageStore, name: &str| -> Result<Vec<u8>> {
        let (digest, size) = files
            .get(name)
            .ok_or_else(|| invalid(format!("the archive has no {name}")))?;
        if *size > MAX_JSON {
            return Err(invalid(format!("{name} is larger than 4 MiB")));
        }
        store.blobs().get(digest)
    };
    let manifest: Vec<SavedImage> = serde_json::from_slice(&read_json(store, "manifest.json")?)
        .map_err(|e| invalid(format!("manifest.json: {e}")))?;
    let mut loaded = Vec::new();
    for image in manifest {
        let config_bytes = read_json(store, &image.config)?;
        let config = ImageConfiguration::from_reader(&config_bytes[..])
            .map_err(|e| invalid(format!("{}: {e}", image.config)))?;
        let id = files[&image.config].0.clone();
        let diff_ids: Vec<Digest> = config
            .rootfs()
            .diff_ids()
            .iter()
            .map(|d| d.parse())
            .collect::<Result<_>>()?;
        if diff_ids.len() != image.layers.len() {
            return Err(invalid(format!(
                "{}: {} layers in the manifest but {} diff_ids in the config",
                image.config,
                image.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (path, diff_id) in image.layers.iter().zip(&diff_ids) {
            let (digest, _) = files
                .get(path)
                .ok_or_else(|| invalid(format!("the archive has no layer {path}")))?;
            // Uncompressed layers must be exactly what the config says; compressed ones are
            // checked against their diff_id when unpacked.
            let head = {
                let mut head = [0u8; 4];
                let n = store
                    .blobs()
                    .open_blob(digest)?
                    .read(&mut head)
                    .context(|| "read layer")?;
                head[..n].to_vec()
            };
            if crate::layer::detect(&head) == crate::layer::Compression::None && digest != diff_id {
                return Err(invalid(format!(
                    "layer {path} is {digest}, but the config says {diff_id}"
                )));
            }
            layers.push(digest.clone());
        }
        let names: Vec<Reference> = image
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| t.parse())
            .collect::<Result<_>>()?;
        store.add(
            ImageRecord {
                id: id.clone(),
                layers,
                diff_ids,
                repo_digests: Vec::new(),
            },
            &names,
        )?;
        loaded.push((id, names));
    }
    Ok(loaded)
}
