//! Fixups that fit the generated models to be the facade's wire types (no handwritten copies):
//! ids the service always sends become required, unknown fields survive a read-modify-write,
//! and values with a meaning beyond "string" (entity tags, keys, lenient timestamps, open
//! status enums) get a named schema that [`crate::generate::REPLACEMENTS`] swaps for the
//! facade's own type, so generated signatures use it.
//!
//! Each fixup fails when a schema or property it targets is missing or already in the shape it
//! enforces (the spec changed: review the fixup), naming what it found.

use serde_json::{Map, Value, json};

use crate::error::Error;

type Result<T> = std::result::Result<T, Error>;

fn schemas_mut<'a>(spec: &'a mut Value, fixup: &'static str) -> Result<&'a mut Map<String, Value>> {
    spec.pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::fixup(fixup, "no components/schemas"))
}

fn schema_mut<'a>(
    schemas: &'a mut Map<String, Value>,
    fixup: &'static str,
    name: &str,
) -> Result<&'a mut Map<String, Value>> {
    schemas
        .get_mut(name)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::fixup(fixup, format!("schema {name} not found")))
}

/// Adds `names` to the `required` list of each schema; fails when a property is missing or
/// already required.
fn require(
    spec: &mut Value,
    fixup: &'static str,
    targets: &[(&str, &[&str])],
) -> Result<Vec<String>> {
    let schemas = schemas_mut(spec, fixup)?;
    let mut changes = Vec::new();
    for (schema_name, props) in targets {
        let schema = schema_mut(schemas, fixup, schema_name)?;
        for prop in *props {
            if schema.get("properties").and_then(|p| p.get(prop)).is_none() {
                return Err(Error::fixup(
                    fixup,
                    format!("{schema_name} has no property {prop} any more"),
                ));
            }
            let required = schema
                .entry("required")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .ok_or_else(|| {
                    Error::fixup(fixup, format!("{schema_name}.required is not a list"))
                })?;
            if required.iter().any(|r| r == prop) {
                return Err(Error::fixup(
                    fixup,
                    format!("{schema_name}.{prop} is already required upstream"),
                ));
            }
            required.push(json!(prop));
            changes.push(format!("{schema_name}.{prop}: required"));
        }
    }
    Ok(changes)
}

/// Points `schema.prop` at the named component schema `target` (adding `target` with
/// `definition` on first use). Fails when the property is missing or not a plain value schema.
fn retype(
    schemas: &mut Map<String, Value>,
    fixup: &'static str,
    (schema_name, prop): (&str, &str),
    (target, definition): (&str, &Value),
) -> Result<String> {
    let schema = schema_mut(schemas, fixup, schema_name)?;
    let slot = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut(prop))
        .ok_or_else(|| {
            Error::fixup(
                fixup,
                format!("{schema_name} has no property {prop} any more"),
            )
        })?;
    if slot.get("$ref").is_some() {
        return Err(Error::fixup(
            fixup,
            format!(
                "{schema_name}.{prop} is already a reference ({})",
                slot["$ref"]
            ),
        ));
    }
    if slot.get("type").and_then(Value::as_str) != Some("string") {
        return Err(Error::fixup(
            fixup,
            format!("{schema_name}.{prop} is no longer a string (found {slot})"),
        ));
    }
    *slot = json!({ "$ref": format!("#/components/schemas/{target}") });
    schemas
        .entry(target.to_string())
        .or_insert_with(|| definition.clone());
    Ok(format!("{schema_name}.{prop} -> {target}"))
}

/// Every `format: date-time` property of every component schema (recursing into inline
/// objects), as `(schema, property)`.
fn date_time_properties(schemas: &Map<String, Value>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (name, schema) in schemas {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (prop, s) in props {
                if s.get("format").and_then(Value::as_str) == Some("date-time") {
                    found.push((name.clone(), prop.clone()));
                }
            }
        }
    }
    found
}

/// The named string schemas the IoT Hub fixups add; generation replaces each with the facade
/// type of the same meaning (see `generate::REPLACEMENTS`).
pub const IOTHUB_ETAG: &str = "EntityTag";
/// A symmetric key or other credential: `crate::Secret` (its `Debug` prints nothing secret).
pub const IOTHUB_SECRET: &str = "Secret";
/// An IoT Hub timestamp: `crate::iothub::Timestamp` (accepts the zone-less form).
pub const IOTHUB_TIMESTAMP: &str = "Timestamp";
/// The scheduled-job type: `crate::iothub::JobType` (open enum).
pub const IOTHUB_JOB_TYPE: &str = "IotHubJobType";
/// The scheduled-job status: `crate::iothub::JobStatus` (open enum).
pub const IOTHUB_JOB_STATUS: &str = "IotHubJobStatus";
/// ADT import and delete job status: `crate::digitaltwins::JobStatus` (open enum).
pub const ADT_JOB_STATUS: &str = "AdtJobStatus";

