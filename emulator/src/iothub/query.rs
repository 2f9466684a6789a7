//! `POST /devices/query`: the IoT Hub query executor over device twins, module twins and
//! per-device job records, with `x-ms-max-item-count` / `x-ms-continuation` paging.

use super::error::HubError;
use super::{Hub, HubState, body_json, json};
use crate::query::{self, Dialect, NoModels, Query, Source};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

/// Longest query text the service accepts.
const MAX_QUERY_CHARS: usize = 8192;
/// Page size when the client sends no `x-ms-max-item-count`.
const DEFAULT_PAGE: usize = 100;
/// Largest page size.
const MAX_PAGE: usize = 1000;

/// Parses an IoT Hub query, mapping syntax errors to 400 with the position.
pub(crate) fn parse(text: &str) -> Result<Query, HubError> {
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(HubError::invalid(format!(
            "query is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    query::parse(text, Dialect::IotHub).map_err(|e| HubError::invalid(format!("query: {e}")))
}

/// Parses a bare condition (job `queryCondition`, configuration `targetCondition`).
pub(crate) fn parse_condition(field: &str, text: &str) -> Result<Query, HubError> {
    if text.trim() == "*" {
        return query::parse("SELECT * FROM devices", Dialect::IotHub)
            .map_err(|e| HubError::invalid(format!("{field}: {e}")));
    }
    query::parse_condition(text, Dialect::IotHub)
        .map_err(|e| HubError::invalid(format!("{field}: {e}")))
}

/// Device twins matching a condition query, as (deviceId, twin).
pub(crate) fn matching_devices(st: &HubState, q: &Query) -> Vec<String> {
    st.devices
        .values()
        .filter_map(|d| {
            let twin = d.render_twin();
            q.matches(&q.bind(&twin), &NoModels)
                .then(|| d.device_id.clone())
        })
        .collect()
}

/// All result rows of a query, in order (before paging).
pub(crate) fn execute(st: &HubState, q: &Query) -> Vec<Value> {
    let docs: Vec<Value> = match q.source() {
        Source::Devices => st.devices.values().map(|d| d.render_twin()).collect(),
        Source::DevicesModules => st
            .devices
            .values()
            .flat_map(|d| d.modules.values().map(move |m| d.render_module_twin(m)))
            .collect(),
        Source::DevicesJobs => st.device_jobs.clone(),
        _ => Vec::new(),
    };
    let matching = docs.iter().filter(|doc| q.matches(&q.bind(doc), &NoModels));
    if q.is_count() {
        if q.group_by().is_empty() {
            return vec![q.aggregate_row(None, matching.count() as u64)];
        }
        let mut groups: Vec<(Vec<Option<Value>>, &Value, u64)> = Vec::new();
        for doc in matching {
            let key = q.group_key(&q.bind(doc));
            match groups.iter_mut().find(|(k, _, _)| *k == key) {
                Some(g) => g.2 += 1,
                None => groups.push((key, doc, 1)),
            }
        }
        return groups
            .into_iter()
            .map(|(_, doc, n)| q.aggregate_row(Some(&q.bind(doc)), n))
            .collect();
    }
    let rows = matching.map(|doc| q.project(&q.bind(doc)));
    match q.top() {
        Some(n) => rows.take(n as usize).collect(),
        None => rows.collect(),
    }
}

/// `x-ms-item-type` of a query's rows.
fn item_type(q: &Query) -> &'static str {
    match (q.is_select_all(), q.source()) {
        (true, Source::DevicesJobs) => "DeviceJob",
        (true, _) => "Twin",
        (false, _) => "Raw",
    }
}

/// Opaque continuation token: the offset of the next row, tied to the query text.
fn encode_token(offset: usize, text: &str) -> String {
    B64.encode(format!("{offset}:{}", text.len()))
}

fn decode_token(token: &str, text: &str) -> Result<usize, HubError> {
    let bad = || {
        HubError::invalid(format!(
            "x-ms-continuation '{token}' is not a continuation token of this query"
        ))
    };
    let raw = B64.decode(token.trim()).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (off, len) = s.split_once(':').ok_or_else(bad)?;
    if len.parse::<usize>().ok() != Some(text.len()) {
        return Err(bad());
    }
    off.parse().map_err(|_| bad())
}

pub async fn query_twins(
    State(hub): State<Hub>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    let body = body_json(&body)?;
    let text = match body.get("query") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(HubError::invalid("query is required and must be a string")),
    };
    let q = parse(&text)?;
    let page = match headers
        .get("x-ms-max-item-count")
        .and_then(|v| v.to_str().ok())
    {
        None => DEFAULT_PAGE,
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(HubError::invalid(format!(
                    "x-ms-max-item-count '{v}' must be an integer from 1 to {MAX_PAGE}"
                )));
            }
        },
    };
    let start = match headers
        .get("x-ms-continuation")
        .and_then(|v| v.to_str().ok())
    {
        None | Some("") => 0,
        Some(t) => decode_token(t, &text)?,
    };
    let rows = execute(&hub.read(), &q);
    let end = (start + page).min(rows.len());
    let slice: Vec<Value> = rows
        .get(start.min(rows.len())..end)
        .unwrap_or_default()
        .to_vec();
    let mut resp = json(StatusCode::OK, &Value::Array(slice), None);
    let h = resp.headers_mut();
    h.insert("x-ms-item-type", HeaderValue::from_static(item_type(&q)));
    if end < rows.len()
        && let Ok(v) = HeaderValue::from_str(&encode_token(end, &text))
    {
        h.insert("x-ms-continuation", v);
    }
    Ok(resp)
}
