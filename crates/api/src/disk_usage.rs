//! `GET /system/df`: what images, containers, volumes and the build cache take on disk, in
//! dockerd's shape (API 1.44); read leniently, so any daemon's answer decodes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::containers::ContainerSummary;
use crate::lenient::null_as_default as nd;
use crate::volumes::Volume;

/// The answer of `GET /system/df`. A kind the `type` query left out is `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DiskUsage {
    /// Bytes of all image layers, each counted once.
    #[serde(deserialize_with = "nd")]
    pub layers_size: i64,
    pub images: Option<Vec<ImageUsage>>,
    /// With `SizeRw` and `SizeRootFs` filled in.
    pub containers: Option<Vec<ContainerSummary>>,
    pub volumes: Option<Vec<VolumeUsage>>,
    pub build_cache: Option<Vec<BuildCacheRecord>>,
}

/// One image of `GET /system/df`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageUsage {
    /// How many containers use it.
    #[serde(deserialize_with = "nd")]
    pub containers: i64,
    /// Unix seconds.
    #[serde(deserialize_with = "nd")]
    pub created: i64,
    #[serde(deserialize_with = "nd")]
    pub id: String,
    #[serde(deserialize_with = "nd")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "nd")]
    pub parent_id: String,
    #[serde(deserialize_with = "nd")]
    pub repo_digests: Vec<String>,
    #[serde(deserialize_with = "nd")]
    pub repo_tags: Vec<String>,
    /// Bytes of its layers that other images have too (-1: not computed).
    #[serde(deserialize_with = "nd")]
    pub shared_size: i64,
    #[serde(deserialize_with = "nd")]
    pub size: i64,
    /// The same as `Size`; only before API 1.44.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_size: Option<i64>,
}

/// One volume of `GET /system/df`: the volume and what it takes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeUsage {
    #[serde(flatten)]
    pub volume: Volume,
    /// `null` when not computed.
    pub usage_data: Option<UsageData>,
}

/// How much a volume holds and how many containers use it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UsageData {
    /// Bytes (-1: not computed).
    #[serde(deserialize_with = "nd")]
    pub size: i64,
    /// Containers referring to it (-1: not computed).
    #[serde(deserialize_with = "nd")]
    pub ref_count: i64,
}

/// One build cache record: a cached step of a Dockerfile build.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BuildCacheRecord {
    #[serde(rename = "ID", deserialize_with = "nd")]
    pub id: String,
    #[serde(deserialize_with = "nd")]
    pub r#type: String,
    #[serde(deserialize_with = "nd")]
    pub description: String,
    #[serde(deserialize_with = "nd")]
    pub in_use: bool,
    #[serde(deserialize_with = "nd")]
    pub shared: bool,
    #[serde(deserialize_with = "nd")]
    pub size: i64,
    /// RFC 3339.
    #[serde(deserialize_with = "nd")]
    pub created_at: String,
    /// RFC 3339; `null` when never used.
    pub last_used_at: Option<String>,
    #[serde(deserialize_with = "nd")]
    pub usage_count: i64,
}

/// `POST /build/prune`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BuildCachePruneResponse {
    /// The ids removed; `null` when none were.
    pub caches_deleted: Option<Vec<String>>,
    #[serde(deserialize_with = "nd")]
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerds_answer_decodes_with_its_nulls() {
        let body = r#"{"LayersSize":4261524,"Images":[{"Containers":1,"Created":1,"Id":"sha256:ab","Labels":null,"ParentId":"","RepoDigests":null,"RepoTags":["busybox:latest"],"SharedSize":0,"Size":4261524}],"Containers":null,"Volumes":[{"CreatedAt":"2024-05-01T10:00:00Z","Driver":"local","Labels":null,"Mountpoint":"/v/_data","Name":"v","Options":null,"Scope":"local","UsageData":{"RefCount":2,"Size":1048576}}],"BuildCache":[]}"#;
        let usage: DiskUsage = serde_json::from_str(body).unwrap();
        assert_eq!(usage.layers_size, 4261524);
        let images = usage.images.unwrap();
        assert_eq!(images[0].repo_tags, ["busybox:latest"]);
        assert!(images[0].labels.is_empty());
        assert!(usage.containers.is_none());
        let volume = &usage.volumes.unwrap()[0];
        assert_eq!(volume.volume.name, "v");
        assert_eq!(
            volume.usage_data,
            Some(UsageData {
                size: 1048576,
                ref_count: 2
            })
        );
        assert_eq!(usage.build_cache, Some(vec![]));
    }

    #[test]
    fn a_volume_serialises_flat_with_its_usage() {
        let volume = VolumeUsage {
            volume: Volume {
                name: "v".into(),
                ..Volume::default()
            },
            usage_data: Some(UsageData {
                size: 3,
                ref_count: 0,
            }),
        };
        let json = serde_json::to_value(&volume).unwrap();
        assert_eq!(json["Name"], "v");
        assert_eq!(json["UsageData"]["Size"], 3);
        assert_eq!(json["UsageData"]["RefCount"], 0);
    }
}
