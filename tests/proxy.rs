//! `ClientOptions::proxy` against a real forward proxy on loopback (tests/proxy_support): both
//! clients' calls go through it — absolute-form requests for the plain-http emulator, `CONNECT`
//! tunnels for the TLS emulator — with `Proxy-Authorization` when configured, and `no_proxy`
//! hosts go direct. Environment proxies (`HTTPS_PROXY`, `system_proxy`) are in
//! tests/proxy_env.rs, as the environment is process-wide.

mod proxy_support;

use azure_twins::digitaltwins::DigitalTwinsClient;
use azure_twins::{ClientOptions, Credential, ErrorKind, IotHubClient, Proxy, RequestOptions};
use azure_twins::{RetryOptions, iothub::Twin};
use azure_twins_emulator::Emulator;
use futures::TryStreamExt;
use proxy_support::TestProxy;
use serde_json::{Value, json};

const THERMOSTAT: &str = "dtmi:com:example:Thermostat;1";

fn thermostat() -> Value {
    json!({
        "@id": THERMOSTAT, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
        "contents": [{"@type": "Property", "name": "setPoint", "schema": "double", "writable": true}]
    })
}

fn clients(emu: &Emulator, options: ClientOptions) -> (IotHubClient, DigitalTwinsClient) {
    let hub = IotHubClient::builder(emu.iothub_endpoint())
        .credential(Credential::from_connection_string(&emu.iothub_connection_string()).unwrap())
        .options(options.clone())
        .build()
        .unwrap();
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("test-token"))
        .options(options)
        .build()
        .unwrap();
    (hub, dt)
}

/// Three IoT Hub calls and three ADT calls, with their results checked; returns the number of
/// requests made (6).
async fn six_calls(hub: &IotHubClient, dt: &DigitalTwinsClient, device: &str) -> usize {
    let created = hub.create_device(device).send().await.unwrap();
    assert_eq!(created.device_id, device);
    let twin = hub.get_twin(device).send().await.unwrap();
    assert_eq!(twin.value.device_id, device);
    let twins: Vec<Twin> = hub
        .query("SELECT * FROM devices")
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert!(twins.iter().any(|t| t.device_id == device), "{twins:?}");

    let uploaded = dt.create_models([thermostat()]).send().await.unwrap();
    assert_eq!(uploaded.len(), 1);
    let model = dt.get_model(THERMOSTAT).send().await.unwrap();
    assert_eq!(model.id, THERMOSTAT);
    let models: Vec<_> = dt.list_models().into_stream().try_collect().await.unwrap();
    assert_eq!(models.len(), 1);
    6
}

#[tokio::test]
async fn every_plain_http_call_of_both_clients_goes_through_the_proxy() {
    let emu = Emulator::builder().start().await.unwrap();
    let proxy = TestProxy::start().await;
    // system_proxy(false) does not turn an explicit proxy off.
    let options = ClientOptions::default()
        .proxy(Proxy::http(proxy.url()).unwrap())
        .system_proxy(false);
    let (hub, dt) = clients(&emu, options);
    let calls = six_calls(&hub, &dt, "via-proxy").await;

    let seen = proxy.seen();
    assert_eq!(seen.forwarded.len(), calls, "{:#?}", seen.forwarded);
    assert!(seen.tunnels.is_empty());
    let hub_base = format!("{}/", emu.iothub_endpoint());
    let adt_base = format!("{}/", emu.adt_endpoint());
    let expected = [
        ("PUT", &hub_base, "devices/via-proxy"),
        ("GET", &hub_base, "twins/via-proxy"),
        ("POST", &hub_base, "devices/query"),
        ("POST", &adt_base, "models"),
        ("GET", &adt_base, "models/dtmi"),
        ("GET", &adt_base, "models"),
    ];
    for (line, (method, base, path)) in seen.forwarded.iter().zip(expected) {
        assert!(
            line.starts_with(&format!("{method} {base}{path}")),
            "{line} vs {method} {base}{path}"
        );
    }
    assert!(seen.proxy_auth.iter().all(Option::is_none));
    emu.shutdown().await;
}

