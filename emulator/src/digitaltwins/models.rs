//! `/models`: add, get, list (with `dependenciesFor`), decommission, delete.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{AdtError, AdtResult};
use super::util::{self, json_reply};
use super::{AdtState, DigitalTwinsService, ModelEntry, dtdl};

fn model_data(id: &str, m: &ModelEntry, with_model: bool) -> Value {
    let mut v = json!({
        "id": id,
        "description": dtdl::language_map(m.model.get("description")),
        "displayName": dtdl::language_map(m.model.get("displayName")),
        "decommissioned": m.decommissioned,
        "uploadTime": m.upload_time,
    });
    if with_model {
        v["model"] = m.model.clone();
    }
    v
}

fn include_definition(pairs: &[(String, String)]) -> AdtResult<bool> {
    match util::query_get(pairs, "includeModelDefinition") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(AdtError::invalid_argument(format!(
            "Query parameter includeModelDefinition must be true or false, got '{v}'."
        ))),
    }
}

/// `POST /models`: all-or-nothing upload of a DTDL interface array.
pub async fn add(State(svc): State<DigitalTwinsService>, body: Bytes) -> AdtResult<Response> {
    let doc = util::parse_json(&body)?;
    let Value::Array(batch) = doc else {
        return Err(AdtError::invalid_argument(
            "Payload is invalid: the body must be a JSON array of DTDL interfaces.",
        ));
    };
    if batch.is_empty() {
        return Err(AdtError::invalid_argument(
            "Payload is invalid: the array of models is empty.",
        ));
    }
    if batch.len() > 250 {
        return Err(AdtError::bad_request(
            "LimitExceeded",
            "At most 250 models can be uploaded in one call.",
        ));
    }
    let mut st = svc.write();
    let out = add_batch(&mut st, batch)?;
    Ok(json_reply(StatusCode::CREATED, &Value::Array(out)))
}

/// Validates and stores a batch of DTDL interfaces, all or nothing (shared with import jobs);
/// returns their model data.
pub(super) fn add_batch(st: &mut AdtState, batch: Vec<Value>) -> AdtResult<Vec<Value>> {
    let mut ids = Vec::new();
    for m in &batch {
        let id = dtdl::check_interface(m)?;
        if ids.contains(&id) {
            return Err(AdtError::new(
                StatusCode::CONFLICT,
                "ModelAlreadyExists",
                format!("The model {id} appears more than once in the request."),
            ));
        }
        ids.push(id);
    }
    let existing: Vec<&String> = ids
        .iter()
        .filter(|id| st.models.contains_key(id.as_str()))
        .collect();
    if !existing.is_empty() {
        let list = existing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(AdtError::new(
            StatusCode::CONFLICT,
            "ModelAlreadyExists",
            format!(
                "Some of the model ids already exist: {list}. Use Model_List API to view models that already exist. See the Swagger example.(http://aka.ms/ModelListSwSmp)"
            ),
        ));
    }
    dtdl::check_references(&batch, &|id| st.models.contains_key(id))?;
    let lookup = |id: &str| {
        batch
            .iter()
            .find(|m| m.get("@id").and_then(Value::as_str) == Some(id))
            .cloned()
            .or_else(|| st.lookup(id))
    };
    for m in &batch {
        dtdl::resolve(m, &lookup)?;
    }
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for (mut m, id) in batch.into_iter().zip(ids) {
        dtdl::normalise_context(&mut m);
        st.model_seq += 1;
        let entry = ModelEntry {
            seq: st.model_seq,
            upload_time: util::ts_offset(now),
            decommissioned: false,
            model: m,
        };
        out.push(model_data(&id, &entry, false));
        st.models.insert(id, entry);
    }
    Ok(out)
}

