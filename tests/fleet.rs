//! Fleet operations end to end against the throttled emulator (S1 rates × a test speed factor)
//! with injected 429 faults: every item's result, the final twin state, no 429 from the
//! hub's throttle, and resuming from a checkpoint (each twin updated exactly once, by $version).
//! Lost answers of unconditional twin patches (post- and pre-commit faults) resolved by the
//! fleet: each twin holds the change, applied exactly once.

use azure_twins::digitaltwins::{BasicDigitalTwin, JsonPatch};
use azure_twins::fleet::{Checkpoint, Fleet, Resolution};
use azure_twins::iothub::TwinPatch;
use azure_twins::limiter::{OpClass, RateLimit, RateLimiter, Tier};
use azure_twins::{ClientOptions, Credential, DigitalTwinsClient, IotHubClient, RetryOptions};
use azure_twins_emulator::{Emulator, Fault, FaultMix, FaultRule, OpClass as HubClass, RetryAfter};
use futures::StreamExt as _;
use serde_json::{Value, json};

const SPEED: f64 = 10.0;

async fn start() -> (Emulator, IotHubClient, RateLimiter) {
    let emu = Emulator::builder()
        .iothub_tier(azure_twins_emulator::Tier::S1, 1)
        .throttle_speed(SPEED)
        .start()
        .await
        .expect("emulator starts");
    let hub = IotHubClient::from_connection_string(&emu.iothub_connection_string()).unwrap();
    let limiter = RateLimiter::new(RateLimit::iothub(Tier::S1, 1).speed(SPEED));
    (emu, hub, limiter)
}

async fn create_all(hub: &IotHubClient, limiter: &RateLimiter, ids: &[String]) {
    let h = hub.clone();
    let results = Fleet::new()
        .limiter(limiter.clone())
        .concurrency(8)
        .run(ids.to_vec(), move |id| {
            let h = h.clone();
            async move { h.create_device(id).send().await }
        })
        .collect_all()
        .await;
    assert_eq!(results.len(), ids.len());
    for r in &results {
        let d = r.result.as_ref().expect("device created");
        assert_eq!(d.device_id, r.id);
    }
}

async fn twin_json(hub: &IotHubClient, id: &str) -> Value {
    serde_json::to_value(hub.get_twin(id).send().await.unwrap().value).unwrap()
}

#[tokio::test]
async fn fleet_update_at_the_quota_with_faults() {
    let (emu, hub, limiter) = start().await;
    let ids: Vec<String> = (0..60).map(|i| format!("dev-{i:03}")).collect();
    create_all(&hub, &limiter, &ids).await;
    assert_eq!(
        emu.throttle()
            .class_stats(HubClass::IdentityRegistry)
            .rejected,
        0,
        "the limiter keeps registry calls under the hub's throttle"
    );

    // 20 % of requests refused by injected 429s (refusals: retried by the pipeline, and
    // congestion signals for the limiter). Lost answers: `lost_answers_*` below.
    emu.faults().random(
        0.2,
        7,
        vec![Fault::Throttle {
            retry_after: RetryAfter::None,
        }],
    );
    let mut targets = ids.clone();
    targets.push("no-such-device".into());
    let patch = TwinPatch::new().set_desired("fw", "2.0");
    let mut run = Fleet::new()
        .limiter(limiter.clone())
        .concurrency(16)
        .update_twins(&hub, targets.clone(), patch);
    let mut seen = Vec::new();
    while let Some(item) = run.next().await {
        match &item.result {
            Ok(twin) => {
                let v = serde_json::to_value(&twin.value).unwrap();
                assert_eq!(v["deviceId"], item.id.as_str());
                assert_eq!(v["properties"]["desired"]["fw"], "2.0");
            }
            Err(e) => {
                assert_eq!(item.id, "no-such-device", "{e}");
                assert_eq!(e.error_code(), Some("DeviceNotFound"), "{e}");
            }
        }
        seen.push(item.id);
    }
    emu.faults().clear();
    assert!(emu.faults().injected() > 0, "faults were injected");
    let p = run.progress();
    assert_eq!((p.done, p.failed, p.skipped), (60, 1, 0));
    assert_eq!(p.total, Some(61));
    assert!(
        p.throttled > 0,
        "injected refusals reach the limiter: {p:?}"
    );
    seen.sort();
    targets.sort();
    assert_eq!(seen, targets, "one result per item");
    let cp = run.checkpoint();
    assert_eq!(cp.completed.len(), 60);
    assert!(!cp.is_done("no-such-device"));
    assert_eq!(
        emu.throttle().class_stats(HubClass::TwinUpdate).rejected,
        0,
        "no 429 from the hub's throttle"
    );
    for id in &ids {
        assert_eq!(
            twin_json(&hub, id).await["properties"]["desired"]["fw"],
            "2.0"
        );
    }
}

