//! progenitor invocation and formatting.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle};
use serde_json::{Map, Value};

use crate::error::Error;

type Result<T> = std::result::Result<T, Error>;

/// The inner type of every generated `Client` (`GenerationSettings::with_inner_type`). The
/// generated code is `include!`d at `crate::raw::<service>`, so this absolute path resolves from
/// there; `src/pipeline.rs` defines the type and the `ClientHooks` impls.
pub const INNER_TYPE: &str = "crate::pipeline::Pipeline";

/// Named schemas (added by the fixups in `fixups::shapes`) that generation replaces with the
/// facade's own types, so generated models and signatures use them: `(schema name, Rust path)`.
/// Each path resolves from `crate::raw::<service>`, where the generated code is included. A
/// replacement whose schema a spec does not have is inert.
pub const REPLACEMENTS: [(&str, &str); 7] = [
    (crate::fixups::IOTHUB_ETAG, "crate::ETag"),
    (
        crate::fixups::IOTHUB_FEEDBACK_STATUS,
        "crate::iothub::FeedbackStatus",
    ),
    (crate::fixups::IOTHUB_SECRET, "crate::auth::Secret"),
    (crate::fixups::IOTHUB_TIMESTAMP, "crate::iothub::Timestamp"),
    (crate::fixups::IOTHUB_JOB_TYPE, "crate::iothub::JobType"),
    (crate::fixups::IOTHUB_JOB_STATUS, "crate::iothub::JobStatus"),
    (
        crate::fixups::ADT_JOB_STATUS,
        "crate::digitaltwins::JobStatus",
    ),
];

/// The progenitor settings used for both services.
///
/// - Positional interface: required arguments are checked by the compiler, and a spec bump that
///   adds or removes a parameter breaks our facade's compile instead of failing at runtime. It
///   also skips typify's per-struct builders (less code).
/// - Merged tags: positional + separate tags is `unimplemented!` in progenitor 0.15.1.
/// - Inner type [`INNER_TYPE`], hooks `Expected`: a missing `impl ClientHooks<Pipeline> for
///   Client` is one clear compile error rather than silently using the no-op default hooks.
/// - [`REPLACEMENTS`]: facade types for etags, secrets, timestamps and open status enums.
/// - `PartialEq` on every model, so callers and tests can compare documents.
pub fn settings() -> GenerationSettings {
    let inner: proc_macro2::TokenStream =
        INNER_TYPE.parse().expect("INNER_TYPE is a valid Rust path");
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Positional)
        .with_tag(TagStyle::Merged)
        .with_inner_type(inner)
        .with_hooks(HooksMode::Expected)
        .with_derive("PartialEq");
    for (schema, rust_type) in REPLACEMENTS {
        settings.with_replacement(schema, rust_type, std::iter::empty());
    }
    settings
}

/// Runs progenitor on an OpenAPI 3.0.x document and returns prettyplease-formatted Rust source.
///
/// progenitor panics (`assert!`, `unimplemented!`) on some inputs; a panic is caught and
/// turned into [`Error::Generation`]. To name the culprit, each operation is then generated on
/// its own until one panics or fails.
pub fn generate_code(spec_name: &str, openapi: &Value) -> Result<String> {
    let tokens = match run_progenitor(openapi) {
        Ok(tokens) => tokens,
        Err(message) => {
            return Err(Error::Generation {
                spec: spec_name.to_string(),
                operation: isolate_failing_operation(openapi),
                message,
            });
        }
    };
    let file: syn::File = syn::parse2(tokens).map_err(|e| Error::Format {
        spec: spec_name.to_string(),
        message: e.to_string(),
    })?;
    Ok(prettyplease::unparse(&file))
}

/// Generates tokens, converting both progenitor errors and panics into a message.
fn run_progenitor(openapi: &Value) -> std::result::Result<proc_macro2::TokenStream, String> {
    let spec: openapiv3::OpenAPI = serde_json::from_value(openapi.clone())
        .map_err(|e| format!("the converted document is not valid OpenAPI 3: {e}"))?;
    let settings = settings();
    let outcome = quietly(|| Generator::new(&settings).generate_tokens(&spec));
    match outcome {
        Ok(Ok(tokens)) => Ok(tokens),
        Ok(Err(e)) => Err(e.to_string()),
        Err((payload, location)) => Err(format!(
            "panic: {}{}",
            panic_message(payload.as_ref()).replace('\n', " "),
            location.map(|l| format!(" (at {l})")).unwrap_or_default()
        )),
    }
}

