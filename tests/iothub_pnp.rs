//! IoT Plug and Play digital twins on the hub against the emulator: the digital-twin view of a
//! device twin, JSON Patch updates with If-Match, root-level and component commands.

#![cfg(feature = "digitaltwins")]

mod iothub_support;

use std::time::Duration;

use azure_twins::digitaltwins::JsonPatch;
use azure_twins::{Condition, ETag};
use iothub_support::{CaptureServer, Scripted, invalid_field, start};
use serde_json::{Value, json};

const MODEL: &str = "dtmi:com:example:TemperatureController;2";

async fn pnp_device(
    emu: &azure_twins_emulator::Emulator,
    hub: &azure_twins::IotHubClient,
    id: &str,
) {
    hub.create_device(id).send().await.unwrap();
    emu.iothub().set_model_id(id, MODEL).unwrap();
    emu.iothub()
        .report_properties(
            id,
            json!({
                "serialNumber": "SN-1",
                "targetTemperature": {"value": 20, "ac": 200, "av": 2, "ad": "applied"},
                "thermostat1": {"__t": "c", "maxTempSinceLastReboot": 31.5},
            }),
        )
        .unwrap();
}

#[tokio::test]
async fn digital_twin_is_the_pnp_view_of_the_device_twin() {
    let (emu, hub) = start().await;
    pnp_device(&emu, &hub, "pnp-1").await;
    hub.update_twin("pnp-1")
        .desired(json!({"targetTemperature": 21}))
        .send()
        .await
        .unwrap();

    let dt = hub.get_digital_twin("pnp-1").send().await.unwrap();
    let v = Value::Object(dt.value.clone());
    assert_eq!(v["$dtId"], "pnp-1");
    assert_eq!(v["$metadata"]["$model"], MODEL);
    assert_eq!(v["serialNumber"], "SN-1");
    // The acknowledged writable property: the value, the desired value and the ack.
    assert_eq!(v["targetTemperature"], 20);
    let meta = &v["$metadata"]["targetTemperature"];
    assert_eq!(meta["desiredValue"], 21);
    assert_eq!(meta["ackCode"], 200);
    assert_eq!(meta["ackVersion"], 2);
    assert_eq!(meta["ackDescription"], "applied");
    assert!(meta["desiredVersion"].is_i64());
    // A component (marked "__t": "c" in the twin) becomes an object with its own $metadata.
    assert_eq!(v["thermostat1"]["maxTempSinceLastReboot"], 31.5);
    assert!(v["thermostat1"]["$metadata"].is_object());
    assert!(v["thermostat1"].get("__t").is_none());
    assert!(!dt.etag.value().is_empty());

    // The device twin carries the model id.
    let twin = hub.get_twin("pnp-1").send_as::<Value>().await.unwrap();
    assert_eq!(twin.value["modelId"], MODEL);

    // Typed decoding.
    #[derive(serde::Deserialize)]
    struct Controller {
        #[serde(rename = "serialNumber")]
        serial_number: String,
    }
    let typed = hub
        .get_digital_twin("pnp-1")
        .send_as::<Controller>()
        .await
        .unwrap();
    assert_eq!(typed.value.serial_number, "SN-1");
    assert_eq!(typed.etag, dt.etag);
}

