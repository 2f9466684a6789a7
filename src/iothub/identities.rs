//! Device and module identities in the identity registry.

use progenitor_client::ResponseValue;

use super::models::{Authentication, Configuration, Device, DeviceCapabilities, Module};
use super::{IotHubClient, api_version, validation};
use crate::request::setters;
use crate::{Condition, ETag, Error, RequestOptions};

/// A registry document (device, module, configuration) whose ETag the service also sends as a
/// header.
pub(super) trait RegistryDocument {
    fn etag_mut(&mut self) -> &mut Option<ETag>;
}

impl RegistryDocument for Device {
    fn etag_mut(&mut self) -> &mut Option<ETag> {
        &mut self.etag
    }
}

impl RegistryDocument for Module {
    fn etag_mut(&mut self) -> &mut Option<ETag> {
        &mut self.etag
    }
}

impl RegistryDocument for Configuration {
    fn etag_mut(&mut self) -> &mut Option<ETag> {
        &mut self.etag
    }
}

/// A registry document decoded by the generated client; its ETag is the `ETag` header, else
/// the body's `etag`. The headers are only read, never copied.
pub(super) fn document<T: RegistryDocument>(rv: ResponseValue<T>) -> T {
    let header = ETag::from_headers(rv.headers());
    let mut value = rv.into_inner();
    if let Some(h) = header {
        *value.etag_mut() = Some(h);
    }
    value
}

/// The `If-Match` value of `condition`, checked to be sendable as an HTTP header.
pub(super) fn if_match_header(condition: &Condition) -> Result<Option<&str>, Error> {
    let value = condition.if_match();
    if let Some(v) = value
        && reqwest::header::HeaderValue::from_str(v).is_err()
    {
        return Err(Error::invalid_input(
            "if-match",
            "contains characters that cannot be sent in an HTTP header",
        ));
    }
    Ok(value)
}

fn check_condition(c: &Condition) -> Result<(), Error> {
    if matches!(c, Condition::IfNoneMatchAny) {
        return Err(Error::invalid_input(
            "condition",
            "IfNoneMatchAny is not supported here; create_* already fails when the identity exists",
        ));
    }
    Ok(())
}

/// Creates a device identity: [`IotHubClient::create_device`].
///
/// By default the device authenticates with SAS keys the service generates (read them from
/// the returned [`Device`]). Fails with 409 `DeviceAlreadyExists` if the id is taken.
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct CreateDevice {
    client: IotHubClient,
    device: Device,
    options: RequestOptions,
}

impl CreateDevice {
    /// How the device authenticates: [`Authentication::sas`] (default),
    /// [`Authentication::sas_keys`], [`Authentication::x509_thumbprints`],
    /// [`Authentication::certificate_authority`].
    pub fn authentication(mut self, authentication: Authentication) -> Self {
        self.device.authentication = Some(authentication);
        self
    }

    /// Creates the device enabled (default) or disabled.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.device = self.device.with_status(enabled);
        self
    }

    /// Marks the device as an IoT Edge device.
    pub fn iot_edge(mut self, iot_edge: bool) -> Self {
        self.device.capabilities = Some(DeviceCapabilities {
            iot_edge: Some(iot_edge),
        });
        self
    }

    setters! { options; }

    /// Creates the device; returns it with its keys and ETag.
    pub async fn send(self) -> Result<Device, Error> {
        validation::check_device_id(&self.device.device_id)?;
        let raw = &self.client.inner.raw;
        let rv = crate::pipeline::with_request_options(
            &self.options,
            raw.devices_create_or_update_identity(
                &self.device.device_id,
                api_version(raw),
                None,
                &self.device,
            ),
        )
        .await?;
        Ok(document(rv))
    }
}
crate::response::operation!(CreateDevice => Device);

/// Reads a device identity: [`IotHubClient::get_device`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct GetDevice {
    client: IotHubClient,
    device_id: String,
    options: RequestOptions,
}

