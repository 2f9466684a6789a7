//! Cloud-to-device message queues and their feedback.
//!
//! * The per-device queue an in-process API fills (as a back end sending messages over AMQP
//!   would) and `DELETE /devices/{id}/commands` purges.
//! * Devices settle messages through the in-process API (complete, reject, or let them expire);
//!   a message sent with an `iothub-ack` request produces a feedback record
//!   (`originalMessageId`, `deviceId`, `deviceGenerationId`, `statusCode`, `description`,
//!   `enqueuedTimeUtc`; status `Success`, `Rejected`, `Expired`, `Purged`).
//! * `GET /messages/serviceBound/feedback` hands out pending records as one batch (a JSON array
//!   of up to [`MAX_BATCH_RECORDS`]) under a lock (the lock token is the `ETag` header); `DELETE
//!   …/feedback/{lockToken}` completes the batch, `POST …/{lockToken}/abandon` returns it for
//!   redelivery. A batch whose lock expired is redelivered too; after
//!   [`MAX_DELIVERY_COUNT`] deliveries it is dropped (dead-lettered). 204 when nothing is pending.

use super::error::HubError;
use super::{Hub, HubInner, IotHubService, json};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The most messages one device queue holds (the service's documented queue depth is 50).
pub const MAX_QUEUE_DEPTH: usize = 50;

/// Most feedback records in one batch.
pub const MAX_BATCH_RECORDS: usize = 64;
/// Deliveries of a feedback batch before it is dropped.
pub const MAX_DELIVERY_COUNT: u32 = 10;
/// Default lock duration of a received feedback batch.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Which outcomes of a message produce feedback (`iothub-ack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum C2dAck {
    /// `none`: no feedback (the service's default).
    #[default]
    None,
    /// `positive`: feedback when the device completes the message.
    Positive,
    /// `negative`: feedback when the message is rejected, expires or is purged.
    Negative,
    /// `full`: both.
    Full,
}

impl C2dAck {
    fn wants(self, status: &str) -> bool {
        match self {
            C2dAck::None => false,
            C2dAck::Positive => status == "Success",
            C2dAck::Negative => status != "Success",
            C2dAck::Full => true,
        }
    }
}

/// A cloud-to-device message waiting for its device.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct C2dMessage {
    /// `message-id`.
    pub message_id: String,
    /// The message body.
    pub body: Value,
    /// Which outcomes produce feedback.
    pub ack: C2dAck,
}

/// A batch of feedback records, as one feedback message.
#[derive(Debug, Clone)]
struct Batch {
    message_id: String,
    enqueued: String,
    records: Vec<Value>,
    deliveries: u32,
}

/// Every device's queue, by device id, and the feedback queue.
#[derive(Debug)]
pub(crate) struct C2dState {
    pub queues: BTreeMap<String, VecDeque<C2dMessage>>,
    /// Records not yet in a batch, oldest first.
    records: VecDeque<Value>,
    /// Batches waiting for (re)delivery, oldest first.
    batches: VecDeque<Batch>,
    /// Delivered batches under a lock: token → (batch, lock deadline).
    locked: HashMap<String, (Batch, Instant)>,
    lock_timeout: Duration,
}

