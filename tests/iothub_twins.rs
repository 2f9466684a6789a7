//! Device and module twins against the emulator: get, update (merge, removals, typed values,
//! ETag conditions), replace, and local validation with nothing sent.

mod iothub_support;

use azure_twins::iothub::{Twin, TwinPatch, Versioned};
use azure_twins::{Condition, ETag, ErrorKind};
use iothub_support::{CaptureServer, invalid_field, start};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[tokio::test]
async fn update_module_twin_with_conditions() {
    let (_emu, hub) = start().await;
    hub.create_device("dev-1").send().await.unwrap();
    hub.create_module("dev-1", "mod-a").send().await.unwrap();

    let before = hub.get_module_twin("dev-1", "mod-a").send().await.unwrap();
    assert_eq!(before.value.device_id, "dev-1");
    assert_eq!(before.value.module_id.as_deref(), Some("mod-a"));
    assert_eq!(before.value.etag.as_ref(), Some(&before.etag));

    let updated = hub
        .update_module_twin("dev-1", "mod-a")
        .desired(json!({ "telemetryInterval": 30 }))
        .tags(json!({ "site": "berlin" }))
        .if_match(&before.etag)
        .send()
        .await
        .unwrap();
    assert_ne!(updated.etag, before.etag);
    assert_eq!(updated.value.properties.desired["telemetryInterval"], 30);
    assert_eq!(updated.value.tags["site"], "berlin");

    // The stale etag now fails with 412 and changes nothing.
    let err = hub
        .update_module_twin("dev-1", "mod-a")
        .desired(json!({ "telemetryInterval": 99 }))
        .condition(Condition::IfMatch(before.etag.clone()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(412));
    assert_eq!(err.error_code(), Some("PreconditionFailed"));
    let now = hub.get_module_twin("dev-1", "mod-a").send().await.unwrap();
    assert_eq!(now.value.properties.desired["telemetryInterval"], 30);
    assert_eq!(now.etag, updated.etag);

    // The fresh one succeeds.
    let again = hub
        .update_module_twin("dev-1", "mod-a")
        .desired(json!({ "telemetryInterval": 99 }))
        .if_match(&now.etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.value.properties.desired["telemetryInterval"], 99);
}

#[tokio::test]
async fn device_twin_merge_and_explicit_removals() {
    let (_emu, hub) = start().await;
    hub.create_device("dev-2").send().await.unwrap();
    let t = hub
        .update_twin("dev-2")
        .desired(json!({ "cfg": { "a": 1, "b": 2, "c": { "d": 3 } }, "keep": true }))
        .tags(json!({ "site": "berlin", "floor": 3 }))
        .send()
        .await
        .unwrap();
    assert_eq!(t.value.properties.desired["cfg"]["b"], 2);
    let v1 = t.value.desired_version().unwrap();

    let t = hub
        .update_twin("dev-2")
        .remove_desired("cfg.b")
        .remove_tag("floor")
        .set_desired("cfg.c.e", "x")
        .send()
        .await
        .unwrap();
    let d = &t.value.properties.desired;
    assert_eq!(d["cfg"]["a"], 1, "siblings untouched: {d:?}");
    assert!(d["cfg"].get("b").is_none(), "removed: {d:?}");
    assert_eq!(d["cfg"]["c"], json!({ "d": 3, "e": "x" }));
    assert_eq!(d["keep"], true);
    assert_eq!(
        t.value.tags,
        json!({ "site": "berlin" }).as_object().unwrap().clone()
    );
    assert!(t.value.desired_version().unwrap() > v1);
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Telemetry {
    interval: u32,
    unit: String,
}

#[tokio::test]
async fn typed_values_and_typed_reads() {
    let (_emu, hub) = start().await;
    hub.create_device("dev-3").send().await.unwrap();
    hub.update_twin("dev-3")
        .desired(json!({ "telemetry": Telemetry { interval: 5, unit: "s".into() } }))
        .send()
        .await
        .unwrap();

    #[derive(Deserialize)]
    struct Desired {
        telemetry: Telemetry,
    }
    #[derive(Deserialize)]
    struct Props {
        desired: Desired,
    }
    #[derive(Deserialize)]
    struct MyTwin {
        #[serde(rename = "deviceId")]
        id: String,
        properties: Props,
    }
    let typed: Versioned<MyTwin> = hub.get_twin("dev-3").send_as().await.unwrap();
    assert_eq!(typed.value.id, "dev-3");
    assert_eq!(
        typed.value.properties.desired.telemetry,
        Telemetry {
            interval: 5,
            unit: "s".into()
        }
    );
    let raw: Versioned<Value> = hub.get_twin("dev-3").send_as().await.unwrap();
    assert_eq!(raw.etag, typed.etag);
    assert_eq!(raw.value["properties"]["desired"]["telemetry"]["unit"], "s");
    let twin = hub.get_twin("dev-3").send().await.unwrap().value;
    #[derive(Deserialize)]
    struct D2 {
        telemetry: Telemetry,
    }
    assert_eq!(twin.desired_as::<D2>().unwrap().telemetry.interval, 5);
}

#[tokio::test]
async fn replace_device_and_module_twins() {
    let (_emu, hub) = start().await;
    hub.create_device("dev-4").send().await.unwrap();
    hub.create_module("dev-4", "m").send().await.unwrap();
    hub.update_twin("dev-4")
        .desired(json!({ "old": 1 }))
        .tags(json!({ "oldtag": 1 }))
        .send()
        .await
        .unwrap();
    let replaced = hub
        .replace_twin("dev-4")
        .desired(json!({ "new": 2 }))
        .tags(json!({ "site": "x" }))
        .send()
        .await
        .unwrap();
    let d = &replaced.value.properties.desired;
    assert!(d.get("old").is_none(), "replaced wholesale: {d:?}");
    assert_eq!(d["new"], 2);
    assert!(replaced.value.tags.get("oldtag").is_none());

    // Read-modify-write with the twin's own etag as the condition.
    let mut current: Twin = hub
        .get_module_twin("dev-4", "m")
        .send()
        .await
        .unwrap()
        .value;
    current
        .properties
        .desired
        .insert("mode".into(), json!("eco"));
    let stale = current.clone();
    let r = hub
        .replace_module_twin("dev-4", "m")
        .twin(&current)
        .send()
        .await
        .unwrap();
    assert_eq!(r.value.properties.desired["mode"], "eco");
    let err = hub
        .replace_module_twin("dev-4", "m")
        .twin(&stale)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
}

#[tokio::test]
async fn errors_for_missing_twins_and_bad_conditions() {
    let (_emu, hub) = start().await;
    let err = hub.get_twin("nope").send().await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.error_code(), Some("DeviceNotFound"));
    hub.create_device("dev-5").send().await.unwrap();
    let err = hub
        .get_module_twin("dev-5", "nope")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = hub
        .update_twin("dev-5")
        .desired(json!({ "a": 1 }))
        .condition(Condition::IfNoneMatchAny)
        .send()
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&err), "condition");
    let err = hub
        .update_twin("dev-5")
        .desired(json!({ "a": 1 }))
        .if_match(ETag::new("AAAAAAAAAAA="))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed());
}

