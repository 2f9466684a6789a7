//! Import and export jobs of the device registry (`/jobs/create`, `/jobs`, `/jobs/{id}`): bulk
//! copies of every device identity (and optionally configurations) to and from a blob
//! container, with a completion helper.
//!
//! The container URLs carry a SAS token (or, with
//! [`StorageAuthenticationType::IdentityBased`], reach storage with the hub's managed identity).
//! The builders hold them as [`Secret`]s: a builder's `Debug` and every local error leave them
//! out.

use std::time::Duration;

#[cfg(iothub_job_identity)]
use super::models::ManagedIdentity;
use super::models::{ImportExportJob, JobType};
use super::{IotHubClient, api_version, validation};
use crate::auth::Secret;
use crate::poll::{self, Schedule};
use crate::request::setters;
use crate::storage::{check_blob_name, check_storage_url};
use crate::{Error, ErrorKind, RequestOptions};

/// How the hub authenticates to the storage account of an import or export job
/// (`storageAuthenticationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum StorageAuthenticationType {
    /// `keyBased`: the container URLs carry a SAS token (the service's default).
    #[default]
    KeyBased,
    /// `identityBased`: the hub's system-assigned identity, or the user-assigned one given
    /// with `user_assigned_identity`; the URLs need no SAS token.
    IdentityBased,
}

impl StorageAuthenticationType {
    /// The wire value.
    pub fn as_str(&self) -> &'static str {
        match self {
            StorageAuthenticationType::KeyBased => "keyBased",
            StorageAuthenticationType::IdentityBased => "identityBased",
        }
    }
}

/// What export and import jobs share: containers' storage access and configurations.
#[derive(Debug, Clone, Default)]
struct StorageOptions {
    auth: Option<StorageAuthenticationType>,
    #[cfg(iothub_job_identity)]
    user_assigned_identity: Option<String>,
    include_configurations: Option<bool>,
    configurations_blob_name: Option<String>,
}

impl StorageOptions {
    /// Checks the options and writes them into the generated job body.
    fn apply(&self, body: &mut ImportExportJob) -> Result<(), Error> {
        #[cfg(iothub_job_identity)]
        if let Some(id) = &self.user_assigned_identity {
            if self.auth != Some(StorageAuthenticationType::IdentityBased) {
                return Err(Error::invalid_input(
                    "user_assigned_identity",
                    "needs storage_authentication_type(IdentityBased)",
                ));
            }
            if id.trim().is_empty() {
                return Err(Error::invalid_input(
                    "user_assigned_identity",
                    "must not be empty (the identity's resource id)",
                ));
            }
            body.identity = Some(ManagedIdentity {
                user_assigned_identity: Some(id.clone()),
            });
        }
        if let Some(name) = &self.configurations_blob_name {
            check_blob_name("configurations_blob_name", name)?;
            if self.include_configurations != Some(true) {
                return Err(Error::invalid_input(
                    "configurations_blob_name",
                    "needs include_configurations(true)",
                ));
            }
        }
        body.storage_authentication_type = self.auth.map(|a| a.as_str().to_owned());
        body.include_configurations = self.include_configurations;
        body.configurations_blob_name = self.configurations_blob_name.clone();
        Ok(())
    }
}

/// The setters both job builders share.
macro_rules! storage_setters {
    () => {
        /// How the hub reaches the storage account (default: the SAS token in the URLs).
        pub fn storage_authentication_type(mut self, auth: StorageAuthenticationType) -> Self {
            self.storage.auth = Some(auth);
            self
        }

        /// The user-assigned managed identity (its resource id) an identity-based job uses;
        /// needs [`StorageAuthenticationType::IdentityBased`]. (Spec versions with
        /// `JobProperties.identity` only: cfg `iothub_job_identity`.)
        #[cfg(iothub_job_identity)]
        pub fn user_assigned_identity(mut self, resource_id: impl Into<String>) -> Self {
            self.storage.user_assigned_identity = Some(resource_id.into());
            self
        }

        /// Also export/import the hub's configurations (default false).
        pub fn include_configurations(mut self, include: bool) -> Self {
            self.storage.include_configurations = Some(include);
            self
        }

        /// The configurations blob (default `configurations.txt`); needs
        /// `include_configurations(true)`.
        pub fn configurations_blob_name(mut self, name: impl Into<String>) -> Self {
            self.storage.configurations_blob_name = Some(name.into());
            self
        }

        setters! {
            /// Per-call options. Creating a job is not idempotent (each call starts a new job
            /// with a service-chosen id), so it is not resent after a lost answer unless the
            /// options opt in.
            options;
        }
    };
}

