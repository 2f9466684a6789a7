//! From a Rust type's JSON Schema (schemars) plus [`DtdlInterface`] to a DTDL v3 Interface.

use std::borrow::Cow;
use std::collections::BTreeSet;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::Error;

/// The DTDL v3 context.
const CONTEXT_V3: &str = "dtmi:dtdl:context;3";
/// The DTDL v3 extension that defines semantic types and units.
const QUANTITATIVE_TYPES: &str = "dtmi:dtdl:extension:quantitativeTypes;1";
/// DTDL v3's limit on the nesting depth of complex schemas.
const MAX_SCHEMA_DEPTH: usize = 8;
/// Longest `name` accepted (the service's DTDL parser and the emulator: 64).
const MAX_NAME: usize = 64;
/// Longest `displayName` / `description` (DTDL v3: 512 characters).
const MAX_TEXT: usize = 512;

/// What JSON Schema cannot say about one property of a [`DtdlInterface`].
///
/// ```
/// use azure_twins::typed::PropertyMeta;
/// let m = PropertyMeta::new().writable().semantic("Temperature", "degreeCelsius");
/// assert!(m.writable);
/// assert_eq!(m.unit, Some("degreeCelsius"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PropertyMeta {
    /// DTDL `writable`: the property may be set by the service side (for IoT Plug and Play:
    /// a desired property). DTDL's default is `false`.
    pub writable: bool,
    /// A semantic type of the quantitative types extension (`Temperature`, `Length`, …); the
    /// property's schema must then be numeric.
    pub semantic_type: Option<&'static str>,
    /// The unit of the semantic type (`degreeCelsius`, `metre`, …).
    pub unit: Option<&'static str>,
    /// DTDL `displayName`.
    pub display_name: Option<&'static str>,
    /// DTDL `description`; without it the field's doc comment (from the JSON Schema) is used.
    pub description: Option<&'static str>,
}

impl PropertyMeta {
    /// Read-only, no semantic type, no texts.
    pub const fn new() -> Self {
        PropertyMeta {
            writable: false,
            semantic_type: None,
            unit: None,
            display_name: None,
            description: None,
        }
    }

    /// Marks the property `writable`.
    pub const fn writable(mut self) -> Self {
        self.writable = true;
        self
    }

    /// Sets the semantic type and its unit.
    pub const fn semantic(mut self, semantic_type: &'static str, unit: &'static str) -> Self {
        self.semantic_type = Some(semantic_type);
        self.unit = Some(unit);
        self
    }

    /// Sets `displayName`.
    pub const fn display_name(mut self, text: &'static str) -> Self {
        self.display_name = Some(text);
        self
    }

    /// Sets `description`.
    pub const fn description(mut self, text: &'static str) -> Self {
        self.description = Some(text);
        self
    }
}

pub(crate) type ModelFn = fn() -> Result<DtdlModel, Error>;
type SchemaFn = fn() -> Schema;

fn schema_of<T: JsonSchema>() -> Schema {
    SchemaGenerator::default().into_root_schema_for::<T>()
}

/// A component of an interface: a field of the type whose type is itself a
/// [`DtdlInterface`]. The field becomes a DTDL `Component` (not a property) and its type's
/// interface is uploaded along.
#[derive(Clone, Copy)]
pub struct ComponentDef {
    name: &'static str,
    dtmi: &'static str,
    /// Derives the component type's interface (its schema), uploaded along.
    interface: ModelFn,
    display_name: Option<&'static str>,
    description: Option<&'static str>,
}

impl std::fmt::Debug for ComponentDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentDef")
            .field("name", &self.name)
            .field("dtmi", &self.dtmi)
            .finish_non_exhaustive()
    }
}

impl ComponentDef {
    /// The field `name` (its serialised name) is a component of interface `C`.
    pub fn of<C: DtdlInterface>(name: &'static str) -> Self {
        ComponentDef {
            name,
            dtmi: C::DTMI,
            interface: model_of::<C>,
            display_name: None,
            description: None,
        }
    }

