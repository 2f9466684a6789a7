//! Conformance: replay every Azure Digital Twins request of the recorded SDK sessions in `tests/recordings`
//! (`dotnet-digitaltwins`, `python-digitaltwins`, `js-digitaltwins`) against the emulator and compare status
//! codes, error codes (`x-ms-error-code` and `error.code`), ETag format and response body shape (every recorded
//! field present with the same JSON type, recursively; arrays compared by their first element).
//!
//! Before each request the emulator is brought into the state the recording assumes, from what the recording
//! shows (the live instances held leftovers of earlier runs):
//! - a `2xx` on `GET|PATCH|DELETE /models/{id}`, `/digitaltwins/{id}` or `DELETE /eventroutes/{id}` means the
//!   resource existed: it is seeded (a minimal interface; an empty twin of a seed model; a route) when missing;
//! - every model or event route listed in a recorded `GET /models` / `GET /eventroutes` page is seeded when missing;
//! - a recorded `GET` of an import job that shows `succeeded` waits until the emulator's job got there.
//!
//! Deliberate differences (each with its reason):
//! - api-version: the recordings use 2020-10-31 / 2022-05-31 / 2023-10-31; the emulator only speaks 2023-10-31,
//!   so every replayed request carries `api-version=2023-10-31` (the wire shapes compared are the same).
//! - AAD token and discovery entries (login.microsoftonline.com) are skipped: they are not ADT requests; the
//!   emulator accepts any bearer token unless configured with one.
//! - The 429 responses in `Import_Lifecycle` are skipped: they are live-service throttling that the SDK retried;
//!   the emulator throttles only through fault injection (tested by the emulator-core tests).
//! - Continuation tokens are opaque and instance-specific: a replayed `continuationToken` (query body or list
//!   `nextLink`) is replaced by the one the emulator returned on the previous page.
//! - Page contents and lengths differ where the live instance held leftovers from other test runs (model, route,
//!   twin and job lists) and where its query results lagged behind writes (documented: up to 10 s); items are
//!   compared by identity when the emulator's page holds the same item, else on system (`$…`) fields only.
//! - The ASP.NET `application/problem+json` body for a malformed patch document is reproduced in shape
//!   (`errors`, `type`, `title`, `status`, `detail`, `instance`, `extensions.traceId`), but the keys inside
//!   `errors` are the emulator's (the service names .NET deserialiser paths such as `[0]`).
//! - ETag values are per instance: a replayed `If-Match` that names an ETag the recording received earlier is
//!   replaced by the ETag the emulator returned for that same response (stale ETags are sent unchanged).
//! - `2020-10-31` twin responses lack `$metadata.$lastUpdateTime`; the emulator always sends it (a superset).

mod adt_support;

use adt_support::Adt;
use serde_json::{Value, json};

/// One recorded exchange, normalised across the .NET/Python (`Entries`) and JS (`recordings`) formats.
#[derive(Debug)]
struct Exchange {
    method: String,
    host: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    status: u16,
    resp_headers: Vec<(String, String)>,
    resp_body: Value,
}

fn body_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn resp_json(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

fn split_url(url: &str) -> (String, String, Vec<(String, String)>) {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (host, path_q) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let (path, q) = path_q
        .split_once('?')
        .map(|(p, q)| (p.to_string(), q.to_string()))
        .unwrap_or((path_q.clone(), String::new()));
    let query = q
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    (host.to_string(), path, query)
}

fn headers_of(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            (k.to_ascii_lowercase(), s)
        })
        .collect()
}

fn load(file: &str) -> Vec<Exchange> {
    let path = format!("{}/../tests/recordings/{file}", env!("CARGO_MANIFEST_DIR"));
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("recording exists")).unwrap();
    let mut out = Vec::new();
    if let Some(entries) = doc["Entries"].as_array() {
        for e in entries {
            let (host, path, query) = split_url(e["RequestUri"].as_str().unwrap());
            out.push(Exchange {
                method: e["RequestMethod"].as_str().unwrap().to_string(),
                host,
                path,
                query,
                headers: headers_of(&e["RequestHeaders"]),
                body: body_text(&e["RequestBody"]),
                status: e["StatusCode"].as_u64().unwrap() as u16,
                resp_headers: headers_of(&e["ResponseHeaders"]),
                resp_body: resp_json(&e["ResponseBody"]),
            });
        }
    } else {
        for e in doc["recordings"].as_array().unwrap() {
            let (host, path, mut query) = split_url(e["url"].as_str().unwrap());
            for (k, v) in e["query"].as_object().into_iter().flatten() {
                query.push((k.clone(), v.as_str().unwrap_or_default().to_string()));
            }
            out.push(Exchange {
                method: e["method"].as_str().unwrap().to_string(),
                host,
                path,
                query,
                headers: headers_of(&e["requestHeaders"]),
                body: body_text(&e["requestBody"]),
                status: e["status"].as_u64().unwrap() as u16,
                resp_headers: headers_of(&e["responseHeaders"]),
                resp_body: resp_json(&e["response"]),
            });
        }
    }
    out
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Every field of `rec` is in `got` with the same JSON type. Arrays: each recorded element is compared with the
/// emulator's element of the same identity (`$dtId`, `$relationshipId`, `id`) when the page holds it, else with the
/// emulator's first element on system fields only (`$…` keys): page contents differ with the data (module doc).
fn same_shape(rec: &Value, got: &Value, at: &str, errs: &mut Vec<String>) {
    shape(rec, got, at, false, errs)
}

