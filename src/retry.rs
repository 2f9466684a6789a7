//! Retries: [`RetryOptions`], the idempotency table, server retry hints, and the retry loop.
//!
//! # What is retried
//!
//! A response is retried when its status is 408, 429, 500, 502, 503 or 504 and the IoT Hub error
//! code (header `iothub-errorcode` / `x-ms-error-code`) is not one that will not clear by waiting
//! (`IotHubQuotaExceeded` 403002, `JobQuotaExceeded` 403003, `DeviceMaximumQueueDepthExceeded`
//! 403004, `OperationNotAvailableInCurrentTier` 403010). A transport failure is retried when it is
//! a connect error or timeout, or the connection dropped before a response arrived; TLS certificate
//! failures are not retried (they will not clear).
//!
//! # Which calls are retried
//!
//! Every call is retried after a connect error (the request never left the machine) and after
//! 429 (the service refused it unprocessed). After an answer that may hide a committed write (the
//! connection dropped after sending, a timeout, 500/502/503/504) a call is resent only when its
//! row of the resend table allows it (`Resend`, `resend_rule`; the rows are in
//! `iothub::idempotency` and `digitaltwins::idempotency`, each with its reason): reads always;
//! writes whose repeat changes nothing more (cancel, decommission, event route PUT); creates
//! (`If-None-Match: *`, a fixed id the service refuses to reuse); deletes; other writes only with
//! a concrete `If-Match` ETag (IoT Hub twin PATCH/PUT, ADT JSON Patch), since without one a
//! repeat moves the version and ETag twice and can overwrite a write made in between. Direct
//! methods, commands, telemetry, bulk registry POSTs and jobs without a fixed id are never resent
//! unless the caller opts in per call
//! ([`RequestOptions::retry_non_idempotent`](crate::RequestOptions::retry_non_idempotent)).
//!
//! The loop records, for writes, whether an answer was lost before the last attempt and whether
//! the last answer was itself lost; the error mapping turns such a write's failure into
//! [`ErrorKind::OutcomeUnknown`](crate::ErrorKind::OutcomeUnknown), and the facade operation
//! reads the resource back to prove the outcome where it can (`pipeline::outcome`).
//!
//! # How long to wait
//!
//! The server's hint wins: `retry-after-ms`, `x-ms-retry-after-ms` (milliseconds) or
//! `Retry-After` (seconds or an HTTP date). Otherwise exponential backoff:
//! `initial_delay * 2^n`, capped at `max_delay`, with ±`jitter` randomisation. The loop stops when
//! `max_retries` is reached or the next wait would end after `max_total_time` since the call
//! began; the caller then gets the last response as an error (with
//! [`Error::retry_after`](crate::Error::retry_after) set when the server sent a hint).
//! Waiting uses `tokio::time`, so tests can run it under a paused clock.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

/// Retry policy for one client or one call.
///
/// Defaults (the same as `azure_core`'s exponential policy): 8 retries, 200 ms initial delay
/// doubling up to 30 s per wait, 60 s total budget, ±20 % jitter.
///
/// ```
/// use azure_twins::RetryOptions;
/// use std::time::Duration;
/// let r = RetryOptions::default().max_retries(3).max_total_time(Duration::from_secs(10));
/// assert_ne!(r, RetryOptions::default());
/// assert_eq!(RetryOptions::none(), RetryOptions::default().max_retries(0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryOptions {
    max_retries: u32,
    initial_delay: Duration,
    max_delay: Duration,
    max_total_time: Duration,
    jitter: f64,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_retries: 8,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            max_total_time: Duration::from_secs(60),
            jitter: 0.2,
        }
    }
}

