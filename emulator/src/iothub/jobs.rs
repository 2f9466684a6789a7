//! Scheduled jobs v2 (`/jobs/v2`): twin updates and direct methods run at their start time over
//! the devices matching `queryCondition`, with statistics, cancellation and a maximum execution time.

use super::error::HubError;
use super::methods::{MethodCall, invoke};
use super::model::{TwinPatch, now_ts, ts};
use super::query::{matching_devices, parse_condition};
use super::{Hub, body_json, json, validate};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Default `maxExecutionTimeInSeconds` when the request has none.
const DEFAULT_MAX_EXECUTION: u64 = 3600;

/// What a job does to each device.
#[derive(Debug, Clone)]
enum Work {
    Twin(Value),
    Method(MethodCall),
}

/// One scheduled job.
#[derive(Debug, Clone)]
pub struct Job {
    id: String,
    kind: &'static str,
    query_condition: String,
    created: String,
    start: DateTime<Utc>,
    end: Option<String>,
    max_execution: u64,
    request: Value,
    work: Work,
    status: &'static str,
    failure_reason: Option<String>,
    stats: Stats,
    wake: Arc<Notify>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    device: u64,
    failed: u64,
    succeeded: u64,
    running: u64,
    pending: u64,
}

impl Job {
    fn render(&self) -> Value {
        let mut v = json!({
            "jobId": self.id,
            "queryCondition": self.query_condition,
            "createdTime": self.created,
            "startTime": ts(self.start),
            "maxExecutionTimeInSeconds": self.max_execution,
            "type": self.kind,
            "status": self.status,
            "deviceJobStatistics": {
                "deviceCount": self.stats.device,
                "failedCount": self.stats.failed,
                "succeededCount": self.stats.succeeded,
                "runningCount": self.stats.running,
                "pendingCount": self.stats.pending,
            },
        });
        if let Some(e) = &self.end {
            v["endTime"] = json!(e);
        }
        if let Some(r) = &self.failure_reason {
            v["failureReason"] = json!(r);
            v["statusMessage"] = json!(r);
        }
        match self.kind {
            "scheduleUpdateTwin" => v["updateTwin"] = self.request["updateTwin"].clone(),
            _ => v["cloudToDeviceMethod"] = self.request["cloudToDeviceMethod"].clone(),
        }
        v
    }

    fn is_terminal(&self) -> bool {
        matches!(self.status, "completed" | "failed" | "cancelled")
    }
}

fn not_found(id: &str) -> HubError {
    HubError::new(
        StatusCode::NOT_FOUND,
        "JobNotFound",
        format!("Job with ID '{id}' not found"),
    )
}

