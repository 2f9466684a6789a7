//! Device and module twin routes: GET, PATCH (merge) and PUT (replace) with `If-Match`.

use super::error::HubError;
use super::model::now_ts;
use super::{Hub, body_json, if_match, json};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

pub async fn get_twin(
    State(hub): State<Hub>,
    Path(id): Path<String>,
) -> Result<Response, HubError> {
    let st = hub.read();
    let d = st
        .devices
        .get(&id)
        .ok_or_else(|| HubError::device_not_found(&id))?;
    // The service sends no ETag header on twin reads (recorded); the etag is in the body.
    Ok(json(StatusCode::OK, &d.render_twin(), None))
}

async fn write_device(
    hub: Hub,
    id: String,
    headers: HeaderMap,
    body: Bytes,
    merge: bool,
) -> Result<Response, HubError> {
    let body = body_json(&body)?;
    let cond = if_match(&headers);
    let now = now_ts();
    let mut st = hub.write();
    let d = st
        .devices
        .get_mut(&id)
        .ok_or_else(|| HubError::device_not_found(&id))?;
    d.twin.check(&cond, &id)?;
    d.twin.write(&body, merge, &now)?;
    Ok(json(StatusCode::OK, &d.render_twin(), None))
}

pub async fn patch_twin(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    write_device(hub, id, headers, body, true).await
}

pub async fn put_twin(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    write_device(hub, id, headers, body, false).await
}

pub async fn get_module_twin(
    State(hub): State<Hub>,
    Path((id, mid)): Path<(String, String)>,
) -> Result<Response, HubError> {
    let st = hub.read();
    let d = st
        .devices
        .get(&id)
        .ok_or_else(|| HubError::device_not_found(&id))?;
    let m = d
        .modules
        .get(&mid)
        .ok_or_else(|| HubError::module_not_found(&id, &mid))?;
    Ok(json(StatusCode::OK, &d.render_module_twin(m), None))
}

async fn write_module(
    hub: Hub,
    (id, mid): (String, String),
    headers: HeaderMap,
    body: Bytes,
    merge: bool,
) -> Result<Response, HubError> {
    let body = body_json(&body)?;
    let cond = if_match(&headers);
    let now = now_ts();
    let mut st = hub.write();
    let d = st
        .devices
        .get_mut(&id)
        .ok_or_else(|| HubError::device_not_found(&id))?;
    let m = d
        .modules
        .get_mut(&mid)
        .ok_or_else(|| HubError::module_not_found(&id, &mid))?;
    m.twin.check(&cond, &id)?;
    m.twin.write(&body, merge, &now)?;
    let m = d
        .modules
        .get(&mid)
        .ok_or_else(|| HubError::module_not_found(&id, &mid))?;
    Ok(json(StatusCode::OK, &d.render_module_twin(m), None))
}

pub async fn patch_module_twin(
    State(hub): State<Hub>,
    Path(ids): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    write_module(hub, ids, headers, body, true).await
}

pub async fn put_module_twin(
    State(hub): State<Hub>,
    Path(ids): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    write_module(hub, ids, headers, body, false).await
}
