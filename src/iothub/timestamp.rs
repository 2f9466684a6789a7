//! [`Timestamp`]: IoT Hub's times, read the way the service writes them.
//!
//! The generated IoT Hub models use it for every `date-time` (codegen fixup
//! `iothub_wire_types`): the service renders a never-set time as `0001-01-01T00:00:00`
//! *without* a zone in identity create responses, which `chrono`'s RFC 3339 parser refuses, so a
//! plain `DateTime<Utc>` would fail the whole response.

use std::fmt;
use std::ops::Deref;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant from IoT Hub: RFC 3339, or zone-less (taken as UTC, which is what the service
/// means). The service's "never" is `0001-01-01T00:00:00`: see [`Timestamp::is_never`].
///
/// Dereferences to [`chrono::DateTime<Utc>`].
///
/// ```
/// use azure_twins::iothub::Timestamp;
/// let t: Timestamp = serde_json::from_str("\"0001-01-01T00:00:00\"")?;
/// assert!(t.is_never());
/// let t: Timestamp = serde_json::from_str("\"2024-05-01T10:00:00.5Z\"")?;
/// assert_eq!(t.timestamp(), 1_714_557_600);
/// assert_eq!(serde_json::to_string(&t)?, "\"2024-05-01T10:00:00.500Z\"");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

/// `0001-01-01T00:00:00Z` in Unix seconds.
const NEVER_SECONDS: i64 = -62_135_596_800;

impl Timestamp {
    /// Parses RFC 3339 or IoT Hub's zone-less `YYYY-MM-DDTHH:MM:SS[.fff]`; an empty string is
    /// the service's "never".
    pub fn parse(s: &str) -> Option<Timestamp> {
        if s.is_empty() {
            return Some(Timestamp::NEVER);
        }
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|n| n.and_utc())
            })
            .map(Timestamp)
    }

    /// The service's "never happened" value, `0001-01-01T00:00:00Z`.
    pub const NEVER: Timestamp = match DateTime::from_timestamp(NEVER_SECONDS, 0) {
        Some(t) => Timestamp(t),
        None => panic!("0001-01-01 is a valid instant"),
    };

    /// True for [`Timestamp::NEVER`] (e.g. the last-activity time of a device that never
    /// connected).
    pub fn is_never(&self) -> bool {
        *self == Timestamp::NEVER
    }

    /// The instant.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }
}

impl Deref for Timestamp {
    type Target = DateTime<Utc>;
    fn deref(&self) -> &DateTime<Utc> {
        &self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp(t)
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not a timestamp: {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_forms() {
        let never = Timestamp::parse("0001-01-01T00:00:00").unwrap();
        assert!(never.is_never());
        assert!(Timestamp::parse("0001-01-01T00:00:00Z").unwrap().is_never());
        assert!(Timestamp::parse("").unwrap().is_never());
        let t = Timestamp::parse("2021-06-01T12:30:00.1234567Z").unwrap();
        assert!(!t.is_never());
        assert_eq!(t.to_string(), "2021-06-01T12:30:00.123456700Z");
        assert!(Timestamp::parse("yesterday").is_none());
    }
}