impl RetryOptions {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryOptions {
            max_retries: 0,
            ..RetryOptions::default()
        }
    }

    /// Maximum number of retries after the first attempt (0 disables retries).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// First backoff delay when the server gives no hint; doubles on each retry.
    pub fn initial_delay(mut self, d: Duration) -> Self {
        self.initial_delay = d;
        self
    }

    /// Upper bound for one computed backoff delay (server hints may exceed it, within the budget).
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Total time budget from the start of the call; no retry is started that would wait past it.
    pub fn max_total_time(mut self, d: Duration) -> Self {
        self.max_total_time = d;
        self
    }

    /// Relative jitter applied to computed delays, clamped to `0.0..=1.0` (0.2 = ±20 %).
    pub fn jitter(mut self, j: f64) -> Self {
        self.jitter = if j.is_finite() {
            j.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// The computed (no server hint) delay before retry number `retry` (0-based).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let base = self
            .initial_delay
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        if self.jitter == 0.0 || base.is_zero() {
            return base;
        }
        let factor = 1.0 + self.jitter * (rand::random::<f64>() * 2.0 - 1.0);
        base.mul_f64(factor).min(self.max_delay)
    }
}

/// Statuses worth retrying.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// IoT Hub error codes that waiting will not clear.
const NON_CLEARING_CODES: &[&str] = &[
    "IotHubQuotaExceeded",
    "403002",
    "JobQuotaExceeded",
    "403003",
    "DeviceMaximumQueueDepthExceeded",
    "403004",
    "OperationNotAvailableInCurrentTier",
    "403010",
];

/// True when the response may be retried by status and error code.
pub(crate) fn is_retryable_response(status: StatusCode, headers: &HeaderMap) -> bool {
    if !is_retryable_status(status) {
        return false;
    }
    for name in ["iothub-errorcode", "x-ms-error-code"] {
        if let Some(code) = headers.get(name).and_then(|v| v.to_str().ok())
            && NON_CLEARING_CODES.contains(&code.trim())
        {
            return false;
        }
    }
    true
}

/// How a transport error may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportRetry {
    /// Never left the machine (connect failure): safe for any call.
    NotSent,
    /// May have reached the server (timeout, dropped connection): idempotent calls only.
    MaybeSent,
    /// Will not clear (TLS certificate errors, bad requests).
    Never,
}

/// Classifies a transport error for retrying.
pub(crate) fn classify_transport_error(e: &reqwest::Error) -> TransportRetry {
    if e.is_builder() || is_tls_error(e) {
        return TransportRetry::Never;
    }
    if e.is_connect() {
        return TransportRetry::NotSent;
    }
    if e.is_timeout() || e.is_request() || e.is_body() {
        return TransportRetry::MaybeSent;
    }
    TransportRetry::Never
}

fn is_tls_error(e: &reqwest::Error) -> bool {
    fn check(e: &(dyn std::error::Error + 'static), depth: usize) -> bool {
        if depth > 16 {
            return false;
        }
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        // io::Error hides its payload from `source()` (it skips to the payload's source), so
        // look inside it explicitly; hyper nests io errors two deep around rustls errors.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && check(inner, depth + 1)
        {
            return true;
        }
        e.source().is_some_and(|s| check(s, depth + 1))
    }
    check(e, 0)
}

/// Reads the server's retry hint: `retry-after-ms`, `x-ms-retry-after-ms`, then `Retry-After`
/// (delta seconds, or an HTTP date relative to `now`).
pub(crate) fn retry_after_from_headers(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok())
            && let Ok(ms) = v.trim().parse::<f64>()
            && ms.is_finite()
            && ms >= 0.0
        {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// When a call may be sent again after an attempt that may have been applied (its answer was
/// lost: the connection dropped after sending, a timeout, a 500/502/503/504).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// A read: nothing changes on the service; resent freely, never ambiguous.
    Read,
    /// A write whose repeat leaves the service exactly as one application does (cancel, set
    /// content, decommission): resent freely.
    Harmless,
    /// A write resent only when it carries a concrete `If-Match` ETag: if the first attempt
    /// landed, the resend fails with 412 instead of applying twice. Without one (`*` or none) it
    /// is not resent: a repeat moves the version and ETag twice and may overwrite a write made
    /// in between.
    IfMatch,
    /// A create guarded by `If-None-Match: *`: resent; if the first attempt landed the resend
    /// fails with 412, and the facade compares the stored resource with what was sent. Without
    /// the header it is an upsert and follows [`Resend::IfMatch`].
    Create,
    /// A create whose id the service refuses to reuse (409 when it exists): resent, a 409 after
    /// a lost answer is resolved like [`Resend::Create`]. With an `If-Match` header it is an
    /// update and follows [`Resend::IfMatch`] (`*`: not resent).
    CreateWithId,
    /// A delete: resent; a 404 after a lost answer means deleted.
    Delete,
    /// Never resent after a possibly-applied attempt (only with the caller's opt-in): each
    /// application has its own effect (direct methods, commands, telemetry, bulk writes, jobs
    /// without a fixed id).
    Never,
}

/// One row of a service's resend table: an operation (progenitor's snake_case id), its rule and
/// why.
pub(crate) struct Entry {
    pub(crate) operation: &'static str,
    pub(crate) resend: Resend,
    #[allow(dead_code)]
    pub(crate) why: &'static str,
}

/// A service's resend table. Each service keeps its table beside its facade
/// (`iothub::idempotency`, `digitaltwins::idempotency`); [`resend_rule`] looks through the
/// tables of the enabled services. Operations not listed follow their method (see
/// [`resend_rule`]).
pub(crate) struct OperationTable {
    pub(crate) entries: &'static [Entry],
}

impl OperationTable {
    /// All operation ids named in the table (checked against the generated code in tests).
    #[cfg(test)]
    pub(crate) fn operation_ids(&self) -> impl Iterator<Item = &'static str> {
        self.entries.iter().map(|e| e.operation)
    }
}

