//! Feedback lock tokens stay out of the trace: the complete and abandon paths carry the token,
//! the request spans show `{lockToken}` instead. Its own test binary so that the global
//! subscriber sees every callsite (a thread-local one races with other tests' callsite
//! registration).

mod iothub_support;
mod log_capture;

use log_capture::Capture;

use azure_twins_emulator::C2dAck;
use iothub_support::start;
use serde_json::json;

/// The lock token is in the complete and abandon paths; the request spans (and errors) show
/// `{lockToken}` instead.
#[tokio::test]
async fn lock_tokens_stay_out_of_the_trace() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let (emu, hub) = start().await;
    hub.create_device("fb-trace").send().await.unwrap();
    for id in ["t1", "t2"] {
        emu.iothub()
            .enqueue_c2d_message_with_ack("fb-trace", id, json!(id), C2dAck::Full)
            .unwrap();
        emu.iothub().complete_c2d_message("fb-trace", id).unwrap();
    }
    let first = hub.receive_feedback().send().await.unwrap().unwrap();
    let abandoned = first.lock_token().as_str().to_owned();
    first.abandon().await.unwrap();
    let second = hub.receive_feedback().send().await.unwrap().unwrap();
    let completed = second.lock_token().as_str().to_owned();
    second.complete().await.unwrap();

    let log = capture.text();
    assert!(
        log.contains("/messages/serviceBound/feedback/{lockToken}/abandon"),
        "{log}"
    );
    assert!(
        log.contains("/messages/serviceBound/feedback/{lockToken}"),
        "{log}"
    );
    assert!(!log.contains(&abandoned), "{log}");
    assert!(!log.contains(&completed), "{log}");
}
