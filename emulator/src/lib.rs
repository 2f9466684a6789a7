//! Local in-memory emulator of the Azure IoT Hub service API and the Azure Digital Twins data plane.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let emu = azure_twins_emulator::Emulator::builder().tls(false).start().await?;
//! println!("{}", emu.iothub_connection_string());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! IoT Hub and Azure Digital Twins are served on two listeners (their paths overlap), each behind
//! the same fault-injection layer and, optionally, HTTPS with one self-signed certificate.
//!
//! The whole API is at the crate root:
//! - [`EmulatorBuilder`] (from [`Emulator::builder`]) configures TLS, the hub's host name,
//!   addresses, throttling and the request log, and starts an [`Emulator`], the handle;
//! - [`Emulator::faults`] injects faults ([`Faults`], [`FaultRule`], [`Fault`]) and
//!   [`Emulator::throttle`] reports what the throttles did ([`Throttle`], [`ClassStats`]);
//! - [`Emulator::register_method_handler`] and [`Emulator::register_invocation_handler`] answer
//!   direct methods, with `"*"` wildcards ([`MethodInvocation`]);
//! - [`Emulator::requests`] lists what both listeners were asked and answered
//!   ([`RecordedRequest`]), [`Emulator::telemetry`] the ADT telemetry received;
//! - [`Emulator::iothub`] plays the device side ([`IotHubService`]: cloud-to-device messages and
//!   their feedback, PnP model ids and reported properties).

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod api_versions;
mod digitaltwins;
mod faults;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod iothub;
mod query;
mod requests;
mod screen;
mod server;
mod storage;
mod throttle;
mod tls;

pub use api_versions::{
    DIGITAL_TWINS_NAMES as DIGITAL_TWINS_API_VERSIONS, IOTHUB as IOTHUB_API_VERSIONS,
};
pub use digitaltwins::TelemetryEvent;
pub use faults::{Fault, FaultMix, FaultRule, Faults, RetryAfter, Service};
pub use iothub::c2d::{
    C2dAck, C2dMessage, DEFAULT_LOCK_TIMEOUT as FEEDBACK_DEFAULT_LOCK_TIMEOUT,
    MAX_BATCH_RECORDS as FEEDBACK_MAX_BATCH_RECORDS,
    MAX_DELIVERY_COUNT as FEEDBACK_MAX_DELIVERY_COUNT, MAX_QUEUE_DEPTH as C2D_MAX_QUEUE_DEPTH,
};
pub use iothub::{IotHubService, MethodInvocation};
pub use requests::{DEFAULT_REQUEST_LOG_CAPACITY, RecordedRequest};
pub use throttle::{ClassStats, OpClass, Throttle, ThrottleConfig, Tier};

use serde_json::Value;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Configures and starts an [`Emulator`].
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    tls: bool,
    host_name: Option<String>,
    log_requests: bool,
    adt_bearer_token: Option<String>,
    iothub_addr: SocketAddr,
    adt_addr: SocketAddr,
    throttle: ThrottleConfig,
    request_log_capacity: usize,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        Self {
            tls: false,
            host_name: None,
            log_requests: false,
            adt_bearer_token: None,
            iothub_addr: any,
            adt_addr: any,
            throttle: ThrottleConfig::default(),
            request_log_capacity: requests::DEFAULT_REQUEST_LOG_CAPACITY,
        }
    }
}

impl EmulatorBuilder {
    /// `true`: serve HTTPS with a self-signed certificate for `localhost` and `127.0.0.1` (and the
    /// [host name](EmulatorBuilder::host_name), if one is set).
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// `Some("name")` or `Some("name:port")`: the hub's host name, as a real hub's
    /// `myhub.azure-devices.net`. The connection string says `HostName=name` with `:port` unless
    /// the port is 443, SAS tokens must name exactly that host (`sr=name`, or a path below it;
    /// URL-encoded or not, any case), the endpoints use it, and the TLS certificate is also valid
    /// for `name`. The port is the one clients connect to: by default the IoT Hub listener's;
    /// give `name:443` when a redirect (iptables, socat) forwards port 443 to the listener. The
    /// name must resolve to the listener's machine (`localhost`, an `/etc/hosts` entry, …).
    /// `None` (the default): `127.0.0.1:<port>` (or the bound IP); tokens may also name
    /// `localhost:<port>` (and the bare hosts on port 443).
    ///
    /// [`EmulatorBuilder::start`] refuses a name that is empty, longer than 253 characters, has
    /// characters other than letters, digits, `-` and `.`, or a port that is not 1 to 65535.
    pub fn host_name<S: Into<String>>(mut self, name: Option<S>) -> Self {
        self.host_name = name.map(Into::into);
        self
    }

