//! Shared helpers of the IoT Hub integration tests: start an emulator, sign SAS tokens
//! independently of the emulator's own code, and send requests over real sockets.
#![allow(dead_code)]

use azure_twins_emulator::Emulator;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use sha2::Sha256;

/// The api-version every test sends.
pub const API: &str = "2021-04-12";

/// Installs the ring provider for reqwest's rustls (the workspace builds reqwest without one).
pub fn crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Parses `HostName=…;SharedAccessKeyName=…;SharedAccessKey=…`.
pub fn parse_cs(cs: &str) -> (String, String, String) {
    let get = |k: &str| {
        cs.split(';')
            .find_map(|p| p.strip_prefix(&format!("{k}=")))
            .unwrap_or_default()
            .to_string()
    };
    (
        get("HostName"),
        get("SharedAccessKeyName"),
        get("SharedAccessKey"),
    )
}

/// `SharedAccessSignature sr=…&sig=…&se=…&skn=…`, signed the way the SDKs do.
pub fn sign(resource: &str, policy: &str, key_b64: &str, expiry: u64) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let sr = enc(resource);
    let key = B64.decode(key_b64).expect("policy key is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac key");
    mac.update(format!("{sr}\n{expiry}").as_bytes());
    let sig = enc(&B64.encode(mac.finalize().into_bytes()));
    format!("SharedAccessSignature sr={sr}&sig={sig}&se={expiry}&skn={policy}")
}

/// Unix seconds an hour from now.
pub fn in_an_hour() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600
}

/// A running emulator with a client and an owner token.
pub struct Hub {
    pub emu: Emulator,
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Hub {
    pub async fn start() -> Self {
        crypto();
        let emu = Emulator::builder().start().await.expect("emulator starts");
        let (host, policy, key) = parse_cs(&emu.iothub_connection_string());
        let token = sign(&host, &policy, &key, in_an_hour());
        Self {
            base: emu.iothub_endpoint(),
            client: reqwest::Client::new(),
            emu,
            token,
        }
    }

    /// A request with api-version and the owner token.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        let sep = if path.contains('?') { '&' } else { '?' };
        self.client
            .request(method, format!("{}{path}{sep}api-version={API}", self.base))
            .header("authorization", &self.token)
    }

    /// Sends a request without a body.
    pub async fn send(&self, method: Method, path: &str) -> Response {
        self.req(method, path).send().await.expect("request sent")
    }

    /// Sends a request with an `If-Match` header and an optional JSON body.
    pub async fn send_if_match(
        &self,
        method: Method,
        path: &str,
        etag: &str,
        body: Option<&Value>,
    ) -> Response {
        let req = self.req(method, path).header("if-match", etag);
        let req = match body {
            Some(b) => req.json(b),
            None => req,
        };
        req.send().await.expect("request sent")
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.req(method, path)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn create_device(&self, id: &str) -> Value {
        let r = self
            .send_json(
                Method::PUT,
                &format!("/devices/{id}"),
                &serde_json::json!({"deviceId": id}),
            )
            .await;
        assert_eq!(r.status(), 200, "create {id}");
        r.json().await.expect("device json")
    }

    pub async fn create_module(&self, id: &str, mid: &str) -> Value {
        let r = self
            .send_json(
                Method::PUT,
                &format!("/devices/{id}/modules/{mid}"),
                &serde_json::json!({"deviceId": id, "moduleId": mid}),
            )
            .await;
        assert_eq!(r.status(), 200, "create {id}/{mid}");
        r.json().await.expect("module json")
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.send(Method::GET, path).await;
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch_twin(&self, id: &str, body: &Value) -> Value {
        let r = self
            .send_json(Method::PATCH, &format!("/twins/{id}"), body)
            .await;
        assert_eq!(r.status(), 200, "patch twin {id}");
        r.json().await.expect("twin json")
    }
}

/// Checks an IoT Hub error response: status, `iothub-errorcode` and the legacy body shape; returns the message.
pub async fn expect_error(r: Response, status: u16, code: &str) -> String {
    assert_eq!(r.status().as_u16(), status, "status");
    assert_eq!(
        r.headers()
            .get("iothub-errorcode")
            .and_then(|v| v.to_str().ok()),
        Some(code),
        "iothub-errorcode"
    );
    let body: Value = r.json().await.expect("error body is json");
    let msg = body["Message"]
        .as_str()
        .expect("Message string")
        .to_string();
    assert!(msg.starts_with(&format!("ErrorCode:{code};")), "{msg}");
    let tracking = body["ExceptionMessage"]
        .as_str()
        .expect("ExceptionMessage string");
    assert!(tracking.starts_with("Tracking ID:"), "{tracking}");
    assert!(tracking.contains("-TimeStamp:"), "{tracking}");
    msg
}
