//! Identities, configurations, statistics and bulk registry operations against the emulator.

mod iothub_support;

use azure_twins::iothub::{Authentication, BulkOperation, Configuration, Device, Module};
use azure_twins::{Condition, ETag, ErrorKind};
use iothub_support::{CaptureServer, invalid_field, start};
use serde_json::json;

#[tokio::test]
async fn device_lifecycle_with_conditions() {
    let (_emu, hub) = start().await;
    let d = hub.create_device("dev-1").send().await.unwrap();
    assert_eq!(d.device_id, "dev-1");
    assert_eq!(d.status.as_deref(), Some("enabled"));
    let key = d.primary_key().expect("service generated SAS keys");
    assert!(!key.expose_secret().is_empty());
    assert!(
        !format!("{d:?}").contains(key.expose_secret()),
        "keys hidden in Debug"
    );
    let etag = d.etag.clone().unwrap();

    let err = hub.create_device("dev-1").send().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409), "{err:?}");
    assert_eq!(err.error_code(), Some("DeviceAlreadyExists"));

    let got = hub.get_device("dev-1").send().await.unwrap();
    assert_eq!(got.etag.as_ref(), Some(&etag));

    let disabled = hub
        .replace_device(got.clone().with_status(false))
        .if_unchanged()
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status.as_deref(), Some("disabled"));
    assert_ne!(disabled.etag.as_ref(), Some(&etag));

    // The stale document fails with 412, as in the recorded session.
    let err = hub
        .replace_device(got.clone())
        .if_unchanged()
        .send()
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    // Unconditional update succeeds.
    let enabled = hub
        .replace_device(got.with_status(true))
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status.as_deref(), Some("enabled"));

    let err = hub
        .delete_device("dev-1")
        .if_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    hub.delete_device("dev-1")
        .if_match(enabled.etag.clone().unwrap())
        .send()
        .await
        .unwrap();
    let err = hub.get_device("dev-1").send().await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.error_code(), Some("DeviceNotFound"));
    let err = hub.delete_device("dev-1").send().await.unwrap_err();
    assert!(err.is_not_found());
}

#[tokio::test]
async fn authentication_kinds_and_listing() {
    let (_emu, hub) = start().await;
    let keys = hub
        .create_device("given-keys")
        .authentication(Authentication::sas_keys(
            "cHJpbWFyeWtleXByaW1hcnlrZXk=",
            "c2Vjb25kYXJ5a2V5c2Vjb25kYXI=",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys.primary_key().unwrap().expose_secret(),
        "cHJpbWFyeWtleXByaW1hcnlrZXk="
    );
    let x509 = hub
        .create_device("x509")
        .authentication(Authentication::x509_thumbprints(
            "A1B2C3D4E5F60718293A4B5C6D7E8F9001122334",
            "B1B2C3D4E5F60718293A4B5C6D7E8F9001122334",
        ))
        .send()
        .await
        .unwrap();
    let auth = x509.authentication.unwrap();
    assert_eq!(auth.type_.as_deref(), Some("selfSigned"));
    assert_eq!(
        auth.x509_thumbprint.unwrap().primary_thumbprint.as_deref(),
        Some("A1B2C3D4E5F60718293A4B5C6D7E8F9001122334")
    );
    let ca = hub
        .create_device("ca")
        .authentication(Authentication::certificate_authority())
        .iot_edge(true)
        .enabled(false)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ca.authentication.as_ref().unwrap().type_.as_deref(),
        Some("certificateAuthority")
    );
    assert!(ca.is_iot_edge());
    assert_eq!(ca.capabilities.and_then(|c| c.iot_edge), Some(true));
    assert_eq!(ca.status.as_deref(), Some("disabled"));

    let all = hub.list_devices().send().await.unwrap();
    assert_eq!(all.len(), 3);
    let two = hub.list_devices().top(2).send().await.unwrap();
    assert_eq!(two.len(), 2);

    let stats = hub.get_device_statistics().send().await.unwrap();
    assert_eq!(
        (
            stats.total_device_count,
            stats.enabled_device_count,
            stats.disabled_device_count
        ),
        (Some(3), Some(2), Some(1))
    );
    let svc = hub.get_service_statistics().send().await.unwrap();
    assert_eq!(svc.connected_device_count, Some(0));
}

