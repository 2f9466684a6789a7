//! Scheduled jobs against the emulator: twin-update and method jobs run and waited for,
//! cancellation, wait timeout, job queries with paging, errors and local validation.

mod iothub_support;

use std::time::Duration;

use azure_twins::ErrorKind;
use azure_twins::iothub::{DeviceMethod, Job, JobStatus, JobType, TwinPatch};
use futures::TryStreamExt;
use iothub_support::{CaptureServer, invalid_field, start};
use serde_json::{Value, json};

async fn devices(hub: &azure_twins::IotHubClient, ids: &[&str], site: &str) {
    for id in ids {
        hub.create_device(*id).send().await.unwrap();
        hub.update_twin(*id)
            .tags(json!({ "site": site }))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn twin_update_job_runs_to_completion() {
    let (_emu, hub) = start().await;
    devices(&hub, &["b1", "b2", "b3"], "berlin").await;
    devices(&hub, &["p1"], "paris").await;

    let job = hub
        .schedule_twin_update(
            "fw-21",
            "tags.site = 'berlin'",
            TwinPatch::new()
                .desired(json!({ "fw": "2.1" }))
                .tags(json!({ "rollout": 1 })),
        )
        .max_execution_time(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(job.job_id, "fw-21");
    assert_eq!(job.type_, Some(JobType::ScheduleUpdateTwin));
    assert_eq!(job.max_execution_time_in_seconds, Some(120));

    let done = hub
        .wait_for_job("fw-21")
        .poll_every(Duration::from_millis(20))
        .timeout(Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(done.status, Some(JobStatus::Completed), "{done:?}");
    let stats = done.device_job_statistics.unwrap();
    assert_eq!(
        (
            stats.device_count,
            stats.succeeded_count,
            stats.failed_count
        ),
        (Some(3), Some(3), Some(0))
    );

    for id in ["b1", "b2", "b3"] {
        let t = hub.get_twin(id).send().await.unwrap().value;
        assert_eq!(t.properties.desired["fw"], "2.1", "{id}");
        assert_eq!(t.tags["rollout"], 1, "{id}");
    }
    let p = hub.get_twin("p1").send().await.unwrap().value;
    assert!(p.properties.desired.get("fw").is_none());

    // Per-device job records are queryable.
    let rows: Vec<Value> = hub
        .query("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'fw-21'")
        .into_stream_as()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["status"] == "completed"), "{rows:?}");
}

#[tokio::test]
async fn method_job_with_handlers_and_a_device_without_one() {
    let (emu, hub) = start().await;
    devices(&hub, &["m1", "m2", "m3"], "lab").await;
    for id in ["m1", "m2"] {
        emu.register_method_handler(id, None, "reboot", |p| (200, json!({ "echo": p })));
    }
    hub.schedule_device_method(
        "reboot-lab",
        "tags.site = 'lab'",
        DeviceMethod::new("reboot")
            .payload(json!({ "delay": 1 }))
            .response_timeout(Duration::from_secs(5)),
    )
    .send()
    .await
    .unwrap();
    let done = hub
        .wait_for_job("reboot-lab")
        .poll_every(Duration::from_millis(20))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert!(done.status.as_ref().unwrap().is_terminal(), "{done:?}");
    assert_eq!(done.type_, Some(JobType::ScheduleDeviceMethod));
    let stats = done.device_job_statistics.unwrap();
    assert_eq!(
        (
            stats.device_count,
            stats.succeeded_count,
            stats.failed_count
        ),
        (Some(3), Some(2), Some(1))
    );
    let rows: Vec<Value> = hub
        .query("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'reboot-lab' AND devices.jobs.status = 'completed'")
        .into_stream_as()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0]["outcome"]["deviceMethodResponse"]["payload"]["echo"]["delay"],
        1
    );
}

#[tokio::test]
async fn cancel_a_scheduled_job_and_wait_timeout() {
    let (_emu, hub) = start().await;
    devices(&hub, &["c1"], "x").await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let job = hub
        .schedule_twin_update(
            "later",
            "tags.site = 'x'",
            TwinPatch::new().desired(json!({ "a": 1 })),
        )
        .start_at(later)
        .send()
        .await
        .unwrap();
    assert!(!job.status.as_ref().unwrap().is_terminal(), "{job:?}");

    // Not finished within the wait budget: a timeout error naming the job and its status.
    let err = hub
        .wait_for_job("later")
        .poll_every(Duration::from_millis(20))
        .max_poll_interval(Duration::from_millis(50))
        .timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Timeout, "{err:?}");
    assert!(err.to_string().contains("later"), "{err}");

    let cancelled = hub.cancel_job("later").send().await.unwrap();
    assert_eq!(cancelled.status, Some(JobStatus::Cancelled));
    assert_eq!(
        hub.get_job("later").send().await.unwrap().status,
        Some(JobStatus::Cancelled)
    );
    let waited = hub.wait_for_job("later").await.unwrap();
    assert_eq!(waited.status, Some(JobStatus::Cancelled));
    // The twin was never touched.
    let t = hub.get_twin("c1").send().await.unwrap().value;
    assert!(t.properties.desired.get("a").is_none());
}

