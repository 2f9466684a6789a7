//! Azure Digital Twins data plane (vendored api-version 2023-10-31): [`DigitalTwinsClient`].
//!
//! One client for twins, components, relationships, models, query, telemetry, event routes and
//! import/delete jobs, on the shared pipeline (auth, retries with `Retry-After`, typed errors,
//! tracing). With the `bulk-import` feature, `bulk_import` streams models, twins and
//! relationships from iterators or streams into an import job and returns its log's errors. Every operation is a builder: required ids are positional, options are chained
//! setters, `.send().await` finishes a call and `.into_stream()` a paged one.
//!
//! Generated from another spec version (`AZURE_TWINS_SPEC_DIR`), the facade has the parts that
//! version has: import jobs need `cfg(adt_import_jobs)` and delete jobs `cfg(adt_delete_jobs)`,
//! both set by the build script from the generated client (2023-10-31 has both).
//!
//! ```no_run
//! use azure_twins::digitaltwins::{DigitalTwinsClient, JsonPatch};
//! use azure_twins::{Condition, Credential};
//! use serde_json::json;
//! # async fn demo() -> Result<(), azure_twins::Error> {
//! let dt = DigitalTwinsClient::builder("my-instance.api.weu.digitaltwins.azure.net")
//!     .credential(Credential::bearer_token("<token>"))
//!     .build()?;
//!
//! // Create only if absent: a second attempt fails with 412.
//! let room = dt
//!     .create_twin("room-1", json!({"$metadata": {"$model": "dtmi:com:example:Room;1"}, "temperature": 20}))
//!     .condition(Condition::IfNoneMatchAny)
//!     .send()
//!     .await?;
//!
//! // JSON Patch with optimistic concurrency.
//! let etag = dt
//!     .update_twin("room-1", JsonPatch::new().add("/temperature", 21.5))
//!     .if_match(&room.etag)
//!     .send()
//!     .await?;
//! # let _ = etag; Ok(()) }
//! ```

#[cfg(all(feature = "bulk-import", adt_import_jobs))]
mod bulk_import;
mod client;
mod components;
mod event_routes;
pub(crate) mod idempotency;
mod jobs;
pub mod json_patch;
mod models;
mod query;
mod relationships;
mod telemetry;
pub mod twin;
mod twins;

#[cfg(all(feature = "bulk-import", adt_import_jobs))]
pub use bulk_import::{
    BulkImport, BulkImportOutcome, DEFAULT_BLOCK_SIZE, DEFAULT_MAX_LOG_ERRORS, ImportLogError,
};
pub use client::{DigitalTwinsClient, DigitalTwinsClientBuilder, Versioned};
pub use components::{GetComponent, UpdateComponent};
pub use event_routes::{
    CreateEventRoute, DeleteEventRoute, EventRoute, GetEventRoute, ListEventRoutes,
};
#[cfg(any(adt_import_jobs, adt_delete_jobs))]
pub use jobs::WaitForJob;
#[cfg(adt_import_jobs)]
pub use jobs::{
    CancelImportJob, CreateImportJob, DeleteImportJob, GetImportJob, ImportJob, ListImportJobs,
};
#[cfg(adt_delete_jobs)]
pub use jobs::{CreateDeleteJob, DeleteJob, GetDeleteJob, ListDeleteJobs};
pub use jobs::{JobError, JobStatus};
pub use json_patch::{JsonPatch, PatchOperation, Pointer};
pub use models::{CreateModels, DecommissionModel, DeleteModel, GetModel, ListModels, ModelData};
pub use query::QueryTwins;
pub use relationships::{
    CreateRelationship, DeleteRelationship, GetRelationship, IncomingRelationship,
    ListIncomingRelationships, ListRelationships, UpdateRelationship,
};
pub use telemetry::SendTelemetry;
pub use twin::{
    BasicDigitalTwin, BasicDigitalTwinComponent, BasicRelationship, ComponentMetadata,
    DigitalTwinMetadata, PropertyMetadata,
};
pub use twins::{CreateTwin, DeleteTwin, GetTwin, UpdateTwin};
