//! Twin queries against the emulator: many pages, projections, page boundaries, resuming from
//! a serialised continuation, clean end of stream, and errors.

mod iothub_support;

use azure_twins::iothub::{BulkOperation, Device, Twin};
use azure_twins::{Continuation, ErrorKind};
use azure_twins_emulator::{Fault, FaultRule};
use futures::{StreamExt, TryStreamExt};
use iothub_support::{CaptureServer, Scripted, invalid_field, start};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeSet;

async fn seed(hub: &azure_twins::IotHubClient, n: usize) {
    let ops: Vec<_> = (0..n)
        .map(|i| BulkOperation::create(Device::new(format!("q-{i:03}"))))
        .collect();
    for chunk in ops.chunks(100) {
        let r = hub.bulk_registry(chunk.to_vec()).send().await.unwrap();
        assert_eq!(r.is_successful, Some(true), "{r:?}");
    }
    for i in (0..n).step_by(2) {
        hub.update_twin(format!("q-{i:03}"))
            .tags(json!({ "even": true }))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn query_follows_continuations_across_many_pages() {
    let (_emu, hub) = start().await;
    seed(&hub, 57).await;
    let twins: Vec<Twin> = hub
        .query("SELECT * FROM devices")
        .page_size(5)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    let ids: BTreeSet<_> = twins.iter().map(|t| t.device_id.clone()).collect();
    assert_eq!(twins.len(), 57);
    assert_eq!(ids.len(), 57, "no duplicates");

    // The opt-in de-duplication keys real twins by device id (the emulator's key-ordered twin
    // paging repeats nothing, so nothing is dropped here; real repeats served across a page
    // boundary are dropped in digitaltwins_client.rs, offset-paged JOIN query).
    let mut unique = hub
        .query("SELECT * FROM devices")
        .page_size(5)
        .into_stream()
        .dedup_by_key(|t: &Twin| t.device_id.clone());
    let mut n = 0;
    while unique.try_next().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!((n, unique.duplicates_dropped()), (57, 0));

    // Page boundaries: 12 pages of at most 5, the last without a continuation.
    let pages: Vec<_> = hub
        .query("SELECT * FROM devices WHERE tags.even = true")
        .page_size(5)
        .into_stream()
        .into_pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 6);
    assert!(pages.iter().all(|p| p.items().len() <= 5));
    assert_eq!(pages.iter().map(|p| p.items().len()).sum::<usize>(), 29);
    assert!(pages.last().unwrap().continuation().is_none());
    assert!(pages[0].continuation().is_some());
    assert_eq!(pages[0].item_type(), Some("Twin"));
}

#[tokio::test]
async fn resume_from_a_serialised_continuation() {
    let (emu, hub) = start().await;
    seed(&hub, 23).await;
    let mut pages = hub
        .query("SELECT * FROM devices")
        .page_size(4)
        .into_stream()
        .into_pages();
    let mut first: Vec<String> = Vec::new();
    for _ in 0..2 {
        let p = pages.next().await.unwrap().unwrap();
        first.extend(p.items().iter().map(|t| t.device_id.clone()));
    }
    // Save as JSON and as a token string, as a web app or another process would.
    let saved = pages.continuation().unwrap();
    drop(pages);
    let json_form = serde_json::to_string(&saved).unwrap();
    let token = saved.to_token_string();

    let from_json: Continuation = serde_json::from_str(&json_form).unwrap();
    let rest: Vec<Twin> = hub
        .query("SELECT * FROM devices")
        .continue_from(from_json)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    let rest_ids: Vec<String> = rest.iter().map(|t| t.device_id.clone()).collect();
    assert_eq!(first.len() + rest_ids.len(), 23);
    let all: BTreeSet<_> = first.iter().chain(rest_ids.iter()).cloned().collect();
    assert_eq!(all.len(), 23, "resumed exactly where it stopped");
    // By value, each twin once: the first pages and the resumed rest never overlap.
    assert!(rest_ids.iter().all(|id| !first.contains(id)));
    let mut ids: Vec<_> = all.into_iter().collect();
    ids.sort();
    assert_eq!(
        ids,
        (0..23).map(|i| format!("q-{i:03}")).collect::<Vec<_>>()
    );

    // The token form resumes the same way, with the stored page size.
    let mut pages = hub
        .query("SELECT * FROM devices")
        .continue_from(Continuation::from_token_string(&token).unwrap())
        .into_stream()
        .into_pages();
    let p = pages.next().await.unwrap().unwrap();
    assert_eq!(p.items().len(), 4);
    assert_eq!(p.items()[0].device_id, rest_ids[0]);

    // Continuing a different query with it is refused before anything is sent: a pending
    // fault would hit the next request that reached the emulator, and stays pending.
    emu.faults()
        .inject(FaultRule::new(Fault::ServiceUnavailable, 1));
    for other in [
        "SELECT * FROM devices.modules",
        "SELECT * FROM devices WHERE tags.even = true",
        "select * from devices",
    ] {
        let err = hub
            .query(other)
            .continue_from(Continuation::from_token_string(&token).unwrap())
            .into_stream()
            .next()
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(invalid_field(&err), "continuation", "{other}: {err}");
        assert!(err.to_string().contains("different query"), "{err}");
    }
    // A jobs listing continuation is not a twin query either.
    let jobs: Continuation = serde_json::from_value(
        json!({"kind": "iot_hub_query", "query": "jobs/v2/query?jobType=x", "token": "t"}),
    )
    .unwrap();
    let err = hub
        .query("SELECT * FROM devices")
        .continue_from(jobs)
        .into_stream()
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(invalid_field(&err), "continuation");
    assert_eq!(emu.faults().pending(), 1, "nothing reached the emulator");
    assert_eq!(emu.faults().injected(), 0);
    emu.faults().clear();
}

#[tokio::test]
async fn projections_aggregates_and_module_twins() {
    let (_emu, hub) = start().await;
    seed(&hub, 6).await;
    hub.create_module("q-000", "m1").send().await.unwrap();
    hub.create_module("q-001", "m1").send().await.unwrap();

    #[derive(Deserialize)]
    struct Row {
        #[serde(rename = "deviceId")]
        id: String,
    }
    let rows: Vec<Row> = hub
        .query("SELECT deviceId FROM devices WHERE tags.even = true")
        .into_stream_as()
        .try_collect()
        .await
        .unwrap();
    let ids: BTreeSet<_> = rows.into_iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        ["q-000", "q-002", "q-004"]
            .into_iter()
            .map(String::from)
            .collect()
    );

    let counts: Vec<serde_json::Value> = hub
        .query("SELECT COUNT() AS n FROM devices")
        .into_stream_as()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(counts, vec![json!({ "n": 6 })]);

    let modules: Vec<Twin> = hub
        .query("SELECT * FROM devices.modules WHERE moduleId = 'm1'")
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(modules.len(), 2);
    assert!(modules.iter().all(|t| t.module_id.as_deref() == Some("m1")));
}

