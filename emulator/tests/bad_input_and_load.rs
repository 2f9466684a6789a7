//! The emulator under bad input and load, over raw loopback sockets: malformed JSON, wrong
//! content types, bodies over the services' size limits, invalid UTF-8 (body, path, header),
//! truncated requests, garbage on the wire, and 1,000 concurrent connections. Every answer is
//! the service's error shape (400 / 412 / 413 / 415), nothing panics, the listeners keep
//! serving, and the stored state is unchanged afterwards.

mod adt_support;
mod iothub_support;

use iothub_support::Hub;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the server wrote back on one connection.
#[derive(Debug)]
struct Answer {
    status: Option<u16>,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    /// IoT Hub error shape: status, `iothub-errorcode`, `Message` starting `ErrorCode:<code>;`.
    #[track_caller]
    fn hub_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, Some(status), "{self:?}");
        assert_eq!(
            self.header("iothub-errorcode").as_deref(),
            Some(code),
            "{self:?}"
        );
        let body = self.json();
        let msg = body["Message"].as_str().unwrap_or_default();
        assert!(msg.starts_with(&format!("ErrorCode:{code};")), "{self:?}");
        assert!(
            body["ExceptionMessage"]
                .as_str()
                .is_some_and(|t| t.starts_with("Tracking ID:")),
            "{self:?}"
        );
    }
    /// ADT error shape: status, `x-ms-error-code`, `{"error":{"code","message"}}`.
    #[track_caller]
    fn adt_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, Some(status), "{self:?}");
        assert_eq!(
            self.header("x-ms-error-code").as_deref(),
            Some(code),
            "{self:?}"
        );
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "{self:?}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{self:?}"
        );
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.head, String::from_utf8_lossy(&self.body))
    }
}

fn parse(raw: &[u8]) -> Answer {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, body) = match split {
        Some(i) => (&raw[..i], raw[i + 4..].to_vec()),
        None => (raw, Vec::new()),
    };
    let head = String::from_utf8_lossy(head).into_owned();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok());
    Answer { status, head, body }
}

/// Reads until the server closes (a reset after the close counts as the end), at most 20 s.
async fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server neither answered nor closed: {}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

/// Sends `head` (request line and headers, without the blank line) plus `body` on a fresh
/// connection with `Connection: close`, and reads the answer.
async fn exchange(addr: &str, head: &str, body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{head}\r\nConnection: close\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).await.unwrap();
    parse(&read_all(&mut s).await)
}

/// The emulator with one device (and module) and one ADT twin.
struct Env {
    hub: Hub,
    hub_addr: String,
    adt_addr: String,
}

impl Env {
    async fn start() -> Env {
        let hub = Hub::start().await;
        hub.create_device("d").await;
        hub.create_module("d", "m").await;
        hub.patch_twin(
            "d",
            &json!({"tags": {"t": 1}, "properties": {"desired": {"p": 1}}}),
        )
        .await;
        let adt = hub.emu.adt_endpoint();
        let r = hub
            .client
            .post(format!("{adt}/models?api-version={}", adt_support::API))
            .bearer_auth("t")
            .json(&adt_support::test_models())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let r = hub
            .client
            .put(format!(
                "{adt}/digitaltwins/room1?api-version={}",
                adt_support::API
            ))
            .bearer_auth("t")
            .json(&adt_support::room_body(20.0))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        Env {
            hub_addr: hub.base.trim_start_matches("http://").to_string(),
            adt_addr: adt.trim_start_matches("http://").to_string(),
            hub,
        }
    }

    /// Request line and headers of an authenticated IoT Hub request.
    fn hub_head(&self, method: &str, path: &str, extra: &str) -> String {
        format!(
            "{method} {path}?api-version={} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}{extra}",
            iothub_support::API,
            self.hub.emu.iothub_host(),
            self.hub.token
        )
    }

    /// Request line and headers of an authenticated ADT request.
    fn adt_head(&self, method: &str, path: &str, extra: &str) -> String {
        format!(
            "{method} {path}?api-version={} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer t{extra}",
            adt_support::API,
            self.adt_addr
        )
    }

