//! `GET|HEAD|PUT /containers/{id}/archive?path=`: `docker cp` out of and into a container.

use std::io;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use berth_api::archive::{ContainerPathStat, PATH_STAT_HEADER};
use berth_engine::containers::PutOptions;
use futures_util::StreamExt;
use tokio_util::io::{ReaderStream, StreamReader, SyncIoBridge};

use super::error::ApiError;
use super::query::Query;
use super::Daemon;

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
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let forward = tokio::spawn(forward_body(body, tx));
    let chunks = Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let input = SyncIoBridge::new(StreamReader::new(chunks));
    let result = daemon
        .containers
        .put_archive(id, path(query), input, options)
        .await;
    if result.is_err() {
        // Let a client still sending a small archive finish, so it reads the answer.
        let _ = forward.await;
    }
    result?;
    Ok(StatusCode::OK.into_response())
}

/// How much of a refused archive is read and dropped before answering (as Go's server does).
const DRAIN_LIMIT: usize = 256 << 10;

/// Passes the request body on to the extraction; once it stops reading (an error), reads
/// and drops up to [`DRAIN_LIMIT`] more.
async fn forward_body(body: Body, tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>) {
    let mut data = body.into_data_stream();
    let mut drained = 0;
    while let Some(chunk) = data.next().await {
        if drained == 0 {
            match tx.send(chunk.map_err(io::Error::other)).await {
                Ok(()) => continue,
                Err(unsent) => drained += unsent.0.map(|c| c.len()).unwrap_or(0).max(1),
            }
        } else if let Ok(chunk) = chunk {
            drained += chunk.len();
        }
        if drained > DRAIN_LIMIT {
            break;
        }
    }
}
