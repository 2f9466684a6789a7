//! Code generator for the `azure-twins` raw clients.
//!
//! Pipeline, run by the main crate's `build.rs` for each enabled service:
//! 1. [`convert::swagger2_to_openapi3`]: the vendored upstream Swagger 2.0 file → OpenAPI 3.0.3
//!    (progenitor reads only 3.0.x), failing loudly on unsupported constructs;
//! 2. the service's named [`fixups`] (spec defects and progenitor limitations, each of which
//!    fails when it has nothing left to fix);
//! 3. progenitor with the project's [`generate::settings`], wrapped so that a panic becomes an
//!    error naming the spec and operation, then prettyplease formatting.
//!
//! The crate is a build-time tool (not published); its public API is what `build.rs` and the
//! unit tests need.

pub mod convert;
mod error;
pub mod fixups;
pub mod generate;

pub use error::Error;

use serde_json::Value;

/// A fixup: rewrites the OpenAPI 3 document in place, returns the changes it made.
pub type Fixup = fn(&mut Value) -> Result<Vec<String>, Error>;

/// One generated service: where its spec lives and which fixups it needs.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// Short name, used for the output file (`<name>.rs`) and the Cargo feature.
    pub name: &'static str,
    /// Spec path relative to the workspace root (the main crate's manifest directory).
    pub spec_path: &'static str,
    /// Named fixups, applied in order after conversion.
    pub fixups: &'static [(&'static str, Fixup)],
}

/// IoT Hub service API, api-version 2021-04-12.
pub const IOTHUB: Service = Service {
    name: "iothub",
    spec_path: "specs/iothub/2021-04-12/iothub.json",
    fixups: &[
        (
            "iothub_cancel_import_export_job_single_success",
            fixups::iothub_cancel_import_export_job_single_success,
        ),
        (
            "iothub_twin_values_any_json",
            fixups::iothub_twin_values_any_json,
        ),
        ("iothub_job_twin_patch", fixups::iothub_job_twin_patch),
        ("iothub_wire_types", fixups::iothub_wire_types),
        ("iothub_required_ids", fixups::iothub_required_ids),
        (
            "iothub_twin_properties_default",
            fixups::iothub_twin_properties_default,
        ),
        (
            "iothub_keep_unknown_fields",
            fixups::iothub_keep_unknown_fields,
        ),
        (
            "iothub_query_rows_any_json",
            fixups::iothub_query_rows_any_json,
        ),
        ("iothub_jobs_query_paging", fixups::iothub_jobs_query_paging),
        (
            "iothub_twin_configurations_and_model_id",
            fixups::iothub_twin_configurations_and_model_id,
        ),
        (
            "iothub_method_payload_any_json",
            fixups::iothub_method_payload_any_json,
        ),
        ("open_enums", fixups::open_enums),
        ("iothub_typed_errors", fixups::iothub_typed_errors),
    ],
};

/// Azure Digital Twins data plane, api-version 2023-10-31.
pub const DIGITALTWINS: Service = Service {
    name: "digitaltwins",
    spec_path: "specs/digitaltwins/2023-10-31/digitaltwins.json",
    fixups: &[
        ("adt_json_patch_as_json", fixups::adt_json_patch_as_json),
        (
            "adt_default_to_error_ranges",
            fixups::adt_default_to_error_ranges,
        ),
        (
            "adt_api_version_plain_string",
            fixups::adt_api_version_plain_string,
        ),
        ("adt_job_shapes", fixups::adt_job_shapes),
        ("adt_import_job_request", fixups::adt_import_job_request),
        (
            "adt_relationship_lists_page_size",
            fixups::adt_relationship_lists_page_size,
        ),
    ],
};

/// Both services, in output order.
pub const SERVICES: [Service; 2] = [IOTHUB, DIGITALTWINS];

/// The fixed-up OpenAPI 3 document of a service plus the changes each fixup made.
#[derive(Debug)]
pub struct Prepared {
    /// The OpenAPI 3.0.3 document fed to progenitor.
    pub openapi: Value,
    /// `(fixup name, changes)` in application order.
    pub applied: Vec<(&'static str, Vec<String>)>,
}

/// Parses, converts and fixes up one service's Swagger 2.0 text.
pub fn prepare(service: &Service, swagger_text: &str) -> Result<Prepared, Error> {
    let swagger: Value = serde_json::from_str(swagger_text).map_err(|e| Error::Json {
        context: service.spec_path.to_string(),
        message: e.to_string(),
    })?;
    let mut openapi = convert::swagger2_to_openapi3(&swagger)?;
    let mut applied = Vec::new();
    for (name, fixup) in service.fixups {
        let changes = fixup(&mut openapi)?;
        applied.push((*name, changes));
    }
    Ok(Prepared { openapi, applied })
}

/// Full pipeline for one service: Swagger text → formatted Rust source (with a header saying
/// where it came from). The output contains no machine-specific paths, so it can be compared
/// byte for byte with the committed copy in `generated/`.
pub fn generate(service: &Service, swagger_text: &str) -> Result<String, Error> {
    let prepared = prepare(service, swagger_text)?;
    let code = generate::generate_code(service.name, &prepared.openapi)?;
    let fixups: Vec<&str> = service.fixups.iter().map(|(name, _)| *name).collect();
    Ok(format!(
        "// @generated by azure-twins-codegen from {} (fixups: {}).\n\
         // Do not edit: change codegen/ and rebuild; see generated/README.md.\n\n{code}",
        service.spec_path,
        fixups.join(", "),
    ))
}