    /// Everything a bad request could have changed: identities, twins, ADT twins and models.
    async fn snapshot(&self) -> Value {
        let get = |url: String, auth: String| {
            let c = self.hub.client.clone();
            async move {
                let r = c
                    .get(url)
                    .header("authorization", auth)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.json::<Value>().await.unwrap()
            }
        };
        let hub = |p: &str| {
            get(
                format!("{}{p}?api-version={}", self.hub.base, iothub_support::API),
                self.hub.token.clone(),
            )
        };
        let adt = |p: &str| {
            get(
                format!(
                    "{}{p}?api-version={}",
                    self.hub.emu.adt_endpoint(),
                    adt_support::API
                ),
                "Bearer t".into(),
            )
        };
        let r = self
            .hub
            .client
            .post(format!(
                "{}/query?api-version={}",
                self.hub.emu.adt_endpoint(),
                adt_support::API
            ))
            .bearer_auth("t")
            .json(&json!({"query": "SELECT * FROM DIGITALTWINS"}))
            .send()
            .await
            .unwrap();
        let twins: Value = r.json().await.unwrap();
        json!({
            "devices": hub("/devices").await,
            "twin": hub("/twins/d").await,
            "moduleTwin": hub("/twins/d/modules/m").await,
            "adtTwin": adt("/digitaltwins/room1").await,
            "adtTwins": twins["value"],
            "models": adt("/models").await,
        })
    }
}

