//! The IoT Hub service API surface (api-version 2021-04-12 wire format): identities, twins, query,
//! scheduled jobs, direct methods, configurations, statistics and bulk registry operations.

pub mod auth;
pub mod c2d;
mod configurations;
pub mod error;
mod identities;
mod import_export;
mod jobs;
mod methods;
pub mod model;
mod pnp;
mod query;
mod twins;
pub mod validate;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use error::HubError;
use model::IfMatch;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

pub(crate) use methods::MethodHandler;
pub use methods::MethodInvocation;

/// Everything the hub stores, behind one lock so conditional writes are atomic.
#[derive(Debug, Default)]
pub(crate) struct HubState {
    pub devices: BTreeMap<String, model::Device>,
    pub configurations: BTreeMap<String, configurations::Configuration>,
    pub jobs: BTreeMap<String, jobs::Job>,
    /// Per-device job records (`FROM devices.jobs`), in creation order.
    pub device_jobs: Vec<Value>,
    /// Import/export jobs (`/jobs/create`).
    pub import_export: import_export::ImportExportJobs,
}

impl HubState {
    /// The device `id`, or 404 `DeviceNotFound`.
    pub fn device(&self, id: &str) -> Result<&model::Device, HubError> {
        self.devices
            .get(id)
            .ok_or_else(|| HubError::device_not_found(id))
    }
    /// The device `id` for writing, or 404 `DeviceNotFound`.
    pub fn device_mut(&mut self, id: &str) -> Result<&mut model::Device, HubError> {
        self.devices
            .get_mut(id)
            .ok_or_else(|| HubError::device_not_found(id))
    }
    /// The device `id` and its module `mid`, or 404 `DeviceNotFound` / `ModuleNotFound`.
    pub fn module(
        &self,
        id: &str,
        mid: &str,
    ) -> Result<(&model::Device, &model::Module), HubError> {
        let d = self.device(id)?;
        let m = d
            .modules
            .get(mid)
            .ok_or_else(|| HubError::module_not_found(id, mid))?;
        Ok((d, m))
    }
}

/// Registered direct-method handlers are keyed by (device id, module id, method name); `*` in
/// any part matches anything (see [`methods::find_handler`]).
type MethodKey = (String, Option<String>, String);

/// Shared hub internals.
pub(crate) struct HubInner {
    pub auth: auth::Authenticator,
    pub state: RwLock<HubState>,
    /// Global identity etag counter (identity etags are base64 of its decimal value).
    pub identity_etags: AtomicU64,
    pub methods: RwLock<HashMap<MethodKey, MethodHandler>>,
    /// Cloud-to-device message queues.
    pub c2d: std::sync::Mutex<c2d::C2dState>,
    /// Stops the job scheduler tasks on shutdown.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

impl HubInner {
    pub fn next_identity_etag(&self) -> u64 {
        self.identity_etags.fetch_add(1, Ordering::Relaxed)
    }
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, HubState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, HubState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

type Hub = Arc<HubInner>;

/// The emulated IoT Hub: state plus the axum router serving it. Cheap to clone.
#[derive(Clone)]
pub struct IotHubService {
    inner: Hub,
}

impl std::fmt::Debug for IotHubService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IotHubService").finish_non_exhaustive()
    }
}

impl IotHubService {
    /// A new, empty hub that accepts SAS tokens whose resource names one of `hosts` (e.g. `127.0.0.1:4242`).
    pub(crate) fn new(hosts: Vec<String>) -> Self {
        let (shutdown, _) = tokio::sync::watch::channel(false);
        Self {
            inner: Arc::new(HubInner {
                auth: auth::Authenticator::new(hosts),
                state: RwLock::new(HubState::default()),
                identity_etags: AtomicU64::new(1),
                methods: RwLock::new(HashMap::new()),
                c2d: Default::default(),
                shutdown,
            }),
        }
    }

    /// The base64 key of a shared access policy (`iothubowner`, `service`, `registryRead`, `registryReadWrite`).
    pub(crate) fn policy_key(&self, policy: &str) -> Option<String> {
        self.inner.auth.policy_key(policy).map(str::to_string)
    }

