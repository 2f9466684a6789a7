//! [`IotHubClient`]: the service side of Azure IoT Hub (REST api-version 2021-04-12).
//!
//! One client, cheap to clone, with one method per operation. Required identifiers are
//! positional; options are chained setters; `.send().await` finishes a call and
//! `.into_stream()` a paged one. Every call goes through the shared pipeline (SAS or Entra ID
//! auth, retries with backoff for idempotent calls, tracing) and fails with one [`Error`] type.
//!
//! | Area | Methods |
//! |---|---|
//! | Twins | [`get_twin`](IotHubClient::get_twin), [`update_twin`](IotHubClient::update_twin), [`replace_twin`](IotHubClient::replace_twin), and the `*_module_twin` variants |
//! | Query | [`query`](IotHubClient::query) (twins, projections, aggregates) |
//! | Jobs | [`schedule_twin_update`](IotHubClient::schedule_twin_update), [`schedule_device_method`](IotHubClient::schedule_device_method), [`get_job`](IotHubClient::get_job), [`cancel_job`](IotHubClient::cancel_job), [`list_jobs`](IotHubClient::list_jobs), [`wait_for_job`](IotHubClient::wait_for_job) |
//! | Direct methods | [`invoke_device_method`](IotHubClient::invoke_device_method), [`invoke_module_method`](IotHubClient::invoke_module_method) |
//! | Identities | [`create_device`](IotHubClient::create_device), [`get_device`](IotHubClient::get_device), [`replace_device`](IotHubClient::replace_device), [`delete_device`](IotHubClient::delete_device), [`list_devices`](IotHubClient::list_devices), and the module equivalents |
//! | Configurations | [`create_configuration`](IotHubClient::create_configuration), [`get_configuration`](IotHubClient::get_configuration), [`replace_configuration`](IotHubClient::replace_configuration), [`delete_configuration`](IotHubClient::delete_configuration), [`list_configurations`](IotHubClient::list_configurations), [`test_configuration_queries`](IotHubClient::test_configuration_queries), [`apply_configuration_on_edge`](IotHubClient::apply_configuration_on_edge) |
//! | Statistics | [`get_device_statistics`](IotHubClient::get_device_statistics), [`get_service_statistics`](IotHubClient::get_service_statistics) |
//! | Bulk | [`bulk_registry`](IotHubClient::bulk_registry) |
//! | Import/export jobs | [`create_export_job`](IotHubClient::create_export_job), [`create_import_job`](IotHubClient::create_import_job), [`get_import_export_job`](IotHubClient::get_import_export_job), [`list_import_export_jobs`](IotHubClient::list_import_export_jobs), [`cancel_import_export_job`](IotHubClient::cancel_import_export_job), [`wait_for_import_export_job`](IotHubClient::wait_for_import_export_job) |
//! | Cloud-to-device | [`purge_cloud_to_device_queue`](IotHubClient::purge_cloud_to_device_queue); feedback: [`receive_feedback`](IotHubClient::receive_feedback), [`complete_feedback`](IotHubClient::complete_feedback), [`abandon_feedback`](IotHubClient::abandon_feedback), [`feedback_stream`](IotHubClient::feedback_stream) |
//! | Plug and Play | [`get_digital_twin`](IotHubClient::get_digital_twin), `update_digital_twin` (with the `digitaltwins` feature), [`invoke_command`](IotHubClient::invoke_command), [`invoke_component_command`](IotHubClient::invoke_component_command) |
//!
//! Every operation of the spec has a facade method; [`raw`](crate::raw::iothub) (reach it
//! with [`IotHubClient::raw`]) stays available for the generated calls as they are.
//!
//! ```no_run
//! use azure_twins::IotHubClient;
//! use futures::TryStreamExt;
//! use serde_json::json;
//! # async fn demo() -> Result<(), azure_twins::Error> {
//! let hub = IotHubClient::from_connection_string(
//!     "HostName=my-hub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=<key>",
//! )?;
//! let twin = hub.get_module_twin("dev-1", "mod-a").send().await?;
//! let updated = hub
//!     .update_module_twin("dev-1", "mod-a")
//!     .desired(json!({ "telemetryInterval": 30 }))
//!     .if_match(&twin.etag)
//!     .send()
//!     .await?;
//! let mut twins = hub.query("SELECT * FROM devices WHERE tags.site = 'berlin'").page_size(100).into_stream();
//! while let Some(t) = twins.try_next().await? {
//!     println!("{}", t.device_id);
//! }
//! # Ok(()) }
//! ```

