//! The documents IoT Hub sends and receives: twins, identities, jobs, configurations,
//! statistics.
//!
//! These are handwritten rather than re-exports of the generated `raw::iothub::types`. The
//! generated types now decode real responses (codegen fixups `iothub_twin_values_any_json`,
//! `iothub_identity_times_as_text`, `iothub_twin_configurations_and_model_id`), but they still
//! cannot serve as the facade's types: their symmetric keys are plain `String`s in a derived
//! `Debug` (secrets must never appear there), they drop unknown fields (these types keep them in
//! `other`, so nothing the service adds is lost on a read-modify-write), every field is optional
//! because the spec marks nothing required, ETags are plain strings, and `raw` is exempt from
//! semver.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::auth::Secret;
use crate::etag::ETag;

pub use crate::etag::Versioned;

/// Lenient timestamps: RFC 3339, or IoT Hub's zone-less `0001-01-01T00:00:00` (taken as UTC).
pub(crate) mod time {
    use super::*;

    pub(crate) fn parse(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|n| n.and_utc())
            })
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => parse(&s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("not a timestamp: {s}"))),
        }
    }

    pub(crate) fn serialize<S: Serializer>(
        v: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            None => s.serialize_none(),
        }
    }
}

/// ETags in IoT Hub bodies are unquoted; [`ETag`] holds the quoted header form.
mod etag_body {
    use super::*;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ETag>, D::Error> {
        Ok(Option::<String>::deserialize(d)?
            .filter(|s| !s.is_empty())
            .map(ETag::new))
    }

    pub(super) fn serialize<S: Serializer>(v: &Option<ETag>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => s.serialize_str(t.value()),
            None => s.serialize_none(),
        }
    }
}

/// The service sends `""` for "no error".
fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

mod secret_opt {
    use super::*;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(Secret::new))
    }

    pub(super) fn serialize<S: Serializer>(v: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => s.serialize_str(t.expose_secret()),
            None => s.serialize_none(),
        }
    }
}

/// A device or module twin: identity-derived fields, `tags`, and desired/reported properties.
///
/// `tags` and the property sections are plain JSON maps (they hold whatever the solution puts
/// there, plus `$metadata` and `$version` in the property sections). Read a section as your
/// own type with [`Twin::desired_as`] / [`Twin::reported_as`] / [`Twin::tags_as`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Twin {
    /// The device id.
    #[serde(default)]
    pub device_id: String,
    /// The module id (module twins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_id: Option<String>,
    /// The twin's ETag (changes on every write to tags or desired properties).
    #[serde(default, with = "etag_body", skip_serializing_if = "Option::is_none")]
    pub etag: Option<ETag>,
    /// The identity's ETag (changes when the device/module identity changes).
    #[serde(default, with = "etag_body", skip_serializing_if = "Option::is_none")]
    pub device_etag: Option<ETag>,
    /// Twin version, incremented on every change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// `enabled` or `disabled` (copied from the identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `Connected` or `Disconnected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_state: Option<String>,
    /// When the device last connected, sent or received.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub last_activity_time: Option<DateTime<Utc>>,
    /// `sas`, `selfSigned`, `certificateAuthority` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_type: Option<String>,
    /// Device capabilities (device twins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<DeviceCapabilities>,
    /// PnP model id, when the device announced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// Solution-owned tags (not visible to the device).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub tags: Map<String, Value>,
    /// Desired and reported properties.
    #[serde(default)]
    pub properties: TwinProperties,
    /// Configurations targeting this twin: id → `{"status": "Targeted" | "Applied"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configurations: Option<Map<String, Value>>,
    /// Fields not modelled above, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The `properties` of a twin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TwinProperties {
    /// Desired properties, written by the solution (includes `$metadata` and `$version`).
    #[serde(default)]
    pub desired: Map<String, Value>,
    /// Reported properties, written by the device (includes `$metadata` and `$version`).
    #[serde(default)]
    pub reported: Map<String, Value>,
}

impl Twin {
    /// The `$version` of the desired properties.
    pub fn desired_version(&self) -> Option<i64> {
        self.properties
            .desired
            .get("$version")
            .and_then(Value::as_i64)
    }

    /// The `$version` of the reported properties.
    pub fn reported_version(&self) -> Option<i64> {
        self.properties
            .reported
            .get("$version")
            .and_then(Value::as_i64)
    }

