//! What `docker image inspect`, `docker history` and `docker images` show, shaped like the
//! Engine API's `ImageInspect`, `HistoryResponseItem` and `ImageSummary`, built from the stored
//! config blob and the layers' uncompressed sizes.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::archive::{invalid, MAX_JSON};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::images::{ImageRecord, ImageStore};
use crate::reference::Reference;
use crate::store::BlobStore;

/// The container configuration an image carries (the config's `config`), as the Engine API
/// names its fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    pub image: String,
    pub volumes: Option<BTreeMap<String, Value>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// The layers of an image's root file system, by diff id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    pub r#type: String,
    pub layers: Vec<String>,
}

/// When the image was last tagged (the zero time when berth does not know).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    pub last_tag_time: String,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: String,
    pub docker_version: String,
    pub author: String,
    pub config: Option<ContainerConfig>,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub os: String,
    /// Uncompressed bytes of all layers.
    pub size: u64,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    pub metadata: Metadata,
}

/// One line of `GET /images/{name}/history`, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryResponseItem {
    /// The image id on the newest line, `<missing>` below it (Docker keeps no ids there).
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    /// Uncompressed bytes of the layer this step made (0 for steps that made none).
    pub size: u64,
    pub comment: String,
}

/// One image of `GET /images/json` (and `docker images`: one row per repository and tag).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    pub id: String,
    pub parent_id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub size: u64,
    pub labels: BTreeMap<String, String>,
}

/// The parts of an image config these views use; anything missing defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawConfig {
    created: Option<String>,
    author: String,
    architecture: String,
    variant: Option<String>,
    os: String,
    docker_version: String,
    comment: String,
    config: Option<ContainerConfig>,
    history: Vec<RawHistory>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawHistory {
    created: Option<String>,
    created_by: String,
    comment: String,
    empty_layer: bool,
}

/// Docker's zero time, shown for times an image does not record.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn config(blobs: &BlobStore, id: &Digest) -> Result<RawConfig> {
    let data = blobs.get(id)?;
    if data.len() as u64 > MAX_JSON {
        return Err(invalid(format!("config {id} is larger than 4 MiB")));
    }
    serde_json::from_slice(&data).map_err(|e| invalid(format!("config {id}: {e}")))
}

/// Uncompressed sizes of layers, computed once per layer (decompressing compressed ones).
#[derive(Default)]
pub struct LayerSizes(HashMap<Digest, u64>);

impl LayerSizes {
    /// The uncompressed size of each layer of `image`, bottom first.
    pub fn of(&mut self, blobs: &BlobStore, image: &ImageRecord) -> Result<Vec<u64>> {
        image
            .layers
            .iter()
            .zip(&image.diff_ids)
            .map(|(stored, diff_id)| {
                if let Some(size) = self.0.get(diff_id) {
                    return Ok(*size);
                }
                let size = if stored == diff_id {
                    blobs
                        .open_blob(stored)?
                        .metadata()
                        .map_err(|source| Error::Io {
                            context: format!("stat blob {stored}"),
                            source,
                        })?
                        .len()
                } else {
                    crate::save::uncompressed_size(blobs, stored, diff_id)?
                };
                self.0.insert(diff_id.clone(), size);
                Ok(size)
            })
            .collect()
    }
}

/// The names of image `id` in Docker's short form, without the `repository@digest` names a
/// pull by digest gives it: Docker shows those as `RepoDigests` only, never as tags.
fn familiar_names(store: &ImageStore, id: &Digest) -> Vec<String> {
    store
        .names_of(id)
        .into_iter()
        .filter_map(|n| match n.parse::<Reference>() {
            Ok(r) if r.digest().is_some() => None,
            Ok(r) => Some(r.familiar()),
            Err(_) => Some(n.to_string()),
        })
        .collect()
}

/// `docker image inspect`.
pub fn inspect(
    store: &ImageStore,
    name_or_id: &str,
    sizes: &mut LayerSizes,
) -> Result<ImageInspect> {
    let image = store
        .get(name_or_id)
        .ok_or_else(|| Error::ImageNotFound(name_or_id.to_string()))?;
    let raw = config(store.blobs(), &image.id)?;
    Ok(ImageInspect {
        id: image.id.to_string(),
        repo_tags: familiar_names(store, &image.id),
        repo_digests: image.repo_digests.clone(),
        parent: String::new(),
        comment: raw.comment,
        created: raw.created.unwrap_or_else(|| ZERO_TIME.to_string()),
        docker_version: raw.docker_version,
        author: raw.author,
        config: raw.config,
        architecture: raw.architecture,
        variant: raw.variant,
        os: raw.os,
        size: sizes.of(store.blobs(), image)?.iter().sum(),
        root_fs: RootFs {
            r#type: "layers".into(),
            layers: image.diff_ids.iter().map(ToString::to_string).collect(),
        },
        metadata: Metadata {
            last_tag_time: ZERO_TIME.into(),
        },
    })
}

/// `docker history`: the config's history, newest first, with each layer's size on the step
/// that made it.
pub fn history(
    store: &ImageStore,
    name_or_id: &str,
    sizes: &mut LayerSizes,
) -> Result<Vec<HistoryResponseItem>> {
    let image = store
        .get(name_or_id)
        .ok_or_else(|| Error::ImageNotFound(name_or_id.to_string()))?;
    let raw = config(store.blobs(), &image.id)?;
    let mut layer_sizes = sizes.of(store.blobs(), image)?.into_iter();
    let mut items: Vec<HistoryResponseItem> = raw
        .history
        .into_iter()
        .map(|h| HistoryResponseItem {
            id: "<missing>".into(),
            created: h
                .created
                .as_deref()
                .and_then(crate::time::parse)
                .unwrap_or(0),
            created_by: h.created_by,
            tags: Vec::new(),
            size: if h.empty_layer {
                0
            } else {
                layer_sizes.next().unwrap_or(0)
            },
            comment: h.comment,
        })
        .collect();
    items.reverse();
    if let Some(top) = items.first_mut() {
        top.id = image.id.to_string();
        top.tags = familiar_names(store, &image.id);
    }
    Ok(items)
}

/// `docker images` (`GET /images/json`): every image, newest first.
pub fn summaries(store: &ImageStore, sizes: &mut LayerSizes) -> Result<Vec<ImageSummary>> {
    let mut out = Vec::new();
    for image in store.records() {
        let raw = config(store.blobs(), &image.id)?;
        out.push(ImageSummary {
            id: image.id.to_string(),
            parent_id: String::new(),
            repo_tags: familiar_names(store, &image.id),
            repo_digests: image.repo_digests.clone(),
            created: raw
                .created
                .as_deref()
                .and_then(crate::time::parse)
                .unwrap_or(0),
            size: sizes.of(store.blobs(), image)?.iter().sum(),
            labels: raw.config.and_then(|c| c.labels).unwrap_or_default(),
        });
    }
    out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// The `(repository, tag)` pairs `docker images` prints for one image: one per name, or
/// `("<none>", "<none>")` for an image without any.
pub fn rows(summary: &ImageSummary) -> Vec<(String, String)> {
    if summary.repo_tags.is_empty() {
        return vec![("<none>".into(), "<none>".into())];
    }
    summary
        .repo_tags
        .iter()
        .map(|t| match t.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
            _ => (t.clone(), "<none>".into()),
        })
        .collect()
}
