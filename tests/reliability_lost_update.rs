//! Lost-update test: many writers increment one counter on one twin by read-modify-write with
//! `If-Match`, re-reading on 412. Every increment must land exactly once, on an IoT Hub device
//! twin (desired property) and on an ADT twin (JSON Patch), with a few injected faults on top so
//! retried writes are part of the mix.
#![cfg(all(feature = "iothub", feature = "digitaltwins"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use azure_twins::digitaltwins::{BasicDigitalTwin, JsonPatch, Pointer};
use azure_twins::{ClientOptions, Credential, DigitalTwinsClient, IotHubClient, RetryOptions};
use azure_twins_emulator::{Emulator, Fault, RetryAfter};
use serde_json::json;

const WRITERS: usize = 12;
const INCREMENTS: usize = 15;
const COUNTER_MODEL: &str = "dtmi:com:example:Counter;1";

fn options() -> ClientOptions {
    ClientOptions::default().retry(
        RetryOptions::default()
            .max_retries(12)
            .initial_delay(Duration::from_millis(1))
            .max_delay(Duration::from_millis(20)),
    )
}

fn faults(emu: &Emulator, seed: u64) {
    emu.faults().random(
        0.05,
        seed,
        vec![
            Fault::Throttle {
                retry_after: RetryAfter::Millis(1),
            },
            Fault::ServiceUnavailable,
            Fault::DropConnection,
        ],
    );
}

/// Joins `WRITERS` tasks; returns how many 412s they met (the contention actually exercised).
async fn run_writers<F, Fut>(writer: F) -> usize
where
    F: Fn(Arc<AtomicUsize>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let conflicts = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| tokio::spawn(writer(conflicts.clone())))
        .collect();
    for t in tasks {
        t.await.expect("writer task");
    }
    conflicts.load(Ordering::Relaxed)
}

/// Whether a conditional write landed; a 412 is counted in `conflicts` (the caller re-reads),
/// any other error fails the test.
fn committed<T>(write: Result<T, azure_twins::Error>, conflicts: &AtomicUsize) -> bool {
    match write {
        Ok(_) => true,
        Err(e) if e.is_precondition_failed() => {
            conflicts.fetch_add(1, Ordering::Relaxed);
            false
        }
        Err(e) => panic!("write failed: {e}"),
    }
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
        .send()
        .await
        .unwrap();
    faults(&emu, 7);

    let conflicts = run_writers(|conflicts| {
        let hub = hub.clone();
        async move {
            for _ in 0..INCREMENTS {
                loop {
                    let current = hub.get_twin("counter").send().await.expect("read");
                    let n = current.value.properties.desired["count"]
                        .as_i64()
                        .expect("count is a number");
                    if committed(
                        hub.update_twin("counter")
                            .set_desired("count", n + 1)
                            .if_match(&current.etag)
                            .send()
                            .await,
                        &conflicts,
                    ) {
                        break;
                    }
                }
            }
        }
    })
    .await;
    emu.faults().clear();

    let twin = hub.get_twin("counter").send().await.unwrap();
    let total = (WRITERS * INCREMENTS) as i64;
    assert_eq!(twin.value.properties.desired["count"], json!(total));
    eprintln!(
        "IoT Hub: {total} increments, {conflicts} conflicts, {} faults",
        emu.faults().injected()
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
        "contents": [{"@type": "Property", "name": "count", "schema": "integer", "writable": true}]
    })])
    .send()
    .await
    .unwrap();
    dt.add_twin(
        "counter",
        BasicDigitalTwin::new("counter", COUNTER_MODEL).with_property("count", 0),
    )
    .send()
    .await
    .unwrap();
    faults(&emu, 11);

    let conflicts = run_writers(|conflicts| {
        let dt = dt.clone();
        async move {
            for _ in 0..INCREMENTS {
                loop {
                    let current = dt.get_twin("counter").send().await.expect("read");
                    let n = current.value["count"].as_i64().expect("count is a number");
                    if committed(
                        dt.update_twin(
                            "counter",
                            JsonPatch::new().replace(Pointer::property("count"), json!(n + 1)),
                        )
                        .if_match(&current.etag)
                        .send()
                        .await,
                        &conflicts,
                    ) {
                        break;
                    }
                }
            }
        }
    })
    .await;
    emu.faults().clear();

    let twin = dt.get_twin("counter").send().await.unwrap();
    let total = (WRITERS * INCREMENTS) as i64;
    assert_eq!(twin.value["count"], json!(total));
    eprintln!(
        "ADT: {total} increments, {conflicts} conflicts, {} faults",
        emu.faults().injected()
    );
    emu.shutdown().await;
}