    /// Sets `displayName`.
    pub fn display_name(mut self, text: &'static str) -> Self {
        self.display_name = Some(text);
        self
    }

    /// Sets `description`.
    pub fn description(mut self, text: &'static str) -> Self {
        self.description = Some(text);
        self
    }

    /// The component's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The DTMI of the component's interface.
    pub fn dtmi(&self) -> &'static str {
        self.dtmi
    }
}

/// A relationship declared by an interface (relationships are not fields of the twin).
#[derive(Clone, Copy)]
pub struct RelationshipDef {
    name: &'static str,
    target: Option<&'static str>,
    properties: Option<SchemaFn>,
    max_multiplicity: Option<u32>,
    display_name: Option<&'static str>,
    description: Option<&'static str>,
}

impl std::fmt::Debug for RelationshipDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelationshipDef")
            .field("name", &self.name)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl RelationshipDef {
    /// A relationship `name` to twins of any model, without properties.
    pub fn new(name: &'static str) -> Self {
        RelationshipDef {
            name,
            target: None,
            properties: None,
            max_multiplicity: None,
            display_name: None,
            description: None,
        }
    }

    /// Only twins of interface `T` may be targets.
    pub fn target<T: DtdlInterface>(mut self) -> Self {
        self.target = Some(T::DTMI);
        self
    }

    /// Only twins of the interface `dtmi` may be targets.
    pub fn target_dtmi(mut self, dtmi: &'static str) -> Self {
        self.target = Some(dtmi);
        self
    }

    /// The relationship's properties are the fields of `P` (a struct), mapped like a twin's.
    pub fn properties<P: JsonSchema>(mut self) -> Self {
        self.properties = Some(schema_of::<P>);
        self
    }

    /// DTDL `maxMultiplicity`.
    pub fn max_multiplicity(mut self, n: u32) -> Self {
        self.max_multiplicity = Some(n);
        self
    }

    /// Sets `displayName`.
    pub fn display_name(mut self, text: &'static str) -> Self {
        self.display_name = Some(text);
        self
    }

    /// Sets `description`.
    pub fn description(mut self, text: &'static str) -> Self {
        self.description = Some(text);
        self
    }
}

/// A telemetry declared by an interface, with the schema of `T`.
#[derive(Clone, Copy)]
pub struct TelemetryDef {
    name: &'static str,
    schema: SchemaFn,
    semantic_type: Option<&'static str>,
    unit: Option<&'static str>,
    description: Option<&'static str>,
}

impl std::fmt::Debug for TelemetryDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryDef")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TelemetryDef {
    /// Telemetry `name` whose values are `T`s.
    pub fn of<T: JsonSchema>(name: &'static str) -> Self {
        TelemetryDef {
            name,
            schema: schema_of::<T>,
            semantic_type: None,
            unit: None,
            description: None,
        }
    }

    /// Sets the semantic type and unit (the schema must be numeric).
    pub fn semantic(mut self, semantic_type: &'static str, unit: &'static str) -> Self {
        self.semantic_type = Some(semantic_type);
        self.unit = Some(unit);
        self
    }

    /// Sets `description`.
    pub fn description(mut self, text: &'static str) -> Self {
        self.description = Some(text);
        self
    }
}

