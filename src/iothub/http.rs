//! Crate-internal plumbing: one IoT Hub request through the shared pipeline.
//!
//! The facade builds its own requests (path, query, conditional headers, JSON body) instead of
//! calling the generated methods, because the generated response types cannot hold real twins
//! and identities (see [`super::models`]). The requests still run through the generated
//! client's `ClientHooks` under the generated operation ids, so they get exactly the same auth,
//! retry (idempotency is keyed by operation id), tracing and wire fixes as raw calls.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use progenitor_client::ClientInfo;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{API_VERSION, IotHubClient};
use crate::{Condition, ETag, Error, ErrorKind, RequestOptions};

/// Characters escaped in a path segment: everything but unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (ids may hold `#`, `?`, `%`, `$` …).
pub(crate) fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// [`seg`] as pieces to append to a string without an intermediate allocation.
pub(crate) fn seg_parts(s: &str) -> percent_encoding::PercentEncode<'_> {
    utf8_percent_encode(s, SEGMENT)
}

/// One request to send.
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Value>,
    /// progenitor's snake_case operation id, e.g. `modules_update_twin`.
    pub(crate) op: &'static str,
}

impl Req {
    pub(crate) fn new(method: Method, op: &'static str, path: String) -> Self {
        Req {
            method,
            path,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
            op,
        }
    }

    pub(crate) fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub(crate) fn query(mut self, name: &'static str, value: impl ToString) -> Self {
        self.query.push((name, value.to_string()));
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Result<Self, Error> {
        let v = HeaderValue::from_str(value).map_err(|_| {
            Error::invalid_input(
                name,
                "contains characters that cannot be sent in an HTTP header",
            )
        })?;
        self.headers.insert(HeaderName::from_static(name), v);
        Ok(self)
    }

    /// Adds `If-Match` / `If-None-Match` for `condition`.
    pub(crate) fn condition(mut self, condition: Option<&Condition>) -> Result<Self, Error> {
        if let Some(c) = condition {
            if let Some(v) = c.if_match() {
                self = self.header("if-match", v)?;
            }
            if let Some(v) = c.if_none_match() {
                self = self.header("if-none-match", v)?;
            }
        }
        Ok(self)
    }
}

/// A successful response.
pub(crate) struct Resp {
    pub(crate) headers: HeaderMap,
    pub(crate) body: bytes::Bytes,
}

impl Resp {
    /// Decodes the body as JSON.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let body: &[u8] = if self.body.is_empty() {
            b"null"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| {
            Error::new(
                ErrorKind::DataConversion,
                "the response body did not have the expected shape",
            )
            .with_source(e)
        })
    }

    /// Decodes the body as `T`: a body that is not JSON is a "shape" error, JSON that does not
    /// fit `T` names `what` ("the twin did not match the requested type").
    pub(crate) fn json_as<T: DeserializeOwned>(&self, what: &str) -> Result<T, Error> {
        let body: &[u8] = if self.body.is_empty() {
            b"null"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| {
            let msg = if e.classify() == serde_json::error::Category::Data {
                format!("the {what} did not match the requested type")
            } else {
                "the response body did not have the expected shape".to_owned()
            };
            Error::new(ErrorKind::DataConversion, msg).with_source(e)
        })
    }

    /// The body's top-level `etag` string, read without decoding anything else.
    pub(crate) fn body_etag(&self) -> Result<ETag, Error> {
        #[derive(serde::Deserialize)]
        struct EtagField {
            #[serde(default)]
            etag: Value,
        }
        serde_json::from_slice::<EtagField>(&self.body)
            .ok()
            .and_then(|f| f.etag.as_str().map(ETag::new))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::DataConversion,
                    "the response carried neither an ETag header nor an etag field",
                )
            })
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
    }
}

/// Serialises a caller's value into a JSON request body.
pub(crate) fn to_json(field: &'static str, value: impl Serialize) -> Result<Value, Error> {
    serde_json::to_value(value)
        .map_err(|e| Error::invalid_input(field, format!("could not be serialised to JSON: {e}")))
}

/// Decodes a typed value out of a JSON document.
pub(crate) fn from_json<T: DeserializeOwned>(what: &str, v: Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| {
        Error::new(
            ErrorKind::DataConversion,
            format!("the {what} did not match the requested type"),
        )
        .with_source(e)
    })
}

impl IotHubClient {
    /// Sends `req` through the pipeline; a non-success status becomes an [`Error`] with the
    /// service's code, message and tracking id.
    pub(crate) async fn send_req(&self, req: Req, options: &RequestOptions) -> Result<Resp, Error> {
        let raw = &self.inner.raw;
        let mut query = String::with_capacity(24);
        query.push_str("api-version=");
        query.push_str(API_VERSION);
        for (k, v) in &req.query {
            query.push('&');
            query.push_str(k);
            query.push('=');
            query.extend(utf8_percent_encode(v, SEGMENT));
        }
        // The endpoint was parsed once when the client was built: setting the path and query
        // on a copy costs far less than parsing the whole URL again. The generated client's
        // base URL is the same endpoint; if it ever differs, parse (and origin-check) the text.
        let (body, headers) = match raw.inner().endpoint_url() {
            Some(endpoint)
                if endpoint.path() == "/"
                    && endpoint.as_str().strip_suffix('/') == Some(raw.baseurl()) =>
            {
                let mut url = endpoint.clone();
                url.set_path(&req.path);
                url.set_query(Some(&query));
                crate::pipeline::send_url(
                    raw,
                    options,
                    req.method,
                    url,
                    req.headers,
                    req.body.as_ref(),
                    req.op,
                )
                .await?
            }
            _ => {
                let url = format!("{}{}?{query}", raw.baseurl(), req.path);
                crate::pipeline::send_absolute(
                    raw,
                    options,
                    req.method,
                    &url,
                    req.headers,
                    req.body.as_ref(),
                    req.op,
                )
                .await?
            }
        };
        Ok(Resp { headers, body })
    }
}
