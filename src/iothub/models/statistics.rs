//! Registry and service statistics: the generated wire types (`raw::iothub::types`).

/// Device counts of the identity registry (`totalDeviceCount`, `enabledDeviceCount`,
/// `disabledDeviceCount`; `None` when the service left a count out).
pub use crate::raw::iothub::types::RegistryStatistics;
/// Service-wide statistics (`connectedDeviceCount`).
pub use crate::raw::iothub::types::ServiceStatistics;
