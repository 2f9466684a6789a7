//! One error type for both services: [`Error`] and its [`ErrorKind`].
//!
//! Callers branch on a few questions ("was it not found?", "was my ETag stale?", "was I
//! throttled?"), log the service's error code and tracking id, and otherwise bubble the error up.
//! One struct with accessors answers those questions for both IoT Hub and Azure Digital Twins,
//! whatever shape the service used for its error body:
//!
//! * IoT Hub: `iothub-errorcode` header, or the body's `ErrorCode`, or the `ErrorCode:<Name>;…`
//!   prefix of `Message`, or a JSON document hidden inside the `Message` string
//!   (`{"errorCode":404001,"trackingId":"…","message":"…"}`); tracking id from `ExceptionMessage`.
//! * Azure Digital Twins: body `{"error":{"code":…,"message":…,"innererror":{"code":…}}}` and the
//!   `x-ms-error-code` header.
//!
//! Messages never contain keys or tokens: credential errors name the field and the rule only.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

pub use http::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong, in categories callers can act on.
///
/// `#[non_exhaustive]`: new categories may be added; match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A value given to the library broke a documented rule; nothing was sent.
    InvalidInput {
        /// The parameter or field at fault (e.g. `device_id`, `SharedAccessKey`).
        field: Cow<'static, str>,
        /// The rule that was broken, in words.
        reason: String,
    },
    /// A credential could not be built or a token could not be obtained
    /// (malformed connection string or key, token provider failure).
    Credential,
    /// Sending a credential would have exposed it: plain `http://` to a host that is not
    /// loopback, or a link pointing at another host. Nothing was sent.
    InsecureTransport,
    /// The request never got a response: DNS, connect, TLS or a dropped connection.
    Connection,
    /// The request or the retry budget timed out, or a `wait_for_*job` waiter gave up before
    /// the job finished (the job itself keeps running; the message gives its last status).
    Timeout,
    /// The service answered with a non-success status.
    HttpResponse {
        /// HTTP status of the (last) response.
        status: StatusCode,
        /// The service's error code, when it sent one (`DeviceNotFound`, `PreconditionFailed`).
        error_code: Option<String>,
    },
    /// A response arrived but its body could not be decoded into the expected type.
    DataConversion,
    /// A write may or may not have been applied: its answer was lost (the connection dropped
    /// after the request was sent, the request timed out, a 500/502/503/504 that a gateway can
    /// send after the service committed), or a resend after such a loss met 404/409/412, which
    /// may be about this call's own first attempt. Read-back could not prove either outcome.
    /// [`Error::ambiguity`] says what was sent and what was found; [`Error::status`] keeps the
    /// last answer's status. Never reported for reads.
    OutcomeUnknown,
    /// Anything else (e.g. a request that could not be built).
    Other,
}

/// Details of a non-success response, kept for diagnostics.
#[derive(Debug, Clone, Default)]
struct ResponseDetails {
    status: Option<StatusCode>,
    error_code: Option<String>,
    inner_error_code: Option<String>,
    service_message: Option<String>,
    request_id: Option<String>,
    tracking_id: Option<String>,
    client_request_id: Option<String>,
    retry_after: Option<Duration>,
    body: Option<String>,
}

/// What the library knows about a write whose outcome is unknown
/// ([`ErrorKind::OutcomeUnknown`], [`Error::ambiguity`]). Holds no secrets: the operation, the
/// path, and for the facade operations that read the resource back, the document sent and the
/// document found.
#[derive(Debug, Clone, PartialEq)]
pub struct Ambiguity {
    pub(crate) operation: String,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) last_status: Option<StatusCode>,
    pub(crate) sent: Option<Value>,
    pub(crate) found: ReadBack,
    pub(crate) found_matches_sent: Option<bool>,
}

/// What a read-back after a lost answer found.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ReadBack {
    /// The resource was not read back (the operation has nothing to read, or the read failed).
    NotRead,
    /// The resource does not exist.
    Absent,
    /// The resource as stored, with its ETag when it has one.
    Present {
        /// The stored document.
        value: Value,
        /// Its ETag.
        etag: Option<crate::etag::ETag>,
    },
}

