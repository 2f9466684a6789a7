//! Section 3 of the comparison: a streaming query over many twins (default 100,000 IoT Hub
//! device twins and 100,000 ADT twins, page size 1,000) through the facade's `Pager`, reporting
//! items per second, the client's and the emulator's CPU time per item, and the client's
//! resident memory (`VmRSS`, `VmHWM` from `/proc/self/status`) before the query, after 10,000
//! items and at the end. For contrast the same query is then collected into a `Vec`.
//!
//! The emulator runs in a child process (this bench binary re-executed with
//! `AZURE_TWINS_BENCH_EMULATOR=1`, see [`ChildEmulator`]) that seeds the twins itself through the
//! facade (IoT Hub: bulk registry, 100 devices per call; ADT: one model, then one PUT per twin),
//! so neither the stored twins nor the seeding show up in the client's memory.
//! `BENCH_STREAM_DEVICES` / `BENCH_STREAM_ADT_TWINS` override the counts (0 skips a service).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Instant;

use azure_twins::digitaltwins::DigitalTwinsClient;
use azure_twins::iothub::{BulkOperation, Device};
use azure_twins::{ClientOptions, Credential, IotHubClient};
use azure_twins_emulator::Emulator;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use crate::env;

/// Environment variable that turns this bench binary into an emulator child.
const CHILD_ENV: &str = "AZURE_TWINS_BENCH_EMULATOR";
/// ADT model of the seeded twins.
pub const ROOM_MODEL: &str = "dtmi:bench:Room;1";
/// Page size of the streaming queries.
const PAGE: u32 = 1_000;

/// What the emulator child serves and seeds.
#[derive(Debug, Clone, Default)]
pub struct ChildOptions {
    /// Serve HTTPS (the certificate is written to a temp file, see [`ChildEmulator::ca_path`]).
    pub tls: bool,
    /// IoT Hub devices `peer-0` … `peer-<n-1>` to create.
    pub devices: usize,
    /// ADT twins `peer-0` … `peer-<n-1>` (model [`ROOM_MODEL`], `temperature`) to create.
    pub adt_twins: usize,
    /// Bearer token the ADT listener requires (`None`: any).
    pub adt_token: Option<String>,
}

/// An emulator serving from a child process; killed when dropped.
pub struct ChildEmulator {
    child: Child,
    stdin: Option<ChildStdin>,
    /// `HostName=127.0.0.1:<port>;SharedAccessKeyName=iothubowner;SharedAccessKey=…`.
    pub iothub_cs: String,
    /// `http://127.0.0.1:<port>` or `https://localhost:<port>`.
    pub iothub_endpoint: String,
    /// `http://127.0.0.1:<port>` or `https://localhost:<port>`.
    pub adt_endpoint: String,
    /// The certificate PEM with TLS.
    pub ca_pem: Option<String>,
    /// Where the certificate PEM was written, with TLS.
    pub ca_path: Option<PathBuf>,
    /// Seconds the child took to seed.
    pub seed_secs: f64,
}

