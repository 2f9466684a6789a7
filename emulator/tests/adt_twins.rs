//! Twins, components and telemetry of the emulated Azure Digital Twins instance, over real loopback sockets.

mod adt_support;

use adt_support::{Adt, race_create_if_absent, room_body};
use serde_json::{Value, json};

fn is_weak_etag(s: &str) -> bool {
    s.strip_prefix("W/\"")
        .and_then(|r| r.strip_suffix('"'))
        .is_some_and(uuid_like)
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn put_get_twin_has_etag_and_metadata() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    let r = adt.room("r1", 21.5).await;
    let etag = r.etag();
    assert!(is_weak_etag(&etag), "{etag}");
    assert_eq!(r.body["$etag"], json!(etag));
    assert_eq!(r.body["$dtId"], "r1");
    assert_eq!(r.body["$metadata"]["$model"], "dtmi:test:Room;1");
    assert!(
        r.body["$metadata"]["$lastUpdateTime"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(r.body["$metadata"]["temperature"]["lastUpdateTime"].is_string());
    assert!(r.body["$metadata"]["name"]["lastUpdateTime"].is_string());
    assert!(r.body["thermostat"]["$metadata"].is_object());
    let g = adt.get("/digitaltwins/r1").await;
    g.assert_status(200);
    assert_eq!(g.etag(), etag);
    assert_eq!(g.body, r.body);
    assert_eq!(
        g.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    // replacing without a condition works and changes the etag
    let r2 = adt.room("r1", 22.0).await;
    assert_ne!(r2.etag(), etag);
    // $dtId in the body is ignored, the path wins
    let mut b = room_body(1.0);
    b["$dtId"] = json!("other");
    let r3 = adt.put_twin("r2", &b).await;
    assert_eq!(r3.body["$dtId"], "r2");
}

#[tokio::test]
async fn get_missing_twin_is_404() {
    let adt = Adt::start().await;
    adt.get("/digitaltwins/nope")
        .await
        .assert_error(404, "DigitalTwinNotFound");
    adt.delete("/digitaltwins/nope")
        .await
        .assert_error(404, "DigitalTwinNotFound");
    adt.patch(
        "/digitaltwins/nope",
        &json!([{"op": "add", "path": "/name", "value": "x"}]),
    )
    .await
    .assert_error(404, "DigitalTwinNotFound");
}

#[tokio::test]
async fn if_none_match_star_is_create_only() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    let p = "/digitaltwins/r1";
    let body = room_body(1.0);
    adt.send("PUT", p, Some(&body), &[("if-none-match", "*")])
        .await
        .assert_status(200);
    let r = adt
        .send("PUT", p, Some(&body), &[("if-none-match", "*")])
        .await;
    r.assert_error(412, "PreconditionFailed");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("If-None-Match: * header was specified")
    );
    adt.send("PUT", p, Some(&body), &[("if-none-match", "W/\"x\"")])
        .await
        .assert_error(400, "InvalidArgument");
}

#[tokio::test]
async fn create_validates_against_model() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    let model = json!({"$model": "dtmi:test:Room;1"});
    let good = json!({
        "$metadata": model, "thermostat": {"$metadata": {}, "setpoint": 20},
        "name": "inherited from Space", "temperature": 20, "ratio": 0.5, "occupied": true, "people": 3,
        "visits": 9_000_000_000i64, "opened": "2024-02-29", "cleanedAt": "2024-01-01T10:00:00Z", "slot": "PT1H30M",
        "mode": "on", "level": 2, "address": {"street": "Main", "zip": 12345}, "tags": {"a": "b", "c": "d"}
    });
    adt.put_twin("ok", &good).await;
    let bad: Vec<(&str, Value)> = vec![
        ("temperature", json!("hot")),
        ("ratio", json!(true)),
        ("occupied", json!(1)),
        ("people", json!(1.5)),
        ("people", json!(3_000_000_000i64)),
        ("visits", json!("9")),
        ("opened", json!("2024-02-30")),
        ("cleanedAt", json!("yesterday")),
        ("slot", json!("1 hour")),
        ("mode", json!("auto")),
        ("level", json!(3)),
        ("address", json!({"street": 5})),
        ("address", json!({"city": "x"})),
        ("address", json!("Main")),
        ("tags", json!({"a": 1})),
        ("name", json!(null)),
        ("undeclared", json!(1)),
        ("humidity", json!(1.0)),
        ("contains", json!("x")),
    ];
    for (prop, v) in bad {
        let mut b = good.clone();
        b[prop] = v.clone();
        let r = adt.put("/digitaltwins/bad", &b).await;
        assert_eq!(r.status, 400, "{prop}={v}: {}", r.text);
        assert_eq!(
            r.error_code(),
            Some("ValidationFailed"),
            "{prop}={v}: {}",
            r.text
        );
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains(prop),
            "{prop}: {}",
            r.text
        );
    }
    // component property validated against the component's interface
    let mut b = good.clone();
    b["thermostat"]["setpoint"] = json!("warm");
    adt.put("/digitaltwins/bad", &b)
        .await
        .assert_error(400, "ValidationFailed");
    // components must be present
    let mut b = good.clone();
    b.as_object_mut().unwrap().remove("thermostat");
    let r = adt.put("/digitaltwins/bad", &b).await;
    r.assert_error(400, "ValidationFailed");
    assert!(r.text.contains("thermostat"));
    adt.get("/digitaltwins/bad")
        .await
        .assert_error(404, "DigitalTwinNotFound");
    // model problems
    adt.put(
        "/digitaltwins/bad",
        &json!({"$metadata": {"$model": "dtmi:test:Nope;1"}}),
    )
    .await
    .assert_error(400, "ModelNotFound");
    adt.put("/digitaltwins/bad", &json!({"name": "x"}))
        .await
        .assert_error(400, "ValidationFailed");
    adt.put("/digitaltwins/bad", &json!([{}]))
        .await
        .assert_error(400, "InvalidArgument");
    let r = adt
        .send_url(
            "PUT",
            &adt.url("/digitaltwins/bad"),
            Some("{not json".into()),
            &[],
        )
        .await;
    r.assert_error(400, "InvalidArgument");
}

