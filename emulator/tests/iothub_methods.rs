//! Direct methods: registered handlers (sync and async), no handler, unknown device, timeout.

mod iothub_support;

use iothub_support::{Hub, expect_error};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn handlers_answer_methods() {
    let hub = Hub::start().await;
    hub.create_device("m1").await;
    hub.create_module("m1", "edge").await;
    hub.emu
        .register_method_handler("m1", None, "reboot", |payload| {
            (200, json!({"echo": payload}))
        });
    hub.emu
        .register_async_method_handler("m1", Some("edge"), "ping", |_payload| async {
            tokio::task::yield_now().await;
            (201, json!("pong"))
        });
    let r = hub
        .send_json(Method::POST, "/twins/m1/methods", &json!({"methodName": "reboot", "payload": {"delay": 3}, "responseTimeoutInSeconds": 30}))
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": 200, "payload": {"echo": {"delay": 3}}})
    );
    let r = hub
        .send_json(
            Method::POST,
            "/twins/m1/modules/edge/methods",
            &json!({"methodName": "ping"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": 201, "payload": "pong"})
    );

    // no handler for this method / module → offline
    let r = hub
        .send_json(
            Method::POST,
            "/twins/m1/methods",
            &json!({"methodName": "other"}),
        )
        .await;
    expect_error(r, 404, "DeviceNotOnline").await;
    let r = hub
        .send_json(
            Method::POST,
            "/twins/m1/modules/edge/methods",
            &json!({"methodName": "reboot"}),
        )
        .await;
    expect_error(r, 404, "DeviceNotOnline").await;
    // unknown device / module
    let r = hub
        .send_json(
            Method::POST,
            "/twins/ghost/methods",
            &json!({"methodName": "reboot"}),
        )
        .await;
    expect_error(r, 404, "DeviceNotFound").await;
    let r = hub
        .send_json(
            Method::POST,
            "/twins/m1/modules/ghost/methods",
            &json!({"methodName": "ping"}),
        )
        .await;
    expect_error(r, 404, "ModuleNotFound").await;
    // validation
    for body in [
        json!({}),
        json!({"methodName": "bad name"}),
        json!({"methodName": "a/b"}),
        json!({"methodName": "ok", "responseTimeoutInSeconds": 1}),
        json!({"methodName": "ok", "responseTimeoutInSeconds": 301}),
        json!({"methodName": "ok", "connectTimeoutInSeconds": -1}),
    ] {
        let r = hub
            .send_json(Method::POST, "/twins/m1/methods", &body)
            .await;
        expect_error(r, 400, "ArgumentInvalid").await;
    }
}

#[tokio::test]
async fn slow_handler_times_out_with_504() {
    let hub = Hub::start().await;
    hub.create_device("slow").await;
    hub.emu
        .register_async_method_handler("slow", None, "wait", |_| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            (200, Value::Null)
        });
    let r = hub
        .send_json(
            Method::POST,
            "/twins/slow/methods",
            &json!({"methodName": "wait", "responseTimeoutInSeconds": 5}),
        )
        .await;
    let msg = expect_error(r, 504, "GatewayTimeout").await;
    assert!(msg.contains("after 5 s"), "{msg}");
}
