//! Fleet operations: one change (a twin patch, a direct method, an identity change, any call)
//! applied to many devices at the hub's quota, with bounded concurrency, per-item results as a
//! [`Stream`], progress a program can render, and a checkpoint to resume from.
//!
//! ```no_run
//! # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
//! use azure_twins::fleet::Fleet;
//! use azure_twins::iothub::TwinPatch;
//! use azure_twins::limiter::{RateLimit, RateLimiter, Tier};
//! use futures::StreamExt as _;
//!
//! let ids = (0..5000).map(|i| format!("sensor-{i}"));
//! let patch = TwinPatch::new().set_desired("firmware", "2.1.0");
//! let mut run = Fleet::new()
//!     .limiter(RateLimiter::new(RateLimit::iothub(Tier::S1, 1)))
//!     .concurrency(32)
//!     .update_twins(&hub, ids, patch);
//! while let Some(item) = run.next().await {
//!     if let Err(e) = &item.result {
//!         eprintln!("{}: {e}", item.id);
//!     }
//!     let p = run.progress();
//!     eprint!("\r{}/{:?} done, {} failed, {:.0}/s", p.done, p.total, p.failed, p.rate());
//! }
//! let checkpoint = run.checkpoint(); // store it (serde) to resume after a crash
//! # let _ = checkpoint; Ok(()) }
//! ```
//!
//! # Pacing
//!
//! Every call a fleet item makes goes through a [`RateLimiter`],
//! in this order of preference: the one given to [`Fleet::limiter`], the client's own
//! ([`ClientOptions::rate_limit`](crate::ClientOptions::rate_limit)), or a fresh adaptive one
//! ([`RateLimit::adaptive`](crate::limiter::RateLimit::adaptive)): fleet operations always
//! run with a limiter. Give the hub's tier and units when known: the fleet then runs at the
//! quota from the first request, instead of learning it from 429s.
//!
//! Concurrency only needs to cover the latency: at 50 updates/s and 20 ms per call, 2 calls in
//! flight keep up; the default 16 leaves room for slow answers. More in flight does not go
//! faster than the limiter.
//!
//! # Resuming
//!
//! [`FleetRun::checkpoint`] holds the ids that succeeded so far; give it to
//! [`Fleet::resume_from`] and a new run skips them (failed ids are tried again). The
//! checkpoint is `serde`-serializable; store it as often as you like (e.g. every 1000 items).
//!
//! # Lost answers
//!
//! An unconditional twin merge patch whose answer is lost (the connection dropped, or a
//! 500/502/503/504 that the hub may send after committing) is not resent by the client's
//! retry policy: applied twice it would move `$version` twice, and the call fails as
//! [`OutcomeUnknown`](crate::ErrorKind::OutcomeUnknown). [`Fleet::update_twins`] resolves such
//! an item itself, at most [`MAX_RESOLVE_ATTEMPTS`] times:
//!
//! 1. It reads the twin back (the read the call already made, else a `GET`).
//! 2. If every leaf the patch sets under `tags` and `properties.desired` is stored with the
//!    same value (a `null` in the patch: the key is absent), the item counts as applied
//!    ([`Resolution::ReadBack`], [`Progress::read_back`]) and nothing is resent.
//! 3. Otherwise the patch is resent with `If-Match` of the ETag read, so it applies only to
//!    the twin that was read ([`Resolution::Resent`], [`Progress::resent`]). A 412 (another
//!    writer came in between) or another lost answer goes back to step 1.
//!
//! "Present" is evidence, not proof of this run's write: another writer may have set the same
//! values, or this run's patch was applied and then overwritten with the same values. For a
//! fleet rollout that is the wanted outcome (the twin holds the change, applied once by this
//! run at most), but it is not an audit of who wrote it. A patch that removes keys or sets
//! values a twin already had reads back as "present" too. When the item must be attributable,
//! put a value no other writer sends into the patch (a rollout id).
//!
//! Direct methods ([`Fleet::invoke_methods`]) are never resolved this way (a device may run a
//! method twice): a lost answer fails the item as ambiguous. Digital Twins patches
//! ([`Fleet::update_digital_twins`]) are resolved by the client call itself as far as it can
//! prove the outcome.
//!
//! # When a service-side job is the better engine
//!
//! A client-side fleet sees each device's result at once, works with any list of ids, and can
//! be paused and resumed, but every change is one request at the hub's per-operation quota
//! (S1: 50 twin updates/s, so 1 million devices take 5.5 hours). Prefer:
//!
//! * a scheduled job
//!   ([`IotHubClient::schedule_twin_update`](crate::IotHubClient::schedule_twin_update),
//!   [`IotHubClient::schedule_device_method`](crate::IotHubClient::schedule_device_method))
//!   when the same twin patch or method goes to the devices of a query condition and
//!   per-device results can be read later: one request, the hub applies it at its own job rate
//!   (10/s on S1, 50/s/unit on S3), and it continues without the client;
//! * an import job ([`IotHubClient::create_import_job`](crate::IotHubClient::create_import_job))
//!   for identity changes to many devices (create, update, delete; twins with them): one blob,
//!   applied by the hub without the identity registry's 100/min/unit quota.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{Stream, StreamExt as _};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::Error;
use crate::limiter::{RateLimit, RateLimiter};

