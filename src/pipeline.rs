//! The request pipeline shared by the generated raw clients and the facade.
//!
//! [`Pipeline`] is the inner type of every generated `Client` (progenitor's
//! `with_inner_type`), and the `ClientHooks` impls below run on every raw call:
//!
//! * `pre`: wire fixes (progenitor's stray `api-version` header removed, `application/json-patch+json`
//!   restored on the 4 ADT JSON Patch operations), `Authorization` from the cached credential
//!   (refused with nothing sent unless the URL is HTTPS or loopback), `User-Agent:
//!   azure-twins/<version>`, `x-ms-client-request-id` (one per logical call, the same on every
//!   retry) and a W3C `traceparent` (same trace id for the call, new parent id per attempt).
//! * `exec`: the retry loop of [`crate::retry`] (one `try_clone` per attempt), inside a
//!   `tracing` span `azure_twins.request` with the fields `operation`, `method`, `path`,
//!   `client_request_id`, `status`, `attempts`, `duration_ms`. Headers and bodies are never
//!   logged, so keys and tokens cannot leak through tracing.
//!
//! # Per-call options
//!
//! Facade code passes [`RequestOptions`] to the hooks through a `tokio::task_local!` scoped
//! around the raw call ([`with_request_options`], [`call`]): the hooks run inside the raw call's
//! future, so they see the options of exactly that call, while the generated client and its
//! `Pipeline` stay shared and immutable. The same scope carries typed errors out of `pre`
//! (progenitor only lets hooks return `Error::Custom(String)`) and the status and headers of the
//! last response (progenitor drops them when an error body fails to decode).
//!
//! Raw users get the same behaviour with default options; a credential failure in `pre` then
//! surfaces as `progenitor_client::Error::Custom` with a message starting `credential error:`.

#![cfg_attr(
    not(any(feature = "iothub", feature = "digitaltwins")),
    allow(dead_code, unused_imports)
)]

use std::future::Future;
use std::sync::{Arc, Mutex};

use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT,
};
use reqwest::{Method, StatusCode};
use tracing::Instrument as _;

use crate::auth::{Authorizer, Credential, Service};
use crate::error::{CREDENTIAL_PREFIX, Error, ErrorKind, INSECURE_PREFIX, Result};
use crate::etag::ETag;
use crate::options::{ClientOptions, RequestOptions};
use crate::retry;

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo, ResponseValue};

/// Per-client state available to the hooks of the generated raw clients: the credential (as a
/// caching authorizer), the client options and the service.
///
/// `Default` gives a pipeline with no credential and default options, which is what raw users
/// and the raw wire tests pass to `Client::new_with_client(base_url, client, Pipeline::default())`.
/// Cloning is cheap and clones share the token cache.
#[derive(Clone, Default)]
pub struct Pipeline {
    inner: Arc<PipelineInner>,
}

#[derive(Default)]
struct PipelineInner {
    authorizer: Option<Authorizer>,
    options: ClientOptions,
    /// `User-Agent`, built once from the options (`None` for `Pipeline::default()`).
    user_agent: Option<HeaderValue>,
    /// The endpoint given to [`Pipeline::new`], parsed once.
    endpoint: Option<reqwest::Url>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("authorizer", &self.inner.authorizer)
            .field("options", &self.inner.options)
            .finish()
    }
}

impl Pipeline {
    /// A pipeline for `service` at `endpoint` (a base URL such as `https://hub.azure-devices.net`
    /// or `http://127.0.0.1:8080`).
    ///
    /// Fails when the endpoint is not an absolute `http(s)` URL, or when a credential would go
    /// over plain HTTP to a host that is not loopback.
    pub fn new(
        service: Service,
        endpoint: &str,
        credential: Option<&Credential>,
        options: ClientOptions,
    ) -> Result<Pipeline> {
        let url = reqwest::Url::parse(endpoint).map_err(|e| {
            Error::invalid_input("endpoint", format!("must be an absolute http(s) URL ({e})"))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::invalid_input(
                "endpoint",
                "must be an absolute http(s) URL",
            ));
        }
        let authorizer = match credential {
            Some(c) => {
                crate::auth::check_transport(&url)?;
                let mut authority = url.host_str().unwrap_or_default().to_owned();
                if let Some(p) = url.port() {
                    authority.push_str(&format!(":{p}"));
                }
                Some(Authorizer::new(c, service, &authority))
            }
            None => None,
        };
        Ok(Pipeline {
            inner: Arc::new(PipelineInner {
                authorizer,
                user_agent: Some(user_agent_header(&options)),
                options,
                endpoint: Some(url),
            }),
        })
    }

