//! The IoT Hub rows of the resend table: for each operation (progenitor's snake_case id), when
//! it may be sent again after an attempt whose answer was lost, and why. Lives beside the IoT Hub
//! facade so that a new or renamed IoT Hub operation is classified here; the rules and the
//! lookup are `crate::retry::resend_rule`. GETs not listed are reads; DELETEs not listed are
//! deletes.

use crate::retry::{Entry, OperationTable, Resend};

const fn e(operation: &'static str, resend: Resend, why: &'static str) -> Entry {
    Entry {
        operation,
        resend,
        why,
    }
}

/// The IoT Hub rows of the resend table.
pub(crate) const TABLE: OperationTable = OperationTable {
    entries: &[
        // Twins.
        e(
            "devices_update_twin",
            Resend::IfMatch,
            "a merge PATCH: a repeat gives the same properties but moves $version and the etag \
             twice and can overwrite a write made in between; with a concrete If-Match the \
             repeat of a landed attempt fails with 412 instead",
        ),
        e(
            "modules_update_twin",
            Resend::IfMatch,
            "as devices_update_twin",
        ),
        e(
            "devices_replace_twin",
            Resend::IfMatch,
            "a replace PUT: same as a PATCH for versions and interleaved writes",
        ),
        e(
            "modules_replace_twin",
            Resend::IfMatch,
            "as devices_replace_twin",
        ),
        e(
            "digital_twin_update_digital_twin",
            Resend::IfMatch,
            "a JSON Patch: `add` on an array appends again; only If-Match makes a repeat fail",
        ),
        // Identities and configurations: PUT without If-Match creates (409 when the id exists),
        // with If-Match updates.
        e(
            "devices_create_or_update_identity",
            Resend::CreateWithId,
            "without If-Match a create the hub refuses to repeat (409 DeviceAlreadyExists); \
             with If-Match an update",
        ),
        e(
            "modules_create_or_update_identity",
            Resend::CreateWithId,
            "as devices_create_or_update_identity (409 ModuleAlreadyExistsOnDevice)",
        ),
        e(
            "configuration_create_or_update",
            Resend::CreateWithId,
            "as devices_create_or_update_identity (409 ConfigurationAlreadyExists)",
        ),
        // Reads sent as POST.
        e("query_get_twins", Resend::Read, "a query: reads only"),
        e(
            "configuration_test_queries",
            Resend::Read,
            "evaluates the conditions: reads only",
        ),
        // Writes whose repeat changes nothing more.
        e(
            "jobs_cancel_scheduled_job",
            Resend::Harmless,
            "cancelling a cancelled or finished job returns it unchanged",
        ),
        e(
            "configuration_apply_on_edge_device",
            Resend::Harmless,
            "sets the edge device's module content; a repeat sets the same content",
        ),
        e(
            "jobs_create_scheduled_job",
            Resend::CreateWithId,
            "a PUT with the caller's job id: the hub refuses a second job with that id (409 \
             JobAlreadyExists); the facade then compares the stored job with the request",
        ),
        // Each application has its own effect.
        e(
            "devices_invoke_method",
            Resend::Never,
            "runs the method on the device again",
        ),
        e(
            "modules_invoke_method",
            Resend::Never,
            "runs the method on the module again",
        ),
        e(
            "digital_twin_invoke_root_level_command",
            Resend::Never,
            "runs the command again",
        ),
        e(
            "digital_twin_invoke_component_command",
            Resend::Never,
            "runs the command again",
        ),
        e(
            "bulk_registry_update_registry",
            Resend::Never,
            "a batch of creates, updates and deletes with per-item outcomes",
        ),
        e(
            "jobs_create_import_export_job",
            Resend::Never,
            "each POST starts another job (the hub picks the id)",
        ),
        e(
            "cloud_to_device_messages_abandon_feedback_notification",
            Resend::Never,
            "releases a lock token; a repeat fails or releases a new lock",
        ),
        e(
            "cloud_to_device_messages_receive_feedback_notification",
            Resend::Never,
            "a GET that locks a feedback message: a repeat locks another one",
        ),
    ],
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
