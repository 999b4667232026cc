//! Disk usage (`GET /system/df`, and the sizes of `ps -s` and `inspect -s`): images with the
//! layers they share and the containers using them, containers with what they wrote, volumes
//! with their content and users; the build cache's entries are added by the API from
//! [`crate::build::BuildService::cache_records`].

use std::collections::HashMap;

use berth_api::containers::ContainerSummary;
use berth_api::disk_usage::{DiskUsage, ImageUsage, UsageData, VolumeUsage};

use crate::containers::ContainerService;
use crate::error::{Error, Result};
use crate::images::ImageService;
use crate::task::blocking;
use crate::volumes::VolumeService;

/// Which kinds `GET /system/df?type=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageKinds {
    pub containers: bool,
    pub images: bool,
    pub volumes: bool,
    pub build_cache: bool,
}

impl UsageKinds {
    /// Every kind (no `type` given).
    pub const ALL: UsageKinds = UsageKinds {
        containers: true,
        images: true,
        volumes: true,
        build_cache: true,
    };

    /// The kinds the `type` values name (`container`, `image`, `volume`, `build-cache`); all of
    /// them when there are none.
    pub fn parse(types: &[&str]) -> Result<UsageKinds> {
        if types.is_empty() {
            return Ok(UsageKinds::ALL);
        }
        let mut kinds = UsageKinds {
            containers: false,
            images: false,
            volumes: false,
            build_cache: false,
        };
        for kind in types {
            match *kind {
                "container" => kinds.containers = true,
                "image" => kinds.images = true,
                "volume" => kinds.volumes = true,
                "build-cache" => kinds.build_cache = true,
                other => {
                    return Err(Error::InvalidParameter {
                        what: "type".into(),
                        reason: format!("unknown object type: {other}"),
                    })
                }
            }
        }
        Ok(kinds)
    }
}

/// The services whose disk usage `GET /system/df` reports.
pub struct Usage<'a> {
    pub images: &'a ImageService,
    pub containers: &'a ContainerService,
    pub volumes: &'a VolumeService,
}

impl Usage<'_> {
    /// `GET /system/df`: the kinds `kinds` asks for; the others are left `null`.
    pub async fn report(&self, kinds: UsageKinds) -> Result<DiskUsage> {
        let mut usage = DiskUsage::default();
        let all_containers = self.containers.list(true);
        if kinds.images {
            let (layers_size, images) = self.images(&all_containers).await?;
            usage.layers_size = layers_size;
            usage.images = Some(images);
        }
        if kinds.containers {
            let mut containers = all_containers;
            container_sizes(self.images, &mut containers).await?;
            usage.containers = Some(containers);
        }
        if kinds.volumes {
            usage.volumes = Some(self.volumes().await?);
        }
        if kinds.build_cache {
            usage.build_cache = Some(Vec::new());
        }
        Ok(usage)
    }

    async fn images(&self, containers: &[ContainerSummary]) -> Result<(i64, Vec<ImageUsage>)> {
        let layers = self.images.layers_usage().await?;
        let shared: HashMap<String, u64> = layers
            .images
            .iter()
            .map(|i| (i.id.to_string(), i.shared_size))
            .collect();
        let images = self
            .images
            .list()
            .await?
            .into_iter()
            .map(|summary| ImageUsage {
                containers: containers
                    .iter()
                    .filter(|c| c.image_id == summary.id)
                    .count() as i64,
                created: summary.created,
                shared_size: shared.get(&summary.id).map_or(-1, |s| *s as i64),
                size: summary.size as i64,
                labels: summary.labels,
                parent_id: summary.parent_id,
                repo_digests: summary.repo_digests,
                repo_tags: summary.repo_tags,
                id: summary.id,
                virtual_size: None,
            })
            .collect();
        Ok((layers.layers_size as i64, images))
    }

    async fn volumes(&self) -> Result<Vec<VolumeUsage>> {
        let volumes = self.volumes.clone();
        blocking("volume usage", move || {
            volumes
                .ref_counts()
                .into_iter()
                .map(|(record, users)| {
                    let size = berth_image::usage::tree_size(&volumes.mountpoint(&record.name))?;
                    Ok(VolumeUsage {
                        volume: volumes.view(&record),
                        usage_data: Some(UsageData {
                            size: size as i64,
                            ref_count: users as i64,
                        }),
                    })
                })
                .collect()
        })
        .await?
    }
}

/// Fills in each row's `SizeRw` (what the container wrote) and `SizeRootFs` (that plus its
/// image), as `GET /containers/json?size=true` does.
pub async fn container_sizes(images: &ImageService, rows: &mut [ContainerSummary]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let image_sizes = image_sizes(images).await?;
    for row in rows {
        let written = written(images, &row.id).await?;
        let image = image_sizes.get(&row.image_id).copied().unwrap_or(0);
        row.size_rw = Some(written as i64);
        row.size_root_fs = Some((written + image) as i64);
    }
    Ok(())
}

/// `(SizeRw, SizeRootFs)` of container `id` made from image `image_id`, for
/// `GET /containers/{id}/json?size=true`.
pub async fn sizes_of(images: &ImageService, id: &str, image_id: &str) -> Result<(i64, i64)> {
    let written = written(images, id).await?;
    let image = image_sizes(images)
        .await?
        .get(image_id)
        .copied()
        .unwrap_or(0);
    Ok((written as i64, (written + image) as i64))
}

async fn image_sizes(images: &ImageService) -> Result<HashMap<String, u64>> {
    Ok(images
        .list()
        .await?
        .into_iter()
        .map(|image| (image.id, image.size))
        .collect())
}

/// What container `id` wrote; 0 when it has no root file system (any more): it is being
/// created or removed meanwhile.
async fn written(images: &ImageService, id: &str) -> Result<u64> {
    match images.container_size(id.to_string()).await {
        Err(Error::Image(berth_image::Error::Io { source, .. }))
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(0)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_select_kinds_and_unknown_ones_are_refused() {
        assert_eq!(UsageKinds::parse(&[]).unwrap(), UsageKinds::ALL);
        let kinds = UsageKinds::parse(&["volume", "build-cache"]).unwrap();
        assert!(kinds.volumes && kinds.build_cache && !kinds.images && !kinds.containers);
        let err = UsageKinds::parse(&["disk"]).unwrap_err();
        assert_eq!(err.to_string(), "invalid type: unknown object type: disk");
    }
}
