//! Retry behaviour of the shared pipeline, through the generated raw clients, against a scripted
//! loopback server. Waiting runs on tokio's paused clock, so server hints of several seconds
//! cost no real time and elapsed (virtual) time can be checked exactly.

mod pipeline_support;

use std::time::Duration;

use azure_twins::auth::Service;
use azure_twins::raw::{self, Pipeline};
use azure_twins::{ClientOptions, RetryOptions};
use pipeline_support::{Reply, Server};
use tokio::time::Instant;

const IOTHUB_API: &str = "2021-04-12";

fn options(retry: RetryOptions) -> ClientOptions {
    // A long connect timeout: with the paused clock, timers fire as soon as the runtime idles.
    ClientOptions::default()
        .retry(retry.jitter(0.0))
        .connect_timeout(Duration::from_secs(3600))
}

fn iothub(server: &Server, retry: RetryOptions) -> raw::iothub::Client {
    let opts = options(retry);
    let http = raw::http_client(&opts).unwrap();
    let pipeline = Pipeline::new(Service::IotHub, &server.url(), None, opts).unwrap();
    raw::iothub::Client::new_with_client(&server.url(), http, pipeline)
}

fn twin_ok() -> Reply {
    Reply::json(
        200,
        r#"{"deviceId":"d1","etag":"AAAAAAAAAAE=","version":2}"#,
    )
}

fn throttled() -> Reply {
    Reply::json(
        429,
        r#"{"Message":"ErrorCode:ThrottlingException;slow down","ExceptionMessage":""}"#,
    )
    .with_header("iothub-errorcode", "ThrottlingException")
}

/// A twin read against a server that always answers `reply`, which must fail: its status and
/// how many requests the server saw.
async fn failed_get_twin(
    reply: Reply,
    retry: RetryOptions,
) -> (Option<reqwest::StatusCode>, usize) {
    let server = Server::always(reply).await;
    let client = iothub(&server, retry);
    let err = client.devices_get_twin("d1", IOTHUB_API).await.unwrap_err();
    (err.status(), server.count())
}

#[tokio::test(start_paused = true)]
async fn retries_429_with_retry_after_seconds() {
    let server = Server::scripted(
        vec![
            throttled().with_header("retry-after", "3"),
            throttled().with_header("retry-after", "2"),
        ],
        twin_ok(),
    )
    .await;
    let client = iothub(&server, RetryOptions::default());
    let start = Instant::now();
    let twin = client.devices_get_twin("d1", IOTHUB_API).await.unwrap();
    assert_eq!(twin.device_id, "d1");
    assert_eq!(server.count(), 3);
    // The server's hints (3 s + 2 s) were honoured instead of the 200 ms backoff.
    assert!(
        start.elapsed() >= Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // Same logical call: same client request id on every attempt.
    let ids: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("x-ms-client-request-id").unwrap().to_owned())
        .collect();
    assert!(ids.iter().all(|id| id == &ids[0]));
}

