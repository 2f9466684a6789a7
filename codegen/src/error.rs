//! The single error type of the code generator.
//!
//! Every failure names what went wrong and where, so that a failing `build.rs` prints something
//! a maintainer can act on without a debugger: the construct and its JSON pointer for conversion
//! problems, the fixup name for stale fixups, the spec and operation for progenitor failures.

use std::fmt;

/// Why code generation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The spec file is not valid JSON (or not the JSON shape a step expected).
    Json {
        /// Which document or step was being read.
        context: String,
        /// The parser's message.
        message: String,
    },
    /// The Swagger 2.0 document uses something the converter does not handle. The converter
    /// refuses instead of dropping it, so that a re-vendored spec cannot silently lose meaning.
    Unsupported {
        /// The construct, e.g. `parameter in: formData`.
        construct: String,
        /// RFC 6901 JSON pointer into the Swagger document.
        pointer: String,
    },
    /// A named fixup found nothing to change (the spec is already in the shape it enforces, or
    /// its target is gone) or found the spec in a shape it does not understand.
    Fixup {
        /// The fixup's function name.
        fixup: &'static str,
        /// What it expected, and what it found instead.
        reason: String,
    },
    /// Every fixup of one spec that failed, reported together (see [`crate::prepare`]).
    Fixups {
        /// The spec path (vendored, or the override file).
        spec: String,
        /// The spec's api-version (`info.version`).
        version: String,
        /// `(fixup name, what it found)` in application order.
        failures: Vec<(&'static str, String)>,
    },
    /// progenitor returned an error or panicked while generating a client.
    Generation {
        /// Spec name, e.g. `iothub`.
        spec: String,
        /// The operationId whose generation failed, when it could be isolated.
        operation: Option<String>,
        /// progenitor's message (or panic payload).
        message: String,
    },
    /// The generated tokens are not a parseable Rust file (a progenitor bug).
    Format {
        /// Spec name.
        spec: String,
        /// The syn parser's message.
        message: String,
    },
}

impl Error {
    pub(crate) fn unsupported(construct: impl Into<String>, pointer: &str) -> Self {
        Error::Unsupported {
            construct: construct.into(),
            pointer: pointer.to_string(),
        }
    }

    pub(crate) fn fixup(fixup: &'static str, reason: impl Into<String>) -> Self {
        Error::Fixup {
            fixup,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Json { context, message } => write!(f, "invalid JSON in {context}: {message}"),
            Error::Unsupported { construct, pointer } => write!(
                f,
                "unsupported Swagger 2.0 construct `{construct}` at `{pointer}`: \
                 extend codegen/src/convert.rs or add a fixup"
            ),
            Error::Fixup { fixup, reason } => write!(f, "fixup `{fixup}` failed: {reason}"),
            Error::Fixups {
                spec,
                version,
                failures,
            } => {
                write!(
                    f,
                    "{} fixup(s) failed on {spec} (api-version {version}):",
                    failures.len()
                )?;
                for (fixup, reason) in failures {
                    write!(f, "\n  - `{fixup}`: {reason}")?;
                }
                write!(
                    f,
                    "\n  For each: if this version has nothing to fix there, mark the fixup \
                     `Versions::Except(&[\"{version}\"])` (or `Only`) in codegen/src/lib.rs; if the \
                     fixup's intent still holds in a new form, extend the fixup to normalise it; \
                     delete it only when no supported version needs it."
                )
            }
            Error::Generation {
                spec,
                operation,
                message,
            } => match operation {
                Some(op) => write!(
                    f,
                    "progenitor failed on spec `{spec}`, operation `{op}`: {message}"
                ),
                None => write!(f, "progenitor failed on spec `{spec}`: {message}"),
            },
            Error::Format { spec, message } => {
                write!(f, "generated code for `{spec}` does not parse: {message}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Escapes one JSON pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`).
pub(crate) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Appends one escaped segment to a JSON pointer.
pub(crate) fn join(pointer: &str, segment: &str) -> String {
    format!("{pointer}/{}", escape(segment))
}