    /// `true`: write one line per request to stderr, `request iothub GET /twins/d1?api-version=2021-04-12
    /// user-agent="…"` (service, method, path and query, `User-Agent`; never a credential), e.g. to
    /// see which api-versions a client sends. Default `false`.
    pub fn log_requests(mut self, on: bool) -> Self {
        self.log_requests = on;
        self
    }

    /// `Some(t)`: the ADT listener requires exactly `Authorization: Bearer t`; `None`: any bearer token.
    pub fn adt_bearer_token<S: Into<String>>(mut self, token: Option<S>) -> Self {
        self.adt_bearer_token = token.map(Into::into);
        self
    }

    /// Address of the IoT Hub listener (default `127.0.0.1:0`, a free port).
    pub fn iothub_addr(mut self, addr: SocketAddr) -> Self {
        self.iothub_addr = addr;
        self
    }

    /// Address of the ADT listener (default `127.0.0.1:0`, a free port).
    pub fn adt_addr(mut self, addr: SocketAddr) -> Self {
        self.adt_addr = addr;
        self
    }

    /// Throttles the IoT Hub listener at the documented rates of `tier` × `units` (identity
    /// registry, twin reads and updates, queries, jobs, direct methods by payload bytes,
    /// configurations): bursts are served, then queued at the rate, then refused with 429
    /// `ThrottlingException` (see [`Throttle`]). Off by default. `units` below 1 count as 1.
    pub fn iothub_tier(mut self, tier: Tier, units: u32) -> Self {
        self.throttle.iothub = Some((tier, units.max(1)));
        self
    }

    /// `true`: throttles the ADT listener at the documented rates (twin reads and patches,
    /// creates/deletes, 10 writes/s per twin, query requests and query units, models, event
    /// routes), answering 429 with `Retry-After`. Off by default.
    pub fn adt_throttle(mut self, on: bool) -> Self {
        self.throttle.adt = on;
        self
    }

    /// Test-only speed-up: multiplies every throttle rate by `factor` (default 1.0, the
    /// documented rates). Burst and queue sizes stay those of the documented rates. Values
    /// that are not finite and positive are refused by [`EmulatorBuilder::start`].
    pub fn throttle_speed(mut self, factor: f64) -> Self {
        self.throttle.speed = factor;
        self
    }

    /// How many requests [`Emulator::requests`] keeps (default
    /// [`DEFAULT_REQUEST_LOG_CAPACITY`], 10,000): when full, the oldest entry is dropped for
    /// each new one ([`Emulator::request_count`] still counts it). `0` turns the log off.
    pub fn request_log_capacity(mut self, entries: usize) -> Self {
        self.request_log_capacity = entries;
        self
    }

