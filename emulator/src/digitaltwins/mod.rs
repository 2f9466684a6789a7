//! The Azure Digital Twins data-plane surface (wire format of api-version 2023-10-31; the versions
//! served and their surfaces are in `crate::api_versions`).
//!
//! Contract with the rest of the crate (`lib.rs` owns listeners, TLS and fault injection):
//! `DigitalTwinsService::new(options)` builds the state, `router()` serves every ADT route
//! (bearer-token check, with JWT `exp` expiry, included), `telemetry()` shows what was received.
//!
//! All state lives behind one `RwLock`; every write (including conditional ones) checks its precondition and
//! applies its change under the write lock, so of two concurrent conditional writes exactly one wins.

mod auth;
mod dtdl;
mod error;
mod jobs;
mod models;
mod query_exec;
mod relationships;
mod routes;
mod twins;
mod util;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

pub use error::AdtError;

/// Options of the emulated Azure Digital Twins instance.
#[derive(Clone, Default)]
pub struct DigitalTwinsOptions {
    /// When set, requests must carry `Authorization: Bearer <this token>`; otherwise any bearer token is accepted.
    /// Either way a JWT-shaped token whose `exp` claim has passed is refused with 401, as the service does.
    pub bearer_token: Option<String>,
    /// Whether the listener serving the router uses TLS, so absolute links (`nextLink`, `Operation-Location`)
    /// are built with `https`; plain HTTP otherwise. An `X-Forwarded-Proto` request header overrides it.
    pub tls: bool,
}

impl std::fmt::Debug for DigitalTwinsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: show only whether one is configured.
        f.debug_struct("DigitalTwinsOptions")
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("tls", &self.tls)
            .finish()
    }
}

/// One telemetry message received on `/digitaltwins/{id}/telemetry` or a component's telemetry route.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TelemetryEvent {
    /// Twin id the telemetry was sent to.
    pub twin_id: String,
    /// Component path, for component telemetry.
    pub component: Option<String>,
    /// The `Message-Id` header.
    pub message_id: String,
    /// The `Telemetry-Source-Time` header, when sent.
    pub source_time: Option<String>,
    /// The JSON body.
    pub body: serde_json::Value,
}

/// A stored model and its service-side metadata.
#[derive(Debug, Clone)]
pub(crate) struct ModelEntry {
    /// Upload order, for stable listing.
    seq: u64,
    /// `uploadTime` as the service formats it.
    upload_time: String,
    /// Decommissioned models cannot be used by new twins.
    decommissioned: bool,
    /// The DTDL interface, `@context` normalised to an array.
    model: Value,
}

/// Everything the instance holds.
#[derive(Debug, Default)]
pub(crate) struct AdtState {
    models: BTreeMap<String, ModelEntry>,
    model_seq: u64,
    /// Twin id → stored twin document (with `$dtId`, `$etag`, `$metadata`).
    twins: BTreeMap<String, Value>,
    /// Source twin id → relationship id → relationship document.
    rels: BTreeMap<String, BTreeMap<String, Value>>,
    /// Target twin id → (source id, relationship id).
    incoming: HashMap<String, BTreeSet<(String, String)>>,
    routes: BTreeMap<String, Value>,
    imports: BTreeMap<String, Value>,
    /// Held by the running import job: import jobs run one at a time (see `jobs.rs`).
    import_lock: Arc<tokio::sync::Mutex<()>>,
    deletions: BTreeMap<String, Value>,
    telemetry: Vec<TelemetryEvent>,
}

impl AdtState {
    /// A stored interface by id (for `extends` / component resolution).
    fn lookup(&self, id: &str) -> Option<Value> {
        self.models.get(id).map(|m| m.model.clone())
    }

    /// The flattened interface of a stored model.
    fn resolve_model(&self, id: &str) -> Result<dtdl::Resolved, AdtError> {
        let m = self
            .models
            .get(id)
            .ok_or_else(|| AdtError::model_not_found(id))?;
        dtdl::resolve(&m.model, &|x| self.lookup(x))
    }