#[tokio::test]
async fn query_jobs_by_type_and_status_across_pages() {
    let (_emu, hub) = start().await;
    devices(&hub, &["j1"], "y").await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    for i in 0..3 {
        hub.schedule_twin_update(
            format!("t{i}"),
            "tags.site = 'y'",
            TwinPatch::new().desired(json!({ "i": i })),
        )
        .start_at(later)
        .send()
        .await
        .unwrap();
    }
    hub.schedule_device_method("m0", "tags.site = 'y'", DeviceMethod::new("ping"))
        .start_at(later)
        .send()
        .await
        .unwrap();
    hub.cancel_job("t2").send().await.unwrap();

    let all: Vec<Job> = hub
        .list_jobs()
        .page_size(1)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    let twin_jobs: Vec<Job> = hub
        .list_jobs()
        .job_type(JobType::ScheduleUpdateTwin)
        .page_size(2)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(twin_jobs.len(), 3);
    let cancelled: Vec<Job> = hub
        .list_jobs()
        .status(JobStatus::Cancelled)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        cancelled
            .iter()
            .map(|j| j.job_id.as_str())
            .collect::<Vec<_>>(),
        vec!["t2"]
    );
    let methods: Vec<Job> = hub
        .list_jobs()
        .job_type(JobType::ScheduleDeviceMethod)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(methods.len(), 1);
    assert_eq!(methods[0].job_id, "m0");
}

#[tokio::test]
async fn job_errors() {
    let (_emu, hub) = start().await;
    let err = hub.get_job("missing").send().await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.error_code(), Some("JobNotFound"));
    let err = hub.cancel_job("missing").send().await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = hub.wait_for_job("missing").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");

    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let patch = TwinPatch::new().desired(json!({ "a": 1 }));
    hub.schedule_twin_update("dup", "tags.x = 1", patch.clone())
        .start_at(later)
        .send()
        .await
        .unwrap();
    let err = hub
        .schedule_twin_update("dup", "tags.x = 1", patch)
        .start_at(later)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409), "{err:?}");
    assert_eq!(err.error_code(), Some("JobAlreadyExists"));
}

#[tokio::test]
async fn job_inputs_are_checked_locally() {
    let server = CaptureServer::start().await;
    let hub = server.client();
    let p = || TwinPatch::new().desired(json!({ "a": 1 }));
    let cases = vec![
        (
            hub.schedule_twin_update("j", "", p())
                .send()
                .await
                .unwrap_err(),
            "condition",
        ),
        (
            hub.schedule_twin_update("j", "tags.a = 1", TwinPatch::new())
                .send()
                .await
                .unwrap_err(),
            "patch",
        ),
        (
            hub.schedule_twin_update("j", "tags.a = 1", TwinPatch::new().tags(json!({"a.b": 1})))
                .send()
                .await
                .unwrap_err(),
            "tags.a.b",
        ),
        (
            hub.schedule_twin_update("bad id", "tags.a = 1", p())
                .send()
                .await
                .unwrap_err(),
            "job_id",
        ),
        (
            hub.schedule_twin_update("j", "tags.a = 1", p())
                .max_execution_time(Duration::ZERO)
                .send()
                .await
                .unwrap_err(),
            "max_execution_time",
        ),
        (
            hub.schedule_device_method("j", "tags.a = 1", DeviceMethod::new(""))
                .send()
                .await
                .unwrap_err(),
            "method_name",
        ),
        (
            hub.schedule_device_method("j", "tags.a = 1", DeviceMethod::new("a b"))
                .send()
                .await
                .unwrap_err(),
            "method_name",
        ),
        (
            hub.schedule_device_method("j", " ", DeviceMethod::new("m"))
                .send()
                .await
                .unwrap_err(),
            "condition",
        ),
        (
            hub.schedule_device_method(
                "j",
                "tags.a = 1",
                DeviceMethod::new("m").response_timeout(Duration::from_secs(1)),
            )
            .send()
            .await
            .unwrap_err(),
            "response_timeout",
        ),
        (hub.get_job("").send().await.unwrap_err(), "job_id"),
        (
            hub.wait_for_job("j")
                .poll_every(Duration::ZERO)
                .await
                .unwrap_err(),
            "poll_every",
        ),
    ];
    for (err, field) in cases {
        assert_eq!(invalid_field(&err), field, "{err}");
    }
    assert_eq!(server.count(), 0, "nothing was sent");
}

