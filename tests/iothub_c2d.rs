//! Cloud-to-device queue operations against the emulator: purge (`DELETE /devices/{id}/commands`)
//! and delivery feedback (`/messages/serviceBound/feedback`: receive, complete, abandon, the
//! batch handles and the feedback stream).

mod iothub_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_twins::IotHubClient;
use azure_twins::iothub::{Device, FeedbackRecord, FeedbackStatus};
use azure_twins_emulator::Emulator;
use azure_twins_emulator::{C2dAck, FEEDBACK_MAX_BATCH_RECORDS as MAX_BATCH_RECORDS};
use futures::TryStreamExt;
use iothub_support::{CaptureServer, Scripted, invalid_field, start};
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

// ---- Feedback ----

/// Sends `ids` to `device` asking for full feedback and lets the device settle each with
/// `settle` (the emulator's device side).
fn send_and_settle(
    emu: &Emulator,
    device: &str,
    ids: &[&str],
    settle: fn(&azure_twins_emulator::IotHubService, &str, &str) -> Result<(), String>,
) {
    let c2d = emu.iothub();
    for id in ids {
        c2d.enqueue_c2d_message_with_ack(device, id, json!({ "id": id }), C2dAck::Full)
            .unwrap();
        settle(c2d, device, id).unwrap();
    }
}

fn ids(records: &[FeedbackRecord]) -> Vec<(String, FeedbackStatus)> {
    records
        .iter()
        .map(|r| (r.original_message_id.clone(), r.status_code.clone()))
        .collect()
}

async fn hub_with_device(device: &str) -> (Emulator, IotHubClient, Device) {
    let (emu, hub) = start().await;
    let d = hub.create_device(device).send().await.unwrap();
    (emu, hub, d)
}

