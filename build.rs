//! Puts the raw IoT Hub and Digital Twins clients into `OUT_DIR`, where `src/raw.rs` includes
//! them. Only services whose Cargo feature is enabled are written.
//!
//! - With the `codegen` feature (default): generates them from `specs/` through the
//!   `azure-twins-codegen` crate (see `codegen/`). Thin on purpose: all logic lives in that
//!   crate, which is unit-tested on its own.
//! - Without it: copies the committed `generated/<service>.rs`, so the build needs neither
//!   progenitor nor syn. `tests/generated_drift.rs` (run with `codegen`) keeps those copies equal
//!   to the generator's output.

use std::path::Path;

/// The services, as `(name, Cargo feature env var)`.
const SERVICES: [(&str, &str); 2] = [
    ("iothub", "CARGO_FEATURE_IOTHUB"),
    ("digitaltwins", "CARGO_FEATURE_DIGITALTWINS"),
];

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let (manifest_dir, out_dir) = (Path::new(&manifest_dir), Path::new(&out_dir));
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "codegen")]
    {
        println!("cargo:rerun-if-changed=specs");
        println!("cargo:rerun-if-changed=codegen");
    }
    #[cfg(not(feature = "codegen"))]
    println!("cargo:rerun-if-changed=generated");
    for (name, feature) in SERVICES {
        if std::env::var_os(feature).is_none() {
            continue;
        }
        if let Err(message) = write_client(name, manifest_dir, out_dir) {
            // A readable failure instead of a panic backtrace.
            eprintln!("error: writing the `{name}` client failed:\n  {message}");
            std::process::exit(1);
        }
    }
}

/// Generates the client from the vendored spec.
#[cfg(feature = "codegen")]
fn client_source(name: &str, manifest_dir: &Path) -> Result<String, String> {
    let service = azure_twins_codegen::SERVICES
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("the codegen crate does not know the service `{name}`"))?;
    let spec_path = manifest_dir.join(service.spec_path);
    let text = std::fs::read_to_string(&spec_path)
        .map_err(|e| format!("cannot read {}: {e}", service.spec_path))?;
    azure_twins_codegen::generate(&service, &text).map_err(|e| e.to_string())
}

/// Reads the committed copy.
#[cfg(not(feature = "codegen"))]
fn client_source(name: &str, manifest_dir: &Path) -> Result<String, String> {
    let path = manifest_dir.join("generated").join(format!("{name}.rs"));
    std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read the committed copy {} ({e}); build with the `codegen` feature to \
             generate it from specs/",
            path.display()
        )
    })
}

fn write_client(name: &str, manifest_dir: &Path, out_dir: &Path) -> Result<(), String> {
    let code = client_source(name, manifest_dir)?;
    let out = out_dir.join(format!("{name}.rs"));
    std::fs::write(&out, code).map_err(|e| format!("cannot write {}: {e}", out.display()))
}
