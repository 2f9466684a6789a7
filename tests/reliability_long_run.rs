//! Long run: short-lived credentials renewed across a run that spans several token lifetimes,
//! with calls in flight concurrently, against the in-process emulator on loopback. No call may
//! get a 401, and the renewals are counted.
//!
//! * IoT Hub: SAS tokens signed from the emulator's connection string with a 5 s lifetime over
//!   16 s, and with a 2 s lifetime over 7 s; the emulator verifies each token's signature and
//!   refuses it once its `se` has passed. The 2 s run found a facade bug (fixed in e2a5a2d): `se`
//!   is truncated to whole seconds but renewal was scheduled from the untruncated lifetime, so a
//!   token could expire up to 1 s before its renewal (about 10 % of calls got 401).
//! * Azure Digital Twins: an `azure_core` `TokenCredential` whose tokens are JWT-shaped with an
//!   `exp` 2 s ahead, over 7 s; the emulator refuses a JWT whose `exp` has passed (checked first
//!   below, so the "no 401" assertion can fail).
//!
//! [`WORKERS`] callers run concurrently, each pausing [`PAUSE`] between calls; afterwards the
//! final state of every twin written is checked. Retries are off, so nothing can hide a refused
//! call.
#![cfg(all(
    feature = "iothub",
    feature = "digitaltwins",
    feature = "azure-identity"
))]

mod reliability_support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::time::OffsetDateTime;
use azure_twins::digitaltwins::{BasicDigitalTwin, JsonPatch, Pointer};
use azure_twins::{ClientOptions, Credential, DigitalTwinsClient, IotHubClient, RetryOptions};
use azure_twins_emulator::Emulator;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use progenitor_client::ClientInfo as _;
use serde_json::json;

/// SAS lifetime of the IoT Hub run (see the module doc for why not 2 s).
const SAS_LIFETIME: Duration = Duration::from_secs(5);
const SAS_RUN: Duration = Duration::from_secs(16);
/// Token lifetime of the ADT run.
const LIFETIME: Duration = Duration::from_secs(2);
const RUN: Duration = Duration::from_secs(7);
const WORKERS: usize = 16;
const PAUSE: Duration = Duration::from_millis(10);
const ROOM: &str = "dtmi:com:example:LongRunRoom;1";

fn options() -> ClientOptions {
    ClientOptions::default()
        .retry(RetryOptions::none())
        .timeout(Duration::from_secs(30))
}

/// A JWT-shaped token (unsigned) expiring at `exp` (unix seconds).
fn jwt(exp: i64, n: usize) -> String {
    format!(
        "{}.{}.sig{n}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(
            json!({"aud": "https://digitaltwins.azure.net", "exp": exp, "n": n}).to_string()
        ),
    )
}

/// A `TokenCredential` handing out a new JWT-shaped token valid for `lifetime` on every request
/// (as Entra ID does), counting the requests.
#[derive(Debug)]
struct ShortLivedTokens {
    lifetime: Duration,
    fetches: AtomicUsize,
}

impl TokenCredential for ShortLivedTokens {
    fn get_token<'a, 'b, 'c, 'd, 'async_trait>(
        &'a self,
        scopes: &'b [&'c str],
        _options: Option<TokenRequestOptions<'d>>,
    ) -> Pin<Box<dyn Future<Output = azure_core::Result<AccessToken>> + Send + 'async_trait>>
    where
        'a: 'async_trait,
        'b: 'async_trait,
        'c: 'async_trait,
        'd: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            assert_eq!(scopes, ["https://digitaltwins.azure.net/.default"]);
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            // Whole seconds, as in a real token: `expires_on` is exactly the `exp` claim.
            let exp = (OffsetDateTime::now_utc() + self.lifetime).unix_timestamp();
            let expires_on = OffsetDateTime::from_unix_timestamp(exp).expect("valid time");
            Ok(AccessToken::new(jwt(exp, n), expires_on))
        })
    }
}

/// Runs `WORKERS` loops of `call(worker, iteration)` until `run` has passed; returns the number of
/// calls and the failures (worker, iteration, error).
async fn run_for<F, Fut>(run: Duration, call: F) -> (usize, Vec<String>)
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), azure_twins::Error>> + Send,
{
    let deadline = Instant::now() + run;
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let (mut calls, mut failures) = (0, Vec::new());
            while Instant::now() < deadline {
                if let Err(e) = call(w, calls).await {
                    failures.push(format!("worker {w} call {calls}: {e}"));
                }
                calls += 1;
                tokio::time::sleep(PAUSE).await;
            }
            (calls, failures)
        }));
    }
    let (mut calls, mut failures) = (0, Vec::new());
    for t in tasks {
        let (c, f) = t.await.expect("worker");
        calls += c;
        failures.extend(f);
    }
    (calls, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iothub_sas_tokens_are_renewed_across_lifetimes_without_401() {
    iothub_long_run(SAS_LIFETIME, SAS_RUN).await;
}

/// The issue's 2 s lifetime: renewal must be scheduled from the whole-second `se` actually
/// signed, or a token expires before it is renewed (`SharedAccessSignature expired at N`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iothub_sas_tokens_with_a_2s_lifetime_are_renewed_without_401() {
    iothub_long_run(Duration::from_secs(2), Duration::from_secs(7)).await;
}

