//! Service-side throttling (off by default): the documented per-operation rates of an IoT Hub
//! tier × units and of an Azure Digital Twins instance, with the documented traffic shaping —
//! a burst above the rate is served, then requests are queued (answered late, at the limit
//! rate), and when the queue is full they are refused with 429.
//!
//! Requests are classified by method and path into [`OpClass`]es. Each class is metered by a
//! generic cell-rate algorithm (a token bucket): a class with rate `r` per second serves
//! [`BURST_SECONDS`]` × r` (at least one request) at once, queues up to
//! [`QUEUE_SECONDS`]` × r` more (at least two), and refuses the rest:
//!
//! * IoT Hub: 429 `iothub-errorcode: ThrottlingException` in the service's legacy error shape
//!   plus the numeric `"ErrorCode":429001`; no `Retry-After` (the service documents none).
//! * Azure Digital Twins: 429 `{"error":{"statusCode":429,"message":"Maximum request rate limit
//!   reached. …"}}` with `Retry-After: <seconds>` (as recorded: no `code`, no `x-ms-error-code`).
//!
//! Burst and queue sizes are not documented; the values here are this emulator's choice.
//! [`ThrottleConfig::speed`] multiplies every rate (for short tests); burst and queue sizes stay
//! those of the documented rates, so a test can count outcomes independently of the speed.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

use crate::faults::Service;

/// Seconds of the rate served at once above it (the burst).
pub const BURST_SECONDS: f64 = 1.0;
/// Seconds of the rate queued after the burst before requests are refused.
pub const QUEUE_SECONDS: f64 = 5.0;

/// An IoT Hub pricing tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Free.
    F1,
    /// Basic 1.
    B1,
    /// Basic 2.
    B2,
    /// Basic 3.
    B3,
    /// Standard 1.
    S1,
    /// Standard 2.
    S2,
    /// Standard 3.
    S3,
}

impl std::str::FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "F1" => Tier::F1,
            "B1" => Tier::B1,
            "B2" => Tier::B2,
            "B3" => Tier::B3,
            "S1" => Tier::S1,
            "S2" => Tier::S2,
            "S3" => Tier::S3,
            _ => {
                return Err(format!(
                    "IoT Hub tier '{s}' is not one of F1, B1, B2, B3, S1, S2, S3"
                ));
            }
        })
    }
}

/// What a request is metered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum OpClass {
    /// IoT Hub identity registry operations (devices, modules, bulk, statistics).
    IdentityRegistry,
    /// IoT Hub device and module twin reads (and PnP digital twin reads).
    TwinRead,
    /// IoT Hub device and module twin updates (and PnP digital twin updates).
    TwinUpdate,
    /// IoT Hub queries.
    Query,
    /// IoT Hub job operations (jobs v2 and import/export jobs).
    Jobs,
    /// IoT Hub direct methods, metered by request payload bytes.
    DirectMethods,
    /// IoT Hub configurations.
    Configurations,
    /// ADT twin and relationship reads.
    AdtRead,
    /// ADT twin, component and relationship patches.
    AdtPatch,
    /// ADT creation and deletion of twins and relationships.
    AdtCreateDelete,
    /// ADT query requests.
    AdtQuery,
    /// ADT query units (debited after each query from its `query-charge`).
    AdtQueryUnits,
    /// ADT Models API.
    AdtModels,
    /// ADT event routes.
    AdtEventRoutes,
    /// ADT writes to one twin (with its relationships), 10/s per twin.
    AdtWritesPerTwin,
}

impl OpClass {
    /// Every class, for reports.
    pub const ALL: [OpClass; 15] = [
        OpClass::IdentityRegistry,
        OpClass::TwinRead,
        OpClass::TwinUpdate,
        OpClass::Query,
        OpClass::Jobs,
        OpClass::DirectMethods,
        OpClass::Configurations,
        OpClass::AdtRead,
        OpClass::AdtPatch,
        OpClass::AdtCreateDelete,
        OpClass::AdtQuery,
        OpClass::AdtQueryUnits,
        OpClass::AdtModels,
        OpClass::AdtEventRoutes,
        OpClass::AdtWritesPerTwin,
    ];
}

