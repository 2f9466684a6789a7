//! Registry and service statistics.

use reqwest::Method;

use super::IotHubClient;
use super::http::Req;
use super::models::{RegistryStatistics, ServiceStatistics};
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
        let req = Req::new(
            Method::GET,
            "statistics_get_device_statistics",
            "/statistics/devices".into(),
        );
        self.client.send_req(req, &self.options).await?.json()
    }
}

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
        let req = Req::new(
            Method::GET,
            "statistics_get_service_statistics",
            "/statistics/service".into(),
        );
        self.client.send_req(req, &self.options).await?.json()
    }
}

impl IotHubClient {
    /// Device counts (total, enabled, disabled).
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// let s = hub.get_device_statistics().send().await?;
    /// println!("{} devices, {} disabled", s.total_device_count, s.disabled_device_count);
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
