//! Typed shapes of digital twins, components and relationships, and the local checks on ids,
//! models and twin bodies that run before anything is sent.
//!
//! The service stores JSON documents. You can work with `serde_json::Value`, with your own
//! `Serialize`/`Deserialize` types, or with the "basic" types here, which name the service's
//! `$`-prefixed members and keep every user property in a flattened map:
//!
//! ```
//! use azure_twins::digitaltwins::{BasicDigitalTwin, BasicDigitalTwinComponent};
//! use serde_json::json;
//!
//! let twin = BasicDigitalTwin::new("room-1", "dtmi:com:example:Room;1")
//!     .with_property("temperature", 21.5)
//!     .with_component("thermostat", BasicDigitalTwinComponent::new().with_property("setPoint", 20));
//! assert_eq!(serde_json::to_value(&twin).unwrap(), json!({
//!     "$dtId": "room-1",
//!     "$metadata": {"$model": "dtmi:com:example:Room;1"},
//!     "temperature": 21.5,
//!     "thermostat": {"$metadata": {}, "setPoint": 20}
//! }));
//!
//! // What the service returns parses back, metadata included:
//! let got: BasicDigitalTwin = serde_json::from_value(json!({
//!     "$dtId": "room-1", "$etag": "W/\"3f1c\"", "temperature": 21.5,
//!     "$metadata": {"$model": "dtmi:com:example:Room;1", "$lastUpdateTime": "2026-11-23T10:00:00.1234567Z",
//!                   "temperature": {"lastUpdateTime": "2026-11-23T10:00:00.1234567Z", "sourceTime": "2026-11-23T09:59:58Z"}}
//! })).unwrap();
//! assert_eq!(got.etag.unwrap().as_header(), "W/\"3f1c\"");
//! assert_eq!(got.metadata.properties["temperature"].source_time.as_deref(), Some("2026-11-23T09:59:58Z"));
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{ETag, Error};

/// A digital twin with the service's members named and the user properties (and components)
/// in [`contents`](Self::contents). Mirrors the `BasicDigitalTwin` of the other Azure SDKs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BasicDigitalTwin {
    /// `$dtId`: the twin id. The id in the request path wins on writes; leave empty or equal.
    #[serde(rename = "$dtId", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// `$etag`: the twin's current ETag (service-maintained, weak `W/"…"`).
    #[serde(rename = "$etag", default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<ETag>,
    /// `$metadata`: model id and per-property times.
    #[serde(rename = "$metadata", default)]
    pub metadata: DigitalTwinMetadata,
    /// Every other member: properties and components, by name.
    #[serde(flatten)]
    pub contents: Map<String, Value>,
}

impl BasicDigitalTwin {
    /// A twin of `model` (a DTMI such as `dtmi:com:example:Room;1`) with no properties yet.
    pub fn new(id: impl Into<String>, model: impl Into<String>) -> Self {
        BasicDigitalTwin {
            id: id.into(),
            etag: None,
            metadata: DigitalTwinMetadata {
                model: model.into(),
                ..Default::default()
            },
            contents: Map::new(),
        }
    }

    /// Sets a property (builder style).
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.contents.insert(name.into(), value.into());
        self
    }

    /// Sets a component (builder style). Components declared by the model must be present when
    /// the twin is created, even if empty.
    pub fn with_component(
        mut self,
        name: impl Into<String>,
        component: BasicDigitalTwinComponent,
    ) -> Self {
        // Serialising maps of Values cannot fail.
        let value = serde_json::to_value(component).unwrap_or(Value::Null);
        self.contents.insert(name.into(), value);
        self
    }

    /// Sets the `sourceTime` of a property: when the value was observed in the real world.
    pub fn with_source_time(mut self, property: impl Into<String>, time: DateTime<Utc>) -> Self {
        self.metadata
            .properties
            .entry(property.into())
            .or_default()
            .source_time = Some(time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
        self
    }
}

/// The `$metadata` member of a twin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DigitalTwinMetadata {
    /// `$model`: the DTMI of the twin's model.
    #[serde(rename = "$model", default)]
    pub model: String,
    /// `$lastUpdateTime`: when the twin last changed (service-maintained; api-version 2022-05-31+).
    #[serde(
        rename = "$lastUpdateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_update_time: Option<DateTime<Utc>>,
    /// Per-property metadata, by property name.
    #[serde(flatten)]
    pub properties: BTreeMap<String, PropertyMetadata>,
}

/// Metadata of one property.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PropertyMetadata {
    /// `lastUpdateTime`: when the service last wrote the property (service-maintained).
    #[serde(
        rename = "lastUpdateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_update_time: Option<DateTime<Utc>>,
    /// `sourceTime`: when the value was observed, as written by a client (ISO 8601 text, kept
    /// verbatim because clients may use any ISO 8601 form).
    #[serde(
        rename = "sourceTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_time: Option<String>,
}

