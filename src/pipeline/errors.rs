//! Errors across the hook boundary: progenitor lets `pre` return only
//! `progenitor_client::Error::Custom(String)`, so the typed [`Error`] is parked in the call
//! context and picked up again when the raw error is mapped; an error body that does not match
//! the generated error type keeps the status and headers recorded by `exec`.

use super::call::{CallContext, WriteAttempts, current_call};
use crate::error::{Ambiguity, CREDENTIAL_PREFIX, Error, ErrorKind, INSECURE_PREFIX, ReadBack};

/// Turns a typed error from `pre` into the string progenitor lets hooks return, keeping the
/// typed error in the call context for [`with_request_options`](super::with_request_options)
/// to pick up.
pub(super) fn hook_error<E>(e: Error) -> progenitor_client::Error<E> {
    let prefix = match e.kind() {
        ErrorKind::InsecureTransport => INSECURE_PREFIX,
        _ => CREDENTIAL_PREFIX,
    };
    let msg = format!("{prefix}{e}");
    if let Some(c) = current_call() {
        c.record_hook_error(e);
    }
    progenitor_client::Error::Custom(msg)
}

pub(super) fn take_hook_error(ctx: &CallContext) -> Option<Error> {
    ctx.lock().hook_error.take()
}

/// Maps a raw error with the help of the call context.
pub(super) async fn map_raw_error<E: serde::Serialize>(
    ctx: &CallContext,
    e: progenitor_client::Error<E>,
) -> Error {
    let mut err = match e {
        progenitor_client::Error::Custom(msg) => match take_hook_error(ctx) {
            Some(typed) => typed,
            None => Error::from_raw(progenitor_client::Error::<E>::Custom(msg)).await,
        },
        progenitor_client::Error::InvalidResponsePayload(bytes, source) => {
            let (status, headers) = {
                let s = ctx.lock();
                (s.last_status, s.last_headers.clone())
            };
            match (status, headers) {
                // An error body that did not match the generated error type: keep the status.
                (Some(st), Some(h)) if !st.is_success() => {
                    Error::from_response_parts(st, &h, &bytes)
                }
                _ => {
                    Error::from_raw(progenitor_client::Error::<E>::InvalidResponsePayload(
                        bytes, source,
                    ))
                    .await
                }
            }
        }
        other => Error::from_raw(other).await,
    };
    err.set_client_request_id(&ctx.client_request_id);
    let write = ctx.lock().write.clone();
    match write {
        Some(w) => ambiguous_if_lost(err, w),
        None => err,
    }
}

/// A write's error becomes an ambiguous outcome when its last answer was lost, or when a resend
/// after a lost answer met 404/409/412 (which may be about its own first attempt). Local errors
/// (nothing sent) and other answers stay as they are.
fn ambiguous_if_lost(err: Error, w: WriteAttempts) -> Error {
    let status = err.status();
    let why = if w.final_lost && matches!(err.kind(), ErrorKind::Timeout | ErrorKind::Connection) {
        "the request was sent and no answer arrived"
    } else if w.final_lost && status.is_some_and(crate::retry::is_lost_answer_status) {
        "the service's answer was a 5xx, which a gateway can send after the write was applied"
    } else if w.lost_before_last && status.is_some_and(|s| matches!(s.as_u16(), 404 | 409 | 412)) {
        "an earlier attempt's answer was lost, and this answer may be about that attempt"
    } else {
        return err;
    };
    let ambiguity = Ambiguity {
        operation: w.operation.to_owned(),
        method: w.method,
        path: w.path,
        last_status: status,
        sent: None,
        found: ReadBack::NotRead,
        found_matches_sent: None,
    };
    err.into_ambiguous(ambiguity, why)
}
