//! Named fixups applied to the converted OpenAPI 3.0.3 documents before progenitor runs.
//!
//! The vendored specs stay byte-identical to upstream; every change the generator needs lives
//! here as one function per intent (the k8s-openapi habit): each states what it enforces ("one
//! success type per operation", "api-version is a plain string") and normalises whatever form a
//! spec version uses for it. Each returns [`Error::Fixup`] when it finds nothing to change, saying
//! what it found instead, so that a fixed upstream spec (or a progenitor release that lifts a
//! limitation) is reported; `crate::prepare` runs every fixup of a spec and reports all failures
//! together. Which spec versions a fixup is for is declared in the service table
//! (`crate::Versions`). Each returns a list of human-readable changes, which the unit tests pin.

use serde_json::{Map, Value, json};

use crate::error::Error;

mod shapes;
pub use shapes::*;

type Result<T> = std::result::Result<T, Error>;

/// The ADT operations whose request body is an RFC 6902 JSON Patch document
/// (`application/json-patch+json` on the wire). The runtime pipeline must restore that
/// Content-Type for exactly these operations; `src/pipeline.rs` lists their snake_case forms.
pub const ADT_JSON_PATCH_OPERATIONS: [&str; 4] = [
    "DigitalTwinModels_Update",
    "DigitalTwins_Update",
    "DigitalTwins_UpdateRelationship",
    "DigitalTwins_UpdateComponent",
];

/// Name of the error schema [`iothub_typed_errors`] adds to the IoT Hub spec.
pub const IOTHUB_ERROR_SCHEMA: &str = "IotHubErrorResponse";

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

/// Calls `f(operationId, operation)` for every operation of an OpenAPI 3 document.
fn for_each_operation(
    spec: &mut Value,
    mut f: impl FnMut(&str, &mut Map<String, Value>) -> Result<()>,
) -> Result<()> {
    for_each_operation_with_method(spec, |_, id, op| f(id, op))
}

/// Calls `f(method, operationId, operation)` for every operation of an OpenAPI 3 document.
fn for_each_operation_with_method(
    spec: &mut Value,
    mut f: impl FnMut(&str, &str, &mut Map<String, Value>) -> Result<()>,
) -> Result<()> {
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            if let Some(op) = op.as_object_mut() {
                let id = op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                f(method, &id, op)?;
            }
        }
    }
    Ok(())
}

fn find_operation<'a>(
    spec: &'a mut Value,
    operation_id: &str,
) -> Option<&'a mut Map<String, Value>> {
    spec.get_mut("paths")?
        .as_object_mut()?
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.iter_mut())
        .filter(|(method, _)| METHODS.contains(&method.as_str()))
        .filter_map(|(_, op)| op.as_object_mut())
        .find(|op| op.get("operationId").and_then(Value::as_str) == Some(operation_id))
}

/// One success type per operation: progenitor 0.15.1 asserts that all success responses of an
/// operation share one type (`assert!(response_types.len() <= 1)` in `extract_responses`) and
/// panics otherwise, so a body-less 2xx beside a 2xx with a body cannot be generated.
///
/// For each such operation (whatever its statuses), this picks the one type:
/// - in general the body is kept and the body-less 2xx responses are dropped (ADT 2020-10-31
///   `DigitalTwins_Add`: `200` twin + `202`): the body is what the caller asked for; a dropped
///   status, if the service ever sends it, surfaces as an unexpected-response error instead of a
///   wrong type;
/// - a `DELETE` whose 2xx bodies are all untyped (`{}` or a bare `{type: object}`) keeps every
///   status and drops the bodies (`ResponseValue<()>`): success of a deletion or cancellation is
///   its status, a real body-less answer must stay a success, and nothing typed is lost (IoT Hub
///   `Jobs_CancelImportExportJob`: `200` untyped object + `204`).
///
/// Two different typed bodies are left alone (no single right choice): progenitor then fails
/// with an error naming the operation. Stale when every operation already has one success type.
pub fn single_success_type(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "single_success_type";
    let mut changes = Vec::new();
    let mut checked = 0;
    for_each_operation_with_method(spec, |method, id, op| {
        checked += 1;
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        let body = |r: &Value| {
            r.get("content")
                .and_then(Value::as_object)
                .filter(|c| !c.is_empty())
                .cloned()
        };
        let (mut bodied, mut bodyless) = (Vec::new(), Vec::new());
        for (status, response) in responses.iter() {
            if !status.starts_with('2') {
                continue;
            }
            match body(response) {
                Some(content) => bodied.push((status.clone(), content)),
                None => bodyless.push(status.clone()),
            }
        }
        if bodied.is_empty() || bodyless.is_empty() {
            return Ok(());
        }
        let untyped = method == "delete"
            && bodied.iter().all(|(_, content)| {
                content.values().all(|media| {
                    media.get("schema").is_none_or(|s| {
                        s.as_object().is_some_and(|o| o.is_empty()) || is_bare_object(s)
                    })
                })
            });
        let bodied_names: Vec<&str> = bodied.iter().map(|(s, _)| s.as_str()).collect();
        if untyped {
            for (status, _) in &bodied {
                if let Some(r) = responses.get_mut(status).and_then(Value::as_object_mut) {
                    r.remove("content");
                }
            }
            changes.push(format!(
                "{id}: removed the untyped body of {} (so {} and {} are all body-less successes)",
                bodied_names.join(", "),
                bodied_names.join(", "),
                bodyless.join(", ")
            ));
        } else {
            for status in &bodyless {
                responses.remove(status);
            }
            changes.push(format!(
                "{id}: removed body-less {} beside {} with a body",
                bodyless.join(", "),
                bodied_names.join(", ")
            ));
        }
        Ok(())
    })?;
    if changes.is_empty() {
        return Err(Error::fixup(
            NAME,
            format!(
                "every operation already has one success type ({checked} operations checked): \
                 none has a body-less 2xx beside a 2xx with a body"
            ),
        ));
    }
    Ok(changes)
}

