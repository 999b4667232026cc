//! The Engine API server (berthd's HTTP side): one dispatcher that strips and checks the `/vX.Y` prefix, routes by
//! hand (image names in paths contain `/`, which path-pattern routers cannot split), and
//! stamps the headers Docker sends on every response.

pub mod archive;
pub mod auth;
pub mod build;
pub mod commit;
pub mod container_filters;
pub mod containers;
pub mod error;
pub mod events;
pub mod hijack;
pub mod image_filters;
pub mod images;
pub mod import;
pub mod networks;
pub mod query;
pub mod stream;
pub mod system;
pub mod upload;
pub mod volumes;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use berth_engine::containers::ContainerService;
use berth_engine::events::Events;
use berth_engine::ImageService;

use berth_api::version::ApiVersion;
use error::ApiError;
use query::Query;
pub use system::Identity;

/// The most a JSON request body may be.
pub const JSON_BODY_LIMIT: usize = 1 << 20;

/// What every request handler can reach.
#[derive(Clone)]
pub struct Daemon {
    pub images: ImageService,
    pub volumes: berth_engine::volumes::VolumeService,
    pub containers: ContainerService,
    pub builds: berth_engine::build::BuildService,
    pub events: Events,
    /// Turns true when the daemon begins to shut down: open response streams then end.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    pub identity: Identity,
}

