//! The generated IoT Hub types decode real documents: every twin, identity and configuration
//! body in the recorded service sessions, and the emulator's answers to the raw client's twin,
//! identity, configuration and query calls over a loopback socket.
//!
//! Before the codegen fixups `iothub_twin_values_any_json`, `iothub_wire_types` and
//! `iothub_twin_configurations_and_model_id`, none of these decoded: the spec types twin values
//! as objects (`"$version": 1` fails) and identity times as RFC 3339 (`0001-01-01T00:00:00`
//! fails). The generated types are the facade's public models now, so "decodes" means
//! "decodes losslessly": encoding a decoded document again gives the same document (the
//! flattened `extra` keeps fields the spec does not name, ETags go back unquoted, zone-less
//! times come back as the same instant in RFC 3339).

#![cfg(feature = "iothub")]

use azure_twins::auth::Service;
use azure_twins::iothub::Timestamp;
use azure_twins::raw::{self, Pipeline};
use azure_twins::{ClientOptions, Credential};
use azure_twins_emulator::Emulator;
use chrono::{DateTime, Utc};
use progenitor_client::Error;
use raw::iothub::types::{Configuration, Device, Module, QuerySpecification, Twin};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// The api-version the generated client was made for.
fn api() -> &'static str {
    <raw::iothub::Client as raw::iothub::ClientInfo<Pipeline>>::api_version()
}

const RECORDINGS: [&str; 5] = [
    "ConfigurationsClient_ConfigurationsLifecycle.json",
    "DevicesClient_TwinLifecycle.json",
    "DevicesClient_UpdateDevice_EtagDoesNotMatch.json",
    "ModulesClient_UpdateModuleTwin_EtagDoesNotMatch.json",
    "QueryClient_GetAllDevicesTwinsWithTag.json",
];

fn recording(file: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/recordings/dotnet-iothub-service/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let recording: Value = serde_json::from_str(&text).expect("recording is JSON");
    recording["Entries"].as_array().expect("Entries").clone()
}

/// A recorded body: JSON, or JSON text stored as a string (the query responses).
fn body(entry: &Value, key: &str) -> Option<Value> {
    match &entry[key] {
        Value::Null => None,
        Value::String(text) => serde_json::from_str(text).ok(),
        Value::Array(a) if a.is_empty() => None,
        other => Some(other.clone()),
    }
}

/// The comparable form of a document: `null` members and empty objects dropped (the
/// generated types read both as "absent"), and strings that are times (RFC 3339, or IoT Hub's
/// zone-less UTC form) replaced by the instant (the service writes 7 fractional digits or no
/// zone, [`Timestamp`] writes RFC 3339 with 9).
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), canonical(v)))
                .filter(|(_, v)| !v.is_null() && !matches!(v, Value::Object(m) if m.is_empty()))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::String(s) if looks_like_time(s) => match Timestamp::parse(s) {
            Some(t) => json!(format!("instant:{}", t.to_rfc3339())),
            None => v.clone(),
        },
        other => other.clone(),
    }
}

/// `YYYY-MM-DDTHH:MM:SS…`: only such strings are compared as instants.
fn looks_like_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':'
}

/// Decodes `document` as `T` and checks that encoding it again loses nothing.
fn decode_losslessly<T: DeserializeOwned + Serialize>(what: &str, document: &Value) -> T {
    let decoded: T = serde_json::from_value(document.clone())
        .unwrap_or_else(|e| panic!("{what} does not decode: {e}\n{document:#}"));
    let again = serde_json::to_value(&decoded).expect("generated types serialize");
    assert_eq!(
        canonical(&again),
        canonical(document),
        "{what} lost or changed data in a decode/encode round trip"
    );
    decoded
}

fn path_of(entry: &Value) -> String {
    let uri = entry["RequestUri"].as_str().expect("RequestUri");
    let after_host = uri.splitn(4, '/').nth(3).unwrap_or("");
    let path = after_host.split('?').next().unwrap_or("");
    format!("/{path}")
}

