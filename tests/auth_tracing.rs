//! Tracing output of the pipeline: one span per operation with its fields, and no secrets.
//! Its own test binary so that the global subscriber sees every callsite.

mod log_capture;
mod pipeline_support;

use log_capture::Capture;
use std::time::Duration;

use azure_twins::auth::Service;
use azure_twins::raw::{self, Pipeline};
use azure_twins::{ClientOptions, Credential, RetryOptions};
use pipeline_support::{Reply, Server};

const IOTHUB_API: &str = "2021-04-12";
const KEY: &str = "dGVzdC1rZXktZm9yLXNhcy1yZW5ld2FsLW9ubHktMDAwMA==";

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

fn sas_client(server: &Server) -> raw::iothub::Client {
    let options = ClientOptions::default()
        .retry(RetryOptions::default().jitter(0.0))
        .connect_timeout(Duration::from_secs(3600));
    let cs = format!(
        "HostName={};SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}",
        server.addr
    );
    let cred = Credential::from_connection_string(&cs).unwrap();
    let pipeline =
        Pipeline::new(Service::IotHub, &server.url(), Some(&cred), options.clone()).unwrap();
    raw::iothub::Client::new_with_client(
        &server.url(),
        raw::http_client(&options).unwrap(),
        pipeline,
    )
}

#[tokio::test(start_paused = true)]
async fn tracing_output_has_spans_but_no_secrets() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let server = Server::scripted(
        vec![Reply::json(429, "{}").with_header("retry-after", "1")],
        Reply::json(200, r#"{"deviceId":"d1"}"#),
    )
    .await;
    let client = sas_client(&server);
    client.devices_get_twin("d1", IOTHUB_API).await.unwrap();
    let sent = server.requests()[1]
        .header("authorization")
        .unwrap()
        .to_owned();
    let sig = sent
        .split("sig=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();

    let out = capture.text();
    assert!(out.contains("azure_twins.request"), "{out}");
    assert!(
        out.contains("operation=\"devices_get_twin\"")
            || out.contains("operation=devices_get_twin"),
        "{out}"
    );
    assert!(out.contains("attempts=2"), "{out}");
    assert!(out.contains("status=200"), "{out}");
    for secret in [
        KEY,
        &KEY[..20],
        &sig,
        "SharedAccessSignature",
        &percent_decode(&sig),
    ] {
        assert!(!out.contains(secret), "secret in tracing output: {out}");
    }
}
