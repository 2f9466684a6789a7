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
    let d = st.device(&id)?;
    // The service sends no ETag header on twin reads (recorded); the etag is in the body.
    Ok(json(StatusCode::OK, &d.render_twin(), None))
}

/// PATCH (`merge`) or PUT of the twin of device `id`, or of its module `mid`.
async fn write_twin(
    hub: Hub,
    id: String,
    mid: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    merge: bool,
) -> Result<Response, HubError> {
    let body = body_json(&body)?;
    let cond = if_match(&headers);
    let now = now_ts();
    let mut st = hub.write();
    let d = st.device_mut(&id)?;
    let twin = match &mid {
        None => &mut d.twin,
        Some(mid) => {
            &mut d
                .modules
                .get_mut(mid)
                .ok_or_else(|| HubError::module_not_found(&id, mid))?
                .twin
        }
    };
    twin.check(&cond, &id)?;
    twin.write(&body, merge, &now)?;
    let rendered = match &mid {
        None => d.render_twin(),
        Some(mid) => {
            let (d, m) = st.module(&id, mid)?;
            d.render_module_twin(m)
        }
    };
    Ok(json(StatusCode::OK, &rendered, None))
}

pub async fn patch_twin(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    write_twin(hub, id, None, headers, body, true).await
}

pub async fn put_twin(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    write_twin(hub, id, None, headers, body, false).await
}

pub async fn get_module_twin(
    State(hub): State<Hub>,
    Path((id, mid)): Path<(String, String)>,
) -> Result<Response, HubError> {
    let st = hub.read();
    let (d, m) = st.module(&id, &mid)?;
    Ok(json(StatusCode::OK, &d.render_module_twin(m), None))
}

pub async fn patch_module_twin(
    State(hub): State<Hub>,
    Path((id, mid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    write_twin(hub, id, Some(mid), headers, body, true).await
}

pub async fn put_module_twin(
    State(hub): State<Hub>,
    Path((id, mid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    write_twin(hub, id, Some(mid), headers, body, false).await
}
