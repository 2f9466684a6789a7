//! Automatic device/module management configurations and IoT Edge deployments.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value;

use super::identities::{document, if_match_header, if_unchanged};
use super::models::{
    Configuration, ConfigurationContent, ConfigurationQueriesTestResult, INVALID_CONTENT,
};
use super::{IotHubClient, api_version, validation};
use crate::raw::iothub::types::ConfigurationQueriesTestInput;
use crate::request::setters;
use crate::{Condition, Error, RequestOptions};

const CONTENT_SHAPE: &str = "must be a JSON object holding deviceContent, moduleContent or \
                             modulesContent, each a JSON object";

fn check_config(c: &Configuration) -> Result<(), Error> {
    validation::check_configuration_id(&c.id)?;
    if let Some(t) = &c.target_condition {
        validation::check_query("target_condition", t)?;
    }
    if c.extra.contains_key(INVALID_CONTENT) {
        return Err(Error::invalid_input("content", CONTENT_SHAPE));
    }
    Ok(())
}

/// Creates a configuration: [`IotHubClient::create_configuration`]. Fails with 409 if the id
/// is taken.
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct CreateConfiguration {
    client: IotHubClient,
    configuration: Configuration,
    options: RequestOptions,
}

impl CreateConfiguration {
    setters! { options; }

    /// Sends the request; returns the configuration with its ETag.
    pub async fn send(self) -> Result<Configuration, Error> {
        check_config(&self.configuration)?;
        // A create sends no etag (a copied configuration may still carry one).
        let body = match &self.configuration.etag {
            Some(_) => Cow::Owned(Configuration {
                etag: None,
                ..self.configuration.clone()
            }),
            None => Cow::Borrowed(&self.configuration),
        };
        let raw = &self.client.inner.raw;
        let rv = crate::pipeline::with_request_options(
            &self.options,
            raw.configuration_create_or_update(&body.id, api_version(raw), None, &body),
        )
        .await?;
        Ok(document(rv))
    }
}
crate::response::operation!(CreateConfiguration => Configuration);

/// Reads a configuration: [`IotHubClient::get_configuration`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct GetConfiguration {
    client: IotHubClient,
    id: String,
    options: RequestOptions,
}

impl GetConfiguration {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<Configuration, Error> {
        validation::check_configuration_id(&self.id)?;
        let raw = &self.client.inner.raw;
        let rv = crate::pipeline::with_request_options(
            &self.options,
            raw.configuration_get(&self.id, api_version(raw)),
        )
        .await?;
        Ok(document(rv))
    }
}
crate::response::operation!(GetConfiguration => Configuration);

/// Updates a configuration (its labels, priority, metrics; content and target condition are
/// fixed once created): [`IotHubClient::replace_configuration`]. Unconditional unless you set
/// a condition.
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct ReplaceConfiguration {
    client: IotHubClient,
    configuration: Configuration,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl ReplaceConfiguration {
    setters! {
        /// The write condition (default `If-Match: *`).
        condition;
        /// Only update if the configuration still has `etag`.
        if_match;
    }

    /// Only update if the configuration still has the ETag of the document passed in.
    pub fn if_unchanged(mut self) -> Self {
        self.condition = Some(if_unchanged(&self.configuration.etag));
        self
    }

    setters! { options; }

    /// Sends the request; returns the configuration with its new ETag.
    pub async fn send(self) -> Result<Configuration, Error> {
        check_config(&self.configuration)?;
        let condition = self.condition.unwrap_or(Condition::IfMatchAny);
        if matches!(condition, Condition::IfNoneMatchAny) {
            return Err(Error::invalid_input(
                "condition",
                "IfNoneMatchAny is not supported; use create_configuration",
            ));
        }
        if let Condition::IfMatch(e) = &condition
            && e.value().is_empty()
        {
            return Err(Error::invalid_input(
                "etag",
                "is empty: the document has no etag",
            ));
        }
        let if_match = if_match_header(&condition)?;
        let raw = &self.client.inner.raw;
        let rv = crate::pipeline::with_request_options(
            &self.options,
            raw.configuration_create_or_update(
                &self.configuration.id,
                api_version(raw),
                if_match,
                &self.configuration,
            ),
        )
        .await?;
        Ok(document(rv))
    }
}
crate::response::operation!(ReplaceConfiguration => Configuration);

/// Deletes a configuration: [`IotHubClient::delete_configuration`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct DeleteConfiguration {
    client: IotHubClient,
    id: String,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl DeleteConfiguration {
    setters! {
        /// The delete condition (default `If-Match: *`).
        condition;
        /// Only delete if the configuration still has `etag`.
        if_match;
        options;
    }

    /// Sends the request.
    pub async fn send(self) -> Result<(), Error> {
        validation::check_configuration_id(&self.id)?;
        let condition = self.condition.unwrap_or(Condition::IfMatchAny);
        if matches!(condition, Condition::IfNoneMatchAny) {
            return Err(Error::invalid_input(
                "condition",
                "IfNoneMatchAny is not supported here",
            ));
        }
        let if_match = if_match_header(&condition)?;
        let raw = &self.client.inner.raw;
        crate::pipeline::with_request_options(
            &self.options,
            raw.configuration_delete(&self.id, api_version(raw), if_match),
        )
        .await?;
        Ok(())
    }
}
crate::response::operation!(DeleteConfiguration => ());

/// Lists configurations (no paging; the hub holds at most a few hundred):
/// [`IotHubClient::list_configurations`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct ListConfigurations {
    client: IotHubClient,
    top: Option<u32>,
    options: RequestOptions,
}