    /// Whether `model` is `target` or inherits from it (IS_OF_MODEL semantics).
    fn is_of_model(&self, model: &str, target: &str, exact: bool) -> bool {
        if model == target {
            return true;
        }
        if exact {
            return false;
        }
        match self.resolve_model(model) {
            Ok(r) => r.ancestry.iter().any(|a| a == target),
            Err(_) => false,
        }
    }

    /// Remove every relationship, twin and model (delete jobs).
    fn clear_data(&mut self) {
        self.rels.clear();
        self.incoming.clear();
        self.twins.clear();
        self.models.clear();
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    options: DigitalTwinsOptions,
    state: RwLock<AdtState>,
}

/// The emulated Azure Digital Twins instance: shared state behind a cheap clone.
#[derive(Debug, Clone)]
pub struct DigitalTwinsService {
    inner: Arc<Inner>,
}

impl Default for DigitalTwinsService {
    fn default() -> Self {
        Self::new(DigitalTwinsOptions::default())
    }
}

impl DigitalTwinsService {
    /// A new, empty instance.
    pub fn new(options: DigitalTwinsOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                state: RwLock::new(AdtState::default()),
            }),
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, AdtState> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, AdtState> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn tls(&self) -> bool {
        self.inner.options.tls
    }

    /// Every ADT route, ready to be served on its own listener.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/models", post(models::add).get(models::list))
            .route(
                "/models/{id}",
                get(models::get_one)
                    .patch(models::update)
                    .delete(models::delete),
            )
            .route("/query", post(query_exec::query))
            .route(
                "/digitaltwins/{id}",
                get(twins::get_twin)
                    .put(twins::put_twin)
                    .patch(twins::patch_twin)
                    .delete(twins::delete_twin),
            )
            .route(
                "/digitaltwins/{id}/components/{component}",
                get(twins::get_component).patch(twins::patch_component),
            )
            .route("/digitaltwins/{id}/telemetry", post(twins::telemetry))
            .route(
                "/digitaltwins/{id}/components/{component}/telemetry",
                post(twins::component_telemetry),
            )
            .route("/digitaltwins/{id}/relationships", get(relationships::list))
            .route(
                "/digitaltwins/{id}/incomingrelationships",
                get(relationships::list_incoming),
            )
            .route(
                "/digitaltwins/{id}/relationships/{rel}",
                get(relationships::get_one)
                    .put(relationships::put)
                    .patch(relationships::patch)
                    .delete(relationships::delete),
            )
            .route("/eventroutes", get(routes::list))
            .route(
                "/eventroutes/{id}",
                get(routes::get_one).put(routes::put).delete(routes::delete),
            )
            .route("/jobs/imports", get(jobs::list_imports))
            .route(
                "/jobs/imports/{id}",
                get(jobs::get_import)
                    .put(jobs::put_import)
                    .delete(jobs::delete_import),
            )
            .route("/jobs/imports/{id}/cancel", post(jobs::cancel_import))
            .route(
                "/jobs/deletions",
                post(jobs::add_deletion).get(jobs::list_deletions),
            )
            .route("/jobs/deletions/{id}", get(jobs::get_deletion))
            .route("/EventRoutes", get(routes::list))
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(self.clone(), guard))
            // `guard` enforces the body limits (in the ADT error shape).
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(self.clone())
    }

    /// Telemetry received so far, oldest first.
    pub fn telemetry(&self) -> Vec<TelemetryEvent> {
        self.read().telemetry.clone()
    }

    /// Number of twins currently stored.
    #[cfg(test)]
    pub fn twin_count(&self) -> usize {
        self.read().twins.len()
    }
}

async fn not_found(req: Request) -> Response {
    AdtError::new(
        axum::http::StatusCode::NOT_FOUND,
        "NotFound",
        format!(
            "No Azure Digital Twins operation matches {} {}.",
            req.method(),
            req.uri().path()
        ),
    )
    .into_response()
}

/// A known path with a method it does not support: 405 in the ADT error shape (axum's own
/// answer has an empty body).
async fn method_not_allowed(req: Request) -> Response {
    AdtError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!(
            "The operation {} is not supported on {}.",
            req.method(),
            req.uri().path()
        ),
    )
    .into_response()
}

/// Largest request body of twin, relationship, component, telemetry, query, route and job
/// requests: 32 KB, the service's documented request payload limit.
pub const MAX_REQUEST_BYTES: usize = 32 * 1024;