impl Ambiguity {
    /// The generated operation id (`devices_update_twin`, `digital_twins_update`, …).
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The HTTP method and path (no query string) of the write.
    pub fn request(&self) -> (&str, &str) {
        (&self.method, &self.path)
    }

    /// The status of the last answer, when one arrived (a 5xx, or the 404/409/412 a resend met);
    /// `None` when the connection dropped or the request timed out.
    pub fn last_status(&self) -> Option<StatusCode> {
        self.last_status
    }

    /// The document the write sent, when the facade operation records it (twin patches and
    /// replacements, created twins and relationships, jobs).
    pub fn sent(&self) -> Option<&Value> {
        self.sent.as_ref()
    }

    /// What reading the resource back found.
    pub fn found(&self) -> &ReadBack {
        &self.found
    }

    /// Whether the stored resource holds everything the write set (`None` when it was not read).
    /// A match is not proof on its own: another writer may have written the same values. It is
    /// proof when the write carried a value no other writer sends (an operation id, a unique key).
    pub fn found_matches_sent(&self) -> Option<bool> {
        self.found_matches_sent
    }
}

/// The crate's error type.
///
/// Build-time and local failures carry a kind and a message; failures reported by the service
/// also carry the status, the service error code, ids for support tickets and the server's
/// retry hint. `source()` returns the underlying transport or decoding error when there is one.
///
/// ```
/// use azure_twins::{Error, ErrorKind};
/// let e = Error::invalid_input("device_id", "must not be empty");
/// assert!(matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "device_id"));
/// assert!(e.to_string().contains("device_id"));
/// ```
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    details: Option<Box<ResponseDetails>>,
    source: Option<BoxError>,
    ambiguity: Option<Box<Ambiguity>>,
}

