//! IoT Plug and Play on the hub (`/digitaltwins/{id}`): a device's digital twin as a view of
//! its device twin per the PnP conventions, JSON Patch updates written to the desired
//! properties, and commands served by the registered direct-method handlers.
//!
//! Conventions (IoT Plug and Play device developer guide):
//! * a component is an object in the reported or desired properties marked `"__t": "c"`;
//! * a writable property's acknowledgement is reported as `{"value", "ac", "av", "ad"}`;
//! * the digital twin shows reported values, and per property `$metadata` with
//!   `desiredValue`/`desiredVersion` (from the desired properties), `ackCode`/`ackVersion`/
//!   `ackDescription` (from an acknowledgement) and `lastUpdateTime`;
//! * a component command `cmd` of component `c` reaches the device as method `c*cmd`.

use super::error::HubError;
use super::methods::{MethodCall, invoke};
use super::model::{Device, now_ts, twin_etag};
use super::{Hub, IotHubService, if_match, json};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};

/// The status a PnP device SDK answers for a command it has no handler for (the .NET SDK's
/// `MethodResponseStatusCode.MethodNotImplemented`).
pub const COMMAND_NOT_IMPLEMENTED: i32 = 501;

fn is_component(v: Option<&Value>) -> bool {
    v.and_then(|v| v.get("__t")).and_then(Value::as_str) == Some("c")
}

/// Fills `out` (values) and `meta` (per-property metadata) from one level of reported and
/// desired properties.
fn fill(
    out: &mut Map<String, Value>,
    meta: &mut Map<String, Value>,
    reported: Option<&Map<String, Value>>,
    desired: Option<&Map<String, Value>>,
    reported_meta: Option<&Value>,
    desired_version: i64,
    top: bool,
) {
    let empty = Map::new();
    let rep = reported.unwrap_or(&empty);
    let des = desired.unwrap_or(&empty);
    let keys: BTreeSet<&String> = rep.keys().chain(des.keys()).collect();
    for k in keys {
        if k == "__t" || k.starts_with('$') {
            continue;
        }
        let (r, d) = (rep.get(k), des.get(k));
        if top && (is_component(r) || is_component(d)) {
            let mut c_out = Map::new();
            let mut c_meta = Map::new();
            fill(
                &mut c_out,
                &mut c_meta,
                r.and_then(Value::as_object),
                d.and_then(Value::as_object),
                reported_meta.and_then(|m| m.get(k)),
                desired_version,
                false,
            );
            c_out.insert("$metadata".into(), Value::Object(c_meta));
            out.insert(k.clone(), Value::Object(c_out));
            continue;
        }
        let mut m = Map::new();
        let ack = r
            .and_then(Value::as_object)
            .filter(|o| o.contains_key("value") && o.contains_key("ac"));
        let value = match ack {
            Some(a) => {
                m.insert("ackCode".into(), a["ac"].clone());
                if let Some(v) = a.get("av") {
                    m.insert("ackVersion".into(), v.clone());
                }
                if let Some(v) = a.get("ad") {
                    m.insert("ackDescription".into(), v.clone());
                }
                a.get("value")
            }
            None => r,
        };
        if let Some(v) = value {
            out.insert(k.clone(), v.clone());
        }
        if let Some(d) = d {
            m.insert("desiredValue".into(), d.clone());
            m.insert("desiredVersion".into(), json!(desired_version));
        }
        if let Some(t) = reported_meta
            .and_then(|rm| rm.get(k))
            .and_then(|x| x.get("$lastUpdated"))
        {
            m.insert("lastUpdateTime".into(), t.clone());
        }
        meta.insert(k.clone(), Value::Object(m));
    }
}