    /// How many distinct SAS tokens were accepted so far.
    pub(crate) fn distinct_sas_tokens_seen(&self) -> usize {
        self.inner.auth.distinct_tokens()
    }

    /// Registers the handler answering `method_name` on a device (or one of its modules).
    pub(crate) fn register_method_handler(
        &self,
        device_id: &str,
        module_id: Option<&str>,
        method_name: &str,
        handler: MethodHandler,
    ) {
        let key = (
            device_id.to_string(),
            module_id.map(str::to_string),
            method_name.to_string(),
        );
        self.inner
            .methods
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, handler);
    }

    /// Stops background job tasks.
    pub(crate) fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
    }

    /// Every IoT Hub route, with SAS verification and api-version checking.
    pub(crate) fn router(&self) -> Router {
        Router::new()
            .route(
                "/devices",
                get(identities::list_devices).post(identities::bulk),
            )
            // The Node SDK's Registry.list sends `GET /devices/` (trailing slash), as the service allows.
            .route("/devices/", get(identities::list_devices))
            .route("/devices/query", post(query::query_twins))
            .route(
                "/devices/{id}",
                get(identities::get_device)
                    .put(identities::put_device)
                    .delete(identities::delete_device),
            )
            .route("/devices/{id}/modules", get(identities::list_modules))
            .route("/devices/{id}/commands", axum::routing::delete(c2d::purge))
            .route(
                "/messages/serviceBound/feedback",
                get(c2d::receive_feedback),
            )
            .route(
                "/messages/serviceBound/feedback/{token}",
                axum::routing::delete(c2d::complete_feedback),
            )
            .route(
                "/messages/serviceBound/feedback/{token}/abandon",
                post(c2d::abandon_feedback),
            )
            .route("/digitaltwins/{id}", get(pnp::get).patch(pnp::update))
            .route(
                "/digitaltwins/{id}/commands/{command}",
                post(pnp::root_command),
            )
            .route(
                "/digitaltwins/{id}/components/{component}/commands/{command}",
                post(pnp::component_command),
            )
            .route(
                "/devices/{id}/modules/{mid}",
                get(identities::get_module)
                    .put(identities::put_module)
                    .delete(identities::delete_module),
            )
            .route(
                "/devices/{id}/applyConfigurationContent",
                post(configurations::apply_content),
            )
            .route(
                "/twins/{id}",
                get(twins::get_twin)
                    .patch(twins::patch_twin)
                    .put(twins::put_twin),
            )
            .route(
                "/twins/{id}/modules/{mid}",
                get(twins::get_module_twin)
                    .patch(twins::patch_module_twin)
                    .put(twins::put_module_twin),
            )
            .route("/twins/{id}/methods", post(methods::invoke_device))
            .route(
                "/twins/{id}/modules/{mid}/methods",
                post(methods::invoke_module),
            )
            .route("/configurations", get(configurations::list))
            .route(
                "/configurations/testQueries",
                post(configurations::test_queries),
            )
            .route(
                "/configurations/{id}",
                get(configurations::get)
                    .put(configurations::put)
                    .delete(configurations::delete),
            )
            .route("/statistics/devices", get(identities::device_statistics))
            .route("/statistics/service", get(identities::service_statistics))
            .route("/jobs/v2/query", get(jobs::query))
            .route("/jobs/v2/{id}", put(jobs::create).get(jobs::get))
            .route("/jobs/v2/{id}/cancel", post(jobs::cancel))
            .route("/jobs/create", post(import_export::create))
            .route("/jobs", get(import_export::list))
            .route(
                "/jobs/{id}",
                get(import_export::get).delete(import_export::cancel),
            )
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                self.inner.clone(),
                gate,
            ))
            .with_state(self.inner.clone())
    }
}

async fn not_found(method: Method, uri: axum::http::Uri) -> HubError {
    HubError::new(
        StatusCode::NOT_FOUND,
        "GenericNotFound",
        format!("no IoT Hub operation {method} {}", uri.path()),
    )
}

/// A known path with a method it does not support: 405 in the hub's error shape (axum's own
/// answer has an empty body).
async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> HubError {
    HubError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("{method} is not supported on {}", uri.path()),
    )
}

