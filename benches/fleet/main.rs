//! Issue 15: twin updates over many devices against the emulator throttled at documented
//! rates (S1×1: 50 updates/s, S3×1: 250 updates/s; speed factor 1), three ways:
//!
//! * `fleet`: `Fleet::update_twins` with `RateLimit::iothub(tier, 1)`, 16 in flight;
//! * `facade-64`: plain `update_twin` calls, no limiter, 64 in flight (the pipeline's default
//!   retries absorb 429s);
//! * `facade-512`: the same with 512 in flight (more than the hub's burst + queue).
//!
//! Reports the achieved rate as a share of the quota (goal ≥ 0.95 for `fleet`) and the share
//! of requests the hub's throttle refused (goal ≤ 0.5 %). `cargo bench --bench fleet`.

use std::time::{Duration, Instant};

use azure_twins::fleet::Fleet;
use azure_twins::iothub::{BulkOperation, Device, TwinPatch};
use azure_twins::limiter::{RateLimit, RateLimiter, Tier};
use azure_twins::{ClientOptions, IotHubClient};
use azure_twins_emulator::{Emulator, OpClass};
use futures::StreamExt as _;

struct Row {
    tier: &'static str,
    mode: &'static str,
    devices: usize,
    secs: f64,
    share: f64,
    throttled: f64,
    failed: usize,
}

async fn tier_run(
    tier: Tier,
    emu_tier: azure_twins_emulator::Tier,
    name: &'static str,
    quota: f64,
    devices: usize,
    rows: &mut Vec<Row>,
) -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::builder().iothub_tier(emu_tier, 1).start().await?;
    let cs = emu.iothub_connection_string();
    let hub = IotHubClient::from_connection_string(&cs)?;
    let ids: Vec<String> = (0..devices).map(|i| format!("d{i:05}")).collect();
    for chunk in ids.chunks(100) {
        let ops = chunk
            .iter()
            .map(|id| BulkOperation::create(Device::new(id.clone())))
            .collect();
        hub.bulk_registry(ops).send().await?;
    }
    for mode in ["fleet", "facade-64", "facade-512"] {
        // Let the hub's queue drain between runs (at most 5 s of the rate).
        tokio::time::sleep(Duration::from_secs(6)).await;
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
            _ => {
                let n = if mode == "facade-64" { 64 } else { 512 };
                let plain = IotHubClient::from_connection_string_with_options(
                    &cs,
                    ClientOptions::default(),
                )?;
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
            failed,
        });
        let r = rows.last().unwrap();
        eprintln!(
            "{} {:<10} {} devices {:.1}s rate/quota {:.3} throttled {:.2}% failed {}",
            r.tier,
            r.mode,
            r.devices,
            r.secs,
            r.share,
            r.throttled * 100.0,
            r.failed
        );
    }
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
        1000,
        &mut rows,
    )
    .await?;
    tier_run(
        Tier::S3,
        azure_twins_emulator::Tier::S3,
        "S3x1",
        250.0,
        3000,
        &mut rows,
    )
    .await?;
    println!(
        "| hub | client | devices | seconds | rate / quota | refused by the hub | items failed |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.1} | {:.3} | {:.2} % | {} |",
            r.tier,
            r.mode,
            r.devices,
            r.secs,
            r.share,
            r.throttled * 100.0,
            r.failed
        );
    }
    Ok(())
}
