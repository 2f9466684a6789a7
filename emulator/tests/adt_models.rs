//! The models API of the emulated Azure Digital Twins instance, over real loopback sockets.

mod adt_support;

use adt_support::{Adt, test_models};
use serde_json::{Value, json};

fn iface(id: &str, extra: Value) -> Value {
    let mut m = json!({"@id": id, "@type": "Interface", "@context": "dtmi:dtdl:context;2"});
    for (k, v) in extra.as_object().unwrap() {
        m[k] = v.clone();
    }
    m
}

#[tokio::test]
async fn add_get_and_model_data_shape() {
    let adt = Adt::start().await;
    let r = adt.add_models(&test_models()).await;
    let arr = r.body.as_array().unwrap();
    assert_eq!(arr.len(), 5);
    assert_eq!(arr[0]["id"], "dtmi:test:Space;1");
    assert_eq!(arr[0]["displayName"], json!({"en": "Space"}));
    assert_eq!(arr[0]["description"], json!({}));
    assert_eq!(arr[0]["decommissioned"], false);
    let up = arr[0]["uploadTime"].as_str().unwrap();
    assert!(
        up.ends_with("+00:00") && up.len() == "2021-01-12T23:39:01.2227015+00:00".len(),
        "{up}"
    );
    assert!(arr[0].get("model").is_none());
    let g = adt.get("/models/dtmi%3Atest%3ARoom%3B1").await;
    g.assert_status(200);
    assert_eq!(g.body["description"], json!({"en": "A room"}));
    assert!(g.body.get("model").is_none());
    let g = adt
        .get("/models/dtmi%3Atest%3ASpace%3B1?includeModelDefinition=true")
        .await;
    assert_eq!(g.body["model"]["@id"], "dtmi:test:Space;1");
    assert_eq!(
        g.body["model"]["@context"],
        json!(["dtmi:dtdl:context;2"]),
        "context normalised to an array"
    );
    adt.assert_get_errors(&[
        ("/models/dtmi:test:Nope;1", 404, "ModelNotFound"),
        (
            "/models/dtmi:test:Space;1?includeModelDefinition=maybe",
            400,
            "InvalidArgument",
        ),
    ])
    .await;
}

#[tokio::test]
async fn add_rejects_bad_uploads_all_or_nothing() {
    let adt = Adt::start().await;
    adt.add_models(&json!([iface("dtmi:t:A;1", json!({}))]))
        .await;
    let r = adt
        .post(
            "/models",
            &json!([
                iface("dtmi:t:B;1", json!({})),
                iface("dtmi:t:A;1", json!({}))
            ]),
        )
        .await;
    r.assert_error(409, "ModelAlreadyExists");
    adt.get("/models/dtmi:t:B;1")
        .await
        .assert_error(404, "ModelNotFound");
    adt.post(
        "/models",
        &json!([
            iface("dtmi:t:C;1", json!({})),
            iface("dtmi:t:C;1", json!({}))
        ]),
    )
    .await
    .assert_error(409, "ModelAlreadyExists");
    let cases = vec![
        json!([{"@type": "Interface", "@context": "dtmi:dtdl:context;2"}]),
        json!([iface("not-a-dtmi", json!({}))]),
        json!([iface("dtmi:t:NoVersion", json!({}))]),
        json!([{"@id": "dtmi:t:D;1", "@type": "Telemetry", "@context": "dtmi:dtdl:context;2"}]),
        json!([{"@id": "dtmi:t:D;1", "@type": "Interface"}]),
        json!([iface(
            "dtmi:t:D;1",
            json!({"contents": [{"@type": "Property", "name": "p"}]})
        )]),
        json!([iface(
            "dtmi:t:D;1",
            json!({"contents": [{"@type": "Property", "name": "p", "schema": "quaternion"}]})
        )]),
        json!([iface(
            "dtmi:t:D;1",
            json!({"contents": [{"@type": "Property", "name": "p", "schema": "string"}, {"@type": "Property", "name": "p", "schema": "string"}]})
        )]),
        json!([iface(
            "dtmi:t:D;1",
            json!({"contents": [{"@type": "Widget", "name": "p"}]})
        )]),
        json!([iface(
            "dtmi:t:D;1",
            json!({"contents": [{"@type": "Property", "name": "1bad", "schema": "string"}]})
        )]),
        json!([iface("dtmi:t:D;1", json!({"extends": "dtmi:t:Missing;1"}))]),
        json!([iface(
            "dtmi:t:D;1",
            json!({"contents": [{"@type": "Component", "name": "c", "schema": "dtmi:t:Missing;1"}]})
        )]),
        json!([iface(
            "dtmi:t:D;1",
            json!({"contents": [{"@type": "Property", "name": "p", "schema": {"@type": "Enum", "valueSchema": "integer", "enumValues": [{"name": "a", "enumValue": "x"}]}}]})
        )]),
        json!([
            iface(
                "dtmi:t:D;1",
                json!({"extends": "dtmi:t:A;1", "contents": []})
            ),
            iface("dtmi:t:E;1", json!({"extends": "dtmi:t:E2;1"}))
        ]),
    ];
    for c in cases {
        let r = adt.post("/models", &c).await;
        r.assert_error(400, "DTDLParserError");
    }
    adt.get("/models/dtmi:t:D;1")
        .await
        .assert_error(404, "ModelNotFound");
    adt.post(
        "/models",
        &json!([iface(
            "dtmi:t:F;1",
            json!({"@context": "dtmi:dtdl:context;9"})
        )]),
    )
    .await
    .assert_error(400, "ModelVersionNotSupported");
    adt.post("/models", &json!({"not": "an array"}))
        .await
        .assert_error(400, "InvalidArgument");
    adt.post("/models", &json!([]))
        .await
        .assert_error(400, "InvalidArgument");
    // a relationship target does not have to exist (the service resolves only extends and components)
    adt.add_models(&json!([iface("dtmi:t:G;1", json!({"contents": [{"@type": "Relationship", "name": "r", "target": "dtmi:t:Elsewhere;1"}]}))])).await;
    // references resolved within the same batch, in any order
    adt.add_models(&json!([
        iface("dtmi:t:Child;1", json!({"extends": "dtmi:t:Parent;1", "contents": [{"@type": "Component", "name": "c", "schema": "dtmi:t:Part;1"}]})),
        iface("dtmi:t:Parent;1", json!({})),
        iface("dtmi:t:Part;1", json!({})),
    ]))
    .await;
    // an inherited name cannot be redeclared
    adt.post("/models", &json!([iface("dtmi:t:H;1", json!({"extends": "dtmi:t:Q;1", "contents": [{"@type": "Property", "name": "x", "schema": "string"}]})), iface("dtmi:t:Q;1", json!({"contents": [{"@type": "Property", "name": "x", "schema": "string"}]}))])).await.assert_error(400, "DTDLParserError");
}

