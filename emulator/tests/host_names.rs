//! Host names like a real hub's (`EmulatorBuilder::host_name`, `--host-name`): the connection
//! string names the host (no `:443`), SAS tokens must name that host as the service requires
//! (bare, with a path, URL-encoded in either hex case or not at all, any letter case) and no other,
//! the endpoints use it, and the TLS certificate is valid for it (and still for localhost and
//! 127.0.0.1).

mod iothub_support;

use azure_twins_emulator::Emulator;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use iothub_support::{API, in_an_hour, parse_cs, sign};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use sha2::Sha256;
use std::net::SocketAddr;
use std::sync::Arc;

/// A token whose `sr` is sent exactly as `sr_as_sent` and signed over that same text.
fn sign_as_sent(sr_as_sent: &str, policy: &str, key_b64: &str) -> String {
    let expiry = in_an_hour();
    let key = B64.decode(key_b64).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{sr_as_sent}\n{expiry}").as_bytes());
    let sig: String = B64
        .encode(mac.finalize().into_bytes())
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("SharedAccessSignature sr={sr_as_sent}&sig={sig}&se={expiry}&skn={policy}")
}

/// A client trusting only `pem` that resolves `names` to `addr` (as an /etc/hosts entry would).
fn client(pem: &str, names: &[&str], addr: SocketAddr) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut b = reqwest::Client::builder().use_preconfigured_tls(config);
    for n in names {
        b = b.resolve(n, addr);
    }
    b.build().unwrap()
}