/// IoT Hub twin documents hold arbitrary JSON values, but the spec types them as maps of
/// *objects* (`additionalProperties: {type: object}`): `Twin.tags`, `TwinProperties.desired` /
/// `reported`, `PropertyContainer.desired` / `reported`, `ExportImportDevice.tags` and
/// `ConfigurationContent.deviceContent` / `moduleContent` / `modulesContent`.
///
/// Real documents put strings, numbers, booleans and `null` there: every twin section carries
/// `"$version": 1`, a tag is `"site": "berlin"`, a desired property `"username": "userA"`, and a
/// configuration's `deviceContent` maps `"properties.desired.<key>"` to a plain string (all in
/// `tests/recordings/dotnet-iothub-service/`). typify turns `{type: object}` into
/// `serde_json::Map`, so any such value fails the *whole* response. We replace each of these
/// value schemas with the empty schema `{}`, which typify renders as `serde_json::Value`. Only
/// value schemas that are bare `{type: object}` (no properties of their own) are touched; nested
/// maps (`modulesContent` is a map of maps) are loosened at every level.
pub fn iothub_twin_values_any_json(spec: &mut Value) -> Result<Vec<String>> {
    rewrite_each_schema(
        spec,
        "iothub_twin_values_any_json",
        "no map of bare objects (additionalProperties: {type: object}) left in components/schemas",
        any_json_values_in,
    )
}

/// Runs `rewrite` on every schema under `components/schemas` (with its JSON pointer) and returns
/// what it changed; fails as `fixup` when there is no such section or nothing changed (the
/// fixup is stale: say why in `nothing_to_fix`).
fn rewrite_each_schema(
    spec: &mut Value,
    fixup: &'static str,
    nothing_to_fix: &str,
    rewrite: fn(&mut Value, &str, &mut Vec<String>),
) -> Result<Vec<String>> {
    let schemas = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::fixup(fixup, "no components/schemas"))?;
    let mut changes = Vec::new();
    for (name, schema) in schemas.iter_mut() {
        rewrite(
            schema,
            &format!("#/components/schemas/{name}"),
            &mut changes,
        );
    }
    if changes.is_empty() {
        return Err(Error::fixup(fixup, nothing_to_fix));
    }
    Ok(changes)
}

/// A bare `{type: object}` schema: an object with no declared shape (what the IoT Hub spec
/// writes where it means "any JSON value").
fn is_bare_object(schema: &Value) -> bool {
    schema.as_object().is_some_and(|o| {
        o.get("type").and_then(Value::as_str) == Some("object")
            && !o.contains_key("properties")
            && !o.contains_key("additionalProperties")
            && !o.contains_key("$ref")
    })
}

fn any_json_values_in(schema: &mut Value, ptr: &str, changes: &mut Vec<String>) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if let Some(values) = obj.get_mut("additionalProperties") {
        if is_bare_object(values) {
            *values = json!({});
            changes.push(format!(
                "{ptr}/additionalProperties: {{type: object}} -> {{}} (any JSON value)"
            ));
        } else {
            any_json_values_in(values, &format!("{ptr}/additionalProperties"), changes);
        }
    }
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            any_json_values_in(prop, &format!("{ptr}/properties/{name}"), changes);
        }
    }
}

