//! Post-commit faults (`applyThenDrop`, `applyThenDelay`, `applyThenError`) on both listeners:
//! the client sees the dropped connection / late answer / 5xx in the service's error shape, and
//! a follow-up GET shows the write was applied. Also count limits, filters, the seeded random
//! mix and the `/_emulator/faults` JSON.

mod adt_support;
mod iothub_support;

use azure_twins_emulator::{Fault, FaultMix, FaultRule, Service};
use iothub_support::{Hub, expect_error};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The hub plus the ADT listener of the same emulator, with the test models uploaded.
async fn start() -> Hub {
    let hub = Hub::start().await;
    let r = hub
        .client
        .post(adt_url(&hub, "/models"))
        .bearer_auth("t")
        .json(&adt_support::test_models())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    hub
}

fn adt_url(hub: &Hub, path: &str) -> String {
    format!(
        "{}{path}?api-version={}",
        hub.emu.adt_endpoint(),
        adt_support::API
    )
}

/// `properties.desired.$version` of device `id`'s twin.
async fn desired_version(hub: &Hub, id: &str) -> i64 {
    let (s, twin) = hub.get_json(&format!("/twins/{id}")).await;
    assert_eq!(s, 200);
    twin["properties"]["desired"]["$version"].as_i64().unwrap()
}

async fn adt_twin(hub: &Hub, id: &str) -> (u16, Value) {
    let r = hub
        .client
        .get(adt_url(hub, &format!("/digitaltwins/{id}")))
        .bearer_auth("t")
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn adt_put_twin(hub: &Hub, client: &reqwest::Client, id: &str) -> reqwest::RequestBuilder {
    client
        .put(adt_url(hub, &format!("/digitaltwins/{id}")))
        .bearer_auth("t")
        .json(&adt_support::room_body(21.0))
}

fn rule(fault: Fault, service: Service, method: &str) -> FaultRule {
    FaultRule {
        service: Some(service),
        method: Some(method.into()),
        ..FaultRule::new(fault, 1)
    }
}

/// A client that opens a new connection per request (so a dropped one is not reused).
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Sends raw bytes on a new connection and returns everything the server wrote before closing.
async fn raw_exchange(addr: &str, request: &[u8]) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    // A reset after the close also ends the exchange; what arrived before it is kept.
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("the server closes the connection");
    out
}

fn host_port(endpoint: &str) -> String {
    endpoint.trim_start_matches("http://").to_string()
}

#[tokio::test]
async fn apply_then_error_answers_5xx_but_the_write_is_applied() {
    let hub = start().await;
    hub.create_device("e1").await;
    let faults = hub.emu.faults();
    for (status, hub_code, adt_code) in [
        (503, "ServiceUnavailable", "ServiceUnavailable"),
        (504, "GatewayTimeout", "GatewayTimeout"),
        (500, "ServerError", "InternalServerError"),
    ] {
        // IoT Hub twin PATCH: error answer, $version moved and the value is there.
        let before = desired_version(&hub, "e1").await;
        faults.inject(rule(
            Fault::ApplyThenError { status },
            Service::IotHub,
            "PATCH",
        ));
        let r = hub
            .send_json(
                Method::PATCH,
                "/twins/e1",
                &json!({"properties": {"desired": {"s": status}}}),
            )
            .await;
        let msg = expect_error(r, status, hub_code).await;
        assert!(msg.contains("applied"), "{msg}");
        assert_eq!(desired_version(&hub, "e1").await, before + 1);
        let (_, twin) = hub.get_json("/twins/e1").await;
        assert_eq!(twin["properties"]["desired"]["s"], status);

        // ADT twin PUT: error answer in the ADT shape, the twin exists.
        let id = format!("room{status}");
        faults.inject(rule(
            Fault::ApplyThenError { status },
            Service::DigitalTwins,
            "PUT",
        ));
        let r = adt_put_twin(&hub, &hub.client, &id).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        assert_eq!(r.headers()["x-ms-error-code"], adt_code);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], adt_code, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("applied")
        );
        let (s, twin) = adt_twin(&hub, &id).await;
        assert_eq!(s, 200);
        assert_eq!(twin["$dtId"], id.as_str());
    }
    assert_eq!(faults.injected(), 6);
    assert_eq!(faults.pending(), 0);
}

