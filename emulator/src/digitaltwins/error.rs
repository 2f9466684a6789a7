//! The ADT error shape: `{"error":{"code","message"}}` plus the `x-ms-error-code` header.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered the way Azure Digital Twins answers it, so clients map it exactly as they would the service's.
#[derive(Debug, Clone)]
pub struct AdtError {
    /// HTTP status.
    pub status: StatusCode,
    /// The service's error code (`error.code` and `x-ms-error-code`).
    pub code: &'static str,
    /// Human-readable message (never contains secrets).
    pub message: String,
    /// ASP.NET `application/problem+json` body instead of the ADT shape (malformed JSON Patch documents).
    pub problem: bool,
}

/// Result alias for handlers.
pub type AdtResult<T> = Result<T, AdtError>;

impl AdtError {
    /// Any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            problem: false,
        }
    }

    /// 400 with the given code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 InvalidArgument.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::bad_request("InvalidArgument", message)
    }

    /// 400 ValidationFailed.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::bad_request("ValidationFailed", message)
    }

    /// 400 JsonPatchInvalid.
    pub fn patch_invalid(message: impl Into<String>) -> Self {
        Self::bad_request("JsonPatchInvalid", message)
    }

    /// 404 DigitalTwinNotFound with the service's message.
    pub fn twin_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "DigitalTwinNotFound",
            format!(
                "There is no digital twin instance that exists with the ID {id}. Please verify that the twin id is valid and ensure that the twin is not deleted. See section on querying the twins http://aka.ms/adtv2query."
            ),
        )
    }

    /// 404 ModelNotFound with the service's message.
    pub fn model_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ModelNotFound",
            format!(
                "There is no Model(s) available that matches the provided id(s) {id}. Check that the Model ID provided is valid by doing a Model_List API call."
            ),
        )
    }

    /// 404 RelationshipNotFound.
    pub fn relationship_not_found(twin: &str, rel: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "RelationshipNotFound",
            format!(
                "There is no relationship with the ID {rel} on the digital twin {twin}. Please verify the relationship id."
            ),
        )
    }

    /// 404 JobNotFound with the service's message.
    pub fn job_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "JobNotFound",
            format!(
                "There is no job available that matches the provided id {id}. Check that the Job ID provided is valid by doing a Jobs_List API call."
            ),
        )
    }

    /// 412 for an `If-Match` that does not match, with the service's message.
    pub fn etag_mismatch(given: &str) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            format!(
                "The provided etag {given} doesn't match the current etag for the resource. Please obtain and provide the latest etag and try again."
            ),
        )
    }

    /// 400 problem+json, the ASP.NET model-binding failure the service returns for a body that is not a patch document.
    pub fn problem(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "",
            message: message.into(),
            problem: true,
        }
    }
}

impl std::fmt::Display for AdtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for AdtError {}

impl IntoResponse for AdtError {
    fn into_response(self) -> Response {
        if self.problem {
            let body = json!({
                "errors": {"jsonPatchDocument": [self.message]},
                "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
                "title": "One or more validation errors occurred.",
                "status": 400,
                "detail": null,
                "instance": null,
                "extensions": {"traceId": format!("00-{}-00", uuid::Uuid::new_v4().simple())}
            });
            let mut resp = (self.status, body.to_string()).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json; charset=utf-8"),
            );
            return resp;
        }
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = (self.status, body.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h.insert("x-ms-error-code", HeaderValue::from_static(self.code));
        resp
    }
}
