//! `GET /events`: one JSON object per line for each thing that happened.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lenient::null_as_default as nd;

/// One event. `status`, `id` and `from` repeat `Action`, `Actor.ID` and the image for
/// container events, as Docker still writes them for old clients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMessage {
    /// `container`, `image`, `volume`, `network`, `daemon`, …
    #[serde(rename = "Type", deserialize_with = "nd")]
    pub r#type: String,
    /// `create`, `start`, `die`, `pull`, …; `exec_start: <cmd>` carries the command.
    #[serde(rename = "Action", deserialize_with = "nd")]
    pub action: String,
    #[serde(rename = "Actor", deserialize_with = "nd")]
    pub actor: EventActor,
    /// `local` or `swarm`.
    #[serde(deserialize_with = "nd")]
    pub scope: String,
    /// Unix seconds.
    #[serde(deserialize_with = "nd")]
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano", deserialize_with = "nd")]
    pub time_nano: i64,
    /// Deprecated: the action.
    #[serde(deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Deprecated: the actor's id.
    #[serde(deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Deprecated: the container's image.
    #[serde(deserialize_with = "nd", skip_serializing_if = "String::is_empty")]
    pub from: String,
}

/// What an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventActor {
    #[serde(rename = "ID", deserialize_with = "nd")]
    pub id: String,
    /// `name`, `image`, labels, `exitCode`, …
    #[serde(rename = "Attributes", deserialize_with = "nd")]
    pub attributes: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dockerd_container_event_reads_and_writes_the_old_fields_too() {
        let line = r#"{"status":"die","id":"c1","from":"busybox","Type":"container","Action":"die","Actor":{"ID":"c1","Attributes":{"exitCode":"3","image":"busybox","name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}"#;
        let event: EventMessage = serde_json::from_str(line).unwrap();
        assert_eq!(
            (event.r#type.as_str(), event.action.as_str()),
            ("container", "die")
        );
        assert_eq!(event.actor.attributes["exitCode"], "3");
        assert_eq!(event.time_nano, 1_700_000_000_123_456_789);
        let written: serde_json::Value = serde_json::to_value(&event).unwrap();
        assert_eq!(
            written,
            serde_json::from_str::<serde_json::Value>(line).unwrap()
        );
        let image = EventMessage {
            r#type: "image".into(),
            action: "pull".into(),
            ..Default::default()
        };
        let written = serde_json::to_value(&image).unwrap();
        assert!(written.get("status").is_none() && written["Actor"]["Attributes"].is_object());
    }
}
