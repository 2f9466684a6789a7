//! System proxy settings (`HTTPS_PROXY`, `NO_PROXY`) and `ClientOptions::system_proxy`, with a
//! real forward proxy on loopback and the TLS emulator.
//!
//! The environment is process-wide (and this crate forbids the `unsafe` that `set_var` needs),
//! so the test runs each scenario in a child process — this test binary again, running only
//! the ignored `child` test — started with the proxy variables of that scenario, while the
//! emulator and the proxy stay up in the parent, which counts what the proxy saw.

mod proxy_support;

use std::process::Command;

use azure_twins::digitaltwins::DigitalTwinsClient;
use azure_twins::{ClientOptions, Credential, IotHubClient, Proxy, RequestOptions, RetryOptions};
use azure_twins_emulator::Emulator;
use futures::TryStreamExt;
use proxy_support::TestProxy;

const VARS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Runs the `child` test in a new process with `vars` (and no other proxy variables).
async fn run_child(emu: &Emulator, device: &str, vars: &[(&str, String)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for v in VARS {
        cmd.env_remove(v);
    }
    cmd.env("PROXY_ENV_CHILD_HUB", emu.iothub_endpoint())
        .env("PROXY_ENV_CHILD_ADT", emu.adt_endpoint())
        .env("PROXY_ENV_CHILD_CONN", emu.iothub_connection_string())
        .env("PROXY_ENV_CHILD_CA", emu.ca_certificate_pem().unwrap())
        .env("PROXY_ENV_CHILD_DEVICE", device);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {device} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("test child ... ok"),
        "the child test ran: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_from_the_environment_is_honoured_unless_system_proxy_is_off() {
    let emu = Emulator::builder().tls(true).start().await.unwrap();
    let hub_authority = emu
        .iothub_endpoint()
        .trim_start_matches("https://")
        .to_owned();
    let adt_authority = emu.adt_endpoint().trim_start_matches("https://").to_owned();
    let proxy = TestProxy::start().await;
    let env_proxy = ("HTTPS_PROXY", proxy.url());

    // Default: system_proxy on, both clients tunnel through the environment's proxy.
    run_child(&emu, "env-1", std::slice::from_ref(&env_proxy)).await;
    let tunnels = proxy.seen().tunnels;
    assert!(tunnels.contains(&hub_authority), "{tunnels:?}");
    assert!(tunnels.contains(&adt_authority), "{tunnels:?}");
    let after_default = tunnels.len();

    // The lower-case name works the same way.
    run_child(&emu, "env-2", &[("https_proxy", proxy.url())]).await;
    assert!(proxy.seen().tunnels.len() > after_default);
    let after_lower = proxy.seen().tunnels.len();

    // system_proxy(false): the variable is ignored, the calls go direct.
    run_child(
        &emu,
        "env-3",
        &[
            env_proxy.clone(),
            ("PROXY_ENV_CHILD_SYSTEM_PROXY", "0".into()),
        ],
    )
    .await;
    assert_eq!(proxy.seen().tunnels.len(), after_lower);

    // NO_PROXY naming the emulator's host bypasses the environment's proxy.
    run_child(
        &emu,
        "env-4",
        &[
            env_proxy.clone(),
            ("NO_PROXY", "example.invalid,localhost".into()),
        ],
    )
    .await;
    assert_eq!(proxy.seen().tunnels.len(), after_lower);

    // An explicit proxy replaces the environment's: HTTPS_PROXY points at the first proxy,
    // now shut down (nothing listens there), and the calls still work through the explicit one.
    let explicit = TestProxy::start().await;
    proxy.shutdown();
    run_child(
        &emu,
        "env-5",
        &[
            env_proxy.clone(),
            ("PROXY_ENV_CHILD_EXPLICIT", explicit.url()),
        ],
    )
    .await;
    let tunnels = explicit.seen().tunnels;
    assert!(tunnels.contains(&hub_authority), "{tunnels:?}");
    assert!(tunnels.contains(&adt_authority), "{tunnels:?}");

    // And without the override the dead environment proxy really is used: calls fail to
    // connect although the emulator is up.
    run_child(
        &emu,
        "env-6",
        &[
            env_proxy,
            ("PROXY_ENV_CHILD_EXPECT", "connect-error".into()),
        ],
    )
    .await;
    emu.shutdown().await;
}

/// One scenario, run by the parent test in a child process (does nothing when run directly).
#[tokio::test]
#[ignore = "run by https_proxy_from_the_environment_is_honoured_unless_system_proxy_is_off"]
async fn child() {
    let Ok(hub_endpoint) = std::env::var("PROXY_ENV_CHILD_HUB") else {
        return;
    };
    let var = |k: &str| std::env::var(k).ok();
    let mut options =
        ClientOptions::default().add_root_certificate_pem(var("PROXY_ENV_CHILD_CA").unwrap());
    if var("PROXY_ENV_CHILD_SYSTEM_PROXY").as_deref() == Some("0") {
        options = options.system_proxy(false);
    }
    if let Some(url) = var("PROXY_ENV_CHILD_EXPLICIT") {
        options = options.proxy(Proxy::https(url).unwrap());
    }
    let hub = IotHubClient::builder(hub_endpoint)
        .credential(
            Credential::from_connection_string(&var("PROXY_ENV_CHILD_CONN").unwrap()).unwrap(),
        )
        .options(options.clone())
        .build()
        .unwrap();
    let dt = DigitalTwinsClient::builder(var("PROXY_ENV_CHILD_ADT").unwrap())
        .credential(Credential::bearer_token("test-token"))
        .options(options)
        .build()
        .unwrap();
    let device = var("PROXY_ENV_CHILD_DEVICE").unwrap();
    if var("PROXY_ENV_CHILD_EXPECT").as_deref() == Some("connect-error") {
        let e = hub
            .get_twin(&device)
            .options(RequestOptions::default().retry(RetryOptions::none()))
            .send()
            .await
            .unwrap_err();
        assert!(e.status().is_none(), "{e:?}");
        return;
    }
    let created = hub.create_device(&device).send().await.unwrap();
    assert_eq!(created.device_id, device);
    let models: Vec<_> = dt.list_models().into_stream().try_collect().await.unwrap();
    assert!(models.is_empty());
}
