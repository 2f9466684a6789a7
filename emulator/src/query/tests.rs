//! Unit tests of the query engine: grammar of both dialects, evaluation semantics, projections,
//! errors with positions, dialect restrictions and print/parse round trips.

use super::*;
use serde_json::json;

fn iot(q: &str) -> Query {
    parse(q, Dialect::IotHub).unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn adt(q: &str) -> Query {
    parse(q, Dialect::DigitalTwins).unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn iot_err(q: &str) -> QueryError {
    match parse(q, Dialect::IotHub) {
        Ok(parsed) => panic!("{q} parsed as {parsed:?}"),
        Err(e) => e,
    }
}

fn adt_err(q: &str) -> QueryError {
    match parse(q, Dialect::DigitalTwins) {
        Ok(parsed) => panic!("{q} parsed as {parsed:?}"),
        Err(e) => e,
    }
}

/// Asserts the error names the problem and points at `near` (its last occurrence in `q`).
fn assert_err(e: &QueryError, q: &str, near: &str, message_part: &str) {
    assert!(
        e.message.contains(message_part),
        "{q}: message {:?} should contain {message_part:?}",
        e.message
    );
    assert_eq!(e.near, near, "{q}: near");
    let expected_pos = if near.is_empty() {
        q.chars().count()
    } else {
        let byte = q.rfind(near).expect("near text occurs in query");
        q[..byte].chars().count()
    };
    assert_eq!(e.position, expected_pos, "{q}: position");
}

fn device_twin() -> Value {
    json!({
        "deviceId": "dev1",
        "etag": "AAAAAAAAAAc=",
        "status": "enabled",
        "connectionState": "Disconnected",
        "lastActivityTime": "0001-01-01T00:00:00Z",
        "version": 4,
        "tags": {
            "site": "Redmond43",
            "floor": 3,
            "ratio": 0.5,
            "enabled": true,
            "nothing": null,
            "list": [1, 2, "three"],
            "location": {"region": "US"},
            "my key": "spaced"
        },
        "properties": {
            "desired": {"telemetryConfig": {"sendFrequency": "5m"}, "$version": 2},
            "reported": {"temp": 21.0, "fw": "1.2.3", "$version": 5}
        }
    })
}

fn iot_matches(cond: &str, doc: &Value) -> bool {
    let q = iot(&format!("SELECT * FROM devices WHERE {cond}"));
    q.matches(&q.bind(doc), &NoModels)
}

fn adt_twin() -> Value {
    json!({
        "$dtId": "room1",
        "$etag": "W/\"11111111-1111-1111-1111-111111111111\"",
        "name": "Room 1",
        "temperature": 70,
        "humidity": 45.5,
        "tags": ["a", "b"],
        "$metadata": {"$model": "dtmi:example:Room;1", "name": {"lastUpdateTime": "2026-01-01T00:00:00Z"}}
    })
}

/// Model inheritance for ADT tests: Room extends Space.
fn models(twin: &Value, model: &str, exact: bool) -> bool {
    let own = twin
        .pointer("/$metadata/$model")
        .and_then(Value::as_str)
        .unwrap_or("");
    own == model || (!exact && own == "dtmi:example:Room;1" && model == "dtmi:example:Space;1")
}

fn adt_matches(cond: &str, doc: &Value) -> bool {
    let q = adt(&format!("SELECT * FROM DIGITALTWINS T WHERE {cond}"));
    q.matches(&q.bind(doc), &models)
}

fn path(segs: &[&str]) -> Path {
    Path {
        segments: segs.iter().map(|s| Segment::Field((*s).into())).collect(),
    }
}

fn p(segs: &[&str]) -> Box<Expr> {
    Box::new(Expr::Path(path(segs)))
}

fn lit(v: Value) -> Box<Expr> {
    Box::new(Expr::Literal(v))
}

// ---- grammar: IoT Hub ---------------------------------------------------------------------

#[test]
fn iot_select_star_from_devices() {
    let q = iot("SELECT * FROM devices");
    assert_eq!(q.source(), Source::Devices);
    assert!(q.is_select_all());
    assert!(!q.is_count());
    assert_eq!(q.top(), None);
    assert_eq!(q.alias(), None);
    assert!(q.joins().is_empty());
    assert!(q.filter().is_none());
    assert_eq!(q.dialect(), Dialect::IotHub);
}

#[test]
fn keywords_are_case_insensitive() {
    let q = iot("select * from Devices where tags.site = 'x' and NOT tags.y In ['z']");
    assert_eq!(q.source(), Source::Devices);
    assert!(q.filter().is_some());
    let q = adt("select top(2) t from digitalTwins t where Is_Of_Model(t, 'dtmi:a;1', EXACT)");
    assert_eq!(q.top(), Some(2));
    assert_eq!(q.source(), Source::DigitalTwins);
}

#[test]
fn iot_sources_modules_and_jobs() {
    assert_eq!(
        iot("SELECT * FROM devices.modules").source(),
        Source::DevicesModules
    );
    assert_eq!(
        iot("SELECT * FROM Devices.Jobs WHERE devices.jobs.status = 'completed'").source(),
        Source::DevicesJobs
    );
}

#[test]
fn top_both_forms_in_both_dialects() {
    assert_eq!(iot("SELECT TOP 5 * FROM devices").top(), Some(5));
    assert_eq!(iot("SELECT TOP(7) deviceId FROM devices").top(), Some(7));
    assert_eq!(adt("SELECT TOP(3) * FROM DIGITALTWINS").top(), Some(3));
    assert_eq!(adt("SELECT TOP 4 T FROM DIGITALTWINS T").top(), Some(4));
}

#[test]
fn projection_list_with_aliases() {
    let q = iot("SELECT deviceId, tags.site AS s, properties.reported.temp FROM devices");
    let Projection::Items(items) = q.projection() else {
        panic!("expected items")
    };
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].kind, ProjectionKind::Path(path(&["deviceId"])));
    assert_eq!(items[1].alias.as_deref(), Some("s"));
    assert_eq!(
        items[2].kind,
        ProjectionKind::Path(path(&["properties", "reported", "temp"]))
    );
    assert!(!q.is_select_all());
}

#[test]
fn count_with_and_without_alias() {
    let q = iot("SELECT COUNT() AS n FROM devices");
    assert!(q.is_count());
    assert_eq!(q.count_name(), Some("n"));
    assert_eq!(q.aggregate_row(None, 3), json!({"n": 3}));
    assert_eq!(iot("SELECT COUNT() FROM devices").count_name(), Some("$1"));
    let q = adt("SELECT COUNT() FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:a;1')");
    assert_eq!(q.count_name(), Some("COUNT"));
    assert_eq!(q.aggregate_row(None, 12), json!({"COUNT": 12}));
    assert_eq!(
        adt("SELECT COUNT() AS total FROM RELATIONSHIPS").count_name(),
        Some("total")
    );
}