/// A command declared by an interface, with optional request and response payloads.
#[derive(Clone, Copy)]
pub struct CommandDef {
    name: &'static str,
    request: Option<(&'static str, SchemaFn)>,
    response: Option<(&'static str, SchemaFn)>,
    description: Option<&'static str>,
}

impl std::fmt::Debug for CommandDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandDef")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CommandDef {
    /// Command `name` without payloads.
    pub fn new(name: &'static str) -> Self {
        CommandDef {
            name,
            request: None,
            response: None,
            description: None,
        }
    }

    /// The request payload, named `name`, of schema `T`.
    pub fn request<T: JsonSchema>(mut self, name: &'static str) -> Self {
        self.request = Some((name, schema_of::<T>));
        self
    }

    /// The response payload, named `name`, of schema `T`.
    pub fn response<T: JsonSchema>(mut self, name: &'static str) -> Self {
        self.response = Some((name, schema_of::<T>));
        self
    }

    /// Sets `description`.
    pub fn description(mut self, text: &'static str) -> Self {
        self.description = Some(text);
        self
    }
}

/// A Rust type that is a DTDL v3 Interface.
///
/// The fields of the type (as serde serialises them, so `rename`/`rename_all` count) are the
/// interface's properties, except those named by [`components`](Self::components) and those
/// whose name starts with `$` (`$dtId`, `$etag`, `$metadata`: twin system fields you may keep
/// in the struct). Everything is optional in DTDL, so `Option` fields need nothing special;
/// `None` is sent as an absent property.
///
/// Why a trait and not a derive macro: the per-field facts are few and the trait keeps them
/// in plain Rust (a `match` on the name), without a fourth crate to publish and version in
/// lockstep; the JSON Schema derive already walks the fields.
pub trait DtdlInterface: JsonSchema + Serialize + DeserializeOwned {
    /// The interface's DTMI, with a version: `dtmi:com:example:Room;1`.
    const DTMI: &'static str;
    /// DTDL `displayName` (default: the JSON Schema title, i.e. the type's name).
    const DISPLAY_NAME: Option<&'static str> = None;
    /// DTDL `description` (default: the type's doc comment).
    const DESCRIPTION: Option<&'static str> = None;

    /// Facts about the property `name` (its serialised name). Default: read-only, nothing else.
    fn property(name: &str) -> PropertyMeta {
        let _ = name;
        PropertyMeta::new()
    }

    /// Fields that are components.
    fn components() -> Vec<ComponentDef> {
        Vec::new()
    }

    /// Relationships the interface declares.
    fn relationships() -> Vec<RelationshipDef> {
        Vec::new()
    }

    /// Telemetry the interface declares.
    fn telemetry() -> Vec<TelemetryDef> {
        Vec::new()
    }

    /// Commands the interface declares.
    fn commands() -> Vec<CommandDef> {
        Vec::new()
    }
}

/// A derived DTDL interface: its document and the interfaces of its components.
#[derive(Debug, Clone, PartialEq)]
pub struct DtdlModel {
    pub(crate) document: Value,
    /// (component name, the component's model).
    pub(crate) components: Vec<(String, DtdlModel)>,
}

impl DtdlModel {
    /// The interface's DTMI.
    pub fn id(&self) -> &str {
        self.document["@id"].as_str().unwrap_or_default()
    }

    /// The DTDL v3 Interface document.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The interface of component `name`, if the model has that component.
    pub fn component(&self, name: &str) -> Option<&DtdlModel> {
        self.components
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m)
    }

    /// Every interface to upload for this one: referenced interfaces first (each once), this
    /// one last, in the order `create_models` needs.
    pub fn documents(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        self.collect(&mut out, &mut seen);
        out
    }

    fn collect(&self, out: &mut Vec<Value>, seen: &mut BTreeSet<String>) {
        for (_, c) in &self.components {
            c.collect(out, seen);
        }
        if seen.insert(self.id().to_owned()) {
            out.push(self.document.clone());
        }
    }
}

