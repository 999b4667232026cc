//! Docker's error body, `{"message": "..."}`, and the kinds of error that map to its statuses.

use serde::{Deserialize, Serialize};

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
}

/// The exit code docker gives a container that could not be started, read from the error's
/// words as docker's CLI reads them: 127 when the program does not exist, 126 when it cannot be
/// run, 125 for anything else. Case does not matter (Go and Rust word these differently).
pub fn start_failure_code(message: &str) -> i32 {
    let message = message.to_lowercase();
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

/// What kind of failure an error is: decides the HTTP status, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request itself is wrong.
    InvalidParameter,
    /// 401: the registry refused the credentials.
    Unauthorized,
    /// 403: understood but not allowed (removing a predefined network or one in use).
    Forbidden,
    /// 404: no such image, container, …
    NotFound,
    /// 409: the operation conflicts with the state (an image in use, a name taken).
    Conflict,
    /// 500: anything else.
    System,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidParameter => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::System => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_get_dockers_codes_in_either_wording() {
        assert_eq!(
            start_failure_code(r#"exec: "nope": executable file not found in $PATH"#),
            127
        );
        assert_eq!(
            start_failure_code("exec /nope: No such file or directory (os error 2)"),
            127
        );
        assert_eq!(start_failure_code("exec /etc: permission denied"), 126);
        assert_eq!(start_failure_code("exec /etc: Is a directory"), 126);
        assert_eq!(start_failure_code("cgroup: out of memory"), 125);
    }
}
