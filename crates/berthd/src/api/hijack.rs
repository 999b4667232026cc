//! Hijacked connections (attach, exec start): the response is `101 UPGRADED` when the client
//! asked to upgrade (the docker CLI does), else a `200` whose body is the raw stream (older
//! clients); after the head the connection carries the container's streams both ways.

use axum::body::Body;
use axum::http::header::{CONNECTION, CONTENT_TYPE, UPGRADE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::error::ApiError;

/// The client's upgraded connection, once the response head is sent.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// The upgrade handle of a request that asked to be hijacked.
pub fn take(
    headers: &HeaderMap,
    extensions: &mut axum::http::Extensions,
) -> Result<OnUpgrade, ApiError> {
    let asked = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    match extensions.remove::<OnUpgrade>() {
        Some(upgrade) if asked => Ok(upgrade),
        _ => Err(ApiError::invalid(
            "this endpoint streams over a hijacked connection: send 'Connection: Upgrade' and 'Upgrade: tcp'",
        )),
    }
}

/// The `101` answer; `tty` selects the content type docker uses for raw vs multiplexed.
pub fn switching(tty: bool) -> Response {
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (CONTENT_TYPE, content_type),
            (CONNECTION, "Upgrade"),
            (UPGRADE, "tcp"),
        ],
        Body::empty(),
    )
        .into_response()
}

/// Runs `relay` on the upgraded connection once hyper hands it over.
pub fn spawn<F, Fut>(upgrade: OnUpgrade, relay: F)
where
    F: FnOnce(Upgraded) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            relay(TokioIo::new(upgraded)).await;
        }
    });
}
