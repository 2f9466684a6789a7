//! Shared access signature verification for the IoT Hub listener.
//!
//! Token: `SharedAccessSignature sr=<url-encoded resource>&sig=<url-encoded base64 HMAC-SHA256>&se=<expiry>&skn=<policy>`;
//! the signed string is `<sr as sent>\n<se>`, the key the base64-decoded policy key. The resource must be
//! the hub host, optionally followed by a path (scope matched per segment), as the service accepts.

use super::error::HubError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;

/// Rights of a shared access policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights {
    /// Registry read.
    pub registry_read: bool,
    /// Registry write.
    pub registry_write: bool,
    /// Service connect (twins, queries, methods, jobs).
    pub service_connect: bool,
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Identity reads, statistics.
    RegistryRead,
    /// Identity writes, configurations.
    RegistryWrite,
    /// Twins, queries, methods, jobs.
    ServiceConnect,
}

/// One shared access policy of the hub.
pub struct Policy {
    /// Decoded key bytes.
    key: Vec<u8>,
    /// Base64 key, for connection strings.
    pub key_b64: String,
    /// Rights.
    pub rights: Rights,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("rights", &self.rights)
            .finish_non_exhaustive()
    }
}

/// The hub's policies and the cache of accepted tokens.
#[derive(Debug)]
pub struct Authenticator {
    policies: HashMap<String, Policy>,
    /// Host names (with port) the resource may name.
    hosts: Vec<String>,
    /// Accepted tokens → (expiry, policy name); also counts distinct tokens.
    accepted: Mutex<HashMap<String, (u64, String)>>,
}

const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl Authenticator {
    /// Policies `iothubowner`, `service`, `registryRead`, `registryReadWrite` with fresh random keys.
    pub fn new(hosts: Vec<String>) -> Self {
        let all = Rights {
            registry_read: true,
            registry_write: true,
            service_connect: true,
        };
        let mut policies = HashMap::new();
        for (name, rights) in [
            ("iothubowner", all),
            (
                "service",
                Rights {
                    registry_read: false,
                    registry_write: false,
                    service_connect: true,
                },
            ),
            (
                "registryRead",
                Rights {
                    registry_read: true,
                    registry_write: false,
                    service_connect: false,
                },
            ),
            (
                "registryReadWrite",
                Rights {
                    registry_read: true,
                    registry_write: true,
                    service_connect: false,
                },
            ),
        ] {
            let key: [u8; 32] = rand::random();
            policies.insert(
                name.to_string(),
                Policy {
                    key: key.to_vec(),
                    key_b64: B64.encode(key),
                    rights,
                },
            );
        }
        Self {
            policies,
            hosts: hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
            accepted: Mutex::new(HashMap::new()),
        }
    }

    /// The base64 key of a policy.
    pub fn policy_key(&self, name: &str) -> Option<&str> {
        self.policies.get(name).map(|p| p.key_b64.as_str())
    }

    /// How many different tokens were accepted.
    pub fn distinct_tokens(&self) -> usize {
        self.accepted.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Verifies the `Authorization` header for a request needing `need`.
    pub fn verify(&self, header: Option<&str>, need: Need) -> Result<(), HubError> {
        let Some(token) = header else {
            return Err(HubError::unauthorized("Authorization header missing"));
        };
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let cached = self
            .accepted
            .lock()
            .ok()
            .and_then(|m| m.get(token).cloned());
        let (expiry, policy) = match cached {
            Some(c) => c,
            None => {
                let c = self.check_signature(token)?;
                if c.0 > now
                    && let Ok(mut m) = self.accepted.lock()
                {
                    m.insert(token.to_string(), c.clone());
                }
                c
            }
        };
        if expiry <= now {
            return Err(HubError::unauthorized(format!(
                "SharedAccessSignature expired at {expiry} (unix seconds), now is {now}"
            )));
        }
        let rights = self
            .policies
            .get(&policy)
            .map(|p| p.rights)
            .ok_or_else(|| {
                HubError::unauthorized(format!("shared access policy '{policy}' does not exist"))
            })?;
        let ok = match need {
            Need::RegistryRead => rights.registry_read,
            Need::RegistryWrite => rights.registry_write,
            Need::ServiceConnect => rights.service_connect,
        };
        if !ok {
            return Err(HubError::unauthorized(format!(
                "shared access policy '{policy}' lacks the {need:?} permission this operation needs"
            )));
        }
        Ok(())
    }

    /// Parses and checks a token's resource and signature (not the expiry); returns (se, skn).
    fn check_signature(&self, token: &str) -> Result<(u64, String), HubError> {
        let Some(fields) = token.trim().strip_prefix("SharedAccessSignature ") else {
            return Err(HubError::unauthorized(
                "Authorization header is not a SharedAccessSignature token",
            ));
        };
        let (mut sr, mut sig, mut se, mut skn) = (None, None, None, None);
        for part in fields.split('&') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            match k {
                "sr" => sr = Some(v),
                "sig" => sig = Some(v),
                "se" => se = Some(v),
                "skn" => skn = Some(v),
                _ => {}
            }
        }
        let (Some(sr), Some(sig), Some(se)) = (sr, sig, se) else {
            return Err(HubError::unauthorized(
                "SharedAccessSignature must carry sr, sig and se fields",
            ));
        };
        let Some(skn) = skn else {
            return Err(HubError::unauthorized(
                "SharedAccessSignature without skn: device-scoped tokens cannot call the service API",
            ));
        };
        let expiry: u64 = se
            .parse()
            .map_err(|_| HubError::unauthorized("SharedAccessSignature se must be unix seconds"))?;
        let resource = percent_decode_str(sr)
            .decode_utf8_lossy()
            .to_ascii_lowercase();
        let in_scope = self.hosts.iter().any(|h| {
            resource == *h
                || resource
                    .strip_prefix(h.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        });
        if !in_scope {
            return Err(HubError::unauthorized(format!(
                "SharedAccessSignature resource '{resource}' does not name this hub"
            )));
        }
        let policy = self.policies.get(skn).ok_or_else(|| {
            HubError::unauthorized(format!("shared access policy '{skn}' does not exist"))
        })?;
        let sig = percent_decode_str(sig).decode_utf8_lossy().to_string();
        let sig = B64
            .decode(sig.as_bytes())
            .map_err(|_| HubError::unauthorized("SharedAccessSignature sig is not base64"))?;
        let decoded = percent_decode_str(sr).decode_utf8_lossy().to_string();
        let upper = utf8_percent_encode(&decoded, ENCODE).to_string();
        let lower = lower_hex_escapes(&upper);
        let candidates = [sr.to_string(), upper, lower];
        let good = candidates.iter().any(|c| {
            let mut mac = match Hmac::<Sha256>::new_from_slice(&policy.key) {
                Ok(m) => m,
                Err(_) => return false,
            };
            mac.update(format!("{c}\n{se}").as_bytes());
            mac.verify_slice(&sig).is_ok()
        });
        if !good {
            return Err(HubError::unauthorized(format!(
                "SharedAccessSignature signature does not match the key of policy '{skn}'"
            )));
        }
        Ok((expiry, skn.to_string()))
    }
}

fn lower_hex_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            for _ in 0..2 {
                if let Some(h) = chars.next() {
                    out.push(h.to_ascii_lowercase());
                }
            }
        }
    }
    out
}