/// Creates a job exporting every device identity to a container:
/// [`IotHubClient::create_export_job`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct CreateExportJob {
    client: IotHubClient,
    output: Secret,
    exclude_keys: Option<bool>,
    output_blob_name: Option<String>,
    storage: StorageOptions,
    options: RequestOptions,
}

impl CreateExportJob {
    /// Export the identities without their authentication keys (keys come out `null`;
    /// the service's default is to include them).
    pub fn exclude_keys(mut self, exclude: bool) -> Self {
        self.exclude_keys = Some(exclude);
        self
    }

    /// The blob the identities are written to (default `devices.txt`).
    pub fn output_blob_name(mut self, name: impl Into<String>) -> Self {
        self.output_blob_name = Some(name.into());
        self
    }

    storage_setters!();

    /// Checks the input and creates the job (`jobs_create_import_export_job`,
    /// `POST /jobs/create`); returns it as the service accepted it (usually `enqueued`).
    pub async fn send(self) -> Result<ImportExportJob, Error> {
        check_storage_url("output_blob_container_uri", &self.output)?;
        let mut body = ImportExportJob {
            type_: Some(JobType::Export.as_str().to_owned()),
            output_blob_container_uri: Some(self.output.clone()),
            exclude_keys_in_export: self.exclude_keys,
            ..ImportExportJob::default()
        };
        if let Some(name) = &self.output_blob_name {
            check_blob_name("output_blob_name", name)?;
            body.output_blob_name = Some(name.clone());
        }
        self.storage.apply(&mut body)?;
        create(&self.client, &self.options, &body).await
    }
}
crate::response::operation!(CreateExportJob => ImportExportJob);

/// Creates a job importing device identities from a container:
/// [`IotHubClient::create_import_job`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct CreateImportJob {
    client: IotHubClient,
    input: Secret,
    output: Secret,
    input_blob_name: Option<String>,
    output_blob_name: Option<String>,
    storage: StorageOptions,
    options: RequestOptions,
}

impl CreateImportJob {
    /// The blob read from the input container (default `devices.txt`): one
    /// `ExportImportDevice` JSON document per line, each with its `importMode`.
    pub fn input_blob_name(mut self, name: impl Into<String>) -> Self {
        self.input_blob_name = Some(name.into());
        self
    }

    /// The log blob written to the output container (default `importErrors.log`).
    pub fn output_blob_name(mut self, name: impl Into<String>) -> Self {
        self.output_blob_name = Some(name.into());
        self
    }

    storage_setters!();

    /// Checks the input and creates the job (`jobs_create_import_export_job`,
    /// `POST /jobs/create`); returns it as the service accepted it (usually `enqueued`).
    pub async fn send(self) -> Result<ImportExportJob, Error> {
        check_storage_url("input_blob_container_uri", &self.input)?;
        check_storage_url("output_blob_container_uri", &self.output)?;
        let mut body = ImportExportJob {
            type_: Some(JobType::Import.as_str().to_owned()),
            input_blob_container_uri: Some(self.input.clone()),
            output_blob_container_uri: Some(self.output.clone()),
            ..ImportExportJob::default()
        };
        if let Some(name) = &self.input_blob_name {
            check_blob_name("input_blob_name", name)?;
            body.input_blob_name = Some(name.clone());
        }
        if let Some(name) = &self.output_blob_name {
            check_blob_name("output_blob_name", name)?;
            body.output_blob_name = Some(name.clone());
        }
        self.storage.apply(&mut body)?;
        create(&self.client, &self.options, &body).await
    }
}
crate::response::operation!(CreateImportJob => ImportExportJob);

/// `jobs_create_import_export_job` with `body`.
async fn create(
    client: &IotHubClient,
    options: &RequestOptions,
    body: &ImportExportJob,
) -> Result<ImportExportJob, Error> {
    let raw = &client.inner.raw;
    Ok(crate::pipeline::with_request_options(
        options,
        raw.jobs_create_import_export_job(api_version(raw), body),
    )
    .await?
    .into_inner())
}

/// Reads an import or export job: [`IotHubClient::get_import_export_job`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct GetImportExportJob {
    client: IotHubClient,
    job_id: String,
    options: RequestOptions,
}

impl GetImportExportJob {
    setters! { options; }

    /// Sends the request (`jobs_get_import_export_job`, `GET /jobs/{id}`).
    pub async fn send(self) -> Result<ImportExportJob, Error> {
        validation::check_job_id(&self.job_id)?;
        let raw = &self.client.inner.raw;
        Ok(crate::pipeline::with_request_options(
            &self.options,
            raw.jobs_get_import_export_job(&self.job_id, api_version(raw)),
        )
        .await?
        .into_inner())
    }
}
crate::response::operation!(GetImportExportJob => ImportExportJob);

