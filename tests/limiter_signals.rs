//! The client-side rate limiter is fed each attempt's outcome, against the emulator with
//! injected faults: a dropped connection or a 503 without a hint is retried but leaves the
//! class's rate alone; a 429 on one attempt (even of a call that then succeeds) slows it, and
//! ADT's `Retry-After` pauses it.
#![cfg(all(feature = "iothub", feature = "digitaltwins"))]

use std::time::{Duration, Instant};

use azure_twins::limiter::{OpClass, RateLimit, RateLimiter, Tier};
use azure_twins::{ClientOptions, Credential, DigitalTwinsClient, IotHubClient, RetryOptions};
use azure_twins_emulator::{Emulator, Fault, FaultRule, RetryAfter};
use serde_json::json;

fn options(limiter: &RateLimiter) -> ClientOptions {
    ClientOptions::default()
        .retry(
            RetryOptions::default()
                .max_retries(4)
                .initial_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(5)),
        )
        .rate_limiter(limiter.clone())
}

fn on_twin_get(fault: Fault, count: usize) -> FaultRule {
    FaultRule {
        method: Some("GET".into()),
        path_prefix: Some("/twins/".into()),
        ..FaultRule::new(fault, count)
    }
}

#[tokio::test]
async fn iothub_dropped_connections_do_not_slow_the_class_but_a_429_does() {
    let emu = Emulator::builder().start().await.unwrap();
    let limiter = RateLimiter::new(RateLimit::iothub(Tier::S1, 1));
    let hub = IotHubClient::from_connection_string_with_options(
        &emu.iothub_connection_string(),
        options(&limiter),
    )
    .unwrap();
    hub.create_device("d1").send().await.unwrap();

    // Two dropped connections and a 503 (no hint), then the answer: the call succeeds after
    // four attempts, all seen by the limiter, and the documented 100/s stays.
    emu.faults().inject(on_twin_get(Fault::DropConnection, 2));
    emu.faults()
        .inject(on_twin_get(Fault::ServiceUnavailable, 1));
    hub.get_twin("d1").send().await.unwrap();
    assert_eq!(emu.faults().injected(), 3);
    let st = limiter.stats(OpClass::TwinRead);
    assert_eq!((st.requests, st.throttled, st.failed), (4, 0, 3), "{st:?}");
    assert_eq!(st.rate, Some(100.0));

    // One 429 (IoT Hub: ThrottlingException, no Retry-After) on the first attempt: the call
    // still succeeds, and the class's rate is halved (or lower).
    emu.faults().inject(on_twin_get(
        Fault::Throttle {
            retry_after: RetryAfter::None,
        },
        1,
    ));
    hub.get_twin("d1").send().await.unwrap();
    let st = limiter.stats(OpClass::TwinRead);
    assert_eq!((st.requests, st.throttled, st.failed), (6, 1, 3), "{st:?}");
    let rate = st.rate.unwrap();
    assert!(rate <= 50.0, "rate after a 429: {rate}");
    // Another class is not slowed.
    assert_eq!(limiter.stats(OpClass::TwinUpdate).rate, Some(50.0));
}

#[tokio::test]
async fn adt_retry_after_pauses_the_class_and_a_503_does_not() {
    let emu = Emulator::builder().start().await.unwrap();
    let limiter = RateLimiter::new(RateLimit::digital_twins());
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("t"))
        .options(options(&limiter))
        .build()
        .unwrap();
    dt.create_models(vec![json!({
        "@id": "dtmi:com:example:LimiterRoom;1", "@type": "Interface",
        "@context": "dtmi:dtdl:context;3",
        "contents": [{"@type": "Property", "name": "t", "schema": "double"}]
    })])
    .send()
    .await
    .unwrap();
    dt.create_twin(
        "r1",
        json!({"$metadata": {"$model": "dtmi:com:example:LimiterRoom;1"}}),
    )
    .send()
    .await
    .unwrap();
    let get = |fault| FaultRule {
        method: Some("GET".into()),
        path_prefix: Some("/digitaltwins/r1".into()),
        ..FaultRule::new(fault, 1)
    };

    emu.faults().inject(get(Fault::ServiceUnavailable));
    emu.faults().inject(get(Fault::DropConnection));
    dt.get_twin("r1").send().await.unwrap();
    let st = limiter.stats(OpClass::AdtRead);
    assert_eq!((st.requests, st.throttled, st.failed), (3, 0, 2), "{st:?}");
    assert_eq!(st.rate, Some(1000.0));

    // ADT's 429 with Retry-After: 1 s. The retry waits for it, and so does the next call of
    // the class (the pause is the limiter's, not only the retry loop's).
    emu.faults().inject(get(Fault::Throttle {
        retry_after: RetryAfter::Seconds(1),
    }));
    let t0 = Instant::now();
    dt.get_twin("r1").send().await.unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    let st = limiter.stats(OpClass::AdtRead);
    assert_eq!((st.throttled, st.failed), (1, 2), "{st:?}");
    assert!(st.rate.unwrap() <= 500.0, "{st:?}");
}
