//! Typed twins (issue 16): DTDL v3 interfaces derived from Rust types, refusals, local
//! validation, and typed create / query / conflict-retrying updates against the emulator
//! (ADT twins, components, relationships; IoT Hub device and module twins), plus property
//! tests of the diffs.
#![cfg(all(feature = "typed", feature = "digitaltwins", feature = "iothub"))]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use azure_twins::digitaltwins::{DigitalTwinsClient, JsonPatch};
use azure_twins::typed::schemars::{self, JsonSchema};
use azure_twins::typed::{
    CommandDef, ComponentDef, DtdlInterface, PropertyMeta, RelationshipDef, TelemetryDef,
    TwinSections, merge_patch_diff, model_of, strip_nulls,
};
use azure_twins::{Credential, ErrorKind, IotHubClient};
use azure_twins_emulator::Emulator;
use futures::TryStreamExt;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const ROOM: &str = "dtmi:com:example:typed:Room;1";
const THERMOSTAT: &str = "dtmi:com:example:typed:Thermostat;1";
const FLOOR: &str = "dtmi:com:example:typed:Floor;1";

/// Operating mode of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
enum Mode {
    Comfort,
    Eco,
    FrostProtection,
}

/// Where a room is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Location {
    building: String,
    level: i32,
}

/// A thermostat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Thermostat {
    set_point: f64,
}

impl DtdlInterface for Thermostat {
    const DTMI: &'static str = THERMOSTAT;
    fn property(name: &str) -> PropertyMeta {
        match name {
            "setPoint" => PropertyMeta::new()
                .writable()
                .semantic("Temperature", "degreeCelsius"),
            _ => PropertyMeta::new(),
        }
    }
}

/// A room in a building.
///
/// Second paragraph, not part of the DTDL description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Room {
    #[serde(rename = "$dtId", default, skip_serializing)]
    id: String,
    /// Measured temperature.
    temperature: f64,
    #[serde(default)]
    visits: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    mode: Mode,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    readings: BTreeMap<String, f32>,
    location: Option<Location>,
    small: u8,
    thermostat: Thermostat,
}

impl DtdlInterface for Room {
    const DTMI: &'static str = ROOM;
    const DISPLAY_NAME: Option<&'static str> = Some("Room");
    fn property(name: &str) -> PropertyMeta {
        match name {
            "temperature" => PropertyMeta::new().semantic("Temperature", "degreeCelsius"),
            "label" => PropertyMeta::new().writable().display_name("Label"),
            _ => PropertyMeta::new().writable(),
        }
    }
    fn components() -> Vec<ComponentDef> {
        vec![ComponentDef::of::<Thermostat>("thermostat")]
    }
    fn telemetry() -> Vec<TelemetryDef> {
        vec![TelemetryDef::of::<f64>("humidity").semantic("RelativeHumidity", "percent")]
    }
    fn commands() -> Vec<CommandDef> {
        vec![
            CommandDef::new("reboot")
                .request::<u32>("delaySeconds")
                .response::<Location>("where"),
        ]
    }
}

/// The properties of a floor's `contains` relationship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Contains {
    #[serde(rename = "$relationshipId", default, skip_serializing)]
    id: String,
    #[serde(rename = "$targetId", default, skip_serializing)]
    target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    #[serde(default)]
    moves: i32,
}

/// A floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Floor {
    number: i32,
}

impl DtdlInterface for Floor {
    const DTMI: &'static str = FLOOR;
    fn relationships() -> Vec<RelationshipDef> {
        vec![
            RelationshipDef::new("contains")
                .target::<Room>()
                .properties::<Contains>(),
        ]
    }
}

/// `Room` as it would be after someone changed a field without bumping the DTMI.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct RoomChanged {
    temperature: f64,
    visits: String,
    label: Option<String>,
    mode: Mode,
    tags: Vec<String>,
    readings: BTreeMap<String, f32>,
    location: Option<Location>,
    small: u8,
    thermostat: Thermostat,
}

impl DtdlInterface for RoomChanged {
    const DTMI: &'static str = ROOM;
    fn property(name: &str) -> PropertyMeta {
        Room::property(name)
    }
    fn components() -> Vec<ComponentDef> {
        Room::components()
    }
    fn telemetry() -> Vec<TelemetryDef> {
        Room::telemetry()
    }
    fn commands() -> Vec<CommandDef> {
        Room::commands()
    }
}