/// Lists the hub's import and export jobs: [`IotHubClient::list_import_export_jobs`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct ListImportExportJobs {
    client: IotHubClient,
    options: RequestOptions,
}

impl ListImportExportJobs {
    setters! { options; }

    /// Sends the request (`jobs_get_import_export_jobs`, `GET /jobs`): one unpaged list.
    pub async fn send(self) -> Result<Vec<ImportExportJob>, Error> {
        let raw = &self.client.inner.raw;
        Ok(crate::pipeline::with_request_options(
            &self.options,
            raw.jobs_get_import_export_jobs(api_version(raw)),
        )
        .await?
        .into_inner())
    }
}
crate::response::operation!(ListImportExportJobs => Vec<ImportExportJob>);

/// Cancels an import or export job: [`IotHubClient::cancel_import_export_job`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct CancelImportExportJob {
    client: IotHubClient,
    job_id: String,
    options: RequestOptions,
}

impl CancelImportExportJob {
    setters! { options; }

    /// Sends the request (`jobs_cancel_import_export_job`, `DELETE /jobs/{id}`). The service
    /// answers without the job; read it with [`IotHubClient::get_import_export_job`] or wait
    /// for it to settle with [`IotHubClient::wait_for_import_export_job`].
    pub async fn send(self) -> Result<(), Error> {
        validation::check_job_id(&self.job_id)?;
        let raw = &self.client.inner.raw;
        crate::pipeline::with_request_options(
            &self.options,
            raw.jobs_cancel_import_export_job(&self.job_id, api_version(raw)),
        )
        .await?;
        Ok(())
    }
}
crate::response::operation!(CancelImportExportJob => ());

/// Waits until an import or export job is `completed`, `failed` or `cancelled`:
/// [`IotHubClient::wait_for_import_export_job`]. Same polling as
/// [`WaitForJob`](super::WaitForJob): from [`poll_every`](Self::poll_every) (default 1 s),
/// ×1.5 per poll, up to [`max_poll_interval`](Self::max_poll_interval) (default 30 s), for at
/// most [`timeout`](Self::timeout) (default 30 minutes), then [`ErrorKind::Timeout`] naming
/// the job's last status. Await it directly, or call [`send`](Self::send) / `send_with_response`
/// (the metadata of the last poll).
#[derive(Debug, Clone)]
#[must_use = "await it"]
pub struct WaitForImportExportJob {
    client: IotHubClient,
    job_id: String,
    poll_every: Duration,
    max_poll_interval: Duration,
    timeout: Duration,
    options: RequestOptions,
}

impl WaitForImportExportJob {
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

    /// How long to wait in total (default 30 minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    setters! {
        /// Per-call options for each poll.
        options;
    }

    /// Polls until the job is terminal or the timeout passes; returns the final job.
    pub async fn send(self) -> Result<ImportExportJob, Error> {
        validation::check_job_id(&self.job_id)?;
        if self.poll_every.is_zero() {
            return Err(Error::invalid_input(
                "poll_every",
                "must be greater than zero",
            ));
        }
        let schedule = Schedule {
            first: self.poll_every,
            max: self.max_poll_interval.max(self.poll_every),
            grow: |d| d.mul_f64(1.5),
            timeout: self.timeout,
        };
        let fetch = || {
            self.client
                .get_import_export_job(self.job_id.clone())
                .options(self.options.clone())
                .send()
        };
        poll::until_finished(
            schedule,
            fetch,
            |job| job.job_status().is_terminal(),
            |job| {
                Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "import/export job '{}' did not finish within {:?} (last status: {})",
                        self.job_id,
                        self.timeout,
                        job.job_status()
                    ),
                )
            },
        )
        .await
    }
}

crate::response::operation!(WaitForImportExportJob => ImportExportJob);

impl IotHubClient {
    /// Starts exporting every device identity of the hub (and with
    /// `include_configurations(true)` its configurations) to a blob container.
    /// `output_container_sas` is the container's URL with a SAS token granting write access
    /// (`https://` only; `http://` for a loopback emulator such as Azurite).
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// let job = hub
    ///     .create_export_job("https://acct.blob.core.windows.net/exports?sv=…&sig=…")
    ///     .exclude_keys(true)
    ///     .send()
    ///     .await?;
    /// let job_id = job.job_id.clone().unwrap_or_default();
    /// let done = hub.wait_for_import_export_job(job_id).await?;
    /// println!("{} ({:?})", done.job_status(), done.failure_reason);
    /// # Ok(()) }
    /// ```
    pub fn create_export_job(&self, output_container_sas: impl Into<Secret>) -> CreateExportJob {
        CreateExportJob {
            client: self.clone(),
            output: output_container_sas.into(),
            exclude_keys: None,
            output_blob_name: None,
            storage: StorageOptions::default(),
            options: RequestOptions::default(),
        }
    }

