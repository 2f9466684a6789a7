//! Device and module twins: get, update (PATCH, merge) and replace (PUT), with ETag conditions.

use std::borrow::Cow;

use progenitor_client::ResponseValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::models::{Twin, Versioned};
use super::{IotHubClient, api_version, validation};
use crate::request::setters;
use crate::{Condition, ETag, Error, ErrorKind, RequestOptions};

/// A change to a twin's `tags` and desired properties, merged by the service into the twin:
/// keys you set are written, keys you leave out stay as they are, and keys you remove
/// ([`TwinPatch::remove_desired`], [`TwinPatch::remove_tag`]) are sent as `null`, which
/// deletes them.
///
/// Used by [`UpdateTwin`] (whose setters forward here) and by scheduled twin-update jobs.
/// Problems (a value that is not a JSON object, a bad key, a too-deep document) are reported
/// when the patch is sent, naming the field and the rule; nothing is sent then.
///
/// ```
/// use azure_twins::iothub::TwinPatch;
/// use serde_json::json;
/// let patch = TwinPatch::new()
///     .desired(json!({ "telemetry": { "interval": 30 } }))
///     .set_desired("telemetry.unit", "s")
///     .remove_desired("legacy.setting")
///     .tags(json!({ "site": "berlin" }));
/// assert_eq!(
///     patch.to_json()?,
///     json!({
///         "tags": { "site": "berlin" },
///         "properties": { "desired": {
///             "telemetry": { "interval": 30, "unit": "s" },
///             "legacy": { "setting": null }
///         } }
///     })
/// );
/// # Ok::<(), azure_twins::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TwinPatch {
    tags: Map<String, Value>,
    desired: Map<String, Value>,
    /// The first problem found while building: (field, rule).
    problem: Option<(String, String)>,
}

impl TwinPatch {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Merges `tags` (any `Serialize` that becomes a JSON object) into the patch's tags.
    pub fn tags(mut self, tags: impl Serialize) -> Self {
        self.merge_section(Section::Tags, tags);
        self
    }

    /// Merges `desired` (any `Serialize` that becomes a JSON object) into the patch's desired
    /// properties.
    pub fn desired(mut self, desired: impl Serialize) -> Self {
        self.merge_section(Section::Desired, desired);
        self
    }

    /// Sets one tag by dotted path (`"location.site"`), creating intermediate objects.
    pub fn set_tag(mut self, path: &str, value: impl Serialize) -> Self {
        self.set_path(Section::Tags, path, value);
        self
    }

    /// Sets one desired property by dotted path (`"telemetry.interval"`).
    pub fn set_desired(mut self, path: &str, value: impl Serialize) -> Self {
        self.set_path(Section::Desired, path, value);
        self
    }

    /// Removes a tag (dotted path): sends `null` for it.
    pub fn remove_tag(mut self, path: &str) -> Self {
        self.set_path(Section::Tags, path, Value::Null);
        self
    }

    /// Removes a desired property (dotted path): sends `null` for it.
    pub fn remove_desired(mut self, path: &str) -> Self {
        self.set_path(Section::Desired, path, Value::Null);
        self
    }

