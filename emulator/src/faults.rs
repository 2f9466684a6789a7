//! Fault injection for both listeners: the next N matching requests (or a seeded random share of
//! all requests) get a 429 with `Retry-After` / `x-ms-retry-after-ms`, a 503, or a connection
//! dropped without any response (pre-commit: the request never reaches its handler), or are
//! applied and then lose their answer (post-commit: the handler runs and commits, then the
//! connection is dropped, the answer delayed, or replaced by a 5xx). Controlled in-process
//! through [`Faults`] or over HTTP at `/_emulator/faults` on either listener.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Which emulated service a request went to; rules can be limited to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Service {
    /// The IoT Hub listener.
    IotHub,
    /// The Azure Digital Twins listener.
    DigitalTwins,
}

/// How a throttling response tells the client when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `x-ms-retry-after-ms: <millis>`.
    Millis(u64),
    /// No retry hint (IoT Hub does not document one).
    #[default]
    None,
}

/// What happens to a request hit by a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Fault {
    /// 429 with the service's throttling error body.
    Throttle {
        /// Retry hint header.
        #[serde(default, rename = "retryAfter")]
        retry_after: RetryAfter,
    },
    /// 503 with the service's unavailable error body.
    ServiceUnavailable,
    /// The connection is closed without writing a response.
    DropConnection,
    /// Post-commit: the request is applied (its handler runs to the end, state changes), then
    /// the connection is closed without writing any response bytes.
    ApplyThenDrop,
    /// Post-commit: the request is applied, then its answer is sent after `delay_ms`.
    ApplyThenDelay {
        /// Milliseconds between the commit and the answer (at most 600,000: 10 minutes).
        #[serde(rename = "delayMs")]
        delay_ms: u64,
    },
    /// Post-commit: the request is applied, then its answer is replaced by `status` (500, 503
    /// or 504) in the service's error shape.
    ApplyThenError {
        /// HTTP status of the replacement answer (500 IoT Hub `ServerError` / ADT
        /// `InternalServerError`, 503 `ServiceUnavailable` or 504 `GatewayTimeout`).
        status: u16,
    },
}

/// Statuses an [`Fault::ApplyThenError`] may answer: 500 (IoT Hub `ServerError`, ADT
/// `InternalServerError`), 503 (`ServiceUnavailable`), 504 (`GatewayTimeout`).
pub const POST_COMMIT_STATUSES: &[u16] = &[500, 503, 504];

/// Longest [`Fault::ApplyThenDelay`] the admin route accepts (10 minutes).
pub const MAX_DELAY_MS: u64 = 600_000;

impl Fault {
    /// Whether the fault lets the request be applied first (the `applyThen…` kinds).
    pub fn is_post_commit(&self) -> bool {
        matches!(
            self,
            Fault::ApplyThenDrop | Fault::ApplyThenDelay { .. } | Fault::ApplyThenError { .. }
        )
    }

    /// Checks the fault's parameters: an `applyThenError` status of 500, 503 or 504
    /// and an `applyThenDelay` of at most 600,000 ms. The admin routes refuse a fault
    /// that fails this with 400; in-process, an unknown status is answered as 500.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Fault::ApplyThenError { status } if !POST_COMMIT_STATUSES.contains(&status) => {
                Err(format!(
                    "applyThenError status must be one of {POST_COMMIT_STATUSES:?}, got {status}"
                ))
            }
            Fault::ApplyThenDelay { delay_ms } if delay_ms > MAX_DELAY_MS => Err(format!(
                "applyThenDelay delayMs must be at most {MAX_DELAY_MS}, got {delay_ms}"
            )),
            _ => Ok(()),
        }
    }
}

/// Ready-made fault sets for [`Faults::random_mix`] (and `"mix"` on `/_emulator/faults/random`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum FaultMix {
    /// Faults that stop the request before its handler: 429 (no retry hint), 503, dropped connection.
    PreCommit,
    /// Faults after the handler committed: dropped answer, answer delayed 200 ms, 500/503/504.
    PostCommit,
    /// Both sets.
    All,
}

impl FaultMix {
    /// The faults of the set.
    pub fn faults(self) -> Vec<Fault> {
        let pre = [
            Fault::Throttle {
                retry_after: RetryAfter::None,
            },
            Fault::ServiceUnavailable,
            Fault::DropConnection,
        ];
        let post = [
            Fault::ApplyThenDrop,
            Fault::ApplyThenDelay { delay_ms: 200 },
            Fault::ApplyThenError { status: 500 },
            Fault::ApplyThenError { status: 503 },
            Fault::ApplyThenError { status: 504 },
        ];
        match self {
            FaultMix::PreCommit => pre.to_vec(),
            FaultMix::PostCommit => post.to_vec(),
            FaultMix::All => pre.into_iter().chain(post).collect(),
        }
    }
}

