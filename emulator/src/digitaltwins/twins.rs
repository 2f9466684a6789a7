//! `/digitaltwins/{id}`: twins, components and telemetry.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::{AdtError, AdtResult};
use super::util::{self, json_with_etag};
use super::{AdtState, DigitalTwinsService, TelemetryEvent, dtdl};

/// Check a `sourceTime` written by the client.
fn check_source_time(path: &str, v: &Value) -> AdtResult<()> {
    match v.as_str() {
        Some(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => Ok(()),
        _ => Err(AdtError::validation(format!(
            "'{path}' must be an RFC 3339 timestamp string."
        ))),
    }
}

/// Rebuild the `$metadata` of one twin or component object: a `lastUpdateTime` per property (refreshed for touched
/// ones), client `sourceTime`s kept, entries of absent properties dropped.
fn rebuild_meta(
    obj: &mut Map<String, Value>,
    old: Option<&Map<String, Value>>,
    components: &HashSet<String>,
    touched: &dyn Fn(&str) -> bool,
    now: &str,
    prefix: &str,
) -> AdtResult<()> {
    let given = match obj.get("$metadata") {
        Some(Value::Object(m)) => m.clone(),
        None => Map::new(),
        Some(_) => {
            return Err(AdtError::validation(format!(
                "'{prefix}$metadata' must be an object."
            )));
        }
    };
    let mut meta = Map::new();
    for (k, v) in &given {
        if k.starts_with('$') {
            meta.insert(k.clone(), v.clone());
        }
    }
    let keys: Vec<String> = obj
        .keys()
        .filter(|k| !k.starts_with('$') && !components.contains(*k))
        .cloned()
        .collect();
    for k in keys {
        let mut entry = Map::new();
        let prev = old.and_then(|o| o.get(&k)).and_then(Value::as_object);
        let last = prev.and_then(|p| p.get("lastUpdateTime")).cloned();
        match last {
            Some(l) if !touched(&k) => entry.insert("lastUpdateTime".into(), l),
            _ => entry.insert("lastUpdateTime".into(), json!(now)),
        };
        if let Some(st) = given.get(&k).and_then(|g| g.get("sourceTime")) {
            check_source_time(&format!("{prefix}$metadata/{k}/sourceTime"), st)?;
            entry.insert("sourceTime".into(), st.clone());
        } else if let Some(st) = prev.and_then(|p| p.get("sourceTime"))
            && !touched(&k)
        {
            entry.insert("sourceTime".into(), st.clone());
        }
        meta.insert(k, Value::Object(entry));
    }
    obj.insert("$metadata".into(), Value::Object(meta));
    Ok(())
}

/// Validate a twin body against its model and turn it into the stored document.
/// `touched(path)` says which properties (`Prop` or `comp/Prop`) were written by this request.
pub(super) fn finalize(
    st: &AdtState,
    id: &str,
    mut doc: Map<String, Value>,
    old: Option<&Value>,
    touched: &dyn Fn(&str) -> bool,
) -> AdtResult<Value> {
    let model = doc
        .get("$metadata")
        .and_then(|m| m.get("$model"))
        .and_then(Value::as_str)
        .ok_or_else(|| AdtError::validation("The twin must name its model in $metadata.$model."))?
        .to_string();
    let entry = st.models.get(&model).ok_or_else(|| {
        AdtError::bad_request("ModelNotFound", format!("There is no Model(s) available that matches the provided id(s) {model}. Check that the Model ID provided is valid by doing a Model_List API call."))
    })?;
    let old_model = old
        .and_then(|o| o.pointer("/$metadata/$model"))
        .and_then(Value::as_str);
    if entry.decommissioned && old_model != Some(model.as_str()) {
        return Err(AdtError::bad_request(
            "ModelDecommissioned",
            format!("The model {model} is decommissioned; new twins cannot use it."),
        ));
    }
    let resolved = st.resolve_model(&model)?;
    for (k, _) in doc.iter() {
        if k.starts_with('$') && k != "$metadata" && k != "$dtId" && k != "$etag" {
            return Err(AdtError::validation(format!(
                "'{k}' is not a settable twin property (names starting with '$' are reserved)."
            )));
        }
    }
    dtdl::check_twin_props(&doc, &resolved, "", true)?;
    let now = util::ts_z(chrono::Utc::now());
    let comps: HashSet<String> = resolved.components.keys().cloned().collect();
    let old_obj = old.and_then(Value::as_object);
    for c in &comps {
        let old_c = old_obj
            .and_then(|o| o.get(c))
            .and_then(|c| c.get("$metadata"))
            .and_then(Value::as_object);
        if let Some(Value::Object(cobj)) = doc.get_mut(c) {
            let cp = format!("{c}/");
            rebuild_meta(
                cobj,
                old_c,
                &HashSet::new(),
                &|k| touched(c) || touched(&format!("{cp}{k}")),
                &now,
                &cp,
            )?;
        }
    }
    let old_meta = old_obj
        .and_then(|o| o.get("$metadata"))
        .and_then(Value::as_object);
    rebuild_meta(&mut doc, old_meta, &comps, touched, &now, "")?;
    let meta = doc
        .get_mut("$metadata")
        .and_then(Value::as_object_mut)
        .expect("rebuilt");
    meta.retain(|k, _| !k.starts_with('$') || k == "$model");
    meta.insert("$model".into(), json!(model));
    meta.insert("$lastUpdateTime".into(), json!(now));
    doc.insert("$dtId".into(), json!(id));
    doc.insert("$etag".into(), json!(util::new_etag()));
    Ok(Value::Object(doc))
}

fn etag_of(v: &Value) -> String {
    v.get("$etag")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `GET /digitaltwins/{id}`.
pub async fn get_twin(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
) -> AdtResult<Response> {
    let st = svc.read();
    let t = st
        .twins
        .get(&id)
        .ok_or_else(|| AdtError::twin_not_found(&id))?;
    Ok(json_with_etag(StatusCode::OK, t, &etag_of(t)))
}

/// `PUT /digitaltwins/{id}`: create or replace; `If-None-Match: *` makes it create-only.
pub async fn put_twin(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AdtResult<Response> {
    check_id(&id)?;
    let create_only = util::if_none_match_star(&headers)?;
    let doc = util::parse_json(&body)?;
    let Value::Object(mut obj) = doc else {
        return Err(AdtError::invalid_argument("Payload is invalid."));
    };
    obj.remove("$dtId");
    obj.remove("$etag");
    let mut st = svc.write();
    if create_only && st.twins.contains_key(&id) {
        return Err(AdtError::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            format!(
                "If-None-Match: * header was specified but a twin with the id {id} was found. Please specify a different twin id."
            ),
        ));
    }
    // A replacement is a new twin document: every property gets a fresh lastUpdateTime.
    let twin = finalize(&st, &id, obj, None, &|_| true)?;
    let etag = etag_of(&twin);
    st.twins.insert(id, twin.clone());
    Ok(json_with_etag(StatusCode::OK, &twin, &etag))
}

pub(super) fn check_id(id: &str) -> AdtResult<()> {
    if id.is_empty() || id.len() > 128 || id.chars().any(|c| c.is_control()) {
        return Err(AdtError::invalid_argument(
            "The id must be 1-128 characters without control characters.",
        ));
    }
    Ok(())
}

/// Parse a JSON Patch body the way the service does: not an array of operation objects → ASP.NET problem+json,
/// an operation other than add/replace/remove → JsonPatchInvalid.
pub(crate) fn parse_patch(body: &[u8]) -> AdtResult<Vec<Value>> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        AdtError::problem(format!("The jsonPatchDocument field is required ({e})."))
    })?;
    let Value::Array(ops) = doc else {
        return Err(AdtError::problem(
            "The jsonPatchDocument field is required: the body must be a JSON array of operations.",
        ));
    };
    for (i, op) in ops.iter().enumerate() {
        let (Some(kind), Some(_)) = (
            op.get("op").and_then(Value::as_str),
            op.get("path").and_then(Value::as_str),
        ) else {
            return Err(AdtError::problem(format!(
                "Error converting value at [{i}] to a JSON Patch operation: 'op' and 'path' strings are required."
            )));
        };
        if !matches!(kind, "add" | "replace" | "remove") {
            return Err(AdtError::patch_invalid(format!(
                "Unsupported operation type {kind}. Please provide a valid patch document. See section on update apis in the documentation https://aka.ms/adtv2twins."
            )));
        }
        if kind != "remove" && op.get("value").is_none() {
            return Err(AdtError::patch_invalid(format!(
                "Operation {i} ({kind}) needs a 'value'."
            )));
        }
    }
    Ok(ops)
}

