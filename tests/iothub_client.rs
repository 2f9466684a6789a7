//! Building an `IotHubClient` for the emulator: connection string (http), builder with the
//! TLS endpoint and its root certificate, wrong keys, and one SAS token shared by clones.

mod iothub_support;

use azure_twins::{ClientOptions, Credential, IotHubClient};
use azure_twins_emulator::Emulator;

#[tokio::test]
async fn builder_with_tls_endpoint_and_root_certificate() {
    let emu = Emulator::builder().tls(true).start().await.unwrap();
    assert!(emu.iothub_endpoint().starts_with("https://"));
    let hub = IotHubClient::builder(emu.iothub_endpoint())
        .credential(Credential::from_connection_string(&emu.iothub_connection_string()).unwrap())
        .options(
            ClientOptions::default().add_root_certificate_pem(emu.ca_certificate_pem().unwrap()),
        )
        .build()
        .unwrap();
    hub.create_device("tls-dev").send().await.unwrap();
    assert_eq!(
        hub.get_twin("tls-dev")
            .send()
            .await
            .unwrap()
            .value
            .device_id,
        "tls-dev"
    );

    // Without trusting the emulator's certificate the call fails before any response.
    let untrusted = IotHubClient::builder(emu.iothub_endpoint())
        .credential(Credential::from_connection_string(&emu.iothub_connection_string()).unwrap())
        .build()
        .unwrap();
    let err = untrusted.get_twin("tls-dev").send().await.unwrap_err();
    assert!(err.status().is_none(), "{err:?}");
}

#[tokio::test]
async fn wrong_key_is_unauthorized_and_does_not_leak() {
    let emu = Emulator::builder().start().await.unwrap();
    let wrong = format!(
        "HostName={};SharedAccessKeyName=iothubowner;SharedAccessKey=d3Jvbmcta2V5LXdyb25nLWtleQ==",
        emu.iothub_host()
    );
    let hub = IotHubClient::from_connection_string(&wrong).unwrap();
    let err = hub.get_device_statistics().send().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401), "{err:?}");
    let text = format!("{err} {err:?} {hub:?}");
    assert!(!text.contains("d3Jvbmcta2V5LXdyb25nLWtleQ=="), "{text}");
    assert!(!text.contains("sig="), "no token in the error: {text}");
}

#[tokio::test]
async fn clones_share_one_sas_token_across_tasks() {
    let (emu, hub) = iothub_support::start().await;
    hub.create_device("shared").send().await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let hub = hub.clone();
            tokio::spawn(async move { hub.get_twin("shared").send().await.map(|t| t.etag) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(emu.distinct_sas_tokens_seen(), 1);
}
