//! `push`: an image in the store → a manifest in a registry. Per layer: skip it if the
//! registry has it, mount it from another repository of the same registry that has it, or
//! upload it (in one request when small, in chunks when large); then the config, then the
//! manifest.

use std::io::{BufReader, Read};

use berth_image::compress::{blob_size, compress_layer, stored_compression};
use berth_image::digest::Digest;
use berth_image::layer::Compression;
use berth_image::progress::{Event, Observer, Status};
use berth_image::{BlobStore, ImageRecord, ImageStore, Reference};
use ureq::http::Method;

use crate::client::{
    ClientConfig, Error, Payload, Registry, Result, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_MANIFEST,
};

/// Blobs up to this size go up in one `PUT`; larger ones in chunks of this size.
const CHUNK: u64 = 16 << 20;
/// Layers compressed and uploaded at once.
const PARALLEL: usize = 3;

const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

fn invalid(what: impl Into<String>, reason: impl ToString) -> Error {
    Error::Invalid {
        what: what.into(),
        reason: reason.to_string(),
    }
}

fn report(observer: &dyn Observer, digest: &Digest, status: Status, current: u64, total: u64) {
    observer.event(Event {
        id: digest.short().to_string(),
        status,
        current,
        total: Some(total),
    });
}

/// One image's push to one repository.
struct Push<'a> {
    registry: Registry,
    /// The repository's path on the registry (`library/busybox`).
    path: String,
    /// Other repositories of the same registry the image was pulled from or pushed to.
    mount_from: Vec<String>,
    observer: &'a dyn Observer,
}

/// Pushes the image named `reference` with its layers compressed as `compression` (gzip or
/// zstd) and returns the manifest's digest. Uncompressed layers are compressed first, stored,
/// and the image's record then points at them; layers compressed otherwise are recompressed for
/// this push only. The image records `repository@digest` among its repo digests.
pub fn push(
    store: &mut ImageStore,
    reference: &Reference,
    config: &ClientConfig,
    compression: Compression,
    observer: &dyn Observer,
) -> Result<Digest> {
    let record = store
        .get(&reference.to_string())
        .cloned()
        .ok_or_else(|| invalid(reference.to_string(), "no such image in the store"))?;
    let (digest, pushed) = upload(
        store.blobs(),
        record,
        reference,
        config,
        compression,
        observer,
    )?;
    if let Some(pushed) = pushed {
        let current = store.get(&pushed.id.to_string()).cloned();
        if let Some(merged) = merge_pushed(current, pushed, reference) {
            store.add(merged, &[])?;
        }
    }
    Ok(digest)
}