/// Apply operations to a copy (never half-applied), mapping failures to JsonPatchInvalid.
pub(crate) fn apply_patch(doc: &Value, ops: &[Value]) -> AdtResult<Value> {
    let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops.to_vec()))
        .map_err(|e| AdtError::patch_invalid(format!("Invalid patch document: {e}.")))?;
    let mut out = doc.clone();
    json_patch::patch(&mut out, &patch).map_err(|e| {
        AdtError::patch_invalid(format!(
            "The patch could not be applied: {e}. 'replace' and 'remove' need an existing target; add parent objects before their properties."
        ))
    })?;
    Ok(out)
}

fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

/// Apply a twin JSON Patch under the write lock; returns the new ETag.
fn patch_twin_inner(
    svc: &DigitalTwinsService,
    id: &str,
    headers: &HeaderMap,
    ops: Vec<Value>,
) -> AdtResult<String> {
    let mut touched: Vec<String> = Vec::new();
    for op in &ops {
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        let segs: Vec<String> = path.split('/').skip(1).map(unescape).collect();
        match segs.first().map(String::as_str) {
            None | Some("") => {
                return Err(AdtError::patch_invalid(
                    "The path '' (whole twin) cannot be patched; patch properties instead.",
                ));
            }
            Some("$dtId") | Some("$etag") => {
                return Err(AdtError::patch_invalid(format!(
                    "The path '{path}' is read-only."
                )));
            }
            Some("$metadata") => match segs.get(1).map(String::as_str) {
                Some("$model") if segs.len() == 2 => {}
                Some(p) if !p.starts_with('$') && segs.len() == 3 && segs[2] == "sourceTime" => {}
                _ => {
                    return Err(AdtError::patch_invalid(format!(
                        "The path '{path}' cannot be patched; only /$metadata/$model and /$metadata/<property>/sourceTime can."
                    )));
                }
            },
            Some(first) => {
                if segs.get(1).map(String::as_str) == Some("$metadata") {
                    let ok = segs.len() == 4 && segs[3] == "sourceTime";
                    if !ok {
                        return Err(AdtError::patch_invalid(format!(
                            "The path '{path}' cannot be patched; only /<component>/$metadata/<property>/sourceTime can."
                        )));
                    }
                } else if segs.len() >= 2 {
                    touched.push(format!("{first}/{}", segs[1]));
                }
                touched.push(first.to_string());
            }
        }
    }
    let mut st = svc.write();
    let current = st
        .twins
        .get(id)
        .ok_or_else(|| AdtError::twin_not_found(id))?
        .clone();
    util::check_if_match(headers, &etag_of(&current))?;
    let patched = apply_patch(&current, &ops)?;
    let Value::Object(obj) = patched else {
        return Err(AdtError::patch_invalid(
            "The patch replaced the twin with a non-object.",
        ));
    };
    let twin = finalize(&st, id, obj, Some(&current), &|k| {
        touched.iter().any(|t| t == k)
    })?;
    let etag = etag_of(&twin);
    st.twins.insert(id.to_string(), twin);
    Ok(etag)
}

