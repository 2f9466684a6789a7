//! Twins: the document IoT Hub keeps per device and module (tags, desired and reported
//! properties).
//!
//! The types are the generated wire types (`raw::iothub::types`), extended here with the
//! facade's helpers.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A device or module twin: identity-derived fields, `tags`, and desired/reported properties.
///
/// `tags` and the property sections are plain JSON maps (they hold whatever the solution puts
/// there, plus `$metadata` and `$version` in the property sections). Read a section as your
/// own type with [`Twin::desired_as`] / [`Twin::reported_as`] / [`Twin::tags_as`]. Fields this
/// version does not model are kept in `extra`, so nothing is lost on a read-modify-write.
pub use crate::raw::iothub::types::Twin;
/// The status of one configuration targeting a twin (`Twin::configurations`).
pub use crate::raw::iothub::types::TwinConfigurationsValue;
/// The `properties` of a [`Twin`]: `desired` and `reported`.
pub use crate::raw::iothub::types::TwinProperties;

impl Twin {
    /// An empty twin document for `device_id` (no module, no tags, empty property sections):
    /// the starting point of a patch or replacement body.
    pub fn new(device_id: impl Into<String>) -> Self {
        Twin {
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
            properties: TwinProperties::default(),
            status: None,
            status_reason: None,
            status_update_time: None,
            tags: Map::new(),
            version: None,
            x509_thumbprint: None,
            extra: Map::new(),
        }
    }

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
    /// does not name them ignores them). Decoded in place, without copying the section.
    pub fn desired_as<T: DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(T::deserialize(&self.properties.desired)?)
    }

    /// The reported properties as `T`.
    pub fn reported_as<T: DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(T::deserialize(&self.properties.reported)?)
    }

    /// The tags as `T`.
    pub fn tags_as<T: DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(T::deserialize(&self.tags)?)
    }
}
