//! `/_ping`, `/version`, `/info`.

use std::path::PathBuf;

use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::query::Query;
use super::Daemon;
use berth_api::disk_usage::BuildCachePruneResponse;
use berth_api::system::{Info, RuntimeInfo, Version};
use berth_api::version::ApiVersion;
use berth_engine::disk_usage::{Usage, UsageKinds};

/// What the daemon tells about itself, fixed at start.
#[derive(Debug, Clone)]
pub struct Identity {
    /// A stable id for this daemon's data root.
    pub id: String,
    /// The host name.
    pub name: String,
    /// `--data-root`.
    pub data_root: PathBuf,
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn kernel_version() -> String {
    read_trimmed("/proc/sys/kernel/osrelease")
}

fn operating_system() -> String {
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `GET /version`.
pub fn version() -> Response {
    Json(Version {
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: ApiVersion::CURRENT.to_string(),
        min_api_version: ApiVersion::MIN.to_string(),
        git_commit: String::new(),
        go_version: String::new(),
        os: "linux".into(),
        arch: arch().into(),
        kernel_version: kernel_version(),
        build_time: String::new(),
    })
    .into_response()
}

/// `GET /info`.
pub async fn info(daemon: &Daemon) -> Result<Response, ApiError> {
    let images = daemon.images.count().await? as u64;
    let driver = daemon.images.driver().await?;
    let cgroup_version = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    let (containers, running, paused, stopped) = daemon.containers.counts();
    Ok(Json(Info {
        id: daemon.identity.id.clone(),
        containers: containers as u64,
        containers_running: running as u64,
        containers_paused: paused as u64,
        containers_stopped: stopped as u64,
        images,
        driver,
        docker_root_dir: daemon.identity.data_root.display().to_string(),
        name: daemon.identity.name.clone(),
        server_version: env!("CARGO_PKG_VERSION").into(),
        operating_system: operating_system(),
        os_type: "linux".into(),
        architecture: std::env::consts::ARCH.into(),
        ncpu: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        mem_total: mem_total(),
        kernel_version: kernel_version(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: cgroup_version.into(),
        runtimes: daemon
            .containers
            .runtimes()
            .into_iter()
            .map(|(name, path)| {
                let path = path.display().to_string();
                (name, RuntimeInfo { path })
            })
            .collect(),
        default_runtime: berth_engine::containers::DEFAULT_RUNTIME.into(),
        logging_driver: "json-file".into(),
    })
    .into_response())
}

/// `GET /system/df?type=`: what images, containers, volumes and the build cache take.
pub async fn df(daemon: &Daemon, query: &Query) -> Result<Response, ApiError> {
    let types = query.all("type");
    let kinds = UsageKinds::parse(&types.iter().map(String::as_str).collect::<Vec<_>>())?;
    let usage = Usage {
        images: &daemon.images,
        containers: &daemon.containers,
        volumes: &daemon.volumes,
    };
    let mut report = usage.report(kinds).await?;
    if kinds.build_cache {
        report.build_cache = Some(daemon.builds.cache_records());
    }
    Ok(Json(report).into_response())
}

/// `POST /build/prune`: empties the build cache (and removes the untagged images it held).
pub async fn build_prune(daemon: &Daemon) -> Result<Response, ApiError> {
    let (removed, reclaimed) = daemon.builds.prune_cache().await?;
    Ok(Json(BuildCachePruneResponse {
        caches_deleted: (!removed.is_empty()).then_some(removed),
        space_reclaimed: reclaimed,
    })
    .into_response())
}
