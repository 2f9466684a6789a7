//! One post-commit fault per resolution path: the emulator applies the write, then loses its
//! answer (connection dropped, 503/504 instead of the real answer). Each test checks what the
//! caller is told (applied, or ambiguous with what was sent and found) against what the service
//! really holds afterwards: never a silent double apply, never a misleading 412 or 404.
#![cfg(all(feature = "iothub", feature = "digitaltwins"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use azure_twins::digitaltwins::{BasicDigitalTwin, JsonPatch, Pointer};
use azure_twins::iothub::TwinPatch;
use azure_twins::{
    ClientOptions, Condition, Credential, DigitalTwinsClient, ErrorKind, IotHubClient, ReadBack,
    RetryOptions,
};
use azure_twins_emulator::{Emulator, Fault, FaultRule};
use serde_json::{Value, json};

const ROOM: &str = "dtmi:com:example:PostCommitRoom;1";

fn options() -> ClientOptions {
    ClientOptions::default().retry(
        RetryOptions::default()
            .max_retries(4)
            .initial_delay(Duration::from_millis(1))
            .max_delay(Duration::from_millis(5)),
    )
}

fn once(fault: Fault, method: &str, path: &str) -> FaultRule {
    FaultRule {
        method: Some(method.into()),
        path_prefix: Some(path.into()),
        ..FaultRule::new(fault, 1)
    }
}

async fn hub() -> (Emulator, IotHubClient) {
    let emu = Emulator::builder().start().await.unwrap();
    let hub = IotHubClient::from_connection_string_with_options(
        &emu.iothub_connection_string(),
        options(),
    )
    .unwrap();
    hub.create_device("d1").send().await.unwrap();
    (emu, hub)
}

async fn adt() -> (Emulator, DigitalTwinsClient) {
    let emu = Emulator::builder().start().await.unwrap();
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("t"))
        .options(options())
        .build()
        .unwrap();
    dt.create_models(vec![json!({
        "@id": ROOM, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
        "contents": [
            {"@type": "Property", "name": "temperature", "schema": "double", "writable": true},
            {"@type": "Relationship", "name": "next"}
        ]
    })])
    .send()
    .await
    .unwrap();
    (emu, dt)
}

async fn desired_version(hub: &IotHubClient) -> i64 {
    let t = hub.get_twin("d1").send().await.unwrap();
    t.value.desired_version().unwrap_or(0)
}

/// An unconditional twin PATCH is not resent after a lost answer ($version would move twice):
/// the caller is told the outcome is unknown, with the stored twin holding what was sent.
#[tokio::test]
async fn iothub_unconditional_patch_is_not_resent_and_is_reported_ambiguous() {
    let (emu, hub) = hub().await;
    let before = desired_version(&hub).await;
    emu.faults().inject(once(
        Fault::ApplyThenError { status: 503 },
        "PATCH",
        "/twins/d1",
    ));
    let err = hub
        .update_twin("d1")
        .set_desired("mode", "eco")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    assert_eq!(err.kind(), &ErrorKind::OutcomeUnknown);
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    let a = err.ambiguity().expect("ambiguity");
    assert_eq!(a.operation(), "devices_update_twin");
    assert_eq!(a.request().0, "PATCH");
    assert_eq!(
        a.sent().unwrap()["properties"]["desired"]["mode"],
        json!("eco")
    );
    assert_eq!(a.found_matches_sent(), Some(true));
    match a.found() {
        ReadBack::Present { value, etag } => {
            assert_eq!(value["properties"]["desired"]["mode"], json!("eco"));
            assert!(etag.is_some());
        }
        other => panic!("found {other:?}"),
    }
    // Applied exactly once: one $version step, one request.
    assert_eq!(desired_version(&hub).await, before + 1);
    assert_eq!(emu.faults().injected(), 1);
    assert!(!format!("{err:?}").contains("SharedAccess"));
}

