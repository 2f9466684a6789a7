//! Direct methods on devices and modules (`POST /twins/{id}[/modules/{mid}]/methods`).

use std::time::Duration;

use serde::Serialize;

use super::jobs::DeviceMethod;
use super::models::MethodResponse;
use super::{IotHubClient, api_version, validation};
use crate::request::setters;
use crate::{Error, RequestOptions};

/// Invokes a direct method and waits for the device's answer:
/// [`IotHubClient::invoke_device_method`], [`IotHubClient::invoke_module_method`].
///
/// A method has side effects on the device, so a failed call is **not retried** unless you opt
/// in with `RequestOptions::default().retry_non_idempotent(true)`. A device that is offline or
/// has no handler for the method fails with 404 `DeviceNotOnline`
/// ([`Error::error_code`]). The device's own status code is in `MethodResponse::status`.
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct InvokeMethod {
    client: IotHubClient,
    device_id: String,
    module_id: Option<String>,
    method: DeviceMethod,
    options: RequestOptions,
}

impl InvokeMethod {
    /// The payload (any `Serialize`; `null` by default; up to 128 KB of JSON).
    pub fn payload(mut self, payload: impl Serialize) -> Self {
        self.method = self.method.payload(payload);
        self
    }

    /// How long the service waits for the device's answer (5–300 s; service default 30 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.method = self.method.response_timeout(timeout);
        self
    }

    /// How long the service waits for a disconnected device to connect (0–300 s; default 0).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.method = self.method.connect_timeout(timeout);
        self
    }

    setters! {
        /// Per-call options; e.g. `retry_non_idempotent(true)` to allow retries.
        options;
    }

    /// Invokes the method; returns the device's status and payload.
    pub async fn send(self) -> Result<MethodResponse, Error> {
        validation::check_device_id(&self.device_id)?;
        if let Some(m) = &self.module_id {
            validation::check_module_id(m)?;
        }
        let body = self.method.to_body()?;
        let mut options = self.options;
        if options.timeout.is_none() {
            // The service holds the request open until the device answers or its timeouts
            // pass; give the HTTP attempt that long plus a margin.
            options.timeout = Some(self.method.service_wait() + Duration::from_secs(15));
        }
        let raw = &self.client.inner.raw;
        let id = self.device_id.as_str();
        let call = async {
            match self.module_id.as_deref() {
                Some(m) => {
                    raw.modules_invoke_method(id, m, api_version(raw), &body)
                        .await
                }
                None => raw.devices_invoke_method(id, api_version(raw), &body).await,
            }
        };
        Ok(crate::pipeline::with_request_options(&options, call)
            .await?
            .into_inner())
    }
}
crate::response::operation!(InvokeMethod => MethodResponse);

impl IotHubClient {
    /// Invokes direct method `method_name` on a device.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use serde_json::json;
    /// use std::time::Duration;
    /// let r = hub.invoke_device_method("dev-1", "reboot")
    ///     .payload(json!({ "delay": 5 }))
    ///     .response_timeout(Duration::from_secs(30))
    ///     .send()
    ///     .await?;
    /// println!("device answered {:?} {:?}", r.status, r.payload);
    /// # Ok(()) }
    /// ```
    pub fn invoke_device_method(
        &self,
        device_id: impl Into<String>,
        method_name: impl Into<String>,
    ) -> InvokeMethod {
        InvokeMethod {
            client: self.clone(),
            device_id: device_id.into(),
            module_id: None,
            method: DeviceMethod::new(method_name),
            options: RequestOptions::default(),
        }
    }

    /// Invokes direct method `method_name` on a module.
    pub fn invoke_module_method(
        &self,
        device_id: impl Into<String>,
        module_id: impl Into<String>,
        method_name: impl Into<String>,
    ) -> InvokeMethod {
        InvokeMethod {
            client: self.clone(),
            device_id: device_id.into(),
            module_id: Some(module_id.into()),
            method: DeviceMethod::new(method_name),
            options: RequestOptions::default(),
        }
    }
}