#[test]
fn every_recorded_iothub_document_decodes_into_the_generated_types() {
    let mut counts = [0usize; 4]; // twins, devices, modules, configurations
    for file in RECORDINGS {
        for (i, entry) in recording(file).iter().enumerate() {
            let path = path_of(entry);
            let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
            for key in ["RequestBody", "ResponseBody"] {
                let status = entry["StatusCode"].as_u64().expect("StatusCode");
                if key == "ResponseBody" && status != 200 {
                    continue;
                }
                let Some(document) = body(entry, key) else {
                    continue;
                };
                let what = format!("{file} entry {i} {key} ({path})");
                match segments.as_slice() {
                    ["twins", ..] => {
                        decode_losslessly::<Twin>(&what, &document);
                        counts[0] += 1;
                    }
                    ["devices", "query"] if key == "RequestBody" => {
                        decode_losslessly::<QuerySpecification>(&what, &document);
                    }
                    ["devices", "query"] => {
                        let rows = document.as_array().expect("query answers an array");
                        for row in rows {
                            decode_losslessly::<Twin>(&what, row);
                            counts[0] += 1;
                        }
                    }
                    ["devices", _] => {
                        decode_losslessly::<Device>(&what, &document);
                        counts[1] += 1;
                    }
                    ["devices", _, "modules", _] => {
                        decode_losslessly::<Module>(&what, &document);
                        counts[2] += 1;
                    }
                    ["configurations", _] => {
                        decode_losslessly::<Configuration>(&what, &document);
                        counts[3] += 1;
                    }
                    _ => {}
                }
            }
        }
    }
    // Twins: 2 GETs, 2 PATCH responses, 3 PATCH requests, 1 query row. Devices: 7 PUT
    // requests, 6 of them answered 200. Modules: 1 PUT request and its answer. Configurations:
    // 2 PUT requests, 3 answers (PUT, GET, PUT).
    assert_eq!(
        counts,
        [8, 13, 2, 5],
        "twins, devices, modules, configurations"
    );
}

#[test]
fn recorded_values_arrive_with_their_json_types() {
    let lifecycle = recording("DevicesClient_TwinLifecycle.json");
    let patched = lifecycle
        .iter()
        .find(|e| e["RequestMethod"] == "PATCH")
        .expect("a PATCH");
    let twin: Twin = serde_json::from_value(body(patched, "ResponseBody").unwrap()).unwrap();
    let desired = &twin.properties.desired;
    assert_eq!(desired["username"], json!("userA"));
    assert_eq!(desired["$version"], json!(2));
    assert_eq!(twin.version, Some(3));
    assert_eq!(
        twin.last_activity_time.map(|t| t.as_datetime()),
        "0001-01-01T00:00:00Z".parse::<DateTime<Utc>>().ok(),
        "twin times are typed"
    );
    assert!(twin.etag.is_some_and(|e| e.value() == "AAAAAAAAAAI="));

    // The identity create response writes its never-set times without a zone.
    let created = body(&lifecycle[0], "ResponseBody").unwrap();
    assert_eq!(created["lastActivityTime"], json!("0001-01-01T00:00:00"));
    let key = created["authentication"]["symmetricKey"]["primaryKey"]
        .as_str()
        .expect("a recorded key")
        .to_owned();
    let device: Device = serde_json::from_value(created).unwrap();
    assert!(device.last_activity_time.is_some_and(|t| t.is_never()));
    assert!(!format!("{device:?}").contains(&key), "keys never in Debug");

    let query = recording("QueryClient_GetAllDevicesTwinsWithTag.json");
    let rows: Vec<Twin> = serde_json::from_value(body(&query[2], "ResponseBody").unwrap()).unwrap();
    let configurations = &rows[0].configurations;
    assert_eq!(configurations.len(), 3);
    assert_eq!(
        configurations["testconfigurations31074810987"]
            .status
            .as_deref(),
        Some("Applied")
    );

    let configs = recording("ConfigurationsClient_ConfigurationsLifecycle.json");
    let config: Configuration =
        serde_json::from_value(body(&configs[0], "ResponseBody").unwrap()).unwrap();
    let content = config.content.expect("content");
    assert!(
        content.device_content["properties.desired.deviceContent_key"].is_string(),
        "{content:?}"
    );
}

