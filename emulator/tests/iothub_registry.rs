//! Device and module identities, statistics and bulk registry operations over real sockets.

mod iothub_support;

use base64::Engine as _;
use iothub_support::{Hub, expect_error};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn device_lifecycle_with_etags() {
    let hub = Hub::start().await;
    let r = hub
        .send_json(Method::PUT, "/devices/dev-1", &json!({"deviceId": "dev-1"}))
        .await;
    assert_eq!(r.status(), 200);
    let etag_header = r.headers()["etag"].to_str().unwrap().to_string();
    let d: serde_json::Value = r.json().await.unwrap();
    assert_eq!(etag_header, format!("\"{}\"", d["etag"].as_str().unwrap()));
    // identity etag = base64 of an ASCII decimal number
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(d["etag"].as_str().unwrap())
        .unwrap();
    assert!(
        std::str::from_utf8(&decoded)
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(d["status"], "enabled");
    assert_eq!(d["authentication"]["type"], "sas");
    for k in ["primaryKey", "secondaryKey"] {
        let key = d["authentication"]["symmetricKey"][k].as_str().unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(key)
                .unwrap()
                .len(),
            32
        );
    }
    assert_eq!(d["connectionStateUpdatedTime"], "0001-01-01T00:00:00");

    // duplicate create
    let r = hub
        .send_json(Method::PUT, "/devices/dev-1", &json!({"deviceId": "dev-1"}))
        .await;
    expect_error(r, 409, "DeviceAlreadyExists").await;

    // update with the current etag
    let r = hub
        .send_if_match(
            Method::PUT,
            "/devices/dev-1",
            &etag_header,
            Some(
                &json!({"deviceId": "dev-1", "status": "disabled", "statusReason": "maintenance"}),
            ),
        )
        .await;
    assert_eq!(r.status(), 200);
    let d2: serde_json::Value = r.json().await.unwrap();
    assert_ne!(d2["etag"], d["etag"]);
    assert_eq!(d2["status"], "disabled");
    assert_ne!(d2["statusUpdatedTime"], "0001-01-01T00:00:00Z");
    // keys are kept when the update omits them
    assert_eq!(
        d2["authentication"]["symmetricKey"],
        d["authentication"]["symmetricKey"]
    );

    // stale etag
    let r = hub
        .send_if_match(
            Method::PUT,
            "/devices/dev-1",
            &etag_header,
            Some(&json!({"deviceId": "dev-1"})),
        )
        .await;
    let msg = expect_error(r, 412, "PreconditionFailed").await;
    assert!(msg.contains("Device version did not match"), "{msg}");

    // wildcard update, get, list
    let r = hub
        .send_if_match(
            Method::PUT,
            "/devices/dev-1",
            "*",
            Some(&json!({"status": "enabled"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (s, got) = hub.get_json("/devices/dev-1").await;
    assert_eq!(s, 200);
    assert_eq!(got["status"], "enabled");
    hub.create_device("dev-2").await;
    let (s, list) = hub.get_json("/devices?top=1").await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, list) = hub.get_json("/devices").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let r = hub.send(Method::GET, "/devices?top=0").await;
    expect_error(r, 400, "ArgumentInvalid").await;

    // statistics
    let (_, stats) = hub.get_json("/statistics/devices").await;
    assert_eq!(
        stats,
        json!({"totalDeviceCount": 2, "enabledDeviceCount": 2, "disabledDeviceCount": 0})
    );
    let (_, svc) = hub.get_json("/statistics/service").await;
    assert_eq!(svc, json!({"connectedDeviceCount": 0}));

    // delete with a stale etag, then with the right one
    let r = hub
        .send_if_match(Method::DELETE, "/devices/dev-1", &etag_header, None)
        .await;
    expect_error(r, 412, "PreconditionFailed").await;
    let current = format!(
        "\"{}\"",
        hub.get_json("/devices/dev-1").await.1["etag"]
            .as_str()
            .unwrap()
    );
    let r = hub
        .send_if_match(Method::DELETE, "/devices/dev-1", &current, None)
        .await;
    assert_eq!(r.status(), 204);
    let r = hub.send(Method::GET, "/devices/dev-1").await;
    expect_error(r, 404, "DeviceNotFound").await;
    let r = hub
        .send_if_match(Method::DELETE, "/devices/dev-1", "*", None)
        .await;
    expect_error(r, 404, "DeviceNotFound").await;
    // update of a missing device
    let r = hub
        .send_if_match(Method::PUT, "/devices/nope", "*", Some(&json!({})))
        .await;
    expect_error(r, 404, "DeviceNotFound").await;
}

#[tokio::test]
async fn device_input_is_validated() {
    let hub = Hub::start().await;
    let long = "a".repeat(129);
    let cases = [
        (format!("/devices/{long}"), json!({})),
        ("/devices/bad%20id".to_string(), json!({})),
        ("/devices/d1".to_string(), json!({"deviceId": "other"})),
        ("/devices/d1".to_string(), json!({"status": "sleeping"})),
        (
            "/devices/d1".to_string(),
            json!({"authentication": {"type": "sas", "symmetricKey": {"primaryKey": "not base64!"}}}),
        ),
        (
            "/devices/d1".to_string(),
            json!({"authentication": {"type": "magic"}}),
        ),
        (
            "/devices/d1".to_string(),
            json!({"authentication": {"type": "selfSigned"}}),
        ),
    ];
    for (path, body) in cases {
        let r = hub.send_json(Method::PUT, &path, &body).await;
        let msg = expect_error(r, 400, "ArgumentInvalid").await;
        assert!(
            msg.len() > "ErrorCode:ArgumentInvalid;".len(),
            "{path}: {msg}"
        );
    }
    let r = hub
        .req(Method::PUT, "/devices/d1")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "IotHubFormatError").await;
    // missing api-version
    let r = hub
        .client
        .get(format!("{}/devices/d1", hub.base))
        .header("authorization", &hub.token)
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "InvalidProtocolVersion").await;
    let r = hub
        .client
        .get(format!("{}/devices/d1?api-version=1999-01-01", hub.base))
        .header("authorization", &hub.token)
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "InvalidProtocolVersion").await;
    // x509 and given keys are accepted
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let r = hub
        .send_json(
            Method::PUT,
            "/devices/k1",
            &json!({"authentication": {"type": "sas", "symmetricKey": {"primaryKey": key, "secondaryKey": key}}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let d: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        d["authentication"]["symmetricKey"]["primaryKey"],
        key.as_str()
    );
    let r = hub
        .send_json(
            Method::PUT,
            "/devices/x1",
            &json!({"authentication": {"type": "selfSigned", "x509Thumbprint": {"primaryThumbprint": "ABCDEF"}}, "capabilities": {"iotEdge": true}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let d: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        d["authentication"]["symmetricKey"]["primaryKey"],
        serde_json::Value::Null
    );
    assert_eq!(d["capabilities"]["iotEdge"], true);
}

#[tokio::test]
async fn module_lifecycle() {
    let hub = Hub::start().await;
    let r = hub
        .send_json(Method::PUT, "/devices/nodev/modules/m1", &json!({}))
        .await;
    expect_error(r, 404, "DeviceNotFound").await;
    hub.create_device("d1").await;
    let r = hub
        .send_json(
            Method::PUT,
            "/devices/d1/modules/m1",
            &json!({"deviceId": "d1", "moduleId": "m1"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("etag").is_none(),
        "the service sends no ETag header for modules"
    );
    let m: serde_json::Value = r.json().await.unwrap();
    assert_eq!(m["moduleId"], "m1");
    assert_eq!(m["deviceId"], "d1");
    assert!(m.get("status").is_none());
    assert!(m.get("capabilities").is_none());
    let r = hub
        .send_json(Method::PUT, "/devices/d1/modules/m1", &json!({}))
        .await;
    expect_error(r, 409, "ModuleAlreadyExistsOnDevice").await;
    let r = hub
        .send_if_match(
            Method::PUT,
            "/devices/d1/modules/m1",
            "\"bm9wZQ==\"",
            Some(&json!({"managedBy": "me"})),
        )
        .await;
    expect_error(r, 412, "PreconditionFailed").await;
    let r = hub
        .req(Method::PUT, "/devices/d1/modules/m1")
        .header("if-match", format!("\"{}\"", m["etag"].as_str().unwrap()))
        .json(&json!({"managedBy": "me"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m2: serde_json::Value = r.json().await.unwrap();
    assert_eq!(m2["managedBy"], "me");
    assert_ne!(m2["etag"], m["etag"]);
    hub.create_module("d1", "m2").await;
    let (_, list) = hub.get_json("/devices/d1/modules").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (s, got) = hub.get_json("/devices/d1/modules/m2").await;
    assert_eq!((s, got["moduleId"].as_str()), (200, Some("m2")));
    let r = hub.send(Method::GET, "/devices/d1/modules/zz").await;
    expect_error(r, 404, "ModuleNotFound").await;
    let r = hub
        .send_if_match(Method::DELETE, "/devices/d1/modules/m2", "*", None)
        .await;
    assert_eq!(r.status(), 204);
    let r = hub.send(Method::DELETE, "/devices/d1/modules/m2").await;
    expect_error(r, 404, "ModuleNotFound").await;
}

#[tokio::test]
async fn bulk_registry_operations() {
    let hub = Hub::start().await;
    hub.create_device("existing").await;
    let r = hub
        .send_json(
            Method::POST,
            "/devices",
            &json!([
                {"id": "b1", "importMode": "create"},
                {"id": "b2", "importMode": "create", "status": "disabled"},
                {"id": "existing", "importMode": "create"},
                {"id": "ghost", "importMode": "delete"},
                {"id": "b1", "moduleId": "mod", "importMode": "create"},
                {"id": "bad id", "importMode": "create"},
            ]),
        )
        .await;
    assert_eq!(r.status(), 400);
    let res: serde_json::Value = r.json().await.unwrap();
    assert_eq!(res["isSuccessful"], false);
    let errors = res["errors"].as_array().unwrap();
    let codes: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["deviceId"].as_str().unwrap(),
                e["errorCode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            ("existing", "DeviceAlreadyExists"),
            ("ghost", "DeviceNotFound"),
            ("bad id", "ArgumentInvalid")
        ]
    );
    assert!(errors.iter().all(|e| e["errorStatus"].is_string()));
    assert_eq!(hub.get_json("/devices/b2").await.1["status"], "disabled");
    assert_eq!(hub.get_json("/devices/b1/modules/mod").await.0, 200);

    // updateTwin + deleteIfMatchETag, all successful
    let etag = hub.get_json("/devices/b2").await.1["etag"]
        .as_str()
        .unwrap()
        .to_string();
    let r = hub
        .send_json(
            Method::POST,
            "/devices",
            &json!([
                {"id": "b1", "importMode": "updateTwin", "tags": {"site": "x"}},
                {"id": "b2", "importMode": "deleteIfMatchETag", "eTag": etag},
                {"id": "b3", "importMode": "update"},
            ]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let res: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        res,
        json!({"isSuccessful": true, "errors": [], "warnings": []})
    );
    assert_eq!(
        hub.get_json("/twins/b1").await.1["tags"],
        json!({"site": "x"})
    );
    assert_eq!(hub.get_json("/devices/b2").await.0, 404);
    assert_eq!(hub.get_json("/devices/b3").await.0, 200);

    // whole-request errors
    let r = hub
        .send_json(
            Method::POST,
            "/devices",
            &json!([{"id": "z", "importMode": "create"}, {"id": "z", "importMode": "create"}]),
        )
        .await;
    expect_error(r, 400, "DeviceDefinedMultipleTimes").await;
    let many: Vec<serde_json::Value> = (0..101)
        .map(|i| json!({"id": format!("m{i}"), "importMode": "create"}))
        .collect();
    let r = hub.send_json(Method::POST, "/devices", &json!(many)).await;
    expect_error(r, 400, "TooManyDevices").await;
    let r = hub
        .send_json(Method::POST, "/devices", &json!({"id": "x"}))
        .await;
    expect_error(r, 400, "IotHubFormatError").await;
    let r = hub
        .send_json(
            Method::POST,
            "/devices",
            &json!([{"id": "q", "importMode": "frobnicate"}]),
        )
        .await;
    assert_eq!(r.status(), 400);
    let res: serde_json::Value = r.json().await.unwrap();
    assert_eq!(res["errors"][0]["errorCode"], "ArgumentInvalid");
}
