//! Bulk registry against the emulator: devices and modules, create / update / delete with and
//! without ETag, twin modes and create-with-twin, any number of entries chunked into calls of
//! 100 with one result per entry.

mod iothub_support;

use azure_twins::ETag;
use azure_twins::iothub::{
    BulkEntryOutcome, BulkOperation, BulkOperationMode, Device, MAX_BULK_OPERATIONS, Module,
    TwinPatch,
};
use iothub_support::{CaptureServer, Scripted, invalid_field, start};
use serde_json::json;

#[tokio::test]
async fn any_number_of_entries_is_chunked_into_calls_of_100() {
    let (_emu, hub) = start().await;
    let ops: Vec<_> = (0..250)
        .map(|i| BulkOperation::create(Device::new(format!("many-{i:03}"))))
        .collect();
    let report = hub.bulk_registry(ops).send_all().await.unwrap();
    assert_eq!(report.calls, 3);
    assert_eq!(report.entries.len(), 250);
    assert!(report.succeeded(), "{:?}", report.failures().next());
    assert_eq!(report.entries[249].device_id, "many-249");
    assert_eq!(hub.list_devices().send().await.unwrap().len(), 250);
}

#[tokio::test]
async fn per_entry_failures_are_reported_in_order_across_calls() {
    let (_emu, hub) = start().await;
    hub.create_device("exists-a").send().await.unwrap();
    hub.create_device("exists-b").send().await.unwrap();
    let mut ops: Vec<_> = (0..150)
        .map(|i| BulkOperation::create(Device::new(format!("mix-{i:03}"))))
        .collect();
    ops[10] = BulkOperation::create(Device::new("exists-a"));
    ops[120] = BulkOperation::create(Device::new("exists-b"));
    ops[149] = BulkOperation::delete("never-existed");
    let report = hub.bulk_registry(ops).send_all().await.unwrap();
    assert_eq!(report.calls, 2);
    assert!(!report.succeeded());
    let failed: Vec<_> = report
        .failures()
        .map(|e| (e.device_id.as_str(), e.error_code()))
        .collect();
    assert_eq!(
        failed,
        vec![
            ("exists-a", Some("DeviceAlreadyExists")),
            ("exists-b", Some("DeviceAlreadyExists")),
            ("never-existed", Some("DeviceNotFound")),
        ]
    );
    assert_eq!(report.entries.len(), 150);
    assert_eq!(report.entries[10].mode, BulkOperationMode::Create);
    assert!(report.entries[11].succeeded());
    assert!(report.unmatched_errors.is_empty());
    // Every other entry took effect.
    assert_eq!(hub.list_devices().send().await.unwrap().len(), 2 + 147);
}

#[tokio::test]
async fn modules_create_update_and_delete_with_and_without_etag() {
    let (_emu, hub) = start().await;
    hub.create_device("host").send().await.unwrap();
    let report = hub
        .bulk_registry(vec![
            BulkOperation::create_module(Module::new("host", "m1")),
            BulkOperation::create_module(Module::new("host", "m2").with_managed_by("IotEdge")),
            BulkOperation::create_module(Module::new("host", "m3")),
            BulkOperation::create_module(Module::new("no-such-device", "m1")),
        ])
        .send_all()
        .await
        .unwrap();
    let codes: Vec<_> = report
        .entries
        .iter()
        .map(|e| (e.module_id.as_deref(), e.error_code()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (Some("m1"), None),
            (Some("m2"), None),
            (Some("m3"), None),
            (Some("m1"), Some("DeviceNotFound")),
        ]
    );
    assert_eq!(report.entries[3].device_id, "no-such-device");
    assert_eq!(hub.list_modules("host").send().await.unwrap().len(), 3);

    let m1 = hub.get_module("host", "m1").send().await.unwrap();
    let report = hub
        .bulk_registry(vec![
            BulkOperation::replace_module_if_match(m1.clone()),
            BulkOperation::replace_module(Module::new("host", "m2")),
            BulkOperation::delete_module_if_match("host", "m3", ETag::new("bm90LXRoZS1ldGFn")),
        ])
        .send_all()
        .await
        .unwrap();
    assert!(report.entries[0].succeeded(), "{:?}", report.entries[0]);
    assert!(report.entries[1].succeeded(), "{:?}", report.entries[1]);
    assert_eq!(report.entries[2].error_code(), Some("PreconditionFailed"));
    let m1_after = hub.get_module("host", "m1").send().await.unwrap();
    assert_ne!(m1_after.etag, m1.etag, "the update wrote the module");

    // The old ETag no longer matches; the current one does.
    let m3 = hub.get_module("host", "m3").send().await.unwrap();
    let report = hub
        .bulk_registry(vec![
            BulkOperation::replace_module_if_match(m1),
            BulkOperation::delete_module_if_match("host", "m3", m3.etag.unwrap()),
            BulkOperation::delete_module("host", "m2"),
        ])
        .send_all()
        .await
        .unwrap();
    assert_eq!(report.entries[0].error_code(), Some("PreconditionFailed"));
    assert!(report.entries[1].succeeded() && report.entries[2].succeeded());
    let left: Vec<_> = hub
        .list_modules("host")
        .send()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.module_id)
        .collect();
    assert_eq!(left, vec!["m1"]);
}

