//! Bulk import through an import job: [`DigitalTwinsClient::bulk_import`] writes models, twins
//! and relationships from iterators or streams as the import job's NDJSON input blob (staged
//! block by block, never collected in memory), starts the job
//! ([`create_import_job`](DigitalTwinsClient::create_import_job)), waits for it
//! ([`wait_for_import_job`](DigitalTwinsClient::wait_for_import_job)) and reads the errors
//! from the job's log blob.
//!
//! The input file, one JSON document per line:
//!
//! ```text
//! {"Section": "Header"}
//! {"fileVersion": "1.0.0", "author": "…", "organization": "…"}
//! {"Section": "Models"}
//! {"@id": "dtmi:com:example:Room;1", "@type": "Interface", …}
//! {"Section": "Twins"}
//! {"$dtId": "room-1", "$metadata": {"$model": "dtmi:com:example:Room;1"}, "temperature": 20}
//! {"Section": "Relationships"}
//! {"$dtId": "floor-1", "$relationshipId": "r1", "$targetId": "room-1", "$relationshipName": "contains"}
//! ```
//!
//! Blob I/O uses the Azure SDK's `azure_storage_blob` over this client's HTTP connection pool
//! (see `src/storage.rs`); the SAS URLs are [`Secret`]s and appear in no error or `Debug`.

use std::fmt;
use std::time::Duration;

use futures::stream::{self, BoxStream, Stream, StreamExt};
use serde_json::{Map, Value};

use super::client::DigitalTwinsClient;
use super::jobs::{ImportJob, JobStatus};
use super::twin::{BasicDigitalTwin, BasicRelationship, validate_id, validate_model_id};
use crate::auth::Secret;
use crate::storage::{BlobWriter, check_storage_url, read_blob_lines};
use crate::{Error, RequestOptions};

/// The default size of a staged block: 4 MiB.
pub const DEFAULT_BLOCK_SIZE: usize = 4 * 1024 * 1024;
/// The most log errors an outcome keeps by default (all are counted).
pub const DEFAULT_MAX_LOG_ERRORS: usize = 1000;

/// One `"logType": "Error"` line of an import job's log blob.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ImportLogError {
    /// The line's `timestamp`.
    pub timestamp: Option<String>,
    /// `details.code` (e.g. `DTDLParserError`, `ModelNotFound`).
    pub code: Option<String>,
    /// `details.message`.
    pub message: Option<String>,
    /// The whole log line.
    pub line: Value,
}

impl ImportLogError {
    fn from_line(line: Value) -> ImportLogError {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let details = line.get("details");
        ImportLogError {
            timestamp: text(line.get("timestamp")),
            code: text(details.and_then(|d| d.get("code"))),
            message: text(details.and_then(|d| d.get("message"))),
            line,
        }
    }
}

/// What a bulk import did: the finished job, what was written, and the log's errors.
///
/// Its `Debug` names the job, its status and error, the counts and the first log error; it
/// leaves out the job's blob URIs (the service echoes the SAS URLs in `input_blob_uri` /
/// `output_blob_uri`) and the other log errors.
#[derive(Clone)]
#[non_exhaustive]
pub struct BulkImportOutcome {
    /// The import job as it finished (`status`, `error` for a failed job).
    pub job: ImportJob,
    /// Models written to the input blob.
    pub models: u64,
    /// Twins written to the input blob.
    pub twins: u64,
    /// Relationships written to the input blob.
    pub relationships: u64,
    /// Size of the input blob in bytes.
    pub input_bytes: u64,
    /// Lines read from the log blob (0 when the job wrote no log).
    pub log_lines: u64,
    /// `"logType": "Error"` lines of the log, in order, at most
    /// [`max_log_errors`](BulkImport::max_log_errors) of them.
    pub errors: Vec<ImportLogError>,
    /// How many error lines the log has (may exceed `errors.len()`).
    pub error_count: u64,
}

impl fmt::Debug for BulkImportOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkImportOutcome")
            .field("job_id", &self.job.id)
            .field("status", &self.job.status)
            .field("job_error", &self.job.error)
            .field("models", &self.models)
            .field("twins", &self.twins)
            .field("relationships", &self.relationships)
            .field("input_bytes", &self.input_bytes)
            .field("log_lines", &self.log_lines)
            .field("error_count", &self.error_count)
            .field("first_error", &self.errors.first())
            .finish_non_exhaustive()
    }
}