#[tokio::test]
async fn decommissioned_model_blocks_new_twins_only() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    adt.put_twin(
        "d1",
        &json!({"$metadata": {"$model": "dtmi:test:Device;1"}, "serial": "a"}),
    )
    .await;
    adt.patch(
        "/models/dtmi:test:Device;1",
        &json!([{"op": "replace", "path": "/decommissioned", "value": true}]),
    )
    .await
    .assert_status(204);
    adt.put(
        "/digitaltwins/d2",
        &json!({"$metadata": {"$model": "dtmi:test:Device;1"}}),
    )
    .await
    .assert_error(400, "ModelDecommissioned");
    // existing twins keep working
    adt.patch(
        "/digitaltwins/d1",
        &json!([{"op": "replace", "path": "/serial", "value": "b"}]),
    )
    .await
    .assert_status(204);
}

#[tokio::test]
async fn patch_add_replace_remove_and_metadata() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    let created = adt.room("r1", 20.0).await;
    let t0 = created.body["$metadata"]["name"]["lastUpdateTime"].clone();
    let ops = json!([
        {"op": "replace", "path": "/temperature", "value": 25.0},
        {"op": "add", "path": "/address", "value": {"street": "Main"}},
        {"op": "add", "path": "/address/zip", "value": 1},
        {"op": "add", "path": "/thermostat/setpoint", "value": 19.5},
        {"op": "add", "path": "/$metadata/temperature/sourceTime", "value": "2024-01-01T00:00:00Z"},
        {"op": "remove", "path": "/name"}
    ]);
    let r = adt.patch("/digitaltwins/r1", &ops).await;
    r.assert_status(204);
    assert!(r.text.is_empty());
    let new_etag = r.etag();
    assert!(is_weak_etag(&new_etag));
    assert_ne!(new_etag, created.etag());
    let g = adt.get("/digitaltwins/r1").await;
    assert_eq!(g.etag(), new_etag);
    assert_eq!(g.body["temperature"], 25.0);
    assert_eq!(g.body["address"], json!({"street": "Main", "zip": 1}));
    assert_eq!(g.body["thermostat"]["setpoint"], 19.5);
    assert!(g.body["thermostat"]["$metadata"]["setpoint"]["lastUpdateTime"].is_string());
    assert!(g.body.get("name").is_none());
    assert!(
        g.body["$metadata"].get("name").is_none(),
        "metadata of a removed property is dropped"
    );
    assert_eq!(
        g.body["$metadata"]["temperature"]["sourceTime"],
        "2024-01-01T00:00:00Z"
    );
    assert!(t0.is_string());
    // model change: Room → Space is invalid while Room-only properties exist
    let r = adt
        .patch(
            "/digitaltwins/r1",
            &json!([{"op": "replace", "path": "/$metadata/$model", "value": "dtmi:test:Space;1"}]),
        )
        .await;
    r.assert_error(400, "ValidationFailed");
}

