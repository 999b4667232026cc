//! Docker's error body, `{"message": "..."}`, and the kinds of error that map to its statuses.

use serde::{Deserialize, Serialize};

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
}

/// What kind of failure an error is: decides the HTTP status, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request itself is wrong.
    InvalidParameter,
    /// 401: the registry refused the credentials.
    Unauthorized,
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
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::System => 500,
        }
    }
}
