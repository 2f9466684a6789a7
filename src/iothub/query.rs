//! The IoT Hub query language over twins (`POST /devices/query`), as a resumable stream.

use reqwest::header::HeaderValue;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::models::Twin;
use super::{IotHubClient, api_version, validation};
use crate::paging::{Continuation, ContinuationKind, Page, Pager};
use crate::raw::iothub::types::QuerySpecification;
use crate::request::setters;
use crate::{Error, RequestOptions};

/// A twin query: [`IotHubClient::query`]. Finish with [`Query::into_stream`] (twins),
/// [`Query::into_stream_as`] (projections, aggregates, your own types) or
/// `.into_stream().into_pages()` for page boundaries.
///
/// Every page is requested with the same query text and page size, and the service's
/// `x-ms-continuation` is followed until the last page. [`Pager::continuation`] gives a
/// [`Continuation`] holding the query text, the page size and the token, which you can store
/// (serde, or [`Continuation::to_token_string`]) and resume from later by restating the query
/// with [`Query::continue_from`] — the one resume model of both clients.
///
/// IoT Hub queries are eventually consistent: a twin written a moment ago may not be returned
/// yet. Read a twin by id ([`IotHubClient::get_twin`]) when you need the current state.
#[derive(Debug, Clone)]
#[must_use = "finish with .into_stream()"]
pub struct Query {
    client: IotHubClient,
    query: String,
    page_size: Option<u32>,
    start: Option<Continuation>,
    options: RequestOptions,
}

impl Query {
    setters! {
        /// The most items per page (`x-ms-max-item-count`); the service may return fewer.
        page_size;
        /// Resumes this query from a continuation saved earlier from the *same* query text. A
        /// continuation made for another query (or another kind of operation) is an
        /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) error on the field
        /// `continuation` before anything is sent. The page size stored in the continuation is
        /// used unless [`Query::page_size`] sets one. See [`Continuation`] (opaque,
        /// serialisable, not a security boundary).
        ///
        /// ```no_run
        /// # async fn demo(hub: azure_twins::IotHubClient, saved: String) -> Result<(), azure_twins::Error> {
        /// use azure_twins::Continuation;
        /// use futures::TryStreamExt;
        /// let rest: Vec<_> = hub
        ///     .query("SELECT * FROM devices")
        ///     .continue_from(Continuation::from_token_string(&saved)?)
        ///     .into_stream()
        ///     .try_collect()
        ///     .await?;
        /// # Ok(()) }
        /// ```
        continue_from;
        /// Per-call options (retry policy, timeout) applied to every page.
        options;
    }
}

impl Query {
    /// A stream of twins across all pages.
    pub fn into_stream(self) -> Pager<Twin> {
        self.into_stream_as()
    }