    /// The desired properties as `T` (`$metadata`/`$version` are offered too; a struct that
    /// does not name them ignores them).
    pub fn desired_as<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(serde_json::from_value(Value::Object(
            self.properties.desired.clone(),
        ))?)
    }

    /// The reported properties as `T`.
    pub fn reported_as<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(serde_json::from_value(Value::Object(
            self.properties.reported.clone(),
        ))?)
    }

    /// The tags as `T`.
    pub fn tags_as<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(serde_json::from_value(Value::Object(self.tags.clone()))?)
    }
}

/// Capabilities of a device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCapabilities {
    /// True for IoT Edge devices.
    #[serde(default)]
    pub iot_edge: bool,
}

/// X.509 thumbprints of a device or module certificate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct X509Thumbprint {
    /// Primary certificate thumbprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_thumbprint: Option<String>,
    /// Secondary certificate thumbprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_thumbprint: Option<String>,
}

/// Symmetric keys of a device or module. `Debug` never shows the keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymmetricKey {
    /// Base64 primary key.
    #[serde(default, with = "secret_opt", skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<Secret>,
    /// Base64 secondary key.
    #[serde(default, with = "secret_opt", skip_serializing_if = "Option::is_none")]
    pub secondary_key: Option<Secret>,
}

/// How a device or module authenticates.
///
/// Build one with [`Authentication::sas`] (keys generated by the service),
/// [`Authentication::sas_keys`], [`Authentication::x509_thumbprints`] or
/// [`Authentication::certificate_authority`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authentication {
    /// `sas`, `selfSigned`, `certificateAuthority` or `none`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Symmetric keys (for `sas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symmetric_key: Option<SymmetricKey>,
    /// Certificate thumbprints (for `selfSigned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_thumbprint: Option<X509Thumbprint>,
}

impl Authentication {
    /// SAS authentication with keys generated by the service.
    pub fn sas() -> Self {
        Authentication {
            kind: Some("sas".into()),
            ..Default::default()
        }
    }

    /// SAS authentication with the given base64 keys.
    pub fn sas_keys(primary: impl Into<Secret>, secondary: impl Into<Secret>) -> Self {
        Authentication {
            kind: Some("sas".into()),
            symmetric_key: Some(SymmetricKey {
                primary_key: Some(primary.into()),
                secondary_key: Some(secondary.into()),
            }),
            x509_thumbprint: None,
        }
    }

    /// Self-signed X.509 authentication by certificate thumbprints.
    pub fn x509_thumbprints(primary: impl Into<String>, secondary: impl Into<String>) -> Self {
        Authentication {
            kind: Some("selfSigned".into()),
            symmetric_key: None,
            x509_thumbprint: Some(X509Thumbprint {
                primary_thumbprint: Some(primary.into()),
                secondary_thumbprint: Some(secondary.into()),
            }),
        }
    }

    /// X.509 authentication by a certificate authority registered with the hub.
    pub fn certificate_authority() -> Self {
        Authentication {
            kind: Some("certificateAuthority".into()),
            ..Default::default()
        }
    }
}

/// A device identity in the identity registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// The device id.
    #[serde(default)]
    pub device_id: String,
    /// Distinguishes devices re-created with the same id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_id: Option<String>,
    /// The identity's ETag.
    #[serde(default, with = "etag_body", skip_serializing_if = "Option::is_none")]
    pub etag: Option<ETag>,
    /// `enabled` or `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Why the status was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// When the status last changed.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub status_updated_time: Option<DateTime<Utc>>,
    /// `Connected` or `Disconnected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_state: Option<String>,
    /// When the connection state last changed.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub connection_state_updated_time: Option<DateTime<Utc>>,
    /// When the device last connected, sent or received.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub last_activity_time: Option<DateTime<Utc>>,
    /// Cloud-to-device messages waiting for the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_to_device_message_count: Option<i64>,
    /// How the device authenticates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    /// Device capabilities (IoT Edge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<DeviceCapabilities>,
    /// Fields not modelled above, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Device {
    /// A new device identity with SAS keys generated by the service.
    pub fn new(device_id: impl Into<String>) -> Self {
        Device {
            device_id: device_id.into(),
            authentication: Some(Authentication::sas()),
            ..Default::default()
        }
    }

    /// Sets how the device authenticates.
    pub fn with_authentication(mut self, authentication: Authentication) -> Self {
        self.authentication = Some(authentication);
        self
    }

    /// Sets `status` (`enabled` / `disabled`).
    pub fn with_status(mut self, enabled: bool) -> Self {
        self.status = Some(if enabled { "enabled" } else { "disabled" }.into());
        self
    }

    /// Marks the device as an IoT Edge device.
    pub fn with_iot_edge(mut self, iot_edge: bool) -> Self {
        self.capabilities = Some(DeviceCapabilities { iot_edge });
        self
    }

    /// The primary symmetric key, if the identity uses SAS.
    pub fn primary_key(&self) -> Option<&Secret> {
        self.authentication
            .as_ref()?
            .symmetric_key
            .as_ref()?
            .primary_key
            .as_ref()
    }
}