/// The documented rate of `class` per second on `tier` × `units` (IoT Hub classes, §6.3 of the
/// service notes): per-minute limits divided by 60, direct methods in bytes per second.
pub fn iothub_rate(class: OpClass, tier: Tier, units: u32) -> Option<f64> {
    let u = f64::from(units.max(1));
    let level = match tier {
        Tier::F1 | Tier::B1 | Tier::S1 => 1,
        Tier::B2 | Tier::S2 => 2,
        Tier::B3 | Tier::S3 => 3,
    };
    let per_min = |v: f64| v / 60.0;
    Some(match (class, level) {
        (OpClass::IdentityRegistry, 1 | 2) => per_min(100.0) * u,
        (OpClass::IdentityRegistry, _) => per_min(5000.0) * u,
        (OpClass::TwinRead, 1) => 100.0,
        (OpClass::TwinRead, 2) => (10.0 * u).max(100.0),
        (OpClass::TwinRead, _) => 500.0 * u,
        (OpClass::TwinUpdate, 1) => 50.0,
        (OpClass::TwinUpdate, 2) => (5.0 * u).max(50.0),
        (OpClass::TwinUpdate, _) => 250.0 * u,
        (OpClass::Query, 1 | 2) => per_min(20.0) * u,
        (OpClass::Query, _) => per_min(1000.0) * u,
        (OpClass::Jobs, 1 | 2) => per_min(100.0) * u,
        (OpClass::Jobs, _) => per_min(5000.0) * u,
        (OpClass::DirectMethods, 1) => 160.0 * 1024.0 * u,
        (OpClass::DirectMethods, 2) => 480.0 * 1024.0 * u,
        (OpClass::DirectMethods, _) => 24.0 * 1024.0 * 1024.0 * u,
        (OpClass::Configurations, _) => per_min(20.0) * u,
        _ => return None,
    })
}

/// The documented rate of an ADT class per second (§7.8 of the service notes).
pub fn adt_rate(class: OpClass) -> Option<f64> {
    Some(match class {
        OpClass::AdtRead => 1000.0,
        OpClass::AdtPatch => 1000.0,
        OpClass::AdtCreateDelete => 50.0,
        OpClass::AdtQuery => 500.0,
        OpClass::AdtQueryUnits => 4000.0,
        OpClass::AdtModels => 100.0,
        OpClass::AdtEventRoutes => 100.0,
        OpClass::AdtWritesPerTwin => 10.0,
        _ => return None,
    })
}

/// Which throttles are on.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleConfig {
    /// IoT Hub tier and units; `None`: the hub is not throttled.
    pub iothub: Option<(Tier, u32)>,
    /// Whether the ADT listener is throttled.
    pub adt: bool,
    /// Multiplies every rate (test-only speed-up; 1.0 = documented rates).
    pub speed: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            iothub: None,
            adt: false,
            speed: 1.0,
        }
    }
}

/// Counts of what the throttle did with the requests of one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClassStats {
    /// Served at once (within the rate or the burst).
    pub immediate: u64,
    /// Held in the queue, then served.
    pub queued: u64,
    /// Refused with 429.
    pub rejected: u64,
}

/// One metered class: the theoretical arrival time of the next request (GCRA).
#[derive(Debug)]
struct Cell {
    /// Documented rate, per second.
    rate: f64,
    tat: Instant,
}

impl Cell {
    fn new(rate: f64, now: Instant) -> Self {
        Self { rate, tat: now }
    }
}

enum Admit {
    Now,
    After(Duration),
    Refuse(Duration),
}

