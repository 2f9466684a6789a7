//! `DigitalTwinsClient` end to end against the in-process emulator over real loopback sockets:
//! every operation, success and error paths.
#![cfg(feature = "digitaltwins")]

use std::time::Duration;

use azure_twins::digitaltwins::{
    BasicDigitalTwin, BasicDigitalTwinComponent, BasicRelationship, DigitalTwinsClient, EventRoute,
    IncomingRelationship, JobStatus, JsonPatch, Pointer,
};
use azure_twins::paging::Continuation;
use azure_twins::{Condition, Credential, ErrorKind};
use azure_twins_emulator::{Emulator, Fault, FaultRule};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const ROOM: &str = "dtmi:com:example:Room;1";
const FLOOR: &str = "dtmi:com:example:Floor;1";
const THERMOSTAT: &str = "dtmi:com:example:Thermostat;1";

fn models() -> Vec<Value> {
    vec![
        json!({
            "@id": THERMOSTAT, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
            "displayName": "Thermostat",
            "contents": [{"@type": "Property", "name": "setPoint", "schema": "double", "writable": true}]
        }),
        json!({
            "@id": ROOM, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
            "displayName": "Room", "description": "A room",
            "contents": [
                {"@type": "Property", "name": "temperature", "schema": "double", "writable": true},
                {"@type": "Property", "name": "name", "schema": "string", "writable": true},
                {"@type": "Component", "name": "thermostat", "schema": THERMOSTAT},
                {"@type": "Telemetry", "name": "reading", "schema": "double"}
            ]
        }),
        json!({
            "@id": FLOOR, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
            "contents": [
                {"@type": "Relationship", "name": "contains", "target": ROOM,
                 "properties": [{"@type": "Property", "name": "since", "schema": "string", "writable": true}]}
            ]
        }),
    ]
}

async fn setup() -> (Emulator, DigitalTwinsClient) {
    let emu = Emulator::builder().start().await.expect("emulator starts");
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("test-token"))
        .build()
        .expect("client builds");
    dt.create_models(models())
        .send()
        .await
        .expect("models upload");
    (emu, dt)
}

/// [`setup`] plus the twin `room-1` at 20.0.
async fn setup_with_room() -> (Emulator, DigitalTwinsClient) {
    let (emu, dt) = setup().await;
    dt.create_twin("room-1", room("room-1", 20.0))
        .send()
        .await
        .unwrap();
    (emu, dt)
}

fn room(id: &str, temperature: f64) -> BasicDigitalTwin {
    BasicDigitalTwin::new(id, ROOM)
        .with_property("temperature", temperature)
        .with_component("thermostat", BasicDigitalTwinComponent::new())
}

