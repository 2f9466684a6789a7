//! Strict parser for IoT Hub service connection strings.

use std::fmt;

use base64::Engine as _;

use super::Secret;
use crate::error::{Error, Result};

/// A parsed IoT Hub **service** connection string:
/// `HostName=<hub>.azure-devices.net;SharedAccessKeyName=<policy>;SharedAccessKey=<base64 key>`.
///
/// Parsing is strict so that mistakes surface at start-up rather than as 401s later: unknown,
/// duplicate, empty or missing parts are errors; a device or module connection string
/// (`DeviceId=…`, `ModuleId=…`) is rejected with a hint; the key must be valid base64. Error
/// messages name the part and the rule and never include the key. `Debug` hides the key.
///
/// ```
/// use azure_twins::auth::ConnectionString;
/// let cs = ConnectionString::parse(
///     "HostName=hub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=c2VjcmV0",
/// )?;
/// assert_eq!(cs.host_name(), "hub.azure-devices.net");
/// assert_eq!(cs.shared_access_key_name(), "iothubowner");
/// assert!(!format!("{cs:?}").contains("c2VjcmV0"));
/// # Ok::<(), azure_twins::Error>(())
/// ```
#[derive(Clone)]
pub struct ConnectionString {
    host_name: String,
    key_name: String,
    key: Secret,
}

const FIELD: &str = "connection_string";

impl ConnectionString {
    /// Parses a service connection string.
    pub fn parse(s: &str) -> Result<Self> {
        let mut host_name: Option<String> = None;
        let mut key_name: Option<String> = None;
        let mut key: Option<Secret> = None;
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid_input(FIELD, "is empty"));
        }
        for (i, part) in trimmed.split(';').enumerate() {
            let part = part.trim();
            if part.is_empty() {
                // Tolerate one trailing ';' (copied from the portal with one), nothing else.
                if trimmed.ends_with(';') && i == trimmed.split(';').count() - 1 {
                    continue;
                }
                return Err(Error::invalid_input(FIELD, "contains an empty part (';;')"));
            }
            let Some((name, value)) = part.split_once('=') else {
                // Do not echo the part: it may be a key pasted without its name.
                return Err(Error::invalid_input(
                    FIELD,
                    format!("part {} is not of the form Name=Value", i + 1),
                ));
            };
            let name = name.trim();
            let value = value.trim();
            let slot_name = match name {
                "HostName" | "SharedAccessKeyName" | "SharedAccessKey" => name,
                "DeviceId" | "ModuleId" => {
                    return Err(Error::invalid_input(
                        FIELD,
                        format!(
                            "contains {name}: this is a device connection string; \
                             the service API needs a hub-level policy such as iothubowner or service"
                        ),
                    ));
                }
                "SharedAccessSignature" => {
                    return Err(Error::invalid_input(
                        FIELD,
                        "contains SharedAccessSignature: pass a pre-made token with Credential::sas_token instead",
                    ));
                }
                other => {
                    // Name the part only when it cannot be a (mis-pasted) key: short and
                    // letters only. Base64 keys are 24+ characters with digits or symbols.
                    let shown =
                        if other.len() <= 20 && other.chars().all(|c| c.is_ascii_alphabetic()) {
                            format!("unknown part '{other}'")
                        } else {
                            format!("unknown part {}", i + 1)
                        };
                    return Err(Error::invalid_input(
                        FIELD,
                        format!(
                            "{shown} (allowed: HostName, SharedAccessKeyName, SharedAccessKey)"
                        ),
                    ));
                }
            };
            if value.is_empty() {
                return Err(Error::invalid_input(FIELD, format!("{slot_name} is empty")));
            }
            let duplicate = match slot_name {
                "HostName" => host_name.replace(value.to_owned()).is_some(),
                "SharedAccessKeyName" => key_name.replace(value.to_owned()).is_some(),
                _ => key.replace(Secret::new(value)).is_some(),
            };
            if duplicate {
                return Err(Error::invalid_input(
                    FIELD,
                    format!("{slot_name} appears more than once"),
                ));
            }
        }
        let host_name =
            host_name.ok_or_else(|| Error::invalid_input(FIELD, "HostName is missing"))?;
        let key_name = key_name
            .ok_or_else(|| Error::invalid_input(FIELD, "SharedAccessKeyName is missing"))?;
        let key = key.ok_or_else(|| Error::invalid_input(FIELD, "SharedAccessKey is missing"))?;
        validate_host(&host_name)?;
        validate_key_name(&key_name)?;
        decode_key(key.expose_secret(), FIELD)?;
        Ok(ConnectionString {
            host_name,
            key_name,
            key,
        })
    }

    /// The hub's host name (`<hub>.azure-devices.net`, or `127.0.0.1:<port>` for the emulator).
    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    /// The shared access policy name (`iothubowner`, `service`, …).
    pub fn shared_access_key_name(&self) -> &str {
        &self.key_name
    }

    /// The policy key (base64).
    pub fn shared_access_key(&self) -> &Secret {
        &self.key
    }
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("host_name", &self.host_name)
            .field("shared_access_key_name", &self.key_name)
            .field("shared_access_key", &self.key)
            .finish()
    }
}

