//! The tour (`cargo run --example tour`) as a test: runs its steps against a fresh in-process
//! emulator and checks every step's outcome, not just that it finished.
#![cfg(all(feature = "iothub", feature = "digitaltwins"))]

#[path = "../examples/tour.rs"]
mod tour;

use azure_twins::digitaltwins::DigitalTwinsClient;
use azure_twins::{Credential, IotHubClient};
use azure_twins_emulator::Emulator;
use futures::TryStreamExt;

#[tokio::test]
async fn tour_steps_against_the_emulator() {
    let emu = Emulator::builder().start().await.unwrap();
    let hub = IotHubClient::from_connection_string(&emu.iothub_connection_string()).unwrap();
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("emulator"))
        .build()
        .unwrap();
    let names = tour::Names::new(false);
    let mut printed = Vec::new();
    let steps = tour::run(Some(&hub), Some(&dt), &names, false, &mut |s| {
        printed.push(s.to_string())
    })
    .await;

    let got: Vec<(&str, &str)> = steps.iter().map(|s| (s.service, s.name)).collect();
    assert_eq!(
        got,
        vec![
            ("iothub", "create 6 devices and a module"),
            ("iothub", "module twin: stale etag (412), then fresh"),
            ("iothub", "query twins across pages"),
            ("iothub", "schedule a twin-update job and wait"),
            ("iothub", "clean up devices"),
            ("adt", "add a model"),
            ("adt", "add a twin only if absent (twice: 412)"),
            ("adt", "JSON Patch with If-Match"),
            ("adt", "query twins"),
            ("adt", "clean up twin and model"),
        ]
    );
    for s in &steps {
        assert!(s.ok, "step failed: {s}");
    }
    assert_eq!(printed.len(), steps.len());
    assert!(
        printed
            .iter()
            .all(|l| l.starts_with("ok ") && l.contains(" ms ")),
        "{printed:#?}"
    );

    let f = |i: usize| &steps[i].facts;
    assert_eq!(f(0)["devices"], tour::DEVICES);
    assert_eq!(f(1)["stale_status"], 412);
    assert_eq!(f(1)["fresh_etag_changed"], true);
    assert_eq!(f(2)["rows"], tour::DEVICES);
    let pages = f(2)["pages"].as_u64().unwrap();
    assert!(
        pages >= (tour::DEVICES as u64).div_ceil(tour::PAGE_SIZE as u64),
        "query spread over several pages: {pages}"
    );
    assert_eq!(f(3)["status"], "completed");
    assert_eq!(f(3)["succeeded"], tour::DEVICES);
    assert_eq!(f(4)["deleted"], tour::DEVICES);
    assert_eq!(f(5)["models"], 1);
    assert_eq!(f(6)["second_status"], 412);
    assert_eq!(f(7)["temperature"], 22.0);
    assert_eq!(f(7)["etag_changed"], true);
    assert_eq!(f(8)["rows"], 1);

    // Facts read back from the services, not from what the tour printed. The job outlives the
    // devices it updated: the hub reports it completed on every tour device with the tour's patch.
    let jobs: Vec<azure_twins::iothub::Job> =
        hub.list_jobs().into_stream().try_collect().await.unwrap();
    let tour_jobs: Vec<&str> = jobs
        .iter()
        .map(|j| j.job_id.as_str())
        .filter(|id| id.starts_with("tour-job-"))
        .collect();
    assert_eq!(tour_jobs.len(), 1, "{tour_jobs:?}");
    let job = serde_json::to_value(hub.get_job(tour_jobs[0]).send().await.unwrap()).unwrap();
    assert_eq!(job["status"], "completed", "{job:#}");
    assert_eq!(job["type"], "scheduleUpdateTwin", "{job:#}");
    assert_eq!(
        job["deviceJobStatistics"]["succeededCount"],
        tour::DEVICES,
        "{job:#}"
    );
    assert_eq!(job["deviceJobStatistics"]["failedCount"], 0, "{job:#}");
    assert_eq!(
        job["updateTwin"]["properties"]["desired"]["firmware"], "2.1",
        "{job:#}"
    );
    assert_eq!(job["queryCondition"], "tags.tour = 'tour'", "{job:#}");
    // No tour device is left in the registry, no tour twin in ADT, and the model is gone.
    let rows: Vec<azure_twins::iothub::Twin> = hub
        .query("SELECT * FROM devices WHERE tags.tour = 'tour'")
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    let twins: Vec<serde_json::Value> = dt
        .query("SELECT * FROM DIGITALTWINS")
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert!(twins.is_empty(), "{twins:?}");
    assert!(
        dt.get_model("dtmi:com:example:tour:Room;1")
            .send()
            .await
            .unwrap_err()
            .is_not_found()
    );

    // What the tour created is gone.
    assert!(
        hub.get_device("tour-dev-0")
            .send()
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        dt.get_twin("tour-room-1")
            .send()
            .await
            .unwrap_err()
            .is_not_found()
    );
    emu.shutdown().await;
}