/// IoT Hub values whose meaning is more than "a string":
///
/// - entity tags (`etag`, `deviceEtag`) are [`IOTHUB_ETAG`]: the facade's `ETag` reads the
///   unquoted body form and sends the quoted `If-Match` form, so a stale or unquoted tag cannot be
///   sent by mistake;
/// - symmetric keys are [`IOTHUB_SECRET`]: a derived `Debug` of a device never prints a key;
/// - every `date-time` is [`IOTHUB_TIMESTAMP`]: IoT Hub renders a never-set time as
///   `0001-01-01T00:00:00` without a zone (recorded in every identity create response in
///   `tests/recordings/dotnet-iothub-service/`), which `chrono::DateTime<Utc>` refuses, so the
///   whole response would fail to parse;
/// - the scheduled-job `type` and `status` are [`IOTHUB_JOB_TYPE`] / [`IOTHUB_JOB_STATUS`]: open
///   enums callers can match on, which keep values a newer service adds.
pub fn iothub_wire_types(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "iothub_wire_types";
    let string = |description: &str| json!({ "type": "string", "description": description });
    let etag = string("An entity tag, unquoted in bodies.");
    let secret = string("A credential (symmetric key).");
    let timestamp = string("A UTC timestamp (RFC 3339, or IoT Hub's zone-less form).");
    let job_type = string("Scheduled job type.");
    let job_status = string("Scheduled job status.");
    let schemas = schemas_mut(spec, NAME)?;
    let mut changes = Vec::new();
    for target in [
        ("Twin", "etag"),
        ("Twin", "deviceEtag"),
        ("Device", "etag"),
        ("Module", "etag"),
        ("Configuration", "etag"),
    ] {
        changes.push(retype(schemas, NAME, target, (IOTHUB_ETAG, &etag))?);
    }
    for target in [
        ("SymmetricKey", "primaryKey"),
        ("SymmetricKey", "secondaryKey"),
    ] {
        changes.push(retype(schemas, NAME, target, (IOTHUB_SECRET, &secret))?);
    }
    let times = date_time_properties(schemas);
    if times.is_empty() {
        return Err(Error::fixup(
            NAME,
            "no date-time property left in components/schemas",
        ));
    }
    for (schema, prop) in &times {
        changes.push(retype(
            schemas,
            NAME,
            (schema, prop),
            (IOTHUB_TIMESTAMP, &timestamp),
        )?);
    }
    changes.push(retype(
        schemas,
        NAME,
        ("JobResponse", "type"),
        (IOTHUB_JOB_TYPE, &job_type),
    )?);
    changes.push(retype(
        schemas,
        NAME,
        ("JobResponse", "status"),
        (IOTHUB_JOB_STATUS, &job_status),
    )?);
    Ok(changes)
}

/// A scheduled twin-update job carries a twin *patch* (the job's query picks the devices, so
/// there is no `deviceId`), which the spec types as a whole `Twin`. `JobRequest.updateTwin` and
/// `JobResponse.updateTwin` get their own copy of the schema, [`IOTHUB_JOB_TWIN_PATCH`], so that
/// [`iothub_required_ids`] can require a twin's `deviceId` without breaking job documents.
pub fn iothub_job_twin_patch(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "iothub_job_twin_patch";
    let schemas = schemas_mut(spec, NAME)?;
    if schemas.contains_key(IOTHUB_JOB_TWIN_PATCH) {
        return Err(Error::fixup(
            NAME,
            format!("the spec already defines {IOTHUB_JOB_TWIN_PATCH}"),
        ));
    }
    let mut twin = schema_mut(schemas, NAME, "Twin")?.clone();
    twin.insert(
        "description".into(),
        json!("The twin patch a scheduled twin-update job applies to every device it targets."),
    );
    schemas.insert(IOTHUB_JOB_TWIN_PATCH.into(), Value::Object(twin));
    let mut changes = Vec::new();
    for schema in ["JobRequest", "JobResponse"] {
        let slot = schema_mut(schemas, NAME, schema)?
            .get_mut("properties")
            .and_then(|p| p.get_mut("updateTwin"))
            .ok_or_else(|| Error::fixup(NAME, format!("{schema} has no updateTwin any more")))?;
        if slot.get("$ref").and_then(Value::as_str) != Some("#/components/schemas/Twin") {
            return Err(Error::fixup(
                NAME,
                format!("{schema}.updateTwin no longer references Twin (found {slot})"),
            ));
        }
        *slot = json!({ "$ref": format!("#/components/schemas/{IOTHUB_JOB_TWIN_PATCH}") });
        changes.push(format!("{schema}.updateTwin -> {IOTHUB_JOB_TWIN_PATCH}"));
    }
    Ok(changes)
}

