//! `/digitaltwins/{id}/relationships` and `/incomingrelationships`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::{AdtError, AdtResult};
use super::twins::{apply_patch, parse_patch};
use super::util::{self, json_reply, json_with_etag};
use super::{AdtState, DigitalTwinsService, dtdl};

const SYSTEM: [&str; 5] = [
    "$relationshipId",
    "$etag",
    "$sourceId",
    "$targetId",
    "$relationshipName",
];

fn etag_of(v: &Value) -> String {
    v.get("$etag")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Validate a relationship document (`$targetId`, `$relationshipName` and properties) against the source model.
pub(super) fn validate(st: &AdtState, source: &str, obj: &Map<String, Value>) -> AdtResult<()> {
    let target = obj
        .get("$targetId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            AdtError::invalid_argument("The relationship needs a non-empty string '$targetId'.")
        })?;
    let name = obj
        .get("$relationshipName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            AdtError::invalid_argument(
                "The relationship needs a non-empty string '$relationshipName'.",
            )
        })?;
    let src = st
        .twins
        .get(source)
        .ok_or_else(|| AdtError::twin_not_found(source))?;
    let tgt = st.twins.get(target).ok_or_else(|| {
        AdtError::new(
            StatusCode::NOT_FOUND,
            "TargetTwinNotFound",
            format!("The target digital twin {target} of the relationship does not exist."),
        )
    })?;
    if target == source {
        return Err(AdtError::bad_request(
            "OperationNotAllowed",
            format!("A relationship cannot have the twin {source} as both source and target."),
        ));
    }
    let src_model = src
        .pointer("/$metadata/$model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let resolved = st.resolve_model(src_model)?;
    let decl = resolved.relationships.get(name).ok_or_else(|| {
        AdtError::bad_request(
            "InvalidRelationship",
            format!("The relationship name '{name}' is not declared by the model {src_model} of the source twin {source} (or its ancestors)."),
        )
    })?;
    if let Some(want) = decl.get("target").and_then(Value::as_str) {
        let tgt_model = tgt
            .pointer("/$metadata/$model")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !st.is_of_model(tgt_model, want, false) {
            return Err(AdtError::bad_request(
                "InvalidRelationship",
                format!(
                    "The relationship '{name}' must target a twin of model {want}; the twin {target} has model {tgt_model}."
                ),
            ));
        }
    }
    let props: Vec<&Value> = decl
        .get("properties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    for (k, v) in obj {
        if SYSTEM.contains(&k.as_str()) {
            continue;
        }
        let Some(p) = props
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(k))
        else {
            return Err(AdtError::validation(format!(
                "Property '{k}' is not declared on the relationship '{name}' of the model {src_model}."
            )));
        };
        dtdl::check_value(
            k,
            p.get("schema").unwrap_or(&Value::Null),
            v,
            &resolved.schemas,
        )
        .map_err(AdtError::validation)?;
    }
    Ok(())
}

pub(super) fn store(st: &mut AdtState, source: &str, rel_id: &str, doc: Value) {
    if let Some(old) = st.rels.get(source).and_then(|m| m.get(rel_id)) {
        let old_target = old
            .get("$targetId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(s) = st.incoming.get_mut(&old_target) {
            s.remove(&(source.to_string(), rel_id.to_string()));
        }
    }
    let target = doc
        .get("$targetId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    st.incoming
        .entry(target)
        .or_default()
        .insert((source.to_string(), rel_id.to_string()));
    st.rels
        .entry(source.to_string())
        .or_default()
        .insert(rel_id.to_string(), doc);
}

fn find<'a>(st: &'a AdtState, source: &str, rel_id: &str) -> AdtResult<&'a Value> {
    if !st.twins.contains_key(source) {
        return Err(AdtError::twin_not_found(source));
    }
    st.rels
        .get(source)
        .and_then(|m| m.get(rel_id))
        .ok_or_else(|| AdtError::relationship_not_found(source, rel_id))
}

/// `GET …/relationships/{rel}`.
pub async fn get_one(
    State(svc): State<DigitalTwinsService>,
    Path((id, rel)): Path<(String, String)>,
) -> AdtResult<Response> {
    let st = svc.read();
    let r = find(&st, &id, &rel)?;
    Ok(json_with_etag(StatusCode::OK, r, &etag_of(r)))
}

