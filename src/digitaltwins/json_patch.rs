//! JSON Patch (RFC 6902) documents for Azure Digital Twins: [`JsonPatch`] and [`Pointer`].
//!
//! Digital twins, components and relationships are updated with a JSON Patch document sent as
//! `application/json-patch+json`. Two things trip people up with the official SDKs (see the
//! Azure docs issue MicrosoftDocs/azure-docs#79990 and digital-twins-explorer#90):
//!
//! * `replace` on a property the twin does not have yet is rejected; `add` works whether the
//!   property exists or not. [`JsonPatch::diff`] therefore emits `add` for new members and
//!   `replace` only for members that exist on both sides.
//! * Property names containing `/` or `~` must be escaped in the path (`~1`, `~0`). Build paths
//!   with [`Pointer`] (or the `*_property` helpers) and never think about it again.
//!
//! Only `add`, `replace` and `remove` exist here: the service rejects `move`, `copy` and
//! `test` (`JsonPatchInvalid`), so they are not representable.
//!
//! ```
//! use azure_twins::digitaltwins::{JsonPatch, Pointer};
//! use serde_json::json;
//!
//! let patch = JsonPatch::new()
//!     .add("/temperature", 21.5)
//!     .replace(Pointer::component_property("thermostat", "setPoint"), 20)
//!     .add(Pointer::source_time("temperature"), "2026-11-23T10:00:00Z")
//!     .remove(Pointer::property("a/b"));
//! assert_eq!(
//!     serde_json::to_value(&patch).unwrap(),
//!     json!([
//!         {"op": "add", "path": "/temperature", "value": 21.5},
//!         {"op": "replace", "path": "/thermostat/setPoint", "value": 20},
//!         {"op": "add", "path": "/$metadata/temperature/sourceTime", "value": "2026-11-23T10:00:00Z"},
//!         {"op": "remove", "path": "/a~1b"}
//!     ])
//! );
//! assert!(patch.validate().is_ok());
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;

/// The service's limit on a request body (twin PUT or PATCH), in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 32 * 1024;

/// A JSON Pointer (RFC 6901) naming a location in a twin, component or relationship.
///
/// Constructors take *unescaped* names and escape `~` as `~0` and `/` as `~1`; `From<&str>`
/// and `From<String>` take an already-escaped pointer text such as `"/a~1b/c"` (checked by
/// [`JsonPatch::validate`] before anything is sent).
///
/// ```
/// use azure_twins::digitaltwins::Pointer;
/// assert_eq!(Pointer::property("a/b~c").as_str(), "/a~1b~0c");
/// assert_eq!(Pointer::component_property("thermostat", "setPoint").as_str(), "/thermostat/setPoint");
/// assert_eq!(Pointer::model().as_str(), "/$metadata/$model");
/// assert_eq!(
///     Pointer::component_source_time("thermostat", "setPoint").as_str(),
///     "/thermostat/$metadata/setPoint/sourceTime"
/// );
/// assert_eq!(Pointer::property("a/b").segments().unwrap(), vec!["a/b".to_string()]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pointer(String);

impl Pointer {
    /// The empty pointer: the whole document. Not a valid patch target for the service.
    pub fn root() -> Self {
        Pointer(String::new())
    }