/// A component of a twin: its own `$metadata` plus properties.
///
/// Serialises to `{"$metadata": {}}` when empty, which is what the service needs to create a
/// twin whose model declares the component.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BasicDigitalTwinComponent {
    /// `$metadata`: per-property metadata of the component.
    #[serde(rename = "$metadata", default)]
    pub metadata: ComponentMetadata,
    /// The component's properties, by name.
    #[serde(flatten)]
    pub contents: Map<String, Value>,
}

impl BasicDigitalTwinComponent {
    /// An empty component.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a property (builder style).
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.contents.insert(name.into(), value.into());
        self
    }
}

/// The `$metadata` member of a component.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ComponentMetadata {
    /// `$lastUpdateTime` of the component, when the service reports it.
    #[serde(
        rename = "$lastUpdateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_update_time: Option<DateTime<Utc>>,
    /// Per-property metadata, by property name.
    #[serde(flatten)]
    pub properties: BTreeMap<String, PropertyMetadata>,
}

/// A relationship (edge) from a source twin to a target twin.
///
/// ```
/// use azure_twins::digitaltwins::BasicRelationship;
/// use serde_json::json;
/// let rel = BasicRelationship::new("floor-1-has-room-1", "floor-1", "room-1", "contains")
///     .with_property("since", "2026-01-01");
/// assert_eq!(serde_json::to_value(&rel).unwrap(), json!({
///     "$relationshipId": "floor-1-has-room-1", "$sourceId": "floor-1", "$targetId": "room-1",
///     "$relationshipName": "contains", "since": "2026-01-01"
/// }));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BasicRelationship {
    /// `$relationshipId`: unique per source twin.
    #[serde(
        rename = "$relationshipId",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    /// `$etag` (service-maintained).
    #[serde(rename = "$etag", default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<ETag>,
    /// `$sourceId`: the twin the relationship starts from.
    #[serde(
        rename = "$sourceId",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub source_id: String,
    /// `$targetId`: the twin it points to (required on create).
    #[serde(rename = "$targetId", default)]
    pub target_id: String,
    /// `$relationshipName`: the relationship name declared by the source's model (required).
    #[serde(rename = "$relationshipName", default)]
    pub name: String,
    /// The relationship's own properties, by name.
    #[serde(flatten)]
    pub properties: Map<String, Value>,
}

impl BasicRelationship {
    /// A relationship `id` from `source_id` to `target_id` named `name`.
    pub fn new(
        id: impl Into<String>,
        source_id: impl Into<String>,
        target_id: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        BasicRelationship {
            id: id.into(),
            etag: None,
            source_id: source_id.into(),
            target_id: target_id.into(),
            name: name.into(),
            properties: Map::new(),
        }
    }

    /// Sets a property (builder style).
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }
}

/// Client-side upper bound on an id's length, in bytes. The service documents no limit for
/// twin, relationship, route and job ids; this bound only stops obvious mistakes (such as
/// passing a whole document as an id) before a request is built.
pub const MAX_ID_BYTES: usize = 1024;

/// Checks an id used in a request path (twin, relationship, component, route, job).
///
/// Rules: not empty, at most [`MAX_ID_BYTES`] bytes, no control characters, no leading or
/// trailing whitespace. Ids are case-sensitive and otherwise free-form; they are
/// percent-encoded in the path.
pub(crate) fn validate_id(field: &str, id: &str) -> Result<(), Error> {
    let rule = if id.is_empty() {
        "must not be empty".to_owned()
    } else if id.len() > MAX_ID_BYTES {
        format!(
            "is {} bytes long; at most {MAX_ID_BYTES} are allowed",
            id.len()
        )
    } else if let Some(c) = id.chars().find(|c| c.is_control()) {
        format!(
            "must not contain control characters (found U+{:04X})",
            c as u32
        )
    } else if id.trim() != id {
        "must not start or end with whitespace".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::invalid_input(field.to_owned(), rule))
}

