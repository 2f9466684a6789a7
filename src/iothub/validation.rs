//! Local checks of IoT Hub inputs, run before anything is sent.
//!
//! The service rejects bad ids, keys and values with a 400 after a round trip (and, for jobs,
//! sometimes only when the job runs); checking locally gives an immediate [`Error`] of kind
//! [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) that names the field and the
//! rule, and guarantees nothing half-applied. The rules follow the IoT Hub documentation:
//!
//! * device, module, job and configuration ids: 1–128 characters, ASCII letters and digits plus
//!   `- : . + % _ # * ? ! ( ) , = @ ; $ '`;
//! * twin keys (tags, desired properties): not empty, at most 1 KB of UTF-8, no `.`, `$`,
//!   space or control characters (C0/C1);
//! * string values at most 4 KB of UTF-8; integers within ±2^52;
//! * depth: at most 10 nested objects under a section root (`tags.one.two…ten.leaf` is the
//!   deepest valid path, as in the service documentation);
//! * direct method names: printable ASCII without `$ ( ) < > @ , ; : \ " / [ ] ? = { }`;
//! * query text: not empty, at most 8192 characters.
//!
//! ```
//! use azure_twins::iothub::validation;
//! assert!(validation::check_device_id("sensor-01").is_ok());
//! let e = validation::check_device_id("has space").unwrap_err();
//! assert!(e.to_string().contains("device_id"));
//! ```

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Longest device, module, job or configuration id, in characters.
pub const MAX_ID_LEN: usize = 128;
/// Longest twin key, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest twin string value, in UTF-8 bytes.
pub const MAX_STRING_BYTES: usize = 4096;
/// Most nested objects under a twin section root (`tags`, `properties.desired`).
pub const MAX_DEPTH: usize = 10;
/// Longest query text, in characters.
pub const MAX_QUERY_LEN: usize = 8192;
/// Characters allowed in ids besides ASCII letters and digits.
pub const ID_SPECIAL_CHARS: &str = "-:.+%_#*?!(),=@;$'";

const MAX_INT: i64 = 4_503_599_627_370_495;
const MIN_INT: i64 = -4_503_599_627_370_496;

fn check_id(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid_input(field, "must not be empty"));
    }
    let n = value.chars().count();
    if n > MAX_ID_LEN {
        return Err(Error::invalid_input(
            field,
            format!("is {n} characters long; the limit is {MAX_ID_LEN}"),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ID_SPECIAL_CHARS.contains(*c)))
    {
        return Err(Error::invalid_input(
            field,
            format!(
                "contains {c:?}; only ASCII letters, digits and {ID_SPECIAL_CHARS} are allowed"
            ),
        ));
    }
    Ok(())
}

/// Checks a device id (field `device_id`).
pub fn check_device_id(id: &str) -> Result<()> {
    check_id("device_id", id)
}

/// Checks a module id (field `module_id`).
pub fn check_module_id(id: &str) -> Result<()> {
    check_id("module_id", id)
}

/// Checks a job id (field `job_id`).
pub fn check_job_id(id: &str) -> Result<()> {
    check_id("job_id", id)
}

/// Checks a configuration id (field `configuration_id`).
pub fn check_configuration_id(id: &str) -> Result<()> {
    check_id("configuration_id", id)
}

/// Checks one twin key; `path` names where it sits (e.g. `desired.config`).
pub fn check_key(path: &str, key: &str) -> Result<()> {
    check_key_at(&Path::Root(path), key)
}