/// The spec's `Twin` lacks two properties the service returns: `configurations` (which
/// automatic device configurations target the twin and whether they were applied, recorded in
/// `QueryClient_GetAllDevicesTwinsWithTag.json` as
/// `{"<config id>": {"status": "Applied"}}`) and `modelId` (the IoT Plug and Play model the
/// device announced). typify drops unknown fields silently, so without them the raw client
/// loses that data; we declare both (read-only, optional). Fails if `Twin` already has either.
pub fn iothub_twin_configurations_and_model_id(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "iothub_twin_configurations_and_model_id";
    let props = spec
        .pointer_mut("/components/schemas/Twin/properties")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::fixup(NAME, "schema Twin not found"))?;
    for name in ["configurations", "modelId"] {
        if props.contains_key(name) {
            return Err(Error::fixup(NAME, format!("Twin already declares {name}")));
        }
    }
    props.insert(
        "configurations".into(),
        json!({
            "description": "Automatic device configurations targeting this twin, by configuration id (read-only).",
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "status": {
                        "description": "Known values: `Targeted`, `Applied`. The service may return others.",
                        "type": "string"
                    }
                }
            }
        }),
    );
    props.insert(
        "modelId".into(),
        json!({
            "description": "The IoT Plug and Play model id the device announced, if any (read-only).",
            "type": "string"
        }),
    );
    Ok(vec![
        "#/components/schemas/Twin/properties/configurations: added".into(),
        "#/components/schemas/Twin/properties/modelId: added".into(),
    ])
}

/// Direct method payloads are declared `{type: object}`, but a method's request and response
/// payloads are any JSON value: devices answer with a string, a number, an array or `null` as
/// often as with an object (the service passes them through). typify renders `{type: object}`
/// as `serde_json::Map`, so the raw client could neither send a string payload nor decode a
/// device's numeric answer. We make both `payload` properties the empty schema `{}`
/// (`serde_json::Value`), keeping their descriptions. Fails if either is no longer a bare object.
pub fn iothub_method_payload_any_json(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "iothub_method_payload_any_json";
    let mut changes = Vec::new();
    for schema in ["CloudToDeviceMethod", "CloudToDeviceMethodResult"] {
        let ptr = format!("/components/schemas/{schema}/properties/payload");
        let payload = spec
            .pointer_mut(&ptr)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| Error::fixup(NAME, format!("{schema}.payload not found")))?;
        if payload.get("type") != Some(&json!("object")) || payload.contains_key("properties") {
            return Err(Error::fixup(
                NAME,
                format!("{schema}.payload is no longer a bare {{type: object}}"),
            ));
        }
        payload.remove("type");
        changes.push(format!("#{ptr}: any JSON"));
    }
    Ok(changes)
}

/// ADT JSON Patch bodies are declared `application/json-patch+json`, which progenitor 0.15.1
/// refuses (`BodyContentType::from_str`: "unexpected content type"). We re-key the four request
/// bodies as `application/json` (the body is still a JSON array, so serialization is unchanged);
/// the `pre` hook in `src/pipeline.rs` restores the real Content-Type on the wire, and
/// `tests/raw_wire.rs` checks it. Fails if any of the four no longer uses the json-patch type.
pub fn adt_json_patch_as_json(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "adt_json_patch_as_json";
    const PATCH: &str = "application/json-patch+json";
    let mut changes = Vec::new();
    for id in ADT_JSON_PATCH_OPERATIONS {
        let op = find_operation(spec, id)
            .ok_or_else(|| Error::fixup(NAME, format!("operation {id} not found")))?;
        let content = op
            .get_mut("requestBody")
            .and_then(|b| b.get_mut("content"))
            .and_then(Value::as_object_mut)
            .ok_or_else(|| Error::fixup(NAME, format!("{id} has no request body")))?;
        let schema = content
            .remove(PATCH)
            .ok_or_else(|| Error::fixup(NAME, format!("{id} body is not {PATCH}")))?;
        if content.contains_key("application/json") {
            return Err(Error::fixup(
                NAME,
                format!("{id} already has an application/json body"),
            ));
        }
        content.insert("application/json".into(), schema);
        changes.push(format!("{id}: request body {PATCH} -> application/json"));
    }
    Ok(changes)
}

/// ADT declares errors only as `default` responses. progenitor 0.15.1 counts `default` as a
/// success candidate as well, so `200: T` plus `default: ErrorResponse` trips the single
/// success type assertion (and would make errors look like successes). We replace each
/// `default` with `4XX` and `5XX` ranges of the same shape, which progenitor types as
/// `Error::ErrorResponse(ResponseValue<types::ErrorResponse>)`.
pub fn adt_default_to_error_ranges(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "adt_default_to_error_ranges";
    let mut changes = Vec::new();
    for_each_operation(spec, |id, op| {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        if let Some(default) = responses.remove("default") {
            for range in ["4XX", "5XX"] {
                if responses.contains_key(range) {
                    return Err(Error::fixup(NAME, format!("{id} already declares {range}")));
                }
                responses.insert(range.into(), default.clone());
            }
            changes.push(format!("{id}: default -> 4XX, 5XX"));
        }
        Ok(())
    })?;
    if changes.is_empty() {
        return Err(Error::fixup(
            NAME,
            "no operation declares a `default` response",
        ));
    }
    Ok(changes)
}

