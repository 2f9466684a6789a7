//! Client-wide [`ClientOptions`] and per-call [`RequestOptions`].

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::retry::RetryOptions;

/// Settings shared by every call a client makes.
///
/// Defaults: [`RetryOptions::default`], no overall per-attempt timeout (direct methods may
/// legitimately take minutes; bound calls with [`RequestOptions::timeout`] or
/// [`ClientOptions::timeout`]), a 10 s connect timeout, the platform's root certificates,
/// `User-Agent: azure-twins/<version>`, and the proxy from the environment
/// ([`ClientOptions::system_proxy`]) unless [`ClientOptions::proxy`] sets one.
///
/// ```
/// use azure_twins::{ClientOptions, RetryOptions};
/// use std::time::Duration;
/// let opts = ClientOptions::default()
///     .retry(RetryOptions::default().max_retries(3))
///     .timeout(Duration::from_secs(30))
///     .user_agent_suffix("my-app/1.0");
/// ```
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub(crate) retry: RetryOptions,
    pub(crate) timeout: Option<Duration>,
    connect_timeout: Duration,
    root_certificates_pem: Vec<String>,
    user_agent_suffix: Option<String>,
    pub(crate) api_version: Option<String>,
    pub(crate) rate_limiter: Option<crate::limiter::RateLimiter>,
    pub(crate) proxies: Vec<crate::Proxy>,
    pub(crate) system_proxy: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            retry: RetryOptions::default(),
            timeout: None,
            connect_timeout: Duration::from_secs(10),
            root_certificates_pem: Vec::new(),
            user_agent_suffix: None,
            api_version: None,
            rate_limiter: None,
            proxies: Vec::new(),
            system_proxy: true,
        }
    }
}

impl ClientOptions {
    /// The retry policy for calls that do not override it.
    pub fn retry(mut self, retry: RetryOptions) -> Self {
        self.retry = retry;
        self
    }

    /// Timeout of one attempt (request sent to response body read); `None` by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Timeout for establishing a connection (TCP + TLS); 10 s by default.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Trusts an extra root CA certificate (PEM), in addition to the platform's roots — for the
    /// emulator's self-signed certificate or a TLS-inspecting proxy. Checked when the client is
    /// built.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<String>) -> Self {
        self.root_certificates_pem.push(pem.into());
        self
    }

    /// Appended to the `User-Agent` header (`azure-twins/<version> <suffix>`).
    pub fn user_agent_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(suffix.into());
        self
    }

    /// Sends `version` as the `api-version` of every call instead of the version the client was
    /// generated from (its spec's `info.version`, which is the default).
    ///
    /// Only for pinning another *wire-compatible* version (a service that lags behind, a preview
    /// with the same shapes): requests and responses are still the generated ones. To use a
    /// version with a different surface, generate the client from that version's spec
    /// (`AZURE_TWINS_SPEC_DIR`, see the README). Each client takes the options it is built with,
    /// so an IoT Hub and a Digital Twins client pin their versions separately.
    ///
    /// ```
    /// use azure_twins::ClientOptions;
    /// let opts = ClientOptions::default().api_version("2020-09-30");
    /// ```
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = Some(version.into());
        self
    }

    /// Paces every request of clients built with these options at `limit`'s rates, per
    /// operation class (see [`crate::limiter`]; e.g.
    /// `RateLimit::iothub(Tier::S1, 1)`). Off by default: pacing delays single calls, which
    /// the retry loop serves better; fleet operations turn a limiter on for their own calls.
    /// Clones of the options (and of clients built with them) share one limiter.
    pub fn rate_limit(mut self, limit: crate::limiter::RateLimit) -> Self {
        self.rate_limiter = Some(crate::limiter::RateLimiter::new(limit));
        self
    }

    /// Like [`ClientOptions::rate_limit`] with an existing limiter, e.g. to meter several
    /// clients of the same hub together.
    pub fn rate_limiter(mut self, limiter: crate::limiter::RateLimiter) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// Sends requests through `proxy` ([`Proxy::http`](crate::Proxy::http) /
    /// [`https`](crate::Proxy::https) / [`all`](crate::Proxy::all)). Several proxies may be
    /// added; the first whose scope and `no_proxy` list match a request's URL carries it.
    ///
    /// An explicit proxy *replaces* the system proxy settings
    /// ([`ClientOptions::system_proxy`]): with one set, `HTTP(S)_PROXY` / `NO_PROXY` are not
    /// read, and requests its scope or `no_proxy` list leaves out go direct.
    ///
    /// ```
    /// use azure_twins::{ClientOptions, Proxy};
    /// let opts = ClientOptions::default().proxy(Proxy::https("http://proxy.corp.example:3128")?);
    /// # Ok::<(), azure_twins::Error>(())
    /// ```
    pub fn proxy(mut self, proxy: crate::Proxy) -> Self {
        self.proxies.push(proxy);
        self
    }

    /// Whether to honour the proxy settings of the environment when no explicit
    /// [`ClientOptions::proxy`] is set: `HTTPS_PROXY` (for `https://` URLs), `HTTP_PROXY` (for
    /// `http://`), `ALL_PROXY`, and the bypass list `NO_PROXY` (lower-case names too; the
    /// variables are read when the client is built). `true` by default, as in the Azure SDKs;
    /// `false` connects directly. The operating system's own proxy configuration (Windows
    /// registry, macOS settings) is not read. Loopback is not bypassed unless `NO_PROXY` lists
    /// it.
    pub fn system_proxy(mut self, honour: bool) -> Self {
        self.system_proxy = honour;
        self
    }

    /// The `User-Agent` header value sent with every request.
    pub fn user_agent(&self) -> String {
        let base = concat!("azure-twins/", env!("CARGO_PKG_VERSION"));
        match &self.user_agent_suffix {
            Some(s) if !s.trim().is_empty() => format!("{base} {}", s.trim()),
            _ => base.to_owned(),
        }
    }

    /// Builds the HTTP client these options describe: rustls with the *ring* provider (no
    /// process-wide default provider is installed), the platform's roots plus the extra roots,
    /// the configured timeouts, user agent and proxies.
    ///
    /// The facade clients call this for you; users of [`crate::raw`] call
    /// [`crate::raw::http_client`].
    pub(crate) fn build_http_client(&self) -> Result<reqwest::Client> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;

        let mut extra: Vec<CertificateDer<'static>> = Vec::new();
        for (i, pem) in self.root_certificates_pem.iter().enumerate() {
            let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| {
                    Error::invalid_input(
                        "root_certificate_pem",
                        format!("certificate #{i} is not valid PEM: {e}"),
                    )
                })?;
            if certs.is_empty() {
                return Err(Error::invalid_input(
                    "root_certificate_pem",
                    format!("certificate #{i} contains no CERTIFICATE block"),
                ));
            }
            extra.extend(certs);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
                .map_err(|e| {
                    Error::new(ErrorKind::Other, "could not load root certificates").with_source(e)
                })?;
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::new(ErrorKind::Other, "TLS configuration failed").with_source(e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(self.user_agent())
            .connect_timeout(self.connect_timeout);
        if let Some(t) = self.timeout {
            builder = builder.timeout(t);
        }
        if self.proxies.is_empty() && !self.system_proxy {
            builder = builder.no_proxy();
        }
        for proxy in &self.proxies {
            builder = builder.proxy(proxy.to_reqwest()?);
        }
        builder.build().map_err(|e| {
            Error::new(ErrorKind::Other, "could not build the HTTP client").with_source(e)
        })
    }
}

