//! `GET|HEAD|PUT /containers/{id}/archive?path=`: `docker cp` out of and into a container.

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use berth_api::archive::{ContainerPathStat, PATH_STAT_HEADER};
use berth_engine::containers::PutOptions;
use tokio_util::io::ReaderStream;

use super::error::ApiError;
use super::query::Query;
use super::{upload, Daemon};

fn path(query: &Query) -> &str {
    query.get("path").unwrap_or_default()
}

/// The stat as Docker sends it: base64 of its JSON.
fn stat_header(stat: &ContainerPathStat) -> HeaderValue {
    let json = serde_json::to_vec(stat).expect("stats serialise");
    let encoded = base64::engine::general_purpose::STANDARD.encode(json);
    HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
}

/// `HEAD /containers/{id}/archive`: the stat alone.
pub async fn head(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    let stat = daemon.containers.stat_path(id, path(query)).await?;
    Ok((StatusCode::OK, [(PATH_STAT_HEADER, stat_header(&stat))]).into_response())
}

/// `GET /containers/{id}/archive`: the stat and a tar of the path, streamed.
pub async fn get(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    let (stat, tar) = daemon.containers.get_archive(id, path(query)).await?;
    Ok((
        StatusCode::OK,
        [
            (PATH_STAT_HEADER, stat_header(&stat)),
            (
                CONTENT_TYPE.as_str(),
                HeaderValue::from_static("application/x-tar"),
            ),
        ],
        Body::from_stream(ReaderStream::with_capacity(tar, 1 << 20)),
    )
        .into_response())
}

/// `PUT /containers/{id}/archive`: the request body is a tar, extracted into the directory
/// `path` as it arrives.
pub async fn put(
    daemon: &Daemon,
    id: &str,
    query: &Query,
    body: Body,
) -> Result<Response, ApiError> {
    let options = PutOptions {
        no_overwrite_dir_non_dir: query.flag("noOverwriteDirNonDir")?,
        copy_uid_gid: query.flag("copyUIDGID")?,
    };
    let (input, upload) = upload::reader(body);
    let result = daemon
        .containers
        .put_archive(id, path(query), input, options)
        .await;
    if result.is_err() {
        upload.settle().await;
    }
    result?;
    Ok(StatusCode::OK.into_response())
}
