//! Automatic device and module configurations.

#![allow(unused_imports)]

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::wire::*;
use crate::auth::Secret;
use crate::etag::ETag;

/// An automatic device/module management configuration (or IoT Edge deployment).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    /// The configuration id.
    #[serde(default)]
    pub id: String,
    /// Schema version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub labels: Map<String, Value>,
    /// What the configuration applies: `{"deviceContent": {"properties.desired.x": …}}`,
    /// `moduleContent` or `modulesContent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    /// Which twins it targets (a twin query condition, or `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_condition: Option<String>,
    /// Priority among overlapping configurations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// When it was created.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub created_time_utc: Option<DateTime<Utc>>,
    /// When it was last updated.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub last_updated_time_utc: Option<DateTime<Utc>>,
    /// System metrics (`targetedCount`, `appliedCount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_metrics: Option<Value>,
    /// Custom metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
    /// The configuration's ETag.
    #[serde(default, with = "etag_body", skip_serializing_if = "Option::is_none")]
    pub etag: Option<ETag>,
    /// Fields not modelled above, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Configuration {
    /// A new configuration `id` that applies `content` to the twins matching
    /// `target_condition`, with `priority`.
    pub fn new(
        id: impl Into<String>,
        target_condition: impl Into<String>,
        priority: i64,
        content: Value,
    ) -> Self {
        Configuration {
            id: id.into(),
            target_condition: Some(target_condition.into()),
            priority: Some(priority),
            content: Some(content),
            ..Default::default()
        }
    }
}

/// The result of testing a configuration's queries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationQueriesTestResult {
    /// The target condition's error, if it is invalid (`None` when it is valid).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_condition_error: Option<String>,
    /// Errors per custom metric query.
    #[serde(default)]
    pub custom_metric_query_errors: Map<String, Value>,
}