/// Where a key or value sits, rendered (`desired.a[0].b`) only when a check fails, so that
/// checking allocates nothing.
#[derive(Clone, Copy)]
enum Path<'a> {
    /// The section name or a caller-given path, as is.
    Root(&'a str),
    /// `parent.key`.
    Key(&'a Path<'a>, &'a str),
    /// `parent[index]`.
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn is_empty(&self) -> bool {
        matches!(self, Path::Root(s) if s.is_empty())
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(s) => f.write_str(s),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// [`check_key`] for a key under `parent`; the field name is built only for an error.
fn check_key_at(parent: &Path<'_>, key: &str) -> Result<()> {
    let field = || {
        if parent.is_empty() {
            key.to_owned()
        } else {
            format!("{parent}.{key}")
        }
    };
    if key.is_empty() {
        return Err(Error::invalid_input(
            if parent.is_empty() {
                "key".to_owned()
            } else {
                parent.to_string()
            },
            "property names must not be empty",
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::invalid_input(
            truncate(&field()),
            format!(
                "property name is {} bytes; the limit is {MAX_KEY_BYTES}",
                key.len()
            ),
        ));
    }
    // Printable ASCII other than '.', '$' and space needs no closer look.
    let suspect = key
        .bytes()
        .any(|b| !(0x21..0x7f).contains(&b) || b == b'.' || b == b'$');
    if suspect
        && let Some(c) = key
            .chars()
            .find(|c| matches!(c, '.' | '$' | ' ') || c.is_control())
    {
        return Err(Error::invalid_input(
            truncate(&field()),
            format!(
                "property names must not contain {c:?} ('.', '$', space and control characters are not allowed)"
            ),
        ));
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_owned()
    } else {
        let t: String = s.chars().take(80).collect();
        format!("{t}…")
    }
}

/// Checks a twin section (`tags` or `desired`) as it will be sent: keys, string sizes, integer
/// range and depth. `null` values are allowed (they remove a key).
pub fn check_twin_section(section: &str, map: &Map<String, Value>) -> Result<()> {
    check_object(&Path::Root(section), map, 0)
}

fn check_object(path: &Path<'_>, map: &Map<String, Value>, depth: usize) -> Result<()> {
    for (k, v) in map {
        check_key_at(path, k)?;
        check_value(&Path::Key(path, k), v, depth)?;
    }
    Ok(())
}

fn check_value(path: &Path<'_>, v: &Value, depth: usize) -> Result<()> {
    match v {
        Value::Object(m) => {
            if depth + 1 > MAX_DEPTH {
                return Err(Error::invalid_input(
                    truncate(&path.to_string()),
                    format!("nesting is deeper than {MAX_DEPTH} objects under the section root"),
                ));
            }
            check_object(path, m, depth + 1)
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_value(&Path::Index(path, i), item, depth)?;
            }
            Ok(())
        }
        Value::String(s) if s.len() > MAX_STRING_BYTES => Err(Error::invalid_input(
            truncate(&path.to_string()),
            format!(
                "string value is {} bytes; the limit is {MAX_STRING_BYTES}",
                s.len()
            ),
        )),
        Value::Number(n) => {
            let in_range = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => (MIN_INT..=MAX_INT).contains(&i),
                (None, Some(_)) => false,
                _ => true,
            };
            if in_range {
                Ok(())
            } else {
                Err(Error::invalid_input(
                    truncate(&path.to_string()),
                    format!("integer {n} is outside the range {MIN_INT}..={MAX_INT}"),
                ))
            }
        }
        _ => Ok(()),
    }
}

/// Splits a dotted property path (`"a.b.c"`) into keys, checking each; used by the explicit
/// removals of [`TwinPatch`](super::TwinPatch).
pub fn split_property_path(section: &str, path: &str) -> Result<Vec<String>> {
    check_property_path(section, path)?;
    Ok(path.split('.').map(str::to_owned).collect())
}

/// The checks of [`split_property_path`] without building the keys: not empty, at most
/// `MAX_DEPTH + 1` keys, each a valid key (named by its path under `section`).
pub(crate) fn check_property_path(section: &str, path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(Error::invalid_input(
            section.to_owned(),
            "the property path to remove must not be empty",
        ));
    }
    let keys = path.bytes().filter(|&b| b == b'.').count() + 1;
    if keys > MAX_DEPTH + 1 {
        return Err(Error::invalid_input(
            format!("{section}.{}", truncate(path)),
            format!("paths are at most {} keys deep", MAX_DEPTH + 1),
        ));
    }
    let root = Path::Root(section);
    let mut start = 0;
    for k in path.split('.') {
        // The keys before this one are `path[..start - 1]`: the prefix is `section.<them>`.
        if start == 0 {
            check_key_at(&root, k)?;
        } else {
            check_key_at(&Path::Key(&root, &path[..start - 1]), k)?;
        }
        start += k.len() + 1;
    }
    Ok(())
}

/// Checks a direct method name (field `method_name`).
pub fn check_method_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid_input("method_name", "must not be empty"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !c.is_ascii_graphic() || "$()<>@,;:\\\"/[]?={}".contains(*c))
    {
        return Err(Error::invalid_input(
            "method_name",
            format!(
                "contains {c:?}; method names are printable ASCII without $()<>@,;:\\\"/[]?={{}} and spaces"
            ),
        ));
    }
    Ok(())
}

