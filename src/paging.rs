//! Paged results: [`Pager`] (a stream of items), [`Page`], and a resumable [`Continuation`].
//!
//! Both services page differently: IoT Hub query returns an `x-ms-continuation` header and needs
//! the original query text and page size sent again with it; ADT query returns a
//! `continuationToken` in the body; ADT lists return an absolute `nextLink`. A [`Continuation`]
//! captures whichever applies, so a caller can save it (serde, or the compact string form
//! [`Continuation::to_token_string`]) and resume later, in another process if need be.
//!
//! ```
//! use azure_twins::paging::{Page, Pager};
//! use futures::TryStreamExt;
//! # async fn demo() -> Result<(), azure_twins::Error> {
//! // Any fetch function can back a pager; the clients build theirs from the services' paging.
//! let pager: Pager<u32> = Pager::new(None, |_cont| async { Ok(Page::new(vec![1, 2, 3], None)) });
//! let all: Vec<u32> = pager.try_collect().await?;
//! assert_eq!(all, vec![1, 2, 3]);
//! # Ok(()) }
//! ```

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine as _;
use futures::Stream;
use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// Where to resume a paged operation. Serialisable (serde, or the compact
/// [`Continuation::to_token_string`]); treat the contents as opaque.
///
/// There is one resume model on both services: restate the query and continue it,
/// `client.query(text).continue_from(continuation)` (`IotHubClient::query`,
/// `DigitalTwinsClient::query`). A query continuation records the query text it was made
/// for; continuing another query with it is an
/// [`ErrorKind::InvalidInput`] error on the field `continuation`, before anything is sent,
/// never a silent resume of the token's own query. The page size stored in it applies unless
/// the builder sets one.
///
/// A continuation is **not a security boundary**: it is plain (base64url) JSON holding the
/// query text, the page size and the service's own token, which the caller can read and forge.
/// Don't hand it to a party who must not see the query, and don't rely on it to limit what a
/// resumed query may read: the service authorises every page with the client's credential.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation(pub(crate) ContinuationKind);

/// The service-specific contents of a [`Continuation`] (crate-internal; clients fill it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum ContinuationKind {
    /// IoT Hub `POST /devices/query` (and other header-paged IoT Hub queries).
    IotHubQuery {
        /// The query text sent with every page.
        query: String,
        /// `x-ms-max-item-count`, if the caller set one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page_size: Option<u32>,
        /// The `x-ms-continuation` value from the previous page.
        token: String,
    },
    /// ADT `POST /query`: the body's `continuationToken`.
    DigitalTwinsQuery {
        /// The query text the token was made for (not sent again; checked on resume).
        query: String,
        /// `max-items-per-page`, if the caller set one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page_size: Option<u32>,
        /// The `continuationToken` from the previous page.
        token: String,
    },
    /// ADT list operations: the absolute `nextLink` URL.
    NextLink {
        /// `max-items-per-page`, if the caller set one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page_size: Option<u32>,
        /// The `nextLink` from the previous page.
        url: String,
    },
}

// The crate-internal constructors are used by whichever service clients are compiled in.
#[allow(dead_code)]
impl Continuation {
    /// IoT Hub query continuation.
    pub(crate) fn iothub_query(
        query: impl Into<String>,
        page_size: Option<u32>,
        token: impl Into<String>,
    ) -> Self {
        Continuation(ContinuationKind::IotHubQuery {
            query: query.into(),
            page_size,
            token: token.into(),
        })
    }

    /// ADT query continuation.
    pub(crate) fn digitaltwins_query(
        query: impl Into<String>,
        page_size: Option<u32>,
        token: impl Into<String>,
    ) -> Self {
        Continuation(ContinuationKind::DigitalTwinsQuery {
            query: query.into(),
            page_size,
            token: token.into(),
        })
    }

    /// ADT `nextLink` continuation.
    pub(crate) fn next_link(page_size: Option<u32>, url: impl Into<String>) -> Self {
        Continuation(ContinuationKind::NextLink {
            page_size,
            url: url.into(),
        })
    }

