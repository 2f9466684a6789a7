//! Local in-memory emulator of the Azure IoT Hub service API and the Azure Digital Twins data plane.

pub mod digitaltwins;
