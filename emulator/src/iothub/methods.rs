//! Direct methods on devices and modules, answered by handlers registered in-process.

use super::error::HubError;
use super::{Hub, MethodFuture, body_json, json, validate};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A registered direct-method handler: the invocation → (status, response payload).
pub(crate) type MethodHandler = Arc<dyn Fn(MethodInvocation) -> MethodFuture + Send + Sync>;

/// The key of a registered handler that matches any device, module or method name.
pub(crate) const WILDCARD: &str = "*";

/// One direct-method call, as a registered handler receives it (see
/// [`Emulator::register_invocation_handler`](crate::Emulator::register_invocation_handler)):
/// which device (and module) and method were called, so that a wildcard handler can tell calls
/// apart.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MethodInvocation {
    /// The device called.
    pub device_id: String,
    /// The module called; `None` for a call on the device itself.
    pub module_id: Option<String>,
    /// The method name (`component*command` for a PnP component command).
    pub method_name: String,
    /// The request payload (`null` when none was sent).
    pub payload: Value,
    /// How long the caller waits for the answer (`responseTimeoutInSeconds`, default 30 s): a
    /// handler slower than this gets the caller a 504 `GatewayTimeout`.
    pub response_timeout: Duration,
}

/// The handler answering `method` on device `id` (module `mid`): an exact registration first,
/// then wildcards, trying the device id, then the module id, then the method name, each exact
/// before `*`. A module wildcard matches any module of the device, not the device itself.
pub(crate) fn find_handler(
    handlers: &HashMap<super::MethodKey, MethodHandler>,
    id: &str,
    mid: Option<&str>,
    method: &str,
) -> Option<MethodHandler> {
    let modules: &[Option<&str>] = match mid {
        Some(m) => &[Some(m), Some(WILDCARD)],
        None => &[None],
    };
    for d in [id, WILDCARD] {
        for m in modules {
            for name in [method, WILDCARD] {
                let key = (d.to_string(), m.map(str::to_string), name.to_string());
                if let Some(h) = handlers.get(&key) {
                    return Some(h.clone());
                }
            }
        }
    }
    None
}

/// Whether a handler for any method of device `id` itself is registered (exactly or by a device
/// wildcard): the device counts as connected.
pub(crate) fn device_online(handlers: &HashMap<super::MethodKey, MethodHandler>, id: &str) -> bool {
    handlers
        .keys()
        .any(|(d, m, _)| (d == id || d == WILDCARD) && m.is_none())
}

/// Default `responseTimeoutInSeconds`.
const DEFAULT_RESPONSE_TIMEOUT: u64 = 30;
/// Bounds of `responseTimeoutInSeconds` (current REST docs).
const RESPONSE_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 5..=300;
/// Bounds of `connectTimeoutInSeconds`.
const CONNECT_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 0..=300;
/// Largest request payload.
const MAX_PAYLOAD: usize = 128 * 1024;

/// A validated method call.
#[derive(Debug, Clone)]
pub(crate) struct MethodCall {
    pub name: String,
    pub payload: Value,
    pub response_timeout: Duration,
}

impl MethodCall {
    /// Parses and validates a `CloudToDeviceMethod` body.
    pub fn parse(v: &Value, field: &str) -> Result<Self, HubError> {
        let obj = v
            .as_object()
            .ok_or_else(|| HubError::format(format!("{field} must be a JSON object")))?;
        let name = match obj.get("methodName") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(HubError::invalid(format!(
                    "{field}.methodName is required and must be a string"
                )));
            }
        };
        validate::method_name(&name)?;
        let payload = obj.get("payload").cloned().unwrap_or(Value::Null);
        if serde_json::to_vec(&payload).map(|b| b.len()).unwrap_or(0) > MAX_PAYLOAD {
            return Err(HubError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "MessageTooLarge",
                format!("{field}.payload is larger than {MAX_PAYLOAD} bytes"),
            ));
        }
        let secs = |name: &str,
                    default: u64,
                    range: std::ops::RangeInclusive<u64>|
         -> Result<u64, HubError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => match v.as_u64() {
                    Some(n) if range.contains(&n) => Ok(n),
                    _ => Err(HubError::invalid(format!(
                        "{field}.{name} must be an integer from {} to {} seconds, got {v}",
                        range.start(),
                        range.end()
                    ))),
                },
            }
        };
        let response = secs(
            "responseTimeoutInSeconds",
            DEFAULT_RESPONSE_TIMEOUT,
            RESPONSE_TIMEOUT_RANGE,
        )?;
        secs("connectTimeoutInSeconds", 0, CONNECT_TIMEOUT_RANGE)?;
        Ok(Self {
            name,
            payload,
            response_timeout: Duration::from_secs(response),
        })
    }
}

/// Invokes a method: 404 when the device/module is unknown, 404 `DeviceNotOnline` without a
/// handler, 504 `GatewayTimeout` when the handler does not answer in time.
pub(crate) async fn invoke(
    hub: &Hub,
    id: &str,
    mid: Option<&str>,
    call: &MethodCall,
) -> Result<(i32, Value), HubError> {
    {
        let st = hub.read();
        let d = st
            .devices
            .get(id)
            .ok_or_else(|| HubError::device_not_found(id))?;
        if let Some(m) = mid
            && !d.modules.contains_key(m)
        {
            return Err(HubError::module_not_found(id, m));
        }
    }
    let handler = find_handler(
        &hub.methods.read().unwrap_or_else(|e| e.into_inner()),
        id,
        mid,
        &call.name,
    );
    let Some(handler) = handler else {
        let target = match mid {
            Some(m) => format!("module '{m}' of device '{id}'"),
            None => format!("device '{id}'"),
        };
        return Err(HubError::new(
            StatusCode::NOT_FOUND,
            "DeviceNotOnline",
            format!(
                "Timed out waiting for {target} to connect (no handler for method '{}')",
                call.name
            ),
        ));
    };
    let invocation = MethodInvocation {
        device_id: id.to_string(),
        module_id: mid.map(str::to_string),
        method_name: call.name.clone(),
        payload: call.payload.clone(),
        response_timeout: call.response_timeout,
    };
    match tokio::time::timeout(call.response_timeout, handler(invocation)).await {
        Ok(r) => Ok(r),
        Err(_) => Err(HubError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "GatewayTimeout",
            format!(
                "Timed out waiting for the response from device '{id}' to method '{}' after {} s",
                call.name,
                call.response_timeout.as_secs()
            ),
        )),
    }
}

async fn run(hub: Hub, id: String, mid: Option<String>, body: Bytes) -> Result<Response, HubError> {
    let body = body_json(&body)?;
    let call = MethodCall::parse(&body, "directMethodRequest")?;
    let (status, payload) = invoke(&hub, &id, mid.as_deref(), &call).await?;
    Ok(json(
        StatusCode::OK,
        &json!({"status": status, "payload": payload}),
        None,
    ))
}

pub async fn invoke_device(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, HubError> {
    run(hub, id, None, body).await
}

pub async fn invoke_module(
    State(hub): State<Hub>,
    Path((id, mid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HubError> {
    run(hub, id, Some(mid), body).await
}
