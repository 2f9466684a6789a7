//! The api-version on the wire is the generated client's (`ClientInfo::api_version()`, the
//! `info.version` of the spec it was generated from) unless the client was built with
//! `ClientOptions::api_version`, which pins another wire-compatible version for every call.
//! Checked on the request a capture server receives (both services), and against the emulator,
//! which answers an api-version it does not serve with the service's 400.

mod pipeline_support;

use azure_twins::ClientOptions;
use pipeline_support::{Reply, Server};

/// The `api-version` query values of every recorded request.
fn sent_versions(server: &Server) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| {
            r.target
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix("api-version="))
                .unwrap_or("<none>")
                .to_string()
        })
        .collect()
}

#[cfg(feature = "iothub")]
#[tokio::test]
async fn iothub_sends_the_generated_version_unless_pinned() {
    use azure_twins::IotHubClient;
    use progenitor_client::ClientInfo;
    let generated =
        <azure_twins::raw::iothub::Client as ClientInfo<azure_twins::raw::Pipeline>>::api_version();
    let twin =
        r#"{"deviceId":"d1","etag":"AAAA","version":2,"properties":{"desired":{},"reported":{}}}"#;
    let server = Server::always(Reply::json(200, twin)).await;

    let default = IotHubClient::builder(server.url()).build().unwrap();
    default.get_twin("d1").send().await.unwrap();
    let pinned = IotHubClient::builder(server.url())
        .options(ClientOptions::default().api_version("2020-09-30"))
        .build()
        .unwrap();
    pinned.get_twin("d1").send().await.unwrap();
    pinned.get_device_statistics().send().await.ok();

    assert_eq!(
        sent_versions(&server),
        [generated, "2020-09-30", "2020-09-30"],
        "{:?}",
        server.requests()
    );
}

#[cfg(feature = "digitaltwins")]
#[tokio::test]
async fn digitaltwins_sends_the_generated_version_unless_pinned() {
    use azure_twins::digitaltwins::DigitalTwinsClient;
    use progenitor_client::ClientInfo;
    let generated = <azure_twins::raw::digitaltwins::Client as ClientInfo<
        azure_twins::raw::Pipeline,
    >>::api_version();
    let twin = r#"{"$dtId":"room-1","$etag":"W/\"1\"","$metadata":{"$model":"dtmi:x;1"}}"#;
    let server = Server::always(Reply::json(200, twin).with_header("etag", "W/\"1\"")).await;

    let default = DigitalTwinsClient::builder(server.url()).build().unwrap();
    default.get_twin("room-1").send().await.unwrap();
    let pinned = DigitalTwinsClient::builder(server.url())
        .options(ClientOptions::default().api_version("2022-05-31"))
        .build()
        .unwrap();
    pinned.get_twin("room-1").send().await.unwrap();

    assert_eq!(sent_versions(&server), [generated, "2022-05-31"]);
}

/// Against the emulator: the default version is served; a pinned version it does not serve gets
/// the service's 400 naming that version, so the pin is what went over the wire.
#[cfg(feature = "digitaltwins")]
#[tokio::test]
async fn emulator_sees_the_pinned_version() {
    use azure_twins::Credential;
    use azure_twins::digitaltwins::DigitalTwinsClient;
    let emu = azure_twins_emulator::Emulator::builder()
        .tls(false)
        .start()
        .await
        .unwrap();
    let default = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("test-token"))
        .build()
        .unwrap();
    let absent = default.get_twin("nope").send().await.unwrap_err();
    assert_eq!(absent.status().map(|s| s.as_u16()), Some(404), "{absent}");

    let pinned = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("test-token"))
        .options(ClientOptions::default().api_version("1999-01-01"))
        .build()
        .unwrap();
    let refused = pinned.get_twin("nope").send().await.unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(400), "{refused}");
    assert!(
        format!("{refused:?}").contains("1999-01-01"),
        "the service's message names the version sent: {refused:?}"
    );
}
