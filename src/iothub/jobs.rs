//! Scheduled jobs (`/jobs/v2`): twin updates and direct methods on many devices, with a
//! completion helper.

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Serialize;
use serde_json::Value;

use super::models::{CloudToDeviceMethod, Job, JobStatus, JobTwinPatch, JobType};
use super::query::JOBS_PREFIX;
use super::twins::TwinPatch;
use super::{IotHubClient, Timestamp, api_version, validation};
use crate::paging::{Continuation, ContinuationKind, Page, Pager};
use crate::poll::{self, Schedule};
use crate::raw::iothub::types::{JobRequest, TwinProperties};
use crate::request::setters;
use crate::{Error, ErrorKind, RequestOptions};

/// A direct method to invoke: its name, payload and timeouts. Used by scheduled method jobs
/// ([`IotHubClient::schedule_device_method`]).
///
/// ```
/// use azure_twins::iothub::DeviceMethod;
/// use serde_json::json;
/// use std::time::Duration;
/// let m = DeviceMethod::new("reboot")
///     .payload(json!({ "delay": 5 }))
///     .response_timeout(Duration::from_secs(30));
/// assert_eq!(m.name(), "reboot");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceMethod {
    name: String,
    payload: Result<Value, String>,
    response_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
}

impl DeviceMethod {
    /// A method call by name, with a `null` payload.
    pub fn new(name: impl Into<String>) -> Self {
        DeviceMethod {
            name: name.into(),
            payload: Ok(Value::Null),
            response_timeout: None,
            connect_timeout: None,
        }
    }

    /// The payload (any `Serialize`, up to 128 KB of JSON).
    pub fn payload(mut self, payload: impl Serialize) -> Self {
        self.payload = serde_json::to_value(payload).map_err(|e| e.to_string());
        self
    }

    /// How long the service waits for the device's answer (5–300 s; service default 30 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    /// How long the service waits for a disconnected device to connect (0–300 s; default 0).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The method name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The generated request body, after checking the name, payload size and timeouts. A
    /// `null` payload is sent as `"payload": null`.
    pub(crate) fn to_body(&self) -> Result<CloudToDeviceMethod, Error> {
        validation::check_method_name(&self.name)?;
        let payload = self.payload.clone().map_err(|e| {
            Error::invalid_input("payload", format!("could not be serialised to JSON: {e}"))
        })?;
        let size = serde_json::to_vec(&payload).map(|v| v.len()).unwrap_or(0);
        if size > MAX_PAYLOAD {
            return Err(Error::invalid_input(
                "payload",
                format!("is {size} bytes of JSON; the limit is {MAX_PAYLOAD} (128 KB)"),
            ));
        }
        Ok(CloudToDeviceMethod {
            method_name: Some(self.name.clone()),
            payload: Some(payload),
            response_timeout_in_seconds: self
                .response_timeout
                .map(|t| whole_seconds("response_timeout", t, 5, 300))
                .transpose()?,
            connect_timeout_in_seconds: self
                .connect_timeout
                .map(|t| whole_seconds("connect_timeout", t, 0, 300))
                .transpose()?,
        })
    }

    /// The longest the service may take to answer, for sizing the HTTP timeout.
    pub(crate) fn service_wait(&self) -> Duration {
        self.response_timeout.unwrap_or(Duration::from_secs(30))
            + self.connect_timeout.unwrap_or_default()
    }
}

/// Largest direct-method payload, in bytes of JSON.
const MAX_PAYLOAD: usize = 128 * 1024;

fn whole_seconds(field: &'static str, d: Duration, min: u64, max: u64) -> Result<i32, Error> {
    if d.subsec_nanos() != 0 {
        return Err(Error::invalid_input(
            field,
            "must be a whole number of seconds",
        ));
    }
    let s = d.as_secs();
    if s < min || s > max {
        return Err(Error::invalid_input(
            field,
            format!("must be between {min} and {max} seconds, got {s}"),
        ));
    }
    // `max` is at most 300, so the count fits.
    Ok(s as i32)
}

/// Shared parts of both job builders.
#[derive(Debug, Clone)]
struct JobCommon {
    client: IotHubClient,
    job_id: String,
    condition: String,
    start_at: Option<DateTime<Utc>>,
    max_execution_time: Option<Duration>,
    options: RequestOptions,
}