impl Error {
    /// A new error of `kind` with a human-readable message.
    ///
    /// The message must not contain secrets.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            kind,
            message: message.into(),
            details: None,
            source: None,
            ambiguity: None,
        }
    }

    /// A local validation error: `field` broke `reason`. Nothing was sent.
    pub fn invalid_input(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        let field = field.into();
        let reason = reason.into();
        let message = format!("invalid {field}: {reason}");
        Error::new(ErrorKind::InvalidInput { field, reason }, message)
    }

    /// A credential error (malformed key or connection string, token provider failure).
    ///
    /// The message must name the field and the rule, never the value.
    pub fn credential(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Credential, message)
    }

    /// Attaches an underlying cause, returned by [`std::error::Error::source`].
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The category of the failure.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The HTTP status of the service's response, if there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.kind {
            ErrorKind::HttpResponse { status, .. } => Some(*status),
            _ => self.details.as_ref().and_then(|d| d.status),
        }
    }

    /// The service's error code: IoT Hub names such as `DeviceNotFound` or
    /// `PreconditionFailed` (6-digit numeric codes are translated to their names when known),
    /// ADT codes such as `DigitalTwinNotFound`.
    pub fn error_code(&self) -> Option<&str> {
        self.details.as_ref()?.error_code.as_deref()
    }

    /// The innermost error code of an ADT error (`error.innererror…code`), when present.
    pub fn inner_error_code(&self) -> Option<&str> {
        self.details.as_ref()?.inner_error_code.as_deref()
    }

    /// The service's own error message, without the `ErrorCode:…;` prefix.
    pub fn service_message(&self) -> Option<&str> {
        self.details.as_ref()?.service_message.as_deref()
    }

    /// The id the service gave this request: the `x-ms-request-id` header, or else the IoT Hub
    /// tracking id. Quote it in support requests.
    pub fn request_id(&self) -> Option<&str> {
        let d = self.details.as_ref()?;
        d.request_id.as_deref().or(d.tracking_id.as_deref())
    }

    /// The IoT Hub tracking id (`Tracking ID:…` in `ExceptionMessage`, or `trackingId`).
    pub fn tracking_id(&self) -> Option<&str> {
        self.details.as_ref()?.tracking_id.as_deref()
    }

    /// The `x-ms-client-request-id` this library sent for the logical call (the same on every
    /// retry), to correlate with client-side logs.
    pub fn client_request_id(&self) -> Option<&str> {
        self.details.as_ref()?.client_request_id.as_deref()
    }

    /// How long the service asked the client to wait (`Retry-After`, `retry-after-ms`,
    /// `x-ms-retry-after-ms`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        self.details.as_ref()?.retry_after
    }

    /// The raw response body of a service error, for diagnostics (at most 8 KiB kept).
    pub fn response_body(&self) -> Option<&str> {
        self.details.as_ref()?.body.as_deref()
    }

    /// True for 404 responses (device, module, twin, job, model … not found). False for an
    /// [ambiguous](Error::is_ambiguous) write, even when its last answer was a 404.
    pub fn is_not_found(&self) -> bool {
        !self.is_ambiguous() && self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// True when a write may or may not have been applied ([`ErrorKind::OutcomeUnknown`]): its
    /// answer was lost and reading the resource back could not prove the outcome. Check
    /// [`Error::ambiguity`] (what was sent, what was found) or read the resource before
    /// deciding to repeat the write.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self.kind, ErrorKind::OutcomeUnknown)
    }

    /// What was sent and what was found, for an [ambiguous](Error::is_ambiguous) write.
    pub fn ambiguity(&self) -> Option<&Ambiguity> {
        self.ambiguity.as_deref()
    }

    /// Turns a failed write into an ambiguous outcome, keeping the last answer's details
    /// (status, codes, request ids) and source.
    pub(crate) fn into_ambiguous(mut self, ambiguity: Ambiguity, why: &str) -> Self {
        if self.is_ambiguous() {
            self.ambiguity = Some(Box::new(ambiguity));
            return self;
        }
        if let ErrorKind::HttpResponse { status, .. } = &self.kind {
            let d = self.details.get_or_insert_with(Default::default);
            d.status.get_or_insert(*status);
        }
        self.message = format!(
            "outcome unknown: {} {} ({}) may or may not have been applied: {why}; last answer: {}",
            ambiguity.method, ambiguity.path, ambiguity.operation, self.message
        )
        .into();
        self.kind = ErrorKind::OutcomeUnknown;
        self.ambiguity = Some(Box::new(ambiguity));
        self
    }

    /// Adds what was sent and what a read-back found to an ambiguous error.
    pub(crate) fn with_evidence(
        mut self,
        sent: Option<Value>,
        found: ReadBack,
        matches: Option<bool>,
    ) -> Self {
        if let Some(a) = self.ambiguity.as_deref_mut() {
            if sent.is_some() {
                a.sent = sent;
            }
            a.found = found;
            a.found_matches_sent = matches;
        }
        self
    }

    /// True when an ETag condition failed: HTTP 412, or IoT Hub's `PreconditionFailed` /
    /// `EtagDoesNotMatch` codes (the latter is sent with 400 by some operations).
    ///
    /// False for an [ambiguous](Error::is_ambiguous) write: a 412 met by a resend after a lost
    /// answer may be about this call's own first attempt.
    pub fn is_precondition_failed(&self) -> bool {
        if self.is_ambiguous() {
            return false;
        }
        self.status() == Some(StatusCode::PRECONDITION_FAILED)
            || matches!(
                self.error_code(),
                Some("PreconditionFailed" | "EtagDoesNotMatch")
            )
    }

    /// True when the service throttled the call (HTTP 429 or a `Throttl…` error code), after
    /// any retries the policy allowed.
    pub fn is_throttled(&self) -> bool {
        if self.is_ambiguous() {
            return false;
        }
        self.status() == Some(StatusCode::TOO_MANY_REQUESTS)
            || self
                .error_code()
                .is_some_and(|c| c.starts_with("Throttl") || c == "QuotaReachedError")
    }

    /// Builds an error from a non-success response's status, headers and body.
    pub(crate) fn from_response_parts(
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Self {
        let mut d = parse_error_response(status, headers, body);
        d.status = Some(status);
        let message = {
            let mut m = format!("service returned {status}");
            if let Some(code) = &d.error_code {
                m.push_str(&format!(" ({code})"));
            }
            if let Some(msg) = &d.service_message {
                m.push_str(": ");
                m.push_str(msg);
            }
            m
        };
        Error {
            kind: ErrorKind::HttpResponse {
                status,
                error_code: d.error_code.clone(),
            },
            message: message.into(),
            details: Some(Box::new(d)),
            source: None,
            ambiguity: None,
        }
    }

    /// Maps a transport error.
    pub(crate) fn from_reqwest(e: reqwest::Error) -> Self {
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else if e.is_connect() || e.is_request() || e.is_body() {
            ErrorKind::Connection
        } else if e.is_decode() {
            ErrorKind::DataConversion
        } else if e.is_builder() {
            ErrorKind::Other
        } else {
            ErrorKind::Connection
        };
        let message = match kind {
            ErrorKind::Timeout => "request timed out",
            ErrorKind::Connection => "request failed before a response arrived",
            ErrorKind::DataConversion => "could not decode the response body",
            _ => "could not build the request",
        };
        // reqwest error messages name the URL, never headers, so the source is safe to keep.
        Error::new(kind, message).with_source(e)
    }

    /// Maps a `progenitor_client` error from a generated client, reading the body of an
    /// unexpected response. `E` is the generated error body type (ADT `ErrorResponse`, or `()`).
    pub(crate) async fn from_raw<E: serde::Serialize>(err: progenitor_client::Error<E>) -> Self {
        use progenitor_client::Error as P;
        match err {
            P::InvalidRequest(s) => Error::new(ErrorKind::Other, format!("invalid request: {s}")),
            P::CommunicationError(e) | P::InvalidUpgrade(e) => Error::from_reqwest(e),
            P::ResponseBodyError(e) => Error::from_reqwest(e),
            P::ErrorResponse(rv) => {
                let status = rv.status();
                let headers = rv.headers().clone();
                let body = serde_json::to_vec(&*rv).unwrap_or_default();
                Error::from_response_parts(status, &headers, &body)
            }
            P::InvalidResponsePayload(bytes, e) => {
                let mut err = Error::new(
                    ErrorKind::DataConversion,
                    "the response body did not match the expected shape",
                )
                .with_source(e);
                err.details = Some(Box::new(ResponseDetails {
                    body: Some(truncate_body(&bytes)),
                    ..Default::default()
                }));
                err
            }
            P::UnexpectedResponse(resp) => Error::from_response(resp).await,
            P::Custom(s) => {
                // Our own hooks put typed failures here (e.g. insecure transport).
                if s.starts_with(INSECURE_PREFIX) {
                    Error::new(ErrorKind::InsecureTransport, s)
                } else if s.starts_with(CREDENTIAL_PREFIX) {
                    Error::new(ErrorKind::Credential, s)
                } else {
                    Error::new(ErrorKind::Other, s)
                }
            }
        }
    }

    /// Maps a whole response (success statuses included: callers use this for responses whose
    /// status they did not expect).
    pub(crate) async fn from_response(resp: reqwest::Response) -> Self {
        let status = resp.status();
        let headers = resp.headers().clone();
        match resp.bytes().await {
            Ok(body) if !status.is_success() => Error::from_response_parts(status, &headers, &body),
            Ok(body) => {
                let mut e = Error::new(
                    ErrorKind::DataConversion,
                    format!("unexpected response status {status}"),
                );
                e.details = Some(Box::new(ResponseDetails {
                    status: Some(status),
                    body: Some(truncate_body(&body)),
                    request_id: header_str(&headers, "x-ms-request-id"),
                    ..Default::default()
                }));
                e
            }
            Err(e) => {
                let mut err = Error::from_response_parts(status, &headers, b"");
                err.source = Some(Box::new(e));
                err
            }
        }
    }

    /// Records the client request id this call used.
    pub(crate) fn set_client_request_id(&mut self, id: &str) {
        let d = self.details.get_or_insert_with(Default::default);
        if d.client_request_id.is_none() {
            d.client_request_id = Some(id.to_owned());
        }
    }
}