#[tokio::test]
async fn create_twin_only_if_absent_then_412() {
    let (_emu, dt) = setup().await;
    let created = dt
        .create_twin("room-1", room("room-1", 20.0))
        .condition(Condition::IfNoneMatchAny)
        .send()
        .await
        .unwrap();
    assert_eq!(created.value["$dtId"], "room-1");
    assert!(
        created.etag.is_weak(),
        "ADT etags are weak: {}",
        created.etag
    );
    assert_eq!(created.value["$etag"], created.etag.as_header());

    let err = dt
        .create_twin("room-1", room("room-1", 25.0))
        .condition(Condition::IfNoneMatchAny)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(412));
    assert_eq!(err.error_code(), Some("PreconditionFailed"));

    // Unconditional PUT replaces.
    let replaced = dt
        .create_twin("room-1", room("room-1", 25.0))
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.value["temperature"], 25.0);
    assert_ne!(replaced.etag, created.etag);
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Room {
    #[serde(rename = "$dtId", default, skip_serializing_if = "String::is_empty")]
    id: String,
    #[serde(rename = "$metadata")]
    metadata: Meta,
    temperature: f64,
    thermostat: Value,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Meta {
    #[serde(rename = "$model")]
    model: String,
}

#[tokio::test]
async fn add_and_get_twin_from_value_basic_and_custom_types() {
    let (_emu, dt) = setup().await;
    // serde_json::Value
    dt.create_twin(
        "v",
        json!({"$metadata": {"$model": ROOM}, "temperature": 1.5, "thermostat": {"$metadata": {}}}),
    )
    .send()
    .await
    .unwrap();
    // BasicDigitalTwin, read back typed
    let b = dt
        .create_twin("b", room("b", 2.5))
        .send_as::<BasicDigitalTwin>()
        .await
        .unwrap();
    assert_eq!(b.value.id, "b");
    assert_eq!(b.value.metadata.model, ROOM);
    assert_eq!(b.value.contents["temperature"], 2.5);
    assert_eq!(b.value.etag.as_ref(), Some(&b.etag));
    // A user's own Serialize type
    let mine = Room {
        id: String::new(),
        metadata: Meta { model: ROOM.into() },
        temperature: 3.5,
        thermostat: json!({"$metadata": {}}),
    };
    dt.create_twin("c", &mine).send().await.unwrap();
    let got = dt.get_twin("c").send_as::<Room>().await.unwrap();
    assert_eq!(got.value.temperature, 3.5);
    assert_eq!(got.value.id, "c");

    let v = dt.get_twin("v").send().await.unwrap();
    assert_eq!(v.value["temperature"], 1.5);
    assert!(v.value["$metadata"]["temperature"]["lastUpdateTime"].is_string());
}

#[tokio::test]
async fn update_twin_with_stale_etag_is_412_then_fresh_etag_succeeds() {
    let (_emu, dt) = setup().await;
    let created = dt
        .create_twin("room-1", room("room-1", 20.0))
        .send()
        .await
        .unwrap();
    let etag2 = dt
        .update_twin("room-1", JsonPatch::new().replace("/temperature", 21.0))
        .if_match(&created.etag)
        .send()
        .await
        .unwrap();
    assert_ne!(etag2, created.etag);

    let stale = dt
        .update_twin("room-1", JsonPatch::new().replace("/temperature", 22.0))
        .if_match(&created.etag)
        .send()
        .await
        .unwrap_err();
    assert!(stale.is_precondition_failed(), "{stale:?}");

    let etag3 = dt
        .update_twin(
            "room-1",
            JsonPatch::new()
                .replace("/temperature", 22.0)
                .add("/name", "Kitchen")
                .add(Pointer::source_time("temperature"), "2026-11-23T10:00:00Z"),
        )
        .if_match(&etag2)
        .send()
        .await
        .unwrap();
    let got = dt.get_twin("room-1").send().await.unwrap();
    assert_eq!(got.etag, etag3);
    assert_eq!(got.value["temperature"], 22.0);
    assert_eq!(got.value["name"], "Kitchen");
    assert_eq!(
        got.value["$metadata"]["temperature"]["sourceTime"],
        "2026-11-23T10:00:00Z"
    );

    // diff-based update, If-Match *
    let mut new = got.value.clone();
    new["temperature"] = json!(23.5);
    new.as_object_mut().unwrap().remove("name");
    dt.update_twin("room-1", JsonPatch::diff_twin(&got.value, &new))
        .condition(Condition::IfMatchAny)
        .send()
        .await
        .unwrap();
    let after = dt.get_twin("room-1").send().await.unwrap();
    assert_eq!(after.value["temperature"], 23.5);
    assert!(after.value.get("name").is_none());
}

#[tokio::test]
async fn service_errors_are_typed() {
    let (_emu, dt) = setup().await;
    let e = dt.get_twin("missing").send().await.unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(e.error_code(), Some("DigitalTwinNotFound"));
    // `replace` of an absent property is refused by the service (JsonPatchInvalid)…
    dt.create_twin("r", room("r", 1.0)).send().await.unwrap();
    let e = dt
        .update_twin("r", JsonPatch::new().replace("/name", "x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(400), "{e:?}");
    // …and a twin that breaks its model fails validation.
    let e = dt
        .update_twin("r", JsonPatch::new().add("/temperature", "hot"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(400), "{e:?}");
    assert!(e.error_code().is_some(), "{e:?}");
    // Unknown model.
    let e = dt
        .create_twin(
            "x",
            json!({"$metadata": {"$model": "dtmi:com:example:Nope;1"}}),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(400), "{e:?}");
}

#[tokio::test]
async fn local_validation_names_field_and_rule() {
    let (_emu, dt) = setup().await;
    let cases = vec![
        (dt.get_twin("").send().await.unwrap_err(), "twin_id"),
        (
            dt.create_twin("a", json!({"temperature": 1}))
                .send()
                .await
                .unwrap_err(),
            "twin.$metadata.$model",
        ),
        (
            dt.create_twin("a", room("b", 1.0))
                .send()
                .await
                .unwrap_err(),
            "twin.$dtId",
        ),
        (
            dt.create_twin("a", room("a", 1.0))
                .condition(Condition::IfMatchAny)
                .send()
                .await
                .unwrap_err(),
            "condition",
        ),
        (
            dt.update_twin("a", JsonPatch::new())
                .send()
                .await
                .unwrap_err(),
            "patch",
        ),
        (
            dt.update_twin("a", JsonPatch::new().add("temperature", 1))
                .send()
                .await
                .unwrap_err(),
            "patch[0].path",
        ),
        (
            dt.update_twin("a", JsonPatch::new().add("/t", 1))
                .condition(Condition::IfNoneMatchAny)
                .send()
                .await
                .unwrap_err(),
            "condition",
        ),
        (
            dt.create_models([json!({"@type": "Interface"})])
                .send()
                .await
                .unwrap_err(),
            "models[0].@id",
        ),
        (
            dt.create_models([models()[0].clone(), models()[0].clone()])
                .send()
                .await
                .unwrap_err(),
            "models[1].@id",
        ),
        (
            dt.create_models(Vec::<Value>::new())
                .send()
                .await
                .unwrap_err(),
            "models",
        ),
        (
            dt.get_model("not-a-dtmi").send().await.unwrap_err(),
            "model_id",
        ),
        (
            dt.send_telemetry("a", json!([1])).send().await.unwrap_err(),
            "payload",
        ),
        (
            dt.create_relationship("a", "r", json!({"$targetId": "b"}))
                .send()
                .await
                .unwrap_err(),
            "relationship.$relationshipName",
        ),
        (
            dt.query("   ")
                .into_stream()
                .next()
                .await
                .unwrap()
                .unwrap_err(),
            "query",
        ),
        (
            dt.query("SELECT * FROM digitaltwins")
                .page_size(0)
                .into_stream()
                .next()
                .await
                .unwrap()
                .unwrap_err(),
            "page_size",
        ),
    ];
    for (err, field) in cases {
        match err.kind() {
            ErrorKind::InvalidInput { field: f, .. } => assert_eq!(f, field, "{err}"),
            other => panic!("expected InvalidInput for {field}, got {other:?}: {err}"),
        }
    }
    // Nothing half-applied: the twin `a` was never created.
    assert!(dt.get_twin("a").send().await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn delete_twin_with_condition() {
    let (_emu, dt) = setup().await;
    let created = dt.create_twin("d", room("d", 1.0)).send().await.unwrap();
    let etag2 = dt
        .update_twin("d", JsonPatch::new().add("/temperature", 2.0))
        .send()
        .await
        .unwrap();
    let e = dt
        .delete_twin("d")
        .if_match(&created.etag)
        .send()
        .await
        .unwrap_err();
    assert!(e.is_precondition_failed(), "{e:?}");
    dt.delete_twin("d").if_match(&etag2).send().await.unwrap();
    assert!(dt.get_twin("d").send().await.unwrap_err().is_not_found());
    let e = dt.delete_twin("d").send().await.unwrap_err();
    assert!(e.is_not_found());
}

#[tokio::test]
async fn components_get_and_update() {
    let (_emu, dt) = setup_with_room().await;
    let etag = dt
        .update_component(
            "room-1",
            "thermostat",
            JsonPatch::new().add("/setPoint", 19.5),
        )
        .send()
        .await
        .unwrap();
    let c = dt
        .get_component("room-1", "thermostat")
        .send_as::<BasicDigitalTwinComponent>()
        .await
        .unwrap();
    assert_eq!(c.value.contents["setPoint"], 19.5);
    assert_eq!(c.etag, etag);
    let stale = dt
        .update_component(
            "room-1",
            "thermostat",
            JsonPatch::new().add("/setPoint", 1.0),
        )
        .if_match("W/\"00000000-0000-0000-0000-000000000000\"")
        .send()
        .await
        .unwrap_err();
    assert!(stale.is_precondition_failed(), "{stale:?}");
    let e = dt.get_component("room-1", "nope").send().await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
}

#[tokio::test]
async fn relationships_crud_and_listing_across_pages() {
    let (_emu, dt) = setup().await;
    dt.create_twin("floor-1", BasicDigitalTwin::new("floor-1", FLOOR))
        .send()
        .await
        .unwrap();
    for i in 0..7 {
        let id = format!("room-{i}");
        dt.create_twin(&id, room(&id, 20.0)).send().await.unwrap();
        let rel = BasicRelationship::new(format!("f1-r{i}"), "floor-1", &id, "contains")
            .with_property("since", "2026");
        let created = dt
            .create_relationship("floor-1", format!("f1-r{i}"), &rel)
            .condition(Condition::IfNoneMatchAny)
            .send_as::<BasicRelationship>()
            .await
            .unwrap();
        assert_eq!(created.value.target_id, id);
    }
    // create-only-if-absent again: 412
    let again = dt
        .create_relationship(
            "floor-1",
            "f1-r0",
            BasicRelationship::new("f1-r0", "floor-1", "room-0", "contains"),
        )
        .condition(Condition::IfNoneMatchAny)
        .send()
        .await
        .unwrap_err();
    assert!(again.is_precondition_failed(), "{again:?}");

    // get + update with If-Match, stale etag 412
    let got = dt
        .get_relationship("floor-1", "f1-r0")
        .send_as::<BasicRelationship>()
        .await
        .unwrap();
    assert_eq!(got.value.properties["since"], "2026");
    let update_since = |since: &str| {
        dt.update_relationship(
            "floor-1",
            "f1-r0",
            JsonPatch::new().replace("/since", since),
        )
        .if_match(&got.etag)
        .send()
    };
    let new_etag = update_since("2027").await.unwrap();
    let stale = update_since("2028").await.unwrap_err();
    assert!(stale.is_precondition_failed());

    // list across pages (3 per page → 3 pages), following nextLink
    let mut pages = dt
        .list_relationships("floor-1")
        .page_size(3)
        .into_stream_as::<BasicRelationship>()
        .into_pages();
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    while let Some(p) = pages.next().await {
        let p = p.unwrap();
        sizes.push(p.items().len());
        ids.extend(p.items().iter().map(|r| r.id.clone()));
    }
    assert_eq!(sizes, vec![3, 3, 1]);
    ids.sort();
    assert_eq!(ids, (0..7).map(|i| format!("f1-r{i}")).collect::<Vec<_>>());

    // without a page size, filtered by name
    let named = |name: &str| {
        dt.list_relationships("floor-1")
            .relationship_name(name)
            .into_stream()
            .try_collect::<Vec<Value>>()
    };
    assert_eq!(named("contains").await.unwrap().len(), 7);
    assert!(named("other").await.unwrap().is_empty());

    // incoming
    let incoming: Vec<IncomingRelationship> = dt
        .list_incoming_relationships("room-3")
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0].source_id.as_deref(), Some("floor-1"));
    assert_eq!(incoming[0].relationship_id.as_deref(), Some("f1-r3"));

    // a twin with relationships cannot be deleted
    let e = dt.delete_twin("room-0").send().await.unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(400), "{e:?}");

    // delete with condition
    let e = dt
        .delete_relationship("floor-1", "f1-r0")
        .if_match(&got.etag)
        .send()
        .await
        .unwrap_err();
    assert!(e.is_precondition_failed());
    dt.delete_relationship("floor-1", "f1-r0")
        .if_match(&new_etag)
        .send()
        .await
        .unwrap();
    assert!(
        dt.get_relationship("floor-1", "f1-r0")
            .send()
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn telemetry_message_id_defaults_and_source_time() {
    let (emu, dt) = setup_with_room().await;
    let id1 = dt
        .send_telemetry("room-1", json!({"reading": 21.5}))
        .send()
        .await
        .unwrap();
    assert!(uuid_like(&id1), "{id1}");
    let t = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let id2 = dt
        .send_component_telemetry("room-1", "thermostat", json!({"x": 1}))
        .message_id("msg-2")
        .source_time(t)
        .send()
        .await
        .unwrap();
    assert_eq!(id2, "msg-2");
    let seen = emu.telemetry();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].message_id, id1);
    assert_eq!(seen[0].component, None);
    assert_eq!(seen[0].body, json!({"reading": 21.5}));
    assert_eq!(seen[1].component.as_deref(), Some("thermostat"));
    assert_eq!(seen[1].source_time.as_deref(), Some("2026-11-23T10:00:00Z"));
    let e = dt
        .send_telemetry("missing", json!({}))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_not_found());
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn models_lifecycle() {
    let (_emu, dt) = setup().await;
    // duplicate upload: 409
    let e = dt.create_models(models()).send().await.unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(409), "{e:?}");
    assert_eq!(e.error_code(), Some("ModelAlreadyExists"));

    let m = dt.get_model(ROOM).send().await.unwrap();
    assert_eq!(m.id, ROOM);
    assert_eq!(m.display_name.get("en").map(String::as_str), Some("Room"));
    assert_eq!(m.model["@id"], ROOM);
    let m = dt
        .get_model(ROOM)
        .include_definition(false)
        .send()
        .await
        .unwrap();
    assert!(m.model.is_empty());

    let all: Vec<_> = dt
        .list_models()
        .page_size(1)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    let deps: Vec<String> = dt
        .list_models()
        .dependencies_for([ROOM])
        .into_stream()
        .map_ok(|m| m.id)
        .try_collect()
        .await
        .unwrap();
    assert!(
        deps.contains(&ROOM.to_string()) && deps.contains(&THERMOSTAT.to_string()),
        "{deps:?}"
    );
    assert!(!deps.contains(&FLOOR.to_string()), "{deps:?}");

    // decommission: no new twins of that model
    dt.decommission_model(FLOOR).send().await.unwrap();
    assert!(dt.get_model(FLOOR).send().await.unwrap().decommissioned);
    let e = dt
        .create_twin("f", BasicDigitalTwin::new("f", FLOOR))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.error_code(), Some("ModelDecommissioned"), "{e:?}");

    // delete: referenced models cannot go first
    let e = dt.delete_model(THERMOSTAT).send().await.unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(409), "{e:?}");
    dt.delete_model(FLOOR).send().await.unwrap();
    dt.delete_model(ROOM).send().await.unwrap();
    dt.delete_model(THERMOSTAT).send().await.unwrap();
    let e = dt.get_model(ROOM).send().await.unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(e.error_code(), Some("ModelNotFound"));
}