fn deep(levels: usize) -> Value {
    let mut v = json!({ "leaf": 1 });
    for i in (2..=levels).rev() {
        v = json!({ format!("l{i}"): v });
    }
    json!({ "l1": v })
}

/// Local validation errors name the field and rule, and nothing reaches the wire.
#[tokio::test]
async fn local_validation_sends_nothing() {
    let server = CaptureServer::start().await;
    let hub = server.client();
    let cases: Vec<(azure_twins::Error, &str)> = vec![
        (
            hub.update_twin("bad id")
                .desired(json!({"a": 1}))
                .send()
                .await
                .unwrap_err(),
            "device_id",
        ),
        (
            hub.update_module_twin("d", "m".repeat(129))
                .desired(json!({"a": 1}))
                .send()
                .await
                .unwrap_err(),
            "module_id",
        ),
        (
            hub.update_twin("d")
                .desired(json!({"a.b": 1}))
                .send()
                .await
                .unwrap_err(),
            "desired.a.b",
        ),
        (
            hub.update_twin("d")
                .tags(json!({"$x": 1}))
                .send()
                .await
                .unwrap_err(),
            "tags.$x",
        ),
        (
            hub.update_twin("d")
                .tags(json!({"a b": 1}))
                .send()
                .await
                .unwrap_err(),
            "tags.a b",
        ),
        (
            hub.update_twin("d")
                .desired(json!({"s": "x".repeat(4097)}))
                .send()
                .await
                .unwrap_err(),
            "desired.s",
        ),
        (
            hub.update_twin("d")
                .desired(json!({"k".repeat(1025): 1}))
                .send()
                .await
                .unwrap_err(),
            "",
        ),
        (
            hub.update_twin("d")
                .tags(deep(11))
                .send()
                .await
                .unwrap_err(),
            "tags.l1",
        ),
        (
            hub.update_twin("d")
                .desired("not an object")
                .send()
                .await
                .unwrap_err(),
            "desired",
        ),
        (hub.update_twin("d").send().await.unwrap_err(), "patch"),
        (
            hub.update_twin("d")
                .remove_desired("")
                .send()
                .await
                .unwrap_err(),
            "desired",
        ),
        (
            hub.replace_twin("d")
                .desired(json!({"x\u{1}": 1}))
                .send()
                .await
                .unwrap_err(),
            "desired.x\u{1}",
        ),
        (hub.get_twin("").send().await.unwrap_err(), "device_id"),
    ];
    for (err, field) in cases {
        let f = invalid_field(&err);
        assert!(
            f.starts_with(field),
            "field {f:?} should start with {field:?} ({err})"
        );
    }
    // A ten-deep document is accepted locally (it reaches the server).
    let _ = hub.update_twin("d").tags(deep(10)).send().await;
    assert_eq!(server.count(), 1, "only the valid request was sent");
    assert_eq!(server.captured()[0].json()["tags"], deep(10));
}

/// The same rules hold against the emulator: the twin is unchanged after a rejected patch.
#[tokio::test]
async fn rejected_patch_leaves_the_twin_unchanged() {
    let (_emu, hub) = start().await;
    hub.create_device("dev-6").send().await.unwrap();
    let before = hub.get_twin("dev-6").send().await.unwrap();
    let patch = TwinPatch::new()
        .desired(json!({"ok": 1}))
        .tags(json!({"bad.key": 1}));
    let err = hub
        .update_twin("dev-6")
        .patch(patch)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidInput { .. }));
    let after = hub.get_twin("dev-6").send().await.unwrap();
    assert_eq!(after.etag, before.etag);
    assert_eq!(after.value.version, before.value.version);
}

/// The documented deepest valid document (`tags.one…ten.property`, service-behaviour.md §1.3) is
/// accepted end to end: by the facade's local validation and by the emulator.
#[tokio::test]
async fn ten_nested_objects_are_accepted() {
    let (_emu, hub) = start().await;
    hub.create_device("dev-7").send().await.unwrap();
    let t = hub
        .update_twin("dev-7")
        .tags(deep(10))
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.value.tags["l1"]["l2"]["l3"]["l4"]["l5"]["l6"]["l7"]["l8"]["l9"]["l10"]["leaf"],
        1
    );
}
