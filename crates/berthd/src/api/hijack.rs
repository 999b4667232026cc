//! Hijacked connections (attach, exec start): the response is `101 UPGRADED` when the client
//! asked to upgrade (the docker CLI does), else a `200` whose body is the raw stream (older
//! clients); after the head the connection carries the container's streams both ways.

use axum::body::Body;
use axum::http::header::{CONNECTION, CONTENT_TYPE, UPGRADE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::io::ReaderStream;

/// Both directions of a hijacked connection.
pub trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// The client's side of a hijacked exchange, once the response head is sent.
pub type Conn = Box<dyn Duplex>;

/// How the client gets its stream: an upgraded connection, or a plain response body (with the
/// request's own body, if any more of it comes, as the input).
pub enum Hijack {
    Upgrade(OnUpgrade),
    Plain(Body),
}

/// Bytes buffered between a plain response body and the relay.
const PLAIN_BUFFER: usize = 64 * 1024;

/// The hijack the request asked for. `input` is what is left of the request body (for exec
/// start the JSON config has been read already, so pass [`Body::empty`]).
pub fn take(headers: &HeaderMap, extensions: &mut axum::http::Extensions, input: Body) -> Hijack {
    let asked = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    match extensions.remove::<OnUpgrade>() {
        Some(upgrade) if asked => Hijack::Upgrade(upgrade),
        _ => Hijack::Plain(input),
    }
}

/// Starts `relay` on the client's stream and returns the response head that goes first: `101`
/// for an upgrade, else `200` with the stream as its body. `tty` selects the content type
/// docker uses for raw vs multiplexed streams.
pub fn respond<F, Fut>(hijack: Hijack, tty: bool, relay: F) -> Response
where
    F: FnOnce(Conn) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    match hijack {
        Hijack::Upgrade(upgrade) => {
            tokio::spawn(async move {
                if let Ok(upgraded) = upgrade.await {
                    relay(Box::new(TokioIo::new(upgraded))).await;
                }
            });
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
        Hijack::Plain(input) => {
            let (ours, theirs) = tokio::io::duplex(PLAIN_BUFFER);
            let (from_relay, mut to_relay) = tokio::io::split(ours);
            tokio::spawn(async move {
                let mut frames = input.into_data_stream();
                while let Some(Ok(chunk)) = frames.next().await {
                    if to_relay.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                // The end of the request body is the end of the container's input.
                let _ = to_relay.shutdown().await;
            });
            tokio::spawn(relay(Box::new(theirs)));
            (
                StatusCode::OK,
                [(CONTENT_TYPE, content_type)],
                Body::from_stream(ReaderStream::new(from_relay)),
            )
                .into_response()
        }
    }
}