/// The tables of the services compiled in.
const TABLES: &[&OperationTable] = &[
    #[cfg(feature = "iothub")]
    &crate::iothub::idempotency::TABLE,
    #[cfg(feature = "digitaltwins")]
    &crate::digitaltwins::idempotency::TABLE,
];

fn concrete_if_match(headers: &HeaderMap) -> bool {
    headers
        .get(reqwest::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().is_empty() && v.trim() != "*")
}

fn if_none_match_any(headers: &HeaderMap) -> bool {
    headers
        .get(reqwest::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "*")
}

/// The resend rule of a call: the table's entry, or by method for operations not listed
/// (GET/HEAD/OPTIONS read; DELETE delete; PUT/PATCH a create with `If-None-Match: *`, else
/// If-Match-guarded; POST never).
pub(crate) fn resend_rule(operation_id: &str, method: &Method, headers: &HeaderMap) -> Resend {
    let listed = TABLES
        .iter()
        .flat_map(|t| t.entries.iter())
        .find(|e| e.operation == operation_id)
        .map(|e| e.resend);
    let has_if_match = headers.contains_key(reqwest::header::IF_MATCH);
    match listed {
        Some(Resend::Create) if !if_none_match_any(headers) => Resend::IfMatch,
        Some(Resend::CreateWithId) if has_if_match => Resend::IfMatch,
        Some(r) => r,
        None => match *method {
            Method::GET | Method::HEAD | Method::OPTIONS => Resend::Read,
            Method::DELETE => Resend::Delete,
            Method::PUT | Method::PATCH if if_none_match_any(headers) => Resend::Create,
            Method::PUT | Method::PATCH => Resend::IfMatch,
            _ => Resend::Never,
        },
    }
}

/// Whether a call of rule `rule` may be resent after a possibly-applied attempt.
pub(crate) fn may_resend(rule: Resend, headers: &HeaderMap) -> bool {
    match rule {
        Resend::Read
        | Resend::Harmless
        | Resend::Delete
        | Resend::Create
        | Resend::CreateWithId => true,
        Resend::IfMatch => concrete_if_match(headers),
        Resend::Never => false,
    }
}

/// Decides whether a call may be retried without the caller's opt-in, from its progenitor
/// operation id (snake_case), method and request headers.
#[cfg(test)]
pub(crate) fn is_idempotent(operation_id: &str, method: &Method, headers: &HeaderMap) -> bool {
    may_resend(resend_rule(operation_id, method, headers), headers)
}

