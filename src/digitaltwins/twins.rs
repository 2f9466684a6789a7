//! Twin operations: create (create or replace), get, update (JSON Patch), delete.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client::{DigitalTwinsClient, Versioned, api_version, etag_or, into_versioned, to_body};
use super::json_patch::JsonPatch;
use super::twin::{validate_id, validate_twin_body};
use crate::raw::digitaltwins::types;
use crate::request::setters;
use crate::{Condition, ETag, Error, RequestOptions};

impl DigitalTwinsClient {
    /// Adds a twin, or replaces it if it exists (`PUT /digitaltwins/{id}`).
    ///
    /// `twin` is anything that serialises to a JSON object with `$metadata.$model`: a
    /// `serde_json::Value`, a [`BasicDigitalTwin`](super::BasicDigitalTwin) or your own type.
    /// Add `.condition(Condition::IfNoneMatchAny)` to create only if absent; if the twin exists
    /// the call fails with 412 ([`Error::is_precondition_failed`]). Returns the stored twin and
    /// its ETag.
    ///
    /// Checked before sending: the id, the body is an object whose `$dtId` (if any) matches the
    /// id, `$metadata.$model` is a valid DTMI, and the body fits in 32 KiB.
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::{DigitalTwinsClient, BasicDigitalTwin};
    /// # use azure_twins::Condition;
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let twin = BasicDigitalTwin::new("room-1", "dtmi:com:example:Room;1").with_property("temperature", 20);
    /// let created = dt.create_twin("room-1", &twin).condition(Condition::IfNoneMatchAny).send().await?;
    /// println!("created with etag {}", created.etag);
    /// match dt.create_twin("room-1", &twin).condition(Condition::IfNoneMatchAny).send().await {
    ///     Err(e) if e.is_precondition_failed() => println!("already there"),
    ///     other => { other?; }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn create_twin(&self, twin_id: impl Into<String>, twin: impl Serialize) -> CreateTwin {
        CreateTwin {
            client: self.clone(),
            twin_id: twin_id.into(),
            body: to_body("twin", twin),
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Gets a twin (`GET /digitaltwins/{id}`) as a `serde_json::Value` with its ETag; use
    /// [`GetTwin::send_as`] for a typed result.
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::{DigitalTwinsClient, BasicDigitalTwin};
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let twin = dt.get_twin("room-1").send().await?;
    /// println!("{} at {}", twin.value["temperature"], twin.etag);
    /// let typed = dt.get_twin("room-1").send_as::<BasicDigitalTwin>().await?;
    /// println!("model {}", typed.value.metadata.model);
    /// # Ok(()) }
    /// ```
    pub fn get_twin(&self, twin_id: impl Into<String>) -> GetTwin {
        GetTwin {
            client: self.clone(),
            twin_id: twin_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Updates a twin with a JSON Patch (`PATCH /digitaltwins/{id}`,
    /// `Content-Type: application/json-patch+json`). Returns the twin's new ETag.
    ///
    /// With `.if_match(&etag)` the update only applies if nobody changed the twin since you read
    /// it; otherwise it fails with 412. The patch is validated locally first (see
    /// [`JsonPatch::validate`]).
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::{DigitalTwinsClient, JsonPatch};
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let twin = dt.get_twin("room-1").send().await?;
    /// let new_etag = dt
    ///     .update_twin("room-1", JsonPatch::new().add("/temperature", 21.5))
    ///     .if_match(&twin.etag)
    ///     .send()
    ///     .await?;
    /// # let _ = new_etag; Ok(()) }
    /// ```
    pub fn update_twin(&self, twin_id: impl Into<String>, patch: JsonPatch) -> UpdateTwin {
        UpdateTwin {
            client: self.clone(),
            twin_id: twin_id.into(),
            patch,
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Deletes a twin (`DELETE /digitaltwins/{id}`). The service refuses (400
    /// `RelationshipsNotDeleted`) while the twin has relationships.
    pub fn delete_twin(&self, twin_id: impl Into<String>) -> DeleteTwin {
        DeleteTwin {
            client: self.clone(),
            twin_id: twin_id.into(),
            condition: None,
            options: RequestOptions::default(),
        }
    }
}

/// Builder of [`DigitalTwinsClient::create_twin`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct CreateTwin {
    client: DigitalTwinsClient,
    twin_id: String,
    body: Result<Value, Error>,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl CreateTwin {
    setters! {
        /// Only [`Condition::IfNoneMatchAny`] (create only if absent) is supported by the service
        /// for this operation; other conditions are rejected before sending.
        condition;
        options;
    }

    /// Sends the request; returns the stored twin and its ETag.
    pub async fn send(self) -> Result<Versioned<Value>, Error> {
        self.send_as().await
    }

    /// Sends the request and decodes the stored twin as `T`.
    pub async fn send_as<T: DeserializeOwned>(self) -> Result<Versioned<T>, Error> {
        validate_id("twin_id", &self.twin_id)?;
        let body = self.body?;
        validate_twin_body(&self.twin_id, &body)?;
        let if_none_match = match &self.condition {
            None => None,
            Some(Condition::IfNoneMatchAny) => Some(star::<types::DigitalTwinsAddIfNoneMatch>()?),
            Some(_) => return Err(condition_not_supported("create_twin", "IfNoneMatchAny")),
        };
        let create = if_none_match.is_some();
        let map = object(body);
        let id = self.twin_id.as_str();
        let result = self
            .client
            .call(&self.options, |raw| {
                raw.digital_twins_add(id, api_version(raw), if_none_match, None, None, &map)
            })
            .await
            .and_then(into_versioned);
        let (client, options) = (&self.client, &self.options);
        resolve_lost(
            result,
            create,
            Value::Object(map.clone()),
            None,
            || async move {
                read_back(
                    client
                        .call(options, |raw| {
                            raw.digital_twins_get_by_id(id, api_version(raw), None, None)
                        })
                        .await,
                )
            },
        )
        .await
    }
}
crate::response::operation!(CreateTwin => Versioned<Value>);

/// Builder of [`DigitalTwinsClient::get_twin`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct GetTwin {
    client: DigitalTwinsClient,
    twin_id: String,
    options: RequestOptions,
}

impl GetTwin {
    setters! { options; }

    /// Sends the request; returns the twin as JSON with its ETag.
    pub async fn send(self) -> Result<Versioned<Value>, Error> {
        self.send_as().await
    }

    /// Sends the request and decodes the twin as `T` (e.g.
    /// [`BasicDigitalTwin`](super::BasicDigitalTwin) or your own type).
    pub async fn send_as<U: DeserializeOwned>(self) -> Result<Versioned<U>, Error> {
        validate_id("twin_id", &self.twin_id)?;
        let id = self.twin_id.as_str();
        let rv = self
            .client
            .call(&self.options, |raw| {
                raw.digital_twins_get_by_id(id, api_version(raw), None, None)
            })
            .await?;
        into_versioned(rv)
    }
}
crate::response::operation!(GetTwin => Versioned<Value>);

/// Builder of [`DigitalTwinsClient::update_twin`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct UpdateTwin {
    client: DigitalTwinsClient,
    twin_id: String,
    patch: JsonPatch,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl UpdateTwin {
    setters! {
        /// Only apply if the twin's ETag is still `etag` (else 412).
        if_match;
        /// [`Condition::IfMatch`] or [`Condition::IfMatchAny`]; `IfNoneMatchAny` is rejected
        /// before sending (an update needs an existing twin).
        condition;
        options;
    }

    /// Sends the patch; returns the twin's new ETag.
    pub async fn send(self) -> Result<ETag, Error> {
        validate_id("twin_id", &self.twin_id)?;
        self.patch.validate()?;
        let if_match = if_match_header("update_twin", self.condition.as_ref())?;
        let body = patch_body(&self.patch);
        let id = self.twin_id.as_str();
        let result = self
            .client
            .call(&self.options, |raw| {
                raw.digital_twins_update(
                    id,
                    api_version(raw),
                    if_match.as_deref(),
                    None,
                    None,
                    &body,
                )
            })
            .await
            .and_then(|resp| etag_or(resp.headers(), None));
        let (client, options) = (&self.client, &self.options);
        let sent = self.patch.to_value();
        let expect = crate::pipeline::patch_effect(&sent);
        resolve_lost(result, false, sent, expect, || async move {
            read_back::<_, Value>(
                client
                    .call(options, |raw| {
                        raw.digital_twins_get_by_id(id, api_version(raw), None, None)
                    })
                    .await,
            )
            .map(|s| s.map(|(doc, etag, v)| (doc, etag, v.etag)))
        })
        .await
    }
}
crate::response::operation!(UpdateTwin => ETag);

/// Builder of [`DigitalTwinsClient::delete_twin`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct DeleteTwin {
    client: DigitalTwinsClient,
    twin_id: String,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl DeleteTwin {
    setters! {
        /// Only delete if the twin's ETag is still `etag` (else 412).
        if_match;
        /// [`Condition::IfMatch`] or [`Condition::IfMatchAny`].
        condition;
        options;
    }

    /// Sends the request.
    pub async fn send(self) -> Result<(), Error> {
        validate_id("twin_id", &self.twin_id)?;
        let if_match = if_match_header("delete_twin", self.condition.as_ref())?;
        let id = self.twin_id.as_str();
        let result = self
            .client
            .call(&self.options, |raw| {
                raw.digital_twins_delete(id, api_version(raw), if_match.as_deref(), None, None)
            })
            .await
            .map(drop);
        let (client, options) = (&self.client, &self.options);
        resolve_deleted(result, || async move {
            read_back::<_, Value>(
                client
                    .call(options, |raw| {
                        raw.digital_twins_get_by_id(id, api_version(raw), None, None)
                    })
                    .await,
            )
        })
        .await
    }
}
crate::response::operation!(DeleteTwin => ());

// ---- helpers shared with components and relationships ----

/// A twin or relationship read back after a lost answer, for [`crate::pipeline::resolve`]:
/// `None` when it does not exist.
pub(crate) fn read_back<T, U>(
    read: Result<progenitor_client::ResponseValue<T>, Error>,
) -> Result<crate::pipeline::Stored<Versioned<U>>, Error>
where
    T: std::ops::Deref<Target = serde_json::Map<String, Value>>
        + Into<serde_json::Map<String, Value>>,
    U: DeserializeOwned,
{
    match read {
        Ok(rv) => {
            let doc = Value::Object(rv.deref().clone());
            let v: Versioned<U> = into_versioned(rv)?;
            Ok(Some((doc, Some(v.etag.clone()), v)))
        }
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Resolves a twin or relationship write whose answer was lost: a create (`If-None-Match: *`)
/// whose stored document equals `sent` is created and returns it; any other write stays
/// ambiguous, with `sent` and what was found (matched against `expect`, else `sent`).
pub(crate) async fn resolve_lost<T, R, Fut>(
    result: Result<T, Error>,
    create: bool,
    sent: Value,
    expect: Option<Value>,
    read: R,
) -> Result<T, Error>
where
    R: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<crate::pipeline::Stored<T>, Error>>,
{
    use crate::pipeline::WriteKind;
    let kind = if create {
        WriteKind::Create
    } else {
        WriteKind::Update
    };
    crate::pipeline::resolve(result, kind, Some(sent), expect, read, |stored| {
        stored.ok_or_else(|| {
            Error::new(
                crate::ErrorKind::Other,
                "a proven create has a stored value",
            )
        })
    })
    .await
}

/// Resolves a delete whose answer was lost: deleted when the resource is gone.
pub(crate) async fn resolve_deleted<U, R, Fut>(
    result: Result<(), Error>,
    read: R,
) -> Result<(), Error>
where
    R: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<crate::pipeline::Stored<U>, Error>>,
{
    crate::pipeline::resolve(
        result,
        crate::pipeline::WriteKind::Delete,
        None,
        None,
        read,
        |_| Ok(()),
    )
    .await
}

/// The generated `If-None-Match: *` enum value, whatever its variant is called.
pub(crate) fn star<T: std::str::FromStr>() -> Result<T, Error> {
    "*".parse().map_err(|_| {
        Error::new(
            crate::ErrorKind::Other,
            "the generated client does not accept If-None-Match: *",
        )
    })
}

pub(crate) fn condition_not_supported(op: &str, supported: &str) -> Error {
    Error::invalid_input(
        "condition",
        format!("{op} supports only {supported} (the service has no other precondition for it)"),
    )
}

/// The `If-Match` value for an update or delete: `IfMatch`/`IfMatchAny`, nothing, or an error.
pub(crate) fn if_match_header(op: &str, c: Option<&Condition>) -> Result<Option<String>, Error> {
    match c {
        None => Ok(None),
        Some(Condition::IfNoneMatchAny) => {
            Err(condition_not_supported(op, "IfMatch or IfMatchAny"))
        }
        Some(c) => Ok(c.if_match().map(str::to_owned)),
    }
}

/// A validated patch as the generated client's body type.
pub(crate) fn patch_body(patch: &JsonPatch) -> Vec<serde_json::Map<String, Value>> {
    patch
        .to_value()
        .as_array()
        .map(|ops| ops.iter().filter_map(|o| o.as_object().cloned()).collect())
        .unwrap_or_default()
}

/// A body already checked to be an object.
pub(crate) fn object(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}
