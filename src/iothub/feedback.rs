//! Cloud-to-device delivery feedback (`/messages/serviceBound/feedback`).
//!
//! A cloud-to-device message sent with an `iothub-ack` request (`positive`, `negative` or `full`)
//! produces a [`FeedbackRecord`] when its device completes it (`Success`), rejects it
//! (`Rejected`), lets it expire (`Expired`), exceeds the delivery count
//! (`DeliveryCountExceeded`) or when the queue is purged (`Purged`). The hub hands the records
//! out in batches: a receive locks one batch under a lock token (the response's `ETag`), and the
//! batch is then either *completed* (deleted from the feedback queue) or *abandoned* (returned
//! for redelivery). A batch whose lock expires is redelivered as well; completing or abandoning
//! it afterwards fails with 412 `DeviceMessageLockLost` ([`Error::is_feedback_lock_lost`]).
//!
//! Three levels:
//!
//! - [`IotHubClient::receive_feedback`], [`IotHubClient::complete_feedback`] and
//!   [`IotHubClient::abandon_feedback`]: one call each, for callers that store lock tokens
//!   themselves.
//! - A received [`FeedbackBatch`] is a handle: [`FeedbackBatch::complete`] or
//!   [`FeedbackBatch::abandon`] settle it; a batch dropped unsettled is abandoned in the
//!   background (on the current Tokio runtime; without one its lock simply expires), so an
//!   early return or a panic while handling it never loses its records.
//! - [`IotHubClient::feedback_stream`] receives batch after batch: as a stream of those
//!   handles ([`FeedbackStream::into_stream`]), or driven for you by
//!   [`FeedbackStream::handle`], which calls a handler for each record and completes a batch only
//!   after the handler succeeded on every record of it, abandoning it (for redelivery) on the
//!   first error.
//!
//! Why batch handles rather than a stream of records: the service settles whole batches, so a
//! stream of single records would have to decide on its own when a batch is done (complete it
//! when the next record is pulled? then a caller that fails between pulls has already lost the
//! earlier records' batch-mates). With a handle the settlement point is explicit in the
//! caller's code, and the `handle` driver covers the common loop. Delivery is at least once: a
//! batch is handled again when its lock expired before it was completed (the completion then
//! fails with [`Error::is_feedback_lock_lost`], telling the caller the records come again) or
//! when the handler failed part-way (the records before the failure are delivered again with
//! the rest). Within one run with no failures and no expired locks every record is handled
//! exactly once.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures::Stream;
use progenitor_client::ResponseValue;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use super::{IotHubClient, api_version};
use crate::request::setters;
use crate::{Error, ErrorKind, RequestOptions};

/// One delivery outcome of a cloud-to-device message that asked for feedback: the original
/// message id, the device (and its generation id), the [`FeedbackStatus`], a description and
/// when it was recorded. The generated wire type (`raw::iothub::types::FeedbackRecord`).
pub use crate::raw::iothub::types::FeedbackRecord;

/// The outcome a feedback record reports. Unknown values are kept in [`FeedbackStatus::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum FeedbackStatus {
    /// `Success`: the device completed the message.
    Success,
    /// `Expired`: the message's time to live passed before the device took it.
    Expired,
    /// `DeliveryCountExceeded`: the message was delivered too often without being completed.
    DeliveryCountExceeded,
    /// `Rejected`: the device rejected the message.
    Rejected,
    /// `Purged`: the device's queue was purged while the message waited.
    Purged,
    /// Any other value.
    Other(String),
}

impl FeedbackStatus {
    /// The wire name (`Success`, `Expired`, `DeliveryCountExceeded`, `Rejected`, `Purged`).
    pub fn as_str(&self) -> &str {
        match self {
            FeedbackStatus::Success => "Success",
            FeedbackStatus::Expired => "Expired",
            FeedbackStatus::DeliveryCountExceeded => "DeliveryCountExceeded",
            FeedbackStatus::Rejected => "Rejected",
            FeedbackStatus::Purged => "Purged",
            FeedbackStatus::Other(s) => s,
        }
    }

    /// True for [`FeedbackStatus::Success`]: the device took the message.
    pub fn is_success(&self) -> bool {
        matches!(self, FeedbackStatus::Success)
    }
}

