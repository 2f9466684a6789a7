//! `/jobs/imports` and `/jobs/deletions`: job lifecycles run by background tasks.
//!
//! Import jobs cannot read blob storage from a loopback emulator: they go `notstarted` → `running` → `succeeded`
//! without importing anything. Delete jobs really delete every relationship, twin and model.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::DigitalTwinsService;
use super::error::{AdtError, AdtResult};
use super::util::{self, json_reply};

/// Pause between job state transitions, so clients observe `notstarted`/`running` like on the service.
const STEP: Duration = Duration::from_millis(100);

fn check_uri(doc: &Value, field: &str) -> AdtResult<String> {
    let s = doc.get(field).and_then(Value::as_str).ok_or_else(|| {
        AdtError::invalid_argument(format!("The import job needs a string '{field}'."))
    })?;
    let ok = (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > 8
        && !s.contains(char::is_whitespace);
    if !ok {
        return Err(AdtError::invalid_argument(format!(
            "'{field}' must be an absolute http(s) blob URI."
        )));
    }
    Ok(s.to_string())
}

fn check_job_id(id: &str) -> AdtResult<()> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(AdtError::invalid_argument(
            "A job id must be 1-128 characters of letters, digits, '-', '_' and '.'.",
        ));
    }
    Ok(())
}

/// `PUT /jobs/imports/{id}` → 201 `notstarted`, then progresses in the background.
pub async fn put_import(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
    body: Bytes,
) -> AdtResult<Response> {
    check_job_id(&id)?;
    let doc = util::parse_json(&body)?;
    let input = check_uri(&doc, "inputBlobUri")?;
    let output = check_uri(&doc, "outputBlobUri")?;
    let now = Utc::now();
    let job = json!({
        "id": id,
        "inputBlobUri": input,
        "outputBlobUri": output,
        "createdDateTime": util::ts_z(now),
        "lastActionDateTime": util::ts_z(now),
        "purgeDateTime": util::ts_z(now + chrono::Duration::days(30)),
        "status": "notstarted",
    });
    {
        let mut st = svc.write();
        if st.imports.contains_key(&id) {
            return Err(AdtError::new(
                StatusCode::CONFLICT,
                "JobAlreadyExists",
                format!("An import job with the id {id} already exists."),
            ));
        }
        st.imports.insert(id.clone(), job.clone());
    }
    let svc2 = svc.clone();
    tokio::spawn(async move {
        for next in ["running", "succeeded"] {
            tokio::time::sleep(STEP).await;
            let mut st = svc2.write();
            let Some(job) = st.imports.get_mut(&id) else {
                return;
            };
            if job["status"] != "notstarted" && job["status"] != "running" {
                return;
            }
            let t = util::ts_z(Utc::now());
            job["status"] = json!(next);
            job["lastActionDateTime"] = json!(t);
            if next == "succeeded" {
                job["finishedDateTime"] = json!(t);
            }
        }
    });
    Ok(json_reply(StatusCode::CREATED, &job))
}

/// `GET /jobs/imports/{id}`.
pub async fn get_import(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
) -> AdtResult<Response> {
    let st = svc.read();
    let job = st
        .imports
        .get(&id)
        .ok_or_else(|| AdtError::job_not_found(&id))?;
    Ok(json_reply(StatusCode::OK, job))
}

