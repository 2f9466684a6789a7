//! [`Proxy`]: an HTTP forward proxy for the clients' traffic ([`ClientOptions::proxy`]).
//!
//! [`ClientOptions::proxy`]: crate::ClientOptions::proxy

use std::fmt;

use crate::auth::Secret;
use crate::error::{Error, Result};

/// Which request URLs a [`Proxy`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Http,
    Https,
    All,
}

/// An HTTP forward proxy, set with [`ClientOptions::proxy`](crate::ClientOptions::proxy).
///
/// Plain `http://` requests go to the proxy in absolute form (`GET http://host/path`);
/// `https://` requests are tunnelled with `CONNECT host:443`, so TLS (and the certificate check)
/// stays end to end between the client and the service. The proxy itself is reached over
/// `http://` or `https://`.
///
/// Credentials for the proxy ([`Proxy::basic_auth`]) are sent as `Proxy-Authorization: Basic …`
/// and never appear in `Debug` output; a proxy URL with credentials in it (`http://u:p@host`)
/// is refused so that they cannot leak through it either.
///
/// ```
/// use azure_twins::{ClientOptions, Proxy};
/// let proxy = Proxy::all("http://proxy.corp.example:3128")?
///     .basic_auth("svc-twins", "s3cret")
///     .no_proxy("localhost, 10.0.0.0/8, .internal.example");
/// assert!(!format!("{proxy:?}").contains("s3cret"));
/// let opts = ClientOptions::default().proxy(proxy);
/// # Ok::<(), azure_twins::Error>(())
/// ```
#[derive(Clone)]
pub struct Proxy {
    scope: Scope,
    url: String,
    auth: Option<(String, Secret)>,
    no_proxy: Option<String>,
}

impl Proxy {
    /// A proxy for `http://` request URLs only (e.g. the emulator without TLS).
    pub fn http(proxy_url: impl AsRef<str>) -> Result<Proxy> {
        Proxy::new(Scope::Http, proxy_url.as_ref())
    }

    /// A proxy for `https://` request URLs only (the Azure services).
    pub fn https(proxy_url: impl AsRef<str>) -> Result<Proxy> {
        Proxy::new(Scope::Https, proxy_url.as_ref())
    }

    /// A proxy for every request URL.
    pub fn all(proxy_url: impl AsRef<str>) -> Result<Proxy> {
        Proxy::new(Scope::All, proxy_url.as_ref())
    }

    fn new(scope: Scope, raw: &str) -> Result<Proxy> {
        let url = reqwest::Url::parse(raw.trim()).map_err(|e| {
            Error::invalid_input(
                "proxy",
                format!("is not a URL ({e}); expected e.g. http://proxy.example:3128"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::invalid_input(
                "proxy",
                format!(
                    "has the scheme '{}'; an HTTP proxy is reached over http:// or https://",
                    url.scheme()
                ),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::invalid_input("proxy", "has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::invalid_input(
                "proxy",
                "contains credentials; pass them with Proxy::basic_auth instead",
            ));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(Error::invalid_input(
                "proxy",
                "must be scheme://host[:port] only (no path, query or fragment)",
            ));
        }
        Ok(Proxy {
            scope,
            url: url.as_str().trim_end_matches('/').to_owned(),
            auth: None,
            no_proxy: None,
        })
    }

    /// Authenticates to the proxy with `Proxy-Authorization: Basic …`. The password is kept
    /// as a [`Secret`] and never printed.
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<Secret>) -> Self {
        self.auth = Some((username.into(), password.into()));
        self
    }

    /// Hosts reached directly, not through this proxy: a comma-separated list in the
    /// `NO_PROXY` syntax — host names (a domain also matches its subdomains, a leading dot is
    /// allowed), IP addresses, CIDR blocks (`10.0.0.0/8`), or `*` for every host. Loopback is
    /// *not* bypassed unless listed.
    pub fn no_proxy(mut self, hosts: impl Into<String>) -> Self {
        self.no_proxy = Some(hosts.into());
        self
    }

    /// The proxy URL (`scheme://host:port`), without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The HTTP client's proxy.
    pub(crate) fn to_reqwest(&self) -> Result<reqwest::Proxy> {
        let p = match self.scope {
            Scope::Http => reqwest::Proxy::http(&self.url),
            Scope::Https => reqwest::Proxy::https(&self.url),
            Scope::All => reqwest::Proxy::all(&self.url),
        }
        .map_err(|e| Error::invalid_input("proxy", format!("was not accepted: {e}")))?;
        let p = match &self.auth {
            Some((user, password)) => p.basic_auth(user, password.expose_secret()),
            None => p,
        };
        Ok(p.no_proxy(
            self.no_proxy
                .as_deref()
                .and_then(reqwest::NoProxy::from_string),
        ))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("scope", &self.scope)
            .field("url", &self.url)
            .field("username", &self.auth.as_ref().map(|(u, _)| u))
            .field("password", &self.auth.as_ref().map(|(_, p)| p))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn field(e: Error) -> String {
        match e.kind() {
            ErrorKind::InvalidInput { field, .. } => field.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_urls_are_refused_with_the_field() {
        for bad in [
            "",
            "proxy:3128",
            "socks5://127.0.0.1:1080",
            "http://u:p@proxy:3128",
            "http://proxy:3128/path",
        ] {
            let e = Proxy::all(bad).unwrap_err();
            assert_eq!(field(e), "proxy", "{bad}");
        }
        let e = Proxy::all("http://u:topsecret@proxy:3128").unwrap_err();
        assert!(!e.to_string().contains("topsecret"), "{e}");
        assert!(!format!("{e:?}").contains("topsecret"), "{e:?}");
    }

    #[test]
    fn debug_hides_the_password() {
        let p = Proxy::https("http://127.0.0.1:3128/")
            .unwrap()
            .basic_auth("alice", "hunter2");
        assert_eq!(p.url(), "http://127.0.0.1:3128");
        let d = format!("{p:?}");
        assert!(d.contains("alice") && d.contains("Secret(***)"), "{d}");
        assert!(!d.contains("hunter2"), "{d}");
        p.to_reqwest().unwrap();
    }
}
