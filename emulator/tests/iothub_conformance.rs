//! Conformance: every IoT Hub request of the recorded .NET SDK sessions
//! (`tests/recordings/dotnet-iothub-service/*.json`) is replayed against the emulator, and the
//! emulator's responses are compared with the recorded ones: status code, `iothub-errorcode`,
//! `Content-Type`, presence and format of the `ETag` header (twin etags by value), and the body
//! by value: every recorded member present with the same value, recursively; arrays element by
//! element with the same length (an empty page where the recording has rows fails). Values the
//! service generates are compared by format only (see [`compare`]): identity etags,
//! `generationId`, sanitized keys, wall-clock timestamps, tracking ids, digits in messages.
//!
//! Replay adjustments (not differences of behaviour): the host is the emulator's, the
//! `api-version` is rewritten from 2020-03-13 to 2021-04-12, the sanitized `Authorization` is
//! replaced by a freshly signed owner token, `If-Match` values naming a recorded etag are mapped to
//! the etag the emulator returned at the same step, and `"Sanitized"` symmetric keys are removed
//! from request bodies (they are placeholders, not base64 keys; the emulator keeps the existing keys).
//!
//! Seeded state: `QueryClient_GetAllDevicesTwinsWithTag` assumes an ADM configuration already
//! wrote `deviceContent_key` into the new device's desired properties (twin at etag
//! `AAAAAAAAAAI=`, version 3); the replay applies that desired-property PATCH after the device is
//! created.
//!
//! Deliberate differences, tolerated by the comparison:
//! 1. Query consistency: the service indexes twins eventually — the recording's first query for a
//!    just-created device returned `[]` and a retry found it. The emulator is immediately
//!    consistent, so that empty recorded page is compared with the page the recording got when it
//!    retried the same query ([`LAGGED_PAGES`]; nothing else is exempt).
//! 2. `configurations` in twins: the emulator does not run ADM configurations against twins, so
//!    the twin's `configurations` map (and `$lastUpdatedBy`/`$lastUpdatedByDigest` metadata of
//!    configuration-written properties) is absent.
//! 3. `systemMetrics.results` of a configuration: the service computes it asynchronously (empty
//!    right after creation); the emulator computes `targetedCount`/`appliedCount` on read, so the
//!    object has extra members.
//! 4. Identity etag numbers start at 1 in the emulator instead of a large hub-wide counter; the
//!    encoding (base64 of ASCII decimal) is the same and is checked.
//! 5. The 412 message for identities repeats the existing/new version numbers, which differ in
//!    value (see 4) but not in wording; messages are compared with their digits masked.

mod iothub_support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use iothub_support::Hub;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/recordings/dotnet-iothub-service"
);

/// Paths (JSON-pointer-like, `*` for array items) whose recorded members may be absent here (difference 2).
const MAY_BE_ABSENT: &[&str] = &[
    "/*/configurations",
    "/configurations",
    "/*/properties/desired/$metadata/deviceContent_key/$lastUpdatedBy",
    "/*/properties/desired/$metadata/deviceContent_key/$lastUpdatedByDigest",
];

/// Recorded etag shapes: identity etag (base64 of ASCII digits) or twin etag (base64 of 8 bytes).
fn etag_kind(s: &str) -> &'static str {
    match B64.decode(s) {
        Ok(b) if b.len() == 8 && s.len() == 12 => "twin",
        Ok(b) if !b.is_empty() && b.iter().all(u8::is_ascii_digit) => "identity",
        _ => "other",
    }
}

/// Timestamp-shaped strings: `2021-07-07T20:45:26.7978599Z`, `0001-01-01T00:00:00[Z]`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && s[..4].bytes().all(|c| c.is_ascii_digit())
}

/// "Never happened" timestamps (`0001-01-01T00:00:00`, with or without `Z`) are deterministic.
fn is_zero_time(s: &str) -> bool {
    s.trim_end_matches('Z') == "0001-01-01T00:00:00"
}

