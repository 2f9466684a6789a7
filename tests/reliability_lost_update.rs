//! Lost-update test: many writers increment one counter on one twin by read-modify-write with
//! `If-Match`, re-reading on 412, on an IoT Hub device twin (desired property) and on an ADT
//! twin (JSON Patch), under a seeded 12 % mix of faults before and after commit.
//!
//! Each increment also appends its operation id to a `log` property in the same write, so the
//! twin's history is readable: after an ambiguous write (the client could not prove whether it
//! landed) the writer re-reads and finds its id in the log or not, as any caller whose writes
//! carry a unique value can. At the end the counter equals the number of increments, the log
//! holds every increment exactly once (none lost, none applied twice), and the writers met real
//! contention (412s).
#![cfg(all(feature = "iothub", feature = "digitaltwins"))]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use azure_twins::digitaltwins::{BasicDigitalTwin, JsonPatch, Pointer};
use azure_twins::{ClientOptions, Credential, DigitalTwinsClient, IotHubClient, RetryOptions};
use azure_twins_emulator::{Emulator, FaultMix};
use serde_json::json;

const WRITERS: usize = 12;
const INCREMENTS: usize = 15;
const COUNTER_MODEL: &str = "dtmi:com:example:Counter;1";

/// The per-request timeout is below `applyThenDelay`'s 200 ms, so a delayed answer is lost.
fn options() -> ClientOptions {
    ClientOptions::default()
        .retry(
            RetryOptions::default()
                .max_retries(12)
                .initial_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(20)),
        )
        .timeout(Duration::from_millis(150))
}

fn faults(emu: &Emulator, seed: u64) {
    emu.faults().random_mix(0.12, seed, FaultMix::All);
}

/// What the writers met.
#[derive(Default)]
struct Counts {
    /// 412s: another writer got there first; the writer re-reads.
    conflicts: AtomicUsize,
    /// Writes the client reported ambiguous; the writer re-reads and looks for its id.
    ambiguous: AtomicUsize,
    /// Ambiguous writes whose id was then found in the log (they had landed).
    ambiguous_landed: AtomicUsize,
}

/// Joins `WRITERS` tasks (writer `w` gets its index).
async fn run_writers<F, Fut>(writer: F) -> Arc<Counts>
where
    F: Fn(usize, Arc<Counts>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let counts = Arc::new(Counts::default());
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(w, counts.clone())))
        .collect();
    for t in tasks {
        t.await.expect("writer task");
    }
    counts
}

/// What a write attempt of one increment came to.
enum Step {
    Landed,
    /// 412, or ambiguous: read again (and look for the id in the log).
    Again,
}

/// Classifies a conditional write; any error other than a 412 or an ambiguous outcome fails.
fn step<T>(write: Result<T, azure_twins::Error>, counts: &Counts) -> Step {
    match write {
        Ok(_) => Step::Landed,
        Err(e) if e.is_precondition_failed() => {
            counts.conflicts.fetch_add(1, Ordering::Relaxed);
            Step::Again
        }
        Err(e) if e.is_ambiguous() => {
            counts.ambiguous.fetch_add(1, Ordering::Relaxed);
            Step::Again
        }
        Err(e) => panic!("write failed: {e:?}"),
    }
}

/// The log's ids, checked to be unique.
fn log_ids(log: &str) -> BTreeSet<String> {
    let ids: Vec<&str> = log.split_whitespace().collect();
    let set: BTreeSet<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        set.len(),
        ids.len(),
        "an increment was applied twice: {log}"
    );
    set
}

