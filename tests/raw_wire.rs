//! Wire behaviour of the generated raw clients (with the minimal `Pipeline` hooks), checked
//! against a one-shot capture server on a real loopback socket.

#![cfg(all(feature = "iothub", feature = "digitaltwins"))]

use azure_twins::raw::{self, Pipeline};
use progenitor_client::Error;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const IOTHUB_API: &str = "2021-04-12";
const ADT_API: &str = "2023-10-31";

/// What the client sent.
#[derive(Debug)]
struct Captured {
    method: String,
    /// Path and query, as on the request line.
    target: String,
    /// Header names lowercased, in arrival order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Captured {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn query_pairs(&self) -> Vec<(String, String)> {
        let query = self.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    fn json_body(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What the server answers.
struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Canned {
    fn json(status: u16, body: Value) -> Self {
        Canned {
            status,
            headers: vec![("content-type", "application/json; charset=utf-8".into())],
            body: body.to_string(),
        }
    }

    fn empty(status: u16) -> Self {
        Canned {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }
}

/// Accepts exactly one HTTP/1.1 request on 127.0.0.1, answers it with `canned` and returns
/// what was received. Returns the base URL to point the client at.
async fn serve_once(canned: Canned) -> (String, JoinHandle<Captured>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("local addr"));
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut buf = Vec::new();
        let header_end = loop {
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await.expect("read request");
            assert!(n > 0, "client closed before sending headers");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos;
            }
        };
        let head = String::from_utf8(buf[..header_end].to_vec()).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().expect("request line").split(' ');
        let method = request_line.next().expect("method").to_string();
        let target = request_line.next().expect("target").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().expect("numeric content-length"))
            .unwrap_or(0);
        let mut body = buf[header_end + 4..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await.expect("read body");
            assert!(n > 0, "client closed mid-body");
            body.extend_from_slice(&chunk[..n]);
        }
        let mut response = format!("HTTP/1.1 {} Whatever\r\n", canned.status);
        for (name, value) in &canned.headers {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n{}",
            canned.body.len(),
            canned.body
        ));
        socket
            .write_all(response.as_bytes())
            .await
            .expect("write response");
        socket.shutdown().await.ok();
        Captured {
            method,
            target,
            headers,
            body,
        }
    });
    (base, task)
}

fn http_client() -> reqwest::Client {
    // reqwest is built with `rustls-no-provider`: the process must pick a provider (the crate uses
    // ring). Installing twice is harmless; the result only says whether we were first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("plain HTTP reqwest client")
}

fn iothub(base: &str) -> raw::iothub::Client {
    raw::iothub::Client::new_with_client(base, http_client(), Pipeline::default())
}

fn adt(base: &str) -> raw::digitaltwins::Client {
    raw::digitaltwins::Client::new_with_client(base, http_client(), Pipeline::default())
}

