//! The `/images/…` endpoints.

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_distribution::Platform;
use berth_image::{Reference, Removal};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::io::{ReaderStream, SyncIoBridge};

use super::error::ApiError;
use super::image_filters::ImageFilters;
use super::query::Query;
use super::{auth, stream, upload, Daemon};
use berth_api::progress::ProgressMessage;
use berth_engine::events::{Event, Events};

/// Bytes of a docker-save archive buffered between the writer thread and the response.
const SAVE_BUFFER: usize = 256 << 10;

fn reference(text: &str) -> Result<Reference, ApiError> {
    text.parse()
        .map_err(|e: berth_image::Error| ApiError::invalid(e.to_string()))
}

/// One entry of a removal list, as `DELETE /images/{name}` and prune answer it.
#[derive(Serialize)]
enum Removed {
    Untagged(String),
    Deleted(String),
}

fn removed(removals: Vec<Removal>) -> Vec<Removed> {
    removals
        .into_iter()
        .map(|r| match r {
            Removal::Untagged(name) => Removed::Untagged(name),
            Removal::Deleted(id) => Removed::Deleted(id.to_string()),
        })
        .collect()
}

/// `GET /images/json`.
pub async fn list(daemon: &Daemon, query: &Query) -> Result<Response, ApiError> {
    let filters = ImageFilters::parse(&query.filters()?)?;
    let mut images = daemon.images.list().await?;
    if !query.flag("all")? {
        let intermediate = daemon.builds.intermediate_images();
        images.retain(|i| !i.repo_tags.is_empty() || !intermediate.contains(&i.id));
    }
    Ok(Json(filters.apply(images)?).into_response())
}

/// `GET /images/{name}/json`.
pub async fn inspect(daemon: &Daemon, name: String) -> Result<Response, ApiError> {
    Ok(Json(daemon.images.inspect(name).await?).into_response())
}

/// `GET /images/{name}/history`.
pub async fn history(daemon: &Daemon, name: String) -> Result<Response, ApiError> {
    Ok(Json(daemon.images.history(name).await?).into_response())
}

/// Publishes an image event: `id` is what dockerd names it with (the image's name, or its id
/// when it has none), `name` the reference concerned.
fn image_event(events: &Events, action: &str, id: &str, name: Option<&str>) {
    let mut event = Event::now("image", action, id);
    if let Some(name) = name {
        event = event.with("name", name);
    }
    events.publish(event);
}