impl BulkImportOutcome {
    /// The job's final status.
    pub fn status(&self) -> JobStatus {
        self.job
            .status
            .clone()
            .unwrap_or(JobStatus::Other(String::new()))
    }

    /// True when the job succeeded and its log names no error.
    pub fn is_clean(&self) -> bool {
        self.status() == JobStatus::Succeeded && self.error_count == 0
    }
}

/// Builder of [`DigitalTwinsClient::bulk_import`]. Add sources with
/// [`models`](Self::models)/[`twins`](Self::twins)/[`relationships`](Self::relationships)
/// (iterators) or their `*_stream` forms (streams); each section's sources are written in the
/// order they were added. Finish with [`send`](Self::send).
#[must_use = "finish with .send().await"]
pub struct BulkImport {
    client: DigitalTwinsClient,
    job_id: String,
    input: Secret,
    output: Secret,
    author: String,
    organization: String,
    models: Vec<BoxStream<'static, Value>>,
    twins: Vec<BoxStream<'static, BasicDigitalTwin>>,
    relationships: Vec<BoxStream<'static, BasicRelationship>>,
    block_size: usize,
    max_log_errors: usize,
    poll_every: Duration,
    timeout: Duration,
    options: RequestOptions,
}

impl fmt::Debug for BulkImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkImport")
            .field("job_id", &self.job_id)
            .field("input", &self.input)
            .field("output", &self.output)
            .field("model_sources", &self.models.len())
            .field("twin_sources", &self.twins.len())
            .field("relationship_sources", &self.relationships.len())
            .field("block_size", &self.block_size)
            .finish_non_exhaustive()
    }
}

impl BulkImport {
    /// Models (DTDL interfaces as JSON, each with its `@id`) from an iterator.
    pub fn models<I>(self, models: I) -> Self
    where
        I: IntoIterator<Item = Value>,
        I::IntoIter: Send + 'static,
    {
        self.models_stream(stream::iter(models))
    }

    /// Models from a stream.
    pub fn models_stream(mut self, models: impl Stream<Item = Value> + Send + 'static) -> Self {
        self.models.push(models.boxed());
        self
    }

    /// Twins from an iterator; each needs its `id` (`$dtId`) and `metadata.model`.
    pub fn twins<I>(self, twins: I) -> Self
    where
        I: IntoIterator<Item = BasicDigitalTwin>,
        I::IntoIter: Send + 'static,
    {
        self.twins_stream(stream::iter(twins))
    }

    /// Twins from a stream.
    pub fn twins_stream(
        mut self,
        twins: impl Stream<Item = BasicDigitalTwin> + Send + 'static,
    ) -> Self {
        self.twins.push(twins.boxed());
        self
    }

    /// Relationships from an iterator; each needs its `id`, `source_id`, `target_id` and
    /// `name`.
    pub fn relationships<I>(self, relationships: I) -> Self
    where
        I: IntoIterator<Item = BasicRelationship>,
        I::IntoIter: Send + 'static,
    {
        self.relationships_stream(stream::iter(relationships))
    }

    /// Relationships from a stream.
    pub fn relationships_stream(
        mut self,
        relationships: impl Stream<Item = BasicRelationship> + Send + 'static,
    ) -> Self {
        self.relationships.push(relationships.boxed());
        self
    }

    /// The header's `author` (default `azure-twins`).
    pub fn author(mut self, author: impl Into<String>) -> Self {
        self.author = author.into();
        self
    }