/// The `api-version` query parameter is a plain string, whatever constraint the spec puts on
/// it (ADT 2023-10-31 and 2023-02-27-preview: `minLength: 1`; ADT 2020-10-31: a one-value
/// `enum`). typify turns a constrained string into a validated newtype (or an enum), and because
/// progenitor names parameter types per operation, that yields one `*ApiVersion` type per
/// operation, which every facade call site would have to build. A plain `&str` is what every
/// caller passes: the facade sends the generated client's `api_version()` (or the caller's
/// `ClientOptions::api_version` override).
///
/// Normalises the shared `components/parameters` entries and any inline operation parameter
/// named `api-version`; keeps `type`, `default`, `description`. Stale when every `api-version`
/// schema is already a plain string (saying what it found).
pub fn api_version_plain_string(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "api_version_plain_string";
    const CONSTRAINTS: [&str; 5] = ["minLength", "maxLength", "pattern", "enum", "format"];
    let mut changes = Vec::new();
    let mut found = Vec::new();
    let mut normalise = |at: String, param: &mut Value| {
        let is_api_version = param.get("name").and_then(Value::as_str) == Some("api-version")
            && param.get("in").and_then(Value::as_str) == Some("query");
        if !is_api_version {
            return;
        }
        let Some(schema) = param.get_mut("schema").and_then(Value::as_object_mut) else {
            return;
        };
        found.push(format!("{at}: {}", Value::Object(schema.clone())));
        let removed: Vec<String> = CONSTRAINTS
            .iter()
            .filter_map(|c| schema.remove(*c).map(|v| format!("{c} {v}")))
            .collect();
        if !removed.is_empty() {
            schema.insert("type".into(), json!("string"));
            changes.push(format!("{at}: removed {}", removed.join(", ")));
        }
    };
    if let Some(params) = spec
        .pointer_mut("/components/parameters")
        .and_then(Value::as_object_mut)
    {
        for (name, param) in params.iter_mut() {
            normalise(format!("components/parameters/{name}"), param);
        }
    }
    for_each_operation(spec, |id, op| {
        if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            for param in params {
                normalise(format!("{id} parameter api-version"), param);
            }
        }
        Ok(())
    })?;
    if changes.is_empty() {
        let found = if found.is_empty() {
            "no api-version query parameter with a schema".to_string()
        } else {
            format!("already plain: {}", found.join("; "))
        };
        return Err(Error::fixup(
            NAME,
            format!("every api-version is already a plain string ({found})"),
        ));
    }
    Ok(changes)
}

/// The ADT documents a caller reads (a twin, a relationship, a component) are the named
/// schemas `DigitalTwin`, `Relationship` and `Component` (free-form JSON objects), whatever the
/// spec version: 2020-10-31 declares those answers as inline `{type: object}` schemas, which
/// typify renders as a bare `serde_json::Map` instead of the named types later versions have,
/// so the facade and raw users would see different types per version. Each such 2xx body
/// becomes a reference to the named schema (added, as the later specs define it, if absent).
/// Stale when every one of those answers already references its named schema.
pub fn adt_named_documents(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "adt_named_documents";
    const DOCUMENTS: [(&str, &str, &str); 5] = [
        ("DigitalTwins_GetById", "DigitalTwin", "Digital twin"),
        ("DigitalTwins_Add", "DigitalTwin", "Digital twin"),
        (
            "DigitalTwins_GetRelationshipById",
            "Relationship",
            "Digital twin relationship",
        ),
        (
            "DigitalTwins_AddRelationship",
            "Relationship",
            "Digital twin relationship",
        ),
        (
            "DigitalTwins_GetComponent",
            "Component",
            "Digital twin component",
        ),
    ];
    let mut changes = Vec::new();
    let mut found = Vec::new();
    let mut added = Vec::new();
    for (id, schema_name, description) in DOCUMENTS {
        let target = format!("#/components/schemas/{schema_name}");
        let op = find_operation(spec, id)
            .ok_or_else(|| Error::fixup(NAME, format!("operation {id} not found")))?;
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            if !status.starts_with('2') {
                continue;
            }
            let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
                continue;
            };
            for media in content.values_mut() {
                let Some(schema) = media.get_mut("schema") else {
                    continue;
                };
                if is_bare_object(schema) {
                    *schema = json!({ "$ref": target });
                    changes.push(format!(
                        "{id}: {status} body {{type: object}} -> {schema_name}"
                    ));
                    added.push((schema_name, description));
                } else {
                    found.push(format!("{id} {status}: {schema}"));
                }
            }
        }
    }
    if changes.is_empty() {
        return Err(Error::fixup(
            NAME,
            format!(
                "every twin, relationship and component answer is already a named schema ({})",
                found.join("; ")
            ),
        ));
    }
    let schemas = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::fixup(NAME, "no components/schemas"))?;
    for (name, description) in added {
        schemas.entry(name.to_string()).or_insert_with(
            || json!({ "description": description, "type": "object", "additionalProperties": {} }),
        );
    }
    Ok(changes)
}