/// A module identity on a device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Module {
    /// The device id.
    #[serde(default)]
    pub device_id: String,
    /// The module id.
    #[serde(default)]
    pub module_id: String,
    /// Who manages the module (e.g. `IotEdge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    /// Distinguishes modules re-created with the same id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_id: Option<String>,
    /// The identity's ETag.
    #[serde(default, with = "etag_body", skip_serializing_if = "Option::is_none")]
    pub etag: Option<ETag>,
    /// `Connected` or `Disconnected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_state: Option<String>,
    /// When the connection state last changed.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub connection_state_updated_time: Option<DateTime<Utc>>,
    /// When the module last connected, sent or received.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub last_activity_time: Option<DateTime<Utc>>,
    /// Cloud-to-device messages waiting for the module.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_to_device_message_count: Option<i64>,
    /// How the module authenticates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    /// Fields not modelled above, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Module {
    /// A new module identity with SAS keys generated by the service.
    pub fn new(device_id: impl Into<String>, module_id: impl Into<String>) -> Self {
        Module {
            device_id: device_id.into(),
            module_id: module_id.into(),
            authentication: Some(Authentication::sas()),
            ..Default::default()
        }
    }

    /// Sets how the module authenticates.
    pub fn with_authentication(mut self, authentication: Authentication) -> Self {
        self.authentication = Some(authentication);
        self
    }

    /// Sets `managedBy`.
    pub fn with_managed_by(mut self, managed_by: impl Into<String>) -> Self {
        self.managed_by = Some(managed_by.into());
        self
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

/// The outcome of a direct method: the status and payload the device chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodResponse {
    /// Status code returned by the device's handler.
    pub status: i32,
    /// Payload returned by the device's handler (`null` when it sent none).
    #[serde(default)]
    pub payload: Value,
}

impl MethodResponse {
    /// The payload as `T`.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(serde_json::from_value(self.payload.clone())?)
    }
}

/// An automatic device/module management configuration (or IoT Edge deployment).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    /// The configuration id.
    #[serde(default)]
    pub id: String,
    /// Schema version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub labels: Map<String, Value>,
    /// What the configuration applies: `{"deviceContent": {"properties.desired.x": …}}`,
    /// `moduleContent` or `modulesContent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    /// Which twins it targets (a twin query condition, or `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_condition: Option<String>,
    /// Priority among overlapping configurations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// When it was created.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub created_time_utc: Option<DateTime<Utc>>,
    /// When it was last updated.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub last_updated_time_utc: Option<DateTime<Utc>>,
    /// System metrics (`targetedCount`, `appliedCount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_metrics: Option<Value>,
    /// Custom metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
    /// The configuration's ETag.
    #[serde(default, with = "etag_body", skip_serializing_if = "Option::is_none")]
    pub etag: Option<ETag>,
    /// Fields not modelled above, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Configuration {
    /// A new configuration `id` that applies `content` to the twins matching
    /// `target_condition`, with `priority`.
    pub fn new(
        id: impl Into<String>,
        target_condition: impl Into<String>,
        priority: i64,
        content: Value,
    ) -> Self {
        Configuration {
            id: id.into(),
            target_condition: Some(target_condition.into()),
            priority: Some(priority),
            content: Some(content),
            ..Default::default()
        }
    }
}

/// The result of testing a configuration's queries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationQueriesTestResult {
    /// The target condition's error, if it is invalid (`None` when it is valid).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_condition_error: Option<String>,
    /// Errors per custom metric query.
    #[serde(default)]
    pub custom_metric_query_errors: Map<String, Value>,
}

