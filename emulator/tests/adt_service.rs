//! Auth, api-version, event routes, import jobs and delete jobs of the emulated Azure Digital Twins instance.

mod adt_support;

use adt_support::{API, Adt};
use serde_json::json;

/// GET `url` with an optional `authorization` header, and nothing else the helpers add.
async fn get_with(
    http: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    auth: Option<&str>,
) -> reqwest::Response {
    let req = http.get(url);
    let req = match auth {
        Some(a) => req.header("authorization", a),
        None => req,
    };
    req.send().await.unwrap()
}

#[tokio::test]
async fn bearer_token_required_and_checked() {
    let adt = Adt::start_with(Some("s3cret")).await;
    let url = adt.url("/models");
    let r = get_with(&adt.http, &url, None).await;
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers().get("x-ms-error-code").unwrap(), "Unauthorized");
    assert_eq!(r.headers().get("www-authenticate").unwrap(), "Bearer");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["message"].is_string());
    for wrong in ["Bearer wrong", "Basic s3cret"] {
        let r = get_with(&adt.http, &url, Some(wrong)).await;
        assert_eq!(r.status().as_u16(), 401, "{wrong}");
    }
    let r = get_with(&adt.http, &url, Some("Bearer s3cret")).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(!r.text().await.unwrap().contains("s3cret"));
    // without a configured token any bearer token works, but one is still required
    let open = Adt::start().await;
    let r = get_with(&open.http, open.url("/models"), None).await;
    assert_eq!(r.status().as_u16(), 401);
    let r = get_with(&open.http, open.url("/models"), Some("Bearer anything")).await;
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn api_version_is_required() {
    let adt = Adt::start().await;
    let auth = format!("Bearer {}", adt.token);
    let r = get_with(&adt.http, format!("{}/models", adt.base), Some(&auth)).await;
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.headers().get("x-ms-error-code").unwrap(),
        "MissingApiVersionParameter"
    );
    let r = get_with(
        &adt.http,
        format!("{}/models?api-version=2019-01-01", adt.base),
        Some(&auth),
    )
    .await;
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.headers().get("x-ms-error-code").unwrap(),
        "UnsupportedApiVersion"
    );
    adt.get("/no/such/route")
        .await
        .assert_error(404, "NotFound");
}

