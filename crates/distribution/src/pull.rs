//! `pull`: a reference in a registry → an image in the store.

use berth_image::digest::Digest;
use berth_image::{ImageRecord, ImageStore, Reference};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use crate::client::{ClientConfig, Error, Registry, Result, MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX};

/// The platform to pick from a multi-platform index.
#[derive(Debug, Clone)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
        }
    }
}

fn invalid(what: impl Into<String>, reason: impl ToString) -> Error {
    Error::Invalid {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// Pulls `reference` into `store`: manifest (through an index if there is one), config, and
/// every layer, each verified against its digest; layers download in parallel.
pub fn pull(
    store: &mut ImageStore,
    reference: &Reference,
    platform: &Platform,
    config: &ClientConfig,
) -> Result<ImageRecord> {
    let registry = Registry::new(reference.domain(), config)?;
    let repository = reference.path();
    let tag_or_digest = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    };
    let (mut body, mut media_type, mut digest) = registry.manifest(repository, &tag_or_digest)?;
    let looks_like_index = serde_json::from_slice::<serde_json::Value>(&body)
        .map(|v| v.get("manifests").is_some())
        .unwrap_or(false);
    if media_type == MEDIA_OCI_INDEX
        || media_type == MEDIA_DOCKER_LIST
        || (media_type.is_empty() && looks_like_index)
    {
        let index = ImageIndex::from_reader(&body[..])
            .map_err(|e| invalid(format!("index {digest}"), e))?;
        let chosen = index
            .manifests()
            .iter()
            .find(|m| {
                m.platform().as_ref().is_some_and(|p| {
                    p.os().to_string() == platform.os
                        && p.architecture().to_string() == platform.architecture
                })
            })
            .ok_or_else(|| {
                invalid(
                    format!("{reference}"),
                    format!("no image for {}/{}", platform.os, platform.architecture),
                )
            })?;
        let child = chosen.digest().to_string();
        (body, media_type, digest) = registry.manifest(repository, &child)?;
    }
    if looks_like_index && media_type != MEDIA_OCI_INDEX && media_type != MEDIA_DOCKER_LIST {
        return Err(invalid(
            format!("manifest {digest}"),
            "a manifest that parses as an index is ambiguous",
        ));
    }
    let manifest = ImageManifest::from_reader(&body[..])
        .map_err(|e| invalid(format!("manifest {digest}"), e))?;
    store.blobs().put(&digest, &body)?;
    let blobs = store.blobs().clone();
    let config_digest: Digest = manifest.config().digest().to_string().parse()?;
    registry.fetch_blob(
        repository,
        &config_digest,
        Some(manifest.config().size()),
        &blobs,
    )?;
    let config = ImageConfiguration::from_reader(&blobs.get(&config_digest)?[..])
        .map_err(|e| invalid(format!("config {config_digest}"), e))?;
    let layers: Vec<(Digest, u64)> = manifest
        .layers()
        .iter()
        .map(|l| Ok((l.digest().to_string().parse()?, l.size())))
        .collect::<Result<_>>()?;
    // Up to three layers at a time, each verified as it lands.
    std::thread::scope(|scope| -> Result<()> {
        let mut pending: Vec<_> = layers.iter().collect();
        while !pending.is_empty() {
            let batch: Vec<_> = pending.drain(..pending.len().min(3)).collect();
            let handles: Vec<_> = batch
                .into_iter()
                .map(|(d, size)| {
                    let registry = &registry;
                    let blobs = &blobs;
                    scope.spawn(move || registry.fetch_blob(repository, d, Some(*size), blobs))
                })
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| invalid("layer download", "a download thread panicked"))??;
            }
        }
        Ok(())
    })?;
    let diff_ids: Vec<Digest> = config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| d.parse())
        .collect::<Result<_, _>>()?;
    if diff_ids.len() != layers.len() {
        return Err(invalid(
            format!("image {config_digest}"),
            "the config and the manifest list different numbers of layers",
        ));
    }
    let record = ImageRecord {
        id: config_digest,
        layers: layers.into_iter().map(|(d, _)| d).collect(),
        diff_ids,
        repo_digests: vec![format!("{}@{digest}", reference.repository())],
    };
    store.add(record.clone(), std::slice::from_ref(reference))?;
    Ok(record)
}