#[tokio::test]
async fn no_feedback_is_none() {
    let (emu, hub, _) = hub_with_device("fb-none").await;
    assert!(hub.receive_feedback().send().await.unwrap().is_none());
    // A message that asked for no feedback produces none when the device completes it.
    let c2d = emu.iothub();
    c2d.enqueue_c2d_message("fb-none", "quiet", json!(1))
        .unwrap();
    c2d.complete_c2d_message("fb-none", "quiet").unwrap();
    assert!(hub.receive_feedback().send().await.unwrap().is_none());
    // The stream of an empty queue ends at once; handle() handles nothing.
    let batches: Vec<_> = hub
        .feedback_stream()
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert!(batches.is_empty());
    let n = hub
        .feedback_stream()
        .handle(|_| async { Err::<(), _>(std::io::Error::other("never called")) })
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn records_carry_every_field_by_value() {
    let (emu, hub, device) = hub_with_device("fb-fields").await;
    let c2d = emu.iothub();
    for id in ["ok-1", "no-2", "late-3"] {
        c2d.enqueue_c2d_message_with_ack("fb-fields", id, json!({ "id": id }), C2dAck::Full)
            .unwrap();
    }
    c2d.complete_c2d_message("fb-fields", "ok-1").unwrap();
    c2d.reject_c2d_message("fb-fields", "no-2").unwrap();
    c2d.expire_c2d_message("fb-fields", "late-3").unwrap();
    // Purged messages report too.
    c2d.enqueue_c2d_message_with_ack("fb-fields", "gone-4", json!(4), C2dAck::Negative)
        .unwrap();
    assert_eq!(
        hub.purge_cloud_to_device_queue("fb-fields")
            .send()
            .await
            .unwrap()
            .purged(),
        1
    );

    let batch = hub.receive_feedback().send().await.unwrap().unwrap();
    assert_eq!(
        ids(batch.records()),
        [
            ("ok-1".to_string(), FeedbackStatus::Success),
            ("no-2".to_string(), FeedbackStatus::Rejected),
            ("late-3".to_string(), FeedbackStatus::Expired),
            ("gone-4".to_string(), FeedbackStatus::Purged),
        ]
    );
    let generation = device
        .generation_id
        .clone()
        .expect("a created device has a generation id");
    for r in batch.records() {
        assert_eq!(r.device_id, "fb-fields");
        assert_eq!(r.device_generation_id.as_deref(), Some(generation.as_str()));
        let t = r.enqueued_time_utc.as_ref().expect("enqueuedTimeUtc");
        assert!(!t.is_never());
    }
    let descriptions: Vec<_> = batch
        .records()
        .iter()
        .map(|r| r.description.as_deref().unwrap())
        .collect();
    assert_eq!(
        descriptions,
        [
            "Success",
            "Message rejected",
            "Message expired",
            "Message purged"
        ]
    );
    assert!(batch.records()[0].status_code.is_success());
    assert_eq!(batch.records()[1].status_code.as_str(), "Rejected");
    // The lock token is not in the batch's Debug output.
    let token = batch.lock_token().as_str().to_owned();
    assert!(!token.is_empty());
    let debug = format!("{batch:?}");
    assert!(debug.contains("ok-1"), "{debug}");
    assert!(!debug.contains(&token), "{debug}");
    batch.complete().await.unwrap();
}

#[tokio::test]
async fn complete_removes_the_batch() {
    let (emu, hub, _) = hub_with_device("fb-complete").await;
    send_and_settle(&emu, "fb-complete", &["a", "b"], |c, d, m| {
        c.complete_c2d_message(d, m)
    });
    assert_eq!(emu.iothub().feedback_records_outstanding(), 2);
    let batch = hub.receive_feedback().send().await.unwrap().unwrap();
    assert_eq!(batch.len(), 2);
    // Locked: a second receive finds nothing else.
    assert!(hub.receive_feedback().send().await.unwrap().is_none());
    let token = batch.lock_token().clone();
    batch.complete().await.unwrap();
    assert_eq!(emu.iothub().feedback_records_outstanding(), 0);
    assert!(hub.receive_feedback().send().await.unwrap().is_none());
    // Completing again: the lock is gone.
    let e = hub.complete_feedback(&token).send().await.unwrap_err();
    assert!(e.is_feedback_lock_lost(), "{e}");
    let e = hub.abandon_feedback(token).send().await.unwrap_err();
    assert!(e.is_feedback_lock_lost(), "{e}");
}

#[tokio::test]
async fn abandon_redelivers_the_same_records() {
    let (emu, hub, _) = hub_with_device("fb-abandon").await;
    send_and_settle(&emu, "fb-abandon", &["x", "y", "z"], |c, d, m| {
        c.reject_c2d_message(d, m)
    });
    let first = hub.receive_feedback().send().await.unwrap().unwrap();
    let records = first.records().to_vec();
    assert_eq!(records.len(), 3);
    let old_token = first.lock_token().clone();
    first.abandon().await.unwrap();
    let again = hub.receive_feedback().send().await.unwrap().unwrap();
    assert_eq!(
        again.records(),
        records.as_slice(),
        "the same records, by value"
    );
    assert_ne!(again.lock_token(), &old_token, "under a new lock");
    // The old lock is gone; the new one completes.
    let e = hub.complete_feedback(old_token).send().await.unwrap_err();
    assert!(e.is_feedback_lock_lost(), "{e}");
    // Abandon by token (a stored token, not the handle): detach, then abandon and receive.
    let (detached, token) = again.detach();
    assert_eq!(detached, records);
    hub.abandon_feedback(token.as_str()).send().await.unwrap();
    let third = hub.receive_feedback().send().await.unwrap().unwrap();
    assert_eq!(third.records(), records.as_slice());
    third.complete().await.unwrap();
    assert_eq!(emu.iothub().feedback_records_outstanding(), 0);
}

#[tokio::test]
async fn an_expired_lock_is_a_typed_error_and_the_batch_comes_again() {
    let (emu, hub, _) = hub_with_device("fb-lost").await;
    send_and_settle(&emu, "fb-lost", &["l1", "l2"], |c, d, m| {
        c.expire_c2d_message(d, m)
    });
    // Every lock expires at once.
    emu.iothub().set_feedback_lock_timeout(Duration::ZERO);
    let batch = hub.receive_feedback().send().await.unwrap().unwrap();
    let records = batch.records().to_vec();
    let e = batch.complete().await.unwrap_err();
    assert!(e.is_feedback_lock_lost(), "{e}");
    assert_eq!(e.status().map(|s| s.as_u16()), Some(412));
    assert_eq!(e.error_code(), Some("DeviceMessageLockLost"));
    assert!(e.is_precondition_failed());
    assert!(!e.is_not_found());
    // Nothing was lost: with a normal lock the same records complete.
    emu.iothub()
        .set_feedback_lock_timeout(Duration::from_secs(600));
    let again = hub.receive_feedback().send().await.unwrap().unwrap();
    assert_eq!(again.records(), records.as_slice());
    again.complete().await.unwrap();
    assert_eq!(emu.iothub().feedback_records_outstanding(), 0);

    // The driver reports the lost lock of a batch it handled.
    send_and_settle(&emu, "fb-lost", &["l3"], |c, d, m| {
        c.complete_c2d_message(d, m)
    });
    emu.iothub().set_feedback_lock_timeout(Duration::ZERO);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let e = hub
        .feedback_stream()
        .handle(move |r| {
            let s2 = s2.clone();
            async move {
                s2.lock().unwrap().push(r.original_message_id);
                Ok::<_, std::io::Error>(())
            }
        })
        .await
        .unwrap_err();
    assert!(e.is_feedback_lock_lost(), "{e}");
    assert_eq!(*seen.lock().unwrap(), ["l3"]);
    assert_eq!(emu.iothub().feedback_records_outstanding(), 1);
}

#[tokio::test]
async fn a_failing_handler_abandons_the_batch_for_redelivery() {
    let (emu, hub, _) = hub_with_device("fb-fail").await;
    send_and_settle(&emu, "fb-fail", &["f1", "f2", "f3"], |c, d, m| {
        c.complete_c2d_message(d, m)
    });
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c2 = calls.clone();
    let e = hub
        .feedback_stream()
        .handle(move |r| {
            let c2 = c2.clone();
            async move {
                c2.lock().unwrap().push(r.original_message_id.clone());
                if r.original_message_id == "f2" {
                    return Err(std::io::Error::other("database down"));
                }
                Ok(())
            }
        })
        .await
        .unwrap_err();
    assert_eq!(*calls.lock().unwrap(), ["f1", "f2"], "stops at the failure");
    assert!(matches!(e.kind(), azure_twins::ErrorKind::Other), "{e:?}");
    assert!(e.to_string().contains("record 2 of 3"), "{e}");
    let source = std::error::Error::source(&e).expect("the handler's error");
    assert_eq!(source.to_string(), "database down");
    // Abandoned, not completed: all three come again, in order.
    assert_eq!(emu.iothub().feedback_records_outstanding(), 3);
    let again = hub.receive_feedback().send().await.unwrap().unwrap();
    assert_eq!(
        again
            .records()
            .iter()
            .map(|r| r.original_message_id.as_str())
            .collect::<Vec<_>>(),
        ["f1", "f2", "f3"]
    );
    drop(again.abandon().await);
    // A handler that succeeds takes them and completes the batch.
    let n = hub
        .feedback_stream()
        .handle(|_| async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(emu.iothub().feedback_records_outstanding(), 0);
}

#[tokio::test]
async fn every_record_is_handled_exactly_once_across_batches() {
    let (emu, hub) = start().await;
    // 3 devices x 50 messages (the queue depth): 150 records, more than two batches of 64.
    let mut expected = Vec::new();
    for d in 0..3 {
        let device = format!("fb-many-{d}");
        hub.create_device(&device).send().await.unwrap();
        let c2d = emu.iothub();
        for m in 0..50 {
            let id = format!("{device}/m{m:02}");
            c2d.enqueue_c2d_message_with_ack(&device, &id, json!(m), C2dAck::Full)
                .unwrap();
            if m % 3 == 0 {
                c2d.reject_c2d_message(&device, &id).unwrap();
            } else {
                c2d.complete_c2d_message(&device, &id).unwrap();
            }
            expected.push(id);
        }
    }
    let seen: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let s2 = seen.clone();
    let handled = hub
        .feedback_stream()
        .handle(move |r| {
            let s2 = s2.clone();
            async move {
                *s2.lock().unwrap().entry(r.original_message_id).or_default() += 1;
                Ok::<_, std::io::Error>(())
            }
        })
        .await
        .unwrap();
    assert_eq!(handled, 150);
    let seen = seen.lock().unwrap().clone();
    expected.sort();
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), expected);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    assert_eq!(emu.iothub().feedback_records_outstanding(), 0);
    assert!(hub.receive_feedback().send().await.unwrap().is_none());
}

