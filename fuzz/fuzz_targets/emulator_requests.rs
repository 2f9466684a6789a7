//! The emulator's request handling: up to 8 requests (any method, path, query, headers and
//! body) in sequence against a fresh IoT Hub and a fresh ADT instance, through their whole
//! routers (screening, auth, api-version, every handler). Nothing panics, nothing answers 5xx
//! (no direct-method handlers are registered, so not even 504), and every error is in the
//! service's error shape.
//!
//! Input: requests separated by two NUL bytes. Each request is one flag byte (bit 0: ADT instead
//! of IoT Hub; bits 1–3: method; bit 4: no Authorization header; bit 5: no api-version), then the
//! path and query up to `\n`, then `name: value` header lines up to an empty line, then the body.
//! With `EMULATOR_FUZZ_TRACE` set, each answer's status is printed (to check seeds).
#![no_main]

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use azure_twins_emulator::fuzzing;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;
use tower::ServiceExt as _;

const HOST: &str = "fuzz.azure-devices.net";
const METHODS: [&str; 8] = [
    "GET", "PUT", "PATCH", "POST", "DELETE", "HEAD", "OPTIONS", "MERGE",
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    })
}

/// Splits on `\0\0`, at most 8 parts.
fn requests(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < 8 {
        match rest.windows(2).position(|w| w == b"\0\0") {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + 2..];
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Which service, and the request; `None` when the bytes make no valid HTTP request.
fn build(chunk: &[u8], token: &str) -> Option<(bool, Request<Body>)> {
    let (&flags, rest) = chunk.split_first()?;
    let adt = flags & 1 == 1;
    let method = Method::from_bytes(METHODS[usize::from((flags >> 1) & 7)].as_bytes()).ok()?;
    let (target, mut rest) = line(rest);
    let mut target = String::from_utf8_lossy(target).into_owned();
    if !target.starts_with('/') {
        target.insert(0, '/');
    }
    if flags & 0x20 == 0 {
        let version = if adt { "2023-10-31" } else { "2021-04-12" };
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str("api-version=");
        target.push_str(version);
    }
    let uri: Uri = target.parse().ok()?;
    let mut req = Request::builder().method(method).uri(uri);
    if flags & 0x10 == 0 {
        let auth = if adt {
            "Bearer fuzz".to_string()
        } else {
            token.to_string()
        };
        req = req.header("authorization", auth);
    }
    for _ in 0..16 {
        let (l, r) = line(rest);
        rest = r;
        if l.is_empty() {
            break;
        }
        let Some(colon) = l.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&l[..colon]),
            HeaderValue::from_bytes(l[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        req = req.header(name, value);
    }
    Some((adt, req.body(Body::from(rest.to_vec())).ok()?))
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        let hub = fuzzing::Hub::new(HOST);
        let token = hub.owner_token(HOST, 4_000_000_000).expect("token");
        let (hub_router, adt_router) = (hub.router(), fuzzing::adt_router());
        for chunk in requests(data) {
            let Some((is_adt, req)) = build(chunk, &token) else {
                continue;
            };
            let head = req.method() == Method::HEAD;
            let router = if is_adt {
                adt_router.clone()
            } else {
                hub_router.clone()
            };
            let resp = router.oneshot(req).await.expect("infallible");
            let status = resp.status();
            if std::env::var_os("EMULATOR_FUZZ_TRACE").is_some() {
                eprintln!("{} {status}", if is_adt { "adt" } else { "hub" });
            }
            assert!(status.as_u16() < 500, "{status} answered");
            if status.as_u16() < 400 || head {
                continue;
            }
            let headers = resp.headers().clone();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            let v: Value = serde_json::from_slice(&body).expect("error bodies are JSON");
            if is_adt {
                let problem = headers
                    .get("content-type")
                    .is_some_and(|c| c.as_bytes().starts_with(b"application/problem+json"));
                assert!(
                    problem || v["error"]["code"].is_string(),
                    "{status}: {}",
                    String::from_utf8_lossy(&body)
                );
            } else {
                let code = headers.get("iothub-errorcode").expect("iothub-errorcode");
                let msg = v["Message"].as_str().expect("Message");
                assert!(
                    msg.starts_with(&format!("ErrorCode:{};", code.to_str().unwrap())),
                    "{msg}"
                );
            }
        }
        hub.shutdown();
    });
});
