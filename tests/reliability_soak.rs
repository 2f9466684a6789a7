//! Bounded soak: 10,000 mixed idempotent operations on both services, 32 in flight, against
//! the in-process emulator with a seeded 10 % fault rate (429 with `Retry-After: 0`, 429 with
//! `x-ms-retry-after-ms: 2`, 429 without a hint, 503, dropped connections). Every operation must
//! succeed exactly once and the final state of every twin must equal the state the operations
//! imply: nothing lost, nothing applied twice.
//!
//! "Applied twice" is observable: the emulator injects faults before routing, so a request hit by a
//! fault never reaches the service; an IoT Hub twin's desired `$version` therefore grows by exactly
//! one per applied patch, an ADT twin PUT carries `If-None-Match: *` and an ADT JSON Patch carries
//! `If-Match` (a second application of either would fail with 412 and the operation would not
//! succeed).
//!
//! Time: the run is bound by CPU, not by waiting. Profiling an unoptimised build showed the cost
//! is the HTTP stack of client and emulator (~1 ms of CPU per request, both in this process); the
//! injected faults add about 15 % (their retry hints are 0-2 ms and the backoff starts at 1 ms).
//! The final check reads every ADT twin back with one paged query rather than one GET per twin.
//! `SOAK_OPS=<n>` changes the count; the assertions do not depend on it.
#![cfg(all(feature = "iothub", feature = "digitaltwins"))]

mod reliability_support;

use std::collections::BTreeMap;
use std::time::Duration;

use azure_twins::digitaltwins::{BasicDigitalTwin, JsonPatch, Pointer};
use azure_twins::{
    ClientOptions, Condition, Credential, DigitalTwinsClient, IotHubClient, RetryOptions,
};
use azure_twins_emulator::{Emulator, Fault, RetryAfter};
use futures::StreamExt;
use serde_json::{Value, json};

const OPS: usize = 10_000;
const IN_FLIGHT: usize = 32;
const DEVICES: usize = 48;
const BASE_TWINS: usize = 16;
const FAULT_RATE: f64 = 0.10;
const SEED: u64 = 0x5EED_2026;
const ROOM: &str = "dtmi:com:example:SoakRoom;1";

fn ops() -> usize {
    std::env::var("SOAK_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(OPS)
}

/// Fast retries: the faults are injected at random, so waiting long buys nothing. Twelve retries
/// at a 10 % fault rate make a spurious failure a 1e-12 event per call.
fn options() -> ClientOptions {
    ClientOptions::default()
        .retry(
            RetryOptions::default()
                .max_retries(12)
                .initial_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(20))
                .max_total_time(Duration::from_secs(60)),
        )
        .timeout(Duration::from_secs(60))
}

fn device(i: usize) -> String {
    format!("soak-dev-{}", i % DEVICES)
}

/// One operation of the mix; which one is `i % 5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// IoT Hub twin PATCH (merge) setting desired property `p<i>` = i on device `i % DEVICES`.
    HubPatch,
    /// IoT Hub twin GET.
    HubGet,
    /// ADT twin PUT (`If-None-Match: *`) of a new twin `put-<i>` with temperature = i.
    AdtPut,
    /// ADT twin PUT (`If-None-Match: *`) of `rmw-<i>`, then JSON Patch with `If-Match` setting
    /// temperature = 2i.
    AdtPutThenPatch,
    /// ADT twin GET of one of the twins created before the run.
    AdtGet,
}

fn op(i: usize) -> Op {
    match i % 5 {
        0 => Op::HubPatch,
        1 => Op::HubGet,
        2 => Op::AdtPut,
        3 => Op::AdtPutThenPatch,
        _ => Op::AdtGet,
    }
}