/// Makes string enums in response/request models open: an unknown value from the service must
/// still deserialize.
///
/// typify 0.8 (used by progenitor 0.15.1) generates a closed Rust enum for a string `enum`, so a
/// value the service adds later (ADT marks its job statuses `x-ms-enum.modelAsExtensible`; IoT
/// Hub's error-code, job-type and job-status lists grow over time) would fail the *whole*
/// response. Alternatives considered: a typify `with_replacement` per enum needs a hand-written
/// open enum for each of ~20 schemas; a `oneOf [enum, string]` makes typify emit untagged
/// `Variant0/Variant1` wrappers that are harder to match on than a string. We therefore turn
/// every string enum under `components/schemas` into a plain `string` and keep the known values
/// in its description (rendered into the rustdoc); the facade exposes typed `#[non_exhaustive]`
/// enums where callers branch on a value. Request-parameter enums (ADT `If-None-Match: *`) are
/// left closed: they are only ever sent, never received.
pub fn open_enums(spec: &mut Value) -> Result<Vec<String>> {
    rewrite_each_schema(
        spec,
        "open_enums",
        "no string enum found in components/schemas",
        open_enums_in,
    )
}

fn open_enums_in(schema: &mut Value, ptr: &str, changes: &mut Vec<String>) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let is_string = matches!(
        obj.get("type").and_then(Value::as_str),
        Some("string") | None
    );
    if is_string && let Some(Value::Array(values)) = obj.get("enum") {
        let known: Vec<String> = values
            .iter()
            .map(|v| match v {
                Value::String(s) => format!("`{s}`"),
                other => format!("`{other}`"),
            })
            .collect();
        let note = format!(
            "Known values: {}. The service may return others.",
            known.join(", ")
        );
        let description = match obj.get("description").and_then(Value::as_str) {
            Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
            _ => note,
        };
        obj.remove("enum");
        obj.insert("type".into(), json!("string"));
        obj.insert("description".into(), json!(description));
        changes.push(format!(
            "{ptr}: enum -> string ({} known values)",
            known.len()
        ));
    }
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            open_enums_in(prop, &format!("{ptr}/properties/{name}"), changes);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = obj.get_mut(key) {
            open_enums_in(inner, &format!("{ptr}/{key}"), changes);
        }
    }
}