    /// The header's `organization` (default `azure-twins`).
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = organization.into();
        self
    }

    /// Size of each staged block (default [`DEFAULT_BLOCK_SIZE`], 4 MiB; 64 KiB to 100 MiB):
    /// the most input held in memory at once.
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.block_size = bytes;
        self
    }

    /// The most log errors the outcome keeps (default [`DEFAULT_MAX_LOG_ERRORS`]); all are
    /// counted in [`BulkImportOutcome::error_count`].
    pub fn max_log_errors(mut self, n: usize) -> Self {
        self.max_log_errors = n;
        self
    }

    /// First delay between polls of the job (default 1 s, doubling up to 30 s).
    pub fn poll_every(mut self, d: Duration) -> Self {
        self.poll_every = d;
        self
    }

    /// How long to wait for the job (default 30 minutes); then [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) (the job
    /// keeps running).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    crate::request::setters! {
        /// Per-call options for the job calls (create and polls).
        options;
    }

    /// Writes the input blob, starts the import job, waits for it and reads its log.
    ///
    /// Every item is checked before its line is written; a bad item (or a failed upload)
    /// fails the call before the blob is committed, so no input blob appears and no job
    /// starts (blocks already staged are discarded by the storage service after a week).
    pub async fn send(self) -> Result<BulkImportOutcome, Error> {
        validate_id("job_id", &self.job_id)?;
        let input = check_storage_url("input_blob_uri", &self.input)?;
        let output = check_storage_url("output_blob_uri", &self.output)?;
        if !(64 * 1024..=100 * 1024 * 1024).contains(&self.block_size) {
            return Err(Error::invalid_input(
                "block_size",
                format!(
                    "is {} bytes; allowed are 64 KiB to 100 MiB",
                    self.block_size
                ),
            ));
        }
        use progenitor_client::ClientInfo;
        let http = self.client.raw().client().clone();

        let mut ndjson = NdjsonWriter {
            blob: BlobWriter::new(&http, &input, self.block_size)?,
            line: Vec::with_capacity(4096),
        };
        let header = serde_json::json!({
            "fileVersion": "1.0.0",
            "author": self.author,
            "organization": self.organization,
        });
        ndjson.section("Header").await?;
        ndjson.value(&header).await?;

        let mut models = 0u64;
        let mut started = false;
        for mut source in self.models {
            while let Some(model) = source.next().await {
                check_model(models, &model)?;
                if !started {
                    ndjson.section("Models").await?;
                    started = true;
                }
                ndjson.value(&model).await?;
                models += 1;
            }
        }
        let mut twins = 0u64;
        let mut started = false;
        for mut source in self.twins {
            while let Some(twin) = source.next().await {
                let line = twin_line(twins, twin)?;
                if !started {
                    ndjson.section("Twins").await?;
                    started = true;
                }
                ndjson.value(&line).await?;
                twins += 1;
            }
        }
        let mut relationships = 0u64;
        let mut started = false;
        for mut source in self.relationships {
            while let Some(rel) = source.next().await {
                let line = relationship_line(relationships, rel)?;
                if !started {
                    ndjson.section("Relationships").await?;
                    started = true;
                }
                ndjson.value(&line).await?;
                relationships += 1;
            }
        }
        let input_bytes = ndjson.blob.finish().await?;

        let job = self
            .client
            .create_import_job(
                self.job_id.clone(),
                self.input.expose_secret(),
                self.output.expose_secret(),
            )
            .options(self.options.clone())
            .send()
            .await?;
        let job = self
            .client
            .wait_for_import_job(job.id)
            .poll_every(self.poll_every)
            .timeout(self.timeout)
            .options(self.options)
            .send()
            .await?;

        let mut log_lines = 0u64;
        let mut errors = Vec::new();
        let mut error_count = 0u64;
        let max = self.max_log_errors;
        let read = read_blob_lines(&http, &output, |line| {
            if line.trim().is_empty() {
                return;
            }
            log_lines += 1;
            let value = serde_json::from_str::<Value>(line)
                .unwrap_or_else(|_| Value::String(line.to_owned()));
            let is_error = value
                .get("logType")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("error"));
            if is_error {
                error_count += 1;
                if errors.len() < max {
                    errors.push(ImportLogError::from_line(value));
                }
            }
        })
        .await;
        match read {
            Ok(()) => {}
            // No log blob: the job wrote none.
            Err(e) if e.status().map(|s| s.as_u16()) == Some(404) => {}
            Err(e) => {
                return Err(Error::new(
                    e.kind().clone(),
                    format!(
                        "import job {:?} finished as {}, but its log could not be read: {e}",
                        self.job_id,
                        job.status
                            .as_ref()
                            .map(JobStatus::as_str)
                            .unwrap_or("(no status)")
                    ),
                ));
            }
        }
        Ok(BulkImportOutcome {
            job,
            models,
            twins,
            relationships,
            input_bytes,
            log_lines,
            errors,
            error_count,
        })
    }
}
crate::response::operation!(BulkImport => BulkImportOutcome);