fn parse_request(id: &str, body: &Value) -> Result<Job, HubError> {
    let obj = body
        .as_object()
        .ok_or_else(|| HubError::format("the job body must be a JSON object"))?;
    if let Some(b) = obj.get("jobId").and_then(Value::as_str)
        && b != id
    {
        return Err(HubError::invalid(format!(
            "jobId '{b}' in the body does not match '{id}' in the path"
        )));
    }
    let kind = match obj.get("type").and_then(Value::as_str) {
        Some("scheduleUpdateTwin") => "scheduleUpdateTwin",
        Some("scheduleDeviceMethod") => "scheduleDeviceMethod",
        Some(other) => {
            return Err(HubError::invalid(format!(
                "type '{other}' is not supported by /jobs/v2; use scheduleUpdateTwin or scheduleDeviceMethod"
            )));
        }
        None => {
            return Err(HubError::invalid(
                "type is required (scheduleUpdateTwin or scheduleDeviceMethod)",
            ));
        }
    };
    let query_condition = match obj.get("queryCondition") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => {
            return Err(HubError::invalid(
                "queryCondition is required and must be a non-empty string",
            ));
        }
    };
    parse_condition("queryCondition", &query_condition)?;
    let start = match obj.get("startTime") {
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                HubError::invalid(format!("startTime '{s}' is not an ISO-8601 date-time: {e}"))
            })?,
        _ => {
            return Err(HubError::invalid(
                "startTime is required and must be an ISO-8601 date-time string",
            ));
        }
    };
    let max_execution = match obj.get("maxExecutionTimeInSeconds") {
        None | Some(Value::Null) => DEFAULT_MAX_EXECUTION,
        Some(v) => v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            HubError::invalid(format!(
                "maxExecutionTimeInSeconds must be a positive integer, got {v}"
            ))
        })?,
    };
    let work = match kind {
        "scheduleUpdateTwin" => {
            let patch = obj
                .get("updateTwin")
                .filter(|v| v.is_object())
                .ok_or_else(|| {
                    HubError::invalid(
                        "updateTwin is required for scheduleUpdateTwin and must be a JSON object",
                    )
                })?;
            if let Some(e) = patch.get("etag").and_then(Value::as_str)
                && e != "*"
            {
                return Err(HubError::invalid(
                    "updateTwin.etag must be '*' (or absent) in a job",
                ));
            }
            let parsed = TwinPatch::parse(patch)?;
            if parsed.tags.is_none() && parsed.desired.is_none() {
                return Err(HubError::invalid(
                    "updateTwin must set tags or properties.desired",
                ));
            }
            if obj.get("cloudToDeviceMethod").is_some_and(|v| !v.is_null()) {
                return Err(HubError::invalid(
                    "cloudToDeviceMethod is not allowed in a scheduleUpdateTwin job",
                ));
            }
            Work::Twin(patch.clone())
        }
        _ => {
            let m = obj.get("cloudToDeviceMethod").ok_or_else(|| {
                HubError::invalid("cloudToDeviceMethod is required for scheduleDeviceMethod")
            })?;
            if obj.get("updateTwin").is_some_and(|v| !v.is_null()) {
                return Err(HubError::invalid(
                    "updateTwin is not allowed in a scheduleDeviceMethod job",
                ));
            }
            Work::Method(MethodCall::parse(m, "cloudToDeviceMethod")?)
        }
    };
    Ok(Job {
        id: id.to_string(),
        kind,
        query_condition,
        created: now_ts(),
        start,
        end: None,
        max_execution,
        request: body.clone(),
        work,
        status: "queued",
        failure_reason: None,
        stats: Stats::default(),
        wake: Arc::new(Notify::new()),
    })
}

