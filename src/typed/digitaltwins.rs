//! Typed Azure Digital Twins operations: models for a type, twins from values, typed query,
//! and the conflict-retrying typed update of twins, components and relationships.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::DEFAULT_MAX_ATTEMPTS;
use super::diff::strip_nulls;
use super::dtdl::{DtdlInterface, DtdlModel, ModelFn, model_of};
use crate::digitaltwins::{DigitalTwinsClient, JsonPatch, PatchOperation, Versioned};
use crate::paging::Pager;
use crate::{Condition, ETag, Error, RequestOptions};

fn to_json<T: Serialize>(field: &str, value: &T) -> Result<Value, Error> {
    serde_json::to_value(value).map(strip_nulls).map_err(|e| {
        Error::invalid_input(
            field.to_owned(),
            format!("could not be serialised to JSON: {e}"),
        )
    })
}

/// The twin document of `value`: its JSON without nulls, `$metadata.$model` set to `T`'s
/// DTMI, each component given a `$metadata` object; validated against the model.
fn twin_document<T: DtdlInterface>(model: &DtdlModel, value: &T) -> Result<Value, Error> {
    let mut doc = to_json("twin", value)?;
    model.validate(&doc)?;
    let Value::Object(map) = &mut doc else {
        return Err(Error::invalid_input(
            "twin",
            "must serialise to a JSON object",
        ));
    };
    for (name, _) in &model.components {
        match map.get_mut(name) {
            Some(Value::Object(c)) => {
                c.entry("$metadata").or_insert_with(|| json!({}));
            }
            _ => {
                // The service requires every declared component to be present.
                map.insert(name.clone(), json!({"$metadata": {}}));
            }
        }
    }
    let meta = map
        .entry("$metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta["$model"] = json!(T::DTMI);
    Ok(doc)
}

impl DigitalTwinsClient {
    /// Uploads the DTDL interface of `T` and those it references (its components'), skipping
    /// those the instance already has. Returns the DTMIs uploaded now (empty when all were
    /// there).
    ///
    /// ```no_run
    /// # use azure_twins::typed::DtdlInterface;
    /// # async fn demo<Room: DtdlInterface>(dt: azure_twins::DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let uploaded = dt.create_models_for::<Room>().send().await?;
    /// println!("uploaded {uploaded:?}");
    /// # Ok(()) }
    /// ```
    pub fn create_models_for<T: DtdlInterface>(&self) -> CreateModelsFor {
        CreateModelsFor {
            client: self.clone(),
            model: model_of::<T>(),
            options: RequestOptions::default(),
        }
    }

    /// Creates or replaces the twin `twin_id` from `value` (`PUT /digitaltwins/{id}`):
    /// `$metadata.$model` is `T::DTMI`, `None` fields are left out, components get their
    /// `$metadata`. The value is validated against `T`'s model before anything is sent.
    pub fn create_typed_twin<T: DtdlInterface>(
        &self,
        twin_id: impl Into<String>,
        value: &T,
    ) -> CreateTypedTwin<T> {
        let body = model_of::<T>().and_then(|m| twin_document(&m, value));
        CreateTypedTwin {
            client: self.clone(),
            twin_id: twin_id.into(),
            body,
            condition: None,
            options: RequestOptions::default(),
            _t: PhantomData,
        }
    }

    /// Reads the twin `twin_id` as `T`: checks that its `$metadata.$model` is `T::DTMI` (a twin
    /// of another model is a `DataConversion` error naming both, not a silently half-decoded
    /// value), then decodes it. Returns the value with its ETag, ready for a conditional write.
    pub fn get_typed_twin<T: DtdlInterface>(&self, twin_id: impl Into<String>) -> GetTypedTwin<T> {
        GetTypedTwin {
            client: self.clone(),
            twin_id: twin_id.into(),
            options: RequestOptions::default(),
            _t: PhantomData,
        }
    }

    /// Queries the twins of `T`'s model (including twins of models extending it):
    /// `SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '<DTMI>')`, plus an optional
    /// condition on the alias `T` ([`TypedQuery::filter`]); rows are decoded as `T`.
    pub fn query_typed<T: DtdlInterface + Send + 'static>(&self) -> TypedQuery<T> {
        TypedQuery {
            client: self.clone(),
            filter: None,
            page_size: None,
            options: RequestOptions::default(),
            _t: PhantomData,
        }
    }

    /// The typed read-modify-write of a twin: reads it as `T`, applies `change` to the value,
    /// validates the result against `T`'s model, sends the JSON Patch diff with `If-Match`,
    /// and on 412 (someone else wrote meanwhile) starts over with the latest twin, at most
    /// [`max_attempts`](TypedUpdate::max_attempts) times (default
    /// [`DEFAULT_MAX_ATTEMPTS`](super::DEFAULT_MAX_ATTEMPTS)). `change` therefore runs once
    /// per attempt, each time on the latest value. Nothing is sent when the value is
    /// unchanged. The diff is between `T`'s serialisations before and after `change`, so
    /// properties of the twin that `T` does not declare are never touched.
    ///
    /// ```no_run
    /// # use azure_twins::typed::DtdlInterface;
    /// # use azure_twins::typed::schemars;
    /// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] struct Room { visits: i64 }
    /// # impl DtdlInterface for Room { const DTMI: &'static str = "dtmi:com:example:Room;1"; }
    /// # async fn demo(dt: azure_twins::DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let done = dt.update_typed_twin("room-1", |r: &mut Room| r.visits += 1).send().await?;
    /// println!("visits {} after {} attempt(s)", done.value.visits, done.attempts);
    /// # Ok(()) }
    /// ```
    pub fn update_typed_twin<T, F>(
        &self,
        twin_id: impl Into<String>,
        change: F,
    ) -> TypedUpdate<T, F>
    where
        T: DtdlInterface,
        F: FnMut(&mut T),
    {
        self.typed_update(Target::Twin(twin_id.into()), change, Some(model_of::<T>))
    }

    /// The typed read-modify-write of one component of a twin (as
    /// [`update_typed_twin`](Self::update_typed_twin), with `C` the component's interface).
    pub fn update_typed_component<C, F>(
        &self,
        twin_id: impl Into<String>,
        component: impl Into<String>,
        change: F,
    ) -> TypedUpdate<C, F>
    where
        C: DtdlInterface,
        F: FnMut(&mut C),
    {
        self.typed_update(
            Target::Component(twin_id.into(), component.into()),
            change,
            Some(model_of::<C>),
        )
    }

    /// The typed read-modify-write of a relationship's properties (as
    /// [`update_typed_twin`](Self::update_typed_twin); `R` is your relationship type, whose
    /// `$`-fields such as `$relationshipId` are never patched).
    pub fn update_typed_relationship<R, F>(
        &self,
        source_id: impl Into<String>,
        relationship_id: impl Into<String>,
        change: F,
    ) -> TypedUpdate<R, F>
    where
        R: Serialize + DeserializeOwned,
        F: FnMut(&mut R),
    {
        self.typed_update(
            Target::Relationship(source_id.into(), relationship_id.into()),
            change,
            None,
        )
    }

    fn typed_update<T, F>(
        &self,
        target: Target,
        change: F,
        model: Option<ModelFn>,
    ) -> TypedUpdate<T, F> {
        TypedUpdate {
            client: self.clone(),
            target,
            change,
            model,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            options: RequestOptions::default(),
            _t: PhantomData,
        }
    }
}

