//! Automatic device management configurations (`/configurations`), their query test route and
//! `POST /devices/{id}/applyConfigurationContent`.

use super::error::HubError;
use super::model::{IfMatch, Module, identity_etag, now_ts};
use super::query::{execute, matching_devices, parse, parse_condition};
use super::{Hub, body_json, if_match, json, validate};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// One stored configuration.
#[derive(Debug, Clone)]
pub struct Configuration {
    id: String,
    schema_version: Option<String>,
    labels: Value,
    content: Value,
    target_condition: String,
    created: String,
    last_updated: String,
    priority: i64,
    metric_queries: Map<String, Value>,
    etag: u64,
}

impl Configuration {
    fn render(&self, hub_state: &super::HubState) -> Value {
        let targeted = if self.target_condition.trim().is_empty() {
            0
        } else {
            parse_condition("targetCondition", &self.target_condition)
                .map(|q| matching_devices(hub_state, &q).len())
                .unwrap_or(0)
        };
        let targeted_query = match self.target_condition.trim() {
            "*" | "" => "select deviceId from devices".to_string(),
            c => format!("select deviceId from devices where {c}"),
        };
        let mut results = Map::new();
        for (name, q) in &self.metric_queries {
            let n = q
                .as_str()
                .and_then(|t| parse(t).ok())
                .map(|q| execute(hub_state, &q).len())
                .unwrap_or(0);
            results.insert(name.clone(), json!(n));
        }
        json!({
            "id": self.id,
            "schemaVersion": self.schema_version,
            "labels": self.labels,
            "content": self.content,
            "targetCondition": self.target_condition,
            "createdTimeUtc": self.created,
            "lastUpdatedTimeUtc": self.last_updated,
            "priority": self.priority,
            "systemMetrics": {
                "results": {"targetedCount": targeted, "appliedCount": 0},
                "queries": {
                    "targetedCount": targeted_query,
                    "appliedCount": format!(
                        "select deviceId from devices where configurations.[[{}]].status = 'Applied'",
                        self.id
                    ),
                },
            },
            "metrics": {"results": results, "queries": self.metric_queries},
            "etag": identity_etag(self.etag),
        })
    }
}

fn not_found(id: &str) -> HubError {
    HubError::new(
        StatusCode::NOT_FOUND,
        "ConfigurationNotFound",
        format!("Configuration '{id}' not found"),
    )
}

/// `top` of the list operation.
#[derive(Deserialize)]
pub struct Top {
    top: Option<String>,
}

pub async fn list(State(hub): State<Hub>, Query(q): Query<Top>) -> Result<Response, HubError> {
    let top = match q.top {
        None => 1000,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                HubError::invalid(format!("top '{t}' must be an integer from 1 to 1000"))
            })?,
    };
    let st = hub.read();
    let list: Vec<Value> = st
        .configurations
        .values()
        .take(top)
        .map(|c| c.render(&st))
        .collect();
    Ok(json(StatusCode::OK, &Value::Array(list), None))
}

pub async fn get(State(hub): State<Hub>, Path(id): Path<String>) -> Result<Response, HubError> {
    let st = hub.read();
    let c = st.configurations.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(json(
        StatusCode::OK,
        &c.render(&st),
        Some(&identity_etag(c.etag)),
    ))
}

fn validate_content(content: &Value) -> Result<(), HubError> {
    let Some(obj) = content.as_object() else {
        return Err(HubError::invalid("content must be a JSON object"));
    };
    let present: Vec<&str> = ["deviceContent", "modulesContent", "moduleContent"]
        .into_iter()
        .filter(|k| obj.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    if present.len() > 1 {
        return Err(HubError::invalid(format!(
            "content may hold only one of deviceContent, modulesContent, moduleContent; got {}",
            present.join(", ")
        )));
    }
    for k in &present {
        if !obj[*k].is_object() {
            return Err(HubError::invalid(format!(
                "content.{k} must be a JSON object"
            )));
        }
    }
    Ok(())
}

pub async fn put(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HubError> {
    validate::id("configuration id", &id)?;
    let body = body_json(&body)?;
    let obj = body
        .as_object()
        .ok_or_else(|| HubError::format("the configuration body must be a JSON object"))?;
    if let Some(b) = obj.get("id").and_then(Value::as_str)
        && b != id
    {
        return Err(HubError::invalid(format!(
            "id '{b}' in the body does not match '{id}' in the path"
        )));
    }
    let content = obj.get("content").cloned().unwrap_or_else(|| json!({}));
    validate_content(&content)?;
    let target_condition = match obj.get("targetCondition") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(HubError::invalid("targetCondition must be a string")),
    };
    if !target_condition.trim().is_empty() {
        parse_condition("targetCondition", &target_condition)?;
    }
    let priority = match obj.get("priority") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().filter(|p| *p >= 0).ok_or_else(|| {
            HubError::invalid(format!("priority must be a non-negative integer, got {v}"))
        })?,
    };
    let labels = match obj.get("labels") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Value::Object(m.clone()),
        Some(_) => {
            return Err(HubError::invalid(
                "labels must be an object of string values",
            ));
        }
    };
    let metric_queries = match obj.get("metrics").and_then(|m| m.get("queries")) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => {
            for (name, q) in m {
                let text = q.as_str().ok_or_else(|| {
                    HubError::invalid(format!("metrics.queries.{name} must be a string"))
                })?;
                parse(text).map_err(|e| {
                    HubError::invalid(format!("metrics.queries.{name}: {}", e.message))
                })?;
            }
            m.clone()
        }
        Some(_) => return Err(HubError::invalid("metrics.queries must be a JSON object")),
    };
    let schema_version = obj
        .get("schemaVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    let cond = if_match(&headers);
    let now = now_ts();
    let mut st = hub.write();
    let exists = st.configurations.contains_key(&id);
    let config = match (st.configurations.get(&id), &cond) {
        (Some(_), IfMatch::None) => {
            return Err(HubError::new(
                StatusCode::CONFLICT,
                "ConfigurationAlreadyExists",
                format!("Configuration '{id}' already exists"),
            ));
        }
        (Some(c), IfMatch::Tag(t)) if *t != identity_etag(c.etag) => {
            return Err(HubError::precondition(format!(
                "Precondition failed: Configuration etag did not match for '{id}'"
            )));
        }
        (Some(c), _) => {
            if c.content != content {
                return Err(HubError::invalid(format!(
                    "content of configuration '{id}' cannot be changed after creation (CannotModifyImmutableConfigurationContent)"
                )));
            }
            Configuration {
                schema_version,
                labels,
                target_condition,
                last_updated: now,
                priority,
                metric_queries,
                etag: c.etag + 1,
                ..c.clone()
            }
        }
        (None, IfMatch::None) => Configuration {
            id: id.clone(),
            schema_version,
            labels,
            content,
            target_condition,
            created: now.clone(),
            last_updated: now,
            priority,
            metric_queries,
            etag: 1,
        },
        (None, _) => return Err(not_found(&id)),
    };
    let _ = exists;
    let v = config.render(&st);
    st.configurations.insert(id, config);
    Ok(json(StatusCode::OK, &v, v["etag"].as_str()))
}