/// `POST /images/{name}/tag?repo=&tag=`.
pub async fn tag(daemon: &Daemon, name: String, query: &Query) -> Result<Response, ApiError> {
    let repo = query
        .get("repo")
        .ok_or_else(|| ApiError::invalid("tag: query parameter \"repo\" is required"))?;
    let target = reference(&format!("{repo}:{}", query.get("tag").unwrap_or("latest")))?;
    let id = daemon.images.tag(name, target.clone()).await?;
    image_event(
        &daemon.events,
        "tag",
        &id.to_string(),
        Some(&target.familiar()),
    );
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE /images/{name}?force=`.
pub async fn remove(daemon: &Daemon, name: String, query: &Query) -> Result<Response, ApiError> {
    let force = query.flag("force")?;
    let removals = daemon.images.remove(name, force).await?;
    publish_removals(&daemon.events, &removals);
    Ok(Json(removed(removals)).into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PruneResponse {
    images_deleted: Vec<Removed>,
    space_reclaimed: u64,
}

/// `POST /images/prune?filters={"dangling":["false"]}`.
pub async fn prune(daemon: &Daemon, query: &Query) -> Result<Response, ApiError> {
    let mut all = false;
    for (key, values) in query.filters()? {
        match (key.as_str(), values.as_slice()) {
            ("dangling", [v]) if v == "false" || v == "0" => all = true,
            ("dangling", [v]) if v == "true" || v == "1" => all = false,
            _ => {
                return Err(ApiError::invalid(format!(
                    "prune filter {key}={values:?} is not supported"
                )))
            }
        }
    }
    let report = daemon.images.prune(all).await?;
    publish_removals(&daemon.events, &report.removals);
    let mut event = Event::now("image", "prune", "");
    event = event.with("reclaimed", report.space_reclaimed.to_string());
    daemon.events.publish(event);
    Ok(Json(PruneResponse {
        images_deleted: removed(report.removals),
        space_reclaimed: report.space_reclaimed,
    })
    .into_response())
}

fn publish_removals(events: &Events, removals: &[Removal]) {
    for removal in removals {
        match removal {
            Removal::Untagged(name) => image_event(events, "untag", name, Some(name)),
            Removal::Deleted(id) => image_event(events, "delete", &id.to_string(), None),
        }
    }
}

/// Forwards an operation's progress events as lines until the operation drops its sender.
async fn forward(
    mut events: mpsc::UnboundedReceiver<berth_image::progress::Event>,
    lines: &stream::Lines,
    first: Option<ProgressMessage>,
) {
    let mut first = first;
    while let Some(event) = events.recv().await {
        if let Some(line) = first.take() {
            let _ = lines.send(Ok(line));
        }
        let _ = lines.send(Ok(ProgressMessage::from(&event)));
    }
}

/// `POST /images/create?fromImage=&tag=&platform=`: a pull, streamed; with `fromSrc`, an
/// import of the body.
pub async fn create(daemon: &Daemon, query: &Query, headers: &HeaderMap, body: Body) -> Response {
    if query.get("fromSrc").is_some() {
        return super::import::import(daemon, query, body).await;
    }
    match start_pull(daemon, query, headers) {
        Ok(rx) => stream::respond(rx).await,
        Err(e) => e.into_response(),
    }
}

fn start_pull(
    daemon: &Daemon,
    query: &Query,
    headers: &HeaderMap,
) -> Result<mpsc::UnboundedReceiver<stream::Item>, ApiError> {
    let from = query.get("fromImage").ok_or_else(|| {
        ApiError::invalid("images/create: fromImage (a pull) or fromSrc (an import) is required")
    })?;
    let name = match query.get("tag") {
        Some(t) if t.contains(':') => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from.to_string(),
    };
    let reference = reference(&name)?;
    let platform = match query.get("platform") {
        Some(p) => p
            .parse::<Platform>()
            .map_err(|e| ApiError::invalid(e.to_string()))?,
        None => Platform::default(),
    };
    let credentials = auth::from_headers(headers)?;
    let (lines, rx) = stream::channel();
    let images = daemon.images.clone();
    let bus = daemon.events.clone();
    tokio::spawn(async move {
        let (events, events_rx) = mpsc::unbounded_channel();
        let announce = ProgressMessage {
            id: Some(reference.tag().unwrap_or("latest").to_string()),
            status: Some(format!("Pulling from {}", reference.path())),
            ..Default::default()
        };
        let pull = images.pull(reference.clone(), platform, credentials, events);
        let (result, ()) = tokio::join!(pull, forward(events_rx, &lines, Some(announce)));
        let _ = match result {
            Ok(pulled) => {
                let name = reference.familiar();
                image_event(&bus, "pull", &name, Some(&name));
                if let Some(digest) = pulled.digest {
                    let _ = lines.send(Ok(ProgressMessage::status(format!("Digest: {digest}"))));
                }
                let status = if pulled.up_to_date {
                    "Image is up to date for"
                } else {
                    "Downloaded newer image for"
                };
                lines.send(Ok(ProgressMessage::status(format!(
                    "Status: {status} {name}"
                ))))
            }
            Err(e) => lines.send(Err(e.into())),
        };
    });
    Ok(rx)
}

/// `POST /images/{name}/push?tag=`: a push, streamed.
pub async fn push(daemon: &Daemon, name: String, query: &Query, headers: &HeaderMap) -> Response {
    let started = (|| {
        let name = match query.get("tag") {
            Some(t) => format!("{name}:{t}"),
            None => name,
        };
        Ok::<_, ApiError>((reference(&name)?, auth::from_headers(headers)?))
    })();
    let (reference, credentials) = match started {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let (lines, rx) = stream::channel();
    let images = daemon.images.clone();
    let bus = daemon.events.clone();
    tokio::spawn(async move {
        let (events, events_rx) = mpsc::unbounded_channel();
        let announce = ProgressMessage::status(format!(
            "The push refers to repository [{}]",
            reference.repository()
        ));
        let push = images.push(reference.clone(), credentials, events);
        let (result, ()) = tokio::join!(push, forward(events_rx, &lines, Some(announce)));
        let _ = match result {
            Ok(digest) => {
                let name = reference.familiar();
                image_event(&bus, "push", &name, Some(&name));
                lines.send(Ok(ProgressMessage::status(format!(
                    "{}: digest: {digest}",
                    reference.tag().unwrap_or("latest")
                ))))
            }
            Err(e) => lines.send(Err(e.into())),
        };
    });
    stream::respond(rx).await
}

/// `POST /images/load`: the request body is the archive, read as it arrives.
pub async fn load(daemon: &Daemon, body: Body) -> Response {
    let (reader, upload) = upload::reader(body);
    let (lines, rx) = stream::channel();
    let images = daemon.images.clone();
    let bus = daemon.events.clone();
    tokio::spawn(async move {
        // Docker shows per-layer load bars only on a terminal; the lines name the images.
        let (events, _) = mpsc::unbounded_channel();
        match images.load(reader, events).await {
            Ok(loaded) => {
                for (id, names) in loaded {
                    match names.first() {
                        Some(name) => {
                            let name = name.familiar();
                            image_event(&bus, "load", &name, Some(&name));
                        }
                        None => image_event(&bus, "load", &id.to_string(), None),
                    }
                    let texts: Vec<String> = if names.is_empty() {
                        vec![format!("Loaded image ID: {id}\n")]
                    } else {
                        names
                            .iter()
                            .map(|n| format!("Loaded image: {}\n", n.familiar()))
                            .collect()
                    };
                    for text in texts {
                        let _ = lines.send(Ok(ProgressMessage {
                            stream: Some(text),
                            ..Default::default()
                        }));
                    }
                }
            }
            Err(e) => {
                upload.settle().await;
                let _ = lines.send(Err(e.into()));
            }
        }
    });
    stream::respond(rx).await
}

/// `GET /images/get?names=…` and `GET /images/{name}/get`: a docker-save archive, streamed.
pub async fn save(daemon: &Daemon, names: Vec<String>) -> Result<Response, ApiError> {
    if names.is_empty() {
        return Err(ApiError::invalid("save: no image names given"));
    }
    daemon.images.require(names.clone()).await?;
    for name in &names {
        image_event(&daemon.events, "save", name, Some(name));
    }
    let (writer, reader) = tokio::io::duplex(SAVE_BUFFER);
    let out = SyncIoBridge::new(writer);
    let images = daemon.images.clone();
    tokio::spawn(async move {
        if let Err(e) = images.save(names.clone(), out).await {
            // The archive's status is already sent; the client sees a truncated tar.
            eprintln!("berthd: save {names:?}: {e}");
        }
    });
    Ok((
        [(CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(ReaderStream::new(reader)),
    )
        .into_response())
}