/// Serialises the swaps of the process-wide panic hook (tests generate in parallel).
static PANIC_HOOK: Mutex<()> = Mutex::new(());

thread_local! {
    /// Where the last panic caught by [`quietly`] on this thread happened.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

type Caught = (Box<dyn std::any::Any + Send>, Option<String>);

/// Runs `f`, catching a panic without the default hook's stderr message and backtrace (the
/// panic becomes one readable error line instead); returns the payload and where it happened.
fn quietly<R>(f: impl FnOnce() -> R) -> std::result::Result<R, Caught> {
    let _guard = PANIC_HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| {
            // `.../progenitor-impl-0.15.1/src/method.rs:1234`, without the machine's registry path.
            let parts: Vec<&str> = l.file().rsplit(['/', '\\']).take(3).collect();
            let file: Vec<&str> = parts.into_iter().rev().collect();
            format!("{}:{}", file.join("/"), l.line())
        });
        PANIC_LOCATION.with(|slot| *slot.borrow_mut() = location);
    }));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    outcome.map_err(|payload| {
        (
            payload,
            PANIC_LOCATION.with(|slot| slot.borrow_mut().take()),
        )
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// Re-runs progenitor on one operation at a time (keeping all components) and returns the
/// operationId of the first one that fails on its own.
fn isolate_failing_operation(openapi: &Value) -> Option<String> {
    let paths = openapi.get("paths")?.as_object()?;
    for (path, item) in paths {
        let item = item.as_object()?;
        for (method, op) in item {
            if method == "parameters" || method.starts_with("x-") {
                continue;
            }
            let mut single_item = Map::new();
            single_item.insert(method.clone(), op.clone());
            if let Some(params) = item.get("parameters") {
                single_item.insert("parameters".into(), params.clone());
            }
            let mut single_paths = Map::new();
            single_paths.insert(path.clone(), Value::Object(single_item));
            let mut single = openapi.clone();
            single["paths"] = Value::Object(single_paths);
            if run_progenitor(&single).is_err() {
                let id = op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{} {path}", method.to_uppercase()));
                return Some(id);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(responses: Value) -> Value {
        json!({
            "openapi": "3.0.3",
            "info": { "title": "Fixture", "version": "2020-01-01" },
            "paths": {
                "/things/{id}": { "get": {
                    "operationId": "Things_Get",
                    "parameters": [{ "name": "id", "in": "path", "required": true,
                                     "schema": { "type": "string" } }],
                    "responses": responses
                } },
                "/other": { "get": {
                    "operationId": "Other_Get",
                    "responses": { "204": { "description": "none" } }
                } }
            },
            "components": { "schemas": { "Thing": { "type": "object",
                "properties": { "name": { "type": "string" } } } } }
        })
    }

    #[test]
    fn generates_positional_methods_with_the_pipeline_inner_type() {
        let code = generate_code(
            "fixture",
            &spec(
                json!({ "200": { "description": "ok", "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Thing" } } } } }),
            ),
        )
        .unwrap();
        assert!(code.contains("pub async fn things_get<'a>("), "{code}");
        assert!(code.contains("operation_id: \"things_get\""));
        assert!(code.contains("inner: crate::pipeline::Pipeline"));
        assert!(code.contains("where\n        Client: ClientHooks<crate::pipeline::Pipeline>"));
        assert!(code.contains("pub struct Thing"));
    }

    #[test]
    fn a_progenitor_panic_becomes_an_error_naming_spec_and_operation() {
        // Two success responses with different body kinds trip progenitor's
        // `assert!(response_types.len() <= 1)`.
        let bad = spec(json!({
            "200": { "description": "ok", "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Thing" } } } },
            "204": { "description": "none" }
        }));
        match generate_code("fixture", &bad) {
            Err(Error::Generation {
                spec,
                operation,
                message,
            }) => {
                assert_eq!(spec, "fixture");
                assert_eq!(operation.as_deref(), Some("Things_Get"));
                assert!(message.starts_with("panic:"), "{message}");
                assert!(!message.contains('\n'), "one line: {message}");
                assert!(message.contains("(at progenitor-impl"), "{message}");
            }
            other => panic!("expected a generation error, got {other:?}"),
        }
    }

    #[test]
    fn an_invalid_document_is_an_error_not_a_panic() {
        let err = generate_code("fixture", &json!({ "openapi": "3.0.3" })).unwrap_err();
        assert!(err.to_string().contains("not valid OpenAPI 3"), "{err}");
    }
}
