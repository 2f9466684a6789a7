//! Issue 15: twin updates over many devices against the emulator throttled at documented
//! rates (S1×1: 50 updates/s, S3×1: 250 updates/s; speed factor 1), over HTTPS, four ways:
//!
//! * `fleet`: `Fleet::update_twins` with `RateLimit::iothub(tier, 1)`, 16 in flight;
//! * `facade-64`: plain `update_twin` calls, no limiter, 64 in flight (the pipeline's default
//!   retries absorb 429s);
//! * `facade-512`: the same with 512 in flight (more than the hub's burst + queue);
//! * `python-64`: the official Python SDK (azure-iot-hub `IoTHubRegistryManager.update_twin`)
//!   from a `ThreadPoolExecutor(64)` (`benches/fleet/python_sdk.py`, run with the venv of
//!   `benches/peers/setup.sh`: `$PEERS_VENV` or `<repo>/target/peers-venv`; skipped with the
//!   reason when it is missing). The SDK does not retry 429: a refused call is a failed item;
//! * `python-512` (S1 only): the same with 512 threads, more than the hub's burst + queue.
//!
//! Reports the achieved rate as a share of the quota (goal ≥ 0.95 for `fleet`), the hub's 429s
//! (the emulator throttle's refusals) and their share of the requests it metered (goal ≤ 0.5 %),
//! failed items and wall time. `cargo bench --bench fleet`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use azure_twins::fleet::Fleet;
use azure_twins::iothub::{BulkOperation, Device, TwinPatch};
use azure_twins::limiter::{RateLimit, RateLimiter, Tier};
use azure_twins::{ClientOptions, Credential, IotHubClient};
use azure_twins_emulator::{Emulator, OpClass};
use futures::StreamExt as _;

struct Row {
    tier: &'static str,
    mode: &'static str,
    devices: usize,
    secs: f64,
    share: f64,
    throttled: f64,
    refused: u64,
    failed: usize,
}

fn venv() -> PathBuf {
    std::env::var_os("PEERS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/peers-venv"))
}