/// The job documents sent on the wire.
#[tokio::test]
async fn wire_shape_of_job_creation() {
    let server = CaptureServer::start().await;
    let hub = server.client();
    let start_at: chrono::DateTime<chrono::Utc> = "2030-01-02T03:04:05Z".parse().unwrap();
    let _ = hub
        .schedule_twin_update(
            "j1",
            "tags.a = 1",
            TwinPatch::new()
                .desired(json!({ "x": 1 }))
                .remove_tag("old"),
        )
        .start_at(start_at)
        .max_execution_time(Duration::from_secs(600))
        .send()
        .await;
    let _ = hub
        .schedule_device_method(
            "j2",
            "tags.a = 1",
            DeviceMethod::new("reboot")
                .payload(json!({"p": 1}))
                .connect_timeout(Duration::from_secs(10)),
        )
        .start_at("2030-01-02T03:04:05.123456789Z".parse().unwrap())
        .send()
        .await;
    let c = server.captured();
    assert_eq!(c[0].method, "PUT");
    assert_eq!(c[0].path, "/jobs/v2/j1");
    assert_eq!(
        c[0].json(),
        json!({
            "jobId": "j1", "type": "scheduleUpdateTwin", "queryCondition": "tags.a = 1",
            "startTime": "2030-01-02T03:04:05Z", "maxExecutionTimeInSeconds": 600,
            "updateTwin": { "etag": "*", "tags": { "old": null }, "properties": { "desired": { "x": 1 } } }
        })
    );
    assert_eq!(c[1].path, "/jobs/v2/j2");
    assert_eq!(
        c[1].json()["cloudToDeviceMethod"],
        json!({ "methodName": "reboot", "payload": { "p": 1 }, "connectTimeoutInSeconds": 10 })
    );
    assert_eq!(c[1].json()["maxExecutionTimeInSeconds"], 3600);
    assert_eq!(c[1].json()["type"], "scheduleDeviceMethod");
    // Sent to the millisecond.
    assert_eq!(c[1].json()["startTime"], "2030-01-02T03:04:05.123Z");
    assert!(c[1].json().get("updateTwin").is_none());
}

/// Job query pages on the wire: filters as query parameters, page size and continuation as
/// headers; a page is the service's JSON array with the next token in `x-ms-continuation`
/// (codegen fixup `iothub_jobs_query_paging`).
#[tokio::test]
async fn wire_shape_of_job_queries() {
    let server = CaptureServer::start().await;
    let hub = server.client();
    let job = |id: &str| json!({ "jobId": id, "type": "scheduleUpdateTwin", "status": "queued" });
    server.push(iothub_support::Scripted {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-ms-continuation".into(), "tok 1".into()),
        ],
        body: serde_json::to_vec(&json!([job("a")])).unwrap(),
    });
    server.push(iothub_support::Scripted {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-ms-continuation".into(), "tok2".into()),
        ],
        body: serde_json::to_vec(&json!([job("b")])).unwrap(),
    });
    server.push(iothub_support::Scripted {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-ms-continuation".into(), "".into()),
        ],
        body: serde_json::to_vec(&json!([job("c")])).unwrap(),
    });
    let jobs: Vec<Job> = hub
        .list_jobs()
        .job_type(JobType::ScheduleUpdateTwin)
        .status(JobStatus::Queued)
        .page_size(1)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.job_id.as_str()).collect::<Vec<_>>(),
        vec!["a", "b", "c"]
    );
    assert_eq!(jobs[0].status, Some(JobStatus::Queued));
    let c = server.captured();
    assert_eq!(c.len(), 3);
    for r in &c {
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/jobs/v2/query");
        assert_eq!(
            r.query_param("jobType").as_deref(),
            Some("scheduleUpdateTwin")
        );
        assert_eq!(r.query_param("jobStatus").as_deref(), Some("queued"));
        assert!(r.query_param("api-version").is_some());
        assert_eq!(r.header("x-ms-max-item-count").as_deref(), Some("1"));
    }
    assert_eq!(c[0].header("x-ms-continuation"), None);
    assert_eq!(c[1].header("x-ms-continuation").as_deref(), Some("tok 1"));
    assert_eq!(c[2].header("x-ms-continuation").as_deref(), Some("tok2"));

    // Without filters no filter parameters are sent.
    server.push(iothub_support::Scripted {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: b"[]".to_vec(),
    });
    let none: Vec<Job> = hub.list_jobs().into_stream().try_collect().await.unwrap();
    assert!(none.is_empty());
    let last = server.captured().pop().unwrap();
    assert_eq!(last.query_param("jobType"), None);
    assert_eq!(last.query_param("jobStatus"), None);
    assert_eq!(last.header("x-ms-max-item-count"), None);
}
