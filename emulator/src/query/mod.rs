//! One lexer, parser and evaluator for the SQL-like query languages of both emulated services.
//!
//! IoT Hub (`POST /devices/query`, job `queryCondition`) and Azure Digital Twins (`POST /query`)
//! share most of their grammar, so both executors use this module: they call [`parse`] once per
//! query, then iterate their own documents, bind each row with [`Query::bind`] (or build
//! [`Bindings`] by hand for ADT joins), filter with [`Query::matches`] and shape rows with
//! [`Query::project`] / [`Query::aggregate_row`]. Executors own iteration, joins, `TOP` and paging.
//!
//! Semantics (both services): a missing property is *undefined*; comparing undefined, or values
//! of different types, or objects/arrays, is not true (and not an error); `null = null` is true;
//! numbers compare numerically (exact for integers), strings ordinally (case-sensitive). Logic is
//! three-valued as in Cosmos DB SQL: `NOT (x = 1)` does not match rows without `x`.
//! Only a boolean `true` passes `WHERE`.
//!
//! IoT Hub executor (the unit test `module_doc_iothub_executor`):
//!
//! ```text
//! use crate::query::{parse, Dialect, NoModels, Source};
//! use serde_json::json;
//!
//! let twins = vec![
//!     json!({"deviceId": "d1", "tags": {"site": "a"}}),
//!     json!({"deviceId": "d2", "tags": {"site": "b"}}),
//! ];
//! let q = parse("SELECT deviceId FROM devices WHERE tags.site = 'a'", Dialect::IotHub)
//!     .map_err(|e| e.to_string())?; // → HTTP 400 with this message
//! assert_eq!(q.source(), Source::Devices);
//! let matching = twins.iter().filter(|t| q.matches(&q.bind(t), &NoModels));
//! let rows: Vec<_> = if q.is_count() {
//!     vec![q.aggregate_row(None, matching.count() as u64)]
//! } else {
//!     let limit = q.top().map_or(usize::MAX, |n| n as usize);
//!     matching.take(limit).map(|t| q.project(&q.bind(t))).collect()
//! };
//! assert_eq!(rows, vec![json!({"deviceId": "d1"})]);
//! ```
//!
//! ADT executor, with a JOIN and `IS_OF_MODEL` answered by a closure (the unit test
//! `module_doc_adt_executor`):
//!
//! ```text
//! use crate::query::{parse, Bindings, Dialect};
//! use serde_json::{json, Value};
//!
//! let floor = json!({"$dtId": "f1", "$metadata": {"$model": "dtmi:ex:Floor;1"}});
//! let room = json!({"$dtId": "r1", "temp": 70, "$metadata": {"$model": "dtmi:ex:Room;1"}});
//! let rel = json!({"$relationshipId": "x", "$sourceId": "f1", "$targetId": "r1",
//!                  "$relationshipName": "contains"});
//! let q = parse(
//!     "SELECT T.$dtId, CT FROM DIGITALTWINS T JOIN CT RELATED T.contains R \
//!      WHERE IS_OF_MODEL(T, 'dtmi:ex:Floor;1') AND CT.temp > 60",
//!     Dialect::DigitalTwins,
//! ).map_err(|e| e.to_string())?;
//! // The executor knows model inheritance; here a model is only of itself.
//! let is_of_model = |twin: &Value, model: &str, _exact: bool| {
//!     twin["$metadata"]["$model"] == model
//! };
//! let join = &q.joins()[0]; // alias "CT", source_alias "T", relationship_name "contains"
//! let mut rows = Vec::new();
//! for t in [&floor, &room] {
//!     // For each relationship of `t` named `join.relationship_name`, bind its target.
//!     for (r, target) in [(&rel, &room)] {
//!         if r["$sourceId"] != t["$dtId"] || r["$relationshipName"] != join.relationship_name.as_str() {
//!             continue;
//!         }
//!         let mut b = Bindings::new()
//!             .with(q.alias().unwrap_or("T"), t)
//!             .with(join.alias.as_str(), target);
//!         if let Some(ra) = &join.relationship_alias {
//!             b = b.with(ra.as_str(), r);
//!         }
//!         if q.matches(&b, &is_of_model) {
//!             rows.push(q.project(&b));
//!         }
//!     }
//! }
//! assert_eq!(rows, vec![json!({"$dtId": "f1", "CT": room})]);
//! ```

mod ast;
mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub use ast::{ArithOp, CompareOp, Function};
pub use ast::{Expr, Join, Path, Projection, ProjectionKind, Segment, Source};

