//! Local validation of a twin (or component) value against a derived DTDL interface.

use serde_json::{Map, Value};

use super::dtdl::DtdlModel;
use crate::Error;

/// What a value is checked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A twin or component document (ADT): every declared property may be set.
    Twin,
    /// IoT Plug and Play desired properties: only `writable` properties may be set, and
    /// components carry the `__t: "c"` marker.
    Desired,
}

impl DtdlModel {
    /// Checks `value` (a twin or component as JSON, e.g. `serde_json::to_value(&room)`)
    /// against this interface: it is an object; each member is a declared property of the
    /// right schema (primitive types and ranges, enum values, map values, array elements,
    /// object fields) or a component (an object, checked against the component's interface);
    /// members starting with `$` are system fields and skipped; `null` members are absent
    /// properties. The error names the member (`thermostat.setPoint`, `tags{k}`, `list[2]`)
    /// and what is allowed.
    pub fn validate(&self, value: &Value) -> Result<(), Error> {
        self.check(value, "", Mode::Twin)
    }

    /// Checks IoT Plug and Play desired properties: as [`validate`](Self::validate), and
    /// every property set must be `writable` in the model.
    pub fn validate_desired(&self, desired: &Value) -> Result<(), Error> {
        self.check(desired, "desired.", Mode::Desired)
    }