impl From<String> for FeedbackStatus {
    fn from(s: String) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "success" => FeedbackStatus::Success,
            "expired" => FeedbackStatus::Expired,
            "deliverycountexceeded" => FeedbackStatus::DeliveryCountExceeded,
            "rejected" => FeedbackStatus::Rejected,
            "purged" => FeedbackStatus::Purged,
            _ => FeedbackStatus::Other(s),
        }
    }
}

impl From<FeedbackStatus> for String {
    fn from(s: FeedbackStatus) -> String {
        match s {
            FeedbackStatus::Other(s) => s,
            known => known.as_str().to_owned(),
        }
    }
}

impl fmt::Display for FeedbackStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lock token of a received feedback batch (the receive response's `ETag`, unquoted).
///
/// Not a credential, but whoever holds it can complete the batch (deleting its records), so its
/// `Debug` prints no value and the library never logs it. [`FeedbackLockToken::as_str`] gives
/// the token, e.g. to store it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FeedbackLockToken(String);

impl FeedbackLockToken {
    /// The token as sent in the complete and abandon paths.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token of a receive response: its `ETag` header without quotes (or a `W/` prefix).
    fn from_headers(headers: &HeaderMap) -> Option<FeedbackLockToken> {
        let raw = headers.get(reqwest::header::ETAG)?.to_str().ok()?.trim();
        let raw = raw.strip_prefix("W/").unwrap_or(raw);
        let token = raw.trim_matches('"');
        (!token.is_empty()).then(|| FeedbackLockToken(token.to_owned()))
    }

    fn check(&self) -> Result<(), Error> {
        if self.0.is_empty() {
            return Err(Error::invalid_input(
                "lock_token",
                "must not be empty (use the token of a received feedback batch)",
            ));
        }
        if let Some(c) = self.0.chars().find(|c| c.is_control() || c.is_whitespace()) {
            return Err(Error::invalid_input(
                "lock_token",
                format!(
                    "contains {c:?}; a feedback lock token has no whitespace or control characters"
                ),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for FeedbackLockToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FeedbackLockToken(..)")
    }
}

impl From<String> for FeedbackLockToken {
    fn from(s: String) -> Self {
        FeedbackLockToken(s)
    }
}

impl From<&str> for FeedbackLockToken {
    fn from(s: &str) -> Self {
        FeedbackLockToken(s.to_owned())
    }
}

impl From<&FeedbackLockToken> for FeedbackLockToken {
    fn from(t: &FeedbackLockToken) -> Self {
        t.clone()
    }
}

impl Error {
    /// True when a feedback batch's lock is gone: 412 `DeviceMessageLockLost` from completing or
    /// abandoning a batch that was already settled or whose lock expired (the service then
    /// redelivers the batch, so its records come again). False for an
    /// [ambiguous](Error::is_ambiguous) completion, whose first attempt may have landed.
    pub fn is_feedback_lock_lost(&self) -> bool {
        !self.is_ambiguous() && self.error_code() == Some("DeviceMessageLockLost")
    }
}

/// A received batch of feedback records, locked for this receiver until it is settled.
///
/// Settle it with [`FeedbackBatch::complete`] after handling its records, or
/// [`FeedbackBatch::abandon`] to have it redelivered. Dropped unsettled, it is abandoned in the
/// background on the current Tokio runtime (best effort; without a runtime, or if that call
/// fails, the lock expires and the service redelivers the batch anyway).
#[must_use = "complete the batch after handling its records, or it is redelivered"]
pub struct FeedbackBatch {
    records: Vec<FeedbackRecord>,
    lock_token: FeedbackLockToken,
    /// `None` once settled.
    client: Option<IotHubClient>,
}

impl fmt::Debug for FeedbackBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedbackBatch")
            .field("records", &self.records)
            .field("settled", &self.client.is_none())
            .finish_non_exhaustive()
    }
}

impl FeedbackBatch {
    /// The records, in the order the service listed them (at least one).
    pub fn records(&self) -> &[FeedbackRecord] {
        &self.records
    }

    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Always false for a received batch (an empty feedback queue answers no batch); here for
    /// symmetry with [`FeedbackBatch::len`].
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The batch's lock token, for [`IotHubClient::complete_feedback`] /
    /// [`IotHubClient::abandon_feedback`] from elsewhere (then [`FeedbackBatch::detach`] this
    /// handle, or its drop abandons the batch).
    pub fn lock_token(&self) -> &FeedbackLockToken {
        &self.lock_token
    }

    /// Completes the batch: its records are deleted from the feedback queue. Fails with
    /// [`Error::is_feedback_lock_lost`] when the lock expired (the batch is redelivered).
    pub async fn complete(mut self) -> Result<(), Error> {
        let client = self
            .client
            .take()
            .expect("an unsettled batch has its client");
        client
            .complete_feedback(self.lock_token.clone())
            .send()
            .await
    }

    /// Abandons the batch: the service delivers it again (to this or another receiver).
    pub async fn abandon(mut self) -> Result<(), Error> {
        let client = self
            .client
            .take()
            .expect("an unsettled batch has its client");
        client
            .abandon_feedback(self.lock_token.clone())
            .send()
            .await
    }

    /// Gives up the handle without settling the batch: no abandon on drop. The caller settles it
    /// with the [lock token](FeedbackBatch::lock_token), or lets the lock expire.
    pub fn detach(mut self) -> (Vec<FeedbackRecord>, FeedbackLockToken) {
        self.client = None;
        (std::mem::take(&mut self.records), self.lock_token.clone())
    }
}

impl Drop for FeedbackBatch {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let token = self.lock_token.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                tracing::debug!(
                    records = self.records.len(),
                    "feedback batch dropped unsettled: abandoning it"
                );
                rt.spawn(async move {
                    if let Err(e) = client.abandon_feedback(token).send().await {
                        tracing::debug!(error = %e, "abandoning a dropped feedback batch failed; its lock expires");
                    }
                });
            }
            Err(_) => tracing::debug!(
                records = self.records.len(),
                "feedback batch dropped unsettled outside a Tokio runtime: its lock expires"
            ),
        }
    }
}

