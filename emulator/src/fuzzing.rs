//! Thin wrappers around internals for the fuzz targets in `fuzz/` (cargo feature `fuzzing`).
//! Hidden from the docs and not part of the public API: anything here may change at any time.

use axum::Router;
use serde_json::Value;

/// A fresh emulated IoT Hub, served in-process by its router (no listener).
#[derive(Debug, Clone)]
pub struct Hub(crate::iothub::IotHubService);

impl Hub {
    /// A hub that accepts SAS tokens whose resource names `host`.
    pub fn new(host: &str) -> Self {
        Self(crate::iothub::IotHubService::new(vec![host.to_string()]))
    }

    /// Every IoT Hub route, with screening, SAS verification and api-version checking.
    pub fn router(&self) -> Router {
        self.0.router()
    }

    /// An `iothubowner` SAS token for `host`, expiring at `expiry` (seconds since the epoch).
    pub fn owner_token(&self, host: &str, expiry: u64) -> Option<String> {
        let key = self.0.policy_key("iothubowner")?;
        crate::iothub::auth::sign(host, "iothubowner", &key, expiry)
    }

    /// Stops the hub's background job tasks.
    pub fn shutdown(&self) {
        self.0.shutdown();
    }
}

/// The router of a fresh emulated Azure Digital Twins instance that accepts any bearer token.
pub fn adt_router() -> Router {
    crate::digitaltwins::DigitalTwinsService::new(Default::default()).router()
}

/// Parses `text` in both query dialects (IoT Hub, Digital Twins) and, for each that parses,
/// evaluates it against every document: bind, WHERE (no models), projection and aggregate row.
/// Returns how many dialects parsed it.
pub fn query(text: &str, docs: &[Value]) -> usize {
    use crate::query::{Dialect, NoModels, parse};
    let mut parsed = 0;
    for dialect in [Dialect::IotHub, Dialect::DigitalTwins] {
        if let Ok(q) = parse(text, dialect) {
            parsed += 1;
            for d in docs {
                let b = q.bind(d);
                let _ = q.matches(&b, &NoModels);
                let _ = q.project(&b);
                let _ = q.aggregate_row(Some(&b), 1);
            }
        }
    }
    parsed
}