#[test]
fn group_by_with_count() {
    let q = iot(
        "SELECT properties.reported.fw AS fw, COUNT() AS numberOfDevices FROM devices GROUP BY properties.reported.fw",
    );
    assert_eq!(q.group_by(), &[path(&["properties", "reported", "fw"])]);
    let twin = device_twin();
    let b = q.bind(&twin);
    assert_eq!(q.group_key(&b), vec![Some(json!("1.2.3"))]);
    assert_eq!(
        q.aggregate_row(Some(&b), 4),
        json!({"fw": "1.2.3", "numberOfDevices": 4})
    );
    let missing = json!({"deviceId": "x"});
    assert_eq!(q.group_key(&q.bind(&missing)), vec![None]);
}

#[test]
fn parse_condition_for_job_query_conditions() {
    let c = parse_condition(
        "deviceId IN ['dev1', 'dev2'] AND tags.floor > 2",
        Dialect::IotHub,
    )
    .expect("parses");
    let twin = device_twin();
    assert!(c.matches(&c.bind(&twin), &NoModels));
    assert!(c.is_select_all());
    let other = json!({"deviceId": "dev3", "tags": {"floor": 5}});
    assert!(!c.matches(&c.bind(&other), &NoModels));
    let e = parse_condition("deviceId = 'a' deviceId", Dialect::IotHub).expect_err("trailing");
    assert_err(
        &e,
        "deviceId = 'a' deviceId",
        "deviceId",
        "end of condition",
    );
}

// ---- grammar: ADT -------------------------------------------------------------------------

#[test]
fn adt_from_with_alias_and_as() {
    let q = adt("SELECT * FROM DIGITALTWINS T WHERE T.$dtId = 'room1'");
    assert_eq!(q.alias(), Some("T"));
    let q = adt("SELECT R FROM RELATIONSHIPS AS R");
    assert_eq!(q.source(), Source::Relationships);
    assert_eq!(q.alias(), Some("R"));
    let q = adt("SELECT * FROM DIGITALTWINS");
    assert_eq!(q.alias(), None);
}

#[test]
fn adt_join_parsing() {
    let q = adt(
        "SELECT T, CT, R FROM DIGITALTWINS T JOIN CT RELATED T.contains R \
         JOIN D RELATED CT.hasDevice WHERE T.$dtId = 'floor1' AND R.since > 3",
    );
    assert_eq!(
        q.joins(),
        &[
            Join {
                alias: "CT".into(),
                source_alias: "T".into(),
                relationship_name: "contains".into(),
                relationship_alias: Some("R".into()),
            },
            Join {
                alias: "D".into(),
                source_alias: "CT".into(),
                relationship_name: "hasDevice".into(),
                relationship_alias: None,
            },
        ]
    );
}

#[test]
fn adt_five_joins_allowed_six_rejected() {
    let mut q = String::from("SELECT T FROM DIGITALTWINS T");
    let mut prev = "T".to_string();
    for i in 0..5 {
        q.push_str(&format!(" JOIN J{i} RELATED {prev}.rel"));
        prev = format!("J{i}");
    }
    assert_eq!(adt(&q).joins().len(), 5);
    q.push_str(" JOIN J5 RELATED J4.rel");
    let e = adt_err(&q);
    assert_err(&e, &q, "JOIN", "at most 5 JOINs");
}

#[test]
fn paths_with_dollar_brackets_and_indexes() {
    let q = adt("SELECT T.$dtId, T.$metadata.$model FROM DIGITALTWINS T");
    let Projection::Items(items) = q.projection() else {
        panic!()
    };
    assert_eq!(
        items[1].kind,
        ProjectionKind::Path(path(&["T", "$metadata", "$model"]))
    );
    let twin = device_twin();
    assert!(iot_matches("tags['my key'] = 'spaced'", &twin));
    assert!(iot_matches("tags[\"my key\"] = 'spaced'", &twin));
    assert!(iot_matches("tags.list[2] = 'three'", &twin));
    assert!(iot_matches("tags.list[0] = 1", &twin));
    assert!(!iot_matches("IS_DEFINED(tags.list[3])", &twin));
    // Keywords are fine as later path segments.
    assert!(!iot_matches("tags.from = 1", &twin));
}

