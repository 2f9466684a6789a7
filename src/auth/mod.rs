//! Credentials: connection strings, SAS signing with cached renewal, static tokens, Entra ID.
//!
//! A [`Credential`] says *how* to authenticate; each client turns it into one authorizer that
//! caches the `Authorization` header value:
//!
//! * [`Credential::from_connection_string`] / [`Credential::shared_access_key`]: IoT Hub SAS
//!   tokens signed with HMAC-SHA256 for the hub host, valid for [`DEFAULT_SAS_LIFETIME`] (1 h;
//!   change with [`Credential::with_sas_lifetime`]), signed once per lifetime and renewed ahead of
//!   expiry (a quarter of the lifetime, at most 5 minutes) by exactly one task while concurrent
//!   calls wait for it.
//! * [`Credential::sas_token`]: a pre-made SAS token, sent as is (it is never renewed).
//! * [`Credential::bearer_token`]: a static bearer token (`Authorization: Bearer …`).
//! * `Credential::token_credential` (feature `azure-identity`): any
//!   `azure_core::credentials::TokenCredential` (e.g. from `azure_identity`), asked for
//!   `https://iothubs.azure.net/.default` or `https://digitaltwins.azure.net/.default`
//!   depending on the service; tokens are cached until 5 minutes before they expire (a quarter
//!   of the time left, if shorter).
//!
//! Keys and tokens live in [`Secret`] and never appear in `Debug`, `Display`, errors or logs.
//! Credentials are only sent over HTTPS, or plain HTTP to a loopback host (the emulator).

mod connection_string;
mod sas;
mod secret;
#[cfg(feature = "azure-identity")]
mod token;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

pub use connection_string::ConnectionString;
pub use sas::generate_sas_token;
pub use secret::Secret;

use reqwest::header::HeaderValue;

use crate::error::{Error, ErrorKind, Result};

/// Default lifetime of SAS tokens signed from a shared access key: 1 hour.
pub const DEFAULT_SAS_LIFETIME: Duration = Duration::from_secs(3600);

/// Which service a credential is used for; decides the Entra ID scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// Azure IoT Hub (scope `https://iothubs.azure.net/.default`).
    IotHub,
    /// Azure Digital Twins (scope `https://digitaltwins.azure.net/.default`).
    DigitalTwins,
}

impl Service {
    /// The Entra ID scope requested for this service.
    pub fn scope(self) -> &'static str {
        match self {
            Service::IotHub => "https://iothubs.azure.net/.default",
            Service::DigitalTwins => "https://digitaltwins.azure.net/.default",
        }
    }
}

/// How a client authenticates. Cheap to clone; `Debug` shows the kind, never the secret.
///
/// ```
/// use azure_twins::Credential;
/// let c = Credential::from_connection_string(
///     "HostName=hub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=c2VjcmV0",
/// )?;
/// assert!(!format!("{c:?}").contains("c2VjcmV0"));
/// let b = Credential::bearer_token("eyJ0eXAi...");
/// assert!(!format!("{b:?}").contains("eyJ"));
/// # Ok::<(), azure_twins::Error>(())
/// ```
#[derive(Clone)]
pub struct Credential {
    kind: CredentialKind,
}

#[derive(Clone)]
enum CredentialKind {
    SharedAccessKey {
        key_name: String,
        key: Arc<[u8]>,
        lifetime: Duration,
        resource_uri: Option<String>,
    },
    SasToken(Secret),
    BearerToken(Secret),
    #[cfg(feature = "azure-identity")]
    TokenCredential(Arc<dyn azure_core::credentials::TokenCredential>),
}

impl Credential {
    /// A SAS-signing credential from an IoT Hub service connection string (see
    /// [`ConnectionString`] for the rules). Tokens are signed for the string's `HostName`.
    pub fn from_connection_string(s: &str) -> Result<Credential> {
        let cs = ConnectionString::parse(s)?;
        Ok(Credential::from(&cs))
    }

    /// A SAS-signing credential from a shared access policy name and its base64 key. Tokens are
    /// signed for the host of the client's endpoint.
    pub fn shared_access_key(
        policy_name: impl Into<String>,
        key: impl Into<Secret>,
    ) -> Result<Credential> {
        let policy_name = policy_name.into();
        if policy_name.trim().is_empty() {
            return Err(Error::invalid_input("policy_name", "must not be empty"));
        }
        let key = connection_string::decode_key(key.into().expose_secret(), "shared_access_key")?;
        Ok(Credential {
            kind: CredentialKind::SharedAccessKey {
                key_name: policy_name,
                key: key.into(),
                lifetime: DEFAULT_SAS_LIFETIME,
                resource_uri: None,
            },
        })
    }

