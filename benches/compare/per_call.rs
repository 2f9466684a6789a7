//! Sections 1, 2 and 4 of the comparison: per-call twin GET/PATCH through the facade and bare
//! reqwest (sequential), PATCH throughput at 64 in flight (facade vs reqwest), and how many SAS
//! tokens were signed over the run. `BENCH_CALLS` and `BENCH_PATCHES` override the counts.
//! The raw generated client is not measured: its spec-derived `Twin` type cannot decode a
//! real twin (`properties.desired.$version` is an integer where the spec says map), so every raw
//! twin GET/PATCH fails to decode. The emulator runs in the same process, so its CPU time competes with the client's.

use std::time::{Duration, Instant, SystemTime};

use azure_twins::IotHubClient;
use azure_twins::auth::{Secret, generate_sas_token};
use azure_twins_emulator::Emulator;
use futures::StreamExt;

use crate::{env, time_each};
use serde_json::json;

const API: &str = "2021-04-12";

fn row(name: &str, value: Duration, base: Duration) {
    println!(
        "| {name:<38} | {:>10.1} µs | {:>6.3}× |",
        value.as_secs_f64() * 1e6,
        value.as_secs_f64() / base.as_secs_f64()
    );
}

/// Per-call latency (facade vs bare reqwest, sequential), PATCH throughput at 64 in flight, and
/// the SAS tokens signed over the run, against one in-process emulator.
pub async fn run() {
    let calls = env("BENCH_CALLS", 2_000);
    let patches = env("BENCH_PATCHES", 10_000);
    let emu = Emulator::builder().start().await.unwrap();
    let cs = emu.iothub_connection_string();
    let key = cs
        .split(';')
        .find_map(|p| p.strip_prefix("SharedAccessKey="))
        .unwrap()
        .to_owned();
    let host = emu.iothub_host();
    let endpoint = emu.iothub_endpoint();

    let hub = IotHubClient::from_connection_string(&cs).unwrap();
    hub.create_device("bench").send().await.unwrap();

    let http = reqwest::Client::builder().build().unwrap();
    let token = generate_sas_token(
        &host,
        &Secret::new(key),
        Some("iothubowner"),
        SystemTime::now() + Duration::from_secs(3600),
    )
    .unwrap();
    let auth = token.expose_secret().to_owned();
    let twin_url = format!("{endpoint}/twins/bench?api-version={API}");

    let facade_get = time_each(calls, |_| async {
        hub.get_twin("bench").send().await.unwrap();
    })
    .await;
    let bare_get = time_each(calls, |_| async {
        let r = http
            .get(&twin_url)
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let _: serde_json::Value = r.json().await.unwrap();
    })
    .await;

    let facade_patch = time_each(calls, |i| {
        let hub = &hub;
        async move {
            hub.update_twin("bench")
                .set_desired("n", i)
                .send()
                .await
                .unwrap();
        }
    })
    .await;
    let bare_patch = time_each(calls, |i| {
        let (http, auth, url) = (&http, &auth, &twin_url);
        async move {
            let r = http
                .patch(url)
                .header("authorization", auth)
                .header("if-match", "*")
                .json(&json!({"properties": {"desired": {"n": i}}}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            let _: serde_json::Value = r.json().await.unwrap();
        }
    })
    .await;

    let t = Instant::now();
    futures::stream::iter(0..patches)
        .map(|i| {
            let hub = &hub;
            async move {
                hub.update_twin("bench")
                    .set_desired("n", i)
                    .send()
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let facade_tput = patches as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    futures::stream::iter(0..patches)
        .map(|i| {
            let (http, auth, url) = (&http, &auth, &twin_url);
            async move {
                let r = http
                    .patch(url)
                    .header("authorization", auth)
                    .header("if-match", "*")
                    .json(&json!({"properties": {"desired": {"n": i}}}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                let _: serde_json::Value = r.json().await.unwrap();
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let bare_tput = patches as f64 / t.elapsed().as_secs_f64();

    println!("Sequential per-call latency, median of {calls} calls (ratio to bare reqwest):");
    println!("| call                                   |       median |  ratio |");
    println!("|----------------------------------------|-------------:|-------:|");
    row("twin GET, bare reqwest", bare_get, bare_get);
    row("twin GET, facade", facade_get, bare_get);
    row("twin PATCH, bare reqwest", bare_patch, bare_patch);
    row("twin PATCH, facade", facade_patch, bare_patch);
    println!();
    println!("Throughput, {patches} twin PATCHes, 64 in flight:");
    println!("| client       |    PATCH/s | ratio |");
    println!("|--------------|-----------:|------:|");
    println!("| bare reqwest | {bare_tput:>10.0} | 1.000 |");
    println!(
        "| facade       | {facade_tput:>10.0} | {:.3} |",
        facade_tput / bare_tput
    );
    println!();
    println!(
        "SAS tokens accepted by the emulator over the run: {} (the facade signs one per 1-hour lifetime; bare reqwest used 1 signed up front)",
        emu.distinct_sas_tokens_seen()
    );
    emu.shutdown().await;
}
