//! A container's volumes and host paths through its life: made and referred to at create,
//! mounted (and filled from the image when empty) at each start, unmounted at each exit,
//! released at removal — with `rm -v` and `--rm` removing its anonymous volumes, as Docker.

use std::path::{Path, PathBuf};

use berth_api::container_inspect::MountPoint as MountView;
use berth_api::containers::{ContainerConfig, HostConfig};
use berth_api::volumes::VolumeCreateRequest;

use super::mount_plan::{self, MountPoint, Source, VolumesFrom};
use super::record::ContainerRecord;
use super::ContainerService;
use crate::error::{Error, Result};
use crate::spec::Bind;
use crate::volumes::{populate, VolumeService};

impl ContainerService {
    /// The mount points of a new container `id`: `--volumes-from` containers found, volumes
    /// made or taken and referred to by `id`. On an error nothing stays referred to.
    pub(super) fn make_mount_points(
        &self,
        id: &str,
        host: &HostConfig,
        config: &ContainerConfig,
    ) -> Result<Vec<MountPoint>> {
        let mut from = Vec::new();
        for spec in &host.volumes_from {
            let (name, read_only) = mount_plan::parse_volumes_from(spec)?;
            // A 404 would make the docker CLI pull the image: the request is what is wrong.
            let points = match self.find(name) {
                Ok(entry) => entry.record().mount_points.clone(),
                Err(Error::NoSuchContainer(_)) => {
                    return Err(Error::BadRequest(format!("No such container: {name}")))
                }
                Err(e) => return Err(e),
            };
            from.push(VolumesFrom { points, read_only });
        }
        let planned = mount_plan::plan(host, config, &from)?;
        let volumes = &self.inner.volumes;
        let mut points = Vec::with_capacity(planned.len());
        for one in planned {
            let mut point = one.point;
            if let Source::Volume(name) = &mut point.source {
                let taken = match one.volume {
                    Some((labels, driver_opts)) => volumes
                        .create_for(
                            VolumeCreateRequest {
                                name: name.clone(),
                                labels,
                                driver_opts,
                                ..VolumeCreateRequest::default()
                            },
                            id,
                        )
                        .map(|record| record.name),
                    // Another container's volume, by `--volumes-from`.
                    None => volumes.reference(name, id).map(|()| name.clone()),
                };
                match taken {
                    Ok(taken) => *name = taken,
                    Err(e) => {
                        release(volumes, id, &points, true);
                        return Err(e);
                    }
                }
            }
            points.push(point);
        }
        Ok(points)
    }

    /// After a daemon restart: `record`'s volumes are referred to again, and mounted again if
    /// it runs.
    pub(super) fn restore_volumes(&self, record: &ContainerRecord) {
        let volumes = &self.inner.volumes;
        for point in &record.mount_points {
            let Source::Volume(name) = &point.source else {
                continue;
            };
            let restored = volumes.reference(name, &record.id).and_then(|()| {
                if record.state.status.is_live() {
                    volumes
                        .mount(name, &record.id, &point.destination, !point.read_only)
                        .map(drop)
                } else {
                    Ok(())
                }
            });
            if let Err(e) = restored {
                eprintln!("berthd: container {}: volume {name}: {e}", record.id);
            }
        }
    }

    /// The container stopped: its volumes are unmounted.
    pub(super) fn unmount_volumes(&self, record: &ContainerRecord) {
        unmount_all(&self.inner.volumes, &record.id, &record.mount_points);
    }

    /// The container is removed: it no longer refers to its volumes; with `remove_anonymous`
    /// its anonymous volumes go too (unless another container uses them).
    pub(super) fn release_volumes(&self, record: &ContainerRecord, remove_anonymous: bool) {
        release(
            &self.inner.volumes,
            &record.id,
            &record.mount_points,
            remove_anonymous,
        );
    }