/// Which right a request needs.
fn need(method: &Method, path: &str) -> auth::Need {
    use auth::Need::*;
    let registry = (path.starts_with("/devices") && path != "/devices/query")
        || path.starts_with("/configurations")
        || path.starts_with("/statistics");
    if path.ends_with("/applyConfigurationContent") {
        return RegistryWrite;
    }
    if path == "/jobs" || (path.starts_with("/jobs/") && !path.starts_with("/jobs/v2")) {
        // Import/export jobs read or write the identity registry.
        return if method == Method::GET {
            RegistryRead
        } else {
            RegistryWrite
        };
    }
    if path.starts_with("/devices/") && path.ends_with("/commands") {
        // Purging a cloud-to-device queue is a messaging operation.
        return ServiceConnect;
    }
    match (registry, method == Method::GET) {
        (true, true) => RegistryRead,
        (true, false) => RegistryWrite,
        (false, _) => ServiceConnect,
    }
}

/// Largest request body the emulated hub reads: 256 KB, the hub's largest message size (a
/// direct-method request of 128 KB payload plus its envelope fits; twin sections are limited to
/// 8 + 32 KB by validation). Over it: 413 `MessageTooLarge` (the exact request cap of the
/// service is unconfirmed).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// A request refused before routing, in the IoT Hub error shape.
fn rejection(r: crate::screen::Rejection) -> HubError {
    use crate::screen::Rejection::*;
    match r {
        TooLarge { limit } => HubError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "MessageTooLarge",
            format!("the request body is larger than the limit of {limit} bytes"),
        ),
        UnsupportedMediaType(ct) => HubError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("Content-Type '{ct}' is not supported; send application/json"),
        ),
        BadPath => HubError::invalid("the request path is not valid UTF-8 once percent-decoded"),
        Incomplete(e) => HubError::format(format!(
            "the request body could not be read to its end: {e}"
        )),
    }
}

/// Screening (path, body size, content type), auth, api-version and `x-ms-request-id` for
/// every IoT Hub request.
async fn gate(State(hub): State<Hub>, req: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut resp = match crate::screen::screen(req, MAX_REQUEST_BYTES).await {
        Err(r) => rejection(r).into_response(),
        Ok(req) => match check(&hub, &req) {
            Ok(()) => next.run(req).await,
            Err(e) => e.into_response(),
        },
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-ms-request-id", v);
    }
    resp
}

fn check(hub: &Hub, req: &Request) -> Result<(), HubError> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    hub.auth
        .verify(header, need(req.method(), req.uri().path()))?;
    let version = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("api-version=").map(str::to_string))
    });
    match version {
        None => Err(HubError::new(
            StatusCode::BAD_REQUEST,
            "InvalidProtocolVersion",
            "the api-version query parameter is required",
        )),
        Some(v) if !crate::api_versions::iothub_accepts(&v) => Err(HubError::new(
            StatusCode::BAD_REQUEST,
            "InvalidProtocolVersion",
            format!(
                "api-version '{v}' is not supported; supported: {}",
                crate::api_versions::IOTHUB.join(", ")
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// A JSON response with the service's content type and optionally a quoted `ETag` header.
pub(crate) fn json(status: StatusCode, body: &Value, etag: Option<&str>) -> Response {
    let mut resp = (status, serde_json::to_vec(body).unwrap_or_default()).into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(e) = etag
        && let Ok(v) = HeaderValue::from_str(&format!("\"{e}\""))
    {
        h.insert("etag", v);
    }
    resp
}

/// Parses a JSON request body.
pub(crate) fn body_json(body: &Bytes) -> Result<Value, HubError> {
    if body.is_empty() {
        return Err(HubError::new(
            StatusCode::BAD_REQUEST,
            "ArgumentNull",
            "the request body is empty",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| HubError::format(format!("the request body is not valid JSON: {e}")))
}

/// The request's `If-Match`. A value that is not UTF-8 is kept (lossily) so that it matches no
/// etag (412) instead of being taken for an absent header (an unconditional write).
pub(crate) fn if_match(headers: &HeaderMap) -> IfMatch {
    let raw = headers
        .get("if-match")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    IfMatch::parse(raw.as_deref())
}

/// Future type of asynchronous method handlers.
pub(crate) type MethodFuture = Pin<Box<dyn Future<Output = (i32, Value)> + Send>>;
