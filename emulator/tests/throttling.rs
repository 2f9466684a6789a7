//! Service-side throttling: off by default; IoT Hub tiers (burst served, then queued, then 429
//! `ThrottlingException` in the service's error shape, no `Retry-After`); ADT (429 with
//! `Retry-After` and the recorded body, 10 writes/s per twin). No timed assertions: outcomes are
//! counted, with the test speed factor keeping queueing delays short and margins large.

mod iothub_support;

use azure_twins_emulator::ClassStats;
use azure_twins_emulator::{Emulator, OpClass, Tier};
use iothub_support::{Hub, crypto, in_an_hour, parse_cs, sign};
use reqwest::Method;
use serde_json::{Value, json};

async fn throttled_hub(tier: Tier, units: u32, speed: f64) -> Hub {
    crypto();
    let emu = Emulator::builder()
        .iothub_tier(tier, units)
        .throttle_speed(speed)
        .start()
        .await
        .expect("emulator starts");
    let (host, policy, key) = parse_cs(&emu.iothub_connection_string());
    let token = sign(&host, &policy, &key, in_an_hour());
    Hub {
        base: emu.iothub_endpoint(),
        client: reqwest::Client::new(),
        emu,
        token,
    }
}

/// Sends `n` requests at once; returns (status, headers, body) of each.
async fn burst(
    hub: &Hub,
    n: usize,
    method: Method,
    path: &str,
    body: &Value,
) -> Vec<(u16, reqwest::header::HeaderMap, Value)> {
    let futs = (0..n).map(|_| async {
        let r = hub
            .req(method.clone(), path)
            .json(body)
            .send()
            .await
            .expect("sent");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        (status, headers, body)
    });
    futures::future::join_all(futs).await
}

#[tokio::test]
async fn off_by_default() {
    let hub = Hub::start().await;
    let out = burst(
        &hub,
        30,
        Method::POST,
        "/devices/query",
        &json!({"query": "SELECT * FROM devices"}),
    )
    .await;
    assert!(out.iter().all(|(s, _, _)| *s == 200), "{out:?}");
    assert!(hub.emu.throttle().stats().is_empty());
}

#[tokio::test]
async fn iothub_query_burst_then_queue_then_429() {
    // S1: 20 queries/min/unit → burst 1, queue 2 (documented-rate sizes); ×10 speed keeps the
    // queueing delays under a second.
    let hub = throttled_hub(Tier::S1, 1, 10.0).await;
    let n = 20;
    let out = burst(
        &hub,
        n,
        Method::POST,
        "/devices/query",
        &json!({"query": "SELECT * FROM devices"}),
    )
    .await;
    let ok = out.iter().filter(|(s, _, _)| *s == 200).count();
    let refused: Vec<_> = out.iter().filter(|(s, _, _)| *s == 429).collect();
    assert_eq!(ok + refused.len(), n, "only 200 and 429: {out:?}");
    assert!(refused.len() >= 10, "most of the burst is refused: {ok} ok");
    for (_, h, body) in &refused {
        assert_eq!(h["iothub-errorcode"], "ThrottlingException");
        assert!(
            h.get("retry-after").is_none(),
            "IoT Hub documents no Retry-After"
        );
        assert_eq!(body["ErrorCode"], 429001);
        let msg = body["Message"].as_str().unwrap();
        assert!(msg.starts_with("ErrorCode:ThrottlingException;"), "{msg}");
        assert!(
            body["ExceptionMessage"]
                .as_str()
                .unwrap()
                .starts_with("Tracking ID:")
        );
    }
    let st = hub.emu.throttle().class_stats(OpClass::Query);
    assert_eq!(st.immediate + st.queued + st.rejected, n as u64);
    assert_eq!(st.rejected as usize, refused.len());
    assert!(st.immediate >= 1, "{st:?}");
    assert!(st.queued >= 1, "{st:?}");
    // Other classes are metered separately: a twin read right after is served.
    hub.create_device("d1").await;
    assert_eq!(hub.send(Method::GET, "/twins/d1").await.status(), 200);
}

