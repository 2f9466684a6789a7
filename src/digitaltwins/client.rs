//! [`DigitalTwinsClient`], its builder, and the crate-internal plumbing every operation uses.

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use progenitor_client::ResponseValue;
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::paging::{Continuation, Page, Pager};
use crate::raw::digitaltwins as raw;
use crate::{ClientOptions, Credential, ETag, Error, ErrorKind, RequestOptions};

/// The api-version every call of `raw` sends: the caller's pin
/// ([`ClientOptions::api_version`](crate::ClientOptions::api_version)) if the client was built
/// with one, else the generated client's (`info.version` of the spec it was generated from), so a
/// regenerated client changes it with no facade edit. Called at every generated call site as
/// `api_version(raw)`.
pub(crate) fn api_version(raw: &raw::Client) -> &str {
    use progenitor_client::ClientInfo;
    raw.inner()
        .options()
        .api_version
        .as_deref()
        .unwrap_or(<raw::Client as ClientInfo<crate::pipeline::Pipeline>>::api_version())
}

pub use crate::etag::Versioned;

/// A client for one Azure Digital Twins instance. Cheap to clone (shared connection pool,
/// credential cache and options).
///
/// Build it with [`DigitalTwinsClient::builder`]; every operation returns a builder finished by
/// `.send().await` (or `.into_stream()` for lists and queries).
#[derive(Clone)]
pub struct DigitalTwinsClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) raw: raw::Client,
    pub(crate) endpoint: String,
}

impl std::fmt::Debug for DigitalTwinsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigitalTwinsClient")
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

/// Builder of a [`DigitalTwinsClient`]: endpoint, credential and options.
///
/// ```
/// use azure_twins::digitaltwins::DigitalTwinsClient;
/// use azure_twins::{ClientOptions, Credential, RetryOptions};
/// let dt = DigitalTwinsClient::builder("my-instance.api.weu.digitaltwins.azure.net")
///     .credential(Credential::bearer_token("<token>"))
///     .options(ClientOptions::default().retry(RetryOptions::default().max_retries(5)))
///     .build()?;
/// assert_eq!(dt.endpoint(), "https://my-instance.api.weu.digitaltwins.azure.net");
///
/// // Plain http is refused except for loopback hosts (the emulator):
/// assert!(DigitalTwinsClient::builder("http://example.com").build().is_err());
/// assert!(DigitalTwinsClient::builder("http://127.0.0.1:8080").build().is_ok());
/// # Ok::<(), azure_twins::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DigitalTwinsClientBuilder {
    endpoint: String,
    credential: Option<Credential>,
    options: ClientOptions,
}

impl DigitalTwinsClient {
    /// Starts building a client for `endpoint`: a host name (`https://` implied) or a full URL.
    /// `http://` is accepted only for loopback hosts, such as the local emulator.
    pub fn builder(endpoint: impl Into<String>) -> DigitalTwinsClientBuilder {
        DigitalTwinsClientBuilder {
            endpoint: endpoint.into(),
            credential: None,
            options: ClientOptions::default(),
        }
    }

    /// The normalised endpoint (scheme and authority, no trailing slash).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The generated raw client this facade drives, as an escape hatch for anything not covered
    /// here. Semver-exempt (see [`crate::raw`]).
    pub fn raw(&self) -> &raw::Client {
        &self.inner.raw
    }
}

impl DigitalTwinsClientBuilder {
    /// How to authenticate: an Entra ID token credential (feature `azure-identity`, scope
    /// `https://digitaltwins.azure.net/.default`) or a static bearer token. Without one, no
    /// `Authorization` header is sent (fine for the emulator).
    pub fn credential(mut self, credential: Credential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// Client-wide options: retries, timeouts, extra root certificates, user agent.
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Validates the endpoint and credential and builds the client.
    ///
    /// Fails when the endpoint is not a host name or an `http(s)` URL, when it is `http://` to
    /// a non-loopback host, when the credential is an IoT Hub shared access key (ADT only
    /// accepts Entra ID tokens), or when the options are invalid (e.g. a bad PEM).
    pub fn build(self) -> Result<DigitalTwinsClient, Error> {
        let endpoint = crate::endpoint::normalize_endpoint(&self.endpoint)?;
        if let Some(c) = &self.credential
            && c.is_shared_access_key()
        {
            return Err(Error::invalid_input(
                "credential",
                "Azure Digital Twins accepts Entra ID tokens only (token credential or bearer token), not shared access keys",
            ));
        }
        let raw = crate::pipeline::raw_digitaltwins_client(
            &endpoint,
            self.credential.as_ref(),
            self.options,
        )?;
        Ok(DigitalTwinsClient {
            inner: Arc::new(Inner { raw, endpoint }),
        })
    }
}

// ---- crate-internal plumbing shared by the operation modules ----

/// The `ETag` header, else `fallback` (the body's `$etag`), else a data-conversion error.
pub(crate) fn etag_or(headers: &HeaderMap, fallback: Option<&Value>) -> Result<ETag, Error> {
    ETag::from_headers(headers)
        .or_else(|| fallback.and_then(Value::as_str).map(ETag::new))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::DataConversion,
                "the response carried no ETag header and no $etag",
            )
        })
}

