//! The emulated hub's cloud-to-device queues and feedback: devices settle messages through the
//! in-process API, the HTTP feedback operations hand out record batches under a lock, complete
//! and abandon them; lock expiry and abandon redeliver; purge.

mod iothub_support;

use azure_twins_emulator::{
    C2D_MAX_QUEUE_DEPTH, C2dAck, FEEDBACK_MAX_BATCH_RECORDS as MAX_BATCH_RECORDS,
    FEEDBACK_MAX_DELIVERY_COUNT as MAX_DELIVERY_COUNT,
};
use iothub_support::{Hub, expect_error, in_an_hour, parse_cs, sign};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const FEEDBACK: &str = "/messages/serviceBound/feedback";

/// Receives a batch: (lock token, records, delivery count); `None` on 204.
async fn receive(hub: &Hub) -> Option<(String, Vec<Value>, u32)> {
    let r = hub.send(Method::GET, FEEDBACK).await;
    if r.status() == 204 {
        return None;
    }
    assert_eq!(r.status(), 200);
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let token = header("etag").trim_matches('"').to_string();
    assert!(!token.is_empty(), "the lock token is the ETag header");
    assert!(!header("iothub-messageid").is_empty());
    assert!(!header("iothub-enqueuedtime").is_empty());
    let count = header("iothub-deliverycount").parse().unwrap();
    let records: Vec<Value> = r.json().await.unwrap();
    Some((token, records, count))
}

async fn complete(hub: &Hub, token: &str) -> reqwest::Response {
    hub.send(Method::DELETE, &format!("{FEEDBACK}/{token}"))
        .await
}

async fn abandon(hub: &Hub, token: &str) -> reqwest::Response {
    hub.send(Method::POST, &format!("{FEEDBACK}/{token}/abandon"))
        .await
}

fn send(hub: &Hub, device: &str, id: &str, ack: C2dAck) {
    hub.emu
        .iothub()
        .enqueue_c2d_message_with_ack(device, id, json!({"id": id}), ack)
        .unwrap();
}

#[tokio::test]
async fn settled_messages_produce_feedback_records() {
    let hub = Hub::start().await;
    let device = hub.create_device("fb-1").await;
    for id in ["m1", "m2", "m3"] {
        send(&hub, "fb-1", id, C2dAck::Full);
    }
    assert!(receive(&hub).await.is_none(), "nothing settled yet: 204");
    let c2d = hub.emu.iothub();
    c2d.complete_c2d_message("fb-1", "m1").unwrap();
    c2d.reject_c2d_message("fb-1", "m2").unwrap();
    c2d.expire_c2d_message("fb-1", "m3").unwrap();
    assert!(c2d.c2d_messages("fb-1").is_empty());

    let (token, records, count) = receive(&hub).await.unwrap();
    assert_eq!(count, 1);
    let statuses: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r["originalMessageId"].as_str().unwrap(),
                r["statusCode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![("m1", "Success"), ("m2", "Rejected"), ("m3", "Expired")]
    );
    for r in &records {
        assert_eq!(r["deviceId"], "fb-1");
        assert_eq!(r["deviceGenerationId"], device["generationId"]);
        assert!(r["enqueuedTimeUtc"].as_str().unwrap().ends_with('Z'));
        assert!(r["description"].is_string());
    }
    // Locked: a second receive sees nothing.
    assert!(receive(&hub).await.is_none());
    assert_eq!(complete(&hub, &token).await.status(), 204);
    assert_eq!(c2d.feedback_records_outstanding(), 0);
    // Completing twice is refused: the batch is gone.
    expect_error(complete(&hub, &token).await, 412, "DeviceMessageLockLost").await;
    assert!(receive(&hub).await.is_none());
}

#[tokio::test]
async fn ack_modes_choose_which_outcomes_are_reported() {
    let hub = Hub::start().await;
    hub.create_device("fb-ack").await;
    let c2d = hub.emu.iothub();
    send(&hub, "fb-ack", "pos-ok", C2dAck::Positive);
    send(&hub, "fb-ack", "pos-rej", C2dAck::Positive);
    send(&hub, "fb-ack", "neg-ok", C2dAck::Negative);
    send(&hub, "fb-ack", "neg-exp", C2dAck::Negative);
    send(&hub, "fb-ack", "none", C2dAck::None);
    c2d.complete_c2d_message("fb-ack", "pos-ok").unwrap();
    c2d.reject_c2d_message("fb-ack", "pos-rej").unwrap();
    c2d.complete_c2d_message("fb-ack", "neg-ok").unwrap();
    c2d.expire_c2d_message("fb-ack", "neg-exp").unwrap();
    c2d.reject_c2d_message("fb-ack", "none").unwrap();
    let (token, records, _) = receive(&hub).await.unwrap();
    let ids: Vec<_> = records
        .iter()
        .map(|r| r["originalMessageId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["pos-ok", "neg-exp"]);
    assert_eq!(complete(&hub, &token).await.status(), 204);

    // Purging reports `Purged` for messages that asked for negative feedback.
    send(&hub, "fb-ack", "p1", C2dAck::Full);
    send(&hub, "fb-ack", "p2", C2dAck::Positive);
    let r = hub.send(Method::DELETE, "/devices/fb-ack/commands").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["totalMessagesPurged"], 2);
    let (_, records, _) = receive(&hub).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["originalMessageId"], "p1");
    assert_eq!(records[0]["statusCode"], "Purged");
}