/// The digital twin of a device: the PnP view of its device twin.
pub fn digital_twin(d: &Device) -> Value {
    let t = &d.twin;
    let mut out = Map::new();
    let mut meta = Map::new();
    if let Some(m) = &t.model_id {
        meta.insert("$model".into(), json!(m));
    }
    let rep_meta = Value::Object(t.reported.metadata.clone());
    fill(
        &mut out,
        &mut meta,
        Some(&t.reported.values),
        Some(&t.desired.values),
        Some(&rep_meta),
        t.desired.version,
        true,
    );
    out.insert("$dtId".into(), json!(d.device_id));
    out.insert("$metadata".into(), Value::Object(meta));
    Value::Object(out)
}

fn weak_etag(n: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("W/\"{}\"", twin_etag(n)))
        .unwrap_or(HeaderValue::from_static(""))
}

/// `GET /digitaltwins/{id}`: the digital twin and its (weak) ETag, the device twin's etag.
pub async fn get(State(hub): State<Hub>, Path(id): Path<String>) -> Result<Response, HubError> {
    let st = hub.read();
    let d = st.device(&id)?;
    let mut resp = json(StatusCode::OK, &digital_twin(d), None);
    resp.headers_mut().insert("etag", weak_etag(d.twin.etag));
    Ok(resp)
}

fn patch_error(message: String) -> HubError {
    HubError::new(
        StatusCode::BAD_REQUEST,
        "InvalidDigitalTwinJsonPatch",
        message,
    )
}

/// Sets `value` at `path` inside `target`, creating objects on the way.
fn set_nested(target: &mut Map<String, Value>, path: &[String], value: Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut map = target;
    for p in parents {
        let e = map
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !e.is_object() {
            *e = Value::Object(Map::new());
        }
        map = e.as_object_mut().expect("object");
    }
    map.insert(last.clone(), value);
}

/// The desired-properties patch a JSON Patch on the digital twin means.
fn desired_patch(d: &Device, ops: &Value) -> Result<Map<String, Value>, HubError> {
    let Some(ops) = ops.as_array() else {
        return Err(patch_error(
            "the digital twin patch must be a JSON array of operations".into(),
        ));
    };
    if ops.is_empty() {
        return Err(patch_error("the digital twin patch is empty".into()));
    }
    let mut patch = Map::new();
    for (i, op) in ops.iter().enumerate() {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        let value = match kind {
            "add" | "replace" => op
                .get("value")
                .cloned()
                .ok_or_else(|| patch_error(format!("patch[{i}] ({kind}) has no value")))?,
            "remove" => Value::Null,
            other => {
                return Err(patch_error(format!(
                    "patch[{i}]: unsupported operation type '{other}'; use add, replace or remove"
                )));
            }
        };
        let Some(rest) = path.strip_prefix('/') else {
            return Err(patch_error(format!(
                "patch[{i}].path '{path}' must start with '/'"
            )));
        };
        let segs: Vec<String> = rest
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        if segs.iter().any(|s| s.is_empty() || s.starts_with('$')) {
            return Err(HubError::new(
                StatusCode::BAD_REQUEST,
                "InvalidDigitalTwinPatchPath",
                format!(
                    "patch[{i}].path '{path}': only properties and component properties are writable"
                ),
            ));
        }
        let first = segs[0].as_str();
        let component = is_component(d.twin.reported.values.get(first))
            || is_component(d.twin.desired.values.get(first))
            || is_component(patch.get(first));
        if component && segs.len() >= 2 {
            let c = patch.entry(first.to_string()).or_insert_with(|| json!({}));
            if !c.is_object() {
                *c = json!({});
            }
            let c = c.as_object_mut().expect("object");
            c.insert("__t".into(), json!("c"));
            set_nested(c, &segs[1..], value);
        } else {
            set_nested(&mut patch, &segs, value);
        }
    }
    Ok(patch)
}

