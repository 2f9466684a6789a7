//! Azure Blob REST at SAS URLs, for the import and export jobs (ADT `/jobs/imports`, IoT Hub
//! `/jobs/create`): read a blob line by line as it streams in, write a block blob (Put Block +
//! Put Block List, or one Put Blob when small) and an append blob (Create + Append Block).
//!
//! Only loopback storage is reached (127.0.0.1, `::1`, `localhost`; e.g. Azurite): the emulator
//! never sends traffic off the machine. A URL naming another host fails the job with a clear
//! reason. SAS query strings are secrets: [`redact`] strips them from every message.

use std::sync::OnceLock;

use futures::StreamExt;

/// Storage service version sent as `x-ms-version`.
const VERSION: &str = "2021-08-06";

/// Largest block the writers upload at once (Put Block / Append Block), 4 MiB.
pub const BLOCK_BYTES: usize = 4 * 1024 * 1024;

/// Longest line [`LineReader`] accepts (a line longer than this fails the read): 16 MiB.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A storage failure: the storage error code (`x-ms-error-code`, e.g. `BlobNotFound`,
/// `AuthorizationFailure`) and a message (with the HTTP status) that holds no SAS.
#[derive(Debug, Clone)]
pub struct BlobError {
    /// Storage error code, or an emulator code (`InvalidBlobUri`, `StorageUnreachable`,
    /// `NonLoopbackStorage`, `LineTooLong`).
    pub code: String,
    /// What failed, on which blob (SAS removed).
    pub message: String,
}

impl std::fmt::Display for BlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A URL without its query string (the SAS), for messages.
pub fn redact(url: &str) -> String {
    url.split('?').next().unwrap_or_default().to_string()
}

fn err(code: &str, message: String) -> BlobError {
    BlobError {
        code: code.to_string(),
        message,
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        // reqwest is built without a bundled crypto provider; the emulator uses ring.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        // No overall timeout (a large blob may take long); a storage that stops answering
        // fails the job instead of holding it forever.
        reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_secs(300))
            .build()
            .expect("an HTTP client with default settings builds")
    })
}

/// Parses and checks a SAS URL: absolute http(s), loopback host.
fn parse(url: &str) -> Result<reqwest::Url, BlobError> {
    let u = reqwest::Url::parse(url).map_err(|e| {
        err(
            "InvalidBlobUri",
            format!("'{}' is not an absolute URL: {e}", redact(url)),
        )
    })?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(err(
            "InvalidBlobUri",
            format!("'{}' must be an http or https URL", redact(url)),
        ));
    }
    let host = u.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    if !loopback {
        return Err(err(
            "NonLoopbackStorage",
            format!(
                "the emulator only reaches storage on loopback (127.0.0.1, ::1, localhost, e.g. Azurite); '{}' names another host",
                redact(url)
            ),
        ));
    }
    Ok(u)
}

/// The URL of blob `name` inside the container at `container_sas_url`, keeping its SAS.
pub fn blob_in_container(container_sas_url: &str, name: &str) -> Result<String, BlobError> {
    let mut u = parse(container_sas_url)?;
    if name.is_empty() {
        return Err(err("InvalidBlobUri", "the blob name is empty".into()));
    }
    {
        let mut segs = u.path_segments_mut().map_err(|_| {
            err(
                "InvalidBlobUri",
                format!("'{}' cannot name a container", redact(container_sas_url)),
            )
        })?;
        segs.pop_if_empty();
        for s in name.split('/') {
            segs.push(s);
        }
    }
    Ok(u.to_string())
}

async fn failure(what: &str, url: &str, resp: reqwest::Response) -> BlobError {
    let status = resp.status().as_u16();
    let code = resp
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| format!("Http{status}"));
    BlobError {
        message: format!("{what} {} failed: HTTP {status} {code}", redact(url)),
        code,
    }
}

fn unreachable(what: &str, url: &str, e: reqwest::Error) -> BlobError {
    // reqwest errors print the URL, SAS included: keep only the kind of failure.
    let kind = if e.is_connect() {
        "connection refused or failed"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    err(
        "StorageUnreachable",
        format!("{what} {}: {kind}", redact(url)),
    )
}

/// Reads a blob as it streams in, one line at a time (`\n` or `\r\n` endings).
pub struct LineReader {
    url: String,
    stream: futures::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buf: Vec<u8>,
    done: bool,
    /// Bytes received so far.
    pub bytes_read: u64,
    /// The blob's `Content-Length`, when the service sent it.
    pub total_bytes: Option<u64>,
}

impl std::fmt::Debug for LineReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineReader")
            .field("blob", &redact(&self.url))
            .field("bytes_read", &self.bytes_read)
            .finish_non_exhaustive()
    }
}

/// `GET` the blob at `sas_url` and return a reader over its lines.
pub async fn open_lines(sas_url: &str) -> Result<LineReader, BlobError> {
    let u = parse(sas_url)?;
    let resp = client()
        .get(u)
        .header("x-ms-version", VERSION)
        .send()
        .await
        .map_err(|e| unreachable("reading blob", sas_url, e))?;
    if !resp.status().is_success() {
        return Err(failure("reading blob", sas_url, resp).await);
    }
    let total_bytes = resp.content_length();
    Ok(LineReader {
        url: sas_url.to_string(),
        stream: resp.bytes_stream().boxed(),
        buf: Vec::new(),
        done: false,
        bytes_read: 0,
        total_bytes,
    })
}