/// The part of [`push`] that takes time, on `record` (the image named `reference`) and
/// `blobs` alone, so a daemon can go on with other images meanwhile: compresses and uploads
/// the layers, then the config and the manifest. Returns the manifest's digest and, when the
/// image's record should change (compressed layers to point at, a new repo digest), the
/// record to store through [`merge_pushed`]. Hold [`berth_image::lock::DataLock::writer`]
/// until it is stored, so no collection removes the compressed layers meanwhile.
pub fn upload(
    blobs: &BlobStore,
    mut record: ImageRecord,
    reference: &Reference,
    config: &ClientConfig,
    compression: Compression,
    observer: &dyn Observer,
) -> Result<(Digest, Option<ImageRecord>)> {
    if reference.digest().is_some() {
        return Err(invalid(
            reference.to_string(),
            "cannot push a digest reference: push a name with a tag",
        ));
    }
    if compression == Compression::None {
        return Err(invalid(
            reference.to_string(),
            "a push compresses layers with gzip or zstd",
        ));
    }
    let registry = Registry::new(reference.domain(), config)?;
    let path = reference.path().to_string();
    registry.add_scope(format!("repository:{path}:pull,push"));
    let mut mount_from = Vec::new();
    for repo_digest in &record.repo_digests {
        let Some((repository, _)) = repo_digest.split_once('@') else {
            continue;
        };
        let Ok(other) = repository.parse::<Reference>() else {
            continue;
        };
        if other.domain() == reference.domain() && other.path() != path {
            registry.add_scope(format!("repository:{}:pull", other.path()));
            mount_from.push(other.path().to_string());
        }
    }
    let push = Push {
        registry,
        path,
        mount_from,
        observer,
    };

    for layer in &record.layers {
        report(observer, layer, Status::Preparing, 0, 0);
    }
    // Compress (when needed) and upload, a few layers at a time.
    let pushed: Vec<(Digest, u64)> = std::thread::scope(|scope| -> Result<_> {
        let mut out = Vec::with_capacity(record.layers.len());
        for batch in record.layers.chunks(PARALLEL) {
            let handles: Vec<_> = batch
                .iter()
                .map(|layer| {
                    let push = &push;
                    scope.spawn(move || -> Result<(Digest, u64)> {
                        if stored_compression(blobs, layer)? != compression {
                            report(observer, layer, Status::Compressing, 0, 0);
                        }
                        let (blob, size) = compress_layer(blobs, layer, compression)?;
                        push.blob(blobs, &blob, size, Some(layer))?;
                        Ok((blob, size))
                    })
                })
                .collect();
            for handle in handles {
                out.push(
                    handle
                        .join()
                        .map_err(|_| invalid("layer push", "a push thread panicked"))??,
                );
            }
        }
        Ok(out)
    })?;

    let config_size = blob_size(blobs, &record.id)?;
    push.blob(blobs, &record.id, config_size, None)?;

    let (media_type, config_type, layer_type) = match compression {
        Compression::Gzip => (MEDIA_DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER_GZIP),
        _ => (MEDIA_OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_ZSTD),
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": { "mediaType": config_type, "size": config_size, "digest": record.id.to_string() },
        "layers": pushed.iter().map(|(digest, size)| serde_json::json!({
            "mediaType": layer_type, "size": size, "digest": digest.to_string(),
        })).collect::<Vec<_>>(),
    });
    let body = serde_json::to_vec_pretty(&manifest).expect("a manifest always serialises");
    let digest = blobs.put_new(&body)?;
    let tag = reference.tag().unwrap_or("latest");
    let location = format!("/v2/{}/manifests/{tag}", push.path);
    let response = push.registry.send(
        Method::PUT,
        &location,
        &[("Content-Type", media_type.to_string())],
        Payload::Bytes(&body),
    )?;
    push.registry.expect_success(response, &location)?;

    // Point the record at the compressed layers when they were stored uncompressed, so a
    // second push reuses them; record where the image now is.
    let mut changed = false;
    for (layer, (blob, _)) in record.layers.iter_mut().zip(&pushed) {
        if layer != blob && stored_compression(blobs, layer)? == Compression::None {
            *layer = blob.clone();
            changed = true;
        }
    }
    let repository = reference.repository();
    let entry = format!("{repository}@{digest}");
    if !record.repo_digests.contains(&entry) {
        record
            .repo_digests
            .retain(|r| r.split_once('@').map(|(repo, _)| repo) != Some(repository.as_str()));
        record.repo_digests.push(entry);
        changed = true;
    }
    Ok((digest, changed.then_some(record)))
}

/// The record to store after a push of `reference`: the image's record as it is now
/// (`current`: another push or a pull may have changed it meanwhile) with the layers the push
/// pointed at (`pushed`'s) and, of `pushed`'s repo digests, the one for `reference`'s
/// repository. `None` when the image was removed meanwhile: it is not brought back.
pub fn merge_pushed(
    current: Option<ImageRecord>,
    pushed: ImageRecord,
    reference: &Reference,
) -> Option<ImageRecord> {
    let mut merged = current?;
    let repository = reference.repository();
    let of_repository =
        |entry: &String| entry.split_once('@').map(|(repo, _)| repo) == Some(repository.as_str());
    if merged.diff_ids == pushed.diff_ids {
        merged.layers = pushed.layers;
    }
    if let Some(entry) = pushed.repo_digests.iter().find(|e| of_repository(e)) {
        merged.repo_digests.retain(|e| !of_repository(e));
        merged.repo_digests.push(entry.clone());
    }
    Some(merged)
}