/// Inject `fault` into the next `count` requests matching the optional filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// The fault.
    pub fault: Fault,
    /// How many matching requests it hits.
    pub count: usize,
    /// Only requests to this service.
    #[serde(default)]
    pub service: Option<Service>,
    /// Only requests with this HTTP method (case-insensitive).
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests whose path starts with this.
    #[serde(default)]
    pub path_prefix: Option<String>,
}

impl FaultRule {
    /// A rule hitting the next `count` requests of any service, method and path.
    pub fn new(fault: Fault, count: usize) -> Self {
        Self {
            fault,
            count,
            service: None,
            method: None,
            path_prefix: None,
        }
    }

    fn matches(&self, service: Service, method: &Method, path: &str) -> bool {
        self.count > 0
            && self.service.is_none_or(|s| s == service)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
    }
}

#[derive(Debug, Default)]
struct State_ {
    rules: Vec<FaultRule>,
    random: Option<(f64, StdRng, Vec<Fault>)>,
    by_kind: Vec<(Fault, usize)>,
}

/// Fault-injection controls shared by both listeners ([`Emulator::faults`](crate::Emulator::faults)).
///
/// The next N matching requests ([`Faults::inject`] a [`FaultRule`]), or a seeded random share
/// of all requests ([`Faults::random`], [`Faults::random_mix`]), get a 429 with `Retry-After` /
/// `x-ms-retry-after-ms`, a 503, or a connection dropped without any response (pre-commit: the
/// request never reaches its handler), or are applied and then lose their answer (post-commit:
/// the handler runs and commits, then the connection is dropped, the answer delayed, or
/// replaced by a 5xx).
///
/// The same controls are served over HTTP on either listener: `POST /_emulator/faults` (a
/// [`FaultRule`] as JSON), `POST /_emulator/faults/random`, `DELETE /_emulator/faults` (clear),
/// `GET /_emulator/faults` (`{"injected":n,"pending":m}`).
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State_>,
    injected: AtomicUsize,
}

impl Faults {
    /// Adds a rule; rules are consumed in the order they were added.
    pub fn inject(&self, rule: FaultRule) {
        self.lock().rules.push(rule);
    }

    /// Hits each request with probability `rate` (0..=1), choosing uniformly among `faults`,
    /// from a generator seeded with `seed` (the same request sequence gets the same faults).
    pub fn random(&self, rate: f64, seed: u64, faults: Vec<Fault>) {
        let rate = if rate.is_finite() {
            rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.lock().random =
            (!faults.is_empty() && rate > 0.0).then(|| (rate, StdRng::seed_from_u64(seed), faults));
    }

    /// [`Faults::random`] choosing among `mix`'s faults (pre-commit, post-commit or both).
    pub fn random_mix(&self, rate: f64, seed: u64, mix: FaultMix) {
        self.random(rate, seed, mix.faults());
    }

    /// Removes all rules and the random rate.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.rules.clear();
        s.random = None;
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::Relaxed)
    }

    /// How many faults were injected so far, per fault (in the order first injected).
    pub fn injected_by_kind(&self) -> Vec<(Fault, usize)> {
        self.lock().by_kind.clone()
    }

    /// How many requests the remaining rules will still hit.
    pub fn pending(&self) -> usize {
        self.lock().rules.iter().map(|r| r.count).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State_> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fault for this request, if any (admin routes are never hit).
    pub(crate) fn pick(&self, service: Service, method: &Method, path: &str) -> Option<Fault> {
        if path.starts_with(ADMIN_PREFIX) {
            return None;
        }
        let mut s = self.lock();
        let fault = if let Some(i) = s
            .rules
            .iter()
            .position(|r| r.matches(service, method, path))
        {
            let rule = &mut s.rules[i];
            rule.count -= 1;
            let f = rule.fault;
            if rule.count == 0 {
                s.rules.remove(i);
            }
            Some(f)
        } else if let Some((rate, rng, faults)) = s.random.as_mut() {
            if rng.random::<f64>() < *rate {
                let i = rng.random_range(0..faults.len());
                Some(faults[i])
            } else {
                None
            }
        } else {
            None
        };
        if let Some(f) = fault {
            self.injected.fetch_add(1, Ordering::Relaxed);
            match s.by_kind.iter_mut().find(|(k, _)| *k == f) {
                Some((_, n)) => *n += 1,
                None => s.by_kind.push((f, 1)),
            }
        }
        fault
    }
}

/// Path prefix of the emulator's own admin routes.
pub const ADMIN_PREFIX: &str = "/_emulator/";

