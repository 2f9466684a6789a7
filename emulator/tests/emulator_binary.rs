//! The `azure-twins-emulator` binary: prints its endpoints, serves, and exits 0 on SIGTERM.

mod iothub_support;

use iothub_support::{API, in_an_hour, parse_cs, sign};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn spawn(args: &[&str]) -> (Child, Vec<(String, String)>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_azure-twins-emulator"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let expected = if args.contains(&"--tls") { 3 } else { 2 };
    let mut vars = Vec::new();
    for _ in 0..expected {
        let line = lines.next().expect("a line").expect("utf-8");
        let (k, v) = line.split_once('=').expect("KEY=value");
        vars.push((k.to_string(), v.to_string()));
    }
    (child, vars)
}

fn terminate(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("child exits");
    assert!(exit.success(), "exit status {exit:?}");
}

/// The ADT listener's admin route answers 200 (the client is dropped before the child ends).
async fn assert_faults_route_answers(client: reqwest::Client, adt_endpoint: &str) {
    let r = client
        .get(format!("{adt_endpoint}/_emulator/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn binary_serves_and_exits_cleanly_on_sigterm() {
    iothub_support::crypto();
    let (child, vars) = spawn(&[]);
    assert_eq!(vars[0].0, "IOTHUB_CONNECTION_STRING");
    assert_eq!(vars[1].0, "ADT_ENDPOINT");
    let (host, policy, key) = parse_cs(&vars[0].1);
    assert!(host.starts_with("127.0.0.1:"));
    let token = sign(&host, &policy, &key, in_an_hour());
    let client = reqwest::Client::new();
    let r = client
        .put(format!("http://{host}/devices/bin1?api-version={API}"))
        .header("authorization", token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_faults_route_answers(client, &vars[1].1).await;
    terminate(child);
}

#[tokio::test]
async fn binary_tls_writes_the_certificate() {
    iothub_support::crypto();
    let dir = std::env::temp_dir().join(format!("emu-bin-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("ca.pem");
    let (child, vars) = spawn(&["--tls", "--cert-out", cert.to_str().unwrap()]);
    assert_eq!(vars[2], ("CA_CERT".to_string(), cert.display().to_string()));
    assert!(vars[1].1.starts_with("https://localhost:"));
    let pem = std::fs::read(&cert).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    assert_faults_route_answers(client, &vars[1].1).await;
    terminate(child);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_arguments_exit_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_azure-twins-emulator"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument '--bogus'"));
    let out = Command::new(env!("CARGO_BIN_EXE_azure-twins-emulator"))
        .args(["--listen", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}

#[tokio::test]
async fn binary_host_name_and_request_log() {
    iothub_support::crypto();
    let dir = std::env::temp_dir().join(format!("emu-bin-host-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_azure-twins-emulator"))
        .args(["--tls", "--cert-out", cert.to_str().unwrap()])
        .args(["--host-name", "hub.example.test", "--log-requests"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap();
    let cs = next()
        .strip_prefix("IOTHUB_CONNECTION_STRING=")
        .unwrap()
        .to_string();
    let adt = next().strip_prefix("ADT_ENDPOINT=").unwrap().to_string();
    assert!(next().starts_with("CA_CERT="));
    let (host, policy, key) = parse_cs(&cs);
    let port: u16 = host
        .strip_prefix("hub.example.test:")
        .expect("HostName=hub.example.test:<port>")
        .parse()
        .unwrap();
    assert!(adt.starts_with("https://hub.example.test:"), "{adt}");
    let pem = std::fs::read(&cert).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .resolve("hub.example.test", ([127, 0, 0, 1], port).into())
        .user_agent("host-name-test/1.0")
        .build()
        .unwrap();
    let r = client
        .get(format!("https://{host}/devices?api-version={API}"))
        .header("authorization", sign(&host, &policy, &key, in_an_hour()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(client);
    let mut stderr = child.stderr.take().unwrap();
    terminate(child);
    let mut log = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
    assert!(
        log.lines().any(|l| l
            == format!(
                "request iothub GET /devices?api-version={API} user-agent=\"host-name-test/1.0\""
            )),
        "{log}"
    );
    assert!(
        !log.contains("SharedAccessSignature"),
        "no credential in the log: {log}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_host_name_exits_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_azure-twins-emulator"))
        .args(["--host-name", "hub.example.test/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("host name 'hub.example.test/x' has '/'"),
        "{err}"
    );
    assert!(err.contains("usage:"), "{err}");
}
