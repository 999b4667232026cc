//! `docker commit`'s image side: a container's changes become one new layer on top of the image
//! it was made from, with a config derived from the container's and a history entry saying who
//! made it and why.
//!
//! The layer is stored uncompressed, its blob being its own diff id: the diff is written once,
//! straight into the blob store, and never compressed or hashed a second time. Its snapshot is
//! unpacked when a container first needs it, as for any layer.

use std::io;

use serde_json::{json, Map, Value};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::images::{ImageRecord, ImageStore};
use crate::inspect::ContainerConfig;
use crate::reference::Reference;
use crate::snapshot::Snapshotter;
use crate::store::BlobStore;

/// The diff id of a layer without changes (an empty tar: two zero blocks). Docker leaves such
/// a layer out of the image and marks its history entry `empty_layer`.
pub const EMPTY_LAYER: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// What a commit records besides the changes.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    /// The container's snapshot id.
    pub container: String,
    /// The image the container was made from.
    pub parent: Digest,
    /// The new image's run configuration.
    pub config: ContainerConfig,
    /// `--author`; empty: none.
    pub author: String,
    /// `--message`; empty: none.
    pub comment: String,
    /// The history's `created_by`: the container's command, as Docker writes it.
    pub created_by: String,
    /// A build's `SOURCE_DATE_EPOCH` (Unix seconds): the image's and the new history entry's
    /// `created`, the cap of the layer's modification times, and no container id, so that
    /// the same input gives the same image whenever it is built.
    pub source_date_epoch: Option<i64>,
}

/// Applies `--change` lines to `config` in order, as Docker's commit does: an ENTRYPOINT
/// without a CMD among the changes before it clears the command.
pub fn apply_changes(config: &mut ContainerConfig, changes: &[String]) -> Result<()> {
    let mut cmd_set = false;
    for change in changes {
        crate::changes::apply(config, change)?;
        let instruction = change.split_whitespace().next().unwrap_or("");
        if instruction.eq_ignore_ascii_case("CMD") {
            cmd_set = true;
        } else if instruction.eq_ignore_ascii_case("ENTRYPOINT") && !cmd_set {
            config.cmd = None;
        }
    }
    Ok(())
}

/// Writes container `container`'s changes into `blobs` as an uncompressed layer and returns
/// its digest, which is its diff id (the diff hashes what it writes). Needs no image store:
/// the long part of a commit runs while other image operations go on. Hold
/// [`crate::lock::DataLock::writer`] until [`add_image`] refers to the blob. `options` says
/// which container and whether its modification times are clamped.
pub fn write_layer(
    blobs: &BlobStore,
    snapshots: &Snapshotter,
    options: &CommitOptions,
) -> Result<Digest> {
    let clamp = options.source_date_epoch.map(|s| s.max(0) as u64);
    let (digest, _) = blobs.put_produced(|out| {
        Ok(snapshots
            .diff_container(&options.container, clamp, out)?
            .diff_id)
    })?;
    Ok(digest)
}

