#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod pipeline;
pub mod raw;

// facade-core: shared pipeline pieces (errors, credentials, retry, paging, ETags, options).
pub mod auth;
pub mod error;
pub mod etag;
pub mod fleet;
pub mod limiter;
pub mod options;
pub mod paging;
pub mod response;
pub mod retry;
pub use auth::Credential;
pub use error::{Ambiguity, Error, ErrorKind, ReadBack, Result};
pub use etag::{Condition, ETag, Versioned};
pub use options::{ClientOptions, RequestOptions};
pub use paging::{Continuation, Page, Pager};
mod proxy;
pub use proxy::Proxy;
pub use response::Response;
pub use retry::RetryOptions;

// Shared by both facades: builder setters, the endpoint rule, job polling.
#[cfg(any(feature = "iothub", feature = "digitaltwins"))]
mod endpoint;
// The job waiters: IoT Hub jobs, ADT import/delete jobs (absent from some ADT spec versions).
#[cfg(any(feature = "iothub", adt_import_jobs, adt_delete_jobs))]
mod poll;
#[cfg(any(feature = "iothub", feature = "digitaltwins"))]
mod request;
// Storage SAS URLs of import/export jobs, and the bulk import's blob I/O.
#[cfg(any(feature = "iothub", feature = "bulk-import"))]
mod storage;

// adt-client: the Azure Digital Twins facade.
#[cfg(feature = "digitaltwins")]
pub mod digitaltwins;
#[cfg(feature = "digitaltwins")]
pub use digitaltwins::DigitalTwinsClient;

// iothub-client: the IoT Hub facade.
#[cfg(feature = "iothub")]
pub mod iothub;
#[cfg(feature = "iothub")]
pub use iothub::IotHubClient;

// Typed twins: DTDL interfaces from Rust types (schemars), validation, typed updates.
#[cfg(feature = "typed")]
pub mod typed;
