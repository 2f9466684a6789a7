//! The emulated hub's IoT Plug and Play surface on the wire: the digital twin view and its weak
//! ETag, JSON Patch to desired properties (202, 412, patch errors), and commands answered by
//! method handlers with `x-ms-command-statuscode`.

mod iothub_support;

use iothub_support::{Hub, expect_error};
use reqwest::Method;
use serde_json::{Value, json};

async fn pnp_hub() -> Hub {
    let hub = Hub::start().await;
    hub.create_device("pnp").await;
    let c = hub.emu.iothub();
    c.set_model_id("pnp", "dtmi:example:Thermostat;1").unwrap();
    c.report_properties(
        "pnp",
        json!({"temp": 20.5, "comp": {"__t": "c", "level": 3},
               "target": {"value": 19, "ac": 200, "av": 2, "ad": "ok"}}),
    )
    .unwrap();
    hub
}

fn etag(r: &reqwest::Response) -> String {
    r.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn get_renders_the_pnp_view_with_a_weak_etag() {
    let hub = pnp_hub().await;
    hub.patch_twin("pnp", &json!({"properties": {"desired": {"target": 21}}}))
        .await;
    let r = hub.send(Method::GET, "/digitaltwins/pnp").await;
    assert_eq!(r.status(), 200);
    let tag = etag(&r);
    assert!(tag.starts_with("W/\"") && tag.ends_with('"'), "{tag}");
    let dt: Value = r.json().await.unwrap();
    assert_eq!(dt["$dtId"], "pnp");
    assert_eq!(dt["$metadata"]["$model"], "dtmi:example:Thermostat;1");
    assert_eq!(dt["temp"], 20.5);
    assert!(dt["$metadata"]["temp"]["lastUpdateTime"].is_string());
    assert_eq!(dt["target"], 19);
    assert_eq!(dt["$metadata"]["target"]["desiredValue"], 21);
    assert_eq!(dt["$metadata"]["target"]["ackCode"], 200);
    assert_eq!(dt["comp"]["level"], 3);
    assert!(dt["comp"]["$metadata"]["level"].is_object());
    // The twin carries modelId.
    let (_, twin) = hub.get_json("/twins/pnp").await;
    assert_eq!(twin["modelId"], "dtmi:example:Thermostat;1");

    let r = hub.send(Method::GET, "/digitaltwins/nobody").await;
    expect_error(r, 404, "DeviceNotFound").await;
}

#[tokio::test]
async fn patch_writes_desired_properties_conditionally() {
    let hub = pnp_hub().await;
    let r = hub.send(Method::GET, "/digitaltwins/pnp").await;
    let before = etag(&r);
    let ops = json!([
        {"op": "add", "path": "/target", "value": 22},
        {"op": "replace", "path": "/comp/level", "value": 4},
        {"op": "add", "path": "/a~1b", "value": true}
    ]);
    let r = hub
        .send_if_match(Method::PATCH, "/digitaltwins/pnp", &before, Some(&ops))
        .await;
    assert_eq!(r.status(), 202);
    let after = etag(&r);
    assert_ne!(after, before);
    let (_, twin) = hub.get_json("/twins/pnp").await;
    let desired = &twin["properties"]["desired"];
    assert_eq!(desired["target"], 22);
    assert_eq!(desired["comp"], json!({"__t": "c", "level": 4}));
    assert_eq!(desired["a/b"], true);

    let r = hub
        .send_if_match(Method::PATCH, "/digitaltwins/pnp", &before, Some(&ops))
        .await;
    expect_error(r, 412, "PreconditionFailed").await;

    let remove = json!([{"op": "remove", "path": "/target"}]);
    let r = hub
        .send_if_match(Method::PATCH, "/digitaltwins/pnp", &after, Some(&remove))
        .await;
    assert_eq!(r.status(), 202);
    let (_, twin) = hub.get_json("/twins/pnp").await;
    assert!(twin["properties"]["desired"].get("target").is_none());
}

#[tokio::test]
async fn bad_patches_are_rejected_and_change_nothing() {
    let hub = pnp_hub().await;
    let (_, twin) = hub.get_json("/twins/pnp").await;
    let cases = [
        (
            json!([{"op": "add", "path": "/$metadata/$model", "value": "dtmi:x:y;1"}]),
            "InvalidDigitalTwinPatchPath",
        ),
        (
            json!([{"op": "add", "path": "/comp/$metadata/level", "value": 1}]),
            "InvalidDigitalTwinPatchPath",
        ),
        (
            json!([{"op": "move", "from": "/a", "path": "/b"}]),
            "InvalidDigitalTwinJsonPatch",
        ),
        (
            json!([{"op": "add", "path": "nope", "value": 1}]),
            "InvalidDigitalTwinJsonPatch",
        ),
        (
            json!([{"op": "add", "path": "/x"}]),
            "InvalidDigitalTwinJsonPatch",
        ),
        (json!([]), "InvalidDigitalTwinJsonPatch"),
        (json!({"op": "add"}), "InvalidDigitalTwinJsonPatch"),
    ];
    for (body, code) in cases {
        let r = hub
            .send_json(Method::PATCH, "/digitaltwins/pnp", &body)
            .await;
        expect_error(r, 400, code).await;
    }
    let (_, after) = hub.get_json("/twins/pnp").await;
    assert_eq!(after["etag"], twin["etag"]);
}

#[tokio::test]
async fn commands_go_to_method_handlers() {
    let hub = pnp_hub().await;
    hub.emu
        .register_method_handler("pnp", None, "reboot", |p| (200, json!({"got": p})));
    hub.emu
        .register_method_handler("pnp", None, "comp*report", |_| (203, json!({"r": 1})));
    let r = hub
        .req(
            Method::POST,
            "/digitaltwins/pnp/commands/reboot?responseTimeoutInSeconds=10&connectTimeoutInSeconds=0",
        )
        .json(&json!({"delay": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ms-command-statuscode"], "200");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"got": {"delay": 1}}));

    let r = hub
        .send_json(
            Method::POST,
            "/digitaltwins/pnp/components/comp/commands/report",
            &json!({}),
        )
        .await;
    assert_eq!(r.headers()["x-ms-command-statuscode"], "203");

    // Online, command not implemented: the device's 501.
    let r = hub
        .send_json(Method::POST, "/digitaltwins/pnp/commands/other", &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ms-command-statuscode"], "501");

    // Bad timeouts, unknown and offline devices.
    let r = hub
        .req(
            Method::POST,
            "/digitaltwins/pnp/commands/reboot?responseTimeoutInSeconds=1",
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "ArgumentInvalid").await;
    let r = hub
        .req(
            Method::POST,
            "/digitaltwins/pnp/commands/reboot?connectTimeoutInSeconds=soon",
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "ArgumentInvalid").await;
    let r = hub
        .send_json(
            Method::POST,
            "/digitaltwins/ghost/commands/reboot",
            &json!({}),
        )
        .await;
    expect_error(r, 404, "DeviceNotFound").await;
    hub.create_device("offline").await;
    let r = hub
        .send_json(
            Method::POST,
            "/digitaltwins/offline/commands/reboot",
            &json!({}),
        )
        .await;
    expect_error(r, 404, "DeviceNotOnline").await;
}
