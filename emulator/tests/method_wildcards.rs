//! Direct-method handlers registered with `*` wildcards: one handler answers several devices and
//! modules and learns which was called; an exact registration wins; unknown devices stay 404.

mod iothub_support;

use azure_twins_emulator::MethodInvocation;
use iothub_support::{Hub, expect_error};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// `POST path` with `{"methodName": method, "payload": payload}`: (HTTP status, body).
async fn call(hub: &Hub, path: &str, method: &str, payload: Value) -> (u16, Value) {
    let r = hub
        .send_json(
            Method::POST,
            path,
            &json!({"methodName": method, "payload": payload}),
        )
        .await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn one_wildcard_handler_answers_devices_and_modules() {
    let hub = Hub::start().await;
    hub.create_device("d1").await;
    hub.create_device("d2").await;
    hub.create_module("d2", "edge").await;
    let calls: Arc<Mutex<Vec<MethodInvocation>>> = Arc::default();
    let seen = calls.clone();
    let answer = move |call: MethodInvocation| {
        let body = json!({
            "device": call.device_id,
            "module": call.module_id,
            "method": call.method_name,
            "payload": call.payload,
        });
        seen.lock().unwrap().push(call);
        (200, body)
    };
    hub.emu
        .register_invocation_handler("*", None, "*", answer.clone());
    hub.emu
        .register_invocation_handler("*", Some("*"), "*", answer);

    let (s, b) = call(&hub, "/twins/d1/methods", "reboot", json!({"n": 1})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b,
        json!({"status": 200, "payload": {"device": "d1", "module": null, "method": "reboot", "payload": {"n": 1}}})
    );
    let (s, b) = call(&hub, "/twins/d2/methods", "blink", json!(null)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["payload"]["device"], "d2");
    assert_eq!(b["payload"]["method"], "blink");
    let (s, b) = call(&hub, "/twins/d2/modules/edge/methods", "ping", json!(2)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["payload"]["device"], "d2");
    assert_eq!(b["payload"]["module"], "edge");
    assert_eq!(b["payload"]["payload"], 2);

    let calls = calls.lock().unwrap();
    let who: Vec<(&str, Option<&str>, &str)> = calls
        .iter()
        .map(|c| {
            (
                c.device_id.as_str(),
                c.module_id.as_deref(),
                c.method_name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            ("d1", None, "reboot"),
            ("d2", None, "blink"),
            ("d2", Some("edge"), "ping")
        ]
    );
    assert!(calls.iter().all(|c| c.response_timeout.as_secs() == 30));
}

#[tokio::test]
async fn the_most_specific_registration_wins() {
    let hub = Hub::start().await;
    hub.create_device("d1").await;
    hub.create_device("d2").await;
    hub.create_module("d1", "edge").await;
    hub.emu
        .register_method_handler("*", None, "*", |_| (200, json!("any device, any method")));
    hub.emu
        .register_method_handler("*", None, "reboot", |_| (201, json!("any device, reboot")));
    hub.emu
        .register_method_handler("d1", None, "*", |_| (202, json!("d1, any method")));
    hub.emu
        .register_method_handler("d1", None, "reboot", |_| (203, json!("d1, reboot")));
    hub.emu
        .register_method_handler("d1", Some("*"), "ping", |_| (204, json!("d1, any module")));
    hub.emu
        .register_async_method_handler("d1", Some("edge"), "ping", |_| async {
            (205, json!("d1/edge, ping"))
        });
    let status = |b: Value| b["status"].as_i64().expect("a method status");
    for (path, method, expected) in [
        ("/twins/d1/methods", "reboot", 203),
        ("/twins/d1/methods", "blink", 202),
        ("/twins/d2/methods", "reboot", 201),
        ("/twins/d2/methods", "blink", 200),
        ("/twins/d1/modules/edge/methods", "ping", 205),
    ] {
        let (s, b) = call(&hub, path, method, json!(null)).await;
        assert_eq!(s, 200, "{path} {method}: {b}");
        assert_eq!(status(b), expected, "{path} {method}");
    }
    // Another module of d1: the module wildcard.
    hub.create_module("d1", "other").await;
    let (_, b) = call(&hub, "/twins/d1/modules/other/methods", "ping", json!(null)).await;
    assert_eq!(status(b), 204);
    // No module handler for that method, and device handlers do not answer modules.
    let r = hub
        .send_json(
            Method::POST,
            "/twins/d1/modules/other/methods",
            &json!({"methodName": "reboot"}),
        )
        .await;
    expect_error(r, 404, "DeviceNotOnline").await;
}

#[tokio::test]
async fn wildcards_do_not_create_devices() {
    let hub = Hub::start().await;
    hub.create_device("d1").await;
    hub.emu
        .register_method_handler("*", Some("*"), "*", |_| (200, json!(null)));
    hub.emu
        .register_method_handler("*", None, "*", |_| (200, json!(null)));
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
            "/twins/d1/modules/nomod/methods",
            &json!({"methodName": "reboot"}),
        )
        .await;
    expect_error(r, 404, "ModuleNotFound").await;
}

#[tokio::test]
async fn a_wildcard_device_is_online_for_pnp_commands() {
    let hub = Hub::start().await;
    hub.create_device("t1").await;
    hub.emu.register_invocation_handler("*", None, "*", |call| {
        (200, json!({"command": call.method_name}))
    });
    let r = hub
        .req(
            Method::POST,
            "/digitaltwins/t1/components/thermostat/commands/getMaxMinReport",
        )
        .json(&json!({}))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ms-command-statuscode"], "200");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"command": "thermostat*getMaxMinReport"})
    );
}