#[tokio::test]
async fn iothub_bad_input_gets_the_hub_error_shape_and_changes_nothing() {
    let env = Env::start().await;
    let before = env.snapshot().await;
    let a = &env.hub_addr;
    let json_ct = "\r\nContent-Type: application/json";
    let with_len = |ct: &str, body: &[u8]| format!("{ct}\r\nContent-Length: {}", body.len());

    // malformed JSON (truncated, trailing garbage, not JSON at all, nested past serde's limit)
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let deep_obj = format!(
        r#"{{"tags":{}1{}}}"#,
        r#"{"a":"#.repeat(200),
        "}".repeat(200)
    );
    for body in [
        &br#"{"tags":"#[..],
        br#"{"tags":{}}}"#,
        b"tags=1",
        b"\0\0\0",
        deep.as_bytes(),
        deep_obj.as_bytes(),
    ] {
        let head = env.hub_head("PATCH", "/twins/d", &with_len(json_ct, body));
        exchange(a, &head, body)
            .await
            .hub_error(400, "IotHubFormatError");
        let head = env.hub_head("PUT", "/devices/new1", &with_len(json_ct, body));
        exchange(a, &head, body)
            .await
            .hub_error(400, "IotHubFormatError");
    }
    // invalid UTF-8 inside a JSON string
    let body = b"{\"tags\":{\"a\":\"\xff\xfe\"}}";
    let head = env.hub_head("PATCH", "/twins/d", &with_len(json_ct, body));
    exchange(a, &head, body)
        .await
        .hub_error(400, "IotHubFormatError");
    // JSON of the wrong shape
    for body in [&b"[1,2]"[..], b"\"x\"", b"null"] {
        let head = env.hub_head("PATCH", "/twins/d", &with_len(json_ct, body));
        let ans = exchange(a, &head, body).await;
        assert_eq!(ans.status, Some(400), "{ans}");
    }

    // wrong content types with a body → 415; without a body the type does not matter
    let body = br#"{"tags":{"a":2}}"#;
    for ct in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let head = env.hub_head(
            "PATCH",
            "/twins/d",
            &with_len(&format!("\r\nContent-Type: {ct}"), body),
        );
        exchange(a, &head, body)
            .await
            .hub_error(415, "UnsupportedMediaType");
    }
    let head = env.hub_head("GET", "/twins/d", "\r\nContent-Type: text/plain");
    assert_eq!(exchange(a, &head, b"").await.status, Some(200));

    // over the request limit (256 KB): announced by Content-Length (the body is never sent) …
    let head = env.hub_head(
        "PUT",
        "/devices/big",
        &format!("{json_ct}\r\nContent-Length: {}", 300 * 1024),
    );
    exchange(a, &head, b"")
        .await
        .hub_error(413, "MessageTooLarge");
    // … or streamed in chunks without a length
    let mut chunked = Vec::new();
    for _ in 0..40 {
        chunked.extend_from_slice(format!("2000\r\n{}\r\n", "x".repeat(8192)).as_bytes());
    }
    let head = env.hub_head(
        "PUT",
        "/devices/big",
        &format!("{json_ct}\r\nTransfer-Encoding: chunked"),
    );
    exchange(a, &head, &chunked)
        .await
        .hub_error(413, "MessageTooLarge");
    // a body under the request limit but over a twin section limit (tags ≤ 8 KB)
    let body = json!({"tags": {"big": "x".repeat(4000), "big2": "y".repeat(4000), "big3": "z".repeat(4000)}})
        .to_string();
    let head = env.hub_head("PATCH", "/twins/d", &with_len(json_ct, body.as_bytes()));
    exchange(a, &head, body.as_bytes())
        .await
        .hub_error(400, "ArgumentInvalid");

    // invalid UTF-8 in the path (percent-encoded) → 400 in the hub shape
    for path in ["/twins/%FF", "/twins/d/modules/%C3%28", "/devices/%80abc"] {
        let head = env.hub_head("GET", path, "");
        exchange(a, &head, b"")
            .await
            .hub_error(400, "ArgumentInvalid");
    }
    // a known path with an unsupported method: 405 in the hub shape (axum's is empty)
    let head = env.hub_head("DELETE", "/twins/d", "");
    exchange(a, &head, b"")
        .await
        .hub_error(405, "MethodNotAllowed");
    // a non-UTF-8 If-Match matches no etag: 412, not an unconditional write
    let body = br#"{"tags":{"a":4}}"#;
    let mut head = env
        .hub_head("PATCH", "/twins/d", &with_len(json_ct, body))
        .into_bytes();
    head.extend_from_slice(b"\r\nIf-Match: \"\xff\xfe\"");
    exchange_bytes(a, head, body)
        .await
        .hub_error(412, "PreconditionFailed");
    // non-UTF-8 authorization → 401
    let mut head = format!(
        "GET /twins/d?api-version={} HTTP/1.1\r\nHost: x\r\nAuthorization: SharedAccessSignature sr=",
        iothub_support::API
    )
    .into_bytes();
    head.extend_from_slice(b"\xff\xff");
    exchange_bytes(a, head, b"")
        .await
        .hub_error(401, "IotHubUnauthorizedAccess");

    // truncated: Content-Length larger than what is sent, then the client stops writing
    for method_path in [("PATCH", "/twins/d"), ("PUT", "/devices/trunc")] {
        let body = br#"{"tags":{"a":5}}"#;
        let head = env.hub_head(
            method_path.0,
            method_path.1,
            &format!("{json_ct}\r\nContent-Length: 1000"),
        );
        let ans = truncated(a, &head, body).await;
        // the body ends early: the hub's 400, then the connection closes
        ans.hub_error(400, "IotHubFormatError");
    }

    // garbage on the wire: hyper answers 400 (or closes), the listener survives
    for junk in [
        &b"HELLO\r\n\r\n"[..],
        b"GET /twins/\xff HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PATCH /twins/d HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"PATCH /twins/d HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    ] {
        let mut s = TcpStream::connect(a).await.unwrap();
        s.write_all(junk).await.unwrap();
        let ans = parse(&read_all(&mut s).await);
        assert!(
            ans.status.is_none() || ans.status == Some(400),
            "{junk:?}: {ans}"
        );
    }

    assert_eq!(env.snapshot().await, before);
    env.hub.emu.shutdown().await;
}

/// [`exchange`] with a head that is not UTF-8 (raw header bytes).
async fn exchange_bytes(addr: &str, head: Vec<u8>, body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = head;
    req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    req.extend_from_slice(body);
    s.write_all(&req).await.unwrap();
    parse(&read_all(&mut s).await)
}

/// Sends the head and a body shorter than its Content-Length, then shuts the write side.
async fn truncated(addr: &str, head: &str, body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{head}\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).await.unwrap();
    s.shutdown().await.unwrap();
    parse(&read_all(&mut s).await)
}

