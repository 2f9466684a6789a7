//! The request log (`Emulator::requests`): every answered or dropped request of both listeners,
//! with its status and fault, never a credential, bounded by its capacity.

mod iothub_support;

use azure_twins_emulator::{DEFAULT_REQUEST_LOG_CAPACITY, Emulator, Fault, FaultRule, Service};
use iothub_support::{API, Hub, crypto};
use reqwest::Method;

/// What a test compares of a recorded request.
type Seen<'a> = (Service, &'a str, &'a str, Option<u16>, Option<Fault>);

#[tokio::test]
async fn records_answers_faults_and_drops() {
    let hub = Hub::start().await;
    hub.create_device("d1").await;
    assert_eq!(hub.send(Method::GET, "/twins/d1").await.status(), 200);
    hub.emu.faults().inject(FaultRule {
        path_prefix: Some("/twins/".into()),
        ..FaultRule::new(Fault::DropConnection, 1)
    });
    assert!(
        hub.req(Method::GET, "/twins/d1").send().await.is_err(),
        "the connection is dropped"
    );
    hub.emu
        .faults()
        .inject(FaultRule::new(Fault::ServiceUnavailable, 1));
    assert_eq!(hub.send(Method::GET, "/twins/d1").await.status(), 503);
    // No such device: the handler's own 404.
    assert_eq!(hub.send(Method::GET, "/twins/nope").await.status(), 404);
    // The ADT listener is logged too (no token: 401).
    let adt = hub
        .client
        .get(format!(
            "{}/models?api-version=2023-10-31",
            hub.emu.adt_endpoint()
        ))
        .send()
        .await
        .expect("adt answers");
    assert_eq!(adt.status(), 401);

    let log = hub.emu.requests();
    let seen: Vec<Seen> = log
        .iter()
        .map(|r| {
            (
                r.service,
                r.method.as_str(),
                r.path.as_str(),
                r.status,
                r.fault,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Service::IotHub, "PUT", "/devices/d1", Some(200), None),
            (Service::IotHub, "GET", "/twins/d1", Some(200), None),
            (
                Service::IotHub,
                "GET",
                "/twins/d1",
                None,
                Some(Fault::DropConnection)
            ),
            (
                Service::IotHub,
                "GET",
                "/twins/d1",
                Some(503),
                Some(Fault::ServiceUnavailable)
            ),
            (Service::IotHub, "GET", "/twins/nope", Some(404), None),
            (Service::DigitalTwins, "GET", "/models", Some(401), None),
        ]
    );
    assert!(log[2].dropped() && !log[1].dropped());
    assert_eq!(
        log[1].query.as_deref(),
        Some(&*format!("api-version={API}"))
    );
    assert!(log.windows(2).all(|w| w[0].received_at <= w[1].received_at));
    assert_eq!(hub.emu.request_count(), 6);

    hub.emu.clear_requests();
    assert!(hub.emu.requests().is_empty());
    assert_eq!(hub.emu.request_count(), 0);
    hub.send(Method::GET, "/twins/d1").await;
    assert_eq!(hub.emu.requests().len(), 1);
}

#[tokio::test]
async fn never_records_a_credential() {
    let hub = Hub::start().await;
    hub.create_device("d1").await;
    // The SAS signature of the Authorization header, and credentials a careless client might
    // put in the query string.
    let sig = hub
        .token
        .split(['=', '&'])
        .skip_while(|p| !p.ends_with("sig"))
        .nth(1)
        .expect("the token has a sig")
        .to_string();
    assert!(sig.len() > 20, "{sig}");
    let r = hub
        .req(
            Method::GET,
            &format!("/twins/d1?sig={sig}&SharedAccessKey=hunter2&access_token=tok3n&top=5"),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 200);
    let all = format!("{:?}", hub.emu.requests());
    for secret in [sig.as_str(), "hunter2", "tok3n", hub.token.as_str()] {
        assert!(!all.contains(secret), "{secret} is in {all}");
    }
    let last = hub.emu.requests().pop().expect("recorded");
    assert_eq!(
        last.query.as_deref(),
        Some(
            "sig=REDACTED&SharedAccessKey=REDACTED&access_token=REDACTED&top=5&api-version=2021-04-12"
        )
    );
}

#[tokio::test]
async fn keeps_the_newest_up_to_its_capacity() {
    crypto();
    let emu = Emulator::builder()
        .request_log_capacity(5)
        .start()
        .await
        .expect("emulator starts");
    let client = reqwest::Client::new();
    for i in 0..12 {
        // Unauthenticated: 401, still recorded.
        let r = client
            .get(format!("{}/twins/d{i}", emu.iothub_endpoint()))
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status(), 401);
    }
    let paths: Vec<String> = emu.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/twins/d7",
            "/twins/d8",
            "/twins/d9",
            "/twins/d10",
            "/twins/d11"
        ]
    );
    assert_eq!(emu.request_count(), 12);

    let off = Emulator::builder()
        .request_log_capacity(0)
        .start()
        .await
        .expect("emulator starts");
    client
        .get(format!("{}/twins/x", off.iothub_endpoint()))
        .send()
        .await
        .expect("answered");
    assert!(off.requests().is_empty());
    assert_eq!(off.request_count(), 0);
}

#[tokio::test]
async fn the_default_capacity_holds() {
    crypto();
    let emu = Emulator::builder().start().await.expect("emulator starts");
    let client = reqwest::Client::new();
    let extra = 25;
    let total = DEFAULT_REQUEST_LOG_CAPACITY + extra;
    let base = emu.iothub_endpoint();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..16 {
        let (client, base) = (client.clone(), base.clone());
        tasks.spawn(async move {
            for i in (w..total).step_by(16) {
                let r = client
                    .get(format!("{base}/twins/d{i}"))
                    .send()
                    .await
                    .expect("answered");
                assert_eq!(r.status(), 401);
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.expect("worker");
    }
    let log = emu.requests();
    assert_eq!(log.len(), DEFAULT_REQUEST_LOG_CAPACITY);
    assert_eq!(emu.request_count(), total as u64);
    client
        .get(format!("{base}/last"))
        .send()
        .await
        .expect("answered");
    let log = emu.requests();
    assert_eq!(log.len(), DEFAULT_REQUEST_LOG_CAPACITY);
    assert_eq!(log.last().map(|r| r.path.as_str()), Some("/last"));
}
