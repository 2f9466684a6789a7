//! Azurite (the Azure Storage emulator, npm `azurite`) for tests: a real Blob service on loopback.
//!
//! Include it from a test of either crate with a relative path:
//!
//! ```ignore
//! #[path = "../../testsupport/azurite.rs"] // from emulator/tests/*.rs
//! // #[path = "../testsupport/azurite.rs"] // from tests/*.rs of the root crate
//! mod azurite;
//!
//! let store = azurite::Azurite::start().await;          // azurite-blob on 127.0.0.1:<free port>
//! store.create_container("imports").await;              // PUT ?restype=container
//! store.put_blob("imports", "in.ndjson", "...").await;  // a block blob
//! let input = store.blob_sas_url("imports", "in.ndjson");     // service SAS, sr=b, racwd
//! let output = store.container_sas_url("exports");            // service SAS, sr=c, racwdl
//! let text = store.read_blob_string("exports", "devices.txt").await; // Option<String>
//! let names = store.list_blobs("exports").await;        // Vec<String>
//! drop(store);                                          // kills azurite-blob
//! ```
//!
//! What it does:
//! - finds `testsupport/azurite/node_modules/.bin/azurite-blob` by walking up from
//!   `CARGO_MANIFEST_DIR`; if it is missing, runs `npm ci --prefix testsupport/azurite` once
//!   (a directory lock keeps parallel test binaries from running it twice), so a developer's
//!   plain `cargo test` works; CI runs the same `npm ci` from `.ci/run` first;
//! - starts `azurite-blob --blobHost 127.0.0.1 --blobPort 0 --inMemoryPersistence
//!   --skipApiVersionCheck --loose --disableTelemetry --silent` and reads the port it bound from
//!   its "successfully listens on" line, then waits until List Containers answers 200;
//! - signs SAS tokens itself (HMAC-SHA256 with the well-known `devstoreaccount1` key, version
//!   2021-08-06): service SAS for containers and blobs, account SAS for its own admin calls;
//! - kills the process on drop.
//!
//! Every helper panics with a clear message on failure: this is test support, not library code.
//! The requirements on the including crate: `reqwest`, `hmac`, `sha2`, `base64`, `chrono`,
//! `percent-encoding`, `rustls` (ring) and `tokio` (time) as dependencies or dev-dependencies.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The Azurite account name.
pub const ACCOUNT: &str = "devstoreaccount1";
/// The well-known Azurite account key (public, documented by Azurite; not a secret).
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The storage service version the SAS tokens are signed for.
pub const SAS_VERSION: &str = "2021-08-06";

/// A running `azurite-blob` process on 127.0.0.1; killed on drop.
pub struct Azurite {
    child: Child,
    port: u16,
    http: reqwest::Client,
}

/// The `testsupport/azurite` directory (holding package.json), found from `CARGO_MANIFEST_DIR`.
pub fn package_dir() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dir: &Path = &start;
    loop {
        let candidate = dir.join("testsupport").join("azurite");
        if candidate.join("package.json").is_file() {
            return candidate;
        }
        dir = dir
            .parent()
            .unwrap_or_else(|| panic!("no testsupport/azurite/package.json above {start:?}"));
    }
}

/// The path of `azurite-blob`, running `npm ci --prefix testsupport/azurite` first if needed.
pub fn azurite_blob_bin() -> PathBuf {
    let dir = package_dir();
    let bin = dir.join("node_modules").join(".bin").join("azurite-blob");
    if bin.is_file() {
        return bin;
    }
    let lock = dir.join(".npm-ci.lock");
    let mut waited = Duration::ZERO;
    loop {
        match std::fs::create_dir(&lock) {
            Ok(()) => break,
            Err(_) if bin.is_file() => return bin,
            Err(_) => {
                // Another test binary is installing; a lock older than 15 minutes is stale.
                let stale = std::fs::metadata(&lock)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > Duration::from_secs(900));
                if stale || waited > Duration::from_secs(900) {
                    let _ = std::fs::remove_dir(&lock);
                }
                std::thread::sleep(Duration::from_millis(500));
                waited += Duration::from_millis(500);
            }
        }
    }
    if !bin.is_file() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .stdin(Stdio::null())
            .status();
        let _ = std::fs::remove_dir(&lock);
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("`npm ci --prefix {}` failed: {s}", dir.display()),
            Err(e) => panic!("cannot run npm (needed to install Azurite for this test): {e}"),
        }
    } else {
        let _ = std::fs::remove_dir(&lock);
    }
    assert!(bin.is_file(), "npm ci ran but {} is missing", bin.display());
    bin
}

