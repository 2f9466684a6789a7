//! Scheduled jobs v2: twin-update and method jobs run to completion with statistics and
//! per-device records (`FROM devices.jobs`), cancellation, max execution time, validation, query.

mod iothub_support;

use iothub_support::{Hub, expect_error};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

fn now_plus(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

/// Polls the job until it reaches a terminal status (the scheduler runs in the background).
async fn wait_terminal(hub: &Hub, id: &str) -> Value {
    for _ in 0..300 {
        let (s, j) = hub.get_json(&format!("/jobs/v2/{id}")).await;
        assert_eq!(s, 200);
        if matches!(
            j["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        ) {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

#[tokio::test]
async fn twin_update_job_runs_to_completion() {
    let hub = Hub::start().await;
    for i in 0..4 {
        let id = format!("j{i}");
        hub.create_device(&id).await;
        hub.patch_twin(
            &id,
            &json!({"tags": {"fleet": if i < 3 { "a" } else { "b" }}}),
        )
        .await;
    }
    let r = hub
        .send_json(
            Method::PUT,
            "/jobs/v2/job-twin",
            &json!({
                "jobId": "job-twin",
                "type": "scheduleUpdateTwin",
                "queryCondition": "tags.fleet = 'a'",
                "startTime": now_plus(0),
                "maxExecutionTimeInSeconds": 60,
                "updateTwin": {"etag": "*", "tags": {"updated": true}, "properties": {"desired": {"interval": 30}}},
            }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["jobId"], "job-twin");
    assert!(matches!(created["status"].as_str(), Some("queued")));
    assert!(created["deviceJobStatistics"].is_object());
    let done = wait_terminal(&hub, "job-twin").await;
    assert_eq!(done["status"], "completed");
    assert_eq!(
        done["deviceJobStatistics"],
        json!({"deviceCount": 3, "failedCount": 0, "succeededCount": 3, "runningCount": 0, "pendingCount": 0})
    );
    assert!(done["endTime"].is_string());
    for i in 0..4 {
        let t = hub.get_json(&format!("/twins/j{i}")).await.1;
        let expect = i < 3;
        assert_eq!(t["tags"]["updated"] == true, expect, "j{i}");
        assert_eq!(t["properties"]["desired"]["interval"] == 30, expect, "j{i}");
    }
    let r = hub
        .send_json(
            Method::POST,
            "/devices/query",
            &json!({"query": "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'job-twin'"}),
        )
        .await;
    assert_eq!(r.headers()["x-ms-item-type"], "DeviceJob");
    let rows: Value = r.json().await.unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r["status"] == "completed" && r["jobType"] == "scheduleUpdateTwin")
    );
    // duplicate id
    let r = hub
        .send_json(
            Method::PUT,
            "/jobs/v2/job-twin",
            &json!({"type": "scheduleUpdateTwin", "queryCondition": "*", "startTime": now_plus(0), "updateTwin": {"tags": {"a": 1}}}),
        )
        .await;
    expect_error(r, 409, "JobAlreadyExists").await;
}

#[tokio::test]
async fn method_job_records_outcomes_and_failures() {
    let hub = Hub::start().await;
    for id in ["ok1", "ok2", "offline"] {
        hub.create_device(id).await;
        hub.patch_twin(id, &json!({"tags": {"kind": "lamp"}})).await;
    }
    for id in ["ok1", "ok2"] {
        hub.emu
            .register_method_handler(id, None, "blink", |p| (200, json!({"blinked": p})));
    }
    let r = hub
        .send_json(
            Method::PUT,
            "/jobs/v2/blink-all",
            &json!({
                "type": "scheduleDeviceMethod",
                "queryCondition": "tags.kind = 'lamp'",
                "startTime": now_plus(0),
                "maxExecutionTimeInSeconds": 60,
                "cloudToDeviceMethod": {"methodName": "blink", "payload": 2, "responseTimeoutInSeconds": 10},
            }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let done = wait_terminal(&hub, "blink-all").await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["deviceJobStatistics"]["succeededCount"], 2);
    assert_eq!(done["deviceJobStatistics"]["failedCount"], 1);
    assert_eq!(done["cloudToDeviceMethod"]["methodName"], "blink");
    let r = hub
        .send_json(
            Method::POST,
            "/devices/query",
            &json!({"query": "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'blink-all'"}),
        )
        .await;
    let rows: Value = r.json().await.unwrap();
    let ok = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["deviceId"] == "ok1")
        .unwrap();
    assert_eq!(
        ok["outcome"]["deviceMethodResponse"],
        json!({"status": 200, "payload": {"blinked": 2}})
    );
    let off = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["deviceId"] == "offline")
        .unwrap();
    assert_eq!(off["status"], "failed");
    assert_eq!(off["error"]["code"], "DeviceNotOnline");
}

#[tokio::test]
async fn cancel_future_job_and_query_jobs() {
    let hub = Hub::start().await;
    hub.create_device("c1").await;
    let r = hub
        .send_json(
            Method::PUT,
            "/jobs/v2/later",
            &json!({"type": "scheduleUpdateTwin", "queryCondition": "*", "startTime": now_plus(3600), "updateTwin": {"tags": {"x": 1}}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, j) = hub.get_json("/jobs/v2/later").await;
    assert_eq!(j["status"], "queued");
    let r = hub
        .send_json(
            Method::PUT,
            "/jobs/v2/later2",
            &json!({"type": "scheduleDeviceMethod", "queryCondition": "*", "startTime": now_plus(3600), "cloudToDeviceMethod": {"methodName": "m"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = hub.send(Method::POST, "/jobs/v2/later/cancel").await;
    assert_eq!(r.status(), 200);
    let j: Value = r.json().await.unwrap();
    assert_eq!(j["status"], "cancelled");
    assert!(hub.get_json("/twins/c1").await.1.get("tags").is_none());
    let r = hub.send(Method::POST, "/jobs/v2/ghost/cancel").await;
    expect_error(r, 404, "JobNotFound").await;
    let r = hub.send(Method::GET, "/jobs/v2/ghost").await;
    expect_error(r, 404, "JobNotFound").await;

    let r = hub
        .send(Method::GET, "/jobs/v2/query?jobType=scheduleDeviceMethod")
        .await;
    assert_eq!(r.headers()["x-ms-item-type"], "JobResponse");
    let rows: Value = r.json().await.unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["jobId"], "later2");
    let (_, rows) = hub.get_json("/jobs/v2/query?jobStatus=cancelled").await;
    assert_eq!(
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["jobId"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["later"]
    );
    let r = hub
        .req(Method::GET, "/jobs/v2/query")
        .header("x-ms-max-item-count", "1")
        .send()
        .await
        .unwrap();
    let cont = r.headers()["x-ms-continuation"]
        .to_str()
        .unwrap()
        .to_string();
    let first: Value = r.json().await.unwrap();
    let r = hub
        .req(Method::GET, "/jobs/v2/query")
        .header("x-ms-max-item-count", "1")
        .header("x-ms-continuation", cont)
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("x-ms-continuation").is_none());
    let second: Value = r.json().await.unwrap();
    assert_ne!(first[0]["jobId"], second[0]["jobId"]);
    let r = hub.send(Method::GET, "/jobs/v2/query?jobType=export").await;
    expect_error(r, 400, "ArgumentInvalid").await;
}

#[tokio::test]
async fn max_execution_time_fails_the_job() {
    let hub = Hub::start().await;
    hub.create_device("s1").await;
    hub.emu
        .register_async_method_handler("s1", None, "slow", |_| async {
            tokio::time::sleep(Duration::from_secs(120)).await;
            (200, Value::Null)
        });
    let r = hub
        .send_json(
            Method::PUT,
            "/jobs/v2/too-slow",
            &json!({
                "type": "scheduleDeviceMethod",
                "queryCondition": "deviceId = 's1'",
                "startTime": now_plus(0),
                "maxExecutionTimeInSeconds": 1,
                "cloudToDeviceMethod": {"methodName": "slow", "responseTimeoutInSeconds": 60},
            }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let done = wait_terminal(&hub, "too-slow").await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["failureReason"]
            .as_str()
            .unwrap()
            .contains("maxExecutionTimeInSeconds")
    );
    assert_eq!(done["deviceJobStatistics"]["failedCount"], 1);
}

#[tokio::test]
async fn job_requests_are_validated() {
    let hub = Hub::start().await;
    let start = now_plus(10);
    let cases = [
        json!({"type": "export", "queryCondition": "*", "startTime": start, "updateTwin": {"tags": {}}}),
        json!({"queryCondition": "*", "startTime": start}),
        json!({"type": "scheduleUpdateTwin", "startTime": start, "updateTwin": {"tags": {"a": 1}}}),
        json!({"type": "scheduleUpdateTwin", "queryCondition": "tags.a = ", "startTime": start, "updateTwin": {"tags": {"a": 1}}}),
        json!({"type": "scheduleUpdateTwin", "queryCondition": "*", "startTime": "tomorrow", "updateTwin": {"tags": {"a": 1}}}),
        json!({"type": "scheduleUpdateTwin", "queryCondition": "*", "updateTwin": {"tags": {"a": 1}}}),
        json!({"type": "scheduleUpdateTwin", "queryCondition": "*", "startTime": start, "maxExecutionTimeInSeconds": 0, "updateTwin": {"tags": {"a": 1}}}),
        json!({"type": "scheduleUpdateTwin", "queryCondition": "*", "startTime": start}),
        json!({"type": "scheduleUpdateTwin", "queryCondition": "*", "startTime": start, "updateTwin": {"tags": {"a.b": 1}}}),
        json!({"type": "scheduleUpdateTwin", "queryCondition": "*", "startTime": start, "updateTwin": {"etag": "AAAAAAAAAAE=", "tags": {"a": 1}}}),
        json!({"type": "scheduleDeviceMethod", "queryCondition": "*", "startTime": start}),
        json!({"type": "scheduleDeviceMethod", "queryCondition": "*", "startTime": start, "cloudToDeviceMethod": {"methodName": "x", "responseTimeoutInSeconds": 1000}}),
        json!({"jobId": "other", "type": "scheduleDeviceMethod", "queryCondition": "*", "startTime": start, "cloudToDeviceMethod": {"methodName": "x"}}),
    ];
    for (i, body) in cases.iter().enumerate() {
        let r = hub
            .send_json(Method::PUT, &format!("/jobs/v2/v{i}"), body)
            .await;
        let msg = expect_error(r, 400, "ArgumentInvalid").await;
        assert!(msg.len() > 30, "case {i}: {msg}");
    }
}