/// Prefix of `progenitor_client::Error::Custom` messages produced by our `pre` hook when it
/// refuses to send a credential; mapped back to [`ErrorKind::InsecureTransport`].
pub(crate) const INSECURE_PREFIX: &str = "insecure transport: ";
/// Prefix of hook messages for credential failures; mapped back to [`ErrorKind::Credential`].
pub(crate) const CREDENTIAL_PREFIX: &str = "credential error: ";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(d) = &self.details
            && let Some(id) = d.request_id.as_deref().or(d.tracking_id.as_deref())
        {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Error");
        s.field("kind", &self.kind).field("message", &self.message);
        if let Some(a) = &self.ambiguity {
            s.field("ambiguity", a);
        }
        if let Some(d) = &self.details {
            s.field("status", &d.status)
                .field("error_code", &d.error_code)
                .field("inner_error_code", &d.inner_error_code)
                .field("request_id", &d.request_id)
                .field("tracking_id", &d.tracking_id)
                .field("client_request_id", &d.client_request_id)
                .field("retry_after", &d.retry_after);
        }
        if let Some(src) = &self.source {
            s.field("source", src);
        }
        s.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::new(ErrorKind::DataConversion, "could not convert JSON").with_source(e)
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

const MAX_BODY: usize = 8 * 1024;

fn truncate_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() <= MAX_BODY {
        return text.into_owned();
    }
    let mut end = MAX_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Parses any of the known error body shapes of both services.
fn parse_error_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ResponseDetails {
    let mut d = ResponseDetails {
        request_id: header_str(headers, "x-ms-request-id"),
        retry_after: crate::retry::retry_after_from_headers(headers, std::time::SystemTime::now()),
        body: (!body.is_empty()).then(|| truncate_body(body)),
        ..Default::default()
    };
    let header_code =
        header_str(headers, "iothub-errorcode").or(header_str(headers, "x-ms-error-code"));
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(json) = &json {
        parse_json_error(json, &mut d);
    }
    if let Some(code) = header_code {
        d.error_code = Some(normalize_code(&code));
    }
    if d.service_message.is_none() {
        if let Some(Value::String(s)) = &json {
            d.service_message = Some(s.clone());
        } else if json.is_none() && !body.is_empty() {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            if !text.is_empty() && text.len() <= 512 {
                d.service_message = Some(text);
            }
        }
    }
    let _ = status;
    d
}

fn get_ci<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn value_code(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(normalize_code(s)),
        Value::Number(n) => Some(normalize_code(&n.to_string())),
        _ => None,
    }
}

