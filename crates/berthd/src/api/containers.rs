//! The `/containers/…` and `/exec/…` endpoints.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::containers::{
    ContainerCreateRequest, ContainerCreateResponse, ContainerPruneResponse,
    ContainerUpdateRequest, ContainerUpdateResponse, WaitResponse,
};
use berth_api::exec::{ExecConfig, ExecCreateResponse, ExecStartConfig};
use berth_engine::containers::{AttachStreams, ExecStart, LogOptions, WaitCondition};
use berth_shim::logfile::LogEntry;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::query::Query;
use super::{container_filters, hijack, Daemon, JSON_BODY_LIMIT};

/// Reads a JSON request body (an empty body is the type's default).
pub async fn json_body<T: DeserializeOwned + Default>(
    body: Body,
    what: &str,
) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, JSON_BODY_LIMIT)
        .await
        .map_err(|e| ApiError::invalid(format!("{what}: reading the request body: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid(format!("{what}: malformed JSON body: {e}")))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn timeout(query: &Query) -> Result<Option<i64>, ApiError> {
    query
        .get("t")
        .or_else(|| query.get("timeout"))
        .map(|t| {
            t.parse::<i64>().map_err(|_| {
                ApiError::invalid(format!("invalid timeout {t:?}: not a number of seconds"))
            })
        })
        .transpose()
}

/// `POST /containers/create?name=&platform=`.
pub async fn create(daemon: &Daemon, query: &Query, body: Body) -> Result<Response, ApiError> {
    let request: ContainerCreateRequest = json_body(body, "create").await?;
    let (id, warnings) = daemon
        .containers
        .create(query.get("name").map(String::from), request)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ContainerCreateResponse { id, warnings }),
    )
        .into_response())
}

/// `GET /containers/json?all=&limit=&filters=`.
pub async fn list(daemon: &Daemon, query: &Query) -> Result<Response, ApiError> {
    let filters = query.filters()?;
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    // As dockerd: a limit (`ps -n`/`-l`) and a status, exited, before or since filter look
    // at stopped containers too.
    let all = query.flag("all")?
        || limit.is_some()
        || ["status", "exited", "before", "since"]
            .iter()
            .any(|key| filters.contains_key(*key));
    let mut rows = daemon.containers.list(all);
    container_filters::retain(&mut rows, &filters)?;
    if let Some(limit) = limit {
        rows.truncate(limit);
    }
    if query.flag("size")? {
        berth_engine::disk_usage::container_sizes(&daemon.images, &mut rows).await?;
    }
    Ok(Json(rows).into_response())
}

/// `GET /containers/{id}/json?size=`.
pub async fn inspect(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    let mut inspect = daemon.containers.inspect(id)?;
    if query.flag("size")? {
        let (rw, root_fs) =
            berth_engine::disk_usage::sizes_of(&daemon.images, &inspect.id, &inspect.image).await?;
        inspect.size_rw = Some(rw);
        inspect.size_root_fs = Some(root_fs);
    }
    Ok(Json(inspect).into_response())
}

/// `POST /containers/{id}/start`.
pub async fn start(daemon: &Daemon, id: &str) -> Result<Response, ApiError> {
    match daemon.containers.start(id).await {
        Err(berth_engine::Error::NotModified(..)) => Ok(StatusCode::NOT_MODIFIED.into_response()),
        other => other.map(|()| no_content()).map_err(ApiError::from),
    }
}

/// `POST /containers/{id}/stop?signal=&t=`.
pub async fn stop(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    let result = daemon
        .containers
        .stop(id, query.get("signal").map(String::from), timeout(query)?)
        .await;
    match result {
        Err(berth_engine::Error::NotModified(..)) => Ok(StatusCode::NOT_MODIFIED.into_response()),
        other => other.map(|()| no_content()).map_err(ApiError::from),
    }
}

/// `POST /containers/{id}/restart?signal=&t=`.
pub async fn restart(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    daemon
        .containers
        .restart(id, query.get("signal").map(String::from), timeout(query)?)
        .await?;
    Ok(no_content())
}

/// `POST /containers/{id}/kill?signal=`.
pub async fn kill(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    daemon
        .containers
        .kill(id, query.get("signal").map(String::from))
        .await?;
    Ok(no_content())
}

