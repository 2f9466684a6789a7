//! `/jobs/imports` and `/jobs/deletions`: job lifecycles run by background tasks.
//!
//! Import jobs read their input NDJSON blob at `inputBlobUri` and write their output log as an
//! append blob at `outputBlobUri` through Azure Blob REST (`crate::storage`; loopback storage
//! such as Azurite only); see `run_import` for the file format and the failure rules. Delete
//! jobs really delete every relationship, twin and model.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::error::{AdtError, AdtResult};
use super::util::{self, json_reply};
use super::{AdtState, DigitalTwinsService, models, relationships, twins};
use crate::storage::{self, AppendBlobWriter, BlobError};

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
        run_import(svc2, id, input, output, ImportLimits::SERVICE).await;
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
    let t = util::ts_z(Utc::now());
    if job["status"] == "notstarted" {
        job["status"] = json!("cancelled");
        job["lastActionDateTime"] = json!(t);
        job["finishedDateTime"] = json!(t);
    } else if job["status"] == "running" {
        // The running import notices before its next line, stops and sets `cancelled`.
        job["status"] = json!("cancelling");
        job["lastActionDateTime"] = json!(t);
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

/// Limits of one import job.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ImportLimits {
    /// Twins one job may import.
    pub twins: usize,
    /// Relationships one job may import.
    pub relationships: usize,
    /// Models one job may import.
    pub models: usize,
}

impl ImportLimits {
    /// The service's documented limits of one import job: 2,000,000 twins, 10,000,000
    /// relationships, 10,000 models.
    pub const SERVICE: ImportLimits = ImportLimits {
        twins: 2_000_000,
        relationships: 10_000_000,
        models: 10_000,
    };
}

/// The sections of an import file, in the order they must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Header,
    Models,
    Twins,
    Relationships,
}

impl Section {
    fn parse(name: &str) -> Option<Section> {
        [
            Section::Header,
            Section::Models,
            Section::Twins,
            Section::Relationships,
        ]
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    fn name(self) -> &'static str {
        match self {
            Section::Header => "Header",
            Section::Models => "Models",
            Section::Twins => "Twins",
            Section::Relationships => "Relationships",
        }
    }
}

/// `{"Section": "<name>"}` (the only key) → the name.
fn section_marker(v: &Value) -> Option<&str> {
    let obj = v.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    obj.get("Section").and_then(Value::as_str)
}

/// How an import job ended.
enum Outcome {
    Succeeded,
    Failed { code: String, message: String },
    Cancelled,
}

fn failed(code: impl Into<String>, message: impl Into<String>) -> Outcome {
    Outcome::Failed {
        code: code.into(),
        message: message.into(),
    }
}

/// The output log: one JSON object per line, appended to the output append blob.
struct JobLog {
    writer: AppendBlobWriter,
    job_id: String,
}

impl JobLog {
    async fn line(&mut self, log_type: &str, details: Value) -> Result<(), BlobError> {
        let line = json!({
            "timestamp": util::ts_z(Utc::now()),
            "jobId": self.job_id,
            "jobType": "Import",
            "logType": log_type,
            "details": details,
        });
        self.writer.write_line(&line.to_string()).await
    }

    async fn info(&mut self, details: Value) -> Result<(), BlobError> {
        self.line("Info", details).await
    }

    async fn error(
        &mut self,
        section: Option<Section>,
        line: Option<u64>,
        code: &str,
        message: &str,
    ) -> Result<(), BlobError> {
        let mut d = json!({"code": code, "message": message});
        if let Some(s) = section {
            d["section"] = json!(s.name());
        }
        if let Some(n) = line {
            d["line"] = json!(n);
        }
        self.line("Error", d).await
    }
}

fn storage_failure(what: &str, e: &BlobError) -> Outcome {
    failed(e.code.clone(), format!("{what}: {}", e.message))
}