impl Cell {
    /// Books `cost` units at `now`, with `speed` multiplying the rate.
    fn admit(&mut self, cost: f64, speed: f64, now: Instant) -> Admit {
        let rate = self.rate * speed;
        let burst = (self.rate * BURST_SECONDS).max(1.0);
        let queue = (self.rate * QUEUE_SECONDS).max(2.0);
        // Large payloads count as at most one burst, so any single request can pass.
        let cost = cost.min(burst);
        let tat = self.tat.max(now);
        let level = (tat - now).as_secs_f64() * rate + cost;
        let after = |units: f64| Duration::from_secs_f64((units / rate).max(0.0));
        if level <= burst {
            self.tat = tat + after(cost);
            Admit::Now
        } else if level <= burst + queue {
            self.tat = tat + after(cost);
            Admit::After(after(level - burst))
        } else {
            Admit::Refuse(after(level - burst))
        }
    }
}

#[derive(Debug, Default)]
struct State {
    cells: HashMap<OpClass, Cell>,
    per_twin: HashMap<String, Cell>,
    stats: HashMap<OpClass, ClassStats>,
}

/// The throttles of both listeners (shared by them, like [`crate::Faults`]): off by default, on
/// with [`EmulatorBuilder::iothub_tier`](crate::EmulatorBuilder::iothub_tier) and
/// [`EmulatorBuilder::adt_throttle`](crate::EmulatorBuilder::adt_throttle).
///
/// They apply the documented per-operation rates of an IoT Hub tier × units and of an Azure
/// Digital Twins instance, with the documented traffic shaping: a burst above the rate is
/// served, then requests are queued (answered late, at the limit rate), and when the queue is
/// full they are refused with 429.
///
/// Requests are classified by method and path into [`OpClass`]es. Each class is metered by a
/// generic cell-rate algorithm (a token bucket): a class with rate `r` per second serves
/// one second's worth, `r` (at least one request), at once, queues up to five seconds' worth,
/// `5 × r` (at least two), more, and refuses the rest:
///
/// * IoT Hub: 429 `iothub-errorcode: ThrottlingException` in the service's legacy error shape
///   plus the numeric `"ErrorCode":429001`; no `Retry-After` (the service documents none).
/// * Azure Digital Twins: 429 `{"error":{"statusCode":429,"message":"Maximum request rate limit
///   reached. …"}}` with `Retry-After: <seconds>` (as recorded: no `code`, no `x-ms-error-code`).
///
/// Burst and queue sizes are not documented; the values here are this emulator's choice.
/// [`ThrottleConfig::speed`] multiplies every rate (for short tests); burst and queue sizes stay
/// those of the documented rates, so a test can count outcomes independently of the speed.
/// [`Throttle::class_stats`] counts what happened to each class's requests.
#[derive(Debug, Default)]
pub struct Throttle {
    config: ThrottleConfig,
    state: Mutex<State>,
}

/// A classified request: its class, cost and (ADT writes) the twin it writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    /// The class.
    pub class: OpClass,
    /// Cost in the class's units (1, or payload bytes for direct methods).
    pub cost: f64,
    /// ADT: the twin a write goes to (metered 10 writes/s per twin too).
    pub twin: Option<String>,
}