impl Default for C2dState {
    fn default() -> Self {
        C2dState {
            queues: BTreeMap::new(),
            records: VecDeque::new(),
            batches: VecDeque::new(),
            locked: HashMap::new(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }
}

impl C2dState {
    /// Returns batches whose lock has passed to the delivery queue (ahead of newer ones).
    fn release_expired(&mut self, now: Instant) {
        let mut expired: Vec<(String, Batch)> = self
            .locked
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(t, (b, _))| (t.clone(), b.clone()))
            .collect();
        expired.sort_by(|a, b| b.1.enqueued.cmp(&a.1.enqueued));
        for (token, batch) in expired {
            self.locked.remove(&token);
            self.batches.push_front(batch);
        }
    }

    /// The next batch to deliver, locked under a new token.
    fn receive(&mut self, now: Instant) -> Option<(String, Batch)> {
        self.release_expired(now);
        loop {
            let mut batch = match self.batches.pop_front() {
                Some(b) => b,
                None if !self.records.is_empty() => {
                    let n = self.records.len().min(MAX_BATCH_RECORDS);
                    Batch {
                        message_id: uuid::Uuid::new_v4().to_string(),
                        enqueued: super::model::now_ts(),
                        records: self.records.drain(..n).collect(),
                        deliveries: 0,
                    }
                }
                None => return None,
            };
            if batch.deliveries >= MAX_DELIVERY_COUNT {
                continue; // dead-lettered
            }
            batch.deliveries += 1;
            let token = uuid::Uuid::new_v4().to_string();
            self.locked
                .insert(token.clone(), (batch.clone(), now + self.lock_timeout));
            return Some((token, batch));
        }
    }

    /// Takes the batch locked under `token`, or 412 `DeviceMessageLockLost` (unknown token or
    /// lock expired; an expired batch goes back for redelivery).
    fn take_locked(&mut self, token: &str, now: Instant) -> Result<Batch, HubError> {
        self.release_expired(now);
        self.locked.remove(token).map(|(b, _)| b).ok_or_else(|| {
            HubError::new(
                StatusCode::PRECONDITION_FAILED,
                "DeviceMessageLockLost",
                format!(
                    "the lock token '{token}' does not hold a feedback message (completed, abandoned or expired)"
                ),
            )
        })
    }

    fn record(&mut self, device_id: &str, generation_id: &str, message: &C2dMessage, status: &str) {
        if !message.ack.wants(status) {
            return;
        }
        let description = match status {
            "Success" => "Success",
            "Rejected" => "Message rejected",
            "Expired" => "Message expired",
            _ => "Message purged",
        };
        self.records.push_back(json!({
            "originalMessageId": message.message_id,
            "description": description,
            "deviceGenerationId": generation_id,
            "deviceId": device_id,
            "enqueuedTimeUtc": super::model::now_ts(),
            "statusCode": status,
        }));
    }
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
    let generation = hub.read().device(&id)?.generation_id.clone();
    let mut c2d = hub.c2d();
    let removed = c2d.queues.remove(&id).unwrap_or_default();
    for m in &removed {
        c2d.record(&id, &generation, m, "Purged");
    }
    let purged = removed.len();
    Ok(json(
        StatusCode::OK,
        &json!({"deviceId": id, "moduleId": null, "totalMessagesPurged": purged}),
        None,
    ))
}

/// `GET /messages/serviceBound/feedback`: the next feedback batch under a lock, or 204.
pub(crate) async fn receive_feedback(State(hub): State<Hub>) -> Response {
    let Some((token, batch)) = hub.c2d().receive(Instant::now()) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let mut resp = json(StatusCode::OK, &Value::Array(batch.records), None);
    let h = resp.headers_mut();
    for (name, value) in [
        ("etag", format!("\"{token}\"")),
        ("iothub-messageid", batch.message_id),
        ("iothub-enqueuedtime", batch.enqueued),
        ("iothub-deliverycount", batch.deliveries.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

/// `DELETE /messages/serviceBound/feedback/{lockToken}`: completes (removes) the batch.
pub(crate) async fn complete_feedback(
    State(hub): State<Hub>,
    Path(token): Path<String>,
) -> Result<Response, HubError> {
    hub.c2d().take_locked(&token, Instant::now())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /messages/serviceBound/feedback/{lockToken}/abandon`: returns the batch for redelivery.
pub(crate) async fn abandon_feedback(
    State(hub): State<Hub>,
    Path(token): Path<String>,
) -> Result<Response, HubError> {
    let mut c2d = hub.c2d();
    let batch = c2d.take_locked(&token, Instant::now())?;
    c2d.batches.push_front(batch);
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl IotHubService {
    /// Enqueues a cloud-to-device message for `device_id`, as a back end sending one would,
    /// asking for feedback per `ack`. Fails when the device does not exist or its queue holds
    /// [`MAX_QUEUE_DEPTH`] messages.
    pub fn enqueue_c2d_message_with_ack(
        &self,
        device_id: &str,
        message_id: &str,
        body: Value,
        ack: C2dAck,
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
            ack,
        });
        Ok(())
    }

    /// Enqueues a cloud-to-device message that asks for no feedback (`iothub-ack: none`).
    pub fn enqueue_c2d_message(
        &self,
        device_id: &str,
        message_id: &str,
        body: Value,
    ) -> Result<(), String> {
        self.enqueue_c2d_message_with_ack(device_id, message_id, body, C2dAck::None)
    }

    /// Settles message `message_id` of `device_id` as the device would: removes it from the
    /// queue and records feedback `status` if the message asked for it.
    fn settle(&self, device_id: &str, message_id: &str, status: &str) -> Result<(), String> {
        let generation = self
            .inner
            .read()
            .devices
            .get(device_id)
            .map(|d| d.generation_id.clone())
            .ok_or_else(|| format!("device '{device_id}' is not registered"))?;
        let mut c2d = self.inner.c2d();
        let q = c2d.queues.entry(device_id.to_string()).or_default();
        let pos = q
            .iter()
            .position(|m| m.message_id == message_id)
            .ok_or_else(|| format!("no message '{message_id}' is waiting for '{device_id}'"))?;
        let message = q.remove(pos).expect("position is in range");
        c2d.record(device_id, &generation, &message, status);
        Ok(())
    }

    /// The device completes (accepts) the message: feedback `Success`.
    pub fn complete_c2d_message(&self, device_id: &str, message_id: &str) -> Result<(), String> {
        self.settle(device_id, message_id, "Success")
    }

    /// The device rejects the message: feedback `Rejected`.
    pub fn reject_c2d_message(&self, device_id: &str, message_id: &str) -> Result<(), String> {
        self.settle(device_id, message_id, "Rejected")
    }

    /// The message's time to live passes before the device takes it: feedback `Expired`.
    pub fn expire_c2d_message(&self, device_id: &str, message_id: &str) -> Result<(), String> {
        self.settle(device_id, message_id, "Expired")
    }

    /// How long a received feedback batch stays locked ([`DEFAULT_LOCK_TIMEOUT`] unless set).
    /// `Duration::ZERO` makes every lock expire at once, so the next receive redelivers.
    pub fn set_feedback_lock_timeout(&self, timeout: Duration) {
        self.inner.c2d().lock_timeout = timeout;
    }

    /// Feedback records not yet completed (pending, waiting for redelivery, or locked).
    pub fn feedback_records_outstanding(&self) -> usize {
        let c2d = self.inner.c2d();
        c2d.records.len()
            + c2d.batches.iter().map(|b| b.records.len()).sum::<usize>()
            + c2d
                .locked
                .values()
                .map(|(b, _)| b.records.len())
                .sum::<usize>()
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