impl ListConfigurations {
    setters! {
        /// The most configurations to return.
        top;
        options;
    }

    /// Sends the request.
    pub async fn send(self) -> Result<Vec<Configuration>, Error> {
        let top = match self.top {
            Some(0) => return Err(Error::invalid_input("top", "must be at least 1")),
            Some(n) => Some(i32::try_from(n).unwrap_or(i32::MAX)),
            None => None,
        };
        let raw = &self.client.inner.raw;
        Ok(crate::pipeline::with_request_options(
            &self.options,
            raw.configuration_get_configurations(api_version(raw), top),
        )
        .await?
        .into_inner())
    }
}
crate::response::operation!(ListConfigurations => Vec<Configuration>);

/// Checks a target condition and custom metric queries without creating anything:
/// [`IotHubClient::test_configuration_queries`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct TestConfigurationQueries {
    client: IotHubClient,
    target_condition: String,
    metrics: HashMap<String, String>,
    options: RequestOptions,
}

impl TestConfigurationQueries {
    /// Adds a custom metric query to test.
    pub fn custom_metric(mut self, name: impl Into<String>, query: impl Into<String>) -> Self {
        self.metrics.insert(name.into(), query.into());
        self
    }

    setters! { options; }

    /// Sends the request; errors in the queries are reported in the result, not as `Err`.
    pub async fn send(self) -> Result<ConfigurationQueriesTestResult, Error> {
        validation::check_query("target_condition", &self.target_condition)?;
        let body = ConfigurationQueriesTestInput {
            custom_metric_queries: self.metrics,
            target_condition: Some(self.target_condition),
        };
        let raw = &self.client.inner.raw;
        let mut result = crate::pipeline::with_request_options(
            &self.options,
            raw.configuration_test_queries(api_version(raw), &body),
        )
        .await?
        .into_inner();
        // The service sends "" for "no error".
        if result
            .target_condition_error
            .as_deref()
            .is_some_and(str::is_empty)
        {
            result.target_condition_error = None;
        }
        Ok(result)
    }
}
crate::response::operation!(TestConfigurationQueries => ConfigurationQueriesTestResult);

/// Applies configuration content (modules and routes) to one IoT Edge device:
/// [`IotHubClient::apply_configuration_on_edge`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct ApplyConfigurationOnEdge {
    client: IotHubClient,
    device_id: String,
    content: Value,
    options: RequestOptions,
}

impl ApplyConfigurationOnEdge {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<(), Error> {
        validation::check_device_id(&self.device_id)?;
        let content = ConfigurationContent::from_json(&self.content).ok_or_else(|| {
            Error::invalid_input(
                "content",
                "must be a JSON object such as {\"modulesContent\": {…}}",
            )
        })?;
        let raw = &self.client.inner.raw;
        crate::pipeline::with_request_options(
            &self.options,
            raw.configuration_apply_on_edge_device(&self.device_id, api_version(raw), &content),
        )
        .await?;
        Ok(())
    }
}
crate::response::operation!(ApplyConfigurationOnEdge => ());

impl IotHubClient {
    /// Creates a configuration.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use azure_twins::iothub::Configuration;
    /// use serde_json::json;
    /// let cfg = Configuration::new(
    ///     "fw-21",
    ///     "tags.site = 'berlin'",
    ///     10,
    ///     json!({ "deviceContent": { "properties.desired.fw": "2.1" } }),
    /// );
    /// let created = hub.create_configuration(cfg).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn create_configuration(&self, configuration: Configuration) -> CreateConfiguration {
        CreateConfiguration {
            client: self.clone(),
            configuration,
            options: RequestOptions::default(),
        }
    }

    /// Reads a configuration.
    pub fn get_configuration(&self, id: impl Into<String>) -> GetConfiguration {
        GetConfiguration {
            client: self.clone(),
            id: id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Updates a configuration with `configuration` (typically one you read and modified).
    pub fn replace_configuration(&self, configuration: Configuration) -> ReplaceConfiguration {
        ReplaceConfiguration {
            client: self.clone(),
            configuration,
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Deletes a configuration.
    pub fn delete_configuration(&self, id: impl Into<String>) -> DeleteConfiguration {
        DeleteConfiguration {
            client: self.clone(),
            id: id.into(),
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Lists configurations.
    pub fn list_configurations(&self) -> ListConfigurations {
        ListConfigurations {
            client: self.clone(),
            top: None,
            options: RequestOptions::default(),
        }
    }

    /// Tests a target condition (and custom metric queries).
    pub fn test_configuration_queries(
        &self,
        target_condition: impl Into<String>,
    ) -> TestConfigurationQueries {
        TestConfigurationQueries {
            client: self.clone(),
            target_condition: target_condition.into(),
            metrics: HashMap::new(),
            options: RequestOptions::default(),
        }
    }

    /// Applies configuration `content` (`{"modulesContent": {…}}`) to an IoT Edge device.
    pub fn apply_configuration_on_edge(
        &self,
        device_id: impl Into<String>,
        content: Value,
    ) -> ApplyConfigurationOnEdge {
        ApplyConfigurationOnEdge {
            client: self.clone(),
            device_id: device_id.into(),
            content,
            options: RequestOptions::default(),
        }
    }
}