impl LineReader {
    /// The next line without its ending (lossy UTF-8; a leading BOM on the first line is
    /// dropped), or `None` at the end of the blob.
    pub async fn next_line(&mut self) -> Result<Option<String>, BlobError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(self.text(line)));
            }
            if self.done {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let line = std::mem::take(&mut self.buf);
                return Ok(Some(self.text(line)));
            }
            if self.buf.len() > MAX_LINE_BYTES {
                return Err(err(
                    "LineTooLong",
                    format!(
                        "a line of blob {} is longer than {MAX_LINE_BYTES} bytes",
                        redact(&self.url)
                    ),
                ));
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => {
                    self.bytes_read += chunk.len() as u64;
                    self.buf.extend_from_slice(&chunk);
                }
                Some(Err(e)) => return Err(unreachable("reading blob", &self.url, e)),
                None => self.done = true,
            }
        }
    }

    fn text(&self, mut line: Vec<u8>) -> String {
        if line.starts_with(&[0xEF, 0xBB, 0xBF]) {
            line.drain(..3);
        }
        String::from_utf8(line).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}

async fn put(
    url: &str,
    what: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(), BlobError> {
    let u = parse(url)?;
    let mut req = client()
        .put(u)
        .header("x-ms-version", VERSION)
        .header("content-length", body.len().to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| unreachable(what, url, e))?;
    if !resp.status().is_success() {
        return Err(failure(what, url, resp).await);
    }
    Ok(())
}

fn with_query(url: &str, extra: &str) -> String {
    if url.contains('?') {
        format!("{url}&{extra}")
    } else {
        format!("{url}?{extra}")
    }
}

/// Writes a block blob line by line: blocks of up to [`BLOCK_BYTES`] are uploaded as they
/// fill (Put Block) and committed by [`BlockBlobWriter::finish`] (Put Block List); a blob that
/// fits in one block is written with a single Put Blob.
pub struct BlockBlobWriter {
    url: String,
    content_type: &'static str,
    buf: Vec<u8>,
    blocks: Vec<String>,
}

impl std::fmt::Debug for BlockBlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockBlobWriter")
            .field("blob", &redact(&self.url))
            .field("blocks", &self.blocks.len())
            .finish_non_exhaustive()
    }
}

impl BlockBlobWriter {
    /// A writer for the blob at `sas_url` (checked now; nothing is sent until data fills a
    /// block or `finish`).
    pub fn new(sas_url: &str, content_type: &'static str) -> Result<Self, BlobError> {
        parse(sas_url)?;
        Ok(Self {
            url: sas_url.to_string(),
            content_type,
            buf: Vec::new(),
            blocks: Vec::new(),
        })
    }

    /// Appends `line` and a `\n`.
    pub async fn write_line(&mut self, line: &str) -> Result<(), BlobError> {
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        if self.buf.len() >= BLOCK_BYTES {
            self.put_block().await?;
        }
        Ok(())
    }

    async fn put_block(&mut self) -> Result<(), BlobError> {
        use base64::Engine as _;
        let id = base64::engine::general_purpose::STANDARD
            .encode(format!("block-{:08}", self.blocks.len()));
        let enc: String =
            percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let url = with_query(&self.url, &format!("comp=block&blockid={enc}"));
        let body = std::mem::take(&mut self.buf);
        put(&url, "writing a block of blob", &[], body).await?;
        self.blocks.push(id);
        Ok(())
    }

    /// Uploads what is buffered and commits the blob.
    pub async fn finish(mut self) -> Result<(), BlobError> {
        if self.blocks.is_empty() {
            let body = std::mem::take(&mut self.buf);
            return put(
                &self.url,
                "writing blob",
                &[
                    ("x-ms-blob-type", "BlockBlob"),
                    ("x-ms-blob-content-type", self.content_type),
                ],
                body,
            )
            .await;
        }
        if !self.buf.is_empty() {
            self.put_block().await?;
        }
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in &self.blocks {
            xml.push_str("<Latest>");
            xml.push_str(id);
            xml.push_str("</Latest>");
        }
        xml.push_str("</BlockList>");
        let url = with_query(&self.url, "comp=blocklist");
        put(
            &url,
            "committing blob",
            &[("x-ms-blob-content-type", self.content_type)],
            xml.into_bytes(),
        )
        .await
    }
}

/// Writes an append blob (how the ADT import job writes its output log): created empty by
/// [`AppendBlobWriter::create`], lines buffered and appended by [`AppendBlobWriter::flush`]
/// (Append Block, at most [`BLOCK_BYTES`] each).
pub struct AppendBlobWriter {
    url: String,
    buf: Vec<u8>,
}

impl std::fmt::Debug for AppendBlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendBlobWriter")
            .field("blob", &redact(&self.url))
            .finish_non_exhaustive()
    }
}

impl AppendBlobWriter {
    /// Creates (or replaces) the append blob at `sas_url`.
    pub async fn create(sas_url: &str, content_type: &'static str) -> Result<Self, BlobError> {
        put(
            sas_url,
            "creating append blob",
            &[
                ("x-ms-blob-type", "AppendBlob"),
                ("x-ms-blob-content-type", content_type),
            ],
            Vec::new(),
        )
        .await?;
        Ok(Self {
            url: sas_url.to_string(),
            buf: Vec::new(),
        })
    }

    /// Buffers `line` and a `\n`; appends when the buffer nears a block.
    pub async fn write_line(&mut self, line: &str) -> Result<(), BlobError> {
        if !self.buf.is_empty() && self.buf.len() + line.len() + 1 > BLOCK_BYTES {
            self.flush().await?;
        }
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        Ok(())
    }

    /// Appends what is buffered (nothing sent when empty).
    pub async fn flush(&mut self) -> Result<(), BlobError> {
        while !self.buf.is_empty() {
            let n = self.buf.len().min(BLOCK_BYTES);
            let chunk: Vec<u8> = self.buf.drain(..n).collect();
            let url = with_query(&self.url, "comp=appendblock");
            put(&url, "appending to blob", &[], chunk).await?;
        }
        Ok(())
    }
}