    /// A pointer from unescaped segments, e.g. `["thermostat", "setPoint"]`.
    pub fn from_segments<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        segments
            .into_iter()
            .fold(Pointer::root(), |p, s| p.join(s.as_ref()))
    }

    /// A top-level property of a twin or relationship: `/<name>`.
    pub fn property(name: &str) -> Self {
        Pointer::root().join(name)
    }

    /// A property inside a component: `/<component>/<name>`.
    pub fn component_property(component: &str, name: &str) -> Self {
        Pointer::root().join(component).join(name)
    }

    /// The `sourceTime` of a top-level property: `/$metadata/<name>/sourceTime`.
    ///
    /// Set it to an RFC 3339 timestamp to say when the value was observed in the real world.
    pub fn source_time(name: &str) -> Self {
        Pointer::from_segments(["$metadata", name, "sourceTime"])
    }

    /// The `sourceTime` of a component property: `/<component>/$metadata/<name>/sourceTime`.
    pub fn component_source_time(component: &str, name: &str) -> Self {
        Pointer::from_segments([component, "$metadata", name, "sourceTime"])
    }

    /// The twin's model id: `/$metadata/$model` (`replace` it to migrate a twin to another model).
    pub fn model() -> Self {
        Pointer::from_segments(["$metadata", "$model"])
    }

    /// This pointer with one more (unescaped) segment appended.
    pub fn join(mut self, segment: &str) -> Self {
        self.0.push('/');
        for c in segment.chars() {
            match c {
                '~' => self.0.push_str("~0"),
                '/' => self.0.push_str("~1"),
                c => self.0.push(c),
            }
        }
        self
    }

    /// The escaped pointer text, as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The unescaped segments, or an error naming the rule the text breaks.
    pub fn segments(&self) -> Result<Vec<String>, Error> {
        parse_pointer(&self.0)
            .map_err(|rule| Error::invalid_input("path", format!("{:?} {rule}", self.0)))
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Pointer {
    fn from(s: &str) -> Self {
        Pointer(s.to_owned())
    }
}

impl From<String> for Pointer {
    fn from(s: String) -> Self {
        Pointer(s)
    }
}

impl From<&Pointer> for Pointer {
    fn from(p: &Pointer) -> Self {
        p.clone()
    }
}

/// Splits an escaped pointer into unescaped segments (RFC 6901 §3/§4).
fn parse_pointer(s: &str) -> Result<Vec<String>, &'static str> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = s.strip_prefix('/') else {
        return Err("must start with '/'");
    };
    rest.split('/')
        .map(|raw| {
            let mut out = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err("has a '~' not followed by '0' or '1' (escape '~' as ~0 and '/' as ~1)"),
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .collect()
}

/// One operation of a [`JsonPatch`].
///
/// Serialises to the RFC 6902 shape `{"op": "add", "path": "/x", "value": 1}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum PatchOperation {
    /// Set `path` to `value`, creating the member if it is absent (overwrites if present).
    Add {
        /// Target location.
        path: Pointer,
        /// New value.
        value: Value,
    },
    /// Set `path` to `value`; the member must already exist.
    Replace {
        /// Target location.
        path: Pointer,
        /// New value.
        value: Value,
    },
    /// Remove the member at `path`; it must exist.
    Remove {
        /// Target location.
        path: Pointer,
    },
}

impl PatchOperation {
    /// The operation's target.
    pub fn path(&self) -> &Pointer {
        match self {
            PatchOperation::Add { path, .. }
            | PatchOperation::Replace { path, .. }
            | PatchOperation::Remove { path } => path,
        }
    }

    /// The operation name as on the wire (`add`, `replace`, `remove`).
    pub fn op(&self) -> &'static str {
        match self {
            PatchOperation::Add { .. } => "add",
            PatchOperation::Replace { .. } => "replace",
            PatchOperation::Remove { .. } => "remove",
        }
    }
}

/// An RFC 6902 JSON Patch document for a twin, component or relationship update.
///
/// Build it with [`add`](Self::add) / [`replace`](Self::replace) / [`remove`](Self::remove),
/// or compute it with [`diff`](Self::diff). It serialises to the JSON array the service expects.
/// [`validate`](Self::validate) runs the local checks the client applies before sending.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonPatch {
    ops: Vec<PatchOperation>,
}

impl JsonPatch {
    /// An empty patch.
    pub fn new() -> Self {
        JsonPatch::default()
    }

    /// Appends `add path value`: sets the member whether or not it exists.
    ///
    /// Prefer `add` over `replace` when unsure: the service rejects `replace` on an absent
    /// property.
    pub fn add(mut self, path: impl Into<Pointer>, value: impl Into<Value>) -> Self {
        self.ops.push(PatchOperation::Add {
            path: path.into(),
            value: value.into(),
        });
        self
    }

    /// Appends `replace path value`: the member must already exist.
    pub fn replace(mut self, path: impl Into<Pointer>, value: impl Into<Value>) -> Self {
        self.ops.push(PatchOperation::Replace {
            path: path.into(),
            value: value.into(),
        });
        self
    }

