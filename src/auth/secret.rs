//! [`Secret`]: a string that never prints.

use std::fmt;

/// A key or token that must never reach logs, error messages or panics.
///
/// Shared access keys, SAS tokens and bearer tokens are bearer credentials: whoever reads one
/// can act as the hub owner until it expires. `Secret` keeps the value out of `Debug` and
/// `Display` (both print `Secret(***)` / `***`), so deriving `Debug` on a struct that holds one is
/// safe. The only way to read the value is the explicit [`Secret::expose_secret`].
///
/// ```
/// use azure_twins::auth::Secret;
/// let s = Secret::new("c2VjcmV0");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose_secret(), "c2VjcmV0");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Returns the secret value. Call this only where the value goes on the wire.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// Serialises the value itself: a `Secret` inside a request body (a device's symmetric keys)
/// must reach the service. Logging a serialised document is the caller's explicit choice.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("super-secret-value");
        assert!(!format!("{s:?}").contains("super"));
        assert!(!format!("{s}").contains("super"));
        assert!(!format!("{:#?}", Some(&s)).contains("super"));
    }
}
