//! The request pipeline shared by the generated raw clients.
//!
//! [`Pipeline`] is the inner type of every generated `Client` (progenitor's
//! `with_inner_type`), and the `ClientHooks` impls below run on every raw call. This first
//! version only corrects what progenitor gets wrong on the wire for Azure; auth, retries and
//! tracing are added here by the facade.

#[cfg(any(feature = "iothub", feature = "digitaltwins"))]
use progenitor_client::{ClientHooks, Error, OperationInfo};
#[cfg(any(feature = "iothub", feature = "digitaltwins"))]
use reqwest::header::{CONTENT_TYPE, HeaderValue};

/// Per-client state available to the hooks of the generated raw clients.
///
/// `Default` gives a pipeline with no credential and default options, which is what raw users
/// and the raw wire tests pass to `Client::new_with_client(base_url, client, Pipeline::default())`.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {}

/// progenitor's snake_case operation ids of the ADT operations whose body is an RFC 6902 JSON
/// Patch. The codegen fixup `adt_json_patch_as_json` re-keys their body as `application/json`
/// (progenitor refuses `application/json-patch+json`), so the real Content-Type is restored here.
/// `tests/raw_wire.rs` sends each of them and checks the header.
#[cfg(any(feature = "iothub", feature = "digitaltwins"))]
pub(crate) const JSON_PATCH_OPERATIONS: [&str; 4] = [
    "digital_twin_models_update",
    "digital_twins_update",
    "digital_twins_update_relationship",
    "digital_twins_update_component",
];

/// The wire fixes every raw request needs, whatever the service.
///
/// - progenitor adds an `api-version: <info.version>` request *header* (a Dropshot convention);
///   Azure takes `api-version` as a query parameter, which the spec declares and the generated
///   code already sends, so the header is removed.
/// - JSON Patch operations get `Content-Type: application/json-patch+json` back.
#[cfg(any(feature = "iothub", feature = "digitaltwins"))]
fn fix_wire(request: &mut reqwest::Request, info: &OperationInfo) {
    request.headers_mut().remove("api-version");
    if JSON_PATCH_OPERATIONS.contains(&info.operation_id) {
        request.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json-patch+json"),
        );
    }
}

#[cfg(feature = "iothub")]
impl ClientHooks<Pipeline> for crate::raw::iothub::Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        fix_wire(request, info);
        Ok(())
    }
}

#[cfg(feature = "digitaltwins")]
impl ClientHooks<Pipeline> for crate::raw::digitaltwins::Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        fix_wire(request, info);
        Ok(())
    }
}
