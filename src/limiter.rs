//! Client-side rate limiting: keep a client at a service's quota instead of driving it into
//! 429 storms.
//!
//! Every request is metered in an [`OpClass`] derived from its generated operation id (the
//! same classes the services throttle by: IoT Hub twin reads, twin updates, identity registry,
//! queries, jobs, direct methods, configurations; ADT reads, patches, creates/deletes, queries,
//! models, event routes). Each class paces requests at its rate (a reservation scheduler: the
//! n-th request of a class starts `n / rate` after the first, so concurrent callers queue
//! fairly, in order).
//!
//! Rates are either known — [`RateLimit::iothub`] from the hub's tier and units (the documented
//! per-tier limits), [`RateLimit::digital_twins`] (the documented ADT limits), [`RateLimit::rate`]
//! — or learnt ([`RateLimit::adaptive`]): a class without a known rate is unpaced until its
//! first throttling signal, then paced at half the rate observed over the last second, and the
//! rate creeps back up by 10 % of that value (of the known rate, if any) per second (additive increase, multiplicative
//! decrease). Known rates adapt the same way below their ceiling when the service throttles
//! anyway (the quota is shared with other clients, or ADT scales internally). A `Retry-After`
//! pauses the class until it has passed.
//!
//! The pipeline reports every attempt of a call (not only its final outcome) as it happens. A
//! throttling signal is an attempt refused for load: a 429 (IoT Hub `ThrottlingException`
//! 429001 and its kin; ADT's 429 with `Retry-After`), an answer carrying an IoT Hub throttling
//! error code, or a 503 with a retry hint. A dropped connection, a timeout, a connect error, a
//! 408 or a 5xx without a retry hint is retried by the retry loop but is *not* a throttling
//! signal: it is counted ([`ClassStats::failed`]) and leaves the rate alone, since a broken
//! connection says nothing about the quota. IoT Hub's 429004
//! (`ThrottlingMaxActiveJobCountExceeded`, too many jobs at once) counts as failed too: a
//! slower pace does not end it.
//!
//! # On or off by default
//!
//! Off: a [`ClientOptions`](crate::ClientOptions) has no limiter unless
//! [`ClientOptions::rate_limit`](crate::ClientOptions::rate_limit) is given. Pacing delays
//! calls, and an adaptive limiter that has seen one 429 slows every later call of its class
//! for seconds — wrong for latency-sensitive single calls, where the retry loop's backoff is
//! the better answer. Fleet operations ([`crate::fleet`]) turn a limiter on for their own calls
//! (the client's, or an adaptive one).
//!
//! A [`RateLimiter`] is shared: clones (and clones of a client built with it) meter together.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// An IoT Hub pricing tier (for [`RateLimit::iothub`]).
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

/// What a request is metered as (the services' throttling classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// IoT Hub direct methods and PnP commands (the service meters payload bytes; paced here
    /// per call at [`RateLimit::iothub`]'s rate for 1 KB payloads).
    DirectMethods,
    /// IoT Hub configurations.
    Configurations,
    /// ADT twin and relationship reads.
    AdtRead,
    /// ADT twin, component and relationship patches.
    AdtPatch,
    /// ADT creation and deletion of twins and relationships.
    AdtCreateDelete,
    /// ADT queries.
    AdtQuery,
    /// ADT Models API.
    AdtModels,
    /// ADT event routes.
    AdtEventRoutes,
    /// Anything the services do not meter in a documented class (ADT telemetry, ADT import
    /// and delete jobs, IoT Hub cloud-to-device queue purge and feedback): never paced.
    Other,
}

