//! Create a digital twin only if it does not exist yet; the second attempt fails with 412.
//!
//! `cargo run --example digitaltwins_create_twin` (runs against the in-process emulator).

use azure_twins::digitaltwins::{BasicDigitalTwin, DigitalTwinsClient};
use azure_twins::{Condition, Credential};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = azure_twins_emulator::Emulator::builder().start().await?;
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("emulator"))
        .build()?;
    dt.create_models([json!({
        "@id": "dtmi:com:example:Room;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
        "contents": [{"@type": "Property", "name": "temperature", "schema": "double", "writable": true}]
    })])
    .send()
    .await?;

    let twin = BasicDigitalTwin::new("room-1", "dtmi:com:example:Room;1")
        .with_property("temperature", 20.5);
    let created = dt
        .create_twin("room-1", &twin)
        .condition(Condition::IfNoneMatchAny)
        .send()
        .await?;
    println!("created room-1, etag {}", created.etag);
    match dt
        .create_twin("room-1", &twin)
        .condition(Condition::IfNoneMatchAny)
        .send()
        .await
    {
        Err(e) if e.is_precondition_failed() => {
            println!("second create refused: {}", e.error_code().unwrap_or("412"))
        }
        other => println!("unexpected: {other:?}"),
    }
    emu.shutdown().await;
    Ok(())
}
