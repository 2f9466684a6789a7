//! Bulk registry results.
//!
//! The types are the generated wire types (`raw::iothub::types`), extended here with the
//! facade's helpers.

/// The result of a bulk registry operation: per-device errors and warnings.
pub use crate::raw::iothub::types::BulkRegistryOperationResult;
/// The result of a bulk registry operation, under the facade's name:
/// [`BulkRegistryOperationResult`].
pub use crate::raw::iothub::types::BulkRegistryOperationResult as BulkOperationResult;
/// One failure of a bulk registry operation (`deviceId`, `moduleId`, `errorCode`,
/// `errorStatus`, `operation`; other fields are kept in `extra`).
pub use crate::raw::iothub::types::DeviceRegistryOperationError;
/// One failure of a bulk registry operation, under the facade's name:
/// [`DeviceRegistryOperationError`].
pub use crate::raw::iothub::types::DeviceRegistryOperationError as BulkOperationError;
/// One warning of a bulk registry operation.
pub use crate::raw::iothub::types::DeviceRegistryOperationWarning;
/// One entry of a bulk registry request as sent (`id`, `importMode`, `eTag`, …); build them
/// with [`crate::iothub::BulkOperation`].
pub use crate::raw::iothub::types::ExportImportDevice;

impl BulkRegistryOperationResult {
    /// True when the service reported every entry applied (`isSuccessful`; when the service
    /// left that out, true if no entry failed).
    pub fn succeeded(&self) -> bool {
        self.is_successful.unwrap_or(self.errors.is_empty())
    }
}