#[tokio::test]
async fn query_across_many_pages_resumed_from_a_saved_token() {
    let (emu, dt) = setup().await;
    for i in 0..23 {
        let id = format!("q{i:02}");
        dt.create_twin(&id, room(&id, i as f64))
            .send()
            .await
            .unwrap();
    }
    let q = "SELECT * FROM digitaltwins WHERE IS_OF_MODEL('dtmi:com:example:Room;1')";
    let all: Vec<BasicDigitalTwin> = dt
        .query(q)
        .page_size(5)
        .into_stream_as()
        .try_collect()
        .await
        .unwrap();
    let mut ids: Vec<_> = all.iter().map(|t| t.id.clone()).collect();
    ids.sort();
    assert_eq!(ids, (0..23).map(|i| format!("q{i:02}")).collect::<Vec<_>>());

    // Page boundaries, charges, then stop after two pages and save the continuation.
    let mut pages = dt.query(q).page_size(5).into_stream().into_pages();
    let mut first_ids = Vec::new();
    for _ in 0..2 {
        let page = pages.next().await.unwrap().unwrap();
        assert_eq!(page.items().len(), 5);
        assert!(
            page.query_charge().is_some_and(|c| c > 0.0),
            "query-charge header"
        );
        first_ids.extend(
            page.items()
                .iter()
                .map(|t| t["$dtId"].as_str().unwrap().to_owned()),
        );
    }
    let saved = pages.continuation().expect("more pages").to_token_string();
    drop(pages);

    // Resume in "another process": only the token string survives.
    let resumed = Continuation::from_token_string(&saved).unwrap();
    let rest: Vec<Value> = dt
        .query(q)
        .continue_from(resumed.clone())
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rest.len(), 13);
    let rest_ids: Vec<&str> = rest.iter().map(|t| t["$dtId"].as_str().unwrap()).collect();
    assert!(
        rest_ids.iter().all(|id| !first_ids.iter().any(|f| f == id)),
        "the resumed rest does not repeat the first pages"
    );

    // The token continues only the query it was made for: another query text (or a token of
    // another service) is refused before anything is sent — the pending fault would hit the
    // next request that reached the emulator.
    emu.faults()
        .inject(FaultRule::new(Fault::ServiceUnavailable, 1));
    for other in [
        "SELECT * FROM digitaltwins",
        "SELECT * FROM digitaltwins WHERE IS_OF_MODEL('dtmi:com:example:Room;1') AND 1 = 1",
    ] {
        let err = dt
            .query(other)
            .continue_from(resumed.clone())
            .into_stream()
            .try_collect::<Vec<Value>>()
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { field, .. } if field == "continuation"),
            "{other}: {err:?}"
        );
    }
    let hub_token: serde_json::Value = json!({"kind": "iot_hub_query", "query": q, "token": "t"});
    let foreign: Continuation = serde_json::from_value(hub_token).unwrap();
    let err = dt
        .query(q)
        .continue_from(foreign)
        .into_stream()
        .try_collect::<Vec<Value>>()
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { field, .. } if field == "continuation"),
        "{err:?}"
    );
    assert_eq!(emu.faults().pending(), 1, "nothing reached the emulator");
    assert_eq!(emu.faults().injected(), 0);
    emu.faults().clear();
    let mut resumed_ids: Vec<String> = first_ids;
    resumed_ids.extend(rest.iter().map(|t| t["$dtId"].as_str().unwrap().to_owned()));
    resumed_ids.sort();
    assert_eq!(
        resumed_ids, ids,
        "no row lost or repeated across the resume"
    );

    // Projections
    let rows: Vec<Value> = dt
        .query("SELECT T.temperature FROM digitaltwins T WHERE T.temperature >= 20")
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");

    // Errors from the service are typed
    let e = dt
        .query("SELEKT nonsense")
        .into_stream()
        .try_next()
        .await
        .unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(400), "{e:?}");
}

