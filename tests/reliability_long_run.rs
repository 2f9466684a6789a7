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
//!
//! Holding on a busy 2-core machine (no virtual time here: the facade signs `se`/reads `exp`
//! from the wall clock and the emulator checks them against the wall clock, so a paused tokio
//! clock would never let a token expire and the "no 401" claim would be vacuous). Instead every
//! bound below is one the facade guarantees whatever the scheduling, so load can only make the
//! run sparser, never make a correct facade fail:
//! * refusals: a correct facade attaches a token with at least the renewal margin `m` left
//!   (SAS: a quarter of the lifetime; Entra: a quarter of the time the token had left, more than
//!   (lifetime − 1 s)/4 since `exp` is whole seconds). A call started at `t0` whose request only
//!   reached the emulator after the token's expiry `N` (it names `N` in its 401) was therefore
//!   late by more than `m`, which a loaded machine can do; it is tolerated (and counted) only if
//!   `N ≥ t0 + m`. Any other failure, or a 401 for a token that had less than `m` left when the
//!   call began — what a renewal bug such as the whole-second one produces — fails the test.
//! * renewals, lower bound: each token is valid for at most one lifetime, so the tokens signed
//!   must cover the accepted calls: at least the minimum number of lifetime-long windows that
//!   meet every accepted call's [start, end] interval (computed from the calls, not from the
//!   wall time of the run, so a stalled run needs fewer tokens and is not failed for it).
//! * renewals, upper bound: consecutive signatures are at least the shortest renewal period
//!   apart, so a run of `E` seconds signs at most `⌊E / period⌋ + 1` tokens.
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

/// Wall-clock unix seconds (the clock `se`/`exp` and the emulator's check use).
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// One call of a worker: wall-clock start and end, and the error if it failed.
struct Call {
    start: f64,
    end: f64,
    error: Option<(Option<u16>, String)>,
}

/// The run's calls, checked as the module doc says.
struct Outcome {
    calls: Vec<Call>,
    /// 401s for tokens that had at least the renewal margin left when their call began.
    late: usize,
}

/// Runs `WORKERS` loops of `call(worker, iteration)` until `run` has passed.
async fn run_for<F, Fut>(run: Duration, call: F) -> Vec<Call>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), azure_twins::Error>> + Send,
{
    let deadline = Instant::now() + run;
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut calls = Vec::new();
            while Instant::now() < deadline {
                let start = unix_now();
                let error = call(w, calls.len()).await.err().map(|e| {
                    let text = format!(
                        "worker {w} call {}: {e} ({})",
                        calls.len(),
                        e.service_message().unwrap_or_default()
                    );
                    (e.status().map(|s| s.as_u16()), text)
                });
                calls.push(Call {
                    start,
                    end: unix_now(),
                    error,
                });
                tokio::time::sleep(PAUSE).await;
            }
            calls
        }));
    }
    let mut calls = Vec::new();
    for t in tasks {
        calls.extend(t.await.expect("worker"));
    }
    calls
}

/// The expiry (unix seconds) a 401 names: `... expired at N ...`.
fn expired_at(text: &str) -> Option<f64> {
    let rest = &text[text.find("expired at ")? + "expired at ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Fails on any failure but a late delivery (module doc): a 401 naming an expiry at least
/// `margin` seconds after the call began. Clock reads of the test and of the facade differ by
/// far less than the 20 ms allowed.
fn check_failures(calls: Vec<Call>, margin: f64) -> Outcome {
    let mut late = 0;
    let mut bad = Vec::new();
    for c in &calls {
        let Some((status, text)) = &c.error else {
            continue;
        };
        match (status, expired_at(text)) {
            (Some(401), Some(exp)) if exp >= c.start + margin - 0.02 => late += 1,
            (Some(401), Some(exp)) => bad.push(format!(
                "{text}: the token had {:.3} s left when the call began, the renewal margin is \
                 {margin:.3} s",
                exp - c.start
            )),
            _ => bad.push(text.clone()),
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} calls failed: {:#?}",
        bad.len(),
        calls.len(),
        &bad[..bad.len().min(10)]
    );
    Outcome { calls, late }
}

/// The fewest tokens valid for `lifetime` that can have served every accepted call: windows of
/// one lifetime, each meeting the [start, end] of the calls it served (greedy point stabbing of
/// the intervals (start − lifetime, end]).
fn tokens_needed(calls: &[Call], lifetime: f64) -> usize {
    let mut spans: Vec<(f64, f64)> = calls
        .iter()
        .filter(|c| c.error.is_none())
        .map(|c| (c.start - lifetime, c.end))
        .collect();
    spans.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (mut needed, mut point) = (0, f64::NEG_INFINITY);
    for (from, to) in spans {
        if from >= point {
            needed += 1;
            point = to;
        }
    }
    needed
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

    let signed_before = emu.distinct_sas_tokens_seen();
    let started = Instant::now();
    let calls = run_for(run, {
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
    let signed = emu.distinct_sas_tokens_seen();
    let l = lifetime.as_secs_f64();
    let outcome = check_failures(calls, l / 4.0);
    let needed = tokens_needed(&outcome.calls, l);
    eprintln!(
        "iothub long run: {} calls in {elapsed:?}, {} late deliveries tolerated, {signed} SAS \
         tokens accepted by the emulator (at least {needed} needed), lifetime {lifetime:?}",
        outcome.calls.len(),
        outcome.late,
    );
    // Renewed across the run: the run's calls spanned more than one lifetime, and there were at
    // least as many tokens as the accepted calls needed ...
    assert!(needed >= 2, "the run's calls needed only {needed} token(s)");
    assert!(
        signed >= needed,
        "{signed} tokens, the calls needed {needed}"
    );
    // ... and signed once per renewal period, not per call. The shortest period is the lifetime
    // minus a quarter, less up to 1 s as `se` is truncated to whole seconds.
    let period = l * 0.75 - 1.0;
    let max = (elapsed.as_secs_f64() / period).floor() as usize + 1;
    let during = signed - signed_before;
    assert!(
        during <= max,
        "{during} tokens signed in {elapsed:?}, at most {max} with a {period} s renewal period"
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
        dt.create_twin(
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
    let calls = run_for(RUN, {
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
    let l = LIFETIME.as_secs_f64();
    // `exp` is whole seconds: a token has more than `l - 1` s left when fetched, and is renewed
    // a quarter of that ahead of expiry.
    let outcome = check_failures(calls, (l - 1.0) / 4.0);
    let needed = tokens_needed(&outcome.calls, l);
    eprintln!(
        "digitaltwins long run: {} calls in {elapsed:?}, {} late deliveries tolerated, \
         {fetched} tokens fetched (at least {needed} needed), lifetime {LIFETIME:?}",
        outcome.calls.len(),
        outcome.late,
    );
    assert!(needed >= 2, "the run's calls needed only {needed} token(s)");
    // The token fetched before the run may serve its first calls.
    assert!(
        fetched + 1 >= needed,
        "{fetched} tokens fetched, the calls needed {needed}"
    );
    // Renewed a quarter of the remaining time ahead, so at least 0.75 × (l − 1) s apart: a few
    // tokens, not one per call.
    let period = 0.75 * (l - 1.0);
    let max = (elapsed.as_secs_f64() / period).floor() as usize + 1;
    assert!(
        fetched <= max,
        "{fetched} tokens fetched in {elapsed:?}, at most {max} with a {period} s renewal period"
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
