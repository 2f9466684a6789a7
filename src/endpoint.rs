//! The endpoint rule both clients' builders apply: what a user may pass as an endpoint and the
//! normalised form the client keeps (one rule, so both services accept the same inputs).

use crate::Error;

/// `host` → `https://host`; URLs keep their scheme; path, query and trailing slash are dropped.
/// Plain `http://` is refused unless the host is loopback (see [`crate::auth::check_transport`]).
pub(crate) fn normalize_endpoint(endpoint: &str) -> Result<String, Error> {
    let e = endpoint.trim();
    if e.is_empty() {
        return Err(Error::invalid_input("endpoint", "must not be empty"));
    }
    let with_scheme = if e.contains("://") {
        e.to_owned()
    } else {
        format!("https://{e}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|err| {
        Error::invalid_input(
            "endpoint",
            format!("must be a host name or an http(s) URL ({err})"),
        )
    })?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(Error::invalid_input(
            "endpoint",
            "must be a host name or an http(s) URL",
        ));
    }
    crate::auth::check_transport(&url)?;
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn endpoints() {
        assert_eq!(
            normalize_endpoint("x.api.weu.digitaltwins.azure.net").unwrap(),
            "https://x.api.weu.digitaltwins.azure.net"
        );
        assert_eq!(
            normalize_endpoint("https://x.example/ ").unwrap(),
            "https://x.example"
        );
        assert_eq!(
            normalize_endpoint("http://127.0.0.1:9000/").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert!(normalize_endpoint("").is_err());
        assert!(normalize_endpoint("ftp://x").is_err());
        assert!(matches!(
            normalize_endpoint("http://x.example").unwrap_err().kind(),
            ErrorKind::InsecureTransport
        ));
    }
}