#[tokio::test]
async fn module_lifecycle() {
    let (_emu, hub) = start().await;
    hub.create_device("edge").send().await.unwrap();
    let m = hub
        .create_module("edge", "m1")
        .managed_by("me")
        .send()
        .await
        .unwrap();
    assert_eq!((m.device_id.as_str(), m.module_id.as_str()), ("edge", "m1"));
    assert_eq!(m.managed_by.as_deref(), Some("me"));
    assert!(m.etag.is_some());
    let err = hub.create_module("edge", "m1").send().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409), "{err:?}");
    hub.create_module("edge", "m2")
        .authentication(Authentication::x509_thumbprints("AA", "BB"))
        .send()
        .await
        .unwrap();
    let list = hub.list_modules("edge").send().await.unwrap();
    assert_eq!(list.len(), 2);

    let got = hub.get_module("edge", "m1").send().await.unwrap();
    let updated = hub
        .replace_module(got.clone().with_managed_by("other"))
        .if_unchanged()
        .send()
        .await
        .unwrap();
    assert_eq!(updated.managed_by.as_deref(), Some("other"));
    let err = hub
        .replace_module(got)
        .if_unchanged()
        .send()
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    hub.delete_module("edge", "m1").send().await.unwrap();
    let err = hub.get_module("edge", "m1").send().await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.error_code(), Some("ModuleNotFound"));
    let err = hub.list_modules("ghost").send().await.unwrap_err();
    assert!(err.is_not_found());
}

#[tokio::test]
async fn configurations_crud_queries_and_edge() {
    let (_emu, hub) = start().await;
    hub.create_device("d1").send().await.unwrap();
    hub.update_twin("d1")
        .tags(json!({ "site": "berlin" }))
        .send()
        .await
        .unwrap();
    let mut cfg = Configuration::new(
        "fw-21",
        "tags.site = 'berlin'",
        10,
        json!({ "deviceContent": { "properties.desired.fw": "2.1" } }),
    );
    cfg.labels.insert("team".into(), "ops".into());
    let created = hub.create_configuration(cfg.clone()).send().await.unwrap();
    let etag1 = created.etag.clone().unwrap();
    assert_eq!(created.priority, Some(10));
    let err = hub.create_configuration(cfg).send().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409), "{err:?}");

    let mut got = hub.get_configuration("fw-21").send().await.unwrap();
    assert_eq!(got.etag.as_ref(), Some(&etag1));
    got.priority = Some(20);
    let updated = hub
        .replace_configuration(got.clone())
        .if_unchanged()
        .send()
        .await
        .unwrap();
    assert_eq!(updated.priority, Some(20));
    assert_ne!(updated.etag.as_ref(), Some(&etag1));
    let err = hub
        .replace_configuration(got)
        .if_unchanged()
        .send()
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");

    let all = hub.list_configurations().send().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        hub.list_configurations().top(5).send().await.unwrap().len(),
        1
    );

    let ok = hub
        .test_configuration_queries("tags.site = 'berlin'")
        .custom_metric("ok", "SELECT deviceId FROM devices")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.target_condition_error, None);
    assert!(ok.custom_metric_query_errors.is_empty());
    let bad = hub
        .test_configuration_queries("tags.site = ")
        .custom_metric("broken", "SELEC x")
        .send()
        .await
        .unwrap();
    assert!(bad.target_condition_error.is_some());
    assert!(bad.custom_metric_query_errors.contains_key("broken"));

    let err = hub
        .delete_configuration("fw-21")
        .if_match(&etag1)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    hub.delete_configuration("fw-21")
        .condition(Condition::IfMatchAny)
        .send()
        .await
        .unwrap();
    assert!(
        hub.get_configuration("fw-21")
            .send()
            .await
            .unwrap_err()
            .is_not_found()
    );

    // Apply on edge: module twins get the content.
    hub.create_device("edge")
        .iot_edge(true)
        .send()
        .await
        .unwrap();
    hub.apply_configuration_on_edge(
        "edge",
        json!({ "modulesContent": { "$edgeAgent": { "properties.desired": { "schemaVersion": "1.1" } } } }),
    )
    .send()
    .await
    .unwrap();
    let agent = hub
        .get_module_twin("edge", "$edgeAgent")
        .send()
        .await
        .unwrap();
    assert_eq!(agent.value.properties.desired["schemaVersion"], "1.1");
    let err = hub
        .apply_configuration_on_edge("ghost", json!({ "modulesContent": {} }))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_not_found());
}

