//! Bad input, table-driven: each invalid id, key, value, depth, patch, connection string, query,
//! job definition, model and endpoint gives a local `InvalidInput` error naming the field and the
//! rule — and nothing is sent. Every client (and every connection string and endpoint) points at
//! one counting loopback server, which must have received no request at the end.
//!
//! Property tests here cover what the crate's own tests do not: the connection-string parser
//! accepting every well-formed string and never panicking (or echoing the key) on arbitrary input.
//! JSON Pointer escaping already has property tests in `tests/digitaltwins_json_patch.rs`.
#![cfg(all(feature = "iothub", feature = "digitaltwins"))]

mod pipeline_support;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use azure_twins::auth::ConnectionString;
use azure_twins::digitaltwins::{JsonPatch, Pointer};
use azure_twins::iothub::{DeviceMethod, TwinPatch};
use azure_twins::{
    ClientOptions, Continuation, Credential, DigitalTwinsClient, Error, ErrorKind, IotHubClient,
};
use futures::TryStreamExt;
use pipeline_support::{Reply, Server};
use proptest::prelude::*;
use serde_json::{Value, json};

type Run = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// One row of the table: what is wrong, the field the error must name, a phrase of the rule.
struct Case {
    what: &'static str,
    field: &'static str,
    rule: &'static str,
    run: Run,
}

fn case<T, F>(what: &'static str, field: &'static str, rule: &'static str, f: F) -> Case
where
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    Case {
        what,
        field,
        rule,
        run: Box::pin(async move { f.await.map(|_| ()) }),
    }
}

fn nested(levels: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..levels {
        v = json!({ "n": v });
    }
    v
}

fn valid_model(id: &str) -> Value {
    json!({"@id": id, "@type": "Interface", "@context": "dtmi:dtdl:context;3"})
}

