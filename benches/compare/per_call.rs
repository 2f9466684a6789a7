//! Sections 1, 2 and 4 of the comparison: per-call twin GET/PATCH through the facade and bare
//! reqwest (sequential), PATCH throughput at 64 in flight (facade vs reqwest), the per-call cost
//! of the credential path, and how many SAS tokens were signed over the run. `BENCH_CALLS` and
//! `BENCH_PATCHES` override the counts.
//!
//! Fairness on a noisy machine: the variants of one row group run interleaved, in blocks of
//! [`BLOCK`] calls whose order rotates every round, so load changes hit all of them alike; the
//! tables show the median wall time per call and the process CPU time (user+sys of every thread,
//! from `/proc/self/task/*/schedstat`) per call. The emulator runs in the same process, so its
//! CPU time is in every figure (the same for every variant).
//!
//! The raw generated client rows call `hub.raw().devices_get_twin` / `devices_update_twin`
//! (same pipeline: auth, retry, ids, tracing; no facade validation or typed decode of its own).
//!
//! The bare-reqwest baseline is what a small hand-written client does: a shared
//! `reqwest::Client`, a SAS token signed up front sent as `Authorization`, `If-Match: *` on
//! PATCH, and the body decoded into the typed [`Twin`].
//!
//! `BENCH_ONLY=<variant>` (one of [`Kind::NAME`], or `tput_facade` / `tput_bare` for PATCHes at
//! 64 in flight, `tput_<variant>` for any variant at 64 in flight; with `BENCH_SWITCHES` set the
//! context switches of each thread during the burst are printed) runs only `BENCH_CALLS` calls of one variant and prints nothing else, for
//! instruction counts under
//! `valgrind --tool=callgrind` (per-call cost = difference of two runs with different counts).

use std::time::{Duration, Instant, SystemTime};

use azure_twins::auth::{Secret, generate_sas_token};
use azure_twins::iothub::Twin;
use azure_twins::raw::iothub::ClientInfo as _;
use azure_twins::raw::iothub::types as raw;
use azure_twins::{Credential, IotHubClient};
use azure_twins_emulator::Emulator;
use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, IF_MATCH};
use serde_json::json;

use crate::{env, median, time_each};

const API: &str = "2021-04-12";
/// Calls per block in the interleaved sequential rows.
const BLOCK: usize = 20;
/// Blocks per side in the throughput comparison.
const TPUT_ROUNDS: usize = 5;

/// One way of making a twin call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    GetBare,
    GetFacade,
    GetFacadeStatic,
    GetRaw,
    PatchBare,
    PatchFacade,
    PatchRaw,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::GetBare,
        Kind::GetFacade,
        Kind::GetFacadeStatic,
        Kind::GetRaw,
        Kind::PatchBare,
        Kind::PatchFacade,
        Kind::PatchRaw,
    ];
    const NAME: [&'static str; 7] = [
        "get_bare",
        "get_facade",
        "get_facade_static",
        "get_raw",
        "patch_bare",
        "patch_facade",
        "patch_raw",
    ];

    fn name(self) -> &'static str {
        Self::NAME[Self::ALL.iter().position(|k| *k == self).unwrap()]
    }

    fn label(self) -> &'static str {
        match self {
            Kind::GetBare => "twin GET, bare reqwest",
            Kind::GetFacade => "twin GET, facade (SAS key, cached)",
            Kind::GetFacadeStatic => "twin GET, facade (static SAS token)",
            Kind::GetRaw => "twin GET, raw generated client",
            Kind::PatchBare => "twin PATCH, bare reqwest",
            Kind::PatchFacade => "twin PATCH, facade",
            Kind::PatchRaw => "twin PATCH, raw generated client",
        }
    }
}

/// Everything the calls need: the emulator and the clients.
struct Setup {
    emu: Emulator,
    /// Facade with the connection string: signs and caches SAS tokens.
    hub: IotHubClient,
    /// Facade with a pre-made SAS token (no cache lookup, no signing).
    hub_static: IotHubClient,
    http: reqwest::Client,
    auth: String,
    twin_url: String,
}