/// Builds a token (used by the emulator's own tests and docs examples).
#[cfg(any(test, feature = "fuzzing"))]
pub fn sign(resource: &str, policy: &str, key_b64: &str, expiry: u64) -> Option<String> {
    let key = B64.decode(key_b64).ok()?;
    let sr = utf8_percent_encode(resource, ENCODE).to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{sr}\n{expiry}").as_bytes());
    let sig = B64.encode(mac.finalize().into_bytes());
    let sig = utf8_percent_encode(&sig, ENCODE).to_string();
    Some(format!(
        "SharedAccessSignature sr={sr}&sig={sig}&se={expiry}&skn={policy}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies() {
        let a = Authenticator::new(vec!["127.0.0.1:1234".into(), "localhost:1234".into()]);
        let key = a.policy_key("iothubowner").unwrap().to_string();
        let far = chrono::Utc::now().timestamp() as u64 + 3600;
        let good = sign("127.0.0.1:1234", "iothubowner", &key, far).unwrap();
        assert!(a.verify(Some(&good), Need::RegistryWrite).is_ok());
        let with_path = sign("localhost:1234/devices/x", "iothubowner", &key, far).unwrap();
        assert!(a.verify(Some(&with_path), Need::ServiceConnect).is_ok());
        let wrong_host = sign("127.0.0.1:12345", "iothubowner", &key, far).unwrap();
        assert_eq!(
            a.verify(Some(&wrong_host), Need::ServiceConnect)
                .unwrap_err()
                .code,
            "IotHubUnauthorizedAccess"
        );
        let expired = sign("127.0.0.1:1234", "iothubowner", &key, 1000).unwrap();
        assert!(a.verify(Some(&expired), Need::ServiceConnect).is_err());
        let wrong_policy = sign("127.0.0.1:1234", "service", &key, far).unwrap();
        assert!(a.verify(Some(&wrong_policy), Need::ServiceConnect).is_err());
        let svc = sign(
            "127.0.0.1:1234",
            "service",
            a.policy_key("service").unwrap(),
            far,
        )
        .unwrap();
        assert!(a.verify(Some(&svc), Need::ServiceConnect).is_ok());
        assert!(a.verify(Some(&svc), Need::RegistryWrite).is_err());
        assert!(a.verify(None, Need::ServiceConnect).is_err());
        assert_eq!(a.distinct_tokens(), 3);
    }
}
