//! Generates the raw IoT Hub and Digital Twins clients into `OUT_DIR` (see `codegen/`).
//!
//! Thin on purpose: all logic lives in the `azure-twins-codegen` crate, which is unit-tested on
//! its own. Only services whose Cargo feature is enabled are generated.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=specs");
    println!("cargo:rerun-if-changed=codegen");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for service in azure_twins_codegen::SERVICES {
        let feature = format!("CARGO_FEATURE_{}", service.name.to_uppercase());
        if std::env::var_os(&feature).is_none() {
            continue;
        }
        if let Err(message) = generate(&service, Path::new(&manifest_dir), Path::new(&out_dir)) {
            // A readable failure instead of a panic backtrace.
            eprintln!(
                "error: generating the `{}` client failed:\n  {message}",
                service.name
            );
            std::process::exit(1);
        }
    }
}

fn generate(
    service: &azure_twins_codegen::Service,
    manifest_dir: &Path,
    out_dir: &Path,
) -> Result<(), String> {
    let spec_path = manifest_dir.join(service.spec_path);
    let text = std::fs::read_to_string(&spec_path)
        .map_err(|e| format!("cannot read {}: {e}", service.spec_path))?;
    let code = azure_twins_codegen::generate(service, &text).map_err(|e| e.to_string())?;
    let out = out_dir.join(format!("{}.rs", service.name));
    std::fs::write(&out, code).map_err(|e| format!("cannot write {}: {e}", out.display()))
}
