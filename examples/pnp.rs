//! IoT Plug and Play on the hub, against the local emulator: read a device's digital twin,
//! update it with JSON Patch and If-Match, and invoke root-level and component commands.
//!
//! ```text
//! cargo run --example pnp
//! ```
//!
//! Against a real hub, build the client with
//! `IotHubClient::from_connection_string(&std::env::var("IOTHUB_CONNECTION_STRING")?)` and use a
//! device that announced a model id when it connected.

use std::time::Duration;

use azure_twins::IotHubClient;
use azure_twins::digitaltwins::JsonPatch;
use azure_twins_emulator::Emulator;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::builder().start().await?;
    let hub = IotHubClient::from_connection_string(&emu.iothub_connection_string())?;

    // The device side, played by the emulator: a temperature controller with a thermostat
    // component, answering two commands.
    hub.create_device("thermostat-1").send().await?;
    let device = emu.iothub();
    device.set_model_id("thermostat-1", "dtmi:com:example:TemperatureController;2")?;
    device.report_properties(
        "thermostat-1",
        json!({
            "serialNumber": "SN-42",
            "thermostat1": { "__t": "c", "temperature": 21.0 }
        }),
    )?;
    emu.register_method_handler("thermostat-1", None, "reboot", |p| {
        (200, json!({ "rebootingIn": p["delay"] }))
    });
    emu.register_method_handler("thermostat-1", None, "thermostat1*getMaxMinReport", |_| {
        (200, json!({ "maxTemp": 23.5, "minTemp": 18.0 }))
    });

    // The digital twin: reported values, components, and $metadata with the model id.
    let dt = hub.get_digital_twin("thermostat-1").send().await?;
    println!("model: {}", dt.value["$metadata"]["$model"]);
    println!("thermostat1: {}", dt.value["thermostat1"]);

    // Write a desired property of the component, only if nobody wrote since our read.
    let etag = hub
        .update_digital_twin(
            "thermostat-1",
            JsonPatch::new().add("/thermostat1/targetTemperature", 22.0),
        )
        .if_match(dt.etag.clone())
        .send()
        .await?;
    println!("updated, new etag {etag:?}");
    let stale = hub
        .update_digital_twin("thermostat-1", JsonPatch::new().add("/x", 1))
        .if_match(dt.etag)
        .send()
        .await
        .unwrap_err();
    assert!(stale.is_precondition_failed());

    // Commands: the device's answer carries its own status code.
    let r = hub
        .invoke_command("thermostat-1", "reboot")
        .payload(json!({ "delay": 5 }))
        .response_timeout(Duration::from_secs(30))
        .send()
        .await?;
    println!("reboot -> {:?} {}", r.status, r.payload);
    let r = hub
        .invoke_component_command("thermostat-1", "thermostat1", "getMaxMinReport")
        .send()
        .await?;
    println!("getMaxMinReport -> {:?} {}", r.status, r.payload);

    // A command the device does not implement, and a device that is not connected.
    let r = hub
        .invoke_command("thermostat-1", "selfTest")
        .send()
        .await?;
    assert!(r.is_unknown_command());
    hub.create_device("offline-1").send().await?;
    let err = hub
        .invoke_command("offline-1", "reboot")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_device_not_online());
    println!("offline device: {err}");

    emu.shutdown().await;
    Ok(())
}
