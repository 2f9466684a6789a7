//! Bulk registry results.

#![allow(unused_imports)]

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::wire::*;
use crate::auth::Secret;
use crate::etag::ETag;

/// One failure of a bulk registry operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperationError {
    /// The device it concerns.
    #[serde(default)]
    pub device_id: String,
    /// The module it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_id: Option<String>,
    /// The IoT Hub error code (name or number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<Value>,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_status: Option<String>,
    /// Fields not modelled above.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The result of a bulk registry operation: per-device errors and warnings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperationResult {
    /// True when every operation succeeded.
    #[serde(default)]
    pub is_successful: bool,
    /// The operations that failed.
    #[serde(default)]
    pub errors: Vec<BulkOperationError>,
    /// Warnings.
    #[serde(default)]
    pub warnings: Vec<Value>,
}