/// Ids that succeeded in an earlier run (see [`Fleet::resume_from`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The ids whose change succeeded (for [`Fleet::update_digital_twins`], `"{twin id}#{n}"`:
    /// the twin's `n`-th patch in the run's order, from 0).
    pub completed: BTreeSet<String>,
}

impl Checkpoint {
    /// Whether `id` is done.
    pub fn is_done(&self, id: &str) -> bool {
        self.completed.contains(id)
    }
}

/// How an item's outcome was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// The call's answer arrived (or the call itself resolved a lost answer).
    Answered,
    /// The answer of an unconditional twin patch was lost and reading the twin back found
    /// every value the patch sets already stored: counted as applied, not resent. The values
    /// may also have been written by another writer (see [the module docs](self#lost-answers)).
    ReadBack,
    /// The answer of an unconditional twin patch was lost, the twin read back did not hold the
    /// patch's values, and the patch was resent with `If-Match` of the ETag read; `attempts`
    /// resends were made (another read and resend follows a 412).
    Resent {
        /// Resends made (at least 1).
        attempts: u32,
    },
}

/// The result of one item.
#[derive(Debug)]
#[non_exhaustive]
pub struct ItemResult<T> {
    /// The device (or twin) id; empty for a failure of the id source itself (a query page,
    /// see [`Fleet::update_twins_matching`]), after which the run takes no more ids.
    pub id: String,
    /// What the call returned.
    pub result: Result<T, Error>,
    /// How the outcome was established: [`Resolution::Answered`] unless a lost answer was
    /// resolved by the fleet.
    pub resolution: Resolution,
}

/// Progress of a run so far.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Items that succeeded in this run.
    pub done: u64,
    /// Items that failed in this run (a failure of the id source counts as one).
    pub failed: u64,
    /// Items skipped because the checkpoint had them.
    pub skipped: u64,
    /// Items of `done` whose lost answer was resolved by reading the twin back
    /// ([`Resolution::ReadBack`]).
    pub read_back: u64,
    /// Items (done or failed) whose patch was resent after a lost answer
    /// ([`Resolution::Resent`]).
    pub resent: u64,
    /// Throttling signals (429s and retries) the limiter saw during the run.
    pub throttled: u64,
    /// Items in the run (when the id source knew its length), skipped ones included.
    pub total: Option<u64>,
    /// Time since the run started.
    pub elapsed: Duration,
}

impl Progress {
    /// Finished items (done + failed) per second.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            (self.done + self.failed) as f64 / s
        } else {
            0.0
        }
    }

    /// Estimated time to finish, when the total is known and the rate is positive.
    pub fn eta(&self) -> Option<Duration> {
        let total = self.total?;
        let left = total.saturating_sub(self.done + self.failed + self.skipped);
        let r = self.rate();
        (r > 0.0).then(|| Duration::from_secs_f64(left as f64 / r))
    }
}

/// The documented Azure Digital Twins limit of writes to one twin per second (§7.8 of the
/// service notes): the default of [`Fleet::twin_write_rate`].
pub const ADT_WRITES_PER_TWIN: f64 = 10.0;

