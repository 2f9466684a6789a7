//! `/eventroutes`: event route CRUD (routes are stored; no events are delivered).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::DigitalTwinsService;
use super::error::{AdtError, AdtResult};
use super::util::{self, json_reply};

fn route_not_found(id: &str) -> AdtError {
    AdtError::new(
        StatusCode::NOT_FOUND,
        "EventRouteNotFound",
        format!(
            "There is no event route with the id {id}. Check the id by doing an EventRoutes_List API call."
        ),
    )
}

/// Minimal filter syntax check: non-empty, balanced quotes and parentheses.
fn check_filter(f: &str) -> AdtResult<()> {
    if f.trim().is_empty() {
        return Err(AdtError::invalid_argument(
            "The event route 'filter' must not be empty; use 'true' to route every event.",
        ));
    }
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for c in f.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth < 0 {
                    return Err(AdtError::invalid_argument(
                        "The event route 'filter' has an unbalanced ')'.",
                    ));
                }
            }
            _ => {}
        }
    }
    if quote.is_some() || depth != 0 {
        return Err(AdtError::invalid_argument(
            "The event route 'filter' has an unterminated string or parenthesis.",
        ));
    }
    Ok(())
}

/// `PUT /eventroutes/{id}`: 204 with an empty body.
pub async fn put(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
    body: Bytes,
) -> AdtResult<Response> {
    let doc = util::parse_json(&body)?;
    let endpoint = doc
        .get("endpointName")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            AdtError::invalid_argument("The event route needs a non-empty string 'endpointName'.")
        })?;
    let filter = doc.get("filter").and_then(Value::as_str).ok_or_else(|| {
        AdtError::invalid_argument("The event route needs a string 'filter' (e.g. 'true').")
    })?;
    check_filter(filter)?;
    let route = json!({"id": id, "endpointName": endpoint, "filter": filter});
    svc.write().routes.insert(id, route);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /eventroutes/{id}`.
pub async fn get_one(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
) -> AdtResult<Response> {
    let st = svc.read();
    let r = st.routes.get(&id).ok_or_else(|| route_not_found(&id))?;
    Ok(json_reply(StatusCode::OK, r))
}

/// `DELETE /eventroutes/{id}`.
pub async fn delete(
    State(svc): State<DigitalTwinsService>,
    Path(id): Path<String>,
) -> AdtResult<Response> {
    svc.write()
        .routes
        .remove(&id)
        .ok_or_else(|| route_not_found(&id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /eventroutes`, paged.
pub async fn list(
    State(svc): State<DigitalTwinsService>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> AdtResult<Response> {
    let pairs = util::query_pairs(q.as_deref());
    let size = util::page_size(&headers, 100, 1000)?;
    let after = util::list_after(&pairs, "eventroutes")?;
    let items: Vec<(String, Value)> = svc
        .read()
        .routes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (value, next) = util::page_after(items, after.as_deref(), size);
    let base = util::base_url(&headers, svc.tls());
    Ok(json_reply(
        StatusCode::OK,
        &util::list_page(&base, "/eventroutes", "eventroutes", &[], value, next),
    ))
}