/// All operation ids named in the tables of the services compiled in (checked against the
/// generated code in tests).
#[cfg(all(test, feature = "iothub", feature = "digitaltwins"))]
pub(crate) fn table_operation_ids() -> impl Iterator<Item = &'static str> {
    TABLES.iter().flat_map(|t| t.operation_ids())
}

/// True when an answer may hide a committed write: a 5xx a gateway can send after the service
/// applied the request.
pub(crate) fn is_lost_answer_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// True for a refusal that says the request was not processed, retried for every call: 429.
pub(crate) fn is_refusal(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
}

/// IoT Hub error codes (header `iothub-errorcode`) that mean "slow down", whatever the status:
/// `ThrottlingException` 429001, `ThrottleBacklogLimitExceeded` 429002,
/// `ThrottlingBacklogTimeout` 429003, `DeviceThrottlingLimitExceeded` 429005.
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "429001",
    "ThrottleBacklogLimitExceeded",
    "429002",
    "ThrottlingBacklogTimeout",
    "429003",
    "DeviceThrottlingLimitExceeded",
    "429005",
];

/// 429 codes that are not about the request rate: `ThrottlingMaxActiveJobCountExceeded`
/// 429004 (too many jobs running at once; pacing requests slower does not end it).
const NOT_RATE_429_CODES: &[&str] = &["ThrottlingMaxActiveJobCountExceeded", "429004"];

fn error_code(headers: &HeaderMap) -> Option<&str> {
    ["iothub-errorcode", "x-ms-error-code"]
        .iter()
        .find_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// What one attempt's outcome tells a client-side rate limiter
/// ([`RateLimiter::record`](crate::limiter::RateLimiter::record)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// The service answered the request itself (2xx, or a 4xx about the request): not a sign
    /// of load.
    Answered,
    /// The service refused for load: a 429 (IoT Hub `ThrottlingException` 429001 and its
    /// kin, ADT's 429 with `Retry-After`), a response carrying an IoT Hub throttling code, or a
    /// 503 with a retry hint (the service says when it will take requests again). The hint, if
    /// any, pauses the class.
    Throttled(Option<Duration>),
    /// No usable answer without throttling meaning: a connect error, a dropped connection, a
    /// timeout, a 408 or a 5xx without a retry hint. The retry loop may retry it; the limiter
    /// does not slow down for it (a broken connection says nothing about the quota).
    Failed,
}

/// Classifies one attempt's outcome for the rate limiter (`now` resolves HTTP-date hints).
pub(crate) fn attempt_signal(
    result: &reqwest::Result<reqwest::Response>,
    now: SystemTime,
) -> Signal {
    let resp = match result {
        Ok(r) => r,
        Err(_) => return Signal::Failed,
    };
    let status = resp.status();
    let headers = resp.headers();
    let code = error_code(headers);
    if status == StatusCode::TOO_MANY_REQUESTS {
        if code.is_some_and(|c| NOT_RATE_429_CODES.contains(&c)) {
            return Signal::Failed;
        }
        return Signal::Throttled(retry_after_from_headers(headers, now));
    }
    if code.is_some_and(|c| THROTTLING_CODES.contains(&c)) {
        return Signal::Throttled(retry_after_from_headers(headers, now));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE
        && let Some(hint) = retry_after_from_headers(headers, now)
    {
        return Signal::Throttled(Some(hint));
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return Signal::Failed;
    }
    Signal::Answered
}

/// Outcome of one run of the retry loop, for tracing and errors.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LoopStats {
    /// Attempts made (1 = no retry).
    pub attempts: u32,
    /// An attempt before the last one may have been applied (its answer was lost), so the last
    /// answer may be about this call's own earlier attempt.
    pub lost_before_last: bool,
    /// The last attempt's answer was lost (maybe-sent transport error or 500/502/503/504).
    pub final_lost: bool,
}