/// Builds the DTDL v3 interface of `T` (and of its components), or says which field DTDL
/// cannot express and why.
pub fn model_of<T: DtdlInterface>() -> Result<DtdlModel, Error> {
    let type_name = T::schema_name();
    let root = schema_of::<T>();
    let root = root.as_value();
    check_dtmi(&format!("{type_name}::DTMI"), T::DTMI)?;
    let mut cx = Cx {
        root,
        type_name: &type_name,
        stack: Vec::new(),
        semantic: false,
    };
    let obj = cx.resolve(&type_name, root)?;
    let props = object_properties(&cx, &type_name, obj)?;

    let components = T::components();
    let mut contents = Vec::new();
    let mut names = BTreeSet::new();
    let mut component_models = Vec::new();
    for (name, schema) in props.iter() {
        if name.starts_with('$') || components.iter().any(|c| c.name == name) {
            continue;
        }
        let field = format!("{type_name}.{name}");
        check_name(&field, name)?;
        let meta = T::property(name);
        let dtdl = cx.map(&field, schema, 1)?;
        let mut p = content(
            "Property",
            name,
            meta.semantic_type,
            meta.unit,
            &field,
            &dtdl,
        )?;
        cx.semantic |= meta.semantic_type.is_some();
        p.insert("schema".into(), dtdl);
        if meta.writable {
            p.insert("writable".into(), Value::Bool(true));
        }
        texts(
            &mut p,
            meta.display_name,
            meta.description.map(Cow::Borrowed).or_else(|| doc(schema)),
        );
        names.insert(name.clone());
        contents.push(Value::Object(p));
    }
    for c in &components {
        let field = format!("{type_name}.{}", c.name);
        check_name(&field, c.name)?;
        if !props.contains_key(c.name) {
            return Err(Error::invalid_input(
                field,
                "is declared a component but is not a field of the type (as serialised)",
            ));
        }
        if !names.insert(c.name.to_owned()) {
            return Err(duplicate(&field));
        }
        let model = (c.interface)()?;
        if let Some((inner, _)) = model.components.first() {
            return Err(refuse(
                &field,
                format!(
                    "its interface {} has a component ({inner}) itself; DTDL components cannot nest",
                    c.dtmi
                ),
            ));
        }
        let mut m = Map::new();
        m.insert("@type".into(), json!("Component"));
        m.insert("name".into(), json!(c.name));
        m.insert("schema".into(), json!(c.dtmi));
        texts(&mut m, c.display_name, c.description.map(Cow::Borrowed));
        contents.push(Value::Object(m));
        component_models.push((c.name.to_owned(), model));
    }
    for r in T::relationships() {
        let field = format!("{type_name}.{}", r.name);
        check_name(&field, r.name)?;
        if !names.insert(r.name.to_owned()) {
            return Err(duplicate(&field));
        }
        let mut m = Map::new();
        m.insert("@type".into(), json!("Relationship"));
        m.insert("name".into(), json!(r.name));
        if let Some(t) = r.target {
            check_dtmi(&format!("{field}.target"), t)?;
            m.insert("target".into(), json!(t));
        }
        if let Some(n) = r.max_multiplicity {
            m.insert("maxMultiplicity".into(), json!(n));
        }
        if let Some(schema_fn) = r.properties {
            let schema = schema_fn();
            let mut rcx = Cx {
                root: schema.as_value(),
                type_name: &field,
                stack: Vec::new(),
                semantic: false,
            };
            let obj = rcx.resolve(&field, schema.as_value())?;
            let rprops = object_properties(&rcx, &field, obj)?;
            let mut out = Vec::new();
            for (pn, ps) in rprops.iter() {
                if pn.starts_with('$') {
                    continue;
                }
                let pf = format!("{field}.{pn}");
                check_name(&pf, pn)?;
                let dtdl = rcx.map(&pf, ps, 1)?;
                let mut p = Map::new();
                p.insert("@type".into(), json!("Property"));
                p.insert("name".into(), json!(pn));
                p.insert("schema".into(), dtdl);
                p.insert("writable".into(), Value::Bool(true));
                texts(&mut p, None, doc(ps));
                out.push(Value::Object(p));
            }
            m.insert("properties".into(), Value::Array(out));
        }
        texts(&mut m, r.display_name, r.description.map(Cow::Borrowed));
        contents.push(Value::Object(m));
    }
    for t in T::telemetry() {
        let field = format!("{type_name}.{}", t.name);
        check_name(&field, t.name)?;
        if !names.insert(t.name.to_owned()) {
            return Err(duplicate(&field));
        }
        let schema = (t.schema)();
        let mut tcx = Cx {
            root: schema.as_value(),
            type_name: &field,
            stack: Vec::new(),
            semantic: false,
        };
        let dtdl = tcx.map(&field, schema.as_value(), 1)?;
        let mut m = content("Telemetry", t.name, t.semantic_type, t.unit, &field, &dtdl)?;
        cx.semantic |= t.semantic_type.is_some();
        m.insert("schema".into(), dtdl);
        texts(
            &mut m,
            None,
            t.description
                .map(Cow::Borrowed)
                .or_else(|| doc(schema.as_value())),
        );
        contents.push(Value::Object(m));
    }
    for c in T::commands() {
        let field = format!("{type_name}.{}", c.name);
        check_name(&field, c.name)?;
        if !names.insert(c.name.to_owned()) {
            return Err(duplicate(&field));
        }
        let mut m = Map::new();
        m.insert("@type".into(), json!("Command"));
        m.insert("name".into(), json!(c.name));
        for (key, payload) in [("request", c.request), ("response", c.response)] {
            if let Some((pname, schema_fn)) = payload {
                let pf = format!("{field}.{key}");
                check_name(&pf, pname)?;
                let schema = schema_fn();
                let mut pcx = Cx {
                    root: schema.as_value(),
                    type_name: &pf,
                    stack: Vec::new(),
                    semantic: false,
                };
                let dtdl = pcx.map(&pf, schema.as_value(), 1)?;
                m.insert(key.into(), json!({"name": pname, "schema": dtdl}));
            }
        }
        texts(&mut m, None, c.description.map(Cow::Borrowed));
        contents.push(Value::Object(m));
    }

    let context = if cx.semantic {
        json!([CONTEXT_V3, QUANTITATIVE_TYPES])
    } else {
        json!(CONTEXT_V3)
    };
    let mut doc_map = Map::new();
    doc_map.insert("@context".into(), context);
    doc_map.insert("@id".into(), json!(T::DTMI));
    doc_map.insert("@type".into(), json!("Interface"));
    let title = root.get("title").and_then(Value::as_str);
    texts(
        &mut doc_map,
        T::DISPLAY_NAME.or(title.filter(|t| t.chars().count() <= MAX_NAME)),
        T::DESCRIPTION.map(Cow::Borrowed).or_else(|| doc(root)),
    );
    doc_map.insert("contents".into(), Value::Array(contents));
    Ok(DtdlModel {
        document: Value::Object(doc_map),
        components: component_models,
    })
}