/// `DELETE /jobs/imports/{id}`.
pub async fn delete_import(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
) -> AdtResult<Response> {
    svc.write()
        .imports
        .remove(&id)
        .ok_or_else(|| AdtError::job_not_found(&id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /jobs/imports/{id}/cancel`: a running job becomes `cancelled`; a finished one is returned unchanged.
pub async fn cancel_import(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
) -> AdtResult<Response> {
    let mut st = svc.write();
    let job = st
        .imports
        .get_mut(&id)
        .ok_or_else(|| AdtError::job_not_found(&id))?;
    if job["status"] == "notstarted" || job["status"] == "running" {
        let t = util::ts_z(Utc::now());
        job["status"] = json!("cancelled");
        job["lastActionDateTime"] = json!(t);
        job["finishedDateTime"] = json!(t);
    }
    Ok(json_reply(StatusCode::OK, job))
}

fn list_jobs(
    svc: &DigitalTwinsService,
    headers: &HeaderMap,
    q: Option<&str>,
    deletions: bool,
) -> AdtResult<Response> {
    let pairs = util::query_pairs(q);
    let size = util::page_size(headers, 100, 1000)?;
    let kind = if deletions { "deletions" } else { "imports" };
    let after = util::list_after(&pairs, kind)?;
    let st = svc.read();
    let map = if deletions {
        &st.deletions
    } else {
        &st.imports
    };
    let items: Vec<(String, Value)> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let (value, next) = util::page_after(items, after.as_deref(), size);
    let base = util::base_url(headers, svc.tls());
    Ok(json_reply(
        StatusCode::OK,
        &util::list_page(&base, &format!("/jobs/{kind}"), kind, &[], value, next),
    ))
}

/// `GET /jobs/imports`, paged.
pub async fn list_imports(
    State(svc): State<DigitalTwinsService>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> AdtResult<Response> {
    list_jobs(&svc, &headers, q.as_deref(), false)
}

/// `GET /jobs/deletions`, paged.
pub async fn list_deletions(
    State(svc): State<DigitalTwinsService>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> AdtResult<Response> {
    list_jobs(&svc, &headers, q.as_deref(), true)
}

/// `GET /jobs/deletions/{id}`.
pub async fn get_deletion(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
) -> AdtResult<Response> {
    let st = svc.read();
    let job = st
        .deletions
        .get(&id)
        .ok_or_else(|| AdtError::job_not_found(&id))?;
    Ok(json_reply(StatusCode::OK, job))
}

/// `POST /jobs/deletions[?timeoutInMinutes=]` → 202 with `Operation-Location`; deletes everything in the background.
pub async fn add_deletion(
    State(svc): State<DigitalTwinsService>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> AdtResult<Response> {
    let pairs = util::query_pairs(q.as_deref());
    if let Some(t) = util::query_get(&pairs, "timeoutInMinutes") {
        let ok = t.parse::<u32>().is_ok_and(|n| (15..=1440).contains(&n));
        if !ok {
            return Err(AdtError::invalid_argument(
                "Query parameter timeoutInMinutes must be an integer between 15 and 1440.",
            ));
        }
    }
    let id = match headers.get("operation-id") {
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| AdtError::invalid_argument("Header operation-id must be ASCII."))?
                .to_string();
            check_job_id(&s)?;
            s
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let now = Utc::now();
    let job = json!({
        "id": id,
        "status": "notstarted",
        "createdDateTime": util::ts_z(now),
        "purgeDateTime": util::ts_z(now + chrono::Duration::days(30)),
    });
    {
        let mut st = svc.write();
        if st.deletions.contains_key(&id) {
            return Err(AdtError::new(
                StatusCode::CONFLICT,
                "JobAlreadyExists",
                format!("A delete job with the id {id} already exists."),
            ));
        }
        st.deletions.insert(id.clone(), job.clone());
    }
    let svc2 = svc.clone();
    let id2 = id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(STEP).await;
        if let Some(j) = svc2.write().deletions.get_mut(&id2) {
            j["status"] = json!("running");
        }
        tokio::time::sleep(STEP).await;
        let mut st = svc2.write();
        st.clear_data();
        if let Some(j) = st.deletions.get_mut(&id2) {
            j["status"] = json!("succeeded");
            j["finishedDateTime"] = json!(util::ts_z(Utc::now()));
        }
    });
    let location = format!(
        "{}/jobs/deletions/{}?api-version={}",
        util::base_url(&headers, svc.tls()),
        util::enc(&id),
        util::api_version()
    );
    let mut resp = json_reply(StatusCode::ACCEPTED, &job);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut()
            .insert(header::HeaderName::from_static("operation-location"), v);
    }
    Ok(resp)
}
