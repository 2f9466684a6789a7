//! The emulator's HTTPS: one self-signed certificate for `localhost`, `127.0.0.1` and the
//! configured host name, if any (rcgen),
//! served with rustls on the ring provider. Official SDKs refuse plain http, so this is how they
//! reach the emulator; clients trust the PEM from `Emulator::ca_certificate_pem`.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

/// A generated certificate and the TLS acceptor serving it.
pub(crate) struct Tls {
    /// PEM of the certificate, for clients to trust.
    pub cert_pem: String,
    /// Acceptor for incoming connections.
    pub acceptor: tokio_rustls::TlsAcceptor,
}

/// Generates the certificate (subject alternative names `localhost`, `127.0.0.1` and `host_name`)
/// and the rustls server configuration (HTTP/1.1 over TLS 1.2/1.3).
pub(crate) fn generate(host_name: Option<&str>) -> std::io::Result<Tls> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Some(name) = host_name
        && !names.iter().any(|n| n.eq_ignore_ascii_case(name))
    {
        names.push(name.to_ascii_lowercase());
    }
    let ck = rcgen::generate_simple_self_signed(names)
        .map_err(|e| std::io::Error::other(format!("generating the TLS certificate: {e}")))?;
    let cert_pem = ck.cert.pem();
    let cert_der: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| std::io::Error::other(format!("TLS protocol versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key)
        .map_err(|e| std::io::Error::other(format!("TLS certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        cert_pem,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    })
}