/// Stores the image made of `options.parent` and the layer `diff_id` (left out if empty), and
/// points `names` at it. Returns the new image's id.
pub fn add_image(
    store: &mut ImageStore,
    options: &CommitOptions,
    diff_id: Digest,
    names: &[Reference],
) -> Result<Digest> {
    let parent_id = options.parent.to_string();
    let parent = store
        .get(&parent_id)
        .ok_or_else(|| Error::ImageNotFound(parent_id.clone()))?
        .clone();
    let parent_config: Value =
        serde_json::from_slice(&store.blobs().get(&parent.id)?).map_err(|e| Error::Io {
            context: format!("parse the config of image {parent_id}"),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
    let empty = diff_id.to_string() == EMPTY_LAYER;
    let mut record = ImageRecord {
        id: parent.id.clone(),
        layers: parent.layers.clone(),
        diff_ids: parent.diff_ids.clone(),
        repo_digests: Vec::new(),
    };
    if !empty {
        record.layers.push(diff_id.clone());
        record.diff_ids.push(diff_id);
    }
    let config = image_config(&parent_config, &record.diff_ids, options, empty);
    record.id = store
        .blobs()
        .put_new(&serde_json::to_vec(&config).expect("JSON values serialise"))?;
    let id = record.id.clone();
    store.add(record, names)?;
    Ok(id)
}

/// The new image's config: the parent's platform, the new run configuration, the parent's
/// layers plus the new one, and the parent's history plus this commit.
fn image_config(
    parent: &Value,
    diff_ids: &[Digest],
    options: &CommitOptions,
    empty_layer: bool,
) -> Value {
    let created = options
        .source_date_epoch
        .map_or_else(now_rfc3339, crate::time::format);
    let mut config = Map::new();
    for key in ["architecture", "variant", "os", "os.version", "os.features"] {
        if let Some(value) = parent.get(key) {
            config.insert(key.into(), value.clone());
        }
    }
    let mut entry = Map::new();
    entry.insert("created".into(), json!(created));
    if !options.author.is_empty() {
        config.insert("author".into(), json!(options.author));
        entry.insert("author".into(), json!(options.author));
    }
    entry.insert("created_by".into(), json!(options.created_by));
    if !options.comment.is_empty() {
        config.insert("comment".into(), json!(options.comment));
        entry.insert("comment".into(), json!(options.comment));
    }
    if empty_layer {
        entry.insert("empty_layer".into(), json!(true));
    }
    let mut history = parent
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    history.push(Value::Object(entry));
    config.insert("config".into(), json!(options.config));
    if options.source_date_epoch.is_none() {
        config.insert("container".into(), json!(options.container));
    }
    config.insert("created".into(), json!(created));
    config.insert("history".into(), Value::Array(history));
    config.insert(
        "rootfs".into(),
        json!({ "type": "layers", "diff_ids": diff_ids }),
    );
    Value::Object(config)
}

/// Now as RFC 3339 with nanoseconds, as Docker stamps images (two commits within a second
/// still differ).
fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = crate::time::format(now.as_secs() as i64);
    format!(
        "{}.{:09}Z",
        seconds.trim_end_matches('Z'),
        now.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entrypoint_change_clears_the_command_unless_a_cmd_came_first() {
        let mut config = ContainerConfig {
            cmd: Some(vec!["sh".into()]),
            ..ContainerConfig::default()
        };
        apply_changes(&mut config, &[r#"ENTRYPOINT ["/bin/echo"]"#.into()]).unwrap();
        assert_eq!(config.cmd, None);
        apply_changes(
            &mut config,
            &[r#"CMD ["hi"]"#.into(), "ENTRYPOINT /bin/echo".into()],
        )
        .unwrap();
        assert_eq!(config.cmd.unwrap(), ["hi"]);
    }

    #[test]
    fn the_empty_layer_is_an_empty_tar() {
        let tar = tar::Builder::new(Vec::new()).into_inner().unwrap();
        assert_eq!(crate::digest::sha256(&tar).to_string(), EMPTY_LAYER);
    }

    #[test]
    fn history_and_layers_extend_the_parents() {
        let parent = json!({
            "architecture": "amd64", "os": "linux", "variant": "v8",
            "history": [{"created_by": "ADD rootfs"}],
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]},
        });
        let options = CommitOptions {
            container: "c1".into(),
            author: "A <a@x>".into(),
            comment: "why".into(),
            created_by: "sh -c touch /x".into(),
            parent: crate::digest::sha256(b"parent"),
            config: ContainerConfig::default(),
            source_date_epoch: None,
        };
        let layer = crate::digest::sha256(b"layer");
        let config = image_config(&parent, std::slice::from_ref(&layer), &options, false);
        assert_eq!(config["architecture"], "amd64");
        assert_eq!(config["variant"], "v8");
        assert_eq!(config["author"], "A <a@x>");
        assert_eq!(config["container"], "c1");
        let history = config["history"].as_array().unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1]["created_by"], "sh -c touch /x");
        assert_eq!(history[1]["comment"], "why");
        assert!(history[1].get("empty_layer").is_none());
        assert_eq!(config["rootfs"]["diff_ids"][0], layer.to_string());
        let created = config["created"].as_str().unwrap();
        assert!(crate::time::parse(created).is_some(), "{created}");

        let reproducible = CommitOptions {
            source_date_epoch: Some(1_700_000_000),
            ..options
        };
        let config = image_config(&parent, &[layer], &reproducible, false);
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        assert_eq!(config["history"][1]["created"], "2023-11-14T22:13:20Z");
        assert!(config.get("container").is_none(), "{config}");
    }
}
