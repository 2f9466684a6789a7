//! Direct methods against the emulator: handlers on devices and modules, offline devices,
//! timeouts, and the no-retry-unless-opted-in rule for this side-effecting call.

mod iothub_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use azure_twins::{RequestOptions, RetryOptions};
use azure_twins_emulator::{Fault, FaultRule};
use iothub_support::{CaptureServer, invalid_field, start};
use serde_json::{Value, json};

#[tokio::test]
async fn device_and_module_methods_return_status_and_payload() {
    let (emu, hub) = start().await;
    hub.create_device("dev").send().await.unwrap();
    hub.create_module("dev", "mod").send().await.unwrap();
    emu.register_method_handler("dev", None, "echo", |p| (200, json!({ "got": p })));
    emu.register_method_handler("dev", Some("mod"), "fail", |_| (503, json!("busy")));

    let r = hub
        .invoke_device_method("dev", "echo")
        .payload(json!({ "n": 1 }))
        .response_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, Some(200));
    assert_eq!(r.payload, Some(json!({ "got": { "n": 1 } })));

    #[derive(serde::Deserialize)]
    struct Got {
        got: Value,
    }
    assert_eq!(r.payload_as::<Got>().unwrap().got["n"], 1);

    // The device's own failure status is data, not an error.
    let r = hub
        .invoke_module_method("dev", "mod", "fail")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, Some(503));
    assert_eq!(r.payload, Some(json!("busy")));
}

#[tokio::test]
async fn offline_unknown_and_timed_out_devices() {
    let (emu, hub) = start().await;
    hub.create_device("quiet").send().await.unwrap();
    let err = hub
        .invoke_device_method("quiet", "reboot")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.error_code(), Some("DeviceNotOnline"));

    let err = hub
        .invoke_device_method("ghost", "reboot")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("DeviceNotFound"));
    let err = hub
        .invoke_module_method("quiet", "ghost", "reboot")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("ModuleNotFound"));

    emu.register_async_method_handler("quiet", None, "slow", |_| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        (200, Value::Null)
    });
    let err = hub
        .invoke_device_method("quiet", "slow")
        .response_timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(504), "{err:?}");
}

#[tokio::test]
async fn methods_are_not_retried_unless_the_caller_opts_in() {
    let (emu, hub) = start().await;
    hub.create_device("dev").send().await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    emu.register_method_handler("dev", None, "count", move |_| {
        c2.fetch_add(1, Ordering::SeqCst);
        (200, Value::Null)
    });
    let unavailable = || FaultRule {
        path_prefix: Some("/twins/dev/methods".into()),
        ..FaultRule::new(Fault::ServiceUnavailable, 1)
    };

    emu.faults().inject(unavailable());
    let err = hub
        .invoke_device_method("dev", "count")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503), "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(emu.faults().injected(), 1);

    emu.faults().inject(unavailable());
    let r = hub
        .invoke_device_method("dev", "count")
        .options(
            RequestOptions::default()
                .retry_non_idempotent(true)
                .retry(RetryOptions::default().initial_delay(Duration::from_millis(10))),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, Some(200));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(emu.faults().injected(), 2);

    // For contrast: an idempotent read is retried by default.
    emu.faults().inject(FaultRule {
        path_prefix: Some("/twins/dev".into()),
        method: Some("GET".into()),
        ..FaultRule::new(Fault::ServiceUnavailable, 1)
    });
    hub.get_twin("dev")
        .options(
            RequestOptions::default()
                .retry(RetryOptions::default().initial_delay(Duration::from_millis(10))),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(emu.faults().injected(), 3);
}

#[tokio::test]
async fn method_inputs_are_checked_locally_and_wire_shape() {
    let server = CaptureServer::start().await;
    let hub = server.client();
    let cases = vec![
        (
            hub.invoke_device_method("dev", "")
                .send()
                .await
                .unwrap_err(),
            "method_name",
        ),
        (
            hub.invoke_device_method("dev", "a/b")
                .send()
                .await
                .unwrap_err(),
            "method_name",
        ),
        (
            hub.invoke_device_method("a b", "m")
                .send()
                .await
                .unwrap_err(),
            "device_id",
        ),
        (
            hub.invoke_module_method("d", "", "m")
                .send()
                .await
                .unwrap_err(),
            "module_id",
        ),
        (
            hub.invoke_device_method("d", "m")
                .response_timeout(Duration::from_secs(4))
                .send()
                .await
                .unwrap_err(),
            "response_timeout",
        ),
        (
            hub.invoke_device_method("d", "m")
                .connect_timeout(Duration::from_secs(301))
                .send()
                .await
                .unwrap_err(),
            "connect_timeout",
        ),
        (
            hub.invoke_device_method("d", "m")
                .payload("x".repeat(200_000))
                .send()
                .await
                .unwrap_err(),
            "payload",
        ),
    ];
    for (err, field) in cases {
        assert_eq!(invalid_field(&err), field, "{err}");
    }
    assert_eq!(server.count(), 0);

    let _ = hub
        .invoke_module_method("d#1", "m", "reboot")
        .payload(json!({ "a": 1 }))
        .response_timeout(Duration::from_secs(30))
        .send()
        .await;
    let c = &server.captured()[0];
    assert_eq!(c.method, "POST");
    assert_eq!(c.path, "/twins/d%231/modules/m/methods");
    assert_eq!(
        c.json(),
        json!({ "methodName": "reboot", "payload": { "a": 1 }, "responseTimeoutInSeconds": 30 })
    );
}
