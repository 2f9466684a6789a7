//! The one request sent beside the generated client: following an ADT `nextLink`. progenitor
//! ignores `x-ms-pageable`, so a list's next page is an absolute URL the service returned, not a
//! generated method; it goes through the same `pre`/`exec` hooks as generated calls (auth, retry,
//! tracing, client request id) and only to the client's own endpoint. Every operation of both
//! facades calls its generated method; nothing else here builds a request.

#![cfg(feature = "digitaltwins")]

use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};

use super::Pipeline;
use super::call::{CALL, CallContext};
use super::errors::take_hook_error;
use crate::error::{Error, ErrorKind, Result};
use crate::options::RequestOptions;

/// Authenticated GET of an absolute URL on the client's own endpoint (an ADT `nextLink`), through
/// the same hooks as generated calls: auth, retry, tracing, client request id. Returns the body
/// and headers of a 2xx response, or a typed error.
///
/// Refuses (nothing sent) a URL whose scheme, host or port differs from the client's base URL,
/// so a forged link cannot collect the credential.
pub(crate) async fn get_absolute<C>(
    client: &C,
    options: &RequestOptions,
    url: &str,
    headers: HeaderMap,
) -> Result<(bytes::Bytes, HeaderMap)>
where
    C: ClientInfo<Pipeline> + ClientHooks<Pipeline>,
{
    const OPERATION_ID: &str = "get_next_link";
    let target = reqwest::Url::parse(url).map_err(|e| {
        Error::new(
            ErrorKind::DataConversion,
            format!("the service returned an invalid link ({e})"),
        )
    })?;
    if !same_origin_prefix(url, client.baseurl()) {
        let base = reqwest::Url::parse(client.baseurl())
            .map_err(|e| Error::new(ErrorKind::Other, format!("invalid base URL ({e})")))?;
        if target.scheme() != base.scheme()
            || !target
                .host_str()
                .unwrap_or("")
                .eq_ignore_ascii_case(base.host_str().unwrap_or(""))
            || target.port_or_known_default() != base.port_or_known_default()
        {
            return Err(Error::new(
                ErrorKind::InsecureTransport,
                format!(
                    "refusing to follow a link to {}://{}: it is not the client's endpoint",
                    target.scheme(),
                    target.host_str().unwrap_or("")
                ),
            ));
        }
    }
    // One header map sized for what `pre` adds (authorization, user agent, request id,
    // traceparent), so it is not grown and re-hashed on the way.
    let mut all = HeaderMap::with_capacity(headers.len() + 6);
    all.insert(ACCEPT, HeaderValue::from_static("application/json"));
    all.extend(headers); // the caller's headers win, as with `RequestBuilder::headers`
    let mut request = reqwest::Request::new(Method::GET, target);
    *request.headers_mut() = all;
    let ctx = CallContext::new(options);
    let info = OperationInfo {
        operation_id: OPERATION_ID,
    };
    let ctx2 = ctx.clone();
    let outcome = CALL
        .scope(ctx.clone(), async move {
            client
                .pre::<()>(&mut request, &info)
                .await
                .map_err(|_| take_hook_error(&ctx2))?;
            Ok::<_, Option<Error>>(client.exec(request, &info).await)
        })
        .await;
    let mut result = match outcome {
        Err(typed) => {
            Err(typed.unwrap_or_else(|| Error::credential("the credential could not be applied")))
        }
        Ok(Err(e)) => Err(Error::from_reqwest(e)),
        Ok(Ok(mut resp)) if resp.status().is_success() => {
            // The headers are moved out (no copy); the body does not need them.
            let headers = std::mem::take(resp.headers_mut());
            resp.bytes()
                .await
                .map(|b| (b, headers))
                .map_err(Error::from_reqwest)
        }
        Ok(Ok(resp)) => Err(Error::from_response(resp).await),
    };
    if let Err(e) = &mut result {
        e.set_client_request_id(&ctx.client_request_id);
    }
    result
}

/// True when `url` is `base` followed by a path or query (`/…`, `?…`) or nothing: then both
/// have the same scheme, host and port without parsing `base`. Anything else (e.g.
/// `base` + `@evil.example`, or another port that merely starts with the same digits) is left
/// to the full comparison.
pub(super) fn same_origin_prefix(url: &str, base: &str) -> bool {
    let base = base.trim_end_matches('/');
    // A base with a path (`https://h/p`) could be followed by `/../`; only scheme://authority
    // bases take the shortcut.
    let authority_only = base
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains(['/', '?', '#', '@', '\\']));
    authority_only
        && url
            .strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
}
