//! DTDL model operations: create (several at once), get, list, decommission, delete.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use super::client::{
    DigitalTwinsClient, api_version, check_page_size, failed_pager, page_of, to_body,
};
use super::twin::{validate_model_document, validate_model_id};
use super::twins::object;
use crate::paging::{Continuation, Pager};
use crate::request::setters;
use crate::{Error, RequestOptions};

/// The service's limit on models per upload call.
pub const MAX_MODELS_PER_CALL: usize = 250;

/// A model's metadata (`id`, `display_name` and `description` by language, `decommissioned`,
/// `upload_time`), and its DTDL definition in `model` when requested (empty otherwise). The
/// generated wire type (`DigitalTwinsModelData` of the spec).
pub use crate::raw::digitaltwins::types::DigitalTwinsModelData as ModelData;

impl DigitalTwinsClient {
    /// Uploads DTDL models in one all-or-nothing call (`POST /models`). Models that reference
    /// each other can (and usually must) be uploaded together.
    ///
    /// Each model must be a JSON object with a valid `@id` DTMI, `"@type": "Interface"` and a
    /// DTDL `@context`; ids must be unique; at most 250 per call. These
    /// checks run before anything is sent.
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::DigitalTwinsClient;
    /// # use serde_json::json;
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let room = json!({
    ///     "@id": "dtmi:com:example:Room;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
    ///     "contents": [{"@type": "Property", "name": "temperature", "schema": "double"}]
    /// });
    /// let created = dt.create_models([room]).send().await?;
    /// assert_eq!(created[0].id, "dtmi:com:example:Room;1");
    /// # Ok(()) }
    /// ```
    pub fn create_models<I, M>(&self, models: I) -> CreateModels
    where
        I: IntoIterator<Item = M>,
        M: Serialize,
    {
        CreateModels {
            client: self.clone(),
            models: models.into_iter().map(|m| to_body("models", m)).collect(),
            options: RequestOptions::default(),
        }
    }

    /// Gets one model, with its DTDL definition unless `.include_definition(false)`.
    pub fn get_model(&self, model_id: impl Into<String>) -> GetModel {
        GetModel {
            client: self.clone(),
            model_id: model_id.into(),
            include_definition: true,
            options: RequestOptions::default(),
        }
    }

    /// Lists models across all pages; `.dependencies_for([...])` restricts the list to the given
    /// models and everything they depend on.
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::DigitalTwinsClient;
    /// # use futures::TryStreamExt;
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let mut models = dt.list_models().dependencies_for(["dtmi:com:example:Room;1"]).into_stream();
    /// while let Some(m) = models.try_next().await? {
    ///     println!("{} decommissioned={}", m.id, m.decommissioned);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_models(&self) -> ListModels {
        ListModels {
            client: self.clone(),
            dependencies_for: Vec::new(),
            include_definition: false,
            page_size: None,
            continuation: None,
            options: RequestOptions::default(),
        }
    }

    /// Decommissions a model: existing twins keep working, new twins cannot use it. Cannot be
    /// undone.
    pub fn decommission_model(&self, model_id: impl Into<String>) -> DecommissionModel {
        DecommissionModel {
            client: self.clone(),
            model_id: model_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Deletes a model. Fails with 409 (`ModelReferencesNotDeleted`) while other models
    /// reference it.
    pub fn delete_model(&self, model_id: impl Into<String>) -> DeleteModel {
        DeleteModel {
            client: self.clone(),
            model_id: model_id.into(),
            options: RequestOptions::default(),
        }
    }
}

/// Builder of [`DigitalTwinsClient::create_models`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct CreateModels {
    client: DigitalTwinsClient,
    models: Vec<Result<Value, Error>>,
    options: RequestOptions,
}

impl CreateModels {
    setters! {
        /// Per-call options. Model upload is not retried by default (a retry after a lost
        /// response fails with 409 `ModelAlreadyExists`).
        options;
    }

    /// Sends the models; returns their metadata (without definitions).
    pub async fn send(self) -> Result<Vec<ModelData>, Error> {
        if self.models.is_empty() {
            return Err(Error::invalid_input(
                "models",
                "must contain at least one model",
            ));
        }
        if self.models.len() > MAX_MODELS_PER_CALL {
            return Err(Error::invalid_input(
                "models",
                format!(
                    "has {} models; the service takes at most {MAX_MODELS_PER_CALL} per call",
                    self.models.len()
                ),
            ));
        }
        let mut seen = HashSet::new();
        let mut body = Vec::with_capacity(self.models.len());
        for (i, m) in self.models.into_iter().enumerate() {
            let m = m?;
            let id = validate_model_document(i, &m)?;
            if !seen.insert(id.clone()) {
                return Err(Error::invalid_input(
                    format!("models[{i}].@id"),
                    format!("{id:?} appears more than once in this upload"),
                ));
            }
            body.push(object(m));
        }
        let created = self
            .client
            .fetch(&self.options, |raw| {
                raw.digital_twin_models_add(api_version(raw), None, None, &body)
            })
            .await?;
        Ok(created.into())
    }
}
crate::response::operation!(CreateModels => Vec<ModelData>);

/// Builder of [`DigitalTwinsClient::get_model`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct GetModel {
    client: DigitalTwinsClient,
    model_id: String,
    include_definition: bool,
    options: RequestOptions,
}

impl GetModel {
    /// Whether to return the DTDL definition (default `true`).
    pub fn include_definition(mut self, include: bool) -> Self {
        self.include_definition = include;
        self
    }

    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<ModelData, Error> {
        validate_model_id("model_id", &self.model_id)?;
        let id = self.model_id.as_str();
        let include = Some(self.include_definition);
        self.client
            .fetch(&self.options, |raw| {
                raw.digital_twin_models_get_by_id(id, api_version(raw), include, None, None)
            })
            .await
    }
}
crate::response::operation!(GetModel => ModelData);

/// Builder of [`DigitalTwinsClient::list_models`].
#[derive(Debug)]
#[must_use = "call .into_stream() to list"]
pub struct ListModels {
    client: DigitalTwinsClient,
    dependencies_for: Vec<String>,
    include_definition: bool,
    page_size: Option<u32>,
    continuation: Option<Continuation>,
    options: RequestOptions,
}

impl ListModels {
    /// Only these models and their dependencies.
    pub fn dependencies_for<I, S>(mut self, model_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dependencies_for = model_ids.into_iter().map(Into::into).collect();
        self
    }

