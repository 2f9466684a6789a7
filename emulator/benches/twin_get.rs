//! Keep-alive twin GETs per second over loopback: a few concurrent reqwest clients against an
//! in-process emulator (clients and server share the same cores, so the figure is conservative).
//!
//! `cargo bench -p azure-twins-emulator --bench twin_get [-- <seconds> <clients>]`

use azure_twins_emulator::Emulator;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn token(cs: &str) -> String {
    let get = |k: &str| {
        cs.split(';')
            .find_map(|p| p.strip_prefix(&format!("{k}=")))
            .unwrap_or_default()
            .to_string()
    };
    let (host, policy, key) = (
        get("HostName"),
        get("SharedAccessKeyName"),
        get("SharedAccessKey"),
    );
    let sr = host.replace(':', "%3A");
    let se = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let mut mac = Hmac::<Sha256>::new_from_slice(&B64.decode(key).unwrap()).unwrap();
    mac.update(format!("{sr}\n{se}").as_bytes());
    let sig: String = B64
        .encode(mac.finalize().into_bytes())
        .chars()
        .map(|c| match c {
            '+' => "%2B".to_string(),
            '/' => "%2F".to_string(),
            '=' => "%3D".to_string(),
            c => c.to_string(),
        })
        .collect();
    format!("SharedAccessSignature sr={sr}&sig={sig}&se={se}&skn={policy}")
}

/// CPU seconds (user + system) this process has used so far, from /proc/self/stat.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
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
        let tok = token(&emu.iothub_connection_string());
        let base = emu.iothub_endpoint();
        let setup = reqwest::Client::new();
        let r = setup
            .put(format!("{base}/devices/bench?api-version=2021-04-12"))
            .header("authorization", &tok)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let url = format!("{base}/twins/bench?api-version=2021-04-12");
        let count = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        // warm-up
        for _ in 0..200 {
            setup.get(&url).header("authorization", &tok).send().await.unwrap().bytes().await.unwrap();
        }
        let start = Instant::now();
        let cpu0 = cpu_seconds();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (client, url, tok) = (reqwest::Client::new(), url.clone(), tok.clone());
            let (count, errors, stop) = (count.clone(), errors.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).header("authorization", &tok).send().await {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        let elapsed = start.elapsed().as_secs_f64();
        let n = count.load(Ordering::Relaxed);
        if let (Some(a), Some(b)) = (cpu0, cpu_seconds()) {
            let per = (b - a) / n.max(1) as f64;
            println!(
                "CPU per request (client + server, same process): {:.1} us; {:.0} req/s per fully available core; load average: {}",
                per * 1e6,
                1.0 / per,
                std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
            );
        }
        println!(
            "twin GET keep-alive: {clients} clients, {elapsed:.1} s, {n} requests, {:.0} req/s, {} errors, {} distinct SAS tokens seen",
            n as f64 / elapsed,
            errors.load(Ordering::Relaxed),
            emu.distinct_sas_tokens_seen()
        );
        emu.shutdown().await;
    });
}