/// A twin, relationship or component (a generated JSON-object type) decoded as the caller's
/// `U`, with its ETag: the `ETag` header, else the body's `$etag`. The object is moved into a
/// `Value` and deserialised once (the one conversion of a `send_as::<U>()`).
pub(crate) fn into_versioned<T, U>(rv: ResponseValue<T>) -> Result<Versioned<U>, Error>
where
    T: Deref<Target = Map<String, Value>> + Into<Map<String, Value>>,
    U: DeserializeOwned,
{
    let etag = etag_or(rv.headers(), rv.get("$etag"))?;
    Ok(Versioned {
        value: decode_object(rv.into_inner().into())?,
        etag,
    })
}

/// Decodes a JSON object of the service (a twin, relationship, component or query row, which
/// the spec leaves untyped) as the caller's `U`.
pub(crate) fn decode_object<U: DeserializeOwned>(map: Map<String, Value>) -> Result<U, Error> {
    serde_json::from_value(Value::Object(map)).map_err(|e| {
        Error::new(
            ErrorKind::DataConversion,
            "the response did not match the expected shape",
        )
        .with_source(e)
    })
}

/// A generated `{value, nextLink}` list page (`EventRouteCollection`, `ImportJobCollection`, …).
pub(crate) trait ListPage: DeserializeOwned + Send + 'static {
    /// The generated item type.
    type Item;
    /// The items (none when the page has no `value`) and the `nextLink`.
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

/// A list field as the generator types it: required (`Vec`) or optional (`Option<Vec>`).
pub(crate) trait ListItems<T> {
    fn into_items(self) -> Vec<T>;
}

impl<T> ListItems<T> for Vec<T> {
    fn into_items(self) -> Vec<T> {
        self
    }
}

impl<T> ListItems<T> for Option<Vec<T>> {
    fn into_items(self) -> Vec<T> {
        self.unwrap_or_default()
    }
}

macro_rules! list_pages {
    ($($collection:ident => $item:ty),* $(,)?) => {$(
        impl ListPage for raw::types::$collection {
            type Item = $item;
            fn into_parts(self) -> (Vec<$item>, Option<String>) {
                (ListItems::into_items(self.value), self.next_link)
            }
        }
    )*};
}

list_pages! {
    EventRouteCollection => raw::types::EventRoute,
    PagedDigitalTwinsModelDataCollection => raw::types::DigitalTwinsModelData,
    IncomingRelationshipCollection => raw::types::IncomingRelationship,
    RelationshipCollection => Map<String, Value>,
}
#[cfg(adt_import_jobs)]
list_pages! { ImportJobCollection => raw::types::ImportJob }
#[cfg(adt_delete_jobs)]
list_pages! { DeleteJobCollection => raw::types::DeleteJob }

impl DigitalTwinsClient {
    /// Runs one generated-client call with per-call `options` through the shared pipeline,
    /// mapping its error into [`Error`]. The headers stay in the `ResponseValue` (not copied).
    pub(crate) async fn call<'a, T, F, Fut>(
        &'a self,
        options: &RequestOptions,
        f: F,
    ) -> Result<ResponseValue<T>, Error>
    where
        F: FnOnce(&'a raw::Client) -> Fut,
        Fut: Future<
            Output = Result<ResponseValue<T>, progenitor_client::Error<raw::types::ErrorResponse>>,
        >,
    {
        crate::pipeline::with_request_options(options, f(&self.inner.raw)).await
    }

    /// [`call`](Self::call) for the many operations that return just the body: the generated
    /// type, as decoded by the generated client.
    pub(crate) async fn fetch<'a, T, F, Fut>(
        &'a self,
        options: &RequestOptions,
        f: F,
    ) -> Result<T, Error>
    where
        F: FnOnce(&'a raw::Client) -> Fut,
        Fut: Future<
            Output = Result<ResponseValue<T>, progenitor_client::Error<raw::types::ErrorResponse>>,
        >,
    {
        Ok(self.call(options, f).await?.into_inner())
    }

    /// Authenticated GET of an absolute `nextLink` through the pipeline (same auth, retries and
    /// tracing as generated calls), decoded straight into the generated collection type `C`.
    ///
    /// This is the one request not made by a generated method: progenitor does not follow
    /// `x-ms-pageable` links, and a `nextLink` is an opaque absolute URL.
    pub(crate) async fn get_next_link<C: DeserializeOwned>(
        &self,
        options: &RequestOptions,
        url: &str,
        page_size: Option<u32>,
    ) -> Result<(C, HeaderMap), Error> {
        let mut headers = HeaderMap::new();
        if let Some(n) = page_size {
            headers.insert("max-items-per-page", n.into());
        }
        let (bytes, headers) =
            crate::pipeline::get_absolute(&self.inner.raw, options, url, headers).await?;
        let page = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::DataConversion,
                "a list page did not have the {value, nextLink} shape",
            )
            .with_source(e)
        })?;
        Ok((page, headers))
    }

    /// A [`Pager`] over a `{value, nextLink}` list: `first` fetches page one through the
    /// generated client (given the checked `max-items-per-page`) and returns the generated
    /// page `C` with its headers; later pages follow `nextLink` and decode into `C` too. Each
    /// item becomes a `T` through `item` (the identity for typed lists). A `page_size` of 0
    /// fails the pager's first poll, before anything is sent.
    pub(crate) fn list_pager<C, T, F, Fut, M>(
        &self,
        options: RequestOptions,
        page_size: Option<u32>,
        start: Option<Continuation>,
        first: F,
        item: M,
    ) -> Pager<T>
    where
        C: ListPage,
        T: Send + 'static,
        F: Fn(DigitalTwinsClient, RequestOptions, Option<i64>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(C, HeaderMap), Error>> + Send + 'static,
        M: Fn(C::Item) -> Result<T, Error> + Send + Sync + 'static,
    {
        let max = match check_page_size(page_size) {
            Ok(max) => max,
            Err(e) => return failed_pager(e),
        };
        let client = self.clone();
        let first = Arc::new(first);
        let item = Arc::new(item);
        Pager::new(start, move |cont: Option<Continuation>| {
            let client = client.clone();
            let options = options.clone();
            let first = first.clone();
            let item = item.clone();
            async move {
                let (page, headers): (C, HeaderMap) = match cont.as_ref().map(|c| c.kind()) {
                    None => first(client.clone(), options.clone(), max).await?,
                    Some(crate::paging::ContinuationKind::NextLink { url, page_size }) => {
                        client.get_next_link(&options, url, *page_size).await?
                    }
                    Some(_) => {
                        return Err(Error::invalid_input(
                            "continuation",
                            "belongs to another kind of operation (expected a list's nextLink)",
                        ));
                    }
                };
                let (items, next_link) = page.into_parts();
                let items = items
                    .into_iter()
                    .map(|i| item(i))
                    .collect::<Result<Vec<T>, Error>>()?;
                let next = next_link
                    .filter(|l| !l.is_empty())
                    .map(|url| Continuation::next_link(page_size, url));
                Ok(Page::new(items, next).with_headers(headers))
            }
        })
    }
}

