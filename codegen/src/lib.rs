//! Code generator for the `azure-twins` raw clients.
//!
//! Pipeline, run by the main crate's `build.rs` for each enabled service:
//! 1. [`convert::swagger2_to_openapi3`]: the upstream Swagger 2.0 file → OpenAPI 3.0.3
//!    (progenitor reads only 3.0.x), failing loudly on unsupported constructs;
//! 2. the service's named [`fixups`] for the spec's api-version (`info.version`): each states
//!    the intent it enforces, normalises whatever form the spec uses for it, and fails, saying
//!    what it found, when it has nothing left to change; [`prepare`] runs all of them and reports
//!    every failure of a spec in one [`Error::Fixups`], so a spec version change is one round of
//!    review;
//! 3. progenitor with the project's [`generate::settings`], wrapped so that a panic becomes one
//!    readable error naming the spec and operation, then prettyplease formatting.
//!
//! Nothing here is tied to one spec version: [`SERVICES`] names each service's vendored spec
//! and its fixups (with the versions each is for); the main crate's build script can be pointed
//! at another spec version (`AZURE_TWINS_SPEC_DIR`), and [`capabilities`] says which optional
//! facade parts a generated client supports.
//!
//! The crate is a build-time tool (not published); its public API is what `build.rs`, the
//! regenerate binary and the unit tests need.

pub mod capabilities;
pub mod convert;
mod error;
pub mod fixups;
pub mod generate;

pub use capabilities::{CAPABILITIES, Capability, capabilities};
pub use error::Error;

use serde_json::Value;

/// A fixup function: rewrites the OpenAPI 3 document in place, returns the changes it made, or
/// [`Error::Fixup`] saying what it found instead of what it fixes.
pub type FixupFn = fn(&mut Value) -> Result<Vec<String>, Error>;

/// The spec versions (`info.version`) a fixup is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// Every version: the fixup must find something to change in each.
    All,
    /// Only these versions (the defect or shape exists only there); skipped elsewhere.
    Only(&'static [&'static str]),
    /// Every version except these (upstream fixed it there, or the target does not exist).
    Except(&'static [&'static str]),
}

impl Versions {
    /// Whether a spec of api-version `version` gets the fixup.
    pub fn includes(&self, version: &str) -> bool {
        match self {
            Versions::All => true,
            Versions::Only(list) => list.contains(&version),
            Versions::Except(list) => !list.contains(&version),
        }
    }
}

/// A named fixup and the spec versions it is for.
#[derive(Debug, Clone, Copy)]
pub struct Fixup {
    /// The fixup's function name (reported in errors and the generated header).
    pub name: &'static str,
    /// The function.
    pub apply: FixupFn,
    /// Which spec versions it applies to.
    pub versions: Versions,
}

impl Fixup {
    /// A fixup for every spec version.
    pub const fn all(name: &'static str, apply: FixupFn) -> Fixup {
        Fixup {
            name,
            apply,
            versions: Versions::All,
        }
    }

    /// A fixup for the listed spec versions only.
    pub const fn only(
        name: &'static str,
        apply: FixupFn,
        versions: &'static [&'static str],
    ) -> Fixup {
        Fixup {
            name,
            apply,
            versions: Versions::Only(versions),
        }
    }

    /// A fixup for every spec version but the listed ones.
    pub const fn except(
        name: &'static str,
        apply: FixupFn,
        versions: &'static [&'static str],
    ) -> Fixup {
        Fixup {
            name,
            apply,
            versions: Versions::Except(versions),
        }
    }
}

/// One generated service: where its vendored spec lives and which fixups it needs.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// Short name, used for the output file (`<name>.rs`), the Cargo feature and the override
    /// file name (`$AZURE_TWINS_SPEC_DIR/<name>.json`).
    pub name: &'static str,
    /// Spec path relative to the workspace root (the main crate's manifest directory), or the
    /// override file the build script generates from; named in the generated header.
    pub spec_path: &'static str,
    /// Named fixups, applied in order after conversion to the versions each is for.
    pub fixups: &'static [Fixup],
}

impl Service {
    /// The fixups for a spec of api-version `version`, in application order.
    pub fn fixups_for<'a>(&'a self, version: &'a str) -> impl Iterator<Item = &'a Fixup> + 'a {
        self.fixups
            .iter()
            .filter(move |f| f.versions.includes(version))
    }
}