/// Per-call overrides, carried by every facade operation builder.
///
/// ```
/// use azure_twins::{RequestOptions, RetryOptions};
/// // Retry a direct method call on 503 even though it is not idempotent:
/// let o = RequestOptions::default().retry_non_idempotent(true);
/// // Or disable retries for one call:
/// let o = RequestOptions::default().retry(RetryOptions::none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    pub(crate) retry: Option<RetryOptions>,
    pub(crate) retry_non_idempotent: bool,
    pub(crate) client_request_id: Option<String>,
    pub(crate) timeout: Option<Duration>,
}

impl RequestOptions {
    /// Replaces the client's retry policy for this call.
    pub fn retry(mut self, retry: RetryOptions) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Allows retrying a call that is not idempotent (direct methods, bulk operations,
    /// telemetry, model upload …). Only do this when a duplicate is harmless to you.
    pub fn retry_non_idempotent(mut self, allow: bool) -> Self {
        self.retry_non_idempotent = allow;
        self
    }

    /// Sets the `x-ms-client-request-id` for this call (a random UUID otherwise). The same id is
    /// sent on every retry.
    pub fn client_request_id(mut self, id: impl Into<String>) -> Self {
        self.client_request_id = Some(id.into());
        self
    }

    /// Timeout of each attempt of this call (overrides [`ClientOptions::timeout`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent() {
        assert_eq!(
            ClientOptions::default().user_agent(),
            concat!("azure-twins/", env!("CARGO_PKG_VERSION"))
        );
        assert!(
            ClientOptions::default()
                .user_agent_suffix("app/1")
                .user_agent()
                .ends_with(" app/1")
        );
    }

    #[test]
    fn bad_pem_is_rejected() {
        let e = ClientOptions::default()
            .add_root_certificate_pem("not a pem")
            .build_http_client()
            .unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "root_certificate_pem")
        );
    }

    #[test]
    fn default_client_builds() {
        ClientOptions::default().build_http_client().unwrap();
    }
}
