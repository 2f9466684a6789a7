//! Relationship operations: create (create or replace), get, update, delete, list outgoing and incoming.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client::{
    DigitalTwinsClient, Versioned, api_version, decode_object, etag_or, failed_pager,
    into_versioned, page_of, to_body,
};
use super::json_patch::JsonPatch;
use super::twin::{validate_id, validate_relationship_body};
use super::twins::{
    condition_not_supported, if_match_header, object, patch_body, read_back, resolve_deleted,
    resolve_lost, star,
};
use crate::paging::{Continuation, Pager};
use crate::raw::digitaltwins::types;
use crate::request::setters;
use crate::{Condition, ETag, Error, RequestOptions};

/// An incoming relationship, as listed by [`DigitalTwinsClient::list_incoming_relationships`]:
/// `relationship_id` (`$relationshipId`, unique per source twin), `source_id` (`$sourceId`),
/// `relationship_name` and `relationship_link` (the relationship's path on the source twin).
/// The generated wire type (`IncomingRelationship` of the spec).
pub use crate::raw::digitaltwins::types::IncomingRelationship;

impl DigitalTwinsClient {
    /// Adds or replaces a relationship from `source_id`
    /// (`PUT /digitaltwins/{source}/relationships/{id}`).
    ///
    /// `relationship` serialises to an object with `$targetId` and `$relationshipName` (e.g. a
    /// [`BasicRelationship`](super::BasicRelationship)). `.condition(Condition::IfNoneMatchAny)`
    /// creates only if absent (else 412).
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::{DigitalTwinsClient, BasicRelationship};
    /// # use azure_twins::Condition;
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let rel = BasicRelationship::new("floor-1-room-1", "floor-1", "room-1", "contains");
    /// let created = dt.create_relationship("floor-1", "floor-1-room-1", &rel)
    ///     .condition(Condition::IfNoneMatchAny).send().await?;
    /// # let _ = created; Ok(()) }
    /// ```
    pub fn create_relationship(
        &self,
        source_id: impl Into<String>,
        relationship_id: impl Into<String>,
        relationship: impl Serialize,
    ) -> CreateRelationship {
        CreateRelationship {
            client: self.clone(),
            source_id: source_id.into(),
            relationship_id: relationship_id.into(),
            body: to_body("relationship", relationship),
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Gets a relationship with its ETag.
    pub fn get_relationship(
        &self,
        source_id: impl Into<String>,
        relationship_id: impl Into<String>,
    ) -> GetRelationship {
        GetRelationship {
            client: self.clone(),
            source_id: source_id.into(),
            relationship_id: relationship_id.into(),
            options: RequestOptions::default(),
        }
    }

    /// Updates a relationship's properties with a JSON Patch. Returns the new ETag.
    pub fn update_relationship(
        &self,
        source_id: impl Into<String>,
        relationship_id: impl Into<String>,
        patch: JsonPatch,
    ) -> UpdateRelationship {
        UpdateRelationship {
            client: self.clone(),
            source_id: source_id.into(),
            relationship_id: relationship_id.into(),
            patch,
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Deletes a relationship.
    pub fn delete_relationship(
        &self,
        source_id: impl Into<String>,
        relationship_id: impl Into<String>,
    ) -> DeleteRelationship {
        DeleteRelationship {
            client: self.clone(),
            source_id: source_id.into(),
            relationship_id: relationship_id.into(),
            condition: None,
            options: RequestOptions::default(),
        }
    }

    /// Lists the relationships going out of `source_id`, across all pages (following
    /// `nextLink`), optionally only those named `.relationship_name(…)`.
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::{DigitalTwinsClient, BasicRelationship};
    /// # use futures::TryStreamExt;
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let rels: Vec<BasicRelationship> = dt.list_relationships("floor-1")
    ///     .relationship_name("contains")
    ///     .into_stream_as()
    ///     .try_collect()
    ///     .await?;
    /// # let _ = rels; Ok(()) }
    /// ```
    pub fn list_relationships(&self, source_id: impl Into<String>) -> ListRelationships {
        ListRelationships {
            client: self.clone(),
            source_id: source_id.into(),
            relationship_name: None,
            page_size: None,
            continuation: None,
            options: RequestOptions::default(),
        }
    }

    /// Lists the relationships pointing at `twin_id`, across all pages.
    pub fn list_incoming_relationships(
        &self,
        twin_id: impl Into<String>,
    ) -> ListIncomingRelationships {
        ListIncomingRelationships {
            client: self.clone(),
            twin_id: twin_id.into(),
            page_size: None,
            continuation: None,
            options: RequestOptions::default(),
        }
    }
}

/// Builder of [`DigitalTwinsClient::create_relationship`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct CreateRelationship {
    client: DigitalTwinsClient,
    source_id: String,
    relationship_id: String,
    body: Result<Value, Error>,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl CreateRelationship {
    setters! {
        /// Only [`Condition::IfNoneMatchAny`] (create only if absent) is supported.
        condition;
        options;
    }

    /// Sends the request; returns the stored relationship and its ETag.
    pub async fn send(self) -> Result<Versioned<Value>, Error> {
        self.send_as().await
    }

    /// Sends the request and decodes the stored relationship as `T`.
    pub async fn send_as<T: DeserializeOwned>(self) -> Result<Versioned<T>, Error> {
        validate_id("source_id", &self.source_id)?;
        validate_id("relationship_id", &self.relationship_id)?;
        let body = self.body?;
        validate_relationship_body(&self.source_id, &self.relationship_id, &body)?;
        let if_none_match = match &self.condition {
            None => None,
            Some(Condition::IfNoneMatchAny) => {
                Some(star::<types::DigitalTwinsAddRelationshipIfNoneMatch>()?)
            }
            Some(_) => {
                return Err(condition_not_supported(
                    "create_relationship",
                    "IfNoneMatchAny",
                ));
            }
        };
        let create = if_none_match.is_some();
        let map = object(body);
        let (id, rid) = (self.source_id.as_str(), self.relationship_id.as_str());
        let result = self
            .client
            .call(&self.options, |raw| {
                raw.digital_twins_add_relationship(
                    id,
                    rid,
                    api_version(raw),
                    if_none_match,
                    None,
                    None,
                    &map,
                )
            })
            .await
            .and_then(into_versioned);
        let (client, options) = (&self.client, &self.options);
        resolve_lost(
            result,
            create,
            Value::Object(map.clone()),
            None,
            || async move { read_back(read_relationship(client, options, id, rid).await) },
        )
        .await
    }
}
crate::response::operation!(CreateRelationship => Versioned<Value>);

/// Builder of [`DigitalTwinsClient::get_relationship`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct GetRelationship {
    client: DigitalTwinsClient,
    source_id: String,
    relationship_id: String,
    options: RequestOptions,
}

impl GetRelationship {
    setters! { options; }

    /// Sends the request; returns the relationship as JSON with its ETag.
    pub async fn send(self) -> Result<Versioned<Value>, Error> {
        self.send_as().await
    }

    /// Sends the request and decodes the relationship as `U` (e.g.
    /// [`BasicRelationship`](super::BasicRelationship)).
    pub async fn send_as<U: DeserializeOwned>(self) -> Result<Versioned<U>, Error> {
        validate_id("source_id", &self.source_id)?;
        validate_id("relationship_id", &self.relationship_id)?;
        let (id, rid) = (self.source_id.as_str(), self.relationship_id.as_str());
        let rv = self
            .client
            .call(&self.options, |raw| {
                raw.digital_twins_get_relationship_by_id(id, rid, api_version(raw), None, None)
            })
            .await?;
        into_versioned(rv)
    }
}
crate::response::operation!(GetRelationship => Versioned<Value>);

/// Builder of [`DigitalTwinsClient::update_relationship`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct UpdateRelationship {
    client: DigitalTwinsClient,
    source_id: String,
    relationship_id: String,
    patch: JsonPatch,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl UpdateRelationship {
    setters! {
        /// Only apply if the relationship's ETag is still `etag` (else 412).
        if_match;
        /// [`Condition::IfMatch`] or [`Condition::IfMatchAny`].
        condition;
        options;
    }

    /// Sends the patch; returns the relationship's new ETag.
    pub async fn send(self) -> Result<ETag, Error> {
        validate_id("source_id", &self.source_id)?;
        validate_id("relationship_id", &self.relationship_id)?;
        self.patch.validate()?;
        let if_match = if_match_header("update_relationship", self.condition.as_ref())?;
        let body = patch_body(&self.patch);
        let (id, rid) = (self.source_id.as_str(), self.relationship_id.as_str());
        let result = self
            .client
            .call(&self.options, |raw| {
                raw.digital_twins_update_relationship(
                    id,
                    rid,
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
            read_back::<_, Value>(read_relationship(client, options, id, rid).await)
                .map(|s| s.map(|(doc, etag, v)| (doc, etag, v.etag)))
        })
        .await
    }
}
crate::response::operation!(UpdateRelationship => ETag);

/// Builder of [`DigitalTwinsClient::delete_relationship`].
#[derive(Debug)]
#[must_use = "call .send().await to perform the request"]
pub struct DeleteRelationship {
    client: DigitalTwinsClient,
    source_id: String,
    relationship_id: String,
    condition: Option<Condition>,
    options: RequestOptions,
}

impl DeleteRelationship {
    setters! {
        /// Only delete if the relationship's ETag is still `etag` (else 412).
        if_match;
        /// [`Condition::IfMatch`] or [`Condition::IfMatchAny`].
        condition;
        options;
    }

    /// Sends the request.
    pub async fn send(self) -> Result<(), Error> {
        validate_id("source_id", &self.source_id)?;
        validate_id("relationship_id", &self.relationship_id)?;
        let if_match = if_match_header("delete_relationship", self.condition.as_ref())?;
        let (id, rid) = (self.source_id.as_str(), self.relationship_id.as_str());
        let result = self
            .client
            .call(&self.options, |raw| {
                raw.digital_twins_delete_relationship(
                    id,
                    rid,
                    api_version(raw),
                    if_match.as_deref(),
                    None,
                    None,
                )
            })
            .await
            .map(drop);
        let (client, options) = (&self.client, &self.options);
        resolve_deleted(result, || async move {
            read_back::<_, Value>(read_relationship(client, options, id, rid).await)
        })
        .await
    }
}
crate::response::operation!(DeleteRelationship => ());

/// The generated relationship GET, for read-backs after a lost answer.
async fn read_relationship(
    client: &DigitalTwinsClient,
    options: &RequestOptions,
    id: &str,
    rid: &str,
) -> Result<progenitor_client::ResponseValue<types::Relationship>, Error> {
    client
        .call(options, |raw| {
            raw.digital_twins_get_relationship_by_id(id, rid, api_version(raw), None, None)
        })
        .await
}

/// Builder of [`DigitalTwinsClient::list_relationships`].
#[derive(Debug)]
#[must_use = "call .into_stream() to list"]
pub struct ListRelationships {
    client: DigitalTwinsClient,
    source_id: String,
    relationship_name: Option<String>,
    page_size: Option<u32>,
    continuation: Option<Continuation>,
    options: RequestOptions,
}

impl ListRelationships {
    /// Only relationships with this name.
    pub fn relationship_name(mut self, name: impl Into<String>) -> Self {
        self.relationship_name = Some(name.into());
        self
    }

    setters! {
        /// Maximum relationships per page (`max-items-per-page`; declared for relationship lists
        /// by the codegen fixup `adt_relationship_lists_page_size`).
        page_size;
        continuation;
        /// Per-call options, applied to every page.
        options;
    }

    /// All relationships as JSON, page after page.
    pub fn into_stream(self) -> Pager<Value> {
        self.into_stream_as()
    }

    /// All relationships decoded as `T` (e.g. [`BasicRelationship`](super::BasicRelationship)):
    /// each relationship object of the generated page is deserialised once into `T`.
    pub fn into_stream_as<T: DeserializeOwned + Send + 'static>(self) -> Pager<T> {
        let source_id = self.source_id;
        let name = self.relationship_name;
        let page_size = self.page_size;
        if let Err(e) = validate_id("source_id", &source_id) {
            return failed_pager(e);
        }
        self.client.list_pager(
            self.options,
            page_size,
            self.continuation,
            move |client, options, _| {
                let source_id = source_id.clone();
                let name = name.clone();
                async move {
                    client
                        .call(&options, |raw| {
                            raw.digital_twins_list_relationships(
                                &source_id,
                                api_version(raw),
                                name.as_deref(),
                                page_size.map(i64::from),
                                None,
                                None,
                            )
                        })
                        .await
                        .map(page_of)
                }
            },
            decode_object,
        )
    }
}

/// Builder of [`DigitalTwinsClient::list_incoming_relationships`].
#[derive(Debug)]
#[must_use = "call .into_stream() to list"]
pub struct ListIncomingRelationships {
    client: DigitalTwinsClient,
    twin_id: String,
    page_size: Option<u32>,
    continuation: Option<Continuation>,
    options: RequestOptions,
}

impl ListIncomingRelationships {
    setters! {
        /// Maximum relationships per page (`max-items-per-page`; declared for relationship lists
        /// by the codegen fixup `adt_relationship_lists_page_size`).
        page_size;
        continuation;
        /// Per-call options, applied to every page.
        options;
    }

    /// All incoming relationships, page after page.
    pub fn into_stream(self) -> Pager<IncomingRelationship> {
        let twin_id = self.twin_id;
        let page_size = self.page_size;
        if let Err(e) = validate_id("twin_id", &twin_id) {
            return failed_pager(e);
        }
        self.client.list_pager(
            self.options,
            page_size,
            self.continuation,
            move |client, options, _| {
                let twin_id = twin_id.clone();
                async move {
                    client
                        .call(&options, |raw| {
                            raw.digital_twins_list_incoming_relationships(
                                &twin_id,
                                api_version(raw),
                                page_size.map(i64::from),
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
