//! Relationships of the emulated Azure Digital Twins instance, over real loopback sockets.

mod adt_support;

use adt_support::{Adt, race_create_if_absent};
use serde_json::json;

async fn seeded() -> Adt {
    let adt = Adt::start().await;
    adt.seed_models().await;
    adt.room("room", 20.0).await;
    adt.room("room2", 20.0).await;
    adt.put_twin(
        "dev",
        &json!({"$metadata": {"$model": "dtmi:test:Device;1"}, "serial": "s"}),
    )
    .await;
    adt.put_twin(
        "floor",
        &json!({"$metadata": {"$model": "dtmi:test:Floor;1"}}),
    )
    .await;
    adt
}

#[tokio::test]
async fn put_get_patch_delete_relationship() {
    let adt = seeded().await;
    let p = "/digitaltwins/room/relationships/r1";
    let body = json!({"$relationshipName": "contains", "$targetId": "dev", "since": "2024-01-01T00:00:00Z", "$sourceId": "ignored"});
    let r = adt
        .send("PUT", p, Some(&body), &[("if-none-match", "*")])
        .await;
    r.assert_status(200);
    let etag = r.etag();
    assert!(etag.starts_with("W/\""));
    assert_eq!(r.body["$etag"], json!(etag));
    assert_eq!(r.body["$relationshipId"], "r1");
    assert_eq!(r.body["$sourceId"], "room");
    assert_eq!(r.body["$targetId"], "dev");
    assert_eq!(r.body["$relationshipName"], "contains");
    assert_eq!(r.body["since"], "2024-01-01T00:00:00Z");
    adt.send("PUT", p, Some(&body), &[("if-none-match", "*")])
        .await
        .assert_error(412, "PreconditionFailed");
    let g = adt.get(p).await;
    g.assert_status(200);
    assert_eq!(g.etag(), etag);
    assert_eq!(g.body, r.body);
    // patch with If-Match
    let ops = json!([{"op": "replace", "path": "/since", "value": "2025-01-01T00:00:00Z"}]);
    let stale = "W/\"00000000-0000-0000-0000-000000000000\"";
    adt.patch_if_match(p, &ops, stale)
        .await
        .assert_error(412, "PreconditionFailed");
    let r = adt.patch_if_match(p, &ops, &etag).await;
    r.assert_status(204);
    let etag2 = r.etag();
    assert_ne!(etag2, etag);
    assert_eq!(adt.get(p).await.body["since"], "2025-01-01T00:00:00Z");
    adt.patch(p, &json!([{"op": "add", "path": "/since", "value": 5}]))
        .await
        .assert_error(400, "ValidationFailed");
    adt.patch(p, &json!([{"op": "add", "path": "/weight", "value": 5}]))
        .await
        .assert_error(400, "ValidationFailed");
    adt.patch(
        p,
        &json!([{"op": "replace", "path": "/$relationshipName", "value": "adjacent"}]),
    )
    .await
    .assert_error(400, "JsonPatchInvalid");
    adt.patch(p, &json!([{"op": "move", "path": "/since", "from": "/x"}]))
        .await
        .assert_error(400, "JsonPatchInvalid");
    adt.patch("/digitaltwins/room/relationships/none", &ops)
        .await
        .assert_error(404, "RelationshipNotFound");
    // delete with If-Match
    adt.send("DELETE", p, None, &[("if-match", &etag)])
        .await
        .assert_error(412, "PreconditionFailed");
    adt.send("DELETE", p, None, &[("if-match", &etag2)])
        .await
        .assert_status(204);
    adt.get(p).await.assert_error(404, "RelationshipNotFound");
    adt.delete(p)
        .await
        .assert_error(404, "RelationshipNotFound");
    adt.get("/digitaltwins/nobody/relationships/r1")
        .await
        .assert_error(404, "DigitalTwinNotFound");
}