    /// Merges another patch into this one (its keys win).
    pub fn merge(mut self, other: TwinPatch) -> Self {
        if self.problem.is_none() {
            self.problem = other.problem;
        }
        merge_into(&mut self.tags, other.tags);
        merge_into(&mut self.desired, other.desired);
        self
    }

    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.desired.is_empty() && self.problem.is_none()
    }

    /// The tags part of the patch.
    pub fn tags_map(&self) -> &Map<String, Value> {
        &self.tags
    }

    /// The desired-properties part of the patch.
    pub fn desired_map(&self) -> &Map<String, Value> {
        &self.desired
    }

    /// Checks the patch against the service's rules (keys, value sizes, depth); fails on the
    /// first problem, naming the field and the rule.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some((field, reason)) = &self.problem {
            return Err(Error::invalid_input(field.clone(), reason.clone()));
        }
        validation::check_twin_section("tags", &self.tags)?;
        validation::check_twin_section("desired", &self.desired)?;
        Ok(())
    }

    /// The request body: `{"tags": …, "properties": {"desired": …}}` (empty parts left out),
    /// after [`TwinPatch::validate`].
    pub fn to_json(&self) -> Result<Value, Error> {
        self.validate()?;
        let mut body = Map::new();
        if !self.tags.is_empty() {
            body.insert("tags".into(), Value::Object(self.tags.clone()));
        }
        if !self.desired.is_empty() {
            let mut props = Map::new();
            props.insert("desired".into(), Value::Object(self.desired.clone()));
            body.insert("properties".into(), Value::Object(props));
        }
        Ok(Value::Object(body))
    }

    /// The PATCH body after [`TwinPatch::validate`]: the generated [`Twin`] holding the ids,
    /// the tags and the desired properties, moved in without copying.
    fn into_twin(self, device_id: String, module_id: Option<String>) -> Result<Twin, Error> {
        self.validate()?;
        let mut body = Twin::new(device_id);
        body.module_id = module_id;
        body.tags = self.tags;
        body.properties.desired = self.desired;
        Ok(body)
    }

    fn note(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        if self.problem.is_none() {
            self.problem = Some((field.into(), reason.into()));
        }
    }

    fn section_mut(&mut self, s: Section) -> &mut Map<String, Value> {
        match s {
            Section::Tags => &mut self.tags,
            Section::Desired => &mut self.desired,
        }
    }

    fn merge_section(&mut self, s: Section, value: impl Serialize) {
        match serde_json::to_value(value) {
            Ok(Value::Object(m)) => merge_into(self.section_mut(s), m),
            Ok(other) => self.note(
                s.name(),
                format!("must be a JSON object, got {}", kind_of(&other)),
            ),
            Err(e) => self.note(s.name(), format!("could not be serialised to JSON: {e}")),
        }
    }

    fn set_path(&mut self, s: Section, path: &str, value: impl Serialize) {
        if let Err(e) = validation::check_property_path(s.name(), path) {
            let (field, reason) = match e.kind() {
                crate::ErrorKind::InvalidInput { field, reason } => {
                    (field.to_string(), reason.clone())
                }
                _ => (s.name().to_owned(), e.to_string()),
            };
            self.note(field, reason);
            return;
        }
        let value = match serde_json::to_value(value) {
            Ok(v) => v,
            Err(e) => {
                self.note(
                    format!("{}.{path}", s.name()),
                    format!("could not be serialised to JSON: {e}"),
                );
                return;
            }
        };
        let mut map = self.section_mut(s);
        let (parents, last) = match path.rsplit_once('.') {
            Some((parents, last)) => (Some(parents), last),
            None => (None, path),
        };
        for k in parents.into_iter().flat_map(|p| p.split('.')) {
            let entry = map
                .entry(k.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                // A removal or value set earlier at a parent: this deeper write replaces it.
                *entry = Value::Object(Map::new());
            }
            map = entry.as_object_mut().expect("object");
        }
        map.insert(last.to_owned(), value);
    }
}

#[derive(Clone, Copy)]
enum Section {
    Tags,
    Desired,
}

impl Section {
    fn name(self) -> &'static str {
        match self {
            Section::Tags => "tags",
            Section::Desired => "desired",
        }
    }
}

use crate::error::json_kind as kind_of;

/// Deep merge: objects merge key by key, anything else replaces.
fn merge_into(target: &mut Map<String, Value>, source: Map<String, Value>) {
    for (k, v) in source {
        match (target.get_mut(&k), v) {
            (Some(Value::Object(t)), Value::Object(s)) => merge_into(t, s),
            (_, v) => {
                target.insert(k, v);
            }
        }
    }
}