async fn status(c: &reqwest::Client, url: &str, token: &str) -> u16 {
    c.get(format!("{url}/devices?api-version={API}"))
        .header("authorization", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn named_hub_prints_its_name_and_accepts_tokens_for_it_only() {
    iothub_support::crypto();
    let emu = Emulator::builder()
        .tls(true)
        .host_name(Some("myhub.example.net"))
        .start()
        .await
        .unwrap();
    let (host, policy, key) = parse_cs(&emu.iothub_connection_string());
    let port: u16 = host
        .strip_prefix("myhub.example.net:")
        .expect("HostName=myhub.example.net:<port> off 443")
        .parse()
        .unwrap();
    assert_eq!(emu.iothub_host(), host);
    assert_eq!(
        emu.iothub_endpoint(),
        format!("https://myhub.example.net:{port}")
    );
    let adt_port: u16 = emu
        .adt_endpoint()
        .strip_prefix("https://myhub.example.net:")
        .expect("the ADT endpoint uses the name too")
        .parse()
        .unwrap();
    assert_ne!(adt_port, port);
    let pem = emu.ca_certificate_pem().unwrap();
    let c = client(
        &pem,
        &["myhub.example.net"],
        SocketAddr::from(([127, 0, 0, 1], port)),
    );
    let url = emu.iothub_endpoint();

    let accepted = [
        sign(&host, &policy, &key, in_an_hour()),
        sign(&format!("{host}/devices/d1"), &policy, &key, in_an_hour()),
        sign(
            &format!("{host}/devices/d1/modules/m1"),
            &policy,
            &key,
            in_an_hour(),
        ),
        // host names are case-insensitive
        sign(
            &format!("MyHub.EXAMPLE.net:{port}"),
            &policy,
            &key,
            in_an_hour(),
        ),
        // not URL-encoded at all, and lower-case hex escapes
        sign_as_sent(&format!("{host}/devices/d1"), &policy, &key),
        sign_as_sent(
            &format!("myhub.example.net%3a{port}%2fdevices%2fd1"),
            &policy,
            &key,
        ),
    ];
    for t in &accepted {
        assert_eq!(status(&c, &url, t).await, 200, "refused {t}");
    }
    let refused = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "myhub.example.net".to_string(),
        format!("myhub.example.net:{}", port.wrapping_add(1)),
        format!("myhub.example.netx:{port}"),
        format!("{host}x"),
        format!("other.example.net:{port}"),
        format!("sub.myhub.example.net:{port}"),
    ];
    for sr in &refused {
        let r = c
            .get(format!("{url}/devices?api-version={API}"))
            .header("authorization", sign(sr, &policy, &key, in_an_hour()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "accepted sr={sr}");
        assert_eq!(r.headers()["iothub-errorcode"], "IotHubUnauthorizedAccess");
        let body = r.text().await.unwrap();
        assert!(body.contains("does not name this hub"), "{body}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn certificate_names_the_host_localhost_and_loopback_only() {
    iothub_support::crypto();
    let emu = Emulator::builder()
        .tls(true)
        .host_name(Some("Twins.Example.Org"))
        .start()
        .await
        .unwrap();
    let (host, policy, key) = parse_cs(&emu.iothub_connection_string());
    let token = sign(&host, &policy, &key, in_an_hour());
    let port: u16 = host.rsplit_once(':').unwrap().1.parse().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let pem = emu.ca_certificate_pem().unwrap();
    let c = client(
        &pem,
        &["twins.example.org", "not-the-hub.example.org"],
        addr,
    );
    for base in [
        format!("https://twins.example.org:{port}"),
        format!("https://localhost:{port}"),
        format!("https://127.0.0.1:{port}"),
    ] {
        assert_eq!(status(&c, &base, &token).await, 200, "{base}");
    }
    // A name the certificate does not carry fails the TLS handshake.
    let err = c
        .get(format!(
            "https://not-the-hub.example.org:{port}/devices?api-version={API}"
        ))
        .header("authorization", &token)
        .send()
        .await
        .expect_err("the certificate must not be valid for another name");
    assert!(err.is_connect(), "{err:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_host_names_are_refused_before_binding() {
    for (name, what) in [
        ("", "1 to 253 characters"),
        ("myhub:0", "a number from 1 to 65535, got '0'"),
        ("myhub:65536", "got '65536'"),
        ("myhub:+443", "got '+443'"),
        ("https://myhub", "got '//myhub'"),
        ("myhub:443:1", "got '443:1'"),
        ("myhub/devices", "'/'"),
        ("my hub", "' '"),
        (".myhub", "not a DNS name"),
        ("my..hub", "not a DNS name"),
    ] {
        let err = Emulator::builder()
            .host_name(Some(name))
            .start()
            .await
            .expect_err(name);
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{name}");
        assert!(err.to_string().contains(what), "{name}: {err}");
    }
    let long = "a".repeat(254);
    let err = Emulator::builder()
        .host_name(Some(long))
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("got 254"), "{err}");
}

#[tokio::test]
async fn without_a_name_loopback_aliases_are_accepted() {
    iothub_support::crypto();
    let emu = Emulator::builder().start().await.unwrap();
    let (host, policy, key) = parse_cs(&emu.iothub_connection_string());
    let port = host.strip_prefix("127.0.0.1:").expect("127.0.0.1:<port>");
    let c = reqwest::Client::new();
    for sr in [
        host.clone(),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}/devices/x"),
    ] {
        assert_eq!(
            status(
                &c,
                &format!("http://{host}"),
                &sign(&sr, &policy, &key, in_an_hour())
            )
            .await,
            200,
            "{sr}"
        );
    }
    // off 443, a bare host is not the hub
    let t = sign("127.0.0.1", &policy, &key, in_an_hour());
    assert_eq!(status(&c, &format!("http://{host}"), &t).await, 401);
    emu.shutdown().await;
}

/// Starts `builder` on 127.0.0.1:443; `None` when binding 443 is not permitted (not root).
/// Another process may hold 443 for a moment (tests/other_sdks/run.sh): retries a while.
async fn start_on_443(builder: azure_twins_emulator::EmulatorBuilder) -> Option<Emulator> {
    let mut last = None;
    for _ in 0..100 {
        match builder
            .clone()
            .iothub_addr(SocketAddr::from(([127, 0, 0, 1], 443)))
            .start()
            .await
        {
            Ok(e) => return Some(e),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                eprintln!("skipped: binding 127.0.0.1:443 needs root ({e})");
                return None;
            }
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    panic!("127.0.0.1:443 stayed busy: {last:?}");
}

/// On port 443 the connection string has no port and tokens name the bare host, as a real hub's.
/// Binding 443 needs root (CI runs as root); without the permission the test says so and passes.
#[tokio::test]
async fn on_443_the_host_name_has_no_port() {
    iothub_support::crypto();
    let named = Emulator::builder().tls(true).host_name(Some("localhost"));
    let Some(emu) = start_on_443(named).await else {
        return;
    };
    let cs = emu.iothub_connection_string();
    assert!(
        cs.starts_with("HostName=localhost;SharedAccessKeyName=iothubowner;"),
        "{cs}"
    );
    assert_eq!(emu.iothub_endpoint(), "https://localhost");
    let (host, policy, key) = parse_cs(&cs);
    assert_eq!(host, "localhost");
    let pem = emu.ca_certificate_pem().unwrap();
    let c = client(&pem, &[], SocketAddr::from(([127, 0, 0, 1], 443)));
    let ok = sign("localhost", &policy, &key, in_an_hour());
    assert_eq!(status(&c, "https://localhost", &ok).await, 200);
    let scoped = sign("localhost/devices/d1", &policy, &key, in_an_hour());
    assert_eq!(status(&c, "https://localhost", &scoped).await, 200);
    // The emulator compares the host exactly as the connection string names it (whether the
    // service also accepts an explicit `:443` is unconfirmed).
    let with_port = sign("localhost:443", &policy, &key, in_an_hour());
    assert_eq!(status(&c, "https://localhost", &with_port).await, 401);
    let loopback = sign("127.0.0.1", &policy, &key, in_an_hour());
    assert_eq!(status(&c, "https://localhost", &loopback).await, 401);
    emu.shutdown().await;

    // Without a name (issue 13: `HostName=127.0.0.1` on 443 was refused): the bare loopback
    // host is the hub, and tokens for it (or `localhost`) are accepted.
    let Some(emu) = start_on_443(Emulator::builder().tls(true)).await else {
        return;
    };
    let cs = emu.iothub_connection_string();
    assert!(
        cs.starts_with("HostName=127.0.0.1;SharedAccessKeyName=iothubowner;"),
        "{cs}"
    );
    assert_eq!(emu.iothub_host(), "127.0.0.1");
    assert_eq!(emu.iothub_endpoint(), "https://localhost");
    let (_, policy, key) = parse_cs(&cs);
    let c = client(
        &emu.ca_certificate_pem().unwrap(),
        &[],
        SocketAddr::from(([127, 0, 0, 1], 443)),
    );
    for sr in [
        "127.0.0.1",
        "127.0.0.1/devices/d1",
        "localhost",
        "127.0.0.1:443",
    ] {
        let t = sign(sr, &policy, &key, in_an_hour());
        assert_eq!(status(&c, "https://127.0.0.1", &t).await, 200, "{sr}");
    }
    emu.shutdown().await;
}

/// Behind a redirect of port 443 (iptables, socat) to a listener on another port,
/// `--host-name NAME:443` makes the emulator the hub clients think they reach: `HostName=NAME`
/// and tokens for the bare `NAME`.
#[tokio::test]
async fn a_host_name_with_443_serves_a_redirected_port() {
    iothub_support::crypto();
    let emu = Emulator::builder()
        .tls(true)
        .host_name(Some("redirected.example:443"))
        .start()
        .await
        .unwrap();
    let cs = emu.iothub_connection_string();
    assert!(
        cs.starts_with("HostName=redirected.example;SharedAccessKeyName=iothubowner;"),
        "{cs}"
    );
    assert_eq!(emu.iothub_host(), "redirected.example");
    assert_eq!(emu.iothub_endpoint(), "https://redirected.example");
    // The ADT listener is not behind the redirect: its own port.
    assert!(
        emu.adt_endpoint()
            .starts_with("https://redirected.example:"),
        "{}",
        emu.adt_endpoint()
    );
    assert_eq!(
        emu.adt_endpoint(),
        format!("https://redirected.example:{}", emu.adt_local_addr().port())
    );
    // What the redirect does: clients address redirected.example:443, packets reach the listener.
    let real = emu.iothub_local_addr();
    assert_ne!(real.port(), 443);
    let (host, policy, key) = parse_cs(&cs);
    let c = client(
        &emu.ca_certificate_pem().unwrap(),
        &["redirected.example"],
        real,
    );
    let url = format!("https://redirected.example:{}", real.port());
    let bare = sign(&host, &policy, &key, in_an_hour());
    assert_eq!(status(&c, &url, &bare).await, 200);
    let scoped = sign("redirected.example/devices/d9", &policy, &key, in_an_hour());
    assert_eq!(status(&c, &url, &scoped).await, 200);
    // The listener's own port is not the hub's host any more.
    let own = sign(
        &format!("redirected.example:{}", real.port()),
        &policy,
        &key,
        in_an_hour(),
    );
    assert_eq!(status(&c, &url, &own).await, 401);
    emu.shutdown().await;
}