fn room(id: &str) -> Room {
    Room {
        id: id.to_owned(),
        temperature: 20.5,
        visits: 0,
        label: Some("Lab".into()),
        mode: Mode::Eco,
        tags: vec!["north".into()],
        readings: BTreeMap::from([("am".to_owned(), 1.5)]),
        location: Some(Location {
            building: "B1".into(),
            level: 2,
        }),
        small: 7,
        thermostat: Thermostat { set_point: 21.0 },
    }
}

fn invalid(e: &azure_twins::Error) -> (String, String) {
    match e.kind() {
        ErrorKind::InvalidInput { field, reason } => (field.to_string(), reason.clone()),
        other => panic!("expected InvalidInput, got {other:?}: {e}"),
    }
}

async fn adt() -> (Emulator, DigitalTwinsClient) {
    let emu = Emulator::builder().start().await.expect("emulator starts");
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("test-token"))
        .build()
        .expect("client builds");
    (emu, dt)
}

/// Runs `fut` to completion from inside a synchronous closure (multi-thread runtime only):
/// the typed-update closures use it to write "concurrently" at a chosen moment.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(fut))
}

// ---------------------------------------------------------------- derivation

#[test]
fn derived_room_interface_follows_dtdl_v3() {
    let model = model_of::<Room>().unwrap();
    let doc = model.document();
    assert_eq!(
        doc["@context"],
        json!([
            "dtmi:dtdl:context;3",
            "dtmi:dtdl:extension:quantitativeTypes;1"
        ])
    );
    assert_eq!(doc["@id"], ROOM);
    assert_eq!(doc["@type"], "Interface");
    assert_eq!(doc["displayName"], "Room");
    assert_eq!(doc["description"], "A room in a building.");
    let contents = doc["contents"].as_array().unwrap();
    let by_name = |n: &str| -> &Value {
        contents
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("no content {n} in {doc}"))
    };
    // `$dtId` is a system field, not a property.
    assert!(contents.iter().all(|c| c["name"] != "$dtId"));
    assert_eq!(
        by_name("temperature"),
        &json!({"@type": ["Property", "Temperature"], "name": "temperature", "schema": "double",
                "unit": "degreeCelsius", "description": "Measured temperature."})
    );
    assert_eq!(by_name("visits")["schema"], "long");
    assert_eq!(by_name("visits")["writable"], true);
    assert_eq!(
        by_name("label"),
        &json!({"@type": "Property", "name": "label", "schema": "string", "writable": true,
                "displayName": "Label"})
    );
    assert_eq!(
        by_name("mode")["schema"],
        json!({"@type": "Enum", "valueSchema": "string", "enumValues": [
            {"name": "comfort", "enumValue": "comfort"},
            {"name": "eco", "enumValue": "eco"},
            {"name": "frostProtection", "enumValue": "frostProtection"}]})
    );
    assert_eq!(
        by_name("tags")["schema"],
        json!({"@type": "Array", "elementSchema": "string"})
    );
    assert_eq!(
        by_name("readings")["schema"],
        json!({"@type": "Map", "mapKey": {"name": "key", "schema": "string"},
               "mapValue": {"name": "value", "schema": "float"}})
    );
    assert_eq!(
        by_name("location")["schema"],
        json!({"@type": "Object", "fields": [
            {"name": "building", "schema": "string"}, {"name": "level", "schema": "integer"}]})
    );
    assert_eq!(by_name("small")["schema"], "short");
    assert_eq!(
        by_name("thermostat"),
        &json!({"@type": "Component", "name": "thermostat", "schema": THERMOSTAT})
    );
    assert_eq!(
        by_name("humidity"),
        &json!({"@type": ["Telemetry", "RelativeHumidity"], "name": "humidity",
                "schema": "double", "unit": "percent"})
    );
    assert_eq!(
        by_name("reboot"),
        &json!({"@type": "Command", "name": "reboot",
                "request": {"name": "delaySeconds", "schema": "long"},
                "response": {"name": "where", "schema": {"@type": "Object", "fields": [
                    {"name": "building", "schema": "string"}, {"name": "level", "schema": "integer"}]}}})
    );
    // DTDL v3 rules (service-behaviour.md §7, the DTDL v3 spec): unique names of at most 64
    // characters, letters/digits/underscore starting with a letter; the component's interface
    // is uploaded before the interface that uses it.
    let mut names: Vec<&str> = contents
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for n in &names {
        assert!(n.len() <= 64 && n.as_bytes()[0].is_ascii_alphabetic());
        assert!(n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    }
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "names are unique");
    let ids: Vec<String> = model
        .documents()
        .iter()
        .map(|d| d["@id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [THERMOSTAT, ROOM]);
    assert_eq!(model.component("thermostat").unwrap().id(), THERMOSTAT);

    let floor = model_of::<Floor>().unwrap();
    assert_eq!(floor.document()["@context"], "dtmi:dtdl:context;3");
    assert_eq!(
        floor.document()["contents"][1],
        json!({"@type": "Relationship", "name": "contains", "target": ROOM, "properties": [
            {"@type": "Property", "name": "moves", "schema": "integer", "writable": true},
            {"@type": "Property", "name": "since", "schema": "string", "writable": true}]})
    );
}

/// Times.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Times {
    at: chrono::DateTime<chrono::Utc>,
    day: Option<chrono::NaiveDate>,
    time: chrono::NaiveTime,
}
impl DtdlInterface for Times {
    const DTMI: &'static str = "dtmi:com:example:typed:Times;1";
}

