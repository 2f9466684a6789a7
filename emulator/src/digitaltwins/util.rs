//! Small shared pieces: timestamps, query strings, continuation tokens, paging, conditional headers, JSON replies.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Timelike, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::{Value, json};

use super::error::{AdtError, AdtResult};

tokio::task_local! {
    /// The api-version of the request being handled, set by the guard for the handler's task, so
    /// that the links the service hands back (`nextLink`, `Operation-Location`) repeat it.
    pub static REQUEST_API_VERSION: &'static str;
}

/// The api-version links are built with: the request's, or the newest outside a request.
pub fn api_version() -> &'static str {
    REQUEST_API_VERSION
        .try_with(|v| *v)
        .unwrap_or(crate::api_versions::DIGITAL_TWINS_LATEST)
}

/// `2023-06-01T20:31:10.5580386Z`: 7 fractional digits and `Z`, as twin metadata and jobs show them.
pub fn ts_z(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.nanosecond() % 1_000_000_000 / 100
    )
}

/// `2021-01-12T23:39:01.2227015+00:00`: the models API's `uploadTime` format.
pub fn ts_offset(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}+00:00",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.nanosecond() % 1_000_000_000 / 100
    )
}

/// A fresh weak ETag `W/"<uuid v4>"`.
pub fn new_etag() -> String {
    format!("W/\"{}\"", uuid::Uuid::new_v4())
}

/// Decoded query-string pairs, in order (repeated keys kept, as `dependenciesFor` needs).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    let Some(raw) = raw else { return Vec::new() };
    raw.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// First value of a query parameter.
pub fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encode one query-string value.
pub fn enc(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// Opaque continuation token: URL-safe base64 of a small JSON document tagged with the list it belongs to.
pub fn make_token(kind: &str, state: Value) -> String {
    let doc = json!({"k": kind, "s": state});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(doc.to_string())
}

/// Decode a token made by [`make_token`] for the same list kind.
pub fn read_token(kind: &str, token: &str, code: &'static str) -> AdtResult<Value> {
    let bad = || {
        AdtError::bad_request(
            code,
            "The continuation token is invalid or does not belong to this operation.",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| bad())?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if doc.get("k").and_then(Value::as_str) != Some(kind) {
        return Err(bad());
    }
    Ok(doc.get("s").cloned().unwrap_or(Value::Null))
}

/// The `max-items-per-page` header: positive integer, else 400 naming the header.
pub fn page_size(headers: &HeaderMap, default: usize, max: usize) -> AdtResult<usize> {
    match headers.get("max-items-per-page") {
        None => Ok(default),
        Some(v) => {
            let n: usize = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| {
                    AdtError::invalid_argument(
                        "Header max-items-per-page must be a positive integer.",
                    )
                })?;
            if n == 0 {
                return Err(AdtError::invalid_argument(
                    "Header max-items-per-page must be a positive integer.",
                ));
            }
            Ok(n.min(max))
        }
    }
}

/// Base URL (`scheme://host`) the client used, for `nextLink` and `Operation-Location`.
pub fn base_url(headers: &HeaderMap, tls: bool) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| *s == "http" || *s == "https")
        .unwrap_or(if tls { "https" } else { "http" });
    format!("{scheme}://{host}")
}

/// One page of a list ordered by a string key: items after `after`, at most `size`; returns the next key when more remain.
pub fn page_after(
    items: Vec<(String, Value)>,
    after: Option<&str>,
    size: usize,
) -> (Vec<Value>, Option<String>) {
    let mut rest: Vec<(String, Value)> = match after {
        Some(a) => items.into_iter().filter(|(k, _)| k.as_str() > a).collect(),
        None => items,
    };
    let more = rest.len() > size;
    rest.truncate(size);
    let next = if more {
        rest.last().map(|(k, _)| k.clone())
    } else {
        None
    };
    (rest.into_iter().map(|(_, v)| v).collect(), next)
}

/// `{"value": [...], "nextLink": url|null}` for a list page; the link repeats `extra` query parameters.
pub fn list_page(
    base: &str,
    path: &str,
    kind: &str,
    extra: &[(&str, String)],
    value: Vec<Value>,
    next: Option<String>,
) -> Value {
    let next_link = next.map(|key| {
        let mut url = format!(
            "{base}{path}?continuationToken={}",
            enc(&make_token(kind, json!(key)))
        );
        for (k, v) in extra {
            url.push('&');
            url.push_str(k);
            url.push('=');
            url.push_str(&enc(v));
        }
        url.push_str("&api-version=");
        url.push_str(api_version());
        url
    });
    json!({"value": value, "nextLink": next_link})
}

/// The `continuationToken` query parameter of a list request, decoded to the key to continue after.
pub fn list_after(pairs: &[(String, String)], kind: &str) -> AdtResult<Option<String>> {
    match query_get(pairs, "continuationToken") {
        None => Ok(None),
        Some(t) => {
            let s = read_token(kind, t, "InvalidArgument")?;
            s.as_str()
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| AdtError::invalid_argument("The continuation token is invalid."))
        }
    }
}

/// A JSON reply with the service's content type.
pub fn json_reply(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// A JSON reply carrying an `ETag` header.
pub fn json_with_etag(status: StatusCode, body: &Value, etag: &str) -> Response {
    let mut resp = json_reply(status, body);
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// 204 with an `ETag` header (twin, component and relationship PATCH).
pub fn no_content_with_etag(etag: &str) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// The `If-Match` header, when present. A value that is not UTF-8 is kept (lossily) so that it
/// matches no etag (412) instead of being taken for an absent header.
pub fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
}

/// Whether `If-None-Match: *` was sent; any other value is rejected as the service only supports `*`.
pub fn if_none_match_star(headers: &HeaderMap) -> AdtResult<bool> {
    match headers.get(header::IF_NONE_MATCH) {
        None => Ok(false),
        Some(v) if v.to_str().is_ok_and(|s| s.trim() == "*") => Ok(true),
        Some(_) => Err(AdtError::invalid_argument(
            "Header If-None-Match only supports the value '*'.",
        )),
    }
}

/// Check `If-Match` against the current ETag (`*` matches anything).
pub fn check_if_match(headers: &HeaderMap, current: &str) -> AdtResult<()> {
    match if_match(headers) {
        Some(given) if given != "*" && given != current => Err(AdtError::etag_mismatch(&given)),
        _ => Ok(()),
    }
}

/// Parse a JSON body, mapping bad JSON to 400 InvalidArgument.
pub fn parse_json(body: &[u8]) -> AdtResult<Value> {
    if body.is_empty() {
        return Err(AdtError::invalid_argument(
            "Payload is invalid: the request body is empty.",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| AdtError::invalid_argument(format!("Payload is invalid: {e}.")))
}
