//! Azure Digital Twins throughput over loopback: keep-alive twin GETs and query pages (100 twins per page out of
//! 1,000) per second, from a few concurrent reqwest clients against an in-process emulator (clients and server share
//! the same cores, so the figures are conservative).
//!
//! `cargo bench -p azure-twins-emulator --bench adt_ops [-- <seconds per phase> <clients>]`

use azure_twins_emulator::Emulator;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const API: &str = "api-version=2023-10-31";
const AUTH: &str = "Bearer bench";

/// Run `make(client)` requests from `clients` tasks for `secs`; returns (ok requests, errors, elapsed).
async fn drive<F, Fut>(secs: u64, clients: usize, make: F) -> (u64, u64, Duration)
where
    F: Fn(reqwest::Client) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = bool> + Send,
{
    let count = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, make) = (reqwest::Client::new(), make.clone());
        let (count, errors, stop) = (count.clone(), errors.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if make(client.clone()).await {
                    count.fetch_add(1, Ordering::Relaxed);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    (
        count.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        start.elapsed(),
    )
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5);
    let clients: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(4);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let emu = Emulator::builder().start().await.unwrap();
        let base = emu.adt_endpoint();
        let setup = reqwest::Client::new();
        let model = json!([{
            "@id": "dtmi:bench:Room;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
            "contents": [{"@type": "Property", "name": "temperature", "schema": "double"},
                         {"@type": "Property", "name": "name", "schema": "string"}]
        }]);
        let r = setup.post(format!("{base}/models?{API}")).header("authorization", AUTH).json(&model).send().await.unwrap();
        assert_eq!(r.status(), 201);
        for i in 0..1000 {
            let twin = json!({"$metadata": {"$model": "dtmi:bench:Room;1"}, "temperature": i as f64 / 10.0, "name": format!("room {i}")});
            let r = setup.put(format!("{base}/digitaltwins/room{i:04}?{API}")).header("authorization", AUTH).json(&twin).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
        let get_url = format!("{base}/digitaltwins/room0500?{API}");
        let (n, errs, took) = drive(secs, clients, move |c: reqwest::Client| {
            let url = get_url.clone();
            async move {
                match c.get(&url).header("authorization", AUTH).send().await {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
        .await;
        println!(
            "adt twin GET: {n} requests in {:.2}s with {clients} clients = {:.0} req/s ({errs} errors)",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
        let query_url = format!("{base}/query?{API}");
        let body = json!({"query": "SELECT * FROM DIGITALTWINS T WHERE T.temperature >= 0"}).to_string();
        let (n, errs, took) = drive(secs, clients, move |c: reqwest::Client| {
            let (url, body) = (query_url.clone(), body.clone());
            async move {
                let r = c
                    .post(&url)
                    .header("authorization", AUTH)
                    .header("content-type", "application/json")
                    .header("max-items-per-page", "100")
                    .body(body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
        .await;
        println!(
            "adt query page (100 of 1000 twins, filtered): {n} pages in {:.2}s with {clients} clients = {:.0} pages/s ({errs} errors)",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
        emu.shutdown().await;
    });
}
