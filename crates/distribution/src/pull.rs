//! `pull`: a reference in a registry → an image in the store, its layers unpacked.
//!
//! Each layer streams from the registry into the blob store and, at the same time, through the
//! decompressor into its snapshot: downloading, decompressing and writing files overlap, and
//! several layers run at once. A layer counts only when both its compressed digest and its
//! diff id check out; the manifest, config and image name are stored last, once every layer has.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use berth_image::digest::Digest;
use berth_image::progress::{Event, Observer, Status};
use berth_image::snapshot::{chain_ids, Snapshotter};
use berth_image::{BlobStore, ImageRecord, ImageStore, Reference};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use crate::client::{ClientConfig, Error, Registry, Result, MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX};
use crate::stream::{stream_layer, LayerJob};

/// Layers transferred at once (Docker's default is 3; unpacking overlaps the downloads).
const PARALLEL_LAYERS: usize = 4;

/// The platform to pick from a multi-platform index.
#[derive(Debug, Clone)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                other => other,
            }
            .into(),
            variant: None,
        }
    }
}

impl std::str::FromStr for Platform {
    type Err = Error;

    /// `os/arch[/variant]`, as `--platform` takes it.
    fn from_str(s: &str) -> Result<Self> {
        let mut parts = s.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(os), Some(arch), variant, None) if !os.is_empty() && !arch.is_empty() => {
                Ok(Platform {
                    os: os.into(),
                    architecture: arch.into(),
                    variant: variant.map(str::to_string),
                })
            }
            _ => Err(invalid(
                format!("platform {s:?}"),
                "expected os/architecture[/variant]",
            )),
        }
    }
}

fn invalid(what: impl Into<String>, reason: impl ToString) -> Error {
    Error::Invalid {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// Pulls `reference` into `store`, unpacking its layers into `snapshots`.
pub fn pull(
    store: &mut ImageStore,
    snapshots: &Snapshotter,
    reference: &Reference,
    platform: &Platform,
    config: &ClientConfig,
    observer: &dyn Observer,
) -> Result<ImageRecord> {
    let fetched = fetch(
        store.blobs(),
        snapshots,
        reference,
        platform,
        config,
        observer,
    )?;
    record(store, fetched, reference)
}

/// The part of a pull that takes time: brings the manifest, config and layers of
/// `reference` into `blobs` and unpacks the layers into `snapshots`, and returns the image
/// for [`record`]. It needs no access to the store's records, so a daemon can list, inspect
/// and run other images meanwhile; hold [`berth_image::lock::DataLock::writer`] until the
/// image is recorded, so no garbage collection removes what was fetched.
pub fn fetch(
    blobs: &BlobStore,
    snapshots: &Snapshotter,
    reference: &Reference,
    platform: &Platform,
    config: &ClientConfig,
    observer: &dyn Observer,
) -> Result<ImageRecord> {
    let registry = Registry::new(reference.domain(), config)?;
    let repository = reference.path();
    let tag_or_digest = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    };
    let (mut body, mut media_type, mut digest) = registry.manifest(repository, &tag_or_digest)?;
    // What the name points at (an index for a multi-platform image): the digest people see
    // and pull by again, kept with the image.
    let mut index: Option<(Vec<u8>, Digest)> = None;
    if classify(&body, &media_type, &digest)? == Document::Index {
        index = Some((body.clone(), digest.clone()));
        let index = ImageIndex::from_reader(&body[..])
            .map_err(|e| invalid(format!("index {digest}"), e))?;
        let child = pick_platform(&index, platform)
            .ok_or_else(|| invalid(reference.to_string(), no_match(platform)))?;
        (body, media_type, digest) = registry.manifest(repository, &child)?;
        if classify(&body, &media_type, &digest)? == Document::Index {
            return Err(invalid(
                format!("manifest {digest}"),
                "an index inside an index is not an image",
            ));
        }
    }
    let manifest = ImageManifest::from_reader(&body[..])
        .map_err(|e| invalid(format!("manifest {digest}"), e))?;
    let config_digest: Digest = manifest.config().digest().to_string().parse()?;
    if manifest.config().size() > crate::client::MAX_DOCUMENT {
        return Err(invalid(
            format!("config {config_digest}"),
            "the manifest says it is larger than 4 MiB",
        ));
    }
    registry.fetch_blob(
        repository,
        &config_digest,
        Some(manifest.config().size()),
        blobs,
    )?;
    let image_config = ImageConfiguration::from_reader(&blobs.get(&config_digest)?[..])
        .map_err(|e| invalid(format!("config {config_digest}"), e))?;
    let diff_ids: Vec<Digest> = image_config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| d.parse())
        .collect::<Result<_, _>>()?;
    if diff_ids.len() != manifest.layers().len() {
        return Err(invalid(
            format!("image {config_digest}"),
            "the config and the manifest list different numbers of layers",
        ));
    }
    let jobs: Vec<LayerJob> = manifest
        .layers()
        .iter()
        .zip(&diff_ids)
        .zip(chain_ids(&diff_ids))
        .map(|((layer, diff_id), chain_id)| {
            Ok(LayerJob {
                blob: layer.digest().to_string().parse()?,
                size: layer.size(),
                diff_id: diff_id.clone(),
                chain_id,
            })
        })
        .collect::<Result<_>>()?;
    for job in &jobs {
        observer.event(event(&job.blob, Status::Waiting, 0, Some(job.size)));
    }
    run_parallel(&jobs, |job| {
        bring_layer(&registry, repository, blobs, snapshots, job, observer)
    })?;
    blobs.put(&digest, &body)?;
    let top = match &index {
        Some((index_body, index_digest)) => {
            blobs.put(index_digest, index_body)?;
            index_digest
        }
        None => &digest,
    };
    Ok(ImageRecord {
        id: config_digest,
        layers: jobs.into_iter().map(|j| j.blob).collect(),
        diff_ids,
        repo_digests: vec![format!("{}@{top}", reference.repository())],
    })
}