/// `POST /containers/{id}/pause` and `/unpause`.
pub async fn pause(daemon: &Daemon, id: &str, paused: bool) -> Result<Response, ApiError> {
    daemon.containers.pause(id, paused).await?;
    Ok(no_content())
}

/// `DELETE /containers/{id}?force=&v=`.
pub async fn remove(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    daemon
        .containers
        .remove(id, query.flag("force")?, query.flag("v")?)
        .await?;
    Ok(no_content())
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    let name = query
        .get("name")
        .ok_or_else(|| ApiError::invalid("rename: query parameter \"name\" is required"))?;
    daemon.containers.rename(id, name).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/resize?h=&w=`.
pub async fn resize(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    let (h, w) = size(query)?;
    daemon.containers.resize(id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /exec/{id}/resize?h=&w=`.
pub async fn exec_resize(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    let (h, w) = size(query)?;
    daemon.containers.exec_resize(id, h, w)?;
    Ok(StatusCode::OK.into_response())
}

fn size(query: &Query) -> Result<(u16, u16), ApiError> {
    let number = |key: &str| -> Result<u16, ApiError> {
        query
            .get(key)
            .unwrap_or("0")
            .parse()
            .map_err(|_| ApiError::invalid(format!("invalid {key}: not a terminal size")))
    };
    Ok((number("h")?, number("w")?))
}

/// `POST /containers/{id}/wait?condition=`: the head goes out at once, the body at the exit.
pub async fn wait(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    let condition: WaitCondition = query.get("condition").unwrap_or("").parse()?;
    let exit = daemon.containers.wait(id, condition)?;
    let body = futures_util::stream::once(async move {
        let code = exit.await;
        let mut line = serde_json::to_vec(&WaitResponse {
            status_code: code,
            error: None,
        })
        .expect("wait responses serialise");
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    Ok((
        [(CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

/// `POST /containers/prune`.
pub async fn prune(daemon: &Daemon) -> Result<Response, ApiError> {
    let (containers_deleted, space_reclaimed) = daemon.containers.prune().await?;
    Ok(Json(ContainerPruneResponse {
        containers_deleted,
        space_reclaimed,
    })
    .into_response())
}

/// `POST /containers/{id}/update`.
pub async fn update(daemon: &Daemon, id: &str, body: Body) -> Result<Response, ApiError> {
    let request: ContainerUpdateRequest = json_body(body, "update").await?;
    let warnings = daemon.containers.update(id, request).await?;
    Ok(Json(ContainerUpdateResponse { warnings }).into_response())
}

/// `GET /containers/{id}/top?ps_args=`.
pub async fn top(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    let top = daemon
        .containers
        .top(id, query.get("ps_args").unwrap_or(""))
        .await?;
    Ok(Json(top).into_response())
}

/// `GET /containers/{id}/stats?stream=&one-shot=`: one JSON document a second.
pub async fn stats(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    let stream = query.get("stream").is_none_or(|s| s == "1" || s == "true");
    let one_shot = query.flag("one-shot")?;
    let first = daemon.containers.stats(id, None).await?;
    if !stream {
        let sample = if one_shot {
            first
        } else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            daemon.containers.stats(id, Some(&first)).await?
        };
        return Ok(Json(sample).into_response());
    }
    let containers = daemon.containers.clone();
    let id = id.to_string();
    let lines = futures_util::stream::unfold(
        (Some(first), None::<berth_api::containers::StatsResponse>),
        move |(pending, previous)| {
            let containers = containers.clone();
            let id = id.clone();
            async move {
                let sample = match pending {
                    Some(sample) => sample,
                    None => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        containers.stats(&id, previous.as_ref()).await.ok()?
                    }
                };
                let mut line = serde_json::to_vec(&sample).expect("stats serialise");
                line.push(b'\n');
                Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(line)),
                    (None, Some(sample)),
                ))
            }
        },
    );
    Ok((
        [(CONTENT_TYPE, "application/json")],
        Body::from_stream(lines),
    )
        .into_response())
}

/// `GET /containers/{id}/logs?stdout=&stderr=&follow=&since=&until=&tail=&timestamps=`.
pub async fn logs(daemon: &Daemon, id: &str, query: &Query) -> Result<Response, ApiError> {
    let stdout = query.flag("stdout")?;
    let stderr = query.flag("stderr")?;
    if !stdout && !stderr {
        return Err(ApiError::invalid("you must choose at least one stream"));
    }
    let timestamps = query.flag("timestamps")?;
    let tail = match query.get("tail") {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| ApiError::invalid(format!("invalid tail {n:?}")))?,
        ),
    };
    let options = LogOptions {
        follow: query.flag("follow")?,
        tail,
        since: berth_engine::containers::parse_timestamp(query.get("since").unwrap_or(""))?,
        until: berth_engine::containers::parse_timestamp(query.get("until").unwrap_or(""))?,
    };
    let tty = daemon.containers.has_tty(id)?;
    let rx = daemon.containers.logs(id, options)?;
    let lines = futures_util::stream::unfold(rx, move |mut rx| async move {
        loop {
            let entry = rx.recv().await?;
            let wanted = match entry.stream {
                berth_shim::protocol::Stream::Stdout => stdout,
                berth_shim::protocol::Stream::Stderr => stderr,
            };
            if wanted {
                return Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(log_frame(
                        &entry, tty, timestamps,
                    ))),
                    rx,
                ));
            }
        }
    });
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(([(CONTENT_TYPE, content_type)], Body::from_stream(lines)).into_response())
}

