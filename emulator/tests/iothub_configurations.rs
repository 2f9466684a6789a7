//! Configurations CRUD with etags, list, test queries, and applyConfigurationContent.

mod iothub_support;

use iothub_support::{Hub, expect_error};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn configuration_lifecycle() {
    let hub = Hub::start().await;
    hub.create_device("cd1").await;
    hub.patch_twin("cd1", &json!({"tags": {"env": "prod"}}))
        .await;
    let body = json!({
        "id": "cfg1",
        "labels": {"team": "a"},
        "content": {"deviceContent": {"properties.desired.k": "v"}},
        "targetCondition": "tags.env = 'prod'",
        "priority": 10,
        "metrics": {"queries": {"all": "SELECT deviceId FROM devices"}},
    });
    let r = hub
        .send_if_match(Method::PUT, "/configurations/cfg1", "\"\"", Some(&body))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"MQ==\"");
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["etag"], "MQ==");
    assert_eq!(c["systemMetrics"]["results"]["targetedCount"], 1);
    assert_eq!(
        c["systemMetrics"]["queries"]["targetedCount"],
        "select deviceId from devices where tags.env = 'prod'"
    );
    assert_eq!(c["metrics"]["results"]["all"], 1);
    assert_eq!(c["schemaVersion"], Value::Null);
    let r = hub
        .send_json(Method::PUT, "/configurations/cfg1", &body)
        .await;
    expect_error(r, 409, "ConfigurationAlreadyExists").await;

    let mut upd = body.clone();
    upd["priority"] = json!(20);
    let r = hub
        .send_if_match(Method::PUT, "/configurations/cfg1", "\"MQ==\"", Some(&upd))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["etag"], "Mg==");
    let r = hub
        .send_if_match(Method::PUT, "/configurations/cfg1", "\"MQ==\"", Some(&upd))
        .await;
    expect_error(r, 412, "PreconditionFailed").await;
    let mut changed = upd.clone();
    changed["content"] = json!({"deviceContent": {"properties.desired.k": "other"}});
    let r = hub
        .send_if_match(Method::PUT, "/configurations/cfg1", "*", Some(&changed))
        .await;
    expect_error(r, 400, "ArgumentInvalid").await;
    let mut ghost = body.clone();
    ghost["id"] = json!("ghost");
    let r = hub
        .send_if_match(Method::PUT, "/configurations/ghost", "*", Some(&ghost))
        .await;
    expect_error(r, 404, "ConfigurationNotFound").await;

    let (s, got) = hub.get_json("/configurations/cfg1").await;
    assert_eq!((s, got["priority"].as_i64()), (200, Some(20)));
    hub.send_json(
        Method::PUT,
        "/configurations/cfg2",
        &json!({"id": "cfg2", "content": {"modulesContent": {}}, "targetCondition": "*"}),
    )
    .await;
    let (_, list) = hub.get_json("/configurations").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (_, list) = hub.get_json("/configurations?top=1").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    for bad in [
        json!({"targetCondition": "tags.env = "}),
        json!({"priority": -1}),
        json!({"content": {"deviceContent": {}, "modulesContent": {}}}),
        json!({"labels": {"a": 1}}),
        json!({"metrics": {"queries": {"m": "SELECT FROM"}}}),
        json!({"id": "mismatch"}),
    ] {
        let r = hub
            .send_json(Method::PUT, "/configurations/bad", &bad)
            .await;
        expect_error(r, 400, "ArgumentInvalid").await;
    }

    let r = hub
        .send_if_match(Method::DELETE, "/configurations/cfg1", "\"MQ==\"", None)
        .await;
    expect_error(r, 412, "PreconditionFailed").await;
    let r = hub
        .send_if_match(Method::DELETE, "/configurations/cfg1", "*", None)
        .await;
    assert_eq!(r.status(), 204);
    let r = hub.send(Method::GET, "/configurations/cfg1").await;
    expect_error(r, 404, "ConfigurationNotFound").await;
}

#[tokio::test]
async fn test_queries_and_apply_content() {
    let hub = Hub::start().await;
    let r = hub
        .send_json(
            Method::POST,
            "/configurations/testQueries",
            &json!({"targetCondition": "tags.a = 1", "customMetricQueries": {"good": "SELECT deviceId FROM devices", "bad": "SELECT deviceId FROM"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let res: Value = r.json().await.unwrap();
    assert_eq!(res["targetConditionError"], "");
    assert!(
        res["customMetricQueryErrors"]["bad"]
            .as_str()
            .unwrap()
            .contains("position")
    );
    assert!(res["customMetricQueryErrors"].get("good").is_none());
    let r = hub
        .send_json(
            Method::POST,
            "/configurations/testQueries",
            &json!({"targetCondition": "tags.a = = 1"}),
        )
        .await;
    let res: Value = r.json().await.unwrap();
    assert!(!res["targetConditionError"].as_str().unwrap().is_empty());

    let r = hub
        .send_json(
            Method::PUT,
            "/devices/edge1",
            &json!({"capabilities": {"iotEdge": true}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = hub
        .send_json(
            Method::POST,
            "/devices/edge1/applyConfigurationContent",
            &json!({"modulesContent": {"$edgeAgent": {"properties.desired": {"schemaVersion": "1.1"}}}}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let (s, t) = hub.get_json("/twins/edge1/modules/$edgeAgent").await;
    assert_eq!(s, 200);
    assert_eq!(t["properties"]["desired"]["schemaVersion"], "1.1");
    let r = hub
        .send_json(
            Method::POST,
            "/devices/edge1/applyConfigurationContent",
            &json!({"deviceContent": {"properties.desired.a.b": 5}}),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        hub.get_json("/twins/edge1").await.1["properties"]["desired"]["a"]["b"],
        5
    );
    let r = hub
        .send_json(
            Method::POST,
            "/devices/ghost/applyConfigurationContent",
            &json!({"modulesContent": {}}),
        )
        .await;
    expect_error(r, 404, "DeviceNotFound").await;
}
