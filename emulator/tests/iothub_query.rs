//! `POST /devices/query`: filters, projections, COUNT, modules, jobs, paging and syntax errors.

mod iothub_support;

use iothub_support::{Hub, expect_error};
use reqwest::Method;
use serde_json::{Value, json};

async fn query(
    hub: &Hub,
    q: &str,
    page: Option<usize>,
    cont: Option<&str>,
) -> (Value, Option<String>, String) {
    let mut r = hub
        .req(Method::POST, "/devices/query")
        .json(&json!({"query": q}));
    if let Some(p) = page {
        r = r.header("x-ms-max-item-count", p.to_string());
    }
    if let Some(c) = cont {
        r = r.header("x-ms-continuation", c);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200, "{q}");
    let cont = r
        .headers()
        .get("x-ms-continuation")
        .map(|v| v.to_str().unwrap().to_string());
    let item_type = r.headers()["x-ms-item-type"].to_str().unwrap().to_string();
    (r.json().await.unwrap(), cont, item_type)
}

async fn seed(hub: &Hub) {
    for i in 0..7 {
        let id = format!("q{i}");
        hub.create_device(&id).await;
        let site = if i % 2 == 0 { "north" } else { "south" };
        hub.patch_twin(&id, &json!({"tags": {"site": site, "n": i}, "properties": {"desired": {"fw": format!("1.{i}")}}})).await;
    }
    hub.create_module("q0", "sensor").await;
    hub.create_module("q1", "sensor").await;
}

