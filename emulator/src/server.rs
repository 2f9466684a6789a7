//! The accept loop shared by both listeners: HTTP/1.1 with keep-alive (optionally over TLS),
//! fault injection around routing (a dropped connection needs the connection, not just the
//! request; post-commit faults run the router to the end and then drop, delay or replace its
//! answer), and graceful shutdown.

use crate::faults::{Fault, Faults, Service, fault_response};
use crate::requests::{RecordedRequest, RequestLog, redact_query};
use crate::throttle::Throttle;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// How long shutdown waits for in-flight requests before closing connections.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` flips (or its sender is dropped), recording
/// every answered or dropped request in `log`; with `log_requests`, also writes one line per
/// request to stderr (see [`log_line`]).
#[allow(clippy::too_many_arguments)] // one value per listener setting
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    faults: Arc<Faults>,
    throttle: Arc<Throttle>,
    service: Service,
    log_requests: bool,
    log: Arc<RequestLog>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors (or another accept error): back off instead of
                    // spinning on an error that repeats until a connection closes.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (router, faults, tls, shutdown) = (router.clone(), faults.clone(), tls.clone(), shutdown.clone());
                let (throttle, log) = (throttle.clone(), log.clone());
                conns.spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                                connection(s, router, faults, throttle, service, log_requests, log, shutdown).await;
                            }
                        }
                        None => connection(stream, router, faults, throttle, service, log_requests, log, shutdown).await,
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
        // Reap finished connection tasks so the set does not grow without bound.
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, async { while conns.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        conns.abort_all();
    }
}

/// `request iothub GET /twins/d1?api-version=2021-04-12 user-agent="…"`: what a client sent,
/// without headers that carry credentials, credential-like query values redacted (the
/// services' own query strings carry none).
pub(crate) fn log_line<B>(service: Service, req: &hyper::Request<B>) -> String {
    let name = match service {
        Service::IotHub => "iothub",
        Service::DigitalTwins => "adt",
    };
    let agent = req
        .headers()
        .get(hyper::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let path = req.uri().path();
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{}", redact_query(q)))
        .unwrap_or_default();
    format!(
        "request {name} {} {path}{query} user-agent={agent:?}",
        req.method()
    )
}

#[allow(clippy::too_many_arguments)] // the listener settings, passed on
async fn connection<S>(
    io: S,
    router: Router,
    faults: Arc<Faults>,
    throttle: Arc<Throttle>,
    service: Service,
    log_requests: bool,
    log: Arc<RequestLog>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let kill = Arc::new(Notify::new());
    let kill2 = kill.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let router = router.clone();
        let faults = faults.clone();
        let throttle = throttle.clone();
        let kill = kill2.clone();
        let log = log.clone();
        async move {
            if log_requests {
                eprintln!("{}", log_line(service, &req));
            }
            // What the request log keeps of the request (no headers; credential-like query
            // values redacted); `record` adds the outcome.
            let asked = log.is_on().then(|| {
                (
                    req.method().to_string(),
                    req.uri().path().to_owned(),
                    req.uri().query().map(redact_query),
                    SystemTime::now(),
                    Instant::now(),
                )
            });
            let record = |status: Option<u16>, fault: Option<Fault>| {
                if let Some((method, path, query, received_at, started)) = &asked {
                    log.push(RecordedRequest {
                        service,
                        method: method.clone(),
                        path: path.clone(),
                        query: query.clone(),
                        status,
                        fault,
                        received_at: *received_at,
                        duration: started.elapsed(),
                    });
                }
            };
            let drop_connection = |fault: Fault| {
                record(None, Some(fault));
                kill.notify_one();
                std::future::pending::<Result<axum::response::Response, Infallible>>()
            };
            // Throttling (off unless configured) meters the request before any fault or
            // handler: a queued request waits here, a refused one gets the service's 429.
            if let Err(refused) = throttle
                .admit(service, req.method(), req.uri().path(), req.headers())
                .await
            {
                record(Some(refused.status().as_u16()), None);
                return Ok(refused);
            }
            let query_path = (service == Service::DigitalTwins && throttle.is_on(service))
                .then(|| req.uri().path().to_owned());
            let fault = faults.pick(service, req.method(), req.uri().path());
            let answer = match fault {
                Some(Fault::DropConnection) => drop_connection(Fault::DropConnection).await,
                Some(f) if f.is_post_commit() => {
                    // The handler runs to completion (its write is committed; every handler
                    // builds its whole body before returning), then only the answer changes.
                    let answer = router.oneshot(req).await;
                    match f {
                        Fault::ApplyThenDrop => {
                            drop(answer);
                            drop_connection(f).await
                        }
                        Fault::ApplyThenDelay { delay_ms } => {
                            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                            answer
                        }
                        _ => {
                            drop(answer);
                            Ok(fault_response(service, f))
                        }
                    }
                }
                Some(f) => Ok(fault_response(service, f)),
                None => router.oneshot(req).await,
            };
            if let (Some(path), Ok(resp)) = (&query_path, &answer) {
                throttle.debit_query_units(service, path, resp.headers());
            }
            if let Ok(resp) = &answer {
                record(Some(resp.status().as_u16()), fault);
            }
            answer
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        // A client that shuts down its write side after a (possibly truncated) request still
        // gets its answer: without this, hyper closes the connection as soon as it reads EOF
        // mid-request, racing the handler's 400 (seen as a rare empty answer under load).
        .half_close(true)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = kill.notified() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN, conn.as_mut()).await;
        }
    }
}