fn duplicate(field: &str) -> Error {
    Error::invalid_input(
        field.to_owned(),
        "is declared twice (names of properties, components, relationships, telemetry and commands share one namespace)",
    )
}

/// A Property or Telemetry element without its schema, checking the semantic type and unit.
fn content(
    kind: &str,
    name: &str,
    semantic_type: Option<&str>,
    unit: Option<&str>,
    field: &str,
    schema: &Value,
) -> Result<Map<String, Value>, Error> {
    let mut m = Map::new();
    match (semantic_type, unit) {
        (Some(st), unit) => {
            check_name(&format!("{field} semantic type"), st)?;
            let numeric = matches!(
                schema.as_str(),
                Some("double" | "float" | "integer" | "long" | "short" | "byte" | "decimal")
            );
            if !numeric {
                return Err(Error::invalid_input(
                    field.to_owned(),
                    format!(
                        "has semantic type {st:?}, which needs a numeric schema (double, float, integer, long, …), got {schema}"
                    ),
                ));
            }
            m.insert("@type".into(), json!([kind, st]));
            if let Some(u) = unit {
                check_name(&format!("{field} unit"), u)?;
                m.insert("unit".into(), json!(u));
            }
        }
        (None, Some(_)) => {
            return Err(Error::invalid_input(
                field.to_owned(),
                "has a unit but no semantic type (DTDL allows a unit only with a semantic type)",
            ));
        }
        (None, None) => {
            m.insert("@type".into(), json!(kind));
        }
    }
    m.insert("name".into(), json!(name));
    Ok(m)
}