/// `PATCH /digitaltwins/{id}`.
pub async fn patch_twin(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AdtResult<Response> {
    let ops = parse_patch(&body)?;
    let etag = patch_twin_inner(&svc, &id, &headers, ops)?;
    Ok(util::no_content_with_etag(&etag))
}

/// `DELETE /digitaltwins/{id}`: refused while relationships (incoming or outgoing) remain.
pub async fn delete_twin(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AdtResult<Response> {
    let mut st = svc.write();
    let t = st
        .twins
        .get(&id)
        .ok_or_else(|| AdtError::twin_not_found(&id))?;
    util::check_if_match(&headers, &etag_of(t))?;
    let out = st.rels.get(&id).is_some_and(|m| !m.is_empty());
    let inc = st.incoming.get(&id).is_some_and(|s| !s.is_empty());
    if out || inc {
        return Err(AdtError::bad_request(
            "RelationshipsNotDeleted",
            format!(
                "Digital twin with ID {id} still has relationships (incoming or outgoing). Delete all relationships of the twin and try again."
            ),
        ));
    }
    st.twins.remove(&id);
    st.rels.remove(&id);
    st.incoming.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn component_of<'a>(
    st: &'a AdtState,
    id: &str,
    component: &str,
) -> AdtResult<(&'a Value, &'a Value)> {
    let t = st
        .twins
        .get(id)
        .ok_or_else(|| AdtError::twin_not_found(id))?;
    let c = t.get(component).filter(|_| {
        let model = t
            .pointer("/$metadata/$model")
            .and_then(Value::as_str)
            .unwrap_or_default();
        st.resolve_model(model)
            .is_ok_and(|r| r.components.contains_key(component))
    });
    let c = c.ok_or_else(|| {
        AdtError::new(
            StatusCode::NOT_FOUND,
            "ComponentNotFound",
            format!("The component {component} does not exist on the digital twin {id}."),
        )
    })?;
    Ok((t, c))
}

/// `GET /digitaltwins/{id}/components/{component}`.
pub async fn get_component(
    State(svc): State<DigitalTwinsService>,
    Path((id, component)): Path<(String, String)>,
) -> AdtResult<Response> {
    let st = svc.read();
    let (t, c) = component_of(&st, &id, &component)?;
    Ok(json_with_etag(StatusCode::OK, c, &etag_of(t)))
}

/// `PATCH /digitaltwins/{id}/components/{component}`: the operations' paths are relative to the component.
pub async fn patch_component(
    State(svc): State<DigitalTwinsService>,
    Path((id, component)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> AdtResult<Response> {
    let ops = parse_patch(&body)?;
    {
        let st = svc.read();
        component_of(&st, &id, &component)?;
    }
    let prefix = format!("/{}", component.replace('~', "~0").replace('/', "~1"));
    let ops: Vec<Value> = ops
        .into_iter()
        .map(|mut op| {
            let p = op
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            op["path"] = json!(format!("{prefix}{p}"));
            op
        })
        .collect();
    for op in &ops {
        if op["path"] == json!(prefix) {
            return Err(AdtError::patch_invalid(
                "The whole component cannot be patched; patch its properties instead.",
            ));
        }
    }
    let etag = patch_twin_inner(&svc, &id, &headers, ops)?;
    Ok(util::no_content_with_etag(&etag))
}

fn record_telemetry(
    svc: &DigitalTwinsService,
    id: &str,
    component: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> AdtResult<Response> {
    let message_id = headers
        .get("message-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            AdtError::invalid_argument("The Message-Id header is required for telemetry.")
        })?
        .to_string();
    let source_time = match headers.get("telemetry-source-time") {
        None => None,
        Some(v) => {
            let s = v
                .to_str()
                .ok()
                .filter(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
                .ok_or_else(|| {
                    AdtError::invalid_argument(
                        "The Telemetry-Source-Time header must be an RFC 3339 timestamp.",
                    )
                })?;
            Some(s.to_string())
        }
    };
    let body = util::parse_json(body)?;
    let mut st = svc.write();
    if let Some(c) = component {
        component_of(&st, id, c)?;
    } else if !st.twins.contains_key(id) {
        return Err(AdtError::twin_not_found(id));
    }
    st.telemetry.push(TelemetryEvent {
        twin_id: id.to_string(),
        component: component.map(str::to_string),
        message_id,
        source_time,
        body,
    });
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /digitaltwins/{id}/telemetry`.
pub async fn telemetry(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AdtResult<Response> {
    record_telemetry(&svc, &id, None, &headers, &body)
}

/// `POST /digitaltwins/{id}/components/{component}/telemetry`.
pub async fn component_telemetry(
    State(svc): State<DigitalTwinsService>,
    Path((id, component)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> AdtResult<Response> {
    record_telemetry(&svc, &id, Some(&component), &headers, &body)
}