impl Setup {
    async fn start() -> Setup {
        let emu = Emulator::builder().start().await.unwrap();
        let cs = emu.iothub_connection_string();
        let key = emu.iothub_policy_key("iothubowner").unwrap();
        let host = emu.iothub_host();
        let endpoint = emu.iothub_endpoint();
        let hub = IotHubClient::from_connection_string(&cs).unwrap();
        hub.create_device("bench").send().await.unwrap();
        let token = generate_sas_token(
            &host,
            &Secret::new(key),
            Some("iothubowner"),
            SystemTime::now() + Duration::from_secs(3600),
        )
        .unwrap();
        let hub_static = IotHubClient::builder(endpoint.clone())
            .credential(Credential::sas_token(token.clone()).unwrap())
            .build()
            .unwrap();
        // `BENCH_BARE_CLIENT=facade`: the bare rows use the facade's own `reqwest::Client`
        // (to tell the client configuration apart from the pipeline's work).
        let http = if std::env::var("BENCH_BARE_CLIENT").as_deref() == Ok("facade") {
            hub.raw().client().clone()
        } else {
            reqwest::Client::builder().build().unwrap()
        };
        Setup {
            emu,
            hub,
            hub_static,
            http,
            auth: token.expose_secret().to_owned(),
            twin_url: format!("{endpoint}/twins/bench?api-version={API}"),
        }
    }