/// Builder of [`DigitalTwinsClient::create_models_for`].
#[derive(Debug)]
#[must_use = "call .send().await to upload"]
pub struct CreateModelsFor {
    client: DigitalTwinsClient,
    model: Result<DtdlModel, Error>,
    options: RequestOptions,
}

impl CreateModelsFor {
    /// Per-call options (retry policy, timeout, client request id).
    pub fn options(mut self, options: RequestOptions) -> Self {
        self.options = options;
        self
    }

    /// Uploads the missing interfaces (one `create_models` call, all or nothing); returns
    /// their DTMIs. An interface already stored under the same DTMI must declare the same
    /// contents (names, kinds, schemas, writable, units; texts aside): models are
    /// immutable, so a type that changed without a new DTMI version is refused with an
    /// `InvalidInput` error naming the DTMI and the differing contents, before anything is
    /// uploaded.
    pub async fn send(self) -> Result<Vec<String>, Error> {
        let model = self.model?;
        let mut missing = Vec::new();
        for doc in model.documents() {
            let id = doc["@id"].as_str().unwrap_or_default().to_owned();
            match self
                .client
                .get_model(&id)
                .include_definition(true)
                .options(self.options.clone())
                .send()
                .await
            {
                Ok(stored) => check_same_definition(&id, &stored.model, &doc)?,
                Err(e) if e.is_not_found() => missing.push((id, doc)),
                Err(e) => return Err(e),
            }
        }
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = missing.iter().map(|(id, _)| id.clone()).collect();
        self.client
            .create_models(missing.into_iter().map(|(_, d)| d))
            .options(self.options)
            .send()
            .await?;
        Ok(ids)
    }
}
crate::response::operation!(CreateModelsFor => Vec<String>);