#[tokio::test]
async fn adt_bad_input_gets_the_adt_error_shape_and_changes_nothing() {
    let env = Env::start().await;
    let before = env.snapshot().await;
    let a = &env.adt_addr;
    let json_ct = "\r\nContent-Type: application/json";
    let patch_ct = "\r\nContent-Type: application/json-patch+json";
    let with_len = |ct: &str, body: &[u8]| format!("{ct}\r\nContent-Length: {}", body.len());

    // malformed JSON on twin PUT, relationship PUT, model upload, query
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    for body in [&br#"{"$metadata":"#[..], b"}{", b"\0", deep.as_bytes()] {
        for (m, p) in [
            ("PUT", "/digitaltwins/new1"),
            ("PUT", "/digitaltwins/room1/relationships/r1"),
            ("POST", "/models"),
            ("POST", "/query"),
        ] {
            let head = env.adt_head(m, p, &with_len(json_ct, body));
            let ans = exchange(a, &head, body).await;
            assert_eq!(ans.status, Some(400), "{m} {p}: {ans}");
            assert!(ans.json()["error"]["code"].is_string(), "{m} {p}: {ans}");
        }
    }
    let body = b"{\"$metadata\":{\"$model\":\"dtmi:test:Room;1\"},\"name\":\"\xff\"}";
    let head = env.adt_head("PUT", "/digitaltwins/room1", &with_len(json_ct, body));
    exchange(a, &head, body)
        .await
        .adt_error(400, "InvalidArgument");
    // a JSON Patch that is not an array: the ASP.NET problem+json 400
    let body = br#"{"op":"add"}"#;
    let head = env.adt_head("PATCH", "/digitaltwins/room1", &with_len(patch_ct, body));
    let ans = exchange(a, &head, body).await;
    assert_eq!(ans.status, Some(400), "{ans}");

    // wrong content types with a body → 415
    let body = adt_support::room_body(99.0).to_string();
    for ct in ["text/plain", "application/xml", "text/html; charset=utf-8"] {
        let head = env.adt_head(
            "PUT",
            "/digitaltwins/room1",
            &with_len(&format!("\r\nContent-Type: {ct}"), body.as_bytes()),
        );
        exchange(a, &head, body.as_bytes())
            .await
            .adt_error(415, "UnsupportedMediaType");
    }
    let ops = br#"[{"op":"replace","path":"/temperature","value":1.0}]"#;
    let head = env.adt_head(
        "PATCH",
        "/digitaltwins/room1",
        &with_len("\r\nContent-Type: text/plain", ops),
    );
    exchange(a, &head, ops)
        .await
        .adt_error(415, "UnsupportedMediaType");

    // over the 32 KB request limit: a twin, announced or streamed; a query
    let big = json!({
        "$metadata": {"$model": "dtmi:test:Room;1"},
        "name": "x".repeat(40 * 1024),
        "thermostat": {"$metadata": {}}
    })
    .to_string();
    let head = env.adt_head(
        "PUT",
        "/digitaltwins/room1",
        &format!("{json_ct}\r\nContent-Length: {}", big.len()),
    );
    exchange(a, &head, b"")
        .await
        .adt_error(413, "PayloadTooLarge");
    let mut chunked = Vec::new();
    for part in big.as_bytes().chunks(4096).take(9) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    let head = env.adt_head(
        "PUT",
        "/digitaltwins/room2",
        &format!("{json_ct}\r\nTransfer-Encoding: chunked"),
    );
    exchange(a, &head, &chunked)
        .await
        .adt_error(413, "PayloadTooLarge");
    let head = env.adt_head(
        "POST",
        "/query",
        &format!("{json_ct}\r\nContent-Length: {}", 33 * 1024),
    );
    exchange(a, &head, b"")
        .await
        .adt_error(413, "PayloadTooLarge");
    // the model upload limit is larger (8 MB); over it → 413 too
    let head = env.adt_head(
        "POST",
        "/models",
        &format!("{json_ct}\r\nContent-Length: {}", 9 * 1024 * 1024),
    );
    exchange(a, &head, b"")
        .await
        .adt_error(413, "PayloadTooLarge");

    // invalid UTF-8 in the path
    for path in [
        "/digitaltwins/%FF",
        "/digitaltwins/room1/relationships/%C3%28",
        "/models/%80",
    ] {
        let head = env.adt_head("GET", path, "");
        exchange(a, &head, b"")
            .await
            .adt_error(400, "InvalidArgument");
    }
    // a known path with an unsupported method: 405 in the ADT shape
    for (m, p) in [("DELETE", "/query"), ("PUT", "/models")] {
        let head = env.adt_head(m, p, "");
        exchange(a, &head, b"")
            .await
            .adt_error(405, "MethodNotAllowed");
    }
    // a non-UTF-8 If-Match: 412, the patch is not applied
    let mut head = env
        .adt_head("PATCH", "/digitaltwins/room1", &with_len(patch_ct, ops))
        .into_bytes();
    head.extend_from_slice(b"\r\nIf-Match: W/\"\xff\"");
    exchange_bytes(a, head, ops)
        .await
        .adt_error(412, "PreconditionFailed");

    // truncated requests
    for (m, p) in [
        ("PUT", "/digitaltwins/trunc"),
        ("PATCH", "/digitaltwins/room1"),
    ] {
        let head = env.adt_head(m, p, &format!("{json_ct}\r\nContent-Length: 5000"));
        let ans = truncated(a, &head, &body.as_bytes()[..40]).await;
        ans.adt_error(400, "InvalidArgument");
    }

    assert_eq!(env.snapshot().await, before);
    env.hub.emu.shutdown().await;
}