    /// Whether to return each model's DTDL definition (default `false`).
    pub fn include_definition(mut self, include: bool) -> Self {
        self.include_definition = include;
        self
    }

    setters! {
        /// Maximum models per page (`max-items-per-page`; the service caps it at 100).
        page_size;
        continuation;
        /// Per-call options, applied to every page.
        options;
    }

    /// All models, page after page.
    pub fn into_stream(self) -> Pager<ModelData> {
        // Page size before ids, so the error names the first bad field in builder order.
        let checked = check_page_size(self.page_size).and_then(|_| {
            for (i, id) in self.dependencies_for.iter().enumerate() {
                validate_model_id(&format!("dependencies_for[{i}]"), id)?;
            }
            Ok(())
        });
        if let Err(e) = checked {
            return failed_pager(e);
        }
        let deps = self.dependencies_for;
        let include = self.include_definition;
        self.client.list_pager(
            self.options,
            self.page_size,
            self.continuation,
            move |client, options, page_size| {
                let deps = deps.clone();
                async move {
                    let deps_ref = (!deps.is_empty()).then_some(&deps);
                    client
                        .call(&options, |raw| {
                            raw.digital_twin_models_list(
                                api_version(raw),
                                deps_ref,
                                Some(include),
                                page_size,
                                None,
                                None,
                            )
                        })
                        .await
                        .map(page_of)
                }
            },
            Ok,
        )
    }
}

/// Builder of [`DigitalTwinsClient::decommission_model`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct DecommissionModel {
    client: DigitalTwinsClient,
    model_id: String,
    options: RequestOptions,
}

impl DecommissionModel {
    setters! { options; }

    /// Sends `[{"op": "replace", "path": "/decommissioned", "value": true}]`, the only patch
    /// the service accepts on a model.
    pub async fn send(self) -> Result<(), Error> {
        validate_model_id("model_id", &self.model_id)?;
        let mut op = serde_json::Map::new();
        op.insert("op".into(), "replace".into());
        op.insert("path".into(), "/decommissioned".into());
        op.insert("value".into(), true.into());
        let body = vec![op];
        let id = self.model_id.as_str();
        self.client
            .call(&self.options, |raw| {
                raw.digital_twin_models_update(id, api_version(raw), None, None, &body)
            })
            .await?;
        Ok(())
    }
}
crate::response::operation!(DecommissionModel => ());

/// Builder of [`DigitalTwinsClient::delete_model`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct DeleteModel {
    client: DigitalTwinsClient,
    model_id: String,
    options: RequestOptions,
}

impl DeleteModel {
    setters! { options; }

    /// Sends the request.
    pub async fn send(self) -> Result<(), Error> {
        validate_model_id("model_id", &self.model_id)?;
        let id = self.model_id.as_str();
        self.client
            .call(&self.options, |raw| {
                raw.digital_twin_models_delete(id, api_version(raw), None, None)
            })
            .await?;
        Ok(())
    }
}
crate::response::operation!(DeleteModel => ());