#[tokio::test]
async fn unknown_device_has_no_digital_twin() {
    let (_emu, hub) = start().await;
    let e = hub.get_digital_twin("ghost").send().await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = hub
        .update_digital_twin("ghost", JsonPatch::new().add("/x", 1))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[tokio::test]
async fn patch_writes_desired_properties_with_if_match() {
    let (emu, hub) = start().await;
    pnp_device(&emu, &hub, "pnp-2").await;
    let before = hub.get_digital_twin("pnp-2").send().await.unwrap();

    let new_etag = hub
        .update_digital_twin(
            "pnp-2",
            JsonPatch::new()
                .add("/targetTemperature", 22.5)
                .add("/thermostat1/targetTemperature", 19)
                .add("/settings", json!({"mode": "eco"})),
        )
        .if_match(before.etag.clone())
        .send()
        .await
        .unwrap()
        .expect("an ETag header");
    assert_ne!(new_etag, before.etag);

    let twin = hub.get_twin("pnp-2").send().await.unwrap();
    let desired = &twin.value.properties.desired;
    assert_eq!(desired["targetTemperature"], 22.5);
    assert_eq!(desired["settings"], json!({"mode": "eco"}));
    // A component property lands in the component object, marked as a component.
    assert_eq!(desired["thermostat1"]["targetTemperature"], 19);
    assert_eq!(desired["thermostat1"]["__t"], "c");

    let dt = hub.get_digital_twin("pnp-2").send().await.unwrap();
    assert_eq!(dt.etag, new_etag);
    let v = Value::Object(dt.value);
    assert_eq!(v["$metadata"]["targetTemperature"]["desiredValue"], 22.5);
    assert_eq!(
        v["thermostat1"]["$metadata"]["targetTemperature"]["desiredValue"],
        19
    );

    // The stale ETag now fails; nothing is written.
    let e = hub
        .update_digital_twin("pnp-2", JsonPatch::new().replace("/targetTemperature", 0))
        .if_match(before.etag)
        .send()
        .await
        .unwrap_err();
    assert!(e.is_precondition_failed(), "{e}");
    let twin = hub.get_twin("pnp-2").send().await.unwrap();
    assert_eq!(twin.value.properties.desired["targetTemperature"], 22.5);

    // remove deletes the desired property; IfMatchAny is unconditional.
    hub.update_digital_twin("pnp-2", JsonPatch::new().remove("/settings"))
        .condition(Condition::IfMatchAny)
        .send()
        .await
        .unwrap();
    let twin = hub.get_twin("pnp-2").send().await.unwrap();
    assert!(twin.value.properties.desired.get("settings").is_none());
}

#[tokio::test]
async fn commands_are_served_by_the_device_method_handlers() {
    let (emu, hub) = start().await;
    pnp_device(&emu, &hub, "pnp-3").await;
    emu.register_method_handler("pnp-3", None, "reboot", |p| {
        (200, json!({"rebooting": true, "delay": p["delay"]}))
    });
    emu.register_method_handler("pnp-3", None, "thermostat1*getMaxMinReport", |p| {
        (201, json!({"since": p["since"], "maxTemp": 31.5}))
    });

    let r = hub
        .invoke_command("pnp-3", "reboot")
        .payload(json!({"delay": 5}))
        .response_timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, Some(200));
    assert!(r.is_success());
    assert_eq!(r.payload, json!({"rebooting": true, "delay": 5}));
    assert!(r.request_id.is_some());

    let r = hub
        .invoke_component_command("pnp-3", "thermostat1", "getMaxMinReport")
        .payload(json!({"since": "2026-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, Some(201));
    #[derive(serde::Deserialize)]
    struct Report {
        #[serde(rename = "maxTemp")]
        max_temp: f64,
    }
    assert_eq!(r.payload_as::<Report>().unwrap().max_temp, 31.5);

    // A connected device answers a command it does not implement with 501.
    let r = hub
        .invoke_command("pnp-3", "selfDestruct")
        .send()
        .await
        .unwrap();
    assert!(r.is_unknown_command(), "{r:?}");
    assert!(!r.is_success());
    let r = hub
        .invoke_component_command("pnp-3", "thermostat2", "getMaxMinReport")
        .send()
        .await
        .unwrap();
    assert!(r.is_unknown_command(), "{r:?}");
}

#[tokio::test]
async fn offline_device_and_unknown_device_are_typed_errors() {
    let (emu, hub) = start().await;
    pnp_device(&emu, &hub, "pnp-off").await;
    let e = hub
        .invoke_command("pnp-off", "reboot")
        .send()
        .await
        .unwrap_err();
    assert!(e.is_device_not_online(), "{e}");
    assert_eq!(e.status().map(|s| s.as_u16()), Some(404));
    let e = hub
        .invoke_component_command("pnp-off", "thermostat1", "getMaxMinReport")
        .send()
        .await
        .unwrap_err();
    assert!(e.is_device_not_online(), "{e}");

    let e = hub
        .invoke_command("ghost", "reboot")
        .send()
        .await
        .unwrap_err();
    assert!(e.is_not_found() && !e.is_device_not_online(), "{e}");
    assert_eq!(e.error_code(), Some("DeviceNotFound"));
}

#[tokio::test]
async fn command_request_on_the_wire() {
    let server = CaptureServer::start().await;
    server.push(Scripted {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-ms-command-statuscode".into(), "202".into()),
            ("x-ms-request-id".into(), "req-1".into()),
        ],
        body: br#"{"ok":true}"#.to_vec(),
    });
    let r = server
        .client()
        .invoke_component_command("d1", "thermostat1", "getMaxMinReport")
        .payload(json!({"a": 1}))
        .response_timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, Some(202));
    assert_eq!(r.request_id.as_deref(), Some("req-1"));
    let c = &server.captured()[0];
    assert_eq!(c.method, "POST");
    assert_eq!(
        c.path,
        "/digitaltwins/d1/components/thermostat1/commands/getMaxMinReport"
    );
    assert_eq!(
        c.query_param("responseTimeoutInSeconds").as_deref(),
        Some("60")
    );
    assert_eq!(
        c.query_param("connectTimeoutInSeconds").as_deref(),
        Some("10")
    );
    assert_eq!(c.json(), json!({"a": 1}));

    // A PATCH goes to /digitaltwins/{id} with the JSON Patch body and the quoted If-Match.
    server.push(Scripted {
        status: 202,
        headers: vec![("etag".into(), "W/\"AAAAAAAAAAM=\"".into())],
        body: vec![],
    });
    let etag = server
        .client()
        .update_digital_twin("d1", JsonPatch::new().add("/t", 1))
        .if_match(ETag::new("AAAAAAAAAAI="))
        .send()
        .await
        .unwrap();
    assert!(etag.is_some());
    let c = &server.captured()[1];
    assert_eq!(c.method, "PATCH");
    assert_eq!(c.path, "/digitaltwins/d1");
    assert_eq!(c.json(), json!([{"op": "add", "path": "/t", "value": 1}]));
    assert!(c.header("if-match").unwrap().contains("AAAAAAAAAAI="));
}

#[tokio::test]
async fn bad_input_is_rejected_locally() {
    let server = CaptureServer::start().await;
    let hub = server.client();
    let big = "x".repeat(129 * 1024);
    let cases = vec![
        (
            hub.get_digital_twin("a b").send().await.unwrap_err(),
            "device_id",
        ),
        (
            hub.invoke_command("d", "bad name")
                .send()
                .await
                .unwrap_err(),
            "command_name",
        ),
        (
            hub.invoke_command("d", "").send().await.unwrap_err(),
            "command_name",
        ),
        (
            hub.invoke_command("d", "x".repeat(65))
                .send()
                .await
                .unwrap_err(),
            "command_name",
        ),
        (
            hub.invoke_component_command("d", "1comp", "reboot")
                .send()
                .await
                .unwrap_err(),
            "component_name",
        ),
        (
            hub.invoke_component_command("d", "comp*x", "reboot")
                .send()
                .await
                .unwrap_err(),
            "component_name",
        ),
        (
            hub.invoke_command("d", "reboot")
                .payload(json!({ "blob": big }))
                .send()
                .await
                .unwrap_err(),
            "payload",
        ),
        (
            hub.invoke_command("d", "reboot")
                .response_timeout(Duration::from_secs(1))
                .send()
                .await
                .unwrap_err(),
            "response_timeout",
        ),
        (
            hub.invoke_command("d", "reboot")
                .connect_timeout(Duration::from_secs(301))
                .send()
                .await
                .unwrap_err(),
            "connect_timeout",
        ),
        (
            hub.update_digital_twin("d", JsonPatch::new())
                .send()
                .await
                .unwrap_err(),
            "patch",
        ),
        (
            hub.update_digital_twin(
                "d",
                JsonPatch::new()
                    .add("/ok", 1)
                    .replace("/$metadata/$model", "dtmi:x:y;1"),
            )
            .send()
            .await
            .unwrap_err(),
            "patch[1].path",
        ),
        (
            hub.update_digital_twin(
                "d",
                JsonPatch::new().add(
                    "/thermostat1/$metadata/t/sourceTime",
                    "2026-01-01T00:00:00Z",
                ),
            )
            .send()
            .await
            .unwrap_err(),
            "patch[0].path",
        ),
        (
            hub.update_digital_twin("d", JsonPatch::new().add("no-slash", 1))
                .send()
                .await
                .unwrap_err(),
            "patch[0].path",
        ),
        (
            hub.update_digital_twin("d", JsonPatch::new().add("/t", 1))
                .condition(Condition::IfNoneMatchAny)
                .send()
                .await
                .unwrap_err(),
            "condition",
        ),
    ];
    for (e, field) in cases {
        assert_eq!(invalid_field(&e), field, "{e}");
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(server.count(), 0, "nothing is sent");
}

/// A device's command answer is any JSON (fixup `iothub_pnp_command_payloads_any_json`): a
/// number, a string, an array or `null` comes back as it was sent, not as a decoding error.
#[tokio::test]
async fn command_answers_that_are_not_objects_come_back_as_sent() {
    let (emu, hub) = start().await;
    pnp_device(&emu, &hub, "pnp-any").await;
    for (name, answer) in [
        ("count", json!(42)),
        ("name", json!("thermostat")),
        ("list", json!([1, "two", null])),
        ("nothing", Value::Null),
    ] {
        let a = answer.clone();
        emu.register_method_handler("pnp-any", None, name, move |_| (200, a.clone()));
        let r = hub.invoke_command("pnp-any", name).send().await.unwrap();
        assert_eq!(r.status, Some(200), "{name}");
        assert_eq!(r.payload, answer, "{name}");
    }
}

/// A command's request payload is any JSON too (a DTDL command may take a bare `dateTime`, a
/// number or an array): it reaches the device as sent; no payload sends `{}`.
#[tokio::test]
async fn command_payloads_that_are_not_objects_reach_the_device_as_sent() {
    let (emu, hub) = start().await;
    pnp_device(&emu, &hub, "pnp-req").await;
    emu.register_method_handler("pnp-req", None, "echo", |request| (200, request));
    for payload in [
        json!("2026-12-03T06:00:00Z"),
        json!(7.5),
        json!([1, "two", null]),
        json!(true),
        Value::Null,
        json!({"nested": {"a": 1}}),
    ] {
        let r = hub
            .invoke_command("pnp-req", "echo")
            .payload(&payload)
            .send()
            .await
            .unwrap();
        assert_eq!(r.payload, payload);
    }
    let r = hub.invoke_command("pnp-req", "echo").send().await.unwrap();
    assert_eq!(r.payload, json!({}));
}