impl JobCommon {
    /// The generated job request with the parts both job kinds share, after the local checks
    /// (job id, condition, execution time). The start time is sent to the millisecond.
    fn request(&self, job_type: JobType) -> Result<JobRequest, Error> {
        validation::check_job_id(&self.job_id)?;
        validation::check_query("condition", &self.condition)?;
        let start = self.start_at.unwrap_or_else(Utc::now);
        let start = start
            .with_nanosecond(start.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(start);
        let max = self.max_execution_time.unwrap_or(Duration::from_secs(3600));
        if max.as_secs() == 0 {
            return Err(Error::invalid_input(
                "max_execution_time",
                "must be at least one second",
            ));
        }
        let max = i64::try_from(max.as_secs())
            .map_err(|_| Error::invalid_input("max_execution_time", "is too long to be sent"))?;
        Ok(JobRequest {
            job_id: Some(self.job_id.clone()),
            type_: Some(job_type.as_str().to_owned()),
            query_condition: Some(self.condition.clone()),
            start_time: Some(Timestamp::from(start)),
            max_execution_time_in_seconds: Some(max),
            update_twin: None,
            cloud_to_device_method: None,
        })
    }

    /// `jobs_create_scheduled_job` (`PUT /jobs/v2/{id}`).
    ///
    /// The job id is fixed, so a resend after a lost answer cannot create a second job; when it
    /// meets 409 the stored job is read back and, when its id, type, condition and payload are
    /// the ones sent, the job is the one this call created.
    async fn create(self, body: JobRequest) -> Result<Job, Error> {
        /// The parts of a job the request fixes and the service stores unchanged.
        const SENT: [&str; 5] = [
            "jobId",
            "type",
            "queryCondition",
            "updateTwin",
            "cloudToDeviceMethod",
        ];
        fn project(v: serde_json::Value) -> serde_json::Value {
            let mut m = serde_json::Map::new();
            if let serde_json::Value::Object(o) = v {
                for (k, v) in o {
                    if SENT.contains(&k.as_str()) && !v.is_null() {
                        m.insert(k, v);
                    }
                }
            }
            serde_json::Value::Object(m)
        }
        let raw = &self.client.inner.raw;
        let result = crate::pipeline::with_request_options(
            &self.options,
            raw.jobs_create_scheduled_job(&self.job_id, api_version(raw), &body),
        )
        .await
        .map(|rv| rv.into_inner());
        let sent = serde_json::to_value(&body).map(project).ok();
        let options = &self.options;
        let id = self.job_id.as_str();
        crate::pipeline::resolve(
            result,
            crate::pipeline::WriteKind::Create,
            sent,
            None,
            || async move {
                match crate::pipeline::with_request_options(
                    options,
                    raw.jobs_get_scheduled_job(id, api_version(raw)),
                )
                .await
                {
                    Ok(rv) => {
                        let job = rv.into_inner();
                        Ok(Some((project(serde_json::to_value(&job)?), None, job)))
                    }
                    Err(e) if e.is_not_found() => Ok(None),
                    Err(e) => Err(e),
                }
            },
            |job| {
                job.ok_or_else(|| {
                    Error::new(crate::ErrorKind::Other, "a proven job create has a job")
                })
            },
        )
        .await
    }
}

macro_rules! job_setters {
    () => {
        /// When the job starts (default: now).
        pub fn start_at(mut self, start: DateTime<Utc>) -> Self {
            self.common.start_at = Some(start);
            self
        }

        /// How long the job may run (default: 1 hour; whole seconds are sent).
        pub fn max_execution_time(mut self, max: Duration) -> Self {
            self.common.max_execution_time = Some(max);
            self
        }

        /// Per-call options (retry policy, timeout, client request id). Job creation carries a
        /// fixed job id, so it is retried by default: a repeat cannot create a second job.
        pub fn options(mut self, options: RequestOptions) -> Self {
            self.common.options = options;
            self
        }
    };
}

/// Schedules a twin update on every device matching a condition:
/// [`IotHubClient::schedule_twin_update`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct ScheduleTwinUpdate {
    common: JobCommon,
    patch: TwinPatch,
}

impl ScheduleTwinUpdate {
    job_setters!();

    /// Validates and creates the job; returns it as the service accepted it.
    pub async fn send(self) -> Result<Job, Error> {
        let mut body = self.common.request(JobType::ScheduleUpdateTwin)?;
        if self.patch.is_empty() {
            return Err(Error::invalid_input(
                "patch",
                "a twin-update job needs a patch with tags or desired properties",
            ));
        }
        body.update_twin = Some(job_twin_patch(&self.patch)?);
        self.common.create(body).await
    }
}
crate::response::operation!(ScheduleTwinUpdate => Job);

