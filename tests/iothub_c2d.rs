//! Cloud-to-device queue operations against the emulator: purge (`DELETE /devices/{id}/commands`).

mod iothub_support;

use azure_twins::iothub::Device;
use iothub_support::{CaptureServer, invalid_field, start};
use serde_json::json;

#[tokio::test]
async fn purge_removes_every_waiting_message() {
    let (emu, hub) = start().await;
    hub.create_device("c2d-1").send().await.unwrap();
    hub.create_device("c2d-2").send().await.unwrap();
    for i in 0..3 {
        emu.iothub()
            .enqueue_c2d_message("c2d-1", &format!("m{i}"), json!({ "n": i }))
            .unwrap();
    }
    emu.iothub()
        .enqueue_c2d_message("c2d-2", "other", json!("x"))
        .unwrap();

    let r = hub
        .purge_cloud_to_device_queue("c2d-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.device_id.as_deref(), Some("c2d-1"));
    assert_eq!(r.total_messages_purged, Some(3));
    assert_eq!(r.purged(), 3);
    assert!(emu.iothub().c2d_messages("c2d-1").is_empty());
    // Another device's queue is untouched.
    assert_eq!(emu.iothub().c2d_messages("c2d-2").len(), 1);

    // A second purge finds nothing.
    let again = hub
        .purge_cloud_to_device_queue("c2d-1")
        .send()
        .await
        .unwrap();
    assert_eq!(again.purged(), 0);
}

#[tokio::test]
async fn purge_of_an_unknown_device_is_not_found() {
    let (emu, hub) = start().await;
    let e = hub
        .purge_cloud_to_device_queue("nobody")
        .send()
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.error_code(), Some("DeviceNotFound"));
    // Nothing can be enqueued for a device that does not exist either.
    assert!(
        emu.iothub()
            .enqueue_c2d_message("nobody", "m", json!(1))
            .is_err()
    );
}

#[tokio::test]
async fn purge_needs_service_connect_not_registry_rights() {
    let (emu, _) = start().await;
    let hub = azure_twins::IotHubClient::from_connection_string(
        &emu.iothub_policy_connection_string("service").unwrap(),
    )
    .unwrap();
    let owner =
        azure_twins::IotHubClient::from_connection_string(&emu.iothub_connection_string()).unwrap();
    owner
        .create_device(Device::new("c2d-svc").device_id)
        .send()
        .await
        .unwrap();
    emu.iothub()
        .enqueue_c2d_message("c2d-svc", "m", json!(1))
        .unwrap();
    assert_eq!(
        hub.purge_cloud_to_device_queue("c2d-svc")
            .send()
            .await
            .unwrap()
            .purged(),
        1
    );
}

#[tokio::test]
async fn purge_checks_the_device_id_locally() {
    let server = CaptureServer::start().await;
    let hub = server.client();
    for bad in ["", "has space", &"x".repeat(129)] {
        let e = hub
            .purge_cloud_to_device_queue(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(invalid_field(&e), "device_id");
    }
    assert_eq!(server.count(), 0, "nothing is sent");
}

#[tokio::test]
async fn purge_sends_the_generated_request() {
    let server = CaptureServer::start().await;
    server.push(iothub_support::Scripted {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"deviceId":"d","moduleId":null,"totalMessagesPurged":7}"#.to_vec(),
    });
    let r = server
        .client()
        .purge_cloud_to_device_queue("d")
        .send()
        .await
        .unwrap();
    assert_eq!(r.purged(), 7);
    let c = &server.captured()[0];
    assert_eq!(c.method, "DELETE");
    assert_eq!(c.path, "/devices/d/commands");
    assert_eq!(c.query_param("api-version").as_deref(), Some("2021-04-12"));
}
