//! Query digital twins page by page, with each page's query charge, and resume from a saved
//! continuation token.
//!
//! `cargo run --example digitaltwins_query` (runs against the in-process emulator).

use azure_twins::digitaltwins::{BasicDigitalTwin, DigitalTwinsClient};
use azure_twins::{Continuation, Credential};
use futures::{StreamExt, TryStreamExt};
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
    for i in 0..10 {
        let id = format!("room-{i}");
        dt.create_twin(
            &id,
            BasicDigitalTwin::new(&id, "dtmi:com:example:Room;1")
                .with_property("temperature", 18.0 + i as f64),
        )
        .send()
        .await?;
    }

    let q = "SELECT * FROM digitaltwins WHERE temperature > 20";
    let mut pages = dt.query(q).page_size(3).into_stream().into_pages();
    let first = pages.next().await.expect("one page")?;
    println!(
        "page 1: {} rows, {:?} query units",
        first.items().len(),
        first.query_charge()
    );
    // Save the position as a string (e.g. in a database) and resume later.
    let saved = pages.continuation().expect("more pages").to_token_string();
    drop(pages);
    let rest: Vec<BasicDigitalTwin> = dt
        .query(q)
        .continue_from(Continuation::from_token_string(&saved)?)
        .into_stream_as()
        .try_collect()
        .await?;
    println!("resumed: {} more rows", rest.len());
    emu.shutdown().await;
    Ok(())
}