#[tokio::test]
async fn resume_from_checkpoint_skips_completed_items() {
    let (_emu, hub, limiter) = start().await;
    let ids: Vec<String> = (0..30).map(|i| format!("r-{i:02}")).collect();
    create_all(&hub, &limiter, &ids).await;
    let mut before = Vec::new();
    for id in &ids {
        before.push(twin_json(&hub, id).await["version"].as_i64().unwrap());
    }
    let patch = TwinPatch::new().set_desired("mode", "eco");
    // First run: stopped after 12 results (one in flight at a time, so nothing else started).
    let mut run = Fleet::new()
        .limiter(limiter.clone())
        .concurrency(1)
        .update_twins(&hub, ids.clone(), patch.clone());
    for _ in 0..12 {
        assert!(run.next().await.unwrap().result.is_ok());
    }
    let stored = serde_json::to_string(&run.checkpoint()).unwrap();
    drop(run);
    let cp: Checkpoint = serde_json::from_str(&stored).unwrap();
    assert_eq!(cp.completed.len(), 12);

    let run = Fleet::new()
        .limiter(limiter.clone())
        .concurrency(4)
        .resume_from(cp.clone())
        .update_twins(&hub, ids.clone(), patch);
    let second = run.collect_all().await;
    assert_eq!(second.len(), 18);
    assert!(
        second
            .iter()
            .all(|r| r.result.is_ok() && !cp.is_done(&r.id))
    );
    // Each twin was updated exactly once over both runs.
    for (id, v0) in ids.iter().zip(before) {
        let t = twin_json(&hub, id).await;
        assert_eq!(t["properties"]["desired"]["mode"], "eco");
        assert_eq!(t["version"].as_i64().unwrap(), v0 + 1, "{id}");
    }
    assert_eq!(limiter.stats(OpClass::TwinUpdate).requests, 30);
}

async fn versions(hub: &IotHubClient, ids: &[String]) -> Vec<i64> {
    let mut out = Vec::new();
    for id in ids {
        out.push(twin_json(hub, id).await["version"].as_i64().unwrap());
    }
    out
}

/// One fault on the first PATCH of `id`'s twin.
fn on_patch(fault: Fault, id: &str, count: usize) -> FaultRule {
    FaultRule {
        method: Some("PATCH".into()),
        path_prefix: Some(format!("/twins/{id}")),
        ..FaultRule::new(fault, count)
    }
}

