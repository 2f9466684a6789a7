//! Several api-versions per service, as the real services serve them: each accepted version
//! works, the operations a version lacks are refused on that version, and an unknown version
//! gets the service's 400 in the service's error shape.

mod adt_support;
mod iothub_support;

use adt_support::{Adt, Resp, room_body};
use azure_twins_emulator::{DIGITAL_TWINS_API_VERSIONS, IOTHUB_API_VERSIONS};
use iothub_support::{Hub, expect_error};
use serde_json::json;

const ADT_VERSIONS: [&str; 4] = ["2020-10-31", "2022-05-31", "2023-06-30", "2023-10-31"];

/// A request to the ADT listener at `path` with exactly `version` (or none).
async fn adt_at(
    adt: &Adt,
    method: &str,
    path: &str,
    version: Option<&str>,
    body: Option<serde_json::Value>,
) -> Resp {
    let url = match version {
        Some(v) => format!("{}{path}?api-version={v}", adt.base),
        None => format!("{}{path}", adt.base),
    };
    adt.send_url(method, &url, body.map(|b| b.to_string()), &[])
        .await
}

#[tokio::test]
async fn adt_serves_its_four_versions() {
    assert_eq!(DIGITAL_TWINS_API_VERSIONS, ADT_VERSIONS);
    let adt = Adt::start().await;
    adt.seed_models().await;
    for (i, v) in ADT_VERSIONS.iter().enumerate() {
        let id = format!("room-{i}");
        let path = format!("/digitaltwins/{id}");
        let put = adt_at(
            &adt,
            "PUT",
            &path,
            Some(v),
            Some(room_body(20.0 + i as f64)),
        )
        .await;
        put.assert_status(200);
        assert_eq!(put.body["$dtId"], json!(id), "{v}: {}", put.text);
        let got = adt_at(&adt, "GET", &path, Some(v), None).await;
        got.assert_status(200);
        assert_eq!(got.body["temperature"], json!(20.0 + i as f64), "{v}");
        assert_eq!(got.etag(), put.etag(), "{v}");
        // Replacing works on every version too.
        let again = adt_at(&adt, "PUT", &path, Some(v), Some(room_body(30.0))).await;
        again.assert_status(200);
        assert_ne!(again.etag(), put.etag(), "{v}");
    }
}

#[tokio::test]
async fn adt_links_repeat_the_request_version() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    for v in ["2020-10-31", "2022-05-31"] {
        let url = format!("{}/models?api-version={v}", adt.base);
        let page = adt
            .send_url("GET", &url, None, &[("max-items-per-page", "1")])
            .await;
        page.assert_status(200);
        let next = page.body["nextLink"]
            .as_str()
            .expect("a next page")
            .to_string();
        assert!(next.contains(&format!("api-version={v}")), "{next}");
        adt.send_url("GET", &next, None, &[("max-items-per-page", "1")])
            .await
            .assert_status(200);
    }
}

#[tokio::test]
async fn import_jobs_exist_from_2023_06_30() {
    let adt = Adt::start().await;
    let job = json!({
        "inputBlobUri": "https://example.blob.core.windows.net/c/in.ndjson",
        "outputBlobUri": "https://example.blob.core.windows.net/c/out.ndjson"
    });
    for v in ["2020-10-31", "2022-05-31"] {
        for (method, path, body) in [
            ("GET", "/jobs/imports", None),
            ("PUT", "/jobs/imports/old-job", Some(job.clone())),
            ("GET", "/jobs/imports/old-job", None),
            ("POST", "/jobs/imports/old-job/cancel", None),
            ("DELETE", "/jobs/imports/old-job", None),
        ] {
            let r = adt_at(&adt, method, path, Some(v), body).await;
            r.assert_error(400, "UnsupportedApiVersion");
            let msg = r.body["error"]["message"].as_str().unwrap();
            assert!(
                msg.contains(v) && msg.contains(path),
                "{method} {path}: {msg}"
            );
        }
    }
    // The refused PUT created nothing.
    adt_at(
        &adt,
        "GET",
        "/jobs/imports/old-job",
        Some("2023-10-31"),
        None,
    )
    .await
    .assert_status(404);
    for (i, v) in ["2023-06-30", "2023-10-31"].iter().enumerate() {
        let path = format!("/jobs/imports/job-{i}");
        adt_at(&adt, "PUT", &path, Some(v), Some(job.clone()))
            .await
            .assert_status(201);
        adt_at(&adt, "GET", &path, Some(v), None)
            .await
            .assert_status(200);
        let list = adt_at(&adt, "GET", "/jobs/imports", Some(v), None).await;
        list.assert_status(200);
        assert!(list.body["value"].is_array(), "{}", list.text);
    }
}

