//! HTTPS mode: a client trusting the emulator's certificate works on both listeners; a client
//! that does not trust it fails the handshake.

mod iothub_support;

use azure_twins_emulator::Emulator;
use iothub_support::{API, in_an_hour, parse_cs, sign};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use std::sync::Arc;

fn client_trusting(pem: Option<&str>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = pem {
        roots
            .add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
            .unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .unwrap()
}

#[tokio::test]
async fn https_with_the_ca_works_and_without_fails() {
    iothub_support::crypto();
    let emu = Emulator::builder().tls(true).start().await.unwrap();
    let pem = emu.ca_certificate_pem().expect("a certificate in TLS mode");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(emu.iothub_endpoint().starts_with("https://localhost:"));
    assert!(emu.adt_endpoint().starts_with("https://localhost:"));
    let (host, policy, key) = parse_cs(&emu.iothub_connection_string());
    let token = sign(&host, &policy, &key, in_an_hour());

    let good = client_trusting(Some(&pem));
    let r = good
        .get(format!(
            "{}/devices?api-version={API}",
            emu.iothub_endpoint()
        ))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // the certificate also names 127.0.0.1
    let by_ip = emu.iothub_endpoint().replace("localhost", "127.0.0.1");
    let r = good
        .get(format!("{by_ip}/devices?api-version={API}"))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = good
        .get(format!("{}/_emulator/faults", emu.adt_endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let untrusting = client_trusting(None);
    let err = untrusting
        .get(format!(
            "{}/devices?api-version={API}",
            emu.iothub_endpoint()
        ))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err}");
    // plain http against the TLS port does not get a response either
    let plain = reqwest::Client::new();
    let http = emu.iothub_endpoint().replace("https://", "http://");
    let plain_ok = plain
        .get(format!("{http}/devices?api-version={API}"))
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    assert!(!plain_ok, "plain http must not be served on the TLS port");
    emu.shutdown().await;
}

#[tokio::test]
async fn plain_mode_has_no_certificate() {
    let emu = Emulator::builder().start().await.unwrap();
    assert!(emu.ca_certificate_pem().is_none());
    assert!(emu.iothub_endpoint().starts_with("http://127.0.0.1:"));
    assert_eq!(
        emu.iothub_endpoint(),
        format!("http://{}", emu.iothub_host())
    );
    emu.shutdown().await;
}
