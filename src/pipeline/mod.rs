//! The request pipeline shared by the generated raw clients and the facade.
//!
//! [`Pipeline`] is the inner type of every generated `Client` (progenitor's
//! `with_inner_type`), and the `ClientHooks` impl in `hooks.rs` runs on every raw call:
//!
//! * `pre`: wire fixes (progenitor's stray `api-version` header removed, `application/json-patch+json`
//!   restored on the 4 ADT JSON Patch operations), `Authorization` from the cached credential
//!   (refused with nothing sent unless the URL is HTTPS or loopback), `User-Agent:
//!   azure-twins/<version>`, `x-ms-client-request-id` (one per logical call, the same on every
//!   retry) and a W3C `traceparent` (same trace id for the call, new parent id per attempt).
//! * `exec`: the retry loop of [`crate::retry`] (one `try_clone` per attempt), inside a
//!   `tracing` span `azure_twins.request` with the fields `operation`, `method`, `path`,
//!   `client_request_id`, `status`, `attempts`, `duration_ms`. Headers and bodies are never
//!   logged, so keys and tokens cannot leak through tracing.
//!
//! # Per-call options
//!
//! Facade code passes [`RequestOptions`](crate::RequestOptions) to the hooks through a
//! `tokio::task_local!` scoped around the raw call ([`with_request_options`], [`call`]): the
//! hooks run inside the raw call's future, so they see the options of exactly that call, while
//! the generated client and its `Pipeline` stay shared and immutable. The same scope carries
//! typed errors out of `pre` (progenitor only lets hooks return `Error::Custom(String)`) and the
//! status and headers of the last response (progenitor drops them when an error body fails to
//! decode).
//!
//! Raw users get the same behaviour with default options; a credential failure in `pre` then
//! surfaces as `progenitor_client::Error::Custom` with a message starting `credential error:`.
//!
//! # Layout
//!
//! - this file: the [`Pipeline`] type (credential, options, endpoint);
//! - `hooks.rs`: the `pre`/`exec` work and the one `ClientHooks` impl body;
//! - `call.rs`: the per-call context, [`with_request_options`], [`call`], [`Reply`];
//! - `errors.rs`: typed errors out of the hooks and raw errors into [`Error`];
//! - `outcome.rs`: resolving a write whose answer was lost ([`resolve`]);
//! - `links.rs`: following an ADT `nextLink` (`get_absolute`), the one request not made by a
//!   generated method;
//! - `construct.rs`: the generated clients built with a pipeline.

#![cfg_attr(
    not(any(feature = "iothub", feature = "digitaltwins")),
    allow(dead_code, unused_imports, unused_macros)
)]

mod call;
mod construct;
mod errors;
mod hooks;
mod links;
mod outcome;

use std::sync::Arc;

use reqwest::header::HeaderValue;

use crate::auth::{Authorizer, Credential, Service};
use crate::error::{Error, Result};
use crate::options::ClientOptions;

// The pipeline's crate-internal API, at the `crate::pipeline::` paths the facades use. Which of
// them are named depends on the features compiled in and on the facade code (`Reply` is only
// returned by `call`, the IoT Hub facade builds its generated client itself, the JSON Patch list
// is read by `hooks` and the tests), so unused ones are allowed rather than cfg'd away.
#[allow(unused_imports)]
pub(crate) use call::{Reply, call, with_request_options};
#[cfg(feature = "digitaltwins")]
#[allow(unused_imports)]
pub(crate) use construct::raw_digitaltwins_client;
#[cfg(feature = "iothub")]
#[allow(unused_imports)]
pub(crate) use construct::raw_iothub_client;
#[allow(unused_imports)]
pub(crate) use hooks::JSON_PATCH_OPERATIONS;
#[cfg(feature = "digitaltwins")]
#[allow(unused_imports)]
pub(crate) use links::get_absolute;
#[allow(unused_imports)]
pub(crate) use outcome::{Stored, WriteKind, holds, patch_effect, resolve};

/// Per-client state available to the hooks of the generated raw clients: the credential (as a
/// caching authorizer), the client options and the service.
///
/// `Default` gives a pipeline with no credential and default options, which is what raw users
/// and the raw wire tests pass to `Client::new_with_client(base_url, client, Pipeline::default())`.
/// Cloning is cheap and clones share the token cache.
#[derive(Clone, Default)]
pub struct Pipeline {
    inner: Arc<PipelineInner>,
}

#[derive(Default)]
struct PipelineInner {
    authorizer: Option<Authorizer>,
    options: ClientOptions,
    /// `User-Agent`, built once from the options (`None` for `Pipeline::default()`).
    user_agent: Option<HeaderValue>,
    /// The endpoint given to [`Pipeline::new`], parsed once.
    endpoint: Option<reqwest::Url>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("authorizer", &self.inner.authorizer)
            .field("options", &self.inner.options)
            .finish()
    }
}

impl Pipeline {
    /// A pipeline for `service` at `endpoint` (a base URL such as `https://hub.azure-devices.net`
    /// or `http://127.0.0.1:8080`).
    ///
    /// Fails when the endpoint is not an absolute `http(s)` URL, or when a credential would go
    /// over plain HTTP to a host that is not loopback.
    pub fn new(
        service: Service,
        endpoint: &str,
        credential: Option<&Credential>,
        options: ClientOptions,
    ) -> Result<Pipeline> {
        let url = reqwest::Url::parse(endpoint).map_err(|e| {
            Error::invalid_input("endpoint", format!("must be an absolute http(s) URL ({e})"))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::invalid_input(
                "endpoint",
                "must be an absolute http(s) URL",
            ));
        }
        let authorizer = match credential {
            Some(c) => {
                crate::auth::check_transport(&url)?;
                let mut authority = url.host_str().unwrap_or_default().to_owned();
                if let Some(p) = url.port() {
                    authority.push_str(&format!(":{p}"));
                }
                Some(Authorizer::new(c, service, &authority))
            }
            None => None,
        };
        Ok(Pipeline {
            inner: Arc::new(PipelineInner {
                authorizer,
                user_agent: Some(hooks::user_agent_header(&options)),
                options,
                endpoint: Some(url),
            }),
        })
    }

    /// True when `url` has the scheme, host and port of the endpoint given to [`Pipeline::new`].
    fn is_endpoint_origin(&self, url: &reqwest::Url) -> bool {
        self.inner.endpoint.as_ref().is_some_and(|e| {
            e.scheme() == url.scheme() && e.host_str() == url.host_str() && e.port() == url.port()
        })
    }

    /// The client options.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Makes sure a valid `Authorization` value is cached, signing or fetching a token if needed,
    /// with a typed error. Concurrent callers share one renewal.
    pub async fn ensure_credential(&self) -> Result<()> {
        if let Some(a) = &self.inner.authorizer {
            a.header().await?;
        }
        Ok(())
    }

    /// How many tokens this pipeline has signed (SAS) or fetched (Entra ID) so far (unit tests
    /// only: integration tests count the tokens that reach the server).
    #[cfg(test)]
    pub(crate) fn credential_fetch_count(&self) -> usize {
        self.inner
            .authorizer
            .as_ref()
            .map_or(0, Authorizer::fetch_count)
    }
}

/// The loopback test server shared with the integration tests.
#[cfg(test)]
#[path = "../../tests/pipeline_support/mod.rs"]
mod test_support;

#[cfg(all(test, feature = "iothub", feature = "digitaltwins"))]
mod tests;