/// Classifies an IoT Hub or ADT request by method and path; `None` for requests that are not
/// metered (the emulator's own `/_emulator` routes, unknown paths).
pub fn classify(
    service: Service,
    method: &Method,
    path: &str,
    body_len: u64,
) -> Option<Classified> {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let one = |class| {
        Some(Classified {
            class,
            cost: 1.0,
            twin: None,
        })
    };
    if seg.first() == Some(&"_emulator") {
        return None;
    }
    let get = method == Method::GET;
    match service {
        Service::IotHub => match seg.as_slice() {
            ["twins", _, "methods"] | ["twins", _, "modules", _, "methods"] => Some(Classified {
                class: OpClass::DirectMethods,
                cost: body_len.max(1) as f64,
                twin: None,
            }),
            ["digitaltwins", _, .., "commands", _] => Some(Classified {
                class: OpClass::DirectMethods,
                cost: body_len.max(1) as f64,
                twin: None,
            }),
            ["twins", _] | ["twins", _, "modules", _] | ["digitaltwins", _] => one(if get {
                OpClass::TwinRead
            } else {
                OpClass::TwinUpdate
            }),
            ["devices", "query"] => one(OpClass::Query),
            ["devices", _, "applyConfigurationContent"] | ["configurations", ..] => {
                one(OpClass::Configurations)
            }
            // Purging a device's cloud-to-device queue is not an identity registry operation
            // and §6.3 lists no throttle for it (the client does not meter it either).
            ["devices", _, "commands"] => None,
            ["devices", ..] | ["statistics", ..] => one(OpClass::IdentityRegistry),
            ["jobs", ..] => one(OpClass::Jobs),
            _ => None,
        },
        Service::DigitalTwins => match seg.as_slice() {
            ["query"] => one(OpClass::AdtQuery),
            ["models", ..] => one(OpClass::AdtModels),
            ["eventroutes", ..] | ["EventRoutes", ..] => one(OpClass::AdtEventRoutes),
            ["digitaltwins", id, rest @ ..] => {
                let twin = Some(
                    percent_encoding::percent_decode_str(id)
                        .decode_utf8_lossy()
                        .into_owned(),
                );
                let class = match (method.as_str(), rest) {
                    ("GET", _) => OpClass::AdtRead,
                    (_, [_, _, "telemetry"] | ["telemetry"]) => return None,
                    ("PATCH", _) => OpClass::AdtPatch,
                    ("PUT" | "DELETE", [] | ["relationships", _]) => OpClass::AdtCreateDelete,
                    _ => return None,
                };
                Some(Classified {
                    class,
                    cost: 1.0,
                    twin: if class == OpClass::AdtRead {
                        None
                    } else {
                        twin
                    },
                })
            }
            _ => None,
        },
    }
}

/// The answer to a refused request.
pub fn throttled_response(service: Service, retry_after: Duration) -> Response {
    match service {
        Service::IotHub => {
            let body = serde_json::json!({
                "Message": "ErrorCode:ThrottlingException;Throttling exception has occurred: the IoT hub's rate limit for this operation was exceeded. Please reduce your request rate.",
                "ExceptionMessage": crate::iothub::error::tracking_id(),
                "ErrorCode": 429001,
            });
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                serde_json::to_vec(&body).unwrap_or_default(),
            )
                .into_response();
            let h = r.headers_mut();
            h.insert(
                "content-type",
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            h.insert(
                "iothub-errorcode",
                HeaderValue::from_static("ThrottlingException"),
            );
            r
        }
        Service::DigitalTwins => {
            let body = serde_json::json!({"error": {"statusCode": 429, "message": "Maximum request rate limit reached. For Azure Digital Twins rate limiting details please see http://aka.ms/dtv2limits."}});
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                serde_json::to_vec(&body).unwrap_or_default(),
            )
                .into_response();
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let h = r.headers_mut();
            h.insert("content-type", HeaderValue::from_static("application/json"));
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                h.insert("retry-after", v);
            }
            r
        }
    }
}

impl Throttle {
    /// Throttles configured by `config`.
    pub(crate) fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            state: Mutex::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// Whether `service` is throttled at all.
    pub fn is_on(&self, service: Service) -> bool {
        match service {
            Service::IotHub => self.config.iothub.is_some(),
            Service::DigitalTwins => self.config.adt,
        }
    }

    /// The documented rate per second of `class` under this configuration (before the speed factor).
    pub fn rate(&self, class: OpClass) -> Option<f64> {
        match self.config.iothub {
            Some((tier, units)) if iothub_rate(class, tier, units).is_some() => {
                iothub_rate(class, tier, units)
            }
            _ if self.config.adt => adt_rate(class),
            _ => None,
        }
    }

    /// What the throttle did so far, per class (classes it never saw are absent).
    pub fn stats(&self) -> Vec<(OpClass, ClassStats)> {
        let s = self.lock();
        let mut v: Vec<_> = s.stats.iter().map(|(c, s)| (*c, *s)).collect();
        v.sort_by_key(|(c, _)| *c);
        v
    }

