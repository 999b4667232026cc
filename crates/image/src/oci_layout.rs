//! Reading an OCI image layout out of an archive: `index.json` → manifests (through nested
//! indexes, picking the host's platform) → configs and layers under `blobs/`.
//!
//! A blob is found by its digest's path and must be what its descriptor says: the file's
//! digest and size are checked against the descriptor, so a layout cannot smuggle content in
//! under another digest.

use std::collections::HashMap;

use serde::Deserialize;

use crate::archive::{check_image, invalid, Files, Found};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::save::{media, CONTAINERD_NAME, REF_NAME};
use crate::store::BlobStore;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// How deep indexes may nest.
const MAX_DEPTH: usize = 4;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Debug, Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// The platform name (`GOARCH`) of the machine berth runs on.
pub(crate) fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The images an archive's `index.json` names.
pub(crate) fn images(blobs: &BlobStore, files: &Files) -> Result<Vec<Found>> {
    let index: Index = files.json(blobs, "index.json")?;
    let mut found = Vec::new();
    for descriptor in &index.manifests {
        let names = names(&descriptor.annotations)?;
        found.push(image(blobs, files, descriptor, names, 0)?);
    }
    Ok(found)
}

/// The names an index entry's annotations give: the full name containerd and Docker record,
/// else an `org.opencontainers.image.ref.name` that is a whole reference. A bare tag there
/// (Docker writes `latest`) names no repository, so it names nothing on its own.
fn names(annotations: &HashMap<String, String>) -> Result<Vec<Reference>> {
    if let Some(full) = annotations.get(CONTAINERD_NAME) {
        return Ok(vec![full.parse()?]);
    }
    match annotations.get(REF_NAME) {
        Some(name) if name.contains(['/', ':', '@']) => Ok(vec![name.parse()?]),
        _ => Ok(Vec::new()),
    }
}

/// The stored blob a descriptor points at, checked against its digest and size.
fn blob<'a>(files: &'a Files, descriptor: &Descriptor) -> Result<(&'a Digest, String)> {
    let digest: Digest = descriptor.digest.parse()?;
    let path = format!("blobs/{}/{}", digest.algorithm().name(), digest.hex());
    let (stored, size) = files.get(&path)?;
    if stored != &digest {
        return Err(Error::DigestMismatch {
            digest: digest.to_string(),
            actual: stored.to_string(),
            size: *size,
        });
    }
    if *size != descriptor.size {
        return Err(Error::SizeMismatch {
            digest: digest.to_string(),
            expected: descriptor.size,
            actual: *size,
        });
    }
    Ok((stored, path))
}

fn image(
    blobs: &BlobStore,
    files: &Files,
    descriptor: &Descriptor,
    names: Vec<Reference>,
    depth: usize,
) -> Result<Found> {
    let (_, path) = blob(files, descriptor)?;
    match descriptor.media_type.as_str() {
        media::INDEX | DOCKER_LIST => {
            if depth >= MAX_DEPTH {
                return Err(invalid(format!("{path}: indexes nest too deep")));
            }
            let index: Index = files.json(blobs, &path)?;
            // The host's platform; else an index of one manifest that names none.
            let host = index.manifests.iter().find(|m| {
                m.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == host_architecture())
            });
            let only = match &index.manifests[..] {
                [one] if one.platform.is_none() => Some(one),
                _ => None,
            };
            let wanted = host.or(only).ok_or_else(|| {
                invalid(format!(
                    "index {} has no manifest for linux/{}",
                    descriptor.digest,
                    host_architecture()
                ))
            })?;
            image(blobs, files, wanted, names, depth + 1)
        }
        media::MANIFEST | DOCKER_MANIFEST => {
            let manifest: Manifest = files.json(blobs, &path)?;
            let (config, config_path) = blob(files, &manifest.config)?;
            let layers = manifest
                .layers
                .iter()
                .map(|l| blob(files, l).map(|(d, p)| (d.clone(), p)))
                .collect::<Result<Vec<_>>>()?;
            check_image(blobs, (config, &config_path), &layers, names)
        }
        other => Err(invalid(format!(
            "index entry {}: unsupported media type {other:?}",
            descriptor.digest
        ))),
    }
}
