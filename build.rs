//! Puts the raw IoT Hub and Digital Twins clients into `OUT_DIR`, where `src/raw.rs` includes
//! them. Only services whose Cargo feature is enabled are written.
//!
//! - With the `codegen` feature (default): generates them from `specs/` through the
//!   `azure-twins-codegen` crate (see `codegen/`). Thin on purpose: all logic lives in that
//!   crate, which is unit-tested on its own.
//! - Without it: copies the committed `generated/<service>.rs`, so the build needs neither
//!   progenitor nor syn. `tests/generated_drift.rs` (run with `codegen`) keeps those copies equal
//!   to the generator's output.
//!
//! `AZURE_TWINS_SPEC_DIR` (with `codegen`): a folder holding `iothub.json` and/or
//! `digitaltwins.json` (upstream Swagger 2.0) to generate from instead of the vendored specs, so
//! a crate that depends on azure-twins can build the raw clients and the facade from its own
//! spec version without forking. A service whose file is absent there uses the vendored spec.
//!
//! In both modes it then tells the compiler what the written client supports:
//! - `cargo:rustc-cfg=<capability>` for each optional facade part whose generated methods exist
//!   (`adt_import_jobs`, `adt_delete_jobs`, `iothub_job_identity`; the table is `codegen/src/capabilities.rs`, included
//!   here so it needs no codegen build), all declared with `cargo::rustc-check-cfg`;
//! - `AZURE_TWINS_<SERVICE>_SPEC` (`cargo:rustc-env`): the spec file the client was generated
//!   from (read from the generated header), so tests check the client against its own spec.

use std::path::Path;

#[path = "build/capabilities.rs"] // symlink to codegen/src/capabilities.rs (packaged with this crate)
#[allow(dead_code)]
mod capabilities;

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
    println!("cargo:rerun-if-env-changed={SPEC_DIR_ENV}");
    #[cfg(not(feature = "codegen"))]
    if std::env::var_os(SPEC_DIR_ENV).is_some() {
        println!(
            "cargo:warning={SPEC_DIR_ENV} is ignored without the `codegen` feature: the committed \
             generated/ copies are compiled"
        );
    }
    #[cfg(feature = "codegen")]
    {
        println!("cargo:rerun-if-changed=specs");
        println!("cargo:rerun-if-changed=codegen");
    }
    #[cfg(not(feature = "codegen"))]
    println!("cargo:rerun-if-changed=generated");
    for capability in capabilities::CAPABILITIES {
        println!("cargo::rustc-check-cfg=cfg({})", capability.cfg);
    }
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

/// The environment variable naming a folder of replacement specs (see the file docs).
const SPEC_DIR_ENV: &str = "AZURE_TWINS_SPEC_DIR";

/// Generates the client from the vendored spec, or from `$AZURE_TWINS_SPEC_DIR/<name>.json`.
#[cfg(feature = "codegen")]
fn client_source(name: &str, manifest_dir: &Path) -> Result<String, String> {
    let mut service = azure_twins_codegen::SERVICES
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("the codegen crate does not know the service `{name}`"))?;
    let override_path = std::env::var_os(SPEC_DIR_ENV)
        .map(|dir| Path::new(&dir).join(format!("{name}.json")))
        .filter(|p| p.is_file());
    let spec_path = match override_path {
        Some(p) => {
            println!("cargo:rerun-if-changed={}", p.display());
            println!("cargo:warning=generating `{name}` from {}", p.display());
            // Named in the generated header, so the output says where it came from.
            service.spec_path = Box::leak(p.display().to_string().into_boxed_str());
            p
        }
        None => manifest_dir.join(service.spec_path),
    };
    let text = std::fs::read_to_string(&spec_path)
        .map_err(|e| format!("cannot read {}: {e}", spec_path.display()))?;
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
    std::fs::write(&out, &code).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let supported = capabilities::capabilities(name, &code);
    for cfg in &supported {
        println!("cargo:rustc-cfg={cfg}");
    }
    if std::env::var_os(SPEC_DIR_ENV).is_some() {
        println!(
            "cargo:warning=`{name}` capabilities: {}",
            if supported.is_empty() {
                "none".to_string()
            } else {
                supported.join(", ")
            }
        );
    }
    let spec = generated_from(&code)
        .ok_or_else(|| format!("{}: no `@generated ... from <spec>` header", out.display()))?;
    println!(
        "cargo:rustc-env=AZURE_TWINS_{}_SPEC={}",
        name.to_ascii_uppercase(),
        manifest_dir.join(spec).display()
    );
    Ok(())
}

/// The spec path named in the generated header (`// @generated by azure-twins-codegen from
/// <spec> (fixups: ...)`): relative to the workspace root, or the absolute override file.
fn generated_from(code: &str) -> Option<&str> {
    let line = code.lines().next()?;
    let rest = line.strip_prefix("// @generated by azure-twins-codegen from ")?;
    rest.rsplit_once(" (fixups: ").map(|(spec, _)| spec)
}
