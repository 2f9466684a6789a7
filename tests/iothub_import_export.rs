//! IoT Hub import/export jobs end to end: the facade against the in-process emulator, whose
//! jobs read and write real blobs in Azurite (npm `azurite`, started by
//! `testsupport/azurite.rs`).
#![cfg(feature = "iothub")]

#[path = "../testsupport/azurite.rs"]
mod azurite;
mod iothub_support;

use std::collections::BTreeSet;
use std::time::Duration;

use azure_twins::ErrorKind;
use azure_twins::iothub::{JobStatus, JobType};
use iothub_support::{invalid_field, start};
use serde_json::{Value, json};

async fn setup() -> (
    azure_twins_emulator::Emulator,
    azurite::Azurite,
    azure_twins::IotHubClient,
) {
    let (emu, hub) = start().await;
    let store = azurite::Azurite::start().await;
    for c in ["exports", "imports", "logs"] {
        store.create_container(c).await;
    }
    (emu, store, hub)
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

const FAST: Duration = Duration::from_millis(50);

#[tokio::test]
async fn export_writes_every_device_with_or_without_keys() {
    let (_emu, store, hub) = setup().await;
    let mut keys = Vec::new();
    for id in ["exp-1", "exp-2", "exp-3"] {
        let d = hub.create_device(id).send().await.unwrap();
        keys.push(d.primary_key().unwrap().expose_secret().to_owned());
    }
    let job = hub
        .create_export_job(store.container_sas_url("exports"))
        .send()
        .await
        .expect("export job created");
    let id = job.job_id.clone().expect("the service names the job");
    assert_eq!(job.job_type(), JobType::Export);
    let done = hub
        .wait_for_import_export_job(&id)
        .poll_every(FAST)
        .await
        .unwrap();
    assert_eq!(
        done.job_status(),
        JobStatus::Completed,
        "{:?}",
        done.failure_reason
    );
    assert_eq!(done.job_id.as_deref(), Some(id.as_str()));

    let text = store
        .read_blob_string("exports", "devices.txt")
        .await
        .expect("devices.txt written");
    let exported = lines(&text);
    let ids: BTreeSet<_> = exported
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        ["exp-1", "exp-2", "exp-3"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    let first = exported.iter().find(|d| d["id"] == "exp-1").unwrap();
    assert_eq!(
        first["authentication"]["symmetricKey"]["primaryKey"],
        keys[0].as_str()
    );

    // Without keys, to another blob.
    let job = hub
        .create_export_job(store.container_sas_url("exports"))
        .exclude_keys(true)
        .output_blob_name("no-keys.txt")
        .send()
        .await
        .unwrap();
    let done = hub
        .wait_for_import_export_job(job.job_id.unwrap())
        .poll_every(FAST)
        .await
        .unwrap();
    assert_eq!(
        done.job_status(),
        JobStatus::Completed,
        "{:?}",
        done.failure_reason
    );
    let text = store
        .read_blob_string("exports", "no-keys.txt")
        .await
        .expect("no-keys.txt written");
    let exported = lines(&text);
    assert_eq!(exported.len(), 3);
    for d in &exported {
        let key = &d["authentication"]["symmetricKey"]["primaryKey"];
        assert!(key.is_null(), "keys excluded, got {key}");
    }
}

#[tokio::test]
async fn import_creates_and_updates_devices_and_jobs_are_listed() {
    let (_emu, store, hub) = setup().await;
    hub.create_device("old").send().await.unwrap();
    let input = [
        json!({"id": "imp-1", "importMode": "create"}),
        json!({"id": "imp-2", "importMode": "create", "status": "disabled"}),
        json!({"id": "old", "importMode": "update", "status": "disabled"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    store.put_blob("imports", "batch.txt", input).await;
    let job = hub
        .create_import_job(
            store.container_sas_url("imports"),
            store.container_sas_url("logs"),
        )
        .input_blob_name("batch.txt")
        .send()
        .await
        .expect("import job created");
    assert_eq!(job.job_type(), JobType::Import);
    let id = job.job_id.clone().unwrap();
    let done = hub
        .wait_for_import_export_job(&id)
        .poll_every(FAST)
        .await
        .unwrap();
    assert_eq!(
        done.job_status(),
        JobStatus::Completed,
        "{:?}",
        done.failure_reason
    );

    let imp1 = hub.get_device("imp-1").send().await.unwrap();
    assert_eq!(imp1.device_id, "imp-1");
    let imp2 = hub.get_device("imp-2").send().await.unwrap();
    assert_eq!(
        serde_json::to_value(&imp2.status).unwrap(),
        json!("disabled")
    );
    let old = hub.get_device("old").send().await.unwrap();
    assert_eq!(
        serde_json::to_value(&old.status).unwrap(),
        json!("disabled")
    );

    // Get and list show the job.
    let got = hub.get_import_export_job(&id).send().await.unwrap();
    assert_eq!(got.job_status(), JobStatus::Completed);
    assert_eq!(got.job_type(), JobType::Import);
    // The echoed container URIs are SAS URLs: readable, never in Debug.
    let echoed = got
        .input_blob_container_uri
        .as_ref()
        .unwrap()
        .expose_secret();
    assert!(echoed.contains("sig="), "{echoed}");
    let shown = format!("{got:?}");
    assert!(!shown.contains("sig="), "{shown}");
    let listed = hub.list_import_export_jobs().send().await.unwrap();
    let ids: Vec<_> = listed.iter().filter_map(|j| j.job_id.as_deref()).collect();
    assert_eq!(ids, vec![id.as_str()]);
}

#[tokio::test]
async fn cancel_and_unknown_jobs() {
    let (_emu, store, hub) = setup().await;
    let e = hub
        .cancel_import_export_job("no-such-job")
        .send()
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = hub
        .get_import_export_job("no-such-job")
        .send()
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");

    let job = hub
        .create_export_job(store.container_sas_url("exports"))
        .send()
        .await
        .unwrap();
    let id = job.job_id.unwrap();
    hub.cancel_import_export_job(&id).send().await.unwrap();
    let done = hub
        .wait_for_import_export_job(&id)
        .poll_every(FAST)
        .await
        .unwrap();
    assert!(done.job_status().is_terminal());
    // Cancelled before it ran, or (on a slow machine) finished first: a terminal state either
    // way, and cancelling a finished job changes nothing.
    let before = done.job_status();
    hub.cancel_import_export_job(&id).send().await.ok();
    let after = hub.get_import_export_job(&id).send().await.unwrap();
    assert_eq!(after.job_status(), before);
}

#[tokio::test]
async fn wait_times_out_with_the_last_status() {
    let (_emu, store, hub) = setup().await;
    let job = hub
        .create_export_job(store.container_sas_url("exports"))
        .send()
        .await
        .unwrap();
    let e = hub
        .wait_for_import_export_job(job.job_id.unwrap())
        .poll_every(Duration::from_millis(1))
        .timeout(Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Timeout), "{e}");
    assert!(e.to_string().contains("last status"), "{e}");
}

#[tokio::test]
async fn bad_input_fails_locally_and_nothing_is_sent() {
    let (_emu, store, hub) = setup().await;
    let leaky = "http://acct.blob.core.windows.net/exports?sv=1&sig=s3cr3t";
    let e = hub.create_export_job(leaky).send().await.unwrap_err();
    assert_eq!(invalid_field(&e), "output_blob_container_uri");
    assert!(!format!("{e} {e:?}").contains("s3cr3t"));
    let e = hub
        .create_import_job("", store.container_sas_url("logs"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "input_blob_container_uri");
    let e = hub
        .create_import_job(
            store.container_sas_url("imports"),
            store.container_sas_url("logs"),
        )
        .output_blob_name("log/")
        .send()
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "output_blob_name");
    let e = hub
        .wait_for_import_export_job("a b")
        .poll_every(FAST)
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "job_id");
    assert!(
        hub.list_import_export_jobs()
            .send()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn failed_import_lines_are_logged_and_the_others_applied() {
    let (_emu, store, hub) = setup().await;
    hub.create_device("taken").send().await.unwrap();
    let input = [
        json!({"id": "taken", "importMode": "create"}),
        json!({"id": "fresh", "importMode": "create"}),
        json!({"id": "never-was", "importMode": "delete"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    store.put_blob("imports", "devices.txt", input).await;
    let job = hub
        .create_import_job(
            store.container_sas_url("imports"),
            store.container_sas_url("logs"),
        )
        .send()
        .await
        .unwrap();
    let done = hub
        .wait_for_import_export_job(job.job_id.unwrap())
        .poll_every(FAST)
        .await
        .unwrap();
    assert!(done.job_status().is_terminal());
    assert_ne!(done.job_status(), JobStatus::Completed, "two lines failed");
    assert!(
        done.failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("importErrors.log")),
        "{:?}",
        done.failure_reason
    );
    let log = store
        .read_blob_string("logs", "importErrors.log")
        .await
        .expect("importErrors.log written");
    let entries = lines(&log);
    let failed: Vec<_> = entries
        .iter()
        .map(|e| (e["deviceId"].as_str().unwrap(), e["errorCode"].clone()))
        .collect();
    assert_eq!(failed.len(), 2, "{log}");
    assert_eq!(failed[0].0, "taken");
    assert_eq!(failed[1].0, "never-was");
    assert_eq!(
        hub.get_device("fresh").send().await.unwrap().device_id,
        "fresh"
    );
}