#[tokio::test(start_paused = true)]
async fn retries_429_with_retry_after_http_date() {
    // The virtual clock does not move SystemTime, so a date 4 s ahead of the real clock means
    // "wait about 4 s" (the date has 1 s resolution).
    let when = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(4));
    let server = Server::scripted(
        vec![throttled().with_header("retry-after", &when)],
        twin_ok(),
    )
    .await;
    let client = iothub(&server, RetryOptions::default());
    let start = Instant::now();
    client.devices_get_twin("d1", IOTHUB_API).await.unwrap();
    assert_eq!(server.count(), 2);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn retries_with_x_ms_retry_after_ms_and_503_and_dropped_connections() {
    let server = Server::scripted(
        vec![
            throttled().with_header("x-ms-retry-after-ms", "1500"),
            Reply::json(503, r#"{"Message":"ErrorCode:ServiceUnavailable;busy"}"#),
            Reply::Drop,
            Reply::json(500, "{}"),
        ],
        twin_ok(),
    )
    .await;
    let client = iothub(&server, RetryOptions::default());
    let start = Instant::now();
    client.devices_get_twin("d1", IOTHUB_API).await.unwrap();
    assert_eq!(server.count(), 5);
    assert!(start.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test(start_paused = true)]
async fn total_time_budget_is_respected() {
    let server = Server::always(Reply::json(503, "{}")).await;
    let retry = RetryOptions::default()
        .max_retries(1000)
        .initial_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(4))
        .max_total_time(Duration::from_secs(20));
    let client = iothub(&server, retry);
    let start = Instant::now();
    let err = client.devices_get_twin("d1", IOTHUB_API).await.unwrap_err();
    assert_eq!(err.status(), Some(reqwest::StatusCode::SERVICE_UNAVAILABLE));
    let elapsed = start.elapsed();
    assert!(elapsed <= Duration::from_secs(20), "{elapsed:?}");
    // Delays 1+2+4+4+4+4 = 19 s fit in 20 s; one more 4 s wait would not: 7 attempts.
    assert_eq!(server.count(), 7);
    assert_eq!(elapsed.as_secs(), 19);
}

#[tokio::test(start_paused = true)]
async fn server_hint_beyond_budget_stops_retrying() {
    let (status, attempts) = failed_get_twin(
        throttled().with_header("retry-after", "120"),
        RetryOptions::default(),
    )
    .await;
    assert_eq!(status, Some(reqwest::StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn max_retries_is_respected() {
    for (retry, attempts) in [
        (RetryOptions::default().max_retries(2), 3),
        (RetryOptions::none(), 1),
    ] {
        let (_, sent) = failed_get_twin(Reply::json(503, "{}"), retry).await;
        assert_eq!(sent, attempts);
    }
}

#[tokio::test(start_paused = true)]
async fn non_clearing_iothub_codes_are_not_retried() {
    for code in [
        "IotHubQuotaExceeded",
        "DeviceMaximumQueueDepthExceeded",
        "403002",
    ] {
        let (_, attempts) = failed_get_twin(
            Reply::json(429, r#"{"Message":"ErrorCode:IotHubQuotaExceeded;quota"}"#)
                .with_header("iothub-errorcode", code),
            RetryOptions::default(),
        )
        .await;
        assert_eq!(attempts, 1, "{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_retried() {
    let (status, attempts) = failed_get_twin(
        Reply::json(404, r#"{"Message":"ErrorCode:DeviceNotFound;nope"}"#)
            .with_header("iothub-errorcode", "DeviceNotFound"),
        RetryOptions::default(),
    )
    .await;
    assert_eq!(status, Some(reqwest::StatusCode::NOT_FOUND));
    assert_eq!(attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn direct_method_is_not_retried_by_default() {
    let server = Server::always(Reply::json(503, "{}")).await;
    let client = iothub(&server, RetryOptions::default());
    let body = raw::iothub::types::CloudToDeviceMethod {
        method_name: Some("reboot".into()),
        ..Default::default()
    };
    client
        .devices_invoke_method("d1", IOTHUB_API, &body)
        .await
        .unwrap_err();
    assert_eq!(server.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropped_connection_on_direct_method_is_not_retried() {
    let server = Server::scripted(
        vec![Reply::Drop],
        Reply::json(200, r#"{"status":200,"payload":{}}"#),
    )
    .await;
    let client = iothub(&server, RetryOptions::default());
    let body = raw::iothub::types::CloudToDeviceMethod::default();
    client
        .devices_invoke_method("d1", IOTHUB_API, &body)
        .await
        .unwrap_err();
    assert_eq!(server.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn query_post_is_retried_twin_patch_only_with_a_concrete_if_match() {
    let server = Server::scripted(vec![Reply::json(503, "{}")], Reply::json(200, "[]")).await;
    let client = iothub(&server, RetryOptions::default());
    let q = raw::iothub::types::QuerySpecification {
        query: Some("SELECT * FROM devices".into()),
    };
    client
        .query_get_twins(IOTHUB_API, None, None, &q)
        .await
        .unwrap();
    assert_eq!(server.count(), 2);

    // A twin PATCH is resent only with a concrete If-Match: without one a repeat of a landed
    // attempt would move $version twice.
    let twin = raw::iothub::types::Twin::new("d1");
    for (if_match, requests) in [(None, 1), (Some("*"), 1), (Some("\"AAAAAAAAAAE=\""), 2)] {
        let server = Server::scripted(vec![Reply::json(503, "{}")], twin_ok()).await;
        let client = iothub(&server, RetryOptions::default());
        let r = client
            .devices_update_twin("d1", IOTHUB_API, if_match, &twin)
            .await;
        assert_eq!(r.is_ok(), requests == 2, "If-Match {if_match:?}");
        assert_eq!(server.count(), requests, "If-Match {if_match:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn throttled_direct_method_is_retried_it_was_not_processed() {
    let server = Server::scripted(
        vec![throttled().with_header("retry-after", "1")],
        Reply::json(200, r#"{"status":200,"payload":{}}"#),
    )
    .await;
    let client = iothub(&server, RetryOptions::default());
    let body = raw::iothub::types::CloudToDeviceMethod::default();
    client
        .devices_invoke_method("d1", IOTHUB_API, &body)
        .await
        .unwrap();
    assert_eq!(server.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn adt_json_patch_retries_only_with_a_concrete_if_match() {
    let adt = |server: &Server| {
        let opts = options(RetryOptions::default());
        let http = raw::http_client(&opts).unwrap();
        let pipeline = Pipeline::new(Service::DigitalTwins, &server.url(), None, opts).unwrap();
        raw::digitaltwins::Client::new_with_client(&server.url(), http, pipeline)
    };
    let patch = vec![
        serde_json::json!({"op": "add", "path": "/x", "value": 1})
            .as_object()
            .unwrap()
            .clone(),
    ];
    for (if_match, expected) in [(None, 1), (Some("*"), 1), (Some("W/\"abc\""), 2)] {
        let server = Server::scripted(
            vec![Reply::json(
                503,
                r#"{"error":{"code":"ServiceUnavailable","message":"busy"}}"#,
            )],
            Reply::Respond {
                status: 204,
                headers: vec![("etag".into(), "W/\"def\"".into())],
                body: String::new(),
            },
        )
        .await;
        let client = adt(&server);
        let _ = client
            .digital_twins_update("t1", "2023-10-31", if_match, None, None, &patch)
            .await;
        assert_eq!(server.count(), expected, "{if_match:?}");
        let r = &server.requests()[0];
        assert_eq!(
            r.header("content-type"),
            Some("application/json-patch+json")
        );
    }
}

#[tokio::test]
async fn every_request_carries_user_agent_request_id_and_traceparent_but_no_api_version_header() {
    let server = Server::always(twin_ok()).await;
    let client = iothub(&server, RetryOptions::default());
    client.devices_get_twin("d1", IOTHUB_API).await.unwrap();
    client.devices_get_twin("d1", IOTHUB_API).await.unwrap();
    let reqs = server.requests();
    for r in &reqs {
        assert_eq!(
            r.header("user-agent"),
            Some(concat!("azure-twins/", env!("CARGO_PKG_VERSION")))
        );
        assert!(r.header("api-version").is_none());
        assert!(r.target.contains("api-version=2021-04-12"));
        let tp = r.header("traceparent").unwrap();
        let parts: Vec<_> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp}");
        assert_eq!(
            (parts[0], parts[1].len(), parts[2].len(), parts[3]),
            ("00", 32, 16, "01")
        );
        assert!(uuid::Uuid::parse_str(r.header("x-ms-client-request-id").unwrap()).is_ok());
        assert!(r.header("authorization").is_none());
    }
    // Different logical calls get different ids.
    assert_ne!(
        reqs[0].header("x-ms-client-request-id"),
        reqs[1].header("x-ms-client-request-id")
    );
}