    /// The endpoint this pipeline was made for, parsed (`None` for `Pipeline::default()`).
    #[cfg(feature = "iothub")]
    pub(crate) fn endpoint_url(&self) -> Option<&reqwest::Url> {
        self.inner.endpoint.as_ref()
    }

    /// True when `url` has the scheme, host and port of the endpoint given to [`Pipeline::new`].
    fn is_endpoint_origin(&self, url: &reqwest::Url) -> bool {
        self.inner.endpoint.as_ref().is_some_and(|e| {
            e.scheme() == url.scheme() && e.host_str() == url.host_str() && e.port() == url.port()
        })
    }

    /// The client options.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Makes sure a valid `Authorization` value is cached, signing or fetching a token if needed,
    /// with a typed error. Concurrent callers share one renewal.
    pub async fn ensure_credential(&self) -> Result<()> {
        if let Some(a) = &self.inner.authorizer {
            a.header().await?;
        }
        Ok(())
    }

    /// How many tokens this pipeline has signed (SAS) or fetched (Entra ID) so far; lets
    /// callers verify that tokens are cached and renewed once per lifetime.
    pub fn credential_fetch_count(&self) -> usize {
        self.inner
            .authorizer
            .as_ref()
            .map_or(0, Authorizer::fetch_count)
    }

    /// The `pre` work shared by both services.
    async fn prepare(&self, request: &mut reqwest::Request, operation_id: &str) -> Result<()> {
        fix_wire(request, operation_id);
        let ctx = current_call();
        if let Some(a) = &self.inner.authorizer {
            // `new` checked the endpoint already; another origin (a raw client built with a
            // different base URL) is checked here.
            if !self.is_endpoint_origin(request.url()) {
                crate::auth::check_transport(request.url())?;
            }
            let header = match a.cached_header() {
                Some(h) => h,
                None => a.header().await?,
            };
            request.headers_mut().insert(AUTHORIZATION, header);
        }
        let ua = match &self.inner.user_agent {
            Some(v) => v.clone(),
            None => user_agent_header(&self.inner.options),
        };
        request.headers_mut().insert(USER_AGENT, ua);
        let request_id = match &ctx {
            Some(c) => HeaderValue::from_str(&c.client_request_id).ok(),
            None => Some(new_request_id_header()),
        };
        if let Some(v) = request_id {
            request.headers_mut().insert(CLIENT_REQUEST_ID, v);
        }
        // A traceparent passed by the caller (ADT operations take one) is kept.
        if !request.headers().contains_key(TRACEPARENT) {
            let trace_id = match &ctx {
                Some(c) => c.trace_id,
                None => new_trace_id(),
            };
            request
                .headers_mut()
                .insert(TRACEPARENT, traceparent(trace_id, new_parent_id()));
        }
        Ok(())
    }