fn identity(v: &Value) -> Option<&Value> {
    ["$dtId", "$relationshipId", "id"]
        .iter()
        .find_map(|k| v.get(*k))
}

fn shape(rec: &Value, got: &Value, at: &str, system_only: bool, errs: &mut Vec<String>) {
    match (rec, got) {
        (Value::Object(r), Value::Object(g)) => {
            if at.ends_with("/errors") {
                return; // see the module doc: ASP.NET validation keys differ
            }
            for (k, rv) in r {
                if system_only && !k.starts_with('$') {
                    continue;
                }
                match g.get(k) {
                    None => errs.push(format!("{at}/{k}: missing")),
                    Some(gv) => shape(rv, gv, &format!("{at}/{k}"), system_only, errs),
                }
            }
        }
        (Value::Array(r), Value::Array(g)) => {
            for (i, re) in r.iter().enumerate() {
                let same = identity(re).and_then(|id| g.iter().find(|ge| identity(ge) == Some(id)));
                match (same, g.first()) {
                    (Some(ge), _) => shape(re, ge, &format!("{at}/{i}"), system_only, errs),
                    (None, Some(g0)) => shape(re, g0, &format!("{at}/{i}"), true, errs),
                    (None, None) => {}
                }
            }
        }
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (Value::Null, _) => {}
        (r, g) => errs.push(format!("{at}: recorded {r} but got {g}")),
    }
}

fn weak_etag(s: &str) -> bool {
    s.strip_prefix("W/\"")
        .and_then(|r| r.strip_suffix('"'))
        .is_some_and(|u| u.len() == 36 && u.matches('-').count() == 4)
}

struct Replay<'a> {
    adt: &'a Adt,
    last_query_token: Option<String>,
    last_next_link: Option<String>,
    report: Vec<String>,
    compared: usize,
    seeded_models: std::cell::Cell<usize>,
    /// Recorded ETag → the emulator's ETag for the same version (ETags are per instance).
    etags: Vec<(String, String)>,
}