#[tokio::test]
async fn list_pages_and_dependencies_for() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    let mut models = Vec::new();
    for i in 0..23 {
        models.push(iface(&format!("dtmi:t:M{i};1"), json!({})));
    }
    adt.add_models(&Value::Array(models)).await;
    let mut url = adt.url("/models?includeModelDefinition=true");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = adt
            .send_url("GET", &url, None, &[("max-items-per-page", "4")])
            .await;
        r.assert_status(200);
        pages += 1;
        let value = r.body["value"].as_array().unwrap();
        assert!(value.len() <= 4);
        for m in value {
            assert!(
                m["model"].is_object(),
                "includeModelDefinition carried into nextLink"
            );
            seen.push(m["id"].as_str().unwrap().to_string());
        }
        match r.body["nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&adt.base), "{next}");
                assert!(
                    next.contains("continuationToken=") && next.contains("api-version=2023-10-31"),
                    "{next}"
                );
                url = next.to_string();
            }
            None => {
                assert!(r.body.get("nextLink").is_some());
                break;
            }
        }
    }
    assert_eq!(pages, 7);
    assert_eq!(seen.len(), 28);
    assert_eq!(seen[0], "dtmi:test:Space;1", "upload order");
    let all = adt.get("/models").await;
    assert_eq!(all.body["value"].as_array().unwrap().len(), 28);
    assert!(all.body["value"][0].get("model").is_none());
    let r = adt.get("/models?dependenciesFor=dtmi:test:Room;1").await;
    let mut ids: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![
            "dtmi:test:Room;1",
            "dtmi:test:Space;1",
            "dtmi:test:Thermostat;1"
        ]
    );
    let r = adt
        .get("/models?dependenciesFor=dtmi:test:Device;1&dependenciesFor=dtmi:test:Floor;1")
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    adt.get("/models?dependenciesFor=dtmi:test:Nope;1")
        .await
        .assert_error(404, "ModelNotFound");
    adt.send("GET", "/models", None, &[("max-items-per-page", "zero")])
        .await
        .assert_error(400, "InvalidArgument");
    adt.get("/models?continuationToken=garbage")
        .await
        .assert_error(400, "InvalidArgument");
}

#[tokio::test]
async fn decommission_and_delete() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    let p = "/models/dtmi:test:Device;1";
    adt.patch(
        p,
        &json!([{"op": "replace", "path": "/decommissioned", "value": true}]),
    )
    .await
    .assert_status(204);
    assert_eq!(adt.get(p).await.body["decommissioned"], true);
    adt.patch(
        p,
        &json!([{"op": "replace", "path": "/decommissioned", "value": false}]),
    )
    .await
    .assert_error(400, "InvalidArgument");
    adt.patch(
        p,
        &json!([{"op": "replace", "path": "/displayName", "value": "x"}]),
    )
    .await
    .assert_error(400, "JsonPatchInvalid");
    adt.patch(
        p,
        &json!([{"op": "add", "path": "/decommissioned", "value": true}]),
    )
    .await
    .assert_error(400, "JsonPatchInvalid");
    adt.patch(
        "/models/dtmi:test:Nope;1",
        &json!([{"op": "replace", "path": "/decommissioned", "value": true}]),
    )
    .await
    .assert_error(404, "ModelNotFound");
    // Space is extended by Room, Thermostat is Room's component: both refused while Room exists
    adt.delete("/models/dtmi:test:Space;1")
        .await
        .assert_error(409, "ModelReferencesNotDeleted");
    adt.delete("/models/dtmi:test:Thermostat;1")
        .await
        .assert_error(409, "ModelReferencesNotDeleted");
    // Device is only a relationship target of Room: deletable
    adt.delete(p).await.assert_status(204);
    adt.delete(p).await.assert_error(404, "ModelNotFound");
    adt.delete("/models/dtmi:test:Room;1")
        .await
        .assert_status(204);
    adt.delete("/models/dtmi:test:Space;1")
        .await
        .assert_status(204);
    adt.delete("/models/dtmi:test:Thermostat;1")
        .await
        .assert_status(204);
}