#[tokio::test]
async fn abandoned_batches_are_redelivered_with_a_new_lock() {
    let hub = Hub::start().await;
    hub.create_device("fb-ab").await;
    send(&hub, "fb-ab", "m1", C2dAck::Full);
    hub.emu
        .iothub()
        .complete_c2d_message("fb-ab", "m1")
        .unwrap();
    let (t1, first, c1) = receive(&hub).await.unwrap();
    assert_eq!(abandon(&hub, &t1).await.status(), 204);
    let (t2, again, c2) = receive(&hub).await.unwrap();
    assert_ne!(t1, t2);
    assert_eq!(first, again, "the same records");
    assert_eq!((c1, c2), (1, 2));
    // The old lock is gone; the new one completes.
    expect_error(complete(&hub, &t1).await, 412, "DeviceMessageLockLost").await;
    expect_error(abandon(&hub, &t1).await, 412, "DeviceMessageLockLost").await;
    assert_eq!(complete(&hub, &t2).await.status(), 204);
    assert!(receive(&hub).await.is_none());
}

#[tokio::test]
async fn an_expired_lock_is_redelivered_and_cannot_complete() {
    let hub = Hub::start().await;
    hub.create_device("fb-lock").await;
    let c2d = hub.emu.iothub();
    send(&hub, "fb-lock", "m1", C2dAck::Full);
    c2d.complete_c2d_message("fb-lock", "m1").unwrap();
    c2d.set_feedback_lock_timeout(Duration::ZERO);
    let (t1, first, _) = receive(&hub).await.unwrap();
    expect_error(complete(&hub, &t1).await, 412, "DeviceMessageLockLost").await;
    let (t2, again, count) = receive(&hub).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(count, 2);
    c2d.set_feedback_lock_timeout(Duration::from_secs(60));
    let (t3, _, count) = receive(&hub).await.unwrap();
    assert_eq!(count, 3);
    assert_ne!(t2, t3);
    assert_eq!(complete(&hub, &t3).await.status(), 204);
    assert_eq!(c2d.feedback_records_outstanding(), 0);
}

#[tokio::test]
async fn batches_hold_at_most_64_records_and_die_after_10_deliveries() {
    let hub = Hub::start().await;
    hub.create_device("fb-many").await;
    let c2d = hub.emu.iothub();
    for round in 0..2 {
        for i in 0..35 {
            let id = format!("m{round}-{i}");
            send(&hub, "fb-many", &id, C2dAck::Full);
            c2d.complete_c2d_message("fb-many", &id).unwrap();
        }
    }
    let (t1, b1, _) = receive(&hub).await.unwrap();
    let (t2, b2, _) = receive(&hub).await.unwrap();
    assert_eq!(
        (b1.len(), b2.len()),
        (MAX_BATCH_RECORDS, 70 - MAX_BATCH_RECORDS)
    );
    assert_eq!(complete(&hub, &t1).await.status(), 204);
    // Abandoned again and again, the batch is dropped after the last allowed delivery.
    let mut token = t2;
    for _ in 1..MAX_DELIVERY_COUNT {
        assert_eq!(abandon(&hub, &token).await.status(), 204);
        token = receive(&hub).await.unwrap().0;
    }
    assert_eq!(abandon(&hub, &token).await.status(), 204);
    assert!(receive(&hub).await.is_none());
    assert_eq!(c2d.feedback_records_outstanding(), 0);
}

#[tokio::test]
async fn device_side_api_checks_devices_and_messages() {
    let hub = Hub::start().await;
    hub.create_device("fb-api").await;
    let c2d = hub.emu.iothub();
    assert!(c2d.complete_c2d_message("fb-api", "missing").is_err());
    assert!(c2d.reject_c2d_message("nobody", "m").is_err());
    assert!(
        c2d.enqueue_c2d_message_with_ack("nobody", "m", json!(1), C2dAck::Full)
            .is_err()
    );
    for i in 0..C2D_MAX_QUEUE_DEPTH {
        c2d.enqueue_c2d_message("fb-api", &format!("m{i}"), json!(i))
            .unwrap();
    }
    assert!(
        c2d.enqueue_c2d_message("fb-api", "one-too-many", json!(0))
            .is_err()
    );
    expect_error(
        hub.send(Method::DELETE, "/devices/nobody/commands").await,
        404,
        "DeviceNotFound",
    )
    .await;
}

#[tokio::test]
async fn feedback_needs_service_connect() {
    let hub = Hub::start().await;
    let cs = hub
        .emu
        .iothub_policy_connection_string("registryRead")
        .unwrap();
    let (host, policy, key) = parse_cs(&cs);
    let token = sign(&host, &policy, &key, in_an_hour());
    let r = hub
        .client
        .get(format!("{}{FEEDBACK}?api-version=2021-04-12", hub.base))
        .header("authorization", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
