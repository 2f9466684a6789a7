//! The tour: five seed operations on a tiny fleet and building, one line per step.
//!
//! ```text
//! cargo run --example tour
//! ```
//!
//! Without environment variables it starts the emulator in-process (IoT Hub and Azure Digital
//! Twins on loopback ports) and runs every step against it. With
//! `IOTHUB_CONNECTION_STRING=HostName=…;SharedAccessKeyName=…;SharedAccessKey=…` and/or
//! `ADT_ENDPOINT=<instance>.api.<region>.digitaltwins.azure.net` it runs the same steps against
//! the real services instead, and deletes what it created. ADT needs an Entra ID token for
//! `https://digitaltwins.azure.net`: set `ADT_TOKEN`, or be logged in with the Azure CLI
//! (`az login`; the tour then runs `az account get-access-token`).
//!
//! The steps live in [`run`], which returns one [`Step`] per step, so `tests/tour.rs` can run the
//! tour and check each outcome.

use std::time::{Duration, Instant};

use azure_twins::digitaltwins::{BasicDigitalTwin, DigitalTwinsClient, JsonPatch};
use azure_twins::iothub::TwinPatch;
use azure_twins::{Condition, Credential, Error, IotHubClient};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

/// The outcome of one step of the tour.
#[derive(Debug, Clone)]
pub struct Step {
    /// `iothub` or `adt`.
    pub service: &'static str,
    /// What the step does.
    pub name: &'static str,
    /// Whether it did what the tour expected (an expected 412 counts as success).
    pub ok: bool,
    /// What happened, in a few words.
    pub summary: String,
    /// Facts the tests check (counts, statuses, etags changed …).
    pub facts: Value,
    /// Wall-clock time of the step.
    pub elapsed: Duration,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:<6} {:<44} {:>6} ms  {}",
            if self.ok { "ok  " } else { "FAIL" },
            self.service,
            self.name,
            self.elapsed.as_millis(),
            self.summary
        )
    }
}

/// Names that do not collide with anything else on a real hub or instance.
#[derive(Debug, Clone)]
pub struct Names {
    /// Prefix of device ids and twin ids.
    pub prefix: String,
}

