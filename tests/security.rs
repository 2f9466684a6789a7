//! Security at the facade level, against the emulator. What the pipeline tests already prove is
//! not repeated here:
//! - credentials refused over plain http to remote hosts, at the `Pipeline` level and for a
//!   generated client pointed elsewhere: `tests/auth_pipeline.rs`
//!   `credentials_are_refused_over_plain_http_to_remote_hosts`;
//! - secrets absent from `Debug` of credentials and pipelines: `tests/auth_pipeline.rs`
//!   `debug_output_contains_no_secret`; from tracing of a raw call with retries:
//!   `tests/auth_tracing.rs` `tracing_output_has_spans_but_no_secrets`;
//! - TLS to the emulator with its CA works and an untrusted certificate is refused (and not
//!   retried): `tests/pipeline_emulator.rs` `https_with_the_emulator_root_certificate`.
//!
//! Added here: the same transport rule through both facade builders, and secrets absent from the
//! facade's errors (real 401s from the emulator), its `Debug` output and the captured tracing of
//! successful and failing calls on both services.
#![cfg(all(feature = "iothub", feature = "digitaltwins"))]

use std::io::Write;
use std::sync::{Arc, Mutex};

use azure_twins::{Credential, DigitalTwinsClient, ErrorKind, IotHubClient};
use azure_twins_emulator::Emulator;

const REMOTE_KEY: &str = "cmVtb3RlLXNlY3JldC1rZXktYnl0ZXM=";

#[test]
fn facade_builders_refuse_credentials_over_plain_http_to_remote_hosts() {
    for endpoint in ["http://hub.example.com", "http://10.0.0.7:8080"] {
        let err = IotHubClient::builder(endpoint)
            .credential(Credential::shared_access_key("iothubowner", REMOTE_KEY).unwrap())
            .build()
            .unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::InsecureTransport,
            "{endpoint}: {err}"
        );
        assert!(!format!("{err} {err:?}").contains(REMOTE_KEY));
        let err = DigitalTwinsClient::builder(endpoint)
            .credential(Credential::bearer_token("remote-bearer-secret"))
            .build()
            .unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::InsecureTransport,
            "{endpoint}: {err}"
        );
        assert!(!format!("{err} {err:?}").contains("remote-bearer-secret"));
    }
    // A remote HostName in a connection string is reached over https, never http.
    let hub = IotHubClient::from_connection_string(&format!(
        "HostName=hub.example.com;SharedAccessKeyName=iothubowner;SharedAccessKey={REMOTE_KEY}"
    ))
    .unwrap();
    assert!(hub.endpoint().starts_with("https://"), "{}", hub.endpoint());
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Current-thread runtime: the thread-local subscriber sees every task of the calls.
#[tokio::test]
async fn secrets_absent_from_facade_errors_debug_and_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let bearer = "adt-bearer-secret-7f3a";
    let emu = Emulator::builder()
        .adt_bearer_token(Some(bearer))
        .start()
        .await
        .unwrap();
    let cs = emu.iothub_connection_string();
    let key = emu.iothub_policy_key("iothubowner").unwrap();
    let wrong_key = "d3JvbmctYnV0LXZhbGlkLWtleS1ieXRlcw==";

    // Successful calls with the right secrets.
    let hub = IotHubClient::from_connection_string(&cs).unwrap();
    hub.create_device("sec-1").send().await.unwrap();
    hub.get_twin("sec-1").send().await.unwrap();
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token(bearer))
        .build()
        .unwrap();
    dt.create_models(vec![serde_json::json!({
        "@id": "dtmi:com:example:Sec;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3"
    })])
    .send()
    .await
    .unwrap();

    // Failing calls: a wrong key and a wrong bearer token give real 401s.
    let bad_hub = IotHubClient::from_connection_string(&cs.replace(&key, wrong_key)).unwrap();
    let hub_err = bad_hub.get_twin("sec-1").send().await.unwrap_err();
    assert_eq!(hub_err.status().map(|s| s.as_u16()), Some(401), "{hub_err}");
    let wrong_bearer = "wrong-bearer-secret-91c2";
    let bad_dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token(wrong_bearer))
        .build()
        .unwrap();
    let dt_err = bad_dt.get_twin("nope").send().await.unwrap_err();
    assert_eq!(dt_err.status().map(|s| s.as_u16()), Some(401), "{dt_err}");

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(!logs.is_empty(), "tracing captured nothing");
    let shown = [
        format!("{hub_err}"),
        format!("{hub_err:?}"),
        format!("{dt_err}"),
        format!("{dt_err:?}"),
        format!("{:?}", hub.clone()),
        format!("{:?}", bad_hub.clone()),
        format!("{dt:?}"),
        format!("{bad_dt:?}"),
        logs,
    ];
    for (i, text) in shown.iter().enumerate() {
        for secret in [key.as_str(), wrong_key, bearer, wrong_bearer, "sig="] {
            assert!(
                !text.contains(secret),
                "output #{i} contains a secret ({secret}): {text}"
            );
        }
    }
    emu.shutdown().await;
}
