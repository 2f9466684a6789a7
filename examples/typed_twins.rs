//! Typed twins: derive a DTDL v3 interface from a Rust type, upload it, create a twin from a
//! value, run a typed update that meets a conflict and retries, and query typed.
//!
//! `cargo run --example typed_twins` (runs against the in-process emulator).

use std::sync::atomic::{AtomicU32, Ordering};

use azure_twins::Credential;
use azure_twins::digitaltwins::{DigitalTwinsClient, JsonPatch};
use azure_twins::typed::schemars::{self, JsonSchema};
use azure_twins::typed::{ComponentDef, DtdlInterface, PropertyMeta};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

/// A thermostat.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Thermostat {
    set_point: f64,
}

impl DtdlInterface for Thermostat {
    const DTMI: &'static str = "dtmi:com:example:Thermostat;1";
    fn property(_: &str) -> PropertyMeta {
        PropertyMeta::new()
            .writable()
            .semantic("Temperature", "degreeCelsius")
    }
}

/// A room in a building.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Room {
    #[serde(rename = "$dtId", default, skip_serializing)]
    id: String,
    temperature: f64,
    #[serde(default)]
    visits: i64,
    occupant: Option<String>,
    thermostat: Thermostat,
}

impl DtdlInterface for Room {
    const DTMI: &'static str = "dtmi:com:example:Room;1";
    fn property(name: &str) -> PropertyMeta {
        match name {
            "temperature" => PropertyMeta::new().semantic("Temperature", "degreeCelsius"),
            _ => PropertyMeta::new().writable(),
        }
    }
    fn components() -> Vec<ComponentDef> {
        vec![ComponentDef::of::<Thermostat>("thermostat")]
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = azure_twins_emulator::Emulator::builder().start().await?;
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token("emulator"))
        .build()?;

    // The interface (and the component's) derived from the types, uploaded once.
    let model = azure_twins::typed::model_of::<Room>()?;
    println!("{}", serde_json::to_string_pretty(model.document())?);
    for dtmi in dt.create_models_for::<Room>().send().await? {
        println!("uploaded {dtmi}");
    }

    let room = Room {
        id: "room-1".into(),
        temperature: 20.5,
        visits: 0,
        occupant: Some("ada".into()),
        thermostat: Thermostat { set_point: 21.0 },
    };
    let created = dt.create_typed_twin("room-1", &room).send().await?;
    println!("created {} ({})", created.value.id, created.etag);

    // A typed update whose first attempt meets a conflict: another writer changes the twin
    // between our read and our write, the conditional PATCH gets 412, and the update starts
    // over from the latest twin.
    let other = dt.clone();
    let calls = AtomicU32::new(0);
    let done = dt
        .update_typed_twin("room-1", |r: &mut Room| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(
                        other
                            .update_twin("room-1", JsonPatch::new().replace("/visits", 10))
                            .send(),
                    )
                })
                .expect("the other writer's update");
            }
            r.visits += 1;
            r.occupant = None;
            r.thermostat.set_point = 19.5;
        })
        .send()
        .await?;
    println!(
        "updated after {} attempts: visits {}, patch {}",
        done.attempts,
        done.value.visits,
        done.patch.to_value()
    );
    assert_eq!((done.attempts, done.value.visits), (2, 11));

    let rooms: Vec<Room> = dt
        .query_typed::<Room>()
        .filter("T.visits > 5")
        .into_stream()
        .try_collect()
        .await?;
    for r in &rooms {
        println!(
            "query: {} visits={} setPoint={}",
            r.id, r.visits, r.thermostat.set_point
        );
    }
    assert_eq!(rooms.len(), 1);
    Ok(())
}