#[tokio::test]
async fn twin_modes_and_create_with_twin() {
    let (_emu, hub) = start().await;
    hub.create_device("host").send().await.unwrap();
    hub.create_module("host", "mod").send().await.unwrap();
    let report = hub
        .bulk_registry(vec![
            BulkOperation::create(Device::new("with-twin")).with_twin(
                TwinPatch::new()
                    .tags(json!({"site": "berlin"}))
                    .set_desired("interval", 30),
            ),
            BulkOperation::update_twin("host", TwinPatch::new().set_tag("floor", 3)),
            BulkOperation::update_module_twin("host", "mod", TwinPatch::new().set_desired("x", 1)),
        ])
        .send()
        .await
        .unwrap();
    assert!(report.succeeded(), "{report:?}");
    let t = hub.get_twin("with-twin").send().await.unwrap();
    assert_eq!(t.value.tags["site"], "berlin");
    assert_eq!(t.value.properties.desired["interval"], 30);
    let host = hub.get_twin("host").send().await.unwrap();
    assert_eq!(host.value.tags["floor"], 3);
    let m = hub.get_module_twin("host", "mod").send().await.unwrap();
    assert_eq!(m.value.properties.desired["x"], 1);

    // updateTwinIfMatchETag: the current twin ETag applies, a stale one fails.
    let stale = ETag::new("AAAAAAAAAAE=");
    let report = hub
        .bulk_registry(vec![
            BulkOperation::update_twin_if_match(
                "host",
                TwinPatch::new().set_tag("floor", 4),
                host.etag.clone(),
            ),
            BulkOperation::update_module_twin_if_match(
                "host",
                "mod",
                TwinPatch::new().set_desired("x", 2),
                stale,
            ),
        ])
        .send_all()
        .await
        .unwrap();
    assert!(report.entries[0].succeeded(), "{:?}", report.entries[0]);
    assert_eq!(report.entries[1].error_code(), Some("PreconditionFailed"));
    assert!(matches!(
        report.entries[1].outcome,
        BulkEntryOutcome::Failed(_)
    ));
    assert_eq!(
        hub.get_twin("host").send().await.unwrap().value.tags["floor"],
        4
    );
    assert_eq!(
        hub.get_module_twin("host", "mod")
            .send()
            .await
            .unwrap()
            .value
            .properties
            .desired["x"],
        1
    );

    // A twin update of a missing device fails for that entry only.
    let report = hub
        .bulk_registry(vec![BulkOperation::update_twin(
            "ghost",
            TwinPatch::new().set_tag("a", 1),
        )])
        .send_all()
        .await
        .unwrap();
    assert_eq!(report.entries[0].error_code(), Some("DeviceNotFound"));
}

