//! [`Response`]: an operation's value with what the service said about it — status, ETag,
//! request id, headers such as ADT's `query-charge`.
//!
//! Every operation builder finishes the same two ways: `.await` (or `.send().await`) gives the
//! value alone, and `.send_with_response().await` gives a [`Response`] around the same value.
//! The second form costs one header-map clone per call and nothing when unused.

use std::sync::{Arc, Mutex};

use http::{HeaderMap, StatusCode};

use crate::error::Result;
use crate::etag::ETag;

/// The value of a successful operation with the status and headers of the service's answer.
///
/// For an operation that makes more than one request (a write whose lost answer was resolved by
/// reading back, a job waiter's polls, a bulk import), the metadata is that of the **last**
/// successful answer the operation received; paged listings carry theirs on each
/// [`Page`](crate::Page).
///
/// ```no_run
/// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
/// let response = hub.get_twin("dev-1").send_with_response().await?;
/// println!("request id {:?}, status {}", response.request_id(), response.status());
/// let twin = response.into_value();
/// # let _ = twin;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Response<T> {
    /// The operation's value (what `.send()` returns).
    pub value: T,
    status: StatusCode,
    headers: HeaderMap,
    client_request_id: Option<String>,
}

impl<T> Response<T> {
    /// The HTTP status of the answer (`200 OK` when the operation received none, e.g. a
    /// write confirmed by reading back after a lost answer — then the read's status).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The answer's headers (names lower-case, as `http` stores them).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The service's `x-ms-request-id`: quote it in a support request. IoT Hub sends one on
    /// every answer; Azure Digital Twins' data plane sends none (the recorded sessions have
    /// none), so quote the [client request id](Response::client_request_id) there.
    pub fn request_id(&self) -> Option<&str> {
        self.header("x-ms-request-id")
    }

    /// The `x-ms-client-request-id` this client sent (the same on every retry of the call; set it
    /// with [`RequestOptions::client_request_id`](crate::RequestOptions::client_request_id)).
    pub fn client_request_id(&self) -> Option<&str> {
        self.client_request_id.as_deref()
    }

    /// The `ETag` response header, if the answer has one.
    pub fn etag(&self) -> Option<ETag> {
        ETag::from_headers(&self.headers)
    }

    /// Azure Digital Twins' `query-charge` header (query units of a query page).
    pub fn query_charge(&self) -> Option<f64> {
        self.header("query-charge")?.trim().parse().ok()
    }

    /// The value, dropping the metadata.
    pub fn into_value(self) -> T {
        self.value
    }

    /// Maps the value, keeping the metadata.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            value: f(self.value),
            status: self.status,
            headers: self.headers,
            client_request_id: self.client_request_id,
        }
    }
}

/// What the pipeline records of the last successful answer while a capture is active.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub(crate) status: Option<StatusCode>,
    pub(crate) headers: HeaderMap,
    pub(crate) client_request_id: Option<String>,
}

tokio::task_local! {
    /// Set only around [`capture`]: calls made without it pay one failed task-local lookup.
    static CAPTURE: Arc<Mutex<Captured>>;
}

/// Called by the pipeline on every successful raw answer.
pub(crate) fn record(status: StatusCode, headers: &HeaderMap, client_request_id: &str) {
    let _ = CAPTURE.try_with(|slot| {
        let mut c = slot.lock().unwrap_or_else(|p| p.into_inner());
        c.status = Some(status);
        c.headers = headers.clone();
        c.client_request_id = Some(client_request_id.to_owned());
    });
}

/// Runs an operation's future, returning its value with the metadata of its last answer.
pub(crate) async fn capture<T, F>(fut: F) -> Result<Response<T>>
where
    F: std::future::Future<Output = Result<T>>,
{
    let slot = Arc::new(Mutex::new(Captured::default()));
    let value = CAPTURE.scope(slot.clone(), fut).await?;
    let c = std::mem::take(&mut *slot.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Response {
        value,
        status: c.status.unwrap_or(StatusCode::OK),
        headers: c.headers,
        client_request_id: c.client_request_id,
    })
}

/// Makes an operation builder awaitable and gives it `send_with_response`, from its `send`:
/// `operation!(GetTwin => Versioned<Twin>)`. For generic builders, list the parameters and
/// bounds first: `operation!([T: DeserializeOwned + Send + 'static] GetTwin<T> => Versioned<T>)`.
macro_rules! operation {
    ([$($gen:tt)*] $builder:ty => $output:ty) => {
        impl<$($gen)*> ::std::future::IntoFuture for $builder {
            type Output = ::std::result::Result<$output, $crate::Error>;
            type IntoFuture =
                ::std::pin::Pin<Box<dyn ::std::future::Future<Output = Self::Output> + Send>>;

            fn into_future(self) -> Self::IntoFuture {
                Box::pin(self.send())
            }
        }

        impl<$($gen)*> $builder {
            /// Like `send`, with the status, ETag, request id and headers of the service's
            /// answer ([`Response`](crate::Response)).
            pub async fn send_with_response(
                self,
            ) -> ::std::result::Result<$crate::Response<$output>, $crate::Error> {
                $crate::response::capture(self.send()).await
            }
        }
    };
    ($builder:ty => $output:ty) => {
        $crate::response::operation!([] $builder => $output);
    };
}
pub(crate) use operation;
