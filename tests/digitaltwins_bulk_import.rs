//! `DigitalTwinsClient::bulk_import` end to end: the in-process emulator's import jobs reading
//! and writing real blobs in Azurite (npm `azurite`, started by `testsupport/azurite.rs`).
#![cfg(feature = "bulk-import")]

#[path = "../testsupport/azurite.rs"]
mod azurite;

use std::time::Duration;

use azure_twins::digitaltwins::{
    BasicDigitalTwin, BasicRelationship, BulkImport, DigitalTwinsClient, JobStatus,
};
use azure_twins::{Credential, ErrorKind};
use azure_twins_emulator::Emulator;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

const ROOM: &str = "dtmi:com:example:bulk:Room;1";
const FLOOR: &str = "dtmi:com:example:bulk:Floor;1";

fn models() -> Vec<Value> {
    vec![
        json!({"@id": ROOM, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
            "contents": [{"@type": "Property", "name": "temperature", "schema": "double"},
                         {"@type": "Property", "name": "label", "schema": "string"}]}),
        json!({"@id": FLOOR, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
            "contents": [{"@type": "Relationship", "name": "contains", "target": ROOM,
                "properties": [{"@type": "Property", "name": "since", "schema": "string"}]}]}),
    ]
}

async fn setup() -> (Emulator, azurite::Azurite, DigitalTwinsClient) {
    let emu = Emulator::builder().start().await.expect("emulator starts");
    let store = azurite::Azurite::start().await;
    store.create_container("imports").await;
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("test-token"))
        .build()
        .expect("client builds");
    (emu, store, dt)
}

fn import(dt: &DigitalTwinsClient, store: &azurite::Azurite, name: &str) -> BulkImport {
    dt.bulk_import(
        name,
        store.blob_sas_url("imports", &format!("{name}.ndjson")),
        store.blob_sas_url("imports", &format!("{name}.log")),
    )
    .poll_every(Duration::from_millis(50))
}

fn room(i: usize) -> BasicDigitalTwin {
    BasicDigitalTwin::new(format!("room-{i}"), ROOM).with_property("temperature", 20.0 + i as f64)
}

#[tokio::test]
async fn imports_models_twins_and_relationships_from_iterators() {
    let (_emu, store, dt) = setup().await;
    let floors = [BasicDigitalTwin::new("floor-1", FLOOR)];
    let rels = (0..5).map(|i| {
        BasicRelationship::new(format!("c-{i}"), "floor-1", format!("room-{i}"), "contains")
            .with_property("since", format!("2026-0{}-01", i + 1))
    });
    let outcome = import(&dt, &store, "iter")
        .author("tests")
        .organization("azure-twins")
        .models(models())
        .twins(floors)
        .twins((0..5).map(room))
        .relationships(rels)
        .send()
        .await
        .expect("bulk import");
    assert_eq!(outcome.status(), JobStatus::Succeeded, "{outcome:?}");
    assert_eq!(outcome.error_count, 0, "{:?}", outcome.errors.first());
    // The service echoes the SAS URLs in the job; the outcome's Debug leaves them out.
    assert!(!format!("{outcome:?}").contains("sig="), "{outcome:?}");
    assert!(outcome.is_clean());
    assert_eq!(
        (outcome.models, outcome.twins, outcome.relationships),
        (2, 6, 5)
    );
    assert_eq!(outcome.job.id, "iter");

    // The input blob is the documented NDJSON, sections in order.
    let text = store
        .read_blob_string("imports", "iter.ndjson")
        .await
        .expect("input blob exists");
    assert_eq!(outcome.input_bytes, text.len() as u64);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0], json!({"Section": "Header"}));
    assert_eq!(
        lines[1],
        json!({"fileVersion": "1.0.0", "author": "tests", "organization": "azure-twins"})
    );
    assert_eq!(lines[2], json!({"Section": "Models"}));
    assert_eq!(lines[3]["@id"], ROOM);
    assert_eq!(lines[5], json!({"Section": "Twins"}));
    assert_eq!(
        lines[6],
        json!({"$dtId": "floor-1", "$metadata": {"$model": FLOOR}})
    );
    assert_eq!(lines[12], json!({"Section": "Relationships"}));
    assert_eq!(
        lines[13],
        json!({"$dtId": "floor-1", "$relationshipId": "c-0", "$targetId": "room-0",
               "$relationshipName": "contains", "since": "2026-01-01"})
    );
    assert_eq!(lines.len(), 18);

    // What the job imported, by value.
    for i in 0..5 {
        let twin = dt.get_twin(format!("room-{i}")).send().await.unwrap().value;
        assert_eq!(twin["$metadata"]["$model"], ROOM);
        assert_eq!(twin["temperature"], json!(20.0 + i as f64));
    }
    let rel = dt
        .get_relationship("floor-1", "c-3")
        .send()
        .await
        .unwrap()
        .value;
    assert_eq!(rel["$targetId"], "room-3");
    assert_eq!(rel["$relationshipName"], "contains");
    assert_eq!(rel["since"], "2026-04-01");
    let model = dt.get_model(ROOM).send().await.unwrap();
    assert_eq!(model.id, ROOM);
}