pub async fn create(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, HubError> {
    validate::id("jobId", &id)?;
    let body = body_json(&body)?;
    let job = parse_request(&id, &body)?;
    let v = {
        let mut st = hub.write();
        if st.jobs.contains_key(&id) {
            return Err(HubError::new(
                StatusCode::CONFLICT,
                "JobAlreadyExists",
                format!("Job with ID '{id}' already exists"),
            ));
        }
        let v = job.render();
        st.jobs.insert(id.clone(), job);
        v
    };
    tokio::spawn(run(hub.clone(), id));
    Ok(json(StatusCode::OK, &v, None))
}

pub async fn get(State(hub): State<Hub>, Path(id): Path<String>) -> Result<Response, HubError> {
    let st = hub.read();
    let j = st.jobs.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(json(StatusCode::OK, &j.render(), None))
}

pub async fn cancel(State(hub): State<Hub>, Path(id): Path<String>) -> Result<Response, HubError> {
    let mut st = hub.write();
    let now = now_ts();
    let j = st.jobs.get_mut(&id).ok_or_else(|| not_found(&id))?;
    if !j.is_terminal() {
        j.status = "cancelled";
        j.end = Some(now.clone());
        j.wake.notify_one();
    }
    let v = j.render();
    for rec in st.device_jobs.iter_mut() {
        if rec["jobId"] == id.as_str() && rec["status"] == "scheduled" {
            rec["status"] = json!("cancelled");
            rec["lastUpdatedDateTimeUtc"] = json!(now);
        }
    }
    Ok(json(StatusCode::OK, &v, None))
}

/// Filters of the job query route.
#[derive(Deserialize)]
pub struct JobFilter {
    #[serde(rename = "jobType")]
    job_type: Option<String>,
    #[serde(rename = "jobStatus")]
    job_status: Option<String>,
}

pub async fn query(
    State(hub): State<Hub>,
    Query(f): Query<JobFilter>,
    headers: HeaderMap,
) -> Result<Response, HubError> {
    const TYPES: &[&str] = &["scheduleUpdateTwin", "scheduleDeviceMethod"];
    const STATUSES: &[&str] = &[
        "queued",
        "scheduled",
        "enqueued",
        "running",
        "completed",
        "failed",
        "cancelled",
        "unknown",
    ];
    if let Some(t) = f
        .job_type
        .as_deref()
        .filter(|t| !t.is_empty() && !TYPES.contains(t))
    {
        return Err(HubError::invalid(format!(
            "jobType '{t}' is not one of {}",
            TYPES.join(", ")
        )));
    }
    if let Some(s) = f
        .job_status
        .as_deref()
        .filter(|s| !s.is_empty() && !STATUSES.contains(s))
    {
        return Err(HubError::invalid(format!(
            "jobStatus '{s}' is not one of {}",
            STATUSES.join(", ")
        )));
    }
    let rows: Vec<Value> = {
        let st = hub.read();
        let mut jobs: Vec<&Job> = st
            .jobs
            .values()
            .filter(|j| {
                f.job_type
                    .as_deref()
                    .is_none_or(|t| t.is_empty() || t == j.kind)
            })
            .filter(|j| {
                f.job_status
                    .as_deref()
                    .is_none_or(|s| s.is_empty() || s == j.status)
            })
            .collect();
        jobs.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        jobs.into_iter().map(Job::render).collect()
    };
    let page = match headers
        .get("x-ms-max-item-count")
        .and_then(|v| v.to_str().ok())
    {
        None => 100,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                HubError::invalid(format!(
                    "x-ms-max-item-count '{v}' must be an integer from 1 to 1000"
                ))
            })?,
    };
    let start = match headers
        .get("x-ms-continuation")
        .and_then(|v| v.to_str().ok())
    {
        None | Some("") => 0,
        Some(t) => B64
            .decode(t.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.strip_prefix("jobs:")
                    .and_then(|n| n.parse::<usize>().ok())
            })
            .ok_or_else(|| {
                HubError::invalid(format!(
                    "x-ms-continuation '{t}' is not a job query continuation token"
                ))
            })?,
    };
    let end = (start + page).min(rows.len());
    let slice = rows
        .get(start.min(rows.len())..end)
        .unwrap_or_default()
        .to_vec();
    let mut resp = json(StatusCode::OK, &Value::Array(slice), None);
    resp.headers_mut()
        .insert("x-ms-item-type", HeaderValue::from_static("JobResponse"));
    if end < rows.len()
        && let Ok(v) = HeaderValue::from_str(&B64.encode(format!("jobs:{end}")))
    {
        resp.headers_mut().insert("x-ms-continuation", v);
    }
    Ok(resp)
}

/// Sets the per-device record of `job` for `device`.
fn set_record(hub: &Hub, job: &str, device: &str, f: impl FnOnce(&mut Value)) {
    let mut st = hub.write();
    if let Some(r) = st
        .device_jobs
        .iter_mut()
        .find(|r| r["jobId"] == job && r["deviceId"] == device)
    {
        f(r);
        r["lastUpdatedDateTimeUtc"] = json!(now_ts());
    }
}

fn update_job(hub: &Hub, id: &str, f: impl FnOnce(&mut Job)) {
    if let Some(j) = hub.write().jobs.get_mut(id) {
        f(j);
    }
}