/// The first recorded IoT Hub exchange with the given status in a .NET recording.
fn recorded_entry(file: &str, status: u64) -> Value {
    let path = format!(
        "{}/tests/recordings/dotnet-iothub-service/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let recording: Value = serde_json::from_str(&text).expect("recording is JSON");
    recording["Entries"]
        .as_array()
        .expect("Entries")
        .iter()
        .find(|e| e["StatusCode"] == status)
        .cloned()
        .unwrap_or_else(|| panic!("{file} has no {status} entry"))
}

fn patch_doc() -> Vec<Map<String, Value>> {
    let op = json!({ "op": "replace", "path": "/temperature", "value": 21.5 });
    vec![op.as_object().expect("object").clone()]
}

#[tokio::test]
async fn iothub_sends_api_version_as_query_not_header() {
    let (base, server) = serve_once(Canned::json(200, json!({ "deviceId": "dev-1" }))).await;
    let device = iothub(&base)
        .devices_get_identity("dev-1", IOTHUB_API)
        .await
        .expect("200 parses");
    let sent = server.await.expect("server task");
    assert_eq!(sent.method, "GET");
    assert!(
        sent.target.starts_with("/devices/dev-1?"),
        "{}",
        sent.target
    );
    assert_eq!(
        sent.query_pairs(),
        [("api-version".to_string(), IOTHUB_API.to_string())]
    );
    assert_eq!(sent.header("api-version"), None, "{:?}", sent.headers);
    assert_eq!(device.into_inner().device_id, "dev-1");
}

#[tokio::test]
async fn digitaltwins_sends_api_version_as_query_not_header() {
    let (base, server) = serve_once(Canned::json(200, json!({ "$dtId": "room-1" }))).await;
    adt(&base)
        .digital_twins_get_by_id("room-1", ADT_API, None, None)
        .await
        .expect("200 parses");
    let sent = server.await.expect("server task");
    assert_eq!(
        sent.query_pairs(),
        [("api-version".to_string(), ADT_API.to_string())]
    );
    assert_eq!(sent.header("api-version"), None, "{:?}", sent.headers);
}

#[tokio::test]
async fn adt_json_patch_operations_send_json_patch_content_type() {
    let body = patch_doc();
    let expected_body = json!([{ "op": "replace", "path": "/temperature", "value": 21.5 }]);

    let (base, server) = serve_once(Canned::empty(204)).await;
    adt(&base)
        .digital_twin_models_update("dtmi:example:Room;1", ADT_API, None, None, &body)
        .await
        .expect("models update");
    let models = server.await.expect("server task");

    let (base, server) = serve_once(Canned::empty(204)).await;
    adt(&base)
        .digital_twins_update("room-1", ADT_API, Some("W/\"1\""), None, None, &body)
        .await
        .expect("twin update");
    let twin = server.await.expect("server task");

    let (base, server) = serve_once(Canned::empty(204)).await;
    adt(&base)
        .digital_twins_update_relationship("room-1", "rel-1", ADT_API, None, None, None, &body)
        .await
        .expect("relationship update");
    let relationship = server.await.expect("server task");

    let (base, server) = serve_once(Canned::empty(204)).await;
    adt(&base)
        .digital_twins_update_component("room-1", "thermostat", ADT_API, None, None, None, &body)
        .await
        .expect("component update");
    let component = server.await.expect("server task");

    for (name, sent, path) in [
        (
            "DigitalTwinModels_Update",
            models,
            "/models/dtmi:example:Room;1",
        ),
        ("DigitalTwins_Update", twin, "/digitaltwins/room-1"),
        (
            "DigitalTwins_UpdateRelationship",
            relationship,
            "/digitaltwins/room-1/relationships/rel-1",
        ),
        (
            "DigitalTwins_UpdateComponent",
            component,
            "/digitaltwins/room-1/components/thermostat",
        ),
    ] {
        assert_eq!(sent.method, "PATCH", "{name}");
        let (sent_path, _) = sent.target.split_once('?').expect("has a query");
        assert_eq!(
            sent_path.replace("%3A", ":").replace("%3B", ";"),
            path,
            "{name}"
        );
        assert_eq!(
            sent.header("content-type"),
            Some("application/json-patch+json"),
            "{name}: {:?}",
            sent.headers
        );
        assert_eq!(
            sent.headers
                .iter()
                .filter(|(n, _)| n == "content-type")
                .count(),
            1,
            "{name}: exactly one Content-Type"
        );
        assert_eq!(sent.json_body(), expected_body, "{name}");
        assert_eq!(sent.header("api-version"), None, "{name}");
    }
}

#[tokio::test]
async fn other_adt_bodies_stay_application_json() {
    let (base, server) = serve_once(Canned::json(200, json!({ "$dtId": "room-1" }))).await;
    let twin = json!({ "$metadata": { "$model": "dtmi:example:Room;1" } });
    adt(&base)
        .digital_twins_add(
            "room-1",
            ADT_API,
            None,
            None,
            None,
            twin.as_object().expect("object"),
        )
        .await
        .expect("add twin");
    let sent = server.await.expect("server task");
    assert_eq!(sent.method, "PUT");
    assert_eq!(sent.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn iothub_continuation_header_is_readable() {
    let mut canned = Canned::json(200, json!([{ "deviceId": "dev-1" }]));
    canned
        .headers
        .push(("x-ms-continuation", "token-page-2".into()));
    canned.headers.push(("x-ms-item-type", "twin".into()));
    let (base, server) = serve_once(canned).await;
    let query = raw::iothub::types::QuerySpecification {
        query: Some("SELECT * FROM devices".into()),
    };
    let page = iothub(&base)
        .query_get_twins(IOTHUB_API, Some("token-page-1"), Some("1"), &query)
        .await
        .expect("query page");
    let sent = server.await.expect("server task");
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.header("x-ms-continuation"), Some("token-page-1"));
    assert_eq!(sent.header("x-ms-max-item-count"), Some("1"));
    assert_eq!(
        sent.json_body(),
        json!({ "query": "SELECT * FROM devices" })
    );
    let continuation = page
        .headers()
        .get("x-ms-continuation")
        .and_then(|v| v.to_str().ok());
    assert_eq!(continuation, Some("token-page-2"));
    assert_eq!(page.into_inner().len(), 1);
}

#[tokio::test]
async fn adt_error_body_is_a_typed_error_response() {
    let body = json!({ "error": {
        "code": "DigitalTwinNotFound",
        "message": "There is no digital twin instance that exists with the ID room-9."
    } });
    let (base, server) = serve_once(Canned::json(404, body)).await;
    let err = adt(&base)
        .digital_twins_get_by_id("room-9", ADT_API, None, None)
        .await
        .expect_err("404 is an error");
    server.await.expect("server task");
    match err {
        Error::ErrorResponse(response) => {
            assert_eq!(response.status().as_u16(), 404);
            assert_eq!(response.error.code.as_deref(), Some("DigitalTwinNotFound"));
            assert!(
                response
                    .error
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("room-9"))
            );
        }
        other => panic!("expected Error::ErrorResponse, got {other:?}"),
    }
}

#[tokio::test]
async fn adt_error_body_without_code_still_parses() {
    // Body shape recorded for throttling in tests/recordings/dotnet-digitaltwins/Import_Lifecycle.json
    // (`statusCode` instead of `code`). Served as a 400 so that the pipeline's retry policy
    // (which retries 429) does not come into play: this test is about parsing only.
    let body = json!({ "error": { "statusCode": 429,
        "message": "Maximum request rate limit reached." } });
    let mut canned = Canned::json(400, body);
    canned.headers.push(("x-ms-error-code", "Whatever".into()));
    let (base, server) = serve_once(canned).await;
    let err = adt(&base)
        .import_jobs_get_by_id("job-1", ADT_API, None, None)
        .await
        .expect_err("400 is an error");
    server.await.expect("server task");
    match err {
        Error::ErrorResponse(response) => {
            assert_eq!(response.status().as_u16(), 400);
            assert_eq!(response.error.code, None);
            assert_eq!(
                response.error.message.as_deref(),
                Some("Maximum request rate limit reached.")
            );
            assert_eq!(
                response
                    .headers()
                    .get("x-ms-error-code")
                    .map(|v| v.as_bytes()),
                Some(&b"Whatever"[..])
            );
        }
        other => panic!("expected Error::ErrorResponse, got {other:?}"),
    }
}

#[tokio::test]
async fn iothub_recorded_error_body_is_a_typed_error_response() {
    let entry = recorded_entry("DevicesClient_UpdateDevice_EtagDoesNotMatch.json", 412);
    let recorded_body = entry["ResponseBody"].clone();
    let mut canned = Canned::json(412, recorded_body.clone());
    canned.headers.push((
        "iothub-errorcode",
        entry["ResponseHeaders"]["iothub-errorcode"]
            .as_str()
            .expect("recorded iothub-errorcode")
            .to_string(),
    ));
    let (base, server) = serve_once(canned).await;
    // The recorded request body is a real Device; it must fit the generated type.
    let device: raw::iothub::types::Device =
        serde_json::from_value(entry["RequestBody"].clone()).expect("recorded Device parses");
    let if_match = entry["RequestHeaders"]["If-Match"]
        .as_str()
        .expect("recorded If-Match");
    let err = iothub(&base)
        .devices_create_or_update_identity(
            "UpdateWithETag1136204569",
            IOTHUB_API,
            Some(if_match),
            &device,
        )
        .await
        .expect_err("412 is an error");
    let sent = server.await.expect("server task");
    assert_eq!(sent.method, "PUT");
    assert_eq!(sent.header("if-match"), Some(if_match));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    match err {
        Error::ErrorResponse(response) => {
            assert_eq!(response.status().as_u16(), 412);
            assert_eq!(
                response
                    .headers()
                    .get("iothub-errorcode")
                    .map(|v| v.as_bytes()),
                Some(&b"PreconditionFailed"[..])
            );
            assert_eq!(
                response.message.as_deref(),
                recorded_body["Message"].as_str()
            );
            assert!(
                response
                    .message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("ErrorCode:PreconditionFailed;"))
            );
            assert!(
                response
                    .exception_message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("Tracking ID:"))
            );
        }
        other => panic!("expected Error::ErrorResponse, got {other:?}"),
    }
}

#[tokio::test]
async fn iothub_error_with_numeric_error_code_and_extra_fields_parses() {
    let body = json!({ "Message": "{\"errorCode\":404001}", "ErrorCode": 404001, "extra": [1] });
    let (base, server) = serve_once(Canned::json(404, body)).await;
    let err = iothub(&base)
        .devices_get_twin("missing", IOTHUB_API)
        .await
        .expect_err("404 is an error");
    server.await.expect("server task");
    match err {
        Error::ErrorResponse(response) => {
            assert_eq!(response.error_code, Some(json!(404001)));
            assert_eq!(response.exception_message, None);
        }
        other => panic!("expected Error::ErrorResponse, got {other:?}"),
    }
}
