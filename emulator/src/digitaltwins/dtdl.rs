//! DTDL (v2/v3) interfaces: upload validation, inheritance flattening and twin/relationship property validation.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::error::{AdtError, AdtResult};

/// Content kinds of an interface that matter to the data plane.
const KINDS: [&str; 5] = [
    "Property",
    "Telemetry",
    "Relationship",
    "Component",
    "Command",
];

/// Primitive schemas a property may declare.
const PRIMITIVES: [&str; 13] = [
    "boolean", "date", "dateTime", "double", "duration", "float", "integer", "long", "string",
    "time", "byte", "short", "decimal",
];

/// Whether `s` is a syntactically valid DTMI (`dtmi:segment(:segment)*;version`).
pub fn is_dtmi(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("dtmi:") else {
        return false;
    };
    let (path, version) = match rest.split_once(';') {
        Some((p, v)) => (p, Some(v)),
        None => (rest, None),
    };
    if let Some(v) = version
        && (v.is_empty()
            || v.len() > 9
            || !v.bytes().all(|b| b.is_ascii_digit())
            || v.starts_with('0'))
    {
        return false;
    }
    !path.is_empty()
        && path.split(':').all(|seg| {
            let b = seg.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphabetic()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
                && !seg.ends_with('_')
        })
}

fn parser_error(msg: impl Into<String>) -> AdtError {
    AdtError::bad_request(
        "DTDLParserError",
        format!(
            "None of the models in this request could be created due to a problem with one or more models: {}",
            msg.into()
        ),
    )
}

/// `@type` of a JSON-LD node as a list of strings.
pub fn types_of(v: &Value) -> Vec<&str> {
    match v.get("@type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn content_kind(c: &Value) -> Option<&'static str> {
    let t = types_of(c);
    KINDS.iter().copied().find(|k| t.contains(k))
}

/// Normalise `@context` to an array, as the service returns it.
pub fn normalise_context(model: &mut Value) {
    if let Some(obj) = model.as_object_mut()
        && let Some(Value::String(s)) = obj.get("@context").cloned()
    {
        obj.insert("@context".into(), Value::Array(vec![Value::String(s)]));
    }
}

/// Model ids an interface depends on and which must exist: `extends` and component schemas (relationship targets
/// are not resolved by the service — a recorded upload names an absent target and succeeds).
pub fn dependencies(iface: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_deps(iface, &mut out);
    out.sort();
    out.dedup();
    out
}

fn collect_deps(iface: &Value, out: &mut Vec<String>) {
    match iface.get("extends") {
        Some(Value::String(s)) => out.push(s.clone()),
        Some(Value::Array(a)) => {
            for e in a {
                match e {
                    Value::String(s) => out.push(s.clone()),
                    Value::Object(_) => collect_deps(e, out),
                    _ => {}
                }
            }
        }
        Some(o @ Value::Object(_)) => collect_deps(o, out),
        _ => {}
    }
    for c in iface
        .get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if content_kind(c) == Some("Component") {
            match c.get("schema") {
                Some(Value::String(s)) => out.push(s.clone()),
                Some(o @ Value::Object(_)) => collect_deps(o, out),
                _ => {}
            }
        }
    }
}