fn table(srv: &Server) -> Vec<Case> {
    let host = srv.addr.to_string();
    let url = srv.url();
    let key = "c2VjcmV0LWtleS1ieXRlcw==";
    let hub = IotHubClient::from_connection_string(&format!(
        "HostName={host};SharedAccessKeyName=iothubowner;SharedAccessKey={key}"
    ))
    .expect("valid connection string");
    let dt = DigitalTwinsClient::builder(url.as_str())
        .credential(Credential::bearer_token("t"))
        .build()
        .expect("valid endpoint");
    let h = || hub.clone();
    let d = || dt.clone();
    let cs = move |s: &str| s.replace("{host}", &host).replace("{key}", key);

    vec![
        // IoT Hub ids.
        case("empty device id", "device_id", "must not be empty", h().get_twin("").send()),
        case("129-char device id", "device_id", "the limit is 128", h().get_twin("d".repeat(129)).send()),
        case("slash in device id", "device_id", "only ASCII letters", h().get_twin("a/b").send()),
        case("non-ASCII device id", "device_id", "only ASCII letters", h().get_twin("dév").send()),
        case("space in device id on create", "device_id", "only ASCII letters", h().create_device("a b").send()),
        case("empty module id", "module_id", "must not be empty", h().get_module_twin("d", "").send()),
        case("bad module id", "module_id", "only ASCII letters", h().get_module_twin("d", "m<1>").send()),
        case("empty job id", "job_id", "must not be empty", h().get_job("").send()),
        case("empty configuration id", "configuration_id", "must not be empty", h().get_configuration("").send()),
        // Twin keys, values, depth, patches.
        case("space in a desired key", "a b", "must not contain ' '", h().update_twin("d").desired(json!({"a b": 1})).send()),
        case("'$' in a tag key", "$x", "must not contain '$'", h().update_twin("d").tags(json!({"$x": 1})).send()),
        case("'.' in a nested key", "outer.a.b", "must not contain '.'", h().update_twin("d").desired(json!({"outer": {"a.b": 1}})).send()),
        case("empty key", "tags", "must not be empty", h().update_twin("d").tags(json!({"": 1})).send()),
        case("control character in a key", "a\u{1}", "control characters", h().update_twin("d").desired(json!({"a\u{1}": 1})).send()),
        case("1025-byte key", "kkkk", "the limit is 1024", h().update_twin("d").desired(json!({ "k".repeat(1025): 1 })).send()),
        case("4097-byte string value", ".s", "the limit is 4096", h().update_twin("d").desired(json!({"s": "x".repeat(4097)})).send()),
        case("integer above 2^52", ".big", "outside the range", h().update_twin("d").desired(json!({"big": 1u64 << 53})).send()),
        case("u64::MAX", ".huge", "outside the range", h().update_twin("d").tags(json!({"huge": u64::MAX})).send()),
        case("11 nested objects", ".n", "deeper than 10", h().update_twin("d").desired(nested(12)).send()),
        case("depth in an array", "[0]", "deeper than 10", h().update_twin("d").desired(json!({"a": [nested(11)]})).send()),
        case("empty patch", "patch", "is empty", h().update_twin("d").send()),
        case("empty removal path", "desired", "must not be empty", h().update_twin("d").remove_desired("").send()),
        case("empty segment in a removal path", "tags.a", "must not be empty", h().update_twin("d").remove_tag("a..b").send()),
        case("removal path 12 keys deep", "tags.", "at most 11 keys deep", h().update_twin("d").remove_tag(&["k"; 12].join(".")).send()),
        case("If-None-Match on a twin", "condition", "use IfMatch", h().update_twin("d").set_desired("a", 1).condition(azure_twins::Condition::IfNoneMatchAny).send()),
        case("bad key in a replaced twin", "$y", "must not contain '$'", h().replace_twin("d").desired(json!({"$y": 1})).send()),
        // Queries.
        case("empty query", "query", "must not be empty", { let c = h(); async move { c.query("  ").into_stream().try_next().await } }),
        case("8193-char query", "query", "the limit is 8192", { let c = h(); async move { c.query("S".repeat(8193)).into_stream().try_next().await } }),
        case("page size 0", "page_size", "at least 1", { let c = h(); async move { c.query("SELECT * FROM devices").page_size(0).into_stream().try_next().await } }),
        case("ADT page size 0", "page_size", "at least 1", { let c = d(); async move { c.query("SELECT * FROM digitaltwins").page_size(0).into_stream().try_next().await } }),
        case("garbage continuation token", "continuation", "to_token_string", async { Continuation::from_token_string("not a token") }),
        // Direct methods and jobs.
        case("empty method name", "method_name", "must not be empty", h().invoke_device_method("d", "").send()),
        case("method name with a space", "method_name", "printable ASCII", h().invoke_device_method("d", "re boot").send()),
        case("response timeout under 5 s", "response_timeout", "between 5 and 300", h().invoke_device_method("d", "m").response_timeout(Duration::from_secs(1)).send()),
        case("fractional response timeout", "response_timeout", "whole number of seconds", h().invoke_device_method("d", "m").response_timeout(Duration::from_millis(5500)).send()),
        case("connect timeout over 300 s", "connect_timeout", "between 0 and 300", h().invoke_device_method("d", "m").connect_timeout(Duration::from_secs(301)).send()),
        case("method payload over 128 KB", "payload", "the limit is 131072", h().invoke_device_method("d", "m").payload(json!({"p": "x".repeat(132_000)})).send()),
        case("job with empty id", "job_id", "must not be empty", h().schedule_twin_update("", "tags.a = 1", TwinPatch::new().set_tag("a", 2)).send()),
        case("job with empty condition", "condition", "must not be empty", h().schedule_twin_update("j1", " ", TwinPatch::new().set_tag("a", 2)).send()),
        case("twin-update job without a patch", "patch", "needs a patch", h().schedule_twin_update("j1", "tags.a = 1", TwinPatch::new()).send()),
        case("job lasting 0 s", "max_execution_time", "at least one second", h().schedule_twin_update("j1", "tags.a = 1", TwinPatch::new().set_tag("a", 2)).max_execution_time(Duration::ZERO).send()),
        case("method job with a bad method", "method_name", "printable ASCII", h().schedule_device_method("j2", "tags.a = 1", DeviceMethod::new("a/b")).send()),
        case("job waiter polling every 0 s", "poll_every", "greater than zero", h().wait_for_job("j3").poll_every(Duration::ZERO).send()),
        // ADT ids, twins, patches, models.
        case("empty twin id", "twin", "must not be empty", d().get_twin("").send()),
        case("twin id with a control character", "twin", "control characters", d().get_twin("a\u{7}b").send()),
        case("twin id with outer whitespace", "twin", "whitespace", d().delete_twin(" t ").send()),
        case("1025-byte twin id", "twin", "1024", d().get_twin("t".repeat(1025)).send()),
        case("twin without a model", "twin.$metadata.$model", "is required", d().create_twin("t1", json!({"a": 1})).send()),
        case("twin whose $dtId differs", "twin.$dtId", "twin id is", d().create_twin("t1", json!({"$dtId": "t2", "$metadata": {"$model": "dtmi:a:b;1"}})).send()),
        case("twin with a non-DTMI model", "twin.$metadata.$model", "must start with \"dtmi:\"", d().create_twin("t1", json!({"$metadata": {"$model": "room"}})).send()),
        case("empty JSON Patch", "patch", "at least one operation", d().update_twin("t1", JsonPatch::new()).send()),
        case("patch of the whole document", "patch[0].path", "must not be empty", d().update_twin("t1", JsonPatch::new().replace(Pointer::root(), json!({}))).send()),
        case("patch of $etag", "patch[0].path", "cannot be written", d().update_twin("t1", JsonPatch::new().add("/$etag", "x")).send()),
        case("patch path without '/'", "patch[0].path", "must start with '/'", d().update_twin("t1", JsonPatch::new().add("temperature", 1)).send()),
        case("patch path with an empty segment", "patch[1].path", "empty segment", d().update_twin("t1", JsonPatch::new().add("/a", 1).remove("/a//b")).send()),
        case("patch of $metadata as a whole", "patch[0].path", "$metadata as a whole", d().update_twin("t1", JsonPatch::new().replace("/$metadata", json!({}))).send()),
        case("model that is not an object", "models[0]", "must be a JSON object", d().create_models(vec![json!(1)]).send()),
        case("model without @id", "models[1].@id", "is required", d().create_models(vec![valid_model("dtmi:a:b;1"), json!({"@type": "Interface"})]).send()),
        case("model of @type Telemetry", "models[0].@type", "must be \"Interface\"", d().create_models(vec![json!({"@id": "dtmi:a:b;1", "@type": "Telemetry", "@context": "dtmi:dtdl:context;3"})]).send()),
        case("model without a DTDL context", "models[0].@context", "DTDL context", d().create_models(vec![json!({"@id": "dtmi:a:b;1", "@type": "Interface"})]).send()),
        case("model id segment ending in '_'", "model_id", "not end with '_'", d().get_model("dtmi:com:example_:Room;1").send()),
        case("model id version 0", "model_id", "positive integer", d().get_model("dtmi:com:example:Room;0").send()),
        case("relationship without a target", "relationship.$targetId", "is required", d().create_relationship("t1", "r1", json!({"$relationshipName": "contains"})).send()),
        // Connection strings (all naming the counting server's host).
        case("empty connection string", "connection_string", "is empty", async { IotHubClient::from_connection_string(" ") }),
        case("no SharedAccessKey", "connection_string", "SharedAccessKey is missing", { let s = cs("HostName={host};SharedAccessKeyName=p"); async move { IotHubClient::from_connection_string(&s) } }),
        case("no HostName", "connection_string", "HostName is missing", { let s = cs("SharedAccessKeyName=p;SharedAccessKey={key}"); async move { IotHubClient::from_connection_string(&s) } }),
        case("key not base64", "connection_string", "not valid base64", { let s = cs("HostName={host};SharedAccessKeyName=p;SharedAccessKey=not*base64"); async move { IotHubClient::from_connection_string(&s) } }),
        case("';;' in a connection string", "connection_string", "empty part", { let s = cs("HostName={host};;SharedAccessKeyName=p;SharedAccessKey={key}"); async move { IotHubClient::from_connection_string(&s) } }),
        case("part without '='", "connection_string", "not of the form Name=Value", { let s = cs("HostName={host};justtext"); async move { IotHubClient::from_connection_string(&s) } }),
        case("HostName with a scheme", "connection_string", "without scheme or path", { let s = cs("HostName=http://{host};SharedAccessKeyName=p;SharedAccessKey={key}"); async move { IotHubClient::from_connection_string(&s) } }),
        case("policy name with a space", "connection_string", "SharedAccessKeyName must be", { let s = cs("HostName={host};SharedAccessKeyName=my policy;SharedAccessKey={key}"); async move { IotHubClient::from_connection_string(&s) } }),
        // Credentials and endpoints.
        case("empty policy name", "policy_name", "must not be empty", async { Credential::shared_access_key(" ", "c2VjcmV0") }),
        case("empty key", "shared_access_key", "zero bytes", async { Credential::shared_access_key("p", "") }),
        case("SAS token without its prefix", "sas_token", "SharedAccessSignature", async { Credential::sas_token("sr=x&sig=y&se=1") }),
        case("empty endpoint", "endpoint", "must not be empty", async { IotHubClient::builder("").build() }),
        case("ftp endpoint", "endpoint", "http(s) URL", { let u = url.replace("http://", "ftp://"); async move { IotHubClient::builder(u).build() } }),
        case("ADT endpoint not a URL", "endpoint", "must be a host name or an http(s) URL", async { DigitalTwinsClient::builder("https://exa mple.com").build() }),
        case("root certificate that is not PEM", "root_certificate_pem", "CERTIFICATE", { let u = url.clone(); async move { DigitalTwinsClient::builder(u).options(ClientOptions::default().add_root_certificate_pem("not a pem")).build() } }),
    ]
}

