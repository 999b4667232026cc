//! The daemon's event bus: what happened to containers, images, volumes and networks, for
//! `GET /events`. Recent events are kept so `--since` can replay them; live subscribers get
//! each new event as it is published.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

/// How many past events are kept for `--since`.
const HISTORY: usize = 1024;

/// One event, in the terms of Docker's event messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `container`, `image`, `volume`, `network`, `daemon`.
    pub kind: &'static str,
    /// `create`, `start`, `die`, `destroy`, `health_status: healthy`, `pull`, `tag`, …
    pub action: String,
    /// The object's id (or, for images, its name as used).
    pub id: String,
    /// `name`, `image`, `exitCode`, labels, …
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the Unix epoch.
    pub time_nano: i128,
}

impl Event {
    /// An event happening now.
    pub fn now(kind: &'static str, action: impl Into<String>, id: impl Into<String>) -> Event {
        let time_nano = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        Event {
            kind,
            action: action.into(),
            id: id.into(),
            attributes: BTreeMap::new(),
            time_nano,
        }
    }

    /// Adds an attribute.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Event {
        self.attributes.insert(key.to_string(), value.into());
        self
    }
}

/// Publishes events and hands out subscriptions; cheap to clone.
#[derive(Clone)]
pub struct Events {
    live: broadcast::Sender<Event>,
    history: Arc<Mutex<VecDeque<Event>>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            live: broadcast::channel(HISTORY).0,
            history: Arc::new(Mutex::new(VecDeque::with_capacity(HISTORY))),
        }
    }
}

impl Events {
    /// Records `event` and sends it to every subscriber.
    pub fn publish(&self, event: Event) {
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(event.clone());
        // Sent under the lock so a subscriber taking (past, live) sees each event once.
        let _ = self.live.send(event);
    }

    /// The kept events since `since_nano` (inclusive), and a receiver for those to come.
    pub fn subscribe(&self, since_nano: Option<i128>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let past = match since_nano {
            Some(since) => history
                .iter()
                .filter(|e| e.time_nano >= since)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        (past, self.live.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_past_and_new_events_once() {
        let events = Events::default();
        events.publish(Event::now("container", "create", "a"));
        let (past, mut live) = events.subscribe(Some(0));
        assert_eq!(past.len(), 1);
        events.publish(Event::now("container", "start", "a").with("name", "web"));
        let next = live.recv().await.unwrap();
        assert_eq!(next.action, "start");
        assert_eq!(next.attributes["name"], "web");
        let (none, _) = events.subscribe(None);
        assert!(none.is_empty());
    }
}
