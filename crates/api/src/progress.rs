//! The JSON progress stream of pull, push and load: one JSON object per line, as
//! `docker pull` reads it (`{"status":"Downloading","progressDetail":{…},"id":"…"}`).

use berth_image::progress::Event;
use serde::{Deserialize, Serialize};

/// Bytes done of a total, for a progress bar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// The error at the end of a failed stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
}

/// One line of a progress stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    /// Docker's text bar (`[====>   ] 1.2MB/3MB`), for clients that print it as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// A plain line (`Loaded image: busybox:latest`), as `docker load` streams them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ProgressMessage {
    /// A status line not about one layer (`Digest: sha256:…`).
    pub fn status(text: impl Into<String>) -> Self {
        ProgressMessage {
            status: Some(text.into()),
            ..Default::default()
        }
    }

    /// The last line of a failed operation.
    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        ProgressMessage {
            error_detail: Some(ErrorDetail {
                message: message.clone(),
            }),
            error: Some(message),
            ..Default::default()
        }
    }
}

impl From<&Event> for ProgressMessage {
    fn from(event: &Event) -> Self {
        let with_bytes = event.total.is_some() && !event.status.is_final();
        ProgressMessage {
            id: Some(event.id.clone()),
            status: Some(event.status.as_str().to_string()),
            progress_detail: with_bytes.then_some(ProgressDetail {
                current: Some(event.current),
                total: event.total,
            }),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::progress::Status;

    #[test]
    fn events_become_the_lines_docker_reads() {
        let line = serde_json::to_string(&ProgressMessage::from(&Event {
            id: "0123456789ab".into(),
            status: Status::Downloading,
            current: 5,
            total: Some(10),
        }))
        .unwrap();
        assert_eq!(
            line,
            r#"{"id":"0123456789ab","status":"Downloading","progressDetail":{"current":5,"total":10}}"#
        );
        let error = serde_json::to_string(&ProgressMessage::error("boom")).unwrap();
        assert_eq!(
            error,
            r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#
        );
    }
}