#[tokio::test]
async fn empty_results_and_clean_end() {
    let (_emu, hub) = start().await;
    let mut s = hub.query("SELECT * FROM devices").into_stream();
    assert!(s.next().await.is_none());
    assert!(s.next().await.is_none(), "stays finished");
    assert!(s.is_done());
    assert!(s.continuation().is_none());
}

#[tokio::test]
async fn query_errors() {
    let (_emu, hub) = start().await;
    let err = hub
        .query("SELEC * FROM devices")
        .into_stream()
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400), "{err:?}");
    assert!(err.error_code().is_some());

    // Local checks: nothing sent.
    let server = CaptureServer::start().await;
    let local = server.client();
    for (q, page) in [("", None), (" ", None), ("SELECT * FROM devices", Some(0))] {
        let mut b = local.query(q);
        if let Some(p) = page {
            b = b.page_size(p);
        }
        let err = b.into_stream().next().await.unwrap().unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "{err:?}"
        );
    }
    let long = format!(
        "SELECT * FROM devices WHERE deviceId = '{}'",
        "x".repeat(8200)
    );
    let err = local
        .query(long)
        .into_stream()
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(invalid_field(&err), "query");
    assert_eq!(server.count(), 0);
}

/// What goes on the wire for each page: the same body, page size and the previous token.
#[tokio::test]
async fn wire_shape_of_paged_queries() {
    let server = CaptureServer::start().await;
    let hub = server.client();
    server.push(Scripted {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-ms-continuation".into(), "tok-1".into()),
            ("x-ms-item-type".into(), "Twin".into()),
        ],
        body: br#"[{"deviceId":"a","etag":"AAAAAAAAAAE="}]"#.to_vec(),
    });
    server.push(Scripted {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"[{"deviceId":"b"}]"#.to_vec(),
    });
    let twins: Vec<Twin> = hub
        .query("SELECT * FROM devices")
        .page_size(1)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(twins.len(), 2);
    let c = server.captured();
    assert_eq!(c.len(), 2);
    for r in &c {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/devices/query");
        assert_eq!(r.query_param("api-version").as_deref(), Some("2021-04-12"));
        assert_eq!(r.json(), json!({ "query": "SELECT * FROM devices" }));
        assert_eq!(r.header("x-ms-max-item-count").as_deref(), Some("1"));
    }
    assert_eq!(c[0].header("x-ms-continuation"), None);
    assert_eq!(c[1].header("x-ms-continuation").as_deref(), Some("tok-1"));
}