    /// The service-specific contents.
    pub(crate) fn kind(&self) -> &ContinuationKind {
        &self.0
    }

    /// A compact, URL-safe string form (base64url of the JSON form), e.g. to hand to a web
    /// client as a page cursor.
    pub fn to_token_string(&self) -> String {
        let json = serde_json::to_vec(self).expect("continuation serialises");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Parses the string form made by [`Continuation::to_token_string`].
    pub fn from_token_string(s: &str) -> Result<Self> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim())
            .map_err(|_| {
                Error::invalid_input("continuation", "is not a token made by to_token_string")
            })?;
        serde_json::from_slice(&bytes).map_err(|_| {
            Error::invalid_input("continuation", "is not a token made by to_token_string")
        })
    }
}

impl fmt::Debug for Continuation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens are not secrets, but they are long; show the kind and the query.
        match &self.0 {
            ContinuationKind::IotHubQuery {
                query, page_size, ..
            } => f
                .debug_struct("Continuation::IotHubQuery")
                .field("query", query)
                .field("page_size", page_size)
                .finish_non_exhaustive(),
            ContinuationKind::DigitalTwinsQuery {
                query, page_size, ..
            } => f
                .debug_struct("Continuation::DigitalTwinsQuery")
                .field("query", query)
                .field("page_size", page_size)
                .finish_non_exhaustive(),
            ContinuationKind::NextLink { page_size, .. } => f
                .debug_struct("Continuation::NextLink")
                .field("page_size", page_size)
                .finish_non_exhaustive(),
        }
    }
}

impl fmt::Debug for ContinuationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Continuation(self.clone()), f)
    }
}

/// One page of results as the service returned it.
#[derive(Debug, Clone)]
pub struct Page<T> {
    items: Vec<T>,
    continuation: Option<Continuation>,
    headers: HeaderMap,
}

impl<T> Page<T> {
    /// A page of `items`; `continuation` fetches the next page (`None` on the last page).
    pub fn new(items: Vec<T>, continuation: Option<Continuation>) -> Self {
        Page {
            items,
            continuation,
            headers: HeaderMap::new(),
        }
    }

    /// Attaches the response headers of the page.
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// The items of this page.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Takes the items.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }

    /// Where the next page starts; `None` on the last page.
    pub fn continuation(&self) -> Option<&Continuation> {
        self.continuation.as_ref()
    }

    /// The response headers of this page (e.g. `query-charge`, `x-ms-item-type`).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// ADT's `query-charge` header: query units consumed by this page.
    pub fn query_charge(&self) -> Option<f64> {
        self.header("query-charge")?.trim().parse().ok()
    }