/// The router serving the Engine API for `daemon`.
pub fn router(daemon: Daemon) -> Router {
    Router::new().fallback(dispatch).with_state(daemon)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::UnixListener,
    daemon: Daemon,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(daemon))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn dispatch(State(daemon): State<Daemon>, request: Request) -> Response {
    let response = match route(&daemon, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let mut response = end_streams_when_stopping(&daemon, response);
    let headers = response.headers_mut();
    let version = ApiVersion::CURRENT.to_string();
    headers.insert(
        "api-version",
        HeaderValue::from_str(&version).expect("versions are ASCII"),
    );
    headers.insert("ostype", HeaderValue::from_static("linux"));
    headers.insert("docker-experimental", HeaderValue::from_static("false"));
    headers.insert(
        SERVER,
        HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    response
}

/// A streamed body (events, logs -f, stats, wait) ends when the daemon stops, so it does not
/// hold up the shutdown; bodies of known length are left as they are.
fn end_streams_when_stopping(daemon: &Daemon, response: Response) -> Response {
    use axum::body::HttpBody;
    if response.body().size_hint().exact().is_some()
        || response.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        return response;
    }
    let mut stopping = daemon.stopping.clone();
    let stopped = async move {
        let _ = stopping.wait_for(|stopping| *stopping).await;
    };
    response.map(|body| {
        Body::from_stream(futures_util::StreamExt::take_until(
            body.into_data_stream(),
            stopped,
        ))
    })
}

fn check_version(version: Option<&str>) -> Result<(), ApiError> {
    let Some(text) = version else {
        return Ok(());
    };
    let version: ApiVersion = text.parse().map_err(ApiError::invalid)?;
    if !version.is_supported() {
        return Err(ApiError::invalid(format!(
            "client version {version} is not supported: this daemon serves API versions {} to {}",
            ApiVersion::MIN,
            ApiVersion::CURRENT
        )));
    }
    Ok(())
}

/// Splits `/images/<name>/<action>` for the actions that take a name; the name may hold `/`.
fn image_action(rest: &str) -> (&str, Option<&str>) {
    for action in ["json", "history", "tag", "push", "get"] {
        if let Some(name) = rest.strip_suffix(action).and_then(|n| n.strip_suffix('/')) {
            if !name.is_empty() {
                return (name, Some(action));
            }
        }
    }
    (rest, None)
}

async fn route(daemon: &Daemon, request: Request) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let (version, path) = ApiVersion::strip_prefix(parts.uri.path());
    check_version(version)?;
    let path = query::decode_path(path)?;
    let query = Query::parse(parts.uri.query())?;
    let method = &parts.method;
    match (method, path.as_str()) {
        (&Method::GET | &Method::HEAD, "/_ping") => Ok((
            [
                ("cache-control", "no-cache, no-store, must-revalidate"),
                ("pragma", "no-cache"),
            ],
            "OK",
        )
            .into_response()),
        (&Method::GET, "/version") => Ok(system::version()),
        (&Method::GET, "/info") => system::info(daemon).await,
        (&Method::GET, "/system/df") => system::df(daemon, &query).await,
        (&Method::POST, "/build") => build::build(daemon, &query, &parts.headers, body).await,
        (&Method::POST, "/build/prune") => system::build_prune(daemon).await,
        (&Method::POST, "/auth") => login(daemon, body).await,
        (&Method::GET, "/images/json") => images::list(daemon, &query).await,
        (&Method::POST, "/images/create") => {
            Ok(images::create(daemon, &query, &parts.headers, body).await)
        }
        (&Method::POST, "/images/load") => Ok(images::load(daemon, body).await),
        (&Method::POST, "/images/prune") => images::prune(daemon, &query).await,
        (&Method::GET, "/images/get") => images::save(daemon, query.all("names")).await,
        (&Method::POST, "/commit") => commit::commit(daemon, &query, body).await,
        (&Method::GET, "/events") => events::events(daemon, &query).await,
        (&Method::POST, "/containers/create") => containers::create(daemon, &query, body).await,
        (&Method::GET, "/containers/json") => containers::list(daemon, &query).await,
        (&Method::POST, "/containers/prune") => containers::prune(daemon).await,
        (method, p) if p.starts_with("/containers/") => {
            let rest = &p["/containers/".len()..];
            let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
            let method = method.clone();
            container_route(daemon, &method, id, action, &query, &mut parts, body)
                .await
                .unwrap_or_else(|| Err(unknown(&method, &path)))
        }
        (&Method::GET, "/volumes") => volumes::list(daemon, &query).await,
        (&Method::POST, "/volumes/create") => volumes::create(daemon, body).await,
        (&Method::POST, "/volumes/prune") => volumes::prune(daemon, &query).await,
        (&Method::GET, p) if p.starts_with("/volumes/") => {
            volumes::inspect(daemon, &p["/volumes/".len()..]).await
        }
        (&Method::DELETE, p) if p.starts_with("/volumes/") => {
            volumes::remove(daemon, &p["/volumes/".len()..], &query).await
        }
        (&Method::GET, "/networks") => networks::list(daemon, &query).await,
        (&Method::POST, "/networks/create") => networks::create(daemon, body).await,
        (&Method::POST, "/networks/prune") => networks::prune(daemon, &query).await,
        (method, p) if p.starts_with("/networks/") => {
            let rest = &p["/networks/".len()..];
            match (method, rest.split_once('/')) {
                (&Method::GET, None) => networks::inspect(daemon, rest).await,
                (&Method::DELETE, None) => networks::remove(daemon, rest).await,
                (&Method::POST, Some((id, "connect"))) => networks::connect(daemon, id, body).await,
                (&Method::POST, Some((id, "disconnect"))) => {
                    networks::disconnect(daemon, id, body).await
                }
                _ => Err(unknown(method, &path)),
            }
        }
        (method, p) if p.starts_with("/exec/") => {
            let rest = &p["/exec/".len()..];
            match (method, rest.split_once('/')) {
                (&Method::POST, Some((id, "start"))) => {
                    containers::exec_start(daemon, id, &mut parts, body).await
                }
                (&Method::GET, Some((id, "json"))) => containers::exec_inspect(daemon, id).await,
                (&Method::POST, Some((id, "resize"))) => {
                    containers::exec_resize(daemon, id, &query).await
                }
                _ => Err(unknown(method, &path)),
            }
        }
        (method, p) if p.starts_with("/images/") && p.len() > "/images/".len() => {
            let rest = &p["/images/".len()..];
            let name = rest.to_string();
            match (method, image_action(rest)) {
                (&Method::DELETE, _) => images::remove(daemon, name, &query).await,
                (&Method::GET, (name, Some("json"))) => images::inspect(daemon, name.into()).await,
                (&Method::GET, (name, Some("history"))) => {
                    images::history(daemon, name.into()).await
                }
                (&Method::GET, (name, Some("get"))) => {
                    images::save(daemon, vec![name.into()]).await
                }
                (&Method::POST, (name, Some("tag"))) => {
                    images::tag(daemon, name.into(), &query).await
                }
                (&Method::POST, (name, Some("push"))) => {
                    Ok(images::push(daemon, name.into(), &query, &parts.headers).await)
                }
                _ => Err(unknown(method, &path)),
            }
        }
        _ => Err(unknown(method, &path)),
    }
}

