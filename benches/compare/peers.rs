//! Section 5 of the comparison: the official Python SDKs (`azure-iot-hub`,
//! `azure-digitaltwins-core`) against the facade, doing the same work against the same emulator
//! over HTTPS: twin GET and twin PATCH on IoT Hub and ADT at several concurrencies (Python:
//! threads, one SDK client each; facade: one client, that many requests in flight), and a full
//! query over all twins with page size 1,000.
//!
//! `azure-iot-hub`'s `IoTHubRegistryManager` leaves msrest's `keep_alive` off, so as shipped it
//! opens a new HTTPS connection (and TLS handshake) for every call; its rows are shown both as
//! shipped and with `keep_alive` switched on (see `benches/peers/peers.py`).
//!
//! The emulator runs in a child process with TLS (see `streaming::ChildEmulator`), so each
//! client's CPU time is its own: Python's `time.process_time()`, the bench process's
//! `/proc/self/stat`. The Python side is `benches/peers/peers.py`, run with the venv made by
//! `benches/peers/setup.sh` (default `<repo>/target/peers-venv`, or `$PEERS_VENV`); without it
//! this section prints how to create it and is skipped.
//!
//! `BENCH_PEER_OPS` (default 1,000 per operation and concurrency), `BENCH_PEER_THREADS`
//! (default `1,4,16,64`) and `BENCH_PEER_QUERY` (twins in the query, default 10,000).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use azure_twins::digitaltwins::{DigitalTwinsClient, JsonPatch};
use azure_twins::{Error, IotHubClient};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use crate::env;
use crate::streaming::{ChildEmulator, ChildOptions, self_cpu_secs};

/// Devices / ADT twins the GETs and PATCHes cycle over.
const TARGETS: usize = 64;
/// Page size of the query runs.
const PAGE: u32 = 1_000;
/// The ADT listener's bearer token (Python passes it through a static TokenCredential).
const ADT_TOKEN: &str = "bench-peers-token";

/// One measured run.
#[derive(Debug, Clone, Default)]
struct Run {
    op: String,
    threads: usize,
    ops: usize,
    ops_per_s: f64,
    cpu_us_per_op: f64,
    errors: Vec<String>,
}

fn venv() -> PathBuf {
    std::env::var_os("PEERS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/peers-venv"))
}

/// Runs the Python workload against `emu` and parses its JSON.
fn python_runs(
    python: &PathBuf,
    emu: &ChildEmulator,
    ops: usize,
    threads: &[usize],
) -> Result<(Vec<Run>, Value), String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/peers/peers.py");
    let list = threads
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let out = Command::new(python)
        .arg(&script)
        .env("IOTHUB_CONNECTION_STRING", &emu.iothub_cs)
        .env("ADT_ENDPOINT", &emu.adt_endpoint)
        .env("ADT_TOKEN", ADT_TOKEN)
        .env("REQUESTS_CA_BUNDLE", emu.ca_path.as_ref().unwrap())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("PEER_OPS", ops.to_string())
        .env("PEER_THREADS", list)
        .env("PEER_DEVICES", TARGETS.to_string())
        .env("PEER_QUERY_PAGE", PAGE.to_string())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!("{} exited with {}", script.display(), out.status));
    }
    let doc: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("peers.py printed no JSON ({e})"))?;
    let runs = doc["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Run {
            op: r["op"].as_str().unwrap_or_default().to_owned(),
            threads: r["threads"].as_u64().unwrap_or(0) as usize,
            ops: r["ops"].as_u64().unwrap_or(0) as usize,
            ops_per_s: r["ops_per_s"].as_f64().unwrap_or(0.0),
            cpu_us_per_op: r["cpu_us_per_op"].as_f64().unwrap_or(0.0),
            errors: r["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect(),
        })
        .collect();
    Ok((runs, doc))
}