    /// A stream of rows decoded as `U`: a projection struct, `serde_json::Value`, or an
    /// aggregate row such as `{"n": 3}`.
    pub fn into_stream_as<U: DeserializeOwned + Send + 'static>(self) -> Pager<U> {
        let problem = self.check();
        let client = self.client;
        let query = self.query;
        let options = self.options;
        let page_size = self
            .page_size
            .or(match self.start.as_ref().map(|c| c.kind()) {
                Some(ContinuationKind::IotHubQuery { page_size, .. }) => *page_size,
                _ => None,
            });
        Pager::new(self.start, move |cont: Option<Continuation>| {
            let client = client.clone();
            let query = query.clone();
            let options = options.clone();
            let problem = problem.clone();
            async move {
                if let Some((field, reason)) = problem {
                    return Err(Error::invalid_input(field, reason));
                }
                let token = match cont.as_ref().map(|c| c.kind()) {
                    None => None,
                    Some(ContinuationKind::IotHubQuery {
                        query: q, token, ..
                    }) if *q == query => Some(token.clone()),
                    Some(_) => {
                        return Err(Error::invalid_input("continuation", MISMATCH));
                    }
                };
                if let Some(t) = &token
                    && HeaderValue::from_str(t).is_err()
                {
                    return Err(Error::invalid_input(
                        "x-ms-continuation",
                        "contains characters that cannot be sent in an HTTP header",
                    ));
                }
                let body = QuerySpecification {
                    query: Some(query.clone()),
                };
                let max_items = page_size.map(|n| n.to_string());
                let reply = crate::pipeline::call(
                    &options,
                    client.inner.raw.query_get_twins(
                        api_version(&client.inner.raw),
                        token.as_deref(),
                        max_items.as_deref(),
                        &body,
                    ),
                )
                .await?;
                let next = reply
                    .continuation_header()
                    .map(|t| Continuation::iothub_query(query.clone(), page_size, t));
                let items = decode_rows::<U>(reply.value, "query row")?;
                Ok(Page::new(items, next).with_headers(reply.headers))
            }
        })
    }

    fn check(&self) -> Option<(String, String)> {
        let err = validation::check_query("query", &self.query)
            .err()
            .or_else(|| {
                (self.page_size == Some(0))
                    .then(|| Error::invalid_input("page_size", "must be at least 1"))
            })
            .or_else(|| match self.start.as_ref().map(|c| c.kind()) {
                None => None,
                Some(ContinuationKind::IotHubQuery { query, .. }) if *query == self.query => None,
                Some(ContinuationKind::IotHubQuery { query, .. })
                    if query.starts_with(JOBS_PREFIX) =>
                {
                    Some(Error::invalid_input(
                        "continuation",
                        "belongs to a jobs listing, not to a twin query",
                    ))
                }
                Some(ContinuationKind::IotHubQuery { .. }) => {
                    Some(Error::invalid_input("continuation", MISMATCH))
                }
                Some(_) => Some(Error::invalid_input(
                    "continuation",
                    "belongs to another kind of operation (expected an IoT Hub query continuation)",
                )),
            });
        err.map(|e| match e.kind() {
            crate::ErrorKind::InvalidInput { field, reason } => (field.to_string(), reason.clone()),
            _ => ("query".to_owned(), e.to_string()),
        })
    }
}

/// Decodes the rows of a query page (JSON values) as `U`; a row that does not fit names
/// `what` ("the query row did not match the requested type").
pub(crate) fn decode_rows<U: DeserializeOwned>(
    rows: Vec<Value>,
    what: &str,
) -> Result<Vec<U>, Error> {
    rows.into_iter()
        .map(|r| {
            serde_json::from_value(r).map_err(|e| {
                Error::new(
                    crate::ErrorKind::DataConversion,
                    format!("the {what} did not match the requested type"),
                )
                .with_source(e)
            })
        })
        .collect()
}

impl IotHubClient {
    /// Runs a query over device twins (`FROM devices`), module twins (`FROM devices.modules`)
    /// or device jobs (`FROM devices.jobs`), as a stream that follows continuations.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use futures::{StreamExt, TryStreamExt};
    /// // Twins:
    /// let twins: Vec<_> = hub.query("SELECT * FROM devices WHERE tags.site = 'berlin'")
    ///     .page_size(100)
    ///     .into_stream()
    ///     .try_collect()
    ///     .await?;
    /// // A projection into your own type:
    /// #[derive(serde::Deserialize)]
    /// struct Row { #[serde(rename = "deviceId")] id: String }
    /// let rows: Vec<Row> = hub.query("SELECT deviceId FROM devices").into_stream_as().try_collect().await?;
    /// // Page by page, saving where to resume:
    /// let mut pages = hub.query("SELECT * FROM devices").page_size(50).into_stream().into_pages();
    /// if let Some(page) = pages.next().await {
    ///     let page = page?;
    ///     let saved = pages.continuation().map(|c| c.to_token_string());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query(&self, query: impl Into<String>) -> Query {
        Query {
            client: self.clone(),
            query: query.into(),
            page_size: None,
            start: None,
            options: RequestOptions::default(),
        }
    }
}

/// Why a continuation of another query is refused.
const MISMATCH: &str =
    "was made for a different query; continue it with the query text it was saved from";

/// Prefix of the pseudo query text that identifies a jobs query in a [`Continuation`].
pub(crate) const JOBS_PREFIX: &str = "jobs/v2/query?";