/// Records an image [`fetch`] brought in `store` under the name `reference`, keeping the
/// digests it was already known by in other repositories; returns the record as stored.
pub fn record(
    store: &mut ImageStore,
    record: ImageRecord,
    reference: &Reference,
) -> Result<ImageRecord> {
    let mut record_to_store = record.clone();
    if let Some(existing) = store.get(&record.id.to_string()) {
        // Keep the digests the image was known by in other repositories.
        for known in &existing.repo_digests {
            if !record_to_store.repo_digests.contains(known) {
                record_to_store.repo_digests.push(known.clone());
            }
        }
    }
    store.add(record_to_store.clone(), std::slice::from_ref(reference))?;
    Ok(record_to_store)
}

/// What a registry document is.
#[derive(Debug, PartialEq, Eq)]
enum Document {
    Index,
    Manifest,
}

const MANIFEST_TYPES: [&str; 2] = [
    crate::client::MEDIA_OCI_MANIFEST,
    crate::client::MEDIA_DOCKER_MANIFEST,
];
const INDEX_TYPES: [&str; 2] = [MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST];

/// Decides whether `body` is an index or a manifest from the Content-Type, the document's own
/// `mediaType` and its fields, refusing a document they disagree on (one that could be read
/// both ways is how a registry or a proxy could swap what is run).
fn classify(body: &[u8], content_type: &str, digest: &Digest) -> Result<Document> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("manifest {digest}"), format!("not JSON: {e}")))?;
    let bad = |reason: &str| invalid(format!("manifest {digest}"), reason);
    let own_type = value
        .get("mediaType")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let has_manifests = value.get("manifests").is_some();
    let has_layers = value.get("layers").is_some() || value.get("config").is_some();
    if has_manifests && has_layers {
        return Err(bad("it has both manifests and layers: ambiguous"));
    }
    let kind_of = |media_type: &str| -> Result<Option<Document>> {
        if media_type.is_empty() || media_type == "application/json" {
            Ok(None)
        } else if INDEX_TYPES.contains(&media_type) {
            Ok(Some(Document::Index))
        } else if MANIFEST_TYPES.contains(&media_type) {
            Ok(Some(Document::Manifest))
        } else {
            Err(bad(&format!("unsupported media type {media_type:?}")))
        }
    };
    let by_header = kind_of(content_type)?;
    let by_body = kind_of(own_type)?;
    let by_fields = match (has_manifests, has_layers) {
        (true, _) => Document::Index,
        (_, true) => Document::Manifest,
        _ => return Err(bad("it has neither manifests nor layers")),
    };
    for claimed in [by_header, by_body].into_iter().flatten() {
        if claimed != by_fields {
            return Err(bad(&format!(
                "its media type says {claimed:?} but its content is a {by_fields:?}"
            )));
        }
    }
    Ok(by_fields)
}

