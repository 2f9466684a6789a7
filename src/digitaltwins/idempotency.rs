//! Which Azure Digital Twins operations may be retried without the caller's opt-in, by
//! progenitor operation id, where the method alone does not say it. Lives beside the ADT facade
//! so that a new or renamed ADT operation is classified here; the generic rules and the lookup
//! are `crate::retry::is_idempotent`.

use crate::retry::OperationTable;

/// The ADT entries of the idempotency table.
pub(crate) const TABLE: OperationTable = OperationTable {
    non_idempotent: &[
        "digital_twin_models_add",
        "digital_twins_send_telemetry",
        "digital_twins_send_component_telemetry",
        "delete_jobs_add",
    ],
    // Query (read), cancel an import job (returns the job unchanged when finished).
    idempotent_posts: &["query_query_twins", "import_jobs_cancel"],
    // Model decommission: the only allowed patch is `replace /decommissioned true`.
    merge_patches: &["digital_twin_models_update"],
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