pub async fn delete(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HubError> {
    let mut st = hub.write();
    let c = st.configurations.get(&id).ok_or_else(|| not_found(&id))?;
    if let IfMatch::Tag(t) = if_match(&headers)
        && t != identity_etag(c.etag)
    {
        return Err(HubError::precondition(format!(
            "Precondition failed: Configuration etag did not match for '{id}'"
        )));
    }
    st.configurations.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn test_queries(body: Bytes) -> Result<Response, HubError> {
    let body = body_json(&body)?;
    let target_error = match body.get("targetCondition") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.trim().is_empty() => String::new(),
        Some(Value::String(s)) => parse_condition("targetCondition", s)
            .err()
            .map(|e| e.message)
            .unwrap_or_default(),
        Some(_) => return Err(HubError::invalid("targetCondition must be a string")),
    };
    let mut metric_errors = Map::new();
    if let Some(m) = body.get("customMetricQueries").and_then(Value::as_object) {
        for (name, q) in m {
            let err = match q.as_str() {
                Some(t) => parse(t).err().map(|e| e.message),
                None => Some("the query must be a string".to_string()),
            };
            if let Some(e) = err {
                metric_errors.insert(name.clone(), json!(e));
            }
        }
    }
    Ok(json(
        StatusCode::OK,
        &json!({"targetConditionError": target_error, "customMetricQueryErrors": metric_errors}),
        None,
    ))
}

/// Applies `modulesContent` (module id → `{"properties.desired": {...}}`) and `deviceContent`
/// (`"properties.desired.<path>": value`) to an edge device's twins, creating missing modules.
pub async fn apply_content(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, HubError> {
    let body = body_json(&body)?;
    validate_content(&body)?;
    let now = now_ts();
    let mut st = hub.write();
    let etag = hub.next_identity_etag();
    let d = st
        .devices
        .get_mut(&id)
        .ok_or_else(|| HubError::device_not_found(&id))?;
    let mut next = d.clone();
    if let Some(modules) = body.get("modulesContent").and_then(Value::as_object) {
        for (mid, content) in modules {
            validate::id("modulesContent module id", mid.trim_start_matches('$'))?;
            let desired = content
                .get("properties.desired")
                .cloned()
                .unwrap_or_else(|| json!({}));
            if !desired.is_object() {
                return Err(HubError::invalid(format!(
                    "modulesContent.{mid}.properties.desired must be a JSON object"
                )));
            }
            if !next.modules.contains_key(mid) {
                let m = Module::create(mid, &json!({}), etag)?;
                next.modules.insert(mid.clone(), m);
            }
            if let Some(m) = next.modules.get_mut(mid) {
                m.twin
                    .write(&json!({"properties": {"desired": desired}}), false, &now)?;
            }
        }
    }
    if let Some(dc) = body.get("deviceContent").and_then(Value::as_object) {
        let mut patch = Map::new();
        for (path, value) in dc {
            let Some(rest) = path.strip_prefix("properties.desired.") else {
                return Err(HubError::invalid(format!(
                    "deviceContent key '{path}' must start with properties.desired."
                )));
            };
            let mut cur = &mut patch;
            let parts: Vec<&str> = rest.split('.').collect();
            for (i, p) in parts.iter().enumerate() {
                if i + 1 == parts.len() {
                    cur.insert(p.to_string(), value.clone());
                } else {
                    let e = cur.entry(p.to_string()).or_insert_with(|| json!({}));
                    if !e.is_object() {
                        *e = json!({});
                    }
                    let Some(m) = e.as_object_mut() else { break };
                    cur = m;
                }
            }
        }
        next.twin
            .write(&json!({"properties": {"desired": patch}}), true, &now)?;
    }
    *d = next;
    Ok(StatusCode::NO_CONTENT.into_response())
}