#[tokio::test]
async fn event_routes_crud_and_paging() {
    let (_emu, dt) = setup().await;
    for i in 0..3 {
        dt.create_event_route(format!("route-{i}"), EventRoute::new("hub", "true"))
            .send()
            .await
            .unwrap();
    }
    let r = dt.get_event_route("route-1").send().await.unwrap();
    assert_eq!(r.id.as_deref(), Some("route-1"));
    assert_eq!(r.endpoint_name, "hub");
    let mut pages = dt
        .list_event_routes()
        .page_size(1)
        .into_stream()
        .into_pages();
    let mut n = 0;
    while let Some(p) = pages.next().await {
        assert_eq!(p.unwrap().items().len(), 1);
        n += 1;
    }
    assert_eq!(n, 3);
    dt.delete_event_route("route-1").send().await.unwrap();
    assert!(
        dt.get_event_route("route-1")
            .send()
            .await
            .unwrap_err()
            .is_not_found()
    );
    let e = dt
        .create_event_route("r", EventRoute::new("hub", " "))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput { .. }));
}

#[tokio::test]
async fn import_jobs_lifecycle() {
    let (_emu, dt) = setup().await;
    let e = dt.get_import_job("job-1").send().await.unwrap_err();
    assert_eq!(e.error_code(), Some("JobNotFound"));
    let job = dt
        .create_import_job(
            "job-1",
            "https://acct.blob.core.windows.net/c/in.ndjson",
            "https://acct.blob.core.windows.net/c/out.log",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(job.id, "job-1");
    assert!(job.status.is_some());
    assert!(job.created_date_time.is_some());
    let listed: Vec<_> = dt
        .list_import_jobs()
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let got = dt.get_import_job("job-1").send().await.unwrap();
    assert_eq!(
        got.input_blob_uri.expose_secret(),
        "https://acct.blob.core.windows.net/c/in.ndjson"
    );
    // The echoed URIs are SAS URLs (fixup `storage_sas_uris_secret`): Debug shows neither.
    let shown = format!("{got:?}");
    assert!(!shown.contains("acct.blob.core.windows.net"), "{shown}");
    let cancelled = dt.cancel_import_job("job-1").send().await.unwrap();
    assert!(
        matches!(
            cancelled.status,
            Some(
                JobStatus::Cancelling
                    | JobStatus::Cancelled
                    | JobStatus::Succeeded
                    | JobStatus::Failed
            )
        ),
        "{cancelled:?}"
    );
    dt.delete_import_job("job-1").send().await.unwrap();
    assert!(
        dt.get_import_job("job-1")
            .send()
            .await
            .unwrap_err()
            .is_not_found()
    );
    let e = dt
        .create_import_job("job-2", "not a url", "https://a/b")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "input_blob_uri"));
}

