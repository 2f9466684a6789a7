//! IoT Hub error responses: status, `iothub-errorcode` header and the legacy body shape
//! `{"Message":"ErrorCode:<Code>;<text>","ExceptionMessage":"Tracking ID:<32hex>-TimeStamp:…"}`
//! seen in every recorded IoT Hub error.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One IoT Hub service error, rendered exactly as the service renders it.
#[derive(Debug, Clone)]
pub struct HubError {
    /// HTTP status.
    pub status: StatusCode,
    /// Error code name (the `iothub-errorcode` header), e.g. `DeviceNotFound`.
    pub code: &'static str,
    /// Human text after `ErrorCode:<Code>;`.
    pub message: String,
}

impl HubError {
    /// Any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400 `ArgumentInvalid`: bad input, the message names the field and the rule.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ArgumentInvalid", message)
    }
    /// 400 `IotHubFormatError`: a body that is not the JSON the operation expects.
    pub fn format(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "IotHubFormatError", message)
    }
    /// 404 `DeviceNotFound`.
    pub fn device_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "DeviceNotFound",
            format!("Device {id} not registered"),
        )
    }
    /// 404 `ModuleNotFound`.
    pub fn module_not_found(id: &str, mid: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ModuleNotFound",
            format!("Module {mid} on device {id} not registered"),
        )
    }
    /// 412 `PreconditionFailed`.
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            message,
        )
    }
    /// 401 `IotHubUnauthorizedAccess`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "IotHubUnauthorizedAccess",
            message,
        )
    }
}

/// `Tracking ID:<32 hex>-TimeStamp:MM/dd/yyyy HH:mm:ss`, as in the recordings.
pub fn tracking_id() -> String {
    format!(
        "Tracking ID:{}-TimeStamp:{}",
        uuid::Uuid::new_v4().simple(),
        chrono::Utc::now().format("%m/%d/%Y %H:%M:%S")
    )
}

/// The error body as bytes, shared with the fault layer.
pub fn error_body(code: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "Message": format!("ErrorCode:{code};{message}"),
        "ExceptionMessage": tracking_id(),
    }))
    .unwrap_or_default()
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, error_body(self.code, &self.message)).into_response();
        let h = resp.headers_mut();
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h.insert("iothub-errorcode", HeaderValue::from_static(self.code));
        resp
    }
}

impl std::fmt::Display for HubError {
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

impl std::error::Error for HubError {}
