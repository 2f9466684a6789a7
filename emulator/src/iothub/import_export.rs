//! Import and export jobs of the identity registry (`POST /jobs/create`, `GET /jobs`,
//! `GET /jobs/{id}`, `DELETE /jobs/{id}`), reading and writing blobs through Azure Blob REST at
//! the SAS container URLs they are given (`crate::storage`; loopback storage such as Azurite).
//!
//! - **Export** writes `outputBlobName` (default `devices.txt`) in the output container: one
//!   ExportImportDevice JSON per line (`id`, `eTag`, `status`, `statusReason`, `authentication`
//!   — keys `null` with `excludeKeysInExport` —, `twinETag`, `tags`, `properties.desired` /
//!   `reported`, `capabilities`, `deviceScope`, `parentScopes`), as a block blob.
//! - **Import** reads `inputBlobName` (default `devices.txt`) from the input container line by
//!   line and applies each line's `importMode` (`create`, `update`, `updateIfMatchETag`,
//!   `createOrUpdate` — the default —, `createOrUpdateIfMatchETag`, `delete`,
//!   `deleteIfMatchETag`, `updateTwin`, `updateTwinIfMatchETag`) through the bulk registry
//!   logic of `POST /devices`. Each line that fails is written to `importErrors.log` in the
//!   output container (`{"deviceId", "errorCode", "errorStatus", "operation", "line"}`, the bulk
//!   API's error entry plus the line number); the others stay applied.
//!
//! Statuses: `enqueued` → `running` → `completed` | `failed` | `cancelled`, with `progress`
//! 0..100, `startTimeUtc` (when it started running), `endTimeUtc` and `failureReason`. An import
//! with failed lines ends `failed` with a `failureReason` naming `importErrors.log` (emulator
//! choice; the service's exact status for partly failed imports is unconfirmed). Only one
//! import/export job is active per hub (the service's limit on every tier): creating another
//! while one is `enqueued` or `running` answers 403 `JobQuotaExceeded`.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::HubError;
use super::model::{identity_etag, now_ts, twin_etag};
use super::{Hub, HubState, body_json, json, validate};
use crate::storage::{self, BlockBlobWriter};

/// Pause before a job starts running, so clients observe `enqueued` like on the service.
const STEP: Duration = Duration::from_millis(100);

/// Devices exported per read of the registry (the lock is not held while writing the blob).
const EXPORT_CHUNK: usize = 500;

/// The import/export jobs of a hub, oldest first (listing order).
#[derive(Debug, Default)]
pub(crate) struct ImportExportJobs {
    jobs: Vec<Value>,
}

impl ImportExportJobs {
    fn get(&self, id: &str) -> Option<&Value> {
        self.jobs.iter().find(|j| j["jobId"] == id)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.jobs.iter_mut().find(|j| j["jobId"] == id)
    }
}

fn job_not_found(id: &str) -> HubError {
    HubError::new(
        StatusCode::NOT_FOUND,
        "JobNotFound",
        format!("import/export job '{id}' not found"),
    )
}

fn active(status: &Value) -> bool {
    status == "enqueued" || status == "running"
}

fn string_field(body: &Value, field: &str) -> Result<Option<String>, HubError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(HubError::invalid(format!("{field} must be a string"))),
    }
}

