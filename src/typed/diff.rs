//! Diffs of typed values: null handling and the merge-patch (RFC 7386) diff used for IoT Hub
//! twins. The JSON Patch diff of ADT documents is
//! [`JsonPatch::diff_twin`](crate::digitaltwins::JsonPatch::diff_twin).

use serde_json::{Map, Value};

/// Removes `null` object members, recursively (array elements are kept as they are).
///
/// Typed values serialise `None` as `null` unless the field has
/// `#[serde(skip_serializing_if = "Option::is_none")]`; for twins an absent property and a
/// `null` one mean the same, and the typed operations send neither.
///
/// ```
/// use azure_twins::typed::strip_nulls;
/// use serde_json::json;
/// assert_eq!(strip_nulls(json!({"a": null, "b": {"c": null, "d": 1}, "e": [null]})),
///            json!({"b": {"d": 1}, "e": [null]}));
/// ```
pub fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// The JSON merge patch (RFC 7386) that turns the object `old` into the object `new`:
/// changed or new members with their new value, members of `old` missing from `new` as
/// `null` (which removes them), objects on both sides recursively; arrays are replaced whole.
/// Empty when nothing changed. `null` members in `new` are treated as absent.
///
/// ```
/// use azure_twins::typed::merge_patch_diff;
/// use serde_json::json;
/// let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "gone": true});
/// let new = json!({"a": 1, "b": {"c": 5, "d": 3}, "added": [1]});
/// assert_eq!(serde_json::Value::Object(merge_patch_diff(&old, &new)),
///            json!({"b": {"c": 5}, "gone": null, "added": [1]}));
/// ```
pub fn merge_patch_diff(old: &Value, new: &Value) -> Map<String, Value> {
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    diff_objects(old, new)
}

fn diff_objects(old: &Map<String, Value>, new: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, nv) in new {
        if nv.is_null() {
            continue;
        }
        match (old.get(k), nv) {
            (Some(ov), nv) if ov == nv => {}
            (Some(Value::Object(o)), Value::Object(n)) => {
                let d = diff_objects(o, n);
                if !d.is_empty() {
                    out.insert(k.clone(), Value::Object(d));
                }
            }
            (_, nv) => {
                out.insert(k.clone(), strip_nulls(nv.clone()));
            }
        }
    }
    for (k, ov) in old {
        if !ov.is_null() && new.get(k).is_none_or(Value::is_null) {
            out.insert(k.clone(), Value::Null);
        }
    }
    out
}
