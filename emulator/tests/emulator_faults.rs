//! Fault injection on both listeners: throttling with both retry hints, 503, dropped
//! connections, filters, a seeded random rate, and the HTTP admin route.

mod iothub_support;

use azure_twins_emulator::{Emulator, Fault, FaultRule, RetryAfter, Service};
use iothub_support::{Hub, expect_error};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn throttle_unavailable_and_drop() {
    let hub = Hub::start().await;
    hub.create_device("f1").await;
    let faults = hub.emu.faults();

    faults.inject(FaultRule::new(
        Fault::Throttle {
            retry_after: RetryAfter::Seconds(2),
        },
        1,
    ));
    let r = hub.send(Method::GET, "/twins/f1").await;
    assert_eq!(r.headers()["retry-after"], "2");
    expect_error(r, 429, "ThrottlingException").await;
    assert_eq!(hub.send(Method::GET, "/twins/f1").await.status(), 200);

    faults.inject(FaultRule::new(
        Fault::Throttle {
            retry_after: RetryAfter::Millis(250),
        },
        1,
    ));
    let r = hub.send(Method::GET, "/twins/f1").await;
    assert_eq!(r.headers()["x-ms-retry-after-ms"], "250");
    assert!(r.headers().get("retry-after").is_none());
    expect_error(r, 429, "ThrottlingException").await;

    faults.inject(FaultRule::new(Fault::ServiceUnavailable, 2));
    for _ in 0..2 {
        let r = hub.send(Method::GET, "/twins/f1").await;
        expect_error(r, 503, "ServiceUnavailable").await;
    }
    assert_eq!(hub.send(Method::GET, "/twins/f1").await.status(), 200);

    // dropped connection: no response at all
    faults.inject(FaultRule::new(Fault::DropConnection, 1));
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let err = fresh
        .get(format!(
            "{}/twins/f1?api-version={}",
            hub.base,
            iothub_support::API
        ))
        .header("authorization", &hub.token)
        .send()
        .await
        .expect_err("the connection is dropped");
    assert!(!err.is_status(), "{err}");
    assert_eq!(hub.send(Method::GET, "/twins/f1").await.status(), 200);
    assert_eq!(faults.injected(), 5);

    // ADT listener: same faults in the ADT error shape
    faults.inject(FaultRule {
        service: Some(Service::DigitalTwins),
        ..FaultRule::new(Fault::ServiceUnavailable, 1)
    });
    let r = hub
        .client
        .get(format!(
            "{}/digitaltwins/x?api-version=2023-10-31",
            hub.emu.adt_endpoint()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ServiceUnavailable");
}

#[tokio::test]
async fn rules_filter_by_service_method_and_path() {
    let hub = Hub::start().await;
    hub.create_device("f2").await;
    hub.emu.faults().inject(FaultRule {
        fault: Fault::ServiceUnavailable,
        count: 1,
        service: Some(Service::IotHub),
        method: Some("PATCH".into()),
        path_prefix: Some("/twins/".into()),
    });
    assert_eq!(hub.send(Method::GET, "/twins/f2").await.status(), 200);
    assert_eq!(hub.send(Method::GET, "/devices/f2").await.status(), 200);
    let r = hub
        .send_json(Method::PATCH, "/twins/f2", &json!({"tags": {"a": 1}}))
        .await;
    assert_eq!(r.status(), 503);
    let r = hub
        .send_json(Method::PATCH, "/twins/f2", &json!({"tags": {"a": 1}}))
        .await;
    assert_eq!(r.status(), 200);
    hub.emu
        .faults()
        .inject(FaultRule::new(Fault::ServiceUnavailable, 5));
    hub.emu.faults().clear();
    assert_eq!(hub.send(Method::GET, "/twins/f2").await.status(), 200);
}

async fn random_sequence(seed: u64) -> Vec<u16> {
    let hub = Hub::start().await;
    hub.create_device("r").await;
    hub.emu.faults().random(
        0.5,
        seed,
        vec![
            Fault::ServiceUnavailable,
            Fault::Throttle {
                retry_after: RetryAfter::None,
            },
        ],
    );
    let mut out = Vec::new();
    for _ in 0..40 {
        out.push(hub.send(Method::GET, "/twins/r").await.status().as_u16());
    }
    assert_eq!(
        hub.emu.faults().injected(),
        out.iter().filter(|s| **s != 200).count()
    );
    out
}

#[tokio::test]
async fn random_faults_are_reproducible_with_a_seed() {
    let a = random_sequence(42).await;
    let b = random_sequence(42).await;
    assert_eq!(a, b);
    assert!(
        a.contains(&200) && a.contains(&503) && a.contains(&429),
        "{a:?}"
    );
    let c = random_sequence(7).await;
    assert_ne!(a, c);
}

/// POSTs a JSON body to an admin route (which takes no authorization).
async fn post_json(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    body: &serde_json::Value,
) -> reqwest::Response {
    client.post(url).json(body).send().await.unwrap()
}

#[tokio::test]
async fn admin_route_controls_faults_on_both_listeners() {
    iothub_support::crypto();
    let emu = Emulator::builder().start().await.unwrap();
    let client = reqwest::Client::new();
    let admin = format!("{}/_emulator/faults", emu.adt_endpoint());
    let r = post_json(&client, &admin, &json!({"fault": {"kind": "throttle", "retryAfter": {"seconds": 1}}, "count": 1, "service": "iotHub"})).await;
    assert_eq!(r.status(), 204);
    // unauthenticated: the throttle comes before auth
    let hub_devices = format!("{}/devices?api-version=2021-04-12", emu.iothub_endpoint());
    let r = client.get(&hub_devices).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let status: serde_json::Value = client
        .get(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status, json!({"injected": 1, "pending": 0}));
    let hub_admin = format!("{}/_emulator/faults", emu.iothub_endpoint());
    let r = post_json(
        &client,
        format!("{hub_admin}/random"),
        &json!({"rate": 1.0, "seed": 1, "faults": [{"kind": "serviceUnavailable"}]}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = client
        .get(format!("{}/digitaltwins/x", emu.adt_endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        client.delete(&hub_admin).send().await.unwrap().status(),
        204
    );
    let r = client.get(&hub_devices).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = post_json(
        &client,
        &admin,
        &json!({"fault": {"kind": "explode"}, "count": 1}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post_json(
        &client,
        format!("{admin}/random"),
        &json!({"rate": 2.0, "seed": 1, "faults": []}),
    )
    .await;
    assert_eq!(r.status(), 400);
    emu.shutdown().await;
}