    /// IoT Hub's `x-ms-item-type` header (`Twin`, `DeviceJob`, `JobResponse`, `Raw`).
    pub fn item_type(&self) -> Option<&str> {
        self.header("x-ms-item-type")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Fetch<T> =
    Arc<dyn Fn(Option<Continuation>) -> BoxFuture<'static, Result<Page<T>>> + Send + Sync>;

enum State<T> {
    /// Next page to fetch (`None` = first page).
    Idle,
    Fetching(BoxFuture<'static, Result<Page<T>>>),
    Done,
}

/// Shared paging engine of [`Pager`] and [`Pages`].
struct Engine<T> {
    fetch: Fetch<T>,
    state: State<T>,
    /// The continuation of the page being fetched or last fetched.
    current: Option<Continuation>,
    /// The continuation of the next page (`None` with `finished` = no more pages).
    next: Option<Continuation>,
    started: bool,
    finished: bool,
}

impl<T> Engine<T> {
    fn poll_page(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Page<T>>>> {
        loop {
            match &mut self.state {
                State::Done => return Poll::Ready(None),
                State::Idle => {
                    if self.finished {
                        self.state = State::Done;
                        return Poll::Ready(None);
                    }
                    let cont = self.next.clone();
                    self.started = true;
                    self.current = cont.clone();
                    self.state = State::Fetching((self.fetch)(cont));
                }
                State::Fetching(fut) => {
                    let res = std::task::ready!(fut.as_mut().poll(cx));
                    self.state = State::Idle;
                    match res {
                        Ok(page) => {
                            if page.continuation.is_some() && page.continuation == self.current {
                                self.state = State::Done;
                                return Poll::Ready(Some(Err(Error::new(
                                    ErrorKind::DataConversion,
                                    "the service returned the same continuation twice; stopping to avoid an endless loop",
                                ))));
                            }
                            self.next = page.continuation.clone();
                            self.finished = self.next.is_none();
                            return Poll::Ready(Some(Ok(page)));
                        }
                        Err(e) => {
                            // Keep `next` as it was: the caller can resume and retry this page.
                            self.next = self.current.clone();
                            self.state = State::Done;
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
            }
        }
    }
}

/// A `Stream` of items across all pages of a paged operation.
///
/// Use it with `futures::StreamExt` / `TryStreamExt` (`next`, `try_next`, `try_collect`).
/// [`Pager::into_pages`] gives page boundaries, headers and exact continuations instead.
/// The stream ends after the last page, or after the first error.
pub struct Pager<T> {
    engine: Engine<T>,
    buffer: VecDeque<T>,
    dedup: Option<Dedup<T>>,
}

/// The keys already yielded by a [`Pager::dedup_by_key`] pager, and how many repeats it dropped.
struct Dedup<T> {
    key: Box<dyn Fn(&T) -> String + Send + Sync>,
    seen: HashSet<String>,
    dropped: usize,
}

impl<T> fmt::Debug for Pager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pager")
            .field("buffered", &self.buffer.len())
            .field("finished", &self.engine.finished)
            .field("duplicates_dropped", &self.duplicates_dropped())
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Pager<T> {
    /// A pager that starts at `start` (`None` = the first page) and gets each page from `fetch`,
    /// which receives the continuation of the page to fetch.
    pub fn new<F, Fut>(start: Option<Continuation>, fetch: F) -> Self
    where
        F: Fn(Option<Continuation>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Page<T>>> + Send + 'static,
    {
        Pager {
            engine: Engine {
                fetch: Arc::new(move |c| Box::pin(fetch(c))),
                state: State::Idle,
                current: None,
                next: start,
                started: false,
                finished: false,
            },
            buffer: VecDeque::new(),
            dedup: None,
        }
    }
}

impl<T> Pager<T> {
    /// Switches to page-by-page iteration (items already buffered from a partly read page are
    /// dropped; call this before reading items for exact page boundaries).
    pub fn into_pages(self) -> Pages<T> {
        Pages {
            engine: self.engine,
        }
    }

    /// Where to resume later so that no unread item is lost.
    ///
    /// While a page is partly read this is the continuation *of that page*, so resuming may
    /// repeat items already read from it (at-least-once); between pages it is exactly the next
    /// page. `None` means: start from the beginning (nothing was read yet) or, when
    /// [`Pager::is_done`], nothing is left.
    pub fn continuation(&self) -> Option<Continuation> {
        if self.buffer.is_empty() {
            self.engine.next.clone()
        } else {
            self.engine.current.clone()
        }
    }

    /// True once the last page was read and all its items were yielded (or after an error).
    pub fn is_done(&self) -> bool {
        self.buffer.is_empty() && (matches!(self.engine.state, State::Done) || self.engine.finished)
    }

    /// Yields each item at most once by `key` (e.g. a twin's device id or `$dtId`), dropping
    /// repeats that a service returns across page boundaries while results change under a
    /// query. Opt-in, because it keeps every key seen: memory grows with the number of distinct
    /// items, unlike a plain pager. [`Pager::duplicates_dropped`] counts what it dropped.
    ///
    /// ```
    /// use azure_twins::paging::{Page, Pager};
    /// use futures::TryStreamExt;
    /// # async fn demo() -> Result<(), azure_twins::Error> {
    /// let pager: Pager<u32> = Pager::new(None, |_cont| async { Ok(Page::new(vec![1, 2, 2, 3], None)) });
    /// let unique: Vec<u32> = pager.dedup_by_key(|n| n.to_string()).try_collect().await?;
    /// assert_eq!(unique, vec![1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn dedup_by_key<F>(mut self, key: F) -> Self
    where
        F: Fn(&T) -> String + Send + Sync + 'static,
    {
        self.dedup = Some(Dedup {
            key: Box::new(key),
            seen: HashSet::new(),
            dropped: 0,
        });
        self
    }

    /// How many repeated items [`Pager::dedup_by_key`] has dropped so far (0 without it).
    pub fn duplicates_dropped(&self) -> usize {
        self.dedup.as_ref().map_or(0, |d| d.dropped)
    }
}

impl<T> Stream for Pager<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.buffer.pop_front() {
                if let Some(d) = &mut this.dedup
                    && !d.seen.insert((d.key)(&item))
                {
                    d.dropped += 1;
                    continue;
                }
                return Poll::Ready(Some(Ok(item)));
            }
            match std::task::ready!(this.engine.poll_page(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(page)) => this.buffer.extend(page.items),
            }
        }
    }
}

// The engine holds only boxed futures and an Arc, so both streams are Unpin.
impl<T> Unpin for Pager<T> {}

/// A `Stream` of whole pages, from [`Pager::into_pages`].
pub struct Pages<T> {
    engine: Engine<T>,
}

impl<T> Unpin for Pages<T> {}

impl<T> fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages")
            .field("finished", &self.engine.finished)
            .finish_non_exhaustive()
    }
}

impl<T> Pages<T> {
    /// The continuation of the next page not yet yielded (`None`: from the beginning, or done
    /// when [`Pages::is_done`]). After an error it is the continuation of the failed page, so
    /// resuming retries it.
    pub fn continuation(&self) -> Option<Continuation> {
        self.engine.next.clone()
    }

    /// True once the last page was yielded (or after an error).
    pub fn is_done(&self) -> bool {
        matches!(self.engine.state, State::Done) || self.engine.finished
    }
}

impl<T> Stream for Pages<T> {
    type Item = Result<Page<T>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().engine.poll_page(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{StreamExt, TryStreamExt};

    fn numbers(pages: usize, per_page: usize) -> Pager<usize> {
        numbers_from(None, pages, per_page)
    }

    fn numbers_from(start: Option<Continuation>, pages: usize, per_page: usize) -> Pager<usize> {
        Pager::new(start, move |c: Option<Continuation>| async move {
            let page = match c.as_ref().map(|c| c.kind()) {
                None => 0,
                Some(ContinuationKind::DigitalTwinsQuery { token, .. }) => token.parse().unwrap(),
                Some(_) => panic!("wrong kind"),
            };
            let items = (page * per_page..(page + 1) * per_page).collect();
            let next = (page + 1 < pages)
                .then(|| Continuation::digitaltwins_query("q", None, (page + 1).to_string()));
            Ok(Page::new(items, next))
        })
    }

    /// Pages that repeat the last item of the previous page, as a service does when results
    /// shift under a query: [0,1,2], [2,3,4], [4,5,6].
    fn overlapping(pages: usize) -> Pager<usize> {
        Pager::new(None, move |c: Option<Continuation>| async move {
            let page: usize = match c.as_ref().map(|c| c.kind()) {
                None => 0,
                Some(ContinuationKind::DigitalTwinsQuery { token, .. }) => token.parse().unwrap(),
                Some(_) => panic!("wrong kind"),
            };
            let items = (page * 2..page * 2 + 3).collect();
            let next = (page + 1 < pages)
                .then(|| Continuation::digitaltwins_query("q", None, (page + 1).to_string()));
            Ok(Page::new(items, next))
        })
    }

    #[tokio::test]
    async fn dedup_by_key_drops_repeats_across_pages_and_counts_them() {
        let plain: Vec<usize> = overlapping(3).try_collect().await.unwrap();
        assert_eq!(plain, vec![0, 1, 2, 2, 3, 4, 4, 5, 6]);

        let mut pager = overlapping(3).dedup_by_key(|n| n.to_string());
        let mut unique = Vec::new();
        while let Some(n) = pager.try_next().await.unwrap() {
            unique.push(n);
        }
        assert_eq!(unique, vec![0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(pager.duplicates_dropped(), 2);
        assert!(pager.is_done());
        assert_eq!(numbers(2, 2).duplicates_dropped(), 0);
    }

    #[tokio::test]
    async fn items_across_pages() {
        let all: Vec<usize> = numbers(3, 2).try_collect().await.unwrap();
        assert_eq!(all, vec![0, 1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn pages_and_resume() {
        let mut pages = numbers(3, 2).into_pages();
        let p0 = pages.next().await.unwrap().unwrap();
        assert_eq!(p0.items(), &[0, 1]);
        let saved = pages.continuation().unwrap();
        let text = serde_json::to_string(&saved).unwrap();
        let back: Continuation = serde_json::from_str(&text).unwrap();
        assert_eq!(back, saved);
        let rest: Vec<usize> = numbers_from(Some(back), 3, 2).try_collect().await.unwrap();
        assert_eq!(rest, vec![2, 3, 4, 5]);
        let token = saved.to_token_string();
        assert_eq!(Continuation::from_token_string(&token).unwrap(), saved);
        assert!(Continuation::from_token_string("!!").is_err());
    }

    #[tokio::test]
    async fn item_continuation_is_at_least_once() {
        let mut p = numbers(3, 2);
        assert!(p.continuation().is_none());
        assert_eq!(p.next().await.unwrap().unwrap(), 0);
        // Mid page 0: resume from page 0's continuation (the beginning).
        assert!(p.continuation().is_none());
        assert_eq!(p.next().await.unwrap().unwrap(), 1);
        // Page 0 fully read: exactly page 1.
        let c = p.continuation().unwrap();
        assert_eq!(
            numbers_from(Some(c), 3, 2).next().await.unwrap().unwrap(),
            2
        );
        let rest: Vec<usize> = p.try_collect().await.unwrap();
        assert_eq!(rest, vec![2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn stops_on_repeated_continuation_and_on_error() {
        let looping: Pager<u8> = Pager::new(None, |_c| async {
            Ok(Page::new(
                vec![1],
                Some(Continuation::next_link(None, "https://x/next")),
            ))
        });
        let out: Vec<_> = looping.collect().await;
        // Page 1 is yielded; page 2 repeats page 2's own continuation and is refused.
        assert_eq!(out.len(), 2);
        assert!(out[1].is_err());

        let failing: Pager<u8> = Pager::new(None, |c: Option<Continuation>| async move {
            match c {
                None => Ok(Page::new(
                    vec![1],
                    Some(Continuation::iothub_query("SELECT *", Some(1), "t1")),
                )),
                Some(_) => Err(Error::new(ErrorKind::Connection, "boom")),
            }
        });
        let mut pages = failing.into_pages();
        assert!(pages.next().await.unwrap().is_ok());
        assert!(pages.next().await.unwrap().is_err());
        assert!(pages.next().await.is_none());
        // Resume point is the failed page.
        assert_eq!(
            pages.continuation(),
            Some(Continuation::iothub_query("SELECT *", Some(1), "t1"))
        );
    }

    #[test]
    fn query_charge_header() {
        let mut h = HeaderMap::new();
        h.insert("query-charge", "3.26".parse().unwrap());
        let p: Page<u8> = Page::new(vec![], None).with_headers(h);
        assert_eq!(p.query_charge(), Some(3.26));
    }
}

/// Property tests of the continuation string form: every kind round-trips, and tampered or
/// garbage tokens give the documented `InvalidInput` error, never a panic.
#[cfg(test)]
mod continuation_props {
    use super::*;
    use proptest::prelude::*;

    /// Text with the characters that stress JSON and base64: quotes, backslashes, control
    /// characters, non-ASCII, and base64/URL punctuation.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[\"\\\\/+=_\\-~ \\n\\t\u{0}a-zA-Z0-9é€😀]{0,40}",
        ]
    }

    fn continuation() -> impl Strategy<Value = Continuation> {
        prop_oneof![
            (text(), any::<Option<u32>>(), text())
                .prop_map(|(q, n, t)| Continuation::iothub_query(q, n, t)),
            (text(), any::<Option<u32>>(), text())
                .prop_map(|(q, n, t)| Continuation::digitaltwins_query(q, n, t)),
            (any::<Option<u32>>(), text()).prop_map(|(n, u)| Continuation::next_link(n, u)),
        ]
    }

    /// The error every bad token must give.
    fn assert_clear_error(r: Result<Continuation>) {
        let e = r.expect_err("a bad token is refused");
        assert!(
            matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "continuation"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "invalid continuation: is not a token made by to_token_string"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_kind_round_trips(c in continuation()) {
            let s = c.to_token_string();
            prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{s}");
            prop_assert_eq!(&Continuation::from_token_string(&s).unwrap(), &c);
            // Surrounding whitespace (e.g. from a form field) is tolerated.
            prop_assert_eq!(&Continuation::from_token_string(&format!(" {s}\n")).unwrap(), &c);
            // The serde form round-trips too.
            let json = serde_json::to_string(&c).unwrap();
            prop_assert_eq!(serde_json::from_str::<Continuation>(&json).unwrap(), c);
        }

        #[test]
        fn garbage_is_a_clear_error(s in any::<String>()) {
            // Any string either decodes to a continuation that re-encodes to itself, or is
            // refused with the documented error; never a panic.
            match Continuation::from_token_string(&s) {
                Ok(c) => prop_assert_eq!(c.to_token_string(), s.trim()),
                Err(_) => assert_clear_error(Continuation::from_token_string(&s)),
            }
        }

        #[test]
        fn tampered_tokens_are_a_clear_error_or_another_valid_token(
            c in continuation(),
            at in any::<prop::sample::Index>(),
            with in "[A-Za-z0-9_\\-=+/.!]",
            how in 0..3u8,
        ) {
            let s = c.to_token_string();
            let i = at.index(s.len() + 1);
            let tampered = match how {
                0 => format!("{}{with}{}", &s[..i.min(s.len())], &s[(i + 1).min(s.len())..]),
                1 => s[..i.min(s.len())].to_owned(),
                _ => format!("{}{with}{}", &s[..i.min(s.len())], &s[i.min(s.len())..]),
            };
            match Continuation::from_token_string(&tampered) {
                // A change can land on another well-formed token (e.g. one letter of the
                // service token): it must then be a continuation in its own right.
                Ok(other) => {
                    let again = other.to_token_string();
                    prop_assert_eq!(Continuation::from_token_string(&again).unwrap(), other);
                }
                Err(_) => assert_clear_error(Continuation::from_token_string(&tampered)),
            }
        }

        #[test]
        fn well_encoded_json_of_the_wrong_shape_is_a_clear_error(
            kind in prop_oneof![
                Just("iot_hub_query"), Just("digital_twins_query"), Just("next_link"),
                Just("other"), Just("")
            ],
            field in prop_oneof![Just("query"), Just("token"), Just("url"), Just("page_size")],
            value in prop_oneof![
                Just(serde_json::json!(null)), Just(serde_json::json!(-1)),
                Just(serde_json::json!(1.5)), Just(serde_json::json!(4_294_967_296u64)),
                Just(serde_json::json!([])), Just(serde_json::json!({})),
            ],
        ) {
            // One member of the wrong type (or the only member, or an unknown kind).
            let doc = serde_json::json!({"kind": kind, field: value});
            let s = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&doc).unwrap());
            assert_clear_error(Continuation::from_token_string(&s));
        }
    }
}