    /// A pre-made SAS token (`SharedAccessSignature sr=…&sig=…&se=…`), sent as is until it
    /// expires; it is never renewed.
    pub fn sas_token(token: impl Into<Secret>) -> Result<Credential> {
        let token = token.into();
        if !token
            .expose_secret()
            .trim_start()
            .starts_with("SharedAccessSignature ")
        {
            return Err(Error::invalid_input(
                "sas_token",
                "must start with 'SharedAccessSignature '",
            ));
        }
        Ok(Credential {
            kind: CredentialKind::SasToken(Secret::new(token.expose_secret().trim())),
        })
    }

    /// A static bearer token (without the `Bearer ` prefix), e.g. one obtained with the Azure CLI.
    /// It is never renewed.
    pub fn bearer_token(token: impl Into<Secret>) -> Credential {
        let token = token.into();
        let t = token.expose_secret().trim();
        let t = t.strip_prefix("Bearer ").unwrap_or(t);
        Credential {
            kind: CredentialKind::BearerToken(Secret::new(t)),
        }
    }

    /// An Entra ID credential (feature `azure-identity`), e.g.
    /// `azure_identity::DeveloperToolsCredential`. The scope is chosen per service.
    #[cfg(feature = "azure-identity")]
    pub fn token_credential(
        credential: Arc<dyn azure_core::credentials::TokenCredential>,
    ) -> Credential {
        Credential {
            kind: CredentialKind::TokenCredential(credential),
        }
    }

    /// Sets the lifetime of SAS tokens signed from a shared access key (default 1 h). Has no
    /// effect on other kinds of credential. Values under 1 second are raised to 1 second.
    pub fn with_sas_lifetime(mut self, lifetime: Duration) -> Credential {
        if let CredentialKind::SharedAccessKey { lifetime: l, .. } = &mut self.kind {
            *l = lifetime.max(Duration::from_secs(1));
        }
        self
    }

    /// True for credentials that sign SAS tokens (only IoT Hub accepts these).
    pub fn is_shared_access_key(&self) -> bool {
        matches!(self.kind, CredentialKind::SharedAccessKey { .. })
    }
}

impl From<&ConnectionString> for Credential {
    fn from(cs: &ConnectionString) -> Self {
        let key = connection_string::decode_key(
            cs.shared_access_key().expose_secret(),
            "connection_string",
        )
        .expect("validated by ConnectionString::parse");
        Credential {
            kind: CredentialKind::SharedAccessKey {
                key_name: cs.shared_access_key_name().to_owned(),
                key: key.into(),
                lifetime: DEFAULT_SAS_LIFETIME,
                resource_uri: Some(cs.host_name().to_ascii_lowercase()),
            },
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            CredentialKind::SharedAccessKey {
                key_name,
                lifetime,
                resource_uri,
                ..
            } => f
                .debug_struct("Credential::SharedAccessKey")
                .field("key_name", key_name)
                .field("key", &"***")
                .field("sas_lifetime", lifetime)
                .field("resource_uri", resource_uri)
                .finish(),
            CredentialKind::SasToken(_) => f.write_str("Credential::SasToken(***)"),
            CredentialKind::BearerToken(_) => f.write_str("Credential::BearerToken(***)"),
            #[cfg(feature = "azure-identity")]
            CredentialKind::TokenCredential(c) => f
                .debug_tuple("Credential::TokenCredential")
                .field(c)
                .finish(),
        }
    }
}

/// Turns a [`Credential`] into `Authorization` header values for one service endpoint, with
/// caching and single-flight renewal.
pub(crate) struct Authorizer {
    kind: CredentialKind,
    resource_uri: String,
    service: Service,
    cache: sas::TokenCache,
    /// A static token's header, made once (`None`: it holds characters a header cannot carry,
    /// reported by [`Authorizer::header`]).
    fixed: Option<HeaderValue>,
    fetches: AtomicUsize,
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field(
                "credential",
                &Credential {
                    kind: self.kind.clone(),
                },
            )
            .field("service", &self.service)
            .finish()
    }
}

impl Authorizer {
    /// `authority` is the endpoint's `host[:port]`, the SAS resource when the credential does
    /// not name one.
    pub(crate) fn new(credential: &Credential, service: Service, authority: &str) -> Authorizer {
        let resource_uri = match &credential.kind {
            CredentialKind::SharedAccessKey {
                resource_uri: Some(r),
                ..
            } => r.clone(),
            _ => authority.to_ascii_lowercase(),
        };
        let fixed = match &credential.kind {
            CredentialKind::SasToken(t) => sas::sensitive_header(t).ok(),
            CredentialKind::BearerToken(t) => {
                sas::sensitive_header(&Secret::new(format!("Bearer {}", t.expose_secret()))).ok()
            }
            _ => None,
        };
        Authorizer {
            kind: credential.kind.clone(),
            resource_uri,
            service,
            cache: sas::TokenCache::new(),
            fixed,
            fetches: AtomicUsize::new(0),
        }
    }

    /// The header value if one is cached and fresh (static tokens always are), without waiting.
    /// The value is marked sensitive (hidden from `Debug`).
    pub(crate) fn cached_header(&self) -> Option<HeaderValue> {
        match &self.kind {
            CredentialKind::SasToken(_) | CredentialKind::BearerToken(_) => self.fixed.clone(),
            _ => self.cache.fresh(),
        }
    }

