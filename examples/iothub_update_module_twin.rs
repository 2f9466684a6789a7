//! Update a module twin with optimistic concurrency, against the local emulator.
//!
//! ```text
//! cargo run --example iothub_update_module_twin
//! ```
//!
//! Against a real hub, build the client with
//! `IotHubClient::from_connection_string(&std::env::var("IOTHUB_CONNECTION_STRING")?)`.

use azure_twins::IotHubClient;
use azure_twins_emulator::Emulator;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::builder().start().await?;
    let hub = IotHubClient::from_connection_string(&emu.iothub_connection_string())?;

    hub.create_device("dev-1").send().await?;
    hub.create_module("dev-1", "mod-a").send().await?;

    // Read, then write only if nobody changed the twin in between.
    let current = hub.get_module_twin("dev-1", "mod-a").send().await?;
    let updated = hub
        .update_module_twin("dev-1", "mod-a")
        .desired(json!({ "telemetry": { "interval": 30, "unit": "s" } }))
        .tags(json!({ "site": "berlin" }))
        .if_match(&current.etag)
        .send()
        .await?;
    println!("updated: etag {} -> {}", current.etag, updated.etag);
    println!(
        "desired telemetry: {}",
        updated.value.properties.desired["telemetry"]
    );

    // Remove a key explicitly (sent as null); other keys stay.
    let trimmed = hub
        .update_module_twin("dev-1", "mod-a")
        .remove_desired("telemetry.unit")
        .if_match(&updated.etag)
        .send()
        .await?;
    println!(
        "after removal: {}",
        trimmed.value.properties.desired["telemetry"]
    );

    // Writing with the stale etag is refused by the service.
    let err = hub
        .update_module_twin("dev-1", "mod-a")
        .desired(json!({ "telemetry": { "interval": 99 } }))
        .if_match(&current.etag)
        .send()
        .await
        .unwrap_err();
    println!(
        "stale etag: precondition failed = {} ({err})",
        err.is_precondition_failed()
    );

    emu.shutdown().await;
    Ok(())
}
