//! `POST /query`: the ADT query executor on top of the shared parser/evaluator in `crate::query`.
//!
//! Iterates twins (`FROM DIGITALTWINS`) or relationships (`FROM RELATIONSHIPS`), expands each
//! `JOIN … RELATED a.rel` through the outgoing relationships of the bound twin, filters with the
//! shared evaluator (with `IS_OF_MODEL` answered through model inheritance) and pages the result.
//! Continuation tokens are stateless: they carry the query text and the offset of the next row.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use std::ops::Bound::{Excluded, Unbounded};

use super::error::{AdtError, AdtResult};
use super::util::{self, json_reply};
use super::{AdtState, DigitalTwinsService};
use crate::query::{self, Bindings, Dialect, Query, Source};

/// Largest page the service returns.
const MAX_PAGE: usize = 1000;
/// Page size without `max-items-per-page`.
const DEFAULT_PAGE: usize = 100;

fn sql_error(message: impl Into<String>) -> AdtError {
    AdtError::bad_request("SqlQueryError", message)
}

/// `POST /query` with `{"query": "…"}` or `{"continuationToken": "…"}`.
pub async fn query(
    State(svc): State<DigitalTwinsService>,
    headers: HeaderMap,
    body: Bytes,
) -> AdtResult<Response> {
    let size = util::page_size(&headers, DEFAULT_PAGE, MAX_PAGE)?;
    let spec = util::parse_json(&body)?;
    let (text, offset, after) = match (spec.get("query"), spec.get("continuationToken")) {
        (_, Some(Value::String(tok))) => {
            let s = util::read_token("query", tok, "BadRequest")?;
            let text = s.get("q").and_then(Value::as_str).map(str::to_string);
            let off = s.get("o").and_then(Value::as_u64);
            let after = s.get("a").and_then(Value::as_str).map(str::to_string);
            match (text, off) {
                (Some(t), Some(o)) => (t, o as usize, after),
                _ => {
                    return Err(AdtError::bad_request(
                        "BadRequest",
                        "The continuation token is invalid.",
                    ));
                }
            }
        }
        (Some(Value::String(q)), _) => (q.clone(), 0, None),
        _ => {
            return Err(AdtError::invalid_argument(
                "The query specification needs a string 'query' or a string 'continuationToken'.",
            ));
        }
    };
    if text.len() > 8000 {
        return Err(sql_error("The query is longer than 8,000 characters."));
    }
    let parsed = query::parse(&text, Dialect::DigitalTwins)
        .map_err(|e| sql_error(format!("Invalid query: {e}.")))?;
    if parsed.is_select_all() && !parsed.joins().is_empty() {
        return Err(sql_error(
            "SELECT * is not supported with JOIN; project the aliases instead (e.g. SELECT T, R).",
        ));
    }
    if parsed.joins().len() > 5 {
        return Err(sql_error("A query can have at most 5 JOINs."));
    }
    // Twin queries without JOIN or COUNT resume after the last twin id returned, so each page
    // evaluates only the twins it needs (plus one, to know whether more follow); the others
    // are computed whole and paged by offset.
    let keyed =
        parsed.source() == Source::DigitalTwins && parsed.joins().is_empty() && !parsed.is_count();
    let top = parsed.top().map_or(usize::MAX, |n| n as usize);
    let (page, scanned, last, more) = if keyed {
        let left = top.saturating_sub(offset);
        let want = size.min(left);
        let st = svc.read();
        let (mut rows, scanned, mut keys) =
            execute(&st, &parsed, after.as_deref(), want.saturating_add(1))?;
        let more = rows.len() > want && want < left;
        rows.truncate(want);
        keys.truncate(want);
        (rows, scanned, keys.pop(), more)
    } else {
        let (rows, scanned, _) = {
            let st = svc.read();
            execute(&st, &parsed, None, top)?
        };
        let total = rows.len();
        let page: Vec<Value> = rows.into_iter().skip(offset).take(size).collect();
        let more = offset + page.len() < total;
        (page, scanned, None, more)
    };
    let next = offset + page.len();
    let token = more.then(|| {
        let mut state = json!({"q": text, "o": next});
        if let Some(k) = last {
            state["a"] = json!(k);
        }
        util::make_token("query", state)
    });
    let charge = 2.5 + scanned as f64 * 0.01 + page.len() as f64 * 0.02;
    let mut resp = json_reply(
        StatusCode::OK,
        &json!({"value": page, "continuationToken": token}),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("{charge:.2}")) {
        resp.headers_mut().insert("query-charge", v);
    }
    Ok(resp)
}

