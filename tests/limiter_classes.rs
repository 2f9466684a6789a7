//! Every operationId of the specs the clients were generated from is metered in its intended
//! [`OpClass`] by the client-side rate limiter.
//!
//! The expected class of each operation is an explicit table below, checked against
//! `../shared/notes/service-behaviour.md` §6.3 (IoT Hub throttles per SKU: identity registry,
//! twin reads, twin updates, queries, jobs, direct methods, configurations) and §7.8 (ADT:
//! Models API, twin reads, patches, creates/deletes of twins and relationships, queries, event
//! routes; the Jobs API has no documented rate). Operations the services do not meter by a
//! documented class are [`OpClass::Other`] (never paced). A new operation in a regenerated spec
//! fails here until it is added to the table; a table row whose operation left the spec fails
//! too.
//!
//! The spec is the one the build script generated the client from (`AZURE_TWINS_<SERVICE>_SPEC`,
//! by default the vendored `specs/iothub/2021-04-12/iothub.json` and
//! `specs/digitaltwins/2023-10-31/digitaltwins.json`); operation ids become progenitor's
//! snake_case method names as in `tests/operation_coverage.rs`.

use std::collections::BTreeMap;

use azure_twins::limiter::OpClass;
use heck::ToSnakeCase;

use OpClass::*;

/// IoT Hub (2021-04-12): generated operation id → class (§6.3).
const IOTHUB: &[(&str, OpClass)] = &[
    // Configurations: 20/min/unit on every tier (including applying content to an edge device).
    ("configuration_get", Configurations),
    ("configuration_create_or_update", Configurations),
    ("configuration_delete", Configurations),
    ("configuration_get_configurations", Configurations),
    ("configuration_test_queries", Configurations),
    ("configuration_apply_on_edge_device", Configurations),
    // Identity registry (create, retrieve, list, update, delete; bulk; registry statistics).
    ("statistics_get_device_statistics", IdentityRegistry),
    ("statistics_get_service_statistics", IdentityRegistry),
    ("devices_get_devices", IdentityRegistry),
    ("bulk_registry_update_registry", IdentityRegistry),
    ("devices_get_identity", IdentityRegistry),
    ("devices_create_or_update_identity", IdentityRegistry),
    ("devices_delete_identity", IdentityRegistry),
    ("modules_get_modules_on_device", IdentityRegistry),
    ("modules_get_identity", IdentityRegistry),
    ("modules_create_or_update_identity", IdentityRegistry),
    ("modules_delete_identity", IdentityRegistry),
    // Queries.
    ("query_get_twins", Query),
    // Jobs operations (create/update/list/delete): import/export jobs and jobs v2.
    ("jobs_create_import_export_job", Jobs),
    ("jobs_get_import_export_jobs", Jobs),
    ("jobs_get_import_export_job", Jobs),
    ("jobs_cancel_import_export_job", Jobs),
    ("jobs_get_scheduled_job", Jobs),
    ("jobs_create_scheduled_job", Jobs),
    ("jobs_cancel_scheduled_job", Jobs),
    ("jobs_query_scheduled_jobs", Jobs),
    // Twin reads and updates (device, module, and the PnP digital twin of a device).
    ("devices_get_twin", TwinRead),
    ("modules_get_twin", TwinRead),
    ("digital_twin_get_digital_twin", TwinRead),
    ("devices_replace_twin", TwinUpdate),
    ("devices_update_twin", TwinUpdate),
    ("modules_replace_twin", TwinUpdate),
    ("modules_update_twin", TwinUpdate),
    ("digital_twin_update_digital_twin", TwinUpdate),
    // Direct methods (metered by payload; PnP commands are direct methods).
    ("devices_invoke_method", DirectMethods),
    ("modules_invoke_method", DirectMethods),
    ("digital_twin_invoke_root_level_command", DirectMethods),
    ("digital_twin_invoke_component_command", DirectMethods),
    // Cloud-to-device queue purge and feedback: no documented class in §6.3.
    (
        "cloud_to_device_messages_purge_cloud_to_device_message_queue",
        Other,
    ),
    (
        "cloud_to_device_messages_receive_feedback_notification",
        Other,
    ),
    (
        "cloud_to_device_messages_complete_feedback_notification",
        Other,
    ),
    (
        "cloud_to_device_messages_abandon_feedback_notification",
        Other,
    ),
];