/// The schema [`iothub_job_twin_patch`] adds.
pub const IOTHUB_JOB_TWIN_PATCH: &str = "JobTwinPatch";

/// Ids the service always sends (and the facade always sends) are required, so they are
/// `String` rather than `Option<String>`: a twin's and an identity's `deviceId`, a module's
/// `moduleId`, a configuration's `id`, a job's `jobId`. The spec marks nothing required.
pub fn iothub_required_ids(spec: &mut Value) -> Result<Vec<String>> {
    require(
        spec,
        "iothub_required_ids",
        &[
            ("Twin", &["deviceId"]),
            ("Device", &["deviceId"]),
            ("Module", &["deviceId", "moduleId"]),
            ("Configuration", &["id"]),
            ("JobResponse", &["jobId"]),
        ],
    )
}

/// A twin always has `properties` (the service sends `{"desired": {...}, "reported": {...}}`
/// even when both are empty), so it is a plain field defaulting to empty sections rather than
/// an `Option` every caller unwraps.
pub fn iothub_twin_properties_default(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "iothub_twin_properties_default";
    let schemas = schemas_mut(spec, NAME)?;
    let twin = schema_mut(schemas, NAME, "Twin")?;
    let prop = twin
        .get_mut("properties")
        .and_then(|p| p.get_mut("properties"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::fixup(NAME, "Twin has no property `properties` any more"))?;
    let Some(reference) = prop.remove("$ref") else {
        return Err(Error::fixup(
            NAME,
            format!("Twin.properties is no longer a reference (found {prop:?})"),
        ));
    };
    // A `$ref` cannot carry siblings in OpenAPI 3.0 (they are dropped when parsed); a one-item
    // `allOf` can.
    prop.insert("allOf".into(), json!([{ "$ref": reference }]));
    prop.insert("default".into(), json!({}));
    Ok(vec!["Twin.properties: default {}".into()])
}

/// Documents the service extends keep fields this version does not model: each gets
/// `additionalProperties: {}`, which typify renders as a flattened `extra` map, so a
/// read-modify-write (get a device, change its status, put it back) does not silently drop
/// what a newer service sent.
pub fn iothub_keep_unknown_fields(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "iothub_keep_unknown_fields";
    let schemas = schemas_mut(spec, NAME)?;
    let mut changes = Vec::new();
    for name in [
        "Twin",
        "Device",
        "Module",
        "Configuration",
        "JobResponse",
        "DeviceRegistryOperationError",
        // A bulk 400 that rejects the whole request carries the service's `Message` /
        // `ExceptionMessage` in this body (its only declared error type).
        "BulkRegistryOperationResult",
    ] {
        let schema = schema_mut(schemas, NAME, name)?;
        if let Some(existing) = schema.get("additionalProperties") {
            return Err(Error::fixup(
                NAME,
                format!("{name} already declares additionalProperties ({existing})"),
            ));
        }
        schema.insert("additionalProperties".into(), json!({}));
        changes.push(format!(
            "{name}: additionalProperties {{}} (kept in `extra`)"
        ));
    }
    Ok(changes)
}

/// `Query_GetTwins` answers rows of whatever the query selects: whole twins for `SELECT *`, but
/// projections (`SELECT deviceId, tags.site`) and aggregates (`SELECT COUNT() AS n`) are not
/// twins, and the spec's `Twin` items would fail those whole pages. The rows become any JSON; the
/// facade decodes them as `Twin` or the caller's type.
pub fn iothub_query_rows_any_json(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "iothub_query_rows_any_json";
    let op = spec
        .pointer_mut("/paths/~1devices~1query/post")
        .filter(|op| op.get("operationId").and_then(Value::as_str) == Some("Query_GetTwins"))
        .ok_or_else(|| {
            Error::fixup(
                NAME,
                "operation Query_GetTwins (POST /devices/query) not found",
            )
        })?;
    let items = op
        .pointer_mut("/responses/200/content/application~1json/schema/items")
        .ok_or_else(|| {
            Error::fixup(
                NAME,
                "Query_GetTwins no longer answers 200 with a JSON array",
            )
        })?;
    if items.as_object().is_some_and(|o| o.is_empty()) {
        return Err(Error::fixup(
            NAME,
            "Query_GetTwins rows are already any JSON",
        ));
    }
    let before = items.to_string();
    *items = json!({});
    Ok(vec![format!(
        "Query_GetTwins: 200 rows {before} -> any JSON"
    )])
}

/// `Jobs_QueryScheduledJobs` pages like the twin query: the service answers a JSON array of jobs
/// and puts the next page's token in the `x-ms-continuation` response header, taking it back (and
/// the page size) in request headers. The spec declares a `QueryResult` object and no paging
/// headers, so the generated method could neither page nor decode a page. The response becomes an
/// array of `JobResponse` and the two request headers are declared as on `Query_GetTwins`.
pub fn iothub_jobs_query_paging(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "iothub_jobs_query_paging";
    let twin_query_headers: Vec<Value> = spec
        .pointer("/paths/~1devices~1query/post/parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter(|p| {
                    p.get("in").and_then(Value::as_str) == Some("header")
                        && matches!(
                            p.get("name").and_then(Value::as_str),
                            Some("x-ms-continuation" | "x-ms-max-item-count")
                        )
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if twin_query_headers.len() != 2 {
        return Err(Error::fixup(
            NAME,
            "Query_GetTwins no longer declares the x-ms-continuation and x-ms-max-item-count headers to copy",
        ));
    }
    let op = spec
        .pointer_mut("/paths/~1jobs~1v2~1query/get")
        .filter(|op| {
            op.get("operationId").and_then(Value::as_str) == Some("Jobs_QueryScheduledJobs")
        })
        .ok_or_else(|| {
            Error::fixup(
                NAME,
                "operation Jobs_QueryScheduledJobs (GET /jobs/v2/query) not found",
            )
        })?;
    let params = op
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Error::fixup(NAME, "Jobs_QueryScheduledJobs has no parameters"))?;
    if params
        .iter()
        .any(|p| p.get("in").and_then(Value::as_str) == Some("header"))
    {
        return Err(Error::fixup(
            NAME,
            "Jobs_QueryScheduledJobs already declares header parameters",
        ));
    }
    params.extend(twin_query_headers);
    let schema = op
        .pointer_mut("/responses/200/content/application~1json/schema")
        .ok_or_else(|| {
            Error::fixup(
                NAME,
                "Jobs_QueryScheduledJobs no longer answers 200 with JSON",
            )
        })?;
    if schema.get("$ref").and_then(Value::as_str) != Some("#/components/schemas/QueryResult") {
        return Err(Error::fixup(
            NAME,
            format!("Jobs_QueryScheduledJobs 200 is no longer a QueryResult (found {schema})"),
        ));
    }
    *schema = json!({ "type": "array", "items": { "$ref": "#/components/schemas/JobResponse" } });
    Ok(vec![
        "Jobs_QueryScheduledJobs: + headers x-ms-continuation, x-ms-max-item-count".into(),
        "Jobs_QueryScheduledJobs: 200 QueryResult -> array of JobResponse".into(),
    ])
}

/// The record schema [`iothub_feedback_body_any_json`] adds.
pub const IOTHUB_FEEDBACK_RECORD: &str = "FeedbackRecord";
/// A feedback record's `statusCode`: `crate::iothub::FeedbackStatus` (open enum).
pub const IOTHUB_FEEDBACK_STATUS: &str = "FeedbackStatusCode";

/// `CloudToDeviceMessages_ReceiveFeedbackNotification` answers 200 with a JSON array of feedback
/// records (the batch locked under the `ETag` lock token) or 204 when no feedback is pending, but
/// the spec declares the 200 without any content, so the generated method dropped the body. The
/// 200 gets an array of [`IOTHUB_FEEDBACK_RECORD`]: the fields every record carries (the .NET
/// `FeedbackRecord` and the Python `HttpRuntimeManager` read the same names:
/// `originalMessageId`, `deviceId`, `deviceGenerationId`, `statusCode`, `description`,
/// `enqueuedTimeUtc`), with the ids and the status required and the status an open enum
/// ([`IOTHUB_FEEDBACK_STATUS`]). `enqueuedTimeUtc` is a `date-time`, which
/// [`iothub_wire_types`] turns into the lenient timestamp.
///
/// Runs before `single_success_type`, which then drops the body-less 204 beside the typed 200
/// (progenitor allows one success type): the generated method answers a 204 as
/// `UnexpectedResponse`, which the facade reads as "no feedback".
pub fn iothub_feedback_body_any_json(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "iothub_feedback_body_any_json";
    const OP: &str = "CloudToDeviceMessages_ReceiveFeedbackNotification";
    {
        let schemas = schemas_mut(spec, NAME)?;
        for name in [IOTHUB_FEEDBACK_RECORD, IOTHUB_FEEDBACK_STATUS] {
            if schemas.contains_key(name) {
                return Err(Error::fixup(
                    NAME,
                    format!("the spec already defines {name}"),
                ));
            }
        }
    }
    let responses = operation_mut(spec, NAME, OP)?
        .get_mut("responses")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::fixup(NAME, format!("{OP} has no responses")))?;
    if !responses.contains_key("204") {
        return Err(Error::fixup(
            NAME,
            format!("{OP} no longer declares 204 (no feedback pending)"),
        ));
    }
    let ok = responses
        .get_mut("200")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::fixup(NAME, format!("{OP} no longer declares 200")))?;
    let untyped = match ok.get("content") {
        None => true,
        Some(content) => content
            .pointer("/application~1json/schema")
            .is_some_and(|s| s.as_object().is_some_and(|o| o.is_empty())),
    };
    if !untyped {
        return Err(Error::fixup(
            NAME,
            format!(
                "{OP} 200 already declares a body ({})",
                ok.get("content").map(Value::to_string).unwrap_or_default()
            ),
        ));
    }
    ok.insert(
        "content".into(),
        json!({ "application/json": { "schema": {
            "type": "array",
            "items": { "$ref": format!("#/components/schemas/{IOTHUB_FEEDBACK_RECORD}") }
        } } }),
    );
    let string = |description: &str| json!({ "type": "string", "description": description });
    let record = json!({
        "description": "One delivery outcome of a cloud-to-device message that asked for feedback (`iothub-ack`).",
        "type": "object",
        "required": ["originalMessageId", "deviceId", "statusCode"],
        "properties": {
            "originalMessageId": string("The `message-id` of the cloud-to-device message."),
            "deviceId": string("The device the message was sent to."),
            "deviceGenerationId": string("The generation id of that device (tells apart a deleted and re-created device of the same id)."),
            "statusCode": { "$ref": format!("#/components/schemas/{IOTHUB_FEEDBACK_STATUS}") },
            "description": string("The outcome in words."),
            "enqueuedTimeUtc": { "type": "string", "format": "date-time", "description": "When the outcome was recorded." }
        }
    });
    let schemas = schemas_mut(spec, NAME)?;
    schemas.insert(IOTHUB_FEEDBACK_RECORD.into(), record);
    schemas.insert(
        IOTHUB_FEEDBACK_STATUS.into(),
        string("Feedback status: Success, Expired, DeliveryCountExceeded, Rejected or Purged."),
    );
    Ok(vec![
        format!("{OP}: 200 body -> array of {IOTHUB_FEEDBACK_RECORD}"),
        format!("+ {IOTHUB_FEEDBACK_RECORD}, {IOTHUB_FEEDBACK_STATUS}"),
    ])
}