#[tokio::test]
async fn every_bad_input_gives_a_clear_local_error_and_sends_nothing() {
    let srv = Server::always(Reply::json(200, "{}")).await;
    let cases = table(&srv);
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut problems = Vec::new();
    for c in cases {
        // An empty expected rule would match any message: every row names its rule.
        assert!(!c.rule.is_empty(), "{}: no expected message", c.what);
        match c.run.await {
            Ok(()) => problems.push(format!("{}: accepted", c.what)),
            Err(e) => match e.kind() {
                ErrorKind::InvalidInput { field, reason } => {
                    let shown = e.to_string();
                    if !field.contains(c.field) {
                        problems.push(format!("{}: field {field:?}, want {:?}", c.what, c.field));
                    }
                    if !reason.contains(c.rule) {
                        problems.push(format!("{}: reason {reason:?}, want {:?}", c.what, c.rule));
                    }
                    if !shown.contains(field.as_ref()) {
                        problems.push(format!(
                            "{}: message {shown:?} does not name {field:?}",
                            c.what
                        ));
                    }
                }
                other => problems.push(format!("{}: kind {other:?} ({e})", c.what)),
            },
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(srv.count(), 0, "requests were sent: {:?}", srv.requests());
}

/// A well-formed connection string parses back to its parts, in any part order, with
/// whitespace around parts and one trailing ';'.
fn host_strategy() -> impl Strategy<Value = String> {
    (
        "[a-z][a-z0-9-]{0,20}",
        "[a-z]{2,6}",
        proptest::option::of(1u16..),
    )
        .prop_map(|(name, tld, port)| match port {
            Some(p) => format!("{name}.{tld}:{p}"),
            None => format!("{name}.{tld}"),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn well_formed_connection_strings_parse(
        host in host_strategy(),
        policy in "[A-Za-z0-9_.-]{1,64}",
        key in proptest::collection::vec(any::<u8>(), 1..64),
        order in 0usize..6,
        trailing in any::<bool>(),
    ) {
        use base64::Engine;
        let key_b64 = base64::engine::general_purpose::STANDARD.encode(&key);
        let parts = [
            format!("HostName={host}"),
            format!("SharedAccessKeyName={policy}"),
            format!("SharedAccessKey={key_b64}"),
        ];
        let perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
        let mut s = perms[order].iter().map(|&i| format!(" {} ", parts[i])).collect::<Vec<_>>().join(";");
        if trailing {
            s.push(';');
        }
        let cs = ConnectionString::parse(&s).expect("well-formed string parses");
        prop_assert_eq!(cs.host_name(), host.as_str());
        prop_assert_eq!(cs.shared_access_key_name(), policy.as_str());
        prop_assert_eq!(cs.shared_access_key().expose_secret(), key_b64.as_str());
        let shown = format!("{:?}", cs);
        prop_assert!(!shown.contains(&key_b64));
    }

    /// Arbitrary text never panics the parser, and a rejection never echoes a key-looking value.
    #[test]
    fn arbitrary_connection_strings_never_panic_or_echo_the_key(
        prefix in "[ -~]{0,40}",
        secret in "[A-Za-z0-9+/]{12,40}",
        suffix in "[ -~;=]{0,40}",
    ) {
        let s = format!("{prefix}SharedAccessKey={secret}{suffix}");
        match ConnectionString::parse(&s) {
            Ok(cs) => {
                let shown = format!("{:?}", cs);
                prop_assert!(!shown.contains(&secret));
            }
            Err(e) => {
                prop_assert!(matches!(e.kind(), ErrorKind::InvalidInput { .. }), "{:?}", e.kind());
                prop_assert!(!e.to_string().contains(&secret), "{}", e);
                let shown = format!("{:?}", e);
                prop_assert!(!shown.contains(&secret));
            }
        }
    }
}