#[tokio::test]
async fn imports_from_streams_across_many_blocks() {
    let (_emu, store, dt) = setup().await;
    dt.create_models(models()).send().await.unwrap();
    const N: usize = 1500;
    let twins = futures::stream::iter(0..N).then(|i| async move {
        tokio::task::yield_now().await;
        room(i).with_property("label", "x".repeat(64))
    });
    let outcome = import(&dt, &store, "stream")
        .block_size(64 * 1024)
        .twins_stream(twins)
        .send()
        .await
        .expect("bulk import");
    assert!(outcome.is_clean(), "{outcome:?}");
    assert_eq!(outcome.twins, N as u64);
    // More than one 64 KiB block was staged and committed in order.
    assert!(
        outcome.input_bytes > 3 * 64 * 1024,
        "{}",
        outcome.input_bytes
    );
    let text = store
        .read_blob_string("imports", "stream.ndjson")
        .await
        .unwrap();
    assert_eq!(text.len() as u64, outcome.input_bytes);
    let ids: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["$dtId"].as_str().map(str::to_owned))
        .collect();
    let want: Vec<String> = (0..N).map(|i| format!("room-{i}")).collect();
    assert_eq!(ids, want);
    for i in [0, 777, N - 1] {
        let twin = dt.get_twin(format!("room-{i}")).send().await.unwrap().value;
        assert_eq!(twin["temperature"], json!(20.0 + i as f64));
        assert_eq!(twin["label"], "x".repeat(64));
    }
}

#[tokio::test]
async fn a_bad_item_fails_locally_and_nothing_is_uploaded_or_started() {
    let (_emu, store, dt) = setup().await;
    let mut twins: Vec<_> = (0..5).map(room).collect();
    twins[3].metadata.model = String::new();
    let e = import(&dt, &store, "bad")
        .models(models())
        .twins(twins)
        .send()
        .await
        .unwrap_err();
    match e.kind() {
        ErrorKind::InvalidInput { field, .. } => assert_eq!(field, "twins[3].$metadata.$model"),
        other => panic!("{other:?}: {e}"),
    }
    let e = import(&dt, &store, "bad-rel")
        .relationships([BasicRelationship::new("r", "room-1", "", "contains")])
        .send()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("relationships[0].$targetId"), "{e}");
    // No blob was committed and no job exists.
    let blobs = store.list_blobs("imports").await;
    assert!(blobs.is_empty(), "{blobs:?}");
    let jobs: Vec<_> = dt
        .list_import_jobs()
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert!(jobs.is_empty(), "{jobs:?}");
    assert!(
        dt.get_twin("room-0")
            .send()
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn bad_urls_fail_before_anything_is_sent_and_hide_the_sas() {
    let (_emu, store, dt) = setup().await;
    let e = dt
        .bulk_import(
            "urls",
            "http://example.com/imports/in.ndjson?sig=s3cr3t",
            store.blob_sas_url("imports", "out.log"),
        )
        .twins((0..2).map(room))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "input_blob_uri"),
        "{e}"
    );
    assert!(!format!("{e} {e:?}").contains("s3cr3t"));
    let b = dt.bulk_import("urls", "https://a.blob.core.windows.net/c/b?sig=s3cr3t", "");
    assert!(!format!("{b:?}").contains("s3cr3t"));
    let e = b.send().await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "output_blob_uri"),
        "{e}"
    );
    assert!(store.list_blobs("imports").await.is_empty());
}

#[tokio::test]
async fn errors_in_the_job_log_are_surfaced() {
    let (_emu, store, dt) = setup().await;
    dt.create_models(models()).send().await.unwrap();
    let outcome = import(&dt, &store, "unknown-model")
        .twins([
            room(1),
            BasicDigitalTwin::new("ghost-1", "dtmi:com:example:bulk:Unknown;1"),
        ])
        .send()
        .await
        .expect("the job runs");
    assert!(!outcome.is_clean(), "{outcome:?}");
    assert!(outcome.error_count >= 1, "{outcome:?}");
    assert_eq!(outcome.errors.len() as u64, outcome.error_count);
    let first = &outcome.errors[0];
    assert_eq!(first.line["logType"], "Error", "{first:?}");
    let text = format!("{:?} {:?}", first.code, first.message);
    assert!(
        text.contains("Unknown") || text.contains("ghost-1"),
        "the error names the twin or its model: {text}"
    );
    assert!(outcome.log_lines > outcome.error_count);
    assert!(
        dt.get_twin("ghost-1")
            .send()
            .await
            .unwrap_err()
            .is_not_found()
    );
}