async fn run_op(
    i: usize,
    hub: &IotHubClient,
    dt: &DigitalTwinsClient,
) -> Result<(), azure_twins::Error> {
    match op(i) {
        Op::HubPatch => {
            hub.update_twin(device(i))
                .set_desired(&format!("p{i}"), i)
                .send()
                .await?;
        }
        Op::HubGet => {
            let t = hub.get_twin(device(i)).send().await?;
            assert_eq!(t.value.device_id, device(i));
        }
        Op::AdtPut => {
            dt.add_twin(
                format!("put-{i}"),
                BasicDigitalTwin::new(format!("put-{i}"), ROOM).with_property("temperature", i),
            )
            .condition(Condition::IfNoneMatchAny)
            .send()
            .await?;
        }
        Op::AdtPutThenPatch => {
            let id = format!("rmw-{i}");
            let created = dt
                .add_twin(
                    id.clone(),
                    BasicDigitalTwin::new(id.clone(), ROOM).with_property("temperature", i),
                )
                .condition(Condition::IfNoneMatchAny)
                .send()
                .await?;
            dt.update_twin(
                id,
                JsonPatch::new().replace(Pointer::property("temperature"), json!(2 * i)),
            )
            .if_match(&created.etag)
            .send()
            .await?;
        }
        Op::AdtGet => {
            let id = format!("base-{}", i % BASE_TWINS);
            let t = dt.get_twin(id.clone()).send().await?;
            assert_eq!(t.value["$dtId"], id);
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_mixed_operations_under_random_faults() {
    let n = ops();
    let emu = Emulator::builder().start().await.expect("emulator starts");
    let hub = IotHubClient::from_connection_string_with_options(
        &emu.iothub_connection_string(),
        options(),
    )
    .expect("hub client");
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("soak-token"))
        .options(options())
        .build()
        .expect("adt client");

    // Setup, without faults.
    reliability_support::upload_room_model(&dt, ROOM).await;
    let mut desired_version_before = BTreeMap::new();
    for d in 0..DEVICES {
        let id = device(d);
        hub.create_device(id.as_str()).send().await.expect("device");
        let t = hub.get_twin(id.as_str()).send().await.expect("twin");
        desired_version_before.insert(id, t.value.desired_version().unwrap_or(0));
    }
    for b in 0..BASE_TWINS {
        let id = format!("base-{b}");
        dt.add_twin(
            id.clone(),
            BasicDigitalTwin::new(id.clone(), ROOM).with_property("temperature", b),
        )
        .send()
        .await
        .expect("base twin");
    }

    // The run, with faults.
    let started = std::time::Instant::now();
    emu.faults().random(
        FAULT_RATE,
        SEED,
        vec![
            Fault::Throttle {
                retry_after: RetryAfter::Seconds(0),
            },
            Fault::Throttle {
                retry_after: RetryAfter::Millis(2),
            },
            Fault::Throttle {
                retry_after: RetryAfter::None,
            },
            Fault::ServiceUnavailable,
            Fault::DropConnection,
        ],
    );
    let results: Vec<(usize, Result<(), azure_twins::Error>)> = futures::stream::iter(0..n)
        .map(|i| {
            let (hub, dt) = (&hub, &dt);
            async move { (i, run_op(i, hub, dt).await) }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let injected = emu.faults().injected();
    emu.faults().clear();
    let run_time = started.elapsed();

    // Every operation finished exactly once, and successfully.
    assert_eq!(results.len(), n);
    let mut seen = vec![0u32; n];
    let mut failures = Vec::new();
    for (i, r) in &results {
        seen[*i] += 1;
        if let Err(e) = r {
            failures.push(format!("op {i} ({:?}): {e}", op(*i)));
        }
    }
    assert!(
        seen.iter().all(|&c| c == 1),
        "an operation ran twice or never"
    );
    assert!(
        failures.is_empty(),
        "{} failed: {failures:#?}",
        failures.len()
    );
    // The faults really happened (about 10 % of ~1.3 requests per operation).
    assert!(
        injected >= n / 20,
        "only {injected} faults injected over {n} operations"
    );

    // IoT Hub: every device holds exactly the properties its patches set, and its desired
    // `$version` grew by exactly the number of patches (none applied twice, none lost).
    for d in 0..DEVICES {
        let id = device(d);
        let twin = hub.get_twin(id.as_str()).send().await.expect("twin");
        let expected: BTreeMap<String, Value> = (0..n)
            .filter(|&i| op(i) == Op::HubPatch && device(i) == id)
            .map(|i| (format!("p{i}"), json!(i)))
            .collect();
        let actual: BTreeMap<String, Value> = twin
            .value
            .properties
            .desired
            .iter()
            .filter(|(k, _)| !k.starts_with('$'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(actual, expected, "desired properties of {id}");
        let before = desired_version_before[&id];
        assert_eq!(
            twin.value.desired_version(),
            Some(before + expected.len() as i64),
            "desired $version of {id}: one increment per patch"
        );
    }

    // ADT: every PUT twin exists with its value; every read-modify-write twin holds 2i; the
    // base twins are unchanged; and there is no other twin. One paged query reads them all.
    let mut expected: BTreeMap<String, f64> = (0..BASE_TWINS)
        .map(|b| (format!("base-{b}"), b as f64))
        .collect();
    for i in 0..n {
        match op(i) {
            Op::AdtPut => expected.insert(format!("put-{i}"), i as f64),
            Op::AdtPutThenPatch => expected.insert(format!("rmw-{i}"), (2 * i) as f64),
            _ => None,
        };
    }
    let rows: Vec<Value> = dt
        .query("SELECT * FROM DIGITALTWINS")
        .page_size(1000)
        .into_stream()
        .map(|r| r.expect("query page"))
        .collect()
        .await;
    let mut actual = BTreeMap::new();
    for row in &rows {
        let id = row["$dtId"].as_str().expect("$dtId").to_owned();
        let t = row["temperature"].as_f64().expect("temperature");
        assert!(
            actual.insert(id.clone(), t).is_none(),
            "{id} returned twice"
        );
    }
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    let wrong: Vec<_> = expected
        .iter()
        .filter_map(|(k, v)| actual.get(k).filter(|a| *a != v).map(|a| (k, v, a)))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && wrong.is_empty(),
        "ADT twins differ from the expected state: missing {missing:?}, unexpected {extra:?}, \
         (id, expected, actual) {wrong:?}"
    );
    eprintln!(
        "soak: {n} operations, {IN_FLIGHT} in flight, {injected} faults injected, run {run_time:?}"
    );

    emu.shutdown().await;
}