impl Push<'_> {
    /// Makes sure the registry has the blob; `layer` is the item progress is reported for.
    fn blob(
        &self,
        blobs: &berth_image::BlobStore,
        digest: &Digest,
        size: u64,
        layer: Option<&Digest>,
    ) -> Result<()> {
        let report = |status, current| {
            if let Some(layer) = layer {
                report(self.observer, layer, status, current, size);
            }
        };
        let head = format!("/v2/{}/blobs/{digest}", self.path);
        let response = self
            .registry
            .send(Method::HEAD, &head, &[], Payload::Empty)?;
        match response.status().as_u16() {
            200 => {
                report(Status::AlreadyExists, size);
                return Ok(());
            }
            404 => {}
            _ => {
                self.registry.expect_success(response, &head)?;
            }
        }
        let mut upload = None;
        for from in &self.mount_from {
            let location = format!(
                "/v2/{}/blobs/uploads/?mount={digest}&from={from}",
                self.path
            );
            let response = self
                .registry
                .send(Method::POST, &location, &[], Payload::Empty)?;
            match response.status().as_u16() {
                201 => {
                    report(Status::Mounted, size);
                    return Ok(());
                }
                202 => {
                    // Not mountable from there: the registry opened an upload instead.
                    upload = Some(self.location_of(&response, &location)?);
                    break;
                }
                _ => {
                    self.registry.expect_success(response, &location)?;
                }
            }
        }
        let mut location = match upload {
            Some(location) => location,
            None => {
                let start = format!("/v2/{}/blobs/uploads/", self.path);
                let response = self
                    .registry
                    .send(Method::POST, &start, &[], Payload::Empty)?;
                let response = self.registry.expect_success(response, &start)?;
                self.location_of(&response, &start)?
            }
        };
        let file = blobs.open_blob(digest)?;
        let pushing = |done| report(Status::Pushing, done);
        let mut reader = Counting {
            inner: BufReader::with_capacity(1 << 20, file),
            done: 0,
            reported: 0,
            report: &pushing,
        };
        let mut sent = 0u64;
        report(Status::Pushing, 0);
        if size > CHUNK {
            while sent < size {
                let len = CHUNK.min(size - sent);
                let mut chunk = (&mut reader).take(len);
                let response = self.registry.send(
                    Method::PATCH,
                    &location,
                    &[
                        ("Content-Type", "application/octet-stream".into()),
                        ("Content-Range", format!("{sent}-{}", sent + len - 1)),
                    ],
                    Payload::Stream(&mut chunk, len),
                )?;
                let response = self.registry.expect_success(response, &location)?;
                location = self.location_of(&response, &location)?;
                sent += len;
            }
            let finish = with_query(&location, &format!("digest={digest}"));
            let response = self
                .registry
                .send(Method::PUT, &finish, &[], Payload::Empty)?;
            self.registry.expect_success(response, &finish)?;
        } else {
            let finish = with_query(&location, &format!("digest={digest}"));
            let response = self.registry.send(
                Method::PUT,
                &finish,
                &[("Content-Type", "application/octet-stream".into())],
                Payload::Stream(&mut reader, size),
            )?;
            self.registry.expect_success(response, &finish)?;
        }
        report(Status::Pushed, size);
        Ok(())
    }

    /// The upload URL an answer names in `Location`.
    fn location_of(
        &self,
        response: &ureq::http::Response<ureq::Body>,
        request: &str,
    ) -> Result<String> {
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| invalid(self.registry.url(request), "no Location in the answer"))
    }
}

/// Passes bytes through, reporting how many went by every MiB.
struct Counting<'a, R> {
    inner: R,
    done: u64,
    reported: u64,
    report: &'a dyn Fn(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.done - self.reported >= 1 << 20 {
            self.reported = self.done;
            (self.report)(self.done);
        }
        Ok(n)
    }
}

/// `location` with `param` added to its query.
fn with_query(location: &str, param: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}{param}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_join_an_existing_query() {
        assert_eq!(with_query("/u/1", "digest=d"), "/u/1?digest=d");
        assert_eq!(
            with_query("/u/1?_state=x", "digest=d"),
            "/u/1?_state=x&digest=d"
        );
    }

    #[test]
    fn a_push_keeps_what_changed_meanwhile_and_does_not_bring_back_a_removed_image() {
        let digest = |n: u8| -> Digest { berth_image::digest::sha256(&[n]) };
        let record = |layers: Vec<Digest>, repo_digests: &[&str]| ImageRecord {
            id: digest(0),
            layers,
            diff_ids: vec![digest(1)],
            repo_digests: repo_digests.iter().map(|s| s.to_string()).collect(),
        };
        let reference: Reference = "r/a:1".parse().unwrap();
        // Pushed to r/a from a copy that knew r/b@2; meanwhile r/b moved to @4 and r/c came.
        let pushed = record(
            vec![digest(2)],
            &["docker.io/r/b@sha256:2", "docker.io/r/a@sha256:3"],
        );
        let current = record(
            vec![digest(1)],
            &[
                "docker.io/r/a@sha256:1",
                "docker.io/r/b@sha256:4",
                "docker.io/r/c@sha256:5",
            ],
        );
        let merged = merge_pushed(Some(current), pushed.clone(), &reference).unwrap();
        assert_eq!(merged.layers, vec![digest(2)]);
        assert_eq!(
            merged.repo_digests,
            [
                "docker.io/r/b@sha256:4",
                "docker.io/r/c@sha256:5",
                "docker.io/r/a@sha256:3"
            ]
        );
        assert_eq!(merge_pushed(None, pushed, &reference), None);
    }
}