async fn iothub_long_run(lifetime: Duration, run: Duration) {
    let emu = Emulator::builder().start().await.expect("emulator starts");
    let credential = Credential::from_connection_string(&emu.iothub_connection_string())
        .expect("connection string")
        .with_sas_lifetime(lifetime);
    let hub = IotHubClient::builder(emu.iothub_endpoint())
        .credential(credential)
        .options(options())
        .build()
        .expect("hub client");
    for w in 0..WORKERS {
        hub.create_device(format!("long-run-{w}"))
            .send()
            .await
            .expect("device");
    }

    let started = Instant::now();
    let (calls, failures) = run_for(run, {
        let hub = hub.clone();
        move |w, i| {
            let hub = hub.clone();
            async move {
                let id = format!("long-run-{w}");
                if i % 2 == 0 {
                    hub.update_twin(id).set_desired("i", i).send().await?;
                } else {
                    hub.get_twin(id).send().await?;
                }
                Ok(())
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    let signed = hub.raw().inner().credential_fetch_count();
    eprintln!(
        "iothub long run: {calls} calls in {elapsed:?}, {} failed, {signed} SAS tokens signed \
         ({} accepted by the emulator), lifetime {lifetime:?}",
        failures.len(),
        emu.distinct_sas_tokens_seen()
    );
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed: {:#?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    // Renewed across the run: at least one token per lifetime spanned ...
    let lifetimes = (elapsed.as_secs_f64() / lifetime.as_secs_f64()).floor() as usize;
    assert!(
        signed > lifetimes,
        "{signed} tokens over {lifetimes} lifetimes"
    );
    // ... and signed once per renewal period, not per call. The period is the lifetime minus a
    // quarter, less up to 1 s if the signer renews ahead of the whole-second `se` it signed.
    let period = lifetime.as_secs_f64() * 0.75 - 1.0;
    let periods = (elapsed.as_secs_f64() / period).ceil() as usize;
    assert!(
        signed <= periods + 1,
        "{signed} tokens signed for {periods} renewal periods ({calls} calls)"
    );
    assert_eq!(emu.distinct_sas_tokens_seen(), signed);
    // Every worker's last patch landed.
    for w in 0..WORKERS {
        let twin = hub
            .get_twin(format!("long-run-{w}"))
            .send()
            .await
            .expect("twin");
        assert!(twin.value.properties.desired["i"].is_u64(), "{w}");
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digitaltwins_entra_tokens_are_renewed_across_lifetimes_without_401() {
    let emu = Emulator::builder().start().await.expect("emulator starts");

    // The emulator does refuse an expired JWT (so a stale token would show up as a 401 below),
    // and the error names neither the token nor its claims.
    let expired = jwt(OffsetDateTime::now_utc().unix_timestamp() - 1, 0);
    let stale = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::bearer_token(expired.clone()))
        .options(options())
        .build()
        .expect("adt client");
    let err = stale
        .get_twin("any")
        .send()
        .await
        .expect_err("an expired token is refused");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401), "{err}");
    assert!(
        !format!("{err} {err:?}").contains(&expired[10..]),
        "{err:?}"
    );

    let tokens = Arc::new(ShortLivedTokens {
        lifetime: LIFETIME,
        fetches: AtomicUsize::new(0),
    });
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
        .credential(Credential::token_credential(tokens.clone()))
        .options(options())
        .build()
        .expect("adt client");
    reliability_support::upload_room_model(&dt, ROOM).await;
    for w in 0..WORKERS {
        let id = format!("long-run-{w}");
        dt.add_twin(
            id.clone(),
            BasicDigitalTwin::new(id.clone(), ROOM).with_property("temperature", -1),
        )
        .send()
        .await
        .expect("twin");
    }
    let last = Arc::new(
        (0..WORKERS)
            .map(|_| AtomicUsize::new(0))
            .collect::<Vec<_>>(),
    );

    let fetches_before = tokens.fetches.load(Ordering::SeqCst);
    let started = Instant::now();
    let (calls, failures) = run_for(RUN, {
        let dt = dt.clone();
        let last = last.clone();
        move |w, i| {
            let dt = dt.clone();
            let last = last.clone();
            async move {
                let id = format!("long-run-{w}");
                if i % 2 == 0 {
                    dt.update_twin(
                        id,
                        JsonPatch::new().replace(Pointer::property("temperature"), json!(i)),
                    )
                    .send()
                    .await?;
                    last[w].store(i, Ordering::SeqCst);
                } else {
                    dt.get_twin(id).send().await?;
                }
                Ok(())
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    let fetched = tokens.fetches.load(Ordering::SeqCst) - fetches_before;
    eprintln!(
        "digitaltwins long run: {calls} calls in {elapsed:?}, {} failed, {fetched} tokens \
         fetched (facade count {}), lifetime {LIFETIME:?}",
        failures.len(),
        dt.raw().inner().credential_fetch_count()
    );
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed: {:#?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    let lifetimes = (elapsed.as_secs_f64() / LIFETIME.as_secs_f64()).floor() as usize;
    assert!(
        fetched > lifetimes,
        "{fetched} tokens over {lifetimes} lifetimes"
    );
    // Renewed a quarter of a lifetime ahead: about one token per 1.5 s, not one per call.
    assert!(
        fetched <= 2 * lifetimes + 2,
        "{fetched} tokens over {lifetimes} lifetimes ({calls} calls)"
    );
    assert_eq!(
        dt.raw().inner().credential_fetch_count(),
        tokens.fetches.load(Ordering::SeqCst)
    );
    for w in 0..WORKERS {
        let twin = dt
            .get_twin(format!("long-run-{w}"))
            .send()
            .await
            .expect("twin");
        assert_eq!(
            twin.value["temperature"].as_f64(),
            Some(last[w].load(Ordering::SeqCst) as f64),
            "{w}"
        );
    }
    emu.shutdown().await;
}
