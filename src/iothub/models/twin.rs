//! Twins: the document IoT Hub keeps per device and module (tags, desired and reported properties).

#![allow(unused_imports)]

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[allow(unused_imports)]
use super::identity::*;
use super::wire::*;
use crate::auth::Secret;
use crate::etag::ETag;

/// A device or module twin: identity-derived fields, `tags`, and desired/reported properties.
///
/// `tags` and the property sections are plain JSON maps (they hold whatever the solution puts
/// there, plus `$metadata` and `$version` in the property sections). Read a section as your
/// own type with [`Twin::desired_as`] / [`Twin::reported_as`] / [`Twin::tags_as`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Twin {
    /// The device id.
    #[serde(default)]
    pub device_id: String,
    /// The module id (module twins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_id: Option<String>,
    /// The twin's ETag (changes on every write to tags or desired properties).
    #[serde(default, with = "etag_body", skip_serializing_if = "Option::is_none")]
    pub etag: Option<ETag>,
    /// The identity's ETag (changes when the device/module identity changes).
    #[serde(default, with = "etag_body", skip_serializing_if = "Option::is_none")]
    pub device_etag: Option<ETag>,
    /// Twin version, incremented on every change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// `enabled` or `disabled` (copied from the identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `Connected` or `Disconnected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_state: Option<String>,
    /// When the device last connected, sent or received.
    #[serde(default, with = "time", skip_serializing_if = "Option::is_none")]
    pub last_activity_time: Option<DateTime<Utc>>,
    /// `sas`, `selfSigned`, `certificateAuthority` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_type: Option<String>,
    /// Device capabilities (device twins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<DeviceCapabilities>,
    /// PnP model id, when the device announced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// Solution-owned tags (not visible to the device).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub tags: Map<String, Value>,
    /// Desired and reported properties.
    #[serde(default)]
    pub properties: TwinProperties,
    /// Configurations targeting this twin: id → `{"status": "Targeted" | "Applied"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configurations: Option<Map<String, Value>>,
    /// Fields not modelled above, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The `properties` of a twin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TwinProperties {
    /// Desired properties, written by the solution (includes `$metadata` and `$version`).
    #[serde(default)]
    pub desired: Map<String, Value>,
    /// Reported properties, written by the device (includes `$metadata` and `$version`).
    #[serde(default)]
    pub reported: Map<String, Value>,
}

impl Twin {
    /// The `$version` of the desired properties.
    pub fn desired_version(&self) -> Option<i64> {
        self.properties
            .desired
            .get("$version")
            .and_then(Value::as_i64)
    }

    /// The `$version` of the reported properties.
    pub fn reported_version(&self) -> Option<i64> {
        self.properties
            .reported
            .get("$version")
            .and_then(Value::as_i64)
    }

    /// The desired properties as `T` (`$metadata`/`$version` are offered too; a struct that
    /// does not name them ignores them).
    pub fn desired_as<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(serde_json::from_value(Value::Object(
            self.properties.desired.clone(),
        ))?)
    }

    /// The reported properties as `T`.
    pub fn reported_as<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(serde_json::from_value(Value::Object(
            self.properties.reported.clone(),
        ))?)
    }

    /// The tags as `T`.
    pub fn tags_as<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(serde_json::from_value(Value::Object(self.tags.clone()))?)
    }
}

impl crate::raw::iothub::types::Twin {
    /// An empty twin document for `device_id` (no module, no tags, empty property sections):
    /// the starting point of a patch or replacement body.
    pub fn new(device_id: impl Into<String>) -> Self {
        crate::raw::iothub::types::Twin {
            authentication_type: None,
            capabilities: None,
            cloud_to_device_message_count: None,
            configurations: Default::default(),
            connection_state: None,
            device_etag: None,
            device_id: device_id.into(),
            device_scope: None,
            etag: None,
            last_activity_time: None,
            model_id: None,
            module_id: None,
            parent_scopes: Vec::new(),
            properties: Default::default(),
            status: None,
            status_reason: None,
            status_update_time: None,
            tags: Map::new(),
            version: None,
            x509_thumbprint: None,
            extra: Map::new(),
        }
    }
}