/// Runs one import job to its end (after earlier import jobs of the instance: one runs at a
/// time, as on the service) and records the outcome on the job.
///
/// The input is NDJSON: `{"Section": "Header"}`, a header object (`fileVersion`, `author`,
/// `organization`), then optional `{"Section": "Models"}` (one DTDL interface per line),
/// `{"Section": "Twins"}` (`{"$dtId", "$metadata": {"$model"}, properties…}`) and
/// `{"Section": "Relationships"}` (`{"$dtId", "$relationshipId", "$targetId",
/// "$relationshipName", properties…}`) sections, in that order; blank lines are skipped.
///
/// Entities go through the same validation as the REST routes. Failure rules (the service
/// documents only that import jobs are not atomic and that a job with failed parts ends
/// `failed`; the per-line behaviour below is the emulator's choice):
/// - the output blob cannot be created, the input blob cannot be read (missing, no access),
///   the header is missing or malformed, an unknown or out-of-order section, a job limit
///   exceeded, or the Models section rejected (models are uploaded together, all or nothing,
///   like `POST /models`): the job stops and fails with that error;
/// - a twin or relationship line that is not JSON or fails validation (unknown model, bad
///   property, missing target…): an `Error` line in the log, the job goes on, and ends
///   `failed` (`ImportFailed`) once the file is done; lines already imported stay imported.
pub(crate) async fn run_import(
    svc: DigitalTwinsService,
    id: String,
    input: String,
    output: String,
    limits: ImportLimits,
) {
    let lock = svc.read().import_lock.clone();
    let _running = lock.lock().await;
    tokio::time::sleep(STEP).await;
    {
        let mut st = svc.write();
        let Some(job) = st.imports.get_mut(&id) else {
            return;
        };
        if job["status"] != "notstarted" {
            return;
        }
        job["status"] = json!("running");
        job["lastActionDateTime"] = json!(util::ts_z(Utc::now()));
    }
    let outcome = import_file(&svc, &id, &input, &output, limits).await;
    let mut st = svc.write();
    let Some(job) = st.imports.get_mut(&id) else {
        return;
    };
    let t = util::ts_z(Utc::now());
    job["lastActionDateTime"] = json!(t);
    job["finishedDateTime"] = json!(t);
    let cancelling = job["status"] == "cancelling" || job["status"] == "cancelled";
    match outcome {
        _ if cancelling => job["status"] = json!("cancelled"),
        Outcome::Cancelled => job["status"] = json!("cancelled"),
        Outcome::Succeeded => job["status"] = json!("succeeded"),
        Outcome::Failed { code, message } => {
            job["status"] = json!("failed");
            job["error"] = json!({"code": code, "message": message});
        }
    }
}

fn cancelled(svc: &DigitalTwinsService, id: &str) -> bool {
    svc.read()
        .imports
        .get(id)
        .is_none_or(|j| j["status"] != "running")
}

async fn import_file(
    svc: &DigitalTwinsService,
    id: &str,
    input: &str,
    output: &str,
    limits: ImportLimits,
) -> Outcome {
    let writer = match AppendBlobWriter::create(output, "application/x-ndjson").await {
        Ok(w) => w,
        Err(e) => return storage_failure("The output blob could not be created", &e),
    };
    let mut log = JobLog {
        writer,
        job_id: id.to_string(),
    };
    let mut outcome = import_lines(svc, id, input, limits, &mut log).await;
    if cancelled(svc, id) {
        // Cancelled while a read was in flight: whatever that read did, the job was cancelled.
        outcome = Outcome::Cancelled;
    }
    let status = match &outcome {
        Outcome::Succeeded => "Succeeded",
        Outcome::Failed { .. } => "Failed",
        Outcome::Cancelled => "Cancelled",
    };
    let fin = async {
        log.info(json!({"status": status})).await?;
        log.writer.flush().await
    };
    match (fin.await, outcome) {
        (Err(e), Outcome::Succeeded) => storage_failure("The output log could not be written", &e),
        (_, o) => o,
    }
}

/// Reads the input line by line and imports it; `Err` of a log write fails the job.
async fn import_lines(
    svc: &DigitalTwinsService,
    id: &str,
    input: &str,
    limits: ImportLimits,
    log: &mut JobLog,
) -> Outcome {
    match import_lines_inner(svc, id, input, limits, log).await {
        Ok(o) => o,
        Err(e) => storage_failure("The output log could not be written", &e),
    }
}