/// `PATCH /digitaltwins/{id}`: JSON Patch on the digital twin, written to the desired
/// properties; 202 with the new ETag; 412 on an If-Match mismatch.
pub async fn update(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    let ops = super::body_json(&body)?;
    let cond = if_match(&headers);
    let mut st = hub.write();
    let d = st.device_mut(&id)?;
    d.twin.check(&cond, &id)?;
    let patch = desired_patch(d, &ops)?;
    d.twin
        .write(&json!({"properties": {"desired": patch}}), true, &now_ts())?;
    let mut resp = StatusCode::ACCEPTED.into_response();
    resp.headers_mut().insert("etag", weak_etag(d.twin.etag));
    Ok(resp)
}

fn timeout_param(q: &HashMap<String, String>, name: &str) -> Result<Value, HubError> {
    match q.get(name) {
        None => Ok(Value::Null),
        Some(v) => v.parse::<u64>().map(|n| json!(n)).map_err(|_| {
            HubError::invalid(format!(
                "{name} must be an integer number of seconds, got '{v}'"
            ))
        }),
    }
}

async fn command(
    hub: Hub,
    id: String,
    method: String,
    q: HashMap<String, String>,
    body: Bytes,
) -> Result<Response, HubError> {
    let payload = if body.is_empty() {
        Value::Null
    } else {
        super::body_json(&body)?
    };
    let call = MethodCall::parse(
        &json!({
            "methodName": method,
            "payload": payload,
            "responseTimeoutInSeconds": timeout_param(&q, "responseTimeoutInSeconds")?,
            "connectTimeoutInSeconds": timeout_param(&q, "connectTimeoutInSeconds")?,
        }),
        "command",
    )?;
    hub.read().device(&id)?;
    let (online, handled) = {
        let handlers = hub.methods.read().unwrap_or_else(|e| e.into_inner());
        let online = super::methods::device_online(&handlers, &id);
        let handled = super::methods::find_handler(&handlers, &id, None, &call.name).is_some();
        (online, handled)
    };
    let (status, payload) = if online && !handled {
        // A connected PnP device answers a command it does not implement itself (an empty
        // object: the 2021-04-12 spec types the command response payload as an object).
        (COMMAND_NOT_IMPLEMENTED, json!({}))
    } else {
        invoke(&hub, &id, None, &call).await?
    };
    let mut resp = json(StatusCode::OK, &payload, None);
    resp.headers_mut()
        .insert("x-ms-command-statuscode", HeaderValue::from(status));
    Ok(resp)
}

/// `POST /digitaltwins/{id}/commands/{command}`: the device's method `command`.
pub async fn root_command(
    State(hub): State<Hub>,
    Path((id, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, HubError> {
    command(hub, id, name, q, body).await
}

/// `POST /digitaltwins/{id}/components/{component}/commands/{command}`: method `component*command`.
pub async fn component_command(
    State(hub): State<Hub>,
    Path((id, component, name)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, HubError> {
    command(hub, id, format!("{component}*{name}"), q, body).await
}

impl IotHubService {
    /// Announces the device's PnP model id (as a device does when it connects): the twin's
    /// `modelId` and the digital twin's `$metadata.$model`.
    pub fn set_model_id(&self, device_id: &str, model_id: &str) -> Result<(), String> {
        let mut st = self.inner.write();
        let d = st.device_mut(device_id).map_err(|e| e.message)?;
        d.twin.model_id = Some(model_id.to_string());
        Ok(())
    }

    /// Merges `patch` (a JSON object; `null` removes) into the device's reported properties,
    /// as the device would. Components are objects marked `"__t": "c"`; writable-property
    /// acknowledgements are `{"value", "ac", "av", "ad"}`.
    pub fn report_properties(&self, device_id: &str, patch: Value) -> Result<(), String> {
        let Value::Object(patch) = patch else {
            return Err("reported properties must be a JSON object".into());
        };
        let mut st = self.inner.write();
        let d = st.device_mut(device_id).map_err(|e| e.message)?;
        d.twin.reported.merge(&patch, &now_ts());
        d.twin.etag += 1;
        d.twin.version += 1;
        Ok(())
    }
}
