//! Device and module twins: read, merge, replace, conditional writes, validation, concurrency.

mod iothub_support;

use iothub_support::{Hub, expect_error};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

#[tokio::test]
async fn twin_read_patch_replace() {
    let hub = Hub::start().await;
    let d = hub.create_device("t1").await;
    let r = hub.send(Method::GET, "/twins/t1").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("etag").is_none(),
        "twin reads carry the etag in the body only"
    );
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["etag"], "AAAAAAAAAAE=");
    assert_eq!(t["version"], 2);
    assert_eq!(t["deviceEtag"], d["etag"]);
    assert!(t.get("tags").is_none());
    assert_eq!(t["properties"]["desired"]["$version"], 1);
    assert!(t["properties"]["desired"]["$metadata"]["$lastUpdated"].is_string());
    assert_eq!(t["capabilities"], json!({"iotEdge": false}));

    // PATCH: merge, read-only fields ignored
    let mut body = t.clone();
    body["properties"]["desired"]["username"] = json!("userA");
    body["tags"] = json!({"site": {"building": 7, "floor": 2}});
    let r = hub
        .send_if_match(Method::PATCH, "/twins/t1", "*", Some(&body))
        .await;
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.unwrap();
    assert_eq!(t2["etag"], "AAAAAAAAAAI=");
    assert_eq!(t2["version"], 3);
    let desired = &t2["properties"]["desired"];
    assert_eq!(desired["username"], "userA");
    assert_eq!(desired["$version"], 2);
    assert_eq!(desired["$metadata"]["$lastUpdatedVersion"], 2);
    assert_eq!(desired["$metadata"]["username"]["$lastUpdatedVersion"], 2);
    assert!(
        desired["$metadata"]["username"]["$lastUpdated"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(t2["properties"]["reported"]["$version"], 1);

    // null removes; other keys untouched; quoted etag accepted
    let patch = json!({"tags": {"site": {"floor": null}, "owner": "ops"}, "properties": {"desired": {"username": null, "mode": "eco"}}});
    let r = hub
        .send_if_match(Method::PATCH, "/twins/t1", "\"AAAAAAAAAAI=\"", Some(&patch))
        .await;
    assert_eq!(r.status(), 200);
    let t3: Value = r.json().await.unwrap();
    assert_eq!(t3["tags"], json!({"site": {"building": 7}, "owner": "ops"}));
    assert!(t3["properties"]["desired"].get("username").is_none());
    assert!(
        t3["properties"]["desired"]["$metadata"]
            .get("username")
            .is_none()
    );
    assert_eq!(t3["properties"]["desired"]["mode"], "eco");
    assert_eq!(t3["properties"]["desired"]["$version"], 3);

    // stale etag → 412, nothing changed
    let r = hub
        .send_if_match(
            Method::PATCH,
            "/twins/t1",
            "\"AAAAAAAAAAE=\"",
            Some(&json!({"tags": {"x": 1}})),
        )
        .await;
    let msg = expect_error(r, 412, "PreconditionFailed").await;
    assert!(msg.contains("ETag mismatch for device ID 't1'"), "{msg}");
    assert_eq!(hub.get_json("/twins/t1").await.1["etag"], t3["etag"]);

    // PUT replaces tags and desired
    let r = hub
        .req(Method::PUT, "/twins/t1")
        .json(&json!({"tags": {"only": true}, "properties": {"desired": {"fresh": 1}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t4: Value = r.json().await.unwrap();
    assert_eq!(t4["tags"], json!({"only": true}));
    let user_keys: Vec<&String> = t4["properties"]["desired"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !k.starts_with('$'))
        .collect();
    assert_eq!(user_keys, vec!["fresh"]);
    assert_eq!(t4["version"], 5);

    let r = hub.send(Method::GET, "/twins/none").await;
    expect_error(r, 404, "DeviceNotFound").await;
    let r = hub
        .send_json(Method::PATCH, "/twins/none", &json!({"tags": {}}))
        .await;
    expect_error(r, 404, "DeviceNotFound").await;
}

#[tokio::test]
async fn twin_validation_rejects_bad_documents_without_applying() {
    let hub = Hub::start().await;
    hub.create_device("v1").await;
    let mut deep = json!("leaf");
    for i in 0..12 {
        deep = json!({ format!("l{i}"): deep });
    }
    let mut ten = json!("leaf");
    for i in 0..10 {
        ten = json!({ format!("l{i}"): ten });
    }
    let bad = [
        json!({"tags": {"a.b": 1}}),
        json!({"tags": {"$a": 1}}),
        json!({"tags": {"a b": 1}}),
        json!({"tags": {"ctl\u{7}": 1}}),
        json!({"tags": {"k".repeat(1025): 1}}),
        json!({"properties": {"desired": {"s": "x".repeat(4097)}}}),
        json!({"tags": deep}),
        json!({"tags": "not an object"}),
        json!({"tags": {"n": 9007199254740991_i64}}),
        json!({"tags": (0..10).map(|i| (format!("k{i}"), json!("v".repeat(1000)))).collect::<serde_json::Map<_, _>>()}),
    ];
    for body in bad {
        let r = hub.send_json(Method::PATCH, "/twins/v1", &body).await;
        expect_error(r, 400, "ArgumentInvalid").await;
    }
    assert_eq!(hub.get_json("/twins/v1").await.1["etag"], "AAAAAAAAAAE=");
    let ok = hub.patch_twin("v1", &json!({"tags": ten})).await;
    assert_eq!(ok["etag"], "AAAAAAAAAAI=");
    let r = hub
        .send_json(Method::PATCH, "/twins/v1", &json!([1, 2]))
        .await;
    expect_error(r, 400, "IotHubFormatError").await;
}

#[tokio::test]
async fn module_twins() {
    let hub = Hub::start().await;
    hub.create_device("d").await;
    hub.create_module("d", "m").await;
    let (s, t) = hub.get_json("/twins/d/modules/m").await;
    assert_eq!(s, 200);
    assert_eq!(t["moduleId"], "m");
    assert_eq!(t["etag"], "AAAAAAAAAAE=");
    assert!(t.get("capabilities").is_none());
    let r = hub
        .send_if_match(
            Method::PATCH,
            "/twins/d/modules/m",
            "*",
            Some(&json!({"properties": {"desired": {"username": "userA"}}})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.unwrap();
    assert_eq!(t2["etag"], "AAAAAAAAAAI=");
    assert_eq!(t2["properties"]["desired"]["username"], "userA");
    let r = hub
        .send_if_match(
            Method::PATCH,
            "/twins/d/modules/m",
            "\"AAAAAAAAAAE=\"",
            Some(&json!({"properties": {"desired": {"username": "userB"}}})),
        )
        .await;
    expect_error(r, 412, "PreconditionFailed").await;
    let r = hub
        .req(Method::PUT, "/twins/d/modules/m")
        .json(&json!({"tags": {"a": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t3: Value = r.json().await.unwrap();
    assert_eq!(t3["tags"], json!({"a": 1}));
    assert!(t3["properties"]["desired"].get("username").is_none());
    let r = hub.send(Method::GET, "/twins/d/modules/zz").await;
    expect_error(r, 404, "ModuleNotFound").await;
}

#[tokio::test]
async fn concurrent_conditional_writes_have_exactly_one_winner() {
    let hub = Arc::new(Hub::start().await);
    hub.create_device("race").await;
    for round in 0..3 {
        let etag = hub.get_json("/twins/race").await.1["etag"]
            .as_str()
            .unwrap()
            .to_string();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let hub = hub.clone();
            let etag = etag.clone();
            tasks.push(tokio::spawn(async move {
                hub.send_if_match(
                    Method::PATCH,
                    "/twins/race",
                    &format!("\"{etag}\""),
                    Some(&json!({"properties": {"desired": {"writer": i, "round": round}}})),
                )
                .await
                .status()
                .as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 412).count(),
            15,
            "{statuses:?}"
        );
    }
    // unconditional writes are all applied: none lost
    let before = hub.get_json("/twins/race").await.1["version"]
        .as_i64()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let hub = hub.clone();
        tasks.push(tokio::spawn(async move {
            hub.send_json(
                Method::PATCH,
                "/twins/race",
                &json!({"tags": {format!("k{i}"): i}}),
            )
            .await
            .status()
            .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let t = hub.get_json("/twins/race").await.1;
    assert_eq!(t["version"].as_i64().unwrap(), before + 20);
    assert_eq!(t["tags"].as_object().unwrap().len(), 20);
}