/// IoT Hub service API (vendored: api-version 2021-04-12; also generates 2020-09-30).
pub const IOTHUB: Service = Service {
    name: "iothub",
    spec_path: "specs/iothub/2021-04-12/iothub.json",
    fixups: &[
        // Before `single_success_type`: the typed 200 it adds makes the body-less 204 collapse.
        Fixup::all(
            "iothub_feedback_body_any_json",
            fixups::iothub_feedback_body_any_json,
        ),
        Fixup::all("single_success_type", fixups::single_success_type),
        Fixup::all(
            "iothub_twin_values_any_json",
            fixups::iothub_twin_values_any_json,
        ),
        Fixup::all("iothub_job_twin_patch", fixups::iothub_job_twin_patch),
        Fixup::all("iothub_wire_types", fixups::iothub_wire_types),
        Fixup::all("storage_sas_uris_secret", fixups::storage_sas_uris_secret),
        Fixup::all("iothub_required_ids", fixups::iothub_required_ids),
        Fixup::all(
            "iothub_twin_properties_default",
            fixups::iothub_twin_properties_default,
        ),
        Fixup::all(
            "iothub_keep_unknown_fields",
            fixups::iothub_keep_unknown_fields,
        ),
        Fixup::all(
            "iothub_query_rows_any_json",
            fixups::iothub_query_rows_any_json,
        ),
        Fixup::all("iothub_jobs_query_paging", fixups::iothub_jobs_query_paging),
        Fixup::all(
            "iothub_twin_configurations_and_model_id",
            fixups::iothub_twin_configurations_and_model_id,
        ),
        Fixup::all(
            "iothub_method_payload_any_json",
            fixups::iothub_method_payload_any_json,
        ),
        Fixup::all(
            "iothub_pnp_command_payloads_any_json",
            fixups::iothub_pnp_command_payloads_any_json,
        ),
        Fixup::all("open_enums", fixups::open_enums),
        Fixup::all("iothub_typed_errors", fixups::iothub_typed_errors),
    ],
};

/// Azure Digital Twins data plane (vendored: api-version 2023-10-31; also generates
/// 2020-10-31 and 2023-02-27-preview).
pub const DIGITALTWINS: Service = Service {
    name: "digitaltwins",
    spec_path: "specs/digitaltwins/2023-10-31/digitaltwins.json",
    fixups: &[
        Fixup::all("adt_json_patch_as_json", fixups::adt_json_patch_as_json),
        Fixup::all(
            "adt_default_to_error_ranges",
            fixups::adt_default_to_error_ranges,
        ),
        // Only 2020-10-31 declares `DigitalTwins_Add` 200 (twin) beside a body-less 202.
        Fixup::only(
            "single_success_type",
            fixups::single_success_type,
            &["2020-10-31"],
        ),
        Fixup::all("api_version_plain_string", fixups::api_version_plain_string),
        // 2020-10-31 declares twins, relationships and components inline.
        Fixup::only(
            "adt_named_documents",
            fixups::adt_named_documents,
            &["2020-10-31"],
        ),
        // 2020-10-31 has no import or delete jobs.
        Fixup::except("adt_job_shapes", fixups::adt_job_shapes, &["2020-10-31"]),
        Fixup::except(
            "storage_sas_uris_secret",
            fixups::storage_sas_uris_secret,
            &["2020-10-31"],
        ),
        Fixup::except(
            "adt_import_job_request",
            fixups::adt_import_job_request,
            &["2020-10-31"],
        ),
        Fixup::all(
            "adt_relationship_lists_page_size",
            fixups::adt_relationship_lists_page_size,
        ),
    ],
};

/// Both services, in output order.
pub const SERVICES: [Service; 2] = [IOTHUB, DIGITALTWINS];

/// The service called `name`, if the generator knows it.
pub fn service(name: &str) -> Option<Service> {
    SERVICES.into_iter().find(|s| s.name == name)
}