#[tokio::test]
async fn bulk_registry_operations() {
    let (_emu, hub) = start().await;
    let ops: Vec<_> = (0..10)
        .map(|i| BulkOperation::create(Device::new(format!("b{i}"))))
        .collect();
    let r = hub.bulk_registry(ops).send().await.unwrap();
    assert!(r.succeeded());
    assert_eq!(r.is_successful, Some(true));
    assert_eq!(hub.list_devices().send().await.unwrap().len(), 10);

    let b0 = hub.get_device("b0").send().await.unwrap();
    let r = hub
        .bulk_registry(vec![
            BulkOperation::replace_if_match(b0.clone().with_status(false)),
            BulkOperation::delete("b1"),
            BulkOperation::delete_if_match("b2", ETag::new("bm90LXRoZS1ldGFn")),
            BulkOperation::create(Device::new("b3")),
        ])
        .send()
        .await
        .unwrap();
    assert!(!r.succeeded());
    assert_eq!(r.is_successful, Some(false));
    let failed: Vec<_> = r
        .errors
        .iter()
        .filter_map(|e| e.device_id.as_deref())
        .collect();
    assert_eq!(failed, vec!["b2", "b3"], "{r:?}");
    assert_eq!(
        hub.get_device("b0").send().await.unwrap().status.as_deref(),
        Some("disabled")
    );
    assert!(
        hub.get_device("b1")
            .send()
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(hub.get_device("b2").send().await.is_ok());
}

#[tokio::test]
async fn registry_inputs_are_checked_locally() {
    let server = CaptureServer::start().await;
    let hub = server.client();
    let too_many: Vec<_> = (0..101)
        .map(|i| BulkOperation::delete(format!("d{i}")))
        .collect();
    let cases = vec![
        (
            hub.create_device("a b").send().await.unwrap_err(),
            "device_id",
        ),
        (
            hub.create_module("d", "").send().await.unwrap_err(),
            "module_id",
        ),
        (
            hub.get_device("x".repeat(129)).send().await.unwrap_err(),
            "device_id",
        ),
        (
            hub.replace_device(Device::new("d"))
                .if_unchanged()
                .send()
                .await
                .unwrap_err(),
            "etag",
        ),
        (
            hub.replace_module(Module::new("d", "m"))
                .condition(Condition::IfNoneMatchAny)
                .send()
                .await
                .unwrap_err(),
            "condition",
        ),
        (hub.list_devices().top(0).send().await.unwrap_err(), "top"),
        (
            hub.bulk_registry(vec![]).send().await.unwrap_err(),
            "operations",
        ),
        (
            hub.bulk_registry(too_many).send().await.unwrap_err(),
            "operations",
        ),
        (
            hub.bulk_registry(vec![BulkOperation::delete("x"), BulkOperation::delete("x")])
                .send()
                .await
                .unwrap_err(),
            "operations",
        ),
        (
            hub.bulk_registry(vec![
                BulkOperation::delete("ok"),
                BulkOperation::delete("not ok"),
            ])
            .send()
            .await
            .unwrap_err(),
            "device_id",
        ),
        (
            hub.create_configuration(Configuration::new("c", "", 1, json!({})))
                .send()
                .await
                .unwrap_err(),
            "target_condition",
        ),
        (
            hub.get_configuration("").send().await.unwrap_err(),
            "configuration_id",
        ),
        (
            hub.apply_configuration_on_edge("d", json!([1]))
                .send()
                .await
                .unwrap_err(),
            "content",
        ),
        (
            hub.test_configuration_queries("").send().await.unwrap_err(),
            "target_condition",
        ),
    ];
    for (err, field) in cases {
        assert!(matches!(err.kind(), ErrorKind::InvalidInput { .. }));
        assert_eq!(invalid_field(&err), field, "{err}");
    }
    assert_eq!(server.count(), 0, "nothing was sent");
}

#[tokio::test]
async fn registry_wire_forms() {
    use iothub_support::Scripted;
    let server = CaptureServer::start().await;
    let hub = server.client();
    let ok = |body: serde_json::Value| Scripted {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(&body).unwrap(),
    };
    let no_content = || Scripted {
        status: 204,
        headers: vec![],
        body: vec![],
    };

    // Bulk: the entries as sent; a 400 with per-entry errors is the call's answer.
    server.push(Scripted {
        status: 400,
        ..ok(json!({"isSuccessful": false, "warnings": [],
            "errors": [{"deviceId": "b2", "errorCode": "PreconditionFailed",
                "errorStatus": "etag mismatch", "operation": "deleteIfMatchETag", "new": 1}]}))
    });
    let r = hub
        .bulk_registry(vec![
            BulkOperation::create(Device::new("b1").with_iot_edge(true)),
            BulkOperation::delete_if_match("b2", ETag::new("MQ==")),
        ])
        .send()
        .await
        .unwrap();
    assert!(!r.succeeded());
    assert_eq!(r.errors[0].device_id.as_deref(), Some("b2"));
    assert_eq!(
        r.errors[0].error_code.as_deref(),
        Some("PreconditionFailed")
    );
    assert_eq!(r.errors[0].extra["new"], 1);
    // A 400 without entry errors: the request as a whole was rejected.
    server.push(Scripted {
        status: 400,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("iothub-errorcode".into(), "ArgumentInvalid".into()),
        ],
        body: br#"{"Message":"ErrorCode:ArgumentInvalid;bad","ExceptionMessage":"Tracking ID:t1"}"#
            .to_vec(),
    });
    let err = hub
        .bulk_registry(vec![BulkOperation::delete("b3")])
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400), "{err:?}");
    assert_eq!(err.error_code(), Some("ArgumentInvalid"), "{err:?}");

    // Configurations: a create sends no etag; an update sends it and If-Match.
    let mut cfg = Configuration::new(
        "c1",
        "*",
        3,
        json!({ "moduleContent": { "properties.desired.x": 1 } }),
    )
    .with_label("a", "b");
    cfg.etag = Some(ETag::new("Mg=="));
    server.push(ok(json!({"id": "c1", "etag": "MQ=="})));
    let created = hub.create_configuration(cfg.clone()).send().await.unwrap();
    assert_eq!(created.etag, Some(ETag::new("MQ==")));
    server.push(ok(json!({"id": "c1", "etag": "Mw=="})));
    hub.replace_configuration(cfg)
        .if_unchanged()
        .send()
        .await
        .unwrap();
    server.push(ok(
        json!({"targetConditionError": "", "customMetricQueryErrors": {}}),
    ));
    let tested = hub
        .test_configuration_queries("tags.a = 'b'")
        .custom_metric("m", "SELECT deviceId FROM devices")
        .send()
        .await
        .unwrap();
    assert_eq!(tested.target_condition_error, None);
    server.push(no_content());
    hub.apply_configuration_on_edge(
        "edge",
        json!({ "modulesContent": { "$edgeAgent": { "properties.desired": {} } } }),
    )
    .send()
    .await
    .unwrap();
    server.push(no_content());
    hub.delete_configuration("c1")
        .if_match(ETag::new("Mw=="))
        .send()
        .await
        .unwrap();

    // Devices and modules: paths are escaped, If-Match is the quoted etag (`*` by default).
    server.push(ok(json!({"deviceId": "d#1", "etag": "AAA="})));
    let d = hub.get_device("d#1").send().await.unwrap();
    server.push(ok(json!({"deviceId": "d#1", "etag": "AAB="})));
    hub.replace_device(d.with_status(false))
        .if_unchanged()
        .send()
        .await
        .unwrap();
    server.push(no_content());
    hub.delete_module("d#1", "m#1").send().await.unwrap();
    server.push(ok(json!([{"deviceId": "d#1", "moduleId": "m#1"}])));
    let mods = hub.list_modules("d#1").send().await.unwrap();
    assert_eq!(mods[0].module_id, "m#1");
    server.push(ok(json!([])));
    hub.list_devices().top(5).send().await.unwrap();

    let c = server.captured();
    let summary: Vec<_> = c
        .iter()
        .map(|c| (c.method.as_str(), c.path.as_str(), c.header("if-match")))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("POST", "/devices", None),
            ("POST", "/devices", None),
            ("PUT", "/configurations/c1", None),
            ("PUT", "/configurations/c1", Some("\"Mg==\"".to_owned())),
            ("POST", "/configurations/testQueries", None),
            ("POST", "/devices/edge/applyConfigurationContent", None),
            ("DELETE", "/configurations/c1", Some("\"Mw==\"".to_owned())),
            ("GET", "/devices/d%231", None),
            ("PUT", "/devices/d%231", Some("\"AAA=\"".to_owned())),
            (
                "DELETE",
                "/devices/d%231/modules/m%231",
                Some("*".to_owned())
            ),
            ("GET", "/devices/d%231/modules", None),
            ("GET", "/devices", None),
        ]
    );
    assert_eq!(
        c[0].json(),
        json!([
            {"id": "b1", "importMode": "create", "authentication": {"type": "sas"},
                "capabilities": {"iotEdge": true}},
            {"id": "b2", "importMode": "deleteIfMatchETag", "eTag": "MQ=="},
        ])
    );
    let content = json!({ "moduleContent": { "properties.desired.x": 1 } });
    assert_eq!(
        c[2].json(),
        json!({"id": "c1", "targetCondition": "*", "priority": 3, "labels": {"a": "b"},
            "content": content})
    );
    assert_eq!(c[3].json()["etag"], "Mg==");
    assert_eq!(
        c[4].json(),
        json!({"targetCondition": "tags.a = 'b'",
            "customMetricQueries": {"m": "SELECT deviceId FROM devices"}})
    );
    assert_eq!(
        c[5].json(),
        json!({ "modulesContent": { "$edgeAgent": { "properties.desired": {} } } })
    );
    assert_eq!(
        c[8].json(),
        json!({"deviceId": "d#1", "etag": "AAA=", "status": "disabled"})
    );
    assert_eq!(c[11].query_param("top").as_deref(), Some("5"));
}