/// `ops` calls of `call`, `threads` in flight, after `threads` untimed warm-up calls.
async fn facade_calls<F, Fut>(op: &str, ops: usize, threads: usize, call: F) -> Run
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let warm: Vec<_> = futures::stream::iter(0..threads)
        .map(&call)
        .buffer_unordered(threads)
        .collect()
        .await;
    let mut errors: Vec<String> = warm
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .collect();
    let (t, cpu0) = (Instant::now(), self_cpu_secs());
    let results: Vec<_> = futures::stream::iter(0..ops)
        .map(&call)
        .buffer_unordered(threads)
        .collect()
        .await;
    let (wall, cpu) = (t.elapsed().as_secs_f64(), self_cpu_secs() - cpu0);
    errors.extend(
        results
            .into_iter()
            .filter_map(|r| r.err().map(|e| e.to_string())),
    );
    errors.truncate(3);
    Run {
        op: op.to_owned(),
        threads,
        ops,
        ops_per_s: ops as f64 / wall,
        cpu_us_per_op: cpu / ops as f64 * 1e6,
        errors,
    }
}

/// One full query, after an untimed one.
async fn facade_query<F, Fut>(op: &str, query: F) -> Run
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<usize, Error>>,
{
    let mut errors = Vec::new();
    if let Err(e) = query().await {
        errors.push(e.to_string());
    }
    let (t, cpu0) = (Instant::now(), self_cpu_secs());
    let n = query().await.unwrap_or_else(|e| {
        errors.push(e.to_string());
        0
    });
    let (wall, cpu) = (t.elapsed().as_secs_f64(), self_cpu_secs() - cpu0);
    Run {
        op: op.to_owned(),
        threads: 1,
        ops: n,
        ops_per_s: n as f64 / wall,
        cpu_us_per_op: if n == 0 { 0.0 } else { cpu / n as f64 * 1e6 },
        errors,
    }
}

/// How many items a query stream yields (each one decoded, none kept).
async fn count<T>(stream: impl futures::Stream<Item = Result<T, Error>>) -> Result<usize, Error> {
    stream.try_fold(0, |n, _| async move { Ok(n + 1) }).await
}

async fn facade_runs(
    hub: &IotHubClient,
    dt: &DigitalTwinsClient,
    ops: usize,
    threads: &[usize],
) -> Vec<Run> {
    let id = |i: usize| format!("peer-{}", i % TARGETS);
    let mut runs = Vec::new();
    for &t in threads {
        runs.push(
            facade_calls("iothub_get", ops, t, |i| async move {
                hub.get_twin(id(i)).send().await.map(drop)
            })
            .await,
        );
    }
    for &t in threads {
        runs.push(
            facade_calls("iothub_patch", ops, t, |i| async move {
                hub.update_twin(id(i))
                    .set_desired("n", i)
                    .send()
                    .await
                    .map(drop)
            })
            .await,
        );
    }
    for &t in threads {
        runs.push(
            facade_calls("adt_get", ops, t, |i| async move {
                dt.get_twin(id(i)).send().await.map(drop)
            })
            .await,
        );
    }
    for &t in threads {
        runs.push(
            facade_calls("adt_patch", ops, t, |i| async move {
                dt.update_twin(id(i), JsonPatch::new().replace("/temperature", i as f64))
                    .send()
                    .await
                    .map(drop)
            })
            .await,
        );
    }
    runs.push(
        facade_query("iothub_query", || {
            count(
                hub.query("SELECT * FROM devices")
                    .page_size(PAGE)
                    .into_stream(),
            )
        })
        .await,
    );
    runs.push(
        facade_query("adt_query", || {
            count(
                dt.query("SELECT * FROM DIGITALTWINS")
                    .page_size(PAGE)
                    .into_stream(),
            )
        })
        .await,
    );
    runs
}

/// (Python operation, the facade operation doing the same work, row name).
const OPS: [(&str, &str, &str); 9] = [
    (
        "iothub_get",
        "iothub_get",
        "IoT Hub twin GET (SDK default: new connection per call)",
    ),
    (
        "iothub_get_keep_alive",
        "iothub_get",
        "IoT Hub twin GET (msrest keep_alive on)",
    ),
    (
        "iothub_patch",
        "iothub_patch",
        "IoT Hub twin PATCH (SDK default)",
    ),
    (
        "iothub_patch_keep_alive",
        "iothub_patch",
        "IoT Hub twin PATCH (keep_alive on)",
    ),
    ("adt_get", "adt_get", "ADT twin GET"),
    ("adt_patch", "adt_patch", "ADT twin PATCH (JSON Patch)"),
    (
        "iothub_query",
        "iothub_query",
        "IoT Hub query, all twins (SDK default)",
    ),
    (
        "iothub_query_keep_alive",
        "iothub_query",
        "IoT Hub query, all twins (keep_alive on)",
    ),
    ("adt_query", "adt_query", "ADT query, all twins"),
];