/// The response of a throttle/unavailable/applyThenError fault, in the service's error shape.
pub(crate) fn fault_response(service: Service, fault: Fault) -> Response {
    let unavailable = (
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "ServiceUnavailable",
        "The service is temporarily unavailable (injected fault)",
    );
    let (status, hub_code, adt_code, text) = match fault {
        Fault::Throttle { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "TooManyRequests",
            "Request was throttled (injected fault)",
        ),
        Fault::ApplyThenError { status: 503 } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "ServiceUnavailable",
            "The service is temporarily unavailable (injected fault after the request was applied)",
        ),
        Fault::ApplyThenError { status: 504 } => (
            StatusCode::GATEWAY_TIMEOUT,
            "GatewayTimeout",
            "GatewayTimeout",
            "The gateway timed out (injected fault after the request was applied)",
        ),
        Fault::ApplyThenError { .. } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServerError",
            "InternalServerError",
            "An internal server error occurred (injected fault after the request was applied)",
        ),
        _ => unavailable,
    };
    let mut resp = match service {
        Service::IotHub => {
            let mut r = (status, crate::iothub::error::error_body(hub_code, text)).into_response();
            r.headers_mut()
                .insert("iothub-errorcode", HeaderValue::from_static(hub_code));
            r
        }
        Service::DigitalTwins => {
            let mut r = (
                status,
                serde_json::to_vec(
                    &serde_json::json!({"error": {"code": adt_code, "message": text}}),
                )
                .unwrap_or_default(),
            )
                .into_response();
            // The 429 shape of the service carries no code; the others carry x-ms-error-code.
            if !matches!(fault, Fault::Throttle { .. }) {
                r.headers_mut()
                    .insert("x-ms-error-code", HeaderValue::from_static(adt_code));
            }
            r
        }
    };
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-ms-request-id", v);
    }
    if let Fault::Throttle { retry_after } = fault {
        match retry_after {
            RetryAfter::Seconds(s) => {
                h.insert("retry-after", HeaderValue::from(s));
            }
            RetryAfter::Millis(ms) => {
                h.insert("x-ms-retry-after-ms", HeaderValue::from(ms));
            }
            RetryAfter::None => {}
        }
    }
    resp
}

/// Body of `POST /_emulator/faults/random`: `faults` and/or a ready-made `mix`.
#[derive(Debug, Deserialize)]
struct RandomBody {
    rate: f64,
    seed: u64,
    #[serde(default)]
    faults: Vec<Fault>,
    #[serde(default)]
    mix: Option<FaultMix>,
}

fn admin_error(msg: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({"error": msg})),
    )
        .into_response()
}

async fn admin_inject(State(f): State<Arc<Faults>>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultRule>(&body) {
        Ok(rule) => match rule.fault.validate() {
            Ok(()) => {
                f.inject(rule);
                StatusCode::NO_CONTENT.into_response()
            }
            Err(e) => admin_error(e),
        },
        Err(e) => admin_error(format!(
            "body must be a fault rule like {{\"fault\":{{\"kind\":\"throttle\",\"retryAfter\":{{\"seconds\":1}}}},\"count\":1,\"service\":\"iotHub\",\"method\":\"GET\",\"pathPrefix\":\"/twins\"}}: {e}"
        )),
    }
}