impl Replay<'_> {
    /// Seed a minimal interface; `data` is the recorded model data (its displayName/description are kept).
    async fn seed_model(&self, id: &str, data: Option<&Value>) {
        if self
            .adt
            .get(&format!("/models/{}", util_enc(id)))
            .await
            .status
            == 200
        {
            return;
        }
        let mut m = json!({"@id": id, "@type": "Interface", "@context": "dtmi:dtdl:context;2"});
        for k in ["displayName", "description"] {
            if let Some(v) = data
                .and_then(|d| d.get(k))
                .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
            {
                m[k] = v.clone();
            }
        }
        self.adt
            .post("/models", &json!([m]))
            .await
            .assert_status(201);
    }

    async fn prepare(&self, x: &Exchange) {
        let segs: Vec<String> = x.path.split('/').skip(1).map(decode).collect();
        let ok = (200..300).contains(&x.status);
        match (segs.first().map(String::as_str), segs.len()) {
            (Some("models"), 2) if ok && x.method != "POST" => {
                self.seed_model(&segs[1], None).await
            }
            (Some("models"), 1) if ok && x.method == "GET" => {
                for m in x.resp_body["value"].as_array().into_iter().flatten() {
                    self.seed_model(m["id"].as_str().unwrap(), Some(m)).await;
                }
            }
            (Some("digitaltwins"), 2)
                if ok && x.method != "PUT" && self.adt.get(&x.path).await.status == 404 =>
            {
                self.seed_model("dtmi:conformance:Seed;1", None).await;
                self.adt
                    .put(
                        &x.path,
                        &json!({"$metadata": {"$model": "dtmi:conformance:Seed;1"}}),
                    )
                    .await
                    .assert_status(200);
            }
            (Some("query"), 1) if ok => {
                for t in x.resp_body["value"].as_array().into_iter().flatten() {
                    if t.get("$dtId").is_some() {
                        self.seed_twin(t).await;
                    }
                }
            }
            (Some("eventroutes"), 2) if ok && x.method == "DELETE" => {
                self.seed_route(&segs[1]).await
            }
            (Some("eventroutes") | Some("EventRoutes"), 1) if ok => {
                for r in x.resp_body["value"].as_array().into_iter().flatten() {
                    self.seed_route(r["id"].as_str().unwrap()).await;
                }
            }
            (Some("jobs"), 3)
                if ok && x.method == "GET" && x.resp_body["status"] == "succeeded" =>
            {
                loop {
                    let r = self.adt.get(&x.path).await;
                    if r.body["status"] == "succeeded" {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            _ => {}
        }
    }

    /// Seed a twin seen in a recorded query page, with a model declaring its properties (types from the values).
    async fn seed_twin(&self, t: &Value) {
        let id = t["$dtId"].as_str().unwrap();
        if self.adt.get(&format!("/digitaltwins/{id}")).await.status == 200 {
            return;
        }
        // A model of its own per seeded twin: the recorded model ids may already be seeded (minimal) from model lists.
        let model = format!("dtmi:conformance:Q{};1", self.seeded_models.get() + 1);
        self.seeded_models.set(self.seeded_models.get() + 1);
        let model = model.as_str();
        let mut body = json!({"$metadata": {"$model": model}});
        let mut contents = Vec::new();
        for (k, v) in t
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.starts_with('$'))
        {
            let schema = match v {
                Value::Bool(_) => "boolean",
                Value::Number(_) => "double",
                Value::String(_) => "string",
                _ => continue,
            };
            contents.push(json!({"@type": "Property", "name": k, "schema": schema}));
            body[k] = v.clone();
        }
        let m = json!({"@id": model, "@type": "Interface", "@context": "dtmi:dtdl:context;2", "contents": contents});
        self.adt
            .post("/models", &json!([m]))
            .await
            .assert_status(201);
        self.adt
            .put(&format!("/digitaltwins/{id}"), &body)
            .await
            .assert_status(200);
    }

    async fn seed_route(&self, id: &str) {
        let p = format!("/eventroutes/{id}");
        if self.adt.get(&p).await.status == 404 {
            self.adt
                .put(&p, &json!({"endpointName": "seed", "filter": "true"}))
                .await
                .assert_status(204);
        }
    }

    async fn run(&mut self, name: &str, x: &Exchange) {
        if x.host.contains("login.microsoftonline.com") || x.status == 429 {
            return;
        }
        self.prepare(x).await;
        let mut headers: Vec<(&str, &str)> = Vec::new();
        let if_match = header(&x.headers, "if-match").map(|v| {
            self.etags
                .iter()
                .find(|(rec, _)| rec == v)
                .map(|(_, ours)| ours.clone())
                .unwrap_or_else(|| v.to_string())
        });
        if let Some(v) = &if_match {
            headers.push(("if-match", v.as_str()));
        }
        for h in [
            "if-none-match",
            "max-items-per-page",
            "content-type",
            "message-id",
            "telemetry-source-time",
            "operation-id",
        ] {
            if let Some(v) = header(&x.headers, h) {
                headers.push((h, v));
            }
        }
        let mut body = x.body.clone();
        let mut url;
        if x.query.iter().any(|(k, _)| k == "continuationToken") {
            url = self
                .last_next_link
                .clone()
                .unwrap_or_else(|| panic!("{name}: replayed nextLink without a previous page"));
        } else {
            url = format!("{}{}", self.adt.base, x.path);
            let mut sep = '?';
            for (k, v) in x.query.iter().filter(|(k, _)| k != "api-version") {
                url.push_str(&format!("{sep}{k}={v}"));
                sep = '&';
            }
            url.push_str(&format!("{sep}api-version={}", adt_support::API));
        }
        if x.path == "/query"
            && let Some(b) = &body
            && let Ok(v) = serde_json::from_str::<Value>(b)
            && v.get("continuationToken").is_some()
        {
            let t = self
                .last_query_token
                .clone()
                .unwrap_or_else(|| panic!("{name}: replayed query token without a previous page"));
            body = Some(json!({"continuationToken": t}).to_string());
        }
        if body.is_some() && !headers.iter().any(|(k, _)| *k == "content-type") {
            headers.push(("content-type", "application/json"));
        }
        let r = self.adt.send_url(&x.method, &url, body, &headers).await;
        self.compared += 1;
        let what = format!("{name}: {} {}", x.method, x.path);
        let mut errs = Vec::new();
        if r.status != x.status {
            errs.push(format!(
                "status {} (recorded {}) body {}",
                r.status, x.status, r.text
            ));
        }
        if let Some(code) = header(&x.resp_headers, "x-ms-error-code")
            && r.error_code() != Some(code)
        {
            errs.push(format!(
                "x-ms-error-code {:?} (recorded {code})",
                r.error_code()
            ));
        }
        if let Some(code) = x.resp_body["error"]["code"].as_str()
            && r.body["error"]["code"].as_str() != Some(code)
        {
            errs.push(format!(
                "error.code {} (recorded {code})",
                r.body["error"]["code"]
            ));
        }
        if let Some(etag) = header(&x.resp_headers, "etag") {
            assert!(weak_etag(etag), "recorded etag format");
            self.etags.push((etag.to_string(), r.etag()));
            if !weak_etag(&r.etag()) {
                errs.push(format!("ETag header {:?}", r.etag()));
            }
        }
        if x.resp_body.get("$etag").is_some() && !r.body["$etag"].as_str().is_some_and(weak_etag) {
            errs.push(format!("$etag {}", r.body["$etag"]));
        }
        if header(&x.resp_headers, "query-charge").is_some() && r.header("query-charge").is_none() {
            errs.push("query-charge header missing".into());
        }
        if let Some(ct) = header(&x.resp_headers, "content-type")
            && !r.text.is_empty()
            && r.header("content-type") != Some(ct)
        {
            errs.push(format!(
                "content-type {:?} (recorded {ct})",
                r.header("content-type")
            ));
        }
        if x.status == 204 && !r.text.is_empty() {
            errs.push(format!("204 with a body {}", r.text));
        }
        if x.status != 204 {
            same_shape(&x.resp_body, &r.body, "", &mut errs);
        }
        if let Some(t) = r.body.get("continuationToken") {
            self.last_query_token = t.as_str().map(str::to_string);
        }
        if let Some(n) = r.body.get("nextLink") {
            self.last_next_link = n.as_str().map(str::to_string);
        }
        for e in errs {
            self.report.push(format!("{what}: {e}"));
        }
    }
}

fn util_enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn replay(file: &str) -> usize {
    let adt = Adt::start().await;
    let mut rp = Replay {
        adt: &adt,
        last_query_token: None,
        last_next_link: None,
        report: Vec::new(),
        compared: 0,
        seeded_models: std::cell::Cell::new(0),
        etags: Vec::new(),
    };
    let exchanges = load(file);
    assert!(!exchanges.is_empty());
    for x in &exchanges {
        rp.run(file, x).await;
    }
    assert!(
        rp.report.is_empty(),
        "differences from the recording:\n{}",
        rp.report.join("\n")
    );
    let expected = exchanges
        .iter()
        .filter(|x| !x.host.contains("login.microsoftonline.com") && x.status != 429)
        .count();
    assert_eq!(rp.compared, expected, "every ADT exchange replayed");
    rp.compared
}

#[tokio::test]
async fn dotnet_event_routes_list_pagination() {
    assert!(replay("dotnet-digitaltwins/EventRoutes_ListPaginationWorks.json").await > 0);
}

#[tokio::test]
async fn dotnet_import_lifecycle() {
    assert!(replay("dotnet-digitaltwins/Import_Lifecycle.json").await > 0);
}

#[tokio::test]
async fn dotnet_models_lifecycle() {
    assert!(replay("dotnet-digitaltwins/Models_Lifecycle.json").await > 0);
}

#[tokio::test]
async fn dotnet_query_pagination() {
    assert!(replay("dotnet-digitaltwins/Query_PaginationWorks.json").await > 0);
}

#[tokio::test]
async fn python_create_conditionally_if_missing() {
    assert!(replay("python-digitaltwins/test_digital_twins.pyTestDigitalTwinstest_create_digitaltwin_conditionally_if_missing.json").await > 0);
}

#[tokio::test]
async fn python_delete_conditionally_if_not_modified() {
    assert!(replay("python-digitaltwins/test_digital_twins.pyTestDigitalTwinstest_delete_digitaltwin_conditionally_if_not_modified.json").await > 0);
}

#[tokio::test]
async fn python_update_conditionally_if_not_match() {
    assert!(replay("python-digitaltwins/test_digital_twins.pyTestDigitalTwinstest_update_digitaltwin_conditionally_if_not_match.json").await > 0);
}

#[tokio::test]
async fn python_update_invalid_patch() {
    assert!(replay("python-digitaltwins/test_digital_twins.pyTestDigitalTwinstest_update_digitaltwin_invalid_patch.json").await > 0);
}

#[tokio::test]
async fn js_list_incoming_relationships() {
    assert!(replay("js-digitaltwins/recording_list_incoming_relationships.json").await > 0);
}

#[tokio::test]
async fn js_query_digital_twin() {
    assert!(replay("js-digitaltwins/recording_query_digital_twin.json").await > 0);
}