impl GetDevice {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<Device, Error> {
        validation::check_device_id(&self.device_id)?;
        let raw = &self.client.inner.raw;
        let rv = crate::pipeline::with_request_options(
            &self.options,
            raw.devices_get_identity(&self.device_id, api_version(raw)),
        )
        .await?;
        Ok(document(rv))
    }
}
crate::response::operation!(GetDevice => Device);

/// Replaces a device identity (status, authentication, capabilities):
/// [`IotHubClient::replace_device`]. Unconditional (`If-Match: *`) unless you set a condition;
/// [`ReplaceDevice::if_unchanged`] uses the ETag of the document you pass.
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct ReplaceDevice {
    client: IotHubClient,
    device: Device,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl ReplaceDevice {
    setters! {
        /// The write condition.
        condition;
        /// Only update if the identity still has `etag`.
        if_match;
    }

    /// Only update if the identity still has the ETag of the document passed in (fails
    /// locally if it has none).
    pub fn if_unchanged(mut self) -> Self {
        self.condition = Some(if_unchanged(&self.device.etag));
        self
    }

    setters! { options; }

    /// Sends the update; returns the device with its new ETag.
    pub async fn send(self) -> Result<Device, Error> {
        validation::check_device_id(&self.device.device_id)?;
        let condition = self.condition.unwrap_or(Condition::IfMatchAny);
        check_condition(&condition)?;
        check_not_empty_etag(&condition)?;
        let if_match = if_match_header(&condition)?;
        let raw = &self.client.inner.raw;
        let rv = crate::pipeline::with_request_options(
            &self.options,
            raw.devices_create_or_update_identity(
                &self.device.device_id,
                api_version(raw),
                if_match,
                &self.device,
            ),
        )
        .await?;
        Ok(document(rv))
    }
}
crate::response::operation!(ReplaceDevice => Device);

/// The condition of `if_unchanged()`: `If-Match` with the document's ETag, or with an empty one
/// that [`check_not_empty_etag`] then refuses before sending.
pub(super) fn if_unchanged(etag: &Option<ETag>) -> Condition {
    Condition::IfMatch(etag.clone().unwrap_or_else(|| ETag::new("")))
}

fn check_not_empty_etag(c: &Condition) -> Result<(), Error> {
    if let Condition::IfMatch(e) = c
        && e.value().is_empty()
    {
        return Err(Error::invalid_input(
            "etag",
            "is empty: the document has no etag (read it from the service first)",
        ));
    }
    Ok(())
}

/// Deletes a device identity (and its modules and twin): [`IotHubClient::delete_device`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct DeleteDevice {
    client: IotHubClient,
    device_id: String,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl DeleteDevice {
    setters! {
        /// The delete condition (default: unconditional, `If-Match: *`).
        condition;
        /// Only delete if the identity still has `etag`.
        if_match;
        options;
    }

    /// Sends the request.
    pub async fn send(self) -> Result<(), Error> {
        validation::check_device_id(&self.device_id)?;
        let condition = self.condition.unwrap_or(Condition::IfMatchAny);
        check_condition(&condition)?;
        let if_match = if_match_header(&condition)?;
        let raw = &self.client.inner.raw;
        crate::pipeline::with_request_options(
            &self.options,
            raw.devices_delete_identity(&self.device_id, api_version(raw), if_match),
        )
        .await?;
        Ok(())
    }
}
crate::response::operation!(DeleteDevice => ());

/// Lists device identities (at most 1000; use [`IotHubClient::query`] for more):
/// [`IotHubClient::list_devices`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct ListDevices {
    client: IotHubClient,
    top: Option<u32>,
    options: RequestOptions,
}

impl ListDevices {
    setters! {
        /// The most devices to return (1–1000).
        top;
        options;
    }

    /// Sends the request.
    pub async fn send(self) -> Result<Vec<Device>, Error> {
        let top = match self.top {
            Some(n @ 1..=1000) => Some(n as i32),
            Some(_) => return Err(Error::invalid_input("top", "must be between 1 and 1000")),
            None => None,
        };
        let raw = &self.client.inner.raw;
        Ok(crate::pipeline::with_request_options(
            &self.options,
            raw.devices_get_devices(api_version(raw), top),
        )
        .await?
        .into_inner())
    }
}
crate::response::operation!(ListDevices => Vec<Device>);