async fn admin_random(State(f): State<Arc<Faults>>, body: Bytes) -> Response {
    match serde_json::from_slice::<RandomBody>(&body) {
        Ok(r) if (0.0..=1.0).contains(&r.rate) => {
            let mut faults = r.faults;
            faults.extend(r.mix.map(FaultMix::faults).unwrap_or_default());
            if let Some(e) = faults.iter().find_map(|x| x.validate().err()) {
                return admin_error(e);
            }
            f.random(r.rate, r.seed, faults);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(r) => admin_error(format!("rate must be between 0 and 1, got {}", r.rate)),
        Err(e) => admin_error(format!(
            "body must be {{\"rate\":0.1,\"seed\":42,\"faults\":[{{\"kind\":\"serviceUnavailable\"}}]}} and/or \"mix\":\"preCommit\"|\"postCommit\"|\"all\": {e}"
        )),
    }
}

async fn admin_clear(State(f): State<Arc<Faults>>) -> StatusCode {
    f.clear();
    StatusCode::NO_CONTENT
}

async fn admin_status(State(f): State<Arc<Faults>>) -> Response {
    axum::Json(serde_json::json!({"injected": f.injected(), "pending": f.pending()}))
        .into_response()
}

/// The admin routes: `POST /_emulator/faults` (a [`FaultRule`] as JSON), `POST /_emulator/faults/random`,
/// `DELETE /_emulator/faults` (clear), `GET /_emulator/faults` (`{"injected":n,"pending":m}`).
pub(crate) fn admin_router(faults: Arc<Faults>) -> Router {
    Router::new()
        .route(
            "/_emulator/faults",
            get(admin_status).post(admin_inject).delete(admin_clear),
        )
        .route("/_emulator/faults/random", post(admin_random))
        .with_state(faults)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_consumed_and_filtered() {
        let f = Faults::default();
        f.inject(FaultRule {
            fault: Fault::ServiceUnavailable,
            count: 2,
            service: Some(Service::IotHub),
            method: Some("get".into()),
            path_prefix: Some("/twins".into()),
        });
        assert_eq!(
            f.pick(Service::DigitalTwins, &Method::GET, "/twins/a"),
            None
        );
        assert_eq!(f.pick(Service::IotHub, &Method::PUT, "/twins/a"), None);
        assert_eq!(f.pick(Service::IotHub, &Method::GET, "/devices/a"), None);
        assert_eq!(
            f.pick(Service::IotHub, &Method::GET, "/twins/a"),
            Some(Fault::ServiceUnavailable)
        );
        assert_eq!(
            f.pick(Service::IotHub, &Method::GET, "/twins/b"),
            Some(Fault::ServiceUnavailable)
        );
        assert_eq!(f.pick(Service::IotHub, &Method::GET, "/twins/c"), None);
        assert_eq!(f.injected(), 2);
    }

    #[test]
    fn random_is_reproducible() {
        let run = |seed| {
            let f = Faults::default();
            f.random(
                0.5,
                seed,
                vec![Fault::ServiceUnavailable, Fault::DropConnection],
            );
            (0..64)
                .map(|_| f.pick(Service::IotHub, &Method::GET, "/x"))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let hits = run(7).iter().filter(|x| x.is_some()).count();
        assert!(hits > 10 && hits < 54, "{hits}");
    }

    #[test]
    fn serde_shape() {
        let r: FaultRule = serde_json::from_str(
            r#"{"fault":{"kind":"throttle","retryAfter":{"millis":250}},"count":3,"pathPrefix":"/devices"}"#,
        )
        .unwrap();
        assert_eq!(
            r.fault,
            Fault::Throttle {
                retry_after: RetryAfter::Millis(250)
            }
        );
        assert_eq!(r.path_prefix.as_deref(), Some("/devices"));
    }

    #[test]
    fn post_commit_serde_shape_and_validation() {
        let cases = [
            (r#"{"kind":"applyThenDrop"}"#, Fault::ApplyThenDrop),
            (
                r#"{"kind":"applyThenDelay","delayMs":250}"#,
                Fault::ApplyThenDelay { delay_ms: 250 },
            ),
            (
                r#"{"kind":"applyThenError","status":503}"#,
                Fault::ApplyThenError { status: 503 },
            ),
        ];
        for (text, fault) in cases {
            let parsed: Fault = serde_json::from_str(text).unwrap();
            assert_eq!(parsed, fault);
            assert!(parsed.is_post_commit());
            assert_eq!(serde_json::to_string(&fault).unwrap(), text);
            assert_eq!(fault.validate(), Ok(()));
        }
        assert!(!Fault::DropConnection.is_post_commit());
        assert!(Fault::ApplyThenError { status: 200 }.validate().is_err());
        assert!(
            Fault::ApplyThenDelay {
                delay_ms: MAX_DELAY_MS + 1
            }
            .validate()
            .is_err()
        );
        // a post-commit fault is picked like any other (filters, counts)
        let f = Faults::default();
        f.inject(FaultRule {
            method: Some("PATCH".into()),
            ..FaultRule::new(Fault::ApplyThenDrop, 1)
        });
        assert_eq!(f.pick(Service::IotHub, &Method::GET, "/twins/a"), None);
        assert_eq!(
            f.pick(Service::IotHub, &Method::PATCH, "/twins/a"),
            Some(Fault::ApplyThenDrop)
        );
        assert_eq!(f.pick(Service::IotHub, &Method::PATCH, "/twins/a"), None);
    }

    #[test]
    fn error_status_maps_to_the_service_codes() {
        for (status, answered, hub, adt) in [
            (500, 500, "ServerError", "InternalServerError"),
            (503, 503, "ServiceUnavailable", "ServiceUnavailable"),
            (504, 504, "GatewayTimeout", "GatewayTimeout"),
            // in-process, an unknown status is answered as 500
            (299, 500, "ServerError", "InternalServerError"),
        ] {
            let fault = Fault::ApplyThenError { status };
            let r = fault_response(Service::IotHub, fault);
            assert_eq!(r.status().as_u16(), answered);
            assert_eq!(r.headers()["iothub-errorcode"], hub);
            let r = fault_response(Service::DigitalTwins, fault);
            assert_eq!(r.status().as_u16(), answered);
            assert_eq!(r.headers()["x-ms-error-code"], adt);
        }
    }
}
