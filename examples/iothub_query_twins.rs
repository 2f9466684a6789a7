//! Query twins page by page, save the continuation, and resume later, against the local
//! emulator.
//!
//! ```text
//! cargo run --example iothub_query_twins
//! ```

use azure_twins::iothub::{BulkOperation, Device};
use azure_twins::{Continuation, IotHubClient};
use azure_twins_emulator::Emulator;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::builder().start().await?;
    let hub = IotHubClient::from_connection_string(&emu.iothub_connection_string())?;

    // 30 devices in one bulk call, a third of them in Berlin.
    let ops = (0..30)
        .map(|i| BulkOperation::create(Device::new(format!("sensor-{i:02}"))))
        .collect();
    hub.bulk_registry(ops).send().await?;
    for i in (0..30).step_by(3) {
        hub.update_twin(format!("sensor-{i:02}"))
            .tags(json!({ "site": "berlin" }))
            .send()
            .await?;
    }

    // All matching twins as one stream; continuations are followed for you.
    let berlin: Vec<_> = hub
        .query("SELECT * FROM devices WHERE tags.site = 'berlin'")
        .page_size(4)
        .into_stream()
        .try_collect()
        .await?;
    println!("{} twins in Berlin", berlin.len());

    // Page by page: read one page, save where to resume (e.g. in a web session).
    let mut pages = hub
        .query("SELECT * FROM devices")
        .page_size(8)
        .into_stream()
        .into_pages();
    let first = pages.next().await.expect("a first page")?;
    println!("first page: {} twins", first.items().len());
    let token: String = pages.continuation().expect("more pages").to_token_string();

    // Later, maybe in another process: restate the query and continue it (the token keeps
    // the page size; a token of another query is refused before anything is sent).
    let rest: Vec<_> = hub
        .query("SELECT * FROM devices")
        .continue_from(Continuation::from_token_string(&token)?)
        .into_stream()
        .try_collect()
        .await?;
    println!("resumed: {} more twins", rest.len());

    // Projections and aggregates decode into any type.
    let counts: Vec<serde_json::Value> = hub
        .query("SELECT COUNT() AS n FROM devices WHERE tags.site = 'berlin'")
        .into_stream_as()
        .try_collect()
        .await?;
    println!("count: {}", counts[0]["n"]);

    emu.shutdown().await;
    Ok(())
}