/// `PUT …/relationships/{rel}` (`If-None-Match: *` makes it create-only).
pub async fn put(
    State(svc): State<DigitalTwinsService>,
    Path((id, rel)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> AdtResult<Response> {
    let create_only = util::if_none_match_star(&headers)?;
    let Value::Object(mut obj) = util::parse_json(&body)? else {
        return Err(AdtError::invalid_argument(
            "Payload is invalid: the relationship must be a JSON object.",
        ));
    };
    let mut st = svc.write();
    if !st.twins.contains_key(&id) {
        return Err(AdtError::twin_not_found(&id));
    }
    if create_only && st.rels.get(&id).is_some_and(|m| m.contains_key(&rel)) {
        return Err(AdtError::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            format!(
                "If-None-Match: * header was specified but a relationship with the id {rel} was found on the twin {id}. Please specify a different relationship id."
            ),
        ));
    }
    obj.insert("$relationshipId".into(), json!(rel));
    obj.insert("$sourceId".into(), json!(id));
    obj.remove("$etag");
    validate(&st, &id, &obj)?;
    obj.insert("$etag".into(), json!(util::new_etag()));
    let doc = Value::Object(obj);
    let etag = etag_of(&doc);
    store(&mut st, &id, &rel, doc.clone());
    Ok(json_with_etag(StatusCode::OK, &doc, &etag))
}

/// `PATCH …/relationships/{rel}`: JSON Patch of properties (and `$targetId`).
pub async fn patch(
    State(svc): State<DigitalTwinsService>,
    Path((id, rel)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> AdtResult<Response> {
    let ops = parse_patch(&body)?;
    for op in &ops {
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        let first = path.split('/').nth(1).unwrap_or_default();
        if first.is_empty() || (first.starts_with('$') && first != "$targetId") {
            return Err(AdtError::patch_invalid(format!(
                "The path '{path}' cannot be patched on a relationship."
            )));
        }
    }
    let mut st = svc.write();
    let current = find(&st, &id, &rel)?.clone();
    util::check_if_match(&headers, &etag_of(&current))?;
    let Value::Object(mut obj) = apply_patch(&current, &ops)? else {
        return Err(AdtError::patch_invalid(
            "The patch replaced the relationship with a non-object.",
        ));
    };
    validate(&st, &id, &obj)?;
    let etag = util::new_etag();
    obj.insert("$etag".into(), json!(etag));
    store(&mut st, &id, &rel, Value::Object(obj));
    Ok(util::no_content_with_etag(&etag))
}

/// `DELETE …/relationships/{rel}` (optional `If-Match`).
pub async fn delete(
    State(svc): State<DigitalTwinsService>,
    Path((id, rel)): Path<(String, String)>,
    headers: HeaderMap,
) -> AdtResult<Response> {
    let mut st = svc.write();
    let current = find(&st, &id, &rel)?;
    util::check_if_match(&headers, &etag_of(current))?;
    let target = current
        .get("$targetId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(m) = st.rels.get_mut(&id) {
        m.remove(&rel);
    }
    if let Some(s) = st.incoming.get_mut(&target) {
        s.remove(&(id.clone(), rel.clone()));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The query pairs, page size and continuation point of a relationship listing of `kind`.
type ListParams = (Vec<(String, String)>, usize, Option<String>);

fn list_params(headers: &HeaderMap, q: Option<&str>, kind: &str) -> AdtResult<ListParams> {
    let pairs = util::query_pairs(q);
    let size = util::page_size(headers, 100, 1000)?;
    let after = util::list_after(&pairs, kind)?;
    Ok((pairs, size, after))
}

/// `GET /digitaltwins/{id}/relationships[?relationshipName=]`, paged.
pub async fn list(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> AdtResult<Response> {
    let (pairs, size, after) = list_params(&headers, q.as_deref(), "relationships")?;
    let name = util::query_get(&pairs, "relationshipName").map(str::to_string);
    let st = svc.read();
    if !st.twins.contains_key(&id) {
        return Err(AdtError::twin_not_found(&id));
    }
    let items: Vec<(String, Value)> = st
        .rels
        .get(&id)
        .into_iter()
        .flatten()
        .filter(|(_, r)| {
            name.as_deref()
                .is_none_or(|n| r.get("$relationshipName").and_then(Value::as_str) == Some(n))
        })
        .map(|(k, r)| (k.clone(), r.clone()))
        .collect();
    let (value, next) = util::page_after(items, after.as_deref(), size);
    let extra: Vec<(&str, String)> = name.into_iter().map(|n| ("relationshipName", n)).collect();
    let base = util::base_url(&headers, svc.tls());
    let path = format!("/digitaltwins/{}/relationships", util::enc(&id));
    Ok(json_reply(
        StatusCode::OK,
        &util::list_page(&base, &path, "relationships", &extra, value, next),
    ))
}

/// `GET /digitaltwins/{id}/incomingrelationships`, paged.
pub async fn list_incoming(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> AdtResult<Response> {
    let (_, size, after) = list_params(&headers, q.as_deref(), "incoming")?;
    let st = svc.read();
    if !st.twins.contains_key(&id) {
        return Err(AdtError::twin_not_found(&id));
    }
    let items: Vec<(String, Value)> = st
        .incoming
        .get(&id)
        .into_iter()
        .flatten()
        .filter_map(|(src, rid)| {
            let r = st.rels.get(src)?.get(rid)?;
            Some((
                format!("{src}\u{1}{rid}"),
                json!({
                    "$relationshipId": rid,
                    "$sourceId": src,
                    "$relationshipName": r.get("$relationshipName"),
                    "$relationshipLink": format!("/digitaltwins/{src}/relationships/{rid}"),
                }),
            ))
        })
        .collect();
    let (value, next) = util::page_after(items, after.as_deref(), size);
    let base = util::base_url(&headers, svc.tls());
    let path = format!("/digitaltwins/{}/incomingrelationships", util::enc(&id));
    Ok(json_reply(
        StatusCode::OK,
        &util::list_page(&base, &path, "incoming", &[], value, next),
    ))
}
