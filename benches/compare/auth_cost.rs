//! Section 4: the per-call cost of the credential path, measured directly. A `Pipeline` with the
//! connection string's SAS key is asked for its `Authorization` value many times
//! (`Pipeline::ensure_credential`, the same cached path every facade call takes before sending);
//! the first call signs, every later one must hit the cache. Prints ns per call and how many
//! tokens were signed.

use std::time::{Duration, Instant};

use azure_twins::auth::Service;
use azure_twins::raw::Pipeline;
use azure_twins::{ClientOptions, Credential};

use crate::env;

/// Times `BENCH_AUTH_CALLS` (default 200,000) cached credential look-ups.
pub async fn run(endpoint: &str, connection_string: &str) {
    let n = env("BENCH_AUTH_CALLS", 200_000);
    let credential = Credential::from_connection_string(connection_string).unwrap();
    let pipeline = Pipeline::new(
        Service::IotHub,
        endpoint,
        Some(&credential),
        ClientOptions::default(),
    )
    .unwrap();
    let t = Instant::now();
    pipeline.ensure_credential().await.unwrap(); // signs
    let first = t.elapsed();
    let c0 = crate::per_call::process_cpu();
    let t = Instant::now();
    for _ in 0..n {
        pipeline.ensure_credential().await.unwrap();
    }
    let wall = t.elapsed();
    let cpu = crate::per_call::process_cpu().saturating_sub(c0);
    let per = |d: Duration| d.as_secs_f64() * 1e9 / n as f64;
    println!(
        "Credential path, direct: first call (signs a SAS token) {:.1} µs; then {n} cached \
         look-ups at {:.0} ns wall / {:.0} ns CPU each.",
        first.as_secs_f64() * 1e6,
        per(wall),
        per(cpu),
    );
}