/// The scheduler of one job: waits for the start time, then works through the matching devices.
async fn run(hub: Hub, id: String) {
    let Some((start, wake, max_execution, work, condition, kind)) =
        hub.read().jobs.get(&id).map(|j| {
            (
                j.start,
                j.wake.clone(),
                j.max_execution,
                j.work.clone(),
                j.query_condition.clone(),
                j.kind,
            )
        })
    else {
        return;
    };
    let mut shutdown = hub.shutdown.subscribe();
    let wait = (start - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = wake.notified() => {}
        _ = shutdown.changed() => return,
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(max_execution);
    // Pick the devices and create their records, unless cancelled meanwhile.
    let devices = {
        let mut st = hub.write();
        let Ok(q) = parse_condition("queryCondition", &condition) else {
            return;
        };
        let devices = matching_devices(&st, &q);
        let now = now_ts();
        let Some(j) = st.jobs.get_mut(&id) else {
            return;
        };
        if j.is_terminal() {
            return;
        }
        j.status = "running";
        j.stats = Stats {
            device: devices.len() as u64,
            pending: devices.len() as u64,
            ..Stats::default()
        };
        for d in &devices {
            st.device_jobs.push(json!({
                "deviceId": d,
                "jobId": id,
                "jobType": kind,
                "status": "scheduled",
                "startTimeUtc": now,
                "endTimeUtc": null,
                "createdDateTimeUtc": now,
                "lastUpdatedDateTimeUtc": now,
                "outcome": {},
            }));
        }
        devices
    };
    let mut timed_out = false;
    for device in &devices {
        let cancelled = hub
            .read()
            .jobs
            .get(&id)
            .is_none_or(|j| j.status == "cancelled");
        if cancelled {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        update_job(&hub, &id, |j| {
            j.stats.pending -= 1;
            j.stats.running += 1;
        });
        set_record(&hub, &id, device, |r| r["status"] = json!("running"));
        let result: Result<Value, HubError> = match &work {
            Work::Twin(patch) => {
                let mut st = hub.write();
                match st.devices.get_mut(device) {
                    Some(d) => d.twin.write(patch, true, &now_ts()).map(|_| json!({})),
                    None => Err(HubError::device_not_found(device)),
                }
            }
            Work::Method(call) => {
                let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                let mut call = call.clone();
                call.response_timeout = call.response_timeout.min(remaining);
                tokio::select! {
                    r = invoke(&hub, device, None, &call) => r.map(|(s, p)| json!({"deviceMethodResponse": {"status": s, "payload": p}})),
                    _ = wake.notified() => return,
                    _ = shutdown.changed() => return,
                }
            }
        };
        let ok = result.is_ok();
        set_record(&hub, &id, device, |r| {
            r["endTimeUtc"] = json!(now_ts());
            match result {
                Ok(outcome) => {
                    r["status"] = json!("completed");
                    r["outcome"] = outcome;
                }
                Err(e) => {
                    r["status"] = json!("failed");
                    r["error"] = json!({"code": e.code, "description": e.message});
                }
            }
        });
        update_job(&hub, &id, |j| {
            j.stats.running -= 1;
            if ok {
                j.stats.succeeded += 1;
            } else {
                j.stats.failed += 1;
            }
        });
        if tokio::time::Instant::now() >= deadline && !ok {
            timed_out = true;
            break;
        }
    }
    let now = now_ts();
    if timed_out {
        let mut st = hub.write();
        for r in st.device_jobs.iter_mut() {
            if r["jobId"] == id.as_str() && (r["status"] == "scheduled" || r["status"] == "running")
            {
                r["status"] = json!("failed");
                r["endTimeUtc"] = json!(now);
                r["lastUpdatedDateTimeUtc"] = json!(now);
                r["error"] = json!({"code": "JobRunPreconditionFailed", "description": "the job exceeded maxExecutionTimeInSeconds"});
            }
        }
    }
    update_job(&hub, &id, |j| {
        if j.status == "cancelled" {
            return;
        }
        j.end = Some(now);
        if timed_out {
            j.stats.failed += j.stats.pending + j.stats.running;
            j.stats.pending = 0;
            j.stats.running = 0;
            j.status = "failed";
            j.failure_reason = Some(format!(
                "The job did not finish within maxExecutionTimeInSeconds ({max_execution} s)"
            ));
        } else {
            j.status = "completed";
        }
    });
}
