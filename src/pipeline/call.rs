//! The per-call context: the generated client and its `Pipeline` are shared and immutable, so
//! what belongs to one logical call (its [`RequestOptions`], client request id, trace id, the
//! typed error of `pre`, the status and headers of the last response) travels to the hooks in a
//! `tokio::task_local!` scoped around the raw call's future.

use std::future::Future;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use progenitor_client::ResponseValue;

use super::errors::map_raw_error;
use super::hooks::{new_trace_id, random_uuid};
use crate::error::{Error, Result};
use crate::etag::ETag;
use crate::options::RequestOptions;

/// State of one logical call, visible to the hooks through [`CALL`].
pub(super) struct CallContext {
    pub(super) options: RequestOptions,
    pub(super) client_request_id: String,
    /// W3C trace id shared by every attempt of the call.
    pub(super) trace_id: u128,
    state: Mutex<CallState>,
}

#[derive(Default)]
pub(super) struct CallState {
    pub(super) hook_error: Option<Error>,
    pub(super) last_status: Option<StatusCode>,
    pub(super) last_headers: Option<HeaderMap>,
    attempts: u32,
    /// Set by `exec` for a write (any call whose resend rule is not `Read`): what the error
    /// mapping needs to report an ambiguous outcome.
    pub(super) write: Option<WriteAttempts>,
}

/// What the retry loop knows about a write's attempts: only that answers were lost, never
/// whether the service applied them. The facade operation resolves the rest by reading back.
#[derive(Debug, Clone)]
pub(super) struct WriteAttempts {
    pub(super) operation: &'static str,
    pub(super) method: String,
    pub(super) path: String,
    /// An attempt before the last may have been applied (its answer was lost), so the last
    /// answer (404/409/412) may be about this call's own earlier attempt.
    pub(super) lost_before_last: bool,
    /// The last attempt's answer was lost.
    pub(super) final_lost: bool,
}

impl CallContext {
    pub(super) fn new(options: &RequestOptions) -> Arc<Self> {
        Arc::new(CallContext {
            client_request_id: match &options.client_request_id {
                Some(id) => id.clone(),
                None => {
                    let mut buf = uuid::Uuid::encode_buffer();
                    (*random_uuid().hyphenated().encode_lower(&mut buf)).to_owned()
                }
            },
            trace_id: new_trace_id(),
            options: options.clone(),
            state: Mutex::new(CallState::default()),
        })
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, CallState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn record_response(&self, status: StatusCode, headers: &HeaderMap) {
        let mut s = self.lock();
        s.last_status = Some(status);
        s.last_headers = Some(headers.clone());
    }

    pub(super) fn record_attempts(&self, attempts: u32) {
        self.lock().attempts += attempts;
    }

    pub(super) fn record_write(&self, w: WriteAttempts) {
        self.lock().write = Some(w);
    }

    pub(super) fn record_hook_error(&self, e: Error) {
        self.lock().hook_error = Some(e);
    }
}

tokio::task_local! {
    pub(super) static CALL: Arc<CallContext>;
}

pub(super) fn current_call() -> Option<Arc<CallContext>> {
    CALL.try_with(Arc::clone).ok()
}

/// Runs one generated-client call with per-call `options` (retry policy, non-idempotent opt-in,
/// client request id, timeout) and maps its error into [`Error`].
///
/// `fut` is the un-awaited raw call, e.g. `raw.modules_get_twin(id, mid, API_VERSION)`.
///
/// Not an `async fn`: an `async fn` keeps its by-value argument `fut` apart from the scope it is
/// moved into, so the raw call's state would be in the returned future twice (and copied on
/// every move); here the scope is built first and the future holds it once.
pub(crate) fn with_request_options<T, E, Fut>(
    options: &RequestOptions,
    fut: Fut,
) -> impl Future<Output = Result<ResponseValue<T>>> + use<T, E, Fut>
where
    E: serde::Serialize,
    Fut: Future<Output = std::result::Result<ResponseValue<T>, progenitor_client::Error<E>>>,
{
    let ctx = CallContext::new(options);
    // The raw call is boxed: its state (request, hooks, decoding) is then one heap block instead
    // of kilobytes inline in every facade future, which are moved (copied) as they are built
    // and awaited.
    let scoped = CALL.scope(ctx.clone(), Box::pin(fut));
    async move {
        match scoped.await {
            Ok(rv) => {
                crate::response::record(rv.status(), rv.headers(), &ctx.client_request_id);
                Ok(rv)
            }
            // Boxed: the error path's state stays out of every caller's future (see `hooks`).
            Err(e) => Err(Box::pin(map_raw_error(&ctx, e)).await),
        }
    }
}

/// The value and response headers of one successful raw call.
#[derive(Debug)]
pub(crate) struct Reply<T> {
    /// The decoded body.
    pub(crate) value: T,
    /// The response status.
    pub(crate) status: StatusCode,
    /// The response headers.
    pub(crate) headers: HeaderMap,
}

#[allow(dead_code)]
impl<T> Reply<T> {
    /// A response header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `ETag` response header.
    pub(crate) fn etag(&self) -> Option<ETag> {
        ETag::from_headers(&self.headers)
    }

    /// IoT Hub's `x-ms-continuation` response header (absent or empty on the last page).
    pub(crate) fn continuation_header(&self) -> Option<&str> {
        self.header("x-ms-continuation")
            .filter(|s| !s.trim().is_empty())
    }

    /// ADT's `query-charge` response header.
    pub(crate) fn query_charge(&self) -> Option<f64> {
        self.header("query-charge")?.trim().parse().ok()
    }

    /// Maps the value.
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        Reply {
            value: f(self.value),
            status: self.status,
            headers: self.headers,
        }
    }
}

/// [`with_request_options`], returning the value with its status and headers.
#[allow(dead_code)]
pub(crate) async fn call<T, E, Fut>(options: &RequestOptions, fut: Fut) -> Result<Reply<T>>
where
    E: serde::Serialize,
    Fut: Future<Output = std::result::Result<ResponseValue<T>, progenitor_client::Error<E>>>,
{
    let rv = with_request_options(options, fut).await?;
    let status = rv.status();
    let headers = rv.headers().clone();
    Ok(Reply {
        value: rv.into_inner(),
        status,
        headers,
    })
}