/// The endpoints under `/containers/{id}/`; None for an unknown one.
async fn container_route(
    daemon: &Daemon,
    method: &Method,
    id: &str,
    action: &str,
    query: &Query,
    parts: &mut axum::http::request::Parts,
    body: Body,
) -> Option<Result<Response, ApiError>> {
    if id.is_empty() {
        return None;
    }
    Some(match (method, action) {
        (&Method::GET, "json") => containers::inspect(daemon, id, query).await,
        (&Method::DELETE, "") => containers::remove(daemon, id, query).await,
        (&Method::POST, "start") => containers::start(daemon, id).await,
        (&Method::POST, "stop") => containers::stop(daemon, id, query).await,
        (&Method::POST, "restart") => containers::restart(daemon, id, query).await,
        (&Method::POST, "kill") => containers::kill(daemon, id, query).await,
        (&Method::POST, "pause") => containers::pause(daemon, id, true).await,
        (&Method::POST, "unpause") => containers::pause(daemon, id, false).await,
        (&Method::POST, "rename") => containers::rename(daemon, id, query).await,
        (&Method::POST, "resize") => containers::resize(daemon, id, query).await,
        (&Method::POST, "wait") => containers::wait(daemon, id, query).await,
        (&Method::POST, "update") => containers::update(daemon, id, body).await,
        (&Method::POST, "attach") => containers::attach(daemon, id, query, parts, body).await,
        (&Method::POST, "exec") => containers::exec_create(daemon, id, body).await,
        (&Method::GET, "logs") => containers::logs(daemon, id, query).await,
        (&Method::GET, "top") => containers::top(daemon, id, query).await,
        (&Method::GET, "stats") => containers::stats(daemon, id, query).await,
        (&Method::GET, "archive") => archive::get(daemon, id, query).await,
        (&Method::HEAD, "archive") => archive::head(daemon, id, query).await,
        (&Method::PUT, "archive") => archive::put(daemon, id, query, body).await,
        (&Method::GET, "export") => commit::export(daemon, id).await,
        (&Method::GET, "changes") => commit::changes(daemon, id).await,
        _ => return None,
    })
}

fn unknown(method: &Method, path: &str) -> ApiError {
    ApiError::not_found(format!("page not found: no endpoint {method} {path}"))
}

/// `POST /auth`: checks the credentials against the registry.
async fn login(daemon: &Daemon, body: Body) -> Result<Response, ApiError> {
    let bytes = axum::body::to_bytes(body, JSON_BODY_LIMIT)
        .await
        .map_err(|e| ApiError::invalid(format!("auth: reading the request body: {e}")))?;
    let config: auth::AuthConfig = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid(format!("auth: malformed JSON body: {e}")))?;
    let domain = config.domain();
    let credentials = config
        .credentials()
        .ok_or_else(|| ApiError::invalid("auth: a username is required"))?;
    daemon.images.check_auth(domain, credentials).await?;
    Ok((
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        Json(serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""})),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_slashes_split_from_their_action() {
        assert_eq!(
            image_action("127.0.0.1:5000/a/b:1/json"),
            ("127.0.0.1:5000/a/b:1", Some("json"))
        );
        assert_eq!(image_action("a/get"), ("a", Some("get")));
        assert_eq!(image_action("busybox"), ("busybox", None));
        assert_eq!(image_action("/json"), ("/json", None));
    }

    #[test]
    fn versions_outside_the_range_are_refused() {
        assert!(check_version(None).is_ok());
        assert!(check_version(Some("1.24")).is_ok());
        assert!(check_version(Some("1.44")).is_ok());
        let err = check_version(Some("1.99")).unwrap_err();
        assert_eq!(err.kind.status(), 400);
        assert!(err.message.contains("1.99"), "{}", err.message);
        assert!(check_version(Some("1.23")).is_err());
    }
}
