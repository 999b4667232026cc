//! Which volumes and host paths a container mounts, decided at create as dockerd decides them:
//! `--volumes-from` first, then `-v` binds and volumes, then `--mount`, then the image's (and
//! `-v /path`'s) `Volumes` not already covered, each as an anonymous volume. The result is
//! recorded with the container ([`MountPoint`]) and mounted at every start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_api::containers::{ContainerConfig, HostConfig, Mount};
use serde::{Deserialize, Serialize};

use super::volume_spec::{self, VolumeSource};
use crate::error::{Error, Result};

/// Where a mount point's content comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A volume by name (an anonymous one has a random 64-hex name).
    Volume(String),
    /// A host path.
    Bind(PathBuf),
}

/// One volume or host path a container mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    pub source: Source,
    /// The absolute path in the container, cleaned.
    pub destination: String,
    pub read_only: bool,
    /// The mode as Docker shows it in inspect (`ro`, `z`, or empty).
    pub mode: String,
    /// Binds: `rprivate` unless asked otherwise; volumes: empty.
    pub propagation: String,
    /// Volumes: an empty volume is filled from the image's content at the destination.
    pub copy_data: bool,
    /// Binds from `-v`: a missing host path is made as a directory (`--mount` refuses it).
    pub create_host_path: bool,
}

/// A mount point whose volume may not exist yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub point: MountPoint,
    /// How to make the volume when it is missing: its labels and driver options. `None` for
    /// binds. An empty volume name in `point` means a new anonymous volume.
    pub volume: Option<(BTreeMap<String, String>, BTreeMap<String, String>)>,
}

/// Another container's mount points, as `--volumes-from NAME[:ro|:rw]` found them.
pub struct VolumesFrom {
    pub points: Vec<MountPoint>,
    /// `Some(true)` for `:ro`, `Some(false)` for `:rw`, `None` to keep each point's mode.
    pub read_only: Option<bool>,
}

fn invalid(what: &str, reason: String) -> Error {
    Error::InvalidParameter {
        what: what.into(),
        reason,
    }
}

fn invalid_mount(kind: &str, reason: String) -> Error {
    Error::BadRequest(format!("invalid mount config for type {kind:?}: {reason}"))
}

/// `/a//b/./c/` → `/a/b/c`, `..` resolved lexically (Go's `filepath.Clean`).
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Splits `NAME[:ro|:rw]` of `--volumes-from`.
pub fn parse_volumes_from(spec: &str) -> Result<(&str, Option<bool>)> {
    let (name, mode) = match spec.split_once(':') {
        Some((name, mode)) => (name, Some(mode)),
        None => (spec, None),
    };
    let read_only = match mode {
        None => None,
        Some("ro") => Some(true),
        Some("rw") => Some(false),
        Some(other) => {
            return Err(Error::BadRequest(format!(
                "invalid mode for volumes-from: {other}"
            )))
        }
    };
    if name.is_empty() {
        return Err(invalid(
            "volumes-from",
            format!("{spec:?} names no container"),
        ));
    }
    Ok((name, read_only))
}

/// The mount points of a container made with `host` and `config` (the image's defaults
/// merged in), with `from` the containers of `--volumes-from`, resolved by the caller.
pub fn plan(
    host: &HostConfig,
    config: &ContainerConfig,
    from: &[VolumesFrom],
) -> Result<Vec<Planned>> {
    let mut planned: BTreeMap<String, Planned> = BTreeMap::new();
    for source in from {
        for point in &source.points {
            let mut point = point.clone();
            if let Some(read_only) = source.read_only {
                point.read_only = read_only;
                point.mode = if read_only { "ro" } else { "rw" }.to_string();
            }
            planned.entry(point.destination.clone()).or_insert(Planned {
                point,
                volume: None,
            });
        }
    }
    // What the user asked for by `-v`, `--mount` and `--tmpfs` must not collide.
    let mut asked: Vec<String> = host.tmpfs.keys().map(|d| clean(d)).collect();
    let mut claim = |destination: &str| -> Result<()> {
        if asked.iter().any(|d| d == destination) {
            return Err(Error::BadRequest(format!(
                "Duplicate mount point: {destination}"
            )));
        }
        asked.push(destination.to_string());
        Ok(())
    };
    for spec in &host.binds {
        let parsed = volume_spec::parse(spec)?;
        let destination = clean(&parsed.destination);
        claim(&destination)?;
        let point = match parsed.source {
            VolumeSource::Bind(path) => MountPoint {
                source: Source::Bind(path),
                destination: destination.clone(),
                read_only: parsed.read_only,
                mode: mode_text(spec),
                propagation: if parsed.propagation.is_empty() {
                    "rprivate".into()
                } else {
                    parsed.propagation
                },
                copy_data: false,
                create_host_path: true,
            },
            VolumeSource::Named(name) => MountPoint {
                source: Source::Volume(name),
                destination: destination.clone(),
                read_only: parsed.read_only,
                mode: if mode_text(spec).is_empty() {
                    "z".into()
                } else {
                    mode_text(spec)
                },
                propagation: String::new(),
                copy_data: !parsed.nocopy,
                create_host_path: false,
            },
            VolumeSource::Anonymous => MountPoint {
                source: Source::Volume(String::new()),
                destination: destination.clone(),
                read_only: parsed.read_only,
                mode: mode_text(spec),
                propagation: String::new(),
                copy_data: !parsed.nocopy,
                create_host_path: false,
            },
        };
        let volume =
            matches!(point.source, Source::Volume(_)).then(|| (BTreeMap::new(), BTreeMap::new()));
        planned.insert(destination, Planned { point, volume });
    }
    for mount in &host.mounts {
        if mount.r#type == "tmpfs" {
            check_tmpfs(mount)?;
            claim(&clean(&mount.target))?;
            continue;
        }
        let one = from_mount(mount)?;
        claim(&one.point.destination)?;
        planned.insert(one.point.destination.clone(), one);
    }
    for destination in config.volumes.keys() {
        let destination = clean(destination);
        if planned.contains_key(&destination) || asked.contains(&destination) {
            continue;
        }
        if destination == "/" {
            return Err(invalid(
                "volume",
                "invalid specification: destination can't be '/'".into(),
            ));
        }
        planned.insert(
            destination.clone(),
            Planned {
                point: MountPoint {
                    source: Source::Volume(String::new()),
                    destination,
                    read_only: false,
                    mode: String::new(),
                    propagation: String::new(),
                    copy_data: true,
                    create_host_path: false,
                },
                volume: Some((BTreeMap::new(), BTreeMap::new())),
            },
        );
    }
    Ok(planned.into_values().collect())
}