/// A PnP command's request and response are the caller's and the device's own payloads, passed
/// through by the service: any JSON value (a DTDL command's request and response schemas may be
/// any schema: a device answers `null`, a number or a string as often as an object, and a command
/// may take a bare `dateTime` string; the official SDKs send any JSON). The spec declares the
/// request body and the 200 of `DigitalTwin_InvokeRootLevelCommand` and
/// `DigitalTwin_InvokeComponentCommand` as a bare `{type: object}`, which typify renders as
/// `serde_json::Map`: a scalar payload could not be sent, and such an answer failed the whole
/// call after the command had run on the device. All four become the empty schema `{}`
/// (`serde_json::Value`), keeping their descriptions.
pub fn iothub_pnp_command_payloads_any_json(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "iothub_pnp_command_payloads_any_json";
    let mut changes = Vec::new();
    for id in [
        "DigitalTwin_InvokeRootLevelCommand",
        "DigitalTwin_InvokeComponentCommand",
    ] {
        let op = operation_mut(spec, NAME, id)?;
        for (what, key, pointer) in [
            (
                "request",
                "requestBody",
                "/content/application~1json/schema",
            ),
            ("200", "responses", "/200/content/application~1json/schema"),
        ] {
            let schema = op
                .get_mut(key)
                .and_then(|v| v.pointer_mut(pointer))
                .and_then(Value::as_object_mut)
                .ok_or_else(|| {
                    Error::fixup(NAME, format!("{id} no longer has a JSON {what} payload"))
                })?;
            if schema.get("type") != Some(&json!("object")) || schema.contains_key("properties") {
                return Err(Error::fixup(
                    NAME,
                    format!(
                        "{id} {what} payload is no longer a bare {{type: object}} (found {})",
                        Value::Object(schema.clone())
                    ),
                ));
            }
            schema.remove("type");
            changes.push(format!("{id}: {what} payload -> any JSON"));
        }
    }
    Ok(changes)
}

