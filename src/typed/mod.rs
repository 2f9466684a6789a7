//! Typed twins: DTDL v3 interfaces derived from Rust types, local validation, and typed,
//! conflict-retrying updates (feature `typed`, on by default).
//!
//! A type that is a twin implements [`DtdlInterface`]: it is already `Serialize`,
//! `Deserialize` and [`schemars::JsonSchema`] (derived); the trait adds what JSON Schema
//! cannot say: the DTMI, display name, which properties are writable, semantic types and
//! units, components, relationships, telemetry and commands. [`model_of`] then builds the
//! DTDL v3 interface (and those of its components) from the type's JSON Schema, honouring
//! serde renames, optional fields and doc comments (as descriptions). A shape DTDL cannot
//! express (a `u64`, an enum with data, a tuple, a map with non-string values of `Value`, a
//! recursive type, …) is refused with an [`Error::invalid_input`](crate::Error::invalid_input)
//! naming the field and the reason.
//!
//! With the model in hand:
//!
//! * Azure Digital Twins: [`DigitalTwinsClient::create_models_for`](crate::DigitalTwinsClient::create_models_for) uploads the interface and
//!   the ones it references, [`DigitalTwinsClient::create_typed_twin`](crate::DigitalTwinsClient::create_typed_twin) creates or replaces a twin
//!   from a value (`$metadata.$model` filled in, components given their `$metadata`),
//!   [`DigitalTwinsClient::query_typed`](crate::DigitalTwinsClient::query_typed) queries the twins of the model, and
//!   [`DigitalTwinsClient::update_typed_twin`](crate::DigitalTwinsClient::update_typed_twin) (also `_component`, `_relationship`) reads,
//!   applies your closure, sends the JSON Patch diff with `If-Match` and retries on 412 with
//!   the latest value, a bounded number of times.
//! * IoT Hub: `TwinSections` (tags, desired, reported as your types) and
//!   [`IotHubClient::update_twin_sections`](crate::IotHubClient::update_twin_sections) (and the module twin variant): the same typed
//!   update as a merge patch of the diff, with an optional Plug and Play model check.
//! * [`DtdlModel::validate`] checks a value against its model before anything is sent.
//!
//! ```
//! use azure_twins::typed::{DtdlInterface, PropertyMeta, model_of, schemars};
//! use serde::{Deserialize, Serialize};
//!
//! /// A room in a building.
//! #[derive(Serialize, Deserialize, schemars::JsonSchema)]
//! #[serde(rename_all = "camelCase")]
//! struct Room {
//!     /// Current temperature.
//!     temperature: f64,
//!     display_label: Option<String>,
//! }
//!
//! impl DtdlInterface for Room {
//!     const DTMI: &'static str = "dtmi:com:example:Room;1";
//!     fn property(name: &str) -> PropertyMeta {
//!         match name {
//!             "temperature" => PropertyMeta::new().semantic("Temperature", "degreeCelsius"),
//!             _ => PropertyMeta::new().writable(),
//!         }
//!     }
//! }
//!
//! let model = model_of::<Room>()?;
//! let doc = model.document();
//! assert_eq!(doc["@id"], "dtmi:com:example:Room;1");
//! assert_eq!(doc["description"], "A room in a building.");
//! assert_eq!(doc["contents"][0]["name"], "displayLabel");
//! assert_eq!(doc["contents"][0]["writable"], true);
//! assert_eq!(doc["contents"][1]["@type"], serde_json::json!(["Property", "Temperature"]));
//! assert_eq!(doc["contents"][1]["unit"], "degreeCelsius");
//! // A value is checked against the model locally:
//! let err = model.validate(&serde_json::json!({"temperature": "warm"})).unwrap_err();
//! assert!(err.to_string().contains("temperature"));
//! # Ok::<(), azure_twins::Error>(())
//! ```

/// The `schemars` crate (1.x), re-exported so `#[derive(schemars::JsonSchema)]` needs no
/// dependency of your own: bring it into scope with `use azure_twins::typed::schemars;`
/// (the derive refers to `schemars::…`), or name it with
/// `#[schemars(crate = "azure_twins::typed::schemars")]`.
pub use schemars;

mod diff;
mod dtdl;
mod validate;

#[cfg(feature = "digitaltwins")]
mod digitaltwins;
#[cfg(feature = "iothub")]
mod iothub;

pub use diff::{merge_patch_diff, strip_nulls};
#[cfg(feature = "digitaltwins")]
pub use digitaltwins::{
    CreateModelsFor, CreateTypedTwin, GetTypedTwin, TypedQuery, TypedUpdate, TypedUpdated,
};
pub use dtdl::{
    CommandDef, ComponentDef, DtdlInterface, DtdlModel, PropertyMeta, RelationshipDef,
    TelemetryDef, model_of,
};
#[cfg(feature = "iothub")]
pub use iothub::{TwinSections, UpdateTwinSections, UpdatedSections, pnp_model_id};

/// How many times a typed update tries (read, apply, conditional write) before giving up on
/// conflicts, unless set with `.max_attempts(n)`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;
