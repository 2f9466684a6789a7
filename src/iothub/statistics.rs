//! Registry and service statistics.

use super::models::{RegistryStatistics, ServiceStatistics};
use super::{IotHubClient, api_version};
use crate::request::setters;
use crate::{Error, RequestOptions};

/// Reads device counts of the identity registry: [`IotHubClient::get_device_statistics`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct GetDeviceStatistics {
    client: IotHubClient,
    options: RequestOptions,
}

impl GetDeviceStatistics {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<RegistryStatistics, Error> {
        let raw = &self.client.inner.raw;
        let rv = crate::pipeline::with_request_options(
            &self.options,
            raw.statistics_get_device_statistics(api_version(raw)),
        )
        .await?;
        Ok(rv.into_inner())
    }
}
crate::response::operation!(GetDeviceStatistics => RegistryStatistics);

/// Reads service statistics (connected devices): [`IotHubClient::get_service_statistics`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct GetServiceStatistics {
    client: IotHubClient,
    options: RequestOptions,
}

impl GetServiceStatistics {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<ServiceStatistics, Error> {
        let raw = &self.client.inner.raw;
        let rv = crate::pipeline::with_request_options(
            &self.options,
            raw.statistics_get_service_statistics(api_version(raw)),
        )
        .await?;
        Ok(rv.into_inner())
    }
}
crate::response::operation!(GetServiceStatistics => ServiceStatistics);

impl IotHubClient {
    /// Device counts (total, enabled, disabled).
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// let s = hub.get_device_statistics().send().await?;
    /// println!(
    ///     "{} devices, {} disabled",
    ///     s.total_device_count.unwrap_or(0),
    ///     s.disabled_device_count.unwrap_or(0)
    /// );
    /// # Ok(()) }
    /// ```
    pub fn get_device_statistics(&self) -> GetDeviceStatistics {
        GetDeviceStatistics {
            client: self.clone(),
            options: RequestOptions::default(),
        }
    }

    /// Service statistics (connected device count).
    pub fn get_service_statistics(&self) -> GetServiceStatistics {
        GetServiceStatistics {
            client: self.clone(),
            options: RequestOptions::default(),
        }
    }
}