/// The first page of a list from its generated call, with its headers (copied once per page,
/// for [`Page::headers`]).
pub(crate) fn page_of<C>(rv: ResponseValue<C>) -> (C, HeaderMap) {
    let headers = rv.headers().clone();
    (rv.into_inner(), headers)
}

/// Serialises a caller's value for a request body.
pub(crate) fn to_body(field: &'static str, value: impl Serialize) -> Result<Value, Error> {
    serde_json::to_value(value)
        .map_err(|e| Error::invalid_input(field, format!("could not be serialised to JSON: {e}")))
}

/// Checks a `max-items-per-page` value.
pub(crate) fn check_page_size(n: Option<u32>) -> Result<Option<i64>, Error> {
    match n {
        Some(0) => Err(Error::invalid_input("page_size", "must be at least 1")),
        other => Ok(other.map(i64::from)),
    }
}

/// A pager whose first poll yields `e` (local validation failed; nothing is sent).
pub(crate) fn failed_pager<T: Send + 'static>(e: Error) -> Pager<T> {
    let e = std::sync::Mutex::new(Some(e));
    Pager::new(None, move |_| {
        let e = e.lock().ok().and_then(|mut g| g.take());
        async move {
            Err(e.unwrap_or_else(|| {
                Error::new(crate::ErrorKind::Other, "invalid input (reported earlier)")
            }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_pages_decode_into_the_generated_collection() {
        let body = br#"{"value":[{"id":"r1","endpointName":"hub","filter":"true"}],"nextLink":"https://x/eventroutes?continuationToken=t"}"#;
        let page: raw::types::EventRouteCollection = serde_json::from_slice(body).unwrap();
        let (items, next) = page.into_parts();
        assert_eq!(items[0].id.as_deref(), Some("r1"));
        assert_eq!(items[0].endpoint_name, "hub");
        assert_eq!(
            next.as_deref(),
            Some("https://x/eventroutes?continuationToken=t")
        );
        assert!(ListItems::<u8>::into_items(None).is_empty());
    }

    #[test]
    fn versioned_takes_the_header_etag_else_the_body_etag() {
        let mut map = Map::new();
        map.insert("$dtId".into(), "room-1".into());
        map.insert("$etag".into(), "W/\"body\"".into());
        let twin = raw::types::DigitalTwin(map);
        let mut headers = HeaderMap::new();
        let rv = ResponseValue::new(twin.clone(), reqwest::StatusCode::OK, headers.clone());
        let v: Versioned<Value> = into_versioned(rv).unwrap();
        assert_eq!(v.etag, ETag::new("W/\"body\""));
        assert_eq!(v.value["$dtId"], "room-1");
        headers.insert("etag", "W/\"header\"".parse().unwrap());
        let rv = ResponseValue::new(twin, reqwest::StatusCode::OK, headers);
        let v: Versioned<Value> = into_versioned(rv).unwrap();
        assert_eq!(v.etag, ETag::new("W/\"header\""));
    }
}
