//! Direct-method outcomes.

#![allow(unused_imports)]

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::wire::*;
use crate::auth::Secret;
use crate::etag::ETag;

/// The outcome of a direct method: the status and payload the device chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodResponse {
    /// Status code returned by the device's handler.
    pub status: i32,
    /// Payload returned by the device's handler (`null` when it sent none).
    #[serde(default)]
    pub payload: Value,
}

impl MethodResponse {
    /// The payload as `T`.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(serde_json::from_value(self.payload.clone())?)
    }
}