    /// How many tokens were signed or fetched so far (SAS signings, Entra ID requests).
    #[cfg(test)]
    pub(crate) fn fetch_count(&self) -> usize {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The current header value, renewing it first when needed.
    pub(crate) async fn header(&self) -> Result<HeaderValue> {
        if let Some(h) = self.cached_header() {
            return Ok(h);
        }
        match &self.kind {
            CredentialKind::SharedAccessKey {
                key_name,
                key,
                lifetime,
                ..
            } => {
                self.cache
                    .get(|| async {
                        self.fetches.fetch_add(1, Ordering::Relaxed);
                        // `se` is whole seconds: renew ahead of the expiry actually signed,
                        // which is up to 1 s before `now + lifetime`.
                        let now = SystemTime::now();
                        let se = sas::whole_seconds(now + *lifetime);
                        let token = sas::sign(&self.resource_uri, key, Some(key_name), se);
                        tracing::debug!(lifetime_s = lifetime.as_secs(), "signed a new SAS token");
                        let valid_for = se.duration_since(now).unwrap_or(Duration::ZERO);
                        Ok((
                            token,
                            valid_for.saturating_sub(sas::sas_renewal_margin(*lifetime)),
                        ))
                    })
                    .await
            }
            #[cfg(feature = "azure-identity")]
            CredentialKind::TokenCredential(c) => {
                let scope = self.service.scope();
                self.cache
                    .get(|| async {
                        self.fetches.fetch_add(1, Ordering::Relaxed);
                        token::fetch(c.as_ref(), scope).await
                    })
                    .await
            }
            // Cached unless the token cannot be a header value.
            CredentialKind::SasToken(_) | CredentialKind::BearerToken(_) => Err(Error::credential(
                "the credential produced a header value with invalid characters",
            )),
        }
    }
}

/// True for hosts where plain HTTP is acceptable for credentials: `localhost`, 127.0.0.0/8, `::1`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses to send a credential to `url` unless it is HTTPS or a loopback host.
pub(crate) fn check_transport(url: &reqwest::Url) -> Result<()> {
    if url.scheme() == "https" {
        return Ok(());
    }
    let host = url.host_str().unwrap_or("");
    if url.scheme() == "http" && is_loopback_host(host) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InsecureTransport,
        format!(
            "refusing to send credentials over {}:// to {host}: use https (plain http is only allowed for loopback hosts)",
            url.scheme()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback() {
        for h in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1",
            "localhost.example.com",
            "128.0.0.1",
            "",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert!(check_transport(&"http://127.0.0.1:8080/x".parse().unwrap()).is_ok());
        assert!(check_transport(&"https://hub.azure-devices.net/".parse().unwrap()).is_ok());
        let e = check_transport(&"http://hub.azure-devices.net/".parse().unwrap()).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InsecureTransport);
    }

    #[tokio::test]
    async fn sas_header_is_signed_for_the_connection_string_host() {
        let c = Credential::from_connection_string(
            "HostName=Hub.Azure-Devices.net;SharedAccessKeyName=service;SharedAccessKey=c2VjcmV0",
        )
        .unwrap();
        let a = Authorizer::new(&c, Service::IotHub, "ignored:1");
        let h = a.header().await.unwrap();
        let text = h.to_str().unwrap();
        assert!(text.starts_with("SharedAccessSignature sr=hub.azure-devices.net&sig="));
        assert!(text.ends_with("&skn=service"));
        assert!(h.is_sensitive());
        assert!(!format!("{h:?}").contains("sig="));
        assert_eq!(a.header().await.unwrap(), h);
        assert_eq!(a.fetch_count(), 1);
        assert!(!format!("{a:?}").contains("c2VjcmV0"));
    }

    #[tokio::test]
    async fn static_tokens() {
        assert!(Credential::sas_token("Bearer x").is_err());
        let s = Credential::sas_token("SharedAccessSignature sr=a&sig=b&se=1").unwrap();
        let a = Authorizer::new(&s, Service::IotHub, "h");
        assert_eq!(
            a.cached_header().unwrap().to_str().unwrap(),
            "SharedAccessSignature sr=a&sig=b&se=1"
        );
        assert!(a.cached_header().unwrap().is_sensitive());
        let b = Authorizer::new(
            &Credential::bearer_token("Bearer tok"),
            Service::DigitalTwins,
            "h",
        );
        assert_eq!(b.cached_header().unwrap().to_str().unwrap(), "Bearer tok");
        assert!(b.cached_header().unwrap().is_sensitive());
        // A token a header cannot carry fails with a credential error that does not echo it.
        let bad = Authorizer::new(
            &Credential::bearer_token("tok\nsecret-part"),
            Service::DigitalTwins,
            "h",
        );
        assert!(bad.cached_header().is_none());
        let e = bad.header().await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Credential);
        assert!(!e.to_string().contains("secret-part"));
    }
}
