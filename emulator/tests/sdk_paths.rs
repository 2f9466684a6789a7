//! Request shapes the official SDKs of other languages send that the Rust facade does not, and
//! that the service accepts (found by tests/other_sdks/): each one the emulator must answer as
//! the service does.

mod iothub_support;

use iothub_support::{API, Hub, in_an_hour, parse_cs, sign};
use reqwest::Method;
use serde_json::Value;

/// npm azure-iothub's `Registry.list` sends `GET /devices/?api-version=…` (trailing slash): the
/// same device list as `GET /devices`, under the same RegistryRead permission.
#[tokio::test]
async fn list_devices_with_a_trailing_slash() {
    let hub = Hub::start().await;
    for id in ["slash-a", "slash-b"] {
        hub.create_device(id).await;
    }
    let plain: Value = hub
        .send(Method::GET, "/devices")
        .await
        .json()
        .await
        .unwrap();
    let r = hub.send(Method::GET, "/devices/").await;
    assert_eq!(r.status(), 200);
    let slash: Value = r.json().await.unwrap();
    let ids = |v: &Value| {
        let mut ids: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["deviceId"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&slash), vec!["slash-a", "slash-b"]);
    assert_eq!(ids(&slash), ids(&plain));
    // `service` (ServiceConnect only) may not read the registry, `registryRead` may.
    for (policy, want) in [("service", 401), ("registryRead", 200)] {
        let cs = hub.emu.iothub_policy_connection_string(policy).unwrap();
        let (host, skn, key) = parse_cs(&cs);
        let r = hub
            .client
            .get(format!("{}/devices/?api-version={API}", hub.base))
            .header("authorization", sign(&host, &skn, &key, in_an_hour()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{policy}");
    }
}