    /// The counts of one class.
    pub fn class_stats(&self, class: OpClass) -> ClassStats {
        self.lock().stats.get(&class).copied().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Meters one request: `Ok(())` once it may be served (after its queueing delay), or the
    /// 429 answer.
    pub(crate) async fn admit(
        &self,
        service: Service,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<(), Response> {
        if !self.is_on(service) {
            return Ok(());
        }
        let len = headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let Some(c) = classify(service, method, path, len) else {
            return Ok(());
        };
        let Some(rate) = self.rate(c.class) else {
            return Ok(());
        };
        if c.class == OpClass::AdtQuery
            && let Some(d) = self.query_units_exhausted(service, path)
        {
            self.lock()
                .stats
                .entry(OpClass::AdtQueryUnits)
                .or_default()
                .rejected += 1;
            return Err(throttled_response(service, d));
        }
        let speed = self.config.speed.max(1e-6);
        let wait = {
            let mut s = self.lock();
            let now = Instant::now();
            let outcome = s
                .cells
                .entry(c.class)
                .or_insert_with(|| Cell::new(rate, now))
                .admit(c.cost, speed, now);
            // ADT writes also count against their twin's 10 writes/s.
            let outcome = match (outcome, &c.twin) {
                (Admit::Refuse(d), _) => Admit::Refuse(d),
                (first, Some(twin)) => {
                    if s.per_twin.len() > 100_000 {
                        s.per_twin.retain(|_, cell| cell.tat > now);
                    }
                    let per = adt_rate(OpClass::AdtWritesPerTwin).unwrap_or(10.0);
                    let second = s
                        .per_twin
                        .entry(twin.clone())
                        .or_insert_with(|| Cell::new(per, now))
                        .admit(1.0, speed, now);
                    match (first, second) {
                        (_, Admit::Refuse(d)) => {
                            s.stats
                                .entry(OpClass::AdtWritesPerTwin)
                                .or_default()
                                .rejected += 1;
                            Admit::Refuse(d)
                        }
                        (Admit::After(a), Admit::After(b)) => Admit::After(a.max(b)),
                        (Admit::After(a), Admit::Now) | (Admit::Now, Admit::After(a)) => {
                            Admit::After(a)
                        }
                        _ => Admit::Now,
                    }
                }
                (first, None) => first,
            };
            let st = s.stats.entry(c.class).or_default();
            match outcome {
                Admit::Now => {
                    st.immediate += 1;
                    None
                }
                Admit::After(d) => {
                    st.queued += 1;
                    Some(Ok(d))
                }
                Admit::Refuse(d) => {
                    st.rejected += 1;
                    Some(Err(d))
                }
            }
        };
        match wait {
            None => Ok(()),
            Some(Ok(d)) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Some(Err(d)) => Err(throttled_response(service, d)),
        }
    }

    /// After an ADT query: debits its `query-charge` from the query units (served requests are
    /// never held for it; later queries are queued or refused while the units are exhausted).
    pub(crate) fn debit_query_units(&self, service: Service, path: &str, headers: &HeaderMap) {
        if service != Service::DigitalTwins || !self.config.adt || path.trim_matches('/') != "query"
        {
            return;
        }
        let Some(charge) = headers
            .get("query-charge")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
        else {
            return;
        };
        let rate = adt_rate(OpClass::AdtQueryUnits).unwrap_or(4000.0);
        let speed = self.config.speed.max(1e-6);
        let mut s = self.lock();
        let now = Instant::now();
        let cell = s
            .cells
            .entry(OpClass::AdtQueryUnits)
            .or_insert_with(|| Cell::new(rate, now));
        let tat = cell.tat.max(now);
        cell.tat = tat + Duration::from_secs_f64(charge.max(0.0) / (rate * speed));
    }

    /// Whether the query units are exhausted beyond burst and queue (a query is then refused).
    pub(crate) fn query_units_exhausted(&self, service: Service, path: &str) -> Option<Duration> {
        if service != Service::DigitalTwins || !self.config.adt || path.trim_matches('/') != "query"
        {
            return None;
        }
        let rate = adt_rate(OpClass::AdtQueryUnits).unwrap_or(4000.0);
        let speed = self.config.speed.max(1e-6);
        let s = self.lock();
        let cell = s.cells.get(&OpClass::AdtQueryUnits)?;
        let now = Instant::now();
        let ahead = cell.tat.checked_duration_since(now)?.as_secs_f64() * rate * speed;
        let limit = rate * (BURST_SECONDS + QUEUE_SECONDS);
        (ahead > limit)
            .then(|| Duration::from_secs_f64((ahead - rate * BURST_SECONDS) / (rate * speed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_by_method_and_path() {
        let c = |s, m: Method, p| classify(s, &m, p, 10).map(|c| c.class);
        use Service::*;
        assert_eq!(c(IotHub, Method::GET, "/twins/d1"), Some(OpClass::TwinRead));
        assert_eq!(
            c(IotHub, Method::PATCH, "/twins/d1/modules/m"),
            Some(OpClass::TwinUpdate)
        );
        assert_eq!(
            c(IotHub, Method::POST, "/twins/d1/methods"),
            Some(OpClass::DirectMethods)
        );
        assert_eq!(
            c(IotHub, Method::PUT, "/devices/d1"),
            Some(OpClass::IdentityRegistry)
        );
        assert_eq!(
            c(IotHub, Method::POST, "/devices/query"),
            Some(OpClass::Query)
        );
        assert_eq!(c(IotHub, Method::PUT, "/jobs/v2/j"), Some(OpClass::Jobs));
        assert_eq!(
            c(IotHub, Method::GET, "/configurations"),
            Some(OpClass::Configurations)
        );
        assert_eq!(c(IotHub, Method::GET, "/_emulator/faults"), None);
        assert_eq!(c(IotHub, Method::DELETE, "/devices/d1/commands"), None);
        assert_eq!(
            c(DigitalTwins, Method::PATCH, "/digitaltwins/t"),
            Some(OpClass::AdtPatch)
        );
        assert_eq!(
            c(DigitalTwins, Method::PUT, "/digitaltwins/t/relationships/r"),
            Some(OpClass::AdtCreateDelete)
        );
        assert_eq!(
            c(DigitalTwins, Method::POST, "/query"),
            Some(OpClass::AdtQuery)
        );
        assert_eq!(
            c(DigitalTwins, Method::POST, "/digitaltwins/t/telemetry"),
            None
        );
    }

    #[test]
    fn documented_rates() {
        assert_eq!(iothub_rate(OpClass::TwinUpdate, Tier::S1, 4), Some(50.0));
        assert_eq!(iothub_rate(OpClass::TwinUpdate, Tier::S2, 20), Some(100.0));
        assert_eq!(iothub_rate(OpClass::TwinUpdate, Tier::S3, 2), Some(500.0));
        assert_eq!(iothub_rate(OpClass::Query, Tier::S1, 3), Some(1.0));
        assert_eq!(iothub_rate(OpClass::AdtPatch, Tier::S1, 1), None);
        assert_eq!(adt_rate(OpClass::AdtWritesPerTwin), Some(10.0));
    }

    #[test]
    fn burst_then_queue_then_refuse() {
        // 50/s: burst 50, queue 250, all at one instant.
        let now = Instant::now();
        let mut cell = Cell::new(50.0, now);
        let (mut n, mut q, mut r) = (0, 0, 0);
        for _ in 0..400 {
            match cell.admit(1.0, 1.0, now) {
                Admit::Now => n += 1,
                Admit::After(_) => q += 1,
                Admit::Refuse(_) => r += 1,
            }
        }
        assert_eq!((n, q, r), (50, 250, 100));
    }
}