/// The `deviceId` of every row of a query result.
fn device_ids(rows: &Value) -> Vec<&str> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["deviceId"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn filters_projections_and_counts() {
    let hub = Hub::start().await;
    seed(&hub).await;
    let (rows, cont, ty) = query(
        &hub,
        "SELECT * FROM devices WHERE tags.site = 'north'",
        None,
        None,
    )
    .await;
    assert_eq!(ty, "Twin");
    assert!(cont.is_none());
    let ids = device_ids(&rows);
    assert_eq!(ids, vec!["q0", "q2", "q4", "q6"]);
    assert_eq!(rows[0]["etag"], "AAAAAAAAAAI=");

    let (rows, _, _) = query(&hub, "select * from devices where tags.n >= 2 AND NOT (tags.site = 'south') OR deviceId IN ['q1']", None, None).await;
    let ids = device_ids(&rows);
    assert_eq!(ids, vec!["q1", "q2", "q4", "q6"]);

    let (rows, _, ty) = query(
        &hub,
        "SELECT deviceId, tags.site FROM devices WHERE properties.desired.fw = '1.3'",
        None,
        None,
    )
    .await;
    assert_eq!(ty, "Raw");
    assert_eq!(rows, json!([{"deviceId": "q3", "site": "south"}]));

    let (rows, _, _) = query(
        &hub,
        "SELECT COUNT() AS n FROM devices WHERE IS_DEFINED(tags.site)",
        None,
        None,
    )
    .await;
    assert_eq!(rows, json!([{"n": 7}]));
    let (rows, _, _) = query(
        &hub,
        "SELECT COUNT() AS n, tags.site FROM devices GROUP BY tags.site",
        None,
        None,
    )
    .await;
    let mut groups: Vec<(String, u64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["site"].as_str().unwrap().to_string(),
                r["n"].as_u64().unwrap(),
            )
        })
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        vec![("north".to_string(), 4), ("south".to_string(), 3)]
    );

    let (rows, _, ty) = query(
        &hub,
        "SELECT * FROM devices.modules WHERE moduleId = 'sensor'",
        None,
        None,
    )
    .await;
    assert_eq!(ty, "Twin");
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["moduleId"], "sensor");

    let (rows, _, _) = query(&hub, "SELECT TOP 2 * FROM devices", None, None).await;
    assert_eq!(rows.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn paging_with_continuation() {
    let hub = Hub::start().await;
    seed(&hub).await;
    let mut all = Vec::new();
    let mut cont: Option<String> = None;
    let mut pages = 0;
    loop {
        let (rows, next, _) = query(&hub, "SELECT * FROM devices", Some(3), cont.as_deref()).await;
        pages += 1;
        all.extend(
            rows.as_array()
                .unwrap()
                .iter()
                .map(|r| r["deviceId"].as_str().unwrap().to_string()),
        );
        match next {
            Some(c) => cont = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(all, (0..7).map(|i| format!("q{i}")).collect::<Vec<_>>());
    // a token of another query is rejected
    let (_, c, _) = query(&hub, "SELECT * FROM devices", Some(1), None).await;
    let r = hub
        .req(Method::POST, "/devices/query")
        .header("x-ms-continuation", c.unwrap())
        .json(&json!({"query": "SELECT * FROM devices WHERE tags.n > 1"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "ArgumentInvalid").await;
    let r = hub
        .req(Method::POST, "/devices/query")
        .header("x-ms-max-item-count", "0")
        .json(&json!({"query": "SELECT * FROM devices"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "ArgumentInvalid").await;
}

#[tokio::test]
async fn syntax_errors_say_where() {
    let hub = Hub::start().await;
    for q in [
        "SELECT * FORM devices",
        "SELECT * FROM devices WHERE",
        "SELECT * FROM nothing",
        "SELECT * FROM devices WHERE a = 'open",
    ] {
        let r = hub
            .send_json(Method::POST, "/devices/query", &json!({"query": q}))
            .await;
        let msg = expect_error(r, 400, "ArgumentInvalid").await;
        assert!(msg.contains("position"), "{q}: {msg}");
    }
    let r = hub
        .send_json(Method::POST, "/devices/query", &json!({"nope": 1}))
        .await;
    expect_error(r, 400, "ArgumentInvalid").await;
    let long = format!(
        "SELECT * FROM devices WHERE deviceId = '{}'",
        "x".repeat(8200)
    );
    let r = hub
        .send_json(Method::POST, "/devices/query", &json!({"query": long}))
        .await;
    expect_error(r, 400, "ArgumentInvalid").await;
}

/// Every row of `q` in pages of `page`, and how many pages it took.
async fn all_pages(hub: &Hub, q: &str, page: usize) -> (Vec<Value>, usize) {
    let (mut rows, mut pages, mut cont) = (Vec::new(), 0, None::<String>);
    loop {
        let (r, next, _) = query(hub, q, Some(page), cont.as_deref()).await;
        pages += 1;
        rows.extend(r.as_array().unwrap().iter().cloned());
        match next {
            Some(c) => cont = Some(c),
            None => return (rows, pages),
        }
    }
}

#[tokio::test]
async fn paging_resumes_after_the_last_row_returned() {
    let hub = Hub::start().await;
    seed(&hub).await;
    hub.create_module("q0", "aux").await;
    hub.create_module("q5", "sensor").await;
    // modules across devices, one per page: (q0,aux) (q0,sensor) (q1,sensor) (q5,sensor)
    let (rows, pages) = all_pages(&hub, "SELECT * FROM devices.modules", 1).await;
    let ids: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["deviceId"].as_str().unwrap(),
                r["moduleId"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(ids, ["q0/aux", "q0/sensor", "q1/sensor", "q5/sensor"]);
    assert_eq!(pages, 4);
    // TOP ending exactly on a page boundary: no continuation after the last page
    let (rows, pages) = all_pages(&hub, "SELECT TOP 4 * FROM devices", 2).await;
    assert_eq!((rows.len(), pages), (4, 2));
    // a filter that leaves the last page short
    let (rows, pages) = all_pages(&hub, "SELECT deviceId FROM devices WHERE tags.n >= 2", 2).await;
    assert_eq!((rows.len(), pages), (5, 3));
    assert_eq!(rows[0], json!({"deviceId": "q2"}));
    // a device deleted between pages does not shift the next page
    let (first, cont, _) = query(&hub, "SELECT * FROM devices", Some(3), None).await;
    assert_eq!(first[2]["deviceId"], "q2");
    let r = hub
        .send_if_match(Method::DELETE, "/devices/q1", "*", None)
        .await;
    assert_eq!(r.status(), 204);
    let (second, _, _) = query(&hub, "SELECT * FROM devices", Some(3), cont.as_deref()).await;
    assert_eq!(second[0]["deviceId"], "q3");
}
