//! `GET /events?since=&until=&filters=`: past events still kept, then live ones, one JSON
//! object per line, filtered by type, event (action), container/image/label.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use berth_api::events::{EventActor, EventMessage};
use berth_engine::events::Event;

use super::error::ApiError;
use super::query::Query;
use super::Daemon;

/// A `since`/`until` value: Unix seconds with an optional fraction, or an RFC 3339 time.
fn time_nano(text: &str) -> Result<i128, ApiError> {
    if let Some(time) = berth_shim::time::parse(text) {
        return Ok(time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128));
    }
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let seconds: i128 = seconds.parse().map_err(|_| {
        ApiError::invalid(format!(
            "invalid time {text:?}: not Unix seconds or RFC 3339"
        ))
    })?;
    let digits = fraction.len().min(9);
    let nanos: i128 =
        fraction[..digits].parse::<i128>().unwrap_or(0) * 10i128.pow((9 - digits) as u32);
    Ok(seconds * 1_000_000_000 + nanos)
}

fn now_nano() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Whether `event` passes every filter (values of one key are alternatives).
fn admitted(event: &Event, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(key, values)| {
        values.iter().any(|value| match key.as_str() {
            "type" => event.kind == value,
            "event" => event.action == *value || event.action.split(':').next() == Some(value),
            "container" => {
                event.kind == "container"
                    && (event.id.starts_with(value.as_str())
                        || event.attributes.get("name").is_some_and(|n| n == value))
            }
            "image" => {
                event.attributes.get("image").is_some_and(|i| i == value)
                    || (event.kind == "image" && event.id == *value)
            }
            "label" => match value.split_once('=') {
                Some((k, v)) => event.attributes.get(k).is_some_and(|have| have == v),
                None => event.attributes.contains_key(value),
            },
            _ => true,
        })
    })
}

fn message(event: &Event) -> EventMessage {
    let container = event.kind == "container";
    EventMessage {
        r#type: event.kind.into(),
        action: event.action.clone(),
        actor: EventActor {
            id: event.id.clone(),
            attributes: event.attributes.clone(),
        },
        scope: "local".into(),
        time: (event.time_nano / 1_000_000_000) as i64,
        time_nano: event.time_nano as i64,
        status: if container {
            event.action.clone()
        } else {
            String::new()
        },
        id: if container {
            event.id.clone()
        } else {
            String::new()
        },
        from: if container {
            event.attributes.get("image").cloned().unwrap_or_default()
        } else {
            String::new()
        },
    }
}

fn line(event: &Event) -> Bytes {
    let mut out = serde_json::to_vec(&message(event)).expect("events serialise");
    out.push(b'\n');
    Bytes::from(out)
}

/// The events stream.
pub async fn events(daemon: &Daemon, query: &Query) -> Result<Response, ApiError> {
    let filters = query.filters()?;
    for key in filters.keys() {
        if !matches!(
            key.as_str(),
            "type" | "event" | "container" | "image" | "label"
        ) {
            return Err(ApiError::invalid(format!("invalid filter '{key}'")));
        }
    }
    let since = query.get("since").map(time_nano).transpose()?;
    let until = query.get("until").map(time_nano).transpose()?;
    let (past, live) = daemon.events.subscribe(since);
    let past: Vec<Event> = past
        .into_iter()
        .filter(|e| until.is_none_or(|u| e.time_nano <= u) && admitted(e, &filters))
        .collect();
    let past = futures_util::stream::iter(
        past.into_iter()
            .map(|e| Ok::<_, std::convert::Infallible>(line(&e))),
    );
    let live = futures_util::stream::unfold(
        (live, filters, until),
        |(mut live, filters, until)| async move {
            loop {
                let next = match until {
                    Some(until) => {
                        let left = until - now_nano();
                        if left <= 0 {
                            return None;
                        }
                        match tokio::time::timeout(Duration::from_nanos(left as u64), live.recv())
                            .await
                        {
                            Ok(next) => next,
                            Err(_) => return None,
                        }
                    }
                    None => live.recv().await,
                };
                match next {
                    Ok(event) if until.is_none_or(|u| event.time_nano <= u) => {
                        if admitted(&event, &filters) {
                            return Some((Ok(line(&event)), (live, filters, until)));
                        }
                    }
                    Ok(_) => return None,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return None,
                }
            }
        },
    );
    let body = futures_util::StreamExt::chain(past, live);
    Ok((
        [(CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}