/// The IoT Hub spec declares no error responses at all, so progenitor would surface every
/// service error as an untyped `Error::UnexpectedResponse(reqwest::Response)`.
///
/// We add a permissive `IotHubErrorResponse` schema matching what the service really sends
/// (see `tests/recordings/dotnet-iothub-service/*_EtagDoesNotMatch.json`):
/// `{"Message": "ErrorCode:PreconditionFailed;…", "ExceptionMessage": "Tracking ID:…"}`, sometimes
/// with `ErrorCode` (a string or a number depending on the endpoint). Every field is optional and
/// untyped where the service varies, so any JSON object parses; the facade digs the error code out
/// of `Message` or the `iothub-errorcode` header. Each operation without any declared error
/// response gets `4XX` and `5XX` pointing at it. Operations that already declare an error
/// response (`BulkRegistry_UpdateRegistry` returns a `BulkRegistryOperationResult` on 400) are
/// left alone, because progenitor allows only one error type per operation.
pub fn iothub_typed_errors(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "iothub_typed_errors";
    let error_ref = json!({
        "description": "IoT Hub error.",
        "content": { "application/json": { "schema": {
            "$ref": format!("#/components/schemas/{IOTHUB_ERROR_SCHEMA}")
        } } }
    });
    let mut changes = Vec::new();
    for_each_operation(spec, |id, op| {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        let declares_errors = responses
            .keys()
            .any(|code| code.starts_with('4') || code.starts_with('5') || code == "default");
        if !declares_errors {
            responses.insert("4XX".into(), error_ref.clone());
            responses.insert("5XX".into(), error_ref.clone());
            changes.push(format!("{id}: added 4XX, 5XX -> {IOTHUB_ERROR_SCHEMA}"));
        }
        Ok(())
    })?;
    if changes.is_empty() {
        return Err(Error::fixup(
            NAME,
            "every operation already declares error responses",
        ));
    }
    let schemas = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::fixup(NAME, "no components/schemas"))?;
    if schemas.contains_key(IOTHUB_ERROR_SCHEMA) {
        return Err(Error::fixup(
            NAME,
            format!("the spec already defines {IOTHUB_ERROR_SCHEMA}"),
        ));
    }
    schemas.insert(
        IOTHUB_ERROR_SCHEMA.into(),
        json!({
            "description": "Error body returned by IoT Hub. All fields are optional: the service's error shape varies by endpoint.",
            "type": "object",
            "properties": {
                "Message": {
                    "description": "Human-readable message; often starts with `ErrorCode:<code>;` and may hold JSON in a string.",
                    "type": "string"
                },
                "ExceptionMessage": {
                    "description": "Diagnostic text, usually `Tracking ID:<id>-TimeStamp:<time>`.",
                    "type": "string"
                },
                "ErrorCode": {
                    "description": "Service error code when present (a string or a number depending on the endpoint)."
                }
            }
        }),
    );
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixup_name(result: Result<Vec<String>>) -> (&'static str, String) {
        match result {
            Err(Error::Fixup { fixup, reason }) => (fixup, reason),
            other => panic!("expected a fixup error, got {other:?}"),
        }
    }

    fn spec_with_ops(ops: Value) -> Value {
        json!({ "openapi": "3.0.3", "info": { "title": "t", "version": "1" },
                "paths": ops, "components": { "schemas": {} } })
    }

    #[test]
    fn single_success_type_drops_an_untyped_body_and_keeps_both_statuses() {
        let mut spec = spec_with_ops(json!({ "/jobs/{id}": { "delete": {
            "operationId": "Jobs_CancelImportExportJob",
            "responses": {
                "200": { "description": "ok", "content": { "application/json": { "schema": { "type": "object" } } } },
                "204": { "description": "none" }
            }
        } } }));
        let changes = single_success_type(&mut spec).unwrap();
        assert_eq!(
            changes,
            [
                "Jobs_CancelImportExportJob: removed the untyped body of 200 (so 200 and 204 are all body-less successes)"
            ]
        );
        let responses = &spec["paths"]["/jobs/{id}"]["delete"]["responses"];
        assert_eq!(responses["200"], json!({ "description": "ok" }));
        assert_eq!(responses["204"], json!({ "description": "none" }));
        // Applying it again finds nothing to change, and says what it found.
        let (name, reason) = fixup_name(single_success_type(&mut spec));
        assert_eq!(name, "single_success_type");
        assert!(
            reason.contains("already has one success type (1 operations checked)"),
            "{reason}"
        );
    }

    #[test]
    fn single_success_type_drops_a_bodyless_status_beside_a_typed_body() {
        let twin = json!({ "description": "twin", "content": { "application/json": {
            "schema": { "$ref": "#/components/schemas/Twin" } } } });
        let mut spec = spec_with_ops(json!({ "/digitaltwins/{id}": { "put": {
            "operationId": "DigitalTwins_Add",
            "responses": { "200": twin, "202": { "description": "accepted" },
                           "4XX": { "description": "error" } }
        } } }));
        let changes = single_success_type(&mut spec).unwrap();
        assert_eq!(
            changes,
            ["DigitalTwins_Add: removed body-less 202 beside 200 with a body"]
        );
        let responses = &spec["paths"]["/digitaltwins/{id}"]["put"]["responses"];
        assert_eq!(responses["200"], twin);
        assert!(responses.get("202").is_none());
        assert!(responses.get("4XX").is_some(), "errors are left alone");
    }

    fn patch_op(id: &str, media: &str) -> Value {
        json!({ "patch": { "operationId": id, "requestBody": { "content": {
            media: { "schema": { "type": "array", "items": { "type": "object" } } } } },
            "responses": {} } })
    }

    #[test]
    fn twin_value_maps_accept_any_json() {
        let mut spec = json!({ "components": { "schemas": {
            "Twin": { "type": "object", "properties": {
                "tags": { "type": "object", "additionalProperties": { "type": "object" } },
                "properties": { "$ref": "#/components/schemas/TwinProperties" }
            } },
            "TwinProperties": { "type": "object", "properties": {
                "desired": { "type": "object", "additionalProperties": { "type": "object" } }
            } },
            "Content": { "type": "object", "properties": {
                "modulesContent": { "type": "object", "additionalProperties": {
                    "type": "object", "additionalProperties": { "type": "object" } } }
            } },
            "Labels": { "type": "object", "properties": {
                "labels": { "type": "object", "additionalProperties": { "type": "string" } },
                "shaped": { "type": "object", "additionalProperties": {
                    "type": "object", "properties": { "status": { "type": "string" } } } }
            } }
        } } });
        let changes = iothub_twin_values_any_json(&mut spec).unwrap();
        assert_eq!(
            changes,
            vec![
                "#/components/schemas/Content/properties/modulesContent/additionalProperties/additionalProperties: {type: object} -> {} (any JSON value)",
                "#/components/schemas/Twin/properties/tags/additionalProperties: {type: object} -> {} (any JSON value)",
                "#/components/schemas/TwinProperties/properties/desired/additionalProperties: {type: object} -> {} (any JSON value)",
            ]
        );
        let schemas = &spec["components"]["schemas"];
        assert_eq!(
            schemas["Twin"]["properties"]["tags"]["additionalProperties"],
            json!({})
        );
        // The outer level of a map of maps stays an object map; typed and shaped values stay.
        assert_eq!(
            schemas["Content"]["properties"]["modulesContent"]["additionalProperties"]["type"],
            "object"
        );
        assert_eq!(
            schemas["Labels"]["properties"]["labels"]["additionalProperties"],
            json!({ "type": "string" })
        );
        assert!(
            schemas["Labels"]["properties"]["shaped"]["additionalProperties"]
                .get("properties")
                .is_some()
        );
        let (name, reason) = fixup_name(iothub_twin_values_any_json(&mut spec));
        assert_eq!(name, "iothub_twin_values_any_json");
        assert!(reason.contains("no map of bare objects"), "{reason}");
    }

    #[test]
    fn twin_gains_configurations_and_model_id() {
        let mut spec = json!({ "components": { "schemas": {
            "Twin": { "type": "object", "properties": { "deviceId": { "type": "string" } } }
        } } });
        let changes = iothub_twin_configurations_and_model_id(&mut spec).unwrap();
        assert_eq!(changes.len(), 2);
        let props = &spec["components"]["schemas"]["Twin"]["properties"];
        assert_eq!(
            props["configurations"]["additionalProperties"]["properties"]["status"]["type"],
            "string"
        );
        assert_eq!(props["modelId"]["type"], "string");
        let (name, reason) = fixup_name(iothub_twin_configurations_and_model_id(&mut spec));
        assert_eq!(name, "iothub_twin_configurations_and_model_id");
        assert!(
            reason.contains("already declares configurations"),
            "{reason}"
        );
    }

    #[test]
    fn method_payloads_become_any_json() {
        let mut spec = json!({ "components": { "schemas": {
            "CloudToDeviceMethod": { "properties": {
                "payload": { "description": "request", "type": "object" } } },
            "CloudToDeviceMethodResult": { "properties": {
                "payload": { "description": "result", "type": "object" } } }
        } } });
        let changes = iothub_method_payload_any_json(&mut spec).unwrap();
        assert_eq!(changes.len(), 2);
        let schemas = &spec["components"]["schemas"];
        assert_eq!(
            schemas["CloudToDeviceMethod"]["properties"]["payload"],
            json!({ "description": "request" })
        );
        assert_eq!(
            schemas["CloudToDeviceMethodResult"]["properties"]["payload"],
            json!({ "description": "result" })
        );
        let (name, reason) = fixup_name(iothub_method_payload_any_json(&mut spec));
        assert_eq!(name, "iothub_method_payload_any_json");
        assert!(reason.contains("no longer a bare"), "{reason}");
    }

    #[test]
    fn json_patch_bodies_are_rekeyed_as_json() {
        let mut paths = Map::new();
        for (i, id) in ADT_JSON_PATCH_OPERATIONS.iter().enumerate() {
            paths.insert(
                format!("/p{i}"),
                patch_op(id, "application/json-patch+json"),
            );
        }
        let mut spec = spec_with_ops(Value::Object(paths));
        let changes = adt_json_patch_as_json(&mut spec).unwrap();
        assert_eq!(changes.len(), 4);
        for i in 0..4 {
            let content = &spec["paths"][format!("/p{i}")]["patch"]["requestBody"]["content"];
            assert_eq!(content.as_object().unwrap().len(), 1);
            assert_eq!(content["application/json"]["schema"]["type"], "array");
        }
        let (name, reason) = fixup_name(adt_json_patch_as_json(&mut spec));
        assert_eq!(name, "adt_json_patch_as_json");
        assert!(
            reason.contains("is not application/json-patch+json"),
            "{reason}"
        );
    }

    #[test]
    fn json_patch_fixup_fails_if_one_operation_is_gone() {
        let mut spec = spec_with_ops(
            json!({ "/p": patch_op("DigitalTwins_Update", "application/json-patch+json") }),
        );
        let (_, reason) = fixup_name(adt_json_patch_as_json(&mut spec));
        assert!(
            reason.contains("DigitalTwinModels_Update not found"),
            "{reason}"
        );
    }

    #[test]
    fn default_responses_become_error_ranges() {
        let error = json!({ "description": "e", "content": { "application/json": {
            "schema": { "$ref": "#/components/schemas/ErrorResponse" } } } });
        let mut spec = spec_with_ops(json!({ "/t": { "get": {
            "operationId": "G", "responses": { "200": { "description": "ok" }, "default": error }
        } } }));
        let changes = adt_default_to_error_ranges(&mut spec).unwrap();
        assert_eq!(changes, vec!["G: default -> 4XX, 5XX".to_string()]);
        let responses = &spec["paths"]["/t"]["get"]["responses"];
        assert!(responses.get("default").is_none());
        assert_eq!(responses["4XX"], error);
        assert_eq!(responses["5XX"], error);
        let (name, _) = fixup_name(adt_default_to_error_ranges(&mut spec));
        assert_eq!(name, "adt_default_to_error_ranges");
    }

    #[test]
    fn api_version_becomes_a_plain_string_from_min_length_or_enum() {
        for (constraint, value) in [("minLength", json!(1)), ("enum", json!(["2020-10-31"]))] {
            let mut spec = json!({ "components": { "parameters": { "api-version": {
                "name": "api-version", "in": "query", "description": "d",
                "schema": { "type": "string", constraint: value } } } } });
            let changes = api_version_plain_string(&mut spec).unwrap();
            assert_eq!(
                changes,
                [format!(
                    "components/parameters/api-version: removed {constraint} {value}"
                )]
            );
            assert_eq!(
                spec["components"]["parameters"]["api-version"]["schema"],
                json!({ "type": "string" })
            );
            let (name, reason) = fixup_name(api_version_plain_string(&mut spec));
            assert_eq!(name, "api_version_plain_string");
            assert!(
                reason.contains(
                    r#"already plain: components/parameters/api-version: {"type":"string"}"#
                ),
                "{reason}"
            );
        }
    }

    #[test]
    fn api_version_inline_parameters_are_normalised_too() {
        let mut spec = spec_with_ops(json!({ "/t": { "get": { "operationId": "G",
            "parameters": [{ "name": "api-version", "in": "query",
                             "schema": { "type": "string", "default": "1", "pattern": "^1$" } }],
            "responses": {} } } }));
        let changes = api_version_plain_string(&mut spec).unwrap();
        assert_eq!(
            changes,
            [r#"G parameter api-version: removed pattern "^1$""#]
        );
        assert_eq!(
            spec["paths"]["/t"]["get"]["parameters"][0]["schema"],
            json!({ "type": "string", "default": "1" })
        );
    }

    #[test]
    fn string_enums_become_documented_strings() {
        let mut spec = json!({ "components": { "schemas": {
            "Job": { "type": "object", "properties": {
                "status": { "description": "Status.", "enum": ["running", "failed"],
                            "x-ms-enum": { "modelAsExtensible": true } },
                "tags": { "type": "array", "items": { "type": "string", "enum": ["a"] } }
            } },
            "Plain": { "type": "string" }
        } } });
        let changes = open_enums(&mut spec).unwrap();
        assert_eq!(changes.len(), 2, "{changes:?}");
        let status = &spec["components"]["schemas"]["Job"]["properties"]["status"];
        assert!(status.get("enum").is_none());
        assert_eq!(status["type"], "string");
        assert_eq!(
            status["description"],
            "Status.\n\nKnown values: `running`, `failed`. The service may return others."
        );
        let items = &spec["components"]["schemas"]["Job"]["properties"]["tags"]["items"];
        assert!(items.get("enum").is_none());
        let (name, _) = fixup_name(open_enums(&mut spec));
        assert_eq!(name, "open_enums");
    }

    #[test]
    fn iothub_errors_are_added_where_none_are_declared() {
        let mut spec = spec_with_ops(json!({
            "/a": { "get": { "operationId": "A", "responses": { "200": { "description": "ok" } } } },
            "/b": { "post": { "operationId": "B", "responses": {
                "200": { "description": "ok" }, "400": { "description": "bulk" } } } }
        }));
        let changes = iothub_typed_errors(&mut spec).unwrap();
        assert_eq!(
            changes,
            vec![format!("A: added 4XX, 5XX -> {IOTHUB_ERROR_SCHEMA}")]
        );
        let a = &spec["paths"]["/a"]["get"]["responses"];
        assert_eq!(
            a["4XX"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/IotHubErrorResponse"
        );
        assert!(a.get("5XX").is_some());
        let b = &spec["paths"]["/b"]["post"]["responses"];
        assert!(b.get("4XX").is_none(), "declared errors are left alone");
        let schema = &spec["components"]["schemas"][IOTHUB_ERROR_SCHEMA];
        assert!(schema["properties"].get("Message").is_some());
        assert!(schema.get("required").is_none(), "every field optional");
        let (name, reason) = fixup_name(iothub_typed_errors(&mut spec));
        assert_eq!(name, "iothub_typed_errors");
        assert!(reason.contains("already declares"), "{reason}");
    }

    #[test]
    fn iothub_error_schema_collision_is_an_error() {
        let mut spec = spec_with_ops(json!({
            "/a": { "get": { "operationId": "A", "responses": { "200": { "description": "ok" } } } }
        }));
        spec["components"]["schemas"][IOTHUB_ERROR_SCHEMA] = json!({});
        let (_, reason) = fixup_name(iothub_typed_errors(&mut spec));
        assert!(reason.contains("already defines"), "{reason}");
    }
}
