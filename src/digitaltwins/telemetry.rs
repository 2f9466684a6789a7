//! Telemetry: publish a message on behalf of a twin or one of its components.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::client::{DigitalTwinsClient, api_version, to_body};
use super::twin::validate_id;
use super::twins::object;
use crate::request::setters;
use crate::{Error, RequestOptions};

impl DigitalTwinsClient {
    /// Publishes telemetry for a twin (`POST /digitaltwins/{id}/telemetry`); the service routes
    /// it to event routes, it does not store it.
    ///
    /// The `Message-Id` (used by consumers to de-duplicate) defaults to a fresh UUID; set your own
    /// with `.message_id(…)`. Telemetry is **not retried** by default, because a retry after a
    /// lost response would publish twice: opt in with
    /// `RequestOptions::default().retry_non_idempotent(true)` when duplicates are harmless.
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::DigitalTwinsClient;
    /// # use serde_json::json;
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let id = dt.send_telemetry("room-1", json!({"temperature": 21.7}))
    ///     .source_time(chrono::Utc::now())
    ///     .send()
    ///     .await?;
    /// println!("sent message {id}");
    /// # Ok(()) }
    /// ```
    pub fn send_telemetry(
        &self,
        twin_id: impl Into<String>,
        payload: impl Serialize,
    ) -> SendTelemetry {
        SendTelemetry {
            client: self.clone(),
            twin_id: twin_id.into(),
            component: None,
            body: to_body("payload", payload),
            message_id: None,
            source_time: None,
            options: RequestOptions::default(),
        }
    }

    /// Publishes telemetry for a component of a twin
    /// (`POST /digitaltwins/{id}/components/{component}/telemetry`). Same rules as
    /// [`send_telemetry`](Self::send_telemetry).
    pub fn send_component_telemetry(
        &self,
        twin_id: impl Into<String>,
        component: impl Into<String>,
        payload: impl Serialize,
    ) -> SendTelemetry {
        let mut b = self.send_telemetry(twin_id, payload);
        b.component = Some(component.into());
        b
    }
}

/// Builder of [`DigitalTwinsClient::send_telemetry`] and
/// [`DigitalTwinsClient::send_component_telemetry`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct SendTelemetry {
    client: DigitalTwinsClient,
    twin_id: String,
    component: Option<String>,
    body: Result<Value, Error>,
    message_id: Option<String>,
    source_time: Option<DateTime<Utc>>,
    options: RequestOptions,
}

impl SendTelemetry {
    /// The `Message-Id` header (a fresh UUID when not set).
    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// When the telemetry was observed (`Telemetry-Source-Time`, RFC 3339).
    pub fn source_time(mut self, time: DateTime<Utc>) -> Self {
        self.source_time = Some(time);
        self
    }

    setters! {
        /// Per-call options; see the note on retries in
        /// [`DigitalTwinsClient::send_telemetry`].
        options;
    }

    /// Sends the message; returns the `Message-Id` used.
    pub async fn send(self) -> Result<String, Error> {
        validate_id("twin_id", &self.twin_id)?;
        if let Some(c) = &self.component {
            validate_id("component", c)?;
        }
        let message_id = match self.message_id {
            Some(m) => {
                validate_id("message_id", &m)?;
                m
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let body = self.body?;
        if !body.is_object() {
            return Err(Error::invalid_input(
                "payload",
                "must serialise to a JSON object (the service takes telemetry as an object)",
            ));
        }
        let map = object(body);
        let source_time = self
            .source_time
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
        let id = self.twin_id.as_str();
        let mid = message_id.as_str();
        let st = source_time.as_deref();
        match self.component.as_deref() {
            None => {
                self.client
                    .call(&self.options, |raw| {
                        raw.digital_twins_send_telemetry(
                            id,
                            api_version(raw),
                            mid,
                            st,
                            None,
                            None,
                            &map,
                        )
                    })
                    .await?;
            }
            Some(c) => {
                self.client
                    .call(&self.options, |raw| {
                        raw.digital_twins_send_component_telemetry(
                            id,
                            c,
                            api_version(raw),
                            mid,
                            st,
                            None,
                            None,
                            &map,
                        )
                    })
                    .await?;
            }
        }
        Ok(message_id)
    }
}
crate::response::operation!(SendTelemetry => String);