impl OpClass {
    /// The class of a generated operation id (e.g. `devices_update_twin` → [`OpClass::TwinUpdate`]).
    /// Every operation of the vendored specs is checked against an explicit table in
    /// `tests/limiter_classes.rs`.
    pub fn of_operation(operation_id: &str) -> OpClass {
        match operation_id {
            "devices_get_twin" | "modules_get_twin" | "digital_twin_get_digital_twin" => {
                OpClass::TwinRead
            }
            "devices_update_twin"
            | "devices_replace_twin"
            | "modules_update_twin"
            | "modules_replace_twin"
            | "digital_twin_update_digital_twin" => OpClass::TwinUpdate,
            "devices_invoke_method"
            | "modules_invoke_method"
            | "digital_twin_invoke_component_command"
            | "digital_twin_invoke_root_level_command" => OpClass::DirectMethods,
            "query_get_twins" => OpClass::Query,
            "query_query_twins" => OpClass::AdtQuery,
            "configuration_apply_on_edge_device" => OpClass::Configurations,
            "digital_twins_get_by_id"
            | "digital_twins_get_component"
            | "digital_twins_get_relationship_by_id"
            | "digital_twins_list_relationships"
            | "digital_twins_list_incoming_relationships" => OpClass::AdtRead,
            "digital_twins_update"
            | "digital_twins_update_component"
            | "digital_twins_update_relationship" => OpClass::AdtPatch,
            "digital_twins_add"
            | "digital_twins_delete"
            | "digital_twins_add_relationship"
            | "digital_twins_delete_relationship" => OpClass::AdtCreateDelete,
            id if id.starts_with("digital_twin_models_") => OpClass::AdtModels,
            id if id.starts_with("event_routes_") => OpClass::AdtEventRoutes,
            id if id.starts_with("configuration_") => OpClass::Configurations,
            id if id.starts_with("devices_")
                || id.starts_with("modules_")
                || id.starts_with("bulk_registry_")
                || id.starts_with("statistics_") =>
            {
                OpClass::IdentityRegistry
            }
            id if id.starts_with("jobs_") => OpClass::Jobs,
            _ => OpClass::Other,
        }
    }
}

/// The documented IoT Hub rate of `class` per second on `tier` × `units`; `None` for classes
/// the hub does not meter (ADT classes, [`OpClass::Other`]).
pub fn iothub_rate(class: OpClass, tier: Tier, units: u32) -> Option<f64> {
    let u = f64::from(units.max(1));
    let level = match tier {
        Tier::F1 | Tier::B1 | Tier::S1 => 1,
        Tier::B2 | Tier::S2 => 2,
        Tier::B3 | Tier::S3 => 3,
    };
    Some(match (class, level) {
        (OpClass::IdentityRegistry, 1 | 2) => 100.0 / 60.0 * u,
        (OpClass::IdentityRegistry, _) => 5000.0 / 60.0 * u,
        (OpClass::TwinRead, 1) => 100.0,
        (OpClass::TwinRead, 2) => (10.0 * u).max(100.0),
        (OpClass::TwinRead, _) => 500.0 * u,
        (OpClass::TwinUpdate, 1) => 50.0,
        (OpClass::TwinUpdate, 2) => (5.0 * u).max(50.0),
        (OpClass::TwinUpdate, _) => 250.0 * u,
        (OpClass::Query, 1 | 2) => 20.0 / 60.0 * u,
        (OpClass::Query, _) => 1000.0 / 60.0 * u,
        (OpClass::Jobs, 1 | 2) => 100.0 / 60.0 * u,
        (OpClass::Jobs, _) => 5000.0 / 60.0 * u,
        // 160 KB/s, 480 KB/s, 24 MB/s per unit, for 1 KB payloads.
        (OpClass::DirectMethods, 1) => 160.0 * u,
        (OpClass::DirectMethods, 2) => 480.0 * u,
        (OpClass::DirectMethods, _) => 24.0 * 1024.0 * u,
        (OpClass::Configurations, _) => 20.0 / 60.0 * u,
        _ => return None,
    })
}

/// The documented ADT rate of `class` per second (per instance).
pub fn digital_twins_rate(class: OpClass) -> Option<f64> {
    Some(match class {
        OpClass::AdtRead | OpClass::AdtPatch => 1000.0,
        OpClass::AdtCreateDelete => 50.0,
        OpClass::AdtQuery => 500.0,
        OpClass::AdtModels | OpClass::AdtEventRoutes => 100.0,
        _ => return None,
    })
}

/// What a [`RateLimiter`] is built from: known rates per class and whether unknown ones are
/// learnt from throttling.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    rates: HashMap<OpClass, f64>,
    adaptive: bool,
    share: f64,
}

impl RateLimit {
    /// No known rate; every class is learnt from 429s (see the [module docs](self)).
    pub fn adaptive() -> Self {
        Self {
            rates: HashMap::new(),
            adaptive: true,
            share: 1.0,
        }
    }

    /// The documented rates of an IoT Hub of `tier` × `units` (units below 1 count as 1);
    /// classes are also adaptive below these ceilings.
    pub fn iothub(tier: Tier, units: u32) -> Self {
        let mut r = Self::adaptive();
        for c in ALL_CLASSES {
            if let Some(v) = iothub_rate(c, tier, units) {
                r.rates.insert(c, v);
            }
        }
        r
    }

    /// The documented rates of an Azure Digital Twins instance.
    pub fn digital_twins() -> Self {
        let mut r = Self::adaptive();
        for c in ALL_CLASSES {
            if let Some(v) = digital_twins_rate(c) {
                r.rates.insert(c, v);
            }
        }
        r
    }

