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

/// Opaque continuation token: how many rows were returned so far, a fingerprint of the query
/// text, and the key of the last row returned (`deviceId`, or `deviceId` and `moduleId`) so the
/// next page resumes right after it without re-evaluating the rows before it.
fn encode_token(offset: usize, text: &str, key: &[&str]) -> String {
    let key = serde_json::to_string(key).unwrap_or_default();
    B64.encode(format!("{offset}:{:016x}:{key}", fingerprint(text)))
}

/// FNV-1a of the query text: a token is only valid for the query it was made for.
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where a page starts: rows returned before it, and the key of the last of them.
struct Resume {
    offset: usize,
    key: Vec<String>,
}

fn decode_token(token: &str, text: &str) -> Result<Resume, HubError> {
    let bad = || {
        HubError::invalid(format!(
            "x-ms-continuation '{token}' is not a continuation token of this query"
        ))
    };
    let raw = B64.decode(token.trim()).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = s.splitn(3, ':');
    let (Some(off), Some(fp), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if fp != format!("{:016x}", fingerprint(text)) {
        return Err(bad());
    }
    Ok(Resume {
        offset: off.parse().map_err(|_| bad())?,
        key: serde_json::from_str(key).map_err(|_| bad())?,
    })
}

/// One page of a twin query over `devices` or `devices.modules` (no aggregation): walks the
/// twins in key order from just after `resume.key`, rendering and filtering only until the page
/// is full, so each page costs what it returns rather than the whole hub. Returns the rows and,
/// when more may follow, the continuation token.
fn keyed_page(
    st: &HubState,
    q: &Query,
    text: &str,
    resume: &Resume,
    page: usize,
) -> (Vec<Value>, Option<String>) {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    let left = q
        .top()
        .map_or(usize::MAX, |n| (n as usize).saturating_sub(resume.offset));
    let want = page.min(left);
    let mut rows = Vec::with_capacity(want);
    let mut last: Vec<&str> = Vec::new();
    let mut more = false;
    match q.source() {
        Source::DevicesModules => {
            let (first_dev, first_mod) = match resume.key.as_slice() {
                [d, m] => (Some(d.as_str()), Some(m.as_str())),
                _ => (None, None),
            };
            let devs = match first_dev {
                Some(d) => st.devices.range::<str, _>((Included(d), Unbounded)),
                None => st.devices.range::<str, _>((Unbounded, Unbounded)),
            };
            'outer: for (did, d) in devs {
                let mods = match (first_dev, first_mod) {
                    (Some(fd), Some(fm)) if fd == did => {
                        d.modules.range::<str, _>((Excluded(fm), Unbounded))
                    }
                    _ => d.modules.range::<str, _>((Unbounded, Unbounded)),
                };
                for (mid, m) in mods {
                    let doc = d.render_module_twin(m);
                    if !q.matches(&q.bind(&doc), &NoModels) {
                        continue;
                    }
                    if rows.len() == want {
                        more = true;
                        break 'outer;
                    }
                    rows.push(q.project(&q.bind(&doc)));
                    last = vec![did.as_str(), mid.as_str()];
                }
            }
        }
        _ => {
            let devs = match resume.key.first() {
                Some(d) => st
                    .devices
                    .range::<str, _>((Excluded(d.as_str()), Unbounded)),
                None => st.devices.range::<str, _>((Unbounded, Unbounded)),
            };
            for (did, d) in devs {
                let doc = d.render_twin();
                if !q.matches(&q.bind(&doc), &NoModels) {
                    continue;
                }
                if rows.len() == want {
                    more = true;
                    break;
                }
                rows.push(q.project(&q.bind(&doc)));
                last = vec![did.as_str()];
            }
        }
    }
    let next =
        (more && rows.len() < left).then(|| encode_token(resume.offset + rows.len(), text, &last));
    (rows, next)
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
    let resume = match headers
        .get("x-ms-continuation")
        .and_then(|v| v.to_str().ok())
    {
        None | Some("") => Resume {
            offset: 0,
            key: Vec::new(),
        },
        Some(t) => decode_token(t, &text)?,
    };
    let keyed = matches!(q.source(), Source::Devices | Source::DevicesModules) && !q.is_count();
    let (slice, next) = if keyed {
        keyed_page(&hub.read(), &q, &text, &resume, page)
    } else {
        // Aggregates and `devices.jobs`: small results, paged by offset.
        let rows = execute(&hub.read(), &q);
        let start = resume.offset.min(rows.len());
        let end = (start + page).min(rows.len());
        let next = (end < rows.len()).then(|| encode_token(end, &text, &[]));
        (rows[start..end].to_vec(), next)
    };
    let mut resp = json(StatusCode::OK, &Value::Array(slice), None);
    let h = resp.headers_mut();
    h.insert("x-ms-item-type", HeaderValue::from_static(item_type(&q)));
    if let Some(t) = next
        && let Ok(v) = HeaderValue::from_str(&t)
    {
        h.insert("x-ms-continuation", v);
    }
    Ok(resp)
}
