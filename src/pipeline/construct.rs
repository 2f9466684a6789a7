//! The generated clients built the one way the facade uses them: an HTTP client made from the
//! [`ClientOptions`] and a [`Pipeline`] for the service's credential and endpoint.

use super::Pipeline;
use crate::auth::{Credential, Service};
use crate::error::Result;
use crate::options::ClientOptions;

/// Builds the generated IoT Hub client for `endpoint` with a pipeline and an HTTP client made
/// from `options`.
#[cfg(feature = "iothub")]
#[allow(dead_code)]
pub(crate) fn raw_iothub_client(
    endpoint: &str,
    credential: Option<&Credential>,
    options: ClientOptions,
) -> Result<crate::raw::iothub::Client> {
    let http = options.build_http_client()?;
    let pipeline = Pipeline::new(Service::IotHub, endpoint, credential, options)?;
    Ok(crate::raw::iothub::Client::new_with_client(
        endpoint.trim_end_matches('/'),
        http,
        pipeline,
    ))
}

/// Builds the generated ADT client for `endpoint` with a pipeline and an HTTP client made from
/// `options`.
#[cfg(feature = "digitaltwins")]
#[allow(dead_code)]
pub(crate) fn raw_digitaltwins_client(
    endpoint: &str,
    credential: Option<&Credential>,
    options: ClientOptions,
) -> Result<crate::raw::digitaltwins::Client> {
    let http = options.build_http_client()?;
    let pipeline = Pipeline::new(Service::DigitalTwins, endpoint, credential, options)?;
    Ok(crate::raw::digitaltwins::Client::new_with_client(
        endpoint.trim_end_matches('/'),
        http,
        pipeline,
    ))
}