/// Structural checks of one uploaded interface (references are checked by [`check_references`]).
pub fn check_interface(m: &Value) -> AdtResult<String> {
    let obj = m
        .as_object()
        .ok_or_else(|| parser_error("each model must be a JSON object."))?;
    let id = obj
        .get("@id")
        .and_then(Value::as_str)
        .ok_or_else(|| parser_error("a model has no string '@id'."))?;
    if !is_dtmi(id) || !id.contains(';') {
        return Err(parser_error(format!(
            "'{id}' is not a valid DTMI with a version (dtmi:<path>;<version>)."
        )));
    }
    if !types_of(m).contains(&"Interface") {
        return Err(parser_error(format!("{id}: '@type' must be 'Interface'.")));
    }
    let ctx: Vec<&str> = match obj.get("@context") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => {
            return Err(parser_error(format!(
                "{id}: '@context' is required (e.g. 'dtmi:dtdl:context;3')."
            )));
        }
    };
    for c in &ctx {
        if let Some(v) = c.strip_prefix("dtmi:dtdl:context;")
            && v != "2"
            && v != "3"
        {
            return Err(AdtError::bad_request(
                "ModelVersionNotSupported",
                format!(
                    "{id}: DTDL context version {v} is not supported; use dtmi:dtdl:context;2 or ;3."
                ),
            ));
        }
    }
    if !ctx
        .iter()
        .any(|c| *c == "dtmi:dtdl:context;2" || *c == "dtmi:dtdl:context;3")
    {
        return Err(parser_error(format!(
            "{id}: '@context' must include dtmi:dtdl:context;2 or dtmi:dtdl:context;3."
        )));
    }
    check_contents(id, m).map(|_| id.to_string())
}