/// `GET /models/{id}`.
pub async fn get_one(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> AdtResult<Response> {
    let pairs = util::query_pairs(q.as_deref());
    let with = include_definition(&pairs)?;
    let st = svc.read();
    let m = st
        .models
        .get(&id)
        .ok_or_else(|| AdtError::model_not_found(&id))?;
    Ok(json_reply(StatusCode::OK, &model_data(&id, m, with)))
}

/// `GET /models[?dependenciesFor=…&includeModelDefinition=…]`, paged.
pub async fn list(
    State(svc): State<DigitalTwinsService>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> AdtResult<Response> {
    let pairs = util::query_pairs(q.as_deref());
    let with = include_definition(&pairs)?;
    let size = util::page_size(&headers, 100, 1000)?;
    let after = util::list_after(&pairs, "models")?;
    let deps_for: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "dependenciesFor")
        .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
        .collect();
    let st = svc.read();
    let selected: Option<BTreeSet<String>> = if deps_for.is_empty() {
        None
    } else {
        let mut set = BTreeSet::new();
        let mut stack = deps_for.clone();
        for id in &deps_for {
            if !st.models.contains_key(id) {
                return Err(AdtError::model_not_found(id));
            }
        }
        while let Some(id) = stack.pop() {
            if !set.insert(id.clone()) {
                continue;
            }
            if let Some(m) = st.models.get(&id) {
                stack.extend(dtdl::dependencies(&m.model));
            }
        }
        Some(set)
    };
    let items: Vec<(String, Value)> = {
        let mut v: Vec<(&String, &ModelEntry)> = st
            .models
            .iter()
            .filter(|(id, _)| selected.as_ref().is_none_or(|s| s.contains(*id)))
            .collect();
        v.sort_by_key(|(_, m)| m.seq);
        v.into_iter()
            .map(|(id, m)| (format!("{:020}", m.seq), model_data(id, m, with)))
            .collect()
    };
    let (value, next) = util::page_after(items, after.as_deref(), size);
    let mut extra: Vec<(&str, String)> = deps_for
        .iter()
        .map(|d| ("dependenciesFor", d.clone()))
        .collect();
    if with {
        extra.push(("includeModelDefinition", "true".into()));
    }
    let base = util::base_url(&headers, svc.tls());
    Ok(json_reply(
        StatusCode::OK,
        &util::list_page(&base, "/models", "models", &extra, value, next),
    ))
}

/// `PATCH /models/{id}`: only `[{"op":"replace","path":"/decommissioned","value":true}]`.
pub async fn update(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
    body: Bytes,
) -> AdtResult<Response> {
    let doc = util::parse_json(&body)?;
    let ops = doc
        .as_array()
        .ok_or_else(|| AdtError::patch_invalid("The model update must be a JSON Patch array."))?;
    if ops.len() != 1 {
        return Err(AdtError::patch_invalid(
            "The model update must contain exactly one operation: replace /decommissioned with true.",
        ));
    }
    let op = &ops[0];
    if op.get("op").and_then(Value::as_str) != Some("replace")
        || op.get("path").and_then(Value::as_str) != Some("/decommissioned")
    {
        return Err(AdtError::patch_invalid(
            "Only the operation {\"op\":\"replace\",\"path\":\"/decommissioned\",\"value\":true} is supported on models.",
        ));
    }
    if op.get("value") != Some(&Value::Bool(true)) {
        return Err(AdtError::invalid_argument(
            "A model can only be decommissioned (value true); decommissioning cannot be undone.",
        ));
    }
    let mut st = svc.write();
    let m = st
        .models
        .get_mut(&id)
        .ok_or_else(|| AdtError::model_not_found(&id))?;
    m.decommissioned = true;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /models/{id}`: refused while another model extends it or uses it as a component.
pub async fn delete(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
) -> AdtResult<Response> {
    let mut st = svc.write();
    if !st.models.contains_key(&id) {
        return Err(AdtError::model_not_found(&id));
    }
    let users: Vec<&str> = st
        .models
        .iter()
        .filter(|(other, m)| *other != &id && dtdl::dependencies(&m.model).contains(&id))
        .map(|(other, _)| other.as_str())
        .collect();
    if !users.is_empty() {
        return Err(AdtError::new(
            StatusCode::CONFLICT,
            "ModelReferencesNotDeleted",
            format!(
                "The model {id} is referenced by the model(s) {}; delete those models first.",
                users.join(", ")
            ),
        ));
    }
    st.models.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
