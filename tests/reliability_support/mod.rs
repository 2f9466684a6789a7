//! Shared helpers of the reliability tests (long run, soak).

use azure_twins::DigitalTwinsClient;
use serde_json::json;

/// Uploads the interface `model_id` with one writable double property, `temperature`.
pub async fn upload_room_model(dt: &DigitalTwinsClient, model_id: &str) {
    dt.create_models(vec![json!({
        "@id": model_id, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
        "contents": [{"@type": "Property", "name": "temperature", "schema": "double", "writable": true}]
    })])
    .send()
    .await
    .expect("model upload");
}