/// Blob URIs that carry a shared access signature, per spec: `(schema, property)`.
const SAS_URIS: [(&str, &str); 4] = [
    ("JobProperties", "inputBlobContainerUri"),
    ("JobProperties", "outputBlobContainerUri"),
    ("ImportJob", "inputBlobUri"),
    ("ImportJob", "outputBlobUri"),
];

/// Storage URIs in job documents are SAS URLs whose `sig` is a credential, and the services echo
/// them back in every job they return: each becomes [`IOTHUB_SECRET`] (`crate::auth::Secret`), so
/// a derived `Debug` of an IoT Hub import/export job (`JobProperties`) or an ADT import job never
/// prints a signature. Applies to the pairs of [`SAS_URIS`] the spec has (IoT Hub has the first
/// two, ADT from 2023-02-27-preview the last two); fails when it has none or one is no longer a
/// plain string. ADT: before `adt_import_job_request`, which copies these properties.
pub fn storage_sas_uris_secret(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "storage_sas_uris_secret";
    let secret =
        json!({ "type": "string", "description": "A credential (a SAS URL or symmetric key)." });
    let schemas = schemas_mut(spec, NAME)?;
    let present: Vec<(&str, &str)> = SAS_URIS
        .into_iter()
        .filter(|(schema, _)| schemas.contains_key(*schema))
        .collect();
    if present.is_empty() {
        return Err(Error::fixup(
            NAME,
            format!("the spec has none of the job schemas of {SAS_URIS:?}"),
        ));
    }
    let mut changes = Vec::new();
    for target in present {
        changes.push(retype(schemas, NAME, target, (IOTHUB_SECRET, &secret))?);
    }
    Ok(changes)
}