/// Digits masked: the 412 identity message quotes hub-wide version numbers (difference 4).
fn mask_digits(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Compares a recorded value with ours: every recorded member present (extra members of ours
/// are allowed), arrays element by element with the same length, scalars by value. The only
/// values not compared exactly are the service-generated ones, each checked for its format:
/// identity etags (`etag`/`deviceEtag` base64 of decimal digits, numbers differ: difference 4),
/// `generationId` (decimal digits), SAS keys recorded as `Sanitized` (ours: base64 keys),
/// wall-clock timestamps (ours must be a timestamp too, and "never" only where recorded
/// "never"), the `ExceptionMessage` tracking id, and digits inside an error `Message`.
fn compare(path: &str, rec: &Value, ours: &Value, diffs: &mut Vec<String>) {
    let generic = |p: &str| {
        p.split('/')
            .map(|s| if s.parse::<usize>().is_ok() { "*" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let last = path.rsplit('/').next().unwrap_or_default();
    match (rec, ours) {
        (Value::Object(r), Value::Object(o)) => {
            for (k, rv) in r {
                let p = format!("{path}/{k}");
                match o.get(k) {
                    Some(ov) => compare(&p, rv, ov, diffs),
                    None if MAY_BE_ABSENT.contains(&generic(&p).as_str()) => {}
                    None => diffs.push(format!("{p}: missing (recorded {rv})")),
                }
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if r.len() != o.len() {
                diffs.push(format!(
                    "{path}: {} elements vs recorded {} (ours {o:?})",
                    o.len(),
                    r.len()
                ));
            }
            for (i, (re, oe)) in r.iter().zip(o).enumerate() {
                compare(&format!("{path}/{i}"), re, oe, diffs);
            }
        }
        (Value::String(r), Value::String(o)) => {
            let ok = match last {
                "etag" | "deviceEtag" if etag_kind(r) == "identity" => etag_kind(o) == "identity",
                "generationId" => !o.is_empty() && o.bytes().all(|c| c.is_ascii_digit()),
                "primaryKey" | "secondaryKey" if r == "Sanitized" => {
                    B64.decode(o).is_ok_and(|k| k.len() >= 16)
                }
                "Message" => mask_digits(r) == mask_digits(o),
                "ExceptionMessage" => o.starts_with("Tracking ID:") && o.contains("-TimeStamp:"),
                _ if is_timestamp(r) && !is_zero_time(r) => is_timestamp(o) && !is_zero_time(o),
                _ => r == o,
            };
            if !ok {
                diffs.push(format!("{path}: {o:?} vs recorded {r:?}"));
            }
        }
        (r, o) if r == o => {}
        (r, o) => diffs.push(format!("{path}: {o} vs recorded {r}")),
    }
}

/// Recorded bodies are JSON values, JSON text in a string, or `[]`/null for empty bodies.
fn body_of(v: Option<&Value>) -> Option<Value> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => serde_json::from_str(s).ok(),
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(other) => Some(other.clone()),
    }
}

fn strip_sanitized(v: &mut Value) {
    if let Some(sk) = v.pointer_mut("/authentication/symmetricKey")
        && sk.get("primaryKey").and_then(Value::as_str) == Some("Sanitized")
        && let Some(auth) = v.get_mut("authentication").and_then(Value::as_object_mut)
    {
        auth.remove("symmetricKey");
    }
}

fn header<'a>(h: &'a Value, name: &str) -> Option<&'a str> {
    h.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// Recorded pages the service answered before its query index caught up (difference 1): the
/// entry at `index` is compared with the page recorded at `retry_of` (the same query, retried
/// once indexed). Only an empty recorded page can be lagged; any other page is compared as is.
const LAGGED_PAGES: &[(&str, usize, usize)] =
    &[("QueryClient_GetAllDevicesTwinsWithTag.json", 1, 2)];

/// State a recording assumes, applied after the entry with this index.
fn seed(file: &str, index: usize) -> Vec<(Method, String, Value)> {
    match (file, index) {
        ("QueryClient_GetAllDevicesTwinsWithTag.json", 0) => vec![(
            Method::PATCH,
            "/twins/QueryDevice1136733538".into(),
            json!({"properties": {"desired": {"deviceContent_key": "deviceContent_value-testconfigurations31074810987"}}}),
        )],
        _ => vec![],
    }
}

async fn replay(file: &str, diffs: &mut Vec<String>) -> usize {
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/{file}")).unwrap()).unwrap();
    let hub = Hub::start().await;
    let mut etags: HashMap<String, String> = HashMap::new();
    let entries = rec["Entries"].as_array().unwrap();
    for (i, e) in entries.iter().enumerate() {
        let uri = e["RequestUri"].as_str().unwrap();
        let after_host = &uri[uri.find("://").unwrap() + 3..];
        let path_q = &after_host[after_host.find('/').unwrap()..];
        let (path, query) = path_q.split_once('?').unwrap_or((path_q, ""));
        let extra: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.starts_with("api-version=") && !kv.is_empty())
            .collect();
        let path = if extra.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", extra.join("&"))
        };
        let method = Method::from_bytes(e["RequestMethod"].as_str().unwrap().as_bytes()).unwrap();
        let mut req = hub.req(method.clone(), &path);
        let rh = &e["RequestHeaders"];
        for name in ["Content-Type", "x-ms-max-item-count", "x-ms-continuation"] {
            if let Some(v) = header(rh, name) {
                req = req.header(name, v);
            }
        }
        if let Some(im) = header(rh, "If-Match") {
            let inner = im.trim_matches('"');
            let mapped = etags
                .get(inner)
                .map(|o| format!("\"{o}\""))
                .unwrap_or_else(|| im.to_string());
            req = req.header("If-Match", mapped);
        }
        if let Some(mut b) = body_of(e.get("RequestBody")) {
            strip_sanitized(&mut b);
            req = req.body(serde_json::to_vec(&b).unwrap());
        }
        let resp = req.send().await.unwrap();
        let at = format!("{file}#{i} {method} {path}");
        let rec_status = e["StatusCode"].as_u64().unwrap() as u16;
        if resp.status().as_u16() != rec_status {
            diffs.push(format!(
                "{at}: status {} vs recorded {rec_status}",
                resp.status()
            ));
        }
        let rsh = &e["ResponseHeaders"];
        let ours_h = resp.headers().clone();
        let ours_header = |n: &str| {
            ours_h
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if let Some(code) = header(rsh, "iothub-errorcode")
            && ours_header("iothub-errorcode").as_deref() != Some(code)
        {
            diffs.push(format!(
                "{at}: iothub-errorcode {:?} vs recorded {code}",
                ours_header("iothub-errorcode")
            ));
        }
        if let Some(ct) = header(rsh, "Content-Type")
            && ours_header("content-type").as_deref() != Some(ct)
        {
            diffs.push(format!(
                "{at}: content-type {:?} vs recorded {ct}",
                ours_header("content-type")
            ));
        }
        for name in ["x-ms-item-type", "x-ms-request-id"] {
            if header(rsh, name).is_some() && ours_header(name).is_none() {
                diffs.push(format!("{at}: header {name} missing"));
            }
        }
        match (header(rsh, "ETag"), ours_header("etag")) {
            (None, None) => {}
            (Some(r), Some(o)) => {
                let (r, o) = (r.trim_matches('"'), o.as_str());
                if !o.starts_with('"')
                    || !o.ends_with('"')
                    || etag_kind(r) != etag_kind(o.trim_matches('"'))
                    // Twin etags count the twin's versions: the same value (identity etags
                    // number hub-wide writes, difference 4).
                    || (etag_kind(r) != "identity" && r != o.trim_matches('"'))
                {
                    diffs.push(format!("{at}: ETag {o} not shaped like recorded \"{r}\""));
                }
                etags.insert(r.to_string(), o.trim_matches('"').to_string());
            }
            (r, o) => diffs.push(format!("{at}: ETag header {o:?} vs recorded {r:?}")),
        }
        let bytes = resp.bytes().await.unwrap();
        let ours: Option<Value> = if bytes.is_empty() {
            None
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        let mut recorded_body = body_of(e.get("ResponseBody"));
        if let Some(&(_, _, retry)) = LAGGED_PAGES.iter().find(|l| l.0 == file && l.1 == i) {
            assert_eq!(
                recorded_body,
                Some(json!([])),
                "{at}: only an empty recorded page is an index lag"
            );
            assert_eq!(
                entries[retry]["RequestBody"], e["RequestBody"],
                "{at}: the lagged page's retry is the same query"
            );
            recorded_body = body_of(entries[retry].get("ResponseBody"));
        }
        match (recorded_body, ours) {
            (None, None) => {}
            (Some(r), Some(o)) => {
                if let (Some(re), Some(oe)) = (
                    r.get("etag").and_then(Value::as_str),
                    o.get("etag").and_then(Value::as_str),
                ) {
                    etags.insert(re.to_string(), oe.to_string());
                }
                compare("", &r, &o, diffs);
            }
            (r, o) => diffs.push(format!("{at}: body {o:?} vs recorded {r:?}")),
        }
        for (m, p, b) in seed(file, i) {
            let r = hub.send_json(m, &p, &b).await;
            assert!(r.status().is_success(), "seeding {file}: {}", r.status());
        }
    }
    hub.emu.shutdown().await;
    entries.len()
}

#[tokio::test]
async fn recorded_sessions_replay_against_the_emulator() {
    let mut files: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let mut diffs = Vec::new();
    let mut replayed = 0;
    for f in &files {
        let mut d = Vec::new();
        replayed += replay(f, &mut d).await;
        diffs.extend(d.into_iter().map(|x| format!("{f}: {x}")));
    }
    assert!(replayed >= 20, "{replayed}");
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