fn parse_json_error(json: &Value, d: &mut ResponseDetails) {
    let Some(obj) = json.as_object() else {
        return;
    };
    // ADT shape: {"error": {"code", "message", "innererror": {"code", "innererror": …}}}
    if let Some(err) = obj.get("error").and_then(Value::as_object) {
        d.error_code = err.get("code").and_then(value_code);
        d.service_message = err
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut inner = err.get("innererror").and_then(Value::as_object);
        while let Some(i) = inner {
            if let Some(c) = i.get("code").and_then(value_code) {
                d.inner_error_code = Some(c);
            }
            inner = i.get("innererror").and_then(Value::as_object);
        }
        return;
    }
    // IoT Hub shapes.
    if let Some(code) = get_ci(obj, "ErrorCode").and_then(value_code) {
        d.error_code = Some(code);
    }
    if let Some(t) = get_ci(obj, "trackingId").and_then(Value::as_str) {
        d.tracking_id = Some(t.to_owned());
    }
    if let Some(msg) = get_ci(obj, "Message").and_then(Value::as_str) {
        let trimmed = msg.trim();
        if trimmed.starts_with('{') {
            if let Ok(inner) = serde_json::from_str::<Value>(trimmed) {
                // JSON inside the Message string: {"errorCode":404001,"trackingId":…,"message":…}
                parse_json_error(&inner, d);
                if d.service_message.is_none() {
                    d.service_message = Some(trimmed.to_owned());
                }
            } else {
                d.service_message = Some(trimmed.to_owned());
            }
        } else if let Some(rest) = trimmed.strip_prefix("ErrorCode:") {
            let (code, text) = rest.split_once(';').unwrap_or((rest, ""));
            if d.error_code.is_none() && !code.trim().is_empty() {
                d.error_code = Some(normalize_code(code.trim()));
            }
            d.service_message = Some(text.trim().to_owned());
        } else {
            d.service_message = Some(trimmed.to_owned());
        }
    }
    if let Some(em) = get_ci(obj, "ExceptionMessage").and_then(Value::as_str)
        && let Some(rest) = em.split("Tracking ID:").nth(1)
    {
        let id: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if !id.is_empty() && d.tracking_id.is_none() {
            d.tracking_id = Some(id);
        }
    }
}