    /// Appends `remove path`: the member must exist.
    pub fn remove(mut self, path: impl Into<Pointer>) -> Self {
        self.ops.push(PatchOperation::Remove { path: path.into() });
        self
    }

    /// Appends `add /$metadata/<property>/sourceTime <time>` (RFC 3339, UTC).
    ///
    /// ```
    /// use azure_twins::digitaltwins::JsonPatch;
    /// use chrono::{TimeZone, Utc};
    /// let t = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    /// let p = JsonPatch::new().add("/temperature", 21.5).set_source_time("temperature", t);
    /// assert_eq!(p.operations()[1].path().as_str(), "/$metadata/temperature/sourceTime");
    /// ```
    pub fn set_source_time(self, property: &str, time: chrono::DateTime<chrono::Utc>) -> Self {
        self.add(Pointer::source_time(property), rfc3339(time))
    }

    /// Appends `add /<component>/$metadata/<property>/sourceTime <time>`.
    pub fn set_component_source_time(
        self,
        component: &str,
        property: &str,
        time: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        self.add(
            Pointer::component_source_time(component, property),
            rfc3339(time),
        )
    }

    /// Appends an already-built operation.
    pub fn push(&mut self, op: PatchOperation) {
        self.ops.push(op);
    }

    /// The operations, in order.
    pub fn operations(&self) -> &[PatchOperation] {
        &self.ops
    }

    /// True when the patch has no operations (e.g. a diff of two equal documents).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Computes a patch that turns `old` into `new`.
    ///
    /// Objects are compared member by member (recursively); a member only in `new` becomes
    /// `add`, one only in `old` becomes `remove`, and a changed non-object value becomes
    /// `replace`. Arrays are replaced whole, never patched by index: DTDL arrays are values of
    /// one property, and index paths are easy to get wrong when the array changed meanwhile.
    /// If the roots differ and are not both objects the result is a single `replace` of the
    /// root (valid RFC 6902, but the service does not accept it; [`validate`](Self::validate)
    /// says so).
    ///
    /// This is written here rather than taken from the `json-patch` crate's `diff` because that
    /// one patches arrays element by element, which the service's DTDL arrays do not need and
    /// which produces long, fragile patches; the crate is still used in the tests as an
    /// independent implementation to apply the result.
    ///
    /// ```
    /// use azure_twins::digitaltwins::JsonPatch;
    /// use serde_json::json;
    /// let old = json!({"name": "r1", "tags": [1, 2], "temperature": 20});
    /// let new = json!({"humidity": 40, "tags": [1], "temperature": 21});
    /// let patch = JsonPatch::diff(&old, &new);
    /// assert_eq!(serde_json::to_value(&patch).unwrap(), json!([
    ///     {"op": "add", "path": "/humidity", "value": 40},
    ///     {"op": "replace", "path": "/tags", "value": [1]},
    ///     {"op": "replace", "path": "/temperature", "value": 21},
    ///     {"op": "remove", "path": "/name"},
    /// ]));
    /// ```
    pub fn diff(old: &Value, new: &Value) -> Self {
        let mut patch = JsonPatch::new();
        diff_value(old, new, Pointer::root(), &mut patch.ops);
        patch
    }

    /// Computes a patch between two twins (or components, or relationships), ignoring what the
    /// service maintains itself: `$dtId`, `$etag`, `$relationshipId`, `$sourceId`,
    /// `$lastUpdateTime` and every `lastUpdateTime` under `$metadata`.
    ///
    /// Use it for "get, change, update" on whole documents:
    ///
    /// ```
    /// use azure_twins::digitaltwins::JsonPatch;
    /// use serde_json::json;
    /// let old = json!({"$dtId": "r1", "$etag": "W/\"a\"", "temperature": 20,
    ///                  "$metadata": {"$model": "dtmi:x:Room;1", "$lastUpdateTime": "2026-11-23T10:00:00Z",
    ///                                "temperature": {"lastUpdateTime": "2026-11-23T10:00:00Z"}}});
    /// let mut new = old.clone();
    /// new["temperature"] = json!(21);
    /// new["$etag"] = json!("W/\"b\"");
    /// let patch = JsonPatch::diff_twin(&old, &new);
    /// assert_eq!(serde_json::to_value(&patch).unwrap(),
    ///            json!([{"op": "replace", "path": "/temperature", "value": 21}]));
    /// ```
    pub fn diff_twin(old: &Value, new: &Value) -> Self {
        JsonPatch::diff(&strip_service_fields(old), &strip_service_fields(new))
    }

