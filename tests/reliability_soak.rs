//! Bounded soak: thousands of mixed idempotent operations on both services, 32 in flight, against
//! the in-process emulator with a seeded 10 % fault rate (429 with a small retry hint, 429 without
//! one, 503, dropped connections). Every operation must succeed exactly once and the final state of
//! every twin must equal the state the operations imply: nothing lost, nothing applied twice.
//!
//! "Applied twice" is observable: the emulator injects faults before routing, so a request hit by a
//! fault never reaches the service; an IoT Hub twin's desired `$version` therefore grows by exactly
//! one per applied patch, and an ADT JSON Patch carries `If-Match` (a second application would fail
//! with 412 and the operation would not succeed).
//!
//! Count: the issue asks for 10,000 operations. This test runs [`OPS`] = 4,000 by default (16.6 s
//! on the shared 2-core machine, unoptimised build) to stay well under a minute next to the other
//! test binaries; `SOAK_OPS=10000 cargo test --test reliability_soak` runs the full count (it
//! passed in 73 s on the same machine). The assertions do not depend on the count.
#![cfg(all(feature = "iothub", feature = "digitaltwins"))]

use std::collections::BTreeMap;
use std::time::Duration;

use azure_twins::digitaltwins::{BasicDigitalTwin, JsonPatch, Pointer};
use azure_twins::{ClientOptions, Credential, DigitalTwinsClient, IotHubClient, RetryOptions};
use azure_twins_emulator::{Emulator, Fault, RetryAfter};
use futures::StreamExt;
use serde_json::{Value, json};

const OPS: usize = 4_000;
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
    /// ADT twin PUT of a new twin `put-<i>` with temperature = i.
    AdtPut,
    /// ADT twin PUT of `rmw-<i>`, then JSON Patch with `If-Match` setting temperature = 2i.
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
    dt.create_models(vec![json!({
        "@id": ROOM, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
        "contents": [{"@type": "Property", "name": "temperature", "schema": "double", "writable": true}]
    })])
    .send()
    .await
    .expect("model upload");
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
    emu.faults().random(
        FAULT_RATE,
        SEED,
        vec![
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
    // base twins are unchanged; and there is no other twin.
    for i in 0..n {
        let (id, temperature) = match op(i) {
            Op::AdtPut => (format!("put-{i}"), i as f64),
            Op::AdtPutThenPatch => (format!("rmw-{i}"), (2 * i) as f64),
            _ => continue,
        };
        let t = dt.get_twin(id.clone()).send().await.expect("twin exists");
        assert_eq!(t.value["temperature"].as_f64(), Some(temperature), "{id}");
    }
    for b in 0..BASE_TWINS {
        let t = dt.get_twin(format!("base-{b}")).send().await.unwrap();
        assert_eq!(t.value["temperature"].as_f64(), Some(b as f64));
    }
    let count = dt
        .query("SELECT COUNT() FROM DIGITALTWINS")
        .into_stream()
        .next()
        .await
        .expect("one row")
        .expect("count");
    let expected_twins = BASE_TWINS
        + (0..n)
            .filter(|&i| matches!(op(i), Op::AdtPut | Op::AdtPutThenPatch))
            .count();
    assert_eq!(
        count["COUNT"].as_u64(),
        Some(expected_twins as u64),
        "{count}"
    );

    emu.shutdown().await;
}
