//! The shim's socket protocol: one JSON request line per connection, answered by one JSON line
//! (an attach connection then carries the raw streams).

use serde::{Deserialize, Serialize};

/// A request to the shim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Start the created container.
    Start,
    /// Turn this connection into the container's streams.
    Attach {
        /// Send the client's input to the container's stdin.
        #[serde(default)]
        stdin: bool,
        /// Send the container's stdout to the client.
        #[serde(default)]
        stdout: bool,
        /// Send the container's stderr to the client.
        #[serde(default)]
        stderr: bool,
    },
    /// Answer once the container exited, with its exit record.
    Wait,
    /// Signal the container's init (or, with `all`, every process in its cgroup).
    Kill {
        /// The signal number.
        signal: i32,
        /// Every process in the container's cgroup, not only its init.
        #[serde(default)]
        all: bool,
    },
    /// Set the terminal size (tty containers only).
    Resize {
        /// Rows.
        height: u16,
        /// Columns.
        width: u16,
    },
    /// Report the container's pid and status.
    State,
}

/// The lifecycle stage of the container as the shim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Set up, waiting for `start`.
    Created,
    /// Started and not yet exited.
    Running,
    /// Exited (and reaped by the shim).
    Exited,
}

/// The answer to `state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The container's init in the shim's pid namespace.
    pub pid: i32,
    /// Created, running or exited.
    pub status: Status,
    /// Set once the container exited.
    pub exit_code: Option<i32>,
}

/// The stream a piece of output came from, numbered as in Docker's multiplexed framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// The container's standard output (and its terminal).
    Stdout,
    /// The container's standard error.
    Stderr,
}

impl Stream {
    /// The stream id in the first byte of a frame header.
    pub fn id(self) -> u8 {
        match self {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        }
    }
}

/// Frames `data` as Docker's multiplexed attach stream does: an 8-byte header (stream id, three
/// zero bytes, big-endian length) followed by the bytes.
pub fn frame(stream: Stream, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[stream.id(), 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Success with nothing to report.
pub(crate) const OK: &str = "{\"ok\":true}";

/// An error reply line (without the newline).
pub(crate) fn error_line(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_from_the_documented_lines() {
        let parse = |s: &str| serde_json::from_str::<Request>(s);
        assert_eq!(parse(r#"{"op":"start"}"#).unwrap(), Request::Start);
        assert_eq!(
            parse(r#"{"op":"attach","stdin":true,"stdout":true,"stderr":false}"#).unwrap(),
            Request::Attach {
                stdin: true,
                stdout: true,
                stderr: false
            }
        );
        assert_eq!(
            parse(r#"{"op":"kill","signal":9,"all":true}"#).unwrap(),
            Request::Kill {
                signal: 9,
                all: true
            }
        );
        assert_eq!(
            parse(r#"{"op":"resize","height":24,"width":80}"#).unwrap(),
            Request::Resize {
                height: 24,
                width: 80
            }
        );
        for bad in [
            r#"{"op":"explode"}"#,
            r#"{"op":"kill"}"#,
            r#"{"op":"kill","signal":"nine"}"#,
            "not json",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn frames_carry_stream_and_big_endian_length() {
        assert_eq!(
            frame(Stream::Stderr, b"hi"),
            vec![2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']
        );
        assert_eq!(
            &frame(Stream::Stdout, &[7; 300])[..8],
            &[1, 0, 0, 0, 0, 0, 1, 44]
        );
    }
}
