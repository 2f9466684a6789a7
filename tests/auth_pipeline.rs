//! Credentials in the pipeline: SAS signing once per lifetime under concurrency, static tokens,
//! secrets kept out of Debug and tracing output, and the HTTPS/loopback rule.

mod log_capture;
mod pipeline_support;

use log_capture::Capture;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_twins::auth::{Secret, Service};
use azure_twins::raw::{self, Pipeline};
use azure_twins::{ClientOptions, Credential, ErrorKind, RetryOptions};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use pipeline_support::{Recorded, Reply, Server};
use sha2::Sha256;

const IOTHUB_API: &str = "2021-04-12";
const KEY: &str = "dGVzdC1rZXktZm9yLXNhcy1yZW5ld2FsLW9ubHktMDAwMA==";

fn options() -> ClientOptions {
    ClientOptions::default()
        .retry(RetryOptions::default().jitter(0.0))
        .connect_timeout(Duration::from_secs(3600))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

/// Verifies a SAS token the way the service does, written independently of the library:
/// recompute HMAC-SHA256 over `sr + "\n" + se` with the decoded key and check expiry.
fn verify_sas(req: &Recorded, expected_resource: &str) -> bool {
    let Some(auth) = req.header("authorization") else {
        return false;
    };
    let Some(rest) = auth.strip_prefix("SharedAccessSignature ") else {
        return false;
    };
    let fields: std::collections::HashMap<_, _> = rest
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let (Some(sr), Some(sig), Some(se), Some(skn)) = (
        fields.get("sr"),
        fields.get("sig"),
        fields.get("se"),
        fields.get("skn"),
    ) else {
        return false;
    };
    if percent_decode(sr) != expected_resource || *skn != "iothubowner" {
        return false;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if se.parse::<u64>().map_or(true, |se| se <= now) {
        return false;
    }
    let key = base64::engine::general_purpose::STANDARD
        .decode(KEY)
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{sr}\n{se}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    percent_decode(sig) == expected
}

async fn sas_server() -> Server {
    Server::start(|req, _| {
        let host = req.header("host").unwrap_or_default().to_owned();
        if verify_sas(req, &host) {
            Reply::json(200, r#"{"deviceId":"d1"}"#)
        } else {
            Reply::json(
                401,
                r#"{"Message":"ErrorCode:IotHubUnauthorizedAccess;Unauthorized"}"#,
            )
            .with_header("iothub-errorcode", "IotHubUnauthorizedAccess")
        }
    })
    .await
}

/// A raw client with a SAS credential.
///
/// The HTTP client has no timers (no connect/request timeout, no idle-pool sweep): under a
/// paused clock tokio jumps to the next pending timer whenever every task waits, even on
/// loopback I/O that a busy machine has not delivered yet, and such a jump would move the
/// renewal clock behind the test's back. With no timer pending the clock only moves when the
/// test advances it (checked in the test).
fn sas_client(server: &Server, lifetime: Duration) -> raw::iothub::Client {
    let cs = format!(
        "HostName={};SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}",
        server.addr
    );
    let cred = Credential::from_connection_string(&cs)
        .unwrap()
        .with_sas_lifetime(lifetime);
    let pipeline = Pipeline::new(Service::IotHub, &server.url(), Some(&cred), options()).unwrap();
    // Plain HTTP, but reqwest still wants a rustls provider installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .pool_idle_timeout(None)
        .build()
        .unwrap();
    raw::iothub::Client::new_with_client(&server.url(), http, pipeline)
}

/// The crate's debug log, kept in memory: each SAS signing is one "signed a new SAS token"
/// event (the wire cannot tell: under a paused clock a renewal in the same wall-clock second
/// signs the same bytes).
#[derive(Clone, Default)]
struct DebugLog(Capture);

impl DebugLog {
    /// Captures this thread's events (the paused-clock test runtime is single-threaded).
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(self.0.clone())
                .finish(),
        )
    }

    fn signings(&self) -> usize {
        self.0.text().matches("signed a new SAS token").count()
    }
}

/// Virtual time (the renewal clock is tokio's; `se` is wall-clock and stays valid for the real
/// second or so the test takes, which `verify_sas` checks), so no real waiting and no margin to
/// lose on a busy machine.
#[tokio::test(start_paused = true)]
async fn sas_is_signed_once_per_lifetime_across_concurrent_calls() {
    let server = sas_server().await;
    // 8 s lifetime: renewed 2 s before expiry, i.e. every 6 s.
    let log = DebugLog::default();
    let _guard = log.install();
    let client = sas_client(&server, Duration::from_secs(8));
    let client = Arc::new(client);
    for wave in 1..=3usize {
        let wave_started = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                client.devices_get_twin("d1", IOTHUB_API).await
            }));
        }
        for t in tasks {
            let twin = t
                .await
                .unwrap()
                .expect("no 401: every call carried a valid token");
            assert_eq!(twin.device_id, "d1");
        }
        assert_eq!(
            tokio::time::Instant::now(),
            wave_started,
            "the paused clock moved during the wave's I/O (a timer was pending)"
        );
        assert_eq!(log.signings(), wave, "one signature per lifetime");
        // All 40 calls of the wave carried the same token.
        let reqs = server.requests();
        let wave_tokens: std::collections::HashSet<_> = reqs[reqs.len() - 40..]
            .iter()
            .map(|r| r.header("authorization").unwrap().to_owned())
            .collect();
        assert_eq!(wave_tokens.len(), 1);
        // Still fresh after 5 s: no new signature.
        tokio::time::advance(Duration::from_secs(5)).await;
        client.devices_get_twin("d1", IOTHUB_API).await.unwrap();
        assert_eq!(log.signings(), wave);
        // Past the renewal point.
        tokio::time::advance(Duration::from_secs(2)).await;
    }
    assert_eq!(server.count(), 3 * 41);
}