/// How many times a lost twin patch is read back and resent before the item fails.
pub const MAX_RESOLVE_ATTEMPTS: u32 = 3;

/// Configures a fleet run.
#[derive(Debug, Clone)]
pub struct Fleet {
    limiter: Option<RateLimiter>,
    concurrency: usize,
    checkpoint: Checkpoint,
    twin_write_rate: f64,
}

impl Default for Fleet {
    fn default() -> Self {
        Self::new()
    }
}

/// One unit of work: the call's result and how it was established.
type Work<T> = Pin<Box<dyn Future<Output = (Result<T, Error>, Resolution)> + Send>>;

/// An item of the id source: (id shown in results, checkpoint key, the item's data).
type Entry<X> = Result<(String, String, X), Error>;

impl Fleet {
    /// 16 calls in flight, the client's limiter or an adaptive one, nothing done yet.
    pub fn new() -> Self {
        Self {
            limiter: None,
            concurrency: 16,
            checkpoint: Checkpoint::default(),
            twin_write_rate: ADT_WRITES_PER_TWIN,
        }
    }

    /// Paces the run's calls with `limiter` (shared with whatever else uses it).
    pub fn limiter(mut self, limiter: RateLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// At most `n` items in flight (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Skips the ids `checkpoint` has (from [`FleetRun::checkpoint`] of an earlier run).
    pub fn resume_from(mut self, checkpoint: Checkpoint) -> Self {
        self.checkpoint = checkpoint;
        self
    }

    /// Writes per second to one Digital Twins twin in [`Fleet::update_digital_twins`] (default
    /// [`ADT_WRITES_PER_TWIN`], the documented limit; values that are not finite and positive
    /// keep the current one). Set it lower when other writers update the same twins, or
    /// higher only for an emulator sped up with `throttle_speed`.
    pub fn twin_write_rate(mut self, per_second: f64) -> Self {
        if per_second.is_finite() && per_second > 0.0 {
            self.twin_write_rate = per_second;
        }
        self
    }

    /// Runs `op(id)` for every id, paced and bounded; `op` makes its calls through any client
    /// of this crate (the limiter meters each call by its operation class).
    pub fn run<T, I, F, Fut>(self, ids: I, op: F) -> FleetRun<T>
    where
        T: Send + 'static,
        I: IntoIterator,
        I::Item: Into<String> + Send + 'static,
        I::IntoIter: Send + 'static,
        F: Fn(String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let (ids, total) = from_iter(ids);
        self.start(None, ids, total, move |id, ()| answered(op(id)))
    }

    /// Like [`Fleet::run`], taking the ids from a stream (e.g. [`device_ids`] of a query). An
    /// `Err` from the stream ends the run after an [`ItemResult`] with an empty id carrying it.
    pub fn run_stream<T, S, F, Fut>(self, ids: S, op: F) -> FleetRun<T>
    where
        T: Send + 'static,
        S: Stream<Item = Result<String, Error>> + Send + 'static,
        F: Fn(String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let ids = ids.map(|r| r.map(|id| (id.clone(), id, ())));
        self.start(None, ids, None, move |id, ()| answered(op(id)))
    }

    fn start<T, X, S, F>(
        self,
        client_limiter: Option<RateLimiter>,
        items: S,
        total: Option<u64>,
        mut op: F,
    ) -> FleetRun<T>
    where
        T: Send + 'static,
        X: Send + 'static,
        S: Stream<Item = Entry<X>> + Send + 'static,
        F: FnMut(String, X) -> Work<T> + Send + 'static,
    {
        let limiter = self
            .limiter
            .or(client_limiter)
            .unwrap_or_else(|| RateLimiter::new(RateLimit::adaptive()));
        let state = Arc::new(Mutex::new(State {
            checkpoint: self.checkpoint.clone(),
            done: 0,
            failed: 0,
            skipped: 0,
            read_back: 0,
            resent: 0,
        }));
        let skip = Arc::new(self.checkpoint);
        let st = state.clone();
        let l = limiter.clone();
        let stream = items
            // Nothing after a failure of the id source.
            .scan(false, |failed, item: Entry<X>| {
                let out = (!*failed).then_some(item);
                *failed = out.as_ref().is_some_and(Result::is_err);
                std::future::ready(out)
            })
            .filter(move |item: &Entry<X>| {
                let done = item.as_ref().is_ok_and(|(_, key, _)| skip.is_done(key));
                if done {
                    lock(&st).skipped += 1;
                }
                std::future::ready(!done)
            })
            .map(
                move |item: Entry<X>| -> Pin<Box<dyn Future<Output = _> + Send>> {
                    match item {
                        Ok((id, key, data)) => {
                            let fut = op(id.clone(), data);
                            let l = l.clone();
                            Box::pin(async move {
                                let (result, resolution) = crate::limiter::scope(l, fut).await;
                                let item = ItemResult {
                                    id,
                                    result,
                                    resolution,
                                };
                                (item, Some(key))
                            })
                        }
                        Err(e) => Box::pin(std::future::ready((
                            ItemResult {
                                id: String::new(),
                                result: Err(e),
                                resolution: Resolution::Answered,
                            },
                            None,
                        ))),
                    }
                },
            )
            .buffer_unordered(self.concurrency);
        FleetRun {
            stream: Box::pin(stream),
            state,
            throttled_at_start: limiter.throttled_total(),
            limiter,
            started: Instant::now(),
            total,
        }
    }

    /// Applies `patch` to the twin of every device in `ids` (as
    /// [`IotHubClient::update_twin`](crate::IotHubClient::update_twin), unconditionally).
    ///
    /// A lost answer (dropped connection, 5xx after the hub may have committed) is resolved
    /// by reading the twin back instead of failing the item: see
    /// [Lost answers](self#lost-answers).
    #[cfg(feature = "iothub")]
    pub fn update_twins<I>(
        self,
        client: &crate::IotHubClient,
        ids: I,
        patch: crate::iothub::TwinPatch,
    ) -> FleetRun<crate::Versioned<crate::iothub::Twin>>
    where
        I: IntoIterator,
        I::Item: Into<String> + Send + 'static,
        I::IntoIter: Send + 'static,
    {
        let (ids, total) = from_iter(ids);
        self.update_twins_from(client, ids, total, patch)
    }

    #[cfg(feature = "iothub")]
    fn update_twins_from<S>(
        self,
        client: &crate::IotHubClient,
        ids: S,
        total: Option<u64>,
        patch: crate::iothub::TwinPatch,
    ) -> FleetRun<crate::Versioned<crate::iothub::Twin>>
    where
        S: Stream<Item = Entry<()>> + Send + 'static,
    {
        let c = client.clone();
        let own = client_limiter(client);
        // What the stored twin must hold for a lost patch to count as applied (`None` for a
        // patch that fails validation: every item then fails locally, before sending).
        let expect = patch.to_json().ok().map(Arc::new);
        self.start(own, ids, total, move |id, ()| {
            Box::pin(update_twin_resolved(
                c.clone(),
                id,
                patch.clone(),
                expect.clone(),
            ))
        })
    }

    /// Applies `patch` to the twin of every device a query returns (`FROM devices`; rows must
    /// carry `deviceId`, e.g. `SELECT deviceId FROM devices WHERE tags.site = 'berlin'`), as
    /// [`Fleet::update_twins`] does. The ids are read page by page while the run goes on.
    ///
    /// * IoT Hub queries are eventually consistent: a device created or tagged a moment ago
    ///   may be missing, and one changed since may still be returned. Run again (with
    ///   [`Fleet::resume_from`] the checkpoint's ids are skipped) or patch known ids with
    ///   [`Fleet::update_twins`] when that matters.
    /// * When the patch changes what the query selects on, a resumed run's query naturally
    ///   leaves out the devices already done; either way the checkpoint skips them.
    /// * A failing query page (after the retry policy) ends the run with an [`ItemResult`]
    ///   whose id is empty.
    /// * For very large fleets a scheduled job is the better engine: one request,
    ///   applied by the hub at its job rate without the client, results read later —
    ///   [`IotHubClient::schedule_twin_update`](crate::IotHubClient::schedule_twin_update)
    ///   takes the same condition (the `WHERE` part) and patch (see
    ///   [the module docs](self#when-a-service-side-job-is-the-better-engine)).
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use azure_twins::fleet::Fleet;
    /// use azure_twins::iothub::TwinPatch;
    /// let results = Fleet::new()
    ///     .update_twins_matching(
    ///         &hub,
    ///         "SELECT deviceId FROM devices WHERE tags.site = 'berlin'",
    ///         TwinPatch::new().set_desired("firmware", "2.1.0"),
    ///     )
    ///     .collect_all()
    ///     .await;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "iothub")]
    pub fn update_twins_matching(
        self,
        client: &crate::IotHubClient,
        query: impl Into<String>,
        patch: crate::iothub::TwinPatch,
    ) -> FleetRun<crate::Versioned<crate::iothub::Twin>> {
        let ids = device_ids(client.query(query)).map(|r| r.map(|id| (id.clone(), id, ())));
        self.update_twins_from(client, ids, None, patch)
    }

    /// Invokes direct method `method` with `payload` on every device in `ids`. A method whose
    /// answer is lost is never invoked again (the device may have run it): the item fails
    /// with an [ambiguous](Error::is_ambiguous) error.
    #[cfg(feature = "iothub")]
    pub fn invoke_methods<I>(
        self,
        client: &crate::IotHubClient,
        ids: I,
        method: &str,
        payload: serde_json::Value,
    ) -> FleetRun<crate::iothub::MethodResponse>
    where
        I: IntoIterator,
        I::Item: Into<String> + Send + 'static,
        I::IntoIter: Send + 'static,
    {
        let c = client.clone();
        let method = method.to_owned();
        let own = client_limiter(client);
        let (ids, total) = from_iter(ids);
        self.start(own, ids, total, move |id, ()| {
            answered(
                c.invoke_device_method(id, method.clone())
                    .payload(payload.clone())
                    .send(),
            )
        })
    }

    /// Applies Digital Twins JSON Patches (`(twin id, patch)` pairs; several may go to the
    /// same twin) as [`DigitalTwinsClient::update_twin`](crate::DigitalTwinsClient::update_twin),
    /// respecting the service's limit of writes per twin
    /// ([`Fleet::twin_write_rate`], default 10/s) while the limiter paces the instance-wide
    /// patch rate.
    ///
    /// The patches of one twin are sent one at a time, in the order given, each at least
    /// `1 / twin_write_rate` after the previous one started; patches of different twins run
    /// concurrently. Items of one twin waiting for their turn hold their concurrency slot, so
    /// interleave twins (`a, b, c, a, b, c`) rather than grouping them for throughput. The
    /// run remembers one small entry per distinct twin id until it is dropped.
    ///
    /// The checkpoint keys items as `"{twin id}#{n}"` (the twin's `n`-th patch, from 0):
    /// resume with the same items in the same order per twin. Each item's `id` is the twin id.
    ///
    /// ```no_run
    /// # async fn demo(dt: azure_twins::DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// use azure_twins::digitaltwins::JsonPatch;
    /// use azure_twins::fleet::Fleet;
    /// let items = (0..3).flat_map(|step| {
    ///     ["room-1", "room-2"].map(|id| (id.to_string(), JsonPatch::new().add("/step", step)))
    /// });
    /// let results = Fleet::new().update_digital_twins(&dt, items).collect_all().await;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "digitaltwins")]
    pub fn update_digital_twins<I, S>(
        self,
        client: &crate::DigitalTwinsClient,
        items: I,
    ) -> FleetRun<crate::ETag>
    where
        I: IntoIterator<Item = (S, crate::digitaltwins::JsonPatch)>,
        I::IntoIter: Send + 'static,
        S: Into<String>,
    {
        use std::collections::HashMap;
        use tokio::sync::oneshot;

        let iter = items.into_iter();
        let total = exact_len(&iter);
        let mut seen: HashMap<String, u64> = HashMap::new();
        let items = futures::stream::iter(iter.map(move |(id, patch)| {
            let id: String = id.into();
            let n = seen.entry(id.clone()).or_insert(0);
            let key = format!("{id}#{n}");
            *n += 1;
            Ok((id, key, patch))
        }));
        let c = client.clone();
        let own = {
            use crate::raw::digitaltwins::ClientInfo as _;
            client.raw().inner().options().rate_limiter.clone()
        };
        let interval = Duration::from_secs_f64(1.0 / self.twin_write_rate);
        // Per twin: the receiver that fires (with its start time) when the twin's previous
        // patch has finished. Ops are created in item order, so each twin's chain is too.
        let mut chain: HashMap<String, oneshot::Receiver<Instant>> = HashMap::new();
        self.start(own, items, total, move |id, patch| {
            let (tx, rx) = oneshot::channel();
            let previous = chain.insert(id.clone(), rx);
            let c = c.clone();
            Box::pin(async move {
                if let Some(previous) = previous
                    && let Ok(started) = previous.await
                {
                    tokio::time::sleep_until(started + interval).await;
                }
                let started = Instant::now();
                let result = c.update_twin(id, patch).send().await;
                let _ = tx.send(started);
                (result, Resolution::Answered)
            })
        })
    }
}

/// The device ids of a query's rows (`deviceId` of each row), page by page: an id source for
/// [`Fleet::run_stream`]. See [`Fleet::update_twins_matching`] for what to expect of a query.
///
/// ```no_run
/// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
/// use azure_twins::fleet::{Fleet, device_ids};
/// let ids = device_ids(hub.query("SELECT deviceId FROM devices WHERE tags.site = 'berlin'"));
/// let h = hub.clone();
/// let run = Fleet::new().run_stream(ids, move |id| {
///     let h = h.clone();
///     async move { h.get_twin(id).send().await }
/// });
/// # Ok(()) }
/// ```
#[cfg(feature = "iothub")]
pub fn device_ids(
    query: crate::iothub::builders::Query,
) -> impl Stream<Item = Result<String, Error>> + Send + 'static {
    #[derive(Deserialize)]
    struct Row {
        #[serde(rename = "deviceId")]
        device_id: String,
    }
    query
        .into_stream_as::<Row>()
        .map(|r| r.map(|row| row.device_id))
}

