//! Import and export jobs through Azure Storage, against a real Azurite (testsupport/azurite.rs).

#[path = "../../testsupport/azurite.rs"]
mod azurite;

use azurite::Azurite;

/// The launcher itself: service SAS URLs it signs are accepted by Azurite for write and read.
#[tokio::test]
async fn launcher_service_sas_round_trip() {
    let store = Azurite::start().await;
    store.create_container("smoke").await;
    let http = reqwest::Client::new();
    let put = http
        .put(store.blob_sas_url("smoke", "dir/a b.txt"))
        .header("x-ms-blob-type", "BlockBlob")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201, "{}", put.text().await.unwrap());
    let list = http
        .get(format!(
            "{}&restype=container&comp=list",
            store.container_sas_url("smoke")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status().as_u16(), 200);
    assert!(
        list.text()
            .await
            .unwrap()
            .contains("<Name>dir/a b.txt</Name>")
    );
    assert_eq!(
        store
            .read_blob_string("smoke", "dir/a b.txt")
            .await
            .as_deref(),
        Some("hello")
    );
    assert_eq!(
        store.list_blobs("smoke").await,
        vec!["dir/a b.txt".to_owned()]
    );
    assert_eq!(store.read_blob("smoke", "missing").await, None);
    // a read-only SAS cannot write
    let denied = http
        .put(store.blob_sas_url_with("smoke", "x", "r"))
        .header("x-ms-blob-type", "BlockBlob")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status().as_u16(), 403);
}

mod adt_support;

use adt_support::Adt;
use serde_json::{Value, json};

/// The NDJSON lines of a file, parsed.
fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// An NDJSON body from values (one compact JSON per line).
fn lines(values: &[Value]) -> String {
    values.iter().map(|v| format!("{v}\n")).collect()
}