/// Creates a module identity on a device: [`IotHubClient::create_module`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct CreateModule {
    client: IotHubClient,
    module: Module,
    options: RequestOptions,
}

impl CreateModule {
    /// How the module authenticates (default: SAS keys generated by the service).
    pub fn authentication(mut self, authentication: Authentication) -> Self {
        self.module.authentication = Some(authentication);
        self
    }

    /// Sets `managedBy` (e.g. `IotEdge`).
    pub fn managed_by(mut self, managed_by: impl Into<String>) -> Self {
        self.module.managed_by = Some(managed_by.into());
        self
    }

    setters! { options; }

    /// Creates the module; returns it with its keys and ETag.
    pub async fn send(self) -> Result<Module, Error> {
        validation::check_device_id(&self.module.device_id)?;
        validation::check_module_id(&self.module.module_id)?;
        let raw = &self.client.inner.raw;
        let rv = crate::pipeline::with_request_options(
            &self.options,
            raw.modules_create_or_update_identity(
                &self.module.device_id,
                &self.module.module_id,
                api_version(raw),
                None,
                &self.module,
            ),
        )
        .await?;
        Ok(document(rv))
    }
}
crate::response::operation!(CreateModule => Module);

/// Reads a module identity: [`IotHubClient::get_module`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct GetModule {
    client: IotHubClient,
    device_id: String,
    module_id: String,
    options: RequestOptions,
}

impl GetModule {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<Module, Error> {
        validation::check_device_id(&self.device_id)?;
        validation::check_module_id(&self.module_id)?;
        let raw = &self.client.inner.raw;
        let rv = crate::pipeline::with_request_options(
            &self.options,
            raw.modules_get_identity(&self.device_id, &self.module_id, api_version(raw)),
        )
        .await?;
        Ok(document(rv))
    }
}
crate::response::operation!(GetModule => Module);

/// Replaces a module identity: [`IotHubClient::replace_module`]. Unconditional unless you set a
/// condition.
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct ReplaceModule {
    client: IotHubClient,
    module: Module,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl ReplaceModule {
    setters! {
        /// The write condition.
        condition;
        /// Only update if the identity still has `etag`.
        if_match;
    }

    /// Only update if the identity still has the ETag of the document passed in.
    pub fn if_unchanged(mut self) -> Self {
        self.condition = Some(if_unchanged(&self.module.etag));
        self
    }

    setters! { options; }

    /// Sends the update; returns the module with its new ETag.
    pub async fn send(self) -> Result<Module, Error> {
        validation::check_device_id(&self.module.device_id)?;
        validation::check_module_id(&self.module.module_id)?;
        let condition = self.condition.unwrap_or(Condition::IfMatchAny);
        check_condition(&condition)?;
        check_not_empty_etag(&condition)?;
        let if_match = if_match_header(&condition)?;
        let raw = &self.client.inner.raw;
        let rv = crate::pipeline::with_request_options(
            &self.options,
            raw.modules_create_or_update_identity(
                &self.module.device_id,
                &self.module.module_id,
                api_version(raw),
                if_match,
                &self.module,
            ),
        )
        .await?;
        Ok(document(rv))
    }
}
crate::response::operation!(ReplaceModule => Module);

/// Deletes a module identity: [`IotHubClient::delete_module`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct DeleteModule {
    client: IotHubClient,
    device_id: String,
    module_id: String,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl DeleteModule {
    setters! {
        /// The delete condition (default: unconditional, `If-Match: *`).
        condition;
        /// Only delete if the identity still has `etag`.
        if_match;
        options;
    }

    /// Sends the request.
    pub async fn send(self) -> Result<(), Error> {
        validation::check_device_id(&self.device_id)?;
        validation::check_module_id(&self.module_id)?;
        let condition = self.condition.unwrap_or(Condition::IfMatchAny);
        check_condition(&condition)?;
        let if_match = if_match_header(&condition)?;
        let raw = &self.client.inner.raw;
        crate::pipeline::with_request_options(
            &self.options,
            raw.modules_delete_identity(
                &self.device_id,
                &self.module_id,
                api_version(raw),
                if_match,
            ),
        )
        .await?;
        Ok(())
    }
}
crate::response::operation!(DeleteModule => ());

/// Lists the modules of a device: [`IotHubClient::list_modules`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct ListModules {
    client: IotHubClient,
    device_id: String,
    options: RequestOptions,
}