    /// Starts importing device identities from `input_container_sas` (the blob
    /// `devices.txt` unless [`input_blob_name`](CreateImportJob::input_blob_name) says
    /// otherwise: one `ExportImportDevice` per line, each with its `importMode`); the job's
    /// log goes to `output_container_sas`.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// let job = hub
    ///     .create_import_job(
    ///         "https://acct.blob.core.windows.net/imports?sv=…&sig=…",
    ///         "https://acct.blob.core.windows.net/logs?sv=…&sig=…",
    ///     )
    ///     .input_blob_name("batch-7.txt")
    ///     .send()
    ///     .await?;
    /// # let _ = job; Ok(()) }
    /// ```
    pub fn create_import_job(
        &self,
        input_container_sas: impl Into<Secret>,
        output_container_sas: impl Into<Secret>,
    ) -> CreateImportJob {
        CreateImportJob {
            client: self.clone(),
            input: input_container_sas.into(),
            output: output_container_sas.into(),
            input_blob_name: None,
            output_blob_name: None,
            storage: StorageOptions::default(),
            options: RequestOptions::default(),
        }
    }

    /// Reads an import or export job.
    pub fn get_import_export_job(&self, job_id: impl Into<String>) -> GetImportExportJob {
        GetImportExportJob {
            client: self.clone(),
            job_id: job_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Lists the hub's import and export jobs (the service keeps them for 30 days).
    pub fn list_import_export_jobs(&self) -> ListImportExportJobs {
        ListImportExportJobs {
            client: self.clone(),
            options: RequestOptions::default(),
        }
    }

    /// Cancels an import or export job that has not finished.
    pub fn cancel_import_export_job(&self, job_id: impl Into<String>) -> CancelImportExportJob {
        CancelImportExportJob {
            client: self.clone(),
            job_id: job_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Waits for an import or export job to complete, fail or be cancelled (see
    /// [`WaitForImportExportJob`]).
    pub fn wait_for_import_export_job(&self, job_id: impl Into<String>) -> WaitForImportExportJob {
        WaitForImportExportJob {
            client: self.clone(),
            job_id: job_id.into(),
            poll_every: Duration::from_secs(1),
            max_poll_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30 * 60),
            options: RequestOptions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> IotHubClient {
        IotHubClient::builder("http://127.0.0.1:9")
            .build()
            .expect("client")
    }

    #[tokio::test]
    async fn bad_input_fails_locally_without_the_sas() {
        let sas = "https://acct.blob.core.windows.net/c?sv=2024&sig=s3cr3t";
        let e = hub()
            .create_export_job("http://acct.blob.core.windows.net/c?sig=s3cr3t")
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "output_blob_container_uri")
        );
        assert!(!e.to_string().contains("s3cr3t"));
        let e = hub().create_import_job("", sas).send().await.unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "input_blob_container_uri")
        );
        let e = hub()
            .create_import_job(sas, sas)
            .input_blob_name("")
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "input_blob_name")
        );
        let e = hub()
            .create_export_job(sas)
            .user_assigned_identity("/subscriptions/x/id")
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "user_assigned_identity")
        );
        let e = hub()
            .create_export_job(sas)
            .configurations_blob_name("c.txt")
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "configurations_blob_name")
        );
        let e = hub()
            .get_import_export_job("bad id")
            .send()
            .await
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "job_id"));
        let builder = hub().create_import_job(sas, sas);
        assert!(!format!("{builder:?}").contains("s3cr3t"));
    }

    #[test]
    fn storage_options_fill_the_generated_body() {
        let mut body = ImportExportJob::default();
        StorageOptions {
            auth: Some(StorageAuthenticationType::IdentityBased),
            user_assigned_identity: Some("/subscriptions/s/uai".into()),
            include_configurations: Some(true),
            configurations_blob_name: Some("cfg.txt".into()),
        }
        .apply(&mut body)
        .unwrap();
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"storageAuthenticationType": "identityBased",
                "identity": {"userAssignedIdentity": "/subscriptions/s/uai"},
                "includeConfigurations": true, "configurationsBlobName": "cfg.txt"})
        );
    }
}
