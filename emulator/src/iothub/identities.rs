//! Device and module identity routes, registry statistics and bulk registry operations.

use super::error::HubError;
use super::model::{Device, DeviceInput, IfMatch, Module, identity_etag, identity_etag_number};
use super::{Hub, HubState, body_json, if_match, json, validate};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;

/// `top` of list operations.
#[derive(Deserialize)]
pub struct Top {
    top: Option<String>,
}

fn parse_top(top: Option<String>) -> Result<usize, HubError> {
    match top {
        None => Ok(1000),
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(HubError::invalid(format!(
                "top '{t}' must be an integer from 1 to 1000"
            ))),
        },
    }
}

pub async fn list_devices(
    State(hub): State<Hub>,
    Query(q): Query<Top>,
) -> Result<Response, HubError> {
    let top = parse_top(q.top)?;
    let st = hub.read();
    let list: Vec<Value> = st.devices.values().take(top).map(Device::render).collect();
    Ok(json(StatusCode::OK, &Value::Array(list), None))
}

pub async fn get_device(
    State(hub): State<Hub>,
    Path(id): Path<String>,
) -> Result<Response, HubError> {
    let st = hub.read();
    let d = st.device(&id)?;
    Ok(json(
        StatusCode::OK,
        &d.render(),
        Some(&identity_etag(d.etag)),
    ))
}

fn mismatch(existing: u64, sent: &str) -> HubError {
    let new = identity_etag_number(sent)
        .map(|n| n.to_string())
        .unwrap_or_else(|| sent.to_string());
    HubError::precondition(format!(
        "Precondition failed: Device version did not match, existingVersion:{existing} newVersion:{new}"
    ))
}

/// Create or update of a device under the lock, shared with the bulk route.
pub(crate) fn upsert_device(
    hub: &Hub,
    st: &mut HubState,
    id: &str,
    body: &Value,
    cond: &IfMatch,
) -> Result<Value, HubError> {
    validate::id("deviceId", id)?;
    let input = DeviceInput::parse(body, id)?;
    match (st.devices.get_mut(id), cond) {
        (Some(_), IfMatch::None) => Err(HubError::new(
            StatusCode::CONFLICT,
            "DeviceAlreadyExists",
            format!("A device with ID '{id}' is already registered."),
        )),
        (Some(d), IfMatch::Tag(t)) if *t != identity_etag(d.etag) => Err(mismatch(d.etag, t)),
        (Some(d), _) => {
            d.update(input, hub.next_identity_etag())?;
            Ok(d.render())
        }
        (None, IfMatch::None) => {
            let d = Device::create(id, input, hub.next_identity_etag())?;
            let v = d.render();
            st.devices.insert(id.to_string(), d);
            Ok(v)
        }
        (None, _) => Err(HubError::device_not_found(id)),
    }
}

pub async fn put_device(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    let body = body_json(&body)?;
    let cond = if_match(&headers);
    let mut st = hub.write();
    let v = upsert_device(&hub, &mut st, &id, &body, &cond)?;
    let etag = v["etag"].as_str().unwrap_or_default().to_string();
    Ok(json(StatusCode::OK, &v, Some(&etag)))
}

pub(crate) fn remove_device(st: &mut HubState, id: &str, cond: &IfMatch) -> Result<(), HubError> {
    let d = st.device(id)?;
    if let IfMatch::Tag(t) = cond
        && *t != identity_etag(d.etag)
    {
        return Err(mismatch(d.etag, t));
    }
    st.devices.remove(id);
    Ok(())
}

