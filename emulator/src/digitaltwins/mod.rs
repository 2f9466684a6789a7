//! The Azure Digital Twins data-plane surface (api-version 2023-10-31).
//!
//! Contract with the rest of the crate (`lib.rs` owns listeners, TLS and fault injection):
//! `DigitalTwinsService::new(options)` builds the state, `router()` serves every ADT route
//! (bearer-token check included), `telemetry()` shows what was received.

use axum::Router;

/// Options of the emulated Azure Digital Twins instance.
#[derive(Debug, Clone, Default)]
pub struct DigitalTwinsOptions {
    /// When set, requests must carry `Authorization: Bearer <this token>`; otherwise any bearer token is accepted.
    pub bearer_token: Option<String>,
}

/// One telemetry message received on `/digitaltwins/{id}/telemetry` or a component's telemetry route.
#[derive(Debug, Clone)]
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

/// The emulated Azure Digital Twins instance: shared state behind a cheap clone.
#[derive(Debug, Clone, Default)]
pub struct DigitalTwinsService {
    options: DigitalTwinsOptions,
}

impl DigitalTwinsService {
    /// A new, empty instance.
    pub fn new(options: DigitalTwinsOptions) -> Self {
        Self { options }
    }

    /// Every ADT route, ready to be served on its own listener.
    pub fn router(&self) -> Router {
        let _ = &self.options;
        Router::new()
    }

    /// Telemetry received so far, oldest first.
    pub fn telemetry(&self) -> Vec<TelemetryEvent> {
        Vec::new()
    }
}
