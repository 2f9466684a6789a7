//! Shared access signature tokens and the token cache.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::HeaderValue;
use sha2::Sha256;
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use super::Secret;
use crate::error::{Error, Result};

/// Characters left unescaped: the same set as JavaScript's `encodeURIComponent`, which the
/// official SDKs use for `sr` and `sig`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

pub(crate) fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, URI_COMPONENT).to_string()
}

/// Creates an IoT Hub SAS token:
/// `SharedAccessSignature sr=<enc(uri)>&sig=<enc(base64(HMAC-SHA256(key, enc(uri) + "\n" + se)))>&se=<se>[&skn=<policy>]`.
///
/// `key` is the base64 policy (or device) key as shown in the portal; `resource_uri` is the hub
/// host name for service tokens (`myhub.azure-devices.net`); `expiry` is the absolute expiry
/// time. `policy_name` is `None` for device-key tokens.
///
/// ```
/// use azure_twins::auth::{generate_sas_token, Secret};
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = generate_sas_token(
///     "myhub.azure-devices.net",
///     &Secret::new("c2VjcmV0"),
///     Some("iothubowner"),
///     UNIX_EPOCH + Duration::from_secs(1_700_000_000),
/// )?;
/// assert!(t.expose_secret().starts_with("SharedAccessSignature sr=myhub.azure-devices.net&sig="));
/// assert!(t.expose_secret().ends_with("&se=1700000000&skn=iothubowner"));
/// # Ok::<(), azure_twins::Error>(())
/// ```
pub fn generate_sas_token(
    resource_uri: &str,
    key: &Secret,
    policy_name: Option<&str>,
    expiry: SystemTime,
) -> Result<Secret> {
    let key = super::connection_string::decode_key(key.expose_secret(), "shared_access_key")?;
    Ok(sign(resource_uri, &key, policy_name, expiry))
}

pub(crate) fn sign(
    resource_uri: &str,
    key: &[u8],
    policy_name: Option<&str>,
    expiry: SystemTime,
) -> Secret {
    let se = expiry
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let sr = encode_component(resource_uri);
    let to_sign = format!("{sr}\n{se}");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let mut token = format!(
        "SharedAccessSignature sr={sr}&sig={}&se={se}",
        encode_component(&sig)
    );
    if let Some(p) = policy_name {
        token.push_str("&skn=");
        token.push_str(&encode_component(p));
    }
    Secret::new(token)
}

/// `token` as an `Authorization` value marked sensitive: `Debug` prints `Sensitive`, and
/// HTTP/2 never puts it in its compression tables.
pub(crate) fn sensitive_header(token: &Secret) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(token.expose_secret()).map_err(|_| {
        Error::credential("the credential produced a header value with invalid characters")
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// A cached authorization header, ready to send (no copy or re-parse per call), and when to
/// renew it.
struct Cached {
    header: HeaderValue,
    renew_at: Instant,
}

/// Caches one authorization header; renews it ahead of expiry with exactly one fetch while
/// concurrent callers wait for that fetch (double-checked under a mutex).
pub(crate) struct TokenCache {
    cached: RwLock<Option<Cached>>,
    refresh: Mutex<()>,
}

impl TokenCache {
    pub(crate) fn new() -> Self {
        TokenCache {
            cached: RwLock::new(None),
            refresh: Mutex::new(()),
        }
    }

    /// The cached header if it does not need renewal yet, without waiting.
    pub(crate) fn fresh(&self) -> Option<HeaderValue> {
        let guard = self.cached.try_read().ok()?;
        guard
            .as_ref()
            .filter(|c| Instant::now() < c.renew_at)
            .map(|c| c.header.clone())
    }

    /// The cached header, or a new one from `fetch`, which returns the header value and how
    /// long from now it should be renewed.
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<HeaderValue>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, Duration)>>,
    {
        if let Some(h) = self.read_fresh().await {
            return Ok(h);
        }
        let _guard = self.refresh.lock().await;
        // Another task may have renewed while we waited for the lock.
        if let Some(h) = self.read_fresh().await {
            return Ok(h);
        }
        let (token, renew_in) = fetch().await?;
        let header = sensitive_header(&token)?;
        *self.cached.write().await = Some(Cached {
            header: header.clone(),
            renew_at: Instant::now() + renew_in,
        });
        Ok(header)
    }

    async fn read_fresh(&self) -> Option<HeaderValue> {
        let guard = self.cached.read().await;
        guard
            .as_ref()
            .filter(|c| Instant::now() < c.renew_at)
            .map(|c| c.header.clone())
    }
}

/// `t` truncated to whole seconds since the epoch (the precision of a SAS token's `se`).
pub(crate) fn whole_seconds(t: SystemTime) -> SystemTime {
    UNIX_EPOCH
        + Duration::from_secs(
            t.duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs(),
        )
}

/// How long before expiry a SAS token is renewed: a quarter of its lifetime, at most 5 minutes.
pub(crate) fn sas_renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 4).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Expected values computed independently with Python's `hmac`/`hashlib`/`urllib.parse.quote`:
    /// ```text
    /// sr = quote("myhub.azure-devices.net", safe="-_.!~*'()")
    /// sig = base64(hmac.new(b64decode("dGhpcyBpcyBhIHNlY3JldCBrZXkgdmFsdWU="), f"{sr}\n1700000000", sha256))
    /// ```
    #[test]
    fn known_vector() {
        let t = generate_sas_token(
            "myhub.azure-devices.net",
            &Secret::new("dGhpcyBpcyBhIHNlY3JldCBrZXkgdmFsdWU="),
            Some("iothubowner"),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        assert_eq!(t.expose_secret(), KNOWN_HOST_TOKEN);
        let t = generate_sas_token(
            "127.0.0.1:8443/devices/d 1",
            &Secret::new("dGhpcyBpcyBhIHNlY3JldCBrZXkgdmFsdWU="),
            None,
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        assert_eq!(t.expose_secret(), KNOWN_PATH_TOKEN);
    }

    const KNOWN_HOST_TOKEN: &str = "SharedAccessSignature sr=myhub.azure-devices.net&sig=ipwHcX5oBQBvu%2FZpvLW7usW5gDuWwKKpdZdBlaUvNa8%3D&se=1700000000&skn=iothubowner";
    const KNOWN_PATH_TOKEN: &str = "SharedAccessSignature sr=127.0.0.1%3A8443%2Fdevices%2Fd%201&sig=8AUWF3IDOB%2FP1dB23KZ9Xl0uF%2F5aV17xr2q29ztgspc%3D&se=1700000000";

    #[test]
    fn bad_key_is_an_error_without_echo() {
        let e =
            generate_sas_token("h", &Secret::new("%%%secret%%%"), None, UNIX_EPOCH).unwrap_err();
        assert!(!e.to_string().contains("secret%"));
    }

    #[tokio::test(start_paused = true)]
    async fn one_fetch_per_lifetime_under_concurrency() {
        let cache = Arc::new(TokenCache::new());
        let fetches = Arc::new(AtomicUsize::new(0));
        let run = |cache: Arc<TokenCache>, fetches: Arc<AtomicUsize>| async move {
            let mut tasks = Vec::new();
            for _ in 0..50 {
                let cache = cache.clone();
                let fetches = fetches.clone();
                tasks.push(tokio::spawn(async move {
                    cache
                        .get(|| async {
                            let n = fetches.fetch_add(1, Ordering::SeqCst);
                            // Make the renewal slow so that the other tasks pile up behind it.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok((Secret::new(format!("token-{n}")), Duration::from_secs(10)))
                        })
                        .await
                        .unwrap()
                }));
            }
            let mut seen = std::collections::HashSet::new();
            for t in tasks {
                let h = t.await.unwrap();
                assert!(h.is_sensitive());
                assert_eq!(format!("{h:?}"), "Sensitive");
                seen.insert(h.to_str().unwrap().to_owned());
            }
            seen
        };
        let first = run(cache.clone(), fetches.clone()).await;
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert_eq!(first.len(), 1);
        // Still fresh: no new fetch.
        tokio::time::advance(Duration::from_secs(5)).await;
        run(cache.clone(), fetches.clone()).await;
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(cache.fresh().is_some());
        // Past the renewal point: exactly one more fetch.
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(cache.fresh().is_none());
        let second = run(cache.clone(), fetches.clone()).await;
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        assert_eq!(second.len(), 1);
        assert_ne!(first, second);
    }

    #[test]
    fn margin() {
        assert_eq!(
            sas_renewal_margin(Duration::from_secs(3600)),
            Duration::from_secs(300)
        );
        assert_eq!(
            sas_renewal_margin(Duration::from_secs(8)),
            Duration::from_secs(2)
        );
    }
}