#[tokio::test]
async fn delete_job_start_and_wait() {
    let (_emu, dt) = setup_with_room().await;
    let job = dt
        .create_delete_job()
        .operation_id("wipe-1")
        .send()
        .await
        .unwrap();
    assert_eq!(job.id, "wipe-1");
    let done = dt
        .wait_for_delete_job(&job.id)
        .poll_every(Duration::from_millis(20))
        .timeout(Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done.status, Some(JobStatus::Succeeded));
    assert!(
        dt.get_twin("room-1")
            .send()
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(dt.get_model(ROOM).send().await.unwrap_err().is_not_found());
    let jobs: Vec<_> = dt
        .list_delete_jobs()
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert!(jobs.iter().any(|j| j.id == "wipe-1"));
    let e = dt.get_delete_job("nope").send().await.unwrap_err();
    assert!(e.is_not_found());
}

#[tokio::test]
async fn unauthorized_without_credential() {
    let emu = Emulator::builder().start().await.unwrap();
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .build()
        .unwrap();
    let e = dt.get_twin("x").send().await.unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(401), "{e:?}");
}

#[test]
fn shared_access_key_credential_is_refused_for_adt() {
    let c = Credential::shared_access_key("iothubowner", "c2VjcmV0").unwrap();
    let e = DigitalTwinsClient::builder("x.api.weu.digitaltwins.azure.net")
        .credential(c)
        .build()
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "credential"));
}

