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

mod iothub_support;

use iothub_support::Hub;
use reqwest::Method;

async fn create_hub_job(hub: &Hub, body: &Value) -> Value {
    let r = hub.send_json(Method::POST, "/jobs/create", body).await;
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "enqueued", "{v}");
    v
}

async fn wait_hub_job(hub: &Hub, id: &str) -> Value {
    loop {
        let (s, v) = hub.get_json(&format!("/jobs/{id}")).await;
        assert_eq!(s, 200, "{v}");
        if v["status"] != "enqueued" && v["status"] != "running" {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Export writes devices.txt (a block blob): one ExportImportDevice per line with the
/// registry's values — identity and twin etags, status, keys, tags, desired properties,
/// capabilities — and, with excludeKeysInExport, null keys in the blob it is told to write.
#[tokio::test]
async fn iothub_export_writes_devices_txt() {
    let store = Azurite::start().await;
    store.create_container("exports").await;
    let hub = Hub::start().await;
    let a = hub.create_device("dev-a").await;
    hub.patch_twin(
        "dev-a",
        &json!({"tags": {"floor": 3}, "properties": {"desired": {"fan": true}}}),
    )
    .await;
    let r = hub
        .send_json(
            Method::PUT,
            "/devices/dev-b",
            &json!({"deviceId": "dev-b", "status": "disabled", "statusReason": "maintenance",
                    "capabilities": {"iotEdge": true}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    let r = hub
        .send_json(
            Method::PUT,
            "/devices/dev-a/modules/m1",
            &json!({"deviceId": "dev-a", "moduleId": "m1"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let m1: Value = r.json().await.unwrap();
    let (_, m1_twin) = hub.get_json("/twins/dev-a/modules/m1").await;
    let (_, a_now) = hub.get_json("/devices/dev-a").await;
    let (_, a_twin) = hub.get_json("/twins/dev-a").await;

    let job = create_hub_job(
        &hub,
        &json!({"type": "export", "outputBlobContainerUri": store.container_sas_url("exports"),
                "excludeKeysInExport": false}),
    )
    .await;
    assert_eq!(job["type"], "export");
    assert_eq!(job["progress"], 0);
    assert_eq!(job["outputBlobName"], "devices.txt");
    let id = job["jobId"].as_str().unwrap().to_string();
    let done = wait_hub_job(&hub, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"], 100);
    assert!(done["startTimeUtc"].is_string() && done["endTimeUtc"].is_string());
    assert!(done.get("failureReason").is_none(), "{done}");

    assert_eq!(
        store.blob_type("exports", "devices.txt").await.as_deref(),
        Some("BlockBlob")
    );
    let text = store
        .read_blob_string("exports", "devices.txt")
        .await
        .unwrap();
    let lines = ndjson(&text);
    assert_eq!(lines.len(), 3, "dev-a, its module m1, dev-b: {text}");
    let ea = &lines[0];
    assert_eq!(ea["id"], "dev-a");
    assert_eq!(ea["eTag"], a_now["etag"]);
    assert_eq!(ea["twinETag"], a_twin["etag"]);
    assert_eq!(ea["status"], "enabled");
    assert_eq!(
        ea["authentication"]["symmetricKey"]["primaryKey"],
        a["authentication"]["symmetricKey"]["primaryKey"]
    );
    assert!(ea["authentication"]["symmetricKey"]["primaryKey"].is_string());
    assert_eq!(ea["authentication"]["type"], "sas");
    assert_eq!(ea["tags"], json!({"floor": 3}));
    assert_eq!(ea["properties"]["desired"]["fan"], true);
    assert_eq!(ea["capabilities"], json!({"iotEdge": false}));
    // A module follows its device, with its own identity and twin etags and keys.
    let em = &lines[1];
    assert_eq!(em["id"], "dev-a");
    assert_eq!(em["moduleId"], "m1");
    assert_eq!(em["eTag"], m1["etag"]);
    assert_eq!(em["twinETag"], m1_twin["etag"]);
    assert_eq!(
        em["authentication"]["symmetricKey"]["primaryKey"],
        m1["authentication"]["symmetricKey"]["primaryKey"]
    );
    let eb = &lines[2];
    assert_eq!(eb["id"], "dev-b");
    assert_eq!(eb["eTag"], b["etag"]);
    assert_eq!(eb["status"], "disabled");
    assert_eq!(eb["statusReason"], "maintenance");
    assert_eq!(eb["capabilities"], json!({"iotEdge": true}));

    // Keys excluded, to another blob.
    let job = create_hub_job(
        &hub,
        &json!({"type": "export", "outputBlobContainerUri": store.container_sas_url("exports"),
                "outputBlobName": "nokeys/devices.txt", "excludeKeysInExport": true}),
    )
    .await;
    let done = wait_hub_job(&hub, job["jobId"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let text = store
        .read_blob_string("exports", "nokeys/devices.txt")
        .await
        .unwrap();
    let lines = ndjson(&text);
    assert_eq!(lines.len(), 3);
    for l in &lines {
        assert_eq!(
            l["authentication"]["symmetricKey"],
            json!({"primaryKey": null, "secondaryKey": null}),
            "{l}"
        );
    }
    assert_eq!(lines[0]["eTag"], a_now["etag"]);
    // Both jobs are listed, oldest first.
    let (_, list) = hub.get_json("/jobs").await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["jobId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id.as_str(), job["jobId"].as_str().unwrap()]);
}

/// Import applies each line's importMode; failed lines (etag mismatch, existing device on
/// create, unknown mode, bad JSON) go to importErrors.log in the output container with their
/// line numbers, the others stay applied, and the job ends failed naming the log.
#[tokio::test]
async fn iothub_import_modes_and_errors_log() {
    let store = Azurite::start().await;
    store.create_container("imports").await;
    store.create_container("logs").await;
    let hub = Hub::start().await;
    for d in ["upd", "etag-ok", "etag-bad", "del", "twin-dev"] {
        hub.create_device(d).await;
    }
    let (_, ok) = hub.get_json("/devices/etag-ok").await;
    let (_, twin_before) = hub.get_json("/twins/twin-dev").await;
    let mut body = lines(&[
        json!({"id": "new1", "importMode": "create", "status": "disabled"}), // 1
        json!({"id": "new2"}),                                               // 2: createOrUpdate
        json!({"id": "upd", "importMode": "update", "status": "disabled"}),  // 3
        json!({"id": "etag-ok", "importMode": "updateIfMatchETag", "eTag": ok["etag"],
               "status": "disabled"}), // 4
        json!({"id": "etag-bad", "importMode": "updateIfMatchETag", "eTag": "bm9wZQ==",
               "status": "disabled"}), // 5
        json!({"id": "del", "importMode": "delete"}),                        // 6
        json!({"id": "twin-dev", "importMode": "updateTwin", "tags": {"floor": 2},
               "properties": {"desired": {"fan": true}}}), // 7
        json!({"id": "upd", "importMode": "create"}),                        // 8
    ]);
    body += "{not json\n"; // 9
    body += &lines(&[
        json!({"id": "x", "importMode": "bogus"}), // 10
        json!({"id": "cou", "importMode": "createOrUpdateIfMatchETag"}), // 11
    ]);
    store.put_blob("imports", "devices.txt", body).await;
    let job = create_hub_job(
        &hub,
        &json!({"type": "import", "inputBlobContainerUri": store.container_sas_url("imports"),
                "outputBlobContainerUri": store.container_sas_url("logs")}),
    )
    .await;
    assert_eq!(job["inputBlobName"], "devices.txt");
    assert_eq!(job["outputBlobName"], "importErrors.log");
    let done = wait_hub_job(&hub, job["jobId"].as_str().unwrap()).await;
    assert_eq!(done["status"], "failed", "{done}");
    let reason = done["failureReason"].as_str().unwrap();
    assert!(
        reason.starts_with("4 of 11 device line(s)") && reason.contains("importErrors.log"),
        "{reason}"
    );

    let status = async |id: &str| {
        let (s, v) = hub.get_json(&format!("/devices/{id}")).await;
        (s, v["status"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(status("new1").await, (200, "disabled".into()));
    assert_eq!(status("new2").await, (200, "enabled".into()));
    assert_eq!(status("upd").await, (200, "disabled".into()));
    assert_eq!(status("etag-ok").await, (200, "disabled".into()));
    assert_eq!(status("etag-bad").await, (200, "enabled".into()));
    assert_eq!(status("del").await.0, 404);
    assert_eq!(status("cou").await, (200, "enabled".into()));
    assert_eq!(status("x").await.0, 404);
    let (_, twin) = hub.get_json("/twins/twin-dev").await;
    assert_eq!(twin["tags"], json!({"floor": 2}));
    assert_eq!(twin["properties"]["desired"]["fan"], true);
    assert_ne!(twin["etag"], twin_before["etag"]);

    let log = store
        .read_blob_string("logs", "importErrors.log")
        .await
        .unwrap();
    let entries: Vec<(u64, Value, String, Value)> = ndjson(&log)
        .into_iter()
        .map(|e| {
            assert!(e["errorStatus"].is_string(), "{e}");
            (
                e["line"].as_u64().unwrap(),
                e["deviceId"].clone(),
                e["errorCode"].as_str().unwrap().to_string(),
                e["operation"].clone(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            (
                5,
                json!("etag-bad"),
                "PreconditionFailed".into(),
                json!("updateIfMatchETag")
            ),
            (
                8,
                json!("upd"),
                "DeviceAlreadyExists".into(),
                json!("create")
            ),
            (
                9,
                Value::Null,
                "IotHubFormatError".into(),
                json!("createOrUpdate")
            ),
            (10, json!("x"), "ArgumentInvalid".into(), json!("bogus")),
        ]
    );
}

/// A missing input blob fails the job with the storage's reason (no SAS in it); bad job
/// properties are refused with 400 before anything runs; unknown jobs are 404.
#[tokio::test]
async fn iothub_import_missing_blob_and_bad_requests() {
    let store = Azurite::start().await;
    store.create_container("imports").await;
    store.create_container("logs").await;
    let hub = Hub::start().await;
    let job = create_hub_job(
        &hub,
        &json!({"type": "import", "inputBlobContainerUri": store.container_sas_url("imports"),
                "inputBlobName": "absent.txt",
                "outputBlobContainerUri": store.container_sas_url("logs")}),
    )
    .await;
    let done = wait_hub_job(&hub, job["jobId"].as_str().unwrap()).await;
    assert_eq!(done["status"], "failed", "{done}");
    let reason = done["failureReason"].as_str().unwrap();
    assert!(
        reason.starts_with("BlobNotFound") && reason.contains("/imports/absent.txt"),
        "{reason}"
    );
    assert!(!reason.contains("sig="), "{reason}");

    for (body, what) in [
        (
            json!({"type": "backup", "outputBlobContainerUri": "http://127.0.0.1:1/c"}),
            "type",
        ),
        (json!({"type": "export"}), "outputBlobContainerUri"),
        (
            json!({"type": "import", "outputBlobContainerUri": "http://127.0.0.1:1/c"}),
            "inputBlobContainerUri",
        ),
        (
            json!({"type": "export", "outputBlobContainerUri": "not a uri"}),
            "outputBlobContainerUri",
        ),
        (
            json!({"type": "export", "outputBlobContainerUri": "http://127.0.0.1:1/c",
                "excludeKeysInExport": "yes"}),
            "excludeKeysInExport",
        ),
    ] {
        let r = hub.send_json(Method::POST, "/jobs/create", &body).await;
        let msg = iothub_support::expect_error(r, 400, "ArgumentInvalid").await;
        assert!(msg.contains(what), "{what}: {msg}");
    }
    let r = hub.send(Method::GET, "/jobs/nope").await;
    iothub_support::expect_error(r, 404, "JobNotFound").await;
    let r = hub.send(Method::DELETE, "/jobs/nope").await;
    iothub_support::expect_error(r, 404, "JobNotFound").await;
}

/// Only one import/export job is active per hub (403 JobQuotaExceeded while one runs); DELETE
/// cancels a running job, which stays cancelled; then a new job runs. The running job is held
/// by a loopback "storage" that accepts connections and never answers.
#[tokio::test]
async fn iothub_cancel_and_one_job_at_a_time() {
    let store = Azurite::start().await;
    store.create_container("logs").await;
    let hub = Hub::start().await;
    let stall = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stall_port = stall.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = stall.accept().await {
            held.push(sock);
        }
    });
    let job = create_hub_job(
        &hub,
        &json!({"type": "import",
                "inputBlobContainerUri": format!("http://127.0.0.1:{stall_port}/devstoreaccount1/in?sig=x"),
                "outputBlobContainerUri": store.container_sas_url("logs")}),
    )
    .await;
    let id = job["jobId"].as_str().unwrap().to_string();
    loop {
        let (_, v) = hub.get_json(&format!("/jobs/{id}")).await;
        if v["status"] == "running" {
            assert!(v["startTimeUtc"].is_string());
            break;
        }
        assert_eq!(v["status"], "enqueued", "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let export =
        json!({"type": "export", "outputBlobContainerUri": store.container_sas_url("logs")});
    let r = hub.send_json(Method::POST, "/jobs/create", &export).await;
    let msg = iothub_support::expect_error(r, 403, "JobQuotaExceeded").await;
    assert!(msg.contains(&id), "{msg}");

    let r = hub.send(Method::DELETE, &format!("/jobs/{id}")).await;
    assert_eq!(r.status(), 204);
    let (_, v) = hub.get_json(&format!("/jobs/{id}")).await;
    assert_eq!(v["status"], "cancelled", "{v}");
    assert!(v["endTimeUtc"].is_string());
    // The stalled read fails once the listener goes; the job stays cancelled and wrote nothing.
    holder.abort();
    let _ = holder.await;
    let next = create_hub_job(&hub, &export).await;
    let done = wait_hub_job(&hub, next["jobId"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, v) = hub.get_json(&format!("/jobs/{id}")).await;
    assert_eq!(v["status"], "cancelled", "{v}");
    assert_eq!(store.read_blob("logs", "importErrors.log").await, None);
    // Cancelling a finished job leaves it as it is.
    let r = hub.send(Method::DELETE, &format!("/jobs/{id}")).await;
    assert_eq!(r.status(), 204);
    let (_, v) = hub
        .get_json(&format!("/jobs/{}", next["jobId"].as_str().unwrap()))
        .await;
    assert_eq!(v["status"], "completed");
}

/// Cancelling a running ADT import answers `cancelling`; the job stops and ends `cancelled`, and
/// its log ends with `{"status":"Cancelled"}`. The job is held running by a loopback "storage"
/// that accepts the input read and never answers.
#[tokio::test]
async fn adt_import_cancel_while_running() {
    let store = Azurite::start().await;
    store.create_container("adt").await;
    let stall = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = stall.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = stall.accept().await {
            held.push(sock);
        }
    });
    let adt = Adt::start().await;
    adt.put(
        "/jobs/imports/held",
        &json!({"inputBlobUri": format!("http://127.0.0.1:{port}/devstoreaccount1/adt/in.ndjson?sig=x"),
                "outputBlobUri": store.blob_sas_url("adt", "held.log")}),
    )
    .await
    .assert_status(201);
    loop {
        let r = adt.get("/jobs/imports/held").await;
        if r.body["status"] == "running" {
            break;
        }
        assert_eq!(r.body["status"], "notstarted", "{}", r.text);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let c = adt.post("/jobs/imports/held/cancel", &json!({})).await;
    c.assert_status(200);
    assert_eq!(c.body["status"], "cancelling");
    holder.abort();
    let _ = holder.await;
    let job = wait_adt_job(&adt, "held").await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(job.get("error").is_none(), "{job}");
    let log = store.read_blob_string("adt", "held.log").await.unwrap();
    let d = log_details(&log, "held");
    assert_eq!(
        d.last().unwrap(),
        &json!({"status": "Cancelled", "logType": "Info"})
    );
}

/// An export larger than one 4 MiB block is written with Put Block + Put Block List: every
/// device is in devices.txt exactly once, in id order, and the blob is committed as a block blob.
#[tokio::test]
async fn iothub_export_larger_than_one_block() {
    let store = Azurite::start().await;
    store.create_container("exports").await;
    let hub = Hub::start().await;
    let n = 9000;
    // Long tags make each line about 700 bytes, so the export spans two blocks.
    let pad = "x".repeat(200);
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let items: Vec<Value> = chunk
            .iter()
            .map(|i| {
                json!({"id": format!("bulk-{i:05}"), "importMode": "create",
                            "tags": {"pad": pad}})
            })
            .collect();
        let r = hub
            .send_json(Method::POST, "/devices", &Value::Array(items))
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let job = create_hub_job(
        &hub,
        &json!({"type": "export", "outputBlobContainerUri": store.container_sas_url("exports")}),
    )
    .await;
    let done = wait_hub_job(&hub, job["jobId"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let text = store
        .read_blob_string("exports", "devices.txt")
        .await
        .unwrap();
    assert!(text.len() > 4 * 1024 * 1024, "{} bytes", text.len());
    let ids: Vec<String> = ndjson(&text)
        .iter()
        .map(|d| {
            assert_eq!(d["tags"]["pad"], pad.as_str());
            d["id"].as_str().unwrap().to_string()
        })
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("bulk-{i:05}")).collect();
    assert_eq!(ids, want);
    assert_eq!(
        store.blob_type("exports", "devices.txt").await.as_deref(),
        Some("BlockBlob")
    );
}