    async fn bare_patch(&self, i: usize) {
        // Experiment knob: `BENCH_BARE_SPIN=<n>` adds n iterations of busy work per bare call.
        if let Some(n) = spin() {
            let mut x = 0u64;
            for k in 0..n {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(k));
            }
            std::hint::black_box(x);
        }
        let r = self
            .http
            .patch(&self.twin_url)
            .header(AUTHORIZATION, &self.auth)
            .header(IF_MATCH, "*")
            .json(&json!({"properties": {"desired": {"n": i}}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let _: Twin = r.json().await.unwrap();
    }

    async fn call(&self, kind: Kind, i: usize) {
        match kind {
            Kind::GetBare => {
                let r = self
                    .http
                    .get(&self.twin_url)
                    .header(AUTHORIZATION, &self.auth)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                let _: Twin = r.json().await.unwrap();
            }
            Kind::GetFacade => {
                self.hub.get_twin("bench").send().await.unwrap();
            }
            Kind::GetFacadeStatic => {
                self.hub_static.get_twin("bench").send().await.unwrap();
            }
            Kind::GetRaw => {
                self.hub.raw().devices_get_twin("bench", API).await.unwrap();
            }
            Kind::PatchBare => self.bare_patch(i).await,
            Kind::PatchRaw => {
                let mut desired = serde_json::Map::new();
                desired.insert("n".into(), json!(i));
                let body = raw::Twin {
                    properties: raw::TwinProperties {
                        desired,
                        ..Default::default()
                    },
                    ..raw::Twin::new("bench")
                };
                self.hub
                    .raw()
                    .devices_update_twin("bench", API, Some("*"), &body)
                    .await
                    .unwrap();
            }
            Kind::PatchFacade => {
                self.hub
                    .update_twin("bench")
                    .set_desired("n", i)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// Runs `kinds` interleaved: `calls` timed calls each (after `calls / 10` warm-up calls
    /// each), in blocks of [`BLOCK`] whose order rotates every round. Returns per kind the median
    /// wall time and the mean process CPU time per call.
    async fn interleaved(&self, kinds: &[Kind], calls: usize) -> Vec<(Duration, Duration)> {
        for &k in kinds {
            for i in 0..calls / 10 {
                self.call(k, i).await;
            }
        }
        let mut wall: Vec<Vec<Duration>> = vec![Vec::with_capacity(calls); kinds.len()];
        let mut cpu = vec![Duration::ZERO; kinds.len()];
        let rounds = calls.div_ceil(BLOCK);
        for round in 0..rounds {
            for j in 0..kinds.len() {
                let slot = (j + round) % kinds.len();
                let kind = kinds[slot];
                let c0 = process_cpu();
                for b in 0..BLOCK {
                    let t = Instant::now();
                    self.call(kind, round * BLOCK + b).await;
                    wall[slot].push(t.elapsed());
                }
                cpu[slot] += process_cpu().saturating_sub(c0);
            }
        }
        let n = (rounds * BLOCK) as u32;
        wall.into_iter()
            .zip(cpu)
            .map(|(w, c)| (median(w), c / n))
            .collect()
    }

    /// `n` facade or bare PATCHes at 64 in flight; returns (wall, process CPU).
    async fn burst(&self, facade: bool, n: usize, offset: usize) -> (Duration, Duration) {
        let kind = if facade {
            Kind::PatchFacade
        } else {
            Kind::PatchBare
        };
        self.burst_of(kind, n, offset).await
    }

    /// `n` calls of `kind` at 64 in flight; returns (wall, process CPU).
    async fn burst_of(&self, kind: Kind, n: usize, offset: usize) -> (Duration, Duration) {
        let c0 = process_cpu();
        let t = Instant::now();
        futures::stream::iter(offset..offset + n)
            .map(|i| self.call(kind, i))
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await;
        (t.elapsed(), process_cpu().saturating_sub(c0))
    }
}

/// CPU time (user+sys) used so far by every thread of this process, in nanoseconds resolution:
/// the sum of the first field of `/proc/self/task/*/schedstat`. Zero where that is unavailable.
pub fn process_cpu() -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut ns = 0u64;
    for e in dir.flatten() {
        if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
            ns += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

/// Context switches (voluntary, involuntary) so far per thread of this process, keyed by
/// thread name and id, from `/proc/self/task/*/status`.
fn thread_switches() -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(s) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |k: &str| {
            s.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(str::trim)
                .unwrap_or("")
                .to_owned()
        };
        let n = |k: &str| field(k).parse::<u64>().unwrap_or(0);
        let name = format!("{}/{}", field("Name:"), e.file_name().to_string_lossy());
        out.insert(
            name,
            (
                n("voluntary_ctxt_switches:"),
                n("nonvoluntary_ctxt_switches:"),
            ),
        );
    }
    out
}

fn spin() -> Option<u64> {
    static SPIN: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *SPIN.get_or_init(|| std::env::var("BENCH_BARE_SPIN").ok()?.parse().ok())
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn row(name: &str, (wall, cpu): (Duration, Duration), (bwall, bcpu): (Duration, Duration)) {
    println!(
        "| {name:<38} | {:>7.1} µs | {:>6.3}× | {:>7.1} µs | {:>6.3}× |",
        us(wall),
        wall.as_secs_f64() / bwall.as_secs_f64(),
        us(cpu),
        cpu.as_secs_f64() / bcpu.as_secs_f64().max(1e-12),
    );
}

/// Per-call latency and CPU (facade vs bare reqwest, interleaved), PATCH throughput at 64 in
/// flight, the credential path's per-call cost, and the SAS tokens signed over the run, against
/// one in-process emulator.
pub async fn run() {
    let calls = env("BENCH_CALLS", 2_000);
    let patches = env("BENCH_PATCHES", 10_000);
    let setup = Setup::start().await;

    if let Ok(only) = std::env::var("BENCH_ONLY") {
        // `tput_facade` / `tput_bare`: BENCH_CALLS PATCHes at 64 in flight (throughput shape).
        // `tput_<variant>` (e.g. `tput_patch_raw`): the same for any variant.
        if let Some(side) = only.strip_prefix("tput_") {
            let kind = match side {
                "facade" => Kind::PatchFacade,
                "bare" => Kind::PatchBare,
                other => {
                    Kind::ALL[Kind::NAME
                        .iter()
                        .position(|n| *n == other)
                        .unwrap_or_else(|| panic!("tput_ takes one of {:?}", Kind::NAME))]
                }
            };
            let before = thread_switches();
            let (wall, _) = setup.burst_of(kind, calls, 0).await;
            eprintln!("{calls} PATCHes at 64 in flight ({side}): {wall:?}");
            if std::env::var_os("BENCH_SWITCHES").is_some() {
                // Context switches of each thread during the burst (voluntary, involuntary).
                for (name, (v, i)) in thread_switches() {
                    let (v0, i0) = before.get(&name).copied().unwrap_or_default();
                    eprintln!("  {name}: voluntary {} involuntary {}", v - v0, i - i0);
                }
            }
            setup.emu.shutdown().await;
            std::process::exit(0);
        }
        let Some(kind) = Kind::NAME
            .iter()
            .position(|n| *n == only)
            .map(|i| Kind::ALL[i])
        else {
            panic!("BENCH_ONLY must be one of {:?}", Kind::NAME);
        };
        let m = time_each(calls, |i| setup.call(kind, i)).await;
        eprintln!("{calls} calls of {}: median {:.1} µs", kind.name(), us(m));
        setup.emu.shutdown().await;
        std::process::exit(0); // skip the other sections
    }

    let gets = [
        Kind::GetBare,
        Kind::GetFacade,
        Kind::GetFacadeStatic,
        Kind::GetRaw,
    ];
    let get = setup.interleaved(&gets, calls).await;
    let patch_kinds = [Kind::PatchBare, Kind::PatchFacade, Kind::PatchRaw];
    let patch = setup.interleaved(&patch_kinds, calls).await;

    // Throughput: alternating blocks, order swapped every round.
    let per_round = patches.div_ceil(TPUT_ROUNDS);
    setup.burst(true, per_round / 5, 0).await; // warm-up
    setup.burst(false, per_round / 5, 0).await;
    let (mut fw, mut fc, mut bw, mut bc) = (
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
    );
    let mut round_ratios = Vec::new();
    for round in 0..TPUT_ROUNDS {
        let offset = round * per_round;
        let (f, b) = if round % 2 == 0 {
            let f = setup.burst(true, per_round, offset).await;
            (f, setup.burst(false, per_round, offset).await)
        } else {
            let b = setup.burst(false, per_round, offset).await;
            (setup.burst(true, per_round, offset).await, b)
        };
        fw += f.0;
        fc += f.1;
        bw += b.0;
        bc += b.1;
        round_ratios.push(b.0.as_secs_f64() / f.0.as_secs_f64());
    }
    round_ratios.sort_by(f64::total_cmp);
    let total = (per_round * TPUT_ROUNDS) as f64;
    let (f_tput, b_tput) = (total / fw.as_secs_f64(), total / bw.as_secs_f64());

    println!(
        "Sequential per-call cost, {calls} calls per row, interleaved in blocks of {BLOCK} \
         (median wall time; process CPU time per call, emulator included):"
    );
    println!(
        "| call                                   |     median |   ratio |   CPU/call |   ratio |"
    );
    println!(
        "|----------------------------------------|-----------:|--------:|-----------:|--------:|"
    );
    row(Kind::GetBare.label(), get[0], get[0]);
    row(Kind::GetFacade.label(), get[1], get[0]);
    row(Kind::GetFacadeStatic.label(), get[2], get[0]);
    row(Kind::GetRaw.label(), get[3], get[0]);
    row(Kind::PatchBare.label(), patch[0], patch[0]);
    row(Kind::PatchFacade.label(), patch[1], patch[0]);
    row(Kind::PatchRaw.label(), patch[2], patch[0]);
    println!();
    println!(
        "Throughput, {} twin PATCHes per client, 64 in flight, {TPUT_ROUNDS} alternating rounds:",
        per_round * TPUT_ROUNDS
    );
    println!("| client       |    PATCH/s | ratio | CPU/PATCH | median round ratio |");
    println!("|--------------|-----------:|------:|----------:|-------------------:|");
    println!(
        "| bare reqwest | {b_tput:>10.0} | 1.000 | {:>6.1} µs |                    |",
        us(bc) / total
    );
    println!(
        "| facade       | {f_tput:>10.0} | {:.3} | {:>6.1} µs | {:>18.3} |",
        f_tput / b_tput,
        us(fc) / total,
        round_ratios[round_ratios.len() / 2]
    );
    println!();
    println!(
        "Credential path (section 4): facade GET with the cached SAS authorizer minus with a \
         static token: {:+.1} µs median wall, {:+.1} µs CPU per call.",
        us(get[1].0) - us(get[2].0),
        us(get[1].1) - us(get[2].1),
    );
    crate::auth_cost::run(
        &setup.emu.iothub_endpoint(),
        &setup.emu.iothub_connection_string(),
    )
    .await;
    println!(
        "SAS tokens accepted by the emulator over the run: {} (the facade signs one per 1-hour \
         lifetime; the static-token facade and bare reqwest reuse 1 signed up front)",
        setup.emu.distinct_sas_tokens_seen()
    );
    setup.emu.shutdown().await;
}