fn rule(
    fault: azure_twins_emulator::Fault,
    count: usize,
    method: &str,
    path: &str,
) -> azure_twins_emulator::FaultRule {
    azure_twins_emulator::FaultRule {
        fault,
        count,
        service: Some(azure_twins_emulator::Service::DigitalTwins),
        method: Some(method.into()),
        path_prefix: Some(path.into()),
    }
}

#[tokio::test]
async fn reads_are_retried_after_throttling() {
    use azure_twins_emulator::{Fault, RetryAfter};
    let (emu, dt) = setup_with_room().await;
    emu.faults().inject(rule(
        Fault::Throttle {
            retry_after: RetryAfter::Millis(10),
        },
        2,
        "GET",
        "/digitaltwins/room-1",
    ));
    let got = dt.get_twin("room-1").send().await.unwrap();
    assert_eq!(got.value["temperature"], 20.0);
    assert_eq!(
        emu.faults().injected(),
        2,
        "two 429s absorbed by the retry policy"
    );
}

#[tokio::test]
async fn telemetry_is_not_retried_unless_opted_in() {
    use azure_twins::RequestOptions;
    use azure_twins_emulator::Fault;
    let (emu, dt) = setup_with_room().await;
    let fail_next_telemetry = || {
        emu.faults().inject(rule(
            Fault::ServiceUnavailable,
            1,
            "POST",
            "/digitaltwins/room-1/telemetry",
        ))
    };
    fail_next_telemetry();
    let e = dt
        .send_telemetry("room-1", json!({"reading": 1.0}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(503), "{e:?}");
    assert!(emu.telemetry().is_empty());

    fail_next_telemetry();
    let id = dt
        .send_telemetry("room-1", json!({"reading": 2.0}))
        .options(RequestOptions::default().retry_non_idempotent(true))
        .send()
        .await
        .unwrap();
    let seen = emu.telemetry();
    assert_eq!(seen.len(), 1, "delivered once after one retry");
    assert_eq!(
        seen[0].message_id, id,
        "the retry reused the same Message-Id"
    );
}

/// `dedup_by_key` against real duplicates: JOIN queries are paged by offset (as the service
/// does), so a twin added before the page boundary while the pages are read shifts the rows and
/// the emulator serves the last row of page 1 again as the first row of page 2.
#[tokio::test]
async fn dedup_by_key_drops_a_row_the_service_repeats_across_a_page_boundary() {
    use std::collections::BTreeSet;
    const NODE: &str = "dtmi:com:example:DedupNode;1";
    let (_emu, dt) = setup().await;
    dt.create_models(vec![json!({
        "@id": NODE, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
        "contents": [{"@type": "Relationship", "name": "next"}]
    })])
    .send()
    .await
    .unwrap();
    let node = |id: &str| BasicDigitalTwin::new(id, NODE);
    let link = |dt: DigitalTwinsClient, id: String| async move {
        dt.create_twin(id.clone(), node(&id)).send().await.unwrap();
        dt.create_relationship(
            id.clone(),
            format!("{id}-hub"),
            json!({"$targetId": "hub", "$relationshipName": "next"}),
        )
        .send()
        .await
        .unwrap();
    };
    dt.create_twin("hub", node("hub")).send().await.unwrap();
    for i in 10..20 {
        link(dt.clone(), format!("n-{i}")).await;
    }
    let query = "SELECT T FROM DIGITALTWINS T JOIN H RELATED T.next";
    let key = |row: &Value| row["T"]["$dtId"].as_str().unwrap_or_default().to_owned();

    // Without de-duplication the repeat is visible: 11 rows, 10 distinct.
    let mut plain = dt.query(query).page_size(4).into_stream();
    let mut rows = Vec::new();
    for _ in 0..4 {
        rows.push(key(&plain.try_next().await.unwrap().unwrap()));
    }
    link(dt.clone(), "n-00".into()).await;
    while let Some(r) = plain.try_next().await.unwrap() {
        rows.push(key(&r));
    }
    assert_eq!(rows.len(), 11, "{rows:?}");
    assert_eq!(rows[3], rows[4], "the boundary row served twice: {rows:?}");

    // With it, the repeat is dropped and counted.
    let mut unique = dt.query(query).page_size(4).into_stream().dedup_by_key(key);
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(key(&unique.try_next().await.unwrap().unwrap()));
    }
    link(dt.clone(), "n-01".into()).await;
    while let Some(r) = unique.try_next().await.unwrap() {
        seen.push(key(&r));
    }
    let distinct: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "{seen:?}");
    assert_eq!(unique.duplicates_dropped(), 1);
    assert_eq!(seen.len(), 11, "{seen:?}");
}