impl ListModules {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<Vec<Module>, Error> {
        validation::check_device_id(&self.device_id)?;
        let raw = &self.client.inner.raw;
        Ok(crate::pipeline::with_request_options(
            &self.options,
            raw.modules_get_modules_on_device(&self.device_id, api_version(raw)),
        )
        .await?
        .into_inner())
    }
}
crate::response::operation!(ListModules => Vec<Module>);

impl IotHubClient {
    /// Creates a device identity.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use azure_twins::iothub::Authentication;
    /// // Keys generated by the service:
    /// let d = hub.create_device("dev-1").send().await?;
    /// let key = d.primary_key().map(|k| k.expose_secret().to_owned());
    /// // X.509 self-signed:
    /// hub.create_device("dev-2")
    ///     .authentication(Authentication::x509_thumbprints("A1B2…", "C3D4…"))
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn create_device(&self, device_id: impl Into<String>) -> CreateDevice {
        CreateDevice {
            client: self.clone(),
            device: Device::new(device_id),
            options: RequestOptions::default(),
        }
    }

    /// Reads a device identity.
    pub fn get_device(&self, device_id: impl Into<String>) -> GetDevice {
        GetDevice {
            client: self.clone(),
            device_id: device_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Replaces a device identity with `device` (typically one you read and modified).
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// let d = hub.get_device("dev-1").send().await?;
    /// let d = hub.replace_device(d.with_status(false)).if_unchanged().send().await?;
    /// # Ok(()) }
    /// ```
    pub fn replace_device(&self, device: Device) -> ReplaceDevice {
        ReplaceDevice {
            client: self.clone(),
            device,
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Deletes a device identity.
    pub fn delete_device(&self, device_id: impl Into<String>) -> DeleteDevice {
        DeleteDevice {
            client: self.clone(),
            device_id: device_id.into(),
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Lists up to 1000 device identities.
    pub fn list_devices(&self) -> ListDevices {
        ListDevices {
            client: self.clone(),
            top: None,
            options: RequestOptions::default(),
        }
    }

    /// Creates a module identity on a device.
    pub fn create_module(
        &self,
        device_id: impl Into<String>,
        module_id: impl Into<String>,
    ) -> CreateModule {
        CreateModule {
            client: self.clone(),
            module: Module::new(device_id, module_id),
            options: RequestOptions::default(),
        }
    }

    /// Reads a module identity.
    pub fn get_module(
        &self,
        device_id: impl Into<String>,
        module_id: impl Into<String>,
    ) -> GetModule {
        GetModule {
            client: self.clone(),
            device_id: device_id.into(),
            module_id: module_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Replaces a module identity with `module`.
    pub fn replace_module(&self, module: Module) -> ReplaceModule {
        ReplaceModule {
            client: self.clone(),
            module,
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Deletes a module identity.
    pub fn delete_module(
        &self,
        device_id: impl Into<String>,
        module_id: impl Into<String>,
    ) -> DeleteModule {
        DeleteModule {
            client: self.clone(),
            device_id: device_id.into(),
            module_id: module_id.into(),
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Lists the module identities of a device.
    pub fn list_modules(&self, device_id: impl Into<String>) -> ListModules {
        ListModules {
            client: self.clone(),
            device_id: device_id.into(),
            options: RequestOptions::default(),
        }
    }
}