/// The result rows of a query, at most `limit` of them, how many candidate rows were examined,
/// and (for twin queries without JOIN) the id of the twin behind each row. `after`: start after
/// this twin id (twin queries only).
fn execute(
    st: &AdtState,
    q: &Query,
    after: Option<&str>,
    limit: usize,
) -> AdtResult<(Vec<Value>, usize, Vec<String>)> {
    let ctx = |twin: &Value, model: &str, exact: bool| {
        twin.pointer("/$metadata/$model")
            .and_then(Value::as_str)
            .is_some_and(|m| st.is_of_model(m, model, exact))
    };
    let mut rows = Vec::new();
    let mut keys = Vec::new();
    let mut count = 0u64;
    let mut scanned = 0usize;
    let docs: Vec<&Value> = match q.source() {
        Source::DigitalTwins => match after {
            Some(a) => st
                .twins
                .range::<str, _>((Excluded(a), Unbounded))
                .map(|(_, t)| t)
                .collect(),
            None => st.twins.values().collect(),
        },
        Source::Relationships => st.rels.values().flat_map(|m| m.values()).collect(),
        other => {
            return Err(sql_error(format!(
                "FROM {} is not an Azure Digital Twins collection.",
                other.name()
            )));
        }
    };
    if !q.joins().is_empty() && q.alias().is_none() {
        return Err(sql_error(
            "A query with JOIN must give the FROM collection an alias (e.g. FROM DIGITALTWINS T).",
        ));
    }
    let mut combos: Vec<Bindings<'_>> = Vec::new();
    'outer: for doc in docs {
        combos.clear();
        combos.push(q.bind(doc));
        for j in q.joins() {
            let mut next = Vec::new();
            for b in &combos {
                let Some(src) = b.get(&j.source_alias) else {
                    return Err(sql_error(format!(
                        "JOIN refers to the alias '{}', which is not defined before it.",
                        j.source_alias
                    )));
                };
                let src_id = src.get("$dtId").and_then(Value::as_str).unwrap_or_default();
                for rel in st.rels.get(src_id).into_iter().flat_map(|m| m.values()) {
                    if rel.get("$relationshipName").and_then(Value::as_str)
                        != Some(j.relationship_name.as_str())
                    {
                        continue;
                    }
                    let tgt_id = rel
                        .get("$targetId")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let Some(tgt) = st.twins.get(tgt_id) else {
                        continue;
                    };
                    let mut nb = b.clone().with(j.alias.clone(), tgt);
                    if let Some(ra) = &j.relationship_alias {
                        nb = nb.with(ra.clone(), rel);
                    }
                    next.push(nb);
                }
            }
            combos = next;
        }
        for b in &combos {
            scanned += 1;
            if !q.matches(b, &ctx) {
                continue;
            }
            if q.is_count() {
                count += 1;
            } else {
                rows.push(q.project(b));
                if q.joins().is_empty()
                    && let Some(id) = doc.get("$dtId").and_then(Value::as_str)
                {
                    keys.push(id.to_string());
                }
                if rows.len() >= limit {
                    break 'outer;
                }
            }
        }
    }
    if q.is_count() {
        return Ok((vec![q.aggregate_row(None, count)], scanned, keys));
    }
    Ok((rows, scanned, keys))
}