    /// The mounts as inspect and `ps` show them.
    pub(super) fn mount_views(&self, record: &ContainerRecord) -> Vec<MountView> {
        let mut views: Vec<MountView> = record
            .mount_points
            .iter()
            .map(|point| match &point.source {
                Source::Volume(name) => MountView {
                    r#type: "volume".into(),
                    name: name.clone(),
                    source: self.inner.volumes.mountpoint(name).display().to_string(),
                    destination: point.destination.clone(),
                    driver: "local".into(),
                    mode: point.mode.clone(),
                    rw: !point.read_only,
                    propagation: point.propagation.clone(),
                },
                Source::Bind(path) => MountView {
                    r#type: "bind".into(),
                    name: String::new(),
                    source: path.display().to_string(),
                    destination: point.destination.clone(),
                    driver: String::new(),
                    mode: point.mode.clone(),
                    rw: !point.read_only,
                    propagation: point.propagation.clone(),
                },
            })
            .collect();
        views.extend(
            record
                .host_config
                .mounts
                .iter()
                .filter(|m| m.r#type == "tmpfs")
                .map(|m| MountView {
                    r#type: "tmpfs".into(),
                    destination: mount_plan::clean(&m.target),
                    rw: !m.read_only,
                    ..MountView::default()
                }),
        );
        views
    }
}

/// Mounts `record`'s volumes for a start on `rootfs` (filling empty ones from the image) and
/// makes the host paths `-v` names; returns the binds the spec needs. On an error the volumes
/// mounted so far are unmounted.
pub(super) fn mount_all(
    volumes: &VolumeService,
    record: &ContainerRecord,
    rootfs: &Path,
) -> Result<Vec<Bind>> {
    let mut binds = Vec::with_capacity(record.mount_points.len());
    for point in &record.mount_points {
        match mount_one(volumes, record, rootfs, point) {
            Ok(source) => binds.push(Bind {
                source,
                destination: point.destination.clone(),
                read_only: point.read_only,
                propagation: point.propagation.clone(),
            }),
            Err(e) => {
                unmount_all(volumes, &record.id, &record.mount_points);
                return Err(e);
            }
        }
    }
    Ok(binds)
}

fn mount_one(
    volumes: &VolumeService,
    record: &ContainerRecord,
    rootfs: &Path,
    point: &MountPoint,
) -> Result<PathBuf> {
    match &point.source {
        Source::Volume(name) => {
            let data = volumes.mount(name, &record.id, &point.destination, !point.read_only)?;
            if point.copy_data {
                populate::populate(rootfs, &point.destination, &data)?;
            }
            Ok(data)
        }
        Source::Bind(path) => {
            if point.create_host_path && !path.exists() {
                std::fs::create_dir_all(path).map_err(|e| Error::InvalidParameter {
                    what: "bind".into(),
                    reason: format!("create the host path {}: {e}", path.display()),
                })?;
            }
            if !path.exists() {
                return Err(Error::BadRequest(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    path.display()
                )));
            }
            check_propagation(path, &point.propagation)?;
            Ok(path.clone())
        }
    }
}

/// A bind that shares mounts with the host needs its host path on a shared mount (a slave
/// bind, shared or slave), as Docker checks: else the propagation would silently not happen.
fn check_propagation(path: &Path, propagation: &str) -> Result<()> {
    let wanted: &[&str] = match propagation {
        "shared" | "rshared" => &["shared:"],
        "slave" | "rslave" => &["shared:", "master:"],
        _ => return Ok(()),
    };
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    // The mount whose mount point is the longest prefix of the path holds it.
    let holder = berth_runtime::mountinfo::read()
        .unwrap_or_default()
        .into_iter()
        .filter(|mount| path.starts_with(&mount.mount_point))
        .max_by_key(|mount| mount.mount_point.as_os_str().len())
        .map(|mount| (mount.mount_point.display().to_string(), mount.optional));
    let Some((point, optional)) = holder else {
        return Ok(());
    };
    if optional
        .iter()
        .any(|o| wanted.iter().any(|w| o.starts_with(w)))
    {
        return Ok(());
    }
    let kind = if wanted.len() == 1 {
        "a shared mount"
    } else {
        "a shared or slave mount"
    };
    Err(Error::InvalidParameter {
        what: "bind propagation".into(),
        reason: format!(
            "path {} is mounted on {point} but it is not {kind}",
            path.display()
        ),
    })
}

fn unmount_all(volumes: &VolumeService, id: &str, points: &[MountPoint]) {
    for point in points {
        if let Source::Volume(name) = &point.source {
            if let Err(e) = volumes.unmount(name, id) {
                eprintln!("berthd: container {id}: unmount volume {name}: {e}");
            }
        }
    }
}

/// `id` no longer refers to the volumes of `points`; with `remove_anonymous` the anonymous
/// ones no other container uses are removed.
pub(super) fn release(
    volumes: &VolumeService,
    id: &str,
    points: &[MountPoint],
    remove_anonymous: bool,
) {
    for point in points {
        let Source::Volume(name) = &point.source else {
            continue;
        };
        volumes.release(name, id);
        let anonymous = volumes.get(name).is_ok_and(|v| v.is_anonymous());
        if remove_anonymous && anonymous {
            match volumes.remove(name, true) {
                // Still used by another container (`--volumes-from`): it stays.
                Ok(()) | Err(Error::Conflict(_)) => {}
                Err(e) => eprintln!("berthd: container {id}: remove volume {name}: {e}"),
            }
        }
    }
}