#[tokio::test]
async fn delete_jobs_exist_only_in_2023_10_31() {
    let adt = Adt::start().await;
    for v in ["2020-10-31", "2022-05-31", "2023-06-30"] {
        for (method, path) in [
            ("POST", "/jobs/deletions"),
            ("GET", "/jobs/deletions"),
            ("GET", "/jobs/deletions/d1"),
        ] {
            adt_at(&adt, method, path, Some(v), None)
                .await
                .assert_error(400, "UnsupportedApiVersion");
        }
    }
    adt_at(&adt, "GET", "/jobs/deletions", Some("2023-10-31"), None)
        .await
        .assert_status(200);
    let started = adt_at(&adt, "POST", "/jobs/deletions", Some("2023-10-31"), None).await;
    started.assert_status(202);
    let location = started
        .header("operation-location")
        .expect("Operation-Location");
    assert!(location.ends_with("api-version=2023-10-31"), "{location}");
}

#[tokio::test]
async fn adt_unknown_versions_get_the_service_400() {
    let adt = Adt::start().await;
    for v in [
        "1999-01-01",
        "2023-02-27-preview",
        "2021-06-30-preview",
        "2023-10-30",
    ] {
        let r = adt_at(&adt, "GET", "/digitaltwins/room-1", Some(v), None).await;
        r.assert_error(400, "UnsupportedApiVersion");
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(v), "{msg}");
        assert!(
            msg.contains("2020-10-31") && msg.contains("2023-10-31"),
            "{msg}"
        );
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{:?}",
            r.headers
        );
    }
    for v in ["latest", "2023-10", "v1"] {
        adt_at(&adt, "GET", "/models", Some(v), None)
            .await
            .assert_error(400, "InvalidApiVersion");
    }
    adt_at(&adt, "GET", "/models", None, None)
        .await
        .assert_error(400, "MissingApiVersionParameter");
    // A path no version has stays a 404 on every version.
    for v in ADT_VERSIONS {
        adt_at(&adt, "GET", "/jobs/exports", Some(v), None)
            .await
            .assert_error(404, "NotFound");
    }
}

/// The versions the official IoT Hub service SDKs send (see `IOTHUB_API_VERSIONS`).
const IOTHUB_SDK_VERSIONS: [&str; 5] = [
    "2021-04-12", // .NET Microsoft.Azure.Devices, Java iot-service-client, Node azure-iothub
    "2020-09-30", // Node azure-iothub digital twins (PnP), C service client
    "2020-03-13", // Python azure-iot-hub, .NET Azure.IoT.Hub.Service
    "2019-03-30", // older .NET / Java releases
    "2018-06-30", // older Java / Node releases
];

#[tokio::test]
async fn iothub_serves_the_sdk_versions() {
    for v in IOTHUB_SDK_VERSIONS {
        assert!(IOTHUB_API_VERSIONS.contains(&v), "{v}");
    }
    let hub = Hub::start().await;
    hub.create_device("d1").await;
    for v in IOTHUB_API_VERSIONS {
        let r = hub
            .client
            .get(format!("{}/twins/d1?api-version={v}", hub.base))
            .header("authorization", &hub.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{v}");
        let twin: serde_json::Value = r.json().await.unwrap();
        assert_eq!(twin["deviceId"], json!("d1"), "{v}");
    }
}

#[tokio::test]
async fn iothub_unknown_versions_get_invalid_protocol_version() {
    let hub = Hub::start().await;
    hub.create_device("d1").await;
    for v in ["1999-01-01", "2023-10-31", "latest", "2016-02-03"] {
        let r = hub
            .client
            .get(format!("{}/twins/d1?api-version={v}", hub.base))
            .header("authorization", &hub.token)
            .send()
            .await
            .unwrap();
        let msg = expect_error(r, 400, "InvalidProtocolVersion").await;
        assert!(msg.contains(v), "{msg}");
    }
    let r = hub
        .client
        .get(format!("{}/twins/d1", hub.base))
        .header("authorization", &hub.token)
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "InvalidProtocolVersion").await;
}