/// Adds `displayName` / `description` (cut to DTDL's 64 / 512 characters).
fn texts(m: &mut Map<String, Value>, display: Option<&str>, description: Option<Cow<'_, str>>) {
    if let Some(d) = display {
        m.insert("displayName".into(), json!(cut(d, MAX_NAME)));
    }
    if let Some(d) = description {
        m.insert("description".into(), json!(cut(&d, MAX_TEXT)));
    }
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The doc comment of a schema (schemars puts it in `description`): its first paragraph.
fn doc(schema: &Value) -> Option<Cow<'static, str>> {
    let d = schema.get("description")?.as_str()?;
    let first = d.split("\n\n").next().unwrap_or(d).replace('\n', " ");
    let first = first.trim();
    (!first.is_empty()).then(|| Cow::Owned(first.to_owned()))
}

/// DTDL names: a letter first, then letters, digits and `_`, at most 64 characters.
pub(crate) fn check_name(field: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.as_bytes()[0].is_ascii_alphabetic()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(
            field.to_owned(),
            format!(
                "name {name:?} is not a DTDL name: it must start with a letter and contain only letters, digits and '_' (at most {MAX_NAME}); rename it with #[serde(rename = \"…\")]"
            ),
        ))
    }
}

/// A DTMI with a version: `dtmi:<segment>(:<segment>)*;<version>`.
pub(crate) fn check_dtmi(field: &str, id: &str) -> Result<(), Error> {
    let valid = (|| {
        let rest = id.strip_prefix("dtmi:")?;
        let (path, version) = rest.split_once(';')?;
        let version_ok = !version.is_empty()
            && version.len() <= 9
            && version.bytes().all(|b| b.is_ascii_digit())
            && !version.starts_with('0');
        let path_ok = !path.is_empty()
            && path.split(':').all(|seg| {
                let b = seg.as_bytes();
                !b.is_empty()
                    && b[0].is_ascii_alphabetic()
                    && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    && !seg.ends_with('_')
            });
        (version_ok && path_ok && id.len() <= 2048).then_some(())
    })();
    valid.ok_or_else(|| {
        Error::invalid_input(
            field.to_owned(),
            format!(
                "{id:?} is not a DTMI with a version (dtmi:<segment>(:<segment>)*;<version>, segments of letters, digits and '_', version 1-999999999)"
            ),
        )
    })
}

/// The mapping state: the root schema (for `$defs`), the refs being expanded (recursion).
struct Cx<'a> {
    root: &'a Value,
    type_name: &'a str,
    stack: Vec<String>,
    semantic: bool,
}

fn refuse(field: &str, why: impl Into<String>) -> Error {
    Error::invalid_input(
        field.to_owned(),
        format!("cannot be expressed in DTDL: {}", why.into()),
    )
}

/// The `properties` of an object schema (the type itself must be a struct).
fn object_properties<'v>(
    cx: &Cx<'_>,
    field: &str,
    obj: &'v Value,
) -> Result<&'v Map<String, Value>, Error> {
    let _ = cx;
    if obj.get("type").and_then(Value::as_str) != Some("object") {
        return Err(refuse(
            field,
            "an interface (or relationship properties) must be a struct with named fields",
        ));
    }
    if obj
        .get("additionalProperties")
        .is_some_and(|a| a != &Value::Bool(false))
    {
        return Err(refuse(
            field,
            "the struct has a flattened map (extra members of any name); DTDL properties are declared by name",
        ));
    }
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    Ok(obj
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new)))
}

impl<'a> Cx<'a> {
    /// Follows a `$ref` to its definition in the root's `$defs`.
    fn resolve(&self, field: &str, s: &'a Value) -> Result<&'a Value, Error> {
        match s.get("$ref").and_then(Value::as_str) {
            None => Ok(s),
            Some(r) => self.lookup(field, r),
        }
    }

    fn lookup(&self, field: &str, r: &str) -> Result<&'a Value, Error> {
        let found = r
            .strip_prefix("#/$defs/")
            .and_then(|n| self.root.get("$defs")?.get(n))
            .or_else(|| {
                r.strip_prefix("#/definitions/")
                    .and_then(|n| self.root.get("definitions")?.get(n))
            });
        match (r, found) {
            ("#", _) => Ok(self.root),
            (_, Some(v)) => Ok(v),
            _ => Err(refuse(
                field,
                format!("schema reference {r:?} of {} not found", self.type_name),
            )),
        }
    }