fn from_iter<I>(ids: I) -> (impl Stream<Item = Entry<()>> + Send + 'static, Option<u64>)
where
    I: IntoIterator,
    I::Item: Into<String> + Send + 'static,
    I::IntoIter: Send + 'static,
{
    let iter = ids.into_iter();
    let total = exact_len(&iter);
    let stream = futures::stream::iter(iter.map(|id| {
        let id: String = id.into();
        Ok((id.clone(), id, ()))
    }));
    (stream, total)
}

fn exact_len<I: Iterator>(iter: &I) -> Option<u64> {
    match iter.size_hint() {
        (lo, Some(hi)) if lo == hi => Some(lo as u64),
        _ => None,
    }
}

fn answered<T, Fut>(fut: Fut) -> Work<T>
where
    Fut: Future<Output = Result<T, Error>> + Send + 'static,
{
    Box::pin(async move { (fut.await, Resolution::Answered) })
}

/// One twin patch with lost answers resolved (see the module docs, "Lost answers").
#[cfg(feature = "iothub")]
async fn update_twin_resolved(
    client: crate::IotHubClient,
    id: String,
    patch: crate::iothub::TwinPatch,
    expect: Option<Arc<serde_json::Value>>,
) -> (
    Result<crate::Versioned<crate::iothub::Twin>, Error>,
    Resolution,
) {
    use crate::iothub::Twin;
    type Found = (serde_json::Value, crate::Versioned<Twin>);

    /// The twin the pipeline's own read-back found, when it has one with an ETag.
    fn evidence(err: &Error) -> Option<Found> {
        match err.ambiguity()?.found() {
            crate::ReadBack::Present {
                value,
                etag: Some(etag),
            } => {
                let twin: Twin = serde_json::from_value(value.clone()).ok()?;
                Some((
                    value.clone(),
                    crate::Versioned {
                        value: twin,
                        etag: etag.clone(),
                    },
                ))
            }
            _ => None,
        }
    }

    let first = client
        .update_twin(id.clone())
        .patch(patch.clone())
        .send()
        .await;
    let mut err = match first {
        Err(e) if e.is_ambiguous() => e,
        other => return (other, Resolution::Answered),
    };
    let Some(expect) = expect else {
        return (Err(err), Resolution::Answered);
    };
    let mut found = evidence(&err);
    let mut resends = 0;
    let resolution = |resends| match resends {
        0 => Resolution::Answered,
        n => Resolution::Resent { attempts: n },
    };
    loop {
        let (doc, twin) = match found.take() {
            Some(f) => f,
            None => match client.get_twin(id.clone()).send().await {
                Ok(t) => match serde_json::to_value(&t.value) {
                    Ok(doc) => (doc, t),
                    Err(_) => return (Err(err), resolution(resends)),
                },
                // The read failed: the outcome stays unknown.
                Err(_) => return (Err(err), resolution(resends)),
            },
        };
        if crate::pipeline::holds(&doc, &expect) {
            let how = match resends {
                0 => Resolution::ReadBack,
                n => Resolution::Resent { attempts: n },
            };
            return (Ok(twin), how);
        }
        if resends >= MAX_RESOLVE_ATTEMPTS {
            return (Err(err), resolution(resends));
        }
        resends += 1;
        match client
            .update_twin(id.clone())
            .patch(patch.clone())
            .if_match(&twin.etag)
            .send()
            .await
        {
            Ok(t) => return (Ok(t), resolution(resends)),
            // Another writer changed the twin since the read (412), or this resend's answer
            // was lost too: read again.
            Err(e) if e.is_precondition_failed() || e.is_ambiguous() => {
                found = evidence(&e);
                err = e;
            }
            Err(e) => return (Err(e), resolution(resends)),
        }
    }
}

#[cfg(feature = "iothub")]
fn client_limiter(client: &crate::IotHubClient) -> Option<RateLimiter> {
    use crate::raw::iothub::ClientInfo as _;
    client.raw().inner().options().rate_limiter.clone()
}

struct State {
    checkpoint: Checkpoint,
    done: u64,
    failed: u64,
    skipped: u64,
    read_back: u64,
    resent: u64,
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// A finished item and its checkpoint key (`None` for a failure of the id source).
type Finished<T> = (ItemResult<T>, Option<String>);

/// A running fleet operation: a [`Stream`] of [`ItemResult`]s (in completion order) with
/// [`FleetRun::progress`] and [`FleetRun::checkpoint`]. Nothing runs unless it is polled.
pub struct FleetRun<T> {
    stream: Pin<Box<dyn Stream<Item = Finished<T>> + Send>>,
    state: Arc<Mutex<State>>,
    limiter: RateLimiter,
    throttled_at_start: u64,
    started: Instant,
    total: Option<u64>,
}

impl<T> std::fmt::Debug for FleetRun<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetRun")
            .field("progress", &self.progress())
            .finish_non_exhaustive()
    }
}