async fn wait_adt_job(adt: &Adt, id: &str) -> Value {
    loop {
        let r = adt.get(&format!("/jobs/imports/{id}")).await;
        r.assert_status(200);
        let s = r.body["status"].as_str().unwrap().to_string();
        if s != "notstarted" && s != "running" && s != "cancelling" {
            return r.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn header() -> Vec<Value> {
    vec![
        json!({"Section": "Header"}),
        json!({"fileVersion": "1.0.0", "author": "tests", "organization": "contoso"}),
    ]
}

fn floor_model() -> Value {
    json!({"@id": "dtmi:imp:Floor;1", "@type": "Interface", "@context": "dtmi:dtdl:context;2",
    "contents": [
        {"@type": "Property", "name": "level", "schema": "integer"},
        {"@type": "Relationship", "name": "has", "target": "dtmi:imp:Room;1",
         "properties": [{"@type": "Property", "name": "since", "schema": "string"}]}
    ]})
}

fn room_model() -> Value {
    json!({"@id": "dtmi:imp:Room;1", "@type": "Interface", "@context": "dtmi:dtdl:context;2",
        "contents": [{"@type": "Property", "name": "temperature", "schema": "double"}]})
}

/// The `details` of the log lines, with timestamp/jobId/jobType checked on every line.
fn log_details(log: &str, job: &str) -> Vec<Value> {
    ndjson(log)
        .into_iter()
        .map(|l| {
            assert_eq!(l["jobId"], job, "{l}");
            assert_eq!(l["jobType"], "Import", "{l}");
            assert!(l["timestamp"].as_str().unwrap().ends_with('Z'), "{l}");
            let t = l["logType"].as_str().unwrap().to_string();
            let mut d = l["details"].clone();
            d["logType"] = json!(t);
            d
        })
        .collect()
}

/// A full file: header, models, twins and a relationship are imported with their values, and
/// the output log (an append blob) says each section started and succeeded.
#[tokio::test]
async fn adt_import_all_sections() {
    let store = Azurite::start().await;
    store.create_container("adt").await;
    let mut file = header();
    file.extend([
        json!({"Section": "Models"}),
        floor_model(),
        room_model(),
        json!({"Section": "Twins"}),
        json!({"$dtId": "floor1", "$metadata": {"$model": "dtmi:imp:Floor;1"}, "level": 3}),
        json!({"$dtId": "room1", "$metadata": {"$model": "dtmi:imp:Room;1"}, "temperature": 21.5}),
        json!({"Section": "Relationships"}),
        json!({"$dtId": "floor1", "$relationshipId": "r1", "$targetId": "room1",
               "$relationshipName": "has", "since": "2020"}),
    ]);
    // CRLF endings and a blank line are accepted.
    let body = lines(&file).replace('\n', "\r\n") + "\r\n";
    store.put_blob("adt", "in/graph.ndjson", body).await;
    let adt = Adt::start().await;
    let r = adt
        .put(
            "/jobs/imports/full",
            &json!({"inputBlobUri": store.blob_sas_url("adt", "in/graph.ndjson"),
                    "outputBlobUri": store.blob_sas_url("adt", "out/full.log")}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["status"], "notstarted");
    let job = wait_adt_job(&adt, "full").await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(job["finishedDateTime"].is_string());
    assert!(job.get("error").is_none(), "{job}");

    let m = adt.get("/models/dtmi:imp:Floor;1").await;
    m.assert_status(200);
    assert_eq!(m.body["id"], "dtmi:imp:Floor;1");
    let f = adt.get("/digitaltwins/floor1").await;
    f.assert_status(200);
    assert_eq!(f.body["level"], 3);
    assert_eq!(f.body["$metadata"]["$model"], "dtmi:imp:Floor;1");
    assert!(f.body["$etag"].as_str().unwrap().starts_with("W/\""));
    let room = adt.get("/digitaltwins/room1").await;
    assert_eq!(room.body["temperature"], 21.5);
    let rel = adt.get("/digitaltwins/floor1/relationships/r1").await;
    rel.assert_status(200);
    assert_eq!(rel.body["$targetId"], "room1");
    assert_eq!(rel.body["$sourceId"], "floor1");
    assert_eq!(rel.body["$relationshipName"], "has");
    assert_eq!(rel.body["since"], "2020");
    let incoming = adt.get("/digitaltwins/room1/incomingrelationships").await;
    assert_eq!(incoming.body["value"][0]["$sourceId"], "floor1");

    assert_eq!(
        store.blob_type("adt", "out/full.log").await.as_deref(),
        Some("AppendBlob")
    );
    let log = store.read_blob_string("adt", "out/full.log").await.unwrap();
    let expect: Vec<Value> = [
        json!({"status": "Started"}),
        json!({"section": "Models", "status": "Started"}),
        json!({"section": "Models", "status": "Succeeded"}),
        json!({"section": "Twins", "status": "Started"}),
        json!({"section": "Twins", "status": "Succeeded"}),
        json!({"section": "Relationships", "status": "Started"}),
        json!({"section": "Relationships", "status": "Succeeded"}),
        json!({"status": "Succeeded"}),
    ]
    .into_iter()
    .map(|mut d| {
        d["logType"] = json!("Info");
        d
    })
    .collect();
    assert_eq!(log_details(&log, "full"), expect);
}

/// A line that is not JSON, a twin of an unknown model and an invalid property are logged
/// (Error lines with section, line number, code); the other lines are imported; the job ends
/// `failed` with `ImportFailed`.
#[tokio::test]
async fn adt_import_bad_lines_are_logged_and_the_rest_imported() {
    let store = Azurite::start().await;
    store.create_container("adt").await;
    let mut body = lines(&header());
    body += &lines(&[
        json!({"Section": "Models"}),
        room_model(),
        json!({"Section": "Twins"}),
    ]);
    body += "{\"$dtId\": \"broken\", \n"; // line 6: not JSON
    body += &lines(&[
        json!({"$dtId": "ghost", "$metadata": {"$model": "dtmi:imp:Nope;1"}}), // line 7
        json!({"$dtId": "hot", "$metadata": {"$model": "dtmi:imp:Room;1"}, "temperature": "hot"}), // 8
        json!({"$dtId": "ok", "$metadata": {"$model": "dtmi:imp:Room;1"}, "temperature": 19.0}), // 9
    ]);
    store.put_blob("adt", "bad.ndjson", body).await;
    let adt = Adt::start().await;
    adt.put(
        "/jobs/imports/bad",
        &json!({"inputBlobUri": store.blob_sas_url("adt", "bad.ndjson"),
                "outputBlobUri": store.blob_sas_url("adt", "bad.log")}),
    )
    .await
    .assert_status(201);
    let job = wait_adt_job(&adt, "bad").await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "ImportFailed", "{job}");
    let msg = job["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("3 line(s)"), "{msg}");
    assert!(!msg.contains("sig="), "no SAS in messages: {msg}");
    assert_eq!(adt.get("/digitaltwins/ok").await.body["temperature"], 19.0);
    adt.get("/digitaltwins/ghost")
        .await
        .assert_error(404, "DigitalTwinNotFound");
    adt.get("/digitaltwins/hot")
        .await
        .assert_error(404, "DigitalTwinNotFound");

    let log = store.read_blob_string("adt", "bad.log").await.unwrap();
    let details = log_details(&log, "bad");
    let errors: Vec<(u64, String)> = details
        .iter()
        .filter(|d| d["logType"] == "Error")
        .map(|d| {
            assert_eq!(d["section"], "Twins", "{d}");
            (
                d["line"].as_u64().unwrap(),
                d["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (6, "InvalidArgument".to_string()),
            (7, "ModelNotFound".to_string()),
            (8, "ValidationFailed".to_string()),
        ]
    );
    let ghost = details.iter().find(|d| d["line"] == 7).unwrap();
    assert!(
        ghost["message"]
            .as_str()
            .unwrap()
            .contains("dtmi:imp:Nope;1"),
        "{ghost}"
    );
    assert_eq!(
        details[details.len() - 2],
        json!({"section": "Twins", "status": "Failed", "logType": "Info"})
    );
    assert_eq!(
        details.last().unwrap(),
        &json!({"status": "Failed", "logType": "Info"})
    );
}

/// A missing input blob fails the job with the storage error (and logs it); a file without
/// the Header section and a rejected Models section stop the job too.
#[tokio::test]
async fn adt_import_fatal_failures() {
    let store = Azurite::start().await;
    store.create_container("adt").await;
    let adt = Adt::start().await;
    let start = async |id: &str, input: &str| {
        adt.put(
            &format!("/jobs/imports/{id}"),
            &json!({"inputBlobUri": store.blob_sas_url("adt", input),
                    "outputBlobUri": store.blob_sas_url("adt", &format!("{id}.log"))}),
        )
        .await
        .assert_status(201);
        wait_adt_job(&adt, id).await
    };

    let job = start("missing", "nothing-here.ndjson").await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "BlobNotFound", "{job}");
    let msg = job["error"]["message"].as_str().unwrap();
    assert!(msg.contains("/adt/nothing-here.ndjson"), "{msg}");
    assert!(!msg.contains("sig="), "{msg}");
    let log = store.read_blob_string("adt", "missing.log").await.unwrap();
    let d = log_details(&log, "missing");
    assert_eq!(d[1]["logType"], "Error");
    assert_eq!(d[1]["code"], "BlobNotFound");
    assert_eq!(d.last().unwrap()["status"], "Failed");

    store
        .put_blob(
            "adt",
            "noheader.ndjson",
            lines(&[json!({"Section": "Twins"})]),
        )
        .await;
    let job = start("noheader", "noheader.ndjson").await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["code"], "InvalidFileFormat");

    // Sections out of order.
    let mut f = header();
    f.extend([json!({"Section": "Twins"}), json!({"Section": "Models"})]);
    store.put_blob("adt", "order.ndjson", lines(&f)).await;
    let job = start("order", "order.ndjson").await;
    assert_eq!(job["error"]["code"], "InvalidFileFormat", "{job}");

    // A model referring to an unknown one: the Models section (all or nothing) is rejected,
    // nothing is stored and the twins after it are not attempted.
    let mut f = header();
    f.extend([
        json!({"Section": "Models"}),
        room_model(),
        floor_model()
            .as_object()
            .cloned()
            .map(|mut m| {
                m.insert("@id".into(), json!("dtmi:imp:Floor2;1"));
                m.insert("extends".into(), json!("dtmi:imp:Unknown;1"));
                Value::Object(m)
            })
            .unwrap(),
        json!({"Section": "Twins"}),
        json!({"$dtId": "never", "$metadata": {"$model": "dtmi:imp:Room;1"}}),
    ]);
    store.put_blob("adt", "models.ndjson", lines(&f)).await;
    let job = start("models", "models.ndjson").await;
    assert_eq!(job["status"], "failed", "{job}");
    adt.get("/models/dtmi:imp:Room;1")
        .await
        .assert_error(404, "ModelNotFound");
    adt.get("/digitaltwins/never")
        .await
        .assert_error(404, "DigitalTwinNotFound");
    let log = store.read_blob_string("adt", "models.log").await.unwrap();
    let d = log_details(&log, "models");
    let err = d.iter().find(|d| d["logType"] == "Error").unwrap();
    assert_eq!(err["section"], "Models");
    assert_eq!(err["code"], job["error"]["code"]);
}