    /// Maps one JSON Schema to a DTDL schema (a primitive name or an inline complex schema).
    fn map(&mut self, field: &str, s: &Value, depth: usize) -> Result<Value, Error> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(refuse(
                field,
                format!(
                    "nested more than {MAX_SCHEMA_DEPTH} levels deep (DTDL v3's limit for complex schemas)"
                ),
            ));
        }
        let obj = match s {
            Value::Bool(true) => {
                return Err(refuse(
                    field,
                    "any JSON value is allowed here (serde_json::Value?); DTDL needs a definite schema",
                ));
            }
            Value::Object(o) => o,
            _ => return Err(refuse(field, "its JSON Schema accepts nothing")),
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            if self.stack.iter().any(|x| x == r) {
                return Err(refuse(
                    field,
                    format!(
                        "the type is recursive (through {r}); DTDL schemas cannot refer to themselves"
                    ),
                ));
            }
            let target = self.lookup(field, r)?;
            self.stack.push(r.to_owned());
            let out = self.map(field, target, depth);
            self.stack.pop();
            return out;
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(alts)) = obj.get(key) {
                let non_null: Vec<&Value> = alts.iter().filter(|a| !is_null_schema(a)).collect();
                if non_null.len() == 1 {
                    return self.map(field, non_null[0], depth);
                }
                if let Some(e) = const_enum(&non_null) {
                    return self.enumeration(field, &e);
                }
                return Err(refuse(
                    field,
                    "its values have different shapes (a Rust enum with data, or an untagged union); DTDL has no union: use a unit-only enum, or a struct with optional fields",
                ));
            }
        }
        if let Some(Value::Array(all)) = obj.get("allOf") {
            if all.len() == 1 {
                return self.map(field, &all[0], depth);
            }
            return Err(refuse(field, "it combines several schemas (allOf)"));
        }
        if let Some(c) = obj.get("const") {
            return self.enumeration(field, std::slice::from_ref(c));
        }
        if let Some(Value::Array(values)) = obj.get("enum") {
            let values: Vec<Value> = values.iter().filter(|v| !v.is_null()).cloned().collect();
            return self.enumeration(field, &values);
        }
        let ty = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => {
                let ts: Vec<&str> = ts
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "null")
                    .collect();
                match ts.as_slice() {
                    [one] => *one,
                    _ => {
                        return Err(refuse(
                            field,
                            format!("it may be any of the JSON types {ts:?}; DTDL needs one"),
                        ));
                    }
                }
            }
            _ => {
                return Err(refuse(
                    field,
                    "its JSON Schema gives no type (serde_json::Value or a custom schema?)",
                ));
            }
        };
        let format = obj.get("format").and_then(Value::as_str);
        let prim = |p: &str| Ok(Value::String(p.to_owned()));
        match ty {
            "boolean" => prim("boolean"),
            "integer" => match format {
                Some("int8") => prim("byte"),
                Some("int16" | "uint8") => prim("short"),
                Some("int32" | "uint16") => prim("integer"),
                Some("int64" | "uint32" | "int") => prim("long"),
                Some(f @ ("uint64" | "uint" | "uint128" | "int128")) => Err(refuse(
                    field,
                    format!(
                        "a {f} integer does not fit DTDL's widest integer, long (signed 64-bit); use i64, or u32 and narrower"
                    ),
                )),
                _ => prim("long"),
            },
            "number" => match format {
                Some("float") => prim("float"),
                _ => prim("double"),
            },
            "string" => match format {
                Some("date-time") => prim("dateTime"),
                Some("date") => prim("date"),
                Some("time" | "partial-time") => prim("time"),
                Some("duration") => prim("duration"),
                _ => prim("string"),
            },
            "array" => {
                if obj.contains_key("prefixItems") {
                    return Err(refuse(
                        field,
                        "it is a tuple (fixed positions of different types); DTDL arrays have one element schema: use a struct",
                    ));
                }
                let items = obj
                    .get("items")
                    .ok_or_else(|| refuse(field, "an array without an element schema"))?;
                let element = self.map(&format!("{field}[]"), items, depth + 1)?;
                Ok(json!({"@type": "Array", "elementSchema": element}))
            }
            "object" => {
                let props = obj.get("properties").and_then(Value::as_object);
                let extra = obj
                    .get("additionalProperties")
                    .filter(|a| **a != Value::Bool(false));
                match (props.filter(|p| !p.is_empty()), extra) {
                    (Some(_), Some(_)) => Err(refuse(
                        field,
                        "it has named fields and a flattened map at once; DTDL has Object (named fields) or Map (string keys), not both",
                    )),
                    (None, Some(value)) => {
                        if obj
                            .get("propertyNames")
                            .and_then(|p| p.get("type"))
                            .is_some_and(|t| t != "string")
                        {
                            return Err(refuse(field, "a map whose keys are not strings"));
                        }
                        let v = self.map(&format!("{field}{{}}"), value, depth + 1)?;
                        Ok(json!({
                            "@type": "Map",
                            "mapKey": {"name": "key", "schema": "string"},
                            "mapValue": {"name": "value", "schema": v}
                        }))
                    }
                    (props, None) => {
                        let mut fields = Vec::new();
                        for (n, fs) in props.into_iter().flatten() {
                            let ff = format!("{field}.{n}");
                            check_name(&ff, n)?;
                            let mut f = Map::new();
                            f.insert("name".into(), json!(n));
                            f.insert("schema".into(), self.map(&ff, fs, depth + 1)?);
                            texts(&mut f, None, doc(fs));
                            fields.push(Value::Object(f));
                        }
                        if fields.is_empty() {
                            return Err(refuse(
                                field,
                                "an object without fields (a unit or empty struct)",
                            ));
                        }
                        Ok(json!({"@type": "Object", "fields": fields}))
                    }
                }
            }
            "null" => Err(refuse(field, "it is always null (a unit type)")),
            other => Err(refuse(field, format!("JSON type {other:?} is unknown"))),
        }
    }

    /// A DTDL Enum of string or integer values; names derived from the values.
    fn enumeration(&mut self, field: &str, values: &[Value]) -> Result<Value, Error> {
        let value_schema = if values.iter().all(Value::is_string) {
            "string"
        } else if values
            .iter()
            .all(|v| v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()))
        {
            "integer"
        } else {
            return Err(refuse(
                field,
                "an enum whose values are not all strings or all 32-bit integers",
            ));
        };
        if values.is_empty() {
            return Err(refuse(field, "an enum without values"));
        }
        let mut names = BTreeSet::new();
        let mut out = Vec::new();
        for v in values {
            let name = enum_value_name(v);
            if !names.insert(name.clone()) {
                return Err(refuse(
                    field,
                    format!("two enum values map to the same DTDL name {name:?}"),
                ));
            }
            out.push(json!({"name": name, "enumValue": v}));
        }
        Ok(json!({"@type": "Enum", "valueSchema": value_schema, "enumValues": out}))
    }
}

fn is_null_schema(s: &Value) -> bool {
    s.get("type").and_then(Value::as_str) == Some("null")
        || s.get("const").is_some_and(Value::is_null)
}

/// `oneOf` of `const`s (a unit enum with documented variants) → the constants.
fn const_enum(alts: &[&Value]) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    for a in alts {
        if let Some(c) = a.get("const") {
            out.push(c.clone());
        } else if let Some(Value::Array(e)) = a.get("enum") {
            out.extend(e.iter().cloned());
        } else {
            return None;
        }
    }
    Some(out)
}

/// A DTDL name for an enum value: the value if it is one, else letters/digits with `_`.
fn enum_value_name(v: &Value) -> String {
    let raw = match v {
        Value::String(s) => s.clone(),
        other => format!("v{other}"),
    };
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        name.insert(0, 'v');
    }
    if name.ends_with('_') {
        name.push('x');
    }
    name.truncate(MAX_NAME);
    name
}
