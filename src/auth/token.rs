//! Bridge to `azure_core::credentials::TokenCredential` (feature `azure-identity`).

use std::time::Duration;

use azure_core::credentials::TokenCredential;

use super::Secret;
use crate::error::{CREDENTIAL_PREFIX, Error, Result};

/// Tokens are renewed this long before they expire (the Azure SDKs' bearer-token policy value),
/// or a quarter of the time they have left if that is shorter: a token living under 5 minutes
/// would otherwise be fetched again on every call.
pub(crate) const ENTRA_RENEWAL_MARGIN: Duration = Duration::from_secs(300);

/// Gets a token for `scope`; returns the `Bearer …` header and how long to cache it.
pub(crate) async fn fetch(
    credential: &dyn TokenCredential,
    scope: &str,
) -> Result<(Secret, Duration)> {
    let token = credential.get_token(&[scope], None).await.map_err(|e| {
        Error::credential(format!(
            "{CREDENTIAL_PREFIX}could not get an Entra ID token for scope {scope}"
        ))
        .with_source(e)
    })?;
    let now = azure_core::time::OffsetDateTime::now_utc();
    let remaining: Duration = (token.expires_on - now)
        .try_into()
        .unwrap_or(Duration::ZERO);
    tracing::debug!(
        scope,
        expires_in_s = remaining.as_secs(),
        "obtained an Entra ID token"
    );
    Ok((
        Secret::new(format!("Bearer {}", token.token.secret())),
        remaining.saturating_sub(ENTRA_RENEWAL_MARGIN.min(remaining / 4)),
    ))
}
