//! Shared helpers of the IoT Hub facade tests: an emulator-backed client, and a loopback
//! capture server that records requests and answers with scripted responses.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use azure_twins::IotHubClient;
use azure_twins_emulator::Emulator;
use serde_json::Value;

/// Starts an emulator and a client for it (SAS from the emulator's connection string).
pub async fn start() -> (Emulator, IotHubClient) {
    let emu = Emulator::builder().start().await.expect("emulator starts");
    let hub = IotHubClient::from_connection_string(&emu.iothub_connection_string())
        .expect("client builds");
    (emu, hub)
}

/// One request as the capture server received it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body).expect("request body is JSON")
        }
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// A scripted response.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    captured: Vec<Captured>,
    script: VecDeque<Scripted>,
}

/// A loopback HTTP server that records every request and answers from a script (404 with an
/// empty body when the script is exhausted).
#[derive(Clone)]
pub struct CaptureServer {
    state: Arc<Mutex<State>>,
    pub endpoint: String,
}

impl CaptureServer {
    pub async fn start() -> CaptureServer {
        let state = Arc::new(Mutex::new(State::default()));
        let s2 = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = s2.clone();
                async move {
                    let query = uri.query().map(url_pairs).unwrap_or_default();
                    let mut st = state.lock().unwrap();
                    st.captured.push(Captured {
                        method: method.to_string(),
                        path: uri.path().to_owned(),
                        query,
                        headers,
                        body: body.to_vec(),
                    });
                    let reply = st.script.pop_front();
                    drop(st);
                    respond(reply)
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        CaptureServer {
            state,
            endpoint: format!("http://{addr}"),
        }
    }

    /// A client for this server (no credential: nothing to sign in the capture tests).
    pub fn client(&self) -> IotHubClient {
        IotHubClient::builder(&self.endpoint).build().unwrap()
    }

    pub fn push(&self, reply: Scripted) {
        self.state.lock().unwrap().script.push_back(reply);
    }

    pub fn captured(&self) -> Vec<Captured> {
        self.state.lock().unwrap().captured.clone()
    }

    pub fn count(&self) -> usize {
        self.state.lock().unwrap().captured.len()
    }
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn respond(reply: Option<Scripted>) -> Response {
    let Some(r) = reply else {
        return (StatusCode::NOT_FOUND, "").into_response();
    };
    let mut resp = Response::new(axum::body::Body::from(r.body));
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap();
    for (k, v) in r.headers {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(&v).unwrap(),
        );
    }
    resp
}

/// The `field` of an `InvalidInput` error (panics on other kinds).
pub fn invalid_field(e: &azure_twins::Error) -> String {
    match e.kind() {
        azure_twins::ErrorKind::InvalidInput { field, .. } => field.to_string(),
        other => panic!("expected an invalid-input error, got {other:?}: {e}"),
    }
}