fn no_match(platform: &Platform) -> String {
    format!(
        "no image for {}/{}{}",
        platform.os,
        platform.architecture,
        platform
            .variant
            .as_deref()
            .map(|v| format!("/{v}"))
            .unwrap_or_default()
    )
}

/// The digest of the index entry for `platform` (the variant must match when asked for).
fn pick_platform(index: &ImageIndex, platform: &Platform) -> Option<String> {
    index
        .manifests()
        .iter()
        .find(|m| {
            m.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == platform.os
                    && p.architecture().to_string() == platform.architecture
                    && platform
                        .variant
                        .as_ref()
                        .is_none_or(|v| p.variant().as_deref() == Some(v.as_str()))
            })
        })
        .map(|m| m.digest().to_string())
}

pub(crate) fn event(blob: &Digest, status: Status, current: u64, total: Option<u64>) -> Event {
    Event {
        id: blob.short().to_string(),
        status,
        current,
        total,
    }
}

/// Runs `work` on every job, [`PARALLEL_LAYERS`] at a time; the first error wins and stops
/// jobs not yet started.
fn run_parallel<F>(jobs: &[LayerJob], work: F) -> Result<()>
where
    F: Fn(&LayerJob) -> Result<()> + Sync,
{
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_LAYERS.min(jobs.len()) {
            scope.spawn(|| loop {
                if failure.lock().expect("failure lock").is_some() {
                    return;
                }
                let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                if let Err(e) = work(job) {
                    failure.lock().expect("failure lock").get_or_insert(e);
                    return;
                }
            });
        }
    });
    match failure.into_inner().expect("failure lock") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Makes sure one layer's blob and snapshot are both present.
fn bring_layer(
    registry: &Registry,
    repository: &str,
    blobs: &berth_image::BlobStore,
    snapshots: &Snapshotter,
    job: &LayerJob,
    observer: &dyn Observer,
) -> Result<()> {
    let have_blob = blobs.contains(&job.blob);
    let have_snapshot = snapshots.get(&job.chain_id).is_some();
    match (have_blob, have_snapshot) {
        (true, true) => {}
        (false, true) => {
            registry.fetch_blob(repository, &job.blob, Some(job.size), blobs)?;
        }
        (true, false) => {
            observer.event(event(&job.blob, Status::Extracting, 0, Some(job.size)));
            let pending = snapshots.prepare(&job.chain_id)?;
            pending.unpack_blob(blobs, &job.blob, &job.diff_id)?;
            pending.commit()?;
        }
        (false, false) => {
            stream_layer(registry, repository, blobs, snapshots, job, observer)?;
        }
    }
    let status = if have_blob && have_snapshot {
        Status::AlreadyExists
    } else {
        Status::PullComplete
    };
    observer.event(event(&job.blob, status, job.size, Some(job.size)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_or_mislabelled_documents_are_refused() {
        let d = berth_image::digest::sha256(b"x");
        let manifest = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        let both = br#"{"schemaVersion":2,"manifests":[],"layers":[]}"#;
        let oci_m = crate::client::MEDIA_OCI_MANIFEST;
        assert_eq!(classify(manifest, oci_m, &d).unwrap(), Document::Manifest);
        assert_eq!(
            classify(index, MEDIA_OCI_INDEX, &d).unwrap(),
            Document::Index
        );
        assert_eq!(classify(index, "", &d).unwrap(), Document::Index);
        assert!(classify(both, oci_m, &d).is_err());
        assert!(classify(index, oci_m, &d).is_err());
        assert!(classify(manifest, MEDIA_DOCKER_LIST, &d).is_err());
        let lying_body = br#"{"mediaType":"application/vnd.oci.image.index.v1+json","layers":[]}"#;
        assert!(classify(lying_body, "", &d).is_err());
        assert!(classify(manifest, "text/html", &d).is_err());
        assert!(classify(b"not json", oci_m, &d).is_err());
    }

    #[test]
    fn platforms_parse_as_docker_writes_them() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()),
            ("linux", "arm64", Some("v8"))
        );
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux/amd64/v1/x".parse::<Platform>().is_err());
        assert!("/amd64".parse::<Platform>().is_err());
    }
}
