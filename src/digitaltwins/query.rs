//! Query: `POST /query` with the continuation token followed, resumable, query charge per page.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client::{
    DigitalTwinsClient, ListItems, api_version, check_page_size, decode_object, failed_pager,
};
use crate::paging::{Continuation, ContinuationKind, Page, Pager};
use crate::raw::digitaltwins::types;
use crate::request::setters;
use crate::{Error, RequestOptions};

/// The service's limit on query text length.
pub const MAX_QUERY_CHARS: usize = 8000;

impl DigitalTwinsClient {
    /// Runs a query in the Azure Digital Twins query language, as a stream of rows across all
    /// pages.
    ///
    /// The first request sends the query; each following one sends only the service's
    /// continuation token, as the service requires. Save [`Pager::continuation`] (or
    /// [`Pages::continuation`](crate::paging::Pages::continuation)) to resume later by
    /// restating the same query with [`QueryTwins::continue_from`] (the one resume model of
    /// both clients; a continuation of another query is refused locally); use [`Pager::into_pages`] to see page boundaries and each
    /// page's [`query_charge`](crate::paging::Page::query_charge).
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::DigitalTwinsClient;
    /// # use futures::{StreamExt, TryStreamExt};
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let mut rows = dt.query("SELECT * FROM digitaltwins WHERE temperature > 20").page_size(100).into_stream();
    /// while let Some(twin) = rows.try_next().await? {
    ///     println!("{}", twin["$dtId"]);
    /// }
    ///
    /// // Page by page, with the cost of each page:
    /// let mut pages = dt.query("SELECT * FROM digitaltwins").into_stream().into_pages();
    /// while let Some(page) = pages.next().await {
    ///     let page = page?;
    ///     println!("{} rows, {:?} query units", page.items().len(), page.query_charge());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query(&self, query: impl Into<String>) -> QueryTwins {
        QueryTwins {
            client: self.clone(),
            query: query.into(),
            page_size: None,
            start: None,
            options: RequestOptions::default(),
        }
    }
}

/// Builder of [`DigitalTwinsClient::query`].
#[derive(Debug)]
#[must_use = "call .into_stream() to run the query"]
pub struct QueryTwins {
    client: DigitalTwinsClient,
    query: String,
    page_size: Option<u32>,
    start: Option<Continuation>,
    options: RequestOptions,
}

impl QueryTwins {
    setters! {
        /// Maximum rows per page (`max-items-per-page`; the service may return fewer).
        page_size;
        /// Resumes this query from a continuation saved earlier from the *same* query text
        /// (then only the service's token is sent, as the service requires). A continuation
        /// made for another query, or for another kind of operation, is an
        /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) error on the field
        /// `continuation` before anything is sent. The page size stored in it is used unless
        /// [`QueryTwins::page_size`] sets one. See [`Continuation`] (opaque, serialisable, not
        /// a security boundary).
        continue_from;
        /// Per-call options, applied to every page (queries are read-only and retried by
        /// default).
        options;
    }

    /// The rows as JSON values.
    pub fn into_stream(self) -> Pager<Value> {
        self.into_stream_as()
    }

    /// The rows decoded as `T` (e.g. [`BasicDigitalTwin`](super::BasicDigitalTwin) for
    /// `SELECT *`): each row object of the generated `QueryResult` is deserialised once into
    /// `T`.
    pub fn into_stream_as<T: DeserializeOwned + Send + 'static>(self) -> Pager<T> {
        if let Err(e) = self.check() {
            return failed_pager(e);
        }
        let client = self.client;
        let query = self.query;
        let page_size = self.page_size;
        let options = self.options;
        Pager::new(self.start, move |cont: Option<Continuation>| {
            let client = client.clone();
            let query = query.clone();
            let options = options.clone();
            let query_text = query.clone();
            async move {
                let (spec, page_size) = match cont.as_ref().map(|c| c.kind()) {
                    None => (
                        types::QuerySpecification {
                            query: Some(query),
                            continuation_token: None,
                        },
                        page_size,
                    ),
                    Some(ContinuationKind::DigitalTwinsQuery {
                        token,
                        page_size: saved,
                        ..
                    }) => (
                        types::QuerySpecification {
                            query: None,
                            continuation_token: Some(token.clone()),
                        },
                        page_size.or(*saved),
                    ),
                    Some(_) => {
                        return Err(Error::invalid_input(
                            "continuation",
                            "belongs to another kind of operation (expected an ADT query continuation)",
                        ));
                    }
                };
                let max = page_size.map(i64::from);
                let rv = client
                    .call(&options, |raw| {
                        raw.query_query_twins(api_version(raw), max, None, None, &spec)
                    })
                    .await?;
                // The page keeps its headers (query charge, item type): one copy per page.
                let headers = rv.headers().clone();
                let result = rv.into_inner();
                let next = result
                    .continuation_token
                    .filter(|t| !t.is_empty() && t != "null")
                    .map(|t| Continuation::digitaltwins_query(query_text, page_size, t));
                let rows: Vec<T> = ListItems::into_items(result.value)
                    .into_iter()
                    .map(decode_object)
                    .collect::<Result<_, _>>()?;
                Ok(Page::new(rows, next).with_headers(headers))
            }
        })
    }

    fn check(&self) -> Result<(), Error> {
        check_page_size(self.page_size)?;
        if self.query.trim().is_empty() {
            return Err(Error::invalid_input("query", "must not be empty"));
        }
        let n = self.query.chars().count();
        if n > MAX_QUERY_CHARS {
            return Err(Error::invalid_input(
                "query",
                format!("is {n} characters long; the service allows at most {MAX_QUERY_CHARS}"),
            ));
        }
        match self.start.as_ref().map(|c| c.kind()) {
            None => Ok(()),
            Some(ContinuationKind::DigitalTwinsQuery { query, .. }) if *query == self.query => {
                Ok(())
            }
            Some(ContinuationKind::DigitalTwinsQuery { .. }) => Err(Error::invalid_input(
                "continuation",
                "was made for a different query; continue it with the query text it was saved from",
            )),
            Some(_) => Err(Error::invalid_input(
                "continuation",
                "belongs to another kind of operation (expected a Digital Twins query continuation)",
            )),
        }
    }
}
