//! A minimal HTTP/1.1 forward proxy on loopback for the proxy tests: absolute-form requests
//! (`GET http://127.0.0.1:port/path HTTP/1.1`) are forwarded one per connection (the proxy
//! adds `Connection: close`, so every request the client makes is seen and counted), and
//! `CONNECT host:port` is tunnelled byte for byte (TLS stays end to end). It only connects to
//! loopback, and can require a `Proxy-Authorization` value (407 otherwise).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Forwarded absolute-form requests: `"GET http://127.0.0.1:1234/path"`.
    pub forwarded: Vec<String>,
    /// Tunnels opened: `"localhost:1234"`.
    pub tunnels: Vec<String>,
    /// The `Proxy-Authorization` header of every request (forwarded, tunnelled or refused).
    pub proxy_auth: Vec<Option<String>>,
    /// Requests refused with 407.
    pub refused: usize,
}

pub struct TestProxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl TestProxy {
    /// A proxy that requires no authentication.
    pub async fn start() -> TestProxy {
        TestProxy::start_with_auth(None).await
    }

    /// A proxy that answers 407 unless `Proxy-Authorization` is exactly `required`.
    pub async fn start_with_auth(required: Option<String>) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (s2, t2) = (seen.clone(), tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let task = tokio::spawn(handle(conn, s2.clone(), required.clone()));
                t2.lock().unwrap().push(task);
            }
        });
        TestProxy {
            addr,
            seen,
            tasks,
            accept,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    /// Stops accepting and cuts every open connection and tunnel.
    pub fn shutdown(&self) {
        self.accept.abort();
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn handle(mut client: TcpStream, seen: Arc<Mutex<Seen>>, required: Option<String>) {
    // Read the request head.
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let rest = buf[head_end..].to_vec();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let auth = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, v)| v.clone());
    seen.lock().unwrap().proxy_auth.push(auth.clone());
    if required.is_some() && auth != required {
        seen.lock().unwrap().refused += 1;
        let _ = client
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        return;
    }
    let mut parts = request_line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );

    if method == "CONNECT" {
        let Some(mut upstream) = connect_loopback(target).await else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
            return;
        };
        seen.lock().unwrap().tunnels.push(target.to_owned());
        if client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        if !rest.is_empty() && upstream.write_all(&rest).await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        return;
    }

    // Absolute form: http://host:port/path?query
    let Some(after) = target.strip_prefix("http://") else {
        let _ = client
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let (authority, path) = after
        .find('/')
        .map_or((after, "/"), |i| (&after[..i], &after[i..]));
    let Some(mut upstream) = connect_loopback(authority).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    seen.lock()
        .unwrap()
        .forwarded
        .push(format!("{method} {target}"));
    let version = parts.next().unwrap_or("HTTP/1.1");
    let mut out = format!("{method} {path} {version}\r\n");
    for (k, v) in &headers {
        let k_l = k.to_ascii_lowercase();
        if matches!(
            k_l.as_str(),
            "proxy-authorization" | "proxy-connection" | "connection" | "keep-alive"
        ) {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    if upstream.write_all(out.as_bytes()).await.is_err() || upstream.write_all(&rest).await.is_err()
    {
        return;
    }
    // The body (if any) flows on; the service closes after its answer (Connection: close).
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut uw).await;
    });
    let _ = tokio::io::copy(&mut ur, &mut cw).await;
    let _ = cw.shutdown().await;
    up.abort();
}

/// Connects to `host:port` if it is a loopback address (tests send traffic to loopback only).
async fn connect_loopback(authority: &str) -> Option<TcpStream> {
    let (host, port) = authority.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if !matches!(host, "127.0.0.1" | "localhost" | "::1") {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    TcpStream::connect(("127.0.0.1", port)).await.ok()
}