/// The NDJSON being written: one reused line buffer in front of the blob writer.
struct NdjsonWriter {
    blob: BlobWriter,
    line: Vec<u8>,
}

impl NdjsonWriter {
    async fn section(&mut self, name: &str) -> Result<(), Error> {
        self.value(&serde_json::json!({ "Section": name })).await
    }

    async fn value(&mut self, value: &Value) -> Result<(), Error> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, value)?;
        self.line.push(b'\n');
        self.blob.write(&self.line).await
    }
}

fn check_model(index: u64, model: &Value) -> Result<(), Error> {
    let Some(obj) = model.as_object() else {
        return Err(Error::invalid_input(
            format!("models[{index}]"),
            "must be a JSON object (a DTDL interface)",
        ));
    };
    let field = format!("models[{index}].@id");
    match obj.get("@id").and_then(Value::as_str) {
        Some(id) => validate_model_id(&field, id),
        None => Err(Error::invalid_input(
            field,
            "is missing: every model needs its DTMI in \"@id\"",
        )),
    }
}

/// A twin's import line: the twin as the service stores it, without `$etag`.
fn twin_line(index: u64, twin: BasicDigitalTwin) -> Result<Value, Error> {
    validate_id(&format!("twins[{index}].$dtId"), &twin.id)?;
    let field = format!("twins[{index}].$metadata.$model");
    if twin.metadata.model.is_empty() {
        return Err(Error::invalid_input(
            field,
            "is missing: every twin needs its model id",
        ));
    }
    validate_model_id(&field, &twin.metadata.model)?;
    let mut value = serde_json::to_value(twin)?;
    if let Value::Object(map) = &mut value {
        map.remove("$etag");
    }
    Ok(value)
}

/// A relationship's import line: `$dtId` (the source), `$relationshipId`, `$targetId`,
/// `$relationshipName` and its properties.
fn relationship_line(index: u64, rel: BasicRelationship) -> Result<Value, Error> {
    validate_id(&format!("relationships[{index}].$dtId"), &rel.source_id)?;
    validate_id(&format!("relationships[{index}].$relationshipId"), &rel.id)?;
    validate_id(&format!("relationships[{index}].$targetId"), &rel.target_id)?;
    if rel.name.trim().is_empty() {
        return Err(Error::invalid_input(
            format!("relationships[{index}].$relationshipName"),
            "must not be empty (the relationship name the source's model declares)",
        ));
    }
    let mut line = Map::with_capacity(4 + rel.properties.len());
    line.insert("$dtId".into(), Value::String(rel.source_id));
    line.insert("$relationshipId".into(), Value::String(rel.id));
    line.insert("$targetId".into(), Value::String(rel.target_id));
    line.insert("$relationshipName".into(), Value::String(rel.name));
    for (k, v) in rel.properties {
        line.insert(k, v);
    }
    Ok(Value::Object(line))
}

