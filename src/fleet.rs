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
pub struct Checkpoint {
    /// The ids whose change succeeded.
    pub completed: BTreeSet<String>,
}

impl Checkpoint {
    /// Whether `id` is done.
    pub fn is_done(&self, id: &str) -> bool {
        self.completed.contains(id)
    }
}

/// The result of one item.
#[derive(Debug)]
pub struct ItemResult<T> {
    /// The device (or twin) id.
    pub id: String,
    /// What the call returned.
    pub result: Result<T, Error>,
}

/// Progress of a run so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Items that succeeded in this run.
    pub done: u64,
    /// Items that failed in this run.
    pub failed: u64,
    /// Items skipped because the checkpoint had them.
    pub skipped: u64,
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

/// Configures a fleet run.
#[derive(Debug, Clone)]
pub struct Fleet {
    limiter: Option<RateLimiter>,
    concurrency: usize,
    checkpoint: Checkpoint,
}

impl Default for Fleet {
    fn default() -> Self {
        Self::new()
    }
}

impl Fleet {
    /// 16 calls in flight, the client's limiter or an adaptive one, nothing done yet.
    pub fn new() -> Self {
        Self {
            limiter: None,
            concurrency: 16,
            checkpoint: Checkpoint::default(),
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
        self.run_with(None, ids, op)
    }

    fn run_with<T, I, F, Fut>(
        self,
        client_limiter: Option<RateLimiter>,
        ids: I,
        op: F,
    ) -> FleetRun<T>
    where
        T: Send + 'static,
        I: IntoIterator,
        I::Item: Into<String> + Send + 'static,
        I::IntoIter: Send + 'static,
        F: Fn(String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let limiter = self
            .limiter
            .or(client_limiter)
            .unwrap_or_else(|| RateLimiter::new(RateLimit::adaptive()));
        let iter = ids.into_iter();
        let total = match iter.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo as u64),
            _ => None,
        };
        let state = Arc::new(Mutex::new(State {
            checkpoint: self.checkpoint.clone(),
            done: 0,
            failed: 0,
            skipped: 0,
        }));
        let skip = Arc::new(self.checkpoint);
        let st = state.clone();
        let l = limiter.clone();
        let stream = futures::stream::iter(iter.map(Into::into))
            .filter(move |id: &String| {
                let done = skip.is_done(id);
                if done {
                    lock(&st).skipped += 1;
                }
                std::future::ready(!done)
            })
            .map(move |id: String| {
                let fut = op(id.clone());
                let l = l.clone();
                async move {
                    let result = crate::limiter::scope(l, fut).await;
                    ItemResult { id, result }
                }
            })
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
        let c = client.clone();
        let own = client_limiter(client);
        self.run_with(own, ids, move |id| {
            let req = c.update_twin(id).patch(patch.clone());
            req.send()
        })
    }

    /// Invokes direct method `method` with `payload` on every device in `ids`.
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
        self.run_with(own, ids, move |id| {
            c.invoke_device_method(id, method.clone())
                .payload(payload.clone())
                .send()
        })
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
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running fleet operation: a [`Stream`] of [`ItemResult`]s (in completion order) with
/// [`FleetRun::progress`] and [`FleetRun::checkpoint`]. Nothing runs unless it is polled.
pub struct FleetRun<T> {
    stream: Pin<Box<dyn Stream<Item = ItemResult<T>> + Send>>,
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
        let polled = self.stream.as_mut().poll_next(cx);
        if let Poll::Ready(Some(item)) = &polled {
            let mut s = lock(&self.state);
            if item.result.is_ok() {
                s.done += 1;
                s.checkpoint.completed.insert(item.id.clone());
            } else {
                s.failed += 1;
            }
        }
        polled
    }
}
