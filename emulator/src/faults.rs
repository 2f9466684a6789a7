//! Fault injection for both listeners: the next N matching requests (or a seeded random share of
//! all requests) get a 429 with `Retry-After` / `x-ms-retry-after-ms`, a 503, or a connection
//! dropped without any response. Controlled in-process through [`Faults`] or over HTTP at
//! `/_emulator/faults` on either listener.

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
}

/// Fault-injection controls shared by both listeners.
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
        if fault.is_some() {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        fault
    }
}

/// Path prefix of the emulator's own admin routes.
pub const ADMIN_PREFIX: &str = "/_emulator/";

/// The response of a throttle/unavailable fault, in the service's error shape.
pub(crate) fn fault_response(service: Service, fault: Fault) -> Response {
    let (status, hub_code, adt_code, text) = match fault {
        Fault::Throttle { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "TooManyRequests",
            "Request was throttled (injected fault)",
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "ServiceUnavailable",
            "The service is temporarily unavailable (injected fault)",
        ),
    };
    let mut resp = match service {
        Service::IotHub => {
            let mut r = (status, crate::iothub::error::error_body(hub_code, text)).into_response();
            r.headers_mut()
                .insert("iothub-errorcode", HeaderValue::from_static(hub_code));
            r
        }
        Service::DigitalTwins => (
            status,
            serde_json::to_vec(&serde_json::json!({"error": {"code": adt_code, "message": text}}))
                .unwrap_or_default(),
        )
            .into_response(),
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

/// Body of `POST /_emulator/faults/random`.
#[derive(Debug, Deserialize)]
struct RandomBody {
    rate: f64,
    seed: u64,
    faults: Vec<Fault>,
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
        Ok(rule) => {
            f.inject(rule);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => admin_error(format!(
            "body must be a fault rule like {{\"fault\":{{\"kind\":\"throttle\",\"retryAfter\":{{\"seconds\":1}}}},\"count\":1,\"service\":\"iotHub\",\"method\":\"GET\",\"pathPrefix\":\"/twins\"}}: {e}"
        )),
    }
}

async fn admin_random(State(f): State<Arc<Faults>>, body: Bytes) -> Response {
    match serde_json::from_slice::<RandomBody>(&body) {
        Ok(r) if (0.0..=1.0).contains(&r.rate) => {
            f.random(r.rate, r.seed, r.faults);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(r) => admin_error(format!("rate must be between 0 and 1, got {}", r.rate)),
        Err(e) => admin_error(format!(
            "body must be {{\"rate\":0.1,\"seed\":42,\"faults\":[{{\"kind\":\"serviceUnavailable\"}}]}}: {e}"
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
}