/// A PATCH with If-Match whose first attempt landed: the resend meets 412 for its own write.
/// The caller must not be told "conflict" (it would re-read and apply again).
#[tokio::test]
async fn iothub_if_match_patch_landed_then_dropped_is_not_a_conflict() {
    let (emu, hub) = hub().await;
    let current = hub.get_twin("d1").send().await.unwrap();
    let before = current.value.desired_version().unwrap_or(0);
    emu.faults()
        .inject(once(Fault::ApplyThenDrop, "PATCH", "/twins/d1"));
    let err = hub
        .update_twin("d1")
        .set_desired("count", 1)
        .if_match(&current.etag)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    assert!(!err.is_precondition_failed(), "a misleading 412: {err:?}");
    let a = err.ambiguity().unwrap();
    assert_eq!(a.last_status().map(|s| s.as_u16()), Some(412));
    assert_eq!(a.found_matches_sent(), Some(true));
    assert_eq!(desired_version(&hub).await, before + 1);
}

/// The same fault before commit (the request never reached the service): the resend with the
/// same If-Match lands, exactly once.
#[tokio::test]
async fn iothub_if_match_patch_dropped_before_commit_is_resent_once() {
    let (emu, hub) = hub().await;
    let current = hub.get_twin("d1").send().await.unwrap();
    let before = current.value.desired_version().unwrap_or(0);
    emu.faults()
        .inject(once(Fault::DropConnection, "PATCH", "/twins/d1"));
    let t = hub
        .update_twin("d1")
        .set_desired("count", 1)
        .if_match(&current.etag)
        .send()
        .await
        .unwrap();
    assert_eq!(t.value.desired_version(), Some(before + 1));
    assert_eq!(emu.faults().injected(), 1);
}

/// A scheduled job has a fixed id: the resend meets 409 JobAlreadyExists, the stored job is
/// the one sent, so the call reports the job created (one job).
#[tokio::test]
async fn iothub_job_create_landed_then_503_is_created() {
    let (emu, hub) = hub().await;
    emu.faults().inject(once(
        Fault::ApplyThenError { status: 503 },
        "PUT",
        "/jobs/v2/job-1",
    ));
    let job = hub
        .schedule_twin_update(
            "job-1",
            "deviceId = 'd1'",
            TwinPatch::new().desired(json!({"fw": "2"})),
        )
        .send()
        .await
        .expect("resolved as created");
    assert_eq!(job.job_id, "job-1");
    assert_eq!(emu.faults().injected(), 1);
    let got = hub.get_job("job-1").send().await.unwrap();
    assert_eq!(got.job_id, "job-1");
}

