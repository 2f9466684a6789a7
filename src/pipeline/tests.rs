//! Unit tests of the pipeline through the generated raw clients, against the loopback server of
//! `tests/pipeline_support` (compiled with both services).

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::hooks::{new_parent_id, new_trace_id, random_uuid, traceparent};
use super::links::same_origin_prefix;
use super::test_support as support;
use super::{
    JSON_PATCH_OPERATIONS, Pipeline, call, get_absolute, raw_digitaltwins_client, raw_iothub_client,
};
use crate::auth::{Credential, Service};
use crate::error::ErrorKind;
use crate::options::{ClientOptions, RequestOptions};
use crate::retry::RetryOptions;
use support::{Reply, Server};

const IOTHUB_API: &str = "2021-04-12";

fn opts() -> ClientOptions {
    ClientOptions::default()
        .retry(RetryOptions::default().jitter(0.0))
        .connect_timeout(std::time::Duration::from_secs(3600))
}

fn iothub(server: &Server, credential: Option<&Credential>) -> crate::raw::iothub::Client {
    raw_iothub_client(&server.url(), credential, opts()).unwrap()
}

fn adt(server: &Server) -> crate::raw::digitaltwins::Client {
    raw_digitaltwins_client(&server.url(), None, opts()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn non_idempotent_call_retries_only_with_opt_in() {
    let server = Server::scripted(
        vec![Reply::json(503, "{}"), Reply::Drop],
        Reply::json(200, r#"{"status":200,"payload":{"ok":true}}"#),
    )
    .await;
    let client = iothub(&server, None);
    let body = crate::raw::iothub::types::CloudToDeviceMethod::default();
    let err = call(
        &RequestOptions::default(),
        client.devices_invoke_method("d1", IOTHUB_API, &body),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(server.count(), 1);
    // Opted in: the drop and the 200 follow.
    let reply = call(
        &RequestOptions::default().retry_non_idempotent(true),
        client.devices_invoke_method("d1", IOTHUB_API, &body),
    )
    .await
    .unwrap();
    assert_eq!(reply.value.status, Some(200));
    assert_eq!(server.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn per_call_retry_policy_overrides_the_client_policy() {
    let server = Server::always(Reply::json(503, "{}")).await;
    let client = iothub(&server, None);
    let err = call(
        &RequestOptions::default().retry(RetryOptions::none()),
        client.devices_get_twin("d1", IOTHUB_API),
    )
    .await
    .unwrap_err();
    assert_eq!(server.count(), 1);
    assert!(err.client_request_id().is_some());
    let err = call(
        &RequestOptions::default()
            .retry(RetryOptions::default().max_retries(2).jitter(0.0))
            .client_request_id("my-id"),
        client.devices_get_twin("d1", IOTHUB_API),
    )
    .await
    .unwrap_err();
    assert_eq!(server.count(), 4);
    assert_eq!(err.client_request_id(), Some("my-id"));
    assert!(
        server.requests()[1..]
            .iter()
            .all(|r| r.header("x-ms-client-request-id") == Some("my-id"))
    );
}

#[tokio::test]
async fn iothub_error_body_is_typed() {
    let server = Server::always(
        Reply::json(
            412,
            r#"{"Message":"ErrorCode:PreconditionFailed;Precondition failed: Device version did not match","ExceptionMessage":"Tracking ID:e4a9090fbc2f4a78b13ba7a01fb30ffe-G:12-TimeStamp:07/07/2021 20:45:26"}"#,
        )
        .with_header("iothub-errorcode", "PreconditionFailed")
        .with_header("x-ms-request-id", "e4a9090f-bc2f-4a78-b13b-a7a01fb30ffe"),
    )
    .await;
    let client = iothub(&server, None);
    let twin = crate::raw::iothub::types::Twin::new("d1");
    let err = call(
        &RequestOptions::default(),
        client.devices_update_twin("d1", IOTHUB_API, Some("\"x\""), &twin),
    )
    .await
    .unwrap_err();
    assert!(err.is_precondition_failed());
    assert_eq!(err.error_code(), Some("PreconditionFailed"));
    assert_eq!(
        err.request_id(),
        Some("e4a9090f-bc2f-4a78-b13b-a7a01fb30ffe")
    );
    assert_eq!(err.tracking_id(), Some("e4a9090fbc2f4a78b13ba7a01fb30ffe"));
}

#[tokio::test]
async fn error_body_that_does_not_match_the_schema_keeps_its_status() {
    // ADT's ASP.NET validation body has no `error` member, so the generated ErrorResponse
    // cannot decode it; the status and headers must survive anyway.
    let server = Server::always(
        Reply::json(400, r#"{"errors":{"[0]":["bad"]},"title":"One or more validation errors occurred.","status":400}"#)
            .with_header("x-ms-request-id", "req-1"),
    )
    .await;
    let client = adt(&server);
    let err = call(
        &RequestOptions::default(),
        client.digital_twins_get_by_id("t1", "2023-10-31", None, None),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(err.request_id(), Some("req-1"));
    // And an empty 503 body after retries are exhausted.
    let server = Server::always(Reply::Respond {
        status: 503,
        headers: vec![("retry-after".into(), "0".into())],
        body: String::new(),
    })
    .await;
    let client = adt(&server);
    let err = call(
        &RequestOptions::default().retry(RetryOptions::none()),
        client.digital_twins_get_by_id("t1", "2023-10-31", None, None),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(err.retry_after(), Some(std::time::Duration::ZERO));
}

#[tokio::test]
async fn adt_error_with_inner_code() {
    let server = Server::always(Reply::json(
        404,
        r#"{"error":{"code":"DigitalTwinNotFound","message":"There is no digital twin instance that exists with the ID t1.","innererror":{"code":"Inner","innererror":{"code":"Innermost"}}}}"#,
    ))
    .await;
    let client = adt(&server);
    let err = call(
        &RequestOptions::default(),
        client.digital_twins_get_by_id("t1", "2023-10-31", None, None),
    )
    .await
    .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.error_code(), Some("DigitalTwinNotFound"));
    assert_eq!(err.inner_error_code(), Some("Innermost"));
}

#[tokio::test]
async fn reply_exposes_headers() {
    let server = Server::always(
        Reply::json(200, r#"[{"deviceId":"d1"}]"#)
            .with_header("x-ms-continuation", "tok-2")
            .with_header("etag", "\"AAAA\""),
    )
    .await;
    let client = iothub(&server, None);
    let q = crate::raw::iothub::types::QuerySpecification {
        query: Some("SELECT * FROM devices".into()),
    };
    let reply = call(
        &RequestOptions::default(),
        client.query_get_twins(IOTHUB_API, None, Some("1"), &q),
    )
    .await
    .unwrap();
    assert_eq!(reply.value.len(), 1);
    assert_eq!(reply.continuation_header(), Some("tok-2"));
    assert_eq!(reply.etag().unwrap().as_header(), "\"AAAA\"");
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn absolute_links_go_through_the_hooks_and_stay_on_the_endpoint() {
    let server = Server::always(Reply::json(200, r#"{"value":[1],"nextLink":null}"#)).await;
    let cred = Credential::bearer_token("tok-secret");
    let client = raw_digitaltwins_client(&server.url(), Some(&cred), opts()).unwrap();
    let url = format!(
        "{}/relationships?continuationToken=abc&api-version=2023-10-31",
        server.url()
    );
    let (body, _) = get_absolute(&client, &RequestOptions::default(), &url, HeaderMap::new())
        .await
        .unwrap();
    assert_eq!(&body[..], br#"{"value":[1],"nextLink":null}"#);
    let r = &server.requests()[0];
    assert_eq!(r.header("authorization"), Some("Bearer tok-secret"));
    assert!(r.header("x-ms-client-request-id").is_some());
    assert!(r.target.starts_with("/relationships?continuationToken=abc"));
    // Another host or port: refused, nothing sent.
    for bad in [
        "http://127.0.0.2:1/x",
        "https://evil.example/x",
        "http://localhost:1/x",
    ] {
        let err = get_absolute(&client, &RequestOptions::default(), bad, HeaderMap::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InsecureTransport, "{bad}");
    }
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn credential_over_plain_http_to_a_remote_host_is_refused_before_sending() {
    let cred = Credential::bearer_token("tok-secret");
    let err = Pipeline::new(
        Service::DigitalTwins,
        "http://twins.example.com",
        Some(&cred),
        opts(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InsecureTransport);
    assert!(!err.to_string().contains("tok-secret"));
    // A raw client whose base URL differs from the pipeline's endpoint is caught in `pre`.
    let pipeline = Pipeline::new(
        Service::DigitalTwins,
        "http://127.0.0.1:9",
        Some(&cred),
        opts(),
    )
    .unwrap();
    let client = crate::raw::digitaltwins::Client::new_with_client(
        "http://twins.invalid",
        opts().build_http_client().unwrap(),
        pipeline,
    );
    let err = call(
        &RequestOptions::default(),
        client.digital_twins_get_by_id("t1", "2023-10-31", None, None),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InsecureTransport);
    // Raw users see progenitor's Custom error with the same message.
    let raw_err = client
        .digital_twins_get_by_id("t1", "2023-10-31", None, None)
        .await
        .unwrap_err();
    assert!(
        raw_err.to_string().contains("insecure transport"),
        "{raw_err}"
    );
}

#[test]
fn origin_shortcut_only_accepts_the_base_followed_by_a_path_or_query() {
    let base = "http://127.0.0.1:80";
    for ok in [
        "http://127.0.0.1:80",
        "http://127.0.0.1:80/x",
        "http://127.0.0.1:80?a=1",
    ] {
        assert!(same_origin_prefix(ok, base), "{ok}");
        assert!(same_origin_prefix(ok, "http://127.0.0.1:80/"), "{ok}");
    }
    // Left to the full comparison: another port, userinfo tricks, other schemes or hosts,
    // and bases that carry a path.
    for other in [
        "http://127.0.0.1:8080/x",
        "http://127.0.0.1:80@evil.example/x",
        "http://127.0.0.1:80.evil.example/x",
        "https://127.0.0.1:80/x",
        "http://127.0.0.10:80/x",
        "http://127.0.0.1:80\\x",
    ] {
        assert!(!same_origin_prefix(other, base), "{other}");
    }
    assert!(!same_origin_prefix("https://h/p/../x", "https://h/p"));
    assert!(!same_origin_prefix("https://h/x", "https://"));
}

#[test]
fn traceparent_is_w3c_shaped() {
    let v = traceparent(
        0x0123_4567_89ab_cdef_0011_2233_4455_6677,
        0xfedc_ba98_7654_3210,
    );
    assert_eq!(
        v.to_str().unwrap(),
        "00-0123456789abcdef0011223344556677-fedcba9876543210-01"
    );
    let v = traceparent(1, 1);
    assert_eq!(
        v.to_str().unwrap(),
        "00-00000000000000000000000000000001-0000000000000001-01"
    );
    assert_ne!(new_trace_id(), 0);
    let id = random_uuid();
    assert_eq!(id.get_version(), Some(uuid::Version::Random));
    assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
    assert_ne!(id, random_uuid());
    assert_ne!(new_parent_id(), 0);
}

#[test]
fn idempotency_table_names_real_operations() {
    let generated = concat!(
        include_str!(concat!(env!("OUT_DIR"), "/iothub.rs")),
        include_str!(concat!(env!("OUT_DIR"), "/digitaltwins.rs"))
    );
    for id in crate::retry::table_operation_ids().chain(JSON_PATCH_OPERATIONS) {
        assert!(
            generated.contains(&format!("operation_id: \"{id}\"")),
            "{id} is not a generated operation id"
        );
    }
}

#[tokio::test]
async fn ensure_credential_signs_ahead_of_the_call() {
    let server = Server::always(Reply::json(200, r#"{"deviceId":"d1"}"#)).await;
    let cs = format!(
        "HostName={};SharedAccessKeyName=iothubowner;SharedAccessKey=c2VjcmV0LWtleQ==",
        server.addr
    );
    let cred = Credential::from_connection_string(&cs).unwrap();
    let pipeline = Pipeline::new(Service::IotHub, &server.url(), Some(&cred), opts()).unwrap();
    let client = crate::raw::iothub::Client::new_with_client(
        &server.url(),
        opts().build_http_client().unwrap(),
        pipeline.clone(),
    );
    pipeline.ensure_credential().await.unwrap();
    assert_eq!(pipeline.credential_fetch_count(), 1);
    assert_eq!(server.count(), 0, "signing sends nothing");
    client.devices_get_twin("d1", IOTHUB_API).await.unwrap();
    assert_eq!(
        pipeline.credential_fetch_count(),
        1,
        "the call used the signed token"
    );
    assert_eq!(server.count(), 1);
}
