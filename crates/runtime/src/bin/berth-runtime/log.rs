//! `--log` and `--log-format`: where errors are recorded for the caller (containerd reads the
//! last JSON line of this file to explain a failure).

use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Logger {
    path: Option<PathBuf>,
    json: bool,
}

impl Logger {
    pub fn new(path: Option<&Path>, format: &str) -> Self {
        Logger {
            path: path.map(Path::to_path_buf),
            json: format == "json",
        }
    }

    /// Appends an error line to the log file, if there is one.
    pub fn error(&self, message: &str) {
        let Some(path) = &self.path else { return };
        let time = berth_runtime::state::now_rfc3339();
        let line = if self.json {
            serde_json::json!({ "level": "error", "msg": message, "time": time }).to_string()
        } else {
            format!("time=\"{time}\" level=error msg={message:?}")
        };
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{line}");
        }
    }
}