/// The generated `updateTwin` of a job from `patch`, after [`TwinPatch::validate`]:
/// `{"etag": "*", "tags": …, "properties": {"desired": …}}`, empty parts left out.
fn job_twin_patch(patch: &TwinPatch) -> Result<JobTwinPatch, Error> {
    patch.validate()?;
    let desired = patch.desired_map();
    Ok(JobTwinPatch {
        etag: Some("*".to_owned()),
        tags: patch.tags_map().clone(),
        properties: (!desired.is_empty()).then(|| TwinProperties {
            desired: desired.clone(),
            ..TwinProperties::default()
        }),
        ..JobTwinPatch::default()
    })
}

/// Schedules a direct method on every device matching a condition:
/// [`IotHubClient::schedule_device_method`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct ScheduleDeviceMethod {
    common: JobCommon,
    method: DeviceMethod,
}

impl ScheduleDeviceMethod {
    job_setters!();

    /// Validates and creates the job; returns it as the service accepted it.
    pub async fn send(self) -> Result<Job, Error> {
        let mut body = self.common.request(JobType::ScheduleDeviceMethod)?;
        body.cloud_to_device_method = Some(self.method.to_body()?);
        self.common.create(body).await
    }
}
crate::response::operation!(ScheduleDeviceMethod => Job);

/// Reads a job: [`IotHubClient::get_job`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct GetJob {
    client: IotHubClient,
    job_id: String,
    options: RequestOptions,
}

impl GetJob {
    setters! { options; }

    /// Sends the request (`jobs_get_scheduled_job`).
    pub async fn send(self) -> Result<Job, Error> {
        validation::check_job_id(&self.job_id)?;
        let raw = &self.client.inner.raw;
        Ok(crate::pipeline::with_request_options(
            &self.options,
            raw.jobs_get_scheduled_job(&self.job_id, api_version(raw)),
        )
        .await?
        .into_inner())
    }
}
crate::response::operation!(GetJob => Job);

/// Cancels a job: [`IotHubClient::cancel_job`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct CancelJob {
    client: IotHubClient,
    job_id: String,
    options: RequestOptions,
}

impl CancelJob {
    setters! { options; }

    /// Sends the request (`jobs_cancel_scheduled_job`); returns the job as cancelled.
    pub async fn send(self) -> Result<Job, Error> {
        validation::check_job_id(&self.job_id)?;
        let raw = &self.client.inner.raw;
        Ok(crate::pipeline::with_request_options(
            &self.options,
            raw.jobs_cancel_scheduled_job(&self.job_id, api_version(raw)),
        )
        .await?
        .into_inner())
    }
}
crate::response::operation!(CancelJob => Job);

/// Lists jobs, optionally by type and status: [`IotHubClient::list_jobs`].
#[derive(Debug, Clone)]
#[must_use = "finish with .into_stream()"]
pub struct ListJobs {
    client: IotHubClient,
    job_type: Option<JobType>,
    status: Option<JobStatus>,
    page_size: Option<u32>,
    start: Option<Continuation>,
    options: RequestOptions,
}

impl ListJobs {
    /// Only jobs of this type.
    pub fn job_type(mut self, job_type: JobType) -> Self {
        self.job_type = Some(job_type);
        self
    }

    /// Only jobs in this status.
    pub fn status(mut self, status: JobStatus) -> Self {
        self.status = Some(status);
        self
    }

    setters! {
        /// The most jobs per page.
        page_size;
        /// Starts at a saved continuation of the same job query.
        continue_from;
        /// Per-call options applied to every page.
        options;
    }

    /// A stream of jobs across all pages.
    pub fn into_stream(self) -> Pager<Job> {
        let key = format!(
            "{JOBS_PREFIX}jobType={}&jobStatus={}",
            self.job_type.as_ref().map(JobType::as_str).unwrap_or(""),
            self.status.as_ref().map(JobStatus::as_str).unwrap_or("")
        );
        let client = self.client;
        let options = self.options;
        let job_type = self.job_type;
        let status = self.status;
        let page_size = self.page_size;
        Pager::new(self.start, move |cont: Option<Continuation>| {
            let client = client.clone();
            let options = options.clone();
            let key = key.clone();
            let job_type = job_type.clone();
            let status = status.clone();
            async move {
                if page_size == Some(0) {
                    return Err(Error::invalid_input("page_size", "must be at least 1"));
                }
                let token = match cont.as_ref().map(|c| c.kind()) {
                    None => None,
                    Some(ContinuationKind::IotHubQuery { query, token, .. }) if *query == key => {
                        Some(token.clone())
                    }
                    Some(_) => {
                        return Err(Error::invalid_input(
                            "continuation",
                            "was made for a different query (job type and status must match)",
                        ));
                    }
                };
                let (items, next, headers) = query_page(
                    &client,
                    &options,
                    job_type.as_ref(),
                    status.as_ref(),
                    page_size,
                    token.as_deref(),
                )
                .await?;
                let next = next.map(|t| Continuation::iothub_query(key.clone(), page_size, t));
                Ok(Page::new(items, next).with_headers(headers))
            }
        })
    }
}