    /// The `exec` work shared by both services: the retry loop inside a tracing span.
    async fn execute(
        &self,
        client: &reqwest::Client,
        mut request: reqwest::Request,
        operation_id: &'static str,
    ) -> reqwest::Result<reqwest::Response> {
        let ctx = current_call();
        let (retry_options, opt_in, timeout) = match &ctx {
            Some(c) => (
                c.options
                    .retry
                    .clone()
                    .unwrap_or_else(|| self.inner.options.get_retry().clone()),
                c.options.retry_non_idempotent,
                c.options.timeout,
            ),
            None => (self.inner.options.get_retry().clone(), false, None),
        };
        if let Some(t) = timeout {
            *request.timeout_mut() = Some(t);
        }
        let allowed =
            opt_in || retry::is_idempotent(operation_id, request.method(), request.headers());
        let header_request_id;
        let client_request_id: &str = match &ctx {
            Some(c) => &c.client_request_id,
            None => {
                header_request_id = request.headers().get(CLIENT_REQUEST_ID).cloned();
                header_request_id
                    .as_ref()
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
            }
        };
        let span = tracing::info_span!(
            "azure_twins.request",
            operation = operation_id,
            method = %request.method(),
            path = request.url().path(),
            client_request_id = %client_request_id,
            retry_allowed = allowed,
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let started = tokio::time::Instant::now();
        let (result, stats) = retry::send_with_retry(
            client,
            request,
            &retry_options,
            allowed,
            |mut req, attempt| async move {
                if attempt > 0 {
                    self.refresh_for_retry(&mut req).await;
                }
                req
            },
        )
        .instrument(span.clone())
        .await;
        span.record("attempts", stats.attempts);
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        match &result {
            Ok(resp) => {
                span.record("status", resp.status().as_u16());
                span.in_scope(|| {
                    tracing::debug!(
                        status = resp.status().as_u16(),
                        attempts = stats.attempts,
                        "response"
                    )
                });
                // Kept for the error mapping only: a success needs no copy.
                if let Some(c) = &ctx
                    && !resp.status().is_success()
                {
                    c.record_response(resp.status(), resp.headers());
                }
            }
            Err(e) => {
                span.in_scope(
                    || tracing::debug!(error = %e, attempts = stats.attempts, "request failed"),
                );
            }
        }
        if let Some(c) = &ctx {
            c.record_attempts(stats.attempts);
        }
        result
    }

    /// Before a retry: a fresh `Authorization` (the token may have been renewed while waiting).
    /// The `traceparent` stays: all attempts belong to the caller's one logical operation.
    async fn refresh_for_retry(&self, request: &mut reqwest::Request) {
        if let Some(a) = &self.inner.authorizer
            && let Ok(h) = a.header().await
        {
            request.headers_mut().insert(AUTHORIZATION, h);
        }
    }
}

const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-client-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

fn user_agent_header(options: &ClientOptions) -> HeaderValue {
    HeaderValue::from_str(&options.user_agent()).unwrap_or_else(|_| {
        HeaderValue::from_static(concat!("azure-twins/", env!("CARGO_PKG_VERSION")))
    })
}

/// A random (version 4) UUID from the thread-local generator: `Uuid::new_v4` without the
/// `fast-rng` feature makes a `getrandom` system call for every id.
fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// A fresh `x-ms-client-request-id` (UUID v4) for a raw call made outside [`call`].
fn new_request_id_header() -> HeaderValue {
    let mut buf = uuid::Uuid::encode_buffer();
    let id = random_uuid().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).expect("a UUID is a valid header value")
}

/// A random W3C trace id (16 bytes; all-zero is invalid, so never returned).
fn new_trace_id() -> u128 {
    loop {
        let id = rand::random::<u128>();
        if id != 0 {
            return id;
        }
    }
}

/// A random W3C parent id (8 bytes, never all-zero).
fn new_parent_id() -> u64 {
    loop {
        let id = rand::random::<u64>();
        if id != 0 {
            return id;
        }
    }
}