#[tokio::test]
async fn patch_errors_leave_twin_untouched() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    let created = adt.room("r1", 20.0).await;
    let etag = created.etag();
    let p = "/digitaltwins/r1";
    let r = adt
        .patch(
            p,
            &json!([{"op": "move", "path": "/temperature", "value": 42}]),
        )
        .await;
    r.assert_error(400, "JsonPatchInvalid");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported operation type move.")
    );
    for op in ["copy", "test"] {
        adt.patch(
            p,
            &json!([{"op": op, "path": "/temperature", "from": "/name", "value": 1}]),
        )
        .await
        .assert_error(400, "JsonPatchInvalid");
    }
    // replace/remove of absent properties
    adt.patch(
        p,
        &json!([{"op": "replace", "path": "/ratio", "value": 1.0}]),
    )
    .await
    .assert_error(400, "JsonPatchInvalid");
    adt.patch(p, &json!([{"op": "remove", "path": "/ratio"}]))
        .await
        .assert_error(400, "JsonPatchInvalid");
    // sub-property of an absent object
    adt.patch(
        p,
        &json!([{"op": "add", "path": "/address/zip", "value": 1}]),
    )
    .await
    .assert_error(400, "JsonPatchInvalid");
    // read-only paths
    adt.patch(
        p,
        &json!([{"op": "replace", "path": "/$dtId", "value": "x"}]),
    )
    .await
    .assert_error(400, "JsonPatchInvalid");
    // the first op is valid, the second fails validation: nothing is applied
    let r = adt
        .patch(p, &json!([{"op": "replace", "path": "/temperature", "value": 99}, {"op": "add", "path": "/people", "value": "many"}]))
        .await;
    r.assert_error(400, "ValidationFailed");
    // removing a required component fails
    adt.patch(p, &json!([{"op": "remove", "path": "/thermostat"}]))
        .await
        .assert_error(400, "ValidationFailed");
    // a body that is not a patch document: ASP.NET problem+json, no x-ms-error-code
    let r = adt.patch(p, &json!(["temperature"])).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), None);
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json; charset=utf-8")
    );
    assert_eq!(r.body["status"], 400);
    assert!(r.body["errors"].is_object() && r.body["title"].is_string());
    let g = adt.get(p).await;
    assert_eq!(g.etag(), etag);
    assert_eq!(g.body, created.body);
}

#[tokio::test]
async fn if_match_on_patch_and_delete() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    let etag = adt.room("r1", 20.0).await.etag();
    let p = "/digitaltwins/r1";
    let ops = json!([{"op": "replace", "path": "/temperature", "value": 42}]);
    let stale = "W/\"7e67a355-f19c-4c19-8a10-2d69b2d2253f\"";
    let r = adt.patch_if_match(p, &ops, stale).await;
    r.assert_error(412, "PreconditionFailed");
    assert!(r.body["error"]["message"].as_str().unwrap().contains(stale));
    let r = adt.patch_if_match(p, &ops, &etag).await;
    r.assert_status(204);
    let etag2 = r.etag();
    adt.send("DELETE", p, None, &[("if-match", &etag)])
        .await
        .assert_error(412, "PreconditionFailed");
    adt.send("DELETE", p, None, &[("if-match", &etag2)])
        .await
        .assert_status(204);
    adt.get(p).await.assert_error(404, "DigitalTwinNotFound");
    // If-Match: * matches any current version
    adt.room("r2", 1.0).await;
    adt.send("DELETE", "/digitaltwins/r2", None, &[("if-match", "*")])
        .await
        .assert_status(204);
}

#[tokio::test]
async fn delete_refused_while_relationships_exist() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    adt.room("a", 1.0).await;
    adt.room("b", 1.0).await;
    adt.relate("a", "ab", "adjacent", "b").await;
    adt.delete("/digitaltwins/a")
        .await
        .assert_error(400, "RelationshipsNotDeleted");
    adt.delete("/digitaltwins/b")
        .await
        .assert_error(400, "RelationshipsNotDeleted");
    adt.delete("/digitaltwins/a/relationships/ab")
        .await
        .assert_status(204);
    adt.delete("/digitaltwins/b").await.assert_status(204);
    adt.delete("/digitaltwins/a").await.assert_status(204);
}