#[tokio::test]
async fn relationship_validation() {
    let adt = seeded().await;
    let put = |id: &'static str, body: serde_json::Value| {
        let adt = &adt;
        async move {
            adt.put(&format!("/digitaltwins/room/relationships/{id}"), &body)
                .await
        }
    };
    put(
        "a",
        json!({"$relationshipName": "notDeclared", "$targetId": "dev"}),
    )
    .await
    .assert_error(400, "InvalidRelationship");
    // contains must target a Device
    put(
        "a",
        json!({"$relationshipName": "contains", "$targetId": "room2"}),
    )
    .await
    .assert_error(400, "InvalidRelationship");
    put(
        "a",
        json!({"$relationshipName": "contains", "$targetId": "ghost"}),
    )
    .await
    .assert_error(404, "TargetTwinNotFound");
    put("a", json!({"$relationshipName": "contains"}))
        .await
        .assert_error(400, "InvalidArgument");
    put("a", json!({"$targetId": "dev"}))
        .await
        .assert_error(400, "InvalidArgument");
    put(
        "a",
        json!({"$relationshipName": "contains", "$targetId": "dev", "since": "later"}),
    )
    .await
    .assert_error(400, "ValidationFailed");
    put(
        "a",
        json!({"$relationshipName": "adjacent", "$targetId": "room"}),
    )
    .await
    .assert_error(400, "OperationNotAllowed");
    put("a", json!([1]))
        .await
        .assert_error(400, "InvalidArgument");
    adt.put(
        "/digitaltwins/ghost/relationships/a",
        &json!({"$relationshipName": "adjacent", "$targetId": "room"}),
    )
    .await
    .assert_error(404, "DigitalTwinNotFound");
    // target declared as Space accepts a Room (inheritance)
    adt.relate("floor", "f1", "hasRoom", "room").await;
    // untargeted relationship accepts any twin
    adt.relate("room", "adj", "adjacent", "floor").await;
}

#[tokio::test]
async fn list_and_incoming_page_across_many_pages() {
    let adt = seeded().await;
    for i in 0..25 {
        let id = format!("d{i:02}");
        adt.put_twin(&id, &json!({"$metadata": {"$model": "dtmi:test:Device;1"}}))
            .await;
        adt.relate("room", &format!("c{i:02}"), "contains", &id)
            .await;
        adt.relate("room2", &format!("x{i:02}"), "adjacent", "room")
            .await;
    }
    adt.relate("room", "adj", "adjacent", "room2").await;
    // outgoing, filtered by name, 3 per page
    let mut url = adt.url("/digitaltwins/room/relationships?relationshipName=contains");
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let r = adt
            .send_url("GET", &url, None, &[("max-items-per-page", "3")])
            .await;
        r.assert_status(200);
        pages += 1;
        for rel in r.body["value"].as_array().unwrap() {
            assert_eq!(rel["$relationshipName"], "contains");
            ids.push(rel["$relationshipId"].as_str().unwrap().to_string());
        }
        match r.body["nextLink"].as_str() {
            Some(n) => {
                assert!(
                    n.starts_with(&adt.base) && n.contains("relationshipName=contains"),
                    "{n}"
                );
                url = n.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 9);
    let want: Vec<String> = (0..25).map(|i| format!("c{i:02}")).collect();
    assert_eq!(ids, want);
    let all = adt.get("/digitaltwins/room/relationships").await;
    assert_eq!(all.body["value"].as_array().unwrap().len(), 26);
    assert_eq!(all.body["nextLink"], json!(null));
    // incoming
    let mut url = adt.url("/digitaltwins/room/incomingrelationships");
    let mut incoming = Vec::new();
    loop {
        let r = adt
            .send_url("GET", &url, None, &[("max-items-per-page", "4")])
            .await;
        r.assert_status(200);
        for rel in r.body["value"].as_array().unwrap() {
            assert_eq!(rel["$sourceId"], "room2");
            assert_eq!(rel["$relationshipName"], "adjacent");
            let rid = rel["$relationshipId"].as_str().unwrap();
            assert_eq!(
                rel["$relationshipLink"],
                json!(format!("/digitaltwins/room2/relationships/{rid}"))
            );
            incoming.push(rid.to_string());
        }
        match r.body["nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!(incoming.len(), 25);
    let inc = adt.get("/digitaltwins/dev/incomingrelationships").await;
    assert_eq!(inc.body, json!({"value": [], "nextLink": null}));
    adt.assert_get_errors(&[
        (
            "/digitaltwins/ghost/relationships",
            404,
            "DigitalTwinNotFound",
        ),
        (
            "/digitaltwins/ghost/incomingrelationships",
            404,
            "DigitalTwinNotFound",
        ),
        (
            "/digitaltwins/room/relationships?continuationToken=bad",
            400,
            "InvalidArgument",
        ),
    ])
    .await;
}

#[tokio::test]
async fn concurrent_relationship_creates_exactly_one_wins() {
    let adt = std::sync::Arc::new(seeded().await);
    let codes = race_create_if_absent(
        &adt,
        "/digitaltwins/room/relationships/once",
        vec![json!({"$relationshipName": "adjacent", "$targetId": "room2"}); 12],
    )
    .await;
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 412).count(), 11, "{codes:?}");
}