fn raw_client(emu: &Emulator) -> raw::iothub::Client {
    let endpoint = emu.iothub_endpoint();
    let credential = Credential::from_connection_string(&emu.iothub_connection_string()).unwrap();
    let options = ClientOptions::default();
    let pipeline = Pipeline::new(
        Service::IotHub,
        &endpoint,
        Some(&credential),
        options.clone(),
    )
    .unwrap();
    let http = raw::http_client(&options).unwrap();
    raw::iothub::Client::new_with_client(&endpoint, http, pipeline)
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// A twin update body holding only the ids, tags and desired properties.
fn twin_patch(device_id: &str, module_id: Option<&str>, tags: Value, desired: Value) -> Twin {
    let mut twin = Twin::new(device_id);
    twin.module_id = module_id.map(str::to_owned);
    twin.tags = object(tags);
    twin.properties.desired = object(desired);
    twin
}

/// A generated identity document from JSON (the generated types have no `Default`: their ids
/// are required).
fn doc<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid identity document")
}

#[tokio::test]
async fn raw_client_reads_and_writes_device_twins_against_the_emulator() {
    let emu = Emulator::builder().start().await.unwrap();
    let client = raw_client(&emu);

    let new_device: Device = doc(json!({ "deviceId": "raw-1" }));
    let created = client
        .devices_create_or_update_identity("raw-1", api(), None, &new_device)
        .await
        .expect("create decodes")
        .into_inner();
    assert_eq!(created.device_id, "raw-1");
    assert!(
        created.last_activity_time.is_some_and(|t| t.is_never()),
        "a create response carries zone-less never-set times"
    );

    let twin = client
        .devices_get_twin("raw-1", api())
        .await
        .expect("get_twin decodes")
        .into_inner();
    let properties = &twin.properties;
    assert_eq!(properties.desired["$version"], json!(1));
    assert_eq!(properties.reported["$version"], json!(1));
    assert!(properties.desired["$metadata"].is_object());
    let etag = twin.etag.clone().expect("twin etag");

    let patch = twin_patch(
        "raw-1",
        None,
        json!({ "site": "berlin", "floor": 3, "zone": { "row": "a" } }),
        json!({ "username": "userA", "enabled": true, "limits": { "max": 5.5 } }),
    );
    let if_match = etag.as_header().to_owned();
    let updated = client
        .devices_update_twin("raw-1", api(), Some(&if_match), &patch)
        .await
        .expect("update_twin decodes")
        .into_inner();
    assert_eq!(updated.tags["site"], json!("berlin"));
    assert_eq!(updated.tags["floor"], json!(3));
    assert_eq!(updated.tags["zone"], json!({ "row": "a" }));
    let desired = &updated.properties.desired;
    assert_eq!(desired["username"], json!("userA"));
    assert_eq!(desired["enabled"], json!(true));
    assert_eq!(desired["limits"]["max"], json!(5.5));
    assert_eq!(desired["$version"], json!(2));
    assert_ne!(updated.etag, Some(etag.clone()));
    assert!(updated.version > twin.version);

    // A null removes a key (merge semantics), and the generated type can send one.
    let removal = twin_patch("raw-1", None, json!({ "floor": null }), json!({}));
    let after_removal = client
        .devices_update_twin("raw-1", api(), None, &removal)
        .await
        .expect("removal decodes")
        .into_inner();
    assert!(!after_removal.tags.contains_key("floor"));
    assert_eq!(after_removal.tags["site"], json!("berlin"));

    // The old etag is stale now: a typed IoT Hub error, not a decode failure.
    let err = client
        .devices_update_twin("raw-1", api(), Some(&if_match), &patch)
        .await
        .expect_err("stale etag");
    match err {
        Error::ErrorResponse(response) => {
            assert_eq!(response.status().as_u16(), 412);
            assert!(
                response
                    .message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("ErrorCode:PreconditionFailed;"))
            );
        }
        other => panic!("expected a typed 412, got {other:?}"),
    }

    let replaced = client
        .devices_replace_twin(
            "raw-1",
            api(),
            Some("*"),
            &twin_patch(
                "raw-1",
                None,
                json!({ "site": "paris" }),
                json!({ "mode": "eco" }),
            ),
        )
        .await
        .expect("replace_twin decodes")
        .into_inner();
    assert_eq!(replaced.tags.get("site"), Some(&json!("paris")));
    assert!(
        !replaced.tags.contains_key("zone"),
        "replace drops old tags"
    );
    let desired = &replaced.properties.desired;
    assert_eq!(desired["mode"], json!("eco"));
    assert!(!desired.contains_key("username"));

    let rows = client
        .query_get_twins(
            api(),
            None,
            None,
            &QuerySpecification {
                query: Some("SELECT * FROM devices WHERE tags.site = 'paris'".into()),
            },
        )
        .await
        .expect("query decodes")
        .into_inner();
    // Query rows are any JSON (projections, aggregates); a `SELECT *` row is a twin.
    assert_eq!(rows.len(), 1);
    let row: Twin = decode_losslessly("query row", &rows[0]);
    assert_eq!(row.device_id, "raw-1");
    assert_eq!(row.tags["site"], json!("paris"));
    emu.shutdown().await;
}

