//! Bounded soak: 10,000 mixed operations on both services, 32 in flight, against the
//! in-process emulator with a seeded 12 % fault rate mixing faults before the service sees the
//! request (429 with and without hints, 503, dropped connection) and after it applied it (answer
//! dropped, answer delayed past the client's timeout, 500/503/504 instead of the answer).
//!
//! Every logical operation must end applied exactly once (`Ok`) or reported ambiguous to the
//! caller (`Error::is_ambiguous`); any other error fails the test. The final state must equal the
//! model of the accepted operations: every `Ok` write is there exactly once, every ambiguous
//! write at most once, nothing else is.
//!
//! "Applied twice" is observable: an IoT Hub twin's desired `$version` grows by exactly one per
//! applied patch (an unconditional PATCH is never resent after a lost answer), an ADT twin PUT
//! carries `If-None-Match: *` and an ADT JSON Patch carries `If-Match` (a second application
//! of either fails with 412, which the client resolves by reading back, never reporting it).
//!
//! The run client times out after 150 ms so that `applyThenDelay` (200 ms) is a lost answer; a
//! request slowed past that by a busy machine is one more lost answer, handled the same way.
//! Setup and the final check use a client without that timeout. `SOAK_OPS=<n>` changes the
//! count; the assertions do not depend on it. The figures are printed at the end (run with
//! `--nocapture`).
#![cfg(all(feature = "iothub", feature = "digitaltwins"))]

mod reliability_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use azure_twins::digitaltwins::{BasicDigitalTwin, JsonPatch, Pointer};
use azure_twins::{
    ClientOptions, Condition, Credential, DigitalTwinsClient, Error, IotHubClient, RetryOptions,
};
use azure_twins_emulator::{Emulator, Fault, FaultMix, RetryAfter};
use futures::StreamExt;
use serde_json::{Value, json};

const OPS: usize = 10_000;
const IN_FLIGHT: usize = 32;
const DEVICES: usize = 48;
const BASE_TWINS: usize = 16;
const FAULT_RATE: f64 = 0.12;
const SEED: u64 = 0x5EED_2026;
const ROOM: &str = "dtmi:com:example:SoakRoom;1";
/// The run's per-request timeout: below `applyThenDelay`'s 200 ms.
const RUN_TIMEOUT: Duration = Duration::from_millis(150);

fn ops() -> usize {
    std::env::var("SOAK_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(OPS)
}

/// Fast retries: the faults are injected at random, so waiting long buys nothing. Twelve retries
/// at a 12 % fault rate make a spurious failure a 1e-11 event per call.
fn options(timeout: Duration) -> ClientOptions {
    ClientOptions::default()
        .retry(
            RetryOptions::default()
                .max_retries(12)
                .initial_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(20))
                .max_total_time(Duration::from_secs(60)),
        )
        .timeout(timeout)
}

fn device(i: usize) -> String {
    format!("soak-dev-{}", i % DEVICES)
}

/// One operation of the mix; which one is `i % 5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// IoT Hub twin PATCH (merge, unconditional) setting desired property `p<i>` = i on device
    /// `i % DEVICES`.
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