impl Azurite {
    /// Starts `azurite-blob` on a free loopback port (in-memory) and waits until it answers.
    pub async fn start() -> Azurite {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bin = azurite_blob_bin();
        // Azurite writes nothing with --inMemoryPersistence (which excludes --location), but its
        // cwd must exist and be writable for its debug log options; use the temp dir.
        let workspace = std::env::temp_dir();
        let mut child = Command::new(&bin)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
                "--silent",
            ])
            .current_dir(&workspace)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel::<Result<u16, String>>();
        std::thread::spawn(move || {
            let mut seen = String::new();
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(rest) = line.split("successfully listens on http://").nth(1) {
                        let port = rest
                            .rsplit(':')
                            .next()
                            .and_then(|p| p.trim().trim_end_matches('/').parse::<u16>().ok());
                        if let Some(port) = port {
                            let _ = tx.send(Ok(port));
                            sent = true;
                            continue;
                        }
                    }
                    seen.push_str(&line);
                    seen.push('\n');
                }
                // keep draining so the pipe never fills
            }
            if !sent {
                let _ = tx.send(Err(seen));
            }
        });
        let (stderr_tx, stderr_rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stderr.read_to_end(&mut sink);
            let _ = stderr_tx.send(String::from_utf8_lossy(&sink).into_owned());
        });
        let port = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(Ok(port)) => port,
            Ok(Err(out)) => {
                let _ = child.kill();
                let _ = child.wait();
                let err = stderr_rx
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                panic!("azurite-blob exited before listening; its output:\n{out}{err}")
            }
            Err(_) => {
                let _ = child.kill();
                panic!("azurite-blob did not report a listening port within 120 s")
            }
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("reqwest client for Azurite");
        let azurite = Azurite { child, port, http };
        let probe = format!(
            "{}/?comp=list&{}",
            azurite.account_url(),
            azurite.account_sas()
        );
        for _ in 0..600 {
            if let Ok(resp) = azurite.http.get(&probe).send().await
                && resp.status().is_success()
            {
                return azurite;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("azurite-blob on port {port} never answered List Containers")
    }

    /// The port azurite-blob listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>/devstoreaccount1` (no SAS).
    pub fn account_url(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// The container URL without a SAS.
    pub fn container_url(&self, container: &str) -> String {
        format!("{}/{container}", self.account_url())
    }

    /// The blob URL without a SAS (the blob name is percent-encoded per segment).
    pub fn blob_url(&self, container: &str, blob: &str) -> String {
        format!(
            "{}/{}",
            self.container_url(container),
            encode_blob_name(blob)
        )
    }

    /// A container SAS URL with permissions `racwdl` (read, add, create, write, delete, list).
    pub fn container_sas_url(&self, container: &str) -> String {
        self.container_sas_url_with(container, "racwdl")
    }

    /// A container SAS URL with the given permissions (e.g. `"rl"` for read-only).
    pub fn container_sas_url_with(&self, container: &str, permissions: &str) -> String {
        let sas = service_sas(container, None, permissions);
        format!("{}?{sas}", self.container_url(container))
    }

    /// A blob SAS URL with permissions `racwd`.
    pub fn blob_sas_url(&self, container: &str, blob: &str) -> String {
        self.blob_sas_url_with(container, blob, "racwd")
    }

    /// A blob SAS URL with the given permissions.
    pub fn blob_sas_url_with(&self, container: &str, blob: &str, permissions: &str) -> String {
        let sas = service_sas(container, Some(blob), permissions);
        format!("{}?{sas}", self.blob_url(container, blob))
    }

    /// An account SAS query string (no leading `?`) for everything in the blob service.
    pub fn account_sas(&self) -> String {
        account_sas()
    }

    /// Creates a container (idempotent: an existing one is fine).
    pub async fn create_container(&self, container: &str) {
        let url = format!(
            "{}?restype=container&{}",
            self.container_url(container),
            account_sas()
        );
        let resp = self
            .http
            .put(&url)
            .header("x-ms-version", SAS_VERSION)
            .header("content-length", "0")
            .send()
            .await
            .expect("Create Container request");
        let status = resp.status().as_u16();
        assert!(
            status == 201 || status == 409,
            "Create Container {container}: HTTP {status}: {}",
            resp.text().await.unwrap_or_default()
        );
    }

    /// Uploads a block blob (Put Blob), replacing any existing one.
    pub async fn put_blob(&self, container: &str, blob: &str, body: impl Into<Vec<u8>>) {
        let url = format!("{}?{}", self.blob_url(container, blob), account_sas());
        let resp = self
            .http
            .put(&url)
            .header("x-ms-version", SAS_VERSION)
            .header("x-ms-blob-type", "BlockBlob")
            .body(body.into())
            .send()
            .await
            .expect("Put Blob request");
        let status = resp.status().as_u16();
        assert_eq!(
            status,
            201,
            "Put Blob {container}/{blob}: {}",
            resp.text().await.unwrap_or_default()
        );
    }

    /// Reads a blob; `None` if it (or its container) does not exist.
    pub async fn read_blob(&self, container: &str, blob: &str) -> Option<Vec<u8>> {
        let url = format!("{}?{}", self.blob_url(container, blob), account_sas());
        let resp = self
            .http
            .get(&url)
            .header("x-ms-version", SAS_VERSION)
            .send()
            .await
            .expect("Get Blob request");
        match resp.status().as_u16() {
            200 => Some(resp.bytes().await.expect("Get Blob body").to_vec()),
            404 => None,
            other => panic!(
                "Get Blob {container}/{blob}: HTTP {other}: {}",
                resp.text().await.unwrap_or_default()
            ),
        }
    }

    /// Reads a blob as UTF-8; `None` if it does not exist.
    pub async fn read_blob_string(&self, container: &str, blob: &str) -> Option<String> {
        self.read_blob(container, blob)
            .await
            .map(|b| String::from_utf8(b).expect("blob is UTF-8"))
    }

    /// The blob type Azurite reports (`BlockBlob`, `AppendBlob`), `None` if missing.
    pub async fn blob_type(&self, container: &str, blob: &str) -> Option<String> {
        let url = format!("{}?{}", self.blob_url(container, blob), account_sas());
        let resp = self
            .http
            .head(&url)
            .header("x-ms-version", SAS_VERSION)
            .send()
            .await
            .expect("Get Blob Properties request");
        if resp.status().as_u16() == 404 {
            return None;
        }
        resp.headers()
            .get("x-ms-blob-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The names of the blobs in a container, in listing order (sorted by name).
    pub async fn list_blobs(&self, container: &str) -> Vec<String> {
        let url = format!(
            "{}?restype=container&comp=list&{}",
            self.container_url(container),
            account_sas()
        );
        let resp = self
            .http
            .get(&url)
            .header("x-ms-version", SAS_VERSION)
            .send()
            .await
            .expect("List Blobs request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("List Blobs body");
        assert_eq!(status, 200, "List Blobs {container}: {text}");
        text.split("<Name>")
            .skip(1)
            .filter_map(|s| s.split("</Name>").next())
            .map(|s| {
                s.replace("&amp;", "&")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
            })
            .collect()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn encode_blob_name(blob: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    blob.split('/')
        .map(|s| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

fn query_encode(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn sign(string_to_sign: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(ACCOUNT_KEY)
        .expect("account key is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac key");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn expiry() -> String {
    (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A service SAS (query string, no `?`) for a container (`blob = None`, sr=c) or a blob (sr=b).
pub fn service_sas(container: &str, blob: Option<&str>, permissions: &str) -> String {
    let se = expiry();
    let (resource, sr) = match blob {
        Some(b) => (format!("/blob/{ACCOUNT}/{container}/{b}"), "b"),
        None => (format!("/blob/{ACCOUNT}/{container}"), "c"),
    };
    // sp, st, se, canonicalizedResource, si, sip, spr, sv, sr, snapshot, ses, rscc, rscd, rsce,
    // rscl, rsct (version 2020-12-06 and later)
    let string_to_sign = [
        permissions,
        "",
        &se,
        &resource,
        "",
        "",
        "",
        SAS_VERSION,
        sr,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    .join("\n");
    let sig = sign(&string_to_sign);
    format!(
        "sv={SAS_VERSION}&se={}&sr={sr}&sp={permissions}&sig={}",
        query_encode(&se),
        query_encode(&sig)
    )
}

/// An account SAS (query string, no `?`) for the blob service, all resource types and
/// permissions.
pub fn account_sas() -> String {
    let se = expiry();
    let (sp, ss, srt) = ("rwdlacup", "b", "sco");
    // account, sp, ss, srt, st, se, sip, spr, sv, ses, "" (version 2020-12-06 and later)
    let string_to_sign = [ACCOUNT, sp, ss, srt, "", &se, "", "", SAS_VERSION, "", ""].join("\n");
    let sig = sign(&string_to_sign);
    format!(
        "sv={SAS_VERSION}&ss={ss}&srt={srt}&sp={sp}&se={}&sig={}",
        query_encode(&se),
        query_encode(&sig)
    )
}