#[tokio::test]
async fn components_get_and_patch() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    let etag = adt.room("r1", 20.0).await.etag();
    let c = adt.get("/digitaltwins/r1/components/thermostat").await;
    c.assert_status(200);
    assert_eq!(c.etag(), etag);
    assert!(c.body["$metadata"].is_object());
    let r = adt
        .patch(
            "/digitaltwins/r1/components/thermostat",
            &json!([{"op": "add", "path": "/setpoint", "value": 18}]),
        )
        .await;
    r.assert_status(204);
    assert_ne!(r.etag(), etag);
    let c = adt.get("/digitaltwins/r1/components/thermostat").await;
    assert_eq!(c.body["setpoint"], 18);
    assert_eq!(c.etag(), r.etag());
    adt.patch(
        "/digitaltwins/r1/components/thermostat",
        &json!([{"op": "add", "path": "/setpoint", "value": "x"}]),
    )
    .await
    .assert_error(400, "ValidationFailed");
    adt.patch(
        "/digitaltwins/r1/components/thermostat",
        &json!([{"op": "add", "path": "/other", "value": 1}]),
    )
    .await
    .assert_error(400, "ValidationFailed");
    let stale = "W/\"00000000-0000-0000-0000-000000000000\"";
    adt.patch_if_match(
        "/digitaltwins/r1/components/thermostat",
        &json!([{"op": "add", "path": "/setpoint", "value": 1}]),
        stale,
    )
    .await
    .assert_error(412, "PreconditionFailed");
    adt.assert_get_errors(&[
        ("/digitaltwins/r1/components/nope", 404, "ComponentNotFound"),
        (
            "/digitaltwins/r1/components/temperature",
            404,
            "ComponentNotFound",
        ),
        (
            "/digitaltwins/zz/components/thermostat",
            404,
            "DigitalTwinNotFound",
        ),
    ])
    .await;
}

#[tokio::test]
async fn telemetry_is_recorded() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    adt.room("r1", 20.0).await;
    let body = json!({"humidity": 40});
    let r = adt
        .send(
            "POST",
            "/digitaltwins/r1/telemetry",
            Some(&body),
            &[
                ("message-id", "m1"),
                ("telemetry-source-time", "2024-01-01T00:00:00Z"),
            ],
        )
        .await;
    r.assert_status(204);
    adt.send(
        "POST",
        "/digitaltwins/r1/components/thermostat/telemetry",
        Some(&json!({"reading": 1})),
        &[("message-id", "m2")],
    )
    .await
    .assert_status(204);
    adt.send("POST", "/digitaltwins/r1/telemetry", Some(&body), &[])
        .await
        .assert_error(400, "InvalidArgument");
    adt.send(
        "POST",
        "/digitaltwins/r1/telemetry",
        Some(&body),
        &[("message-id", "m3"), ("telemetry-source-time", "soon")],
    )
    .await
    .assert_error(400, "InvalidArgument");
    adt.send(
        "POST",
        "/digitaltwins/zz/telemetry",
        Some(&body),
        &[("message-id", "m4")],
    )
    .await
    .assert_error(404, "DigitalTwinNotFound");
    adt.send(
        "POST",
        "/digitaltwins/r1/components/nope/telemetry",
        Some(&body),
        &[("message-id", "m5")],
    )
    .await
    .assert_error(404, "ComponentNotFound");
    let t = adt.emu.telemetry();
    assert_eq!(t.len(), 2);
    assert_eq!(
        (
            t[0].twin_id.as_str(),
            t[0].component.as_deref(),
            t[0].message_id.as_str()
        ),
        ("r1", None, "m1")
    );
    assert_eq!(t[0].source_time.as_deref(), Some("2024-01-01T00:00:00Z"));
    assert_eq!(t[0].body, body);
    assert_eq!(
        (t[1].component.as_deref(), t[1].message_id.as_str()),
        (Some("thermostat"), "m2")
    );
}

#[tokio::test]
async fn concurrent_conditional_writes_exactly_one_wins() {
    let adt = std::sync::Arc::new(Adt::start().await);
    adt.seed_models().await;
    // If-None-Match: * creates from many tasks at once
    let bodies = (0..16).map(|i| room_body(i as f64)).collect();
    let codes = race_create_if_absent(&adt, "/digitaltwins/race", bodies).await;
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 412).count(), 15, "{codes:?}");
    // If-Match patches with the same etag
    let etag = adt.get("/digitaltwins/race").await.etag();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let adt = adt.clone();
        let etag = etag.clone();
        tasks.push(tokio::spawn(async move {
            let ops = json!([{"op": "replace", "path": "/temperature", "value": 100 + i}]);
            adt.patch_if_match("/digitaltwins/race", &ops, &etag)
                .await
                .status
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 204).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 412).count(), 15, "{codes:?}");
}