fn log_frame(entry: &LogEntry, tty: bool, timestamps: bool) -> Vec<u8> {
    let mut text = Vec::with_capacity(entry.line.len() + 40);
    if timestamps {
        text.extend_from_slice(berth_shim::time::format(entry.time).as_bytes());
        text.push(b' ');
    }
    text.extend_from_slice(&entry.line);
    if tty {
        return text;
    }
    let stream = match entry.stream {
        berth_shim::protocol::Stream::Stderr => 2,
        berth_shim::protocol::Stream::Stdout => 1,
    };
    let mut out = berth_engine::containers::frame_header(stream, text.len()).to_vec();
    out.extend_from_slice(&text);
    out
}

/// `POST /containers/{id}/attach?stream=&stdin=&stdout=&stderr=` (hijacked).
pub async fn attach(
    daemon: &Daemon,
    id: &str,
    query: &Query,
    parts: &mut Parts,
    body: Body,
) -> Result<Response, ApiError> {
    let hijack = hijack::take(&parts.headers, &mut parts.extensions, body);
    let streams = AttachStreams {
        stdin: query.flag("stdin")?,
        stdout: query.flag("stdout")?,
        stderr: query.flag("stderr")?,
    };
    let tty = daemon.containers.has_tty(id)?;
    let attachment = daemon.containers.attach_prepare(id, streams).await?;
    Ok(hijack::respond(hijack, tty, move |conn| {
        attachment.relay(conn)
    }))
}

/// `POST /containers/{id}/exec`.
pub async fn exec_create(daemon: &Daemon, id: &str, body: Body) -> Result<Response, ApiError> {
    let config: ExecConfig = json_body(body, "exec").await?;
    let id = daemon.containers.exec_create(id, config)?;
    Ok((StatusCode::CREATED, Json(ExecCreateResponse { id })).into_response())
}

/// `POST /exec/{id}/start` (hijacked unless detached).
pub async fn exec_start(
    daemon: &Daemon,
    id: &str,
    parts: &mut Parts,
    body: Body,
) -> Result<Response, ApiError> {
    let config: ExecStartConfig = json_body(body, "exec start").await?;
    daemon.containers.exec_check(id)?;
    if config.detach {
        daemon
            .containers
            .exec_start::<hijack::Conn>(id, ExecStart::Detached)
            .await?;
        return Ok(StatusCode::OK.into_response());
    }
    let hijack = hijack::take(&parts.headers, &mut parts.extensions, Body::empty());
    let tty = daemon.containers.exec_tty(id)?;
    let containers = daemon.containers.clone();
    let id = id.to_string();
    Ok(hijack::respond(hijack, tty, move |conn| async move {
        if let Err(e) = containers.exec_start(&id, ExecStart::Attached(conn)).await {
            eprintln!("berthd: exec {id}: {e}");
        }
    }))
}

/// `GET /exec/{id}/json`.
pub async fn exec_inspect(daemon: &Daemon, id: &str) -> Result<Response, ApiError> {
    Ok(Json(daemon.containers.exec_inspect(id)?).into_response())
}