    /// Checks the patch against the rules the client enforces before sending; the error names
    /// the operation index, the field and the rule.
    ///
    /// Rules: at least one operation; each path is a well-formed JSON Pointer (starts with `/`,
    /// `~` only as `~0`/`~1`), is not the whole document and has no empty segment; it does not
    /// write what the service maintains (`$dtId`, `$etag`, `$metadata/$lastUpdateTime`,
    /// `…/lastUpdateTime`); under `$metadata` only `$model` (not removable) and
    /// `<property>/sourceTime` can be written; `sourceTime` values are strings; the serialised
    /// patch fits the service's 32 KiB body limit.
    ///
    /// ```
    /// use azure_twins::digitaltwins::JsonPatch;
    /// let err = JsonPatch::new().add("/$etag", "x").validate().unwrap_err();
    /// assert!(err.to_string().contains("patch[0].path"));
    /// assert!(JsonPatch::new().add("temperature", 1).validate().is_err());
    /// assert!(JsonPatch::new().validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        if self.ops.is_empty() {
            return Err(Error::invalid_input(
                "patch",
                "must contain at least one operation (nothing to update)",
            ));
        }
        for (i, op) in self.ops.iter().enumerate() {
            validate_op(i, op)?;
        }
        let size = serde_json::to_vec(self).map(|v| v.len()).unwrap_or(0);
        if size > MAX_BODY_BYTES {
            return Err(Error::invalid_input(
                "patch",
                format!(
                    "serialises to {size} bytes, over the service's limit of {MAX_BODY_BYTES} bytes per request"
                ),
            ));
        }
        Ok(())
    }

    /// The patch as a JSON array value.
    pub fn to_value(&self) -> Value {
        // Serialising Strings and Values cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Array(Vec::new()))
    }
}

impl TryFrom<Value> for JsonPatch {
    type Error = Error;

    /// Reads an RFC 6902 array; `move`, `copy`, `test` and malformed operations are rejected
    /// with an error naming the operation index.
    fn try_from(value: Value) -> Result<Self, Error> {
        let Value::Array(items) = value else {
            return Err(Error::invalid_input(
                "patch",
                "must be a JSON array of operations",
            ));
        };
        let mut ops = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let op_name = item.get("op").and_then(Value::as_str).map(str::to_owned);
            match serde_json::from_value::<PatchOperation>(item) {
                Ok(op) => ops.push(op),
                Err(e) => {
                    let rule = match op_name.as_deref() {
                        Some("move" | "copy" | "test") => format!(
                            "operation {:?} is not supported by Azure Digital Twins (only add, replace, remove)",
                            op_name.unwrap_or_default()
                        ),
                        _ => format!("is not a valid add/replace/remove operation: {e}"),
                    };
                    return Err(Error::invalid_input(format!("patch[{i}]"), rule));
                }
            }
        }
        Ok(JsonPatch { ops })
    }
}

impl FromIterator<PatchOperation> for JsonPatch {
    fn from_iter<I: IntoIterator<Item = PatchOperation>>(iter: I) -> Self {
        JsonPatch {
            ops: iter.into_iter().collect(),
        }
    }
}

impl IntoIterator for JsonPatch {
    type Item = PatchOperation;
    type IntoIter = std::vec::IntoIter<PatchOperation>;
    fn into_iter(self) -> Self::IntoIter {
        self.ops.into_iter()
    }
}

fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn diff_value(old: &Value, new: &Value, at: Pointer, ops: &mut Vec<PatchOperation>) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => diff_object(o, n, at, ops),
        _ if old == new => {}
        _ => ops.push(PatchOperation::Replace {
            path: at,
            value: new.clone(),
        }),
    }
}