#[tokio::test]
async fn static_tokens_are_sent_as_given() {
    let server = Server::always(Reply::json(200, r#"{"deviceId":"d1"}"#)).await;
    let token = "SharedAccessSignature sr=h&sig=abc%3D&se=99999999999&skn=service";
    let cred = Credential::sas_token(token).unwrap();
    let pipeline = Pipeline::new(Service::IotHub, &server.url(), Some(&cred), options()).unwrap();
    let client = raw::iothub::Client::new_with_client(
        &server.url(),
        raw::http_client(&options()).unwrap(),
        pipeline,
    );
    client.devices_get_twin("d1", IOTHUB_API).await.unwrap();
    assert_eq!(server.requests()[0].header("authorization"), Some(token));

    let cred = Credential::bearer_token("eyJ.static.token");
    let pipeline =
        Pipeline::new(Service::DigitalTwins, &server.url(), Some(&cred), options()).unwrap();
    let client = raw::digitaltwins::Client::new_with_client(
        &server.url(),
        raw::http_client(&options()).unwrap(),
        pipeline,
    );
    let _ = client
        .digital_twins_get_by_id("t1", "2023-10-31", None, None)
        .await;
    assert_eq!(
        server.requests()[1].header("authorization"),
        Some("Bearer eyJ.static.token")
    );
}

#[test]
fn debug_output_contains_no_secret() {
    let cs = format!(
        "HostName=hub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}"
    );
    let shown = [
        format!(
            "{:?}",
            azure_twins::auth::ConnectionString::parse(&cs).unwrap()
        ),
        format!("{:?}", Credential::from_connection_string(&cs).unwrap()),
        format!("{:?}", Credential::shared_access_key("p", KEY).unwrap()),
        format!(
            "{:?}",
            Credential::sas_token("SharedAccessSignature sr=a&sig=SIGVALUE&se=1").unwrap()
        ),
        format!("{:?}", Credential::bearer_token("BEARERVALUE")),
        format!("{:?}", Secret::new(KEY)),
        format!("{}", Secret::new(KEY)),
        format!(
            "{:?}",
            Pipeline::new(
                Service::IotHub,
                "https://hub.azure-devices.net",
                Some(&Credential::from_connection_string(&cs).unwrap()),
                ClientOptions::default()
            )
            .unwrap()
        ),
    ];
    for s in &shown {
        for secret in [KEY, &KEY[..20], "SIGVALUE", "BEARERVALUE"] {
            assert!(!s.contains(secret), "{s}");
        }
    }
    // The Debug output still says what it is.
    assert!(shown[1].contains("iothubowner"));
}

#[tokio::test]
async fn credentials_are_refused_over_plain_http_to_remote_hosts() {
    let cred = Credential::shared_access_key("iothubowner", KEY).unwrap();
    for endpoint in [
        "http://hub.azure-devices.net",
        "http://10.1.2.3:8080",
        "http://localhost.example.com",
    ] {
        let err = Pipeline::new(Service::IotHub, endpoint, Some(&cred), options()).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InsecureTransport, "{endpoint}");
        assert!(!err.to_string().contains(KEY));
    }
    // Loopback and HTTPS are fine; plain http without a credential too.
    for endpoint in [
        "http://127.0.0.1:1",
        "http://[::1]:1",
        "http://localhost:1",
        "https://hub.azure-devices.net",
    ] {
        Pipeline::new(Service::IotHub, endpoint, Some(&cred), options()).unwrap();
    }
    Pipeline::new(
        Service::IotHub,
        "http://hub.azure-devices.net",
        None,
        options(),
    )
    .unwrap();
    // A generated client pointed elsewhere than its pipeline: refused in `pre`, nothing sent
    // (the host does not even resolve, yet the error is about transport, not DNS).
    let server = Server::always(Reply::json(200, "{}")).await;
    let pipeline = Pipeline::new(Service::IotHub, &server.url(), Some(&cred), options()).unwrap();
    let client = raw::iothub::Client::new_with_client(
        "http://hub.invalid",
        raw::http_client(&options()).unwrap(),
        pipeline,
    );
    let err = client.devices_get_twin("d1", IOTHUB_API).await.unwrap_err();
    assert!(err.to_string().contains("insecure transport"), "{err}");
    assert!(!err.to_string().contains(KEY));
    assert_eq!(server.count(), 0);
}
