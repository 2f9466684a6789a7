//! Which IoT Hub operations may be retried without the caller's opt-in, by progenitor operation
//! id, where the method alone does not say it. Lives beside the IoT Hub facade so that a new or
//! renamed IoT Hub operation is classified here; the generic rules and the lookup are
//! `crate::retry::is_idempotent`.

use crate::retry::OperationTable;

/// The IoT Hub entries of the idempotency table.
pub(crate) const TABLE: OperationTable = OperationTable {
    non_idempotent: &[
        "devices_invoke_method",
        "modules_invoke_method",
        "bulk_registry_update_registry",
        "jobs_create_import_export_job",
        "digital_twin_invoke_root_level_command",
        "digital_twin_invoke_component_command",
        "cloud_to_device_messages_abandon_feedback_notification",
        // A GET that locks a feedback message: a repeat locks another one.
        "cloud_to_device_messages_receive_feedback_notification",
    ],
    // Twin query (read), configuration test query (read), cancel a scheduled job (cancelling
    // twice leaves it cancelled), apply configuration content (sets the content).
    idempotent_posts: &[
        "query_get_twins",
        "configuration_test_queries",
        "jobs_cancel_scheduled_job",
        "configuration_apply_on_edge_device",
    ],
    merge_patches: &["devices_update_twin", "modules_update_twin"],
};

#[cfg(test)]
mod tests {
    #[test]
    fn table_names_real_iothub_operations() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/iothub.rs"));
        for id in super::TABLE.operation_ids() {
            assert!(
                generated.contains(&format!("operation_id: \"{id}\"")),
                "{id} is not a generated IoT Hub operation id"
            );
        }
    }
}