mod bulk;
mod configurations;
mod digital_twin;
mod feedback;
pub(crate) mod idempotency;
mod identities;
mod import_export;
mod jobs;
mod methods;
mod models;
mod purge;
mod query;
mod statistics;
mod timestamp;
mod twins;
pub mod validation;

use std::fmt;
use std::sync::Arc;

pub use bulk::{BulkEntryOutcome, BulkEntryResult, BulkRegistryReport};
pub use bulk::{BulkOperation, BulkOperationMode, MAX_BULK_OPERATIONS};
pub use digital_twin::{CommandResponse, MAX_DTDL_NAME_LEN, check_dtdl_name};
pub use feedback::{FeedbackBatch, FeedbackLockToken, FeedbackRecord, FeedbackStatus};
pub use import_export::{StorageAuthenticationType, WaitForImportExportJob};
pub use jobs::{DeviceMethod, WaitForJob};
pub use models::*;
pub use timestamp::Timestamp;
pub use twins::TwinPatch;

/// The builder types returned by [`IotHubClient`] methods, one per operation, named after it.
/// Finish each with `.send().await` (or `.into_stream()` for paged ones).
pub mod builders {
    pub use super::bulk::BulkRegistry;
    pub use super::configurations::{
        ApplyConfigurationOnEdge, CreateConfiguration, DeleteConfiguration, GetConfiguration,
        ListConfigurations, ReplaceConfiguration, TestConfigurationQueries,
    };
    #[cfg(feature = "digitaltwins")]
    pub use super::digital_twin::UpdateDigitalTwin;
    pub use super::digital_twin::{GetDigitalTwin, InvokeCommand};
    pub use super::feedback::{AbandonFeedback, CompleteFeedback, FeedbackStream, ReceiveFeedback};
    pub use super::identities::{
        CreateDevice, CreateModule, DeleteDevice, DeleteModule, GetDevice, GetModule, ListDevices,
        ListModules, ReplaceDevice, ReplaceModule,
    };
    pub use super::import_export::{
        CancelImportExportJob, CreateExportJob, CreateImportJob, GetImportExportJob,
        ListImportExportJobs,
    };
    pub use super::jobs::{CancelJob, GetJob, ListJobs, ScheduleDeviceMethod, ScheduleTwinUpdate};
    pub use super::methods::InvokeMethod;
    pub use super::purge::PurgeCloudToDeviceQueue;
    pub use super::query::Query;
    pub use super::statistics::{GetDeviceStatistics, GetServiceStatistics};
    pub use super::twins::{GetTwin, ReplaceTwin, UpdateTwin};
}

use crate::auth::{ConnectionString, Service};
use crate::raw::iothub as raw;
use crate::{ClientOptions, Credential, Error};

/// The api-version every call of `raw` sends: the caller's pin
/// ([`ClientOptions::api_version`](crate::ClientOptions::api_version)) if the client was built
/// with one, else the generated client's (`info.version` of the spec it was generated from), so a
/// regenerated client changes it with no facade edit. Called at every generated call site as
/// `api_version(raw)`.
pub(crate) fn api_version(raw: &raw::Client) -> &str {
    use progenitor_client::ClientInfo;
    raw.inner()
        .options()
        .api_version
        .as_deref()
        .unwrap_or(<raw::Client as ClientInfo<crate::pipeline::Pipeline>>::api_version())
}

/// A client for one IoT hub's service API. Cheap to clone (the connection pool, credential
/// cache and options are shared); `Send + Sync`.
///
/// Build it with [`IotHubClient::from_connection_string`] or [`IotHubClient::builder`].
///
/// ```
/// use azure_twins::{Credential, IotHubClient};
/// // A service connection string (shared access policy):
/// let hub = IotHubClient::from_connection_string(
///     "HostName=my-hub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=c2VjcmV0",
/// )?;
/// assert_eq!(hub.endpoint(), "https://my-hub.azure-devices.net");
///
/// // The local emulator (plain http is allowed for loopback hosts only):
/// let emu = IotHubClient::builder("http://127.0.0.1:8443")
///     .credential(Credential::from_connection_string(
///         "HostName=127.0.0.1:8443;SharedAccessKeyName=iothubowner;SharedAccessKey=c2VjcmV0",
///     )?)
///     .build()?;
/// assert!(IotHubClient::builder("http://my-hub.azure-devices.net").build().is_err());
/// # Ok::<(), azure_twins::Error>(())
/// ```
#[derive(Clone)]
pub struct IotHubClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) raw: raw::Client,
    pub(crate) endpoint: String,
}

