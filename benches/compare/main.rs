//! Side-by-side comparison against the emulator on loopback, printing tables of medians and
//! ratios (issue 7). One module per section; each starts what it measures and prints its own table.
//!
//! Run: `cargo bench -p azure-twins --bench compare` (release).

mod auth_cost;
mod peers;
mod per_call;
mod streaming;

use std::time::{Duration, Instant};

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if streaming::serve_child_if_asked() {
        return; // this process is an emulator child of section 3 or 5
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        per_call::run().await;
        streaming::run().await;
        peers::run().await;
    });
}

/// A count from the environment variable `name`, or `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of `v`.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median of `n` sequential runs of `f`, after `n / 10` warm-up runs.
pub async fn time_each<F, Fut>(n: usize, mut f: F) -> Duration
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..n / 10 {
        f(i).await; // warm-up
    }
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(i).await;
        samples.push(t.elapsed());
    }
    median(samples)
}