async fn import_lines_inner(
    svc: &DigitalTwinsService,
    id: &str,
    input: &str,
    limits: ImportLimits,
    log: &mut JobLog,
) -> Result<Outcome, BlobError> {
    log.info(json!({"status": "Started"})).await?;
    let mut reader = match storage::open_lines(input).await {
        Ok(r) => r,
        Err(e) => {
            let message = format!("The input blob could not be read: {}", e.message);
            log.error(None, None, &e.code, &message).await?;
            return Ok(failed(e.code, message));
        }
    };
    let mut line_no: u64 = 0;
    let mut next = async || -> Result<Option<(u64, String)>, BlobError> {
        loop {
            let Some(line) = reader.next_line().await? else {
                return Ok(None);
            };
            line_no += 1;
            if !line.trim().is_empty() {
                return Ok(Some((line_no, line)));
            }
        }
    };
    // Header: the marker line, then the header object.
    let fatal_header = |n: Option<u64>, what: &str| {
        (
            n,
            "InvalidFileFormat",
            format!(
                "The input file must start with {{\"Section\": \"Header\"}} followed by a header object with a string fileVersion: {what}."
            ),
        )
    };
    let header = match next().await {
        Err(e) => Err((None, "StorageError", e.message)),
        Ok(None) => Err(fatal_header(None, "the file is empty")),
        Ok(Some((n, l))) => match serde_json::from_str::<Value>(&l) {
            Ok(v) if section_marker(&v).and_then(Section::parse) == Some(Section::Header) => {
                match next().await {
                    Err(e) => Err((None, "StorageError", e.message)),
                    Ok(None) => Err(fatal_header(Some(n), "the header object is missing")),
                    Ok(Some((n, l))) => match serde_json::from_str::<Value>(&l) {
                        Ok(h) if h.get("fileVersion").is_some_and(Value::is_string) => Ok(()),
                        _ => Err(fatal_header(
                            Some(n),
                            &format!("line {n} is not a header object"),
                        )),
                    },
                }
            }
            _ => Err(fatal_header(
                Some(n),
                &format!("line {n} is not the Header marker"),
            )),
        },
    };
    if let Err((n, code, message)) = header {
        log.error(Some(Section::Header), n, code, &message).await?;
        return Ok(failed(code, message));
    }

    let mut section = Section::Header;
    let mut section_errors = 0usize;
    let mut errors = 0usize;
    let mut first_error: Option<String> = None;
    let mut models: Vec<Value> = Vec::new();
    let (mut twins, mut rels) = (0usize, 0usize);
    loop {
        if cancelled(svc, id) {
            return Ok(Outcome::Cancelled);
        }
        let item = match next().await {
            Ok(i) => i,
            Err(e) => {
                let message = format!("The input blob could not be read: {}", e.message);
                log.error(None, None, &e.code, &message).await?;
                return Ok(failed(e.code, message));
            }
        };
        let parsed = item
            .as_ref()
            .map(|(n, l)| (*n, util::parse_json(l.as_bytes())));
        // A section marker or the end of the file closes the current section.
        let marker = match &parsed {
            None => Some(None),
            Some((n, Ok(v))) => section_marker(v).map(|name| Some((*n, name.to_string()))),
            Some((_, Err(_))) => None,
        };
        if let Some(marker) = marker {
            if section == Section::Models && !models.is_empty() {
                let batch = std::mem::take(&mut models);
                let res = models::add_batch(&mut svc.write(), batch);
                if let Err(e) = res {
                    log.error(Some(Section::Models), None, e.code, &e.message)
                        .await?;
                    log.info(json!({"section": "Models", "status": "Failed"}))
                        .await?;
                    return Ok(failed(e.code, e.message));
                }
            }
            if section != Section::Header {
                let status = if section_errors == 0 {
                    "Succeeded"
                } else {
                    "Failed"
                };
                log.info(json!({"section": section.name(), "status": status}))
                    .await?;
            }
            let Some((n, name)) = marker else { break };
            match Section::parse(&name) {
                Some(s) if s > section && s != Section::Header => {
                    section = s;
                    section_errors = 0;
                    log.info(json!({"section": s.name(), "status": "Started"}))
                        .await?;
                }
                _ => {
                    let message = format!(
                        "Line {n}: section '{name}' is unknown or out of order; sections are Header, Models, Twins, Relationships, each at most once and in that order."
                    );
                    log.error(Some(section), Some(n), "InvalidFileFormat", &message)
                        .await?;
                    return Ok(failed("InvalidFileFormat", message));
                }
            }
            continue;
        }
        let Some((n, value)) = parsed else { break };
        let res: AdtResult<()> = match (section, value) {
            (_, Err(e)) => Err(e),
            (Section::Header, Ok(_)) => Err(AdtError::invalid_argument(
                "The header has one object; a section marker must follow it.",
            )),
            (Section::Models, Ok(v)) => {
                if models.len() >= limits.models {
                    let message = format!(
                        "Line {n}: an import job imports at most {} models.",
                        limits.models
                    );
                    log.error(Some(section), Some(n), "LimitExceeded", &message)
                        .await?;
                    return Ok(failed("LimitExceeded", message));
                }
                models.push(v);
                Ok(())
            }
            (Section::Twins, Ok(v)) => {
                if twins >= limits.twins {
                    let message = format!(
                        "Line {n}: an import job imports at most {} twins.",
                        limits.twins
                    );
                    log.error(Some(section), Some(n), "LimitExceeded", &message)
                        .await?;
                    return Ok(failed("LimitExceeded", message));
                }
                import_twin(&mut svc.write(), v).map(|()| twins += 1)
            }
            (Section::Relationships, Ok(v)) => {
                if rels >= limits.relationships {
                    let message = format!(
                        "Line {n}: an import job imports at most {} relationships.",
                        limits.relationships
                    );
                    log.error(Some(section), Some(n), "LimitExceeded", &message)
                        .await?;
                    return Ok(failed("LimitExceeded", message));
                }
                import_relationship(&mut svc.write(), v).map(|()| rels += 1)
            }
        };
        if let Err(e) = res {
            errors += 1;
            section_errors += 1;
            if first_error.is_none() {
                first_error = Some(format!("line {n}: {} {}", e.code, e.message));
            }
            log.error(Some(section), Some(n), e.code, &e.message)
                .await?;
        }
    }
    if errors > 0 {
        return Ok(failed(
            "ImportFailed",
            format!(
                "{errors} line(s) of the input could not be imported (first: {}); the other entities were imported. See the output log.",
                first_error.unwrap_or_default()
            ),
        ));
    }
    Ok(Outcome::Succeeded)
}