#[test]
fn literals() {
    let twin = json!({"tags": {"s": "it's \"q\" \\ é\n", "i": -5, "f": 2.5e3, "h": 255, "b": false, "n": null}});
    assert!(iot_matches(r#"tags.s = 'it\'s "q" \\ \u00e9\n'"#, &twin));
    assert!(iot_matches(r#"tags.s = "it's \"q\" \\ é\n""#, &twin));
    assert!(iot_matches("tags.i = -5", &twin));
    assert!(iot_matches("tags.i = -5.0", &twin));
    assert!(iot_matches("tags.f = 2500", &twin));
    assert!(iot_matches("tags.f = 2.5E3", &twin));
    assert!(iot_matches("tags.h = 0xFF", &twin));
    assert!(iot_matches("tags.b = FALSE", &twin));
    assert!(iot_matches("tags.n = NULL", &twin));
    assert!(iot_matches("tags.missing = undefined OR true", &twin));
    assert!(!iot_matches("tags.i = undefined", &twin));
    assert!(iot_matches("tags.f > .5", &twin));
}

// ---- precedence ---------------------------------------------------------------------------

#[test]
fn precedence_not_over_and_over_or() {
    let q = iot("SELECT * FROM devices WHERE a = 1 OR b = 2 AND NOT c = 3");
    let cmp = |n: &str, v: i64| Box::new(Expr::Compare(CompareOp::Eq, p(&[n]), lit(json!(v))));
    assert_eq!(
        q.filter(),
        Some(&Expr::Or(
            cmp("a", 1),
            Box::new(Expr::And(cmp("b", 2), Box::new(Expr::Not(cmp("c", 3)))))
        ))
    );
    let q = iot("SELECT * FROM devices WHERE NOT a = 1 AND b = 2");
    assert_eq!(
        q.filter(),
        Some(&Expr::And(Box::new(Expr::Not(cmp("a", 1))), cmp("b", 2)))
    );
    let q = iot("SELECT * FROM devices WHERE (a = 1 OR b = 2) AND c = 3");
    assert_eq!(
        q.filter(),
        Some(&Expr::And(
            Box::new(Expr::Or(cmp("a", 1), cmp("b", 2))),
            cmp("c", 3)
        ))
    );
}

#[test]
fn precedence_observed_in_evaluation() {
    let doc = json!({"a": 1, "b": 0, "c": 0});
    // OR binds looser than AND: true OR (false AND …) is true.
    assert!(iot_matches("a = 1 OR b = 1 AND c = 1", &doc));
    // With parentheses the AND wins: (true OR false) AND false.
    assert!(!iot_matches("(a = 1 OR b = 1) AND c = 1", &doc));
    // NOT applies to the comparison only, not to the AND.
    assert!(iot_matches("NOT b = 1 AND a = 1", &doc));
    assert!(!iot_matches("NOT (b = 0 AND a = 1)", &doc));
    assert!(iot_matches("NOT NOT a = 1", &doc));
}

#[test]
fn iot_arithmetic_precedence_and_values() {
    let q = iot("SELECT * FROM devices WHERE a + b * c = 7");
    assert_eq!(
        q.filter(),
        Some(&Expr::Compare(
            CompareOp::Eq,
            Box::new(Expr::Arith(
                ArithOp::Add,
                p(&["a"]),
                Box::new(Expr::Arith(ArithOp::Mul, p(&["b"]), p(&["c"])))
            )),
            lit(json!(7))
        ))
    );
    let doc = json!({"a": 1, "b": 2, "c": 3, "t": 21.5, "s": "x"});
    assert!(iot_matches("a + b * c = 7", &doc));
    assert!(iot_matches("(a + b) * c = 9", &doc));
    assert!(iot_matches("c / b = 1.5", &doc));
    assert!(iot_matches("c % b = 1", &doc));
    assert!(iot_matches("t * 2 = 43", &doc));
    assert!(iot_matches("-a = -1", &doc));
    assert!(iot_matches("a - -1 = 2", &doc));
    // Division by zero and non-numbers are undefined, so neither = nor != holds.
    assert!(!iot_matches("a / 0 = 0", &doc));
    assert!(!iot_matches("a / 0 != 0", &doc));
    assert!(!iot_matches("s + 1 = 1", &doc));
}

// ---- comparison semantics -----------------------------------------------------------------

#[test]
fn numbers_compare_numerically_across_int_and_float() {
    let twin = device_twin();
    assert!(iot_matches("properties.reported.temp = 21", &twin));
    assert!(iot_matches("properties.reported.temp >= 21", &twin));
    assert!(iot_matches("properties.reported.temp < 21.5", &twin));
    assert!(iot_matches("tags.floor > 2.9", &twin));
    assert!(iot_matches("tags.floor <= 3", &twin));
    assert!(!iot_matches("tags.floor < 3", &twin));
    assert!(iot_matches("tags.ratio = 0.5", &twin));
    // Exact for big integers (f64 would round these equal).
    let big = json!({"n": 9007199254740993_i64});
    assert!(!iot_matches("n = 9007199254740992", &big));
    assert!(iot_matches("n > 9007199254740992", &big));
}

#[test]
fn strings_compare_ordinally() {
    let doc = json!({"s": "B", "t": "abc"});
    assert!(iot_matches("s < 'a'", &doc)); // 'B' (0x42) sorts before 'a' (0x61)
    assert!(iot_matches("t < 'abd'", &doc));
    assert!(iot_matches("t > 'ab'", &doc));
    assert!(!iot_matches("t = 'ABC'", &doc));
    assert!(iot_matches("t >= 'abc' AND t <= 'abc'", &doc));
}

#[test]
fn type_mismatch_is_not_true_and_not_an_error() {
    let twin = device_twin();
    assert!(!iot_matches("tags.floor = '3'", &twin));
    assert!(!iot_matches("tags.floor != '3'", &twin));
    assert!(!iot_matches("tags.floor < 'z'", &twin));
    assert!(!iot_matches("tags.site > 1", &twin));
    assert!(!iot_matches("tags.enabled = 1", &twin));
    assert!(!iot_matches("tags.enabled < true", &twin));
    // Objects and arrays are not comparable.
    assert!(!iot_matches("tags.location = tags.location", &twin));
    assert!(!iot_matches("tags.list != 1", &twin));
    // Three-valued logic: NOT of an incomparable comparison is still not true.
    assert!(!iot_matches("NOT tags.floor = '3'", &twin));
    // … but it does not poison an OR whose other side is true.
    assert!(iot_matches("tags.floor = '3' OR tags.floor = 3", &twin));
    assert!(!iot_matches("tags.floor = '3' AND tags.floor = 3", &twin));
}

#[test]
fn undefined_paths_are_not_equal_to_anything() {
    let twin = device_twin();
    assert!(!iot_matches("tags.missing = 1", &twin));
    assert!(!iot_matches("tags.missing != 1", &twin));
    assert!(!iot_matches("tags.missing = null", &twin));
    assert!(!iot_matches("NOT tags.missing = 1", &twin));
    assert!(!iot_matches("tags.site.deeper = 1", &twin));
    assert!(!iot_matches("tags.missing.deeper = 1", &twin));
    assert!(iot_matches("NOT IS_DEFINED(tags.missing)", &twin));
}

#[test]
fn null_equals_only_null() {
    let twin = device_twin();
    assert!(iot_matches("tags.nothing = null", &twin));
    assert!(!iot_matches("tags.nothing != null", &twin));
    assert!(iot_matches("tags.site != null", &twin));
    assert!(!iot_matches("tags.site = null", &twin));
    assert!(!iot_matches("tags.nothing < 1", &twin));
    assert!(iot_matches("IS_NULL(tags.nothing)", &twin));
    assert!(!iot_matches("IS_NULL(tags.missing)", &twin));
    assert!(iot_matches("IS_DEFINED(tags.nothing)", &twin));
}

#[test]
fn only_boolean_true_passes_a_filter() {
    let twin = device_twin();
    assert!(iot_matches("tags.enabled", &twin));
    assert!(!iot_matches("tags.site", &twin));
    assert!(!iot_matches("tags.floor", &twin));
    assert!(!iot_matches("tags.nothing", &twin));
    assert!(!iot_matches("tags.missing", &twin));
    assert!(iot_matches("true", &twin));
    assert!(!iot_matches("false", &twin));
    assert!(!iot_matches("NOT tags.site", &twin));
}

#[test]
fn in_and_nin() {
    let twin = device_twin();
    assert!(iot_matches("tags.site IN ['Redmond43', 'Other']", &twin));
    assert!(iot_matches("tags.site IN ('x', 'Redmond43')", &twin));
    assert!(!iot_matches("tags.site IN ['x']", &twin));
    assert!(iot_matches("tags.floor IN [1, 3.0]", &twin));
    assert!(iot_matches("tags.site NIN ['x', 'y']", &twin));
    assert!(iot_matches("tags.site NOT IN ['x', 'y']", &twin));
    assert!(!iot_matches("tags.site NIN ['Redmond43']", &twin));
    assert!(!iot_matches("tags.site IN []", &twin));
    assert!(iot_matches("tags.site NIN []", &twin));
    assert!(iot_matches("tags.nothing IN [null]", &twin));
    // A value of another type is simply not in the list.
    assert!(iot_matches("tags.floor NIN ['3']", &twin));
    assert!(!iot_matches("tags.floor IN ['3']", &twin));
    // Undefined is neither in nor out.
    assert!(!iot_matches("tags.missing IN ['x']", &twin));
    assert!(!iot_matches("tags.missing NIN ['x']", &twin));
    assert!(adt_matches("T.$dtId IN ['room1', 'room2']", &adt_twin()));
    assert!(adt_matches("T.name NIN ['Room 2']", &adt_twin()));
}

#[test]
fn type_check_functions() {
    let twin = device_twin();
    let cases = [
        ("IS_BOOL(tags.enabled)", true),
        ("IS_BOOL(tags.site)", false),
        ("IS_NUMBER(tags.floor)", true),
        ("IS_NUMBER(tags.ratio)", true),
        ("IS_NUMBER(tags.site)", false),
        ("IS_STRING(tags.site)", true),
        ("IS_STRING(tags.missing)", false),
        ("IS_OBJECT(tags.location)", true),
        ("IS_OBJECT(tags.list)", false),
        ("IS_ARRAY(tags.list)", true),
        ("IS_PRIMITIVE(tags.nothing)", true),
        ("IS_PRIMITIVE(tags.site)", true),
        ("IS_PRIMITIVE(tags.location)", false),
        ("IS_PRIMITIVE(tags.missing)", false),
        ("IS_DEFINED(properties.reported.temp)", true),
        ("IS_DEFINED(properties.reported.humidity)", false),
    ];
    for (cond, want) in cases {
        assert_eq!(iot_matches(cond, &twin), want, "{cond}");
    }
}

#[test]
fn string_functions() {
    let twin = device_twin();
    assert!(iot_matches("STARTSWITH(tags.site, 'Red')", &twin));
    assert!(!iot_matches("STARTSWITH(tags.site, 'red')", &twin));
    assert!(iot_matches("ENDSWITH(tags.site, '43')", &twin));
    assert!(iot_matches("STARTS_WITH(deviceId, 'dev')", &twin));
    assert!(iot_matches("ENDS_WITH(deviceId, '1')", &twin));
    assert!(!iot_matches("STARTSWITH(tags.floor, '3')", &twin));
    assert!(!iot_matches("NOT STARTSWITH(tags.missing, 'x')", &twin));
    let t = adt_twin();
    assert!(adt_matches("CONTAINS(T.name, 'oom')", &t));
    assert!(!adt_matches("CONTAINS(T.name, 'xyz')", &t));
    assert!(adt_matches("STARTSWITH(T.$dtId, 'room')", &t));
    assert!(adt_matches("ENDSWITH(T.$metadata.$model, ';1')", &t));
    assert!(adt_matches("ARRAY_CONTAINS(T.tags, 'b')", &t));
    assert!(!adt_matches("ARRAY_CONTAINS(T.tags, 'c')", &t));
    assert!(!adt_matches("ARRAY_CONTAINS(T.name, 'R')", &t));
}

#[test]
fn is_of_model_calls_the_context_with_alias_model_and_exact() {
    let t = adt_twin();
    assert!(adt_matches("IS_OF_MODEL('dtmi:example:Room;1')", &t));
    assert!(adt_matches("IS_OF_MODEL(T, 'dtmi:example:Space;1')", &t));
    assert!(!adt_matches(
        "IS_OF_MODEL(T, 'dtmi:example:Space;1', exact)",
        &t
    ));
    assert!(adt_matches("IS_OF_MODEL('dtmi:example:Room;1', exact)", &t));
    assert!(!adt_matches("IS_OF_MODEL('dtmi:example:Floor;1')", &t));
    let q = adt("SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:example:Room;1', exact)");
    assert_eq!(
        q.filter(),
        Some(&Expr::IsOfModel {
            alias: None,
            model: "dtmi:example:Room;1".into(),
            exact: true
        })
    );
    // The callback sees exactly the arguments of the query.
    let seen = std::cell::RefCell::new(Vec::new());
    let spy = |twin: &Value, model: &str, exact: bool| {
        seen.borrow_mut()
            .push((twin["$dtId"].clone(), model.to_owned(), exact));
        true
    };
    let q = adt(
        "SELECT CT FROM DIGITALTWINS T JOIN CT RELATED T.contains WHERE IS_OF_MODEL(CT, 'dtmi:x;1', exact)",
    );
    let target = json!({"$dtId": "child"});
    let b = Bindings::new().with("T", &t).with("CT", &target);
    assert!(q.matches(&b, &spy));
    assert_eq!(
        seen.into_inner(),
        vec![(json!("child"), "dtmi:x;1".to_owned(), true)]
    );
    // NoModels answers from the twin's own model, without inheritance.
    let q = adt("SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:example:Room;1')");
    assert!(q.matches(&q.bind(&t), &NoModels));
}

#[test]
fn iot_top_level_properties_are_case_insensitive_but_nested_keys_are_not() {
    let twin = device_twin();
    assert!(iot_matches("DeviceId = 'dev1'", &twin));
    assert!(iot_matches("TAGS.site = 'Redmond43'", &twin));
    assert!(!iot_matches("tags.Site = 'Redmond43'", &twin));
    let q = iot("SELECT DeviceId, LastActivityTime FROM devices");
    assert_eq!(
        q.project(&q.bind(&twin)),
        json!({"deviceId": "dev1", "lastActivityTime": "0001-01-01T00:00:00Z"})
    );
}

#[test]
fn adt_is_case_sensitive() {
    let t = adt_twin();
    assert!(adt_matches("T.name = 'Room 1'", &t));
    assert!(!adt_matches("T.Name = 'Room 1'", &t));
    assert!(!adt_matches("T.name = 'room 1'", &t));
    // The alias is case-sensitive too: `t.name` is read from the twin as a property `t`.
    assert!(!adt_matches("t.name = 'Room 1'", &t));
    // Without alias, bare paths read the twin.
    let q = adt("SELECT * FROM DIGITALTWINS WHERE $dtId = 'room1' AND temperature > 60");
    assert!(q.matches(&q.bind(&t), &models));
}

#[test]
fn iot_source_name_prefixes_resolve() {
    let job = json!({"deviceId": "dev1", "jobId": "j1", "status": "completed", "jobType": "scheduleUpdateTwin"});
    let q = iot(
        "SELECT * FROM devices.jobs WHERE devices.jobs.status = 'completed' AND devices.jobs.jobId = 'j1'",
    );
    assert!(q.matches(&q.bind(&job), &NoModels));
    let q = iot("SELECT * FROM devices.jobs WHERE devices.jobs.status = 'failed'");
    assert!(!q.matches(&q.bind(&job), &NoModels));
    let module = json!({"deviceId": "d", "moduleId": "m", "tags": {"a": 1}});
    let q =
        iot("SELECT * FROM devices.modules WHERE moduleId = 'm' AND devices.modules.tags.a = 1");
    assert!(q.matches(&q.bind(&module), &NoModels));
}

// ---- projections --------------------------------------------------------------------------

#[test]
fn select_star_projects_the_document() {
    let twin = device_twin();
    let q = iot("SELECT * FROM devices");
    assert_eq!(q.project(&q.bind(&twin)), twin);
    let t = adt_twin();
    let q = adt("SELECT * FROM DIGITALTWINS T");
    assert_eq!(q.project(&q.bind(&t)), t);
    // Bindings without a default document: the FROM alias's document.
    assert_eq!(q.project(&Bindings::new().with("T", &t)), t);
}

#[test]
fn iot_projection_names_and_undefined_columns() {
    let twin = device_twin();
    let q = iot(
        "SELECT deviceId, tags.site AS s, properties.reported.temp, tags.missing, tags.list[1] FROM devices",
    );
    assert_eq!(
        q.project(&q.bind(&twin)),
        json!({"deviceId": "dev1", "s": "Redmond43", "temp": 21.0, "list": 2})
    );
}

#[test]
fn adt_projection_of_aliases_and_properties() {
    let t = adt_twin();
    let ct = json!({"$dtId": "child", "name": "Child"});
    let r = json!({"$relationshipId": "r1", "$sourceId": "room1", "$targetId": "child", "$relationshipName": "contains"});
    let q = adt(
        "SELECT T.$dtId, CT.name AS childName, R, T.missing FROM DIGITALTWINS T JOIN CT RELATED T.contains R",
    );
    let b = Bindings::new().with("T", &t).with("CT", &ct).with("R", &r);
    assert_eq!(
        q.project(&b),
        json!({"$dtId": "room1", "childName": "Child", "R": r})
    );
    let q = adt("SELECT T FROM DIGITALTWINS T");
    assert_eq!(q.project(&q.bind(&t)), json!({"T": t}));
    let q = adt("SELECT T.name, T.temperature AS temp FROM DIGITALTWINS T");
    assert_eq!(
        q.project(&q.bind(&t)),
        json!({"name": "Room 1", "temp": 70})
    );
}

#[test]
fn adt_join_filter_over_bindings() {
    let floor = json!({"$dtId": "floor1", "$metadata": {"$model": "dtmi:example:Floor;1"}});
    let room = adt_twin();
    let rel = json!({"$relationshipId": "r1", "$relationshipName": "contains", "since": 5});
    let q = adt(
        "SELECT T, CT FROM DIGITALTWINS T JOIN CT RELATED T.contains R \
         WHERE T.$dtId = 'floor1' AND R.since > 3 AND IS_OF_MODEL(CT, 'dtmi:example:Space;1')",
    );
    let b = Bindings::new()
        .with("T", &floor)
        .with("CT", &room)
        .with("R", &rel);
    assert!(q.matches(&b, &models));
    let old = json!({"$relationshipName": "contains", "since": 1});
    let b = Bindings::new()
        .with("T", &floor)
        .with("CT", &room)
        .with("R", &old);
    assert!(!q.matches(&b, &models));
    assert_eq!(Bindings::new().with("T", &floor).get("T"), Some(&floor));
    assert_eq!(Bindings::new().with("T", &floor).get("t"), None);
}

#[test]
fn evaluate_exposes_expression_values() {
    let q = iot("SELECT * FROM devices WHERE tags.floor * 2 = 6");
    let twin = device_twin();
    let b = q.bind(&twin);
    let Some(Expr::Compare(_, left, _)) = q.filter() else {
        panic!()
    };
    assert_eq!(q.evaluate(left, &b, &NoModels), Some(json!(6)));
    assert_eq!(
        q.evaluate(&Expr::Path(path(&["tags", "nope"])), &b, &NoModels),
        None
    );
}

// ---- errors -------------------------------------------------------------------------------

#[test]
fn error_misspelled_from() {
    let q = "SELECT * FORM devices";
    let e = iot_err(q);
    assert_err(&e, q, "FORM", "expected FROM");
    assert_eq!(e.position, 9);
    assert_eq!(
        e.to_string(),
        "Syntax error at position 9 near 'FORM': expected FROM"
    );
}

#[test]
fn error_misspelled_where() {
    let q = "SELECT * FROM devices WHER tags.x = 1";
    assert_err(&iot_err(q), q, "WHER", "expected WHERE");
    let q = "SELECT * FROM DIGITALTWINS WHER T.x = 1";
    // ADT takes an alias here, so the error comes at the next word.
    assert_err(&adt_err(q), q, "T", "expected JOIN, WHERE or end of query");
}

#[test]
fn error_missing_projection() {
    let q = "SELECT FROM devices";
    assert_err(&iot_err(q), q, "FROM", "expected a projection");
}

#[test]
fn error_unterminated_string() {
    let q = "SELECT * FROM devices WHERE tags.x = 'abc";
    assert_err(&iot_err(q), q, "'abc", "unterminated string");
}

#[test]
fn error_missing_operand_at_end() {
    let q = "SELECT * FROM devices WHERE tags.x =";
    let e = iot_err(q);
    assert_err(&e, q, "", "expected a value");
    assert_eq!(
        e.to_string(),
        format!(
            "Syntax error at position {} at end of query: expected a value: a constant, a property path, a function call or '('",
            q.len()
        )
    );
}

#[test]
fn error_unbalanced_parenthesis() {
    let q = "SELECT * FROM devices WHERE (tags.x = 1";
    assert_err(&iot_err(q), q, "", "expected ')'");
    let q = "SELECT * FROM devices WHERE tags.x = 1)";
    assert_err(&iot_err(q), q, ")", "expected an operator");
}

#[test]
fn error_in_without_list() {
    let q = "SELECT * FROM devices WHERE tags.x IN 'a'";
    assert_err(&iot_err(q), q, "'a'", "expected '[' or '('");
    let q = "SELECT * FROM devices WHERE tags.x IN ['a' 'b']";
    assert_err(&iot_err(q), q, "'b'", "expected ',' or ']'");
    let q = "SELECT * FROM devices WHERE tags.x IN ['a', tags.y]";
    assert_err(&iot_err(q), q, "tags", "constants only");
}

#[test]
fn error_bad_top() {
    let q = "SELECT TOP x * FROM devices";
    assert_err(&iot_err(q), q, "x", "non-negative integer after TOP");
    let q = "SELECT TOP(5 * FROM DIGITALTWINS";
    assert_err(&adt_err(q), q, "*", "expected ')'");
    let q = "SELECT TOP -1 * FROM devices";
    assert_err(&iot_err(q), q, "-", "non-negative integer");
}

#[test]
fn error_unknown_function_and_arity() {
    let q = "SELECT * FROM devices WHERE FOO(tags.x)";
    assert_err(&iot_err(q), q, "FOO", "unknown function 'FOO'");
    let q = "SELECT * FROM devices WHERE IS_DEFINED(tags.x, tags.y)";
    assert_err(
        &iot_err(q),
        q,
        "IS_DEFINED",
        "IS_DEFINED takes 1 argument, got 2",
    );
    let q = "SELECT * FROM devices WHERE STARTSWITH(tags.x)";
    assert_err(&iot_err(q), q, "STARTSWITH", "takes 2 arguments, got 1");
    let q = "SELECT * FROM devices WHERE COUNT() > 1";
    assert_err(&iot_err(q), q, "COUNT", "only appear in the SELECT list");
    let q = "SELECT AVG(tags.x) FROM devices";
    assert_err(&iot_err(q), q, "AVG", "AVG() is not supported");
}

#[test]
fn error_unexpected_character_and_bad_escape() {
    let q = "SELECT * FROM devices WHERE tags.x = 1 # comment";
    assert_err(&iot_err(q), q, "#", "unexpected character '#'");
    let q = r"SELECT * FROM devices WHERE tags.x = 'a\qb'";
    assert_err(&iot_err(q), q, r"\q", "invalid escape sequence");
    let q = r"SELECT * FROM devices WHERE tags.x = '\u12'";
    assert_err(&iot_err(q), q, r"\u12'", "expected 4 hexadecimal digits");
    let q = "SELECT * FROM devices WHERE tags.x = 12abc";
    assert_err(&iot_err(q), q, "12abc", "malformed number");
}

#[test]
fn error_positions_count_characters_not_bytes() {
    let q = "SELECT * FROM devices WHERE tags.é = 'ü' AND #";
    let e = iot_err(q);
    assert_eq!(e.position, q.chars().count() - 1);
    assert_eq!(e.near, "#");
}

#[test]
fn error_unknown_source() {
    let q = "SELECT * FROM things";
    assert_err(
        &iot_err(q),
        q,
        "things",
        "expected devices, devices.modules or devices.jobs",
    );
    let q = "SELECT * FROM devices.twins";
    assert_err(
        &iot_err(q),
        q,
        "twins",
        "expected devices, devices.modules or devices.jobs",
    );
    let q = "SELECT * FROM twins";
    assert_err(
        &adt_err(q),
        q,
        "twins",
        "expected DIGITALTWINS or RELATIONSHIPS",
    );
}

#[test]
fn error_doubled_quote_is_not_an_escape() {
    let q = "SELECT * FROM devices WHERE tags.a = 'it''s'";
    assert_err(&iot_err(q), q, "'s'", "expected an operator");
}

#[test]
fn error_empty_and_not_a_select() {
    assert_err(&iot_err(""), "", "", "expected SELECT");
    let q = "DELETE FROM devices";
    assert_err(&iot_err(q), q, "DELETE", "expected SELECT");
}

#[test]
fn error_projection_list_problems() {
    let q = "SELECT deviceId tags.x FROM devices";
    assert_err(&iot_err(q), q, "tags", "expected ',' or FROM");
    let q = "SELECT tags.a.x, tags.b.x FROM devices";
    assert_err(&iot_err(q), q, "tags", "both named 'x'");
    let q = "SELECT COUNT(x) FROM devices";
    assert_err(&iot_err(q), q, "x", "COUNT takes no arguments");
    let q = "SELECT deviceId, COUNT() FROM devices";
    assert_err(&iot_err(q), q, "COUNT", "add GROUP BY");
    let q = "SELECT T, COUNT() FROM DIGITALTWINS T";
    assert_err(&adt_err(q), q, "COUNT", "COUNT() cannot be combined");
    let q = "SELECT deviceId FROM devices.jobs";
    assert_err(&iot_err(q), q, "deviceId", "only SELECT *");
    let q = "SELECT * FROM devices GROUP BY tags.x";
    assert_err(&iot_err(q), q, "*", "GROUP BY needs COUNT()");
    let q = "SELECT * FROM devices WHERE tags. = 1";
    assert_err(&iot_err(q), q, "=", "expected a property name after '.'");
}

#[test]
fn error_join_problems() {
    let q = "SELECT T FROM DIGITALTWINS T JOIN CT RELATED X.contains";
    assert_err(&adt_err(q), q, "X", "unknown alias 'X'");
    let q = "SELECT * FROM DIGITALTWINS T JOIN CT RELATED T.contains";
    assert_err(&adt_err(q), q, "*", "SELECT * is not allowed with JOIN");
    let q = "SELECT CT FROM DIGITALTWINS JOIN CT RELATED T.contains";
    assert_err(&adt_err(q), q, "JOIN", "JOIN needs an alias");
    let q = "SELECT T FROM DIGITALTWINS T JOIN T RELATED T.contains";
    let e = adt_err(q);
    assert!(e.message.contains("alias 'T' is declared twice"), "{e}");
    assert_eq!((e.position, e.near.as_str()), (34, "T"));
    let q = "SELECT T FROM DIGITALTWINS T JOIN CT T.contains";
    assert_err(&adt_err(q), q, "T", "expected RELATED");
    let q = "SELECT X.name FROM DIGITALTWINS T JOIN CT RELATED T.contains";
    assert_err(&adt_err(q), q, "X", "unknown alias 'X' in projection");
    let q = "SELECT R FROM RELATIONSHIPS R JOIN CT RELATED R.contains";
    assert_err(&adt_err(q), q, "JOIN", "JOIN needs FROM DIGITALTWINS");
    let q = "SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL(X, 'dtmi:a;1')";
    assert_err(&adt_err(q), q, "X", "unknown alias 'X' in IS_OF_MODEL");
    let q = "SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 42)";
    assert_err(&adt_err(q), q, "42", "model id as a string");
    let q = "SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL('dtmi:a;1', inexact)";
    assert_err(&adt_err(q), q, "inexact", "expected exact");
}

// ---- dialect restrictions -----------------------------------------------------------------

#[test]
fn iot_rejects_adt_constructs() {
    let q = "SELECT * FROM DIGITALTWINS";
    assert_err(&iot_err(q), q, "DIGITALTWINS", "Azure Digital Twins source");
    let q = "SELECT * FROM devices d";
    assert_err(&iot_err(q), q, "d", "do not take a source alias");
    let q = "SELECT * FROM devices JOIN x RELATED devices.y";
    assert_err(
        &iot_err(q),
        q,
        "JOIN",
        "JOIN is not supported in IoT Hub queries",
    );
    let q = "SELECT * FROM devices WHERE IS_OF_MODEL('dtmi:a;1')";
    assert_err(
        &iot_err(q),
        q,
        "IS_OF_MODEL",
        "not supported in IoT Hub queries",
    );
    let q = "SELECT * FROM devices WHERE CONTAINS(tags.x, 'a')";
    assert_err(
        &iot_err(q),
        q,
        "CONTAINS",
        "CONTAINS is not supported in IoT Hub queries",
    );
    let q = "SELECT * FROM devices WHERE ARRAY_CONTAINS(tags.x, 'a')";
    assert_err(
        &iot_err(q),
        q,
        "ARRAY_CONTAINS",
        "not supported in IoT Hub queries",
    );
    let q = "SELECT COUNT() FROM devices.modules GROUP BY tags.x";
    assert_err(&iot_err(q), q, "GROUP", "only supported on FROM devices");
}

#[test]
fn adt_rejects_iot_constructs() {
    let q = "SELECT * FROM devices";
    assert_err(&adt_err(q), q, "devices", "IoT Hub source");
    let q = "SELECT * FROM DIGITALTWINS T WHERE T.a + 1 = 2";
    assert_err(
        &adt_err(q),
        q,
        "+",
        "arithmetic operators are not supported",
    );
    let q = "SELECT * FROM DIGITALTWINS T WHERE -T.a = 2";
    assert_err(
        &adt_err(q),
        q,
        "-",
        "arithmetic operators are not supported",
    );
    let q = "SELECT COUNT() FROM DIGITALTWINS T GROUP BY T.a";
    assert_err(&adt_err(q), q, "GROUP", "GROUP BY is not supported");
    let q = "SELECT * FROM DIGITALTWINS T WHERE IS_ARRAY(T.a)";
    assert_err(
        &adt_err(q),
        q,
        "IS_ARRAY",
        "not supported in Azure Digital Twins queries",
    );
    let q = "SELECT * FROM DIGITALTWINS T WHERE STARTS_WITH(T.a, 'x')";
    assert_err(&adt_err(q), q, "STARTS_WITH", "unknown function");
    let q = "SELECT * FROM DIGITALTWINS T WHERE T.a = undefined";
    assert_err(&adt_err(q), q, "undefined", "expected a value");
    let list: Vec<String> = (0..101).map(|i| format!("'v{i}'")).collect();
    let q = format!(
        "SELECT * FROM DIGITALTWINS T WHERE T.a IN [{}]",
        list.join(", ")
    );
    assert_err(&adt_err(&q), &q, "]", "at most 100 values");
    // Negative number literals are fine in ADT: the minus folds into the constant.
    assert!(adt_matches("T.temperature > -5", &adt_twin()));
}

// ---- printing -----------------------------------------------------------------------------

#[test]
fn display_round_trips_a_table_of_queries() {
    let table: &[(&str, Dialect)] = &[
        ("SELECT * FROM devices", Dialect::IotHub),
        (
            "select top 3 deviceId, tags.site as s from devices where tags.a = 'it\\'s' or not tags.b in ('x', 1, 2.5, null, true)",
            Dialect::IotHub,
        ),
        (
            "SELECT COUNT() AS n FROM devices.modules WHERE IS_DEFINED(tags.x) AND STARTS_WITH(moduleId, 'm')",
            Dialect::IotHub,
        ),
        (
            "SELECT tags.site AS site, COUNT() AS c FROM devices WHERE tags['my key'] = 1 AND tags.l[2] > -1.5e-3 GROUP BY tags.site",
            Dialect::IotHub,
        ),
        (
            "SELECT * FROM devices.jobs WHERE devices.jobs.status = 'x' AND a + b * -c % 2 / 1 - 0x10 = undefined",
            Dialect::IotHub,
        ),
        (
            "SELECT TOP(10) T.$dtId, CT, R FROM DIGITALTWINS T JOIN CT RELATED T.contains R WHERE IS_OF_MODEL(CT, 'dtmi:a;1', exact) AND R.x NIN ['a\\'b\\\\c']",
            Dialect::DigitalTwins,
        ),
        (
            "SELECT * FROM RELATIONSHIPS R WHERE R.$sourceId = \"s\" AND CONTAINS(R.name, 'é') AND ARRAY_CONTAINS(R.list, 3)",
            Dialect::DigitalTwins,
        ),
        (
            "SELECT COUNT() FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:b;1') AND NOT (IS_NULL(x) OR IS_PRIMITIVE(y))",
            Dialect::DigitalTwins,
        ),
    ];
    for (text, dialect) in table {
        let q = parse(text, *dialect).unwrap_or_else(|e| panic!("{text}: {e}"));
        let printed = q.to_string();
        let again = parse(&printed, *dialect).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(q, again, "{text} → {printed}");
        assert_eq!(printed, again.to_string());
    }
}

/// Deterministic pseudo-random generator (xorshift) so the property test needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_value(r: &mut Rng) -> Value {
    match r.below(6) {
        0 => json!(r.below(1000) as i64 - 500),
        1 => json!((r.below(10_000) as f64) / 8.0 + 0.125),
        2 => json!(["a", "b'c", "d\\e", "fé", "\"q\""][r.below(5) as usize]),
        3 => json!(r.below(2) == 0),
        _ => Value::Null,
    }
}

fn random_path(r: &mut Rng) -> Path {
    let heads = ["tags", "properties", "deviceId", "a", "$x"];
    let mut segments = vec![Segment::Field(heads[r.below(5) as usize].into())];
    for _ in 0..r.below(3) {
        segments.push(match r.below(4) {
            0 => Segment::Index(r.below(3) as usize),
            1 => Segment::Field("with space".into()),
            2 => Segment::Field("from".into()),
            _ => Segment::Field("site".into()),
        });
    }
    Path { segments }
}

fn random_expr(r: &mut Rng, depth: u32) -> Expr {
    let leaf = depth == 0 || r.below(4) == 0;
    if leaf {
        return match r.below(3) {
            0 => Expr::Literal(random_value(r)),
            _ => Expr::Path(random_path(r)),
        };
    }
    let sub = |r: &mut Rng| Box::new(random_expr(r, depth - 1));
    match r.below(9) {
        0 => Expr::Not(sub(r)),
        1 => Expr::And(sub(r), sub(r)),
        2 => Expr::Or(sub(r), sub(r)),
        3 => {
            let ops = [
                CompareOp::Eq,
                CompareOp::Ne,
                CompareOp::Lt,
                CompareOp::Le,
                CompareOp::Gt,
                CompareOp::Ge,
            ];
            Expr::Compare(ops[r.below(6) as usize], sub(r), sub(r))
        }
        4 => {
            let ops = [
                ArithOp::Add,
                ArithOp::Sub,
                ArithOp::Mul,
                ArithOp::Div,
                ArithOp::Rem,
            ];
            Expr::Arith(ops[r.below(5) as usize], sub(r), sub(r))
        }
        5 => Expr::In {
            expr: sub(r),
            list: (0..r.below(4)).map(|_| random_value(r)).collect(),
            negated: r.below(2) == 0,
        },
        6 => Expr::Call(Function::IsDefined, vec![random_expr(r, depth - 1)]),
        7 => Expr::Call(
            Function::StartsWith,
            vec![random_expr(r, depth - 1), random_expr(r, depth - 1)],
        ),
        _ => Expr::Neg(Box::new(Expr::Path(random_path(r)))),
    }
}

#[test]
fn random_expressions_print_and_parse_back_identically() {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let doc = json!({"tags": {"site": "a", "from": 1, "with space": [1, "b'c", null]}, "a": [true, 2.5], "deviceId": "d"});
    for _ in 0..500 {
        let expr = random_expr(&mut r, 4);
        let text = format!("SELECT * FROM devices WHERE {expr}");
        let q = iot(&text);
        assert_eq!(q.filter(), Some(&expr), "{text}");
        assert_eq!(q.to_string(), text);
        // Evaluation never panics and is deterministic.
        let b = q.bind(&doc);
        assert_eq!(q.matches(&b, &NoModels), q.matches(&b, &NoModels));
    }
}

#[test]
fn error_match_clause_is_named() {
    let q = "SELECT a, b FROM DIGITALTWINS MATCH (a)-[r:contains*1..3]->(b)";
    assert_err(
        &adt_err(q),
        q,
        "MATCH",
        "MATCH is not supported by the emulator",
    );
}

#[test]
fn longest_binding_name_wins_and_missing_bindings_are_undefined() {
    // `devices.jobs.x` resolves in the `devices.jobs` document, not in `devices` → `jobs`.
    let twin = json!({"jobs": {"x": "from twin"}});
    let job = json!({"x": "from job"});
    let q = iot("SELECT * FROM devices.jobs WHERE devices.jobs.x = 'from job'");
    let b = Bindings::new()
        .with("devices", &twin)
        .with("devices.jobs", &job);
    assert!(q.matches(&b, &NoModels));
    let b = Bindings::new()
        .with("devices.jobs", &job)
        .with("devices", &twin);
    assert!(q.matches(&b, &NoModels));
    // No default document and no matching alias: the path is undefined, the row does not match.
    let q = adt("SELECT CT FROM DIGITALTWINS T JOIN CT RELATED T.r WHERE CT.x = 1");
    let t = json!({"x": 1});
    assert!(!q.matches(&Bindings::new().with("T", &t), &models));
    assert!(q.matches(&Bindings::new().with("CT", &t), &models));
    assert_eq!(q.project(&Bindings::new()), json!({}));
}

#[test]
fn iot_query_length_limit() {
    let cond = "tags.x = 1 OR ".repeat(600);
    let long = format!("SELECT * FROM devices WHERE {cond}true");
    assert!(long.len() > IOTHUB_MAX_QUERY_CHARS);
    let e = iot_err(&long);
    assert!(
        e.message.contains("longer than the IoT Hub limit of 8192"),
        "{e}"
    );
    assert_eq!(e.position, 8192);
    // At the limit it parses; ADT has no such check here.
    let cond = "tags.x = 1 OR ".repeat(580);
    let ok = format!("SELECT * FROM devices WHERE {cond}true");
    let padded = format!("{ok}{}", " ".repeat(IOTHUB_MAX_QUERY_CHARS - ok.len()));
    assert_eq!(padded.len(), IOTHUB_MAX_QUERY_CHARS);
    iot(&padded);
    adt(&long.replace("FROM devices", "FROM DIGITALTWINS"));
}

#[test]
fn double_bracket_property_names_after_a_dot() {
    // The service's own configuration metric query.
    let q =
        iot("select deviceId from devices where configurations.[[config-1.x]].status = 'Applied'");
    let twin = json!({"deviceId": "d1", "configurations": {"config-1.x": {"status": "Applied"}}});
    assert!(q.matches(&q.bind(&twin), &NoModels));
    let other = json!({"deviceId": "d2", "configurations": {"config-2": {"status": "Applied"}}});
    assert!(!q.matches(&q.bind(&other), &NoModels));
    // Printed with a quoted segment, which parses back to the same tree.
    assert_eq!(iot(&q.to_string()), q);
    let bad = "SELECT * FROM devices WHERE configurations.[[abc.status = 'x'";
    assert_err(&iot_err(bad), bad, "[[abc.status = 'x'", "expected ]]");
    let bad = "SELECT * FROM devices WHERE configurations.[[]].status = 'x'";
    assert_err(&iot_err(bad), bad, "[[]]", "empty [[]] property name");
}

#[test]
fn random_token_soup_never_panics_and_accepted_queries_round_trip() {
    let words = [
        "SELECT",
        "TOP",
        "(",
        ")",
        "5",
        "*",
        "COUNT",
        "AS",
        "n",
        "FROM",
        "devices",
        ".",
        "modules",
        "jobs",
        "DIGITALTWINS",
        "RELATIONSHIPS",
        "T",
        "CT",
        "R",
        "JOIN",
        "RELATED",
        "contains",
        "WHERE",
        "GROUP",
        "BY",
        "AND",
        "OR",
        "NOT",
        "IN",
        "NIN",
        "[",
        "]",
        ",",
        "=",
        "!=",
        "<>",
        "<",
        "<=",
        ">",
        ">=",
        "+",
        "-",
        "/",
        "%",
        "'s'",
        "\"d\"",
        "1.5",
        "0x1F",
        "true",
        "null",
        "undefined",
        "IS_DEFINED",
        "IS_OF_MODEL",
        "exact",
        "STARTSWITH",
        "CONTAINS",
        "tags",
        "$dtId",
        "[[x-y]]",
        "'unterminated",
        "\\",
        "#",
        "é",
        "MATCH",
        ":",
    ];
    let mut r = Rng(0xD1B5_4A32_D192_ED03);
    let doc = json!({"tags": {"s": "s"}, "$dtId": "d", "T": {}});
    let mut accepted = 0;
    for i in 0..4000 {
        let mut text = String::new();
        if i % 2 == 0 {
            text.push_str(
                [
                    "SELECT * FROM devices WHERE ",
                    "SELECT T FROM DIGITALTWINS T WHERE ",
                ][i % 4 / 2],
            );
        }
        for _ in 0..r.below(12) + 1 {
            text.push_str(words[r.below(words.len() as u64) as usize]);
            text.push(' ');
        }
        for dialect in [Dialect::IotHub, Dialect::DigitalTwins] {
            match parse(&text, dialect) {
                Ok(q) => {
                    accepted += 1;
                    let again = parse(&q.to_string(), dialect)
                        .unwrap_or_else(|e| panic!("{text} → {q}: {e}"));
                    assert_eq!(again, q, "{text}");
                    let b = q.bind(&doc);
                    let _ = (q.matches(&b, &NoModels), q.project(&b));
                }
                Err(e) => {
                    assert!(!e.message.is_empty());
                    assert!(e.position <= text.chars().count(), "{text}: {e}");
                }
            }
        }
    }
    // The soup is mostly invalid, but some of it must parse for the round trip to mean anything.
    assert!(accepted > 20, "only {accepted} accepted");
}

/// The example of the module docs (kept compiled here: the module is private).
#[test]
fn module_doc_iothub_executor() -> Result<(), String> {
    let twins = [
        json!({"deviceId": "d1", "tags": {"site": "a"}}),
        json!({"deviceId": "d2", "tags": {"site": "b"}}),
    ];
    let q = parse(
        "SELECT deviceId FROM devices WHERE tags.site = 'a'",
        Dialect::IotHub,
    )
    .map_err(|e| e.to_string())?; // → HTTP 400 with this message
    assert_eq!(q.source(), Source::Devices);
    let matching = twins.iter().filter(|t| q.matches(&q.bind(t), &NoModels));
    let rows: Vec<_> = if q.is_count() {
        vec![q.aggregate_row(None, matching.count() as u64)]
    } else {
        let limit = q.top().map_or(usize::MAX, |n| n as usize);
        matching
            .take(limit)
            .map(|t| q.project(&q.bind(t)))
            .collect()
    };
    assert_eq!(rows, vec![json!({"deviceId": "d1"})]);
    Ok(())
}

/// The example of the module docs (kept compiled here: the module is private).
#[test]
fn module_doc_adt_executor() -> Result<(), String> {
    let floor = json!({"$dtId": "f1", "$metadata": {"$model": "dtmi:ex:Floor;1"}});
    let room = json!({"$dtId": "r1", "temp": 70, "$metadata": {"$model": "dtmi:ex:Room;1"}});
    let rel = json!({"$relationshipId": "x", "$sourceId": "f1", "$targetId": "r1",
                     "$relationshipName": "contains"});
    let q = parse(
        "SELECT T.$dtId, CT FROM DIGITALTWINS T JOIN CT RELATED T.contains R \
         WHERE IS_OF_MODEL(T, 'dtmi:ex:Floor;1') AND CT.temp > 60",
        Dialect::DigitalTwins,
    )
    .map_err(|e| e.to_string())?;
    // The executor knows model inheritance; here a model is only of itself.
    let is_of_model =
        |twin: &Value, model: &str, _exact: bool| twin["$metadata"]["$model"] == model;
    let join = &q.joins()[0]; // alias "CT", source_alias "T", relationship_name "contains"
    let mut rows = Vec::new();
    for t in [&floor, &room] {
        // For each relationship of `t` named `join.relationship_name`, bind its target.
        for (r, target) in [(&rel, &room)] {
            if r["$sourceId"] != t["$dtId"]
                || r["$relationshipName"] != join.relationship_name.as_str()
            {
                continue;
            }
            let mut b = Bindings::new()
                .with(q.alias().unwrap_or("T"), t)
                .with(join.alias.as_str(), target);
            if let Some(ra) = &join.relationship_alias {
                b = b.with(ra.as_str(), r);
            }
            if q.matches(&b, &is_of_model) {
                rows.push(q.project(&b));
            }
        }
    }
    assert_eq!(rows, vec![json!({"$dtId": "f1", "CT": room})]);
    Ok(())
}