fn container_uri(body: &Value, field: &str, kind: &str) -> Result<String, HubError> {
    let s = string_field(body, field)?
        .ok_or_else(|| HubError::invalid(format!("{field} is required for an {kind} job")))?;
    let ok = (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > 8
        && !s.contains(char::is_whitespace);
    if !ok {
        return Err(HubError::invalid(format!(
            "{field} must be an absolute http(s) blob container URI with a SAS token, got '{}'",
            storage::redact(&s)
        )));
    }
    Ok(s)
}

/// `POST /jobs/create`: validates the JobProperties, stores the job `enqueued` and runs it in the
/// background.
pub async fn create(State(hub): State<Hub>, body: Bytes) -> Result<Response, HubError> {
    let body = body_json(&body)?;
    if !body.is_object() {
        return Err(HubError::format("the job properties must be a JSON object"));
    }
    let kind = string_field(&body, "type")?.unwrap_or_default();
    if kind != "export" && kind != "import" {
        return Err(HubError::invalid(format!(
            "type must be 'export' or 'import' for /jobs/create, got '{kind}'"
        )));
    }
    let output = container_uri(&body, "outputBlobContainerUri", &kind)?;
    let input = if kind == "import" {
        Some(container_uri(&body, "inputBlobContainerUri", &kind)?)
    } else {
        None
    };
    match string_field(&body, "storageAuthenticationType")?.as_deref() {
        None | Some("keyBased") => {}
        Some(other) => {
            return Err(HubError::invalid(format!(
                "storageAuthenticationType '{other}' is not emulated: use keyBased (SAS URIs)"
            )));
        }
    }
    if body.get("includeConfigurations") == Some(&json!(true)) {
        return Err(HubError::invalid(
            "includeConfigurations is not emulated: configurations are not exported or imported",
        ));
    }
    let exclude_keys = match body.get("excludeKeysInExport") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(HubError::invalid("excludeKeysInExport must be a boolean")),
    };
    let default_input = "devices.txt";
    let default_output = if kind == "import" {
        "importErrors.log"
    } else {
        "devices.txt"
    };
    let input_name = string_field(&body, "inputBlobName")?;
    let output_name = string_field(&body, "outputBlobName")?;
    for (f, v) in [
        ("inputBlobName", &input_name),
        ("outputBlobName", &output_name),
    ] {
        if v.as_deref().is_some_and(|n| n.is_empty() || n.len() > 1024) {
            return Err(HubError::invalid(format!("{f} must be 1-1024 characters")));
        }
    }
    let id = match string_field(&body, "jobId")? {
        Some(id) if !id.is_empty() => {
            validate::id("jobId", &id)?;
            id
        }
        _ => uuid::Uuid::new_v4().to_string(),
    };
    let mut job = json!({
        "jobId": id,
        "type": kind,
        "status": "enqueued",
        "progress": 0,
        "outputBlobContainerUri": output,
        "outputBlobName": output_name.as_deref().unwrap_or(default_output),
        "excludeKeysInExport": exclude_keys,
        "storageAuthenticationType": "keyBased",
        "includeConfigurations": false,
    });
    if let Some(i) = &input {
        job["inputBlobContainerUri"] = json!(i);
        job["inputBlobName"] = json!(input_name.as_deref().unwrap_or(default_input));
    }
    {
        let mut st = hub.write();
        if st.import_export.get(&id).is_some() {
            return Err(HubError::new(
                StatusCode::CONFLICT,
                "JobAlreadyExists",
                format!("a job with id '{id}' already exists"),
            ));
        }
        if let Some(running) = st.import_export.jobs.iter().find(|j| active(&j["status"])) {
            return Err(HubError::new(
                StatusCode::FORBIDDEN,
                "JobQuotaExceeded",
                format!(
                    "only one import/export job can be active at a time; job '{}' is {}",
                    running["jobId"].as_str().unwrap_or_default(),
                    running["status"].as_str().unwrap_or_default()
                ),
            ));
        }
        st.import_export.jobs.push(job.clone());
    }
    let hub2 = hub.clone();
    tokio::spawn(async move { run(hub2, id).await });
    Ok(json(StatusCode::OK, &job, None))
}

/// `GET /jobs`: every import/export job, oldest first.
pub async fn list(State(hub): State<Hub>) -> Response {
    let st = hub.read();
    json(
        StatusCode::OK,
        &Value::Array(st.import_export.jobs.clone()),
        None,
    )
}

/// `GET /jobs/{id}`.
pub async fn get(State(hub): State<Hub>, Path(id): Path<String>) -> Result<Response, HubError> {
    let st = hub.read();
    let job = st
        .import_export
        .get(&id)
        .ok_or_else(|| job_not_found(&id))?;
    Ok(json(StatusCode::OK, job, None))
}