impl fmt::Debug for IotHubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IotHubClient")
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

/// Builder of an [`IotHubClient`]: endpoint, credential and options.
#[derive(Debug, Clone)]
pub struct IotHubClientBuilder {
    endpoint: String,
    credential: Option<Credential>,
    options: ClientOptions,
}

impl IotHubClient {
    /// A client from a service connection string
    /// (`HostName=…;SharedAccessKeyName=…;SharedAccessKey=…`), signing SAS tokens with its key.
    ///
    /// The hub is reached over `https://<HostName>`; a loopback `HostName` (the local emulator,
    /// `127.0.0.1:<port>`) is reached over plain `http://`. For the emulator's TLS mode use
    /// [`IotHubClient::builder`] with its `https://` endpoint and root certificate.
    pub fn from_connection_string(connection_string: &str) -> Result<IotHubClient, Error> {
        Self::from_connection_string_with_options(connection_string, ClientOptions::default())
    }

    /// [`IotHubClient::from_connection_string`] with client options (retries, timeouts, roots).
    pub fn from_connection_string_with_options(
        connection_string: &str,
        options: ClientOptions,
    ) -> Result<IotHubClient, Error> {
        let cs = ConnectionString::parse(connection_string)?;
        let host = cs.host_name();
        let authority_host = host
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(h, _)| h);
        let scheme = if crate::auth::is_loopback_host(authority_host) {
            "http"
        } else {
            "https"
        };
        IotHubClient::builder(format!("{scheme}://{host}"))
            .credential(Credential::from(&cs))
            .options(options)
            .build()
    }

    /// Starts building a client for `endpoint`: a host name (`my-hub.azure-devices.net`,
    /// `https://` implied) or a full URL. `http://` is accepted only for loopback hosts.
    pub fn builder(endpoint: impl Into<String>) -> IotHubClientBuilder {
        IotHubClientBuilder {
            endpoint: endpoint.into(),
            credential: None,
            options: ClientOptions::default(),
        }
    }

    /// The normalised endpoint (scheme and authority, no trailing slash).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The generated raw client this facade drives (same pipeline: auth, retries, tracing), for
    /// operations the facade leaves out. Semver-exempt: see [`crate::raw`].
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), Box<dyn std::error::Error>> {
    /// // The generated call behind `purge_cloud_to_device_queue`, as it is:
    /// let purged = hub.raw()
    ///     .cloud_to_device_messages_purge_cloud_to_device_message_queue("dev-1", "2021-04-12")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn raw(&self) -> &raw::Client {
        &self.inner.raw
    }
}

impl IotHubClientBuilder {
    /// How to authenticate: a shared access key or connection string (SAS tokens signed and
    /// renewed for you), a pre-made SAS token, a bearer token or an Entra ID token credential.
    /// Without one, no `Authorization` header is sent.
    pub fn credential(mut self, credential: Credential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// Client-wide options: retries, timeouts, extra root certificates, user agent.
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Validates the endpoint and builds the client.
    ///
    /// Fails when the endpoint is not a host name or an `http(s)` URL, when it is `http://` to
    /// a host that is not loopback, or when the options are invalid (e.g. a bad PEM).
    pub fn build(self) -> Result<IotHubClient, Error> {
        let endpoint = crate::endpoint::normalize_endpoint(&self.endpoint)?;
        let http = self.options.build_http_client()?;
        let pipeline = crate::pipeline::Pipeline::new(
            Service::IotHub,
            &endpoint,
            self.credential.as_ref(),
            self.options.clone(),
        )?;
        let raw = raw::Client::new_with_client(&endpoint, http, pipeline);
        Ok(IotHubClient {
            inner: Arc::new(Inner { raw, endpoint }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_string_schemes() {
        let hub = IotHubClient::from_connection_string(
            "HostName=Hub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=c2VjcmV0",
        )
        .unwrap();
        assert_eq!(hub.endpoint(), "https://hub.azure-devices.net");
        let emu = IotHubClient::from_connection_string(
            "HostName=127.0.0.1:4711;SharedAccessKeyName=iothubowner;SharedAccessKey=c2VjcmV0",
        )
        .unwrap();
        assert_eq!(emu.endpoint(), "http://127.0.0.1:4711");
        let e = IotHubClient::from_connection_string("HostName=x;SharedAccessKey=c2VjcmV0")
            .unwrap_err();
        assert!(!e.to_string().contains("c2VjcmV0"));
    }

    #[test]
    fn client_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<IotHubClient>();
    }
}