impl std::str::FromStr for ConnectionString {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ConnectionString::parse(s)
    }
}

fn validate_host(host: &str) -> Result<()> {
    let ok = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !ok || host.starts_with('.') || host.starts_with('-') {
        return Err(Error::invalid_input(
            FIELD,
            "HostName must be a host name (letters, digits, '.', '-', optional ':port'), without scheme or path",
        ));
    }
    Ok(())
}

fn validate_key_name(name: &str) -> Result<()> {
    if name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::invalid_input(
            FIELD,
            "SharedAccessKeyName must be 1-64 characters of letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

/// Decodes a base64 policy key; the error names `field` and the rule, never the value.
pub(crate) fn decode_key(key: &str, field: &'static str) -> Result<Vec<u8>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|_| Error::invalid_input(field, "SharedAccessKey is not valid base64"))?;
    if bytes.is_empty() {
        return Err(Error::invalid_input(
            field,
            "SharedAccessKey decodes to zero bytes",
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const KEY: &str = "dGhpcyBpcyBhIHNlY3JldCBrZXkgdmFsdWU=";

    #[test]
    fn table() {
        let ok = format!(
            "HostName=h.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey={KEY}"
        );
        assert!(ConnectionString::parse(&ok).is_ok());
        assert!(ConnectionString::parse(&format!("{ok};")).is_ok());
        let reordered = format!("SharedAccessKey={KEY};HostName=h;SharedAccessKeyName=service");
        assert!(ConnectionString::parse(&reordered).is_ok());
        let cases: &[(String, &str)] = &[
            (String::new(), "is empty"),
            (
                format!("HostName=h;SharedAccessKey={KEY}"),
                "SharedAccessKeyName is missing",
            ),
            (
                "HostName=h;SharedAccessKeyName=s".into(),
                "SharedAccessKey is missing",
            ),
            (
                format!("SharedAccessKeyName=s;SharedAccessKey={KEY}"),
                "HostName is missing",
            ),
            (
                format!("HostName=h;HostName=g;SharedAccessKeyName=s;SharedAccessKey={KEY}"),
                "more than once",
            ),
            (
                format!("HostName=h;DeviceId=d;SharedAccessKey={KEY}"),
                "device connection string",
            ),
            (
                format!("HostName=h;SharedAccessKeyName=s;SharedAccessKey={KEY};Foo=bar"),
                "unknown part 'Foo'",
            ),
            (
                "HostName=h;SharedAccessKeyName=s;SharedAccessKey=not base64!!".into(),
                "not valid base64",
            ),
            (
                format!("HostName=h;;SharedAccessKeyName=s;SharedAccessKey={KEY}"),
                "empty part",
            ),
            (
                format!("HostName=;SharedAccessKeyName=s;SharedAccessKey={KEY}"),
                "HostName is empty",
            ),
            (
                format!("HostName=https://h/;SharedAccessKeyName=s;SharedAccessKey={KEY}"),
                "without scheme",
            ),
            (
                format!("HostName=h;SharedAccessKeyName=s;{KEY}"),
                "unknown part 3",
            ),
            (
                format!("HostName=h;SharedAccessKeyName=s;{}", &KEY[..30]),
                "not of the form",
            ),
        ];
        for (input, expected) in cases {
            let e = ConnectionString::parse(input).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == FIELD));
            let msg = e.to_string();
            assert!(msg.contains(expected), "{input:?}: {msg}");
            assert!(!msg.contains(KEY), "key echoed: {msg}");
            assert!(!format!("{e:?}").contains(KEY));
        }
    }
}