/// `DELETE /jobs/{id}`: cancels an `enqueued` or `running` job (a running one stops before its
/// next line or device; what it already applied stays); a finished job is left as it is. 204.
pub async fn cancel(State(hub): State<Hub>, Path(id): Path<String>) -> Result<Response, HubError> {
    let mut st = hub.write();
    let job = st
        .import_export
        .get_mut(&id)
        .ok_or_else(|| job_not_found(&id))?;
    if active(&job["status"]) {
        job["status"] = json!("cancelled");
        job["endTimeUtc"] = json!(now_ts());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// How a job ended.
enum Outcome {
    Completed,
    Failed(String),
    Cancelled,
}

/// Whether the job is no longer `running` (cancelled, or removed).
fn stopped(hub: &Hub, id: &str) -> bool {
    hub.read()
        .import_export
        .get(id)
        .is_none_or(|j| j["status"] != "running")
}

fn set_progress(hub: &Hub, id: &str, progress: u64) {
    if let Some(j) = hub.write().import_export.get_mut(id)
        && j["status"] == "running"
    {
        j["progress"] = json!(progress.min(100));
    }
}

async fn run(hub: Hub, id: String) {
    tokio::time::sleep(STEP).await;
    let job = {
        let mut st = hub.write();
        let Some(job) = st.import_export.get_mut(&id) else {
            return;
        };
        if job["status"] != "enqueued" {
            return;
        }
        job["status"] = json!("running");
        job["startTimeUtc"] = json!(now_ts());
        job.clone()
    };
    let outcome = if job["type"] == "export" {
        export(&hub, &id, &job).await
    } else {
        import(&hub, &id, &job).await
    };
    let mut st = hub.write();
    let Some(j) = st.import_export.get_mut(&id) else {
        return;
    };
    if j["status"] != "running" {
        return; // cancelled meanwhile: stays cancelled
    }
    j["endTimeUtc"] = json!(now_ts());
    match outcome {
        Outcome::Completed => {
            j["status"] = json!("completed");
            j["progress"] = json!(100);
        }
        Outcome::Failed(reason) => {
            j["status"] = json!("failed");
            j["failureReason"] = json!(reason);
        }
        Outcome::Cancelled => j["status"] = json!("cancelled"),
    }
}

/// One device as an export line.
fn export_line(d: &super::model::Device, exclude_keys: bool) -> Value {
    let mut auth = d.auth.render();
    if exclude_keys {
        auth["symmetricKey"] = json!({"primaryKey": null, "secondaryKey": null});
    }
    let mut v = json!({
        "id": d.device_id,
        "eTag": identity_etag(d.etag),
        "status": d.status,
        "authentication": auth,
        "twinETag": twin_etag(d.twin.etag),
        "tags": d.twin.tags.clone().map(Value::Object).unwrap_or_else(|| json!({})),
        "properties": {"desired": d.twin.desired.render(), "reported": d.twin.reported.render()},
        "capabilities": {"iotEdge": d.iot_edge},
    });
    if let Some(r) = &d.status_reason {
        v["statusReason"] = json!(r);
    }
    if let Some(s) = &d.device_scope {
        v["deviceScope"] = json!(s);
    }
    if !d.parent_scopes.is_empty() {
        v["parentScopes"] = json!(d.parent_scopes);
    }
    v
}

/// One module of `d` as an export line: the device id plus `moduleId`, the module's identity
/// and twin (modules have no status of their own; exported as `enabled`), so an export read
/// back by an import job recreates the modules too.
fn export_module_line(
    d: &super::model::Device,
    m: &super::model::Module,
    exclude_keys: bool,
) -> Value {
    let mut auth = m.auth.render();
    if exclude_keys {
        auth["symmetricKey"] = json!({"primaryKey": null, "secondaryKey": null});
    }
    let mut v = json!({
        "id": d.device_id,
        "moduleId": m.module_id,
        "eTag": identity_etag(m.etag),
        "status": "enabled",
        "authentication": auth,
        "twinETag": twin_etag(m.twin.etag),
        "tags": m.twin.tags.clone().map(Value::Object).unwrap_or_else(|| json!({})),
        "properties": {"desired": m.twin.desired.render(), "reported": m.twin.reported.render()},
    });
    if let Some(by) = &m.managed_by {
        v["managedBy"] = json!(by);
    }
    v
}

fn blob_url(job: &Value, container: &str, name: &str) -> Result<String, storage::BlobError> {
    storage::blob_in_container(
        job[container].as_str().unwrap_or_default(),
        job[name].as_str().unwrap_or_default(),
    )
}

async fn export(hub: &Hub, id: &str, job: &Value) -> Outcome {
    let exclude = job["excludeKeysInExport"] == true;
    let mut writer = match blob_url(job, "outputBlobContainerUri", "outputBlobName")
        .and_then(|u| BlockBlobWriter::new(&u, "text/plain; charset=utf-8"))
    {
        Ok(w) => w,
        Err(e) => return Outcome::Failed(format!("{}: {}", e.code, e.message)),
    };
    let ids: Vec<String> = hub.read().devices.keys().cloned().collect();
    let total = ids.len().max(1) as u64;
    for (n, chunk) in ids.chunks(EXPORT_CHUNK).enumerate() {
        if stopped(hub, id) {
            return Outcome::Cancelled;
        }
        let lines: Vec<String> = {
            let st = hub.read();
            chunk
                .iter()
                .filter_map(|d| st.devices.get(d))
                .flat_map(|d| {
                    std::iter::once(export_line(d, exclude).to_string()).chain(
                        d.modules
                            .values()
                            .map(move |m| export_module_line(d, m, exclude).to_string()),
                    )
                })
                .collect()
        };
        for l in &lines {
            if let Err(e) = writer.write_line(l).await {
                return Outcome::Failed(format!("{}: {}", e.code, e.message));
            }
        }
        set_progress(
            hub,
            id,
            ((n * EXPORT_CHUNK + chunk.len()) as u64 * 99) / total,
        );
    }
    if stopped(hub, id) {
        return Outcome::Cancelled;
    }
    match writer.finish().await {
        Ok(()) => Outcome::Completed,
        Err(e) => Outcome::Failed(format!("{}: {}", e.code, e.message)),
    }
}

const MODES: &str = "create, update, updateIfMatchETag, createOrUpdate, createOrUpdateIfMatchETag, delete, deleteIfMatchETag, updateTwin, updateTwinIfMatchETag";

/// Applies one import line under the lock.
fn import_one(hub: &Hub, st: &mut HubState, item: &Value) -> Result<(), HubError> {
    if !item.is_object() {
        return Err(HubError::format("an import line must be a JSON object"));
    }
    let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
    let mid = item.get("moduleId").and_then(Value::as_str);
    let mode = match item.get("importMode") {
        None | Some(Value::Null) => "createOrUpdate",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(HubError::invalid(format!(
                "importMode must be one of {MODES}"
            )));
        }
    };
    let exists = match mid {
        None => st.devices.contains_key(id),
        Some(m) => st
            .devices
            .get(id)
            .is_some_and(|d| d.modules.contains_key(m)),
    };
    let bulk_mode = match mode {
        "createOrUpdate" => "update",
        "createOrUpdateIfMatchETag" if exists => "updateIfMatchETag",
        "createOrUpdateIfMatchETag" => "create",
        "create"
        | "update"
        | "updateIfMatchETag"
        | "delete"
        | "deleteIfMatchETag"
        | "updateTwin"
        | "updateTwinIfMatchETag" => mode,
        other => {
            return Err(HubError::invalid(format!(
                "importMode '{other}' is not one of {MODES}"
            )));
        }
    };
    super::identities::bulk_one(hub, st, id, mid, bulk_mode, item)
}

async fn import(hub: &Hub, id: &str, job: &Value) -> Outcome {
    let input = match blob_url(job, "inputBlobContainerUri", "inputBlobName") {
        Ok(u) => u,
        Err(e) => return Outcome::Failed(format!("{}: {}", e.code, e.message)),
    };
    let mut errors = match blob_url(job, "outputBlobContainerUri", "outputBlobName")
        .and_then(|u| BlockBlobWriter::new(&u, "text/plain; charset=utf-8"))
    {
        Ok(w) => w,
        Err(e) => return Outcome::Failed(format!("{}: {}", e.code, e.message)),
    };
    let mut reader = match storage::open_lines(&input).await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Failed(format!(
                "{}: the input blob could not be read: {}",
                e.code, e.message
            ));
        }
    };
    let (mut line_no, mut failed, mut applied) = (0u64, 0u64, 0u64);
    loop {
        if stopped(hub, id) {
            return Outcome::Cancelled;
        }
        let line = match reader.next_line().await {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => return Outcome::Failed(format!("{}: {}", e.code, e.message)),
        };
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        let res: Result<(), (HubError, Value)> = match serde_json::from_str::<Value>(&line) {
            Err(e) => Err((
                HubError::format(format!("line {line_no} is not valid JSON: {e}")),
                Value::Null,
            )),
            Ok(item) => import_one(hub, &mut hub.write(), &item).map_err(|e| (e, item)),
        };
        match res {
            Ok(()) => applied += 1,
            Err((e, item)) => {
                failed += 1;
                let mut entry = json!({
                    "deviceId": item.get("id").cloned().unwrap_or(Value::Null),
                    "errorCode": e.code,
                    "errorStatus": e.message,
                    "operation": item.get("importMode").cloned().unwrap_or(json!("createOrUpdate")),
                    "line": line_no,
                });
                if let Some(m) = item.get("moduleId") {
                    entry["moduleId"] = m.clone();
                }
                if let Err(e) = errors.write_line(&entry.to_string()).await {
                    return Outcome::Failed(format!("{}: {}", e.code, e.message));
                }
            }
        }
        if let Some(total) = reader.total_bytes.filter(|t| *t > 0) {
            set_progress(hub, id, reader.bytes_read * 99 / total);
        }
    }
    if stopped(hub, id) {
        return Outcome::Cancelled;
    }
    if let Err(e) = errors.finish().await {
        return Outcome::Failed(format!("{}: {}", e.code, e.message));
    }
    if failed > 0 {
        let log = job["outputBlobName"].as_str().unwrap_or_default();
        return Outcome::Failed(format!(
            "{failed} of {} device line(s) could not be imported ({applied} applied); see {log} in the output container",
            failed + applied
        ));
    }
    Outcome::Completed
}