/// Every kind of lost answer, on known devices: post-commit faults (applied, answer lost) are
/// resolved by read-back without a resend; pre-commit faults (not applied, answer lost) by one
/// resend with If-Match. Each twin ends with the value, `version` one step on (no double
/// apply, no missed item), and the counts say which path each item took.
#[tokio::test]
async fn lost_answers_of_twin_patches_are_resolved_exactly_once() {
    let (emu, hub, limiter) = start().await;
    let ids: Vec<String> = (0..24).map(|i| format!("lost-{i:02}")).collect();
    create_all(&hub, &limiter, &ids).await;
    let before = versions(&hub, &ids).await;

    let post = [
        Fault::ApplyThenDrop,
        Fault::ApplyThenError { status: 503 },
        Fault::ApplyThenError { status: 500 },
        Fault::ApplyThenError { status: 504 },
    ];
    let pre = [Fault::DropConnection, Fault::ServiceUnavailable];
    // lost-00..15: post-commit (4 of each kind); lost-16..21: pre-commit (3 of each); lost-20
    // and lost-21 also lose the resend's first attempt (the pipeline resends an If-Match
    // write); lost-22..23: no fault.
    let mut expected = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let how = match i {
            0..16 => {
                emu.faults().inject(on_patch(post[i % 4], id, 1));
                Resolution::ReadBack
            }
            16..22 => {
                let count = if i >= 20 { 2 } else { 1 };
                emu.faults().inject(on_patch(pre[i % 2], id, count));
                Resolution::Resent { attempts: 1 }
            }
            _ => Resolution::Answered,
        };
        expected.push((id.clone(), how));
    }
    let pending = emu.faults().pending();
    assert_eq!(pending, 24);

    let mut run = Fleet::new()
        .limiter(limiter.clone())
        .concurrency(8)
        .update_twins(&hub, ids.clone(), TwinPatch::new().set_desired("fw", "3.0"));
    let mut got = Vec::new();
    while let Some(item) = run.next().await {
        let twin = item
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e:?}", item.id));
        let v = serde_json::to_value(&twin.value).unwrap();
        assert_eq!(v["properties"]["desired"]["fw"], "3.0", "{}", item.id);
        got.push((item.id, item.resolution));
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, expected, "how each item was resolved");
    assert_eq!(emu.faults().pending(), 0, "every fault was hit");
    assert_eq!(emu.faults().injected(), pending);

    let p = run.progress();
    assert_eq!((p.done, p.failed, p.skipped), (24, 0, 0), "{p:?}");
    assert_eq!((p.read_back, p.resent), (16, 6), "{p:?}");
    assert_eq!(run.checkpoint().completed.len(), 24);
    for ((id, v0), v1) in ids.iter().zip(before).zip(versions(&hub, &ids).await) {
        assert_eq!(v1, v0 + 1, "{id}: applied exactly once");
        assert_eq!(
            twin_json(&hub, id).await["properties"]["desired"]["fw"],
            "3.0"
        );
    }
}

/// Random pre- and post-commit faults (and 429s) on every request, reads included: every item
/// still succeeds, each twin exactly one version on.
#[tokio::test]
async fn random_faults_leave_every_twin_updated_once() {
    let (emu, hub, limiter) = start().await;
    let ids: Vec<String> = (0..40).map(|i| format!("mix-{i:02}")).collect();
    create_all(&hub, &limiter, &ids).await;
    let before = versions(&hub, &ids).await;
    emu.faults().random_mix(0.25, 11, FaultMix::All);
    let run = Fleet::new()
        .limiter(limiter.clone())
        .concurrency(8)
        .update_twins(
            &hub,
            ids.clone(),
            TwinPatch::new().set_tag("ring", "canary"),
        );
    let mut run = run;
    let mut n = 0;
    while let Some(item) = run.next().await {
        assert!(item.result.is_ok(), "{}: {:?}", item.id, item.result);
        n += 1;
    }
    emu.faults().clear();
    assert_eq!(n, 40);
    let p = run.progress();
    assert_eq!((p.done, p.failed), (40, 0), "{p:?}");
    assert!(p.read_back + p.resent > 0, "some answers were lost: {p:?}");
    for ((id, v0), v1) in ids.iter().zip(before).zip(versions(&hub, &ids).await) {
        assert_eq!(v1, v0 + 1, "{id}: applied exactly once");
        assert_eq!(twin_json(&hub, id).await["tags"]["ring"], "canary");
    }
}

const ROOM: &str = "dtmi:com:example:FleetRoom;1";

async fn adt_with_rooms(rooms: &[String]) -> (Emulator, DigitalTwinsClient) {
    let emu = Emulator::builder()
        .adt_throttle(true)
        .throttle_speed(SPEED)
        .start()
        .await
        .expect("emulator starts");
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("t"))
        .build()
        .unwrap();
    dt.create_models(vec![json!({
        "@id": ROOM, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
        "contents": [{"@type": "Property", "name": "step", "schema": "integer", "writable": true}]
    })])
    .send()
    .await
    .unwrap();
    for id in rooms {
        dt.create_twin(
            id,
            BasicDigitalTwin::new(id, ROOM).with_property("step", -1),
        )
        .send()
        .await
        .unwrap();
    }
    (emu, dt)
}