#[tokio::test]
async fn apply_then_drop_closes_without_an_answer_after_the_write() {
    let hub = start().await;
    hub.create_device("d1").await;
    let faults = hub.emu.faults();

    // reqwest sees a transport error, not a status; the PATCH is applied.
    let before = desired_version(&hub, "d1").await;
    faults.inject(rule(Fault::ApplyThenDrop, Service::IotHub, "PATCH"));
    let err = fresh_client()
        .patch(format!(
            "{}/twins/d1?api-version={}",
            hub.base,
            iothub_support::API
        ))
        .header("authorization", &hub.token)
        .json(&json!({"properties": {"desired": {"dropped": true}}}))
        .send()
        .await
        .expect_err("the connection is dropped");
    assert!(err.status().is_none(), "{err}");
    assert_eq!(desired_version(&hub, "d1").await, before + 1);

    // On the wire: not one response byte.
    faults.inject(rule(Fault::ApplyThenDrop, Service::IotHub, "PATCH"));
    let body = br#"{"properties":{"desired":{"wire":1}}}"#;
    let req = format!(
        "PATCH /twins/d1?api-version={} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        iothub_support::API,
        hub.emu.iothub_host(),
        hub.token,
        body.len()
    );
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    let answer = raw_exchange(&host_port(&hub.base), &bytes).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert_eq!(desired_version(&hub, "d1").await, before + 2);
    let (_, twin) = hub.get_json("/twins/d1").await;
    assert_eq!(twin["properties"]["desired"]["wire"], 1);

    // ADT: a twin PUT dropped after the commit; the twin exists.
    faults.inject(rule(Fault::ApplyThenDrop, Service::DigitalTwins, "PUT"));
    let err = adt_put_twin(&hub, &fresh_client(), "dropped")
        .send()
        .await
        .expect_err("the connection is dropped");
    assert!(err.status().is_none(), "{err}");
    assert_eq!(adt_twin(&hub, "dropped").await.0, 200);

    faults.inject(rule(Fault::ApplyThenDrop, Service::DigitalTwins, "PUT"));
    let body = adt_support::room_body(5.0).to_string();
    let req = format!(
        "PUT /digitaltwins/wire?api-version={} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        adt_support::API,
        body.len()
    );
    let answer = raw_exchange(&host_port(&hub.emu.adt_endpoint()), req.as_bytes()).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    let (s, twin) = adt_twin(&hub, "wire").await;
    assert_eq!(s, 200);
    assert_eq!(twin["temperature"], 5.0);
    assert_eq!(faults.injected(), 4);
}

