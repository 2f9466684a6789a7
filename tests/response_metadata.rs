//! `send_with_response()`: the value with the status, ETag, request id and headers of the
//! service's answer, on IoT Hub and Digital Twins operations; builders awaited directly.
#![cfg(all(feature = "iothub", feature = "digitaltwins"))]

mod iothub_support;

use azure_twins::digitaltwins::{BasicDigitalTwin, DigitalTwinsClient};
use azure_twins::{Condition, Credential, RequestOptions, Response};
use azure_twins_emulator::{Fault, FaultRule};
use iothub_support::{CaptureServer, Scripted, start};
use serde_json::json;

fn twin_body(etag: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "deviceId": "dev-1", "etag": etag, "version": 3,
        "properties": { "desired": { "$version": 2 }, "reported": { "$version": 1 } }
    }))
    .unwrap()
}

/// Exact header values from a scripted server: what the service sent is what the caller reads.
#[tokio::test]
async fn the_answer_headers_reach_the_caller() {
    let server = CaptureServer::start().await;
    server.push(Scripted {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("etag".into(), "\"AAAA\"".into()),
            ("x-ms-request-id".into(), "req-0042".into()),
            ("x-custom".into(), "kept".into()),
        ],
        body: twin_body("AAAA"),
    });
    let hub = server.client();
    let response: Response<_> = hub
        .get_twin("dev-1")
        .options(RequestOptions::default().client_request_id("client-7"))
        .send_with_response()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.request_id(), Some("req-0042"));
    assert_eq!(response.client_request_id(), Some("client-7"));
    assert_eq!(response.header("x-custom"), Some("kept"));
    assert_eq!(response.etag().unwrap().as_header(), "\"AAAA\"");
    assert_eq!(response.value.etag, response.etag().unwrap());
    assert_eq!(response.value.value.device_id, "dev-1");
    // The client request id was also the one sent.
    let sent = server.captured();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].header("x-ms-client-request-id").as_deref(),
        Some("client-7")
    );
}

/// Against the emulator: every answer carries a request id; two calls, two ids; a generated
/// client request id when none is set; builders are awaitable without `send()`.
#[tokio::test]
async fn iothub_request_ids_and_direct_await() {
    let (_emu, hub) = start().await;
    let created = hub
        .create_device("dev-1")
        .send_with_response()
        .await
        .unwrap();
    assert_eq!(created.value.device_id, "dev-1");
    let first = created.request_id().expect("x-ms-request-id").to_owned();
    assert!(!first.is_empty());
    let generated = created.client_request_id().expect("sent one").to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");

    let read = hub.get_device("dev-1").send_with_response().await.unwrap();
    assert_ne!(read.request_id(), Some(first.as_str()));
    assert_ne!(read.client_request_id(), Some(generated.as_str()));

    // `.await` on the builder is `.send().await`.
    let device = hub.get_device("dev-1").await.unwrap();
    assert_eq!(device.device_id, "dev-1");
    let twin = hub
        .update_twin("dev-1")
        .set_desired("mode", "eco")
        .await
        .unwrap();
    assert_eq!(twin.value.properties.desired["mode"], "eco");
    hub.delete_device("dev-1").await.unwrap();
    let err = hub.get_device("dev-1").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

/// A create whose answer was lost and that the client resolved by reading back: the metadata
/// is the read's (the last answer received), and the value is the stored twin.
#[tokio::test]
async fn a_resolved_create_reports_the_read_backs_answer() {
    let (emu, _hub) = start().await;
    let dt = adt(&emu).await;
    emu.faults().inject(FaultRule {
        method: Some("PUT".into()),
        path_prefix: Some("/digitaltwins/m-2".into()),
        ..FaultRule::new(Fault::ApplyThenDrop, 1)
    });
    let twin = BasicDigitalTwin::new("m-2", MODEL).with_property("t", 2.5);
    let response = dt
        .create_twin("m-2", &twin)
        .condition(Condition::IfNoneMatchAny)
        .options(RequestOptions::default().client_request_id("adt-2"))
        .send_with_response()
        .await
        .unwrap();
    assert_eq!(emu.faults().injected(), 1);
    assert_eq!(response.value.value["t"], 2.5);
    assert_eq!(
        response.status().as_u16(),
        200,
        "the read-back's status, not the PUT's"
    );
    assert_eq!(response.etag(), Some(response.value.etag.clone()));
    assert_eq!(response.client_request_id(), Some("adt-2"));
    let stored = dt.get_twin("m-2").await.unwrap();
    assert_eq!(stored.etag, response.value.etag);
}

const MODEL: &str = "dtmi:com:example:Meta;1";

async fn adt(emu: &azure_twins_emulator::Emulator) -> DigitalTwinsClient {
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("test-token"))
        .build()
        .unwrap();
    dt.create_models(vec![json!({
        "@id": MODEL, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
        "contents": [{"@type": "Property", "name": "t", "schema": "double", "writable": true}]
    })])
    .await
    .unwrap();
    dt
}

#[tokio::test]
async fn digital_twins_request_ids_and_direct_await() {
    let (emu, _hub) = start().await;
    let dt = adt(&emu).await;
    let twin = BasicDigitalTwin::new("m-1", MODEL).with_property("t", 1.5);
    let created = dt
        .create_twin("m-1", &twin)
        .options(RequestOptions::default().client_request_id("adt-1"))
        .send_with_response()
        .await
        .unwrap();
    // ADT answers carry no x-ms-request-id (as recorded); the client request id identifies them.
    assert_eq!(created.request_id(), None);
    assert_eq!(created.client_request_id(), Some("adt-1"));
    assert_eq!(created.etag(), Some(created.value.etag.clone()));
    assert_eq!(created.value.value["t"], 1.5);

    let read = dt.get_twin("m-1").send_with_response().await.unwrap();
    assert_eq!(read.value.etag, created.value.etag);
    assert_ne!(read.client_request_id(), created.client_request_id());
    let mapped = read.map(|v| v.value["t"].clone());
    assert_eq!(mapped.value, 1.5);

    dt.delete_twin("m-1").await.unwrap();
    assert!(dt.get_twin("m-1").await.unwrap_err().is_not_found());
}
