//! JSON-Patch a digital twin with optimistic concurrency (If-Match), and compute a patch with
//! `JsonPatch::diff_twin`.
//!
//! `cargo run --example digitaltwins_update_twin` (runs against the in-process emulator).

use azure_twins::Credential;
use azure_twins::digitaltwins::{BasicDigitalTwin, DigitalTwinsClient, JsonPatch};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = azure_twins_emulator::Emulator::builder().start().await?;
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("emulator"))
        .build()?;
    dt.create_models([json!({
        "@id": "dtmi:com:example:Room;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
        "contents": [{"@type": "Property", "name": "temperature", "schema": "double", "writable": true},
                     {"@type": "Property", "name": "occupied", "schema": "boolean", "writable": true}]
    })])
    .send()
    .await?;
    let created = dt
        .create_twin(
            "room-1",
            BasicDigitalTwin::new("room-1", "dtmi:com:example:Room;1")
                .with_property("temperature", 20.0),
        )
        .send()
        .await?;

    // `add` works whether or not the property exists; `replace` needs it to exist.
    let etag = dt
        .update_twin(
            "room-1",
            JsonPatch::new()
                .replace("/temperature", 21.5)
                .add("/occupied", true),
        )
        .if_match(&created.etag)
        .send()
        .await?;
    println!("patched, new etag {etag}");

    // A stale etag is refused with 412.
    let stale = dt
        .update_twin("room-1", JsonPatch::new().add("/temperature", 0.0))
        .if_match(&created.etag)
        .send()
        .await;
    println!(
        "stale etag refused: {}",
        stale.is_err_and(|e| e.is_precondition_failed())
    );

    // Get, change, diff, update.
    let current = dt.get_twin("room-1").send().await?;
    let mut wanted = current.value.clone();
    wanted["temperature"] = json!(19.0);
    let patch = JsonPatch::diff_twin(&current.value, &wanted);
    println!("diff: {}", serde_json::to_string(&patch)?);
    dt.update_twin("room-1", patch)
        .if_match(&current.etag)
        .send()
        .await?;
    emu.shutdown().await;
    Ok(())
}