/// The mode part of a `-v` string, as inspect shows it.
fn mode_text(spec: &str) -> String {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [_, _, mode] => mode.to_string(),
        _ => String::new(),
    }
}

fn check_target(kind: &str, target: &str) -> Result<String> {
    if target.is_empty() {
        return Err(invalid_mount(kind, "field Target must not be empty".into()));
    }
    if !target.starts_with('/') {
        return Err(invalid_mount(
            kind,
            format!("invalid mount path: '{target}' mount path must be absolute"),
        ));
    }
    let destination = clean(target);
    if destination == "/" {
        return Err(invalid_mount(
            kind,
            "invalid specification: destination can't be '/'".into(),
        ));
    }
    Ok(destination)
}

fn check_tmpfs(mount: &Mount) -> Result<()> {
    check_target("tmpfs", &mount.target)?;
    if !mount.source.is_empty() {
        return Err(invalid_mount(
            "tmpfs",
            "field Source must not be specified".into(),
        ));
    }
    if mount.bind_options.is_some() || mount.volume_options.is_some() {
        return Err(invalid_mount(
            "tmpfs",
            "only TmpfsOptions may be specified".into(),
        ));
    }
    Ok(())
}

/// One `--mount type=bind|volume`.
fn from_mount(mount: &Mount) -> Result<Planned> {
    let kind = mount.r#type.as_str();
    match kind {
        "bind" => {
            let destination = check_target(kind, &mount.target)?;
            if mount.volume_options.is_some() || mount.tmpfs_options.is_some() {
                return Err(invalid_mount(
                    kind,
                    "only BindOptions may be specified".into(),
                ));
            }
            if mount.source.is_empty() {
                return Err(invalid_mount(kind, "field Source must not be empty".into()));
            }
            if !mount.source.starts_with('/') {
                return Err(invalid_mount(
                    kind,
                    format!(
                        "invalid mount path: '{}' mount path must be absolute",
                        mount.source
                    ),
                ));
            }
            let options = mount.bind_options.clone().unwrap_or_default();
            if !options.create_mountpoint && !Path::new(&mount.source).exists() {
                return Err(invalid_mount(
                    kind,
                    format!("bind source path does not exist: {}", mount.source),
                ));
            }
            let propagation = match options.propagation.as_str() {
                "" => "rprivate".to_string(),
                p if [
                    "private", "rprivate", "shared", "rshared", "slave", "rslave",
                ]
                .contains(&p) =>
                {
                    p.to_string()
                }
                other => {
                    return Err(invalid_mount(
                        kind,
                        format!("invalid propagation mode: {other}"),
                    ))
                }
            };
            Ok(Planned {
                point: MountPoint {
                    source: Source::Bind(PathBuf::from(&mount.source)),
                    destination,
                    read_only: mount.read_only,
                    mode: String::new(),
                    propagation,
                    copy_data: false,
                    create_host_path: options.create_mountpoint,
                },
                volume: None,
            })
        }
        "volume" => {
            let destination = check_target(kind, &mount.target)?;
            if mount.bind_options.is_some() || mount.tmpfs_options.is_some() {
                return Err(invalid_mount(
                    kind,
                    "only VolumeOptions may be specified".into(),
                ));
            }
            if !mount.source.is_empty() {
                crate::volumes::check_name(&mount.source)?;
            }
            let options = mount.volume_options.clone().unwrap_or_default();
            if !options.subpath.is_empty() {
                return Err(invalid_mount(
                    kind,
                    "volume-subpath is not supported".into(),
                ));
            }
            let driver_options = match options.driver_config {
                Some(config) if !matches!(config.name.as_str(), "" | "local") => {
                    return Err(invalid_mount(
                        kind,
                        format!(
                            "plugin {:?} not found: berth has only the local volume driver",
                            config.name
                        ),
                    ))
                }
                Some(config) => config.options,
                None => BTreeMap::new(),
            };
            Ok(Planned {
                point: MountPoint {
                    source: Source::Volume(mount.source.clone()),
                    destination,
                    read_only: mount.read_only,
                    mode: "z".into(),
                    propagation: String::new(),
                    copy_data: !options.no_copy,
                    create_host_path: false,
                },
                volume: Some((options.labels, driver_options)),
            })
        }
        other => Err(Error::BadRequest(format!(
            "invalid mount config: mount type unknown: {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::containers::{BindOptions, EmptyObject};

    fn host(binds: &[&str], mounts: Vec<Mount>) -> HostConfig {
        HostConfig {
            binds: binds.iter().map(|b| b.to_string()).collect(),
            mounts,
            ..HostConfig::default()
        }
    }

    fn config(volumes: &[&str]) -> ContainerConfig {
        ContainerConfig {
            volumes: volumes
                .iter()
                .map(|v| (v.to_string(), EmptyObject {}))
                .collect(),
            ..ContainerConfig::default()
        }
    }

    #[test]
    fn image_volumes_become_anonymous_unless_covered() {
        let planned = plan(
            &host(&["data:/var/lib/data/", "/srv:/srv:ro"], vec![]),
            &config(&["/var/lib/data", "/cache"]),
            &[],
        )
        .unwrap();
        let points: Vec<_> = planned.iter().map(|p| &p.point).collect();
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].destination, "/cache");
        assert_eq!(points[0].source, Source::Volume(String::new()));
        assert!(points[0].copy_data);
        assert_eq!(points[1].source, Source::Bind("/srv".into()));
        assert!(points[1].read_only);
        assert_eq!(points[1].propagation, "rprivate");
        assert_eq!(points[2].source, Source::Volume("data".into()));
        assert_eq!(points[2].mode, "z");
    }

    #[test]
    fn duplicates_and_bad_mounts_are_refused() {
        let bind = |source: &str, target: &str| Mount {
            r#type: "bind".into(),
            source: source.into(),
            target: target.into(),
            ..Mount::default()
        };
        for (h, wanted) in [
            (
                host(&["aa:/d", "/srv:/d/"], vec![]),
                "Duplicate mount point: /d",
            ),
            (
                host(&["aa:/d"], vec![bind("/srv", "/d")]),
                "Duplicate mount point: /d",
            ),
            (
                host(&[], vec![bind("/no/such/berth/dir", "/d")]),
                "bind source path does not exist: /no/such/berth/dir",
            ),
            (
                host(&[], vec![bind("rel", "/d")]),
                "'rel' mount path must be absolute",
            ),
            (
                host(&[], vec![bind("/srv", "/")]),
                "destination can't be '/'",
            ),
            (
                host(
                    &[],
                    vec![Mount {
                        r#type: "nfs".into(),
                        target: "/d".into(),
                        ..Mount::default()
                    }],
                ),
                "mount type unknown: \"nfs\"",
            ),
            (
                host(
                    &[],
                    vec![Mount {
                        bind_options: Some(BindOptions {
                            propagation: "sideways".into(),
                            ..BindOptions::default()
                        }),
                        ..bind("/srv", "/d")
                    }],
                ),
                "invalid propagation mode: sideways",
            ),
        ] {
            let err = plan(&h, &config(&[]), &[]).unwrap_err().to_string();
            assert!(err.contains(wanted), "{err}");
        }
        let mut tmpfs = host(&["/srv:/t"], vec![]);
        tmpfs.tmpfs.insert("/t".into(), String::new());
        let err = plan(&tmpfs, &config(&[]), &[]).unwrap_err().to_string();
        assert!(err.contains("Duplicate mount point: /t"), "{err}");
    }

    #[test]
    fn volumes_from_is_overridden_by_own_mounts_and_takes_the_mode() {
        let theirs = MountPoint {
            source: Source::Volume("shared".into()),
            destination: "/shared".into(),
            read_only: false,
            mode: "z".into(),
            propagation: String::new(),
            copy_data: true,
            create_host_path: false,
        };
        let other = MountPoint {
            destination: "/other".into(),
            ..theirs.clone()
        };
        let planned = plan(
            &host(&["mine:/other"], vec![]),
            &config(&[]),
            &[VolumesFrom {
                points: vec![theirs, other],
                read_only: Some(true),
            }],
        )
        .unwrap();
        assert_eq!(planned.len(), 2);
        assert_eq!(planned[0].point.source, Source::Volume("mine".into()));
        assert_eq!(planned[1].point.destination, "/shared");
        assert!(planned[1].point.read_only);
        assert_eq!(planned[1].point.mode, "ro");
        let err = parse_volumes_from("c:rx").unwrap_err().to_string();
        assert_eq!(err, "invalid mode for volumes-from: rx");
    }
}
