//! Property tests for `JsonPatch::diff`: applying the computed patch to the old document with an
//! independent RFC 6902 implementation (the `json-patch` crate) yields the new document. And for
//! JSON Pointer escaping (`~0`/`~1`, RFC 6901): `Pointer` escapes and parses exactly as the
//! independent `jsonptr` crate (the one `json-patch` uses) does, and patch paths built from
//! unescaped names address those names when applied.
#![cfg(feature = "digitaltwins")]

use azure_twins::ErrorKind;
use azure_twins::digitaltwins::{JsonPatch, PatchOperation, Pointer};
use json_patch::jsonptr;
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

/// Pointer segments: the characters RFC 6901 escapes, escape look-alikes (`~01`, `~1`), empty
/// segments and arbitrary Unicode.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a~/01]{0,6}",
        Just("~01".to_owned()),
        Just("~1".to_owned()),
        Just("/".to_owned()),
        Just(String::new()),
        any::<String>(),
    ]
}

/// Objects nested along `segments` (unescaped names), the innermost one empty.
fn nest(segments: &[String]) -> Value {
    segments
        .iter()
        .rev()
        .fold(Value::Object(Map::new()), |inner, s| {
            let mut m = Map::new();
            m.insert(s.clone(), inner);
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn pointer_escaping_round_trips_and_matches_jsonptr(segs in prop::collection::vec(segment(), 0..5)) {
        let p = Pointer::from_segments(&segs);
        prop_assert_eq!(p.segments().unwrap(), segs.clone());
        let theirs = jsonptr::PointerBuf::from_tokens(segs.iter().map(String::as_str));
        prop_assert_eq!(p.as_str(), theirs.as_str());
        let decoded: Vec<String> = jsonptr::Pointer::parse(p.as_str())
            .unwrap()
            .tokens()
            .map(|t| t.decoded().into_owned())
            .collect();
        prop_assert_eq!(decoded, segs);
    }

    #[test]
    fn pointer_parsing_agrees_with_jsonptr(s in prop_oneof!["[/~01a]{0,10}", any::<String>()]) {
        let ours = Pointer::from(s.as_str()).segments();
        let theirs = jsonptr::Pointer::parse(&s);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: ours {:?}, jsonptr {:?}", s, ours, theirs);
        match (ours, theirs) {
            (Ok(segs), Ok(ptr)) => {
                let decoded: Vec<String> = ptr.tokens().map(|t| t.decoded().into_owned()).collect();
                prop_assert_eq!(&segs, &decoded);
                // Escaping is canonical: re-escaping the segments gives the same text.
                let again = Pointer::from_segments(&segs);
                prop_assert_eq!(again.as_str(), s.as_str());
            }
            (Err(e), _) => {
                prop_assert!(
                    matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "path"),
                    "{:?}", e
                );
                // A malformed path never leaves the machine: validation refuses it too.
                let err = JsonPatch::new().add(Pointer::from(s.as_str()), 1).validate().unwrap_err();
                prop_assert!(err.to_string().contains("patch[0].path"), "{}", err);
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn patch_paths_address_the_unescaped_names(
        segs in prop::collection::vec(segment(), 1..4),
        value in json_value(),
    ) {
        let doc = nest(&segs[..segs.len() - 1]);
        let path = Pointer::from_segments(&segs);
        // Through the wire form and the independent applier.
        let added = apply(&doc, &JsonPatch::new().add(path.clone(), value.clone()));
        let mut at = &added;
        for s in &segs {
            at = at.get(s.as_str()).expect("the unescaped name exists");
        }
        prop_assert_eq!(at, &value);
        let replaced = apply(&added, &JsonPatch::new().replace(path.clone(), Value::Null));
        prop_assert_eq!(replaced.pointer(path.as_str()), Some(&Value::Null));
        prop_assert_eq!(apply(&added, &JsonPatch::new().remove(path)), doc);
    }

    #[test]
    fn escaped_names_pass_validation_and_survive_the_wire_form(
        segs in prop::collection::vec("[a-z~/]{1,6}", 1..4),
    ) {
        let patch = JsonPatch::new().add(Pointer::from_segments(&segs), 1);
        prop_assert!(patch.validate().is_ok(), "{:?}", patch.validate());
        let back = JsonPatch::try_from(patch.to_value()).unwrap();
        prop_assert_eq!(back.operations()[0].path().segments().unwrap(), segs);
    }
}