/// Sends `request` with retries. `prepare` runs before each attempt on that attempt's copy of
/// the request (to refresh the auth header and the attempt number); `observe` sees each
/// attempt's outcome (its response with the body read, or its transport error) as soon as it
/// is known, before the loop decides whether to retry (the rate limiter is fed there).
///
/// `retry_allowed`: whether responses and maybe-sent transport errors may be retried (the
/// idempotency decision, or the caller's opt-in).
pub(crate) async fn send_with_retry<F, Fut, O>(
    client: &reqwest::Client,
    request: reqwest::Request,
    options: &RetryOptions,
    retry_allowed: bool,
    mut prepare: F,
    mut observe: O,
) -> (reqwest::Result<reqwest::Response>, LoopStats)
where
    F: FnMut(reqwest::Request, u32) -> Fut,
    Fut: std::future::Future<Output = reqwest::Request>,
    O: FnMut(&reqwest::Result<reqwest::Response>),
{
    let start = tokio::time::Instant::now();
    let mut stats = LoopStats::default();
    // A body that cannot be cloned (a stream) allows exactly one attempt.
    let mut template = Some(request);
    loop {
        let attempt = stats.attempts;
        let (this, keep) = match template.take() {
            Some(t) => match t.try_clone() {
                Some(c) => (c, Some(t)),
                None => (t, None),
            },
            None => unreachable!("loop exits when no template is left"),
        };
        template = keep;
        let this = prepare(this, attempt).await;
        stats.attempts += 1;
        // The body is read inside the loop: a timeout or a dropped connection while it
        // arrives is a lost answer like any other (retried, or marked for writes), not an
        // error the generated code meets after the loop has returned.
        let result = match client.execute(this).await {
            Ok(resp) => buffered(resp).await,
            Err(e) => Err(e),
        };
        observe(&result);
        let retries_left = attempt < options.max_retries && template.is_some();
        let lost = match &result {
            Ok(resp) => is_lost_answer_status(resp.status()),
            Err(e) => classify_transport_error(e) == TransportRetry::MaybeSent,
        };
        stats.final_lost = lost;
        let hint = match &result {
            Ok(resp) => {
                if !(retries_left
                    && (retry_allowed || is_refusal(resp.status()))
                    && is_retryable_response(resp.status(), resp.headers()))
                {
                    return (result, stats);
                }
                tracing::debug!(
                    attempt = stats.attempts,
                    status = resp.status().as_u16(),
                    "retryable response"
                );
                retry_after_from_headers(resp.headers(), SystemTime::now())
            }
            Err(e) => {
                let ok = match classify_transport_error(e) {
                    TransportRetry::NotSent => true,
                    TransportRetry::MaybeSent => retry_allowed,
                    TransportRetry::Never => false,
                };
                if !(retries_left && ok) {
                    return (result, stats);
                }
                tracing::debug!(attempt = stats.attempts, error = %e, "retryable transport error");
                None
            }
        };
        let delay = hint.unwrap_or_else(|| options.backoff(attempt));
        if start.elapsed().saturating_add(delay) > options.max_total_time {
            tracing::debug!(?delay, "retry budget exhausted");
            return (result, stats);
        }
        stats.lost_before_last |= lost;
        // Free the connection before sleeping.
        drop(result);
        tokio::time::sleep(delay).await;
    }
}

/// The response with its whole body read, rebuilt so the generated code can decode it.
async fn buffered(mut resp: reqwest::Response) -> reqwest::Result<reqwest::Response> {
    let status = resp.status();
    let version = resp.version();
    // Moved, not cloned: the body does not need them.
    let headers = std::mem::take(resp.headers_mut());
    let body = resp.bytes().await?;
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    Ok(reqwest::Response::from(rebuilt))
}