pub async fn delete_device(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HubError> {
    remove_device(&mut hub.write(), &id, &if_match(&headers))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_modules(
    State(hub): State<Hub>,
    Path(id): Path<String>,
) -> Result<Response, HubError> {
    let st = hub.read();
    let d = st.device(&id)?;
    let list: Vec<Value> = d.modules.values().map(|m| m.render(&id)).collect();
    Ok(json(StatusCode::OK, &Value::Array(list), None))
}

pub async fn get_module(
    State(hub): State<Hub>,
    Path((id, mid)): Path<(String, String)>,
) -> Result<Response, HubError> {
    let st = hub.read();
    let (_, m) = st.module(&id, &mid)?;
    Ok(json(StatusCode::OK, &m.render(&id), None))
}

pub(crate) fn upsert_module(
    hub: &Hub,
    st: &mut HubState,
    id: &str,
    mid: &str,
    body: &Value,
    cond: &IfMatch,
) -> Result<Value, HubError> {
    validate::id("moduleId", mid)?;
    let obj = body
        .as_object()
        .ok_or_else(|| HubError::format("the module body must be a JSON object"))?;
    for (field, path_value) in [("deviceId", id), ("moduleId", mid)] {
        if let Some(v) = obj.get(field).and_then(Value::as_str)
            && v != path_value
        {
            return Err(HubError::invalid(format!(
                "{field} '{v}' in the body does not match '{path_value}' in the path"
            )));
        }
    }
    let d = st.device_mut(id)?;
    match (d.modules.get_mut(mid), cond) {
        (Some(_), IfMatch::None) => Err(HubError::new(
            StatusCode::CONFLICT,
            "ModuleAlreadyExistsOnDevice",
            format!("A module with ID '{mid}' is already registered on device '{id}'."),
        )),
        (Some(m), IfMatch::Tag(t)) if *t != identity_etag(m.etag) => {
            Err(HubError::precondition(format!(
                "Precondition failed: Module version did not match, existingVersion:{} newVersion:{}",
                m.etag,
                identity_etag_number(t)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| t.clone())
            )))
        }
        (Some(m), _) => {
            m.update(body, hub.next_identity_etag())?;
            Ok(m.render(id))
        }
        (None, IfMatch::None) => {
            let m = Module::create(mid, body, hub.next_identity_etag())?;
            let v = m.render(id);
            d.modules.insert(mid.to_string(), m);
            Ok(v)
        }
        (None, _) => Err(HubError::module_not_found(id, mid)),
    }
}

pub async fn put_module(
    State(hub): State<Hub>,
    Path((id, mid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    let body = body_json(&body)?;
    let v = upsert_module(
        &hub,
        &mut hub.write(),
        &id,
        &mid,
        &body,
        &if_match(&headers),
    )?;
    // The service sends no ETag header on module responses (recorded).
    Ok(json(StatusCode::OK, &v, None))
}

pub(crate) fn remove_module(
    st: &mut HubState,
    id: &str,
    mid: &str,
    cond: &IfMatch,
) -> Result<(), HubError> {
    let d = st.device_mut(id)?;
    let m = d
        .modules
        .get(mid)
        .ok_or_else(|| HubError::module_not_found(id, mid))?;
    if let IfMatch::Tag(t) = cond
        && *t != identity_etag(m.etag)
    {
        return Err(HubError::precondition(format!(
            "Precondition failed: Module version did not match, existingVersion:{} newVersion:{t}",
            m.etag
        )));
    }
    d.modules.remove(mid);
    Ok(())
}

pub async fn delete_module(
    State(hub): State<Hub>,
    Path((id, mid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HubError> {
    remove_module(&mut hub.write(), &id, &mid, &if_match(&headers))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn device_statistics(State(hub): State<Hub>) -> Response {
    let st = hub.read();
    let total = st.devices.len();
    let enabled = st
        .devices
        .values()
        .filter(|d| d.status == "enabled")
        .count();
    json(
        StatusCode::OK,
        &json!({"totalDeviceCount": total, "enabledDeviceCount": enabled, "disabledDeviceCount": total - enabled}),
        None,
    )
}

pub async fn service_statistics() -> Response {
    // Nothing ever connects to the emulator over the device protocols.
    json(StatusCode::OK, &json!({"connectedDeviceCount": 0}), None)
}

/// Most identities one bulk call may carry.
const BULK_MAX: usize = 100;

/// `POST /devices`: create/update/delete many identities; each failure is reported per device,
/// successful entries stay applied (the service's documented behaviour).
pub async fn bulk(State(hub): State<Hub>, body: Bytes) -> Result<Response, HubError> {
    let body = body_json(&body)?;
    let Some(items) = body.as_array() else {
        return Err(HubError::format(
            "the bulk registry body must be a JSON array of ExportImportDevice",
        ));
    };
    if items.len() > BULK_MAX {
        return Err(HubError::new(
            StatusCode::BAD_REQUEST,
            "TooManyDevices",
            format!(
                "a bulk registry operation may carry at most {BULK_MAX} devices, got {}",
                items.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for item in items {
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
        let mid = item.get("moduleId").and_then(Value::as_str);
        if !seen.insert((id.to_string(), mid.map(str::to_string))) {
            return Err(HubError::new(
                StatusCode::BAD_REQUEST,
                "DeviceDefinedMultipleTimes",
                format!("device '{id}' appears more than once in the bulk operation"),
            ));
        }
    }
    let mut errors = Vec::new();
    let mut st = hub.write();
    for item in items {
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mid = item
            .get("moduleId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mode = item
            .get("importMode")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Err(e) = bulk_one(&hub, &mut st, &id, mid.as_deref(), &mode, item) {
            let mut err = json!({
                "deviceId": id,
                "errorCode": e.code,
                "errorStatus": e.message,
                "operation": mode,
            });
            if let Some(m) = &mid {
                err["moduleId"] = json!(m);
            }
            errors.push(err);
        }
    }
    let ok = errors.is_empty();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok(json(
        status,
        &json!({"isSuccessful": ok, "errors": errors, "warnings": []}),
        None,
    ))
}

/// One `ExportImportDevice` entry of a bulk call or an import job, applied under the lock.
pub(crate) fn bulk_one(
    hub: &Hub,
    st: &mut HubState,
    id: &str,
    mid: Option<&str>,
    mode: &str,
    item: &Value,
) -> Result<(), HubError> {
    validate::id("id", id)?;
    let etag = item
        .get("eTag")
        .and_then(Value::as_str)
        .map(|t| IfMatch::parse(Some(t)));
    let tag_cond = |required: bool| -> Result<IfMatch, HubError> {
        match (&etag, required) {
            (Some(IfMatch::Tag(t)), true) => Ok(IfMatch::Tag(t.clone())),
            (_, true) => Err(HubError::invalid(format!(
                "importMode {mode} requires eTag for device '{id}'"
            ))),
            (_, false) => Ok(IfMatch::Any),
        }
    };
    let mut body = json!({});
    for f in [
        "status",
        "statusReason",
        "authentication",
        "capabilities",
        "deviceScope",
        "parentScopes",
    ] {
        if let Some(v) = item.get(f) {
            body[f] = v.clone();
        }
    }
    let exists = match mid {
        None => st.devices.contains_key(id),
        Some(m) => st
            .devices
            .get(id)
            .is_some_and(|d| d.modules.contains_key(m)),
    };
    let upsert = |st: &mut HubState, cond: &IfMatch| -> Result<(), HubError> {
        match mid {
            None => upsert_device(hub, st, id, &body, cond).map(|_| ()),
            Some(m) => upsert_module(hub, st, id, m, &body, cond).map(|_| ()),
        }
    };
    match mode {
        "create" => {
            if exists {
                return Err(match mid {
                    None => HubError::new(
                        StatusCode::CONFLICT,
                        "DeviceAlreadyExists",
                        format!("device '{id}' already exists"),
                    ),
                    Some(m) => HubError::new(
                        StatusCode::CONFLICT,
                        "ModuleAlreadyExistsOnDevice",
                        format!("module '{m}' already exists on device '{id}'"),
                    ),
                });
            }
            upsert(st, &IfMatch::None)?;
        }
        "update" => upsert(
            st,
            if exists {
                &IfMatch::Any
            } else {
                &IfMatch::None
            },
        )?,
        "updateIfMatchETag" => {
            let c = tag_cond(true)?;
            if !exists {
                return Err(not_found(id, mid));
            }
            upsert(st, &c)?;
        }
        "delete" | "deleteIfMatchETag" => {
            let c = tag_cond(mode == "deleteIfMatchETag")?;
            match mid {
                None => remove_device(st, id, &c)?,
                Some(m) => remove_module(st, id, m, &c)?,
            }
        }
        "updateTwin" | "updateTwinIfMatchETag" => {
            let twin_tag = item
                .get("twinETag")
                .and_then(Value::as_str)
                .map(|t| IfMatch::parse(Some(t)));
            let cond = match (mode, twin_tag) {
                ("updateTwinIfMatchETag", Some(IfMatch::Tag(t))) => IfMatch::Tag(t),
                ("updateTwinIfMatchETag", _) => {
                    return Err(HubError::invalid(format!(
                        "importMode updateTwinIfMatchETag requires twinETag for device '{id}'"
                    )));
                }
                _ => IfMatch::Any,
            };
            let mut patch = json!({});
            if let Some(t) = item.get("tags") {
                patch["tags"] = t.clone();
            }
            if let Some(p) = item.get("properties") {
                patch["properties"] = p.clone();
            }
            let d = st
                .devices
                .get_mut(id)
                .ok_or_else(|| HubError::device_not_found(id))?;
            let twin = match mid {
                None => &mut d.twin,
                Some(m) => {
                    &mut d
                        .modules
                        .get_mut(m)
                        .ok_or_else(|| HubError::module_not_found(id, m))?
                        .twin
                }
            };
            twin.check(&cond, id)?;
            twin.write(&patch, false, &super::model::now_ts())?;
        }
        other => {
            return Err(HubError::invalid(format!(
                "importMode '{other}' is not one of create, update, updateIfMatchETag, delete, deleteIfMatchETag, updateTwin, updateTwinIfMatchETag"
            )));
        }
    }
    if matches!(mode, "create" | "update" | "updateIfMatchETag")
        && (item.get("tags").is_some() || item.get("properties").is_some())
    {
        // An identity entry that carries a twin (tags, desired properties) writes it too.
        let mut patch = json!({});
        if let Some(t) = item.get("tags") {
            patch["tags"] = t.clone();
        }
        if let Some(p) = item.get("properties") {
            patch["properties"] = p.clone();
        }
        let d = st.device_mut(id)?;
        let twin = match mid {
            None => &mut d.twin,
            Some(m) => {
                &mut d
                    .modules
                    .get_mut(m)
                    .ok_or_else(|| HubError::module_not_found(id, m))?
                    .twin
            }
        };
        twin.write(&patch, true, &super::model::now_ts())?;
    }
    Ok(())
}

fn not_found(id: &str, mid: Option<&str>) -> HubError {
    match mid {
        None => HubError::device_not_found(id),
        Some(m) => HubError::module_not_found(id, m),
    }
}