    /// Binds both listeners and starts serving.
    pub async fn start(self) -> std::io::Result<Emulator> {
        if !(self.throttle.speed.is_finite() && self.throttle.speed > 0.0) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "throttle speed must be a finite number above 0, got {}",
                    self.throttle.speed
                ),
            ));
        }
        let named = match &self.host_name {
            Some(name) => Some(
                parse_host_name(name)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
            ),
            None => None,
        };
        let hub_listener = TcpListener::bind(self.iothub_addr).await?;
        let adt_listener = TcpListener::bind(self.adt_addr).await?;
        let hub_local = hub_listener.local_addr()?;
        let adt_local = adt_listener.local_addr()?;
        let tls = if self.tls {
            Some(tls::generate(named.as_ref().map(|(n, _)| n.as_str()))?)
        } else {
            None
        };
        let with_port = |host: &str, port: u16| {
            if port == 443 {
                host.to_string()
            } else {
                format!("{host}:{port}")
            }
        };
        let port = hub_local.port();
        // The port clients reach the hub on: the listener's, or the one the host name gives.
        let hub_port = named.as_ref().and_then(|(_, p)| *p).unwrap_or(port);
        let (hub_host, hosts) = match &named {
            // A named hub accepts tokens for its name only, as the service does.
            Some((name, _)) => {
                let host = with_port(name, hub_port);
                (host.clone(), vec![host])
            }
            None => {
                let ip = if hub_local.ip().is_unspecified() || hub_local.ip().is_loopback() {
                    "127.0.0.1".to_string()
                } else {
                    hub_local.ip().to_string()
                };
                let mut hosts = vec![
                    format!("{ip}:{port}"),
                    format!("localhost:{port}"),
                    format!("{}:{port}", hub_local.ip()),
                ];
                if port == 443 {
                    hosts.extend([ip.clone(), "localhost".into(), hub_local.ip().to_string()]);
                }
                (with_port(&ip, port), hosts)
            }
        };
        let iothub = iothub::IotHubService::new(hosts);
        let adt = digitaltwins::DigitalTwinsService::new(digitaltwins::DigitalTwinsOptions {
            bearer_token: self.adt_bearer_token.clone(),
            tls: self.tls,
        });
        let faults = Arc::new(Faults::default());
        let throttle = Arc::new(Throttle::new(self.throttle.clone()));
        let log = Arc::new(requests::RequestLog::new(self.request_log_capacity));
        let (shutdown, rx) = watch::channel(false);
        let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
        let hub_router = iothub.router().merge(faults::admin_router(faults.clone()));
        let adt_router = adt.router().merge(faults::admin_router(faults.clone()));
        let tasks = vec![
            tokio::spawn(server::serve(
                hub_listener,
                hub_router,
                acceptor.clone(),
                faults.clone(),
                throttle.clone(),
                Service::IotHub,
                self.log_requests,
                log.clone(),
                rx.clone(),
            )),
            tokio::spawn(server::serve(
                adt_listener,
                adt_router,
                acceptor,
                faults.clone(),
                throttle.clone(),
                Service::DigitalTwins,
                self.log_requests,
                log.clone(),
                rx,
            )),
        ];
        let scheme_host = |addr: SocketAddr, port: u16| match (&tls, &named) {
            (Some(_), Some((name, _))) => format!("https://{}", with_port(name, port)),
            (Some(_), None) => format!("https://{}", with_port("localhost", port)),
            (None, Some((name, _))) => format!("http://{name}:{port}"),
            (None, None) => format!("http://{}", host_of(addr)),
        };
        Ok(Emulator {
            iothub_endpoint: scheme_host(hub_local, hub_port),
            adt_endpoint: scheme_host(adt_local, adt_local.port()),
            iothub_host: hub_host,
            iothub_local: hub_local,
            adt_local,
            ca_pem: tls.map(|t| t.cert_pem),
            iothub,
            adt,
            faults,
            throttle,
            log,
            shutdown,
            tasks,
        })
    }
}

/// Splits a [host name](EmulatorBuilder::host_name) into the name and the optional port clients
/// connect to, or says what is wrong with it.
fn parse_host_name(given: &str) -> Result<(String, Option<u16>), String> {
    let (name, port) = match given.split_once(':') {
        Some((name, port)) => match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => (name, Some(p)),
            _ => {
                return Err(format!(
                    "host name '{given}': the port after ':' must be a number from 1 to 65535, got '{port}'"
                ));
            }
        },
        None => (given, None),
    };
    check_host_name(name)?;
    Ok((name.to_string(), port))
}

/// Checks the name part of a [host name](EmulatorBuilder::host_name).
fn check_host_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 253 {
        return Err(format!(
            "host name must be 1 to 253 characters, got {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(format!(
            "host name '{name}' has '{c}': only letters, digits, '-' and '.' are allowed, then an optional :PORT (no scheme or path)"
        ));
    }
    if name.starts_with(['.', '-']) || name.ends_with('-') || name.contains("..") {
        return Err(format!(
            "host name '{name}' is not a DNS name (a label is empty or starts/ends with '-')"
        ));
    }
    Ok(())
}