/// Translates IoT Hub 6-digit numeric codes to their names; other codes pass through.
fn normalize_code(code: &str) -> String {
    let name = match code.trim() {
        "400001" => "InvalidProtocolVersion",
        "400003" => "InvalidOperation",
        "400004" => "ArgumentInvalid",
        "400005" => "ArgumentNull",
        "400006" => "IotHubFormatError",
        "400011" => "DeviceDefinedMultipleTimes",
        "400013" => "BulkRegistryOperationFailure",
        "400023" => "EtagDoesNotMatch",
        "401002" => "IotHubUnauthorizedAccess",
        "401003" => "IotHubUnauthorized",
        "403002" => "IotHubQuotaExceeded",
        "403003" => "JobQuotaExceeded",
        "403004" => "DeviceMaximumQueueDepthExceeded",
        "403010" => "OperationNotAvailableInCurrentTier",
        "404001" => "DeviceNotFound",
        "404002" => "JobNotFound",
        "404010" => "ModuleNotFound",
        "404103" => "DeviceNotOnline",
        "409001" => "DeviceAlreadyExists",
        "409104" => "JobAlreadyExists",
        "409301" => "ModuleAlreadyExistsOnDevice",
        "409401" => "ConfigurationAlreadyExists",
        "412001" => "PreconditionFailed",
        "412002" => "DeviceMessageLockLost",
        "413001" => "MessageTooLarge",
        "413002" => "TooManyDevices",
        "429001" => "ThrottlingException",
        "429002" => "ThrottleBacklogLimitExceeded",
        "429003" => "ThrottlingBacklogTimeout",
        "429004" => "ThrottlingMaxActiveJobCountExceeded",
        "429005" => "DeviceThrottlingLimitExceeded",
        "500001" => "ServerError",
        "503001" => "ServiceUnavailable",
        other => return other.to_owned(),
    };
    name.to_owned()
}