/// One page of `GET /jobs/v2/query` through the generated `jobs_query_scheduled_jobs` (codegen
/// fixup `iothub_jobs_query_paging` gives it the service's paging headers and its array answer):
/// the jobs, the continuation token and the response headers.
async fn query_page(
    client: &IotHubClient,
    options: &RequestOptions,
    job_type: Option<&JobType>,
    status: Option<&JobStatus>,
    page_size: Option<u32>,
    token: Option<&str>,
) -> Result<(Vec<Job>, Option<String>, HeaderMap), Error> {
    if let Some(t) = token
        && HeaderValue::from_str(t).is_err()
    {
        return Err(Error::invalid_input(
            "x-ms-continuation",
            "contains characters that cannot be sent in an HTTP header",
        ));
    }
    let max = page_size.map(|n| n.to_string());
    let reply = crate::pipeline::call(
        options,
        client.inner.raw.jobs_query_scheduled_jobs(
            api_version(&client.inner.raw),
            status.map(JobStatus::as_str),
            job_type.map(JobType::as_str),
            token,
            max.as_deref(),
        ),
    )
    .await?;
    let next = reply.continuation_header().map(str::to_owned);
    Ok((reply.value, next, reply.headers))
}

/// Waits until a job reaches a terminal state: [`IotHubClient::wait_for_job`].
///
/// Polls [`IotHubClient::get_job`] with a growing interval (starting at
/// [`WaitForJob::poll_every`], ×1.5 per poll, capped at [`WaitForJob::max_poll_interval`])
/// until the job is `completed`, `failed` or `cancelled`, and returns that final job. If the
/// [`WaitForJob::timeout`] passes first, it fails with [`ErrorKind::Timeout`] and a message
/// naming the job and its last status. Await it directly, or call [`WaitForJob::send`] /
/// `send_with_response` (the metadata of the last poll).
#[derive(Debug, Clone)]
#[must_use = "await it"]
pub struct WaitForJob {
    client: IotHubClient,
    job_id: String,
    poll_every: Duration,
    max_poll_interval: Duration,
    timeout: Duration,
    options: RequestOptions,
}

impl WaitForJob {
    /// The first poll interval (default 1 s).
    pub fn poll_every(mut self, interval: Duration) -> Self {
        self.poll_every = interval;
        self
    }

    /// The longest interval between polls (default 30 s).
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// How long to wait in total (default 10 minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    setters! {
        /// Per-call options for each poll.
        options;
    }

    /// Polls until the job is terminal or the timeout passes.
    pub async fn send(self) -> Result<Job, Error> {
        validation::check_job_id(&self.job_id)?;
        if self.poll_every.is_zero() {
            return Err(Error::invalid_input(
                "poll_every",
                "must be greater than zero",
            ));
        }
        let status = |job: &Job| job.status.clone().unwrap_or(JobStatus::Unknown);
        let schedule = Schedule {
            first: self.poll_every,
            max: self.max_poll_interval.max(self.poll_every),
            grow: |d| d.mul_f64(1.5),
            timeout: self.timeout,
        };
        let fetch = || {
            self.client
                .get_job(self.job_id.clone())
                .options(self.options.clone())
                .send()
        };
        poll::until_finished(
            schedule,
            fetch,
            |job| status(job).is_terminal(),
            |job| {
                Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "job '{}' did not finish within {:?} (last status: {})",
                        self.job_id,
                        self.timeout,
                        status(job)
                    ),
                )
            },
        )
        .await
    }
}

crate::response::operation!(WaitForJob => Job);