#[tokio::test]
async fn the_stream_yields_batch_handles_of_at_most_64_records() {
    let (emu, hub) = start().await;
    for d in 0..2 {
        let device = format!("fb-stream-{d}");
        hub.create_device(&device).send().await.unwrap();
        let c2d = emu.iothub();
        for m in 0..40 {
            let id = format!("{device}-{m}");
            c2d.enqueue_c2d_message_with_ack(&device, &id, json!(m), C2dAck::Positive)
                .unwrap();
            c2d.complete_c2d_message(&device, &id).unwrap();
        }
    }
    let mut stream = Box::pin(hub.feedback_stream().into_stream());
    let mut sizes = Vec::new();
    while let Some(batch) = stream.try_next().await.unwrap() {
        sizes.push(batch.len());
        assert!(batch.records().iter().all(|r| r.status_code.is_success()));
        batch.complete().await.unwrap();
    }
    assert_eq!(sizes, [MAX_BATCH_RECORDS, 80 - MAX_BATCH_RECORDS]);
    assert_eq!(emu.iothub().feedback_records_outstanding(), 0);
    // A zero poll interval is refused before anything is sent.
    let e = hub
        .feedback_stream()
        .poll_every(Duration::ZERO)
        .into_stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "poll_every");
}

#[tokio::test]
async fn a_dropped_batch_is_abandoned_and_delivered_again() {
    let (emu, hub, _) = hub_with_device("fb-drop").await;
    send_and_settle(&emu, "fb-drop", &["d1"], |c, d, m| {
        c.complete_c2d_message(d, m)
    });
    let batch = hub.receive_feedback().send().await.unwrap().unwrap();
    let records = batch.records().to_vec();
    drop(batch);
    // The abandon runs in the background; the batch comes back once it has (the lock lasts the
    // default minute, so only the abandon can return it within this loop).
    let mut again = None;
    for _ in 0..2000 {
        if let Some(b) = hub.receive_feedback().send().await.unwrap() {
            again = Some(b);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let again = again.expect("the dropped batch was abandoned");
    assert_eq!(again.records(), records.as_slice());
    again.complete().await.unwrap();
    assert_eq!(emu.iothub().feedback_records_outstanding(), 0);
}

#[tokio::test]
async fn feedback_lock_tokens_are_checked_locally() {
    let server = CaptureServer::start().await;
    let hub = server.client();
    for bad in ["", "has space", "tab\tin"] {
        let e = hub.complete_feedback(bad).send().await.unwrap_err();
        assert_eq!(invalid_field(&e), "lock_token");
        let e = hub.abandon_feedback(bad).send().await.unwrap_err();
        assert_eq!(invalid_field(&e), "lock_token");
    }
    assert_eq!(server.count(), 0, "nothing is sent");
}

#[tokio::test]
async fn feedback_calls_send_the_generated_requests() {
    let server = CaptureServer::start().await;
    let body = br#"[{"originalMessageId":"m1","description":"Success","deviceGenerationId":"637","deviceId":"d","enqueuedTimeUtc":"2021-07-07T20:47:33.1234567Z","statusCode":"Success"}]"#;
    server.push(Scripted {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("etag".into(), "\"lock-1\"".into()),
        ],
        body: body.to_vec(),
    });
    server.push(Scripted {
        status: 204,
        headers: vec![],
        body: vec![],
    });
    server.push(Scripted {
        status: 204,
        headers: vec![],
        body: vec![],
    });
    // A 200 without a lock token cannot be settled: an error, not a batch.
    server.push(Scripted {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_vec(),
    });
    let hub = server.client();
    let batch = hub.receive_feedback().send().await.unwrap().unwrap();
    assert_eq!(batch.lock_token().as_str(), "lock-1");
    assert_eq!(
        batch.records()[0].device_generation_id.as_deref(),
        Some("637")
    );
    let (_, token) = batch.detach();
    hub.complete_feedback(&token).send().await.unwrap();
    hub.abandon_feedback(&token).send().await.unwrap();
    let e = hub.receive_feedback().send().await.unwrap_err();
    assert!(
        matches!(e.kind(), azure_twins::ErrorKind::DataConversion),
        "{e:?}"
    );
    let c = server.captured();
    let calls: Vec<_> = c
        .iter()
        .map(|c| (c.method.as_str(), c.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET", "/messages/serviceBound/feedback"),
            ("DELETE", "/messages/serviceBound/feedback/lock-1"),
            ("POST", "/messages/serviceBound/feedback/lock-1/abandon"),
            ("GET", "/messages/serviceBound/feedback"),
        ]
    );
    assert!(
        c.iter()
            .all(|c| c.query_param("api-version").as_deref() == Some("2021-04-12"))
    );
}