impl Names {
    /// Fixed names for the emulator, unique ones for live runs.
    pub fn new(live: bool) -> Self {
        let prefix = if live {
            format!("tour-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
        } else {
            "tour".to_owned()
        };
        Names { prefix }
    }
    fn device(&self, i: usize) -> String {
        format!("{}-dev-{i}", self.prefix)
    }
    fn room_model(&self) -> String {
        format!("dtmi:com:example:{}:Room;1", self.prefix.replace('-', "_"))
    }
    fn room(&self) -> String {
        format!("{}-room-1", self.prefix)
    }
}

/// Number of devices in the tiny fleet, and the query page size that spreads them over pages.
pub const DEVICES: usize = 6;
/// Query page size of the IoT Hub twin query step.
pub const PAGE_SIZE: u32 = 2;

/// Runs the tour; `on_step` sees each step as soon as it is done (the example prints it).
/// Either half is skipped when its client is `None`.
pub async fn run(
    hub: Option<&IotHubClient>,
    dt: Option<&DigitalTwinsClient>,
    names: &Names,
    live: bool,
    on_step: &mut dyn FnMut(&Step),
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut record = |s: Step, steps: &mut Vec<Step>| {
        on_step(&s);
        steps.push(s);
    };
    if let Some(hub) = hub {
        let all_ok = iothub_half(hub, names, live, &mut |s| record(s, &mut steps)).await;
        let s = timed("iothub", "clean up devices", async {
            let mut n = 0;
            for i in 0..DEVICES {
                match hub.delete_device(names.device(i)).send().await {
                    Ok(()) => n += 1,
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
            Ok((format!("deleted {n} devices"), json!({"deleted": n})))
        })
        .await;
        if all_ok || live {
            record(s, &mut steps);
        }
    }
    if let Some(dt) = dt {
        adt_half(dt, names, live, &mut |s| record(s, &mut steps)).await;
        let s = timed("adt", "clean up twin and model", async {
            match dt.delete_twin(names.room()).send().await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            match dt.delete_model(names.room_model()).send().await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            Ok(("deleted the twin and its model".to_owned(), json!({})))
        })
        .await;
        record(s, &mut steps);
    }
    steps
}

async fn timed<F>(service: &'static str, name: &'static str, f: F) -> Step
where
    F: Future<Output = Result<(String, Value), Error>>,
{
    let start = Instant::now();
    let (ok, summary, facts) = match f.await {
        Ok((summary, facts)) => (true, summary, facts),
        Err(e) => (
            false,
            format!("error: {e}"),
            json!({"error": e.to_string()}),
        ),
    };
    Step {
        service,
        name,
        ok,
        summary,
        facts,
        elapsed: start.elapsed(),
    }
}

/// Returns false when a step failed (the later steps of the half are skipped).
async fn iothub_half(hub: &IotHubClient, n: &Names, live: bool, out: &mut dyn FnMut(Step)) -> bool {
    let s = timed("iothub", "create 6 devices and a module", async {
        for i in 0..DEVICES {
            hub.create_device(n.device(i)).send().await?;
            hub.update_twin(n.device(i))
                .tags(json!({"tour": n.prefix, "floor": i / 3}))
                .send()
                .await?;
        }
        hub.create_module(n.device(0), "sensor").send().await?;
        Ok((
            format!(
                "{}..{} tagged tour={}, module {}/sensor",
                n.device(0),
                n.device(DEVICES - 1),
                n.prefix,
                n.device(0)
            ),
            json!({"devices": DEVICES, "module": "sensor"}),
        ))
    })
    .await;
    let ok = s.ok;
    out(s);
    if !ok {
        return false;
    }

    let s = timed(
        "iothub",
        "module twin: stale etag (412), then fresh",
        async {
            let first = hub.get_module_twin(n.device(0), "sensor").send().await?;
            let second = hub
                .update_module_twin(n.device(0), "sensor")
                .desired(json!({"interval": 10}))
                .send()
                .await?;
            let stale = hub
                .update_module_twin(n.device(0), "sensor")
                .desired(json!({"interval": 20}))
                .if_match(&first.etag)
                .send()
                .await;
            let got_412 = matches!(&stale, Err(e) if e.is_precondition_failed());
            if !got_412 {
                return Err(Error::new(
                    azure_twins::ErrorKind::Other,
                    format!("expected 412 for the stale etag, got {stale:?}"),
                ));
            }
            let fresh = hub
                .update_module_twin(n.device(0), "sensor")
                .desired(json!({"interval": 20}))
                .if_match(&second.etag)
                .send()
                .await?;
            Ok((
                format!(
                    "stale etag -> 412 PreconditionFailed; fresh etag -> updated ({})",
                    fresh.etag
                ),
                json!({"stale_status": 412, "fresh_etag_changed": fresh.etag != second.etag}),
            ))
        },
    )
    .await;
    let ok = s.ok;
    out(s);
    if !ok {
        return false;
    }

    let s = timed("iothub", "query twins across pages", async {
        let q = format!("SELECT * FROM devices WHERE tags.tour = '{}'", n.prefix);
        // A real hub indexes new twins with a delay of seconds: retry until all are visible.
        let deadline = Instant::now() + Duration::from_secs(if live { 60 } else { 0 });
        loop {
            let mut pages = hub
                .query(q.clone())
                .page_size(PAGE_SIZE)
                .into_stream()
                .into_pages();
            let (mut page_count, mut rows) = (0, 0);
            while let Some(p) = pages.next().await {
                let p = p?;
                page_count += 1;
                rows += p.items().len();
            }
            if rows >= DEVICES || Instant::now() >= deadline {
                return Ok((
                    format!("{rows} twins in {page_count} pages of at most {PAGE_SIZE}"),
                    json!({"rows": rows, "pages": page_count}),
                ));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    })
    .await;
    let ok = s.ok;
    out(s);
    if !ok {
        return false;
    }

    let s = timed("iothub", "schedule a twin-update job and wait", async {
        let job_id = format!(
            "{}-job-{}",
            n.prefix,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        hub.schedule_twin_update(
            &job_id,
            format!("tags.tour = '{}'", n.prefix),
            TwinPatch::new().desired(json!({"firmware": "2.1"})),
        )
        .start_at(chrono::Utc::now())
        .max_execution_time(Duration::from_secs(300))
        .send()
        .await?;
        let done = hub
            .wait_for_job(&job_id)
            .poll_every(Duration::from_millis(if live { 2000 } else { 50 }))
            .timeout(Duration::from_secs(if live { 600 } else { 30 }))
            .await?;
        let status = done
            .status
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let succeeded = done
            .device_job_statistics
            .as_ref()
            .and_then(|s| s.succeeded_count)
            .unwrap_or_default();
        Ok((
            format!("job {job_id} {status}, {succeeded} devices updated"),
            json!({"status": status, "succeeded": succeeded}),
        ))
    })
    .await;
    let ok = s.ok;
    out(s);
    ok
}

async fn adt_half(dt: &DigitalTwinsClient, n: &Names, live: bool, out: &mut dyn FnMut(Step)) {
    let model = n.room_model();
    let s = timed("adt", "add a model", async {
        let room = json!({
            "@id": model, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
            "displayName": "Room",
            "contents": [
                {"@type": "Property", "name": "temperature", "schema": "double", "writable": true},
                {"@type": "Property", "name": "occupied", "schema": "boolean", "writable": true}
            ]
        });
        let created = dt.create_models([room]).send().await?;
        Ok((
            format!("uploaded {}", created[0].id),
            json!({"models": created.len()}),
        ))
    })
    .await;
    let ok = s.ok;
    out(s);
    if !ok {
        return;
    }

    let mut etag = None;
    let s = timed("adt", "add a twin only if absent (twice: 412)", async {
        let twin = BasicDigitalTwin::new(n.room(), &model).with_property("temperature", 20.5);
        let created = dt
            .create_twin(n.room(), &twin)
            .condition(Condition::IfNoneMatchAny)
            .send()
            .await?;
        let again = dt
            .create_twin(n.room(), &twin)
            .condition(Condition::IfNoneMatchAny)
            .send()
            .await;
        if !matches!(&again, Err(e) if e.is_precondition_failed()) {
            return Err(Error::new(
                azure_twins::ErrorKind::Other,
                format!("expected 412 on the second create, got {again:?}"),
            ));
        }
        etag = Some(created.etag.clone());
        Ok((
            format!(
                "created {} ({}); second try -> 412 PreconditionFailed",
                n.room(),
                created.etag
            ),
            json!({"second_status": 412}),
        ))
    })
    .await;
    let ok = s.ok;
    out(s);
    let Some(etag) = etag.filter(|_| ok) else {
        return;
    };

    let s = timed("adt", "JSON Patch with If-Match", async {
        let patch = JsonPatch::new()
            .replace("/temperature", 22.0)
            .add("/occupied", true);
        let new_etag = dt
            .update_twin(n.room(), patch)
            .if_match(&etag)
            .send()
            .await?;
        let twin = dt.get_twin(n.room()).send().await?;
        Ok((
            format!(
                "temperature={} occupied={}, etag {} -> {}",
                twin.value["temperature"], twin.value["occupied"], etag, new_etag
            ),
            json!({"temperature": twin.value["temperature"], "etag_changed": new_etag != etag}),
        ))
    })
    .await;
    let ok = s.ok;
    out(s);
    if !ok {
        return;
    }

    let s = timed("adt", "query twins", async {
        let q = format!("SELECT * FROM digitaltwins WHERE IS_OF_MODEL('{model}')");
        let deadline = Instant::now() + Duration::from_secs(if live { 30 } else { 0 });
        loop {
            let rows: Vec<BasicDigitalTwin> =
                dt.query(q.clone()).into_stream_as().try_collect().await?;
            if !rows.is_empty() || Instant::now() >= deadline {
                let ids: Vec<&str> = rows.iter().map(|t| t.id.as_str()).collect();
                return Ok((
                    format!("{} twin(s): {}", rows.len(), ids.join(", ")),
                    json!({"rows": rows.len()}),
                ));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    })
    .await;
    out(s);
}

/// Where the tour runs.
enum Mode {
    Emulator(Box<azure_twins_emulator::Emulator>),
    Live,
}

/// The ADT token for a live run: `ADT_TOKEN`, else the Azure CLI's.
fn adt_credential() -> Result<Credential, String> {
    if let Ok(t) = std::env::var("ADT_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(Credential::bearer_token(t));
    }
    let out = std::process::Command::new("az")
        .args([
            "account",
            "get-access-token",
            "--resource",
            "https://digitaltwins.azure.net",
            "--query",
            "accessToken",
            "-o",
            "tsv",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => {
            Ok(Credential::bearer_token(String::from_utf8_lossy(&o.stdout).trim().to_owned()))
        }
        _ => Err("ADT_ENDPOINT is set but no token is available: set ADT_TOKEN to an Entra ID access token for https://digitaltwins.azure.net \
                  (e.g. `az account get-access-token --resource https://digitaltwins.azure.net`), or run `az login` first. \
                  In your own code, `Credential::token_credential` (feature `azure-identity`) takes any azure_identity credential."
            .to_owned()),
    }
}

#[cfg_attr(test, allow(dead_code))]
#[tokio::main]
async fn main() {
    let iothub_cs = std::env::var("IOTHUB_CONNECTION_STRING")
        .ok()
        .filter(|s| !s.is_empty());
    let adt_endpoint = std::env::var("ADT_ENDPOINT").ok().filter(|s| !s.is_empty());
    let live = iothub_cs.is_some() || adt_endpoint.is_some();
    let started = Instant::now();

    let (mode, hub, dt) = if live {
        let hub = iothub_cs.map(|cs| {
            IotHubClient::from_connection_string(&cs).unwrap_or_else(|e| fail(&e.to_string()))
        });
        let dt = adt_endpoint.map(|ep| {
            let cred = adt_credential().unwrap_or_else(|e| fail(&e));
            DigitalTwinsClient::builder(ep)
                .credential(cred)
                .build()
                .unwrap_or_else(|e| fail(&e.to_string()))
        });
        println!(
            "azure-twins tour against the real services ({}{})",
            if hub.is_some() { "IoT Hub" } else { "" },
            if dt.is_some() {
                if hub.is_some() {
                    " + Azure Digital Twins"
                } else {
                    "Azure Digital Twins"
                }
            } else {
                ""
            }
        );
        (Mode::Live, hub, dt)
    } else {
        let emu = azure_twins_emulator::Emulator::builder()
            .start()
            .await
            .unwrap_or_else(|e| fail(&format!("could not start the emulator: {e}")));
        let hub = IotHubClient::from_connection_string(&emu.iothub_connection_string())
            .unwrap_or_else(|e| fail(&e.to_string()));
        let dt = DigitalTwinsClient::builder(emu.adt_endpoint())
            .credential(Credential::bearer_token("emulator"))
            .build()
            .unwrap_or_else(|e| fail(&e.to_string()));
        println!(
            "azure-twins tour against the in-process emulator (IoT Hub {}, ADT {})",
            emu.iothub_endpoint(),
            emu.adt_endpoint()
        );
        println!("(set IOTHUB_CONNECTION_STRING and/or ADT_ENDPOINT to run it against Azure)");
        (Mode::Emulator(Box::new(emu)), Some(hub), Some(dt))
    };

    let names = Names::new(live);
    let steps = run(hub.as_ref(), dt.as_ref(), &names, live, &mut |s| {
        println!("{s}")
    })
    .await;
    let failed = steps.iter().filter(|s| !s.ok).count();
    println!(
        "{} steps, {} failed, {} ms in total",
        steps.len(),
        failed,
        started.elapsed().as_millis()
    );
    if let Mode::Emulator(emu) = mode {
        emu.shutdown().await;
    }
    if failed > 0 {
        std::process::exit(1);
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("tour: {msg}");
    std::process::exit(2)
}