/// A direct method is never resent; a lost answer is ambiguous and the device ran it once.
#[tokio::test]
async fn direct_method_with_lost_answer_is_ambiguous_and_ran_once() {
    let (emu, hub) = hub().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    emu.register_method_handler("d1", None, "reboot", move |_| {
        c2.fetch_add(1, Ordering::SeqCst);
        (200, Value::Null)
    });
    emu.faults()
        .inject(once(Fault::ApplyThenDrop, "POST", "/twins/d1/methods"));
    let err = hub
        .invoke_device_method("d1", "reboot")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    assert_eq!(err.ambiguity().unwrap().found(), &ReadBack::NotRead);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A create with If-None-Match whose first attempt landed: the resend meets 412, the stored
/// twin equals the one sent, so the call reports it created.
#[tokio::test]
async fn adt_create_landed_then_503_is_created() {
    let (emu, dt) = adt().await;
    emu.faults().inject(once(
        Fault::ApplyThenError { status: 503 },
        "PUT",
        "/digitaltwins/r1",
    ));
    let created = dt
        .create_twin(
            "r1",
            BasicDigitalTwin::new("r1", ROOM).with_property("temperature", 21),
        )
        .condition(Condition::IfNoneMatchAny)
        .send()
        .await
        .expect("resolved as created");
    assert_eq!(created.value["temperature"].as_f64(), Some(21.0));
    let got = dt.get_twin("r1").send().await.unwrap();
    assert_eq!(got.etag, created.etag, "the stored twin's ETag is returned");
    assert_eq!(emu.faults().injected(), 1);
}

/// A create whose resend meets a different stored twin (another writer's) is not reported as
/// created: it stays ambiguous, showing what was found.
#[tokio::test]
async fn adt_create_meeting_a_different_twin_is_not_claimed() {
    let (emu, dt) = adt().await;
    dt.create_twin(
        "r2",
        BasicDigitalTwin::new("r2", ROOM).with_property("temperature", 5),
    )
    .send()
    .await
    .unwrap();
    // The first attempt is dropped before reaching the service; the resend then meets the
    // existing twin with 412.
    emu.faults()
        .inject(once(Fault::DropConnection, "PUT", "/digitaltwins/r2"));
    let err = dt
        .create_twin(
            "r2",
            BasicDigitalTwin::new("r2", ROOM).with_property("temperature", 6),
        )
        .condition(Condition::IfNoneMatchAny)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    let a = err.ambiguity().unwrap();
    assert_eq!(a.found_matches_sent(), Some(false));
    match a.found() {
        ReadBack::Present { value, .. } => assert_eq!(value["temperature"].as_f64(), Some(5.0)),
        other => panic!("found {other:?}"),
    }
}

/// JSON Patch with If-Match landed, answer lost: ambiguous (never 412), the stored twin holds
/// the patch's effect.
#[tokio::test]
async fn adt_if_match_patch_landed_then_504_is_ambiguous_with_a_match() {
    let (emu, dt) = adt().await;
    let created = dt
        .create_twin(
            "r3",
            BasicDigitalTwin::new("r3", ROOM).with_property("temperature", 1),
        )
        .send()
        .await
        .unwrap();
    emu.faults().inject(once(
        Fault::ApplyThenError { status: 504 },
        "PATCH",
        "/digitaltwins/r3",
    ));
    let err = dt
        .update_twin(
            "r3",
            JsonPatch::new().replace(Pointer::property("temperature"), json!(2)),
        )
        .if_match(&created.etag)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    assert!(!err.is_precondition_failed());
    assert_eq!(err.ambiguity().unwrap().found_matches_sent(), Some(true));
    let got = dt.get_twin("r3").send().await.unwrap();
    assert_eq!(got.value["temperature"].as_f64(), Some(2.0));
}

/// A delete whose answer was dropped after it landed: the resend meets 404, which means
/// deleted.
#[tokio::test]
async fn adt_delete_landed_then_dropped_is_deleted() {
    let (emu, dt) = adt().await;
    dt.create_twin(
        "r4",
        BasicDigitalTwin::new("r4", ROOM).with_property("temperature", 1),
    )
    .send()
    .await
    .unwrap();
    emu.faults()
        .inject(once(Fault::ApplyThenDrop, "DELETE", "/digitaltwins/r4"));
    dt.delete_twin("r4")
        .send()
        .await
        .expect("resolved as deleted");
    assert!(dt.get_twin("r4").send().await.unwrap_err().is_not_found());
    assert_eq!(emu.faults().injected(), 1);
}

/// A relationship create whose answer was lost resolves like a twin create.
#[tokio::test]
async fn adt_relationship_create_landed_then_dropped_is_created() {
    let (emu, dt) = adt().await;
    for id in ["a", "b"] {
        dt.create_twin(
            id,
            BasicDigitalTwin::new(id, ROOM).with_property("temperature", 1),
        )
        .send()
        .await
        .unwrap();
    }
    emu.faults().inject(once(
        Fault::ApplyThenDrop,
        "PUT",
        "/digitaltwins/a/relationships/",
    ));
    let rel = dt
        .create_relationship(
            "a",
            "a-b",
            json!({"$targetId": "b", "$relationshipName": "next"}),
        )
        .condition(Condition::IfNoneMatchAny)
        .send()
        .await
        .expect("resolved as created");
    assert_eq!(rel.value["$targetId"], json!("b"));
    assert_eq!(emu.faults().injected(), 1);
}