impl IotHubClient {
    /// Schedules a twin update (tags and/or desired properties) on every device matching
    /// `condition` (a `WHERE` clause without `WHERE`, e.g. `"tags.site = 'berlin'"`).
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use azure_twins::iothub::TwinPatch;
    /// use serde_json::json;
    /// use std::time::Duration;
    /// hub.schedule_twin_update("job-42", "tags.site = 'berlin'", TwinPatch::new().desired(json!({ "fw": "2.1" })))
    ///     .start_at(chrono::Utc::now() + chrono::Duration::minutes(5))
    ///     .max_execution_time(Duration::from_secs(600))
    ///     .send()
    ///     .await?;
    /// let done = hub.wait_for_job("job-42").poll_every(Duration::from_secs(5)).await?;
    /// println!("{:?}", done.device_job_statistics);
    /// # Ok(()) }
    /// ```
    pub fn schedule_twin_update(
        &self,
        job_id: impl Into<String>,
        condition: impl Into<String>,
        patch: TwinPatch,
    ) -> ScheduleTwinUpdate {
        ScheduleTwinUpdate {
            common: self.job_common(job_id.into(), condition.into()),
            patch,
        }
    }

    /// Schedules a direct method on every device matching `condition`.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use azure_twins::iothub::DeviceMethod;
    /// hub.schedule_device_method("reboot-all", "tags.site = 'berlin'", DeviceMethod::new("reboot"))
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn schedule_device_method(
        &self,
        job_id: impl Into<String>,
        condition: impl Into<String>,
        method: DeviceMethod,
    ) -> ScheduleDeviceMethod {
        ScheduleDeviceMethod {
            common: self.job_common(job_id.into(), condition.into()),
            method,
        }
    }

    fn job_common(&self, job_id: String, condition: String) -> JobCommon {
        JobCommon {
            client: self.clone(),
            job_id,
            condition,
            start_at: None,
            max_execution_time: None,
            options: RequestOptions::default(),
        }
    }

    /// Reads a job's current state.
    pub fn get_job(&self, job_id: impl Into<String>) -> GetJob {
        GetJob {
            client: self.clone(),
            job_id: job_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Cancels a job that has not finished.
    pub fn cancel_job(&self, job_id: impl Into<String>) -> CancelJob {
        CancelJob {
            client: self.clone(),
            job_id: job_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Lists jobs (filter with `.job_type(…)` and `.status(…)`) as a stream.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use azure_twins::iothub::{JobStatus, JobType};
    /// use futures::TryStreamExt;
    /// let running: Vec<_> = hub.list_jobs()
    ///     .job_type(JobType::ScheduleUpdateTwin)
    ///     .status(JobStatus::Running)
    ///     .into_stream()
    ///     .try_collect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn list_jobs(&self) -> ListJobs {
        ListJobs {
            client: self.clone(),
            job_type: None,
            status: None,
            page_size: None,
            start: None,
            options: RequestOptions::default(),
        }
    }

    /// Waits for a job to complete, fail or be cancelled (see [`WaitForJob`]).
    pub fn wait_for_job(&self, job_id: impl Into<String>) -> WaitForJob {
        WaitForJob {
            client: self.clone(),
            job_id: job_id.into(),
            poll_every: Duration::from_secs(1),
            max_poll_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(600),
            options: RequestOptions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn method_body_and_limits() {
        let b = DeviceMethod::new("reboot")
            .payload(json!({"a": 1}))
            .response_timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(0))
            .to_body()
            .unwrap();
        let b = serde_json::to_value(b).unwrap();
        assert_eq!(
            b,
            json!({"methodName": "reboot", "payload": {"a": 1}, "responseTimeoutInSeconds": 30, "connectTimeoutInSeconds": 0})
        );
        assert_eq!(
            serde_json::to_value(DeviceMethod::new("m").to_body().unwrap()).unwrap(),
            json!({"methodName": "m", "payload": null})
        );
        let e = DeviceMethod::new("re boot").to_body().unwrap_err();
        assert!(e.to_string().contains("method_name"));
        let e = DeviceMethod::new("m")
            .response_timeout(Duration::from_secs(301))
            .to_body()
            .unwrap_err();
        assert!(e.to_string().contains("response_timeout"), "{e}");
        let e = DeviceMethod::new("m")
            .response_timeout(Duration::from_millis(5500))
            .to_body()
            .unwrap_err();
        assert!(e.to_string().contains("whole number"), "{e}");
        let e = DeviceMethod::new("m")
            .payload("x".repeat(MAX_PAYLOAD))
            .to_body()
            .unwrap_err();
        assert!(e.to_string().contains("payload"), "{e}");
    }
}