/// Azure Digital Twins (2023-10-31): generated operation id → class (§7.8).
const DIGITALTWINS: &[(&str, OpClass)] = &[
    // Models API: 100 requests/s.
    ("digital_twin_models_add", AdtModels),
    ("digital_twin_models_list", AdtModels),
    ("digital_twin_models_get_by_id", AdtModels),
    ("digital_twin_models_update", AdtModels),
    ("digital_twin_models_delete", AdtModels),
    // Query API: 500 requests/s.
    ("query_query_twins", AdtQuery),
    // Twin reads (twins, components, relationships): 1,000/s.
    ("digital_twins_get_by_id", AdtRead),
    ("digital_twins_get_component", AdtRead),
    ("digital_twins_get_relationship_by_id", AdtRead),
    ("digital_twins_list_relationships", AdtRead),
    ("digital_twins_list_incoming_relationships", AdtRead),
    // Patches (twins, components, relationships): 1,000/s.
    ("digital_twins_update", AdtPatch),
    ("digital_twins_update_component", AdtPatch),
    ("digital_twins_update_relationship", AdtPatch),
    // Creates and deletes of twins and relationships: 50/s.
    ("digital_twins_add", AdtCreateDelete),
    ("digital_twins_delete", AdtCreateDelete),
    ("digital_twins_add_relationship", AdtCreateDelete),
    ("digital_twins_delete_relationship", AdtCreateDelete),
    // Event routes: 100 requests/s.
    ("event_routes_list", AdtEventRoutes),
    ("event_routes_get_by_id", AdtEventRoutes),
    ("event_routes_add", AdtEventRoutes),
    ("event_routes_delete", AdtEventRoutes),
    // Telemetry and the Jobs API (import, delete): no documented request rate.
    ("digital_twins_send_telemetry", Other),
    ("digital_twins_send_component_telemetry", Other),
    ("import_jobs_list", Other),
    ("import_jobs_add", Other),
    ("import_jobs_get_by_id", Other),
    ("import_jobs_delete", Other),
    ("import_jobs_cancel", Other),
    ("delete_jobs_add", Other),
    ("delete_jobs_list", Other),
    ("delete_jobs_get_by_id", Other),
];

/// Every class (an exhaustive match: a new class fails to compile here until it is listed).
fn all_classes() -> Vec<OpClass> {
    let all = [
        IdentityRegistry,
        TwinRead,
        TwinUpdate,
        Query,
        Jobs,
        DirectMethods,
        Configurations,
        AdtRead,
        AdtPatch,
        AdtCreateDelete,
        AdtQuery,
        AdtModels,
        AdtEventRoutes,
        Other,
    ];
    for c in all {
        match c {
            IdentityRegistry | TwinRead | TwinUpdate | Query | Jobs | DirectMethods
            | Configurations | AdtRead | AdtPatch | AdtCreateDelete | AdtQuery | AdtModels
            | AdtEventRoutes | Other => {}
        }
    }
    all.to_vec()
}

/// The spec's operationIds, each with its generated (snake_case) name.
fn spec_operations(spec_path: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(spec_path)
        .unwrap_or_else(|e| panic!("spec {spec_path} readable: {e}"));
    let spec: serde_json::Value = serde_json::from_str(&text).expect("spec is JSON");
    let mut ops = Vec::new();
    for item in spec["paths"].as_object().expect("paths").values() {
        for (method, op) in item.as_object().expect("path item") {
            if method == "parameters" || method.starts_with("x-") {
                continue;
            }
            let id = op["operationId"].as_str().expect("operationId").to_string();
            let name = id
                .replace('\'', "")
                .replace(|c: char| !(c.is_alphanumeric() || c == '_'), "-")
                .to_snake_case();
            ops.push((id, name));
        }
    }
    ops
}

fn check(service: &str, spec_path: &str, table: &[(&str, OpClass)]) {
    let expected: BTreeMap<&str, OpClass> = table.iter().copied().collect();
    assert_eq!(
        expected.len(),
        table.len(),
        "{service}: an operation is listed twice in the table"
    );
    let ops = spec_operations(spec_path);
    assert!(!ops.is_empty(), "{service}: no operationIds in {spec_path}");
    let classes = format!("{:?}", all_classes());
    let mut problems = Vec::new();
    for (id, name) in &ops {
        let got = OpClass::of_operation(name);
        match expected.get(name.as_str()) {
            None => problems.push(format!(
                "{id} (`{name}`) is not classified: add it to the {service} table of \
                 tests/limiter_classes.rs with one of {classes} (OpClass::of_operation gives \
                 {got:?} today)"
            )),
            Some(want) if *want != got => problems.push(format!(
                "{id} (`{name}`): OpClass::of_operation gives {got:?}, the table says {want:?}"
            )),
            Some(_) => {}
        }
    }
    for name in expected.keys() {
        if !ops.iter().any(|(_, n)| n == name) {
            problems.push(format!(
                "`{name}` is in the {service} table but not in {spec_path}: remove its row"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{service} ({spec_path}):\n  {}",
        problems.join("\n  ")
    );
}

#[cfg(feature = "iothub")]
#[test]
fn every_iothub_operation_has_its_intended_class() {
    check("iothub", env!("AZURE_TWINS_IOTHUB_SPEC"), IOTHUB);
}

#[cfg(feature = "digitaltwins")]
#[test]
fn every_digitaltwins_operation_has_its_intended_class() {
    check(
        "digitaltwins",
        env!("AZURE_TWINS_DIGITALTWINS_SPEC"),
        DIGITALTWINS,
    );
}

/// Each service's classes are its own: no IoT Hub operation is metered as an ADT class and
/// the other way round (a shared prefix such as `digital_twin_` / `digital_twins_` or
/// `jobs_` / `import_jobs_` must not leak).
#[test]
fn classes_do_not_cross_services() {
    let adt = [
        AdtRead,
        AdtPatch,
        AdtCreateDelete,
        AdtQuery,
        AdtModels,
        AdtEventRoutes,
    ];
    for (name, class) in IOTHUB {
        assert!(!adt.contains(class), "{name}");
        assert!(!adt.contains(&OpClass::of_operation(name)), "{name}");
    }
    for (name, class) in DIGITALTWINS {
        assert!(*class == Other || adt.contains(class), "{name}");
        let got = OpClass::of_operation(name);
        assert!(got == Other || adt.contains(&got), "{name}: {got:?}");
    }
}
