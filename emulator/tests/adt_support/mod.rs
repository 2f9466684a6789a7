//! Shared helpers of the ADT emulator tests: start the whole emulator on loopback and talk to it with plain reqwest.
#![allow(dead_code)]

use azure_twins_emulator::Emulator;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The api-version every request carries.
pub const API: &str = "2023-10-31";

/// A running emulator plus an HTTP client that authenticates to its ADT listener.
pub struct Adt {
    pub emu: Emulator,
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
}

/// A response, read completely.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    /// `x-ms-error-code` header.
    pub fn error_code(&self) -> Option<&str> {
        self.headers
            .get("x-ms-error-code")
            .and_then(|v| v.to_str().ok())
    }
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Assert status and error code (header and body agree).
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.text);
        assert_eq!(
            self.error_code(),
            Some(code),
            "x-ms-error-code; body: {}",
            self.text
        );
        assert_eq!(
            self.body["error"]["code"],
            json!(code),
            "error.code; body: {}",
            self.text
        );
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "message: {}",
            self.text
        );
    }
    /// Assert a status.
    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(self.status, status, "status; body: {}", self.text);
    }
    /// ETag header.
    pub fn etag(&self) -> String {
        self.header("etag").unwrap_or_default().to_string()
    }
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Adt {
    /// Emulator without a configured ADT token (any bearer token accepted).
    pub async fn start() -> Adt {
        Self::start_with(None).await
    }

    /// Emulator requiring exactly `Bearer <token>` when `Some`.
    pub async fn start_with(token: Option<&str>) -> Adt {
        install_crypto();
        let emu = Emulator::builder()
            .adt_bearer_token(token.map(str::to_string))
            .start()
            .await
            .expect("emulator starts");
        let base = emu.adt_endpoint();
        Adt {
            emu,
            base,
            http: reqwest::Client::new(),
            token: token.unwrap_or("test-token").to_string(),
        }
    }

    /// Absolute URL with `api-version` appended.
    pub fn url(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{sep}api-version={API}", self.base)
    }

    /// Send any request with a bearer token; `body` is sent as JSON text (content type from `headers` or JSON).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        self.send_url(
            method,
            &self.url(path),
            body.map(|b| b.to_string()),
            headers,
        )
        .await
    }

    /// Send to an absolute URL (nextLink, Operation-Location) with a raw body.
    pub async fn send_url(
        &self,
        method: &str,
        url: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .header("authorization", format!("Bearer {}", self.token));
        let mut has_ct = false;
        for (k, v) in headers {
            has_ct |= k.eq_ignore_ascii_case("content-type");
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            if !has_ct {
                rb = rb.header("content-type", "application/json");
            }
            rb = rb.body(b);
        }
        let r = rb.send().await.expect("request reaches the emulator");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None, &[]).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send("PUT", path, Some(body), &[]).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send("POST", path, Some(body), &[]).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, None, &[]).await
    }
    /// JSON Patch request.
    pub async fn patch(&self, path: &str, ops: &Value) -> Resp {
        self.send(
            "PATCH",
            path,
            Some(ops),
            &[("content-type", "application/json-patch+json")],
        )
        .await
    }

    /// JSON Patch request with an `If-Match` header.
    pub async fn patch_if_match(&self, path: &str, ops: &Value, etag: &str) -> Resp {
        self.send(
            "PATCH",
            path,
            Some(ops),
            &[
                ("content-type", "application/json-patch+json"),
                ("if-match", etag),
            ],
        )
        .await
    }

    /// `POST /query` with a `max-items-per-page` header.
    pub async fn query_page(&self, body: &Value, page_size: &str) -> Resp {
        self.send(
            "POST",
            "/query",
            Some(body),
            &[("max-items-per-page", page_size)],
        )
        .await
    }

    /// GETs each path and checks that it fails with the given status and error code.
    pub async fn assert_get_errors(&self, cases: &[(&str, u16, &str)]) {
        for &(path, status, code) in cases {
            let r = self.get(path).await;
            assert_eq!(r.status, status, "GET {path}: {}", r.text);
            r.assert_error(status, code);
        }
    }

    /// Upload models, asserting 201.
    pub async fn add_models(&self, models: &Value) -> Resp {
        let r = self.post("/models", models).await;
        r.assert_status(201);
        r
    }

    /// Upload the standard test models ([`test_models`]).
    pub async fn seed_models(&self) {
        self.add_models(&test_models()).await;
    }

    /// Create a twin, asserting 200.
    pub async fn put_twin(&self, id: &str, body: &Value) -> Resp {
        let r = self.put(&format!("/digitaltwins/{id}"), body).await;
        r.assert_status(200);
        r
    }

    /// A room twin with its required component.
    pub async fn room(&self, id: &str, temperature: f64) -> Resp {
        self.put_twin(id, &room_body(temperature)).await
    }

    /// Create a relationship, asserting 200.
    pub async fn relate(&self, src: &str, rel_id: &str, name: &str, target: &str) -> Resp {
        let r = self
            .put(
                &format!("/digitaltwins/{src}/relationships/{rel_id}"),
                &json!({"$relationshipName": name, "$targetId": target}),
            )
            .await;
        r.assert_status(200);
        r
    }
}