async fn step_of(dt: &DigitalTwinsClient, id: &str) -> i64 {
    let t = dt.get_twin(id).send().await.unwrap();
    serde_json::to_value(&t.value).unwrap()["step"]
        .as_i64()
        .unwrap()
}

/// 120 patches to each of 2 twins: the fleet spaces each twin's writes at the per-twin limit
/// (10/s × the emulator's speed) and sends them in order, so the throttle refuses none and
/// each twin ends with its last patch. The same patches all at once (direct calls, no
/// retries) run into the per-twin limit: the emulator refuses some with 429.
#[tokio::test]
async fn digital_twin_patches_respect_the_per_twin_write_limit() {
    const PER_TWIN: i64 = 120;
    let rooms: Vec<String> = (0..2).map(|i| format!("room-{i}")).collect();
    let (emu, dt) = adt_with_rooms(&rooms).await;
    // Interleaved: room-0 step 0, room-1 step 0, …, room-1 step 119.
    let items: Vec<(String, JsonPatch)> = (0..PER_TWIN)
        .flat_map(|step| {
            rooms
                .iter()
                .map(move |id| (id.clone(), JsonPatch::new().replace("/step", step)))
        })
        .collect();
    let limiter = RateLimiter::new(RateLimit::digital_twins().speed(SPEED));
    let started = std::time::Instant::now();
    // As many in flight as the naive run below: the per-twin spacing, not a small
    // concurrency, is what keeps the fleet under the limit.
    let mut run = Fleet::new()
        .limiter(limiter.clone())
        .concurrency(240)
        .twin_write_rate(10.0 * SPEED)
        .update_digital_twins(&dt, items.clone());
    let mut per_twin = std::collections::BTreeMap::<String, usize>::new();
    while let Some(item) = run.next().await {
        assert!(item.result.is_ok(), "{}: {:?}", item.id, item.result);
        *per_twin.entry(item.id).or_default() += 1;
    }
    let elapsed = started.elapsed();
    let p = run.progress();
    assert_eq!((p.done, p.failed, p.total), (240, 0, Some(240)), "{p:?}");
    assert!(
        per_twin.values().all(|&n| n == PER_TWIN as usize),
        "{per_twin:?}"
    );
    let cp = run.checkpoint();
    assert_eq!(cp.completed.len(), 240);
    assert!(cp.is_done("room-1#119") && !cp.is_done("room-1#120"));
    let stats = emu.throttle().class_stats(HubClass::AdtWritesPerTwin);
    assert_eq!(stats.rejected, 0, "fleet: no per-twin 429 ({stats:?})");
    let patches = emu.throttle().class_stats(HubClass::AdtPatch);
    assert_eq!(
        (patches.rejected, patches.queued),
        (0, 0),
        "fleet: never refused nor even queued by the throttle"
    );
    assert_eq!(limiter.stats(OpClass::AdtPatch).throttled, 0);
    // 80 writes per twin at 100/s: at least 79 intervals of 10 ms.
    assert!(
        elapsed >= std::time::Duration::from_millis(790),
        "{elapsed:?}"
    );
    for id in &rooms {
        assert_eq!(
            step_of(&dt, id).await,
            PER_TWIN - 1,
            "{id}: patches in order"
        );
    }

    // The same workload naively: every patch at once, direct calls, no retries.
    let naive = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("t"))
        .options(ClientOptions::default().retry(RetryOptions::default().max_retries(0)))
        .build()
        .unwrap();
    let calls = items
        .into_iter()
        .map(|(id, patch)| naive.update_twin(id, patch).send());
    let results = futures::future::join_all(calls).await;
    let refused = results
        .iter()
        .filter(|r| {
            r.as_ref()
                .is_err_and(|e| e.status().map(|s| s.as_u16()) == Some(429))
        })
        .count();
    let stats = emu.throttle().class_stats(HubClass::AdtWritesPerTwin);
    eprintln!("naive: {refused} of 240 refused ({stats:?}); fleet took {elapsed:?}");
    assert!(refused > 0, "naive: some patches refused");
    assert_eq!(stats.rejected as usize, refused, "{stats:?}");
}