/// The fixed-up OpenAPI 3 document of a service plus the changes each fixup made.
#[derive(Debug)]
pub struct Prepared {
    /// The spec's api-version (`info.version`).
    pub version: String,
    /// The OpenAPI 3.0.3 document fed to progenitor.
    pub openapi: Value,
    /// `(fixup name, changes)` in application order (the fixups for this version only).
    pub applied: Vec<(&'static str, Vec<String>)>,
}

/// The api-version (`info.version`) a Swagger 2.0 document declares.
pub fn spec_version(swagger: &Value) -> Option<&str> {
    swagger.pointer("/info/version").and_then(Value::as_str)
}

/// Parses, converts and fixes up one service's Swagger 2.0 text.
///
/// Every fixup for the spec's version runs, even after one fails, and all failures are
/// returned together as one [`Error::Fixups`].
pub fn prepare(service: &Service, swagger_text: &str) -> Result<Prepared, Error> {
    let swagger: Value = serde_json::from_str(swagger_text).map_err(|e| Error::Json {
        context: service.spec_path.to_string(),
        message: e.to_string(),
    })?;
    let version = spec_version(&swagger)
        .ok_or_else(|| Error::Json {
            context: service.spec_path.to_string(),
            message: "the spec has no info.version (its api-version)".into(),
        })?
        .to_string();
    let mut openapi = convert::swagger2_to_openapi3(&swagger)?;
    let mut applied = Vec::new();
    let mut failures = Vec::new();
    for fixup in service.fixups_for(&version) {
        match (fixup.apply)(&mut openapi) {
            Ok(changes) => applied.push((fixup.name, changes)),
            Err(Error::Fixup { reason, .. }) => failures.push((fixup.name, reason)),
            Err(other) => failures.push((fixup.name, other.to_string())),
        }
    }
    if !failures.is_empty() {
        return Err(Error::Fixups {
            spec: service.spec_path.to_string(),
            version,
            failures,
        });
    }
    Ok(Prepared {
        version,
        openapi,
        applied,
    })
}

/// Full pipeline for one service: Swagger text → formatted Rust source (with a header saying
/// where it came from). The output contains no machine-specific paths, so it can be compared
/// byte for byte with the committed copy in `generated/`.
pub fn generate(service: &Service, swagger_text: &str) -> Result<String, Error> {
    let prepared = prepare(service, swagger_text)?;
    let spec_name = format!("{} {}", service.name, prepared.version);
    let code = generate::generate_code(&spec_name, &prepared.openapi)?;
    let fixups: Vec<&str> = prepared.applied.iter().map(|(name, _)| *name).collect();
    Ok(format!(
        "// @generated by azure-twins-codegen from {} (fixups: {}).\n\
         // Do not edit: change codegen/ and rebuild; see generated/README.md.\n\n{code}",
        service.spec_path,
        fixups.join(", "),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stale_a(_: &mut Value) -> Result<Vec<String>, Error> {
        Err(Error::Fixup {
            fixup: "a",
            reason: "found X instead".into(),
        })
    }
    fn fine(_: &mut Value) -> Result<Vec<String>, Error> {
        Ok(vec!["changed".into()])
    }
    fn stale_c(_: &mut Value) -> Result<Vec<String>, Error> {
        Err(Error::Fixup {
            fixup: "c",
            reason: "found Y instead".into(),
        })
    }

    const SPEC: &str =
        r#"{"swagger": "2.0", "info": {"title": "t", "version": "2020-01-01"}, "paths": {}}"#;

    #[test]
    fn prepare_reports_every_failed_fixup_of_a_spec_at_once() {
        const SERVICE: Service = Service {
            name: "fixture",
            spec_path: "fixture.json",
            fixups: &[
                Fixup::all("a", stale_a),
                Fixup::all("b", fine),
                Fixup::all("c", stale_c),
                Fixup::only("d", stale_c, &["2099-01-01"]),
            ],
        };
        let err = prepare(&SERVICE, SPEC).unwrap_err();
        let Error::Fixups {
            spec,
            version,
            failures,
        } = &err
        else {
            panic!("expected one Fixups error, got {err:?}");
        };
        assert_eq!(
            (spec.as_str(), version.as_str()),
            ("fixture.json", "2020-01-01")
        );
        assert_eq!(
            failures,
            &[
                ("a", "found X instead".to_string()),
                ("c", "found Y instead".to_string())
            ]
        );
        let text = err.to_string();
        assert!(
            text.starts_with("2 fixup(s) failed on fixture.json (api-version 2020-01-01):\n  - `a`: found X instead\n  - `c`: found Y instead"),
            "{text}"
        );
    }

    #[test]
    fn fixups_apply_to_the_versions_they_are_for() {
        const SERVICE: Service = Service {
            name: "fixture",
            spec_path: "fixture.json",
            fixups: &[
                Fixup::all("b", fine),
                Fixup::only("only", fine, &["2020-01-01"]),
                Fixup::except("except", stale_a, &["2020-01-01"]),
                Fixup::only("other", stale_a, &["2019-01-01"]),
            ],
        };
        let prepared = prepare(&SERVICE, SPEC).unwrap();
        assert_eq!(prepared.version, "2020-01-01");
        let names: Vec<&str> = prepared.applied.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["b", "only"]);
    }

    #[test]
    fn capabilities_need_every_method() {
        let code = "pub async fn import_jobs_add<'a>(\npub async fn import_jobs_list<'a>(\n\
                    pub async fn import_jobs_get_by_id<'a>(\npub async fn import_jobs_cancel<'a>(\n\
                    pub async fn import_jobs_delete<'a>(\npub async fn delete_jobs_add<'a>(";
        assert_eq!(capabilities("digitaltwins", code), ["adt_import_jobs"]);
        assert!(capabilities("iothub", code).is_empty());
    }
}
