//! SAS verification on every IoT Hub request: good, bad signature, expired, wrong policy,
//! wrong resource, missing header, policy permissions, and distinct-token counting.

mod iothub_support;

use iothub_support::{API, Hub, expect_error, in_an_hour, parse_cs, sign};
use reqwest::Method;

async fn get_with(hub: &Hub, token: Option<&str>) -> reqwest::Response {
    let mut r = hub
        .client
        .get(format!("{}/devices?api-version={API}", hub.base));
    if let Some(t) = token {
        r = r.header("authorization", t);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn sas_tokens_are_verified() {
    let hub = Hub::start().await;
    let (host, policy, key) = parse_cs(&hub.emu.iothub_connection_string());
    assert_eq!(host, hub.emu.iothub_host());
    assert_eq!(policy, "iothubowner");
    let port = host.rsplit(':').next().unwrap();

    assert_eq!(get_with(&hub, Some(&hub.token)).await.status(), 200);
    // resource with a path suffix and via localhost are accepted
    let t = sign(
        &format!("{host}/devices/x"),
        "iothubowner",
        &key,
        in_an_hour(),
    );
    assert_eq!(get_with(&hub, Some(&t)).await.status(), 200);
    let t = sign(
        &format!("localhost:{port}"),
        "iothubowner",
        &key,
        in_an_hour(),
    );
    assert_eq!(get_with(&hub, Some(&t)).await.status(), 200);

    // missing
    expect_error(get_with(&hub, None).await, 401, "IotHubUnauthorizedAccess").await;
    // bad signature (other key)
    let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let t = sign(&host, "iothubowner", other, in_an_hour());
    let msg = expect_error(
        get_with(&hub, Some(&t)).await,
        401,
        "IotHubUnauthorizedAccess",
    )
    .await;
    assert!(!msg.contains(&key), "no secrets in errors");
    // tampered signature
    let tampered = hub.token.replace("&se=", "x&se=");
    expect_error(
        get_with(&hub, Some(&tampered)).await,
        401,
        "IotHubUnauthorizedAccess",
    )
    .await;
    // expired
    let t = sign(&host, "iothubowner", &key, 1_000_000);
    let msg = expect_error(
        get_with(&hub, Some(&t)).await,
        401,
        "IotHubUnauthorizedAccess",
    )
    .await;
    assert!(msg.contains("expired"), "{msg}");
    // wrong policy name for the key, and unknown policy
    let t = sign(&host, "service", &key, in_an_hour());
    expect_error(
        get_with(&hub, Some(&t)).await,
        401,
        "IotHubUnauthorizedAccess",
    )
    .await;
    let t = sign(&host, "nosuchpolicy", &key, in_an_hour());
    expect_error(
        get_with(&hub, Some(&t)).await,
        401,
        "IotHubUnauthorizedAccess",
    )
    .await;
    // another hub
    let t = sign(
        "otherhub.azure-devices.net",
        "iothubowner",
        &key,
        in_an_hour(),
    );
    expect_error(
        get_with(&hub, Some(&t)).await,
        401,
        "IotHubUnauthorizedAccess",
    )
    .await;
    // not a SAS token
    expect_error(
        get_with(&hub, Some("Bearer abc")).await,
        401,
        "IotHubUnauthorizedAccess",
    )
    .await;
    // 3 distinct good tokens so far; repeating one does not count again
    assert_eq!(hub.emu.distinct_sas_tokens_seen(), 3);
    assert_eq!(get_with(&hub, Some(&hub.token)).await.status(), 200);
    assert_eq!(hub.emu.distinct_sas_tokens_seen(), 3);
}

#[tokio::test]
async fn policy_permissions_are_enforced() {
    let hub = Hub::start().await;
    hub.create_device("p1").await;
    let cs = hub.emu.iothub_policy_connection_string("service").unwrap();
    let (host, policy, key) = parse_cs(&cs);
    let service = sign(&host, &policy, &key, in_an_hour());
    let (host, policy, key) = parse_cs(
        &hub.emu
            .iothub_policy_connection_string("registryRead")
            .unwrap(),
    );
    let rr = sign(&host, &policy, &key, in_an_hour());
    // service policy: twins yes, registry no; registryRead: read identities, cannot write
    for (token, method, path, allowed) in [
        (&service, Method::GET, "/twins/p1", true),
        (&service, Method::GET, "/devices/p1", false),
        (&rr, Method::GET, "/devices/p1", true),
        (&rr, Method::DELETE, "/devices/p1", false),
    ] {
        let r = hub
            .client
            .request(method, format!("{}{path}?api-version={API}", hub.base))
            .header("authorization", token)
            .send()
            .await
            .unwrap();
        if allowed {
            assert_eq!(r.status(), 200, "{path}");
        } else {
            expect_error(r, 401, "IotHubUnauthorizedAccess").await;
        }
    }
    assert!(hub.emu.iothub_policy_connection_string("nope").is_none());
}