#[test]
fn chrono_types_map_to_dtdl_time_schemas() {
    let model = model_of::<Times>().unwrap();
    let schemas: Vec<(&str, &str)> = model.document()["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["schema"].as_str().unwrap()))
        .collect();
    assert_eq!(
        schemas,
        [("at", "dateTime"), ("day", "date"), ("time", "time")]
    );
    let good = json!({"at": "2026-12-03T10:00:00Z", "day": "2026-12-03", "time": "10:00:00"});
    model.validate(&good).unwrap();
    let (field, _) = invalid(&model.validate(&json!({"at": "yesterday"})).unwrap_err());
    assert_eq!(field, "at");
}

macro_rules! iface {
    ($name:ident { $($body:tt)* }) => {
        #[derive(Serialize, Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct $name { $($body)* }
        impl DtdlInterface for $name {
            const DTMI: &'static str = "dtmi:com:example:typed:Bad;1";
        }
    };
}

iface!(WithU64 { count: u64 });
iface!(WithValue { anything: Value });
iface!(WithTuple {
    pair: (i32, String)
});
iface!(WithBadName {
    #[serde(rename = "bad-name")]
    x: i32
});
iface!(WithAnyMap { m: BTreeMap<String, Value> });
iface!(WithDataEnum { e: DataEnum });
iface!(WithRecursion { node: Node });

#[derive(Serialize, Deserialize, JsonSchema)]
#[allow(dead_code)]
enum DataEnum {
    A(i32),
    B { x: String },
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Node {
    value: i32,
    next: Option<Box<Node>>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct BadDtmi {
    x: i32,
}
impl DtdlInterface for BadDtmi {
    const DTMI: &'static str = "dtmi:com:example:NoVersion";
}

/// A component whose interface has a component itself.
#[derive(Serialize, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Building {
    room: Room,
}
impl DtdlInterface for Building {
    const DTMI: &'static str = "dtmi:com:example:typed:Building;1";
    fn components() -> Vec<ComponentDef> {
        vec![ComponentDef::of::<Room>("room")]
    }
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct UnitOnString {
    label: String,
}
impl DtdlInterface for UnitOnString {
    const DTMI: &'static str = "dtmi:com:example:typed:Unit;1";
    fn property(_: &str) -> PropertyMeta {
        PropertyMeta::new().semantic("Temperature", "degreeCelsius")
    }
}

#[test]
fn shapes_dtdl_cannot_express_are_refused_naming_the_field() {
    let cases: Vec<(azure_twins::Error, &str, &str)> = vec![
        (
            model_of::<WithU64>().unwrap_err(),
            "WithU64.count",
            "uint64",
        ),
        (
            model_of::<WithValue>().unwrap_err(),
            "WithValue.anything",
            "definite schema",
        ),
        (
            model_of::<WithTuple>().unwrap_err(),
            "WithTuple.pair",
            "tuple",
        ),
        (
            model_of::<WithBadName>().unwrap_err(),
            "WithBadName.bad-name",
            "not a DTDL name",
        ),
        (
            model_of::<WithAnyMap>().unwrap_err(),
            "WithAnyMap.m{}",
            "definite schema",
        ),
        (
            model_of::<WithDataEnum>().unwrap_err(),
            "WithDataEnum.e",
            "no union",
        ),
        (
            model_of::<WithRecursion>().unwrap_err(),
            "WithRecursion.node.next",
            "recursive",
        ),
        (
            model_of::<BadDtmi>().unwrap_err(),
            "BadDtmi::DTMI",
            "with a version",
        ),
        (
            model_of::<UnitOnString>().unwrap_err(),
            "UnitOnString.label",
            "numeric schema",
        ),
        (
            model_of::<Building>().unwrap_err(),
            "Building.room",
            "cannot nest",
        ),
    ];
    for (err, field, why) in cases {
        let (f, reason) = invalid(&err);
        assert_eq!(f, field, "{err}");
        assert!(
            reason.contains(why),
            "{field}: {reason:?} should say {why:?}"
        );
    }
}

// ---------------------------------------------------------------- local validation

#[test]
fn values_are_validated_against_the_model_with_the_bad_input_error_shape() {
    let model = model_of::<Room>().unwrap();
    let good = serde_json::to_value(room("r")).unwrap();
    model.validate(&good).unwrap();
    let bad = |patch: Value| {
        let mut v = good.clone();
        for (k, x) in patch.as_object().unwrap() {
            v[k] = x.clone();
        }
        invalid(&model.validate(&v).unwrap_err())
    };
    assert_eq!(bad(json!({"temperature": "warm"})).0, "temperature");
    assert_eq!(bad(json!({"mode": "turbo"})).0, "mode");
    assert!(bad(json!({"mode": "turbo"})).1.contains("\"eco\""));
    assert_eq!(bad(json!({"readings": {"pm": "x"}})).0, "readings{pm}");
    assert_eq!(bad(json!({"tags": ["a", 3]})).0, "tags[1]");
    assert_eq!(
        bad(json!({"location": {"building": "B", "level": 1.5}})).0,
        "location.level"
    );
    assert_eq!(bad(json!({"location": {"floor": 1}})).0, "location.floor");
    assert_eq!(bad(json!({"small": 70000})).0, "small");
    assert_eq!(
        bad(json!({"thermostat": {"setPoint": true}})).0,
        "thermostat.setPoint"
    );
    assert_eq!(bad(json!({"thermostat": 3})).0, "thermostat");
    let (f, r) = bad(json!({"humidity": 3}));
    assert_eq!(f, "humidity");
    assert!(r.contains("Telemetry"), "{r}");
    let (f, r) = bad(json!({"colour": "red"}));
    assert_eq!(f, "colour");
    assert!(
        r.contains("not declared") && r.contains("temperature"),
        "{r}"
    );
    // Desired properties (Plug and Play) must be writable.
    let (f, r) = invalid(
        &model
            .validate_desired(&json!({"temperature": 1.0}))
            .unwrap_err(),
    );
    assert_eq!(f, "desired.temperature");
    assert!(r.contains("not writable"), "{r}");
    model
        .validate_desired(&json!({"visits": 3, "thermostat": {"__t": "c", "setPoint": 20.0}}))
        .unwrap();
}

// ---------------------------------------------------------------- ADT round trips

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_models_upload_and_twins_round_trip() {
    let (_emu, dt) = adt().await;
    let uploaded = dt.create_models_for::<Room>().send().await.unwrap();
    assert_eq!(uploaded, [THERMOSTAT, ROOM]);
    // Idempotent: nothing left to upload.
    assert!(
        dt.create_models_for::<Room>()
            .send()
            .await
            .unwrap()
            .is_empty()
    );
    let uploaded = dt.create_models_for::<Floor>().send().await.unwrap();
    assert_eq!(uploaded, [FLOOR]);
    // A type that changed without a new DTMI version is refused, nothing uploaded.
    let err = dt
        .create_models_for::<RoomChanged>()
        .send()
        .await
        .unwrap_err();
    let (field, reason) = invalid(&err);
    assert_eq!(field, ROOM);
    assert!(reason.contains("differing: visits"), "{reason}");
    let stored = dt.get_model(ROOM).send().await.unwrap();
    let def = serde_json::to_value(&stored).unwrap();
    assert_eq!(def["id"], ROOM);

    let created = dt
        .create_typed_twin("room-1", &room("room-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.value, room("room-1"));
    let raw = dt.get_twin("room-1").send().await.unwrap();
    assert_eq!(raw.value["$metadata"]["$model"], ROOM);
    assert!(raw.value["thermostat"]["$metadata"].is_object());
    assert_eq!(raw.value["thermostat"]["setPoint"], 21.0);
    assert_eq!(raw.value["mode"], "eco");
    let read = dt.get_twin("room-1").send_as::<Room>().await.unwrap();
    assert_eq!(read.value, room("room-1"));
    // The typed get checks the model: as Room it decodes with the twin's ETag; as Floor it is
    // refused naming both models.
    let typed = dt.get_typed_twin::<Room>("room-1").send().await.unwrap();
    assert_eq!(typed.value, room("room-1"));
    assert_eq!(typed.etag, raw.etag);
    let wrong = dt
        .get_typed_twin::<Floor>("room-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(wrong.kind(), &azure_twins::ErrorKind::DataConversion);
    assert!(
        wrong.to_string().contains(ROOM) && wrong.to_string().contains(Floor::DTMI),
        "{wrong}"
    );

    // None fields are left out, not sent as null.
    let mut bare = room("room-2");
    bare.label = None;
    bare.location = None;
    bare.temperature = 25.0;
    dt.create_typed_twin("room-2", &bare).send().await.unwrap();
    let raw2 = dt.get_twin("room-2").send().await.unwrap();
    assert!(raw2.value.get("location").is_none(), "{}", raw2.value);

    let all: Vec<Room> = dt
        .query_typed::<Room>()
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    let mut ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["room-1", "room-2"]);
    let warm: Vec<Room> = dt
        .query_typed::<Room>()
        .filter("T.temperature > 22")
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(warm, [bare]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_update_meets_a_conflict_and_retries_with_the_latest_value() {
    let (_emu, dt) = adt().await;
    dt.create_models_for::<Room>().send().await.unwrap();
    dt.create_typed_twin("room-1", &room("room-1"))
        .send()
        .await
        .unwrap();
    let calls = AtomicU32::new(0);
    let other = dt.clone();
    let done = dt
        .update_typed_twin("room-1", |r: &mut Room| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                // Someone else writes between our read and our write.
                block_on(
                    other
                        .update_twin("room-1", JsonPatch::new().replace("/visits", 100))
                        .send(),
                )
                .unwrap();
            }
            r.visits += 1;
            r.label = None;
            r.tags.push("south".into());
        })
        .send()
        .await
        .unwrap();
    assert_eq!(done.attempts, 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        done.value.visits, 101,
        "the retry started from the latest twin"
    );
    let ops: Vec<Value> = done
        .patch
        .operations()
        .iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect();
    assert!(
        ops.contains(&json!({"op": "remove", "path": "/label"})),
        "{ops:?}"
    );
    assert!(
        ops.contains(&json!({"op": "replace", "path": "/visits", "value": 101})),
        "{ops:?}"
    );
    let now = dt.get_twin("room-1").send().await.unwrap();
    assert_eq!(now.etag, done.etag);
    assert_eq!(now.value["visits"], 101);
    assert_eq!(now.value["tags"], json!(["north", "south"]));
    assert!(now.value.get("label").is_none());

    // A `#[serde(default)]` field the stored twin lacks: the diff's `replace` becomes `add`
    // (the service rejects `replace` of an absent property).
    dt.update_twin("room-1", JsonPatch::new().remove("/visits"))
        .send()
        .await
        .unwrap();
    let done = dt
        .update_typed_twin("room-1", |r: &mut Room| r.visits += 3)
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.patch.to_value(),
        json!([{"op": "add", "path": "/visits", "value": 3}])
    );
    let done = dt
        .update_typed_twin("room-1", |r: &mut Room| r.visits += 98)
        .send()
        .await
        .unwrap();
    assert_eq!(done.value.visits, 101);
    let now = dt.get_twin("room-1").send().await.unwrap();

    // No change: nothing sent, the ETag stays.
    let same = dt
        .update_typed_twin("room-1", |_: &mut Room| {})
        .send()
        .await
        .unwrap();
    assert!(same.patch.is_empty());
    assert_eq!(same.etag, now.etag);

    // Bounded: a conflict on every attempt ends with the last 412.
    let calls = AtomicU32::new(0);
    let err = dt
        .update_typed_twin("room-1", |r: &mut Room| {
            calls.fetch_add(1, Ordering::SeqCst);
            block_on(
                other
                    .update_twin("room-1", JsonPatch::new().replace("/small", 9))
                    .send(),
            )
            .unwrap();
            r.visits = -1;
        })
        .max_attempts(3)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        dt.get_twin("room-1").send().await.unwrap().value["visits"],
        101
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_typed_updates_never_lose_an_update() {
    let (_emu, dt) = adt().await;
    dt.create_models_for::<Room>().send().await.unwrap();
    dt.create_typed_twin("room-1", &room("room-1"))
        .send()
        .await
        .unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let (tasks, per_task) = (6, 5);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let dt = dt.clone();
        let attempts = attempts.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                let done = dt
                    .update_typed_twin("room-1", |r: &mut Room| {
                        r.visits += 1;
                        r.readings.insert(format!("t{t}i{i}"), 1.0);
                    })
                    .max_attempts(1000)
                    .send()
                    .await
                    .unwrap();
                attempts.fetch_add(done.attempts, Ordering::SeqCst);
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let end = dt.get_twin("room-1").send_as::<Room>().await.unwrap().value;
    assert_eq!(end.visits, tasks * per_task as i64);
    assert_eq!(end.readings.len(), 1 + (tasks as usize) * per_task);
    assert!(attempts.load(Ordering::SeqCst) >= (tasks as u32) * per_task as u32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_updates_of_components_and_relationships() {
    let (_emu, dt) = adt().await;
    dt.create_models_for::<Room>().send().await.unwrap();
    dt.create_models_for::<Floor>().send().await.unwrap();
    dt.create_typed_twin("room-1", &room("room-1"))
        .send()
        .await
        .unwrap();
    dt.create_typed_twin("floor-1", &Floor { number: 1 })
        .send()
        .await
        .unwrap();

    let other = dt.clone();
    let calls = AtomicU32::new(0);
    let done = dt
        .update_typed_component("room-1", "thermostat", |t: &mut Thermostat| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                block_on(
                    other
                        .update_component(
                            "room-1",
                            "thermostat",
                            JsonPatch::new().replace("/setPoint", 18.0),
                        )
                        .send(),
                )
                .unwrap();
            }
            t.set_point += 1.0;
        })
        .send()
        .await
        .unwrap();
    assert_eq!(done.attempts, 2);
    assert_eq!(done.value.set_point, 19.0);
    let twin = dt.get_twin("room-1").send_as::<Room>().await.unwrap().value;
    assert_eq!(twin.thermostat.set_point, 19.0);

    dt.create_relationship(
        "floor-1",
        "c1",
        json!({"$targetId": "room-1", "$relationshipName": "contains"}),
    )
    .send()
    .await
    .unwrap();
    let calls = AtomicU32::new(0);
    let done = dt
        .update_typed_relationship("floor-1", "c1", |c: &mut Contains| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                block_on(
                    other
                        .update_relationship("floor-1", "c1", JsonPatch::new().add("/moves", 5))
                        .send(),
                )
                .unwrap();
            }
            c.moves += 1;
            c.since = Some("2026-12-03".into());
        })
        .send()
        .await
        .unwrap();
    assert_eq!(done.attempts, 2);
    let rel = dt
        .get_relationship("floor-1", "c1")
        .send()
        .await
        .unwrap()
        .value;
    assert_eq!(rel["moves"], 6);
    assert_eq!(rel["since"], "2026-12-03");
    assert_eq!(rel["$targetId"], "room-1");
}

// ---------------------------------------------------------------- IoT Hub

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Tags {
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<String>,
    #[serde(default)]
    revision: i64,
}

/// Desired properties of a sensor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Sensor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interval: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    serial_number: Option<String>,
}

impl DtdlInterface for Sensor {
    const DTMI: &'static str = "dtmi:com:example:typed:Sensor;1";
    fn property(name: &str) -> PropertyMeta {
        match name {
            "interval" => PropertyMeta::new().writable(),
            _ => PropertyMeta::new(),
        }
    }
}

async fn hub() -> (Emulator, IotHubClient) {
    let emu = Emulator::builder().start().await.expect("emulator starts");
    let hub = IotHubClient::from_connection_string(&emu.iothub_connection_string()).unwrap();
    (emu, hub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iothub_typed_sections_and_conflict_retrying_update() {
    let (emu, hub) = hub().await;
    hub.create_device("dev-1").send().await.unwrap();
    hub.update_twin("dev-1")
        .tags(json!({"site": "berlin", "legacy": 1}))
        .desired(json!({"interval": 10}))
        .send()
        .await
        .unwrap();
    emu.iothub()
        .report_properties("dev-1", json!({"serialNumber": "SN-1"}))
        .unwrap();
    let t = hub
        .get_twin("dev-1")
        .send_sections::<Value, Sensor, Sensor>()
        .await
        .unwrap();
    assert_eq!(t.value.desired.interval, Some(10));
    assert_eq!(t.value.reported.serial_number.as_deref(), Some("SN-1"));
    assert_eq!(t.value.tags, json!({"site": "berlin", "legacy": 1}));

    let other = hub.clone();
    let calls = AtomicU32::new(0);
    let done = hub
        .update_twin_sections("dev-1", |s: &mut TwinSections<Tags, Sensor, Value>| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                block_on(
                    other
                        .update_twin("dev-1")
                        .tags(json!({"revision": 7}))
                        .send(),
                )
                .unwrap();
            }
            s.tags.revision += 1;
            s.tags.site = None;
            s.desired.interval = Some(30);
        })
        .send()
        .await
        .unwrap();
    assert_eq!(done.attempts, 2);
    assert_eq!(
        done.patch,
        // `legacy` is not a field of `Tags`: members the type does not know are kept.
        json!({"tags": {"revision": 8, "site": null},
               "properties": {"desired": {"interval": 30}}})
    );
    let now = hub.get_twin("dev-1").send().await.unwrap();
    assert_eq!(now.etag, done.etag);
    assert_eq!(
        Value::Object(now.value.tags.clone()),
        json!({"revision": 8, "legacy": 1})
    );
    assert_eq!(now.value.properties.desired["interval"], 30);

    // Reported properties belong to the device.
    let err = hub
        .update_twin_sections("dev-1", |s: &mut TwinSections<Tags, Sensor, Sensor>| {
            s.reported.serial_number = Some("forged".into())
        })
        .send()
        .await
        .unwrap_err();
    assert_eq!(invalid(&err).0, "reported");

    // Module twins, bounded retries.
    hub.create_module("dev-1", "mod-a").send().await.unwrap();
    let err = hub
        .update_module_twin_sections("dev-1", "mod-a", |s: &mut TwinSections<Tags>| {
            block_on(
                other
                    .update_module_twin("dev-1", "mod-a")
                    .tags(json!({"x": 1}))
                    .send(),
            )
            .unwrap();
            s.tags.revision += 1;
        })
        .max_attempts(2)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    let done = hub
        .update_module_twin_sections("dev-1", "mod-a", |s: &mut TwinSections<Tags>| {
            s.tags.revision += 5
        })
        .send()
        .await
        .unwrap();
    assert_eq!(done.attempts, 1);
    assert_eq!(done.value.tags.revision, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iothub_pnp_model_from_the_type() {
    let (emu, hub) = hub().await;
    assert_eq!(
        azure_twins::typed::pnp_model_id::<Sensor>().unwrap(),
        "dtmi:com:example:typed:Sensor;1"
    );
    hub.create_device("pnp-1").send().await.unwrap();
    // Not announced yet: refused before anything is written.
    let err = hub
        .update_twin_sections("pnp-1", |s: &mut TwinSections<Value, Sensor>| {
            s.desired.interval = Some(5)
        })
        .pnp_model::<Sensor>()
        .send()
        .await
        .unwrap_err();
    assert_eq!(invalid(&err).0, "modelId");
    emu.iothub().set_model_id("pnp-1", Sensor::DTMI).unwrap();
    let before = hub.get_twin("pnp-1").send().await.unwrap();
    // serialNumber is read-only in the model: not a desired property.
    let err = hub
        .update_twin_sections("pnp-1", |s: &mut TwinSections<Value, Sensor>| {
            s.desired.serial_number = Some("x".into())
        })
        .pnp_model::<Sensor>()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        invalid(&err),
        ("desired.serialNumber".into(), invalid(&err).1)
    );
    assert_eq!(
        hub.get_twin("pnp-1").send().await.unwrap().etag,
        before.etag
    );
    let done = hub
        .update_twin_sections("pnp-1", |s: &mut TwinSections<Value, Sensor>| {
            s.desired.interval = Some(5)
        })
        .pnp_model::<Sensor>()
        .send()
        .await
        .unwrap();
    assert_eq!(done.value.model_id.as_deref(), Some(Sensor::DTMI));
    assert_eq!(done.value.desired.interval, Some(5));
}

// ---------------------------------------------------------------- property tests

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-50i64..50).prop_map(|n| json!(n)),
        "[a-c]{0,3}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-d]{1,2}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-e]{1,2}", json_value(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn room_strategy() -> impl Strategy<Value = Room> {
    (
        -100.0f64..100.0,
        any::<i64>(),
        prop::option::of("[a-z]{0,4}"),
        prop::sample::select(vec![Mode::Comfort, Mode::Eco, Mode::FrostProtection]),
        prop::collection::vec("[a-z]{1,3}", 0..3),
        prop::collection::btree_map("[a-c]{1,2}", -10.0f32..10.0, 0..3),
        prop::option::of(("[A-C]{1,2}", -3i32..3)),
        any::<u8>(),
        -30.0f64..30.0,
    )
        .prop_map(|(t, v, label, mode, tags, readings, loc, small, sp)| Room {
            id: String::new(),
            temperature: t,
            visits: v,
            label,
            mode,
            tags,
            readings,
            location: loc.map(|(building, level)| Location { building, level }),
            small,
            thermostat: Thermostat { set_point: sp },
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// diff → patch → apply gives the new value (JSON Patch, applied by the independent
    /// json-patch crate), for arbitrary twin-like documents.
    #[test]
    fn json_patch_diff_applies_to_the_new_value(old in json_object(), new in json_object()) {
        let (old, new) = (strip_nulls(old), strip_nulls(new));
        let patch = JsonPatch::diff_twin(&old, &new);
        let ops: json_patch::Patch = serde_json::from_value(patch.to_value()).unwrap();
        let mut doc = old.clone();
        json_patch::patch(&mut doc, &ops).unwrap();
        prop_assert_eq!(doc, new);
    }

    /// The same for typed values: the diff of two `Room`s turns one into the other, and the
    /// result is valid for the model.
    #[test]
    fn typed_diff_applies_to_the_new_value(a in room_strategy(), b in room_strategy()) {
        let old = strip_nulls(serde_json::to_value(&a).unwrap());
        let new = strip_nulls(serde_json::to_value(&b).unwrap());
        let patch = JsonPatch::diff_twin(&old, &new);
        let ops: json_patch::Patch = serde_json::from_value(patch.to_value()).unwrap();
        let mut doc = old.clone();
        json_patch::patch(&mut doc, &ops).unwrap();
        prop_assert_eq!(&doc, &new);
        let back: Room = serde_json::from_value(doc).unwrap();
        prop_assert_eq!(back, b);
        model_of::<Room>().unwrap().validate(&new).unwrap();
    }

    /// Merge-patch diff (IoT Hub) → RFC 7386 merge (json-patch crate) gives the new value.
    #[test]
    fn merge_patch_diff_applies_to_the_new_value(old in json_object(), new in json_object()) {
        let (old, new) = (strip_nulls(old), strip_nulls(new));
        let diff = Value::Object(merge_patch_diff(&old, &new));
        let mut doc = old.clone();
        json_patch::merge(&mut doc, &diff);
        prop_assert_eq!(doc, new);
    }
}
