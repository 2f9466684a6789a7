//! Cloud-to-device messaging results.
//!
//! The type is the generated wire type (`raw::iothub::types::PurgeMessageQueueResult`),
//! extended here with the facade's helpers.

/// The result of purging a device's cloud-to-device queue: the device and how many messages
/// were removed.
pub use crate::raw::iothub::types::PurgeMessageQueueResult;

impl PurgeMessageQueueResult {
    /// How many messages were removed (0 when the service left the count out).
    pub fn purged(&self) -> u32 {
        self.total_messages_purged
            .map_or(0, |n| u32::try_from(n).unwrap_or(0))
    }
}
