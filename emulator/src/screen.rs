//! Request screening both services run before authentication and routing: a request path that
//! does not percent-decode to UTF-8, a body over the service's size limit (checked on
//! `Content-Length` first, then while reading, so an oversized body is never buffered whole),
//! a body that ends before its `Content-Length` (the client closed early), and a non-empty
//! body whose `Content-Type` is not JSON. Each service renders the [`Rejection`] in its own
//! error shape (400 / 413 / 415).

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use hyper::body::Body as _;

/// Why a request was refused before reaching its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The body is (or announces itself as) larger than `limit` bytes → 413.
    TooLarge { limit: usize },
    /// A non-empty body with this non-JSON `Content-Type` → 415.
    UnsupportedMediaType(String),
    /// The path does not percent-decode to UTF-8 → 400.
    BadPath,
    /// The body could not be read to its end (e.g. shorter than `Content-Length`) → 400.
    Incomplete(String),
}

/// `application/json`, `text/json` and any `…/…+json` (such as `application/json-patch+json`),
/// parameters (`; charset=utf-8`) ignored, case-insensitive.
pub(crate) fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

/// Checks `req` as described in the module docs and returns it with its body buffered.
pub(crate) async fn screen(req: Request, limit: usize) -> Result<Request, Rejection> {
    if percent_encoding::percent_decode_str(req.uri().path())
        .decode_utf8()
        .is_err()
    {
        return Err(Rejection::BadPath);
    }
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(Rejection::TooLarge { limit });
    }
    let (parts, mut body) = req.into_parts();
    let mut buf = Vec::new();
    if !body.is_end_stream() {
        loop {
            let frame =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
            match frame {
                None => break,
                Some(Err(e)) => return Err(Rejection::Incomplete(e.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if buf.len() + data.len() > limit {
                            return Err(Rejection::TooLarge { limit });
                        }
                        buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
    if !buf.is_empty()
        && let Some(ct) = parts.headers.get(header::CONTENT_TYPE)
    {
        let ct = String::from_utf8_lossy(ct.as_bytes());
        if !is_json_media_type(&ct) {
            return Err(Rejection::UnsupportedMediaType(ct.into_owned()));
        }
    }
    Ok(Request::from_parts(parts, Body::from(buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/json-patch+json",
            "application/problem+json",
            "text/json",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
            "json",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }

    fn req(path: &str, ct: Option<&str>, body: &'static [u8]) -> Request {
        let mut b = axum::http::Request::builder().method("PUT").uri(path);
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        b.body(Body::from(body)).unwrap()
    }

    #[tokio::test]
    async fn rejections() {
        assert_eq!(
            screen(req("/a%FF", None, b""), 10).await.unwrap_err(),
            Rejection::BadPath
        );
        assert_eq!(
            screen(req("/a", None, b"0123456789a"), 10)
                .await
                .unwrap_err(),
            Rejection::TooLarge { limit: 10 }
        );
        assert!(matches!(
            screen(req("/a", Some("text/plain"), b"{}"), 10).await,
            Err(Rejection::UnsupportedMediaType(_))
        ));
        // no body: the content type does not matter
        assert!(screen(req("/a", Some("text/plain"), b""), 10).await.is_ok());
        let ok = screen(req("/caf%C3%A9", Some("application/json"), b"{}"), 10)
            .await
            .unwrap();
        let bytes = axum::body::to_bytes(ok.into_body(), 10).await.unwrap();
        assert_eq!(&bytes[..], b"{}");
    }
}
