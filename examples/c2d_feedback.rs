//! Cloud-to-device delivery feedback, against the local emulator: messages sent with an
//! `iothub-ack` request report how they ended (the device completed, rejected or never took
//! them), and the back end reads those records batch by batch, completing a batch only once it
//! has handled every record of it.
//!
//! ```text
//! cargo run --example c2d_feedback
//! ```
//!
//! Against a real hub, build the client with
//! `IotHubClient::from_connection_string(&std::env::var("IOTHUB_CONNECTION_STRING")?)`; the
//! messages are then sent over AMQP by whatever sends your cloud-to-device messages.

use std::collections::BTreeMap;

use azure_twins::IotHubClient;
use azure_twins::iothub::FeedbackStatus;
use azure_twins_emulator::C2dAck;
use azure_twins_emulator::Emulator;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::builder().start().await?;
    let hub = IotHubClient::from_connection_string(&emu.iothub_connection_string())?;

    // The sending side and the devices, played by the emulator: ten messages asking for full
    // feedback; the device completes most, rejects one and lets one expire.
    hub.create_device("lamp-1").send().await?;
    let c2d = emu.iothub();
    for i in 0..10 {
        let id = format!("cmd-{i}");
        c2d.enqueue_c2d_message_with_ack("lamp-1", &id, json!({ "on": i % 2 == 0 }), C2dAck::Full)?;
        match i {
            3 => c2d.reject_c2d_message("lamp-1", &id)?,
            7 => c2d.expire_c2d_message("lamp-1", &id)?,
            _ => c2d.complete_c2d_message("lamp-1", &id)?,
        }
    }

    // One batch by hand: look, then give it back (abandon) for the handler below.
    if let Some(batch) = hub.receive_feedback().send().await? {
        println!("received a batch of {} records", batch.len());
        batch.abandon().await?;
    }

    // The usual loop: every record once; each batch is completed after all its records were
    // handled, and abandoned (delivered again) if the handler fails.
    let mut outcomes: BTreeMap<String, FeedbackStatus> = BTreeMap::new();
    let handled = hub
        .feedback_stream()
        .handle(|record| {
            if !record.status_code.is_success() {
                println!(
                    "{} to {} was not delivered: {} ({})",
                    record.original_message_id,
                    record.device_id,
                    record.status_code,
                    record.description.as_deref().unwrap_or("-")
                );
            }
            outcomes.insert(record.original_message_id, record.status_code);
            async { Ok::<_, std::io::Error>(()) }
        })
        .await?;
    println!("{handled} feedback records handled");
    assert_eq!(handled, 10);
    assert_eq!(outcomes["cmd-3"], FeedbackStatus::Rejected);
    assert_eq!(outcomes["cmd-7"], FeedbackStatus::Expired);
    assert!(
        hub.receive_feedback().send().await?.is_none(),
        "all completed"
    );

    // A lock that expired before the batch was completed: the records come again.
    c2d.enqueue_c2d_message_with_ack("lamp-1", "late", json!({}), C2dAck::Positive)?;
    c2d.complete_c2d_message("lamp-1", "late")?;
    c2d.set_feedback_lock_timeout(std::time::Duration::ZERO);
    let batch = hub.receive_feedback().send().await?.expect("one record");
    let err = batch.complete().await.expect_err("the lock expired");
    assert!(err.is_feedback_lock_lost());
    println!("lock lost: {:?} ({:?})", err.error_code(), err.status());
    Ok(())
}
