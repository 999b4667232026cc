//! The one place engine errors become HTTP statuses, and the `{"message": …}` error response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use berth_api::error::{ErrorBody, ErrorKind};

/// An error answered to the client: its kind decides the status.
#[derive(Debug)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    /// A 400 about the request.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError {
            kind: ErrorKind::InvalidParameter,
            message: message.into(),
        }
    }

    /// A 404 for something that does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            kind: ErrorKind::NotFound,
            message: message.into(),
        }
    }
}

impl From<berth_engine::Error> for ApiError {
    fn from(error: berth_engine::Error) -> Self {
        // Docker's wording, which clients match on.
        if let berth_engine::Error::Image(berth_image::Error::ImageNotFound(name)) = &error {
            return ApiError::not_found(format!("No such image: {}", docker_name(name)));
        }
        let kind = match &error {
            berth_engine::Error::Image(e) => image_kind(e),
            berth_engine::Error::Distribution(e) => distribution_kind(e),
            berth_engine::Error::InvalidParameter { .. }
            | berth_engine::Error::BadRequest(_)
            | berth_engine::Error::UnknownRuntime(_) => ErrorKind::InvalidParameter,
            berth_engine::Error::NoSuchImage(_)
            | berth_engine::Error::NoSuchContainer(_)
            | berth_engine::Error::NoSuchExec(_)
            | berth_engine::Error::NoSuchPath { .. }
            | berth_engine::Error::NoSuchNetwork(_)
            | berth_engine::Error::NoSuchVolume(_) => ErrorKind::NotFound,
            berth_engine::Error::Forbidden(_) => ErrorKind::Forbidden,
            berth_engine::Error::Conflict(_) | berth_engine::Error::NotModified(..) => {
                ErrorKind::Conflict
            }
            berth_engine::Error::Spec(_) => ErrorKind::InvalidParameter,
            berth_engine::Error::Shim(_)
            | berth_engine::Error::Runtime(_)
            | berth_engine::Error::ExternalRuntime { .. }
            | berth_engine::Error::Start { .. }
            | berth_engine::Error::Io { .. }
            | berth_engine::Error::Network(_)
            | berth_engine::Error::Task { .. } => ErrorKind::System,
        };
        ApiError {
            kind,
            message: error.to_string(),
        }
    }
}

/// An image name as dockerd prints it in errors: with its tag (`nope:latest`), an id as is.
fn docker_name(name: &str) -> String {
    if name.starts_with("sha256:") {
        return name.to_string();
    }
    name.parse::<berth_image::Reference>()
        .map(|reference| reference.familiar())
        .unwrap_or_else(|_| name.to_string())
}

fn image_kind(error: &berth_image::Error) -> ErrorKind {
    use berth_image::Error as E;
    match error {
        E::ImageNotFound(_) => ErrorKind::NotFound,
        E::Conflict { .. } => ErrorKind::Conflict,
        E::InvalidReference(..) | E::InvalidDigest(..) | E::InvalidChange { .. } => {
            ErrorKind::InvalidParameter
        }
        _ => ErrorKind::System,
    }
}

fn distribution_kind(error: &berth_distribution::Error) -> ErrorKind {
    use berth_distribution::Error as E;
    match error {
        E::Unauthorized { .. } => ErrorKind::Unauthorized,
        E::Status { status: 401, .. } | E::Status { status: 403, .. } => ErrorKind::Unauthorized,
        E::Status { status: 404, .. } => ErrorKind::NotFound,
        E::Invalid { .. } | E::Credentials { .. } => ErrorKind::InvalidParameter,
        E::Image(e) => image_kind(e),
        _ => ErrorKind::System,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            Json(ErrorBody {
                message: self.message,
            }),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_images_are_404_and_conflicts_409() {
        let missing: ApiError =
            berth_engine::Error::from(berth_image::Error::ImageNotFound("x".into())).into();
        assert_eq!(missing.kind.status(), 404);
        assert_eq!(missing.message, "No such image: x:latest");
        let conflict: ApiError = berth_engine::Error::from(berth_image::Error::Conflict {
            image: "y".into(),
            reason: "in use".into(),
        })
        .into();
        assert_eq!(conflict.kind.status(), 409);
        let denied: ApiError = berth_engine::Error::from(berth_distribution::Error::Unauthorized {
            url: "http://127.0.0.1:5000/v2/".into(),
            reason: "no".into(),
        })
        .into();
        assert_eq!(denied.kind.status(), 401);
    }
}
