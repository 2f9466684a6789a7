//! Entity tags and conditional requests: [`ETag`] and [`Condition`].
//!
//! Both services use ETags for optimistic concurrency, with different spellings:
//!
//! * IoT Hub puts the etag **unquoted** in twin and identity bodies (`"etag": "AAAAAAAAAAE="`)
//!   but requires it **quoted** in `If-Match` (`If-Match: "AAAAAAAAAAE="`); an unquoted value is
//!   a common cause of silent failures in other SDKs.
//! * Azure Digital Twins uses weak etags, `W/"<uuid>"`, in the `ETag` header and in `$etag`,
//!   and expects them back verbatim.
//!
//! [`ETag`] accepts any of these forms and always produces the wire form the service wants.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An entity tag, stored in its wire form (quoted, or weak `W/"…"`).
///
/// ```
/// use azure_twins::ETag;
/// // IoT Hub body value (unquoted) gets quoted for If-Match:
/// assert_eq!(ETag::new("AAAAAAAAAAE=").as_header(), "\"AAAAAAAAAAE=\"");
/// // Already-quoted and weak tags are kept as they are:
/// assert_eq!(ETag::new("\"x\"").as_header(), "\"x\"");
/// assert_eq!(ETag::new("W/\"7e67\"").as_header(), "W/\"7e67\"");
/// assert_eq!(ETag::new("W/\"7e67\"").value(), "7e67");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ETag(String);

impl ETag {
    /// Creates an ETag from a body value or a header value.
    ///
    /// A bare value is quoted; a quoted or weak (`W/"…"`) value is kept as given. Surrounding
    /// whitespace is trimmed.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        let trimmed = value.trim();
        if is_quoted(trimmed) || trimmed.strip_prefix("W/").is_some_and(is_quoted) {
            ETag(trimmed.to_owned())
        } else {
            let mut quoted = String::with_capacity(trimmed.len() + 2);
            quoted.push('"');
            quoted.push_str(trimmed);
            quoted.push('"');
            ETag(quoted)
        }
    }

    /// The wire form, as sent in `If-Match` and received in the `ETag` header.
    pub fn as_header(&self) -> &str {
        &self.0
    }

    /// The opaque value without quotes or the weak prefix (the form IoT Hub puts in bodies).
    pub fn value(&self) -> &str {
        let s = self.0.strip_prefix("W/").unwrap_or(&self.0);
        &s[1..s.len() - 1]
    }

    /// True for weak etags (`W/"…"`), as used by Azure Digital Twins.
    pub fn is_weak(&self) -> bool {
        self.0.starts_with("W/")
    }

    /// Reads the `ETag` response header, if present and valid text.
    pub(crate) fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<ETag> {
        headers
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.trim().is_empty())
            .map(ETag::new)
    }
}

fn is_quoted(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('"') && s.ends_with('"')
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ETag({})", self.0)
    }
}

impl From<&str> for ETag {
    fn from(s: &str) -> Self {
        ETag::new(s)
    }
}

impl From<String> for ETag {
    fn from(s: String) -> Self {
        ETag::new(s)
    }
}

impl From<&ETag> for ETag {
    fn from(e: &ETag) -> Self {
        e.clone()
    }
}

/// Serialises the form a document body carries: a weak tag verbatim (`W/"…"`, as ADT's `$etag`),
/// a strong tag unquoted (as IoT Hub's `etag` fields). [`Deserialize`] accepts either, so a
/// document read, changed and written back keeps its tag exactly.
impl Serialize for ETag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_weak() {
            s.serialize_str(&self.0)
        } else {
            s.serialize_str(self.value())
        }
    }
}

impl<'de> Deserialize<'de> for ETag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ETag::new)
    }
}

/// A precondition for a write, one model for both services.
///
/// * [`Condition::IfMatch`]: only if the resource still has this ETag (optimistic concurrency;
///   a mismatch fails with 412, see [`crate::Error::is_precondition_failed`]).
/// * [`Condition::IfMatchAny`]: only if the resource exists (`If-Match: *`).
/// * [`Condition::IfNoneMatchAny`]: only if it does not exist yet (`If-None-Match: *`, create-only).
///
/// ```
/// use azure_twins::{Condition, ETag};
/// let c = Condition::IfMatch(ETag::new("AAAAAAAAAAE="));
/// assert_eq!(c.if_match(), Some("\"AAAAAAAAAAE=\""));
/// assert_eq!(Condition::IfNoneMatchAny.if_none_match(), Some("*"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Condition {
    /// `If-Match: <etag>`.
    IfMatch(ETag),
    /// `If-Match: *`.
    IfMatchAny,
    /// `If-None-Match: *`.
    IfNoneMatchAny,
}

impl Condition {
    /// The `If-Match` header value this condition sends, if any.
    pub fn if_match(&self) -> Option<&str> {
        match self {
            Condition::IfMatch(e) => Some(e.as_header()),
            Condition::IfMatchAny => Some("*"),
            Condition::IfNoneMatchAny => None,
        }
    }

    /// The `If-None-Match` header value this condition sends, if any.
    pub fn if_none_match(&self) -> Option<&str> {
        match self {
            Condition::IfNoneMatchAny => Some("*"),
            _ => None,
        }
    }
}

impl From<ETag> for Condition {
    fn from(e: ETag) -> Self {
        Condition::IfMatch(e)
    }
}

impl From<&ETag> for Condition {
    fn from(e: &ETag) -> Self {
        Condition::IfMatch(e.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(ETag::new(" AAA= ").as_header(), "\"AAA=\"");
        assert_eq!(ETag::new("AAA=").value(), "AAA=");
        assert!(!ETag::new("AAA=").is_weak());
        assert!(ETag::new("W/\"u\"").is_weak());
        // A lone quote is not a quoted value: it gets wrapped.
        assert_eq!(ETag::new("\"").as_header(), "\"\"\"");
        assert_eq!(ETag::new("\"").value(), "\"");
        assert_eq!(ETag::new("").as_header(), "\"\"");
    }

    #[test]
    fn serde_round_trip() {
        let e = ETag::new("W/\"abc\"");
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(s, r#""W/\"abc\"""#);
        assert_eq!(serde_json::from_str::<ETag>(&s).unwrap(), e);
        let bare: ETag = serde_json::from_str("\"AAAAAAAAAAE=\"").unwrap();
        assert_eq!(bare.as_header(), "\"AAAAAAAAAAE=\"");
        // A strong tag goes back into a body unquoted, as IoT Hub sends it.
        assert_eq!(serde_json::to_string(&bare).unwrap(), "\"AAAAAAAAAAE=\"");
    }
}

/// A value read from or written to either service together with its ETag, for optimistic
/// concurrency: pass `etag` back with `.if_match(&v.etag)` on the next write. IoT Hub sends its
/// etags unquoted in bodies and [`ETag`] quotes them for `If-Match`; ADT etags are weak (`W/"…"`),
/// taken from the `ETag` header or, failing that, the body's `$etag`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Versioned<T> {
    /// The document.
    pub value: T,
    /// Its ETag.
    pub etag: ETag,
}

impl<T> Versioned<T> {
    /// Maps the value, keeping the ETag.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Versioned<U> {
        Versioned {
            value: f(self.value),
            etag: self.etag,
        }
    }

    /// Drops the ETag.
    pub fn into_inner(self) -> T {
        self.value
    }
}