use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// Which service's query language a text is parsed as; decides the allowed sources and functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// IoT Hub: `FROM devices | devices.modules | devices.jobs`, no JOIN, no alias.
    IotHub,
    /// Azure Digital Twins: `FROM DIGITALTWINS | RELATIONSHIPS [alias]`, JOIN … RELATED, IS_OF_MODEL.
    DigitalTwins,
}

/// Why a query text was rejected; both services answer such queries with HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// What was expected or which rule was broken, e.g. `expected FROM`.
    pub message: String,
    /// Offset in characters (not bytes) of the offending token from the start of the text.
    pub position: usize,
    /// Text of the offending token, empty at the end of the query.
    pub near: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.near.is_empty() {
            write!(
                f,
                "Syntax error at position {} at end of query: {}",
                self.position, self.message
            )
        } else {
            write!(
                f,
                "Syntax error at position {} near '{}': {}",
                self.position, self.near, self.message
            )
        }
    }
}

impl std::error::Error for QueryError {}

/// Parses `text` as a full query of `dialect` (`SELECT … FROM … [JOIN …] [WHERE …] [GROUP BY …]`).
///
/// Errors carry the character position of the offending token and say what was expected;
/// executors turn them into the service's HTTP 400 error body.
pub fn parse(text: &str, dialect: Dialect) -> Result<Query, QueryError> {
    check_length(text, dialect)?;
    parser::Parser::new(text, dialect)?.query()
}

/// IoT Hub rejects query texts longer than this many characters.
pub const IOTHUB_MAX_QUERY_CHARS: usize = 8192;

fn check_length(text: &str, dialect: Dialect) -> Result<(), QueryError> {
    if dialect == Dialect::IotHub
        && let Some((byte, _)) = text.char_indices().nth(IOTHUB_MAX_QUERY_CHARS)
    {
        return Err(QueryError {
            message: format!(
                "the query is longer than the IoT Hub limit of {IOTHUB_MAX_QUERY_CHARS} characters"
            ),
            position: IOTHUB_MAX_QUERY_CHARS,
            near: text[byte..].chars().take(10).collect(),
        });
    }
    Ok(())
}

/// Parses a bare condition (the part after `WHERE`), as IoT Hub jobs' `queryCondition` holds.
///
/// The result behaves like `SELECT * FROM devices WHERE <text>` (or `FROM DIGITALTWINS` for
/// ADT): bind a document with [`Query::bind`] and test it with [`Query::matches`].
pub fn parse_condition(text: &str, dialect: Dialect) -> Result<Query, QueryError> {
    check_length(text, dialect)?;
    let mut p = parser::Parser::new(text, dialect)?;
    let filter = p.condition()?;
    Ok(Query {
        dialect,
        top: None,
        projection: Projection::All,
        source: match dialect {
            Dialect::IotHub => Source::Devices,
            Dialect::DigitalTwins => Source::DigitalTwins,
        },
        alias: None,
        joins: Vec::new(),
        filter: Some(filter),
        group_by: Vec::new(),
    })
}

/// A parsed query, ready to be evaluated against JSON documents.
///
/// `Display` prints canonical query text that parses back to an equal `Query`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    dialect: Dialect,
    top: Option<u64>,
    projection: Projection,
    source: Source,
    alias: Option<String>,
    joins: Vec<Join>,
    filter: Option<Expr>,
    group_by: Vec<Path>,
}

impl Query {
    #[cfg(test)]
    /// Dialect the query was parsed with.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The collection named in `FROM`, which the executor iterates.
    pub fn source(&self) -> Source {
        self.source
    }

    /// Alias given to the source (`FROM DIGITALTWINS T` → `Some("T")`).
    pub fn alias(&self) -> Option<&str> {
        self.alias.as_deref()
    }

    /// JOINs in order; each one's `source_alias` is bound by the FROM alias or an earlier JOIN.
    pub fn joins(&self) -> &[Join] {
        &self.joins
    }

    /// `TOP n`: the executor stops after this many rows.
    pub fn top(&self) -> Option<u64> {
        self.top
    }

    #[cfg(test)]
    /// The `SELECT` clause.
    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    #[cfg(test)]
    /// The `WHERE` condition, if any (for executors that want to pre-filter, e.g. by id).
    pub fn filter(&self) -> Option<&Expr> {
        self.filter.as_ref()
    }

    /// `GROUP BY` paths (IoT Hub, `FROM devices` only); empty when not grouped.
    pub fn group_by(&self) -> &[Path] {
        &self.group_by
    }