/// Builder of [`DigitalTwinsClient::create_typed_twin`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct CreateTypedTwin<T> {
    client: DigitalTwinsClient,
    twin_id: String,
    body: Result<Value, Error>,
    condition: Option<Condition>,
    options: RequestOptions,
    _t: PhantomData<fn() -> T>,
}

impl<T: DtdlInterface> CreateTypedTwin<T> {
    /// [`Condition::IfNoneMatchAny`]: create only if absent (else 412).
    pub fn condition(mut self, condition: Condition) -> Self {
        self.condition = Some(condition);
        self
    }

    /// Per-call options (retry policy, timeout, client request id).
    pub fn options(mut self, options: RequestOptions) -> Self {
        self.options = options;
        self
    }

    /// The document that will be sent (after validation), e.g. to inspect it.
    pub fn document(&self) -> Result<&Value, &Error> {
        self.body.as_ref()
    }

    /// Sends the twin; returns the stored twin decoded as `T`, with its ETag.
    pub async fn send(self) -> Result<Versioned<T>, Error> {
        let body = self.body?;
        let mut req = self
            .client
            .create_twin(self.twin_id, body)
            .options(self.options);
        if let Some(c) = self.condition {
            req = req.condition(c);
        }
        req.send_as::<T>().await
    }
}
crate::response::operation!([T: DtdlInterface + Send + Sync + 'static] CreateTypedTwin<T> => Versioned<T>);

/// Builder of [`DigitalTwinsClient::get_typed_twin`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct GetTypedTwin<T> {
    client: DigitalTwinsClient,
    twin_id: String,
    options: RequestOptions,
    _t: PhantomData<fn() -> T>,
}

impl<T: DtdlInterface> GetTypedTwin<T> {
    /// Per-call options (retry policy, timeout, client request id).
    pub fn options(mut self, options: RequestOptions) -> Self {
        self.options = options;
        self
    }

    /// Reads the twin, checks its model and decodes it as `T`.
    pub async fn send(self) -> Result<Versioned<T>, Error> {
        let twin = self
            .client
            .get_twin(&self.twin_id)
            .options(self.options)
            .send()
            .await?;
        let model = twin
            .value
            .pointer("/$metadata/$model")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if model != T::DTMI {
            return Err(Error::new(
                crate::ErrorKind::DataConversion,
                format!(
                    "twin '{}' is of model '{model}', not '{}'",
                    self.twin_id,
                    T::DTMI
                ),
            ));
        }
        let value = serde_json::from_value(twin.value).map_err(|e| {
            Error::new(
                crate::ErrorKind::DataConversion,
                format!(
                    "twin '{}' does not decode as {}: {e}",
                    self.twin_id,
                    T::DTMI
                ),
            )
        })?;
        Ok(Versioned {
            value,
            etag: twin.etag,
        })
    }
}
crate::response::operation!([T: DtdlInterface + Send + Sync + 'static] GetTypedTwin<T> => Versioned<T>);

/// Builder of [`DigitalTwinsClient::query_typed`].
#[derive(Debug)]
#[must_use = "call .into_stream() to run the query"]
pub struct TypedQuery<T> {
    client: DigitalTwinsClient,
    filter: Option<String>,
    page_size: Option<u32>,
    options: RequestOptions,
    _t: PhantomData<fn() -> T>,
}

impl<T: DtdlInterface + Send + 'static> TypedQuery<T> {
    /// An extra condition, ANDed to the model test, on the alias `T`: e.g.
    /// `"T.temperature > 20"`.
    pub fn filter(mut self, condition: impl Into<String>) -> Self {
        self.filter = Some(condition.into());
        self
    }

    /// Maximum rows per page.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Per-call options, applied to every page.
    pub fn options(mut self, options: RequestOptions) -> Self {
        self.options = options;
        self
    }

    /// The query text that will be sent.
    pub fn query_text(&self) -> String {
        let mut q = format!(
            "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{}')",
            T::DTMI
        );
        if let Some(f) = &self.filter {
            q.push_str(&format!(" AND ({f})"));
        }
        q
    }

    /// The twins, decoded as `T`.
    pub fn into_stream(self) -> Pager<T> {
        let mut q = self.client.query(self.query_text()).options(self.options);
        if let Some(n) = self.page_size {
            q = q.page_size(n);
        }
        q.into_stream_as::<T>()
    }
}

#[derive(Debug, Clone)]
enum Target {
    Twin(String),
    Component(String, String),
    Relationship(String, String),
}

/// Builder of the typed updates: [`DigitalTwinsClient::update_typed_twin`],
/// [`DigitalTwinsClient::update_typed_component`],
/// [`DigitalTwinsClient::update_typed_relationship`].
#[must_use = "call .send().await to perform the update"]
pub struct TypedUpdate<T, F> {
    client: DigitalTwinsClient,
    target: Target,
    change: F,
    model: Option<ModelFn>,
    max_attempts: u32,
    options: RequestOptions,
    _t: PhantomData<fn() -> T>,
}

impl<T, F> std::fmt::Debug for TypedUpdate<T, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedUpdate")
            .field("target", &self.target)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// The outcome of a typed update.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TypedUpdated<T> {
    /// The value as written (the latest read with `change` applied).
    pub value: T,
    /// The twin's ETag after the write (the read ETag when nothing had to be sent).
    pub etag: ETag,
    /// Attempts made: 1 when no conflict happened.
    pub attempts: u32,
    /// The JSON Patch sent by the successful attempt (empty when nothing changed).
    pub patch: JsonPatch,
}

impl<T, F> TypedUpdate<T, F>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(&mut T),
{
    /// How many read-apply-write attempts to make before giving up on conflicts (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Per-call options, applied to every read and write.
    pub fn options(mut self, options: RequestOptions) -> Self {
        self.options = options;
        self
    }

    /// Runs the update. Fails with the last 412 ([`Error::is_precondition_failed`]) when
    /// every attempt met a conflict, with an `InvalidInput` error (nothing sent) when the
    /// changed value breaks the model, and with the service's error otherwise.
    pub async fn send(mut self) -> Result<TypedUpdated<T>, Error> {
        let model = self.model.map(|f| f()).transpose()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.read().await?;
            let mut value: T = serde_json::from_value(current.value.clone()).map_err(|e| {
                Error::new(
                    crate::ErrorKind::DataConversion,
                    format!("the stored document does not decode as the requested type: {e}"),
                )
            })?;
            let old = to_json("value", &value)?;
            (self.change)(&mut value);
            let new = to_json("value", &value)?;
            if let Some(m) = &model {
                m.validate(&new)?;
            }
            let patch = fit_to_stored(JsonPatch::diff_twin(&old, &new), &current.value);
            if patch.is_empty() {
                return Ok(TypedUpdated {
                    value,
                    etag: current.etag,
                    attempts: attempt,
                    patch,
                });
            }
            match self.write(patch.clone(), &current.etag).await {
                Ok(etag) => {
                    return Ok(TypedUpdated {
                        value,
                        etag,
                        attempts: attempt,
                        patch,
                    });
                }
                Err(e) if e.is_precondition_failed() && attempt < self.max_attempts => {
                    tracing::debug!(
                        attempt,
                        "typed update met a conflict (412); retrying with the latest value"
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The stored document as JSON (decoded into `T` by the caller, which also needs the
    /// document itself to fit the patch to what is stored).
    async fn read(&self) -> Result<Versioned<Value>, Error> {
        let o = self.options.clone();
        match &self.target {
            Target::Twin(id) => self.client.get_twin(id).options(o).send().await,
            Target::Component(id, c) => self.client.get_component(id, c).options(o).send().await,
            Target::Relationship(s, r) => {
                self.client.get_relationship(s, r).options(o).send().await
            }
        }
    }

    async fn write(&self, patch: JsonPatch, etag: &ETag) -> Result<ETag, Error> {
        let o = self.options.clone();
        match &self.target {
            Target::Twin(id) => {
                self.client
                    .update_twin(id, patch)
                    .if_match(etag.clone())
                    .options(o)
                    .send()
                    .await
            }
            Target::Component(id, c) => {
                self.client
                    .update_component(id, c, patch)
                    .if_match(etag.clone())
                    .options(o)
                    .send()
                    .await
            }
            Target::Relationship(s, r) => {
                self.client
                    .update_relationship(s, r, patch)
                    .if_match(etag.clone())
                    .options(o)
                    .send()
                    .await
            }
        }
    }
}
crate::response::operation!([T: Serialize + DeserializeOwned + Send + Sync + 'static, F: FnMut(&mut T) + Send + Sync + 'static] TypedUpdate<T, F> => TypedUpdated<T>);

/// Fits a diff of two serialisations of `T` to the stored document: a member `T` fills in
/// when absent (`#[serde(default)]`) is in the old serialisation but not stored, so a
/// `replace` of it becomes an `add` (the service rejects `replace` of an absent member) and
/// a `remove` of it is dropped.
fn fit_to_stored(patch: JsonPatch, stored: &Value) -> JsonPatch {
    let exists = |p: &crate::digitaltwins::Pointer| {
        p.segments().is_ok_and(|segs| {
            segs.iter()
                .try_fold(stored, |v, s| match v {
                    Value::Object(m) => m.get(s),
                    Value::Array(a) => s.parse::<usize>().ok().and_then(|i| a.get(i)),
                    _ => None,
                })
                .is_some()
        })
    };
    patch
        .into_iter()
        .filter_map(|op| match op {
            PatchOperation::Replace { path, value } if !exists(&path) => {
                Some(PatchOperation::Add { path, value })
            }
            PatchOperation::Remove { path } if !exists(&path) => None,
            op => Some(op),
        })
        .collect()
}

/// The contents of an interface keyed by name, without texts, `@type` as an array.
fn normalised_contents(doc: &Map<String, Value>) -> std::collections::BTreeMap<String, Value> {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "displayName" | "description" | "comment")
                    })
                    .map(|(k, v)| match (k.as_str(), v) {
                        ("@type", Value::String(t)) => (k.clone(), json!([t])),
                        _ => (k.clone(), strip(v)),
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    doc.get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| (c["name"].as_str().unwrap_or_default().to_owned(), strip(c)))
        .collect()
}

fn check_same_definition(id: &str, stored: &Map<String, Value>, ours: &Value) -> Result<(), Error> {
    if stored.is_empty() {
        // The service did not return the definition: nothing to compare.
        return Ok(());
    }
    let (a, b) = (
        normalised_contents(stored),
        normalised_contents(ours.as_object().unwrap_or(&Map::new())),
    );
    let differing: Vec<&str> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .map(String::as_str)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if differing.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid_input(
            id.to_owned(),
            format!(
                "is already stored with a different definition (differing: {}); models are immutable: give the type a new DTMI version, or decommission/delete the stored model",
                differing.join(", ")
            ),
        ))
    }
}