/// One connection of the load test: what it sends and what it must get.
#[derive(Clone, Copy, Debug)]
enum Kind {
    HubGet,
    HubMalformed,
    HubTooLarge,
    AdtGet,
    AdtWrongType,
    AdtTruncated,
}

const CONNECTIONS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections_with_bad_requests_mixed_in() {
    let env = Arc::new(Env::start().await);
    let before = env.snapshot().await;
    // every connection is open before any sends its request
    let barrier = Arc::new(tokio::sync::Barrier::new(CONNECTIONS));
    let kinds = [
        Kind::HubGet,
        Kind::HubMalformed,
        Kind::HubTooLarge,
        Kind::AdtGet,
        Kind::AdtWrongType,
        Kind::AdtTruncated,
    ];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CONNECTIONS {
        let (env, barrier) = (env.clone(), barrier.clone());
        let kind = kinds[i % kinds.len()];
        tasks.spawn(async move {
            let hub = matches!(kind, Kind::HubGet | Kind::HubMalformed | Kind::HubTooLarge);
            let addr = if hub { &env.hub_addr } else { &env.adt_addr };
            let mut s = TcpStream::connect(addr.as_str()).await.unwrap();
            barrier.wait().await;
            let json_ct = "\r\nContent-Type: application/json";
            let req = match kind {
                Kind::HubGet => env.hub_head("GET", "/twins/d", "\r\nConnection: close\r\n\r\n"),
                Kind::HubMalformed => env.hub_head(
                    "PATCH",
                    "/twins/d",
                    &format!("{json_ct}\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{{\"tags\":{{"),
                ),
                Kind::HubTooLarge => env.hub_head(
                    "PUT",
                    "/devices/huge",
                    &format!("{json_ct}\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n"),
                ),
                Kind::AdtGet => env.adt_head("GET", "/digitaltwins/room1", "\r\nConnection: close\r\n\r\n"),
                Kind::AdtWrongType => env.adt_head(
                    "PUT",
                    "/digitaltwins/room1",
                    "\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                ),
                Kind::AdtTruncated => env.adt_head(
                    "PUT",
                    "/digitaltwins/t",
                    &format!("{json_ct}\r\nContent-Length: 100\r\n\r\n{{\"$metadata\":"),
                ),
            };
            s.write_all(req.as_bytes()).await.unwrap();
            if matches!(kind, Kind::AdtTruncated) {
                s.shutdown().await.unwrap();
            }
            (kind, parse(&read_all(&mut s).await))
        });
    }
    let results = tokio::time::timeout(Duration::from_secs(120), async {
        let mut out = Vec::new();
        while let Some(r) = tasks.join_next().await {
            out.push(r.expect("connection task"));
        }
        out
    })
    .await
    .expect("the load test finishes by itself");
    assert_eq!(results.len(), CONNECTIONS);
    for (kind, ans) in &results {
        match kind {
            Kind::HubGet => assert_eq!(ans.status, Some(200), "{ans}"),
            Kind::HubMalformed => ans.hub_error(400, "IotHubFormatError"),
            Kind::HubTooLarge => ans.hub_error(413, "MessageTooLarge"),
            Kind::AdtGet => assert_eq!(ans.status, Some(200), "{ans}"),
            Kind::AdtWrongType => ans.adt_error(415, "UnsupportedMediaType"),
            Kind::AdtTruncated => ans.adt_error(400, "InvalidArgument"),
        }
    }
    assert_eq!(env.snapshot().await, before);
}