#[tokio::test]
async fn a_failed_call_stops_and_every_entry_is_accounted_for() {
    let server = CaptureServer::start().await;
    server.push(Scripted {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"isSuccessful":true,"errors":[],"warnings":[]}"#.to_vec(),
    });
    server.push(Scripted {
        status: 400,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("iothub-errorcode".into(), "ArgumentInvalid".into()),
        ],
        body: br#"{"Message":"ErrorCode:ArgumentInvalid;rejected","ExceptionMessage":""}"#.to_vec(),
    });
    let ops: Vec<_> = (0..250)
        .map(|i| BulkOperation::delete(format!("d{i}")))
        .collect();
    let report = server.client().bulk_registry(ops).send_all().await.unwrap();
    assert_eq!(report.calls, 2);
    assert_eq!(server.count(), 2, "no call after the failed one");
    let captured = server.captured();
    assert_eq!(
        captured[0].json().as_array().unwrap().len(),
        MAX_BULK_OPERATIONS
    );
    assert_eq!(captured[1].json()[0]["id"], "d100");
    assert!(report.entries[..100].iter().all(|e| e.succeeded()));
    assert!(report.entries[100..200].iter().all(|e| matches!(
        &e.outcome,
        BulkEntryOutcome::CallFailed(err) if err.error_code() == Some("ArgumentInvalid")
    )));
    assert!(
        report.entries[200..]
            .iter()
            .all(|e| matches!(e.outcome, BulkEntryOutcome::NotSent))
    );
    assert_eq!(report.entries.len(), 250);
}

#[tokio::test]
async fn service_errors_naming_no_entry_are_kept() {
    let server = CaptureServer::start().await;
    server.push(Scripted {
        status: 400,
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"isSuccessful":false,"errors":[{"deviceId":"a","errorCode":"DeviceNotFound","errorStatus":"x"},{"deviceId":"zzz","errorCode":"GenericBadRequest","errorStatus":"y"}],"warnings":[{"deviceId":"a","warningCode":"DeviceRegisteredWithoutTwin"}]}"#.to_vec(),
    });
    let report = server
        .client()
        .bulk_registry(vec![BulkOperation::delete("a"), BulkOperation::delete("b")])
        .send_all()
        .await
        .unwrap();
    assert_eq!(report.entries[0].error_code(), Some("DeviceNotFound"));
    assert!(report.entries[1].succeeded());
    assert_eq!(report.unmatched_errors.len(), 1);
    assert_eq!(report.warnings.len(), 1);
    assert!(!report.succeeded());
}

#[tokio::test]
async fn bad_entries_are_rejected_locally() {
    let server = CaptureServer::start().await;
    let hub = server.client();
    let mut dup: Vec<_> = (0..150)
        .map(|i| BulkOperation::delete(format!("d{i}")))
        .collect();
    dup.push(BulkOperation::delete("d3"));
    let too_many: Vec<_> = (0..101)
        .map(|i| BulkOperation::delete(format!("d{i}")))
        .collect();
    let cases = vec![
        (
            hub.bulk_registry(dup).send_all().await.unwrap_err(),
            "operations",
        ),
        (
            hub.bulk_registry(vec![]).send_all().await.unwrap_err(),
            "operations",
        ),
        (
            hub.bulk_registry(too_many).send().await.unwrap_err(),
            "operations",
        ),
        (
            hub.bulk_registry(vec![BulkOperation::delete_module("d", "bad id")])
                .send_all()
                .await
                .unwrap_err(),
            "module_id",
        ),
        (
            hub.bulk_registry(vec![BulkOperation::update_twin("d", TwinPatch::new())])
                .send_all()
                .await
                .unwrap_err(),
            "twin",
        ),
        (
            hub.bulk_registry(vec![
                BulkOperation::delete("d").with_twin(TwinPatch::new().set_tag("a", 1)),
            ])
            .send_all()
            .await
            .unwrap_err(),
            "twin",
        ),
        (
            hub.bulk_registry(vec![BulkOperation::update_twin_if_match(
                "d",
                TwinPatch::new().set_tag("a", 1),
                ETag::new(""),
            )])
            .send_all()
            .await
            .unwrap_err(),
            "twin_etag",
        ),
        (
            hub.bulk_registry(vec![BulkOperation::replace_module_if_match(Module::new(
                "d", "m",
            ))])
            .send_all()
            .await
            .unwrap_err(),
            "etag",
        ),
        (
            hub.bulk_registry(vec![BulkOperation::update_twin(
                "d",
                TwinPatch::new().desired(json!({"bad key": 1})),
            )])
            .send_all()
            .await
            .unwrap_err(),
            "desired.bad key",
        ),
    ];
    for (e, field) in cases {
        assert_eq!(invalid_field(&e), field, "{e}");
    }
    // Module entries may share a device; the same module twice is a duplicate.
    let e = hub
        .bulk_registry(vec![
            BulkOperation::delete_module("d", "m"),
            BulkOperation::delete_module("d", "m"),
        ])
        .send()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("module 'm' of device 'd'"), "{e}");
    assert_eq!(server.count(), 0, "nothing is sent");
}
