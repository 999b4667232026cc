//! `docker commit`, `docker export` and `docker diff`: a container's root file system as a new
//! image, as a tar, and as a list of changes.

use std::io::Write;

use berth_image::commit::CommitOptions as ImageCommit;
use berth_image::fs_changes::Change;
use berth_image::inspect::ContainerConfig as ImageConfig;
use berth_image::{Digest, Reference};

use super::record::Status;
use super::ContainerService;
use crate::error::{Error, Result};
use crate::task::blocking;

/// What `POST /commit` asks for besides the container.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    /// The name the new image gets, if any.
    pub reference: Option<Reference>,
    /// `-m`: the history entry's comment.
    pub comment: String,
    /// `-a`: the image's author.
    pub author: String,
    /// `-c`: Dockerfile instructions applied to the image's config.
    pub changes: Vec<String>,
    /// Freeze a running container while its changes are read (Docker's default).
    pub pause: bool,
    /// The request body's config, used instead of the container's (which still fills what it
    /// leaves empty).
    pub config: Option<ImageConfig>,
}

impl Default for CommitOptions {
    fn default() -> Self {
        CommitOptions {
            reference: None,
            comment: String::new(),
            author: String::new(),
            changes: Vec::new(),
            pause: true,
            config: None,
        }
    }
}

impl ContainerService {
    /// `POST /commit?container=`: a new image of the container's image plus its changes.
    /// Returns the image's id.
    pub async fn commit(&self, key: &str, options: CommitOptions) -> Result<Digest> {
        let entry = self.find(key)?;
        if options
            .reference
            .as_ref()
            .is_some_and(|r| r.digest().is_some())
        {
            return Err(Error::InvalidParameter {
                what: "reference".into(),
                reason: "refusing to create a tag with a digest reference".into(),
            });
        }
        let record = entry.snapshot();
        let parent: Digest = record.image_id.parse()?;
        let from_container = image_config(&record.config);
        let mut config = options
            .config
            .clone()
            .unwrap_or_else(|| from_container.clone());
        // A bad change fails the commit before anything is paused.
        berth_image::commit::apply_changes(&mut config, &options.changes)?;
        merge(&mut config, &from_container);
        let pause = options.pause && record.state.status == Status::Running;
        if pause {
            self.pause(&entry.id, true).await?;
        }
        let committed = {
            let _op = entry.op.lock().await;
            if entry.record().state.status == Status::Removing {
                Err(Error::Conflict(format!(
                    "can't commit container {}: it is being removed",
                    entry.id
                )))
            } else {
                let image = ImageCommit {
                    container: entry.id.clone(),
                    parent,
                    config,
                    author: options.author.clone(),
                    comment: options.comment.clone(),
                    created_by: record.config.cmd.join(" "),
                    source_date_epoch: None,
                };
                self.inner
                    .images
                    .commit(image, options.reference.clone())
                    .await
            }
        };
        if let Ok(id) = &committed {
            let reference = options
                .reference
                .as_ref()
                .map(Reference::familiar)
                .unwrap_or_default();
            // Docker logs the commit before it unpauses.
            self.publish_with(
                "commit",
                &entry.id,
                &[
                    ("comment", options.comment),
                    ("imageID", id.to_string()),
                    ("imageRef", reference),
                ],
            );
        }
        if pause {
            if let Err(e) = self.pause(&entry.id, false).await {
                eprintln!(
                    "berthd: container {}: unpausing after commit: {e}",
                    entry.id
                );
            }
        }
        committed
    }

    /// `GET /containers/{id}/export`: writes the container's root file system to `out` as a
    /// tar (its volumes and bind mounts are not part of it, as in Docker). A stopped container's
    /// root file system is mounted meanwhile; the container cannot start or be removed until
    /// the export ends.
    pub async fn export(&self, key: &str, out: impl Write + Send + 'static) -> Result<()> {
        let entry = self.find(key)?;
        let _op = entry.op.lock().await;
        let live = entry.record().state.status.is_live();
        let rootfs = self.inner.images.mount_rootfs(entry.id.clone()).await?;
        let exported = blocking("export", move || {
            berth_image::rootfs_tar::export(&rootfs, out).map_err(Error::from)
        })
        .await
        .and_then(|r| r);
        if !live {
            if let Err(e) = self.inner.images.unmount_rootfs(entry.id.clone()).await {
                eprintln!(
                    "berthd: container {}: unmounting after export: {e}",
                    entry.id
                );
            }
        }
        exported?;
        self.publish("export", &entry.id);
        Ok(())
    }

