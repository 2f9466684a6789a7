//! Component operations: get and update (JSON Patch) one component of a twin.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client::{DigitalTwinsClient, Versioned, api_version, etag_or, into_versioned};
use super::json_patch::JsonPatch;
use super::twin::validate_id;
use super::twins::{if_match_header, patch_body};
use crate::request::setters;
use crate::{Condition, ETag, Error, RequestOptions};

impl DigitalTwinsClient {
    /// Gets one component of a twin (`GET /digitaltwins/{id}/components/{component}`) with the
    /// twin's ETag.
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::{DigitalTwinsClient, BasicDigitalTwinComponent};
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let c = dt.get_component("room-1", "thermostat").send_as::<BasicDigitalTwinComponent>().await?;
    /// println!("{:?}", c.value.contents.get("setPoint"));
    /// # Ok(()) }
    /// ```
    pub fn get_component(
        &self,
        twin_id: impl Into<String>,
        component: impl Into<String>,
    ) -> GetComponent {
        GetComponent {
            client: self.clone(),
            twin_id: twin_id.into(),
            component: component.into(),
            options: RequestOptions::default(),
        }
    }

    /// Updates one component with a JSON Patch whose paths are relative to the component
    /// (`/setPoint`, not `/thermostat/setPoint`). Returns the twin's new ETag.
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::{DigitalTwinsClient, JsonPatch};
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// dt.update_component("room-1", "thermostat", JsonPatch::new().add("/setPoint", 19)).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn update_component(
        &self,
        twin_id: impl Into<String>,
        component: impl Into<String>,
        patch: JsonPatch,
    ) -> UpdateComponent {
        UpdateComponent {
            client: self.clone(),
            twin_id: twin_id.into(),
            component: component.into(),
            patch,
            condition: None,
            options: RequestOptions::default(),
        }
    }
}

/// Builder of [`DigitalTwinsClient::get_component`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct GetComponent {
    client: DigitalTwinsClient,
    twin_id: String,
    component: String,
    options: RequestOptions,
}

impl GetComponent {
    setters! { options; }

    /// Sends the request; returns the component as JSON with the twin's ETag.
    pub async fn send(self) -> Result<Versioned<Value>, Error> {
        self.send_as().await
    }

    /// Sends the request and decodes the component as `U`.
    pub async fn send_as<U: DeserializeOwned>(self) -> Result<Versioned<U>, Error> {
        validate_id("twin_id", &self.twin_id)?;
        validate_id("component", &self.component)?;
        let (id, c) = (self.twin_id.as_str(), self.component.as_str());
        let rv = self
            .client
            .call(&self.options, |raw| {
                raw.digital_twins_get_component(id, c, api_version(raw), None, None)
            })
            .await?;
        into_versioned(rv)
    }
}
crate::response::operation!(GetComponent => Versioned<Value>);

/// Builder of [`DigitalTwinsClient::update_component`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct UpdateComponent {
    client: DigitalTwinsClient,
    twin_id: String,
    component: String,
    patch: JsonPatch,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl UpdateComponent {
    setters! {
        /// Only apply if the twin's ETag is still `etag` (else 412).
        if_match;
        /// [`Condition::IfMatch`] or [`Condition::IfMatchAny`].
        condition;
        options;
    }

    /// Sends the patch; returns the twin's new ETag.
    pub async fn send(self) -> Result<ETag, Error> {
        validate_id("twin_id", &self.twin_id)?;
        validate_id("component", &self.component)?;
        self.patch.validate()?;
        let if_match = if_match_header("update_component", self.condition.as_ref())?;
        let body = patch_body(&self.patch);
        let (id, c) = (self.twin_id.as_str(), self.component.as_str());
        let resp = self
            .client
            .call(&self.options, |raw| {
                raw.digital_twins_update_component(
                    id,
                    c,
                    api_version(raw),
                    if_match.as_deref(),
                    None,
                    None,
                    &body,
                )
            })
            .await?;
        etag_or(resp.headers(), None)
    }
}
crate::response::operation!(UpdateComponent => ETag);
