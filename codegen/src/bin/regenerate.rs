//! Rewrites the committed `generated/<service>.rs` copies from the vendored specs: the one
//! command to run after a spec, fixup or progenitor change (then review `git diff generated/`).
//!
//! `cargo run -p azure-twins-codegen --bin regenerate [WORKSPACE_ROOT]` (default: the parent
//! of this crate). Fails with one readable line per problem, without writing anything, when
//! any service fails to generate.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."));
    let mut outputs = Vec::new();
    let mut failed = false;
    for service in azure_twins_codegen::SERVICES {
        let spec = root.join(service.spec_path);
        let result = std::fs::read_to_string(&spec)
            .map_err(|e| format!("cannot read {}: {e}", spec.display()))
            .and_then(|text| {
                azure_twins_codegen::generate(&service, &text).map_err(|e| e.to_string())
            });
        match result {
            Ok(code) => outputs.push((service.name, code)),
            Err(e) => {
                eprintln!("error: {}: {e}", service.name);
                failed = true;
            }
        }
    }
    if failed {
        return ExitCode::FAILURE;
    }
    for (name, code) in outputs {
        let path = root.join("generated").join(format!("{name}.rs"));
        if let Err(e) = std::fs::write(&path, &code) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {} ({} lines)", path.display(), code.lines().count());
    }
    ExitCode::SUCCESS
}