    /// `GET /containers/{id}/changes`: the paths the container added, changed or deleted.
    pub async fn changes(&self, key: &str) -> Result<Vec<Change>> {
        let entry = self.find(key)?;
        self.inner.images.container_changes(entry.id.clone()).await
    }
}

/// A container's configuration in the form an image config holds it.
fn image_config(config: &berth_api::containers::ContainerConfig) -> ImageConfig {
    let value = serde_json::to_value(config).expect("container configs serialise");
    let mut image: ImageConfig =
        serde_json::from_value(value).expect("a container config reads as an image's");
    for list in [&mut image.cmd, &mut image.entrypoint, &mut image.on_build] {
        if list.as_ref().is_some_and(Vec::is_empty) {
            *list = None;
        }
    }
    image
}

/// Fills what `user` leaves empty from `base`, as Docker merges a commit's config with the
/// container's: lists and maps are extended (the user's entries win), strings and the
/// command are taken only when unset.
fn merge(user: &mut ImageConfig, base: &ImageConfig) {
    if user.user.is_empty() {
        user.user = base.user.clone();
    }
    if user.working_dir.is_empty() {
        user.working_dir = base.working_dir.clone();
    }
    if let Some(ports) = &base.exposed_ports {
        let mine = user.exposed_ports.get_or_insert_with(Default::default);
        for (port, value) in ports {
            mine.entry(port.clone()).or_insert_with(|| value.clone());
        }
    }
    if let Some(volumes) = &base.volumes {
        let mine = user.volumes.get_or_insert_with(Default::default);
        for (volume, value) in volumes {
            mine.entry(volume.clone()).or_insert_with(|| value.clone());
        }
    }
    if let Some(labels) = &base.labels {
        let mine = user.labels.get_or_insert_with(Default::default);
        for (key, value) in labels {
            mine.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    let key = |var: &str| var.split_once('=').map_or(var, |(k, _)| k).to_string();
    let env = user.env.get_or_insert_with(Vec::new);
    for var in base.env.iter().flatten() {
        if !env.iter().any(|mine| key(mine) == key(var)) {
            env.push(var.clone());
        }
    }
    if user.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if user.cmd.as_ref().is_none_or(Vec::is_empty) {
            user.cmd = base.cmd.clone();
        }
        if user.entrypoint.is_none() {
            user.entrypoint = base.entrypoint.clone();
        }
    }
    if user.healthcheck.is_none() {
        user.healthcheck = base.healthcheck.clone();
    }
    if user.stop_signal.is_none() {
        user.stop_signal = base.stop_signal.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_config_is_filled_from_the_containers() {
        let base = ImageConfig {
            user: "app".into(),
            env: Some(vec!["PATH=/bin".into(), "A=base".into()]),
            cmd: Some(vec!["sh".into()]),
            entrypoint: Some(vec!["/init".into()]),
            labels: Some([("k".to_string(), "base".to_string())].into()),
            ..ImageConfig::default()
        };
        let mut user = ImageConfig {
            env: Some(vec!["A=mine".into()]),
            labels: Some([("k".to_string(), "mine".to_string())].into()),
            ..ImageConfig::default()
        };
        merge(&mut user, &base);
        assert_eq!(user.user, "app");
        assert_eq!(user.env.unwrap(), ["A=mine", "PATH=/bin"]);
        assert_eq!(user.labels.unwrap()["k"], "mine");
        assert_eq!(user.cmd.unwrap(), ["sh"]);
        assert_eq!(user.entrypoint.unwrap(), ["/init"]);

        let mut own_entrypoint = ImageConfig {
            entrypoint: Some(vec!["/bin/echo".into()]),
            ..ImageConfig::default()
        };
        merge(&mut own_entrypoint, &base);
        assert_eq!(own_entrypoint.cmd, None, "the container's cmd was kept");
    }

    #[test]
    fn empty_container_lists_become_unset() {
        let config = berth_api::containers::ContainerConfig {
            cmd: vec![],
            env: vec!["PATH=/bin".into()],
            hostname: "abc".into(),
            ..Default::default()
        };
        let image = image_config(&config);
        assert_eq!(image.cmd, None);
        assert_eq!(image.env.unwrap(), ["PATH=/bin"]);
        assert_eq!(image.hostname, "abc");
    }
}