    /// Sets the rate of one class, per second (values that are not finite and positive remove
    /// the known rate).
    pub fn rate(mut self, class: OpClass, per_second: f64) -> Self {
        if per_second.is_finite() && per_second > 0.0 {
            self.rates.insert(class, per_second);
        } else {
            self.rates.remove(&class);
        }
        self
    }

    /// Uses only `share` (0 < share ≤ 1) of every known rate, e.g. 0.5 when two programs share
    /// a hub's quota. Other values are clamped into that range.
    pub fn share(mut self, share: f64) -> Self {
        self.share = if share.is_finite() {
            share.clamp(0.001, 1.0)
        } else {
            1.0
        };
        self
    }

    /// Multiplies every known rate by `factor` (finite and positive; other values are
    /// ignored): for an emulator run with the same test speed factor
    /// (`Emulator::builder().throttle_speed(factor)`).
    pub fn speed(mut self, factor: f64) -> Self {
        if factor.is_finite() && factor > 0.0 {
            for r in self.rates.values_mut() {
                *r *= factor;
            }
        }
        self
    }

    /// `false`: known rates are fixed and unknown classes unpaced; throttling signals are only
    /// counted. Default `true`.
    pub fn adapt(mut self, on: bool) -> Self {
        self.adaptive = on;
        self
    }

    /// The known rate of `class` (after [`RateLimit::share`]).
    pub fn rate_of(&self, class: OpClass) -> Option<f64> {
        self.rates.get(&class).map(|r| r * self.share)
    }
}

const ALL_CLASSES: [OpClass; 14] = [
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
    OpClass::AdtModels,
    OpClass::AdtEventRoutes,
    OpClass::Other,
];

/// Counters of one class.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClassStats {
    /// Requests let through (every attempt counts).
    pub requests: u64,
    /// Throttling signals: attempts refused for load (429, IoT Hub throttling codes, 503 with
    /// a retry hint; see the [module docs](self)).
    pub throttled: u64,
    /// Attempts that failed without throttling meaning (dropped connections, timeouts, 5xx
    /// without a retry hint): counted, the rate is left alone.
    pub failed: u64,
    /// The pacing rate now, per second (`None`: unpaced).
    pub rate: Option<f64>,
}

/// Rate growth per second after a decrease, as a share of the decreased rate.
const CREEP: f64 = 0.1;
/// Signals closer together than this count as one decrease (a burst of 429s is one event).
const DECREASE_GAP: Duration = Duration::from_millis(500);
/// Slowest pace an adaptive class falls to.
const MIN_RATE: f64 = 0.1;
/// Requests that may start together before pacing (absorbs scheduling jitter).
const BURST: f64 = 1.0;

#[derive(Debug)]
struct Class {
    /// Known ceiling (None: learnt only).
    ceiling: Option<f64>,
    /// After a decrease: the rate then and when.
    decreased: Option<(f64, Instant)>,
    /// The next free start slot.
    next: Option<Instant>,
    paused_until: Option<Instant>,
    recent: VecDeque<Instant>,
    requests: u64,
    throttled: u64,
    failed: u64,
}

impl Class {
    fn rate(&self, now: Instant) -> Option<f64> {
        match self.decreased {
            Some((base, at)) => {
                let step = self.ceiling.map_or(base, |c| c.max(base));
                let r = base + CREEP * step * (now - at).as_secs_f64();
                Some(self.ceiling.map_or(r, |c| r.min(c)))
            }
            None => self.ceiling,
        }
    }
}

#[derive(Debug)]
struct Inner {
    limit: RateLimit,
    classes: Mutex<HashMap<OpClass, Class>>,
}

/// A shared rate limiter (cheap to clone; clones meter together). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

impl RateLimiter {
    /// A limiter with `limit`'s rates.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            inner: Arc::new(Inner {
                limit,
                classes: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The configuration.
    pub fn limit(&self) -> &RateLimit {
        &self.inner.limit
    }

    fn with_class<R>(&self, class: OpClass, f: impl FnOnce(&mut Class) -> R) -> R {
        let mut map = self.inner.classes.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.entry(class).or_insert_with(|| Class {
            ceiling: self.inner.limit.rate_of(class),
            decreased: None,
            next: None,
            paused_until: None,
            recent: VecDeque::new(),
            requests: 0,
            throttled: 0,
            failed: 0,
        });
        f(c)
    }