/// Largest `POST /models` body the emulator reads (the service allows 250 models of up to 1 MB
/// per call; the emulator caps a call at 8 MB).
pub const MAX_MODELS_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// A request refused before routing, in the ADT error shape (413 / 415 codes unconfirmed).
fn rejection(r: crate::screen::Rejection) -> AdtError {
    use crate::screen::Rejection::*;
    use axum::http::StatusCode;
    match r {
        TooLarge { limit } => AdtError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            format!("The request body is larger than the limit of {limit} bytes."),
        ),
        UnsupportedMediaType(ct) => AdtError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "Content-Type '{ct}' is not supported; send application/json (application/json-patch+json for patches)."
            ),
        ),
        BadPath => {
            AdtError::invalid_argument("The request path is not valid UTF-8 once percent-decoded.")
        }
        Incomplete(e) => AdtError::invalid_argument(format!(
            "Payload is invalid: the request body could not be read to its end ({e})."
        )),
    }
}

/// Screening (path, body size, content type), authentication and api-version checks that
/// every ADT request goes through.
async fn guard(State(svc): State<DigitalTwinsService>, req: Request, next: Next) -> Response {
    let limit = if req.method() == axum::http::Method::POST && req.uri().path() == "/models" {
        MAX_MODELS_REQUEST_BYTES
    } else {
        MAX_REQUEST_BYTES
    };
    let req = match crate::screen::screen(req, limit).await {
        Ok(req) => req,
        Err(r) => return rejection(r).into_response(),
    };
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = auth
        .and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
        })
        .map(str::trim);
    let ok = match (token, &svc.inner.options.bearer_token) {
        (None, _) | (Some(""), _) => false,
        (Some(t), Some(expected)) => constant_time_eq(t.as_bytes(), expected.as_bytes()),
        (Some(_), None) => true,
    };
    if !ok {
        let mut resp = AdtError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Authorization failed: the request needs an 'Authorization: Bearer <token>' header with a valid token for this instance.",
        )
        .into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    if let Some(exp) = token.and_then(|t| auth::expired_at(t, chrono::Utc::now().timestamp())) {
        let mut resp = AdtError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "Unauthorized",
            format!("Authorization failed: the bearer token expired at {exp} (unix seconds)."),
        )
        .into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return resp;
    }
    let version = match served_version(&req) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    util::REQUEST_API_VERSION
        .scope(version.name, next.run(req))
        .await
}

/// The request's `api-version` if this instance serves it and it has the requested operation;
/// otherwise the 400 the service sends (see `crate::api_versions`). A version that lacks the
/// operation is answered as an unsupported version: the service's API-versioning layer answers
/// 400 `UnsupportedApiVersion` for a path that exists in other versions but not the requested one
/// (ASP.NET API Versioning with query-string versions; the exact live text is unconfirmed).
fn served_version(req: &Request) -> Result<&'static crate::api_versions::AdtVersion, AdtError> {
    use crate::api_versions as av;
    let pairs = util::query_pairs(req.uri().query());
    let supported = || {
        format!(
            "this instance supports api-version {}",
            av::digital_twins_list()
        )
    };
    let Some(v) = util::query_get(&pairs, "api-version") else {
        return Err(AdtError::bad_request(
            "MissingApiVersionParameter",
            format!(
                "The api-version query parameter is required; {}.",
                supported()
            ),
        ));
    };
    let unsupported = || {
        format!(
            "The HTTP resource that matches the request URI '{}' does not support the API version '{v}'; {}.",
            req.uri().path(),
            supported()
        )
    };
    if !av::is_well_formed(v) {
        return Err(AdtError::bad_request(
            "InvalidApiVersion",
            format!("The API version '{v}' is not valid; {}.", supported()),
        ));
    }
    let Some(version) = av::digital_twins(v) else {
        return Err(AdtError::bad_request(
            "UnsupportedApiVersion",
            unsupported(),
        ));
    };
    if !version.has_path(req.uri().path()) {
        return Err(AdtError::bad_request(
            "UnsupportedApiVersion",
            unsupported(),
        ));
    }
    Ok(version)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
