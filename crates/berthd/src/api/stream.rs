//! JSON-lines response streams (pull, push, load): each line is flushed as it is produced, and
//! an error that comes before any line is still answered with its own status.

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::error::ApiError;
use berth_api::progress::ProgressMessage;

/// One item a streaming operation produces: a line, or the error that ends it.
pub type Item = Result<ProgressMessage, ApiError>;

/// Sends the lines of a stream from the task doing the work.
pub type Lines = mpsc::UnboundedSender<Item>;

/// A channel for a stream's lines.
pub fn channel() -> (Lines, mpsc::UnboundedReceiver<Item>) {
    mpsc::unbounded_channel()
}

/// Answers with the lines arriving on `rx`. If the first thing to arrive is an error, that
/// error is the response (a 404 for a missing image, say); later errors become the stream's
/// last line, as docker reports them.
pub async fn respond(mut rx: mpsc::UnboundedReceiver<Item>) -> Response {
    let first = match rx.recv().await {
        Some(Ok(first)) => first,
        Some(Err(error)) => return error.into_response(),
        None => return ApiError::invalid("the operation produced no output").into_response(),
    };
    let lines = futures_util::stream::unfold(
        (Some(first), rx, false),
        |(pending, mut rx, ended)| async move {
            if ended {
                return None;
            }
            let (message, ended) = match pending {
                Some(m) => (m, false),
                None => match rx.recv().await? {
                    Ok(m) => (m, false),
                    Err(e) => (ProgressMessage::error(e.message), true),
                },
            };
            let mut line = serde_json::to_vec(&message).expect("progress lines serialise");
            line.extend_from_slice(b"\r\n");
            Some((
                Ok::<_, std::convert::Infallible>(Bytes::from(line)),
                (None, rx, ended),
            ))
        },
    );
    (
        [(CONTENT_TYPE, "application/json")],
        Body::from_stream(lines),
    )
        .into_response()
}