/// Receives the next feedback batch: [`IotHubClient::receive_feedback`].
///
/// Not retried after a possibly-delivered attempt (a repeat would lock another batch and leave
/// the first locked until it expires).
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct ReceiveFeedback {
    client: IotHubClient,
    options: RequestOptions,
}

impl ReceiveFeedback {
    setters! { options; }

    /// Receives and locks the next batch; `None` when no feedback is pending (204).
    pub async fn send(self) -> Result<Option<FeedbackBatch>, Error> {
        let raw = &self.client.inner.raw;
        let reply = crate::pipeline::with_request_options(&self.options, async {
            match raw
                .cloud_to_device_messages_receive_feedback_notification(api_version(raw))
                .await
            {
                // The spec's 204 (nothing pending) is not a generated success status: the typed
                // 200 made `single_success_type` drop it (see the codegen fixup
                // `iothub_feedback_body_any_json`).
                Err(progenitor_client::Error::UnexpectedResponse(r))
                    if r.status() == StatusCode::NO_CONTENT =>
                {
                    Ok(ResponseValue::new(None, r.status(), r.headers().clone()))
                }
                other => other.map(|rv| {
                    let (status, headers) = (rv.status(), rv.headers().clone());
                    ResponseValue::new(Some(rv.into_inner()), status, headers)
                }),
            }
        })
        .await?;
        let headers = reply.headers().clone();
        let Some(records) = reply.into_inner() else {
            return Ok(None);
        };
        let lock_token = FeedbackLockToken::from_headers(&headers).ok_or_else(|| {
            Error::new(
                ErrorKind::DataConversion,
                "the feedback receive response carried no ETag (lock token)",
            )
        })?;
        let batch = FeedbackBatch {
            records,
            lock_token,
            client: Some(self.client.clone()),
        };
        if batch.records.is_empty() {
            // Nothing to hand to the caller: settle the empty batch at once.
            batch.complete().await?;
            return Ok(None);
        }
        Ok(Some(batch))
    }
}
crate::response::operation!(ReceiveFeedback => Option<FeedbackBatch>);

/// Completes (deletes) a locked feedback batch: [`IotHubClient::complete_feedback`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct CompleteFeedback {
    client: IotHubClient,
    lock_token: FeedbackLockToken,
    options: RequestOptions,
}

impl CompleteFeedback {
    setters! { options; }

    /// Checks the token and completes the batch. Fails with [`Error::is_feedback_lock_lost`]
    /// when the lock is gone (settled already, or expired: the batch is redelivered).
    pub async fn send(self) -> Result<(), Error> {
        self.lock_token.check()?;
        let raw = &self.client.inner.raw;
        let token = self.lock_token.as_str();
        crate::pipeline::with_request_options(&self.options, async {
            raw.cloud_to_device_messages_complete_feedback_notification(token, api_version(raw))
                .await
        })
        .await?;
        Ok(())
    }
}
crate::response::operation!(CompleteFeedback => ());