#[tokio::test]
async fn apply_then_delay_answers_late_after_the_write() {
    let hub = start().await;
    hub.create_device("l1").await;
    let faults = hub.emu.faults();

    // A client giving up before the delay gets no answer, but the PATCH is applied.
    let before = desired_version(&hub, "l1").await;
    faults.inject(rule(
        Fault::ApplyThenDelay { delay_ms: 3_000 },
        Service::IotHub,
        "PATCH",
    ));
    let err = fresh_client()
        .patch(format!(
            "{}/twins/l1?api-version={}",
            hub.base,
            iothub_support::API
        ))
        .header("authorization", &hub.token)
        .json(&json!({"properties": {"desired": {"late": 1}}}))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .expect_err("no answer before the client's timeout");
    assert!(err.is_timeout(), "{err}");
    assert_eq!(desired_version(&hub, "l1").await, before + 1);

    // A patient client gets the real answer (the updated twin).
    faults.inject(rule(
        Fault::ApplyThenDelay { delay_ms: 200 },
        Service::IotHub,
        "PATCH",
    ));
    let twin = hub
        .patch_twin("l1", &json!({"properties": {"desired": {"late": 2}}}))
        .await;
    assert_eq!(twin["properties"]["desired"]["late"], 2);
    assert_eq!(twin["properties"]["desired"]["$version"], before + 2);

    // ADT: the same for a twin PUT.
    faults.inject(rule(
        Fault::ApplyThenDelay { delay_ms: 3_000 },
        Service::DigitalTwins,
        "PUT",
    ));
    let err = adt_put_twin(&hub, &fresh_client(), "late")
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .expect_err("no answer before the client's timeout");
    assert!(err.is_timeout(), "{err}");
    assert_eq!(adt_twin(&hub, "late").await.0, 200);

    faults.inject(rule(
        Fault::ApplyThenDelay { delay_ms: 200 },
        Service::DigitalTwins,
        "PUT",
    ));
    let r = adt_put_twin(&hub, &hub.client, "late2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("etag"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["$dtId"], "late2");
}

#[tokio::test]
async fn count_limits_and_filters_apply_to_post_commit_rules() {
    let hub = start().await;
    hub.create_device("c1").await;
    let faults = hub.emu.faults();
    faults.inject(FaultRule {
        fault: Fault::ApplyThenError { status: 503 },
        count: 2,
        service: Some(Service::IotHub),
        method: Some("patch".into()),
        path_prefix: Some("/twins/".into()),
    });
    assert_eq!(faults.pending(), 2);
    let before = desired_version(&hub, "c1").await;
    // not hit: other method, other path, other service
    assert_eq!(hub.send(Method::GET, "/twins/c1").await.status(), 200);
    let r = hub
        .send_json(Method::PUT, "/devices/c2", &json!({"deviceId": "c2"}))
        .await;
    assert_eq!(r.status(), 200);
    let r = hub
        .client
        .patch(adt_url(&hub, "/digitaltwins/none"))
        .bearer_auth("t")
        .header("content-type", "application/json-patch+json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 503);
    assert_eq!(faults.pending(), 2);
    // hit twice, then the rule is used up
    for i in 0..2 {
        let r = hub
            .send_json(
                Method::PATCH,
                "/twins/c1",
                &json!({"properties": {"desired": {"n": i}}}),
            )
            .await;
        expect_error(r, 503, "ServiceUnavailable").await;
    }
    assert_eq!(faults.pending(), 0);
    let twin = hub
        .patch_twin("c1", &json!({"properties": {"desired": {"n": 2}}}))
        .await;
    assert_eq!(twin["properties"]["desired"]["$version"], before + 3);
    assert_eq!(faults.injected(), 2);

    // path prefix: module twins only
    hub.create_module("c1", "m").await;
    faults.inject(FaultRule {
        path_prefix: Some("/twins/c1/modules/".into()),
        ..FaultRule::new(Fault::ApplyThenError { status: 500 }, 1)
    });
    let t = hub
        .patch_twin("c1", &json!({"properties": {"desired": {"n": 3}}}))
        .await;
    assert_eq!(t["properties"]["desired"]["n"], 3);
    let r = hub
        .send_json(
            Method::PATCH,
            "/twins/c1/modules/m",
            &json!({"properties": {"desired": {"mod": 1}}}),
        )
        .await;
    expect_error(r, 500, "ServerError").await;
    let (_, mt) = hub.get_json("/twins/c1/modules/m").await;
    assert_eq!(mt["properties"]["desired"]["mod"], 1);
    assert_eq!(faults.pending(), 0);
}

#[tokio::test]
async fn admin_route_accepts_post_commit_kinds_and_rejects_bad_ones() {
    let hub = start().await;
    hub.create_device("a1").await;
    let admin = format!("{}/_emulator/faults", hub.emu.adt_endpoint());
    let post = |url: String, body: Value| {
        let c = hub.client.clone();
        async move { c.post(url).json(&body).send().await.unwrap() }
    };
    let r = post(
        admin.clone(),
        json!({"fault":{"kind":"applyThenError","status":503},"count":1,"method":"PATCH"}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let before = desired_version(&hub, "a1").await;
    let r = hub
        .send_json(
            Method::PATCH,
            "/twins/a1",
            &json!({"properties": {"desired": {"x": 1}}}),
        )
        .await;
    expect_error(r, 503, "ServiceUnavailable").await;
    assert_eq!(desired_version(&hub, "a1").await, before + 1);

    for ok in [
        json!({"fault":{"kind":"applyThenDrop"},"count":1,"service":"digitalTwins","pathPrefix":"/digitaltwins/"}),
        json!({"fault":{"kind":"applyThenDelay","delayMs":250},"count":2,"service":"iotHub"}),
        json!({"fault":{"kind":"applyThenError","status":504},"count":1}),
        json!({"fault":{"kind":"applyThenError","status":500},"count":1}),
    ] {
        let r = post(admin.clone(), ok.clone()).await;
        assert_eq!(r.status(), 204, "{ok}");
    }
    let status: Value = hub
        .client
        .get(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["pending"], 5);
    assert_eq!(
        hub.client.delete(&admin).send().await.unwrap().status(),
        204
    );

    for (bad, needle) in [
        (
            json!({"fault":{"kind":"applyThenExplode"},"count":1}),
            "unknown variant",
        ),
        (
            json!({"fault":{"kind":"applyThenError","status":200},"count":1}),
            "status must be one of",
        ),
        (
            json!({"fault":{"kind":"applyThenError","status":418},"count":1}),
            "status must be one of",
        ),
        (
            json!({"fault":{"kind":"applyThenError","status":"503"},"count":1}),
            "invalid type",
        ),
        (
            json!({"fault":{"kind":"applyThenError"},"count":1}),
            "missing field `status`",
        ),
        (
            json!({"fault":{"kind":"applyThenDelay"},"count":1}),
            "missing field `delayMs`",
        ),
        (
            json!({"fault":{"kind":"applyThenDelay","delayMs":-5},"count":1}),
            "invalid value",
        ),
        (
            json!({"fault":{"kind":"applyThenDelay","delayMs":600_001},"count":1}),
            "delayMs must be at most",
        ),
    ] {
        let r = post(admin.clone(), bad.clone()).await;
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        let msg = body["error"].as_str().unwrap();
        assert!(msg.contains(needle), "{bad}: {msg}");
    }
    let r = post(
        format!("{admin}/random"),
        json!({"rate":0.5,"seed":1,"faults":[{"kind":"applyThenError","status":999}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post(
        format!("{admin}/random"),
        json!({"rate":0.5,"seed":1,"mix":"sideways"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    for mix in ["preCommit", "postCommit", "all"] {
        let r = post(
            format!("{admin}/random"),
            json!({"rate":0.5,"seed":1,"mix":mix}),
        )
        .await;
        assert_eq!(r.status(), 204, "{mix}");
    }
    let r = post(
        format!("{admin}/random"),
        json!({"rate":0.5,"seed":1,"faults":[{"kind":"throttle"}],"mix":"postCommit"}),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(faults_pending(&hub).await, 0);
    assert_eq!(
        hub.client.delete(&admin).send().await.unwrap().status(),
        204
    );
    assert_eq!(hub.send(Method::GET, "/twins/a1").await.status(), 200);
}

async fn faults_pending(hub: &Hub) -> u64 {
    let v: Value = hub
        .client
        .get(format!("{}/_emulator/faults", hub.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["pending"].as_u64().unwrap()
}

/// 24 PATCHes under a seeded mix of one pre-commit and two post-commit kinds (every request
/// hit): returns each answer's status and whether its message says "applied", and how many
/// PATCHes were applied.
async fn mixed_run(seed: u64) -> (Vec<(u16, bool)>, i64) {
    let hub = Hub::start().await;
    hub.create_device("m").await;
    let before = desired_version(&hub, "m").await;
    hub.emu.faults().random(
        1.0,
        seed,
        vec![
            Fault::ServiceUnavailable,
            Fault::ApplyThenError { status: 503 },
            Fault::ApplyThenError { status: 504 },
        ],
    );
    let mut out = Vec::new();
    for i in 0..24 {
        let r = hub
            .send_json(
                Method::PATCH,
                "/twins/m",
                &json!({"properties": {"desired": {"i": i}}}),
            )
            .await;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        let applied = body["Message"].as_str().unwrap().contains("applied");
        out.push((status, applied));
    }
    hub.emu.faults().clear();
    (out, desired_version(&hub, "m").await - before)
}

#[tokio::test]
async fn seeded_random_mix_includes_post_commit_kinds_reproducibly() {
    let (a, applied_a) = mixed_run(11).await;
    let (b, applied_b) = mixed_run(11).await;
    assert_eq!(a, b);
    assert_eq!(applied_a, applied_b);
    // pre-commit answers were not applied, post-commit ones were
    let post = a.iter().filter(|(_, applied)| *applied).count() as i64;
    assert_eq!(applied_a, post, "{a:?}");
    assert!(a.contains(&(503, false)), "{a:?}");
    assert!(a.contains(&(503, true)), "{a:?}");
    assert!(a.contains(&(504, true)), "{a:?}");

    // The ready-made sets: pre-commit kinds only, post-commit kinds only, both.
    assert!(
        FaultMix::PreCommit
            .faults()
            .iter()
            .all(|f| !f.is_post_commit())
    );
    assert!(
        FaultMix::PostCommit
            .faults()
            .iter()
            .all(Fault::is_post_commit)
    );
    assert_eq!(
        FaultMix::All.faults().len(),
        FaultMix::PreCommit.faults().len() + FaultMix::PostCommit.faults().len()
    );

    // A post-commit-only mix never loses a write.
    let hub = Hub::start().await;
    hub.create_device("p").await;
    let before = desired_version(&hub, "p").await;
    hub.emu.faults().random_mix(0.5, 3, FaultMix::PostCommit);
    let client = fresh_client();
    for i in 0..12 {
        let _ = client
            .patch(format!(
                "{}/twins/p?api-version={}",
                hub.base,
                iothub_support::API
            ))
            .header("authorization", &hub.token)
            .json(&json!({"properties": {"desired": {"i": i}}}))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
    }
    hub.emu.faults().clear();
    assert!(hub.emu.faults().injected() > 0);
    assert_eq!(desired_version(&hub, "p").await, before + 12);
}