/// Checks a Digital Twin Model Identifier (DTMI), e.g. `dtmi:com:example:Room;1`.
///
/// Rules (DTDL v2/v3): starts with `dtmi:`; path segments separated by `:` each start with a
/// letter, contain only letters, digits and `_`, and do not end with `_`; an optional version
/// after `;` is a positive integer (v3 also allows `major.minor`); at most 2048 characters.
pub(crate) fn validate_model_id(field: &str, id: &str) -> Result<(), Error> {
    let fail = |rule: String| Err(Error::invalid_input(field.to_owned(), rule));
    if id.len() > 2048 {
        return fail(format!(
            "model id is {} characters long; at most 2048 are allowed",
            id.len()
        ));
    }
    let Some(rest) = id.strip_prefix("dtmi:") else {
        return fail(format!(
            "{id:?} is not a model id: it must start with \"dtmi:\" (e.g. \"dtmi:com:example:Room;1\")"
        ));
    };
    let (path, version) = match rest.split_once(';') {
        Some((p, v)) => (p, Some(v)),
        None => (rest, None),
    };
    for seg in path.split(':') {
        let ok = seg.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !seg.ends_with('_');
        if !ok {
            return fail(format!(
                "{id:?}: path segment {seg:?} must start with a letter, contain only letters, digits and '_', and not end with '_'"
            ));
        }
    }
    if let Some(v) = version {
        let parts: Vec<&str> = v.split('.').collect();
        let ok = parts.len() <= 2
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 9 && p.chars().all(|c| c.is_ascii_digit()))
            && !parts[0].starts_with('0');
        if !ok {
            return fail(format!(
                "{id:?}: the version after ';' must be a positive integer (or major.minor in DTDL v3)"
            ));
        }
    }
    Ok(())
}

/// Checks one DTDL model document given to `create_models`: a JSON object with a valid `@id`
/// DTMI, `"@type": "Interface"` and a `@context`. `index` names the position in the upload.
pub(crate) fn validate_model_document(index: usize, model: &Value) -> Result<String, Error> {
    let field = |f: &str| format!("models[{index}]{f}");
    let Some(obj) = model.as_object() else {
        return Err(Error::invalid_input(
            field(""),
            "must be a JSON object (a DTDL interface with @id, @type and @context)",
        ));
    };
    let id = match obj.get("@id") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(Error::invalid_input(field(".@id"), "must be a string DTMI")),
        None => {
            return Err(Error::invalid_input(
                field(".@id"),
                "is required: every model needs an @id such as \"dtmi:com:example:Room;1\"",
            ));
        }
    };
    validate_model_id(&field(".@id"), &id)?;
    let is_interface = match obj.get("@type") {
        Some(Value::String(t)) => t == "Interface",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "Interface"),
        _ => false,
    };
    if !is_interface {
        return Err(Error::invalid_input(
            field(".@type"),
            "must be \"Interface\" (top-level DTDL models are interfaces)",
        ));
    }
    let context_ok = match obj.get("@context") {
        Some(Value::String(c)) => c.starts_with("dtmi:dtdl:context;"),
        Some(Value::Array(cs)) => cs.iter().any(|c| {
            c.as_str()
                .is_some_and(|c| c.starts_with("dtmi:dtdl:context;"))
        }),
        _ => false,
    };
    if !context_ok {
        return Err(Error::invalid_input(
            field(".@context"),
            "must name a DTDL context such as \"dtmi:dtdl:context;3\"",
        ));
    }
    Ok(id)
}

/// Checks a twin body before `PUT /digitaltwins/{id}` and returns it as an object.
///
/// Rules: a JSON object; `$dtId`, when present, equals the id in the path; `$metadata.$model`
/// is present and a valid DTMI; at most 32 KiB serialised.
pub(crate) fn validate_twin_body(id: &str, twin: &Value) -> Result<(), Error> {
    let Some(obj) = twin.as_object() else {
        return Err(Error::invalid_input(
            "twin",
            "must serialise to a JSON object with $metadata.$model",
        ));
    };
    if let Some(dt_id) = obj.get("$dtId")
        && dt_id.as_str() != Some(id)
    {
        return Err(Error::invalid_input(
            "twin.$dtId",
            format!("is {dt_id} but the twin id is {id:?}; leave it out or make them equal"),
        ));
    }
    match obj.get("$metadata").and_then(|m| m.get("$model")) {
        Some(Value::String(model)) => validate_model_id("twin.$metadata.$model", model)?,
        Some(_) => {
            return Err(Error::invalid_input(
                "twin.$metadata.$model",
                "must be a string DTMI",
            ));
        }
        None => {
            return Err(Error::invalid_input(
                "twin.$metadata.$model",
                "is required: every twin names its model, e.g. {\"$metadata\": {\"$model\": \"dtmi:com:example:Room;1\"}}",
            ));
        }
    }
    check_body_size("twin", twin)
}