/// `00-<trace id: 32 hex>-<parent id: 16 hex>-01`, built without formatting machinery.
fn traceparent(trace_id: u128, parent_id: u64) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-01";
    for i in 0..32 {
        buf[3 + i] = HEX[((trace_id >> (124 - 4 * i)) & 0xf) as usize];
    }
    for i in 0..16 {
        buf[36 + i] = HEX[((parent_id >> (60 - 4 * i)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&buf).expect("ASCII hex")
}

/// progenitor's snake_case operation ids of the ADT operations whose body is an RFC 6902 JSON
/// Patch. The codegen fixup `adt_json_patch_as_json` re-keys their body as `application/json`
/// (progenitor refuses `application/json-patch+json`), so the real Content-Type is restored here.
/// `tests/raw_wire.rs` sends each of them and checks the header.
pub(crate) const JSON_PATCH_OPERATIONS: [&str; 4] = [
    "digital_twin_models_update",
    "digital_twins_update",
    "digital_twins_update_relationship",
    "digital_twins_update_component",
];

/// The wire fixes every raw request needs, whatever the service.
///
/// - progenitor adds an `api-version: <info.version>` request *header* (a Dropshot convention);
///   Azure takes `api-version` as a query parameter, which the spec declares and the generated
///   code already sends, so the header is removed.
/// - JSON Patch operations get `Content-Type: application/json-patch+json` back.
fn fix_wire(request: &mut reqwest::Request, operation_id: &str) {
    const API_VERSION_HEADER: HeaderName = HeaderName::from_static("api-version");
    request.headers_mut().remove(API_VERSION_HEADER);
    if JSON_PATCH_OPERATIONS.contains(&operation_id) {
        request.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json-patch+json"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Per-call context
// ---------------------------------------------------------------------------------------------

/// State of one logical call, visible to the hooks through [`CALL`].
struct CallContext {
    options: RequestOptions,
    client_request_id: String,
    /// W3C trace id shared by every attempt of the call.
    trace_id: u128,
    state: Mutex<CallState>,
}

#[derive(Default)]
struct CallState {
    hook_error: Option<Error>,
    last_status: Option<StatusCode>,
    last_headers: Option<HeaderMap>,
    attempts: u32,
}

impl CallContext {
    fn new(options: &RequestOptions) -> Arc<Self> {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, CallState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record_response(&self, status: StatusCode, headers: &HeaderMap) {
        let mut s = self.lock();
        s.last_status = Some(status);
        s.last_headers = Some(headers.clone());
    }

    fn record_attempts(&self, attempts: u32) {
        self.lock().attempts += attempts;
    }

    fn record_hook_error(&self, e: Error) {
        self.lock().hook_error = Some(e);
    }
}

tokio::task_local! {
    static CALL: Arc<CallContext>;
}

fn current_call() -> Option<Arc<CallContext>> {
    CALL.try_with(Arc::clone).ok()
}

/// Turns a typed error from `pre` into the string progenitor lets hooks return, keeping the
/// typed error in the call context for [`with_request_options`] to pick up.
fn hook_error<E>(e: Error) -> progenitor_client::Error<E> {
    let prefix = match e.kind() {
        ErrorKind::InsecureTransport => INSECURE_PREFIX,
        _ => CREDENTIAL_PREFIX,
    };
    let msg = format!("{prefix}{e}");
    if let Some(c) = current_call() {
        c.record_hook_error(e);
    }
    progenitor_client::Error::Custom(msg)
}

fn take_hook_error(ctx: &CallContext) -> Option<Error> {
    ctx.lock().hook_error.take()
}

/// Maps a raw error with the help of the call context.
async fn map_raw_error<E: serde::Serialize>(
    ctx: &CallContext,
    e: progenitor_client::Error<E>,
) -> Error {
    let mut err = match e {
        progenitor_client::Error::Custom(msg) => match take_hook_error(ctx) {
            Some(typed) => typed,
            None => Error::from_raw(progenitor_client::Error::<E>::Custom(msg)).await,
        },
        progenitor_client::Error::InvalidResponsePayload(bytes, source) => {
            let (status, headers) = {
                let s = ctx.lock();
                (s.last_status, s.last_headers.clone())
            };
            match (status, headers) {
                // An error body that did not match the generated error type: keep the status.
                (Some(st), Some(h)) if !st.is_success() => {
                    Error::from_response_parts(st, &h, &bytes)
                }
                _ => {
                    Error::from_raw(progenitor_client::Error::<E>::InvalidResponsePayload(
                        bytes, source,
                    ))
                    .await
                }
            }
        }
        other => Error::from_raw(other).await,
    };
    err.set_client_request_id(&ctx.client_request_id);
    err
}

/// Runs one generated-client call with per-call `options` (retry policy, non-idempotent opt-in,
/// client request id, timeout) and maps its error into [`Error`].
///
/// `fut` is the un-awaited raw call, e.g. `raw.modules_get_twin(id, mid, API_VERSION)`.
pub(crate) async fn with_request_options<T, E, Fut>(
    options: &RequestOptions,
    fut: Fut,
) -> Result<ResponseValue<T>>
where
    E: serde::Serialize,
    Fut: Future<Output = std::result::Result<ResponseValue<T>, progenitor_client::Error<E>>>,
{
    let ctx = CallContext::new(options);
    match CALL.scope(ctx.clone(), fut).await {
        Ok(rv) => Ok(rv),
        Err(e) => Err(map_raw_error(&ctx, e).await),
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

/// Sends `method url` (an absolute URL on the client's own host, e.g. an ADT `nextLink`) through
/// the same hooks as generated calls: auth, retry, tracing, client request id. Returns the body
/// and headers of a 2xx response, or a typed error.
///
/// Refuses (nothing sent) a URL whose scheme, host or port differs from the client's base URL,
/// so a forged link cannot collect the credential.
#[cfg(any(feature = "iothub", feature = "digitaltwins"))]
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send_absolute<C>(
    client: &C,
    options: &RequestOptions,
    method: Method,
    url: &str,
    headers: HeaderMap,
    body: Option<&serde_json::Value>,
    operation_id: &'static str,
) -> Result<(bytes::Bytes, HeaderMap)>
where
    C: ClientInfo<Pipeline> + ClientHooks<Pipeline>,
{
    let target = reqwest::Url::parse(url).map_err(|e| {
        Error::new(
            ErrorKind::DataConversion,
            format!("the service returned an invalid link ({e})"),
        )
    })?;
    if !same_origin_prefix(url, client.baseurl()) {
        let base = reqwest::Url::parse(client.baseurl())
            .map_err(|e| Error::new(ErrorKind::Other, format!("invalid base URL ({e})")))?;
        if target.scheme() != base.scheme()
            || !target
                .host_str()
                .unwrap_or("")
                .eq_ignore_ascii_case(base.host_str().unwrap_or(""))
            || target.port_or_known_default() != base.port_or_known_default()
        {
            return Err(Error::new(
                ErrorKind::InsecureTransport,
                format!(
                    "refusing to follow a link to {}://{}: it is not the client's endpoint",
                    target.scheme(),
                    target.host_str().unwrap_or("")
                ),
            ));
        }
    }
    send_url(client, options, method, target, headers, body, operation_id).await
}

/// True when `url` is `base` followed by a path or query (`/…`, `?…`) or nothing: then both
/// have the same scheme, host and port without parsing `base`. Anything else (e.g.
/// `base` + `@evil.example`, or another port that merely starts with the same digits) is left
/// to the full comparison.
fn same_origin_prefix(url: &str, base: &str) -> bool {
    let base = base.trim_end_matches('/');
    // A base with a path (`https://h/p`) could be followed by `/../`; only scheme://authority
    // bases take the shortcut.
    let authority_only = base
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains(['/', '?', '#', '@', '\\']));
    authority_only
        && url
            .strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
}

/// [`send_absolute`] for a URL the facade built itself on the client's endpoint (no origin
/// check needed beyond the `pre` hook's transport check).
#[cfg(any(feature = "iothub", feature = "digitaltwins"))]
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send_url<C>(
    client: &C,
    options: &RequestOptions,
    method: Method,
    target: reqwest::Url,
    headers: HeaderMap,
    body: Option<&serde_json::Value>,
    operation_id: &'static str,
) -> Result<(bytes::Bytes, HeaderMap)>
where
    C: ClientInfo<Pipeline> + ClientHooks<Pipeline>,
{
    // One header map sized for what `pre` adds (authorization, user agent, request id,
    // traceparent), so it is not grown and re-hashed on the way.
    let mut all = HeaderMap::with_capacity(headers.len() + 6);
    all.insert(ACCEPT, HeaderValue::from_static("application/json"));
    all.extend(headers); // the caller's headers win, as with `RequestBuilder::headers`
    let mut request = reqwest::Request::new(method, target);
    if let Some(b) = body {
        let bytes = serde_json::to_vec(b).map_err(|e| {
            Error::new(ErrorKind::Other, "could not encode the request body").with_source(e)
        })?;
        all.entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("application/json"));
        *request.body_mut() = Some(bytes.into());
    }
    *request.headers_mut() = all;
    let ctx = CallContext::new(options);
    let info = OperationInfo { operation_id };
    let ctx2 = ctx.clone();
    let outcome = CALL
        .scope(ctx.clone(), async move {
            client
                .pre::<()>(&mut request, &info)
                .await
                .map_err(|_| ctx2.lock().hook_error.take())?;
            Ok::<_, Option<Error>>(client.exec(request, &info).await)
        })
        .await;
    let mut result = match outcome {
        Err(typed) => {
            Err(typed.unwrap_or_else(|| Error::credential("the credential could not be applied")))
        }
        Ok(Err(e)) => Err(Error::from_reqwest(e)),
        Ok(Ok(mut resp)) if resp.status().is_success() => {
            // The headers are moved out (no copy); the body does not need them.
            let headers = std::mem::take(resp.headers_mut());
            resp.bytes()
                .await
                .map(|b| (b, headers))
                .map_err(Error::from_reqwest)
        }
        Ok(Ok(resp)) => Err(Error::from_response(resp).await),
    };
    if let Err(e) = &mut result {
        e.set_client_request_id(&ctx.client_request_id);
    }
    result
}

/// Authenticated GET of an absolute URL (ADT `nextLink`), see [`send_absolute`].
#[cfg(feature = "digitaltwins")]
pub(crate) async fn get_absolute<C>(
    client: &C,
    options: &RequestOptions,
    url: &str,
    headers: HeaderMap,
) -> Result<(bytes::Bytes, HeaderMap)>
where
    C: ClientInfo<Pipeline> + ClientHooks<Pipeline>,
{
    send_absolute(
        client,
        options,
        Method::GET,
        url,
        headers,
        None,
        "get_next_link",
    )
    .await
}

/// Builds the generated IoT Hub client for `endpoint` with a pipeline and an HTTP client made
/// from `options`.
#[cfg(feature = "iothub")]
#[allow(dead_code)]
pub(crate) fn raw_iothub_client(
    endpoint: &str,
    credential: Option<&Credential>,
    options: ClientOptions,
) -> Result<crate::raw::iothub::Client> {
    let http = options.build_http_client()?;
    let pipeline = Pipeline::new(Service::IotHub, endpoint, credential, options)?;
    Ok(crate::raw::iothub::Client::new_with_client(
        endpoint.trim_end_matches('/'),
        http,
        pipeline,
    ))
}

/// Builds the generated ADT client for `endpoint` with a pipeline and an HTTP client made from
/// `options`.
#[cfg(feature = "digitaltwins")]
#[allow(dead_code)]
pub(crate) fn raw_digitaltwins_client(
    endpoint: &str,
    credential: Option<&Credential>,
    options: ClientOptions,
) -> Result<crate::raw::digitaltwins::Client> {
    let http = options.build_http_client()?;
    let pipeline = Pipeline::new(Service::DigitalTwins, endpoint, credential, options)?;
    Ok(crate::raw::digitaltwins::Client::new_with_client(
        endpoint.trim_end_matches('/'),
        http,
        pipeline,
    ))
}

#[cfg(feature = "iothub")]
impl ClientHooks<Pipeline> for crate::raw::iothub::Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> std::result::Result<(), progenitor_client::Error<E>> {
        self.inner()
            .prepare(request, info.operation_id)
            .await
            .map_err(hook_error)
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        self.inner()
            .execute(self.client(), request, info.operation_id)
            .await
    }
}

#[cfg(feature = "digitaltwins")]
impl ClientHooks<Pipeline> for crate::raw::digitaltwins::Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> std::result::Result<(), progenitor_client::Error<E>> {
        self.inner()
            .prepare(request, info.operation_id)
            .await
            .map_err(hook_error)
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        self.inner()
            .execute(self.client(), request, info.operation_id)
            .await
    }
}

/// The loopback test server shared with the integration tests.
#[cfg(test)]
#[path = "../tests/pipeline_support/mod.rs"]
mod test_support;

#[cfg(all(test, feature = "iothub", feature = "digitaltwins"))]
mod tests {
    use super::test_support as support;
    use super::*;
    use crate::retry::RetryOptions;
    use support::{Reply, Server};

    const IOTHUB_API: &str = "2021-04-12";

    fn opts() -> ClientOptions {
        ClientOptions::default()
            .retry(RetryOptions::default().jitter(0.0))
            .connect_timeout(std::time::Duration::from_secs(3600))
    }

    fn iothub(server: &Server, credential: Option<&Credential>) -> crate::raw::iothub::Client {
        raw_iothub_client(&server.url(), credential, opts()).unwrap()
    }

    fn adt(server: &Server) -> crate::raw::digitaltwins::Client {
        raw_digitaltwins_client(&server.url(), None, opts()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn non_idempotent_call_retries_only_with_opt_in() {
        let server = Server::scripted(
            vec![Reply::json(503, "{}"), Reply::Drop],
            Reply::json(200, r#"{"status":200,"payload":{"ok":true}}"#),
        )
        .await;
        let client = iothub(&server, None);
        let body = crate::raw::iothub::types::CloudToDeviceMethod::default();
        let err = call(
            &RequestOptions::default(),
            client.devices_invoke_method("d1", IOTHUB_API, &body),
        )
        .await
        .unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(server.count(), 1);
        // Opted in: the drop and the 200 follow.
        let reply = call(
            &RequestOptions::default().retry_non_idempotent(true),
            client.devices_invoke_method("d1", IOTHUB_API, &body),
        )
        .await
        .unwrap();
        assert_eq!(reply.value.status, Some(200));
        assert_eq!(server.count(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn per_call_retry_policy_overrides_the_client_policy() {
        let server = Server::always(Reply::json(503, "{}")).await;
        let client = iothub(&server, None);
        let err = call(
            &RequestOptions::default().retry(RetryOptions::none()),
            client.devices_get_twin("d1", IOTHUB_API),
        )
        .await
        .unwrap_err();
        assert_eq!(server.count(), 1);
        assert!(err.client_request_id().is_some());
        let err = call(
            &RequestOptions::default()
                .retry(RetryOptions::default().max_retries(2).jitter(0.0))
                .client_request_id("my-id"),
            client.devices_get_twin("d1", IOTHUB_API),
        )
        .await
        .unwrap_err();
        assert_eq!(server.count(), 4);
        assert_eq!(err.client_request_id(), Some("my-id"));
        assert!(
            server.requests()[1..]
                .iter()
                .all(|r| r.header("x-ms-client-request-id") == Some("my-id"))
        );
    }

    #[tokio::test]
    async fn iothub_error_body_is_typed() {
        let server = Server::always(
            Reply::json(
                412,
                r#"{"Message":"ErrorCode:PreconditionFailed;Precondition failed: Device version did not match","ExceptionMessage":"Tracking ID:e4a9090fbc2f4a78b13ba7a01fb30ffe-G:12-TimeStamp:07/07/2021 20:45:26"}"#,
            )
            .with_header("iothub-errorcode", "PreconditionFailed")
            .with_header("x-ms-request-id", "e4a9090f-bc2f-4a78-b13b-a7a01fb30ffe"),
        )
        .await;
        let client = iothub(&server, None);
        let twin = crate::raw::iothub::types::Twin::new("d1");
        let err = call(
            &RequestOptions::default(),
            client.devices_update_twin("d1", IOTHUB_API, Some("\"x\""), &twin),
        )
        .await
        .unwrap_err();
        assert!(err.is_precondition_failed());
        assert_eq!(err.error_code(), Some("PreconditionFailed"));
        assert_eq!(
            err.request_id(),
            Some("e4a9090f-bc2f-4a78-b13b-a7a01fb30ffe")
        );
        assert_eq!(err.tracking_id(), Some("e4a9090fbc2f4a78b13ba7a01fb30ffe"));
    }

    #[tokio::test]
    async fn error_body_that_does_not_match_the_schema_keeps_its_status() {
        // ADT's ASP.NET validation body has no `error` member, so the generated ErrorResponse
        // cannot decode it; the status and headers must survive anyway.
        let server = Server::always(
            Reply::json(400, r#"{"errors":{"[0]":["bad"]},"title":"One or more validation errors occurred.","status":400}"#)
                .with_header("x-ms-request-id", "req-1"),
        )
        .await;
        let client = adt(&server);
        let err = call(
            &RequestOptions::default(),
            client.digital_twins_get_by_id("t1", "2023-10-31", None, None),
        )
        .await
        .unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
        assert_eq!(err.request_id(), Some("req-1"));
        // And an empty 503 body after retries are exhausted.
        let server = Server::always(Reply::Respond {
            status: 503,
            headers: vec![("retry-after".into(), "0".into())],
            body: String::new(),
        })
        .await;
        let client = adt(&server);
        let err = call(
            &RequestOptions::default().retry(RetryOptions::none()),
            client.digital_twins_get_by_id("t1", "2023-10-31", None, None),
        )
        .await
        .unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(err.retry_after(), Some(std::time::Duration::ZERO));
    }

    #[tokio::test]
    async fn adt_error_with_inner_code() {
        let server = Server::always(Reply::json(
            404,
            r#"{"error":{"code":"DigitalTwinNotFound","message":"There is no digital twin instance that exists with the ID t1.","innererror":{"code":"Inner","innererror":{"code":"Innermost"}}}}"#,
        ))
        .await;
        let client = adt(&server);
        let err = call(
            &RequestOptions::default(),
            client.digital_twins_get_by_id("t1", "2023-10-31", None, None),
        )
        .await
        .unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(err.error_code(), Some("DigitalTwinNotFound"));
        assert_eq!(err.inner_error_code(), Some("Innermost"));
    }

    #[tokio::test]
    async fn reply_exposes_headers() {
        let server = Server::always(
            Reply::json(200, r#"[{"deviceId":"d1"}]"#)
                .with_header("x-ms-continuation", "tok-2")
                .with_header("etag", "\"AAAA\""),
        )
        .await;
        let client = iothub(&server, None);
        let q = crate::raw::iothub::types::QuerySpecification {
            query: Some("SELECT * FROM devices".into()),
        };
        let reply = call(
            &RequestOptions::default(),
            client.query_get_twins(IOTHUB_API, None, Some("1"), &q),
        )
        .await
        .unwrap();
        assert_eq!(reply.value.len(), 1);
        assert_eq!(reply.continuation_header(), Some("tok-2"));
        assert_eq!(reply.etag().unwrap().as_header(), "\"AAAA\"");
        assert_eq!(reply.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn absolute_links_go_through_the_hooks_and_stay_on_the_endpoint() {
        let server = Server::always(Reply::json(200, r#"{"value":[1],"nextLink":null}"#)).await;
        let cred = Credential::bearer_token("tok-secret");
        let client = raw_digitaltwins_client(&server.url(), Some(&cred), opts()).unwrap();
        let url = format!(
            "{}/relationships?continuationToken=abc&api-version=2023-10-31",
            server.url()
        );
        let (body, _) = get_absolute(&client, &RequestOptions::default(), &url, HeaderMap::new())
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"value":[1],"nextLink":null}"#);
        let r = &server.requests()[0];
        assert_eq!(r.header("authorization"), Some("Bearer tok-secret"));
        assert!(r.header("x-ms-client-request-id").is_some());
        assert!(r.target.starts_with("/relationships?continuationToken=abc"));
        // Another host or port: refused, nothing sent.
        for bad in [
            "http://127.0.0.2:1/x",
            "https://evil.example/x",
            "http://localhost:1/x",
        ] {
            let err = get_absolute(&client, &RequestOptions::default(), bad, HeaderMap::new())
                .await
                .unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InsecureTransport, "{bad}");
        }
        assert_eq!(server.count(), 1);
    }

    #[tokio::test]
    async fn credential_over_plain_http_to_a_remote_host_is_refused_before_sending() {
        let cred = Credential::bearer_token("tok-secret");
        let err = Pipeline::new(
            Service::DigitalTwins,
            "http://twins.example.com",
            Some(&cred),
            opts(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InsecureTransport);
        assert!(!err.to_string().contains("tok-secret"));
        // A raw client whose base URL differs from the pipeline's endpoint is caught in `pre`.
        let pipeline = Pipeline::new(
            Service::DigitalTwins,
            "http://127.0.0.1:9",
            Some(&cred),
            opts(),
        )
        .unwrap();
        let client = crate::raw::digitaltwins::Client::new_with_client(
            "http://twins.invalid",
            opts().build_http_client().unwrap(),
            pipeline,
        );
        let err = call(
            &RequestOptions::default(),
            client.digital_twins_get_by_id("t1", "2023-10-31", None, None),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InsecureTransport);
        // Raw users see progenitor's Custom error with the same message.
        let raw_err = client
            .digital_twins_get_by_id("t1", "2023-10-31", None, None)
            .await
            .unwrap_err();
        assert!(
            raw_err.to_string().contains("insecure transport"),
            "{raw_err}"
        );
    }

    #[test]
    fn origin_shortcut_only_accepts_the_base_followed_by_a_path_or_query() {
        let base = "http://127.0.0.1:80";
        for ok in [
            "http://127.0.0.1:80",
            "http://127.0.0.1:80/x",
            "http://127.0.0.1:80?a=1",
        ] {
            assert!(same_origin_prefix(ok, base), "{ok}");
            assert!(same_origin_prefix(ok, "http://127.0.0.1:80/"), "{ok}");
        }
        // Left to the full comparison: another port, userinfo tricks, other schemes or hosts,
        // and bases that carry a path.
        for other in [
            "http://127.0.0.1:8080/x",
            "http://127.0.0.1:80@evil.example/x",
            "http://127.0.0.1:80.evil.example/x",
            "https://127.0.0.1:80/x",
            "http://127.0.0.10:80/x",
            "http://127.0.0.1:80\\x",
        ] {
            assert!(!same_origin_prefix(other, base), "{other}");
        }
        assert!(!same_origin_prefix("https://h/p/../x", "https://h/p"));
        assert!(!same_origin_prefix("https://h/x", "https://"));
    }

    #[test]
    fn traceparent_is_w3c_shaped() {
        let v = traceparent(
            0x0123_4567_89ab_cdef_0011_2233_4455_6677,
            0xfedc_ba98_7654_3210,
        );
        assert_eq!(
            v.to_str().unwrap(),
            "00-0123456789abcdef0011223344556677-fedcba9876543210-01"
        );
        let v = traceparent(1, 1);
        assert_eq!(
            v.to_str().unwrap(),
            "00-00000000000000000000000000000001-0000000000000001-01"
        );
        assert_ne!(new_trace_id(), 0);
        let id = random_uuid();
        assert_eq!(id.get_version(), Some(uuid::Version::Random));
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(id, random_uuid());
        assert_ne!(new_parent_id(), 0);
    }

    #[test]
    fn idempotency_table_names_real_operations() {
        let generated = concat!(
            include_str!(concat!(env!("OUT_DIR"), "/iothub.rs")),
            include_str!(concat!(env!("OUT_DIR"), "/digitaltwins.rs"))
        );
        for id in crate::retry::table_operation_ids().chain(JSON_PATCH_OPERATIONS) {
            assert!(
                generated.contains(&format!("operation_id: \"{id}\"")),
                "{id} is not a generated operation id"
            );
        }
    }
}
