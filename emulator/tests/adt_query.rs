//! `POST /query` of the emulated Azure Digital Twins instance, over real loopback sockets.

mod adt_support;

use adt_support::{Adt, Resp};
use serde_json::{Value, json};

async fn q(adt: &Adt, text: &str) -> Resp {
    adt.post("/query", &json!({"query": text})).await
}

async fn rows(adt: &Adt, text: &str) -> Vec<Value> {
    let r = q(adt, text).await;
    r.assert_status(200);
    assert!(
        r.header("query-charge")
            .is_some_and(|c| c.parse::<f64>().is_ok()),
        "query-charge header"
    );
    assert_eq!(r.body["continuationToken"], json!(null));
    r.body["value"].as_array().unwrap().clone()
}

fn ids(rows: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .map(|r| r["$dtId"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

async fn building() -> Adt {
    let adt = Adt::start().await;
    adt.seed_models().await;
    adt.put_twin(
        "floor1",
        &json!({"$metadata": {"$model": "dtmi:test:Floor;1"}, "level": 1}),
    )
    .await;
    adt.put_twin(
        "floor2",
        &json!({"$metadata": {"$model": "dtmi:test:Floor;1"}, "level": 2}),
    )
    .await;
    for (id, t) in [("roomA", 18.0), ("roomB", 22.5), ("roomC", 25.0)] {
        adt.room(id, t).await;
    }
    adt.put_twin(
        "space",
        &json!({"$metadata": {"$model": "dtmi:test:Space;1"}, "name": "hall"}),
    )
    .await;
    adt.put_twin(
        "dev1",
        &json!({"$metadata": {"$model": "dtmi:test:Device;1"}, "serial": "S-1"}),
    )
    .await;
    adt.relate("floor1", "f1a", "hasRoom", "roomA").await;
    adt.relate("floor1", "f1b", "hasRoom", "roomB").await;
    adt.relate("floor2", "f2c", "hasRoom", "roomC").await;
    adt.relate("floor1", "f1s", "hasRoom", "space").await;
    adt.put("/digitaltwins/roomA/relationships/c1", &json!({"$relationshipName": "contains", "$targetId": "dev1", "since": "2024-01-01T00:00:00Z"}))
        .await
        .assert_status(200);
    adt
}

#[tokio::test]
async fn select_star_where_and_functions() {
    let adt = building().await;
    let all = rows(&adt, "SELECT * FROM digitaltwins").await;
    assert_eq!(all.len(), 7);
    assert!(
        all.iter()
            .all(|t| t["$etag"].is_string() && t["$metadata"]["$model"].is_string())
    );
    assert_eq!(
        ids(&rows(
            &adt,
            "SELECT * FROM DIGITALTWINS T WHERE T.temperature > 20"
        )
        .await),
        vec!["roomB", "roomC"]
    );
    assert_eq!(
        ids(&rows(
            &adt,
            "SELECT * FROM DIGITALTWINS WHERE temperature >= 18 AND temperature < 25"
        )
        .await),
        vec!["roomA", "roomB"]
    );
    assert_eq!(
        ids(&rows(
            &adt,
            "SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN ['roomA', 'dev1']"
        )
        .await),
        vec!["dev1", "roomA"]
    );
    assert_eq!(
        ids(&rows(
            &adt,
            "SELECT * FROM DIGITALTWINS T WHERE STARTSWITH(T.$dtId, 'floor')"
        )
        .await),
        vec!["floor1", "floor2"]
    );
    assert_eq!(
        ids(&rows(
            &adt,
            "SELECT * FROM DIGITALTWINS T WHERE IS_DEFINED(T.serial)"
        )
        .await),
        vec!["dev1"]
    );
    assert_eq!(
        ids(&rows(
            &adt,
            "SELECT * FROM DIGITALTWINS T WHERE NOT IS_DEFINED(T.temperature) AND T.level = 2"
        )
        .await),
        vec!["floor2"]
    );
    assert_eq!(
        ids(&rows(
            &adt,
            "SELECT * FROM DIGITALTWINS T WHERE T.level = 1 OR T.serial = 'S-1'"
        )
        .await),
        vec!["dev1", "floor1"]
    );
    // IS_OF_MODEL follows extends: rooms are spaces
    assert_eq!(
        ids(&rows(
            &adt,
            "SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:test:Space;1')"
        )
        .await),
        vec!["roomA", "roomB", "roomC", "space"]
    );
    assert_eq!(
        ids(&rows(
            &adt,
            "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:test:Space;1', exact)"
        )
        .await),
        vec!["space"]
    );
    assert_eq!(
        ids(&rows(
            &adt,
            "SELECT * FROM DIGITALTWINS T WHERE T.$metadata.$model = 'dtmi:test:Floor;1'"
        )
        .await),
        vec!["floor1", "floor2"]
    );
    assert!(
        rows(
            &adt,
            "SELECT * FROM DIGITALTWINS T WHERE T.temperature = 'x'"
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn projections_top_count() {
    let adt = building().await;
    let r = rows(&adt, "SELECT T FROM DIGITALTWINS T WHERE T.$dtId = 'roomA'").await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["T"]["$dtId"], "roomA");
    let r = rows(&adt, "SELECT T.$dtId, T.temperature FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:test:Room;1')").await;
    assert_eq!(r.len(), 3);
    assert!(r.iter().all(|row| row["$dtId"].is_string()
        && row["temperature"].is_number()
        && row.as_object().unwrap().len() == 2));
    // a property missing on a row is left out of that row
    let r = rows(&adt, "SELECT T.$dtId, T.serial FROM DIGITALTWINS T WHERE STARTSWITH(T.$dtId, 'dev') OR T.$dtId = 'space'").await;
    assert_eq!(r.len(), 2);
    assert!(r.iter().any(|row| row.get("serial").is_none()));
    let r = rows(&adt, "SELECT TOP(2) * FROM DIGITALTWINS").await;
    assert_eq!(r.len(), 2);
    let r = rows(
        &adt,
        "SELECT COUNT() FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:test:Room;1')",
    )
    .await;
    assert_eq!(r, vec![json!({"COUNT": 3})]);
    let r = rows(&adt, "SELECT COUNT() FROM RELATIONSHIPS").await;
    assert_eq!(r, vec![json!({"COUNT": 5})]);
}

#[tokio::test]
async fn relationships_and_joins() {
    let adt = building().await;
    let r = rows(
        &adt,
        "SELECT * FROM RELATIONSHIPS R WHERE R.$relationshipName = 'hasRoom'",
    )
    .await;
    assert_eq!(r.len(), 4);
    assert!(
        r.iter()
            .all(|rel| rel["$relationshipId"].is_string() && rel["$sourceId"].is_string())
    );
    let r = rows(
        &adt,
        "SELECT R FROM RELATIONSHIPS R WHERE R.$sourceId = 'roomA'",
    )
    .await;
    assert_eq!(r[0]["R"]["since"], "2024-01-01T00:00:00Z");
    let r = rows(&adt, "SELECT Room FROM DIGITALTWINS Floor JOIN Room RELATED Floor.hasRoom WHERE Floor.$dtId = 'floor1'").await;
    let mut got: Vec<&str> = r
        .iter()
        .map(|x| x["Room"]["$dtId"].as_str().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, vec!["roomA", "roomB", "space"]);
    let r = rows(
        &adt,
        "SELECT F.$dtId, D FROM DIGITALTWINS F JOIN R RELATED F.hasRoom JOIN D RELATED R.contains Rel WHERE Rel.since = '2024-01-01T00:00:00Z'",
    )
    .await;
    assert_eq!(
        r,
        vec![json!({"$dtId": "floor1", "D": adt.get("/digitaltwins/dev1").await.body})]
    );
    let r = rows(&adt, "SELECT R, Rel FROM DIGITALTWINS F JOIN R RELATED F.hasRoom Rel WHERE F.level = 2 AND R.temperature > 20").await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["R"]["$dtId"], "roomC");
    assert_eq!(r[0]["Rel"]["$relationshipId"], "f2c");
    let r = q(
        &adt,
        "SELECT * FROM DIGITALTWINS F JOIN R RELATED F.hasRoom",
    )
    .await;
    r.assert_error(400, "SqlQueryError");
}

#[tokio::test]
async fn paging_across_many_pages() {
    let adt = Adt::start().await;
    adt.seed_models().await;
    for i in 0..53 {
        adt.put_twin(
            &format!("d{i:03}"),
            &json!({"$metadata": {"$model": "dtmi:test:Device;1"}, "serial": format!("{i}")}),
        )
        .await;
    }
    let mut body = json!({"query": "SELECT * FROM DIGITALTWINS"});
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = adt.query_page(&body, "5").await;
        r.assert_status(200);
        assert!(r.header("query-charge").is_some());
        pages += 1;
        let v = r.body["value"].as_array().unwrap();
        assert!(v.len() <= 5);
        seen.extend(v.iter().map(|t| t["$dtId"].as_str().unwrap().to_string()));
        match &r.body["continuationToken"] {
            Value::String(t) => body = json!({"continuationToken": t}),
            Value::Null => break,
            other => panic!("token {other}"),
        }
    }
    assert_eq!(pages, 11);
    let want: Vec<String> = (0..53).map(|i| format!("d{i:03}")).collect();
    assert_eq!(seen, want);
    // TOP across pages
    let r = adt
        .query_page(&json!({"query": "SELECT TOP(7) * FROM DIGITALTWINS"}), "5")
        .await;
    let t = r.body["continuationToken"].as_str().unwrap().to_string();
    let r2 = adt.query_page(&json!({"continuationToken": t}), "5").await;
    assert_eq!(r2.body["value"].as_array().unwrap().len(), 2);
    assert_eq!(r2.body["continuationToken"], json!(null));
    // TOP ending on a page boundary: no token after the last page
    let r = adt
        .query_page(&json!({"query": "SELECT TOP(5) * FROM DIGITALTWINS"}), "5")
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 5);
    assert_eq!(r.body["continuationToken"], json!(null));
    // a twin deleted between pages does not shift the next page
    let r = adt
        .query_page(&json!({"query": "SELECT * FROM DIGITALTWINS"}), "5")
        .await;
    let t = r.body["continuationToken"].as_str().unwrap().to_string();
    adt.delete("/digitaltwins/d001").await.assert_status(204);
    let r2 = adt.query_page(&json!({"continuationToken": t}), "5").await;
    assert_eq!(r2.body["value"][0]["$dtId"], "d005");
}

#[tokio::test]
async fn query_errors() {
    let adt = Adt::start().await;
    for bad in [
        "SELECT",
        "SELECT * FROM",
        "SELECT * FROM devices",
        "SELECT * FROM DIGITALTWINS WHERE",
        "SELEC * FROM DIGITALTWINS",
        "SELECT * FROM DIGITALTWINS T WHERE T.x = 'unterminated",
    ] {
        let r = q(&adt, bad).await;
        r.assert_error(400, "SqlQueryError");
    }
    adt.post("/query", &json!({"continuationToken": "garbage"}))
        .await
        .assert_error(400, "BadRequest");
    adt.post("/query", &json!({}))
        .await
        .assert_error(400, "InvalidArgument");
    adt.post("/query", &json!({"query": 5}))
        .await
        .assert_error(400, "InvalidArgument");
    adt.query_page(&json!({"query": "SELECT * FROM DIGITALTWINS"}), "-1")
        .await
        .assert_error(400, "InvalidArgument");
    let long = format!(
        "SELECT * FROM DIGITALTWINS T WHERE T.x = '{}'",
        "a".repeat(8000)
    );
    q(&adt, &long).await.assert_error(400, "SqlQueryError");
    assert_eq!(
        rows(&adt, "SELECT * FROM DIGITALTWINS").await,
        Vec::<Value>::new()
    );
}