fn check_contents(id: &str, iface: &Value) -> AdtResult<()> {
    let schemas = local_schemas(iface);
    let contents = match iface.get("contents") {
        None => return Ok(()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(parser_error(format!("{id}: 'contents' must be an array."))),
    };
    let mut names = std::collections::HashSet::new();
    for c in contents {
        let kind = content_kind(c).ok_or_else(|| {
            parser_error(format!("{id}: every element of 'contents' needs '@type' Property, Telemetry, Relationship, Component or Command."))
        })?;
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| parser_error(format!("{id}: a {kind} has no 'name'.")))?;
        let ok_name = name.len() <= 64
            && name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok_name {
            return Err(parser_error(format!(
                "{id}: name '{name}' must start with a letter and contain only letters, digits and '_' (max 64)."
            )));
        }
        if !names.insert(name.to_string()) {
            return Err(parser_error(format!(
                "{id}: the name '{name}' is declared more than once."
            )));
        }
        match kind {
            "Property" | "Telemetry" => {
                let s = c.get("schema").ok_or_else(|| {
                    parser_error(format!("{id}: {kind} '{name}' has no 'schema'."))
                })?;
                check_schema(id, name, s, &schemas)?;
            }
            "Component" => match c.get("schema") {
                Some(Value::String(s)) if is_dtmi(s) => {}
                Some(o @ Value::Object(_)) if types_of(o).contains(&"Interface") => {
                    check_contents(id, o)?
                }
                _ => {
                    return Err(parser_error(format!(
                        "{id}: Component '{name}' needs an interface DTMI as 'schema'."
                    )));
                }
            },
            "Relationship" => {
                if let Some(t) = c.get("target")
                    && !t.as_str().is_some_and(is_dtmi)
                {
                    return Err(parser_error(format!(
                        "{id}: Relationship '{name}' has a 'target' that is not a DTMI."
                    )));
                }
                for p in c
                    .get("properties")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let pn = p.get("name").and_then(Value::as_str).unwrap_or("");
                    let s = p.get("schema").ok_or_else(|| {
                        parser_error(format!(
                            "{id}: property '{pn}' of Relationship '{name}' has no 'schema'."
                        ))
                    })?;
                    check_schema(id, pn, s, &schemas)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn local_schemas(iface: &Value) -> HashMap<String, Value> {
    iface
        .get("schemas")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s.get("@id")?.as_str()?.to_string(), s.clone())))
        .collect()
}

fn check_schema(
    id: &str,
    name: &str,
    s: &Value,
    schemas: &HashMap<String, Value>,
) -> AdtResult<()> {
    match s {
        Value::String(p)
            if PRIMITIVES.contains(&p.as_str())
                || p.starts_with("point")
                || p.starts_with("line")
                || p.starts_with("polygon")
                || p.starts_with("multi") =>
        {
            Ok(())
        }
        Value::String(p) if schemas.contains_key(p) => Ok(()),
        Value::String(p) if is_dtmi(p) => Ok(()), // resolved against inherited `schemas` at validation time
        Value::String(p) => Err(parser_error(format!(
            "{id}: '{name}' has unknown schema '{p}'."
        ))),
        Value::Object(_) => {
            let t = types_of(s);
            if t.contains(&"Object") {
                let fields = s.get("fields").and_then(Value::as_array).ok_or_else(|| {
                    parser_error(format!("{id}: Object schema of '{name}' needs 'fields'."))
                })?;
                for f in fields {
                    let fname = f.get("name").and_then(Value::as_str).ok_or_else(|| {
                        parser_error(format!("{id}: a field of '{name}' has no 'name'."))
                    })?;
                    let fs = f.get("schema").ok_or_else(|| {
                        parser_error(format!(
                            "{id}: field '{fname}' of '{name}' has no 'schema'."
                        ))
                    })?;
                    check_schema(id, fname, fs, schemas)?;
                }
                Ok(())
            } else if t.contains(&"Map") {
                let key_schema = s.pointer("/mapKey/schema").and_then(Value::as_str);
                if key_schema != Some("string") {
                    return Err(parser_error(format!(
                        "{id}: Map schema of '{name}' needs mapKey.schema 'string'."
                    )));
                }
                let vs = s.pointer("/mapValue/schema").ok_or_else(|| {
                    parser_error(format!(
                        "{id}: Map schema of '{name}' needs mapValue.schema."
                    ))
                })?;
                check_schema(id, name, vs, schemas)
            } else if t.contains(&"Enum") {
                let vs = s.get("valueSchema").and_then(Value::as_str);
                if vs != Some("integer") && vs != Some("string") {
                    return Err(parser_error(format!(
                        "{id}: Enum schema of '{name}' needs valueSchema 'integer' or 'string'."
                    )));
                }
                let vals = s
                    .get("enumValues")
                    .and_then(Value::as_array)
                    .ok_or_else(|| {
                        parser_error(format!("{id}: Enum schema of '{name}' needs 'enumValues'."))
                    })?;
                for v in vals {
                    let ok = match (vs, v.get("enumValue")) {
                        (Some("integer"), Some(x)) => x.is_i64(),
                        (Some("string"), Some(x)) => x.is_string(),
                        _ => false,
                    };
                    if !ok {
                        return Err(parser_error(format!(
                            "{id}: an enumValue of '{name}' does not match valueSchema."
                        )));
                    }
                }
                Ok(())
            } else if t.contains(&"Array") {
                let es = s.get("elementSchema").ok_or_else(|| {
                    parser_error(format!(
                        "{id}: Array schema of '{name}' needs 'elementSchema'."
                    ))
                })?;
                check_schema(id, name, es, schemas)
            } else {
                Err(parser_error(format!(
                    "{id}: schema of '{name}' must be Object, Map, Enum or Array."
                )))
            }
        }
        _ => Err(parser_error(format!(
            "{id}: schema of '{name}' must be a string or an object."
        ))),
    }
}

/// Every dependency of the batch must be in the batch or already stored.
pub fn check_references(batch: &[Value], exists: &dyn Fn(&str) -> bool) -> AdtResult<()> {
    let ids: Vec<&str> = batch
        .iter()
        .filter_map(|m| m.get("@id").and_then(Value::as_str))
        .collect();
    for m in batch {
        let id = m.get("@id").and_then(Value::as_str).unwrap_or("");
        for dep in dependencies(m) {
            if !ids.contains(&dep.as_str()) && !exists(&dep) {
                return Err(parser_error(format!(
                    "{id} references {dep}, which is neither in this request nor an existing model."
                )));
            }
        }
    }
    Ok(())
}

/// An interface with its inherited contents flattened.
#[derive(Debug, Default, Clone)]
pub struct Resolved {
    /// Property name → schema.
    pub properties: BTreeMap<String, Value>,
    /// Component name → resolved component interface.
    pub components: BTreeMap<String, Resolved>,
    /// Relationship name → declaration.
    pub relationships: BTreeMap<String, Value>,
    /// Telemetry names.
    pub telemetry: BTreeMap<String, Value>,
    /// Named schemas (`schemas` of this interface and its ancestors).
    pub schemas: HashMap<String, Value>,
    /// This interface's id and every ancestor id.
    pub ancestry: Vec<String>,
}

/// Flatten an interface and its `extends` chain; `lookup` finds stored or in-batch interfaces by id.
pub fn resolve(iface: &Value, lookup: &dyn Fn(&str) -> Option<Value>) -> AdtResult<Resolved> {
    let mut out = Resolved::default();
    resolve_into(iface, lookup, &mut out, 0)?;
    Ok(out)
}

fn resolve_into(
    iface: &Value,
    lookup: &dyn Fn(&str) -> Option<Value>,
    out: &mut Resolved,
    depth: usize,
) -> AdtResult<()> {
    let id = iface
        .get("@id")
        .and_then(Value::as_str)
        .unwrap_or("(inline)")
        .to_string();
    if depth > 10 {
        return Err(parser_error(format!(
            "{id}: 'extends' is nested more than 10 levels deep or cyclic."
        )));
    }
    if out.ancestry.contains(&id) {
        return Ok(());
    }
    out.ancestry.push(id.clone());
    out.schemas.extend(local_schemas(iface));
    let parents: Vec<Value> = match iface.get("extends") {
        Some(Value::String(s)) => vec![Value::String(s.clone())],
        Some(Value::Array(a)) => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => Vec::new(),
    };
    for p in parents {
        let parent = match &p {
            Value::String(s) => lookup(s)
                .ok_or_else(|| parser_error(format!("{id} extends {s}, which does not exist.")))?,
            other => other.clone(),
        };
        resolve_into(&parent, lookup, out, depth + 1)?;
    }
    for c in iface
        .get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = c.get("name").and_then(Value::as_str) else {
            continue;
        };
        let dup = out.properties.contains_key(name)
            || out.components.contains_key(name)
            || out.relationships.contains_key(name)
            || out.telemetry.contains_key(name);
        if dup {
            return Err(parser_error(format!(
                "{id}: '{name}' is also declared by an inherited interface."
            )));
        }
        match content_kind(c) {
            Some("Property") => {
                out.properties.insert(
                    name.to_string(),
                    c.get("schema").cloned().unwrap_or(Value::Null),
                );
            }
            Some("Telemetry") => {
                out.telemetry.insert(name.to_string(), c.clone());
            }
            Some("Relationship") => {
                out.relationships.insert(name.to_string(), c.clone());
            }
            Some("Component") => {
                let schema = match c.get("schema") {
                    Some(Value::String(s)) => lookup(s).ok_or_else(|| {
                        parser_error(format!(
                            "{id}: component '{name}' uses {s}, which does not exist."
                        ))
                    })?,
                    Some(o) => o.clone(),
                    None => Value::Null,
                };
                let sub = resolve(&schema, lookup)?;
                out.components.insert(name.to_string(), sub);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Check one value against a DTDL schema; the error names the property path and the rule.
pub fn check_value(
    path: &str,
    schema: &Value,
    v: &Value,
    named: &HashMap<String, Value>,
) -> Result<(), String> {
    let fail = |rule: &str| {
        Err(format!(
            "The value of property '{path}' is invalid: expected {rule}, got {v}."
        ))
    };
    match schema {
        Value::String(s) => match s.as_str() {
            "boolean" => {
                if v.is_boolean() {
                    Ok(())
                } else {
                    fail("a boolean")
                }
            }
            "double" | "float" | "decimal" => {
                if v.is_number() {
                    Ok(())
                } else {
                    fail("a number")
                }
            }
            "integer" => match v.as_i64() {
                Some(n) if i32::try_from(n).is_ok() => Ok(()),
                _ => fail("a 32-bit integer"),
            },
            "long" => {
                if v.is_i64() || v.is_u64() {
                    Ok(())
                } else {
                    fail("a 64-bit integer")
                }
            }
            "short" => match v.as_i64() {
                Some(n) if i16::try_from(n).is_ok() => Ok(()),
                _ => fail("a 16-bit integer"),
            },
            "byte" => match v.as_i64() {
                Some(n) if i8::try_from(n).is_ok() => Ok(()),
                _ => fail("an 8-bit integer"),
            },
            "string" => {
                if v.is_string() {
                    Ok(())
                } else {
                    fail("a string")
                }
            }
            "date" => match v.as_str() {
                Some(d) if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() => Ok(()),
                _ => fail("a date (YYYY-MM-DD)"),
            },
            "dateTime" => match v.as_str() {
                Some(d) if chrono::DateTime::parse_from_rfc3339(d).is_ok() => Ok(()),
                _ => fail("an RFC 3339 dateTime"),
            },
            "time" => match v.as_str() {
                Some(d)
                    if chrono::NaiveTime::parse_from_str(
                        d.trim_end_matches('Z'),
                        "%H:%M:%S%.f",
                    )
                    .is_ok() =>
                {
                    Ok(())
                }
                _ => fail("a time (hh:mm:ss)"),
            },
            "duration" => match v.as_str() {
                Some(d) if is_duration(d) => Ok(()),
                _ => fail("an ISO 8601 duration (e.g. PT1H30M)"),
            },
            other
                if other.starts_with("point")
                    || other.starts_with("line")
                    || other.starts_with("polygon")
                    || other.starts_with("multi") =>
            {
                if v.is_object() {
                    Ok(())
                } else {
                    fail("a GeoJSON object")
                }
            }
            other => match named.get(other) {
                Some(s) => check_value(path, s, v, named),
                None => Err(format!(
                    "Property '{path}' uses schema '{other}', which is not defined."
                )),
            },
        },
        Value::Object(_) => {
            let t = types_of(schema);
            if t.contains(&"Object") {
                let Some(obj) = v.as_object() else {
                    return fail("an object");
                };
                let fields: Vec<&Value> = schema
                    .get("fields")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .collect();
                for (k, fv) in obj {
                    let Some(f) = fields
                        .iter()
                        .find(|f| f.get("name").and_then(Value::as_str) == Some(k))
                    else {
                        return Err(format!(
                            "Property '{path}' has field '{k}', which its Object schema does not declare."
                        ));
                    };
                    check_value(
                        &format!("{path}.{k}"),
                        f.get("schema").unwrap_or(&Value::Null),
                        fv,
                        named,
                    )?;
                }
                Ok(())
            } else if t.contains(&"Map") {
                let Some(obj) = v.as_object() else {
                    return fail("a map (JSON object)");
                };
                let vs = schema.pointer("/mapValue/schema").unwrap_or(&Value::Null);
                for (k, mv) in obj {
                    check_value(&format!("{path}.{k}"), vs, mv, named)?;
                }
                Ok(())
            } else if t.contains(&"Enum") {
                let allowed: Vec<&Value> = schema
                    .get("enumValues")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.get("enumValue"))
                    .collect();
                if allowed.contains(&v) {
                    Ok(())
                } else {
                    fail(&format!(
                        "one of {}",
                        Value::Array(allowed.into_iter().cloned().collect())
                    ))
                }
            } else if t.contains(&"Array") {
                let Some(arr) = v.as_array() else {
                    return fail("an array");
                };
                let es = schema.get("elementSchema").unwrap_or(&Value::Null);
                for (i, e) in arr.iter().enumerate() {
                    check_value(&format!("{path}[{i}]"), es, e, named)?;
                }
                Ok(())
            } else {
                Err(format!("Property '{path}' has an unsupported schema."))
            }
        }
        _ => Err(format!("Property '{path}' has no usable schema.")),
    }
}

fn is_duration(d: &str) -> bool {
    let Some(rest) = d.strip_prefix('P') else {
        return false;
    };
    if rest.is_empty() {
        return false;
    }
    let (date, time) = match rest.split_once('T') {
        Some((a, b)) => {
            if b.is_empty() {
                return false;
            }
            (a, Some(b))
        }
        None => (rest, None),
    };
    let ok = |s: &str, units: &str| {
        let mut num = String::new();
        let mut last = 0usize;
        for ch in s.chars() {
            if ch.is_ascii_digit() || ch == '.' {
                num.push(ch);
            } else {
                let Some(pos) = units.find(ch) else {
                    return false;
                };
                if num.is_empty() || pos < last {
                    return false;
                }
                last = pos + 1;
                num.clear();
            }
        }
        num.is_empty()
    };
    ok(date, "YMWD") && time.is_none_or(|t| ok(t, "HMS"))
}

/// Validate the user properties of a twin (or component) object against a resolved interface.
/// `require_components`: every declared component must be present (create, and after a patch).
pub fn check_twin_props(
    obj: &Map<String, Value>,
    r: &Resolved,
    prefix: &str,
    require_components: bool,
) -> AdtResult<()> {
    for (k, v) in obj {
        if k == "$metadata" || (prefix.is_empty() && (k == "$dtId" || k == "$etag")) {
            continue;
        }
        let path = format!("{prefix}{k}");
        if let Some(schema) = r.properties.get(k) {
            check_value(&path, schema, v, &r.schemas).map_err(AdtError::validation)?;
        } else if let Some(comp) = r.components.get(k) {
            if !prefix.is_empty() {
                return Err(AdtError::validation(format!(
                    "Component '{path}' cannot be nested in a component."
                )));
            }
            let co = v.as_object().ok_or_else(|| {
                AdtError::validation(format!(
                    "Component '{k}' must be a JSON object with a '$metadata' object."
                ))
            })?;
            if let Some(m) = co.get("$metadata")
                && !m.is_object()
            {
                return Err(AdtError::validation(format!(
                    "'$metadata' of component '{k}' must be an object."
                )));
            }
            check_twin_props(co, comp, &format!("{k}."), false)?;
        } else if r.relationships.contains_key(k) || r.telemetry.contains_key(k) {
            return Err(AdtError::validation(format!(
                "'{path}' is a relationship or telemetry of the model, not a property; it cannot be set on the twin."
            )));
        } else {
            return Err(AdtError::validation(format!(
                "Property '{path}' is not defined in the model {}. Only properties and components the model declares (including inherited ones) may be set.",
                r.ancestry.first().map(String::as_str).unwrap_or("")
            )));
        }
    }
    if require_components {
        for name in r.components.keys() {
            if !obj.contains_key(name) {
                return Err(AdtError::validation(format!(
                    "Component '{name}' declared by the model is missing; components must be present (an object with \"$metadata\": {{}} is enough)."
                )));
            }
        }
    }
    Ok(())
}

/// Display name / description of model data: `{}` when absent, `{"en": s}` for a plain string.
pub fn language_map(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => serde_json::json!({"en": s}),
        Some(o @ Value::Object(_)) => o.clone(),
        _ => Value::Object(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmi_syntax() {
        assert!(is_dtmi("dtmi:example:Building;11217"));
        assert!(is_dtmi("dtmi:com:example_x:Room;1"));
        assert!(!is_dtmi("dtmi:example:;1"));
        assert!(!is_dtmi("urn:example;1"));
        assert!(!is_dtmi("dtmi:1abc;1"));
        assert!(!is_dtmi("dtmi:abc;01"));
    }

    #[test]
    fn durations() {
        assert!(is_duration("PT1H30M"));
        assert!(is_duration("P1DT2H"));
        assert!(is_duration("P3W"));
        assert!(!is_duration("P"));
        assert!(!is_duration("PT"));
        assert!(!is_duration("1H"));
        assert!(!is_duration("PT1M1H"));
    }
}