fn diff_object(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    at: Pointer,
    ops: &mut Vec<PatchOperation>,
) {
    for (key, new_value) in new {
        let path = at.clone().join(key);
        match old.get(key) {
            Some(old_value) => diff_value(old_value, new_value, path, ops),
            None => ops.push(PatchOperation::Add {
                path,
                value: new_value.clone(),
            }),
        }
    }
    for key in old.keys() {
        if !new.contains_key(key) {
            ops.push(PatchOperation::Remove {
                path: at.clone().join(key),
            });
        }
    }
}

/// Removes the members the service maintains, recursively through `$metadata` maps.
fn strip_service_fields(v: &Value) -> Value {
    let Value::Object(map) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, val) in map {
        match k.as_str() {
            "$dtId" | "$etag" | "$relationshipId" | "$sourceId" | "$lastUpdateTime" => {}
            "$metadata" => {
                out.insert(k.clone(), strip_metadata(val));
            }
            _ => {
                // Components are objects with their own `$metadata`.
                let is_component = val.get("$metadata").is_some();
                out.insert(
                    k.clone(),
                    if is_component {
                        strip_service_fields(val)
                    } else {
                        val.clone()
                    },
                );
            }
        }
    }
    Value::Object(out)
}

fn strip_metadata(v: &Value) -> Value {
    let Value::Object(map) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, val) in map {
        if k == "$lastUpdateTime" {
            continue;
        }
        let val = match val {
            Value::Object(prop) => Value::Object(
                prop.iter()
                    .filter(|(pk, _)| pk.as_str() != "lastUpdateTime")
                    .map(|(pk, pv)| (pk.clone(), pv.clone()))
                    .collect(),
            ),
            other => other.clone(),
        };
        out.insert(k.clone(), val);
    }
    Value::Object(out)
}