/// ADT job schemas, `(schema, what it is)`: the ones a spec version has get [`adt_job_shapes`].
const ADT_JOB_SCHEMAS: [&str; 2] = ["ImportJob", "DeleteJob"];

/// ADT import and delete job `status` is [`ADT_JOB_STATUS`], the facade's open enum (the spec
/// marks it `x-ms-enum.modelAsExtensible`), and the job `id` the service always returns is
/// required. Applies to each job schema the spec version has (2023-02-27-preview has import
/// jobs only); fails when it has none, or when one of them is already in this shape.
pub fn adt_job_shapes(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "adt_job_shapes";
    let status = json!({ "type": "string", "description": "Import or delete job status." });
    let present: Vec<&str> = {
        let schemas = schemas_mut(spec, NAME)?;
        ADT_JOB_SCHEMAS
            .into_iter()
            .filter(|s| schemas.contains_key(*s))
            .collect()
    };
    if present.is_empty() {
        return Err(Error::fixup(
            NAME,
            format!("the spec has none of the job schemas {ADT_JOB_SCHEMAS:?}"),
        ));
    }
    let mut changes = {
        let schemas = schemas_mut(spec, NAME)?;
        let mut changes = Vec::new();
        for schema in &present {
            changes.push(retype(
                schemas,
                NAME,
                (schema, "status"),
                (ADT_JOB_STATUS, &status),
            )?);
        }
        changes
    };
    let required: Vec<(&str, &[&str])> = present.iter().map(|s| (*s, &["id"][..])).collect();
    changes.extend(require(spec, NAME, &required)?);
    Ok(changes)
}

/// Finds an operation by id under `paths`.
fn operation_mut<'a>(
    spec: &'a mut Value,
    fixup: &'static str,
    operation_id: &str,
) -> Result<&'a mut Map<String, Value>> {
    spec.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(Value::as_object_mut)
        .find(|op| op.get("operationId").and_then(Value::as_str) == Some(operation_id))
        .ok_or_else(|| Error::fixup(fixup, format!("operation {operation_id} not found")))
}

