//! Issue 13 benchmark: ADT bulk import through `DigitalTwinsClient::bulk_import` of 10,000 and
//! then 100,000 twins, with as many relationships, against the emulator **binary** (a separate
//! process, so this process's memory is the client's alone) and Azurite.
//!
//! Prints, per run, twins/s end to end (writing the NDJSON blob, the job, waiting, reading the
//! log) and this process's VmRSS / VmHWM from `/proc/self/status`. The sources are lazy
//! iterators and a stream: if the helper kept what it writes, RSS at 100k would be ~10x RSS at
//! 10k.
//!
//! `cargo bench --bench bulk_import` (builds the emulator binary in release first).
//! `BULK_IMPORT_SIZES=1000,5000` overrides the sizes.

#[path = "../../testsupport/azurite.rs"]
mod azurite;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use azure_twins::Credential;
use azure_twins::digitaltwins::{BasicDigitalTwin, BasicRelationship, DigitalTwinsClient};
use futures::StreamExt;
use serde_json::json;

const ROOM: &str = "dtmi:com:example:bench:Room;1";

/// The emulator binary as a child process; killed on drop.
struct EmulatorProcess {
    child: Child,
    adt_endpoint: String,
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_emulator() -> EmulatorProcess {
    let exe = std::env::current_exe().expect("bench path");
    // target/<profile>/deps/bulk_import-… -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args([
        "build",
        "-p",
        "azure-twins-emulator",
        "--bin",
        "azure-twins-emulator",
    ]);
    if release {
        build.arg("--release");
    }
    let status = build.status().expect("cargo build of the emulator");
    assert!(status.success(), "building the emulator binary failed");
    let bin = profile_dir.join("azure-twins-emulator");
    let mut child = Command::new(&bin)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let adt_endpoint = loop {
        let line = lines
            .next()
            .expect("emulator printed its endpoints")
            .expect("read");
        if let Some(v) = line.strip_prefix("ADT_ENDPOINT=") {
            break v.trim().to_owned();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    EmulatorProcess {
        child,
        adt_endpoint,
    }
}

/// (VmRSS, VmHWM) of this process in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sizes: Vec<usize> = std::env::var("BULK_IMPORT_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    let emu = start_emulator();
    let store = azurite::Azurite::start().await;
    store.create_container("bench").await;
    let dt = DigitalTwinsClient::builder(emu.adt_endpoint.as_str())
        .credential(Credential::bearer_token("bench"))
        .build()
        .expect("client");
    let (rss0, hwm0) = memory_kib();
    println!("bulk_import: client RSS before any import: {rss0} KiB (HWM {hwm0} KiB)");
    println!(
        "| twins | relationships | input MiB | seconds | twins/s | VmRSS after (KiB) | VmHWM after (KiB) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (run, &n) in sizes.iter().enumerate() {
        let prefix = format!("r{run}");
        let twins = {
            let prefix = prefix.clone();
            (0..n).map(move |i| {
                BasicDigitalTwin::new(format!("{prefix}-room-{i}"), ROOM)
                    .with_property("temperature", 20.0 + (i % 10) as f64)
                    .with_property("name", format!("room number {i}"))
            })
        };
        // Relationships from a stream: each room points at the next one.
        let rels = {
            let prefix = prefix.clone();
            futures::stream::iter(0..n).map(move |i| {
                BasicRelationship::new(
                    format!("next-{i}"),
                    format!("{prefix}-room-{i}"),
                    format!("{prefix}-room-{}", (i + 1) % n),
                    "next",
                )
            })
        };
        let mut import = dt
            .bulk_import(
                format!("bench-{run}-{n}"),
                store.blob_sas_url("bench", &format!("{prefix}.ndjson")),
                store.blob_sas_url("bench", &format!("{prefix}.log")),
            )
            .twins(twins)
            .relationships_stream(rels)
            .poll_every(Duration::from_millis(200))
            .timeout(Duration::from_secs(3600));
        if run == 0 {
            import = import.models([json!({
                "@id": ROOM, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
                "contents": [
                    {"@type": "Property", "name": "temperature", "schema": "double"},
                    {"@type": "Property", "name": "name", "schema": "string"},
                    {"@type": "Relationship", "name": "next", "target": ROOM}
                ]
            })]);
        }
        let start = Instant::now();
        let outcome = import.send().await.expect("bulk import");
        let secs = start.elapsed().as_secs_f64();
        let (rss, hwm) = memory_kib();
        assert!(
            outcome.is_clean(),
            "import {n}: {} with {} log errors, first: {:?}",
            outcome.status(),
            outcome.error_count,
            outcome.errors.first()
        );
        assert_eq!(outcome.twins, n as u64);
        assert_eq!(outcome.relationships, n as u64);
        println!(
            "| {n} | {n} | {:.1} | {secs:.2} | {:.0} | {rss} | {hwm} |",
            outcome.input_bytes as f64 / (1024.0 * 1024.0),
            n as f64 / secs
        );
    }
    // A spot check that the last run's twins are there.
    let last = sizes.len() - 1;
    let n = sizes[last];
    let t = dt
        .get_twin(format!("r{last}-room-{}", n - 1))
        .send()
        .await
        .expect("last twin imported");
    println!(
        "bulk_import: spot check r{last}-room-{}: {}",
        n - 1,
        t.value["name"]
    );
}
