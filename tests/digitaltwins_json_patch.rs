//! Property tests for `JsonPatch::diff`: applying the computed patch to the old document with an
//! independent RFC 6902 implementation (the `json-patch` crate) yields the new document.
#![cfg(feature = "digitaltwins")]

use azure_twins::digitaltwins::{JsonPatch, PatchOperation};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys include the characters JSON Pointer must escape and `$`-prefixed names.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("a/b".to_owned()),
        Just("~".to_owned()),
        Just("~1".to_owned()),
        Just("$metadata".to_owned()),
        "[a-z~/]{1,4}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z ]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), json_value(), 0..8)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn apply(doc: &Value, patch: &JsonPatch) -> Value {
    let ops: json_patch::Patch =
        serde_json::from_value(serde_json::to_value(patch).unwrap()).expect("valid RFC 6902");
    let mut out = doc.clone();
    json_patch::patch(&mut out, &ops).expect("patch applies");
    out
}

/// An `old` document and a `new` one derived from it by random edits, so the two share
/// structure (independent random documents would mostly differ at the top level).
fn related_pair() -> impl Strategy<Value = (Value, Value)> {
    (
        json_object(),
        json_object(),
        prop::collection::vec(any::<bool>(), 8),
    )
        .prop_map(|(old, other, keep)| {
            let mut new = old.as_object().unwrap().clone();
            for (i, (k, v)) in other.as_object().unwrap().iter().enumerate() {
                if keep[i % keep.len()] {
                    new.insert(k.clone(), v.clone());
                } else {
                    new.remove(k);
                }
            }
            (old, Value::Object(new))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn diff_round_trips(old in json_object(), new in json_object()) {
        let patch = JsonPatch::diff(&old, &new);
        prop_assert_eq!(apply(&old, &patch), new);
    }

    #[test]
    fn diff_round_trips_on_related_documents((old, new) in related_pair()) {
        let patch = JsonPatch::diff(&old, &new);
        prop_assert_eq!(apply(&old, &patch), new.clone());
        // Between two objects the root is never a target, and `replace` only targets members
        // present in `old` (the service rejects `replace` on absent members).
        for op in patch.operations() {
            prop_assert!(!op.path().as_str().is_empty());
            if let PatchOperation::Replace { path, .. } = op {
                let segments = path.segments().unwrap();
                let mut cur = &old;
                for s in &segments {
                    cur = cur.get(s.as_str()).expect("replace target exists in old");
                }
            }
        }
    }

    #[test]
    fn diff_of_equal_documents_is_empty(doc in json_value()) {
        prop_assert!(JsonPatch::diff(&doc, &doc).is_empty());
    }

    #[test]
    fn serialised_patch_reads_back(old in json_object(), new in json_object()) {
        let patch = JsonPatch::diff(&old, &new);
        let back = JsonPatch::try_from(serde_json::to_value(&patch).unwrap()).unwrap();
        prop_assert_eq!(back, patch);
    }
}

#[test]
fn diff_between_non_objects_replaces_the_root_and_validation_refuses_it() {
    let patch = JsonPatch::diff(&Value::from(1), &Value::from(2));
    assert_eq!(apply(&Value::from(1), &patch), Value::from(2));
    let err = patch.validate().unwrap_err();
    assert!(err.to_string().contains("patch[0].path"), "{err}");
}

#[test]
fn diff_twin_ignores_service_maintained_members() {
    let old = serde_json::json!({
        "$dtId": "r1", "$etag": "W/\"1\"", "t": 1,
        "$metadata": {"$model": "dtmi:x:R;1", "$lastUpdateTime": "2026-01-01T00:00:00Z",
                      "t": {"lastUpdateTime": "2026-01-01T00:00:00Z"}},
        "c": {"$metadata": {"$lastUpdateTime": "2026-01-01T00:00:00Z", "p": {"lastUpdateTime": "2026-01-01T00:00:00Z"}}, "p": 1}
    });
    let mut new = old.clone();
    new["$etag"] = "W/\"2\"".into();
    new["$metadata"]["$lastUpdateTime"] = "2026-02-01T00:00:00Z".into();
    new["c"]["$metadata"]["p"]["lastUpdateTime"] = "2026-02-01T00:00:00Z".into();
    new["c"]["p"] = 2.into();
    new["$metadata"]["t"]["sourceTime"] = "2026-02-01T00:00:00Z".into();
    let patch = JsonPatch::diff_twin(&old, &new);
    assert_eq!(
        patch.to_value(),
        serde_json::json!([
            {"op": "add", "path": "/$metadata/t/sourceTime", "value": "2026-02-01T00:00:00Z"},
            {"op": "replace", "path": "/c/p", "value": 2}
        ])
    );
    patch.validate().unwrap();
}