impl DigitalTwinsClient {
    /// Imports models, twins and relationships in one import job: writes them as the job's
    /// NDJSON input to `input_blob_sas` (a blob SAS URL with write access; the blob is
    /// replaced), starts the job `job_id`, waits for it and returns the outcome with the
    /// errors of its log, which the job writes to `output_blob_sas`. Memory use does not
    /// grow with the number of items (one block of the input, 4 MiB by default).
    ///
    /// ```no_run
    /// # use azure_twins::digitaltwins::{BasicDigitalTwin, BasicRelationship, DigitalTwinsClient};
    /// # async fn demo(dt: DigitalTwinsClient) -> Result<(), azure_twins::Error> {
    /// let rooms = (0..100_000).map(|i| BasicDigitalTwin::new(format!("room-{i}"), "dtmi:com:example:Room;1"));
    /// let done = dt
    ///     .bulk_import("import-1",
    ///         "https://acct.blob.core.windows.net/c/graph.ndjson?sv=…&sig=…",
    ///         "https://acct.blob.core.windows.net/c/graph.log?sv=…&sig=…")
    ///     .models([serde_json::json!({"@id": "dtmi:com:example:Room;1", "@type": "Interface",
    ///         "@context": "dtmi:dtdl:context;3"})])
    ///     .twins(rooms)
    ///     .relationships([BasicRelationship::new("r1", "room-0", "room-1", "next")])
    ///     .send()
    ///     .await?;
    /// println!("{}: {} twins, {} errors", done.status(), done.twins, done.error_count);
    /// # Ok(()) }
    /// ```
    pub fn bulk_import(
        &self,
        job_id: impl Into<String>,
        input_blob_sas: impl Into<Secret>,
        output_blob_sas: impl Into<Secret>,
    ) -> BulkImport {
        BulkImport {
            client: self.clone(),
            job_id: job_id.into(),
            input: input_blob_sas.into(),
            output: output_blob_sas.into(),
            author: "azure-twins".to_owned(),
            organization: "azure-twins".to_owned(),
            models: Vec::new(),
            twins: Vec::new(),
            relationships: Vec::new(),
            block_size: DEFAULT_BLOCK_SIZE,
            max_log_errors: DEFAULT_MAX_LOG_ERRORS,
            poll_every: Duration::from_secs(1),
            timeout: Duration::from_secs(30 * 60),
            options: RequestOptions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    #[test]
    fn lines_have_the_import_shape() {
        let twin = BasicDigitalTwin::new("room-1", "dtmi:com:example:Room;1")
            .with_property("temperature", 20);
        assert_eq!(
            twin_line(0, twin).unwrap(),
            json!({"$dtId": "room-1", "$metadata": {"$model": "dtmi:com:example:Room;1"}, "temperature": 20})
        );
        let rel =
            BasicRelationship::new("r1", "floor-1", "room-1", "contains").with_property("n", 1);
        assert_eq!(
            relationship_line(0, rel).unwrap(),
            json!({"$dtId": "floor-1", "$relationshipId": "r1", "$targetId": "room-1",
                   "$relationshipName": "contains", "n": 1})
        );
    }

    #[test]
    fn bad_items_name_their_index_and_field() {
        let field = |e: Error| match e.kind() {
            ErrorKind::InvalidInput { field, .. } => field.to_string(),
            _ => panic!("{e}"),
        };
        let e = twin_line(7, BasicDigitalTwin::new("", "dtmi:a:B;1")).unwrap_err();
        assert_eq!(field(e), "twins[7].$dtId");
        let e = twin_line(2, BasicDigitalTwin::new("t", "")).unwrap_err();
        assert_eq!(field(e), "twins[2].$metadata.$model");
        let e = twin_line(2, BasicDigitalTwin::new("t", "room")).unwrap_err();
        assert_eq!(field(e), "twins[2].$metadata.$model");
        let e = relationship_line(3, BasicRelationship::new("r", "a", "", "n")).unwrap_err();
        assert_eq!(field(e), "relationships[3].$targetId");
        let e = relationship_line(3, BasicRelationship::new("r", "a", "b", " ")).unwrap_err();
        assert_eq!(field(e), "relationships[3].$relationshipName");
        let e = check_model(0, &json!({"@type": "Interface"})).unwrap_err();
        assert_eq!(field(e), "models[0].@id");
        let e = check_model(1, &json!("dtmi:a:B;1")).unwrap_err();
        assert_eq!(field(e), "models[1]");
    }

    #[test]
    fn outcome_debug_leaves_out_the_sas_urls() {
        let job: ImportJob = serde_json::from_value(json!({"id": "j", "status": "succeeded",
            "inputBlobUri": "https://a.blob.core.windows.net/c/in?sig=s3cr3t",
            "outputBlobUri": "https://a.blob.core.windows.net/c/out?sig=s3cr3t"}))
        .unwrap();
        let outcome = BulkImportOutcome {
            job,
            models: 1,
            twins: 2,
            relationships: 3,
            input_bytes: 4,
            log_lines: 2,
            errors: Vec::new(),
            error_count: 0,
        };
        let text = format!("{outcome:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("twins: 2"), "{text}");
        assert!(outcome.is_clean());
    }

    #[test]
    fn log_errors_parse() {
        let e = ImportLogError::from_line(json!({"timestamp": "2026-12-03T06:00:00Z",
            "jobId": "j", "jobType": "Import", "logType": "Error",
            "details": {"code": "ModelNotFound", "message": "no model dtmi:x:Y;1"}}));
        assert_eq!(e.code.as_deref(), Some("ModelNotFound"));
        assert_eq!(e.message.as_deref(), Some("no model dtmi:x:Y;1"));
        assert_eq!(e.timestamp.as_deref(), Some("2026-12-03T06:00:00Z"));
    }
}
