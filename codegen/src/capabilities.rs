//! Optional facade parts, present only in some spec versions, and how to tell from generated
//! code whether a client supports them.
//!
//! Self-contained (no dependencies): the main crate's `build.rs` includes this file with
//! `#[path]` in every build mode (also without the `codegen` feature, when it compiles the
//! committed `generated/` copies), declares every [`CAPABILITIES`] cfg with
//! `cargo::rustc-check-cfg` and sets the supported ones with `cargo:rustc-cfg`.

/// An optional part of a service's facade and the generated methods it needs: the build script
/// turns each one a generated client supports into `cargo:rustc-cfg=<cfg>`, and the facade
/// compiles the part only under that cfg.
#[derive(Debug, Clone, Copy)]
pub struct Capability {
    /// The cfg name, e.g. `adt_import_jobs`.
    pub cfg: &'static str,
    /// The service whose client must have the methods.
    pub service: &'static str,
    /// progenitor's snake_case method names, all of which must be generated.
    pub methods: &'static [&'static str],
    /// Generated type names (`pub struct <name>`), all of which must exist: for parts that
    /// hang on a schema rather than an operation.
    pub types: &'static [&'static str],
}

/// The optional facade parts (absent from some spec versions).
pub const CAPABILITIES: [Capability; 3] = [
    Capability {
        cfg: "adt_import_jobs",
        service: "digitaltwins",
        methods: &[
            "import_jobs_add",
            "import_jobs_list",
            "import_jobs_get_by_id",
            "import_jobs_cancel",
            "import_jobs_delete",
        ],
        types: &[],
    },
    Capability {
        cfg: "adt_delete_jobs",
        service: "digitaltwins",
        methods: &[
            "delete_jobs_add",
            "delete_jobs_list",
            "delete_jobs_get_by_id",
        ],
        types: &[],
    },
    // IoT Hub import/export jobs with a user-assigned managed identity (`JobProperties.identity`,
    // schema `ManagedIdentity`): in 2021-04-12, not in 2020-09-30.
    Capability {
        cfg: "iothub_job_identity",
        service: "iothub",
        methods: &["jobs_create_import_export_job"],
        types: &["ManagedIdentity"],
    },
];

/// The [`CAPABILITIES`] of `service` that the generated source `code` supports (it has every
/// method the capability needs).
pub fn capabilities(service: &str, code: &str) -> Vec<&'static str> {
    CAPABILITIES
        .iter()
        .filter(|c| c.service == service)
        .filter(|c| {
            c.methods
                .iter()
                .all(|m| code.contains(&format!("pub async fn {m}<'a>(")))
                && c.types
                    .iter()
                    .all(|t| code.contains(&format!("pub struct {t} {{")))
        })
        .map(|c| c.cfg)
        .collect()
}