/// One Twins-section line, validated like `PUT /digitaltwins/{id}`.
fn import_twin(st: &mut AdtState, v: Value) -> AdtResult<()> {
    let Value::Object(mut obj) = v else {
        return Err(AdtError::invalid_argument(
            "A twin line must be a JSON object.",
        ));
    };
    let id = match obj.remove("$dtId") {
        Some(Value::String(s)) => s,
        _ => {
            return Err(AdtError::invalid_argument(
                "A twin line needs a string '$dtId'.",
            ));
        }
    };
    twins::check_id(&id)?;
    obj.remove("$etag");
    let twin = twins::finalize(st, &id, obj, None, &|_| true)?;
    st.twins.insert(id, twin);
    Ok(())
}

/// One Relationships-section line, validated like `PUT …/relationships/{rel}`.
fn import_relationship(st: &mut AdtState, v: Value) -> AdtResult<()> {
    let Value::Object(mut obj) = v else {
        return Err(AdtError::invalid_argument(
            "A relationship line must be a JSON object.",
        ));
    };
    let source = match obj.remove("$dtId") {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => {
            return Err(AdtError::invalid_argument(
                "A relationship line needs a string '$dtId' (the source twin).",
            ));
        }
    };
    let rel_id = match obj.get("$relationshipId") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(AdtError::invalid_argument(
                "A relationship line needs a non-empty string '$relationshipId'.",
            ));
        }
    };
    if !st.twins.contains_key(&source) {
        return Err(AdtError::twin_not_found(&source));
    }
    obj.insert("$sourceId".into(), json!(source));
    obj.remove("$etag");
    relationships::validate(st, &source, &obj)?;
    obj.insert("$etag".into(), json!(util::new_etag()));
    relationships::store(st, &source, &rel_id, Value::Object(obj));
    Ok(())
}

/// Azurite for the unit tests below (the same launcher as emulator/tests/storage_jobs.rs).
#[cfg(test)]
#[path = "../../../testsupport/azurite.rs"]
mod azurite;

#[cfg(test)]
mod tests {
    use super::*;

    /// The job limits (here 2 twins instead of 2,000,000): the third twin line stops the job
    /// with `LimitExceeded`; the first two stay imported; the log names the line.
    #[tokio::test]
    async fn twin_limit_stops_the_job() {
        let store = azurite::Azurite::start().await;
        store.create_container("adt").await;
        let mut file = String::new();
        for l in [
            json!({"Section": "Header"}),
            json!({"fileVersion": "1.0.0"}),
            json!({"Section": "Models"}),
            json!({"@id": "dtmi:lim:T;1", "@type": "Interface", "@context": "dtmi:dtdl:context;2"}),
            json!({"Section": "Twins"}),
            json!({"$dtId": "t1", "$metadata": {"$model": "dtmi:lim:T;1"}}),
            json!({"$dtId": "t2", "$metadata": {"$model": "dtmi:lim:T;1"}}),
            json!({"$dtId": "t3", "$metadata": {"$model": "dtmi:lim:T;1"}}),
        ] {
            file.push_str(&format!("{l}\n"));
        }
        store.put_blob("adt", "in.ndjson", file).await;
        let svc = DigitalTwinsService::default();
        svc.write()
            .imports
            .insert("lim".into(), json!({"id": "lim", "status": "notstarted"}));
        let limits = ImportLimits {
            twins: 2,
            ..ImportLimits::SERVICE
        };
        run_import(
            svc.clone(),
            "lim".into(),
            store.blob_sas_url("adt", "in.ndjson"),
            store.blob_sas_url("adt", "out.log"),
            limits,
        )
        .await;
        let job = svc.read().imports["lim"].clone();
        assert_eq!(job["status"], "failed", "{job}");
        assert_eq!(job["error"]["code"], "LimitExceeded", "{job}");
        assert_eq!(svc.twin_count(), 2);
        let log = store.read_blob_string("adt", "out.log").await.unwrap();
        let errors: Vec<Value> = log
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["logType"] == "Error")
            .map(|l| l["details"].clone())
            .collect();
        assert_eq!(errors.len(), 1, "{log}");
        assert_eq!(errors[0]["code"], "LimitExceeded");
        assert_eq!(errors[0]["line"], 8);
        assert_eq!(errors[0]["section"], "Twins");
    }
}