/// The Python interpreter of the peers venv, if it has the SDK; else why not.
fn python_sdk() -> Result<PathBuf, String> {
    let python = venv().join("bin/python");
    if !python.exists() {
        return Err(format!(
            "no venv at {} (create it with `sh benches/peers/setup.sh`, or set PEERS_VENV)",
            venv().display()
        ));
    }
    let ok = Command::new(&python)
        .args(["-c", "import azure.iot.hub"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !ok.success() {
        return Err(format!("{} cannot import azure.iot.hub", python.display()));
    }
    Ok(python)
}

/// Runs `benches/fleet/python_sdk.py` over `devices` devices with `threads` threads; its failed
/// items.
fn python_run(
    python: &PathBuf,
    cs: &str,
    ca_path: &PathBuf,
    devices: usize,
    threads: usize,
) -> Result<usize, String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/fleet/python_sdk.py");
    let out = Command::new(python)
        .arg(&script)
        .env("IOTHUB_CONNECTION_STRING", cs)
        .env("REQUESTS_CA_BUNDLE", ca_path)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("FLEET_DEVICES", devices.to_string())
        .env("FLEET_THREADS", threads.to_string())
        .env("FLEET_VALUE", format!("python-{threads}"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!("{} exited with {}", script.display(), out.status));
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("python_sdk.py printed no JSON ({e})"))?;
    eprintln!(
        "python: {} with {}; failed by status {}; first errors {}",
        doc["python"], doc["sdk"], doc["failed_by_status"], doc["first_errors"]
    );
    Ok(doc["failed"].as_u64().unwrap_or(0) as usize)
}

async fn tier_run(
    tier: Tier,
    emu_tier: azure_twins_emulator::Tier,
    name: &'static str,
    quota: f64,
    devices: usize,
    rows: &mut Vec<Row>,
) -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::builder()
        .iothub_tier(emu_tier, 1)
        .tls(true)
        .start()
        .await?;
    let cs = emu.iothub_connection_string();
    let ca = emu
        .ca_certificate_pem()
        .ok_or("TLS emulator without a certificate")?;
    let ca_path = std::env::temp_dir().join(format!("fleet-bench-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_path, &ca)?;
    let client = || {
        IotHubClient::builder(emu.iothub_endpoint())
            .credential(Credential::from_connection_string(&cs)?)
            .options(ClientOptions::default().add_root_certificate_pem(ca.clone()))
            .build()
    };
    let hub = client()?;
    let python = python_sdk();
    let ids: Vec<String> = (0..devices).map(|i| format!("d{i:05}")).collect();
    for chunk in ids.chunks(100) {
        let ops = chunk
            .iter()
            .map(|id| BulkOperation::create(Device::new(id.clone())))
            .collect();
        hub.bulk_registry(ops).send().await?;
    }
    let mut previous: Option<&str> = None;
    let modes: &[&'static str] = if name == "S1x1" {
        &[
            "fleet",
            "facade-64",
            "facade-512",
            "python-64",
            "python-512",
        ]
    } else {
        &["fleet", "facade-64", "facade-512", "python-64"]
    };
    for &mode in modes {
        let python = match (mode, &python) {
            (m, Err(why)) if m.starts_with("python") => {
                println!("{name} {m} skipped: {why}");
                continue;
            }
            (_, p) => p.clone().ok(),
        };
        // Let the hub's bucket refill between runs: 1 s of burst, plus the queue (at most 5 s of
        // the rate) after a 512-in-flight run, the ones that fill it.
        let drain = if matches!(previous, Some("facade-512" | "python-512")) {
            6.0
        } else {
            1.5
        };
        tokio::time::sleep(Duration::from_secs_f64(drain)).await;
        previous = Some(mode);
        let before = emu.throttle().class_stats(OpClass::TwinUpdate);
        let patch = TwinPatch::new().set_desired("mode", mode);
        let start = Instant::now();
        let failed = match mode {
            "fleet" => {
                let run = Fleet::new()
                    .limiter(RateLimiter::new(RateLimit::iothub(tier, 1)))
                    .concurrency(16)
                    .update_twins(&hub, ids.clone(), patch);
                run.collect_all()
                    .await
                    .iter()
                    .filter(|r| r.result.is_err())
                    .count()
            }
            "python-64" | "python-512" => {
                let python = python.expect("checked above");
                let (cs, ca_path) = (cs.clone(), ca_path.clone());
                let threads = if mode == "python-64" { 64 } else { 512 };
                // Blocking in its own thread: the in-process emulator keeps serving.
                let r = tokio::task::spawn_blocking(move || {
                    python_run(&python, &cs, &ca_path, devices, threads)
                })
                .await?;
                match r {
                    Ok(failed) => failed,
                    Err(why) => {
                        println!("{name} {mode} skipped: {why}");
                        continue;
                    }
                }
            }
            _ => {
                let n = if mode == "facade-64" { 64 } else { 512 };
                let plain = client()?;
                futures::stream::iter(ids.clone())
                    .map(|id| {
                        let req = plain.update_twin(id).patch(patch.clone());
                        req.send()
                    })
                    .buffer_unordered(n)
                    .filter(|r| std::future::ready(r.is_err()))
                    .count()
                    .await
            }
        };
        let secs = start.elapsed().as_secs_f64();
        let after = emu.throttle().class_stats(OpClass::TwinUpdate);
        let total = (after.immediate + after.queued + after.rejected)
            - (before.immediate + before.queued + before.rejected);
        let rejected = after.rejected - before.rejected;
        rows.push(Row {
            tier: name,
            mode,
            devices,
            secs,
            share: devices as f64 / secs / quota,
            throttled: rejected as f64 / total.max(1) as f64,
            refused: rejected,
            failed,
        });
        let r = rows.last().unwrap();
        eprintln!(
            "{} {:<10} {} devices {:.1}s rate/quota {:.3} 429s {} ({:.2}%) failed {}",
            r.tier,
            r.mode,
            r.devices,
            r.secs,
            r.share,
            r.refused,
            r.throttled * 100.0,
            r.failed
        );
    }
    let _ = std::fs::remove_file(&ca_path);
    emu.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    tier_run(
        Tier::S1,
        azure_twins_emulator::Tier::S1,
        "S1x1",
        50.0,
        750,
        &mut rows,
    )
    .await?;
    tier_run(
        Tier::S3,
        azure_twins_emulator::Tier::S3,
        "S3x1",
        250.0,
        2250,
        &mut rows,
    )
    .await?;
    println!(
        "| hub | client | devices | seconds | rate / quota | 429s (refused by the hub) | items failed |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.1} | {:.3} | {} ({:.2} %) | {} |",
            r.tier,
            r.mode,
            r.devices,
            r.secs,
            r.share,
            r.refused,
            r.throttled * 100.0,
            r.failed
        );
    }
    Ok(())
}
