//! Every spec version the project proves it can move to generates with no manual edit: the
//! vendored specs (`specs/`, from the service table) and the real older upstream specs in
//! `tests/fixtures/specs/older/` (`<service>-<api-version>.json`, with their PROVENANCE.md).
//! For each: all fixups for its version apply (any failure is reported with all the others),
//! progenitor generates a client, every operationId of the spec has a generated method, and the
//! generated header names the spec's own version.
//!
//! `tests/spec_versions/check.sh` then compiles the main crate's facade from each older spec.

use std::path::{Path, PathBuf};

use azure_twins_codegen::{SERVICES, Service, capabilities, generate, service, spec_version};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `(service, spec file)` of every older fixture, named `<service>-<api-version>.json`.
fn older_fixtures() -> Vec<(Service, PathBuf)> {
    let dir = root().join("tests/fixtures/specs/older");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        let Some(stem) = file.strip_suffix(".json") else {
            continue;
        };
        let name = stem.split('-').next().unwrap_or_default();
        let service = service(name).unwrap_or_else(|| {
            panic!("{file}: fixtures are named <service>-<api-version>.json, with a known service")
        });
        let mut service = service;
        // Named in errors and in the generated header, as the build script's override does.
        service.spec_path =
            Box::leak(format!("tests/fixtures/specs/older/{file}").into_boxed_str());
        found.push((service, path));
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
}

/// The operationIds of a Swagger 2.0 document, as progenitor's snake_case method names.
pub fn operation_methods(swagger: &Value) -> Vec<(String, String)> {
    let mut ids = Vec::new();
    for item in swagger["paths"].as_object().expect("paths").values() {
        for (method, op) in item.as_object().expect("path item") {
            if method == "parameters" || method.starts_with("x-") {
                continue;
            }
            let id = op["operationId"].as_str().expect("operationId").to_string();
            ids.push((id.clone(), snake_case(&id)));
        }
    }
    ids
}

/// progenitor's method naming for ids like ours (`DigitalTwins_Add` → `digital_twins_add`).
fn snake_case(id: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = id.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' {
            if !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if (prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower))
                && !out.ends_with('_')
            {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Generates `spec` as `service` and checks the result; returns the capabilities it has.
fn generates_completely(service: Service, spec: &Path) -> Vec<&'static str> {
    let text = std::fs::read_to_string(spec).unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
    let swagger: Value = serde_json::from_str(&text).unwrap();
    let version = spec_version(&swagger).expect("info.version");
    let code =
        generate(&service, &text).unwrap_or_else(|e| panic!("{} ({version}): {e}", spec.display()));
    let missing: Vec<String> = operation_methods(&swagger)
        .into_iter()
        .filter(|(_, m)| !code.contains(&format!("pub async fn {m}<'a>(")))
        .map(|(id, m)| format!("{id} (`{m}`)"))
        .collect();
    assert!(
        missing.is_empty(),
        "{} {version}: no method for {missing:?}",
        service.name
    );
    assert_eq!(
        code.matches("pub async fn ").count(),
        operation_methods(&swagger).len(),
        "{} {version}: one generated method per operation",
        service.name
    );
    assert!(
        code.contains(&format!("\"{version}\"")),
        "{} {version}: the generated client's api_version() is the spec's",
        service.name
    );
    capabilities(service.name, &code)
}

#[test]
fn snake_case_matches_progenitor_for_our_ids() {
    assert_eq!(snake_case("DigitalTwins_Add"), "digital_twins_add");
    assert_eq!(
        snake_case("DigitalTwinModels_Update"),
        "digital_twin_models_update"
    );
    assert_eq!(
        snake_case("CloudToDeviceMessages_PurgeCloudToDeviceMessageQueue"),
        "cloud_to_device_messages_purge_cloud_to_device_message_queue"
    );
}

#[test]
fn vendored_specs_generate_with_every_capability() {
    for service in SERVICES {
        let caps = generates_completely(service, &root().join(service.spec_path));
        let all: Vec<&str> = azure_twins_codegen::CAPABILITIES
            .iter()
            .filter(|c| c.service == service.name)
            .map(|c| c.cfg)
            .collect();
        assert_eq!(
            caps, all,
            "{}: the vendored spec has every facade part",
            service.name
        );
    }
}

#[test]
fn older_specs_generate_with_no_manual_edit() {
    let fixtures = older_fixtures();
    assert!(
        !fixtures.is_empty(),
        "no fixtures in tests/fixtures/specs/older"
    );
    let mut failures = Vec::new();
    for (service, path) in fixtures {
        let outcome = std::panic::catch_unwind(|| generates_completely(service, &path));
        match outcome {
            Ok(caps) => println!("{}: ok, capabilities {caps:?}", path.display()),
            Err(e) => failures.push(
                e.downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| format!("{}: panicked", path.display())),
            ),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