/// Abandons a locked feedback batch for redelivery: [`IotHubClient::abandon_feedback`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct AbandonFeedback {
    client: IotHubClient,
    lock_token: FeedbackLockToken,
    options: RequestOptions,
}

impl AbandonFeedback {
    setters! { options; }

    /// Checks the token and abandons the batch. Fails with [`Error::is_feedback_lock_lost`]
    /// when the lock is gone.
    pub async fn send(self) -> Result<(), Error> {
        self.lock_token.check()?;
        let raw = &self.client.inner.raw;
        let token = self.lock_token.as_str();
        crate::pipeline::with_request_options(&self.options, async {
            raw.cloud_to_device_messages_abandon_feedback_notification(token, api_version(raw))
                .await
        })
        .await?;
        Ok(())
    }
}
crate::response::operation!(AbandonFeedback => ());

/// Receives feedback batch after batch: [`IotHubClient::feedback_stream`].
///
/// By default it ends at the first receive that finds nothing pending (drains the queue); with
/// [`FeedbackStream::poll_every`] it waits and asks again instead, without end.
#[derive(Debug, Clone)]
#[must_use = "finish with .into_stream() or .handle(…)"]
pub struct FeedbackStream {
    client: IotHubClient,
    poll_interval: Option<Duration>,
    options: RequestOptions,
}

impl FeedbackStream {
    setters! {
        /// Per-call options of every receive, complete and abandon.
        options;
    }

    /// Keeps polling: when nothing is pending, waits `interval` and receives again (the stream
    /// then never ends by itself). Zero is refused when the stream starts.
    pub fn poll_every(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    fn check(&self) -> Result<(), Error> {
        if self.poll_interval == Some(Duration::ZERO) {
            return Err(Error::invalid_input(
                "poll_every",
                "must be more than zero (it is the wait between receives that found nothing)",
            ));
        }
        Ok(())
    }

    /// The batches, each locked until the caller settles it (complete after handling; a batch
    /// dropped unsettled is abandoned). Ends when nothing is pending (unless polling) or after
    /// the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<FeedbackBatch, Error>> + Send + 'static {
        let first = self.check().err();
        futures::stream::unfold(
            (self, first, false),
            |(this, pending_error, done)| async move {
                if done {
                    return None;
                }
                if let Some(e) = pending_error {
                    return Some((Err(e), (this, None, true)));
                }
                loop {
                    let receive = ReceiveFeedback {
                        client: this.client.clone(),
                        options: this.options.clone(),
                    };
                    match receive.send().await {
                        Ok(Some(batch)) => return Some((Ok(batch), (this, None, false))),
                        Ok(None) => match this.poll_interval {
                            Some(wait) => tokio::time::sleep(wait).await,
                            None => return None,
                        },
                        Err(e) => return Some((Err(e), (this, None, true))),
                    }
                }
            },
        )
    }

    /// Calls `handler` for every record, batch by batch, in order; completes a batch once the
    /// handler succeeded on all of its records. On the first handler error the batch is
    /// abandoned (delivered again later, the records before the failure included) and the call
    /// fails with [`ErrorKind::Other`], the handler's error as its
    /// [`source`](std::error::Error::source). Returns how many records were handled in completed
    /// batches (when not polling: once nothing is pending).
    ///
    /// A completion that fails with [`Error::is_feedback_lock_lost`] (the lock expired while
    /// handling: the batch will be delivered again) ends the call with that error.
    pub async fn handle<F, Fut, E>(self, mut handler: F) -> Result<usize, Error>
    where
        F: FnMut(FeedbackRecord) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        use futures::TryStreamExt;
        let mut batches = Box::pin(self.into_stream());
        let mut handled = 0;
        while let Some(batch) = batches.try_next().await? {
            let n = batch.len();
            let mut failure = None;
            for (i, record) in batch.records().iter().enumerate() {
                if let Err(e) = handler(record.clone()).await {
                    failure = Some((i, e.into()));
                    break;
                }
            }
            match failure {
                None => {
                    batch.complete().await?;
                    handled += n;
                }
                Some((i, source)) => {
                    let abandoned = batch.abandon().await;
                    let mut message = format!(
                        "the feedback handler failed on record {} of {n}; the batch was abandoned \
                         for redelivery",
                        i + 1
                    );
                    if let Err(e) = abandoned {
                        message = format!(
                            "the feedback handler failed on record {} of {n}; abandoning the batch \
                             failed too ({e}), it is redelivered when its lock expires",
                            i + 1
                        );
                    }
                    return Err(Error::new(ErrorKind::Other, message).with_source(source));
                }
            }
        }
        Ok(handled)
    }
}