/// Checks a relationship body before `PUT …/relationships/{rid}`.
///
/// Rules: a JSON object; `$targetId` a valid id; `$relationshipName` not empty; `$sourceId` and
/// `$relationshipId`, when present, equal the ids in the path; at most 32 KiB serialised.
pub(crate) fn validate_relationship_body(
    source_id: &str,
    relationship_id: &str,
    rel: &Value,
) -> Result<(), Error> {
    let Some(obj) = rel.as_object() else {
        return Err(Error::invalid_input(
            "relationship",
            "must serialise to a JSON object with $targetId and $relationshipName",
        ));
    };
    match obj.get("$targetId") {
        Some(Value::String(t)) => validate_id("relationship.$targetId", t)?,
        _ => {
            return Err(Error::invalid_input(
                "relationship.$targetId",
                "is required and must be a string twin id",
            ));
        }
    }
    match obj.get("$relationshipName") {
        Some(Value::String(n)) if !n.is_empty() => {}
        _ => {
            return Err(Error::invalid_input(
                "relationship.$relationshipName",
                "is required: the relationship name declared by the source twin's model",
            ));
        }
    }
    for (member, expected) in [
        ("$sourceId", source_id),
        ("$relationshipId", relationship_id),
    ] {
        if let Some(v) = obj.get(member)
            && v.as_str() != Some(expected)
        {
            return Err(Error::invalid_input(
                format!("relationship.{member}"),
                format!("is {v} but the path says {expected:?}; leave it out or make them equal"),
            ));
        }
    }
    check_body_size("relationship", rel)
}

fn check_body_size(field: &'static str, v: &Value) -> Result<(), Error> {
    let size = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0);
    if size > super::json_patch::MAX_BODY_BYTES {
        return Err(Error::invalid_input(
            field,
            format!(
                "serialises to {size} bytes, over the service's limit of {} bytes per request",
                super::json_patch::MAX_BODY_BYTES
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids() {
        validate_id("twin_id", "room-1").unwrap();
        validate_id("twin_id", "Räume/1 ä").unwrap();
        for (bad, needle) in [
            ("", "empty"),
            ("a\nb", "control"),
            (" a", "whitespace"),
            (&"x".repeat(1025)[..], "1025 bytes"),
        ] {
            let e = validate_id("twin_id", bad).unwrap_err();
            assert!(
                e.to_string().contains("twin_id") && e.to_string().contains(needle),
                "{e}"
            );
        }
    }

    #[test]
    fn model_ids() {
        for ok in [
            "dtmi:com:example:Room;1",
            "dtmi:a;2.1",
            "dtmi:a_b:c9",
            "dtmi:x:y;123456789",
        ] {
            validate_model_id("model", ok).unwrap();
        }
        for bad in [
            "com:example:Room;1",
            "dtmi:1a;1",
            "dtmi:a_;1",
            "dtmi:a-b;1",
            "dtmi:a;0",
            "dtmi:a;x",
            "dtmi:a;1.2.3",
            "dtmi::a;1",
            "dtmi:a;",
        ] {
            assert!(validate_model_id("model", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn model_documents() {
        let good = json!({"@id": "dtmi:x:Room;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3"});
        assert_eq!(validate_model_document(0, &good).unwrap(), "dtmi:x:Room;1");
        let e = validate_model_document(2, &json!({"@type": "Interface"})).unwrap_err();
        assert!(e.to_string().contains("models[2].@id"), "{e}");
        let e = validate_model_document(
            0,
            &json!({"@id": "dtmi:x:R;1", "@type": "Telemetry", "@context": "dtmi:dtdl:context;2"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("@type"), "{e}");
        let e = validate_model_document(0, &json!({"@id": "dtmi:x:R;1", "@type": "Interface"}))
            .unwrap_err();
        assert!(e.to_string().contains("@context"), "{e}");
        assert!(validate_model_document(0, &json!([1])).is_err());
    }

    #[test]
    fn twin_bodies() {
        let t = serde_json::to_value(BasicDigitalTwin::new("r1", "dtmi:x:Room;1")).unwrap();
        validate_twin_body("r1", &t).unwrap();
        let e = validate_twin_body("r2", &t).unwrap_err();
        assert!(e.to_string().contains("twin.$dtId"), "{e}");
        let e = validate_twin_body("r1", &json!({"a": 1})).unwrap_err();
        assert!(e.to_string().contains("$metadata.$model"), "{e}");
        assert!(validate_twin_body("r1", &json!([{}])).is_err());
    }

    #[test]
    fn relationship_bodies() {
        let r = serde_json::to_value(BasicRelationship::new("e1", "a", "b", "contains")).unwrap();
        validate_relationship_body("a", "e1", &r).unwrap();
        assert!(validate_relationship_body("z", "e1", &r).is_err());
        let e = validate_relationship_body("a", "e1", &json!({"$targetId": "b"})).unwrap_err();
        assert!(e.to_string().contains("$relationshipName"), "{e}");
    }
}