#[tokio::test]
async fn raw_client_reads_and_writes_module_twins_and_configurations_against_the_emulator() {
    let emu = Emulator::builder().start().await.unwrap();
    let client = raw_client(&emu);
    let device: Device = doc(json!({ "deviceId": "raw-2" }));
    client
        .devices_create_or_update_identity("raw-2", api(), None, &device)
        .await
        .expect("create device");
    let module: Module = doc(json!({ "deviceId": "raw-2", "moduleId": "sensor" }));
    let created = client
        .modules_create_or_update_identity("raw-2", "sensor", api(), None, &module)
        .await
        .expect("create module decodes")
        .into_inner();
    assert!(
        created
            .connection_state_updated_time
            .is_some_and(|t| t.is_never())
    );

    let twin = client
        .modules_get_twin("raw-2", "sensor", api())
        .await
        .expect("module get_twin decodes")
        .into_inner();
    assert_eq!(twin.module_id.as_deref(), Some("sensor"));
    let patched = client
        .modules_update_twin(
            "raw-2",
            "sensor",
            api(),
            twin.etag.as_ref().map(|e| e.as_header()),
            &twin_patch(
                "raw-2",
                Some("sensor"),
                json!({ "role": "probe" }),
                json!({ "interval": 30 }),
            ),
        )
        .await
        .expect("module update_twin decodes")
        .into_inner();
    assert_eq!(patched.tags["role"], json!("probe"));
    assert_eq!(patched.properties.desired["interval"], json!(30));

    // A configuration whose device content is a plain string value.
    let config: Configuration = serde_json::from_value(json!({
        "id": "raw-config",
        "content": { "deviceContent": { "properties.desired.mode": "eco" } },
        "targetCondition": "*",
        "priority": 1,
        "labels": { "team": "a" }
    }))
    .unwrap();
    let stored = client
        .configuration_create_or_update("raw-config", api(), None, &config)
        .await
        .expect("configuration decodes")
        .into_inner();
    assert_eq!(
        stored.content.expect("content").device_content["properties.desired.mode"],
        json!("eco")
    );
    emu.shutdown().await;
}

/// Direct method payloads are any JSON (fixup `iothub_method_payload_any_json`): the raw client
/// sends a string payload and decodes a device's numeric and string answers, which the spec's
/// `{type: object}` payload could do neither of.
#[tokio::test]
async fn raw_client_sends_and_decodes_non_object_method_payloads() {
    use raw::iothub::types::CloudToDeviceMethod;

    let emu = Emulator::builder().start().await.unwrap();
    let client = raw_client(&emu);
    let device: Device = doc(json!({ "deviceId": "raw-methods" }));
    client
        .devices_create_or_update_identity("raw-methods", api(), None, &device)
        .await
        .unwrap();
    emu.register_method_handler("raw-methods", None, "len", |p| {
        (200, json!(p.as_str().map_or(0, str::len)))
    });
    emu.register_method_handler("raw-methods", None, "shout", |p| {
        (200, json!(p.as_str().unwrap_or_default().to_uppercase()))
    });

    let call = |name: &str| CloudToDeviceMethod {
        method_name: Some(name.into()),
        payload: Some(json!("hello")),
        response_timeout_in_seconds: Some(10),
        ..Default::default()
    };
    let len = client
        .devices_invoke_method("raw-methods", api(), &call("len"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(len.status, Some(200));
    assert_eq!(len.payload, Some(json!(5)));
    let shout = client
        .devices_invoke_method("raw-methods", api(), &call("shout"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shout.payload, Some(json!("HELLO")));
}