#[tokio::test]
async fn event_routes_crud_and_paging() {
    let adt = Adt::start().await;
    let filter = "$eventType = 'DigitalTwinTelemetryMessages' or $eventType = 'DigitalTwinLifecycleNotification'";
    for i in 0..7 {
        let r = adt
            .put(
                &format!("/eventroutes/route{i}"),
                &json!({"endpointName": "hub", "filter": filter}),
            )
            .await;
        r.assert_status(204);
        assert!(r.text.is_empty());
    }
    let g = adt.get("/eventroutes/route3").await;
    g.assert_status(200);
    assert_eq!(
        g.body,
        json!({"id": "route3", "endpointName": "hub", "filter": filter})
    );
    let mut url = adt.url("/eventroutes");
    let mut ids = Vec::new();
    loop {
        let r = adt
            .send_url("GET", &url, None, &[("max-items-per-page", "2")])
            .await;
        r.assert_status(200);
        ids.extend(
            r.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_string()),
        );
        match r.body["nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!(ids.len(), 7);
    adt.put("/eventroutes/bad", &json!({"filter": "true"}))
        .await
        .assert_error(400, "InvalidArgument");
    adt.put(
        "/eventroutes/bad",
        &json!({"endpointName": "", "filter": "true"}),
    )
    .await
    .assert_error(400, "InvalidArgument");
    adt.put("/eventroutes/bad", &json!({"endpointName": "hub"}))
        .await
        .assert_error(400, "InvalidArgument");
    adt.put(
        "/eventroutes/bad",
        &json!({"endpointName": "hub", "filter": "  "}),
    )
    .await
    .assert_error(400, "InvalidArgument");
    adt.put(
        "/eventroutes/bad",
        &json!({"endpointName": "hub", "filter": "($eventType = 'x'"}),
    )
    .await
    .assert_error(400, "InvalidArgument");
    adt.delete("/eventroutes/route3").await.assert_status(204);
    adt.get("/eventroutes/route3")
        .await
        .assert_error(404, "EventRouteNotFound");
    adt.delete("/eventroutes/route3")
        .await
        .assert_error(404, "EventRouteNotFound");
}

async fn wait_status(adt: &Adt, path: &str, want: &str) -> serde_json::Value {
    loop {
        let r = adt.get(path).await;
        r.assert_status(200);
        if r.body["status"] == want {
            return r.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn import_job_lifecycle() {
    let adt = Adt::start().await;
    let p = "/jobs/imports/job1";
    adt.get(p).await.assert_error(404, "JobNotFound");
    let body = json!({"inputBlobUri": "https://acct.blob.core.windows.net/c/in.ndjson", "outputBlobUri": "https://acct.blob.core.windows.net/c/out.ndjson"});
    let r = adt.put(p, &body).await;
    r.assert_status(201);
    assert_eq!(r.body["status"], "notstarted");
    assert_eq!(r.body["id"], "job1");
    for f in [
        "createdDateTime",
        "lastActionDateTime",
        "purgeDateTime",
        "inputBlobUri",
        "outputBlobUri",
    ] {
        assert!(r.body[f].is_string(), "{f}");
    }
    adt.put(p, &body)
        .await
        .assert_error(409, "JobAlreadyExists");
    adt.put(
        "/jobs/imports/job2",
        &json!({"inputBlobUri": "nope", "outputBlobUri": "https://a/b"}),
    )
    .await
    .assert_error(400, "InvalidArgument");
    adt.put(
        "/jobs/imports/job2",
        &json!({"inputBlobUri": "https://a/b"}),
    )
    .await
    .assert_error(400, "InvalidArgument");
    // The emulator reaches storage on loopback only (tests/storage_jobs.rs imports through
    // Azurite): a job naming another host fails with a reason that names no SAS.
    let done = wait_status(&adt, p, "failed").await;
    assert!(done["finishedDateTime"].is_string());
    assert_eq!(done["error"]["code"], "NonLoopbackStorage", "{done}");
    // cancel on a finished job returns it unchanged
    let c = adt.post("/jobs/imports/job1/cancel", &json!({})).await;
    c.assert_status(200);
    assert_eq!(c.body, done);
    // cancel a fresh job: cancelled unless it already finished (then returned unchanged); a cancelled job stays so
    adt.put("/jobs/imports/job3", &body)
        .await
        .assert_status(201);
    let c = adt
        .send("POST", "/jobs/imports/job3/cancel", None, &[])
        .await;
    c.assert_status(200);
    let status = c.body["status"].as_str().unwrap().to_string();
    assert!(status == "cancelled" || status == "failed", "{status}");
    let wait_past_steps = adt.put("/jobs/imports/job4", &body).await;
    wait_status(&adt, "/jobs/imports/job4", "failed").await;
    assert_eq!(wait_past_steps.status, 201);
    assert_eq!(
        adt.get("/jobs/imports/job3").await.body["status"],
        json!(status)
    );
    let list = adt.get("/jobs/imports").await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 3);
    assert_eq!(list.body["nextLink"], json!(null));
    let page = adt
        .send("GET", "/jobs/imports", None, &[("max-items-per-page", "1")])
        .await;
    assert!(page.body["nextLink"].as_str().is_some());
    adt.delete(p).await.assert_status(204);
    adt.get(p).await.assert_error(404, "JobNotFound");
    adt.delete(p).await.assert_error(404, "JobNotFound");
    adt.send("POST", "/jobs/imports/job1/cancel", None, &[])
        .await
        .assert_error(404, "JobNotFound");
}

#[tokio::test]
async fn delete_job_removes_everything() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    adt.room("a", 1.0).await;
    adt.room("b", 1.0).await;
    adt.relate("a", "ab", "adjacent", "b").await;
    let r = adt
        .send(
            "POST",
            "/jobs/deletions",
            None,
            &[("operation-id", "del-1")],
        )
        .await;
    r.assert_status(202);
    let loc = r.header("operation-location").unwrap().to_string();
    assert_eq!(
        loc,
        format!("{}/jobs/deletions/del-1?api-version={API}", adt.base)
    );
    assert_eq!(r.body["id"], "del-1");
    assert_eq!(r.body["status"], "notstarted");
    loop {
        let g = adt.send_url("GET", &loc, None, &[]).await;
        g.assert_status(200);
        if g.body["status"] == "succeeded" {
            assert!(g.body["finishedDateTime"].is_string());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    adt.assert_get_errors(&[
        ("/digitaltwins/a", 404, "DigitalTwinNotFound"),
        ("/models/dtmi:test:Room;1", 404, "ModelNotFound"),
    ])
    .await;
    assert_eq!(adt.get("/models").await.body["value"], json!([]));
    let list = adt.get("/jobs/deletions").await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 1);
    adt.send(
        "POST",
        "/jobs/deletions",
        None,
        &[("operation-id", "del-1")],
    )
    .await
    .assert_error(409, "JobAlreadyExists");
    adt.send("POST", "/jobs/deletions?timeoutInMinutes=2", None, &[])
        .await
        .assert_error(400, "InvalidArgument");
    let r = adt
        .send("POST", "/jobs/deletions?timeoutInMinutes=60", None, &[])
        .await;
    r.assert_status(202);
    assert!(r.body["id"].as_str().is_some_and(|s| s.len() == 36));
    adt.get("/jobs/deletions/none")
        .await
        .assert_error(404, "JobNotFound");
}