impl ChildEmulator {
    /// Re-executes this binary as an emulator child and waits until it has seeded and serves.
    pub fn spawn(opts: &ChildOptions) -> ChildEmulator {
        let exe = std::env::current_exe().expect("path of the bench binary");
        let mut cmd = Command::new(exe);
        cmd.env(CHILD_ENV, "1")
            .env("AZURE_TWINS_BENCH_TLS", if opts.tls { "1" } else { "0" })
            .env("AZURE_TWINS_BENCH_DEVICES", opts.devices.to_string())
            .env("AZURE_TWINS_BENCH_ADT_TWINS", opts.adt_twins.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(t) = &opts.adt_token {
            cmd.env("AZURE_TWINS_BENCH_ADT_TOKEN", t);
        }
        let mut child = cmd.spawn().expect("start the emulator child");
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().expect("child stdout"));
        let mut emu = ChildEmulator {
            child,
            stdin,
            iothub_cs: String::new(),
            iothub_endpoint: String::new(),
            adt_endpoint: String::new(),
            ca_pem: None,
            ca_path: None,
            seed_secs: 0.0,
        };
        for line in out.lines() {
            let line = line.expect("read the emulator child's stdout");
            let (k, v) = line.split_once('=').unwrap_or((line.as_str(), ""));
            match k {
                "IOTHUB_CONNECTION_STRING" => emu.iothub_cs = v.to_owned(),
                "IOTHUB_ENDPOINT" => emu.iothub_endpoint = v.to_owned(),
                "ADT_ENDPOINT" => emu.adt_endpoint = v.to_owned(),
                "CA_CERT" => {
                    emu.ca_pem = Some(std::fs::read_to_string(v).expect("read the child's cert"));
                    emu.ca_path = Some(PathBuf::from(v));
                }
                "SEED_SECS" => emu.seed_secs = v.parse().unwrap_or(0.0),
                "READY" => return emu,
                _ => {}
            }
        }
        panic!("the emulator child exited before it was ready");
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's CPU time so far (user + system), in seconds.
    pub fn cpu_secs(&self) -> f64 {
        cpu_secs_of(&self.child.id().to_string())
    }

    /// Client options trusting the child's certificate (default options without TLS).
    pub fn client_options(&self) -> ClientOptions {
        match &self.ca_pem {
            Some(pem) => ClientOptions::default().add_root_certificate_pem(pem.clone()),
            None => ClientOptions::default(),
        }
    }

    /// A facade IoT Hub client for the child (HTTPS with its certificate when TLS is on).
    pub fn iothub_client(&self) -> IotHubClient {
        IotHubClient::builder(self.iothub_endpoint.clone())
            .credential(Credential::from_connection_string(&self.iothub_cs).unwrap())
            .options(self.client_options())
            .build()
            .unwrap()
    }

    /// A facade ADT client for the child with bearer token `token`.
    pub fn adt_client(&self, token: &str) -> DigitalTwinsClient {
        DigitalTwinsClient::builder(self.adt_endpoint.clone())
            .credential(Credential::bearer_token(token))
            .options(self.client_options())
            .build()
            .unwrap()
    }
}

impl Drop for ChildEmulator {
    fn drop(&mut self) {
        drop(self.stdin.take()); // the child exits at end of input
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(p) = &self.ca_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// CPU time (user + system) used so far by the live threads of process `pid` (`self` for this
/// one), in seconds at nanosecond resolution: the sum of the first field of
/// `/proc/<pid>/task/*/schedstat`. NaN where that is unavailable.
fn cpu_secs_of(pid: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return f64::NAN;
    };
    let ns: u64 = dir
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}

/// This process's CPU time so far (user + system), in seconds.
pub fn self_cpu_secs() -> f64 {
    cpu_secs_of("self")
}

/// If this process was started as an emulator child, serves until its stdin closes and returns
/// true; otherwise returns false at once.
pub fn serve_child_if_asked() -> bool {
    if std::env::var_os(CHILD_ENV).is_none() {
        return false;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(serve_child());
    true
}

async fn serve_child() {
    let tls = std::env::var("AZURE_TWINS_BENCH_TLS").as_deref() == Ok("1");
    let devices = env("AZURE_TWINS_BENCH_DEVICES", 0);
    let adt_twins = env("AZURE_TWINS_BENCH_ADT_TWINS", 0);
    let token = std::env::var("AZURE_TWINS_BENCH_ADT_TOKEN").ok();
    let emu = Emulator::builder()
        .tls(tls)
        .adt_bearer_token(token.clone())
        .start()
        .await
        .expect("start the emulator");
    let opts = match emu.ca_certificate_pem() {
        Some(pem) => ClientOptions::default().add_root_certificate_pem(pem),
        None => ClientOptions::default(),
    };
    let t = Instant::now();
    if devices > 0 {
        let hub = IotHubClient::builder(emu.iothub_endpoint())
            .credential(
                Credential::from_connection_string(&emu.iothub_connection_string()).unwrap(),
            )
            .options(opts.clone())
            .build()
            .unwrap();
        let ids: Vec<usize> = (0..devices).collect();
        futures::stream::iter(ids.chunks(100))
            .map(|chunk| {
                let ops = chunk
                    .iter()
                    .map(|i| BulkOperation::create(Device::new(format!("peer-{i}"))))
                    .collect();
                let hub = &hub;
                async move {
                    let r = hub.bulk_registry(ops).send().await.unwrap();
                    assert_eq!(r.is_successful, Some(true), "bulk create: {:?}", r.errors);
                }
            })
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await;
    }
    if adt_twins > 0 {
        let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
            .credential(Credential::bearer_token(
                token.clone().unwrap_or_else(|| "bench".into()),
            ))
            .options(opts)
            .build()
            .unwrap();
        dt.create_models([json!({
            "@id": ROOM_MODEL, "@type": "Interface", "@context": "dtmi:dtdl:context;2",
            "contents": [{"@type": "Property", "name": "temperature", "schema": "double"}]
        })])
        .send()
        .await
        .unwrap();
        futures::stream::iter(0..adt_twins)
            .map(|i| {
                let dt = &dt;
                async move {
                    dt.create_twin(
                        format!("peer-{i}"),
                        json!({"$metadata": {"$model": ROOM_MODEL}, "temperature": i as f64}),
                    )
                    .send()
                    .await
                    .unwrap();
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "IOTHUB_CONNECTION_STRING={}",
        emu.iothub_connection_string()
    )
    .unwrap();
    writeln!(out, "IOTHUB_ENDPOINT={}", emu.iothub_endpoint()).unwrap();
    writeln!(out, "ADT_ENDPOINT={}", emu.adt_endpoint()).unwrap();
    if let Some(pem) = emu.ca_certificate_pem() {
        let path = std::env::temp_dir().join(format!(
            "azure-twins-bench-emulator-{}.pem",
            std::process::id()
        ));
        std::fs::write(&path, pem).unwrap();
        writeln!(out, "CA_CERT={}", path.display()).unwrap();
    }
    writeln!(out, "SEED_SECS={:.3}", t.elapsed().as_secs_f64()).unwrap();
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    drop(out);
    // Serve until the parent closes our stdin (or dies).
    let _ =
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await;
    emu.shutdown().await;
}

/// `VmRSS` and `VmHWM` of this process, in MiB.
fn memory() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

/// Resets `VmHWM` to the current RSS (`echo 5 > /proc/self/clear_refs`), so the peak seen later
/// belongs to the query and not to earlier sections. Returns false where the kernel refuses.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// One measured point of a streaming run.
struct Point {
    items: usize,
    secs: f64,
    client_cpu: f64,
    emulator_cpu: f64,
    rss: f64,
    hwm: f64,
}

/// Streams `stream` to the end, dropping each item, and records the memory before, after
/// 10,000 items (when there are that many) and at the end.
async fn measure<T, S>(emu: &ChildEmulator, stream: S) -> Vec<Point>
where
    S: futures::Stream<Item = Result<T, azure_twins::Error>>,
{
    let mark = 10_000;
    let t = Instant::now();
    let (cpu0, ecpu0) = (self_cpu_secs(), emu.cpu_secs());
    let point = |items: usize| {
        let (rss, hwm) = memory();
        Point {
            items,
            secs: t.elapsed().as_secs_f64(),
            client_cpu: self_cpu_secs() - cpu0,
            emulator_cpu: emu.cpu_secs() - ecpu0,
            rss,
            hwm,
        }
    };
    let mut points = vec![point(0)];
    let mut n = 0usize;
    futures::pin_mut!(stream);
    while let Some(item) = stream.next().await {
        std::hint::black_box(item.unwrap());
        n += 1;
        if n == mark {
            points.push(point(n));
        }
    }
    if n != mark {
        points.push(point(n));
    }
    points
}

fn print_points(what: &str, points: &[Point]) {
    println!(
        "{what}, page size {PAGE}, through the facade's Pager (client RSS from /proc/self/status):"
    );
    println!(
        "| items read | seconds | items/s (cumulative) | client CPU µs/item | emulator CPU µs/item | client VmRSS MiB | client VmHWM MiB |"
    );
    println!("|-----------:|--------:|------:|------:|------:|------:|------:|");
    for p in points {
        let per = |x: f64| {
            if p.items == 0 {
                "—".to_owned()
            } else {
                format!("{:.1}", x / p.items as f64 * 1e6)
            }
        };
        println!(
            "| {:>10} | {:>7.2} | {:>9} | {:>6} | {:>6} | {:>6.1} | {:>6.1} |",
            p.items,
            p.secs,
            if p.items == 0 {
                "—".to_owned()
            } else {
                format!("{:.0}", p.items as f64 / p.secs)
            },
            per(p.client_cpu),
            per(p.emulator_cpu),
            p.rss,
            p.hwm
        );
    }
}

/// Streams the whole twin set of each service through the facade and prints the tables.
pub async fn run() {
    let devices = env("BENCH_STREAM_DEVICES", 100_000);
    let adt_twins = env("BENCH_STREAM_ADT_TWINS", 100_000);
    if devices == 0 && adt_twins == 0 {
        return;
    }
    let token = "bench-streaming-token";
    let t = Instant::now();
    let emu = ChildEmulator::spawn(&ChildOptions {
        tls: false,
        devices,
        adt_twins,
        adt_token: Some(token.into()),
    });
    println!(
        "Streaming query: emulator in child process {} (plain HTTP), seeded {devices} devices and {adt_twins} ADT twins in {:.1} s ({:.1} s to ready)",
        emu.pid(),
        emu.seed_secs,
        t.elapsed().as_secs_f64()
    );
    let peak_reset = reset_peak();
    if !peak_reset {
        println!(
            "(could not reset VmHWM through /proc/self/clear_refs: it includes earlier sections)"
        );
    }
    if devices > 0 {
        let hub = emu.iothub_client();
        let points = measure(
            &emu,
            hub.query("SELECT * FROM devices")
                .page_size(PAGE)
                .into_stream(),
        )
        .await;
        let n = points.last().map_or(0, |p| p.items);
        assert_eq!(n, devices, "the query returned every device twin");
        print_points(
            &format!("IoT Hub `SELECT * FROM devices` over {devices} device twins"),
            &points,
        );
        println!();
    }
    if adt_twins > 0 {
        let dt = emu.adt_client(token);
        reset_peak();
        let points = measure(
            &emu,
            dt.query("SELECT * FROM DIGITALTWINS")
                .page_size(PAGE)
                .into_stream(),
        )
        .await;
        let n = points.last().map_or(0, |p| p.items);
        assert_eq!(n, adt_twins, "the query returned every ADT twin");
        print_points(
            &format!("ADT `SELECT * FROM DIGITALTWINS` over {adt_twins} twins"),
            &points,
        );
        println!();
    }
    if devices > 0 {
        // Contrast: the same query collected into a Vec holds every twin at once.
        let hub = emu.iothub_client();
        reset_peak();
        let (rss0, _) = memory();
        let all: Vec<_> = hub
            .query("SELECT * FROM devices")
            .page_size(PAGE)
            .into_stream()
            .try_collect()
            .await
            .unwrap();
        let (rss1, hwm1) = memory();
        println!(
            "Contrast: the same IoT Hub query collected into a Vec of {} twins: client VmRSS {rss0:.1} → {rss1:.1} MiB (VmHWM {hwm1:.1} MiB)",
            all.len()
        );
        drop(all);
        println!();
    }
    drop(emu);
}
