//! Typed IoT Hub device and module twins: the sections as your types, and the
//! conflict-retrying typed update (merge patch of the diff, `If-Match`).

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::DEFAULT_MAX_ATTEMPTS;
use super::diff::{merge_patch_diff, strip_nulls};
use super::dtdl::{DtdlInterface, ModelFn, model_of};
use crate::iothub::builders::GetTwin;
use crate::iothub::{Twin, TwinPatch};
use crate::{ETag, Error, IotHubClient, RequestOptions, Versioned};

/// A device or module twin's sections as your types: `tags` (`T`), desired properties (`D`)
/// and reported properties (`R`), with the Plug and Play model id the device announced.
///
/// The service's `$metadata` and `$version` are removed from the sections before decoding,
/// and a section the twin does not have decodes from `{}` (so use `Option` or
/// `#[serde(default)]` fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TwinSections<T = Value, D = Value, R = Value> {
    /// The twin's tags.
    pub tags: T,
    /// The desired properties.
    pub desired: D,
    /// The reported properties (written by the device; a typed update must not change them).
    pub reported: R,
    /// The IoT Plug and Play model id the device announced (`modelId`), if any.
    pub model_id: Option<String>,
}

fn section<X: DeserializeOwned>(name: &str, map: &Map<String, Value>) -> Result<X, Error> {
    let clean: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serde_json::from_value(Value::Object(clean)).map_err(|e| {
        Error::new(
            crate::ErrorKind::DataConversion,
            format!("the twin's {name} do not decode as the requested type: {e}"),
        )
    })
}

impl<T: DeserializeOwned, D: DeserializeOwned, R: DeserializeOwned> TwinSections<T, D, R> {
    /// The sections of a twin read with the untyped API.
    pub fn from_twin(twin: &Twin) -> Result<Self, Error> {
        Ok(TwinSections {
            tags: section("tags", &twin.tags)?,
            desired: section("desired properties", &twin.properties.desired)?,
            reported: section("reported properties", &twin.properties.reported)?,
            model_id: twin.model_id.clone().filter(|m| !m.is_empty()),
        })
    }
}

impl GetTwin {
    /// Sends the request and decodes the twin's sections as `T` (tags), `D` (desired) and
    /// `R` (reported).
    pub async fn send_sections<T, D, R>(self) -> Result<Versioned<TwinSections<T, D, R>>, Error>
    where
        T: DeserializeOwned,
        D: DeserializeOwned,
        R: DeserializeOwned,
    {
        let v = self.send().await?;
        Ok(Versioned {
            value: TwinSections::from_twin(&v.value)?,
            etag: v.etag,
        })
    }
}

impl IotHubClient {
    /// The typed read-modify-write of a device twin: reads the twin as [`TwinSections`],
    /// applies `change`, sends the merge patch of what changed in tags and desired
    /// properties (removed members as `null`) with `If-Match`, and on 412 starts over with
    /// the latest twin, at most [`max_attempts`](UpdateTwinSections::max_attempts) times.
    /// Changing `reported` or `model_id` is refused (the device owns them); nothing is sent
    /// when nothing changed. The diff is between your types' serialisations, so members of
    /// the twin that `T` / `D` do not declare are never touched.
    ///
    /// ```no_run
    /// # async fn demo(hub: azure_twins::IotHubClient) -> Result<(), azure_twins::Error> {
    /// use azure_twins::typed::TwinSections;
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Desired { #[serde(default)] interval: u32 }
    /// let done = hub
    ///     .update_twin_sections("dev-1", |t: &mut TwinSections<serde_json::Value, Desired>| {
    ///         t.desired.interval = 30
    ///     })
    ///     .send()
    ///     .await?;
    /// println!("{} attempt(s), etag {}", done.attempts, done.etag);
    /// # Ok(()) }
    /// ```
    pub fn update_twin_sections<T, D, R, F>(
        &self,
        device_id: impl Into<String>,
        change: F,
    ) -> UpdateTwinSections<T, D, R, F>
    where
        F: FnMut(&mut TwinSections<T, D, R>),
    {
        self.sections_update(device_id.into(), None, change)
    }

    /// The typed read-modify-write of a module twin (as
    /// [`update_twin_sections`](Self::update_twin_sections)).
    pub fn update_module_twin_sections<T, D, R, F>(
        &self,
        device_id: impl Into<String>,
        module_id: impl Into<String>,
        change: F,
    ) -> UpdateTwinSections<T, D, R, F>
    where
        F: FnMut(&mut TwinSections<T, D, R>),
    {
        self.sections_update(device_id.into(), Some(module_id.into()), change)
    }

    fn sections_update<T, D, R, F>(
        &self,
        device_id: String,
        module_id: Option<String>,
        change: F,
    ) -> UpdateTwinSections<T, D, R, F> {
        UpdateTwinSections {
            client: self.clone(),
            device_id,
            module_id,
            change,
            model: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            options: RequestOptions::default(),
            _t: PhantomData,
        }
    }
}

/// Holds the section types without owning values of them.
type Marker<T, D, R> = fn() -> TwinSections<T, D, R>;

/// Builder of [`IotHubClient::update_twin_sections`] and
/// [`IotHubClient::update_module_twin_sections`].
#[must_use = "call .send().await to perform the update"]
pub struct UpdateTwinSections<T, D, R, F> {
    client: IotHubClient,
    device_id: String,
    module_id: Option<String>,
    change: F,
    model: Option<(&'static str, ModelFn)>,
    max_attempts: u32,
    options: RequestOptions,
    _t: PhantomData<Marker<T, D, R>>,
}

impl<T, D, R, F> std::fmt::Debug for UpdateTwinSections<T, D, R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateTwinSections")
            .field("device_id", &self.device_id)
            .field("module_id", &self.module_id)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// The outcome of a typed IoT Hub twin update.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UpdatedSections<T, D, R> {
    /// The sections as the service returned them after the write (as read when nothing had
    /// to be sent).
    pub value: TwinSections<T, D, R>,
    /// The twin's ETag after the write.
    pub etag: ETag,
    /// Attempts made: 1 when no conflict happened.
    pub attempts: u32,
    /// The merge patch sent (`{"tags": …, "properties": {"desired": …}}`; `Null` when
    /// nothing was sent).
    pub patch: Value,
}

impl<T, D, R, F> UpdateTwinSections<T, D, R, F>
where
    T: Serialize + DeserializeOwned,
    D: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
    F: FnMut(&mut TwinSections<T, D, R>),
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