    /// Waits for `class`'s next start slot (returns at once for unpaced classes).
    pub async fn acquire(&self, class: OpClass) {
        if class == OpClass::Other {
            return;
        }
        let start = self.with_class(class, |c| {
            let now = Instant::now();
            c.requests += 1;
            c.recent.push_back(now);
            while c
                .recent
                .front()
                .is_some_and(|t| now - *t > Duration::from_secs(1))
                || c.recent.len() > 100_000
            {
                c.recent.pop_front();
            }
            let rate = c.rate(now)?;
            let interval = Duration::from_secs_f64(1.0 / rate);
            let earliest = c.paused_until.map_or(now, |p| p.max(now));
            // Up to BURST slots may be in the past (idle time is not banked beyond that).
            let floor = earliest
                .checked_sub(interval.mul_f64(BURST))
                .unwrap_or(earliest);
            let slot = c.next.map_or(earliest, |n| n.max(floor)).max(floor);
            c.next = Some(slot + interval);
            Some(slot.max(earliest))
        });
        if let Some(at) = start
            && at > Instant::now()
        {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Reports a throttling signal for `class`, with the service's `Retry-After` if it sent one.
    pub fn throttled(&self, class: OpClass, retry_after: Option<Duration>) {
        let adaptive = self.inner.limit.adaptive;
        self.with_class(class, |c| {
            let now = Instant::now();
            c.throttled += 1;
            if let Some(d) = retry_after {
                let until = now + d.min(Duration::from_secs(60));
                c.paused_until = Some(c.paused_until.map_or(until, |p| p.max(until)));
            }
            if !adaptive {
                return;
            }
            if let Some((_, at)) = c.decreased
                && now - at < DECREASE_GAP
            {
                return;
            }
            let observed = c.recent.len() as f64;
            let current = c.rate(now).unwrap_or(observed).min(observed.max(MIN_RATE));
            let base = (current / 2.0).max(MIN_RATE);
            c.decreased = Some((base, now));
            // Slots booked at the old rate stay; new ones follow the new rate.
        });
    }

    /// Feeds one attempt's outcome (classified by the retry loop): a throttling signal slows
    /// the class (and pauses it for the hint), a failure is only counted, an answer changes
    /// nothing.
    pub(crate) fn record(&self, class: OpClass, signal: crate::retry::Signal) {
        if class == OpClass::Other {
            return;
        }
        match signal {
            crate::retry::Signal::Answered => {}
            crate::retry::Signal::Throttled(retry_after) => self.throttled(class, retry_after),
            crate::retry::Signal::Failed => self.with_class(class, |c| c.failed += 1),
        }
    }

    /// The counters of `class`.
    pub fn stats(&self, class: OpClass) -> ClassStats {
        self.with_class(class, |c| ClassStats {
            requests: c.requests,
            throttled: c.throttled,
            failed: c.failed,
            rate: c.rate(Instant::now()),
        })
    }

    /// Throttling signals of all classes so far.
    pub fn throttled_total(&self) -> u64 {
        let map = self.inner.classes.lock().unwrap_or_else(|p| p.into_inner());
        map.values().map(|c| c.throttled).sum()
    }
}

tokio::task_local! {
    static SCOPED: RateLimiter;
}

/// Runs `fut` with `limiter` metering every request it makes through a client (in place of
/// the client's own limiter, if any). Used by [`crate::fleet`].
pub(crate) async fn scope<F: std::future::Future>(limiter: RateLimiter, fut: F) -> F::Output {
    SCOPED.scope(limiter, fut).await
}

/// The limiter of the current [`scope`], if any.
pub(crate) fn scoped() -> Option<RateLimiter> {
    SCOPED.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_generated_operations() {
        assert_eq!(
            OpClass::of_operation("devices_update_twin"),
            OpClass::TwinUpdate
        );
        assert_eq!(OpClass::of_operation("modules_get_twin"), OpClass::TwinRead);
        assert_eq!(
            OpClass::of_operation("devices_invoke_method"),
            OpClass::DirectMethods
        );
        assert_eq!(
            OpClass::of_operation("devices_create_or_update_identity"),
            OpClass::IdentityRegistry
        );
        assert_eq!(
            OpClass::of_operation("bulk_registry_update_registry"),
            OpClass::IdentityRegistry
        );
        assert_eq!(OpClass::of_operation("query_get_twins"), OpClass::Query);
        assert_eq!(
            OpClass::of_operation("jobs_create_scheduled_job"),
            OpClass::Jobs
        );
        assert_eq!(
            OpClass::of_operation("digital_twins_update"),
            OpClass::AdtPatch
        );
        assert_eq!(
            OpClass::of_operation("digital_twins_add"),
            OpClass::AdtCreateDelete
        );
        assert_eq!(
            OpClass::of_operation("digital_twins_send_telemetry"),
            OpClass::Other
        );
    }

    #[tokio::test(start_paused = true)]
    async fn known_rate_paces_concurrent_callers() {
        let l = RateLimiter::new(RateLimit::iothub(Tier::S1, 1));
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..101)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    l.acquire(OpClass::TwinUpdate).await;
                    Instant::now()
                })
            })
            .collect();
        let mut ends = Vec::new();
        for t in tasks {
            ends.push(t.await.unwrap() - t0);
        }
        ends.sort();
        // 50/s: the 101st start is 2 s after the first (virtual time).
        assert_eq!(ends[0], Duration::ZERO);
        let last = ends[100].as_secs_f64();
        assert!((last - 2.0).abs() < 0.05, "{last}");
        // Another class is not held by this one.
        let before = Instant::now();
        l.acquire(OpClass::TwinRead).await;
        assert_eq!(Instant::now(), before);
        assert_eq!(l.stats(OpClass::TwinUpdate).requests, 101);
    }

    #[tokio::test(start_paused = true)]
    async fn adaptive_halves_on_429_then_creeps_up() {
        let l = RateLimiter::new(RateLimit::adaptive());
        // Unpaced until the first signal: 100 starts at the same instant.
        let t0 = Instant::now();
        for _ in 0..100 {
            l.acquire(OpClass::TwinUpdate).await;
        }
        assert_eq!(Instant::now(), t0);
        assert_eq!(l.stats(OpClass::TwinUpdate).rate, None);
        l.throttled(OpClass::TwinUpdate, None);
        // Half of the 100/s observed.
        let r = l.stats(OpClass::TwinUpdate).rate.unwrap();
        assert!((r - 50.0).abs() < 1e-6, "{r}");
        // A burst of signals is one decrease.
        l.throttled(OpClass::TwinUpdate, None);
        assert_eq!(l.stats(OpClass::TwinUpdate).rate, Some(r));
        assert_eq!(l.stats(OpClass::TwinUpdate).throttled, 2);
        tokio::time::advance(Duration::from_secs(5)).await;
        let r5 = l.stats(OpClass::TwinUpdate).rate.unwrap();
        assert!((r5 - 75.0).abs() < 1e-6, "{r5}");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_the_class_and_ceiling_caps_the_creep() {
        let l = RateLimiter::new(RateLimit::digital_twins());
        l.acquire(OpClass::AdtPatch).await;
        let t0 = Instant::now();
        l.throttled(OpClass::AdtPatch, Some(Duration::from_secs(7)));
        l.acquire(OpClass::AdtPatch).await;
        assert!(Instant::now() - t0 >= Duration::from_secs(7));
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(l.stats(OpClass::AdtPatch).rate, Some(1000.0));
        // Shares and fixed rates.
        let fixed = RateLimit::iothub(Tier::S3, 2).share(0.5).adapt(false);
        assert_eq!(fixed.rate_of(OpClass::TwinUpdate), Some(250.0));
        let f = RateLimiter::new(fixed);
        f.throttled(OpClass::TwinUpdate, None);
        assert_eq!(f.stats(OpClass::TwinUpdate).rate, Some(250.0));
    }

    #[tokio::test(start_paused = true)]
    async fn only_throttling_signals_slow_a_class() {
        use crate::retry::Signal;
        let l = RateLimiter::new(RateLimit::iothub(Tier::S1, 1));
        let c = OpClass::TwinUpdate;
        for _ in 0..20 {
            l.acquire(c).await;
        }
        // Dropped connections, timeouts and plain 5xx: counted, the rate stays at 50/s, and the
        // class is not paused.
        for _ in 0..5 {
            l.record(c, Signal::Failed);
            l.record(c, Signal::Answered);
        }
        let st = l.stats(c);
        assert_eq!((st.throttled, st.failed, st.rate), (0, 5, Some(50.0)));
        let before = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        let t = Instant::now();
        l.acquire(c).await;
        assert_eq!(Instant::now(), t, "{:?}", Instant::now() - before);
        // A 429 halves it (20 starts in the last second, observed 20/s → 10/s).
        l.record(c, Signal::Throttled(None));
        let r = l.stats(c).rate.unwrap();
        assert!(r < 25.0, "{r}");
        // A 503 with a hint pauses the class for the hint.
        tokio::time::advance(Duration::from_secs(1)).await;
        l.record(c, Signal::Throttled(Some(Duration::from_secs(4))));
        let t = Instant::now();
        l.acquire(c).await;
        assert!(Instant::now() - t >= Duration::from_secs(4));
        assert_eq!(l.stats(c).throttled, 2);
        // Other is never metered.
        l.record(OpClass::Other, Signal::Throttled(None));
        assert_eq!(l.throttled_total(), 2);
    }
}
