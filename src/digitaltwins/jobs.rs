//! Import jobs (bulk load from a blob) and delete jobs (delete everything), with a helper that
//! waits for a job to finish.
//!
//! Capability-aware: import jobs compile only with `cfg(adt_import_jobs)` and delete jobs only
//! with `cfg(adt_delete_jobs)`, which the build script sets when the generated client has their
//! operations (ADT 2020-10-31 has neither; 2023-02-27-preview has import jobs only).

// Without import and delete jobs (ADT 2020-10-31) only the status and error types remain.
#![cfg_attr(not(any(adt_import_jobs, adt_delete_jobs)), allow(unused_imports))]

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::client::{DigitalTwinsClient, api_version, page_of};
use super::twin::validate_id;
#[cfg(adt_import_jobs)]
use crate::auth::Secret;
use crate::paging::{Continuation, Pager};
#[cfg(any(adt_import_jobs, adt_delete_jobs))]
use crate::poll::{self, Schedule};
#[cfg(any(adt_import_jobs, adt_delete_jobs))]
use crate::request::setters;
use crate::{Error, ErrorKind, RequestOptions};

/// Status of an import or delete job. Open: unknown values from a newer service are kept.
///
/// Handwritten on purpose: code generation substitutes it for the spec's status strings
/// (`AdtJobStatus` in `codegen`'s replacements), so the generated [`ImportJob`] and
/// [`DeleteJob`] carry it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum JobStatus {
    /// `notstarted`.
    NotStarted,
    /// `running`.
    Running,
    /// `failed`: see the job's `error`.
    Failed,
    /// `succeeded`.
    Succeeded,
    /// `cancelling` (import jobs).
    Cancelling,
    /// `cancelled` (import jobs).
    Cancelled,
    /// A status this version does not know.
    Other(String),
}

impl JobStatus {
    /// True once the job can no longer change: succeeded, failed or cancelled.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::NotStarted => "notstarted",
            JobStatus::Running => "running",
            JobStatus::Failed => "failed",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Cancelling => "cancelling",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Other(s) => s,
        }
    }
}

impl From<String> for JobStatus {
    fn from(s: String) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "notstarted" => JobStatus::NotStarted,
            "running" => JobStatus::Running,
            "failed" => JobStatus::Failed,
            "succeeded" => JobStatus::Succeeded,
            "cancelling" => JobStatus::Cancelling,
            "cancelled" => JobStatus::Cancelled,
            _ => JobStatus::Other(s),
        }
    }
}