#[tokio::test]
async fn https_is_tunnelled_with_connect_and_needs_the_proxy() {
    let emu = Emulator::builder().tls(true).start().await.unwrap();
    let pem = emu.ca_certificate_pem().unwrap();
    let proxy = TestProxy::start().await;
    let options = ClientOptions::default()
        .add_root_certificate_pem(pem)
        .proxy(Proxy::https(proxy.url()).unwrap());
    let (hub, dt) = clients(&emu, options);
    assert!(hub.endpoint().starts_with("https://"));
    six_calls(&hub, &dt, "tunnelled").await;

    let seen = proxy.seen();
    assert!(seen.forwarded.is_empty(), "{:?}", seen.forwarded);
    let hub_authority = emu
        .iothub_endpoint()
        .trim_start_matches("https://")
        .to_owned();
    let adt_authority = emu.adt_endpoint().trim_start_matches("https://").to_owned();
    assert!(seen.tunnels.contains(&hub_authority), "{:?}", seen.tunnels);
    assert!(seen.tunnels.contains(&adt_authority), "{:?}", seen.tunnels);
    assert!(
        seen.tunnels
            .iter()
            .all(|t| *t == hub_authority || *t == adt_authority)
    );

    // The clients reach the services only through the proxy: with it gone, calls fail to
    // connect although the emulator is still up.
    proxy.shutdown();
    let once = RequestOptions::default().retry(RetryOptions::none());
    let e = hub
        .get_twin("tunnelled")
        .options(once.clone())
        .send()
        .await
        .unwrap_err();
    assert!(e.status().is_none(), "{e:?}");
    let e = dt
        .get_model(THERMOSTAT)
        .options(once)
        .send()
        .await
        .unwrap_err();
    assert!(e.status().is_none(), "{e:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn proxy_credentials_are_sent_as_proxy_authorization_and_never_printed() {
    let emu = Emulator::builder().start().await.unwrap();
    // base64("alice:hunter2")
    let expected = "Basic YWxpY2U6aHVudGVyMg==".to_owned();
    let proxy = TestProxy::start_with_auth(Some(expected.clone())).await;

    let options = ClientOptions::default().proxy(
        Proxy::all(proxy.url())
            .unwrap()
            .basic_auth("alice", "hunter2"),
    );
    let printed = format!("{options:?}");
    assert!(printed.contains("alice"), "{printed}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains("YWxpY2U6aHVudGVyMg"), "{printed}");
    let (hub, dt) = clients(&emu, options);
    let printed = format!("{hub:?} {dt:?}");
    assert!(!printed.contains("hunter2") && !printed.contains("YWxpY2U6aHVudGVyMg"));
    let calls = six_calls(&hub, &dt, "authorised").await;
    let seen = proxy.seen();
    assert_eq!(seen.forwarded.len(), calls);
    assert_eq!(seen.refused, 0);
    assert_eq!(seen.proxy_auth.len(), calls);
    assert!(
        seen.proxy_auth
            .iter()
            .all(|a| a.as_ref() == Some(&expected))
    );

    // Without credentials the proxy refuses, and the error says so (407) without retrying.
    let (anon, _) = clients(
        &emu,
        ClientOptions::default().proxy(Proxy::all(proxy.url()).unwrap()),
    );
    let e = anon
        .get_twin("authorised")
        .options(RequestOptions::default().retry(RetryOptions::none()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(407), "{e:?}");
    assert_eq!(proxy.seen().refused, 1);
    assert_eq!(proxy.seen().proxy_auth.last(), Some(&None));
    emu.shutdown().await;
}

#[tokio::test]
async fn no_proxy_hosts_go_direct_and_others_through_the_proxy() {
    let emu = Emulator::builder().start().await.unwrap();
    let proxy = TestProxy::start().await;

    // Loopback is proxied unless listed (the other tests); listed, it goes direct.
    let direct = ClientOptions::default().proxy(
        Proxy::all(proxy.url())
            .unwrap()
            .no_proxy("example.invalid, 127.0.0.1"),
    );
    let (hub, dt) = clients(&emu, direct);
    six_calls(&hub, &dt, "direct").await;
    assert!(proxy.seen().forwarded.is_empty(), "{:?}", proxy.seen());
    assert!(proxy.seen().proxy_auth.is_empty());

    // A list that does not name the emulator's host leaves it proxied.
    let proxied = ClientOptions::default().proxy(
        Proxy::all(proxy.url())
            .unwrap()
            .no_proxy("example.invalid, 10.0.0.0/8"),
    );
    let (hub, _) = clients(&emu, proxied);
    hub.get_twin("direct").send().await.unwrap();
    assert_eq!(proxy.seen().forwarded.len(), 1);
    emu.shutdown().await;
}

#[test]
fn bad_proxy_urls_are_local_errors() {
    for bad in [
        "not a url",
        "ftp://127.0.0.1:21",
        "http://bob:pw@127.0.0.1:3128",
    ] {
        let e = Proxy::all(bad).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "proxy"),
            "{bad}: {e:?}"
        );
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
}
