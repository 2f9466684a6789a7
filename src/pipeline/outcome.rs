//! Resolving a write whose answer was lost: the one mechanism the facade operations share.
//!
//! The retry loop only knows that an answer was lost; the error mapping turns such a write's
//! error into [`ErrorKind::OutcomeUnknown`](crate::ErrorKind::OutcomeUnknown)
//! (`errors::ambiguous_if_lost`). A facade operation that can read its resource back passes
//! that error to [`resolve`] with a `read` closure (the generated GET) and the kind of write;
//! [`resolve`] reads, and either proves the outcome or returns the ambiguous error with what
//! was sent and what was found:
//!
//! | write | found | result |
//! |---|---|---|
//! | create (`If-None-Match: *`, fixed id) | equal to what was sent | applied: `Ok(stored)` |
//! | delete | absent | applied: `Ok` |
//! | anything else, or another finding | — | ambiguous, with `sent`, `found`, `found_matches_sent` |
//!
//! A write guarded by `If-Match` never reports 412 after a lost answer (the 412 may be its own
//! first attempt); whether the stored state holds what it set is in `found_matches_sent`.

use std::future::Future;

use serde_json::Value;

use crate::error::{Error, ReadBack, Result};
use crate::etag::ETag;

/// What kind of write is being resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteKind {
    /// A create: proven when the stored resource equals what was sent (`sent` is compared with
    /// [`holds`] both ways, so an equal document is needed, service-added `$` keys aside).
    Create,
    /// A delete: proven when the resource is gone.
    #[cfg_attr(not(feature = "digitaltwins"), allow(dead_code))]
    Delete,
    /// A merge or JSON Patch, a replace, an `If-Match` write: never proven; `found_matches_sent`
    /// says whether the stored resource holds everything `sent` sets.
    Update,
}

/// A read-back: the stored document as compared with what was sent, its ETag, and the decoded
/// value a proven create returns; `None` when it does not exist.
pub(crate) type Stored<U> = Option<(Value, Option<ETag>, U)>;

/// Resolves `result` of a write: passes successes and proven errors through; for an
/// ambiguous error reads the resource back with `read` and proves the outcome when `kind` and
/// what was found allow it (then `applied` builds the success value from the read-back),
/// otherwise returns the ambiguous error with `sent` and the finding. `expect` is what the
/// stored document must hold for the write to count as matching (a JSON Patch's effect as a
/// document, see [`patch_effect`]); `None` compares with `sent`.
pub(crate) async fn resolve<T, U, R, Fut>(
    result: Result<T>,
    kind: WriteKind,
    sent: Option<Value>,
    expect: Option<Value>,
    read: R,
    applied: impl FnOnce(Option<U>) -> Result<T>,
) -> Result<T>
where
    R: FnOnce() -> Fut,
    Fut: Future<Output = Result<Stored<U>>>,
{
    match result {
        // Boxed: the read-back's state stays out of the caller's future on the common path.
        Err(e) if e.is_ambiguous() => {
            Box::pin(resolve_lost(e, kind, sent, expect, read, applied)).await
        }
        other => other,
    }
}

/// [`resolve`] once the answer is known to be lost.
async fn resolve_lost<T, U, R, Fut>(
    err: Error,
    kind: WriteKind,
    sent: Option<Value>,
    expect: Option<Value>,
    read: R,
    applied: impl FnOnce(Option<U>) -> Result<T>,
) -> Result<T>
where
    R: FnOnce() -> Fut,
    Fut: Future<Output = Result<Stored<U>>>,
{
    let stored = match read().await {
        Ok(s) => s,
        Err(read_err) => {
            tracing::debug!(error = %read_err, "read-back after a lost answer failed");
            return Err(err.with_evidence(sent, ReadBack::NotRead, None));
        }
    };
    let expect = expect.or_else(|| sent.clone());
    let matches = match (&stored, &expect) {
        (Some((found, _, _)), Some(s)) => Some(match kind {
            WriteKind::Create => holds(found, s) && no_extra(found, s),
            _ => holds(found, s),
        }),
        (None, Some(_)) => Some(matches!(kind, WriteKind::Delete)),
        (_, None) => None,
    };
    let proven = match kind {
        WriteKind::Create => stored.is_some() && matches == Some(true),
        WriteKind::Delete => stored.is_none(),
        WriteKind::Update => false,
    };
    if proven {
        tracing::debug!(?kind, "lost answer resolved by read-back: applied");
        return applied(stored.map(|(_, _, u)| u));
    }
    let found = match stored {
        None => ReadBack::Absent,
        Some((value, etag, _)) => ReadBack::Present { value, etag },
    };
    Err(err.with_evidence(sent, found, matches))
}