/// `127.0.0.1:<port>` for loopback/unspecified binds, else `<ip>:<port>`.
fn host_of(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() || addr.ip().is_loopback() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// A running emulator. Dropping it stops the listeners; [`Emulator::shutdown`] also waits for them.
pub struct Emulator {
    iothub_endpoint: String,
    adt_endpoint: String,
    iothub_host: String,
    iothub_local: SocketAddr,
    adt_local: SocketAddr,
    ca_pem: Option<String>,
    iothub: iothub::IotHubService,
    adt: digitaltwins::DigitalTwinsService,
    faults: Arc<Faults>,
    throttle: Arc<Throttle>,
    log: Arc<requests::RequestLog>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("iothub_endpoint", &self.iothub_endpoint)
            .field("adt_endpoint", &self.adt_endpoint)
            .field("tls", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// A builder with defaults: plain HTTP, any ADT bearer token, free loopback ports.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// `HostName=127.0.0.1:<port>;SharedAccessKeyName=iothubowner;SharedAccessKey=<b64>` (the
    /// [host name](EmulatorBuilder::host_name) if set; no `:<port>` on port 443).
    pub fn iothub_connection_string(&self) -> String {
        self.iothub_policy_connection_string("iothubowner")
            .unwrap_or_default()
    }

    /// Connection string of another policy: `service`, `registryRead`, `registryReadWrite` (or `iothubowner`),
    /// to test permission checks.
    pub fn iothub_policy_connection_string(&self, policy: &str) -> Option<String> {
        let key = self.iothub.policy_key(policy)?;
        Some(format!(
            "HostName={};SharedAccessKeyName={policy};SharedAccessKey={key}",
            self.iothub_host
        ))
    }

    /// The base64 shared access key of a policy (`iothubowner`, `service`, …), for signing SAS
    /// tokens by hand (as a bare HTTP client would).
    pub fn iothub_policy_key(&self, policy: &str) -> Option<String> {
        self.iothub.policy_key(policy).map(|k| k.to_string())
    }

    /// `127.0.0.1:<port>` (or the [host name](EmulatorBuilder::host_name); no `:<port>` on
    /// port 443): the connection string's `HostName`, the host SAS tokens are scoped to.
    pub fn iothub_host(&self) -> String {
        self.iothub_host.clone()
    }

    /// `http://127.0.0.1:<port>`, or `https://localhost:<port>` with TLS (the
    /// [host name](EmulatorBuilder::host_name) instead if set; no `:443`).
    pub fn iothub_endpoint(&self) -> String {
        self.iothub_endpoint.clone()
    }

    /// `http://127.0.0.1:<port>`, or `https://localhost:<port>` with TLS (the
    /// [host name](EmulatorBuilder::host_name) instead if set; no `:443`).
    pub fn adt_endpoint(&self) -> String {
        self.adt_endpoint.clone()
    }

    /// The address the IoT Hub listener is bound to (its real port even when the
    /// [host name](EmulatorBuilder::host_name) gives clients another one).
    pub fn iothub_local_addr(&self) -> SocketAddr {
        self.iothub_local
    }

    /// The address the ADT listener is bound to.
    pub fn adt_local_addr(&self) -> SocketAddr {
        self.adt_local
    }

    /// PEM of the self-signed certificate when TLS is on, for clients to trust.
    pub fn ca_certificate_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// The emulated IoT Hub's in-process API (cloud-to-device queues, device-side PnP state).
    pub fn iothub(&self) -> &iothub::IotHubService {
        &self.iothub
    }

    /// Fault-injection controls (both listeners).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The throttles (configuration and, per operation class, how many requests were served at
    /// once, queued or refused).
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// The requests both listeners answered or dropped, oldest first: the newest
    /// [`EmulatorBuilder::request_log_capacity`] (10,000 by default) since the start or the last
    /// [`Emulator::clear_requests`]. A request is recorded when its answer's headers are ready
    /// (or its connection is dropped by a fault), so a test that awaited a response sees it; a
    /// request whose client gave up before the answer is not recorded. No header values are
    /// kept, and credential-like query values are redacted (see [`RecordedRequest`]).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.entries()
    }

    /// How many requests were recorded since the start or the last [`Emulator::clear_requests`],
    /// including those the log no longer holds because it was full.
    pub fn request_count(&self) -> u64 {
        self.log.total()
    }

    /// Empties the request log and resets [`Emulator::request_count`].
    pub fn clear_requests(&self) {
        self.log.clear();
    }

    /// Answers direct method `method_name` on a device (or module) with `handler(payload) -> (status, payload)`.
    ///
    /// `"*"` as the device id, the module id or the method name matches any (see
    /// [`Emulator::register_invocation_handler`], whose handler also learns which device,
    /// module and method were called). A call without a matching handler gets 404
    /// `DeviceNotOnline` (a PnP command on a device that has a handler for some other method:
    /// status 501, as a connected device that does not implement it answers); a call on an
    /// unknown device 404 `DeviceNotFound`.
    pub fn register_method_handler<F>(
        &self,
        device_id: &str,
        module_id: Option<&str>,
        method_name: &str,
        handler: F,
    ) where
        F: Fn(Value) -> (i32, Value) + Send + Sync + 'static,
    {
        self.register_invocation_handler(device_id, module_id, method_name, move |call| {
            handler(call.payload)
        });
    }

    /// Like [`Emulator::register_method_handler`] with an async handler (e.g. one that sleeps to test timeouts).
    pub fn register_async_method_handler<F, Fut>(
        &self,
        device_id: &str,
        module_id: Option<&str>,
        method_name: &str,
        handler: F,
    ) where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = (i32, Value)> + Send + 'static,
    {
        self.register_async_invocation_handler(device_id, module_id, method_name, move |call| {
            handler(call.payload)
        });
    }

    /// Answers direct method `method_name` on a device (or module) with
    /// `handler(call) -> (status, payload)`, where the [`MethodInvocation`] names the device,
    /// module and method called and carries the payload.
    ///
    /// `"*"` is a wildcard: as `device_id` it matches any registered device, as `module_id`
    /// (`Some("*")`) any module of the device (not the device itself: `None` means the device),
    /// as `method_name` any method. A call is answered by the most specific registration: the
    /// exact device id before `"*"`, then the exact module id before `"*"`, then the exact method
    /// name before `"*"`. So one handler registered for `("*", None, "*")` answers every method
    /// on every device, and an exact registration still wins over it. Registering the same key
    /// again replaces the handler. The device (and module) must exist: an unknown one still gets
    /// 404 `DeviceNotFound` (`ModuleNotFound`).
    ///
    /// ```no_run
    /// # async fn demo(emu: &azure_twins_emulator::Emulator) {
    /// use serde_json::json;
    /// // Every device answers every method with the name of what was called.
    /// emu.register_invocation_handler("*", None, "*", |call| {
    ///     (200, json!({"device": call.device_id, "method": call.method_name}))
    /// });
    /// // …except reboot on d1.
    /// emu.register_method_handler("d1", None, "reboot", |_| (500, json!("busy")));
    /// # }
    /// ```
    pub fn register_invocation_handler<F>(
        &self,
        device_id: &str,
        module_id: Option<&str>,
        method_name: &str,
        handler: F,
    ) where
        F: Fn(MethodInvocation) -> (i32, Value) + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        self.iothub.register_method_handler(
            device_id,
            module_id,
            method_name,
            Arc::new(move |call| {
                let r = handler(call);
                Box::pin(async move { r })
            }),
        );
    }

    /// Like [`Emulator::register_invocation_handler`] with an async handler.
    pub fn register_async_invocation_handler<F, Fut>(
        &self,
        device_id: &str,
        module_id: Option<&str>,
        method_name: &str,
        handler: F,
    ) where
        F: Fn(MethodInvocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = (i32, Value)> + Send + 'static,
    {
        self.iothub.register_method_handler(
            device_id,
            module_id,
            method_name,
            Arc::new(move |call| Box::pin(handler(call))),
        );
    }

    /// Telemetry received by the ADT listener, oldest first.
    pub fn telemetry(&self) -> Vec<digitaltwins::TelemetryEvent> {
        self.adt.telemetry()
    }

    /// How many different IoT Hub SAS tokens were accepted (proves client-side token caching).
    pub fn distinct_sas_tokens_seen(&self) -> usize {
        self.iothub.distinct_sas_tokens_seen()
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s) and waits for both listeners.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        self.iothub.shutdown();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.iothub.shutdown();
    }
}