impl From<JobStatus> for String {
    fn from(s: JobStatus) -> Self {
        s.as_str().to_owned()
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error a failed job reports (`code`, `message`, `details`, `innererror`). The generated
/// wire type (`Error` of the spec).
pub use crate::raw::digitaltwins::types::Error as JobError;

#[cfg(adt_import_jobs)]
/// An import job: loads models, twins and relationships from an NDJSON blob. The generated
/// wire type (`ImportJob` of the spec): `id`, `input_blob_uri`, `output_blob_uri`, `status`,
/// `created_date_time`, `last_action_date_time`, `finished_date_time`, `purge_date_time` and
/// `error` for failed jobs.
pub use crate::raw::digitaltwins::types::ImportJob;

#[cfg(adt_delete_jobs)]
/// A delete job: deletes every model, twin and relationship of the instance. The generated
/// wire type (`DeleteJob` of the spec): `id`, `status`, `created_date_time`,
/// `finished_date_time`, `purge_date_time` and `error` for failed jobs.
pub use crate::raw::digitaltwins::types::DeleteJob;

#[cfg(adt_import_jobs)]
impl DigitalTwinsClient {
    /// Creates an import job (`PUT /jobs/imports/{id}`) reading `input_blob_uri` (NDJSON) and
    /// writing its log to `output_blob_uri`. The id is yours, so retrying is safe.
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::DigitalTwinsClient;
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let job = dt.create_import_job("import-1",
    ///     "https://acct.blob.core.windows.net/c/graph.ndjson",
    ///     "https://acct.blob.core.windows.net/c/graph.log").send().await?;
    /// let done = dt.wait_for_import_job(&job.id).timeout(std::time::Duration::from_secs(3600)).await?;
    /// println!("import finished: {}", done.status.unwrap());
    /// # Ok(()) }
    /// ```
    pub fn create_import_job(
        &self,
        job_id: impl Into<String>,
        input_blob_uri: impl Into<String>,
        output_blob_uri: impl Into<String>,
    ) -> CreateImportJob {
        CreateImportJob {
            client: self.clone(),
            job_id: job_id.into(),
            input_blob_uri: Secret::new(input_blob_uri.into()),
            output_blob_uri: Secret::new(output_blob_uri.into()),
            options: RequestOptions::default(),
        }
    }

    /// Gets an import job.
    pub fn get_import_job(&self, job_id: impl Into<String>) -> GetImportJob {
        GetImportJob {
            client: self.clone(),
            job_id: job_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Lists import jobs across all pages.
    pub fn list_import_jobs(&self) -> ListImportJobs {
        ListImportJobs {
            client: self.clone(),
            page_size: None,
            continuation: None,
            options: RequestOptions::default(),
        }
    }

    /// Cancels an import job (a finished job is returned unchanged).
    pub fn cancel_import_job(&self, job_id: impl Into<String>) -> CancelImportJob {
        CancelImportJob {
            client: self.clone(),
            job_id: job_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Deletes an import job record.
    pub fn delete_import_job(&self, job_id: impl Into<String>) -> DeleteImportJob {
        DeleteImportJob {
            client: self.clone(),
            job_id: job_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Polls an import job until it finishes; see
    /// [`wait_for_delete_job`](Self::wait_for_delete_job) for the polling.
    pub fn wait_for_import_job(&self, job_id: impl Into<String>) -> WaitForJob<ImportJob> {
        WaitForJob::new(self.clone(), job_id.into())
    }
}

#[cfg(adt_delete_jobs)]
impl DigitalTwinsClient {
    /// Starts a job deleting **every** model, twin and relationship of the instance
    /// (`POST /jobs/deletions`). Wait for it with [`wait_for_delete_job`](Self::wait_for_delete_job).
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::DigitalTwinsClient;
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let job = dt.create_delete_job().send().await?;
    /// let done = dt.wait_for_delete_job(&job.id).await?;
    /// assert!(done.status.unwrap().is_terminal());
    /// # Ok(()) }
    /// ```
    pub fn create_delete_job(&self) -> CreateDeleteJob {
        CreateDeleteJob {
            client: self.clone(),
            operation_id: None,
            timeout_in_minutes: None,
            options: RequestOptions::default(),
        }
    }

    /// Gets a delete job.
    pub fn get_delete_job(&self, job_id: impl Into<String>) -> GetDeleteJob {
        GetDeleteJob {
            client: self.clone(),
            job_id: job_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Lists delete jobs across all pages.
    pub fn list_delete_jobs(&self) -> ListDeleteJobs {
        ListDeleteJobs {
            client: self.clone(),
            page_size: None,
            continuation: None,
            options: RequestOptions::default(),
        }
    }

    /// Polls a delete job until it is finished (succeeded, failed or cancelled: check
    /// `status`, and `error` for the reason of a failure) and returns it, or fails with
    /// [`ErrorKind::Timeout`] when the timeout passes first. Polls start every second and back
    /// off to every 30 s; await the builder directly or call `.send()`. Same shape as
    /// `IotHubClient::wait_for_job`.
    pub fn wait_for_delete_job(&self, job_id: impl Into<String>) -> WaitForJob<DeleteJob> {
        WaitForJob::new(self.clone(), job_id.into())
    }
}

#[cfg(adt_import_jobs)]
/// Builder of [`DigitalTwinsClient::create_import_job`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct CreateImportJob {
    client: DigitalTwinsClient,
    job_id: String,
    /// SAS URLs: their `sig` is a credential, so `Debug` shows none of it.
    input_blob_uri: Secret,
    output_blob_uri: Secret,
    options: RequestOptions,
}

#[cfg(adt_import_jobs)]
impl CreateImportJob {
    setters! { options; }

    /// Sends the request; returns the new job (`notstarted`).
    pub async fn send(self) -> Result<ImportJob, Error> {
        validate_id("job_id", &self.job_id)?;
        for (field, uri) in [
            ("input_blob_uri", &self.input_blob_uri),
            ("output_blob_uri", &self.output_blob_uri),
        ] {
            let ok = reqwest::Url::parse(uri.expose_secret())
                .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some());
            if !ok {
                return Err(Error::invalid_input(
                    field,
                    "must be an absolute https URL of a blob",
                ));
            }
        }
        let body = crate::raw::digitaltwins::types::ImportJobRequest {
            input_blob_uri: self.input_blob_uri,
            output_blob_uri: self.output_blob_uri,
        };
        let id = self.job_id.as_str();
        self.client
            .fetch(&self.options, |raw| {
                raw.import_jobs_add(id, api_version(raw), None, None, &body)
            })
            .await
    }
}
#[cfg(adt_import_jobs)]
crate::response::operation!(CreateImportJob => ImportJob);

#[cfg(adt_import_jobs)]
/// Builder of [`DigitalTwinsClient::get_import_job`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct GetImportJob {
    client: DigitalTwinsClient,
    job_id: String,
    options: RequestOptions,
}

#[cfg(adt_import_jobs)]
impl GetImportJob {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<ImportJob, Error> {
        validate_id("job_id", &self.job_id)?;
        let id = self.job_id.as_str();
        self.client
            .fetch(&self.options, |raw| {
                raw.import_jobs_get_by_id(id, api_version(raw), None, None)
            })
            .await
    }
}
#[cfg(adt_import_jobs)]
crate::response::operation!(GetImportJob => ImportJob);

#[cfg(adt_import_jobs)]
/// Builder of [`DigitalTwinsClient::cancel_import_job`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct CancelImportJob {
    client: DigitalTwinsClient,
    job_id: String,
    options: RequestOptions,
}

#[cfg(adt_import_jobs)]
impl CancelImportJob {
    setters! { options; }

    /// Sends the request; returns the job as it is after the cancel request.
    pub async fn send(self) -> Result<ImportJob, Error> {
        validate_id("job_id", &self.job_id)?;
        let id = self.job_id.as_str();
        self.client
            .fetch(&self.options, |raw| {
                raw.import_jobs_cancel(id, api_version(raw), None, None)
            })
            .await
    }
}
#[cfg(adt_import_jobs)]
crate::response::operation!(CancelImportJob => ImportJob);

#[cfg(adt_import_jobs)]
/// Builder of [`DigitalTwinsClient::delete_import_job`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct DeleteImportJob {
    client: DigitalTwinsClient,
    job_id: String,
    options: RequestOptions,
}

#[cfg(adt_import_jobs)]
impl DeleteImportJob {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<(), Error> {
        validate_id("job_id", &self.job_id)?;
        let id = self.job_id.as_str();
        self.client
            .call(&self.options, |raw| {
                raw.import_jobs_delete(id, api_version(raw), None, None)
            })
            .await?;
        Ok(())
    }
}
#[cfg(adt_import_jobs)]
crate::response::operation!(DeleteImportJob => ());

#[cfg(adt_import_jobs)]
/// Builder of [`DigitalTwinsClient::list_import_jobs`].
#[derive(Debug)]
#[must_use = "call .into_stream() to list"]
pub struct ListImportJobs {
    client: DigitalTwinsClient,
    page_size: Option<u32>,
    continuation: Option<Continuation>,
    options: RequestOptions,
}

#[cfg(adt_import_jobs)]
impl ListImportJobs {
    setters! {
        options;
        /// Maximum jobs per page (`max-items-per-page`).
        page_size;
        continuation;
    }

    /// All import jobs, page after page.
    pub fn into_stream(self) -> Pager<ImportJob> {
        self.client.list_pager(
            self.options,
            self.page_size,
            self.continuation,
            |client, options, page_size| async move {
                client
                    .call(&options, |raw| {
                        raw.import_jobs_list(api_version(raw), page_size, None, None)
                    })
                    .await
                    .map(page_of)
            },
            Ok,
        )
    }
}

#[cfg(adt_delete_jobs)]
/// Builder of [`DigitalTwinsClient::create_delete_job`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct CreateDeleteJob {
    client: DigitalTwinsClient,
    operation_id: Option<String>,
    timeout_in_minutes: Option<u32>,
    options: RequestOptions,
}

#[cfg(adt_delete_jobs)]
impl CreateDeleteJob {
    setters! { options; }

    /// Your id for the job (`operation-id` header); the service makes one up otherwise.
    pub fn operation_id(mut self, id: impl Into<String>) -> Self {
        self.operation_id = Some(id.into());
        self
    }

    /// Server-side time limit; when it passes the job stops where it is (no rollback).
    pub fn timeout_in_minutes(mut self, minutes: u32) -> Self {
        self.timeout_in_minutes = Some(minutes);
        self
    }

    /// Sends the request; returns the started job, its id taken from the body or, failing
    /// that, from the `Operation-Location` header.
    pub async fn send(self) -> Result<DeleteJob, Error> {
        if let Some(id) = &self.operation_id {
            validate_id("operation_id", id)?;
        }
        let timeout = match self.timeout_in_minutes {
            Some(0) => {
                return Err(Error::invalid_input(
                    "timeout_in_minutes",
                    "must be at least 1",
                ));
            }
            Some(m) => Some(
                i32::try_from(m)
                    .map_err(|_| Error::invalid_input("timeout_in_minutes", "is too large"))?,
            ),
            None => None,
        };
        let op = self.operation_id.as_deref();
        let rv = self
            .client
            .call(&self.options, |raw| {
                raw.delete_jobs_add(api_version(raw), timeout, op, None, None)
            })
            .await?;
        let location = rv
            .headers()
            .get("operation-location")
            .and_then(|v| v.to_str().ok())
            .and_then(job_id_from_location);
        let mut job = rv.into_inner();
        if job.id.is_empty()
            && let Some(id) = location
        {
            job.id = id;
        }
        if job.id.is_empty() {
            return Err(Error::new(
                ErrorKind::DataConversion,
                "the delete job response named no job id (no id in the body, no Operation-Location)",
            ));
        }
        Ok(job)
    }
}
#[cfg(adt_delete_jobs)]
crate::response::operation!(CreateDeleteJob => DeleteJob);

#[cfg(adt_delete_jobs)]
/// The last path segment of an `Operation-Location` URL (`…/jobs/deletions/{id}?api-version=…`).
fn job_id_from_location(loc: &str) -> Option<String> {
    let path = loc.split(['?', '#']).next()?;
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    let decoded = percent_decode(last);
    (!decoded.is_empty()).then_some(decoded)
}

#[cfg(adt_delete_jobs)]
fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(adt_delete_jobs)]
/// Builder of [`DigitalTwinsClient::get_delete_job`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct GetDeleteJob {
    client: DigitalTwinsClient,
    job_id: String,
    options: RequestOptions,
}

#[cfg(adt_delete_jobs)]
impl GetDeleteJob {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<DeleteJob, Error> {
        validate_id("job_id", &self.job_id)?;
        let id = self.job_id.as_str();
        self.client
            .fetch(&self.options, |raw| {
                raw.delete_jobs_get_by_id(id, api_version(raw), None, None)
            })
            .await
    }
}
#[cfg(adt_delete_jobs)]
crate::response::operation!(GetDeleteJob => DeleteJob);

#[cfg(adt_delete_jobs)]
/// Builder of [`DigitalTwinsClient::list_delete_jobs`].
#[derive(Debug)]
#[must_use = "call .into_stream() to list"]
pub struct ListDeleteJobs {
    client: DigitalTwinsClient,
    page_size: Option<u32>,
    continuation: Option<Continuation>,
    options: RequestOptions,
}

#[cfg(adt_delete_jobs)]
impl ListDeleteJobs {
    setters! {
        options;
        /// Maximum jobs per page (`max-items-per-page`).
        page_size;
        continuation;
    }

    /// All delete jobs, page after page.
    pub fn into_stream(self) -> Pager<DeleteJob> {
        self.client.list_pager(
            self.options,
            self.page_size,
            self.continuation,
            |client, options, page_size| async move {
                client
                    .call(&options, |raw| {
                        raw.delete_jobs_list(api_version(raw), page_size, None, None)
                    })
                    .await
                    .map(page_of)
            },
            Ok,
        )
    }
}

#[cfg(any(adt_import_jobs, adt_delete_jobs))]
/// Waits for an import or delete job to finish: the same options and finishing calls as the IoT
/// Hub job waiters.
///
/// Polls from [`poll_every`](Self::poll_every) (default 1 s), ×2 per poll, up to
/// [`max_poll_interval`](Self::max_poll_interval) (default 30 s), for at most
/// [`timeout`](Self::timeout) (default 30 minutes), then [`ErrorKind::Timeout`] naming the
/// job's last status. Await it directly, or call [`send`](Self::send) /
/// `send_with_response` (the metadata of the last poll).
#[derive(Debug)]
#[must_use = "await it to wait for the job"]
pub struct WaitForJob<J> {
    client: DigitalTwinsClient,
    job_id: String,
    poll_every: Duration,
    max_poll_interval: Duration,
    timeout: Duration,
    options: RequestOptions,
    _j: std::marker::PhantomData<fn() -> J>,
}

#[cfg(any(adt_import_jobs, adt_delete_jobs))]
impl<J> WaitForJob<J> {
    fn new(client: DigitalTwinsClient, job_id: String) -> Self {
        WaitForJob {
            client,
            job_id,
            poll_every: Duration::from_secs(1),
            max_poll_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30 * 60),
            options: RequestOptions::default(),
            _j: std::marker::PhantomData,
        }
    }

    /// First delay between polls (then doubling).
    pub fn poll_every(mut self, d: Duration) -> Self {
        self.poll_every = d;
        self
    }

    /// Longest delay between polls.
    pub fn max_poll_interval(mut self, d: Duration) -> Self {
        self.max_poll_interval = d;
        self
    }

    /// How long to wait in total before giving up with [`ErrorKind::Timeout`].
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    setters! {
        /// Per-call options for each poll.
        options;
    }
}

#[cfg(adt_delete_jobs)]
impl WaitForJob<DeleteJob> {
    /// Polls until the delete job is finished; the same as awaiting the builder.
    pub async fn send(self) -> Result<DeleteJob, Error> {
        self.run().await
    }
}

#[cfg(adt_import_jobs)]
impl WaitForJob<ImportJob> {
    /// Polls until the import job is finished; the same as awaiting the builder.
    pub async fn send(self) -> Result<ImportJob, Error> {
        self.run().await
    }
}

#[cfg(any(adt_import_jobs, adt_delete_jobs))]
/// What the waiter needs from a job: its status, and how to get it again.
trait JobState: Sized {
    fn status(&self) -> Option<&JobStatus>;
    async fn get(
        client: &DigitalTwinsClient,
        options: &RequestOptions,
        id: &str,
    ) -> Result<Self, Error>;
}

#[cfg(adt_import_jobs)]
impl JobState for ImportJob {
    fn status(&self) -> Option<&JobStatus> {
        self.status.as_ref()
    }
    async fn get(
        client: &DigitalTwinsClient,
        options: &RequestOptions,
        id: &str,
    ) -> Result<Self, Error> {
        client
            .fetch(options, |raw| {
                raw.import_jobs_get_by_id(id, api_version(raw), None, None)
            })
            .await
    }
}

#[cfg(adt_delete_jobs)]
impl JobState for DeleteJob {
    fn status(&self) -> Option<&JobStatus> {
        self.status.as_ref()
    }
    async fn get(
        client: &DigitalTwinsClient,
        options: &RequestOptions,
        id: &str,
    ) -> Result<Self, Error> {
        client
            .fetch(options, |raw| {
                raw.delete_jobs_get_by_id(id, api_version(raw), None, None)
            })
            .await
    }
}

#[cfg(any(adt_import_jobs, adt_delete_jobs))]
impl<J> WaitForJob<J> {
    async fn run(self) -> Result<J, Error>
    where
        J: JobState,
    {
        validate_id("job_id", &self.job_id)?;
        let (client, options, id) = (&self.client, &self.options, self.job_id.as_str());
        let schedule = Schedule {
            first: self.poll_every.max(Duration::from_millis(1)),
            max: self.max_poll_interval.max(self.poll_every),
            grow: |d| d * 2,
            timeout: self.timeout,
        };
        let fetch = || J::get(client, options, id);
        poll::until_finished(
            schedule,
            fetch,
            |job: &J| job.status().is_some_and(JobStatus::is_terminal),
            |job| {
                Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "job {:?} was still {} after {:?}",
                        self.job_id,
                        job.status()
                            .map(JobStatus::as_str)
                            .unwrap_or("without status"),
                        self.timeout
                    ),
                )
            },
        )
        .await
    }
}

#[cfg(adt_import_jobs)]
crate::response::operation!(WaitForJob<ImportJob> => ImportJob);
#[cfg(adt_delete_jobs)]
crate::response::operation!(WaitForJob<DeleteJob> => DeleteJob);

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(adt_delete_jobs)]
    #[test]
    fn job_id_from_operation_location() {
        assert_eq!(
            job_id_from_location(
                "https://x.api.weu.digitaltwins.azure.net/jobs/deletions/job%2D1?api-version=2023-10-31"
            ),
            Some("job-1".to_owned())
        );
        assert_eq!(
            job_id_from_location("/jobs/deletions/abc/"),
            Some("abc".to_owned())
        );
        assert_eq!(job_id_from_location(""), None);
    }

    #[test]
    fn statuses_are_open() {
        let s: JobStatus = serde_json::from_str("\"succeeded\"").unwrap();
        assert!(s.is_terminal());
        let s: JobStatus = serde_json::from_str("\"paused\"").unwrap();
        assert_eq!(s, JobStatus::Other("paused".into()));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"paused\"");
        assert!(!JobStatus::Running.is_terminal());
    }
}