fn print_tables(py: &[Run], rs: &[Run]) {
    println!(
        "Every run (Python: threads with one SDK client each; facade: one client, that many in flight; queries: items/s):"
    );
    println!(
        "| operation | concurrency | ops | Python ops/s | facade ops/s | facade ÷ Python | Python CPU µs/op | facade CPU µs/op | Python ÷ facade CPU |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (pop, fop, name) in OPS {
        for p in py.iter().filter(|r| r.op == pop) {
            let Some(f) = rs.iter().find(|r| r.op == fop && r.threads == p.threads) else {
                continue;
            };
            println!(
                "| {name} | {} | {} | {:.0} | {:.0} | {:.2}× | {:.0} | {:.1} | {:.1}× |",
                p.threads,
                p.ops,
                p.ops_per_s,
                f.ops_per_s,
                f.ops_per_s / p.ops_per_s,
                p.cpu_us_per_op,
                f.cpu_us_per_op,
                p.cpu_us_per_op / f.cpu_us_per_op
            );
        }
    }
    println!();
    println!("Best of each (Python at its best thread count; the facade at the same concurrency):");
    println!(
        "| operation | best Python concurrency | Python ops/s | facade ops/s | facade ÷ Python | facade's own best (concurrency) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (pop, fop, name) in OPS {
        let best = |runs: &[Run], op: &str| {
            runs.iter()
                .filter(|r| r.op == op && r.errors.is_empty())
                .max_by(|a, b| a.ops_per_s.total_cmp(&b.ops_per_s))
                .cloned()
        };
        let (Some(p), Some(fb)) = (best(py, pop), best(rs, fop)) else {
            continue;
        };
        let Some(f) = rs.iter().find(|r| r.op == fop && r.threads == p.threads) else {
            continue;
        };
        println!(
            "| {name} | {} | {:.0} | {:.0} | {:.2}× | {:.0} ({}) |",
            p.threads,
            p.ops_per_s,
            f.ops_per_s,
            f.ops_per_s / p.ops_per_s,
            fb.ops_per_s,
            fb.threads
        );
    }
    for r in py.iter().chain(rs) {
        if !r.errors.is_empty() {
            println!("errors in {} at {}: {:?}", r.op, r.threads, r.errors);
        }
    }
}

/// Runs the Python SDKs and the facade over the same HTTPS emulator and prints the tables.
pub async fn run() {
    let venv = venv();
    let python = venv.join("bin/python");
    if !python.exists() {
        println!(
            "Section 5 (Python SDK peers) skipped: no venv at {}. Create it with\n    sh benches/peers/setup.sh\n(pinned azure-iot-hub and azure-digitaltwins-core from benches/peers/requirements.txt; \
             or point PEERS_VENV at such a venv) and run the bench again.\n",
            venv.display()
        );
        return;
    }
    let ops = env("BENCH_PEER_OPS", 1_000);
    let query = env("BENCH_PEER_QUERY", 10_000).max(TARGETS);
    let threads: Vec<usize> = std::env::var("BENCH_PEER_THREADS")
        .unwrap_or_else(|_| "1,4,16,64".into())
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .filter(|&t| t > 0)
        .collect();
    let emu = ChildEmulator::spawn(&ChildOptions {
        tls: true,
        devices: query,
        adt_twins: query,
        adt_token: Some(ADT_TOKEN.into()),
    });
    println!(
        "Python SDK peers: emulator child {} over HTTPS ({} devices and ADT twins, seeded in {:.1} s); {ops} operations per row, GET/PATCH over {TARGETS} twins, queries page size {PAGE}",
        emu.pid(),
        query,
        emu.seed_secs
    );
    // Blocking on purpose: while Python runs, nothing else in this process does.
    let (py, doc) = match python_runs(&python, &emu, ops, &threads) {
        Ok(r) => r,
        Err(e) => {
            println!("Section 5 skipped: the Python workload failed: {e}\n");
            return;
        }
    };
    println!(
        "Python {} with {}",
        doc["python"].as_str().unwrap_or("?"),
        doc["versions"]
    );
    let hub = emu.iothub_client();
    let dt = emu.adt_client(ADT_TOKEN);
    let rs = facade_runs(&hub, &dt, ops, &threads).await;
    print_tables(&py, &rs);
    println!();
}