/// True when `found` holds everything `sent` sets: objects key by key (a `null` in `sent`
/// means the key is absent from `found`; keys starting with `$` in `found` that `sent` does not
/// name are the service's: `$metadata`, `$etag`, `$version`), numbers by value, everything
/// else equal.
pub(crate) fn holds(found: &Value, sent: &Value) -> bool {
    match (found, sent) {
        (Value::Object(f), Value::Object(s)) => s.iter().all(|(k, sv)| match (f.get(k), sv) {
            (None | Some(Value::Null), Value::Null) => true,
            (Some(fv), sv) => holds(fv, sv),
            (None, Value::Object(o)) => o.values().all(Value::is_null),
            (None, _) => false,
        }),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| holds(x, y) && holds(y, x))
        }
        (a, b) => a == b,
    }
}

/// The effect of an RFC 6902 patch (as its JSON array) as a document for [`holds`]: `add` and
/// `replace` at `/a/b` become `{"a": {"b": value}}`, `remove` becomes `null` there. `None` when
/// an operation's effect cannot be put that way (array positions, `move`, `copy`, `test`).
#[cfg_attr(not(feature = "digitaltwins"), allow(dead_code))]
pub(crate) fn patch_effect(patch: &Value) -> Option<Value> {
    let mut doc = Value::Object(Default::default());
    for op in patch.as_array()? {
        let path = op.get("path")?.as_str()?;
        let value = match op.get("op")?.as_str()? {
            "add" | "replace" => op.get("value")?.clone(),
            "remove" => Value::Null,
            _ => return None,
        };
        let segments: Vec<String> = path
            .strip_prefix('/')?
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        if segments
            .iter()
            .any(|s| s.is_empty() || s == "-" || s.parse::<usize>().is_ok())
        {
            return None;
        }
        let (last, parents) = segments.split_last()?;
        let mut at = &mut doc;
        for p in parents {
            let obj = at.as_object_mut()?;
            at = obj
                .entry(p.clone())
                .or_insert_with(|| Value::Object(Default::default()));
            if !at.is_object() {
                *at = Value::Object(Default::default());
            }
        }
        at.as_object_mut()?.insert(last.clone(), value);
    }
    Some(doc)
}

/// True when `found` has no key (outside the service's `$` keys) that `sent` lacks, at any
/// depth: with [`holds`], the two are the same document.
fn no_extra(found: &Value, sent: &Value) -> bool {
    match (found, sent) {
        (Value::Object(f), Value::Object(s)) => f
            .iter()
            .filter(|(k, _)| !k.starts_with('$'))
            .all(|(k, fv)| s.get(k).is_some_and(|sv| no_extra(fv, sv))),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn holds_compares_what_was_set() {
        let found = json!({"a": 1.0, "b": {"c": "x", "$metadata": {}}, "$etag": "e"});
        assert!(holds(&found, &json!({"a": 1})));
        assert!(holds(&found, &json!({"b": {"c": "x"}, "gone": null})));
        assert!(!holds(&found, &json!({"a": 2})));
        assert!(!holds(&found, &json!({"b": {"c": "y"}})));
        assert!(!holds(&found, &json!({"a": null})));
        assert!(!holds(&found, &json!({"new": 1})));
        let sent = json!({"a": 1, "b": {"c": "x"}});
        assert!(holds(&found, &sent) && no_extra(&found, &sent));
        assert!(!no_extra(&found, &json!({"a": 1})));
    }

    #[test]
    fn patch_effect_as_a_document() {
        let p = json!([
            {"op": "replace", "path": "/a", "value": 2},
            {"op": "add", "path": "/b/c", "value": "y"},
            {"op": "remove", "path": "/d"}
        ]);
        assert_eq!(
            patch_effect(&p),
            Some(json!({"a": 2, "b": {"c": "y"}, "d": null}))
        );
        assert_eq!(
            patch_effect(&json!([{"op": "add", "path": "/list/-", "value": 1}])),
            None
        );
        assert_eq!(
            patch_effect(&json!([{"op": "move", "from": "/a", "path": "/b"}])),
            None
        );
    }
}
