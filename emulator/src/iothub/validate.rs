//! Input rules of IoT Hub (identity ids, twin keys, values, depth, sizes), each failure a 400
//! `ArgumentInvalid` whose message names the field and the rule.

use super::error::HubError;
use serde_json::{Map, Value};

/// Longest device/module/job/configuration id.
pub const MAX_ID_LEN: usize = 128;
/// Longest twin property key, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest string value, in UTF-8 bytes.
pub const MAX_STRING_BYTES: usize = 4096;
/// Deepest object nesting under a twin section root.
pub const MAX_DEPTH: usize = 10;
/// Size budget of `tags`.
pub const MAX_TAGS_SIZE: usize = 8 * 1024;
/// Size budget of `properties.desired`.
pub const MAX_DESIRED_SIZE: usize = 32 * 1024;
/// Integer range of twin numbers.
const MAX_INT: i64 = 4_503_599_627_370_495;
const MIN_INT: i64 = -4_503_599_627_370_496;

/// Characters allowed in ids besides ASCII alphanumerics (identity-registry page, plus `:`).
const ID_EXTRA: &str = "-.+%_#*?!(),=@$':";

/// Checks a device/module id: 1..=128 ASCII alphanumerics or `-.+%_#*?!(),=@$':`.
pub fn id(field: &str, value: &str) -> Result<(), HubError> {
    if value.is_empty() {
        return Err(HubError::invalid(format!("{field} must not be empty")));
    }
    if value.chars().count() > MAX_ID_LEN {
        return Err(HubError::invalid(format!(
            "{field} '{value}' is longer than {MAX_ID_LEN} characters"
        )));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ID_EXTRA.contains(*c)))
    {
        return Err(HubError::invalid(format!(
            "{field} '{value}' contains the character {c:?}; allowed are ASCII letters, digits and {ID_EXTRA}"
        )));
    }
    Ok(())
}

/// Checks a property key: no `.`, `$`, space or control characters; at most 1 KB.
pub fn key(path: &str, key: &str) -> Result<(), HubError> {
    if key.is_empty() {
        return Err(HubError::invalid(format!(
            "{path}: property names must not be empty"
        )));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(HubError::invalid(format!(
            "{path}: property name is {} bytes, the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    if let Some(c) = key
        .chars()
        .find(|c| *c == '.' || *c == '$' || *c == ' ' || c.is_control())
    {
        return Err(HubError::invalid(format!(
            "{path}.{key}: property names must not contain {c:?} ('.', '$', space and control characters are not allowed)"
        )));
    }
    Ok(())
}

/// Checks a section patch/document: keys, string lengths, integer range and depth.
///
/// Depth counts objects nested under the section root (the root itself is level 0): the docs'
/// deepest valid example is `tags.one.two…ten.property`, ten nested objects holding a leaf.
pub fn section(path: &str, map: &Map<String, Value>) -> Result<(), HubError> {
    object(path, map, 0)
}

fn object(path: &str, map: &Map<String, Value>, depth: usize) -> Result<(), HubError> {
    if depth > MAX_DEPTH {
        return Err(HubError::invalid(format!(
            "{path}: nesting depth exceeds the limit of {MAX_DEPTH} levels"
        )));
    }
    for (k, v) in map {
        key(path, k)?;
        value(&format!("{path}.{k}"), v, depth)?;
    }
    Ok(())
}

fn value(path: &str, v: &Value, depth: usize) -> Result<(), HubError> {
    match v {
        Value::Object(m) => object(path, m, depth + 1),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                value(&format!("{path}[{i}]"), item, depth)?;
            }
            Ok(())
        }
        Value::String(s) if s.len() > MAX_STRING_BYTES => Err(HubError::invalid(format!(
            "{path}: string value is {} bytes, the limit is {MAX_STRING_BYTES}",
            s.len()
        ))),
        Value::Number(n) => match n.as_i64() {
            Some(i) if !(MIN_INT..=MAX_INT).contains(&i) => Err(HubError::invalid(format!(
                "{path}: integer {i} is outside the range {MIN_INT}..={MAX_INT}"
            ))),
            None if n.as_u64().is_some() => Err(HubError::invalid(format!(
                "{path}: integer {n} is outside the range {MIN_INT}..={MAX_INT}"
            ))),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Size of a section as the service counts it: key lengths + values (strings as chars without
/// control characters, numbers 8, booleans 4, objects the sum of their contents).
pub fn size(map: &Map<String, Value>) -> usize {
    map.iter()
        .map(|(k, v)| k.chars().count() + value_size(v))
        .sum()
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 4,
        Value::Number(_) => 8,
        Value::String(s) => s.chars().filter(|c| !c.is_control()).count(),
        Value::Array(a) => a.iter().map(value_size).sum(),
        Value::Object(m) => size(m),
    }
}

/// Rejects a section larger than `limit`.
pub fn section_size(path: &str, map: &Map<String, Value>, limit: usize) -> Result<(), HubError> {
    let n = size(map);
    if n > limit {
        return Err(HubError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "ArgumentInvalid",
            format!("{path}: size {n} bytes exceeds the limit of {limit} bytes"),
        ));
    }
    Ok(())
}

/// Direct-method names: printable US-ASCII except separators `$()<>@,;:\"/[]?={}`, space and tab.
pub fn method_name(name: &str) -> Result<(), HubError> {
    if name.is_empty() {
        return Err(HubError::invalid("methodName must not be empty"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !c.is_ascii_graphic() || "$()<>@,;:\\\"/[]?={}".contains(*c))
    {
        return Err(HubError::invalid(format!(
            "methodName '{name}' contains the character {c:?}, which is not allowed in method names"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids() {
        assert!(id("deviceId", "a-b.c+d%e_f#g*h?i!j(k)l,m=n@o$p'q:r").is_ok());
        assert!(id("deviceId", "").is_err());
        assert!(id("deviceId", "a b").is_err());
        assert!(id("deviceId", "é").is_err());
        assert!(id("deviceId", &"a".repeat(128)).is_ok());
        assert!(id("deviceId", &"a".repeat(129)).is_err());
    }

    #[test]
    fn keys_values_depth() {
        let ok = json!({"a": {"b": "c"}, "n": 1, "arr": [1, "x"]});
        assert!(section("tags", ok.as_object().unwrap()).is_ok());
        for bad in [
            json!({"a.b": 1}),
            json!({"$a": 1}),
            json!({"a b": 1}),
            json!({"a\u{1}": 1}),
        ] {
            let e = section("tags", bad.as_object().unwrap()).unwrap_err();
            assert_eq!(e.code, "ArgumentInvalid");
        }
        let long = json!({"s": "x".repeat(4097)});
        assert!(section("tags", long.as_object().unwrap()).is_err());
        // ten nested objects under the section root holding a leaf are fine, eleven are not
        let mut v = json!("value");
        for i in (0..10).rev() {
            v = json!({ format!("l{i}"): v });
        }
        // `v` is ten objects deep; under the root it is ten nested objects.
        let ten = json!({ "top": v.clone() });
        assert!(section("tags", ten.as_object().unwrap()).is_ok());
        let v11 = json!({ "top": { "more": v } });
        assert!(section("tags", v11.as_object().unwrap()).is_err());
        assert!(
            section(
                "tags",
                json!({"big": 4503599627370496_i64}).as_object().unwrap()
            )
            .is_err()
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(
            size(json!({"ab": "xyz", "n": 1, "b": true}).as_object().unwrap()),
            2 + 3 + 1 + 8 + 1 + 4
        );
    }
}
