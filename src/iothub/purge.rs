//! Purging a device's cloud-to-device message queue (`DELETE /devices/{id}/commands`).

use super::models::PurgeMessageQueueResult;
use super::{IotHubClient, api_version, validation};
use crate::request::setters;
use crate::{Error, RequestOptions};

/// Deletes every cloud-to-device message still waiting for a device:
/// [`IotHubClient::purge_cloud_to_device_queue`].
///
/// Idempotent (a second purge removes nothing more), so it is retried like other deletes.
/// An unknown device fails with [`Error::is_not_found`] (`DeviceNotFound`).
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct PurgeCloudToDeviceQueue {
    client: IotHubClient,
    device_id: String,
    options: RequestOptions,
}

impl PurgeCloudToDeviceQueue {
    setters! { options; }

    /// Checks the device id and purges the queue; returns how many messages were removed.
    pub async fn send(self) -> Result<PurgeMessageQueueResult, Error> {
        validation::check_device_id(&self.device_id)?;
        let raw = &self.client.inner.raw;
        let id = self.device_id.as_str();
        Ok(crate::pipeline::with_request_options(&self.options, async {
            raw.cloud_to_device_messages_purge_cloud_to_device_message_queue(id, api_version(raw))
                .await
        })
        .await?
        .into_inner())
    }
}
crate::response::operation!(PurgeCloudToDeviceQueue => PurgeMessageQueueResult);

impl IotHubClient {
    /// Purges the cloud-to-device message queue of a device.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// let r = hub.purge_cloud_to_device_queue("dev-1").send().await?;
    /// println!("removed {} messages", r.purged());
    /// # Ok(()) }
    /// ```
    pub fn purge_cloud_to_device_queue(
        &self,
        device_id: impl Into<String>,
    ) -> PurgeCloudToDeviceQueue {
        PurgeCloudToDeviceQueue {
            client: self.clone(),
            device_id: device_id.into(),
            options: RequestOptions::default(),
        }
    }
}