    /// The device is an IoT Plug and Play device of model `M`: its announced model id must
    /// be `M::DTMI` (checked on each read), and the desired properties must be writable
    /// properties of `M` (checked locally before sending).
    pub fn pnp_model<M: DtdlInterface>(mut self) -> Self {
        self.model = Some((M::DTMI, model_of::<M>));
        self
    }

    /// Runs the update. Fails with the last 412 ([`Error::is_precondition_failed`]) when
    /// every attempt met a conflict, with an `InvalidInput` error (nothing sent) when the
    /// change breaks a rule, and with the service's error otherwise.
    pub async fn send(mut self) -> Result<UpdatedSections<T, D, R>, Error> {
        let model = match self.model {
            Some((dtmi, f)) => Some((dtmi, f()?)),
            None => None,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let read = match &self.module_id {
                Some(m) => self.client.get_module_twin(&self.device_id, m),
                None => self.client.get_twin(&self.device_id),
            };
            let current = read.options(self.options.clone()).send().await?;
            let mut value = TwinSections::<T, D, R>::from_twin(&current.value)?;
            if let Some((dtmi, _)) = &model
                && value.model_id.as_deref() != Some(*dtmi)
            {
                return Err(Error::invalid_input(
                    "modelId",
                    format!(
                        "the device announced {:?}, not the expected Plug and Play model {dtmi}",
                        value.model_id.as_deref().unwrap_or("no model")
                    ),
                ));
            }
            let old = json_sections(&value)?;
            (self.change)(&mut value);
            let new = json_sections(&value)?;
            if old.2 != new.2 {
                return Err(Error::invalid_input(
                    "reported",
                    "was changed by the update; reported properties are written by the device only",
                ));
            }
            if old.3 != new.3 {
                return Err(Error::invalid_input(
                    "model_id",
                    "was changed by the update; the device announces its model id",
                ));
            }
            if let Some((_, m)) = &model {
                m.validate_desired(&new.1)?;
            }
            let tags = merge_patch_diff(&old.0, &new.0);
            let desired = merge_patch_diff(&old.1, &new.1);
            if tags.is_empty() && desired.is_empty() {
                return Ok(UpdatedSections {
                    value,
                    etag: current.etag,
                    attempts: attempt,
                    patch: Value::Null,
                });
            }
            let patch = TwinPatch::new()
                .tags(Value::Object(tags))
                .desired(Value::Object(desired));
            let sent = patch.to_json()?;
            let write = match &self.module_id {
                Some(m) => self.client.update_module_twin(&self.device_id, m),
                None => self.client.update_twin(&self.device_id),
            };
            match write
                .patch(patch)
                .if_match(current.etag.clone())
                .options(self.options.clone())
                .send()
                .await
            {
                Ok(done) => {
                    return Ok(UpdatedSections {
                        value: TwinSections::from_twin(&done.value)?,
                        etag: done.etag,
                        attempts: attempt,
                        patch: sent,
                    });
                }
                Err(e) if e.is_precondition_failed() && attempt < self.max_attempts => {
                    tracing::debug!(
                        attempt,
                        "typed twin update met a conflict (412); retrying with the latest twin"
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }
}
crate::response::operation!([T: Serialize + DeserializeOwned + Send + Sync + 'static, D: Serialize + DeserializeOwned + Send + Sync + 'static, R: Serialize + DeserializeOwned + Send + Sync + 'static, F: FnMut(&mut TwinSections<T, D, R>) + Send + Sync + 'static] UpdateTwinSections<T, D, R, F> => UpdatedSections<T, D, R>);

type Sections = (Value, Value, Value, Option<String>);

fn json_sections<T: Serialize, D: Serialize, R: Serialize>(
    s: &TwinSections<T, D, R>,
) -> Result<Sections, Error> {
    let j = |name: &str, v: Result<Value, serde_json::Error>| {
        v.map(strip_nulls).map_err(|e| {
            Error::invalid_input(
                name.to_owned(),
                format!("could not be serialised to JSON: {e}"),
            )
        })
    };
    Ok((
        j("tags", serde_json::to_value(&s.tags))?,
        j("desired", serde_json::to_value(&s.desired))?,
        j("reported", serde_json::to_value(&s.reported))?,
        s.model_id.clone(),
    ))
}

/// The IoT Plug and Play model id of devices of type `M` (`M::DTMI`, checked to be a DTMI
/// with a version): what the device announces when it connects (`model-id`).
pub fn pnp_model_id<M: DtdlInterface>() -> Result<&'static str, Error> {
    super::dtdl::check_dtmi("DTMI", M::DTMI)?;
    Ok(M::DTMI)
}