/// Checks query text (field `query`): not empty, at most [`MAX_QUERY_LEN`] characters.
pub fn check_query(field: &'static str, query: &str) -> Result<()> {
    if query.trim().is_empty() {
        return Err(Error::invalid_input(field, "must not be empty"));
    }
    let n = query.chars().count();
    if n > MAX_QUERY_LEN {
        return Err(Error::invalid_input(
            field,
            format!("is {n} characters long; the limit is {MAX_QUERY_LEN}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    fn field(e: &Error) -> String {
        match e.kind() {
            ErrorKind::InvalidInput { field, .. } => field.to_string(),
            other => panic!("not an input error: {other:?}"),
        }
    }

    #[test]
    fn ids() {
        assert!(check_device_id("a-b:c.d+e%f_g#h*i?j!k(l)m,n=o@p;q$r's").is_ok());
        assert!(check_device_id(&"a".repeat(128)).is_ok());
        let e = check_device_id(&"a".repeat(129)).unwrap_err();
        assert_eq!(field(&e), "device_id");
        assert!(e.to_string().contains("128"));
        assert_eq!(field(&check_module_id("").unwrap_err()), "module_id");
        for bad in ["a b", "é", "a/b", "a\\b", "a\u{0}", "a&b"] {
            let e = check_job_id(bad).unwrap_err();
            assert_eq!(field(&e), "job_id", "{bad}");
            assert!(e.to_string().contains("only ASCII letters"), "{e}");
        }
        assert!(check_configuration_id("cfg-1").is_ok());
    }

    #[test]
    fn keys() {
        for bad in ["a.b", "$a", "a b", "a\u{1}", "a\u{85}", ""] {
            let m = json!({ bad: 1 });
            let e = check_twin_section("tags", m.as_object().unwrap()).unwrap_err();
            assert!(field(&e).starts_with("tags"), "{bad}: {}", field(&e));
        }
        let long = "k".repeat(1025);
        let m = json!({ long: 1 });
        let e = check_twin_section("desired", m.as_object().unwrap()).unwrap_err();
        assert!(e.to_string().contains("1024"), "{e}");
        let ok = "k".repeat(1024);
        assert!(check_twin_section("desired", json!({ ok: 1 }).as_object().unwrap()).is_ok());
        // Nested keys are named with their path.
        let e = check_twin_section("desired", json!({"a": {"b c": 1}}).as_object().unwrap())
            .unwrap_err();
        assert_eq!(field(&e), "desired.a.b c");
    }

    #[test]
    fn values() {
        let m = json!({"s": "x".repeat(4097)});
        let e = check_twin_section("tags", m.as_object().unwrap()).unwrap_err();
        assert_eq!(field(&e), "tags.s");
        assert!(e.to_string().contains("4096"));
        assert!(
            check_twin_section("tags", json!({"s": "x".repeat(4096)}).as_object().unwrap()).is_ok()
        );
        assert!(
            check_twin_section(
                "tags",
                json!({"n": 4503599627370496_i64}).as_object().unwrap()
            )
            .is_err()
        );
        assert!(check_twin_section("tags", json!({"n": u64::MAX}).as_object().unwrap()).is_err());
        assert!(
            check_twin_section(
                "tags",
                json!({"n": 1.5, "b": true, "x": null, "a": [1, "s"]})
                    .as_object()
                    .unwrap()
            )
            .is_ok()
        );
        // Arrays are checked element by element.
        let e = check_twin_section("tags", json!({"a": [{"k.k": 1}]}).as_object().unwrap())
            .unwrap_err();
        assert_eq!(field(&e), "tags.a[0].k.k");
    }

    fn nested(levels: usize) -> Value {
        // tags.l1.l2…l<levels>.property = "value": `levels` nested objects under the root.
        let mut v = json!({"property": "value"});
        for i in (2..=levels).rev() {
            v = json!({ format!("l{i}"): v });
        }
        json!({ "l1": v })
    }

    #[test]
    fn depth_counts_like_the_service() {
        // The documented deepest valid path: ten nested objects, the tenth holding a leaf.
        assert!(check_twin_section("tags", nested(10).as_object().unwrap()).is_ok());
        let e = check_twin_section("tags", nested(11).as_object().unwrap()).unwrap_err();
        assert!(field(&e).starts_with("tags.l1.l2"), "{}", field(&e));
        assert!(e.to_string().contains("deeper than 10"), "{e}");
    }

    #[test]
    fn paths_methods_queries() {
        assert_eq!(
            split_property_path("desired", "a.b").unwrap(),
            vec!["a", "b"]
        );
        assert_eq!(
            field(&split_property_path("desired", "").unwrap_err()),
            "desired"
        );
        assert_eq!(
            field(&split_property_path("tags", "a..b").unwrap_err()),
            "tags.a"
        );
        assert_eq!(
            field(&split_property_path("tags", "a.$b").unwrap_err()),
            "tags.a.$b"
        );
        assert!(check_method_name("reboot_now-1").is_ok());
        for bad in ["", "re boot", "a/b", "$x", "a\tb", "ü"] {
            assert_eq!(
                field(&check_method_name(bad).unwrap_err()),
                "method_name",
                "{bad}"
            );
        }
        assert!(check_query("query", "SELECT * FROM devices").is_ok());
        assert_eq!(field(&check_query("query", "  ").unwrap_err()), "query");
        assert!(check_query("query", &"x".repeat(8193)).is_err());
    }
}
