//! `POST /images/create?fromSrc=-`: `docker import`, the request body being the archive.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_api::progress::ProgressMessage;
use berth_engine::events::Event;

use super::commit::repo_tag;
use super::error::ApiError;
use super::query::Query;
use super::{stream, upload, Daemon};

/// Imports the body as a one-layer image; answers with the id as dockerd does (one status
/// line), or with the error's status when nothing was stored.
pub async fn import(daemon: &Daemon, query: &Query, body: Body) -> Response {
    let source = query.get("fromSrc").unwrap_or_default();
    if source != "-" {
        return ApiError::invalid(format!(
            "import from {source:?} is not supported: berthd downloads nothing; send the archive as the request body (fromSrc=-)"
        ))
        .into_response();
    }
    let reference = match repo_tag(query) {
        Ok(reference) => reference,
        Err(e) => return e.into_response(),
    };
    let changes: Vec<String> = query
        .all("changes")
        .into_iter()
        .filter(|c| !c.trim().is_empty())
        .collect();
    let message = query.get("message").unwrap_or_default().to_string();
    let (reader, upload) = upload::reader(body);
    let (lines, rx) = stream::channel();
    let images = daemon.images.clone();
    let events = daemon.events.clone();
    tokio::spawn(async move {
        let imported = images
            .import(reader, reference.clone(), changes, message)
            .await;
        let _ = match imported {
            Ok(id) => {
                let id = id.to_string();
                events.publish(Event::now("image", "import", &id));
                if let Some(reference) = reference {
                    let name = reference.familiar();
                    events.publish(Event::now("image", "tag", &id).with("name", name));
                }
                lines.send(Ok(ProgressMessage::status(id)))
            }
            Err(e) => {
                upload.settle().await;
                lines.send(Err(e.into()))
            }
        };
    });
    stream::respond(rx).await
}
