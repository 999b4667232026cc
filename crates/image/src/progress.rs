//! Progress of long operations (pull, push, load, save), reported as events per item (a layer,
//! a config) so that a terminal can draw one bar per layer and a pipe can get plain lines. The
//! statuses follow the words `docker pull`/`push` print.

/// What is happening to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Waiting,
    Downloading,
    Extracting,
    PullComplete,
    AlreadyExists,
    Preparing,
    Compressing,
    Pushing,
    Pushed,
    Mounted,
    Loading,
    Loaded,
}

impl Status {
    /// The words Docker prints for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "Waiting",
            Status::Downloading => "Downloading",
            Status::Extracting => "Extracting",
            Status::PullComplete => "Pull complete",
            Status::AlreadyExists => "Already exists",
            Status::Preparing => "Preparing",
            Status::Compressing => "Compressing",
            Status::Pushing => "Pushing",
            Status::Pushed => "Pushed",
            Status::Mounted => "Mounted from another repository",
            Status::Loading => "Loading layer",
            Status::Loaded => "Loaded",
        }
    }

    /// Whether nothing more will be reported for the item.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::PullComplete
                | Status::AlreadyExists
                | Status::Pushed
                | Status::Mounted
                | Status::Loaded
        )
    }
}

/// One step of one item: `id` is the short (12 hex digit) digest Docker shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub status: Status,
    /// Bytes done so far, and the total when known.
    pub current: u64,
    pub total: Option<u64>,
}

/// Receives progress events; called from several threads at once.
pub trait Observer: Sync {
    fn event(&self, event: Event);
}

/// Reports nothing.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: Event) {}
}

impl<F: Fn(Event) + Sync> Observer for F {
    fn event(&self, event: Event) {
        self(event)
    }
}