#[tokio::test]
async fn iothub_twin_updates_s1_burst_and_queue_sizes() {
    // 50 updates/s on S1 whatever the units: burst 50, queue 250. Speed ×2 (100/s) keeps the
    // queue at most 3 s long; sending 600 at once (they arrive over a few hundred ms) still
    // overflows it by far.
    let hub = throttled_hub(Tier::S1, 4, 2.0).await;
    hub.create_device("t1").await;
    let n = 600;
    let out = burst(
        &hub,
        n,
        Method::PATCH,
        "/twins/t1",
        &json!({"properties": {"desired": {"x": 1}}}),
    )
    .await;
    let ok = out.iter().filter(|(s, _, _)| *s == 200).count();
    let refused = out.iter().filter(|(s, _, _)| *s == 429).count();
    assert_eq!(ok + refused, n);
    let st: ClassStats = hub.emu.throttle().class_stats(OpClass::TwinUpdate);
    assert_eq!(st.immediate + st.queued + st.rejected, n as u64);
    assert_eq!(st.rejected as usize, refused);
    assert!(st.immediate >= 50, "{st:?}");
    assert!(st.queued >= 100, "{st:?}");
    assert!(refused >= 50, "{st:?}");
    // The reads of the same hub are not affected by the updates' queue.
    let (status, twin) = hub.get_json("/twins/t1").await;
    assert_eq!(status, 200);
    assert_eq!(twin["properties"]["desired"]["x"], 1);
}

#[tokio::test]
async fn adt_per_twin_writes_429_with_retry_after() {
    crypto();
    let emu = Emulator::builder()
        .adt_throttle(true)
        .throttle_speed(10.0)
        .start()
        .await
        .unwrap();
    let base = emu.adt_endpoint();
    let http = reqwest::Client::new();
    let api = "api-version=2023-10-31";
    let model = json!([{"@id": "dtmi:example:thing;1", "@type": "Interface",
        "@context": "dtmi:dtdl:context;2",
        "contents": [{"@type": "Property", "name": "n", "schema": "integer"}]}]);
    let r = http
        .post(format!("{base}/models?{api}"))
        .bearer_auth("t")
        .json(&model)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    for id in ["a", "b"] {
        let r = http
            .put(format!("{base}/digitaltwins/{id}?{api}"))
            .bearer_auth("t")
            .json(&json!({"$metadata": {"$model": "dtmi:example:thing;1"}, "n": 0}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // 10 writes/s per twin (burst 10, queue 50): 150 patches of twin `a` at once.
    let n = 150;
    let futs = (0..n).map(|i| {
        let (http, base) = (&http, &base);
        async move {
            let r = http
                .patch(format!("{base}/digitaltwins/a?{api}"))
                .bearer_auth("t")
                .header("content-type", "application/json-patch+json")
                .body(json!([{"op": "replace", "path": "/n", "value": i}]).to_string())
                .send()
                .await
                .unwrap();
            let h = r.headers().clone();
            (r.status().as_u16(), h, r.text().await.unwrap())
        }
    });
    let out = futures::future::join_all(futs).await;
    let ok = out.iter().filter(|(s, _, _)| *s == 204).count();
    let refused: Vec<_> = out.iter().filter(|(s, _, _)| *s == 429).collect();
    assert_eq!(ok + refused.len(), n, "only 204 and 429");
    assert!(refused.len() >= 40, "{} refused", refused.len());
    assert!(ok >= 10, "{ok} ok");
    for (_, h, body) in &refused {
        let secs: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(secs >= 1);
        assert!(h.get("x-ms-error-code").is_none());
        assert_eq!(h["content-type"], "application/json");
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["statusCode"], 429);
        assert!(v["error"].get("code").is_none());
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Maximum request rate limit reached.")
        );
    }
    let per_twin = emu.throttle().class_stats(OpClass::AdtWritesPerTwin);
    assert_eq!(per_twin.rejected as usize, refused.len());
    // Another twin has its own 10 writes/s.
    let r = http
        .patch(format!("{base}/digitaltwins/b?{api}"))
        .bearer_auth("t")
        .header("content-type", "application/json-patch+json")
        .body(json!([{"op": "replace", "path": "/n", "value": 7}]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[test]
fn binary_refuses_bad_throttle_flags() {
    let bin = env!("CARGO_BIN_EXE_azure-twins-emulator");
    for (args, needle) in [
        (
            &["--iothub-tier", "S9"][..],
            "is not one of F1, B1, B2, B3, S1, S2, S3",
        ),
        (
            &["--iothub-units", "2"][..],
            "--iothub-units needs --iothub-tier",
        ),
        (
            &["--iothub-tier", "S1", "--iothub-units", "0"][..],
            "at least 1",
        ),
    ] {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn builder_refuses_bad_speed() {
    let e = Emulator::builder()
        .iothub_tier(Tier::S1, 1)
        .throttle_speed(0.0)
        .start()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("throttle speed"), "{e}");
}