/// The ADT relationship lists take the service's page size header like every other ADT list
/// (`max-items-per-page`), but the spec declares it only on the model, event route and job lists,
/// so `.page_size(n)` on a relationship list could not go through the generated method. The two
/// operations get the shared `max-items-per-page` parameter.
pub fn adt_relationship_lists_page_size(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "adt_relationship_lists_page_size";
    const PARAM: &str = "#/components/parameters/max-items-per-page";
    if spec
        .pointer("/components/parameters/max-items-per-page")
        .is_none()
    {
        return Err(Error::fixup(
            NAME,
            "the shared max-items-per-page parameter is gone",
        ));
    }
    let mut changes = Vec::new();
    for id in [
        "DigitalTwins_ListRelationships",
        "DigitalTwins_ListIncomingRelationships",
    ] {
        let params = operation_mut(spec, NAME, id)?
            .entry("parameters")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .ok_or_else(|| Error::fixup(NAME, format!("{id}.parameters is not a list")))?;
        if params
            .iter()
            .any(|p| p.get("$ref").and_then(Value::as_str) == Some(PARAM))
        {
            return Err(Error::fixup(
                NAME,
                format!("{id} already takes max-items-per-page"),
            ));
        }
        params.push(json!({ "$ref": PARAM }));
        changes.push(format!("{id}: + max-items-per-page"));
    }
    Ok(changes)
}

/// The schema [`adt_import_job_request`] adds.
pub const ADT_IMPORT_JOB_REQUEST: &str = "ImportJobRequest";