/// The loopback test server shared with the integration tests (for the limiter-feeding tests).
/// (`pipeline` loads the same file as its private `test_support`.)
#[cfg(test)]
#[allow(
    clippy::duplicate_mod,
    reason = "pipeline's copy is private to it; a second copy keeps pipeline untouched"
)]
#[path = "../tests/pipeline_support/mod.rs"]
mod loopback;

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_grows_and_caps() {
        let r = RetryOptions::default().jitter(0.0);
        assert_eq!(r.backoff(0), Duration::from_millis(200));
        assert_eq!(r.backoff(1), Duration::from_millis(400));
        assert_eq!(r.backoff(3), Duration::from_millis(1600));
        assert_eq!(r.backoff(20), Duration::from_secs(30));
        assert_eq!(r.backoff(u32::MAX), Duration::from_secs(30));
        let j = RetryOptions::default().jitter(0.5);
        for _ in 0..100 {
            let d = j.backoff(2);
            assert!(
                d >= Duration::from_millis(400) && d <= Duration::from_millis(1200),
                "{d:?}"
            );
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(
            retry_after_from_headers(&h, now),
            Some(Duration::from_secs(3))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(5));
        h.insert("retry-after", HeaderValue::from_str(&date).unwrap());
        assert_eq!(
            retry_after_from_headers(&h, now),
            Some(Duration::from_secs(5))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(5));
        h.insert("retry-after", HeaderValue::from_str(&past).unwrap());
        assert_eq!(retry_after_from_headers(&h, now), Some(Duration::ZERO));
        h.insert("x-ms-retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(
            retry_after_from_headers(&h, now),
            Some(Duration::from_millis(250))
        );
        h.insert("retry-after-ms", HeaderValue::from_static("100"));
        assert_eq!(
            retry_after_from_headers(&h, now),
            Some(Duration::from_millis(100))
        );
        let mut bad = HeaderMap::new();
        bad.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after_from_headers(&bad, now), None);
    }

    #[test]
    fn idempotency_table() {
        let none = HeaderMap::new();
        let mut etag = HeaderMap::new();
        etag.insert("if-match", HeaderValue::from_static("W/\"x\""));
        let mut star = HeaderMap::new();
        star.insert("if-match", HeaderValue::from_static("*"));
        assert!(is_idempotent("devices_get_twin", &Method::GET, &none));
        // From the service tables (`iothub::idempotency`, `digitaltwins::idempotency`).
        #[cfg(feature = "iothub")]
        {
            // A merge PATCH moves $version twice when repeated: only with a concrete If-Match.
            assert!(!is_idempotent("modules_update_twin", &Method::PATCH, &none));
            assert!(!is_idempotent("devices_update_twin", &Method::PATCH, &star));
            assert!(is_idempotent("devices_update_twin", &Method::PATCH, &etag));
            assert!(!is_idempotent("devices_replace_twin", &Method::PUT, &star));
            assert!(is_idempotent("query_get_twins", &Method::POST, &none));
            // Identity PUT: a create without If-Match (409 on repeat), an update with one.
            assert!(is_idempotent(
                "devices_create_or_update_identity",
                &Method::PUT,
                &none
            ));
            assert!(!is_idempotent(
                "devices_create_or_update_identity",
                &Method::PUT,
                &star
            ));
            assert_eq!(
                resend_rule("devices_update_twin", &Method::PATCH, &none),
                Resend::IfMatch
            );
            assert_eq!(
                resend_rule("devices_get_twin", &Method::GET, &none),
                Resend::Read
            );
        }
        #[cfg(feature = "digitaltwins")]
        {
            let mut create = HeaderMap::new();
            create.insert("if-none-match", HeaderValue::from_static("*"));
            assert!(is_idempotent("digital_twins_add", &Method::PUT, &create));
            assert!(!is_idempotent("digital_twins_add", &Method::PUT, &none));
            assert_eq!(
                resend_rule("digital_twins_add", &Method::PUT, &create),
                Resend::Create
            );
            assert_eq!(
                resend_rule("digital_twins_delete", &Method::DELETE, &none),
                Resend::Delete
            );
            assert!(is_idempotent("query_query_twins", &Method::POST, &none));
            assert!(is_idempotent(
                "digital_twin_models_update",
                &Method::PATCH,
                &none
            ));
            assert!(!is_idempotent(
                "digital_twin_models_add",
                &Method::POST,
                &none
            ));
        }
        assert!(is_idempotent(
            "jobs_create_scheduled_job",
            &Method::PUT,
            &none
        ));
        assert!(!is_idempotent(
            "devices_invoke_method",
            &Method::POST,
            &none
        ));
        assert!(!is_idempotent(
            "digital_twins_send_telemetry",
            &Method::POST,
            &none
        ));
        assert!(!is_idempotent(
            "digital_twins_update",
            &Method::PATCH,
            &none
        ));
        assert!(!is_idempotent(
            "digital_twins_update",
            &Method::PATCH,
            &star
        ));
        assert!(is_idempotent("digital_twins_update", &Method::PATCH, &etag));
        assert!(!is_idempotent("unknown_post", &Method::POST, &none));
    }

    #[test]
    fn non_clearing_codes_are_not_retried() {
        let mut h = HeaderMap::new();
        assert!(is_retryable_response(StatusCode::TOO_MANY_REQUESTS, &h));
        assert!(is_retryable_response(StatusCode::INTERNAL_SERVER_ERROR, &h));
        assert!(!is_retryable_response(StatusCode::NOT_IMPLEMENTED, &h));
        h.insert(
            "iothub-errorcode",
            HeaderValue::from_static("IotHubQuotaExceeded"),
        );
        assert!(!is_retryable_response(StatusCode::TOO_MANY_REQUESTS, &h));
        h.insert("iothub-errorcode", HeaderValue::from_static("403004"));
        assert!(!is_retryable_response(StatusCode::SERVICE_UNAVAILABLE, &h));
    }

    fn answer(status: u16, headers: &[(&str, &str)]) -> reqwest::Result<reqwest::Response> {
        let mut r = http::Response::new(bytes::Bytes::new());
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        for (k, v) in headers {
            r.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Ok(reqwest::Response::from(r))
    }

    #[tokio::test]
    async fn attempt_signals_for_the_limiter() {
        let now = SystemTime::now();
        let s = |status, h: &[(&str, &str)]| attempt_signal(&answer(status, h), now);
        assert_eq!(s(200, &[]), Signal::Answered);
        assert_eq!(
            s(404, &[("iothub-errorcode", "DeviceNotFound")]),
            Signal::Answered
        );
        assert_eq!(s(412, &[]), Signal::Answered);
        // IoT Hub 429 (no hint) and ADT 429 with Retry-After.
        assert_eq!(
            s(429, &[("iothub-errorcode", "ThrottlingException")]),
            Signal::Throttled(None)
        );
        assert_eq!(
            s(429, &[("retry-after", "7")]),
            Signal::Throttled(Some(Duration::from_secs(7)))
        );
        assert_eq!(
            s(429, &[("x-ms-retry-after-ms", "250")]),
            Signal::Throttled(Some(Duration::from_millis(250)))
        );
        // A throttling code is throttling whatever the status; 429004 is not about the rate.
        assert_eq!(
            s(503, &[("iothub-errorcode", "429001")]),
            Signal::Throttled(None)
        );
        assert_eq!(
            s(
                429,
                &[("iothub-errorcode", "ThrottlingMaxActiveJobCountExceeded")]
            ),
            Signal::Failed
        );
        // 503 with a hint: the service says when; without one it is a failure like a 500.
        assert_eq!(
            s(503, &[("retry-after", "3")]),
            Signal::Throttled(Some(Duration::from_secs(3)))
        );
        assert_eq!(
            s(503, &[("iothub-errorcode", "ServiceUnavailable")]),
            Signal::Failed
        );
        assert_eq!(s(500, &[]), Signal::Failed);
        assert_eq!(s(504, &[]), Signal::Failed);
        assert_eq!(s(408, &[]), Signal::Failed);
        // A transport error (nothing listens on the port): failed, never throttled.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = crate::raw::http_client(&crate::ClientOptions::default())
            .unwrap()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await;
        assert!(err.is_err());
        assert_eq!(attempt_signal(&err, now), Signal::Failed);
    }

    /// The retry loop reports every attempt as it happens, before it sleeps: a dropped
    /// connection and a hint-less 503 are counted as failures (rate untouched), the 429 halves
    /// the rate and its Retry-After pauses the class (virtual time).
    #[tokio::test(start_paused = true)]
    async fn retry_loop_feeds_each_attempt_to_the_limiter() {
        use super::loopback::{Reply, Server};
        use crate::limiter::{OpClass, RateLimit, RateLimiter, Tier};
        let server = Server::scripted(
            vec![
                Reply::Drop,
                Reply::json(503, "{}"),
                Reply::json(429, "{}").with_header("retry-after", "2"),
            ],
            Reply::json(200, "{}"),
        )
        .await;
        let limiter = RateLimiter::new(RateLimit::iothub(Tier::S1, 1));
        let class = OpClass::TwinRead;
        let client = crate::raw::http_client(
            &crate::ClientOptions::default().connect_timeout(Duration::from_secs(3600)),
        )
        .unwrap();
        let request = client.get(server.url()).build().unwrap();
        let mut seen = Vec::new();
        let mut rates = Vec::new();
        let t0 = tokio::time::Instant::now();
        let (result, stats) = send_with_retry(
            &client,
            request,
            &RetryOptions::default().jitter(0.0),
            true,
            |req, _| {
                let l = limiter.clone();
                async move {
                    l.acquire(class).await;
                    req
                }
            },
            |outcome| {
                let s = attempt_signal(outcome, SystemTime::now());
                seen.push(s);
                limiter.record(class, s);
                rates.push(limiter.stats(class).rate.unwrap());
            },
        )
        .await;
        assert_eq!(result.unwrap().status(), StatusCode::OK);
        assert_eq!(stats.attempts, 4);
        assert_eq!(
            seen,
            [
                Signal::Failed,
                Signal::Failed,
                Signal::Throttled(Some(Duration::from_secs(2))),
                Signal::Answered
            ]
        );
        // The drop and the 503 left the documented 100/s alone; the 429 halved it.
        assert_eq!(rates[0], 100.0);
        assert_eq!(rates[1], 100.0);
        assert!(rates[2] < 50.0, "{rates:?}");
        let st = limiter.stats(class);
        assert_eq!((st.requests, st.throttled, st.failed), (4, 1, 2));
        // 200 ms + 400 ms of backoff, then the 2 s hint.
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(2600), "{took:?}");
    }

    /// Through the pipeline of a raw client with a limiter in its options: dropped connections
    /// do not slow the class, a 429 does, and the limiter sees every attempt (not only the
    /// call's final outcome).
    #[cfg(feature = "iothub")]
    #[tokio::test(start_paused = true)]
    async fn pipeline_reports_each_attempt_to_the_clients_limiter() {
        use super::loopback::{Reply, Server};
        use crate::limiter::{OpClass, RateLimit, RateLimiter, Tier};
        let twin = Reply::json(
            200,
            r#"{"deviceId":"d1","etag":"AAAAAAAAAAE=","version":2}"#,
        );
        let limiter = RateLimiter::new(RateLimit::iothub(Tier::S1, 1));
        let client = |server: &Server| {
            let opts = crate::ClientOptions::default()
                .retry(RetryOptions::default().jitter(0.0))
                .connect_timeout(Duration::from_secs(3600))
                .rate_limiter(limiter.clone());
            let http = crate::raw::http_client(&opts).unwrap();
            let pipeline =
                crate::raw::Pipeline::new(crate::auth::Service::IotHub, &server.url(), None, opts)
                    .unwrap();
            crate::raw::iothub::Client::new_with_client(&server.url(), http, pipeline)
        };
        let server = Server::scripted(vec![Reply::Drop, Reply::Drop], twin.clone()).await;
        client(&server)
            .devices_get_twin("d1", "2021-04-12")
            .await
            .unwrap();
        let st = limiter.stats(OpClass::TwinRead);
        assert_eq!((st.requests, st.throttled, st.failed), (3, 0, 2));
        assert_eq!(st.rate, Some(100.0));
        // A 429 on one attempt of a call that then succeeds still slows the class.
        let server = Server::scripted(
            vec![Reply::json(429, "{}").with_header("iothub-errorcode", "ThrottlingException")],
            twin,
        )
        .await;
        client(&server)
            .devices_get_twin("d1", "2021-04-12")
            .await
            .unwrap();
        let st = limiter.stats(OpClass::TwinRead);
        assert_eq!((st.requests, st.throttled, st.failed), (5, 1, 2));
        assert!(st.rate.unwrap() < 50.0, "{st:?}");
    }
}
