//! Every operationId of each upstream spec has a generated method on the raw `Client`.
//!
//! The generated source compiled into `azure_twins::raw` is read from `OUT_DIR` (the exact file
//! `include!`d by `src/raw.rs`) and searched for each operation's method and its `OperationInfo`,
//! using progenitor's snake_case rule (heck's `to_snake_case` after progenitor's sanitizing). A
//! dropped or renamed operation fails here; the method count must also match exactly.

use heck::ToSnakeCase;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn operation_ids(spec_path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{ROOT}/{spec_path}")).expect("spec readable");
    let spec: serde_json::Value = serde_json::from_str(&text).expect("spec is JSON");
    let mut ids = Vec::new();
    for item in spec["paths"].as_object().expect("paths").values() {
        for (method, op) in item.as_object().expect("path item") {
            if method == "parameters" {
                continue;
            }
            ids.push(op["operationId"].as_str().expect("operationId").to_string());
        }
    }
    ids
}

/// progenitor-impl 0.15.1 `util::sanitize(_, Case::Snake)` for identifiers like ours.
fn progenitor_snake_case(operation_id: &str) -> String {
    operation_id
        .replace('\'', "")
        .replace(|c: char| !(c.is_alphanumeric() || c == '_'), "-")
        .to_snake_case()
}

fn check(service: &str, spec_path: &str, generated: &str, expected_count: usize) {
    let ids = operation_ids(spec_path);
    assert_eq!(
        ids.len(),
        expected_count,
        "{service}: operationIds in {spec_path}"
    );
    let mut missing = Vec::new();
    for id in &ids {
        let name = progenitor_snake_case(id);
        let method = format!("pub async fn {name}<'a>(");
        let info = format!("operation_id: \"{name}\",");
        if !generated.contains(&method) || !generated.contains(&info) {
            missing.push(format!("{id} (expected `{name}`)"));
        }
    }
    assert!(
        missing.is_empty(),
        "{service}: no generated method for {missing:?}"
    );
    let methods = generated.matches("pub async fn ").count();
    assert_eq!(methods, expected_count, "{service}: generated method count");
}

#[test]
fn snake_case_rule_matches_progenitor_examples() {
    assert_eq!(
        progenitor_snake_case("DigitalTwins_Update"),
        "digital_twins_update"
    );
    assert_eq!(
        progenitor_snake_case("DigitalTwinModels_Update"),
        "digital_twin_models_update"
    );
    assert_eq!(
        progenitor_snake_case("CloudToDeviceMessages_PurgeCloudToDeviceMessageQueue"),
        "cloud_to_device_messages_purge_cloud_to_device_message_queue"
    );
}

#[cfg(feature = "iothub")]
#[test]
fn every_iothub_operation_is_generated() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/iothub.rs"));
    check(
        "iothub",
        "specs/iothub/2021-04-12/iothub.json",
        generated,
        42,
    );
}

#[cfg(feature = "digitaltwins")]
#[test]
fn every_digitaltwins_operation_is_generated() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/digitaltwins.rs"));
    check(
        "digitaltwins",
        "specs/digitaltwins/2023-10-31/digitaltwins.json",
        generated,
        32,
    );
}