/// The final checks of both tests.
fn check_final(count: i64, log: &str, counts: &Counts, service: &str, injected: usize) {
    let total = (WRITERS * INCREMENTS) as i64;
    let ids = log_ids(log);
    let expected: BTreeSet<String> = (0..WRITERS)
        .flat_map(|w| (0..INCREMENTS).map(move |k| format!("w{w}k{k}")))
        .collect();
    assert_eq!(ids, expected, "{service}: every increment in the log once");
    assert_eq!(count, total, "{service}: the counter");
    let conflicts = counts.conflicts.load(Ordering::Relaxed);
    assert!(conflicts > 0, "{service}: the writers never contended");
    eprintln!(
        "{service}: {total} increments, {conflicts} conflicts (412), {} ambiguous writes ({} of \
         them had landed), {injected} faults",
        counts.ambiguous.load(Ordering::Relaxed),
        counts.ambiguous_landed.load(Ordering::Relaxed),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iothub_twin_counter_loses_no_increment() {
    let emu = Emulator::builder().start().await.unwrap();
    let hub = IotHubClient::from_connection_string_with_options(
        &emu.iothub_connection_string(),
        options(),
    )
    .unwrap();
    hub.create_device("counter").send().await.unwrap();
    hub.update_twin("counter")
        .set_desired("count", 0)
        .set_desired("log", "")
        .send()
        .await
        .unwrap();
    faults(&emu, 7);

    let counts = run_writers(|w, counts| {
        let hub = hub.clone();
        async move {
            for k in 0..INCREMENTS {
                let me = format!("w{w}k{k}");
                let mut after_ambiguous = false;
                loop {
                    let current = hub.get_twin("counter").send().await.expect("read");
                    let desired = &current.value.properties.desired;
                    let log = desired["log"].as_str().expect("log").to_owned();
                    if log_ids(&log).contains(&me) {
                        assert!(after_ambiguous, "{me} landed without being told");
                        counts.ambiguous_landed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    let n = desired["count"].as_i64().expect("count is a number");
                    let write = hub
                        .update_twin("counter")
                        .set_desired("count", n + 1)
                        .set_desired("log", format!("{log} {me}"))
                        .if_match(&current.etag)
                        .send()
                        .await;
                    after_ambiguous = write.as_ref().is_err_and(|e| e.is_ambiguous());
                    if let Step::Landed = step(write, &counts) {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let injected = emu.faults().injected();
    emu.faults().clear();

    let twin = hub.get_twin("counter").send().await.unwrap();
    let d = &twin.value.properties.desired;
    check_final(
        d["count"].as_i64().unwrap(),
        d["log"].as_str().unwrap(),
        &counts,
        "IoT Hub",
        injected,
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adt_twin_counter_loses_no_increment() {
    let emu = Emulator::builder().start().await.unwrap();
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("t"))
        .options(options())
        .build()
        .unwrap();
    dt.create_models(vec![json!({
        "@id": COUNTER_MODEL, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
        "contents": [
            {"@type": "Property", "name": "count", "schema": "integer", "writable": true},
            {"@type": "Property", "name": "log", "schema": "string", "writable": true}
        ]
    })])
    .send()
    .await
    .unwrap();
    dt.create_twin(
        "counter",
        BasicDigitalTwin::new("counter", COUNTER_MODEL)
            .with_property("count", 0)
            .with_property("log", ""),
    )
    .send()
    .await
    .unwrap();
    faults(&emu, 11);

    let counts = run_writers(|w, counts| {
        let dt = dt.clone();
        async move {
            for k in 0..INCREMENTS {
                let me = format!("w{w}k{k}");
                let mut after_ambiguous = false;
                loop {
                    let current = dt.get_twin("counter").send().await.expect("read");
                    let log = current.value["log"].as_str().expect("log").to_owned();
                    if log_ids(&log).contains(&me) {
                        assert!(after_ambiguous, "{me} landed without being told");
                        counts.ambiguous_landed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    let n = current.value["count"].as_i64().expect("count is a number");
                    let write = dt
                        .update_twin(
                            "counter",
                            JsonPatch::new()
                                .replace(Pointer::property("count"), json!(n + 1))
                                .replace(Pointer::property("log"), json!(format!("{log} {me}"))),
                        )
                        .if_match(&current.etag)
                        .send()
                        .await;
                    after_ambiguous = write.as_ref().is_err_and(|e| e.is_ambiguous());
                    if let Step::Landed = step(write, &counts) {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let injected = emu.faults().injected();
    emu.faults().clear();

    let twin = dt.get_twin("counter").send().await.unwrap();
    check_final(
        twin.value["count"].as_i64().unwrap(),
        twin.value["log"].as_str().unwrap(),
        &counts,
        "ADT",
        injected,
    );
    emu.shutdown().await;
}