/// Body of a valid Room twin.
pub fn room_body(temperature: f64) -> Value {
    json!({
        "$metadata": {"$model": "dtmi:test:Room;1"},
        "name": "room",
        "temperature": temperature,
        "thermostat": {"$metadata": {}}
    })
}

/// Space ← Room (extends, with every schema kind and a component), Thermostat, Device, Floor.
pub fn test_models() -> Value {
    json!([
        {
            "@id": "dtmi:test:Space;1", "@type": "Interface", "@context": "dtmi:dtdl:context;2",
            "displayName": "Space",
            "contents": [{"@type": "Property", "name": "name", "schema": "string"}]
        },
        {
            "@id": "dtmi:test:Thermostat;1", "@type": "Interface", "@context": "dtmi:dtdl:context;2",
            "contents": [{"@type": "Property", "name": "setpoint", "schema": "double"},
                         {"@type": "Telemetry", "name": "reading", "schema": "double"}]
        },
        {
            "@id": "dtmi:test:Device;1", "@type": "Interface", "@context": "dtmi:dtdl:context;2",
            "contents": [{"@type": "Property", "name": "serial", "schema": "string"}]
        },
        {
            "@id": "dtmi:test:Room;1", "@type": "Interface", "@context": ["dtmi:dtdl:context;2"],
            "displayName": {"en": "Room"}, "description": "A room",
            "extends": "dtmi:test:Space;1",
            "contents": [
                {"@type": ["Property", "Temperature"], "name": "temperature", "schema": "double"},
                {"@type": "Property", "name": "ratio", "schema": "float"},
                {"@type": "Property", "name": "occupied", "schema": "boolean"},
                {"@type": "Property", "name": "people", "schema": "integer"},
                {"@type": "Property", "name": "visits", "schema": "long"},
                {"@type": "Property", "name": "opened", "schema": "date"},
                {"@type": "Property", "name": "cleanedAt", "schema": "dateTime"},
                {"@type": "Property", "name": "slot", "schema": "duration"},
                {"@type": "Property", "name": "mode", "schema": {"@type": "Enum", "valueSchema": "string",
                    "enumValues": [{"name": "on", "enumValue": "on"}, {"name": "off", "enumValue": "off"}]}},
                {"@type": "Property", "name": "level", "schema": {"@type": "Enum", "valueSchema": "integer",
                    "enumValues": [{"name": "low", "enumValue": 1}, {"name": "high", "enumValue": 2}]}},
                {"@type": "Property", "name": "address", "schema": {"@type": "Object", "fields": [
                    {"name": "street", "schema": "string"}, {"name": "zip", "schema": "integer"}]}},
                {"@type": "Property", "name": "tags", "schema": {"@type": "Map",
                    "mapKey": {"name": "k", "schema": "string"}, "mapValue": {"name": "v", "schema": "string"}}},
                {"@type": "Component", "name": "thermostat", "schema": "dtmi:test:Thermostat;1"},
                {"@type": "Relationship", "name": "contains", "target": "dtmi:test:Device;1",
                    "properties": [{"@type": "Property", "name": "since", "schema": "dateTime"}]},
                {"@type": "Relationship", "name": "adjacent"},
                {"@type": "Telemetry", "name": "humidity", "schema": "double"}
            ]
        },
        {
            "@id": "dtmi:test:Floor;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
            "contents": [
                {"@type": "Property", "name": "level", "schema": "integer"},
                {"@type": "Relationship", "name": "hasRoom", "target": "dtmi:test:Space;1"}
            ]
        }
    ])
}

/// PUTs every body in `bodies` to `path` with `If-None-Match: *` from concurrent tasks; returns
/// the statuses in task order.
pub async fn race_create_if_absent(
    adt: &std::sync::Arc<Adt>,
    path: &str,
    bodies: Vec<Value>,
) -> Vec<u16> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let adt = adt.clone();
            let path = path.to_string();
            tokio::spawn(async move {
                adt.send("PUT", &path, Some(&body), &[("if-none-match", "*")])
                    .await
                    .status
            })
        })
        .collect();
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes
}
