//! Scheduled jobs (`/jobs/v2`): type, status, per-device statistics.

#![allow(unused_imports)]

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::wire::*;
use crate::auth::Secret;
use crate::etag::ETag;

/// The type of a scheduled job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum JobType {
    /// `scheduleUpdateTwin`.
    ScheduleUpdateTwin,
    /// `scheduleDeviceMethod`.
    ScheduleDeviceMethod,
    /// Any other value the service sends (import/export job types, future types).
    Other(String),
}

impl JobType {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            JobType::ScheduleUpdateTwin => "scheduleUpdateTwin",
            JobType::ScheduleDeviceMethod => "scheduleDeviceMethod",
            JobType::Other(s) => s,
        }
    }
}

impl From<String> for JobType {
    fn from(s: String) -> Self {
        match s.as_str() {
            "scheduleUpdateTwin" => JobType::ScheduleUpdateTwin,
            "scheduleDeviceMethod" => JobType::ScheduleDeviceMethod,
            _ => JobType::Other(s),
        }
    }
}

impl From<JobType> for String {
    fn from(t: JobType) -> Self {
        t.as_str().to_owned()
    }
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a scheduled job. Unknown values are kept in [`JobStatus::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum JobStatus {
    /// `unknown`.
    Unknown,
    /// `enqueued`.
    Enqueued,
    /// `queued`.
    Queued,
    /// `scheduled`: waiting for its start time.
    Scheduled,
    /// `pending`.
    Pending,
    /// `running`.
    Running,
    /// `completed` (terminal).
    Completed,
    /// `failed` (terminal).
    Failed,
    /// `cancelled` (terminal).
    Cancelled,
    /// Any other value.
    Other(String),
}

impl JobStatus {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Unknown => "unknown",
            JobStatus::Enqueued => "enqueued",
            JobStatus::Queued => "queued",
            JobStatus::Scheduled => "scheduled",
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Other(s) => s,
        }
    }

    /// True for `completed`, `failed` and `cancelled`: the job will not change any more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl From<String> for JobStatus {
    fn from(s: String) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "unknown" => JobStatus::Unknown,
            "enqueued" => JobStatus::Enqueued,
            "queued" => JobStatus::Queued,
            "scheduled" => JobStatus::Scheduled,
            "pending" => JobStatus::Pending,
            "running" => JobStatus::Running,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            "cancelled" | "canceled" => JobStatus::Cancelled,
            _ => JobStatus::Other(s),
        }
    }
}

impl From<JobStatus> for String {
    fn from(t: JobStatus) -> Self {
        t.as_str().to_owned()
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-device counters of a job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceJobStatistics {
    /// Devices targeted.
    #[serde(default)]
    pub device_count: i64,
    /// Devices where the job failed.
    #[serde(default)]
    pub failed_count: i64,
    /// Devices where the job succeeded.
    #[serde(default)]
    pub succeeded_count: i64,
    /// Devices where the job is running.
    #[serde(default)]
    pub running_count: i64,
    /// Devices not yet processed.
    #[serde(default)]
    pub pending_count: i64,
}

/// A scheduled job as the service reports it (`GET /jobs/v2/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// The job id.
    #[serde(default)]
    pub job_id: String,
    /// The job type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<JobType>,
    /// The job status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
    /// The device condition (a `WHERE` clause without `WHERE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_condition: Option<String>,
    /// When the job was created.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub created_time: Option<DateTime<Utc>>,
    /// When the job starts (or started).
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    /// When the job ended.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub end_time: Option<DateTime<Utc>>,
    /// The execution budget in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_execution_time_in_seconds: Option<i64>,
    /// The method of a `scheduleDeviceMethod` job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_to_device_method: Option<Value>,
    /// The twin patch of a `scheduleUpdateTwin` job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_twin: Option<Value>,
    /// Why the job failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Status message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Per-device counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_job_statistics: Option<DeviceJobStatistics>,
    /// Fields not modelled above, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}
