//! Automatic device and module configurations.
//!
//! The types are the generated wire types (`raw::iothub::types`), extended here with the
//! facade's helpers.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// An automatic device/module management configuration (or IoT Edge deployment). Fields this
/// version does not model are kept in `extra`, so nothing is lost on a read-modify-write.
pub use crate::raw::iothub::types::Configuration;
/// What a configuration applies: `deviceContent`, `moduleContent` or `modulesContent`.
pub use crate::raw::iothub::types::ConfigurationContent;
/// The queries and results of a configuration's system or custom metrics.
pub use crate::raw::iothub::types::ConfigurationMetrics;
/// The result of testing a configuration's queries.
pub use crate::raw::iothub::types::ConfigurationQueriesTestResponse;
/// The result of testing a configuration's queries, under the facade's name:
/// [`ConfigurationQueriesTestResponse`]. `target_condition_error` is `None` when the condition
/// is valid (the service's `""` is read as `None`).
pub use crate::raw::iothub::types::ConfigurationQueriesTestResponse as ConfigurationQueriesTestResult;

/// The keys a configuration's `content` may hold.
const CONTENT_KEYS: [&str; 3] = ["deviceContent", "moduleContent", "modulesContent"];

/// Where [`Configuration::new`] keeps content that does not fit [`ConfigurationContent`], so
/// that sending the configuration fails locally, naming `content`.
pub(crate) const INVALID_CONTENT: &str = "content";

impl ConfigurationContent {
    /// Reads `{"deviceContent": {…}}`, `{"moduleContent": {…}}` or
    /// `{"modulesContent": {…}}` (each a JSON object); `None` for anything else (another key,
    /// a section that is not an object, not an object at all).
    pub fn from_json(content: &Value) -> Option<Self> {
        let obj = content.as_object()?;
        if obj.keys().any(|k| !CONTENT_KEYS.contains(&k.as_str())) {
            return None;
        }
        serde_json::from_value(content.clone()).ok()
    }
}

impl Configuration {
    /// A new configuration `id` that applies `content` (`{"deviceContent":
    /// {"properties.desired.x": …}}`, `moduleContent` or `modulesContent`) to the twins
    /// matching `target_condition`, with `priority`.
    ///
    /// Content of another shape is reported (field `content`) when the configuration is sent;
    /// nothing is sent then.
    pub fn new(
        id: impl Into<String>,
        target_condition: impl Into<String>,
        priority: i32,
        content: Value,
    ) -> Self {
        let mut extra = Map::new();
        let parsed = ConfigurationContent::from_json(&content);
        if parsed.is_none() {
            extra.insert(INVALID_CONTENT.into(), content);
        }
        Configuration {
            content: parsed,
            created_time_utc: None,
            etag: None,
            id: id.into(),
            labels: HashMap::new(),
            last_updated_time_utc: None,
            metrics: None,
            priority: Some(priority),
            schema_version: None,
            system_metrics: None,
            target_condition: Some(target_condition.into()),
            extra,
        }
    }

    /// Adds a label.
    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(name.into(), value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_configuration_wire_form() {
        let cfg = Configuration::new(
            "fw",
            "*",
            7,
            json!({ "deviceContent": { "properties.desired.fw": "2.1" } }),
        )
        .with_label("team", "ops");
        assert_eq!(
            serde_json::to_value(&cfg).unwrap(),
            json!({
                "id": "fw",
                "labels": { "team": "ops" },
                "content": { "deviceContent": { "properties.desired.fw": "2.1" } },
                "targetCondition": "*",
                "priority": 7
            })
        );
        assert!(!cfg.extra.contains_key(INVALID_CONTENT));
    }

    #[test]
    fn content_of_another_shape_is_kept_aside() {
        for bad in [
            json!([1]),
            json!({ "deviceContent": 1 }),
            json!({ "devicecontent": {} }),
        ] {
            let cfg = Configuration::new("c", "*", 1, bad.clone());
            assert_eq!(cfg.content, None);
            assert_eq!(cfg.extra[INVALID_CONTENT], bad);
        }
        let edge = ConfigurationContent::from_json(&json!({ "modulesContent": {
            "$edgeAgent": { "properties.desired": { "schemaVersion": "1.1" } }
        } }))
        .unwrap();
        assert_eq!(
            edge.modules_content["$edgeAgent"]["properties.desired"]["schemaVersion"],
            "1.1"
        );
    }
}
