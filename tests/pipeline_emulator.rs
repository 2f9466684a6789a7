//! The shared pipeline against the emulator: TLS with an extra root CA (ring provider), SAS
//! tokens verified by the service side, renewal, and retries through injected faults.

use std::sync::Arc;
use std::time::Duration;

use azure_twins::auth::Service;
use azure_twins::raw::{self, Pipeline};
use azure_twins::{ClientOptions, Credential, RetryOptions};
use azure_twins_emulator::{Emulator, Fault, FaultRule, RetryAfter};

const IOTHUB_API: &str = "2021-04-12";

fn client(
    emu: &Emulator,
    credential: &Credential,
    options: ClientOptions,
) -> (raw::iothub::Client, Pipeline) {
    let endpoint = emu.iothub_endpoint();
    let pipeline = Pipeline::new(
        Service::IotHub,
        &endpoint,
        Some(credential),
        options.clone(),
    )
    .unwrap();
    let http = raw::http_client(&options).unwrap();
    (
        raw::iothub::Client::new_with_client(&endpoint, http, pipeline.clone()),
        pipeline,
    )
}

#[tokio::test]
async fn https_with_the_emulator_root_certificate() {
    let emu = Emulator::builder().tls(true).start().await.unwrap();
    assert!(emu.iothub_endpoint().starts_with("https://"));
    let pem = emu
        .ca_certificate_pem()
        .expect("TLS mode has a certificate");
    let cred = Credential::from_connection_string(&emu.iothub_connection_string()).unwrap();

    let (trusted, _) = client(
        &emu,
        &cred,
        ClientOptions::default().add_root_certificate_pem(pem),
    );
    let devices = trusted.devices_get_devices(IOTHUB_API, None).await.unwrap();
    assert!(devices.is_empty());

    // Without the extra root the handshake fails, and a certificate error is not retried: a
    // retry would first wait an hour here, which the guard turns into a failure.
    let patient = RetryOptions::default()
        .initial_delay(Duration::from_secs(3600))
        .max_total_time(Duration::from_secs(7200));
    let (untrusted, _) = client(&emu, &cred, ClientOptions::default().retry(patient));
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        untrusted.devices_get_devices(IOTHUB_API, None),
    )
    .await
    .expect("a TLS certificate failure must not be retried")
    .unwrap_err();
    assert!(err.status().is_none(), "{err}");
    emu.shutdown().await;
}

#[tokio::test]
async fn sas_tokens_are_accepted_and_signed_once_per_lifetime() {
    let emu = Emulator::builder().start().await.unwrap();
    // Real time (the emulator checks `se` against the wall clock, and the facade signs it from
    // the wall clock). 4 s lifetime, `se` truncated to whole seconds, renewed 1 s before it: the
    // renewal point is 2–3 s after signing, so a wave (30 loopback calls) has 2 s to share one
    // token even on a busy machine (a 2 s lifetime left it 0.5 s), and each token still had 1 s
    // left at its renewal point for a late request.
    let cred = Credential::from_connection_string(&emu.iothub_connection_string())
        .unwrap()
        .with_sas_lifetime(Duration::from_secs(4));
    let (client, _pipeline) = client(&emu, &cred, ClientOptions::default());
    let client = Arc::new(client);
    for wave in 1..=2usize {
        let mut tasks = Vec::new();
        for _ in 0..30 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                client.devices_get_devices(IOTHUB_API, None).await
            }));
        }
        for t in tasks {
            t.await
                .unwrap()
                .expect("the emulator accepted the token (no 401)");
        }
        assert_eq!(
            emu.distinct_sas_tokens_seen(),
            wave,
            "one signature per lifetime"
        );
        if wave == 1 {
            // Past the latest renewal point (3 s after signing).
            tokio::time::sleep(Duration::from_millis(3100)).await;
        }
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn injected_faults_are_retried_to_success() {
    let emu = Emulator::builder().start().await.unwrap();
    let cred = Credential::from_connection_string(&emu.iothub_connection_string()).unwrap();
    let options = ClientOptions::default()
        .retry(RetryOptions::default().initial_delay(Duration::from_millis(10)));
    let (client, _) = client(&emu, &cred, options);
    for fault in [
        Fault::Throttle {
            retry_after: RetryAfter::Millis(20),
        },
        Fault::ServiceUnavailable,
        Fault::DropConnection,
    ] {
        emu.faults().inject(FaultRule {
            fault,
            count: 1,
            service: None,
            method: Some("GET".into()),
            path_prefix: Some("/devices".into()),
        });
    }
    client.devices_get_devices(IOTHUB_API, None).await.unwrap();
    assert_eq!(emu.faults().injected(), 3);
    emu.shutdown().await;
}
