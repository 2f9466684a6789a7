//! The Azure Digital Twins rows of the resend table: for each operation (progenitor's
//! snake_case id), when it may be sent again after an attempt whose answer was lost, and why.
//! Lives beside the ADT facade so that a new or renamed ADT operation is classified here; the
//! rules and the lookup are `crate::retry::resend_rule`. GETs not listed are reads; DELETEs not
//! listed are deletes.

use crate::retry::{Entry, OperationTable, Resend};

const fn e(operation: &'static str, resend: Resend, why: &'static str) -> Entry {
    Entry {
        operation,
        resend,
        why,
    }
}

/// The ADT rows of the resend table.
pub(crate) const TABLE: OperationTable = OperationTable {
    entries: &[
        e(
            "digital_twins_add",
            Resend::Create,
            "with If-None-Match: * a create whose repeat fails with 412 (the facade then \
             compares the stored twin with the one sent); without it an upsert that moves the \
             etag twice and can overwrite a write made in between",
        ),
        e(
            "digital_twins_add_relationship",
            Resend::Create,
            "as digital_twins_add",
        ),
        e(
            "digital_twins_update",
            Resend::IfMatch,
            "a JSON Patch: `add` on an array appends again, `remove` of a removed path fails; \
             only a concrete If-Match makes a repeat of a landed attempt fail with 412",
        ),
        e(
            "digital_twins_update_component",
            Resend::IfMatch,
            "as digital_twins_update",
        ),
        e(
            "digital_twins_update_relationship",
            Resend::IfMatch,
            "as digital_twins_update",
        ),
        e(
            "event_routes_add",
            Resend::Harmless,
            "a route has no etag or version; a repeat stores the same route",
        ),
        e(
            "import_jobs_add",
            Resend::CreateWithId,
            "a PUT with the caller's job id: the service refuses a second job with that id (409)",
        ),
        e("query_query_twins", Resend::Read, "a query: reads only"),
        e(
            "import_jobs_cancel",
            Resend::Harmless,
            "cancelling a finished or cancelled job returns it unchanged",
        ),
        e(
            "digital_twin_models_update",
            Resend::Harmless,
            "the only allowed patch is `replace /decommissioned true`; a repeat sets it again",
        ),
        e(
            "digital_twin_models_add",
            Resend::Never,
            "a repeat of landed models fails with 409 for the whole batch, hiding the success",
        ),
        e(
            "digital_twins_send_telemetry",
            Resend::Never,
            "each POST delivers another event (opt in to resend: the Message-Id stays the same)",
        ),
        e(
            "digital_twins_send_component_telemetry",
            Resend::Never,
            "as digital_twins_send_telemetry",
        ),
        e(
            "delete_jobs_add",
            Resend::Never,
            "each POST starts another delete-everything job (the service picks the id)",
        ),
    ],
};

#[cfg(test)]
mod tests {
    #[test]
    fn table_names_real_digitaltwins_operations() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/digitaltwins.rs"));
        for id in super::TABLE.operation_ids() {
            assert!(
                generated.contains(&format!("operation_id: \"{id}\"")),
                "{id} is not a generated ADT operation id"
            );
        }
    }
}
