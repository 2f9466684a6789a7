//! The request log: one entry per request either listener answered (or dropped), for tests to
//! query through [`Emulator::requests`](crate::Emulator::requests).

use crate::faults::{Fault, Service};
use percent_encoding::percent_decode_str;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How many requests the log keeps by default (the oldest are dropped first).
pub const DEFAULT_REQUEST_LOG_CAPACITY: usize = 10_000;

/// What replaces the value of a credential-like query parameter in the log.
pub const REDACTED: &str = "REDACTED";

/// One request as the emulator saw it: what was asked and what was answered. Credentials are
/// never kept: no header values at all, and the value of every query parameter whose name
/// looks like a credential (`sig`, `signature`, `token`, `key`, `secret`, `password`, `sas`,
/// `credential`, `auth`, in any case) is replaced by `REDACTED`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The listener that received it.
    pub service: Service,
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The path as sent (not percent-decoded), e.g. `/twins/d1`.
    pub path: String,
    /// The query string without the `?`, credential-like values redacted; `None` without one.
    pub query: Option<String>,
    /// The status answered (a throttle's or a fault's too); `None` when the connection was
    /// dropped without an answer ([`Fault::DropConnection`], [`Fault::ApplyThenDrop`]).
    pub status: Option<u16>,
    /// The injected fault that changed the answer, if any.
    pub fault: Option<Fault>,
    /// When the request arrived.
    pub received_at: SystemTime,
    /// From arrival to the answer's headers (or to the drop), throttle queueing and injected
    /// delays included.
    pub duration: Duration,
}

impl RecordedRequest {
    /// `true` when the connection was dropped without an answer.
    pub fn dropped(&self) -> bool {
        self.status.is_none()
    }
}

#[derive(Debug, Default)]
struct LogState {
    entries: VecDeque<RecordedRequest>,
    total: u64,
}

/// The shared, bounded request log.
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    state: Mutex<LogState>,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::default(),
        }
    }

    /// Whether requests are recorded at all (capacity above 0).
    pub(crate) fn is_on(&self) -> bool {
        self.capacity > 0
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, entry: RecordedRequest) {
        if !self.is_on() {
            return;
        }
        let mut st = self.state();
        st.total += 1;
        if st.entries.len() >= self.capacity {
            st.entries.pop_front();
        }
        st.entries.push_back(entry);
    }

    pub(crate) fn entries(&self) -> Vec<RecordedRequest> {
        self.state().entries.iter().cloned().collect()
    }

    pub(crate) fn total(&self) -> u64 {
        self.state().total
    }

    pub(crate) fn clear(&self) {
        *self.state() = LogState::default();
    }
}

/// Whether a query parameter name looks like it carries a credential.
fn is_secret_name(name: &str) -> bool {
    let name = percent_decode_str(name)
        .decode_utf8_lossy()
        .to_ascii_lowercase();
    [
        "sig",
        "token",
        "key",
        "secret",
        "password",
        "pwd",
        "sas",
        "credential",
        "auth",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// `query` with the value of every credential-like parameter replaced by [`REDACTED`].
pub(crate) fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_name(name) => format!("{name}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credential_like_values_only() {
        assert_eq!(
            redact_query("api-version=2021-04-12&sig=abc%2Bdef&se=123&skn=owner"),
            "api-version=2021-04-12&sig=REDACTED&se=123&skn=owner"
        );
        assert_eq!(
            redact_query("SharedAccessKey=x&access_token=y&Sas%54oken=z&top=5"),
            "SharedAccessKey=REDACTED&access_token=REDACTED&Sas%54oken=REDACTED&top=5"
        );
        assert_eq!(redact_query("flag&x="), "flag&x=");
    }

    #[test]
    fn keeps_the_newest_up_to_the_capacity() {
        let log = RequestLog::new(2);
        for i in 0..5 {
            log.push(RecordedRequest {
                service: Service::IotHub,
                method: "GET".into(),
                path: format!("/{i}"),
                query: None,
                status: Some(200),
                fault: None,
                received_at: SystemTime::now(),
                duration: Duration::ZERO,
            });
        }
        let paths: Vec<String> = log.entries().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/3", "/4"]);
        assert_eq!(log.total(), 5);
        log.clear();
        assert!(log.entries().is_empty());
        assert_eq!(log.total(), 0);
        assert!(!RequestLog::new(0).is_on());
    }
}