    /// True for `SELECT *`, whose rows are the documents themselves (IoT Hub item type `Twin`).
    pub fn is_select_all(&self) -> bool {
        matches!(self.projection, Projection::All)
    }

    /// True when the projection holds `COUNT()`: the executor counts matching rows (per group
    /// when [`Query::group_by`] is not empty) and emits [`Query::aggregate_row`]s instead of
    /// projecting each row.
    pub fn is_count(&self) -> bool {
        self.count_name().is_some()
    }

    /// Key of the count in an aggregate row: the `AS` name, else `COUNT` for ADT and `$1`
    /// for IoT Hub (unaliased column names there follow the Cosmos DB convention; unconfirmed).
    pub fn count_name(&self) -> Option<&str> {
        let Projection::Items(items) = &self.projection else {
            return None;
        };
        let item = items.iter().find(|i| i.kind == ProjectionKind::Count)?;
        Some(item.alias.as_deref().unwrap_or(match self.dialect {
            Dialect::IotHub => "$1",
            Dialect::DigitalTwins => "COUNT",
        }))
    }

    /// Bindings for one document of a single-source query: the document is the default
    /// (bare paths resolve in it) and is also bound to the alias, if any, and for IoT Hub
    /// to the source name, so `T.name`, `name`, and `devices.jobs.status` all work.
    pub fn bind<'a>(&'a self, doc: &'a Value) -> Bindings<'a> {
        let b = Bindings::new().with_default(doc);
        let b = match &self.alias {
            Some(a) => b.with(a.as_str(), doc),
            None => b,
        };
        match self.dialect {
            Dialect::IotHub => b.with(self.source.name(), doc),
            Dialect::DigitalTwins => b,
        }
    }

    /// Whether the row passes the `WHERE` condition (always, without one). Only a boolean
    /// `true` passes; undefined (missing property, type mismatch) does not.
    pub fn matches(&self, bindings: &Bindings<'_>, ctx: &dyn EvalContext) -> bool {
        match &self.filter {
            None => true,
            Some(e) => matches!(
                eval::eval(self.dialect, e, bindings, ctx).as_deref(),
                Some(Value::Bool(true))
            ),
        }
    }

    #[cfg(test)]
    /// Evaluates any expression of this query's dialect in a row (`None`: undefined).
    pub fn evaluate(
        &self,
        expr: &Expr,
        bindings: &Bindings<'_>,
        ctx: &dyn EvalContext,
    ) -> Option<Value> {
        eval::eval(self.dialect, expr, bindings, ctx).map(Cow::into_owned)
    }

    /// The result row for one matching row of a non-aggregate query.
    ///
    /// `SELECT *`: the default document (or the FROM alias's document). A projection list:
    /// an object with one member per column, named by its `AS` alias, else the alias itself
    /// for a bare alias (`SELECT T` → `{"T": {…}}`), else the path's last property name
    /// (`tags.site` → `site`; IoT Hub uses the document's spelling of a top-level property,
    /// `DeviceId` → `deviceId`). Undefined columns are left out of the row.
    pub fn project(&self, bindings: &Bindings<'_>) -> Value {
        match &self.projection {
            Projection::All => bindings
                .default
                .or_else(|| self.alias.as_deref().and_then(|a| bindings.get(a)))
                .or_else(|| bindings.entries.first().map(|(_, d)| *d))
                .cloned()
                .unwrap_or(Value::Null),
            Projection::Items(items) => {
                let mut row = serde_json::Map::new();
                for item in items {
                    if let ProjectionKind::Path(p) = &item.kind
                        && let Some((name, v)) = self.column(p, item.alias.as_deref(), bindings)
                    {
                        row.insert(name, v.clone());
                    }
                }
                Value::Object(row)
            }
        }
    }