fn validate_op(i: usize, op: &PatchOperation) -> Result<(), Error> {
    let field = || format!("patch[{i}].path");
    let raw = op.path().as_str();
    let segments = parse_pointer(raw)
        .map_err(|rule| Error::invalid_input(field(), format!("{raw:?} {rule}")))?;
    if segments.is_empty() {
        return Err(Error::invalid_input(
            field(),
            "must not be empty: the service cannot add, replace or remove the whole document; name a property such as \"/temperature\"",
        ));
    }
    if let Some(pos) = segments.iter().position(String::is_empty) {
        return Err(Error::invalid_input(
            field(),
            format!(
                "{raw:?} has an empty segment at position {pos} (property names cannot be empty)"
            ),
        ));
    }
    let read_only = |what: &str| {
        Err(Error::invalid_input(
            field(),
            format!("{raw:?} targets {what}, which the service maintains and cannot be written"),
        ))
    };
    // Locate a `$metadata` segment (root or inside a component) and check what follows it.
    if matches!(segments[0].as_str(), "$dtId" | "$etag") {
        return read_only(&segments[0]);
    }
    if let Some(m) = segments.iter().position(|s| s == "$metadata") {
        let rest = &segments[m + 1..];
        match rest {
            [] => {
                return Err(Error::invalid_input(
                    field(),
                    format!(
                        "{raw:?} targets $metadata as a whole; write \"/$metadata/$model\" or \"/$metadata/<property>/sourceTime\""
                    ),
                ));
            }
            [model] if model == "$model" => {
                if m != 0 {
                    return Err(Error::invalid_input(
                        field(),
                        format!("{raw:?}: only the twin's root $metadata has a $model"),
                    ));
                }
                if matches!(op, PatchOperation::Remove { .. }) {
                    return Err(Error::invalid_input(
                        field(),
                        "cannot remove /$metadata/$model: every twin needs a model (replace it instead)",
                    ));
                }
                if let PatchOperation::Add { value, .. } | PatchOperation::Replace { value, .. } =
                    op
                {
                    let model = value.as_str().unwrap_or_default();
                    super::twin::validate_model_id(&format!("patch[{i}].value"), model)?;
                }
            }
            [lut] if lut == "$lastUpdateTime" => return read_only("$lastUpdateTime"),
            [_, t] if t == "lastUpdateTime" => return read_only("lastUpdateTime"),
            [_, t] if t == "sourceTime" => {
                if let PatchOperation::Add { value, .. } | PatchOperation::Replace { value, .. } =
                    op
                    && !(value.is_string() || value.is_null())
                {
                    return Err(Error::invalid_input(
                        format!("patch[{i}].value"),
                        "a sourceTime must be an RFC 3339 timestamp string",
                    ));
                }
            }
            _ => {
                return Err(Error::invalid_input(
                    field(),
                    format!(
                        "{raw:?}: under $metadata only \"$model\" and \"<property>/sourceTime\" can be written"
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escaping_round_trips() {
        let p = Pointer::from_segments(["a/b", "c~d", "~1"]);
        assert_eq!(p.as_str(), "/a~1b/c~0d/~01");
        assert_eq!(p.segments().unwrap(), vec!["a/b", "c~d", "~1"]);
        assert!(Pointer::from("/a~2").segments().is_err());
        assert!(Pointer::from("a").segments().is_err());
        assert_eq!(Pointer::root().segments().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn validation_names_index_field_and_rule() {
        let cases: Vec<(JsonPatch, &str)> = vec![
            (
                JsonPatch::new().add("/ok", 1).add("no-slash", 1),
                "patch[1].path",
            ),
            (JsonPatch::new().add("", 1), "must not be empty"),
            (JsonPatch::new().add("/a//b", 1), "empty segment"),
            (JsonPatch::new().add("/a~", 1), "'~'"),
            (JsonPatch::new().replace("/$dtId", "x"), "$dtId"),
            (
                JsonPatch::new().replace("/$metadata/$lastUpdateTime", "x"),
                "maintains",
            ),
            (
                JsonPatch::new().replace("/$metadata/t/lastUpdateTime", "x"),
                "maintains",
            ),
            (
                JsonPatch::new().remove("/$metadata/$model"),
                "every twin needs a model",
            ),
            (
                JsonPatch::new().replace("/$metadata/$model", "nope"),
                "patch[0].value",
            ),
            (
                JsonPatch::new().replace("/$metadata", json!({})),
                "as a whole",
            ),
            (JsonPatch::new().add("/$metadata/t/other", 1), "only"),
            (
                JsonPatch::new().add("/$metadata/t/sourceTime", 5),
                "RFC 3339",
            ),
            (
                JsonPatch::new().add("/c/$metadata/$model", "dtmi:a:b;1"),
                "root $metadata",
            ),
            (JsonPatch::new().add("/big", "x".repeat(40_000)), "32768"),
        ];
        for (patch, needle) in cases {
            let e = patch.validate().expect_err(needle);
            assert!(
                e.to_string().contains(needle),
                "{needle:?} not in {:?}",
                e.to_string()
            );
            assert!(matches!(e.kind(), crate::ErrorKind::InvalidInput { .. }));
        }
        JsonPatch::new()
            .replace(Pointer::model(), "dtmi:com:example:Room;2")
            .add(
                Pointer::component_source_time("c", "p"),
                "2026-01-01T00:00:00Z",
            )
            .validate()
            .unwrap();
    }

    #[test]
    fn try_from_rejects_unsupported_ops() {
        let e = JsonPatch::try_from(json!([{"op": "add", "path": "/a", "value": 1},
                                          {"op": "move", "from": "/a", "path": "/b"}]))
        .unwrap_err();
        assert!(e.to_string().contains("patch[1]"), "{e}");
        assert!(e.to_string().contains("not supported"), "{e}");
        assert!(JsonPatch::try_from(json!({"op": "add"})).is_err());
        let p = JsonPatch::try_from(json!([{"op": "remove", "path": "/a"}])).unwrap();
        assert_eq!(p.operations()[0].op(), "remove");
    }

    #[test]
    fn diff_emits_add_for_new_members_and_recurses_into_components() {
        let old = json!({"c": {"$metadata": {}, "x": 1}, "a": 1});
        let new = json!({"c": {"$metadata": {}, "x": 2, "y/z": 3}, "a": 1});
        assert_eq!(
            JsonPatch::diff(&old, &new).to_value(),
            json!([
                {"op": "replace", "path": "/c/x", "value": 2},
                {"op": "add", "path": "/c/y~1z", "value": 3}
            ])
        );
        assert!(JsonPatch::diff(&old, &old).is_empty());
    }
}