/// Removes the service-maintained `$metadata` / `$version` from a section copied from a twin.
fn strip_system_keys(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check_ids(device_id: &str, module_id: Option<&str>) -> Result<(), Error> {
    validation::check_device_id(device_id)?;
    if let Some(m) = module_id {
        validation::check_module_id(m)?;
    }
    Ok(())
}

fn check_twin_condition(c: &Condition) -> Result<(), Error> {
    if matches!(c, Condition::IfNoneMatchAny) {
        return Err(Error::invalid_input(
            "condition",
            "twins always exist while their device or module exists; use IfMatch(etag) or IfMatchAny",
        ));
    }
    Ok(())
}

/// A twin response with its ETag: the `ETag` header when present, else the body's `etag`.
/// The twin was decoded straight from the body by the generated client; the headers are only
/// read, never copied.
fn versioned(rv: ResponseValue<Twin>) -> Result<Versioned<Twin>, Error> {
    let header = ETag::from_headers(rv.headers());
    let value = rv.into_inner();
    let etag = match header.or_else(|| value.etag.clone()) {
        Some(e) => e,
        None => {
            return Err(Error::new(
                ErrorKind::DataConversion,
                "the response carried neither an ETag header nor an etag field",
            ));
        }
    };
    Ok(Versioned { value, etag })
}

/// The caller's own type for a twin: one conversion of the decoded generated [`Twin`] (its
/// unknown fields included) through `serde_json::Value`.
fn twin_as<T: DeserializeOwned>(v: Versioned<Twin>) -> Result<Versioned<T>, Error> {
    let doc = serde_json::to_value(&v.value).map_err(|e| {
        Error::new(
            ErrorKind::DataConversion,
            "the twin could not be re-encoded as JSON",
        )
        .with_source(e)
    })?;
    let value = serde_json::from_value(doc).map_err(|e| {
        Error::new(
            ErrorKind::DataConversion,
            "the twin did not match the requested type",
        )
        .with_source(e)
    })?;
    Ok(Versioned {
        value,
        etag: v.etag,
    })
}

/// The If-Match value of a twin write (`*` unless the caller gave an ETag).
fn write_condition(condition: Option<Condition>) -> Result<Condition, Error> {
    let condition = condition.unwrap_or(Condition::IfMatchAny);
    check_twin_condition(&condition)?;
    Ok(condition)
}

/// PATCH (`replace == false`) or PUT `body` to the twin named by its `deviceId` / `moduleId`.
async fn write_twin(
    client: &IotHubClient,
    body: &Twin,
    condition: &Condition,
    replace: bool,
    options: &RequestOptions,
) -> Result<Versioned<Twin>, Error> {
    let raw = &client.inner.raw;
    let if_match = condition.if_match();
    let id = body.device_id.as_str();
    let result = match crate::pipeline::with_request_options(options, async {
        match (body.module_id.as_deref(), replace) {
            (Some(m), false) => {
                raw.modules_update_twin(id, m, api_version(raw), if_match, body)
                    .await
            }
            (Some(m), true) => {
                raw.modules_replace_twin(id, m, api_version(raw), if_match, body)
                    .await
            }
            (None, false) => {
                raw.devices_update_twin(id, api_version(raw), if_match, body)
                    .await
            }
            (None, true) => {
                raw.devices_replace_twin(id, api_version(raw), if_match, body)
                    .await
            }
        }
    })
    .await
    {
        Ok(rv) => versioned(rv),
        Err(e) => Err(e),
    };
    if !result.as_ref().is_err_and(Error::is_ambiguous) {
        return result;
    }
    // The answer was lost: read the twin back; a twin write is never proven (its effect
    // depends on the twin before it), so the error carries what was sent and what was found.
    let sent = serde_json::json!({
        "tags": body.tags,
        "properties": { "desired": body.properties.desired },
    });
    let module = body.module_id.as_deref();
    crate::pipeline::resolve(
        result,
        crate::pipeline::WriteKind::Update,
        Some(sent),
        None,
        || async {
            let read = async {
                match module {
                    Some(m) => raw.modules_get_twin(id, m, api_version(raw)).await,
                    None => raw.devices_get_twin(id, api_version(raw)).await,
                }
            };
            match crate::pipeline::with_request_options(options, read).await {
                Ok(rv) => {
                    let v = versioned(rv)?;
                    Ok(Some((serde_json::to_value(&v.value)?, Some(v.etag), ())))
                }
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        },
        |_| {
            Err(Error::new(
                ErrorKind::Other,
                "a twin write is never proven by read-back",
            ))
        },
    )
    .await
}

/// Reads a device or module twin: [`IotHubClient::get_twin`], [`IotHubClient::get_module_twin`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct GetTwin {
    client: IotHubClient,
    device_id: String,
    module_id: Option<String>,
    options: RequestOptions,
}

impl GetTwin {
    setters! { options; }

    /// Sends the request; returns the twin and its ETag.
    pub async fn send(self) -> Result<Versioned<Twin>, Error> {
        check_ids(&self.device_id, self.module_id.as_deref())?;
        let raw = &self.client.inner.raw;
        let id = self.device_id.as_str();
        // Built in place (not in a `let`): a future moved into another is otherwise kept twice
        // in this one's state.
        let reply = crate::pipeline::with_request_options(&self.options, async {
            match self.module_id.as_deref() {
                Some(m) => raw.modules_get_twin(id, m, api_version(raw)).await,
                None => raw.devices_get_twin(id, api_version(raw)).await,
            }
        })
        .await?;
        versioned(reply)
    }

    /// Sends the request and decodes the twin as `T` (e.g. `serde_json::Value` or your own
    /// struct). The ETag is taken before decoding; the twin goes through one extra conversion
    /// (generated [`Twin`] → JSON → `T`), so empty sections the service sent (`"tags": {}`)
    /// are absent from `T`'s input.
    pub async fn send_as<T: DeserializeOwned>(self) -> Result<Versioned<T>, Error> {
        twin_as(self.send().await?)
    }
}
crate::response::operation!(GetTwin => Versioned<Twin>);

/// Updates (PATCH, merge) a device or module twin: [`IotHubClient::update_twin`],
/// [`IotHubClient::update_module_twin`].
///
/// Without a condition the update is unconditional (`If-Match: *`). With
/// [`UpdateTwin::if_match`] it only applies if the twin still has that ETag; otherwise the
/// call fails with [`Error::is_precondition_failed`].
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct UpdateTwin {
    client: IotHubClient,
    device_id: String,
    module_id: Option<String>,
    patch: TwinPatch,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl UpdateTwin {
    /// Merges `tags` (a JSON object, typed or `serde_json::Value`) into the tags to write.
    pub fn tags(mut self, tags: impl Serialize) -> Self {
        self.patch = self.patch.tags(tags);
        self
    }

    /// Merges `desired` (a JSON object, typed or `serde_json::Value`) into the desired
    /// properties to write.
    pub fn desired(mut self, desired: impl Serialize) -> Self {
        self.patch = self.patch.desired(desired);
        self
    }

    /// Sets one tag by dotted path.
    pub fn set_tag(mut self, path: &str, value: impl Serialize) -> Self {
        self.patch = self.patch.set_tag(path, value);
        self
    }

    /// Sets one desired property by dotted path.
    pub fn set_desired(mut self, path: &str, value: impl Serialize) -> Self {
        self.patch = self.patch.set_desired(path, value);
        self
    }

    /// Removes a tag (dotted path), by sending `null` for it.
    pub fn remove_tag(mut self, path: &str) -> Self {
        self.patch = self.patch.remove_tag(path);
        self
    }

    /// Removes a desired property (dotted path), by sending `null` for it.
    pub fn remove_desired(mut self, path: &str) -> Self {
        self.patch = self.patch.remove_desired(path);
        self
    }

    /// Merges a prepared [`TwinPatch`].
    pub fn patch(mut self, patch: TwinPatch) -> Self {
        self.patch = self.patch.merge(patch);
        self
    }

    setters! {
        /// The write condition: [`Condition::IfMatch`] (optimistic concurrency) or
        /// [`Condition::IfMatchAny`] (the default).
        condition;
        /// Only update if the twin still has `etag` (shorthand for `condition(IfMatch(etag))`).
        if_match;
        options;
    }

    /// Validates and sends the patch; returns the updated twin and its new ETag.
    pub async fn send(self) -> Result<Versioned<Twin>, Error> {
        check_ids(&self.device_id, self.module_id.as_deref())?;
        if self.patch.is_empty() {
            return Err(Error::invalid_input(
                "patch",
                "is empty: set tags or desired properties (or remove some)",
            ));
        }
        let body = self.patch.into_twin(self.device_id, self.module_id)?;
        let condition = write_condition(self.condition)?;
        write_twin(&self.client, &body, &condition, false, &self.options).await
    }

    /// Like [`UpdateTwin::send`], decoding the updated twin as `T` (one extra conversion, as
    /// in [`GetTwin::send_as`]).
    pub async fn send_as<T: DeserializeOwned>(self) -> Result<Versioned<T>, Error> {
        twin_as(self.send().await?)
    }
}
crate::response::operation!(UpdateTwin => Versioned<Twin>);

/// Replaces (PUT) the tags and desired properties of a device or module twin:
/// [`IotHubClient::replace_twin`], [`IotHubClient::replace_module_twin`].
///
/// Whatever is not given is cleared: `.tags(…)` and `.desired(…)` are the complete new
/// sections. Reported properties are device-owned and never written.
#[derive(Debug, Clone)]
#[must_use = "finish with .send().await"]
pub struct ReplaceTwin {
    client: IotHubClient,
    device_id: String,
    module_id: Option<String>,
    tags: Map<String, Value>,
    desired: Map<String, Value>,
    problem: Option<(Cow<'static, str>, String)>,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl ReplaceTwin {
    fn section(&mut self, name: &'static str, value: impl Serialize) -> Map<String, Value> {
        match serde_json::to_value(value) {
            Ok(Value::Object(m)) => m,
            Ok(other) => {
                if self.problem.is_none() {
                    self.problem = Some((
                        name.into(),
                        format!("must be a JSON object, got {}", kind_of(&other)),
                    ));
                }
                Map::new()
            }
            Err(e) => {
                if self.problem.is_none() {
                    self.problem = Some((name.into(), format!("could not be serialised: {e}")));
                }
                Map::new()
            }
        }
    }

    /// The complete new tags.
    pub fn tags(mut self, tags: impl Serialize) -> Self {
        self.tags = self.section("tags", tags);
        self
    }

    /// The complete new desired properties.
    pub fn desired(mut self, desired: impl Serialize) -> Self {
        self.desired = self.section("desired", desired);
        self
    }

    /// Takes tags and desired properties from a twin you read and modified (the service's
    /// `$metadata` / `$version` entries are dropped), and its ETag as the condition when it
    /// has one.
    pub fn twin(mut self, twin: &Twin) -> Self {
        self.tags = strip_system_keys(&twin.tags);
        self.desired = strip_system_keys(&twin.properties.desired);
        if let Some(e) = &twin.etag {
            self.condition = Some(Condition::IfMatch(e.clone()));
        }
        self
    }

    setters! {
        /// The write condition (default: unconditional, `If-Match: *`).
        condition;
        /// Only replace if the twin still has `etag`.
        if_match;
        options;
    }

    /// Validates and sends; returns the new twin and its ETag.
    pub async fn send(self) -> Result<Versioned<Twin>, Error> {
        check_ids(&self.device_id, self.module_id.as_deref())?;
        if let Some((field, reason)) = self.problem {
            return Err(Error::invalid_input(field, reason));
        }
        validation::check_twin_section("tags", &self.tags)?;
        validation::check_twin_section("desired", &self.desired)?;
        let condition = write_condition(self.condition)?;
        let body = replacement(self.device_id, self.module_id, self.tags, self.desired);
        write_twin(&self.client, &body, &condition, true, &self.options).await
    }

    /// Like [`ReplaceTwin::send`], decoding the twin as `T` (one extra conversion, as in
    /// [`GetTwin::send_as`]).
    pub async fn send_as<T: DeserializeOwned>(self) -> Result<Versioned<T>, Error> {
        twin_as(self.send().await?)
    }
}
crate::response::operation!(ReplaceTwin => Versioned<Twin>);

/// The PUT body: the complete new tags and desired properties.
///
/// The generated [`Twin`] leaves empty maps out when it is serialised; a replacement states
/// its tags even when there are none (`"tags": {}`, which clears them), so an empty tags
/// section is sent through `extra`. An empty desired section is sent as `"properties": {}`:
/// the generated [`TwinProperties`] cannot write `"desired": {}`; the service (and the
/// emulator) replace the desired properties with nothing either way.
fn replacement(
    device_id: String,
    module_id: Option<String>,
    tags: Map<String, Value>,
    desired: Map<String, Value>,
) -> Twin {
    let mut body = Twin::new(device_id);
    body.module_id = module_id;
    if tags.is_empty() {
        body.extra.insert("tags".into(), Value::Object(Map::new()));
    }
    body.tags = tags;
    body.properties.desired = desired;
    body
}

impl IotHubClient {
    /// Reads a device twin (always current, unlike queries).
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// let twin = hub.get_twin("dev-1").send().await?;
    /// println!("{:?} {:?}", twin.etag, twin.value.properties.reported);
    /// // Or as your own type:
    /// let raw: azure_twins::iothub::Versioned<serde_json::Value> = hub.get_twin("dev-1").send_as().await?;
    /// # Ok(()) }
    /// ```
    pub fn get_twin(&self, device_id: impl Into<String>) -> GetTwin {
        GetTwin {
            client: self.clone(),
            device_id: device_id.into(),
            module_id: None,
            options: RequestOptions::default(),
        }
    }

    /// Reads a module twin.
    pub fn get_module_twin(
        &self,
        device_id: impl Into<String>,
        module_id: impl Into<String>,
    ) -> GetTwin {
        GetTwin {
            client: self.clone(),
            device_id: device_id.into(),
            module_id: Some(module_id.into()),
            options: RequestOptions::default(),
        }
    }

    /// Updates (merges into) a device twin's tags and desired properties.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient, etag: azure_twins::ETag) -> Result<(), azure_twins::Error> {
    /// use serde_json::json;
    /// let twin = hub.update_twin("dev-1")
    ///     .desired(json!({ "fw": { "version": "2.1" } }))
    ///     .remove_desired("fw.legacyFlag")
    ///     .if_match(&etag)
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn update_twin(&self, device_id: impl Into<String>) -> UpdateTwin {
        UpdateTwin {
            client: self.clone(),
            device_id: device_id.into(),
            module_id: None,
            patch: TwinPatch::new(),
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Updates (merges into) a module twin's tags and desired properties.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use serde_json::json;
    /// let current = hub.get_module_twin("dev-1", "mod-a").send().await?;
    /// let updated = hub.update_module_twin("dev-1", "mod-a")
    ///     .desired(json!({ "telemetryInterval": 30 }))
    ///     .tags(json!({ "site": "berlin" }))
    ///     .if_match(&current.etag)
    ///     .send()
    ///     .await?;
    /// assert_ne!(updated.etag, current.etag);
    /// # Ok(()) }
    /// ```
    pub fn update_module_twin(
        &self,
        device_id: impl Into<String>,
        module_id: impl Into<String>,
    ) -> UpdateTwin {
        UpdateTwin {
            client: self.clone(),
            device_id: device_id.into(),
            module_id: Some(module_id.into()),
            patch: TwinPatch::new(),
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Replaces a device twin's tags and desired properties.
    pub fn replace_twin(&self, device_id: impl Into<String>) -> ReplaceTwin {
        self.replace(device_id.into(), None)
    }

    /// Replaces a module twin's tags and desired properties.
    pub fn replace_module_twin(
        &self,
        device_id: impl Into<String>,
        module_id: impl Into<String>,
    ) -> ReplaceTwin {
        self.replace(device_id.into(), Some(module_id.into()))
    }

    fn replace(&self, device_id: String, module_id: Option<String>) -> ReplaceTwin {
        ReplaceTwin {
            client: self.clone(),
            device_id,
            module_id,
            tags: Map::new(),
            desired: Map::new(),
            problem: None,
            condition: None,
            options: RequestOptions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    fn field(e: &Error) -> String {
        match e.kind() {
            ErrorKind::InvalidInput { field, .. } => field.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[derive(Serialize)]
    struct Settings {
        interval: u32,
        unit: &'static str,
    }

    #[test]
    fn typed_and_untyped_sections_merge() {
        let p = TwinPatch::new()
            .desired(json!({"settings": {"a": 1}}))
            .desired(json!({"settings": Settings { interval: 5, unit: "s" }}))
            .tags(json!({"site": "b"}));
        assert_eq!(
            p.to_json().unwrap(),
            json!({"tags": {"site": "b"}, "properties": {"desired": {"settings": {"a": 1, "interval": 5, "unit": "s"}}}})
        );
        assert!(TwinPatch::new().is_empty());
        assert_eq!(TwinPatch::new().to_json().unwrap(), json!({}));
    }

    #[test]
    fn removals_are_nulls_at_the_path() {
        let p = TwinPatch::new()
            .remove_tag("a.b")
            .remove_desired("x")
            .set_desired("y.z", 3);
        assert_eq!(
            p.to_json().unwrap(),
            json!({"tags": {"a": {"b": null}}, "properties": {"desired": {"x": null, "y": {"z": 3}}}})
        );
        // A later deeper write replaces an earlier removal of the parent.
        let p = TwinPatch::new().remove_desired("a").set_desired("a.b", 1);
        assert_eq!(p.desired_map()["a"], json!({"b": 1}));
    }

    #[test]
    fn problems_name_the_field() {
        let e = TwinPatch::new().desired(json!(5)).validate().unwrap_err();
        assert_eq!(field(&e), "desired");
        assert!(e.to_string().contains("JSON object"), "{e}");
        let e = TwinPatch::new()
            .tags(json!({"a.b": 1}))
            .validate()
            .unwrap_err();
        assert_eq!(field(&e), "tags.a.b");
        let e = TwinPatch::new()
            .remove_desired("a.$b")
            .validate()
            .unwrap_err();
        assert_eq!(field(&e), "desired.a.$b");
        let e = TwinPatch::new().set_tag("", 1).validate().unwrap_err();
        assert_eq!(field(&e), "tags");
        // The first problem wins even after later valid calls.
        let e = TwinPatch::new()
            .desired(json!([1]))
            .desired(json!({"ok": 1}))
            .validate()
            .unwrap_err();
        assert_eq!(field(&e), "desired");
        assert!(!TwinPatch::new().desired(json!([1])).is_empty());
    }

    #[test]
    fn system_keys_are_stripped_for_replace() {
        let m = json!({"$metadata": {}, "$version": 3, "a": 1});
        assert_eq!(
            Value::Object(strip_system_keys(m.as_object().unwrap())),
            json!({"a": 1})
        );
    }
    /// The PATCH body the generated client serialises: ids, tags, desired; nothing else.
    #[test]
    fn patch_body_on_the_wire() {
        let body = TwinPatch::new()
            .tags(json!({"site": "b"}))
            .set_desired("a.b", 1)
            .into_twin("d".into(), Some("m".into()))
            .unwrap();
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"deviceId": "d", "moduleId": "m", "tags": {"site": "b"},
                "properties": {"desired": {"a": {"b": 1}}}})
        );
        // Tags only: the generated type always writes `properties` (a no-op merge).
        let body = TwinPatch::new()
            .remove_tag("x")
            .into_twin("d".into(), None)
            .unwrap();
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"deviceId": "d", "tags": {"x": null}, "properties": {}})
        );
    }

    /// The PUT body states empty tags (they are cleared), exactly once.
    #[test]
    fn replacement_body_on_the_wire() {
        let empty = replacement("d".into(), None, Map::new(), Map::new());
        let text = serde_json::to_string(&empty).unwrap();
        assert_eq!(text.matches("\"tags\"").count(), 1, "{text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"deviceId": "d", "tags": {}, "properties": {}})
        );
        let full = replacement(
            "d".into(),
            Some("m".into()),
            json!({"t": 1}).as_object().unwrap().clone(),
            json!({"p": 2}).as_object().unwrap().clone(),
        );
        let text = serde_json::to_string(&full).unwrap();
        assert_eq!(text.matches("\"tags\"").count(), 1, "{text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"deviceId": "d", "moduleId": "m", "tags": {"t": 1},
                "properties": {"desired": {"p": 2}}})
        );
    }

    #[test]
    fn section_helpers_read_in_place() {
        let mut t = Twin::new("d");
        t.tags = json!({"site": "b"}).as_object().unwrap().clone();
        t.properties.desired = json!({"n": 1, "$version": 4}).as_object().unwrap().clone();
        t.properties.reported = json!({"$version": 7}).as_object().unwrap().clone();
        #[derive(serde::Deserialize)]
        struct N {
            n: u32,
        }
        assert_eq!(t.desired_as::<N>().unwrap().n, 1);
        assert_eq!(t.desired_version(), Some(4));
        assert_eq!(t.reported_version(), Some(7));
        assert_eq!(t.tags_as::<Value>().unwrap(), json!({"site": "b"}));
        assert!(t.reported_as::<N>().is_err());
        let r = crate::iothub::MethodResponse {
            status: Some(200),
            payload: None,
        };
        assert_eq!(r.payload_as::<Option<u8>>().unwrap(), None);
    }
}