    pub(crate) fn check(&self, value: &Value, prefix: &str, mode: Mode) -> Result<(), Error> {
        let Value::Object(obj) = value else {
            return Err(Error::invalid_input(
                if prefix.is_empty() {
                    "twin".to_owned()
                } else {
                    prefix.trim_end_matches('.').to_owned()
                },
                format!(
                    "must be a JSON object (interface {}), got {}",
                    self.id(),
                    kind(value)
                ),
            ));
        };
        let contents = self
            .document
            .get("contents")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (k, v) in obj {
            if k.starts_with('$') || v.is_null() || (mode == Mode::Desired && k == "__t") {
                continue;
            }
            let path = format!("{prefix}{k}");
            let Some(c) = contents.iter().find(|c| c["name"] == **k) else {
                return Err(Error::invalid_input(
                    path,
                    format!(
                        "is not declared by the interface {}; declared: {}",
                        self.id(),
                        declared(contents)
                    ),
                ));
            };
            match first_type(c) {
                "Property" => {
                    if mode == Mode::Desired && c.get("writable") != Some(&Value::Bool(true)) {
                        return Err(Error::invalid_input(
                            path,
                            format!(
                                "is not writable in {} (only writable properties can be desired)",
                                self.id()
                            ),
                        ));
                    }
                    check_value(&path, &c["schema"], v)?;
                }
                "Component" => {
                    let Some(m) = self.component(k) else {
                        return Err(Error::invalid_input(path, "component has no model"));
                    };
                    if mode == Mode::Desired
                        && let Some(t) = v.get("__t")
                        && t != "c"
                    {
                        return Err(Error::invalid_input(
                            format!("{path}.__t"),
                            "must be \"c\" (the Plug and Play component marker)",
                        ));
                    }
                    m.check(v, &format!("{path}."), mode)?;
                }
                other => {
                    return Err(Error::invalid_input(
                        path,
                        format!(
                            "is a {other} of {}, not a property; it cannot be set",
                            self.id()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn first_type(c: &Value) -> &str {
    match &c["@type"] {
        Value::String(s) => s,
        Value::Array(a) => a.first().and_then(Value::as_str).unwrap_or(""),
        _ => "",
    }
}

fn declared(contents: &[Value]) -> String {
    let names: Vec<&str> = contents
        .iter()
        .filter(|c| matches!(first_type(c), "Property" | "Component"))
        .filter_map(|c| c["name"].as_str())
        .collect();
    if names.is_empty() {
        "nothing".to_owned()
    } else {
        names.join(", ")
    }
}

use crate::error::json_kind as kind;

fn fail(path: &str, expected: &str, v: &Value) -> Result<(), Error> {
    let got = v.to_string();
    let got: String = if got.chars().count() > 80 {
        got.chars().take(77).chain("...".chars()).collect()
    } else {
        got
    };
    Err(Error::invalid_input(
        path.to_owned(),
        format!("must be {expected}, got {got}"),
    ))
}

/// Checks one value against a DTDL schema (as derived: primitives and inline complex schemas).
pub(crate) fn check_value(path: &str, schema: &Value, v: &Value) -> Result<(), Error> {
    match schema {
        Value::String(s) => {
            let ok = match s.as_str() {
                "boolean" => v.is_boolean(),
                "double" | "float" | "decimal" => v.is_number(),
                "integer" => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                "long" => v.is_i64(),
                "short" => v.as_i64().is_some_and(|n| i16::try_from(n).is_ok()),
                "byte" => v.as_i64().is_some_and(|n| i8::try_from(n).is_ok()),
                "string" => v.is_string(),
                "date" => v
                    .as_str()
                    .is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok()),
                "dateTime" => v
                    .as_str()
                    .is_some_and(|d| chrono::DateTime::parse_from_rfc3339(d).is_ok()),
                "time" => v.as_str().is_some_and(|d| {
                    chrono::NaiveTime::parse_from_str(d.trim_end_matches('Z'), "%H:%M:%S%.f")
                        .is_ok()
                }),
                "duration" => v
                    .as_str()
                    .is_some_and(|d| d.starts_with('P') && d.len() > 1),
                _ => true,
            };
            if ok {
                Ok(())
            } else {
                let expected = match s.as_str() {
                    "integer" => "a 32-bit integer (DTDL integer)",
                    "long" => "a 64-bit integer (DTDL long)",
                    "short" => "a 16-bit integer (DTDL short)",
                    "byte" => "an 8-bit integer (DTDL byte)",
                    "double" | "float" | "decimal" => "a number",
                    "boolean" => "a boolean",
                    "string" => "a string",
                    "date" => "a date (YYYY-MM-DD)",
                    "dateTime" => "an RFC 3339 date-time",
                    "time" => "a time (hh:mm:ss)",
                    "duration" => "an ISO 8601 duration (P…)",
                    _ => "valid",
                };
                fail(path, expected, v)
            }
        }
        Value::Object(o) => match o.get("@type").and_then(Value::as_str) {
            Some("Enum") => {
                let values: Vec<&Value> = o
                    .get("enumValues")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|e| &e["enumValue"])
                    .collect();
                if values.contains(&v) {
                    Ok(())
                } else {
                    let allowed: Vec<String> = values.iter().map(|x| x.to_string()).collect();
                    fail(path, &format!("one of {}", allowed.join(", ")), v)
                }
            }
            Some("Map") => {
                let Value::Object(m) = v else {
                    return fail(path, "an object (DTDL Map)", v);
                };
                let vs = &o["mapValue"]["schema"];
                for (k, x) in m {
                    check_value(&format!("{path}{{{k}}}"), vs, x)?;
                }
                Ok(())
            }
            Some("Array") => {
                let Value::Array(a) = v else {
                    return fail(path, "an array", v);
                };
                for (i, x) in a.iter().enumerate() {
                    check_value(&format!("{path}[{i}]"), &o["elementSchema"], x)?;
                }
                Ok(())
            }
            Some("Object") => {
                let Value::Object(m) = v else {
                    return fail(path, "an object", v);
                };
                let fields = o
                    .get("fields")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                check_object(path, fields, m)
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

fn check_object(path: &str, fields: &[Value], m: &Map<String, Value>) -> Result<(), Error> {
    for (k, x) in m {
        if x.is_null() {
            continue;
        }
        let Some(f) = fields.iter().find(|f| f["name"] == **k) else {
            let names: Vec<&str> = fields.iter().filter_map(|f| f["name"].as_str()).collect();
            return Err(Error::invalid_input(
                format!("{path}.{k}"),
                format!("is not a field of the object; fields: {}", names.join(", ")),
            ));
        };
        check_value(&format!("{path}.{k}"), &f["schema"], x)?;
    }
    Ok(())
}
