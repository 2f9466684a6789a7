//! Cloud-to-device message queues: the per-device queue an in-process API fills (as a back end
//! sending messages over AMQP would) and `DELETE /devices/{id}/commands` purges.

use super::error::HubError;
use super::{Hub, HubInner, IotHubService, json};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};

/// The most messages one device queue holds (the service's documented queue depth is 50).
pub const MAX_QUEUE_DEPTH: usize = 50;

/// A cloud-to-device message waiting for its device.
#[derive(Debug, Clone, PartialEq)]
pub struct C2dMessage {
    /// `message-id`.
    pub message_id: String,
    /// The message body.
    pub body: Value,
}

/// Every device's queue, by device id.
#[derive(Debug, Default)]
pub(crate) struct C2dState {
    pub queues: BTreeMap<String, VecDeque<C2dMessage>>,
}

impl HubInner {
    fn c2d(&self) -> std::sync::MutexGuard<'_, C2dState> {
        self.c2d.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `DELETE /devices/{id}/commands`: empties the queue; 404 `DeviceNotFound` for an unknown device.
pub(crate) async fn purge(
    State(hub): State<Hub>,
    Path(id): Path<String>,
) -> Result<Response, HubError> {
    super::validate::id("id", &id)?;
    hub.read().device(&id)?;
    let purged = hub.c2d().queues.remove(&id).map_or(0, |q| q.len());
    Ok(json(
        StatusCode::OK,
        &json!({"deviceId": id, "moduleId": null, "totalMessagesPurged": purged}),
        None,
    ))
}

impl IotHubService {
    /// Enqueues a cloud-to-device message for `device_id`, as a back end sending one would.
    /// Fails when the device does not exist or its queue holds [`MAX_QUEUE_DEPTH`] messages.
    pub fn enqueue_c2d_message(
        &self,
        device_id: &str,
        message_id: &str,
        body: Value,
    ) -> Result<(), String> {
        if !self.inner.read().devices.contains_key(device_id) {
            return Err(format!("device '{device_id}' is not registered"));
        }
        let mut st = self.inner.c2d();
        let q = st.queues.entry(device_id.to_string()).or_default();
        if q.len() >= MAX_QUEUE_DEPTH {
            return Err(format!(
                "the queue of device '{device_id}' is full ({MAX_QUEUE_DEPTH} messages)"
            ));
        }
        q.push_back(C2dMessage {
            message_id: message_id.to_string(),
            body,
        });
        Ok(())
    }

    /// The messages waiting for `device_id`, oldest first.
    pub fn c2d_messages(&self, device_id: &str) -> Vec<C2dMessage> {
        self.inner
            .c2d()
            .queues
            .get(device_id)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }
}