/// How a logical operation ended, as its caller sees it.
#[derive(Debug)]
enum Outcome {
    /// Applied exactly once (or a read that succeeded).
    Applied,
    /// The client reported the write ambiguous; `stage` names the write of the operation.
    Ambiguous { stage: &'static str },
}

fn outcome(r: Result<(), Error>, stage: &'static str) -> Result<Outcome, Error> {
    match r {
        Ok(()) => Ok(Outcome::Applied),
        Err(e) if e.is_ambiguous() => {
            // What the caller is given: the write, and what the read-back found.
            let a = e
                .ambiguity()
                .expect("an ambiguous error says what was sent");
            assert!(!a.operation().is_empty());
            Ok(Outcome::Ambiguous { stage })
        }
        Err(e) => Err(e),
    }
}

async fn run_op(i: usize, hub: &IotHubClient, dt: &DigitalTwinsClient) -> Result<Outcome, Error> {
    match op(i) {
        Op::HubPatch => outcome(
            hub.update_twin(device(i))
                .set_desired(&format!("p{i}"), i)
                .send()
                .await
                .map(drop),
            "patch",
        ),
        Op::HubGet => {
            let t = hub.get_twin(device(i)).send().await?;
            assert_eq!(t.value.device_id, device(i));
            Ok(Outcome::Applied)
        }
        Op::AdtPut => outcome(
            dt.create_twin(
                format!("put-{i}"),
                BasicDigitalTwin::new(format!("put-{i}"), ROOM).with_property("temperature", i),
            )
            .condition(Condition::IfNoneMatchAny)
            .send()
            .await
            .map(drop),
            "create",
        ),
        Op::AdtPutThenPatch => {
            let id = format!("rmw-{i}");
            let created = match dt
                .create_twin(
                    id.clone(),
                    BasicDigitalTwin::new(id.clone(), ROOM).with_property("temperature", i),
                )
                .condition(Condition::IfNoneMatchAny)
                .send()
                .await
            {
                Ok(c) => c,
                // Not sure it exists, and no ETag to patch with: the operation ends here.
                Err(e) => return outcome(Err(e), "create"),
            };
            outcome(
                dt.update_twin(
                    id,
                    JsonPatch::new().replace(Pointer::property("temperature"), json!(2 * i)),
                )
                .if_match(&created.etag)
                .send()
                .await
                .map(drop),
                "patch",
            )
        }
        Op::AdtGet => {
            let id = format!("base-{}", i % BASE_TWINS);
            let t = dt.get_twin(id.clone()).send().await?;
            assert_eq!(t.value["$dtId"], id);
            Ok(Outcome::Applied)
        }
    }
}

fn fault_name(f: &Fault) -> String {
    match f {
        Fault::Throttle { retry_after } => format!("429 ({retry_after:?})"),
        Fault::ServiceUnavailable => "503 (pre-commit)".into(),
        Fault::DropConnection => "drop (pre-commit)".into(),
        Fault::ApplyThenDrop => "applyThenDrop".into(),
        Fault::ApplyThenDelay { delay_ms } => format!("applyThenDelay {delay_ms} ms"),
        Fault::ApplyThenError { status } => format!("applyThenError {status}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_mixed_operations_under_random_faults() {
    let n = ops();
    let emu = Emulator::builder().start().await.expect("emulator starts");
    let clients = |timeout| {
        let hub = IotHubClient::from_connection_string_with_options(
            &emu.iothub_connection_string(),
            options(timeout),
        )
        .expect("hub client");
        let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
            .credential(Credential::bearer_token("soak-token"))
            .options(options(timeout))
            .build()
            .expect("adt client");
        (hub, dt)
    };
    let (hub, dt) = clients(RUN_TIMEOUT);
    let (check_hub, check_dt) = clients(Duration::from_secs(60));

    // Setup, without faults.
    reliability_support::upload_room_model(&check_dt, ROOM).await;
    let mut desired_version_before = BTreeMap::new();
    for d in 0..DEVICES {
        let id = device(d);
        check_hub
            .create_device(id.as_str())
            .send()
            .await
            .expect("device");
        let t = check_hub.get_twin(id.as_str()).send().await.expect("twin");
        desired_version_before.insert(id, t.value.desired_version().unwrap_or(0));
    }
    for b in 0..BASE_TWINS {
        let id = format!("base-{b}");
        check_dt
            .create_twin(
                id.clone(),
                BasicDigitalTwin::new(id.clone(), ROOM).with_property("temperature", b),
            )
            .send()
            .await
            .expect("base twin");
    }

    // The run, with faults before and after commit.
    let started = std::time::Instant::now();
    let mut faults = vec![
        Fault::Throttle {
            retry_after: RetryAfter::Seconds(0),
        },
        Fault::Throttle {
            retry_after: RetryAfter::Millis(2),
        },
    ];
    faults.extend(FaultMix::All.faults());
    emu.faults().random(FAULT_RATE, SEED, faults);
    let results: Vec<(usize, Result<Outcome, Error>)> = futures::stream::iter(0..n)
        .map(|i| {
            let (hub, dt) = (&hub, &dt);
            async move { (i, run_op(i, hub, dt).await) }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let injected = emu.faults().injected();
    let by_kind = emu.faults().injected_by_kind();
    emu.faults().clear();
    let run_time = started.elapsed();

    // Every operation ended once, applied or reported ambiguous; nothing else.
    assert_eq!(results.len(), n);
    let mut seen = vec![0u32; n];
    let mut failures = Vec::new();
    let mut ambiguous: BTreeMap<usize, &'static str> = BTreeMap::new();
    for (i, r) in &results {
        seen[*i] += 1;
        match r {
            Ok(Outcome::Applied) => {}
            Ok(Outcome::Ambiguous { stage }) => {
                ambiguous.insert(*i, stage);
            }
            Err(e) => failures.push(format!("op {i} ({:?}): {e}", op(*i))),
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
    // The faults really happened: at least 10 % of about 1.3 requests per operation.
    assert!(
        injected * 10 >= n,
        "only {injected} faults injected over {n} operations"
    );
    let post_commit: usize = by_kind
        .iter()
        .filter(|(f, _)| f.is_post_commit())
        .map(|(_, c)| c)
        .sum();
    assert!(post_commit > 0 && post_commit < injected, "{by_kind:?}");

    // IoT Hub: every device holds the properties of its accepted patches, maybe those of its
    // ambiguous ones, nothing else; its desired `$version` grew by exactly the number of
    // patches it holds (none applied twice).
    let mut ambiguous_applied = 0;
    for d in 0..DEVICES {
        let id = device(d);
        let twin = check_hub.get_twin(id.as_str()).send().await.expect("twin");
        let actual: BTreeMap<String, Value> = twin
            .value
            .properties
            .desired
            .iter()
            .filter(|(k, _)| !k.starts_with('$'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for i in (0..n).filter(|&i| op(i) == Op::HubPatch && device(i) == id) {
            let key = format!("p{i}");
            match (ambiguous.contains_key(&i), actual.get(&key)) {
                (false, Some(v)) => assert_eq!(v, &json!(i), "{id}.{key}"),
                (false, None) => panic!("accepted patch {key} of {id} is missing"),
                (true, Some(v)) => {
                    assert_eq!(v, &json!(i), "{id}.{key}");
                    ambiguous_applied += 1;
                }
                (true, None) => {}
            }
        }
        let unexpected: Vec<_> = actual
            .keys()
            .filter(|k| {
                k.strip_prefix('p')
                    .and_then(|x| x.parse::<usize>().ok())
                    .is_none_or(|i| i >= n || op(i) != Op::HubPatch || device(i) != id)
            })
            .collect();
        assert!(unexpected.is_empty(), "{id}: unexpected {unexpected:?}");
        let before = desired_version_before[&id];
        assert_eq!(
            twin.value.desired_version(),
            Some(before + actual.len() as i64),
            "desired $version of {id}: one increment per applied patch"
        );
    }

    // ADT: every accepted PUT twin exists with its value, an ambiguous one at most once; every
    // read-modify-write twin holds 2i when its patch was accepted, i or 2i when the patch was
    // ambiguous, and exists at most once when its create was ambiguous; the base twins are
    // unchanged; there is no other twin. One paged query reads them all.
    let rows: Vec<Value> = check_dt
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
    let mut allowed: BTreeMap<String, BTreeSet<u64>> = (0..BASE_TWINS)
        .map(|b| (format!("base-{b}"), BTreeSet::from([b as u64])))
        .collect();
    let mut required: BTreeSet<String> = allowed.keys().cloned().collect();
    for i in 0..n {
        let (id, values) = match (op(i), ambiguous.get(&i)) {
            (Op::AdtPut, _) => (format!("put-{i}"), vec![i as u64]),
            (Op::AdtPutThenPatch, Some(&"create")) => (format!("rmw-{i}"), vec![i as u64]),
            (Op::AdtPutThenPatch, Some(_)) => (format!("rmw-{i}"), vec![i as u64, 2 * i as u64]),
            (Op::AdtPutThenPatch, None) => (format!("rmw-{i}"), vec![2 * i as u64]),
            _ => continue,
        };
        let create_ambiguous = op(i) == Op::AdtPut && ambiguous.contains_key(&i)
            || ambiguous.get(&i) == Some(&"create");
        if !create_ambiguous {
            required.insert(id.clone());
        }
        allowed.insert(id, values.into_iter().collect());
    }
    let missing: Vec<_> = required
        .iter()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !allowed.contains_key(*k))
        .collect();
    let wrong: Vec<_> = actual
        .iter()
        .filter_map(|(k, v)| {
            allowed
                .get(k)
                .filter(|ok| !ok.contains(&(*v as u64)))
                .map(|ok| (k, v, ok))
        })
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && wrong.is_empty(),
        "ADT twins differ from the model: missing {missing:?}, unexpected {extra:?}, \
         (id, actual, allowed) {wrong:?}"
    );
    for (i, stage) in &ambiguous {
        let applied = match (op(*i), *stage) {
            (Op::AdtPut, _) => actual.contains_key(&format!("put-{i}")),
            (Op::AdtPutThenPatch, "create") => actual.contains_key(&format!("rmw-{i}")),
            (Op::AdtPutThenPatch, _) => actual.get(&format!("rmw-{i}")) == Some(&((2 * i) as f64)),
            _ => false,
        };
        ambiguous_applied += usize::from(applied);
    }

    let writes = (0..n)
        .filter(|&i| matches!(op(i), Op::HubPatch | Op::AdtPut | Op::AdtPutThenPatch))
        .count();
    let exactly_once = writes - ambiguous.len();
    let kinds: Vec<String> = by_kind
        .iter()
        .map(|(f, c)| format!("{}: {c}", fault_name(f)))
        .collect();
    eprintln!(
        "soak: {n} operations ({writes} writes), {IN_FLIGHT} in flight, {injected} faults \
         injected ({post_commit} post-commit) [{}]; {exactly_once} writes applied exactly once \
         and reported so, {} reported ambiguous ({ambiguous_applied} of them found applied \
         once afterwards, the rest not applied), 0 applied twice; run {run_time:?}",
        kinds.join(", "),
        ambiguous.len()
    );

    emu.shutdown().await;
}