    fn column<'a>(
        &self,
        path: &Path,
        alias: Option<&str>,
        b: &Bindings<'a>,
    ) -> Option<(String, &'a Value)> {
        let r = eval::resolve(self.dialect, path, b);
        let value = r.value?;
        // The document's spelling of the last key wins: IoT Hub matches top-level properties
        // case-insensitively and answers with the stored name.
        let name = match (alias, r.key) {
            (Some(a), _) => a.to_owned(),
            (None, Some(k)) if matches!(path.segments.last(), Some(Segment::Field(_))) => {
                k.to_owned()
            }
            _ => path.column_name().to_owned(),
        };
        Some((name, value))
    }

    /// The values of the `GROUP BY` paths in a row (`None` for undefined), to group rows by.
    pub fn group_key(&self, bindings: &Bindings<'_>) -> Vec<Option<Value>> {
        self.group_by
            .iter()
            .map(|p| eval::resolve(self.dialect, p, bindings).value.cloned())
            .collect()
    }

    /// The single row of an aggregate query (or one row per group): `COUNT()` under
    /// [`Query::count_name`], plus the grouped columns read from `group_row` (any row of the
    /// group; `None` when not grouped). E.g. `{"n": 3}` or `{"numberOfDevices": 3, "status": "ok"}`.
    pub fn aggregate_row(&self, group_row: Option<&Bindings<'_>>, count: u64) -> Value {
        let mut row = serde_json::Map::new();
        if let Projection::Items(items) = &self.projection {
            for item in items {
                match &item.kind {
                    ProjectionKind::Count => {
                        let name = self.count_name().unwrap_or("COUNT").to_owned();
                        row.insert(name, Value::from(count));
                    }
                    ProjectionKind::Path(p) => {
                        if let Some((name, v)) =
                            group_row.and_then(|b| self.column(p, item.alias.as_deref(), b))
                        {
                            row.insert(name, v.clone());
                        }
                    }
                }
            }
        }
        Value::Object(row)
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        if let Some(n) = self.top {
            write!(f, "TOP({n}) ")?;
        }
        match &self.projection {
            Projection::All => f.write_str("*")?,
            Projection::Items(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match &item.kind {
                        ProjectionKind::Path(p) => write!(f, "{p}")?,
                        ProjectionKind::Count => f.write_str("COUNT()")?,
                    }
                    if let Some(a) = &item.alias {
                        write!(f, " AS {a}")?;
                    }
                }
            }
        }
        write!(f, " FROM {}", self.source.name())?;
        if let Some(a) = &self.alias {
            write!(f, " {a}")?;
        }
        for j in &self.joins {
            write!(
                f,
                " JOIN {} RELATED {}.{}",
                j.alias, j.source_alias, j.relationship_name
            )?;
            if let Some(r) = &j.relationship_alias {
                write!(f, " {r}")?;
            }
        }
        if let Some(e) = &self.filter {
            write!(f, " WHERE {e}")?;
        }
        for (i, p) in self.group_by.iter().enumerate() {
            f.write_str(if i == 0 { " GROUP BY " } else { ", " })?;
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Documents of one row, by alias, against which paths are resolved.
#[derive(Debug, Clone, Default)]
pub struct Bindings<'a> {
    entries: Vec<(Cow<'a, str>, &'a Value)>,
    default: Option<&'a Value>,
}

impl<'a> Bindings<'a> {
    /// No documents bound.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `doc` to `alias` (paths starting with `alias.` resolve inside it).
    /// Takes `&str` (e.g. borrowed from [`Join::alias`]) or `String`.
    pub fn with(mut self, alias: impl Into<Cow<'a, str>>, doc: &'a Value) -> Self {
        self.entries.push((alias.into(), doc));
        self
    }

    /// Binds `doc` as the document bare paths resolve against.
    pub fn with_default(mut self, doc: &'a Value) -> Self {
        self.default = Some(doc);
        self
    }

    /// The document bound to `alias` (exact spelling), if any.
    pub fn get(&self, alias: &str) -> Option<&'a Value> {
        self.entries
            .iter()
            .rev()
            .find(|(a, _)| a == alias)
            .map(|(_, d)| *d)
    }
}

/// What the evaluator needs from an executor beyond the row's documents.
pub trait EvalContext {
    /// Whether `twin` is of model `model` (its own or, unless `exact`, an ancestor model).
    /// Only ADT queries call this; the ADT executor knows the model inheritance.
    fn is_of_model(&self, twin: &Value, model: &str, exact: bool) -> bool;
}

/// Any `Fn(&Value, &str, bool) -> bool` closure can answer `IS_OF_MODEL`.
impl<F: Fn(&Value, &str, bool) -> bool> EvalContext for F {
    fn is_of_model(&self, twin: &Value, model: &str, exact: bool) -> bool {
        self(twin, model, exact)
    }
}

/// Context for queries that never call back (IoT Hub): `IS_OF_MODEL` answers from the twin's
/// own `$metadata.$model` only, without inheritance.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoModels;

impl EvalContext for NoModels {
    fn is_of_model(&self, twin: &Value, model: &str, _exact: bool) -> bool {
        twin.pointer("/$metadata/$model").and_then(Value::as_str) == Some(model)
    }
}
