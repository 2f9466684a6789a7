//! IoT Plug and Play digital twins on the hub (`/digitaltwins/{id}`): read a device's digital
//! twin, update it with JSON Patch, and invoke its root-level and component commands.
//!
//! A PnP device's digital twin is the hub's view of its device twin by the PnP conventions:
//! reported values at the root and in components, and per property `$metadata` with the
//! desired value and version and the device's acknowledgement. A patch writes desired
//! properties (`/prop` or `/component/prop`); a command reaches the device as direct method
//! `command` (root) or `component*command` (component).

use std::time::Duration;

use progenitor_client::ResponseValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::jobs::DeviceMethod;
use super::{IotHubClient, api_version, validation};
#[cfg(feature = "digitaltwins")]
use crate::Condition;
use crate::request::setters;
use crate::{ETag, Error, ErrorKind, RequestOptions, Versioned};

/// Longest DTDL name (component or command), in characters.
pub const MAX_DTDL_NAME_LEN: usize = 64;

/// Checks a DTDL name (a component or command name; `field` names it in the error): a letter,
/// then letters, digits or `_`, not ending in `_`, at most [`MAX_DTDL_NAME_LEN`] characters.
pub fn check_dtdl_name(field: &'static str, name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::invalid_input(field, "must not be empty"));
    }
    let n = name.chars().count();
    if n > MAX_DTDL_NAME_LEN {
        return Err(Error::invalid_input(
            field,
            format!("is {n} characters long; DTDL names are at most {MAX_DTDL_NAME_LEN}"),
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(Error::invalid_input(
            field,
            format!("{name:?} must start with an ASCII letter (DTDL name rule)"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(Error::invalid_input(
            field,
            format!("{name:?} contains {c:?}; DTDL names are ASCII letters, digits and '_'"),
        ));
    }
    if name.ends_with('_') {
        return Err(Error::invalid_input(
            field,
            format!("{name:?} must not end with '_' (DTDL name rule)"),
        ));
    }
    Ok(())
}

impl Error {
    /// True when the device is not connected (or not listening for commands or methods): 404
    /// `DeviceNotOnline` from a PnP command or a direct method.
    pub fn is_device_not_online(&self) -> bool {
        self.error_code() == Some("DeviceNotOnline")
    }
}

/// Reads a device's digital twin: [`IotHubClient::get_digital_twin`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct GetDigitalTwin {
    client: IotHubClient,
    device_id: String,
    options: RequestOptions,
}

fn digital_twin_etag(
    rv: ResponseValue<Map<String, Value>>,
) -> Result<Versioned<Map<String, Value>>, Error> {
    let etag = ETag::from_headers(rv.headers()).ok_or_else(|| {
        Error::new(
            ErrorKind::DataConversion,
            "the digital twin response carried no ETag header",
        )
    })?;
    Ok(Versioned {
        value: rv.into_inner(),
        etag,
    })
}

impl GetDigitalTwin {
    setters! { options; }

    /// Sends the request; returns the digital twin (`$dtId`, `$metadata` with `$model`,
    /// properties, components) and its ETag.
    pub async fn send(self) -> Result<Versioned<Map<String, Value>>, Error> {
        validation::check_device_id(&self.device_id)?;
        let raw = &self.client.inner.raw;
        let id = self.device_id.as_str();
        let reply = crate::pipeline::with_request_options(&self.options, async {
            raw.digital_twin_get_digital_twin(id, api_version(raw))
                .await
        })
        .await?;
        digital_twin_etag(reply)
    }

    /// Like [`GetDigitalTwin::send`], decoding the digital twin as `T`.
    pub async fn send_as<T: DeserializeOwned>(self) -> Result<Versioned<T>, Error> {
        let v = self.send().await?;
        let value = serde_json::from_value(Value::Object(v.value)).map_err(|e| {
            Error::new(
                ErrorKind::DataConversion,
                "the digital twin did not match the requested type",
            )
            .with_source(e)
        })?;
        Ok(Versioned {
            value,
            etag: v.etag,
        })
    }
}
crate::response::operation!(GetDigitalTwin => Versioned<Map<String, Value>>);

/// Updates a device's digital twin with JSON Patch: [`IotHubClient::update_digital_twin`].
///
/// The patch is checked before sending: the JSON Patch rules of
/// [`JsonPatch::validate`](crate::digitaltwins::JsonPatch::validate), and the hub's rule that
/// only properties and component properties are writable (no `$`-segments such as
/// `/$metadata/...`). Without a condition the update is unconditional (no `If-Match`) and,
/// like any unconditional PATCH, not retried after a possibly-applied attempt.
#[cfg(feature = "digitaltwins")]
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct UpdateDigitalTwin {
    client: IotHubClient,
    device_id: String,
    patch: crate::digitaltwins::JsonPatch,
    condition: Option<Condition>,
    options: RequestOptions,
}

#[cfg(feature = "digitaltwins")]
impl UpdateDigitalTwin {
    setters! {
        /// [`Condition::IfMatch`] (optimistic concurrency) or [`Condition::IfMatchAny`].
        condition;
        /// Only update if the digital twin still has `etag` (else 412, see
        /// [`Error::is_precondition_failed`]).
        if_match;
        options;
    }

    /// The generated request body: the patch's operations as JSON objects, after the checks.
    fn body(&self) -> Result<Vec<Map<String, Value>>, Error> {
        validation::check_device_id(&self.device_id)?;
        self.patch.validate()?;
        for (i, op) in self.patch.operations().iter().enumerate() {
            let segments = op.path().segments()?;
            if let Some(s) = segments.iter().find(|s| s.starts_with('$')) {
                return Err(Error::invalid_input(
                    format!("patch[{i}].path"),
                    format!(
                        "{:?} names {s:?}: on an IoT Hub digital twin only properties (\"/prop\") and component properties (\"/component/prop\") are writable",
                        op.path().as_str()
                    ),
                ));
            }
        }
        if matches!(self.condition, Some(Condition::IfNoneMatchAny)) {
            return Err(Error::invalid_input(
                "condition",
                "a digital twin exists while its device exists; use IfMatch(etag) or IfMatchAny",
            ));
        }
        match self.patch.to_value() {
            Value::Array(ops) => Ok(ops
                .into_iter()
                .filter_map(|op| match op {
                    Value::Object(m) => Some(m),
                    _ => None,
                })
                .collect()),
            _ => Err(Error::new(
                ErrorKind::DataConversion,
                "the patch did not serialise to an array",
            )),
        }
    }

    /// Checks and sends the patch; returns the digital twin's new ETag (`None` if the service
    /// sent no `ETag` header).
    pub async fn send(self) -> Result<Option<ETag>, Error> {
        let body = self.body()?;
        let raw = &self.client.inner.raw;
        let id = self.device_id.as_str();
        let if_match = self.condition.as_ref().and_then(Condition::if_match);
        let reply = crate::pipeline::with_request_options(&self.options, async {
            raw.digital_twin_update_digital_twin(id, api_version(raw), if_match, &body)
                .await
        })
        .await?;
        Ok(ETag::from_headers(reply.headers()))
    }
}
#[cfg(feature = "digitaltwins")]
crate::response::operation!(UpdateDigitalTwin => Option<ETag>);

/// The device's answer to a PnP command: the status it chose (`x-ms-command-statuscode`) and
/// its response payload.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommandResponse {
    /// The device's status code; `None` when the service sent no `x-ms-command-statuscode`.
    pub status: Option<i32>,
    /// The device's response payload: any JSON value the device answered (`null` when it sent
    /// none).
    pub payload: Value,
    /// The service's `x-ms-request-id`, when sent.
    pub request_id: Option<String>,
}

impl CommandResponse {
    /// The status a PnP device SDK answers for a command it has no handler for (the .NET
    /// device SDK's `MethodNotImplemented`).
    pub const NOT_IMPLEMENTED: i32 = 501;

    /// True when the device answered with a 2xx status.
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// True when the device does not implement the command (status 501).
    pub fn is_unknown_command(&self) -> bool {
        self.status == Some(Self::NOT_IMPLEMENTED)
    }

    /// The payload as `T`.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(T::deserialize(&self.payload)?)
    }

    fn from_reply(rv: ResponseValue<Value>) -> Self {
        let header = |name: &str| {
            rv.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = header("x-ms-command-statuscode").and_then(|s| s.trim().parse().ok());
        let request_id = header("x-ms-request-id");
        CommandResponse {
            status,
            payload: rv.into_inner(),
            request_id,
        }
    }
}

/// Invokes a PnP command and waits for the device's answer:
/// [`IotHubClient::invoke_command`], [`IotHubClient::invoke_component_command`].
///
/// A command has side effects on the device, so a failed call is **not retried** unless you opt
/// in with `RequestOptions::default().retry_non_idempotent(true)`. A device that is offline
/// fails with 404 `DeviceNotOnline` ([`Error::is_device_not_online`]); a connected device that
/// does not implement the command answers status 501 ([`CommandResponse::is_unknown_command`]).
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct InvokeCommand {
    client: IotHubClient,
    device_id: String,
    component: Option<String>,
    command: String,
    method: DeviceMethod,
    has_payload: bool,
    options: RequestOptions,
}

impl InvokeCommand {
    /// The request payload: any `Serialize` (a DTDL command's request schema may be an object,
    /// an array or a scalar such as a `dateTime` string), sent as it serialises, up to 128 KB of
    /// JSON; `{}` when not set.
    pub fn payload(mut self, payload: impl Serialize) -> Self {
        self.method = self.method.payload(payload);
        self.has_payload = true;
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

    /// Checks the ids, names, payload and timeouts, invokes the command and returns the
    /// device's status and payload.
    pub async fn send(mut self) -> Result<CommandResponse, Error> {
        validation::check_device_id(&self.device_id)?;
        if let Some(c) = &self.component {
            check_dtdl_name("component_name", c)?;
        }
        check_dtdl_name("command_name", &self.command)?;
        if !self.has_payload {
            self.method = self.method.payload(Value::Object(Map::new()));
        }
        let checked = self.method.to_body()?;
        // Any JSON (fixup `iothub_pnp_command_payloads_any_json`): a DTDL command's request
        // schema may be a scalar, an array or an object.
        let payload = checked.payload.unwrap_or_else(|| Value::Object(Map::new()));
        let mut options = self.options;
        if options.timeout.is_none() {
            // The service holds the request open until the device answers or its timeouts
            // pass; give the HTTP attempt that long plus a margin.
            options.timeout = Some(self.method.service_wait() + Duration::from_secs(15));
        }
        let raw = &self.client.inner.raw;
        let id = self.device_id.as_str();
        let command = self.command.as_str();
        let connect = checked.connect_timeout_in_seconds;
        let response = checked.response_timeout_in_seconds;
        let reply = crate::pipeline::with_request_options(&options, async {
            match self.component.as_deref() {
                Some(c) => {
                    raw.digital_twin_invoke_component_command(
                        id,
                        c,
                        command,
                        api_version(raw),
                        connect,
                        response,
                        &payload,
                    )
                    .await
                }
                None => {
                    raw.digital_twin_invoke_root_level_command(
                        id,
                        command,
                        api_version(raw),
                        connect,
                        response,
                        &payload,
                    )
                    .await
                }
            }
        })
        .await?;
        Ok(CommandResponse::from_reply(reply))
    }
}
crate::response::operation!(InvokeCommand => CommandResponse);

impl IotHubClient {
    /// Reads the IoT Plug and Play digital twin of a device.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// let dt = hub.get_digital_twin("thermostat-1").send().await?;
    /// println!("model {:?}, etag {}", dt.value["$metadata"]["$model"], dt.etag);
    /// # Ok(()) }
    /// ```
    pub fn get_digital_twin(&self, device_id: impl Into<String>) -> GetDigitalTwin {
        GetDigitalTwin {
            client: self.clone(),
            device_id: device_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Updates the IoT Plug and Play digital twin of a device with a JSON Patch (writes desired
    /// properties: `/prop`, `/component/prop`). Needs the `digitaltwins` feature (for
    /// [`JsonPatch`](crate::digitaltwins::JsonPatch)).
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use azure_twins::digitaltwins::JsonPatch;
    /// let dt = hub.get_digital_twin("thermostat-1").send().await?;
    /// hub.update_digital_twin("thermostat-1", JsonPatch::new().add("/targetTemperature", 21.5))
    ///     .if_match(dt.etag)
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "digitaltwins")]
    pub fn update_digital_twin(
        &self,
        device_id: impl Into<String>,
        patch: crate::digitaltwins::JsonPatch,
    ) -> UpdateDigitalTwin {
        UpdateDigitalTwin {
            client: self.clone(),
            device_id: device_id.into(),
            patch,
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Invokes root-level command `command_name` of a device's PnP model.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use serde_json::json;
    /// let r = hub.invoke_command("thermostat-1", "reboot")
    ///     .payload(json!({ "delay": 5 }))
    ///     .send()
    ///     .await?;
    /// println!("device answered {:?}: {}", r.status, r.payload);
    /// # Ok(()) }
    /// ```
    pub fn invoke_command(
        &self,
        device_id: impl Into<String>,
        command_name: impl Into<String>,
    ) -> InvokeCommand {
        self.command(device_id.into(), None, command_name.into())
    }

    /// Invokes command `command_name` of component `component_name` (the device sees method
    /// `component_name*command_name`).
    pub fn invoke_component_command(
        &self,
        device_id: impl Into<String>,
        component_name: impl Into<String>,
        command_name: impl Into<String>,
    ) -> InvokeCommand {
        self.command(
            device_id.into(),
            Some(component_name.into()),
            command_name.into(),
        )
    }

    fn command(
        &self,
        device_id: String,
        component: Option<String>,
        command: String,
    ) -> InvokeCommand {
        let method_name = match &component {
            Some(c) => format!("{c}*{command}"),
            None => command.clone(),
        };
        InvokeCommand {
            client: self.clone(),
            device_id,
            component,
            command,
            method: DeviceMethod::new(method_name),
            has_payload: false,
            options: RequestOptions::default(),
        }
    }
}
