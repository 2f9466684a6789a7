//! Scheduled jobs (`/jobs/v2`): the generated job model, and the open type/status enums the
//! generation substitutes into it.
//!
//! [`Job`] is the generated `JobResponse` (field `type_` for the wire's `type`, timestamps as
//! [`Timestamp`](crate::iothub::Timestamp), `update_twin` as the generated [`JobTwinPatch`],
//! `cloud_to_device_method` as the generated [`CloudToDeviceMethod`], unknown fields kept in
//! `extra`). [`JobType`] and [`JobStatus`] are not copies of a generated type: codegen's
//! `with_replacement` puts them into `JobResponse.type` / `.status` (see `codegen/src/generate.rs`
//! REPLACEMENTS), so they carry every derive the generated code needs (`Serialize`,
//! `Deserialize`, `Clone`, `Debug`, `PartialEq`).

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::raw::iothub::types::JobResponse as Job;
pub use crate::raw::iothub::types::{CloudToDeviceMethod, DeviceJobStatistics, JobTwinPatch};

/// An import or export job of the device registry (`/jobs`): the generated `JobProperties`.
/// `job_id`, `type_` (`export` / `import`), `status`, `progress`, `start_time_utc`,
/// `end_time_utc`, `failure_reason`, the container URIs and blob names it was created with.
///
/// The service echoes the container SAS URIs back in `input_blob_container_uri` /
/// `output_blob_container_uri`; they are [`Secret`](crate::auth::Secret)s (fixup
/// `storage_sas_uris_secret`), so the job's `Debug` shows no signature and
/// `expose_secret()` reads them. [`ImportExportJob::job_status`] and [`ImportExportJob::job_type`] read the open
/// status and type.
pub use crate::raw::iothub::types::JobProperties as ImportExportJob;
/// The user-assigned managed identity an identity-based import/export job reaches storage with
/// (generated `ManagedIdentity`; spec versions that have it, cfg `iothub_job_identity`).
#[cfg(iothub_job_identity)]
pub use crate::raw::iothub::types::ManagedIdentity;

impl ImportExportJob {
    /// The job's status ([`JobStatus::Unknown`] when the service sent none).
    pub fn job_status(&self) -> JobStatus {
        self.status
            .clone()
            .map_or(JobStatus::Unknown, JobStatus::from)
    }

    /// The job's type (`export` or `import`; `unknown` when the service sent none).
    pub fn job_type(&self) -> JobType {
        self.type_
            .clone()
            .map_or(JobType::Other("unknown".to_owned()), JobType::from)
    }
}

/// The type of a scheduled job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum JobType {
    /// `scheduleUpdateTwin`.
    ScheduleUpdateTwin,
    /// `scheduleDeviceMethod`.
    ScheduleDeviceMethod,
    /// `export`: a device registry export job ([`ImportExportJob`]).
    Export,
    /// `import`: a device registry import job ([`ImportExportJob`]).
    Import,
    /// Any other value the service sends (future types).
    Other(String),
}

impl JobType {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            JobType::ScheduleUpdateTwin => "scheduleUpdateTwin",
            JobType::ScheduleDeviceMethod => "scheduleDeviceMethod",
            JobType::Export => "export",
            JobType::Import => "import",
            JobType::Other(s) => s,
        }
    }
}

impl From<String> for JobType {
    fn from(s: String) -> Self {
        match s.as_str() {
            "scheduleUpdateTwin" => JobType::ScheduleUpdateTwin,
            "scheduleDeviceMethod" => JobType::ScheduleDeviceMethod,
            "export" => JobType::Export,
            "import" => JobType::Import,
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
