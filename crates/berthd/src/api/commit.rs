//! `POST /commit`, `GET /containers/{id}/export` and `GET /containers/{id}/changes`.

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::containers::commit::CommitOptions;
use berth_image::inspect::ContainerConfig as ImageConfig;
use berth_image::Reference;
use tokio_util::io::{ReaderStream, SyncIoBridge};

use super::error::ApiError;
use super::query::Query;
use super::{Daemon, JSON_BODY_LIMIT};

/// Bytes of an export buffered between the walking thread and the response.
const EXPORT_BUFFER: usize = 256 << 10;

/// The name `repo` and `tag` give, as dockerd reads them: none without a repository, `latest`
/// without a tag; a repository may carry its own tag.
pub fn repo_tag(query: &Query) -> Result<Option<Reference>, ApiError> {
    let Some(repo) = query.get("repo") else {
        return Ok(None);
    };
    let name = match query.get("tag") {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo.to_string(),
    };
    let reference: Reference = name
        .parse()
        .map_err(|e: berth_image::Error| ApiError::invalid(e.to_string()))?;
    if reference.digest().is_some() {
        return Err(ApiError::invalid(format!(
            "refusing to create a tag with a digest reference: {name}"
        )));
    }
    Ok(Some(reference))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`, the body an optional
/// container config.
pub async fn commit(daemon: &Daemon, query: &Query, body: Body) -> Result<Response, ApiError> {
    let container = query
        .get("container")
        .ok_or_else(|| ApiError::invalid("commit: query parameter \"container\" is required"))?;
    let bytes = axum::body::to_bytes(body, JSON_BODY_LIMIT)
        .await
        .map_err(|e| ApiError::invalid(format!("commit: reading the request body: {e}")))?;
    let config = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<Option<ImageConfig>>(&bytes)
            .map_err(|e| ApiError::invalid(format!("commit: malformed config in the body: {e}")))?
    };
    let options = CommitOptions {
        reference: repo_tag(query)?,
        comment: query.get("comment").unwrap_or_default().to_string(),
        author: query.get("author").unwrap_or_default().to_string(),
        changes: query
            .all("changes")
            .into_iter()
            .filter(|c| !c.trim().is_empty())
            .collect(),
        // Absent means yes, as for API versions since 1.13.
        pause: query.get("pause").is_none() || query.flag("pause")?,
        config,
    };
    let id = daemon.containers.commit(container, options).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "Id": id.to_string() })),
    )
        .into_response())
}

/// `GET /containers/{id}/export`: the root file system as a tar, streamed.
pub async fn export(daemon: &Daemon, key: &str) -> Result<Response, ApiError> {
    // A missing container is a 404 before anything streams.
    let id = daemon.containers.resolve(key)?;
    let (writer, reader) = tokio::io::duplex(EXPORT_BUFFER);
    let out = SyncIoBridge::new(writer);
    let containers = daemon.containers.clone();
    tokio::spawn(async move {
        if let Err(e) = containers.export(&id, out).await {
            // The status is sent already: the client sees a short tar.
            eprintln!("berthd: export {id}: {e}");
        }
    });
    Ok((
        [(CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(ReaderStream::new(reader)),
    )
        .into_response())
}

/// `GET /containers/{id}/changes`.
pub async fn changes(daemon: &Daemon, key: &str) -> Result<Response, ApiError> {
    Ok(Json(daemon.containers.changes(key).await?).into_response())
}