/// `ImportJobs_Add` takes the whole `ImportJob` as its body, whose `id`, `status` and times are
/// read-only (the service sets them; recorded SDK calls send only the two blob URIs). With the id
/// required by [`adt_job_shapes`], every create would send it. The body gets its own schema,
/// [`ADT_IMPORT_JOB_REQUEST`], with the two writable, required URIs.
pub fn adt_import_job_request(spec: &mut Value) -> Result<Vec<String>> {
    const NAME: &str = "adt_import_job_request";
    let job = {
        let schemas = schemas_mut(spec, NAME)?;
        if schemas.contains_key(ADT_IMPORT_JOB_REQUEST) {
            return Err(Error::fixup(
                NAME,
                format!("the spec already defines {ADT_IMPORT_JOB_REQUEST}"),
            ));
        }
        schema_mut(schemas, NAME, "ImportJob")?.clone()
    };
    let props = job.get("properties").and_then(Value::as_object);
    let uri = |name: &str| {
        props
            .and_then(|p| p.get(name))
            .cloned()
            .ok_or_else(|| Error::fixup(NAME, format!("ImportJob has no {name} any more")))
    };
    let request = json!({
        "description": "The body of an import job creation: the input and output blobs (everything else is set by the service).",
        "type": "object",
        "required": ["inputBlobUri", "outputBlobUri"],
        "properties": { "inputBlobUri": uri("inputBlobUri")?, "outputBlobUri": uri("outputBlobUri")? }
    });
    let body = operation_mut(spec, NAME, "ImportJobs_Add")?
        .get_mut("requestBody")
        .and_then(|b| b.pointer_mut("/content/application~1json/schema"))
        .ok_or_else(|| Error::fixup(NAME, "ImportJobs_Add has no JSON body any more"))?;
    if body.get("$ref").and_then(Value::as_str) != Some("#/components/schemas/ImportJob") {
        return Err(Error::fixup(
            NAME,
            format!("ImportJobs_Add body is no longer ImportJob (found {body})"),
        ));
    }
    *body = json!({ "$ref": format!("#/components/schemas/{ADT_IMPORT_JOB_REQUEST}") });
    schemas_mut(spec, NAME)?.insert(ADT_IMPORT_JOB_REQUEST.into(), request);
    Ok(vec![format!(
        "ImportJobs_Add: body ImportJob -> {ADT_IMPORT_JOB_REQUEST}"
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(schemas: Value) -> Value {
        json!({ "openapi": "3.0.3", "components": { "schemas": schemas } })
    }

    #[test]
    fn require_adds_and_refuses_twice() {
        let mut s = spec(
            json!({ "A": { "type": "object", "properties": { "id": { "type": "string" } } } }),
        );
        let changes = require(&mut s, "t", &[("A", &["id"])]).unwrap();
        assert_eq!(changes, ["A.id: required"]);
        assert_eq!(s["components"]["schemas"]["A"]["required"], json!(["id"]));
        let again = require(&mut s, "t", &[("A", &["id"])]).unwrap_err();
        assert!(again.to_string().contains("already required"), "{again}");
        let missing = require(&mut s, "t", &[("A", &["nope"])]).unwrap_err();
        assert!(
            missing.to_string().contains("no property nope"),
            "{missing}"
        );
    }

    fn feedback_spec(ok: Value) -> Value {
        json!({ "openapi": "3.0.3", "components": { "schemas": {} }, "paths": {
            "/messages/serviceBound/feedback": { "get": {
                "operationId": "CloudToDeviceMessages_ReceiveFeedbackNotification",
                "responses": { "200": ok, "204": { "description": "No Content." } }
            } }
        } })
    }

    #[test]
    fn feedback_body_becomes_an_array_of_records() {
        let mut s = feedback_spec(json!({ "description": "OK." }));
        let changes = iothub_feedback_body_any_json(&mut s).unwrap();
        assert_eq!(
            changes,
            [
                "CloudToDeviceMessages_ReceiveFeedbackNotification: 200 body -> array of FeedbackRecord",
                "+ FeedbackRecord, FeedbackStatusCode",
            ]
        );
        let ok = &s["paths"]["/messages/serviceBound/feedback"]["get"]["responses"]["200"];
        assert_eq!(
            ok["content"]["application/json"]["schema"]["items"]["$ref"],
            "#/components/schemas/FeedbackRecord"
        );
        let record = &s["components"]["schemas"]["FeedbackRecord"];
        assert_eq!(
            record["required"],
            json!(["originalMessageId", "deviceId", "statusCode"])
        );
        assert_eq!(
            record["properties"]["enqueuedTimeUtc"]["format"],
            "date-time"
        );
        // The 204 is left for single_success_type.
        assert!(
            s["paths"]["/messages/serviceBound/feedback"]["get"]["responses"]
                .get("204")
                .is_some()
        );
        // Twice: the schema now exists.
        let again = iothub_feedback_body_any_json(&mut s).unwrap_err();
        assert!(again.to_string().contains("already defines"), "{again}");
    }

    #[test]
    fn feedback_fixup_refuses_a_typed_200_or_a_missing_204() {
        let mut typed = feedback_spec(json!({ "description": "OK.", "content": {
            "application/json": { "schema": { "type": "array", "items": {} } } } }));
        let e = iothub_feedback_body_any_json(&mut typed).unwrap_err();
        assert!(e.to_string().contains("already declares a body"), "{e}");
        // An empty schema `{}` counts as untyped.
        let mut empty = feedback_spec(json!({ "description": "OK.", "content": {
            "application/json": { "schema": {} } } }));
        iothub_feedback_body_any_json(&mut empty).unwrap();
        let mut no_204 = feedback_spec(json!({ "description": "OK." }));
        no_204
            .pointer_mut("/paths/~1messages~1serviceBound~1feedback/get/responses")
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("204");
        let e = iothub_feedback_body_any_json(&mut no_204).unwrap_err();
        assert!(e.to_string().contains("no longer declares 204"), "{e}");
    }

    #[test]
    fn pnp_command_payloads_become_any_json() {
        let body = || json!({ "content": { "application/json": { "schema": { "description": "The Payload", "type": "object" } } } });
        let op = |id: &str| {
            json!({ "post": { "operationId": id, "requestBody": body(), "responses": { "200": { "description": "ok",
                "content": { "application/json": { "schema": { "description": "The Response Payload", "type": "object" } } } } } } })
        };
        let mut s = json!({ "openapi": "3.0.3", "paths": {
            "/a": op("DigitalTwin_InvokeRootLevelCommand"),
            "/b": op("DigitalTwin_InvokeComponentCommand"),
        } });
        let changes = iothub_pnp_command_payloads_any_json(&mut s).unwrap();
        assert_eq!(changes.len(), 4);
        assert_eq!(
            s["paths"]["/a"]["post"]["responses"]["200"]["content"]["application/json"]["schema"],
            json!({ "description": "The Response Payload" })
        );
        assert_eq!(
            s["paths"]["/b"]["post"]["requestBody"]["content"]["application/json"]["schema"],
            json!({ "description": "The Payload" })
        );
        let again = iothub_pnp_command_payloads_any_json(&mut s).unwrap_err();
        assert!(again.to_string().contains("no longer a bare"), "{again}");
    }

    #[test]
    fn retype_points_at_one_named_schema() {
        let mut s = spec(json!({ "A": { "type": "object", "properties": {
            "etag": { "type": "string" }, "other": { "type": "string" } } } }));
        let schemas = s
            .pointer_mut("/components/schemas")
            .unwrap()
            .as_object_mut()
            .unwrap();
        let def = json!({ "type": "string" });
        retype(schemas, "t", ("A", "etag"), ("ETag", &def)).unwrap();
        retype(schemas, "t", ("A", "other"), ("ETag", &def)).unwrap();
        assert_eq!(
            schemas["A"]["properties"]["etag"],
            json!({ "$ref": "#/components/schemas/ETag" })
        );
        assert_eq!(schemas["ETag"], def);
        let e = retype(schemas, "t", ("A", "etag"), ("ETag", &def)).unwrap_err();
        assert!(e.to_string().contains("already a reference"), "{e}");
    }
}
