//! Direct-method outcomes.
//!
//! The type is the generated wire type (`raw::iothub::types::CloudToDeviceMethodResult`),
//! extended here with the facade's helpers.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The outcome of a direct method: the status and payload the device chose (`status` and
/// `payload` are `None` when the service sent none; a `null` payload reads as `None` too).
pub use crate::raw::iothub::types::CloudToDeviceMethodResult;
/// The outcome of a direct method, under the facade's name: [`CloudToDeviceMethodResult`].
pub use crate::raw::iothub::types::CloudToDeviceMethodResult as MethodResponse;

impl CloudToDeviceMethodResult {
    /// The payload as `T` (a missing payload is offered as `null`).
    pub fn payload_as<T: DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(match &self.payload {
            Some(p) => T::deserialize(p)?,
            None => T::deserialize(&Value::Null)?,
        })
    }
}
