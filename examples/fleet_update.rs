//! A fleet twin update at the hub's quota, with a progress bar, against the embedded emulator
//! throttled like an S1 hub (50 twin updates/s): 500 devices, about 10 s. The emulator's
//! throttle counts show that the hub never had to refuse a request.
//!
//! ```text
//! cargo run --example fleet_update
//! ```

use std::time::Duration;

use azure_twins::IotHubClient;
use azure_twins::fleet::Fleet;
use azure_twins::iothub::{BulkOperation, Device, TwinPatch};
use azure_twins::limiter::{OpClass, RateLimit, RateLimiter, Tier};
use azure_twins_emulator::Emulator;
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};

const DEVICES: usize = 500;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::builder()
        .iothub_tier(azure_twins_emulator::Tier::S1, 1)
        .start()
        .await?;
    let hub = IotHubClient::from_connection_string(&emu.iothub_connection_string())?;

    // Devices in bulk calls of 100 (one identity registry operation each: S1 allows 100/min).
    let ids: Vec<String> = (0..DEVICES).map(|i| format!("sensor-{i:04}")).collect();
    for chunk in ids.chunks(100) {
        let ops = chunk
            .iter()
            .map(|id| BulkOperation::create(Device::new(id.clone())))
            .collect();
        hub.bulk_registry(ops).send().await?;
    }

    let limiter = RateLimiter::new(RateLimit::iothub(Tier::S1, 1));
    let patch = TwinPatch::new().set_desired("firmware", "2.1.0");
    let mut run = Fleet::new()
        .limiter(limiter.clone())
        .concurrency(16)
        .update_twins(&hub, ids.clone(), patch);

    let bar = ProgressBar::new(DEVICES as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")?);
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut failures = Vec::new();
    while let Some(item) = run.next().await {
        if let Err(e) = item.result {
            failures.push((item.id, e));
        }
        let p = run.progress();
        bar.set_position(p.done + p.failed);
        bar.set_message(format!(
            "{:.1}/s, {} failed, {} throttled, ETA {:.0?}",
            p.rate(),
            p.failed,
            p.throttled,
            p.eta().unwrap_or_default()
        ));
    }
    bar.finish();

    let p = run.progress();
    let hub_side = emu
        .throttle()
        .class_stats(azure_twins_emulator::OpClass::TwinUpdate);
    println!(
        "{} updated ({} lost answers resolved by read-back, {} resent with If-Match), {} failed in {:.1?} ({:.1}/s of a 50/s quota); hub throttle: {} served at once, {} queued, {} refused; client rate now {:?}/s",
        p.done,
        p.read_back,
        p.resent,
        p.failed,
        p.elapsed,
        p.rate(),
        hub_side.immediate,
        hub_side.queued,
        hub_side.rejected,
        limiter.stats(OpClass::TwinUpdate).rate,
    );
    for (id, e) in failures {
        println!("{id}: {e}");
    }
    // A checkpoint to resume from (store it as JSON).
    let checkpoint = serde_json::to_string(&run.checkpoint())?;
    println!("checkpoint: {} bytes", checkpoint.len());
    emu.shutdown().await;
    Ok(())
}