impl IotHubClient {
    /// Receives and locks the next batch of cloud-to-device feedback records; `None` when none
    /// is pending. Settle the batch with [`FeedbackBatch::complete`] (or `abandon`).
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// if let Some(batch) = hub.receive_feedback().send().await? {
    ///     for r in batch.records() {
    ///         println!("{} on {}: {}", r.original_message_id, r.device_id, r.status_code);
    ///     }
    ///     batch.complete().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn receive_feedback(&self) -> ReceiveFeedback {
        ReceiveFeedback {
            client: self.clone(),
            options: RequestOptions::default(),
        }
    }

    /// Completes the feedback batch locked under `lock_token` (its records are deleted).
    pub fn complete_feedback(&self, lock_token: impl Into<FeedbackLockToken>) -> CompleteFeedback {
        CompleteFeedback {
            client: self.clone(),
            lock_token: lock_token.into(),
            options: RequestOptions::default(),
        }
    }

    /// Abandons the feedback batch locked under `lock_token` (it is delivered again).
    pub fn abandon_feedback(&self, lock_token: impl Into<FeedbackLockToken>) -> AbandonFeedback {
        AbandonFeedback {
            client: self.clone(),
            lock_token: lock_token.into(),
            options: RequestOptions::default(),
        }
    }

    /// Receives feedback batch after batch, as a stream of batch handles or through a record
    /// handler that completes each batch once all its records were handled.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use azure_twins::iothub::FeedbackStatus;
    /// let handled = hub
    ///     .feedback_stream()
    ///     .handle(|record| async move {
    ///         if record.status_code != FeedbackStatus::Success {
    ///             eprintln!("{} was not delivered: {}", record.original_message_id, record.status_code);
    ///         }
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await?;
    /// println!("{handled} feedback records handled");
    /// # Ok(()) }
    /// ```
    pub fn feedback_stream(&self) -> FeedbackStream {
        FeedbackStream {
            client: self.clone(),
            poll_interval: None,
            options: RequestOptions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_parse_with_open_status() {
        let records: Vec<FeedbackRecord> = serde_json::from_value(json!([
            {"originalMessageId":"m1","description":"Success","deviceGenerationId":"6375","deviceId":"d1",
             "enqueuedTimeUtc":"2021-07-07T20:47:33.1234567Z","statusCode":"Success"},
            {"originalMessageId":"m2","deviceId":"d1","statusCode":"DeliveryCountExceeded"},
            {"originalMessageId":"m3","deviceId":"d1","statusCode":"somethingNew"}
        ]))
        .unwrap();
        assert_eq!(records[0].status_code, FeedbackStatus::Success);
        assert!(records[0].status_code.is_success());
        assert_eq!(records[0].device_generation_id.as_deref(), Some("6375"));
        assert!(records[0].enqueued_time_utc.is_some());
        assert_eq!(
            records[1].status_code,
            FeedbackStatus::DeliveryCountExceeded
        );
        assert_eq!(
            records[2].status_code,
            FeedbackStatus::Other("somethingNew".into())
        );
        let back = serde_json::to_value(&records[1]).unwrap();
        assert_eq!(back["statusCode"], "DeliveryCountExceeded");
    }

    #[test]
    fn lock_token_from_etag_and_hidden_in_debug() {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::ETAG, "\"8f3c0a2e-lock\"".parse().unwrap());
        let t = FeedbackLockToken::from_headers(&h).unwrap();
        assert_eq!(t.as_str(), "8f3c0a2e-lock");
        assert!(!format!("{t:?}").contains("8f3c0a2e"));
        h.insert(reqwest::header::ETAG, "W/\"weak\"".parse().unwrap());
        assert_eq!(
            FeedbackLockToken::from_headers(&h).unwrap().as_str(),
            "weak"
        );
        h.insert(reqwest::header::ETAG, "\"\"".parse().unwrap());
        assert!(FeedbackLockToken::from_headers(&h).is_none());
        assert!(FeedbackLockToken::from(" x").check().is_err());
        assert!(FeedbackLockToken::from("").check().is_err());
    }
}
