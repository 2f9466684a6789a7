//! `azure-twins-emulator [--listen ADDR] [--adt-listen ADDR] [--host-name NAME[:PORT]] [--tls] [--cert-out FILE] [--adt-token TOKEN] [--log-requests] [--iothub-tier TIER --iothub-units N] [--adt-throttle]`
//!
//! Prints `IOTHUB_CONNECTION_STRING=…`, `ADT_ENDPOINT=…` and, with `--tls`, `CA_CERT=<path>`, one per
//! line, then serves until SIGINT or SIGTERM and exits 0.

use std::net::SocketAddr;
use std::process::ExitCode;

const USAGE: &str = "usage: azure-twins-emulator [--listen ADDR] [--adt-listen ADDR] [--host-name NAME[:PORT]] [--tls] [--cert-out FILE] [--adt-token TOKEN] [--log-requests] [--iothub-tier TIER [--iothub-units N]] [--adt-throttle]

  --listen ADDR      IoT Hub listener (default 127.0.0.1:0 = free port); ADT uses the next port unless --adt-listen
  --adt-listen ADDR  Azure Digital Twins listener (default: same IP, IoT Hub port + 1, or a free port)
  --host-name NAME[:PORT]
                     the hub's host name, like a real hub's: HostName=NAME in the connection string (with :PORT
                     unless it is 443), SAS tokens must name it, endpoints use it and the certificate is valid for
                     NAME; PORT is the port clients connect to (default: the listener's; NAME:443 behind a
                     redirect of port 443); NAME must resolve to the listener (default: 127.0.0.1:PORT)
  --tls              serve HTTPS with a self-signed certificate for localhost, 127.0.0.1 (and --host-name)
  --cert-out FILE    where to write the certificate PEM with --tls (default: a file in the temp directory)
  --adt-token TOKEN  require exactly this ADT bearer token (default: any)
  --log-requests     print one line per request to stderr: service, method, path?query, User-Agent
  --iothub-tier TIER throttle the hub at the documented rates of TIER (F1, B1, B2, B3, S1, S2, S3): bursts are
                     served, then queued at the rate, then refused with 429 ThrottlingException (default: off)
  --iothub-units N   units of --iothub-tier (default 1)
  --adt-throttle     throttle Azure Digital Twins at the documented rates (429 with Retry-After; default: off)";

struct Args {
    listen: SocketAddr,
    adt_listen: Option<SocketAddr>,
    host_name: Option<String>,
    tls: bool,
    cert_out: Option<std::path::PathBuf>,
    adt_token: Option<String>,
    log_requests: bool,
    tier: Option<azure_twins_emulator::Tier>,
    units: Option<u32>,
    adt_throttle: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        adt_listen: None,
        host_name: None,
        tls: false,
        cert_out: None,
        adt_token: None,
        log_requests: false,
        tier: None,
        units: None,
        adt_throttle: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                args.listen = v
                    .parse()
                    .map_err(|e| format!("--listen '{v}' is not IP:PORT: {e}"))?;
            }
            "--adt-listen" => {
                let v = value("--adt-listen")?;
                args.adt_listen = Some(
                    v.parse()
                        .map_err(|e| format!("--adt-listen '{v}' is not IP:PORT: {e}"))?,
                );
            }
            "--host-name" => args.host_name = Some(value("--host-name")?),
            "--tls" => args.tls = true,
            "--log-requests" => args.log_requests = true,
            "--iothub-tier" => args.tier = Some(value("--iothub-tier")?.parse()?),
            "--iothub-units" => {
                let v = value("--iothub-units")?;
                args.units = Some(v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    format!("--iothub-units '{v}' is not a whole number of at least 1")
                })?);
            }
            "--adt-throttle" => args.adt_throttle = true,
            "--cert-out" => args.cert_out = Some(value("--cert-out")?.into()),
            "--adt-token" => args.adt_token = Some(value("--adt-token")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if args.units.is_some() && args.tier.is_none() {
        return Err("--iothub-units needs --iothub-tier".into());
    }
    if args.cert_out.is_some() && !args.tls {
        return Err("--cert-out only makes sense with --tls".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let adt_addr = args.adt_listen.unwrap_or_else(|| {
        let port = if args.listen.port() == 0 {
            0
        } else {
            args.listen.port().saturating_add(1)
        };
        SocketAddr::new(args.listen.ip(), port)
    });
    let mut builder = azure_twins_emulator::Emulator::builder();
    if let Some(tier) = args.tier {
        builder = builder.iothub_tier(tier, args.units.unwrap_or(1));
    }
    let emu = match builder
        .adt_throttle(args.adt_throttle)
        .tls(args.tls)
        .host_name(args.host_name)
        .log_requests(args.log_requests)
        .adt_bearer_token(args.adt_token)
        .iothub_addr(args.listen)
        .adt_addr(adt_addr)
        .start()
        .await
    {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: cannot start the emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "IOTHUB_CONNECTION_STRING={}",
        emu.iothub_connection_string()
    );
    println!("ADT_ENDPOINT={}", emu.adt_endpoint());
    if let Some(pem) = emu.ca_certificate_pem() {
        let path = args.cert_out.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("azure-twins-emulator-{}.pem", std::process::id()))
        });
        if let Err(e) = std::fs::write(&path, pem) {
            eprintln!(
                "error: cannot write the certificate to {}: {e}",
                path.display()
            );
            return ExitCode::FAILURE;
        }
        println!("CA_CERT={}", path.display());
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen for SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    emu.shutdown().await;
    ExitCode::SUCCESS
}