/// What a JSON value is, for "must be …, got …" messages of bad input.
#[cfg(any(feature = "iothub", feature = "typed"))]
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn iothub_message_prefix() {
        let body = br#"{"Message":"ErrorCode:PreconditionFailed;ETag mismatch for device ID 'd1'","ExceptionMessage":"Tracking ID:65ee3cd809ff4565b023205f3c766f52-TimeStamp:07/07/2021 20:47:33"}"#;
        let e =
            Error::from_response_parts(StatusCode::PRECONDITION_FAILED, &HeaderMap::new(), body);
        assert_eq!(e.error_code(), Some("PreconditionFailed"));
        assert_eq!(
            e.service_message(),
            Some("ETag mismatch for device ID 'd1'")
        );
        assert_eq!(e.tracking_id(), Some("65ee3cd809ff4565b023205f3c766f52"));
        assert!(e.is_precondition_failed());
    }

    #[test]
    fn iothub_json_inside_message() {
        let body = br#"{"Message":"{\"errorCode\":404001,\"trackingId\":\"abc123\",\"message\":\"Device not found\",\"timestampUtc\":\"2021-01-01T00:00:00Z\"}","ExceptionMessage":""}"#;
        let e = Error::from_response_parts(StatusCode::NOT_FOUND, &HeaderMap::new(), body);
        assert_eq!(e.error_code(), Some("DeviceNotFound"));
        assert_eq!(e.tracking_id(), Some("abc123"));
        assert_eq!(e.service_message(), Some("Device not found"));
        assert!(e.is_not_found());
    }

    #[test]
    fn header_code_wins() {
        let h = headers(&[
            ("iothub-errorcode", "IotHubQuotaExceeded"),
            ("x-ms-request-id", "r1"),
        ]);
        let e = Error::from_response_parts(StatusCode::FORBIDDEN, &h, b"{}");
        assert_eq!(e.error_code(), Some("IotHubQuotaExceeded"));
        assert_eq!(e.request_id(), Some("r1"));
    }

    #[test]
    fn adt_inner_error() {
        let body = br#"{"error":{"code":"ValidationFailed","message":"bad","innererror":{"code":"A","innererror":{"code":"B"}}}}"#;
        let e = Error::from_response_parts(StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert_eq!(e.error_code(), Some("ValidationFailed"));
        assert_eq!(e.inner_error_code(), Some("B"));
        assert_eq!(e.service_message(), Some("bad"));
    }

    #[test]
    fn adt_429_without_code_is_throttled_with_retry_after() {
        let h = headers(&[("retry-after", "7")]);
        let body =
            br#"{"error":{"statusCode":429,"message":"Maximum request rate limit reached."}}"#;
        let e = Error::from_response_parts(StatusCode::TOO_MANY_REQUESTS, &h, body);
        assert!(e.is_throttled());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(e.error_code(), None);
    }

    /// Every error response in the recorded real sessions maps to the status, the service
    /// error code the recording carries (header or body) and a request id when one was sent.
    #[test]
    fn recorded_error_responses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recordings");
        let mut seen = 0;
        let mut codes = Vec::new();
        for sub in std::fs::read_dir(&dir).unwrap() {
            let sub = sub.unwrap().path();
            if !sub.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&sub).unwrap() {
                let file = file.unwrap().path();
                let json: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
                let Some(entries) = json.get("Entries").and_then(Value::as_array) else {
                    continue;
                };
                for e in entries {
                    let status = e["StatusCode"].as_u64().unwrap_or(0) as u16;
                    if status < 400 {
                        continue;
                    }
                    let mut h = HeaderMap::new();
                    for (k, v) in e["ResponseHeaders"].as_object().unwrap() {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            Value::Array(a) => {
                                a.first().and_then(Value::as_str).unwrap_or("").to_owned()
                            }
                            _ => continue,
                        };
                        h.insert(
                            reqwest::header::HeaderName::from_bytes(
                                k.to_ascii_lowercase().as_bytes(),
                            )
                            .unwrap(),
                            HeaderValue::from_str(&v).unwrap(),
                        );
                    }
                    let body = match &e["ResponseBody"] {
                        Value::String(s) => s.clone().into_bytes(),
                        Value::Null => Vec::new(),
                        other => serde_json::to_vec(other).unwrap(),
                    };
                    let status = StatusCode::from_u16(status).unwrap();
                    let err = Error::from_response_parts(status, &h, &body);
                    assert_eq!(err.status(), Some(status));
                    let expected = h
                        .get("iothub-errorcode")
                        .or(h.get("x-ms-error-code"))
                        .map(|v| v.to_str().unwrap().to_owned())
                        .or_else(|| {
                            serde_json::from_slice::<Value>(&body)
                                .ok()
                                .and_then(|b| b["error"]["code"].as_str().map(str::to_owned))
                        });
                    assert_eq!(
                        err.error_code().map(str::to_owned),
                        expected,
                        "{}",
                        file.display()
                    );
                    if h.contains_key("x-ms-request-id") {
                        assert!(err.request_id().is_some());
                    }
                    if status == StatusCode::PRECONDITION_FAILED {
                        assert!(err.is_precondition_failed());
                    }
                    if status == StatusCode::NOT_FOUND {
                        assert!(err.is_not_found());
                    }
                    codes.push(err.error_code().unwrap_or("-").to_owned());
                    seen += 1;
                }
            }
        }
        // 2 IoT Hub 412s, ADT 404/412/400s (see tests/recordings/PROVENANCE.md).
        assert!(seen >= 8, "only {seen} error responses found");
        assert!(codes.iter().any(|c| c == "DigitalTwinNotFound"));
        assert!(codes.iter().filter(|c| *c == "PreconditionFailed").count() >= 4);
    }
}