/// Device counts of the identity registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryStatistics {
    /// All devices.
    #[serde(default)]
    pub total_device_count: i64,
    /// Enabled devices.
    #[serde(default)]
    pub enabled_device_count: i64,
    /// Disabled devices.
    #[serde(default)]
    pub disabled_device_count: i64,
}

/// Service-wide statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatistics {
    /// Devices connected now.
    #[serde(default)]
    pub connected_device_count: i64,
}

/// One failure of a bulk registry operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperationError {
    /// The device it concerns.
    #[serde(default)]
    pub device_id: String,
    /// The module it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_id: Option<String>,
    /// The IoT Hub error code (name or number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<Value>,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_status: Option<String>,
    /// Fields not modelled above.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The result of a bulk registry operation: per-device errors and warnings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperationResult {
    /// True when every operation succeeded.
    #[serde(default)]
    pub is_successful: bool,
    /// The operations that failed.
    #[serde(default)]
    pub errors: Vec<BulkOperationError>,
    /// Warnings.
    #[serde(default)]
    pub warnings: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recorded_twin_parses() {
        let v = json!({"deviceId":"d","moduleId":"m","etag":"AAAAAAAAAAE=","deviceEtag":"NDkzNDUwMTM0",
            "status":"enabled","statusUpdateTime":"0001-01-01T00:00:00Z","connectionState":"Disconnected",
            "lastActivityTime":"0001-01-01T00:00:00Z","cloudToDeviceMessageCount":0,"authenticationType":"sas",
            "x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null},"version":2,
            "tags": {"site": "berlin", "n": 1},
            "properties":{"desired":{"$metadata":{"$lastUpdated":"0001-01-01T00:00:00Z"},"$version":1},
            "reported":{"$metadata":{"$lastUpdated":"0001-01-01T00:00:00Z"},"$version":1}}});
        let t: Twin = serde_json::from_value(v).unwrap();
        assert_eq!(t.etag.as_ref().unwrap().as_header(), "\"AAAAAAAAAAE=\"");
        assert_eq!(t.desired_version(), Some(1));
        assert_eq!(t.tags["site"], "berlin");
        assert!(t.other.contains_key("statusUpdateTime"));
        // Round trip writes the etag unquoted, as IoT Hub bodies carry it.
        let back = serde_json::to_value(&t).unwrap();
        assert_eq!(back["tags"]["n"], 1);
        assert_eq!(back["etag"], "AAAAAAAAAAE=");
    }

    #[test]
    fn recorded_device_parses_and_hides_keys() {
        let v = json!({"deviceId":"d","generationId":"6","etag":"NTM2NjA4OTE1","connectionState":"Disconnected",
            "status":"enabled","statusReason":null,"connectionStateUpdatedTime":"0001-01-01T00:00:00",
            "statusUpdatedTime":"0001-01-01T00:00:00","lastActivityTime":"0001-01-01T00:00:00",
            "cloudToDeviceMessageCount":0,"authentication":{"symmetricKey":{"primaryKey":"c2VjcmV0a2V5","secondaryKey":"b3RoZXI="},
            "x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null},"type":"sas"},"capabilities":{"iotEdge":false}});
        let d: Device = serde_json::from_value(v).unwrap();
        assert_eq!(d.primary_key().unwrap().expose_secret(), "c2VjcmV0a2V5");
        assert!(!format!("{d:?}").contains("c2VjcmV0a2V5"));
        assert_eq!(
            d.last_activity_time.unwrap().to_rfc3339(),
            "0001-01-01T00:00:00+00:00"
        );
        let back = serde_json::to_value(&d).unwrap();
        assert_eq!(
            back["authentication"]["symmetricKey"]["primaryKey"],
            "c2VjcmV0a2V5"
        );
    }

    #[test]
    fn job_status_and_type_are_open() {
        let j: Job = serde_json::from_value(
            json!({"jobId":"j","type":"scheduleUpdateTwin","status":"completed",
            "deviceJobStatistics":{"deviceCount":2,"succeededCount":2}}),
        )
        .unwrap();
        assert_eq!(j.job_type, Some(JobType::ScheduleUpdateTwin));
        assert!(j.status.as_ref().unwrap().is_terminal());
        let j: Job =
            serde_json::from_value(json!({"jobId":"j","type":"export","status":"weird"})).unwrap();
        assert_eq!(j.job_type, Some(JobType::Other("export".into())));
        assert_eq!(j.status, Some(JobStatus::Other("weird".into())));
        assert!(!JobStatus::Scheduled.is_terminal());
    }
}
