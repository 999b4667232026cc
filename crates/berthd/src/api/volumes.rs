//! `/volumes`: list, create, inspect, remove and prune.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::volumes::{VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use berth_engine::volumes::VolumeFilters;

use super::containers::json_body;
use super::error::ApiError;
use super::query::Query;
use super::Daemon;

/// `GET /volumes?filters=`.
pub async fn list(daemon: &Daemon, query: &Query) -> Result<Response, ApiError> {
    let filters = VolumeFilters::parse(&query.filters()?)?;
    let volumes = daemon
        .volumes
        .list(&filters)
        .iter()
        .map(|v| daemon.volumes.view(v))
        .collect();
    Ok(Json(VolumeListResponse {
        volumes,
        warnings: None,
    })
    .into_response())
}

/// `POST /volumes/create`.
pub async fn create(daemon: &Daemon, body: Body) -> Result<Response, ApiError> {
    let request: VolumeCreateRequest = json_body(body, "volume create").await?;
    // File system work (and, for some volumes, no mount yet): quick, but off the async path.
    let record = tokio::task::block_in_place(|| daemon.volumes.create(request))?;
    Ok((StatusCode::CREATED, Json(daemon.volumes.view(&record))).into_response())
}

/// `GET /volumes/{name}`.
pub async fn inspect(daemon: &Daemon, name: &str) -> Result<Response, ApiError> {
    let record = daemon.volumes.get(name)?;
    Ok(Json(daemon.volumes.view(&record)).into_response())
}

/// `DELETE /volumes/{name}?force=`.
pub async fn remove(daemon: &Daemon, name: &str, query: &Query) -> Result<Response, ApiError> {
    let force = query.flag("force")?;
    tokio::task::block_in_place(|| daemon.volumes.remove(name, force))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /volumes/prune?filters=`.
pub async fn prune(daemon: &Daemon, query: &Query) -> Result<Response, ApiError> {
    let filters = VolumeFilters::parse(&query.filters()?)?;
    let (deleted, space) = tokio::task::block_in_place(|| daemon.volumes.prune(&filters))?;
    Ok(Json(VolumePruneResponse {
        volumes_deleted: Some(deleted),
        space_reclaimed: space,
    })
    .into_response())
}
