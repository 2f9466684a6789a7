//! Device and module identities in the identity registry.

use reqwest::Method;
use serde::de::DeserializeOwned;

use super::IotHubClient;
use super::http::{Req, Resp, seg, to_json};
use super::models::{Authentication, Configuration, Device, DeviceCapabilities, Module};
use super::validation;
use crate::request::setters;
use crate::{Condition, ETag, Error, RequestOptions};

/// A registry document (device, module, configuration) whose ETag the service also sends as a
/// header.
pub(super) trait RegistryDocument: DeserializeOwned {
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

/// Decodes a registry document; its ETag is the `ETag` header, else the body's `etag`.
pub(super) fn decode_document<T: RegistryDocument>(resp: &Resp) -> Result<T, Error> {
    let mut value: T = resp.json()?;
    if let Some(h) = ETag::from_headers(&resp.headers) {
        *value.etag_mut() = Some(h);
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
        self.device.capabilities = Some(DeviceCapabilities { iot_edge });
        self
    }

    setters! { options; }

    /// Creates the device; returns it with its keys and ETag.
    pub async fn send(self) -> Result<Device, Error> {
        validation::check_device_id(&self.device.device_id)?;
        let body = to_json("device", &self.device)?;
        let req = Req::new(
            Method::PUT,
            "devices_create_or_update_identity",
            format!("/devices/{}", seg(&self.device.device_id)),
        )
        .body(body);
        let resp = self.client.send_req(req, &self.options).await?;
        decode_document(&resp)
    }
}

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
        let req = Req::new(
            Method::GET,
            "devices_get_identity",
            format!("/devices/{}", seg(&self.device_id)),
        );
        let resp = self.client.send_req(req, &self.options).await?;
        decode_document(&resp)
    }
}

/// Replaces a device identity (status, authentication, capabilities):
/// [`IotHubClient::update_device`]. Unconditional (`If-Match: *`) unless you set a condition;
/// [`UpdateDevice::if_unchanged`] uses the ETag of the document you pass.
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct UpdateDevice {
    client: IotHubClient,
    device: Device,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl UpdateDevice {
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
        let body = to_json("device", &self.device)?;
        let req = Req::new(
            Method::PUT,
            "devices_create_or_update_identity",
            format!("/devices/{}", seg(&self.device.device_id)),
        )
        .condition(Some(&condition))?
        .body(body);
        let resp = self.client.send_req(req, &self.options).await?;
        decode_document(&resp)
    }
}

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
        let req = Req::new(
            Method::DELETE,
            "devices_delete_identity",
            format!("/devices/{}", seg(&self.device_id)),
        )
        .condition(Some(&condition))?;
        self.client.send_req(req, &self.options).await?;
        Ok(())
    }
}

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
        let mut req = Req::new(Method::GET, "devices_get_devices", "/devices".into());
        if let Some(n) = self.top {
            if !(1..=1000).contains(&n) {
                return Err(Error::invalid_input("top", "must be between 1 and 1000"));
            }
            req = req.query("top", n);
        }
        self.client.send_req(req, &self.options).await?.json()
    }
}

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
        let body = to_json("module", &self.module)?;
        let req = Req::new(
            Method::PUT,
            "modules_create_or_update_identity",
            module_path(&self.module.device_id, &self.module.module_id),
        )
        .body(body);
        let resp = self.client.send_req(req, &self.options).await?;
        decode_document(&resp)
    }
}

fn module_path(device_id: &str, module_id: &str) -> String {
    format!("/devices/{}/modules/{}", seg(device_id), seg(module_id))
}

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
        let req = Req::new(
            Method::GET,
            "modules_get_identity",
            module_path(&self.device_id, &self.module_id),
        );
        let resp = self.client.send_req(req, &self.options).await?;
        decode_document(&resp)
    }
}

/// Replaces a module identity: [`IotHubClient::update_module`]. Unconditional unless you set a
/// condition.
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct UpdateModule {
    client: IotHubClient,
    module: Module,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl UpdateModule {
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
        let body = to_json("module", &self.module)?;
        let req = Req::new(
            Method::PUT,
            "modules_create_or_update_identity",
            module_path(&self.module.device_id, &self.module.module_id),
        )
        .condition(Some(&condition))?
        .body(body);
        let resp = self.client.send_req(req, &self.options).await?;
        decode_document(&resp)
    }
}

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
        let req = Req::new(
            Method::DELETE,
            "modules_delete_identity",
            module_path(&self.device_id, &self.module_id),
        )
        .condition(Some(&condition))?;
        self.client.send_req(req, &self.options).await?;
        Ok(())
    }
}

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
        let req = Req::new(
            Method::GET,
            "modules_get_modules_on_device",
            format!("/devices/{}/modules", seg(&self.device_id)),
        );
        self.client.send_req(req, &self.options).await?.json()
    }
}

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
    /// let d = hub.update_device(d.with_status(false)).if_unchanged().send().await?;
    /// # Ok(()) }
    /// ```
    pub fn update_device(&self, device: Device) -> UpdateDevice {
        UpdateDevice {
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
    pub fn update_module(&self, module: Module) -> UpdateModule {
        UpdateModule {
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
