//! Registry and service statistics.

#![allow(unused_imports)]

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::wire::*;
use crate::auth::Secret;
use crate::etag::ETag;

/// Device counts of the identity registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryStatistics {
    /// All devices.
    #[serde(default)]
    pub total_device_count: i64,
    /// Enabled devices.
    #[serde(default)]
    pub enabled_device_count: i64,
    /// Disabled devices.
    #[serde(default)]
    pub disabled_device_count: i64,
}

/// Service-wide statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatistics {
    /// Devices connected now.
    #[serde(default)]
    pub connected_device_count: i64,
}