impl<T> FleetRun<T> {
    /// Progress so far.
    pub fn progress(&self) -> Progress {
        let s = lock(&self.state);
        Progress {
            done: s.done,
            failed: s.failed,
            skipped: s.skipped,
            read_back: s.read_back,
            resent: s.resent,
            throttled: self
                .limiter
                .throttled_total()
                .saturating_sub(self.throttled_at_start),
            total: self.total,
            elapsed: self.started.elapsed(),
        }
    }

    /// The ids done so far (this run's successes plus the checkpoint it resumed from).
    pub fn checkpoint(&self) -> Checkpoint {
        lock(&self.state).checkpoint.clone()
    }

    /// The limiter pacing the run.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// Runs to the end, returning every item's result.
    pub async fn collect_all(mut self) -> Vec<ItemResult<T>> {
        let mut out = Vec::new();
        while let Some(r) = self.next().await {
            out.push(r);
        }
        out
    }
}

impl<T> Stream for FleetRun<T> {
    type Item = ItemResult<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let (item, key) = match self.stream.as_mut().poll_next(cx) {
            Poll::Ready(Some(finished)) => finished,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let mut s = lock(&self.state);
        match (&item.result, key) {
            (Ok(_), Some(key)) => {
                s.done += 1;
                s.checkpoint.completed.insert(key);
            }
            _ => s.failed += 1,
        }
        match item.resolution {
            Resolution::ReadBack => s.read_back += 1,
            Resolution::Resent { .. } => s.resent += 1,
            Resolution::Answered => {}
        }
        drop(s);
        Poll::Ready(Some(item))
    }
}
