//! Schedule a twin-update job and a direct-method job, wait for them, and cancel one, against
//! the local emulator.
//!
//! ```text
//! cargo run --example iothub_schedule_jobs
//! ```

use std::time::Duration;

use azure_twins::IotHubClient;
use azure_twins::iothub::{DeviceMethod, JobStatus, TwinPatch};
use azure_twins_emulator::Emulator;
use futures::TryStreamExt;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::builder().start().await?;
    let hub = IotHubClient::from_connection_string(&emu.iothub_connection_string())?;

    for id in ["pump-1", "pump-2", "pump-3"] {
        hub.create_device(id).send().await?;
        hub.update_twin(id)
            .tags(json!({ "kind": "pump" }))
            .send()
            .await?;
        // The emulator answers direct methods for devices that registered a handler.
        emu.register_method_handler(id, None, "restart", |payload| {
            (200, json!({ "restarted": true, "after": payload }))
        });
    }

    // A twin update on every pump, starting now, then wait until it finishes.
    hub.schedule_twin_update(
        "fw-2-1",
        "tags.kind = 'pump'",
        TwinPatch::new().desired(json!({ "firmware": "2.1" })),
    )
    .max_execution_time(Duration::from_secs(300))
    .send()
    .await?;
    let done = hub
        .wait_for_job("fw-2-1")
        .poll_every(Duration::from_millis(100))
        .await?;
    println!(
        "fw-2-1: {} {:?}",
        done.status.unwrap(),
        done.device_job_statistics
    );
    println!(
        "pump-2 firmware: {}",
        hub.get_twin("pump-2")
            .send()
            .await?
            .value
            .properties
            .desired["firmware"]
    );

    // A direct method on every pump.
    hub.schedule_device_method(
        "restart-pumps",
        "tags.kind = 'pump'",
        DeviceMethod::new("restart").payload(json!({ "delay": 1 })),
    )
    .send()
    .await?;
    let done = hub
        .wait_for_job("restart-pumps")
        .poll_every(Duration::from_millis(100))
        .await?;
    println!(
        "restart-pumps: {} {:?}",
        done.status.unwrap(),
        done.device_job_statistics
    );

    // A job for tomorrow, cancelled.
    hub.schedule_twin_update(
        "tomorrow",
        "tags.kind = 'pump'",
        TwinPatch::new().desired(json!({ "mode": "eco" })),
    )
    .start_at(chrono::Utc::now() + chrono::Duration::days(1))
    .send()
    .await?;
    let cancelled = hub.cancel_job("tomorrow").send().await?;
    println!("tomorrow: {}", cancelled.status.unwrap());

    let finished: Vec<_> = hub
        .list_jobs()
        .status(JobStatus::Completed)
        .into_stream()
        .try_collect()
        .await?;
    println!(
        "completed jobs: {:?}",
        finished
            .iter()
            .map(|j| j.job_id.as_str())
            .collect::<Vec<_>>()
    );

    emu.shutdown().await;
    Ok(())
}