const CANARIES: &str = "SELECT deviceId FROM devices WHERE tags.ring = 'canary'";

/// The ids of a query: 10 of 30 devices tagged, only those patched; a run stopped after 4
/// items and resumed from its checkpoint re-runs the query and patches the other 6, each twin
/// exactly once.
#[tokio::test]
async fn update_twins_matching_a_query_patches_only_those_and_resumes() {
    let (_emu, hub, limiter) = start().await;
    let ids: Vec<String> = (0..30).map(|i| format!("q-{i:02}")).collect();
    create_all(&hub, &limiter, &ids).await;
    let canaries: Vec<String> = ids.iter().step_by(3).cloned().collect();
    let tagged = Fleet::new()
        .limiter(limiter.clone())
        .update_twins(
            &hub,
            canaries.clone(),
            TwinPatch::new().set_tag("ring", "canary"),
        )
        .collect_all()
        .await;
    assert!(tagged.iter().all(|r| r.result.is_ok()));
    let before = versions(&hub, &ids).await;

    let patch = TwinPatch::new().set_desired("fw", "4.0");
    let mut run = Fleet::new()
        .limiter(limiter.clone())
        .concurrency(1)
        .update_twins_matching(&hub, CANARIES, patch.clone());
    for _ in 0..4 {
        let item = run.next().await.unwrap();
        assert!(item.result.is_ok(), "{}: {:?}", item.id, item.result);
        assert!(canaries.contains(&item.id), "{}", item.id);
    }
    assert_eq!(run.progress().total, None, "a query's length is not known");
    let cp = run.checkpoint();
    drop(run);
    assert_eq!(cp.completed.len(), 4);

    let run = Fleet::new()
        .limiter(limiter.clone())
        .concurrency(4)
        .resume_from(cp.clone())
        .update_twins_matching(&hub, CANARIES, patch);
    let mut run = run;
    let mut second = Vec::new();
    while let Some(item) = run.next().await {
        assert!(item.result.is_ok(), "{}: {:?}", item.id, item.result);
        assert!(!cp.is_done(&item.id), "{} was done already", item.id);
        second.push(item.id);
    }
    let p = run.progress();
    assert_eq!((p.done, p.failed, p.skipped), (6, 0, 4), "{p:?}");
    assert_eq!(run.checkpoint().completed.len(), 10);
    second.extend(cp.completed);
    second.sort();
    assert_eq!(second, canaries);

    for ((id, v0), v1) in ids.iter().zip(before).zip(versions(&hub, &ids).await) {
        let t = twin_json(&hub, id).await;
        if canaries.contains(id) {
            assert_eq!(t["properties"]["desired"]["fw"], "4.0", "{id}");
            assert_eq!(v1, v0 + 1, "{id}: patched exactly once");
        } else {
            assert!(t["properties"]["desired"].get("fw").is_none(), "{id}: {t}");
            assert_eq!(v1, v0, "{id}: untouched");
        }
    }
}

/// A query page that keeps failing ends the run with one item of empty id carrying the error.
#[tokio::test]
async fn a_failing_query_ends_the_run_with_an_item_of_empty_id() {
    let emu = Emulator::builder().start().await.unwrap();
    let hub = IotHubClient::from_connection_string_with_options(
        &emu.iothub_connection_string(),
        ClientOptions::default().retry(
            RetryOptions::default()
                .max_retries(1)
                .initial_delay(std::time::Duration::from_millis(1)),
        ),
    )
    .unwrap();
    hub.create_device("a").send().await.unwrap();
    emu.faults().inject(FaultRule {
        path_prefix: Some("/devices/query".into()),
        ..FaultRule::new(Fault::ServiceUnavailable, 10)
    });
    let mut run = Fleet::new().update_twins_matching(
        &hub,
        "SELECT deviceId FROM devices",
        TwinPatch::new().set_desired("fw", "1"),
    );
    let item = run.next().await.expect("one item");
    assert_eq!(item.id, "");
    let e = item.result.unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(503), "{e}");
    assert!(run.next().await.is_none());
    let p = run.progress();
    assert_eq!((p.done, p.failed), (0, 1));
    assert!(run.checkpoint().completed.is_empty());
}
