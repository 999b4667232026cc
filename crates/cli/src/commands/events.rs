//! `events`: what happened in the daemon, printed as it arrives, one line per event.

use std::io::{BufRead, Write};

use berth_api::events::EventMessage;
use clap::Args;
use serde_json::Value;

use super::filters_json;
use super::ps::timestamp;
use crate::error::{Error, Result};
use crate::format::{now, rfc3339};
use crate::http::Body;
use crate::template::Template;
use crate::Context;

/// `berth events` flags.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template ('json' for one JSON object a line)
    #[arg(long)]
    format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
}

/// Streams the daemon's events until `--until` (or forever), each line flushed as it comes.
pub fn events(cx: &Context, args: &EventsArgs) -> Result<()> {
    // `json`: each event as Docker marshals it (its field order).
    let (as_json, template) = match args.format.as_deref() {
        None | Some("") => (false, None),
        Some("json" | "{{json .}}") => (true, None),
        Some(format) => (false, Some(Template::parse(format)?)),
    };
    let now = now();
    let mut query = Vec::new();
    if let Some(since) = &args.since {
        query.push(format!("since={}", timestamp(since, now)?));
    }
    if let Some(until) = &args.until {
        query.push(format!("until={}", timestamp(until, now)?));
    }
    if !args.filter.is_empty() {
        query.push(format!("filters={}", filters_json(&args.filter)?));
    }
    let path = if query.is_empty() {
        "/events".to_string()
    } else {
        format!("/events?{}", query.join("&"))
    };
    let daemon = cx.daemon()?;
    let response = daemon.request("GET", &path, &[], Body::Empty)?;
    let mut stdout = std::io::stdout().lock();
    for line in response.body.lines() {
        let line = line.map_err(|e| daemon.protocol(format!("GET {path}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let event: EventMessage = serde_json::from_str(&line)
            .map_err(|e| daemon.protocol(format!("GET {path}: unexpected event {line:?}: {e}")))?;
        let text = match &template {
            _ if as_json => docker_json(&event),
            Some(template) => template.render(&template_value(&line, &event))?,
            None => describe(&event),
        };
        writeln!(stdout, "{text}")
            .and_then(|()| stdout.flush())
            .map_err(|e| Error::io("stdout", e))?;
    }
    Ok(())
}

/// The event as a template sees it: the JSON as sent, plus the Go field names of the
/// deprecated lower-case keys (`.Status`, `.ID`, `.From`).
fn template_value(line: &str, event: &EventMessage) -> Value {
    let mut value: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        for (key, text) in [
            ("Status", &event.status),
            ("ID", &event.id),
            ("From", &event.from),
        ] {
            map.insert(key.to_string(), Value::String(text.clone()));
        }
    }
    value
}

/// The event as Docker's `--format json` prints it: its Go struct's field order, the
/// deprecated fields and the times left out when empty.
fn docker_json(event: &EventMessage) -> String {
    let text = |s: &str| Value::String(s.to_string()).to_string();
    let mut fields = Vec::new();
    for (key, value) in [
        ("status", &event.status),
        ("id", &event.id),
        ("from", &event.from),
    ] {
        if !value.is_empty() {
            fields.push(format!("\"{key}\":{}", text(value)));
        }
    }
    fields.push(format!("\"Type\":{}", text(&event.r#type)));
    fields.push(format!("\"Action\":{}", text(&event.action)));
    fields.push(format!(
        "\"Actor\":{}",
        serde_json::to_string(&event.actor).unwrap_or_default()
    ));
    fields.push(format!("\"scope\":{}", text(&event.scope)));
    if event.time != 0 {
        fields.push(format!("\"time\":{}", event.time));
    }
    if event.time_nano != 0 {
        fields.push(format!("\"timeNano\":{}", event.time_nano));
    }
    format!("{{{}}}", fields.join(","))
}

/// Docker's line for an event: `<time> <type> <action> <actor id> (key=value, …)`.
fn describe(event: &EventMessage) -> String {
    let nanos = if event.time_nano != 0 {
        event.time_nano
    } else {
        event.time.saturating_mul(1_000_000_000)
    };
    let seconds = rfc3339(nanos.div_euclid(1_000_000_000));
    let mut line = format!(
        "{}.{:09}Z {} {} {}",
        seconds.trim_end_matches('Z'),
        nanos.rem_euclid(1_000_000_000),
        event.r#type,
        event.action,
        event.actor.id
    );
    if !event.actor.attributes.is_empty() {
        let attributes: Vec<String> = event
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        line.push_str(&format!(" ({})", attributes.join(", ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_print_as_docker_prints_them() {
        let line = r#"{"Type":"container","Action":"die","Actor":{"ID":"c1","Attributes":{"name":"web","exitCode":"3"}},"scope":"local","time":1700000000,"timeNano":1700000000012345678,"status":"die","id":"c1","from":"busybox"}"#;
        let event: EventMessage = serde_json::from_str(line).unwrap();
        assert_eq!(
            describe(&event),
            "2023-11-14T22:13:20.012345678Z container die c1 (exitCode=3, name=web)"
        );
        let template = Template::parse("{{.Status}} {{.Actor.Attributes.name}} {{.From}}").unwrap();
        assert_eq!(
            template.render(&template_value(line, &event)).unwrap(),
            "die web busybox"
        );
        assert_eq!(
            docker_json(&event),
            r#"{"status":"die","id":"c1","from":"busybox","Type":"container","Action":"die","Actor":{"ID":"c1","Attributes":{"exitCode":"3","name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000012345678}"#
        );
        let bare = EventMessage {
            r#type: "image".into(),
            action: "tag".into(),
            time: 1,
            ..EventMessage::default()
        };
        assert_eq!(describe(&bare), "1970-01-01T00:00:01.000000000Z image tag ");
    }
}
