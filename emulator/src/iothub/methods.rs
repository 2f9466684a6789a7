//! Direct methods on devices and modules, answered by handlers registered in-process.

use super::error::HubError;
use super::{Hub, MethodFuture, body_json, json, validate};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A registered direct-method handler: request payload → (status, response payload).
pub type MethodHandler = Arc<dyn Fn(Value) -> MethodFuture + Send + Sync>;

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
    let key = (id.to_string(), mid.map(str::to_string), call.name.clone());
    let handler = hub
        .methods
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .cloned();
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
    match tokio::time::timeout(call.response_timeout, handler(call.payload.clone())).await {
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
