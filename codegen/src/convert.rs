//! Swagger 2.0 → OpenAPI 3.0.3 conversion on `serde_json::Value`.
//!
//! progenitor only reads OpenAPI 3.0.x, and both vendored Azure specs are Swagger 2.0. This
//! converter covers exactly the subset the two specs use (see the rules below) and returns
//! [`Error::Unsupported`] with a JSON pointer for everything else, so that a re-vendored spec that
//! starts using a new construct fails the build instead of losing meaning silently.
//!
//! Rules:
//! - `swagger: "2.0"` → `openapi: "3.0.3"`; `info`, `tags`, `security`, `externalDocs` copied;
//!   `schemes` + `host` + `basePath` → `servers`.
//! - `definitions` → `components/schemas`; `$ref: #/definitions/X` → `#/components/schemas/X`.
//! - global `parameters` (non-body) → `components/parameters`; `$ref: #/parameters/X` →
//!   `#/components/parameters/X`, except body parameters, which are inlined as `requestBody`.
//! - path, query and header parameters: `type`/`format`/`items`/`enum`/`default`/limits move into
//!   `schema`; `collectionFormat` → `style`/`explode`.
//! - body parameter → `requestBody` with one `content` entry per effective `consumes` media type.
//! - path-level `parameters` stay on the path item.
//! - responses: `schema` → `content` per effective `produces` media type; response `headers` get a
//!   `schema`.
//! - `securityDefinitions` → `components/securitySchemes` (oauth2 flows, apiKey, basic).
//! - `x-nullable: true` → `nullable: true`; other `x-*` extensions are copied unchanged (refs inside
//!   extensions, such as `x-ms-examples` file refs, are not rewritten: nothing reads them).

use serde_json::{Map, Value, json};

use crate::error::{Error, join};

type Result<T> = std::result::Result<T, Error>;

const HTTP_METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

/// Converts a Swagger 2.0 document to OpenAPI 3.0.3.
///
/// Returns [`Error::Unsupported`] naming the construct and its JSON pointer for anything outside
/// the supported subset; never panics on input.
pub fn swagger2_to_openapi3(swagger: &Value) -> Result<Value> {
    let root = as_object(swagger, "")?;
    match root.get("swagger") {
        Some(Value::String(v)) if v == "2.0" => {}
        Some(other) => {
            return Err(Error::unsupported(
                format!("swagger version {other}"),
                "/swagger",
            ));
        }
        None => return Err(Error::unsupported("document without `swagger: 2.0`", "")),
    }

    let mut out = Map::new();
    out.insert("openapi".into(), json!("3.0.3"));
    let mut components = Map::new();

    for (key, value) in root {
        let ptr = join("", key);
        match key.as_str() {
            "swagger" | "host" | "basePath" | "schemes" | "consumes" | "produces" | "paths" => {}
            "info" | "tags" | "security" | "externalDocs" => {
                out.insert(key.clone(), value.clone());
            }
            "definitions" => {
                let mut schemas = Map::new();
                for (name, schema) in as_object(value, &ptr)? {
                    schemas.insert(name.clone(), convert_schema(schema, &join(&ptr, name))?);
                }
                components.insert("schemas".into(), Value::Object(schemas));
            }
            "parameters" => {
                let mut params = Map::new();
                for (name, param) in as_object(value, &ptr)? {
                    let pptr = join(&ptr, name);
                    if param.get("in").and_then(Value::as_str) == Some("body") {
                        // Body parameters have no OpenAPI 3 component form here; they are inlined
                        // at each use site instead.
                        continue;
                    }
                    params.insert(name.clone(), convert_parameter(param, &pptr)?);
                }
                if !params.is_empty() {
                    components.insert("parameters".into(), Value::Object(params));
                }
            }
            "securityDefinitions" => {
                let mut schemes = Map::new();
                for (name, def) in as_object(value, &ptr)? {
                    schemes.insert(
                        name.clone(),
                        convert_security_scheme(def, &join(&ptr, name))?,
                    );
                }
                components.insert("securitySchemes".into(), Value::Object(schemes));
            }
            k if k.starts_with("x-") => {
                out.insert(key.clone(), value.clone());
            }
            other => return Err(Error::unsupported(format!("top-level `{other}`"), &ptr)),
        }
    }

    if let Some(host) = root.get("host").and_then(Value::as_str) {
        let base = root.get("basePath").and_then(Value::as_str).unwrap_or("");
        let schemes: Vec<&str> = match root.get("schemes") {
            Some(Value::Array(s)) => s.iter().filter_map(Value::as_str).collect(),
            _ => vec!["https"],
        };
        let servers: Vec<Value> = schemes
            .iter()
            .map(|s| json!({ "url": format!("{s}://{host}{base}") }))
            .collect();
        out.insert("servers".into(), Value::Array(servers));
    }

    let global_consumes = media_types(root.get("consumes"), "/consumes")?;
    let global_produces = media_types(root.get("produces"), "/produces")?;
    let globals = Globals {
        parameters: root.get("parameters").and_then(Value::as_object),
        consumes: &global_consumes,
        produces: &global_produces,
    };

    let paths = root
        .get("paths")
        .ok_or_else(|| Error::unsupported("document without `paths`", ""))?;
    let mut out_paths = Map::new();
    for (path, item) in as_object(paths, "/paths")? {
        let ptr = join("/paths", path);
        out_paths.insert(path.clone(), convert_path_item(item, &ptr, &globals)?);
    }
    out.insert("paths".into(), Value::Object(out_paths));
    if !components.is_empty() {
        out.insert("components".into(), Value::Object(components));
    }
    Ok(Value::Object(out))
}

struct Globals<'a> {
    parameters: Option<&'a Map<String, Value>>,
    consumes: &'a [String],
    produces: &'a [String],
}

fn as_object<'a>(value: &'a Value, ptr: &str) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| Error::unsupported(format!("non-object value {}", short(value)), ptr))
}

fn short(value: &Value) -> String {
    let s = value.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

fn media_types(value: Option<&Value>, ptr: &str) -> Result<Vec<String>> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    Error::unsupported("non-string media type", &format!("{ptr}/{i}"))
                })
            })
            .collect(),
        Some(other) => Err(Error::unsupported(
            format!("media type list {}", short(other)),
            ptr,
        )),
    }
}

fn convert_path_item(item: &Value, ptr: &str, globals: &Globals<'_>) -> Result<Value> {
    let item = as_object(item, ptr)?;
    let mut out = Map::new();
    for (key, value) in item {
        let kptr = join(ptr, key);
        match key.as_str() {
            m if HTTP_METHODS.contains(&m) => {
                out.insert(key.clone(), convert_operation(value, &kptr, globals)?);
            }
            "parameters" => {
                let mut params = Vec::new();
                for (i, p) in as_array(value, &kptr)?.iter().enumerate() {
                    let pptr = format!("{kptr}/{i}");
                    match classify_parameter(p, &pptr, globals)? {
                        Param::Body(_) => {
                            return Err(Error::unsupported("body parameter at path level", &pptr));
                        }
                        Param::Other(v) => params.push(v),
                    }
                }
                out.insert(key.clone(), Value::Array(params));
            }
            k if k.starts_with("x-") => {
                out.insert(key.clone(), value.clone());
            }
            other => return Err(Error::unsupported(format!("path item `{other}`"), &kptr)),
        }
    }
    Ok(Value::Object(out))
}

fn as_array<'a>(value: &'a Value, ptr: &str) -> Result<&'a Vec<Value>> {
    value
        .as_array()
        .ok_or_else(|| Error::unsupported(format!("non-array value {}", short(value)), ptr))
}

enum Param<'a> {
    /// A body parameter (resolved if it was a `$ref`) and the pointer where it is defined.
    Body((&'a Value, String)),
    /// A converted non-body parameter or a rewritten `$ref`.
    Other(Value),
}

fn classify_parameter<'a>(p: &'a Value, ptr: &str, globals: &Globals<'a>) -> Result<Param<'a>> {
    let obj = as_object(p, ptr)?;
    if let Some(r) = obj.get("$ref") {
        let r = r
            .as_str()
            .ok_or_else(|| Error::unsupported("non-string $ref", &join(ptr, "$ref")))?;
        let name = r
            .strip_prefix("#/parameters/")
            .ok_or_else(|| Error::unsupported(format!("parameter $ref `{r}`"), ptr))?;
        let target = globals
            .parameters
            .and_then(|g| g.get(name))
            .ok_or_else(|| Error::unsupported(format!("dangling parameter $ref `{r}`"), ptr))?;
        if target.get("in").and_then(Value::as_str) == Some("body") {
            return Ok(Param::Body((target, join("/parameters", name))));
        }
        return Ok(Param::Other(
            json!({ "$ref": format!("#/components/parameters/{name}") }),
        ));
    }
    if obj.get("in").and_then(Value::as_str) == Some("body") {
        return Ok(Param::Body((p, ptr.to_string())));
    }
    Ok(Param::Other(convert_parameter(p, ptr)?))
}

/// Converts one non-body Swagger parameter object to an OpenAPI 3 parameter object.
fn convert_parameter(p: &Value, ptr: &str) -> Result<Value> {
    let obj = as_object(p, ptr)?;
    let location = obj
        .get("in")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::unsupported("parameter without `in`", ptr))?;
    match location {
        "path" | "query" | "header" => {}
        other => {
            return Err(Error::unsupported(
                format!("parameter in: {other}"),
                &join(ptr, "in"),
            ));
        }
    }
    let mut out = Map::new();
    let mut schema = Map::new();
    let mut collection_format = None;
    for (key, value) in obj {
        let kptr = join(ptr, key);
        match key.as_str() {
            "name" | "in" | "description" | "required" | "allowEmptyValue" => {
                out.insert(key.clone(), value.clone());
            }
            "type" => {
                if value.as_str() == Some("file") {
                    return Err(Error::unsupported("parameter type: file", &kptr));
                }
                schema.insert(key.clone(), value.clone());
            }
            "format" | "default" | "enum" | "minimum" | "maximum" | "exclusiveMinimum"
            | "exclusiveMaximum" | "minLength" | "maxLength" | "pattern" | "minItems"
            | "maxItems" | "uniqueItems" | "multipleOf" => {
                schema.insert(key.clone(), value.clone());
            }
            "items" => {
                schema.insert(key.clone(), convert_items(value, &kptr)?);
            }
            "collectionFormat" => collection_format = Some((value, kptr)),
            "x-nullable" => {
                schema.insert("nullable".into(), value.clone());
            }
            k if k.starts_with("x-") => {
                out.insert(key.clone(), value.clone());
            }
            other => {
                return Err(Error::unsupported(
                    format!("parameter field `{other}`"),
                    &kptr,
                ));
            }
        }
    }
    if !schema.contains_key("type") {
        return Err(Error::unsupported("non-body parameter without `type`", ptr));
    }
    if location == "path" {
        // OpenAPI 3 requires path parameters to be required.
        out.insert("required".into(), json!(true));
    }
    let is_array = schema.get("type").and_then(Value::as_str) == Some("array");
    if is_array {
        let (format, fptr) = match &collection_format {
            Some((v, p)) => (v.as_str().unwrap_or("?"), p.clone()),
            None => ("csv", join(ptr, "collectionFormat")),
        };
        let (style, explode) = match (format, location) {
            ("csv", "query") => ("form", false),
            ("csv", _) => ("simple", false),
            ("multi", "query") => ("form", true),
            ("ssv", "query") => ("spaceDelimited", false),
            ("pipes", "query") => ("pipeDelimited", false),
            (other, loc) => {
                return Err(Error::unsupported(
                    format!("collectionFormat {other} on a {loc} parameter"),
                    &fptr,
                ));
            }
        };
        out.insert("style".into(), json!(style));
        out.insert("explode".into(), json!(explode));
    } else if let Some((_, p)) = collection_format {
        return Err(Error::unsupported("collectionFormat on a non-array", &p));
    }
    out.insert("schema".into(), Value::Object(schema));
    Ok(Value::Object(out))
}

/// Converts the `items` of a non-body array parameter (a restricted schema).
fn convert_items(items: &Value, ptr: &str) -> Result<Value> {
    let obj = as_object(items, ptr)?;
    let mut out = Map::new();
    for (key, value) in obj {
        let kptr = join(ptr, key);
        match key.as_str() {
            "type" | "format" | "default" | "enum" | "minimum" | "maximum" | "minLength"
            | "maxLength" | "pattern" => {
                out.insert(key.clone(), value.clone());
            }
            "items" => {
                out.insert(key.clone(), convert_items(value, &kptr)?);
            }
            other => {
                return Err(Error::unsupported(
                    format!("parameter items field `{other}`"),
                    &kptr,
                ));
            }
        }
    }
    Ok(Value::Object(out))
}

/// Converts a Swagger 2.0 schema object (also used for response headers' types).
fn convert_schema(schema: &Value, ptr: &str) -> Result<Value> {
    let obj = as_object(schema, ptr)?;
    let mut out = Map::new();
    for (key, value) in obj {
        let kptr = join(ptr, key);
        match key.as_str() {
            "$ref" => {
                let r = value
                    .as_str()
                    .ok_or_else(|| Error::unsupported("non-string $ref", &kptr))?;
                let name = r
                    .strip_prefix("#/definitions/")
                    .ok_or_else(|| Error::unsupported(format!("schema $ref `{r}`"), &kptr))?;
                out.insert(key.clone(), json!(format!("#/components/schemas/{name}")));
            }
            "type" => {
                if value.as_str() == Some("file") {
                    return Err(Error::unsupported("schema type: file", &kptr));
                }
                if !value.is_string() {
                    return Err(Error::unsupported("type list", &kptr));
                }
                out.insert(key.clone(), value.clone());
            }
            "format" | "title" | "description" | "default" | "enum" | "required" | "readOnly"
            | "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "minLength"
            | "maxLength" | "pattern" | "minItems" | "maxItems" | "uniqueItems"
            | "minProperties" | "maxProperties" | "multipleOf" | "example" | "externalDocs" => {
                out.insert(key.clone(), value.clone());
            }
            "items" => {
                out.insert(key.clone(), convert_schema(value, &kptr)?);
            }
            "properties" => {
                let mut props = Map::new();
                for (name, prop) in as_object(value, &kptr)? {
                    props.insert(name.clone(), convert_schema(prop, &join(&kptr, name))?);
                }
                out.insert(key.clone(), Value::Object(props));
            }
            "additionalProperties" => {
                let converted = match value {
                    Value::Bool(_) => value.clone(),
                    other => convert_schema(other, &kptr)?,
                };
                out.insert(key.clone(), converted);
            }
            "x-nullable" => {
                out.insert("nullable".into(), value.clone());
            }
            k if k.starts_with("x-") => {
                out.insert(key.clone(), value.clone());
            }
            other => {
                return Err(Error::unsupported(
                    format!("schema keyword `{other}`"),
                    &kptr,
                ));
            }
        }
    }
    Ok(Value::Object(out))
}

fn convert_operation(op: &Value, ptr: &str, globals: &Globals<'_>) -> Result<Value> {
    let obj = as_object(op, ptr)?;
    let consumes = match obj.get("consumes") {
        Some(v) => media_types(Some(v), &join(ptr, "consumes"))?,
        None => globals.consumes.to_vec(),
    };
    let produces = match obj.get("produces") {
        Some(v) => media_types(Some(v), &join(ptr, "produces"))?,
        None => globals.produces.to_vec(),
    };
    let mut out = Map::new();
    for (key, value) in obj {
        let kptr = join(ptr, key);
        match key.as_str() {
            "consumes" | "produces" => {}
            "tags" | "summary" | "description" | "operationId" | "deprecated" | "security"
            | "externalDocs" => {
                out.insert(key.clone(), value.clone());
            }
            "parameters" => {
                let mut params = Vec::new();
                let mut body = None;
                for (i, p) in as_array(value, &kptr)?.iter().enumerate() {
                    let pptr = format!("{kptr}/{i}");
                    match classify_parameter(p, &pptr, globals)? {
                        Param::Body(b) => {
                            if body.is_some() {
                                return Err(Error::unsupported("second body parameter", &pptr));
                            }
                            body = Some(b);
                        }
                        Param::Other(v) => params.push(v),
                    }
                }
                if !params.is_empty() {
                    out.insert(key.clone(), Value::Array(params));
                }
                if let Some((body, bptr)) = body {
                    out.insert(
                        "requestBody".into(),
                        convert_body(body, &bptr, &consumes, &join(ptr, "consumes"))?,
                    );
                }
            }
            "responses" => {
                let mut responses = Map::new();
                for (code, response) in as_object(value, &kptr)? {
                    let rptr = join(&kptr, code);
                    responses.insert(
                        code.clone(),
                        convert_response(response, &rptr, &produces, &join(ptr, "produces"))?,
                    );
                }
                out.insert(key.clone(), Value::Object(responses));
            }
            k if k.starts_with("x-") => {
                out.insert(key.clone(), value.clone());
            }
            other => {
                return Err(Error::unsupported(
                    format!("operation field `{other}`"),
                    &kptr,
                ));
            }
        }
    }
    Ok(Value::Object(out))
}

fn convert_body(body: &Value, ptr: &str, consumes: &[String], cptr: &str) -> Result<Value> {
    let obj = as_object(body, ptr)?;
    let mut out = Map::new();
    let mut schema = None;
    for (key, value) in obj {
        let kptr = join(ptr, key);
        match key.as_str() {
            "in" | "name" => {}
            "description" | "required" => {
                out.insert(key.clone(), value.clone());
            }
            "schema" => schema = Some(convert_schema(value, &kptr)?),
            k if k.starts_with("x-") => {
                out.insert(key.clone(), value.clone());
            }
            other => {
                return Err(Error::unsupported(
                    format!("body parameter field `{other}`"),
                    &kptr,
                ));
            }
        }
    }
    let schema = schema.ok_or_else(|| Error::unsupported("body parameter without schema", ptr))?;
    if consumes.is_empty() {
        return Err(Error::unsupported(
            "body parameter without a media type (empty `consumes`)",
            cptr,
        ));
    }
    let content: Map<String, Value> = consumes
        .iter()
        .map(|m| (m.clone(), json!({ "schema": schema })))
        .collect();
    out.insert("content".into(), Value::Object(content));
    Ok(Value::Object(out))
}

fn convert_response(response: &Value, ptr: &str, produces: &[String], pptr: &str) -> Result<Value> {
    let obj = as_object(response, ptr)?;
    let mut out = Map::new();
    for (key, value) in obj {
        let kptr = join(ptr, key);
        match key.as_str() {
            "description" => {
                out.insert(key.clone(), value.clone());
            }
            "schema" => {
                let schema = convert_schema(value, &kptr)?;
                if produces.is_empty() {
                    return Err(Error::unsupported(
                        "response schema without a media type (empty `produces`)",
                        pptr,
                    ));
                }
                let content: Map<String, Value> = produces
                    .iter()
                    .map(|m| (m.clone(), json!({ "schema": schema })))
                    .collect();
                out.insert("content".into(), Value::Object(content));
            }
            "headers" => {
                let mut headers = Map::new();
                for (name, header) in as_object(value, &kptr)? {
                    headers.insert(name.clone(), convert_header(header, &join(&kptr, name))?);
                }
                out.insert(key.clone(), Value::Object(headers));
            }
            k if k.starts_with("x-") => {
                out.insert(key.clone(), value.clone());
            }
            other => {
                return Err(Error::unsupported(
                    format!("response field `{other}`"),
                    &kptr,
                ));
            }
        }
    }
    // OpenAPI 3 requires a description on every response.
    out.entry("description").or_insert_with(|| json!(""));
    Ok(Value::Object(out))
}

fn convert_header(header: &Value, ptr: &str) -> Result<Value> {
    let obj = as_object(header, ptr)?;
    let mut out = Map::new();
    let mut schema = Map::new();
    for (key, value) in obj {
        let kptr = join(ptr, key);
        match key.as_str() {
            "description" => {
                out.insert(key.clone(), value.clone());
            }
            "type" | "format" | "default" | "enum" | "minimum" | "maximum" | "minLength"
            | "maxLength" | "pattern" => {
                schema.insert(key.clone(), value.clone());
            }
            "items" => {
                schema.insert(key.clone(), convert_items(value, &kptr)?);
            }
            k if k.starts_with("x-") => {
                out.insert(key.clone(), value.clone());
            }
            other => {
                return Err(Error::unsupported(
                    format!("response header field `{other}`"),
                    &kptr,
                ));
            }
        }
    }
    out.insert("schema".into(), Value::Object(schema));
    Ok(Value::Object(out))
}

fn convert_security_scheme(def: &Value, ptr: &str) -> Result<Value> {
    let obj = as_object(def, ptr)?;
    let get = |k: &str| obj.get(k).cloned();
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("");
    let description = get("description");
    let mut out = match kind {
        "oauth2" => {
            let flow = obj.get("flow").and_then(Value::as_str).unwrap_or("");
            let scopes = get("scopes").unwrap_or_else(|| json!({}));
            let (name, flow_obj) = match flow {
                "implicit" => (
                    "implicit",
                    json!({ "authorizationUrl": get("authorizationUrl"), "scopes": scopes }),
                ),
                "password" => (
                    "password",
                    json!({ "tokenUrl": get("tokenUrl"), "scopes": scopes }),
                ),
                "application" => (
                    "clientCredentials",
                    json!({ "tokenUrl": get("tokenUrl"), "scopes": scopes }),
                ),
                "accessCode" => (
                    "authorizationCode",
                    json!({
                        "authorizationUrl": get("authorizationUrl"),
                        "tokenUrl": get("tokenUrl"),
                        "scopes": scopes
                    }),
                ),
                other => {
                    return Err(Error::unsupported(
                        format!("oauth2 flow `{other}`"),
                        &join(ptr, "flow"),
                    ));
                }
            };
            if flow_obj
                .as_object()
                .is_some_and(|o| o.values().any(Value::is_null))
            {
                return Err(Error::unsupported(
                    format!("oauth2 flow `{flow}` without its URL"),
                    ptr,
                ));
            }
            json!({ "type": "oauth2", "flows": { name: flow_obj } })
        }
        "apiKey" => json!({ "type": "apiKey", "name": get("name"), "in": get("in") }),
        "basic" => json!({ "type": "http", "scheme": "basic" }),
        other => {
            return Err(Error::unsupported(
                format!("security scheme type `{other}`"),
                &join(ptr, "type"),
            ));
        }
    };
    if let (Some(d), Some(o)) = (description, out.as_object_mut()) {
        o.insert("description".into(), d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(extra: Value) -> Value {
        let mut base = json!({
            "swagger": "2.0",
            "info": { "title": "t", "version": "1" },
            "paths": {}
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    fn unsupported_at(result: Result<Value>) -> (String, String) {
        match result {
            Err(Error::Unsupported { construct, pointer }) => (construct, pointer),
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn header_servers_and_info() {
        let out = swagger2_to_openapi3(&doc(json!({
            "host": "h.example", "basePath": "/v1", "schemes": ["https"],
            "tags": [{ "name": "a" }], "x-top": 1
        })))
        .unwrap();
        assert_eq!(out["openapi"], "3.0.3");
        assert_eq!(out["info"]["title"], "t");
        assert_eq!(out["servers"], json!([{ "url": "https://h.example/v1" }]));
        assert_eq!(out["tags"], json!([{ "name": "a" }]));
        assert_eq!(out["x-top"], 1);
    }

    #[test]
    fn non_body_parameters_get_a_schema_and_path_params_are_required() {
        let out = swagger2_to_openapi3(&doc(json!({ "paths": { "/t/{id}": { "get": {
            "operationId": "Get",
            "parameters": [
                { "name": "id", "in": "path", "type": "string", "x-ms-skip-url-encoding": true },
                { "name": "top", "in": "query", "required": false, "type": "integer",
                  "format": "int32", "default": 5, "minimum": 1 },
                { "name": "If-Match", "in": "header", "required": false, "type": "string",
                  "enum": ["*"], "x-nullable": true }
            ],
            "responses": { "200": { "description": "ok" } }
        } } } })))
        .unwrap();
        let params = &out["paths"]["/t/{id}"]["get"]["parameters"];
        assert_eq!(
            params[0],
            json!({ "name": "id", "in": "path", "required": true,
                    "schema": { "type": "string" }, "x-ms-skip-url-encoding": true })
        );
        assert_eq!(
            params[1]["schema"],
            json!({ "type": "integer", "format": "int32", "default": 5, "minimum": 1 })
        );
        assert_eq!(params[1]["required"], false);
        assert_eq!(
            params[2]["schema"],
            json!({ "type": "string", "enum": ["*"], "nullable": true })
        );
    }

    #[test]
    fn global_parameters_become_components_and_refs_are_rewritten() {
        let out = swagger2_to_openapi3(&doc(json!({
            "parameters": {
                "api-version": { "name": "api-version", "in": "query", "required": true,
                                 "type": "string", "minLength": 1 },
                "payload": { "name": "payload", "in": "body", "required": true,
                             "schema": { "$ref": "#/definitions/Thing" } }
            },
            "definitions": { "Thing": { "type": "object" } },
            "consumes": ["application/json"],
            "paths": { "/t": { "put": {
                "operationId": "Put",
                "parameters": [{ "$ref": "#/parameters/api-version" }, { "$ref": "#/parameters/payload" }],
                "responses": { "204": { "description": "done" } }
            } } }
        })))
        .unwrap();
        assert_eq!(
            out["components"]["parameters"]["api-version"],
            json!({ "name": "api-version", "in": "query", "required": true,
                    "schema": { "type": "string", "minLength": 1 } })
        );
        assert!(out["components"]["parameters"].get("payload").is_none());
        let op = &out["paths"]["/t"]["put"];
        assert_eq!(
            op["parameters"],
            json!([{ "$ref": "#/components/parameters/api-version" }])
        );
        assert_eq!(
            op["requestBody"],
            json!({ "required": true, "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Thing" } } } })
        );
    }

    #[test]
    fn path_level_parameters_stay_on_the_path_item() {
        let out = swagger2_to_openapi3(&doc(json!({
            "parameters": { "traceparent": { "name": "traceparent", "in": "header",
                                             "required": false, "type": "string" } },
            "paths": { "/t": {
                "parameters": [{ "$ref": "#/parameters/traceparent" }],
                "get": { "operationId": "Get", "responses": { "200": { "description": "ok" } } }
            } }
        })))
        .unwrap();
        assert_eq!(
            out["paths"]["/t"]["parameters"],
            json!([{ "$ref": "#/components/parameters/traceparent" }])
        );
    }

    #[test]
    fn definitions_become_schemas_with_nested_refs_rewritten() {
        let out = swagger2_to_openapi3(&doc(json!({ "definitions": {
            "A": {
                "type": "object", "required": ["b"], "x-nullable": true,
                "properties": {
                    "b": { "$ref": "#/definitions/B" },
                    "list": { "type": "array", "items": { "$ref": "#/definitions/B" } },
                    "map": { "type": "object", "additionalProperties": { "$ref": "#/definitions/B" } },
                    "open": { "type": "object", "additionalProperties": true }
                }
            },
            "B": { "type": "string", "readOnly": true }
        } })))
        .unwrap();
        let a = &out["components"]["schemas"]["A"];
        assert_eq!(a["nullable"], true);
        assert_eq!(a["properties"]["b"]["$ref"], "#/components/schemas/B");
        assert_eq!(
            a["properties"]["list"]["items"]["$ref"],
            "#/components/schemas/B"
        );
        assert_eq!(
            a["properties"]["map"]["additionalProperties"]["$ref"],
            "#/components/schemas/B"
        );
        assert_eq!(a["properties"]["open"]["additionalProperties"], true);
        assert_eq!(
            out["components"]["schemas"]["B"],
            json!({ "type": "string", "readOnly": true })
        );
    }

    #[test]
    fn body_uses_operation_consumes_over_global_consumes() {
        let out = swagger2_to_openapi3(&doc(json!({
            "consumes": ["application/json"],
            "paths": { "/t": { "patch": {
                "operationId": "Patch",
                "consumes": ["application/json-patch+json"],
                "parameters": [{ "name": "doc", "in": "body", "required": true, "description": "d",
                                 "schema": { "type": "array", "items": { "type": "object" } } }],
                "responses": { "204": { "description": "ok" } }
            } } }
        })))
        .unwrap();
        let body = &out["paths"]["/t"]["patch"]["requestBody"];
        assert_eq!(body["description"], "d");
        assert_eq!(
            body["content"],
            json!({ "application/json-patch+json": { "schema": {
                "type": "array", "items": { "type": "object" } } } })
        );
    }

    #[test]
    fn body_without_media_type_is_an_error() {
        let (construct, pointer) = unsupported_at(swagger2_to_openapi3(&doc(json!({
            "paths": { "/t": { "post": {
                "operationId": "Post", "consumes": [],
                "parameters": [{ "name": "b", "in": "body", "schema": { "type": "object" } }],
                "responses": { "200": { "description": "ok" } }
            } } }
        }))));
        assert!(construct.contains("empty `consumes`"), "{construct}");
        assert_eq!(pointer, "/paths/~1t/post/consumes");
    }

    #[test]
    fn responses_get_content_per_produces_and_typed_headers() {
        let out = swagger2_to_openapi3(&doc(json!({
            "produces": ["application/json"],
            "paths": { "/t": { "get": {
                "operationId": "Get",
                "responses": {
                    "200": {
                        "description": "ok",
                        "schema": { "type": "array", "items": { "$ref": "#/definitions/T" } },
                        "headers": { "x-ms-continuation": { "type": "string", "description": "c" } }
                    },
                    "default": { "schema": { "$ref": "#/definitions/E" } }
                }
            } } }
        })))
        .unwrap();
        let responses = &out["paths"]["/t"]["get"]["responses"];
        assert_eq!(
            responses["200"]["content"]["application/json"]["schema"]["items"]["$ref"],
            "#/components/schemas/T"
        );
        assert_eq!(
            responses["200"]["headers"]["x-ms-continuation"],
            json!({ "description": "c", "schema": { "type": "string" } })
        );
        assert_eq!(responses["default"]["description"], "");
    }

    #[test]
    fn collection_formats_map_to_style_and_explode() {
        let param = |fmt: Option<&str>| {
            let mut p = json!({ "name": "ids", "in": "query", "type": "array",
                                "items": { "type": "string" } });
            if let Some(f) = fmt {
                p["collectionFormat"] = json!(f);
            }
            p
        };
        for (fmt, style, explode) in [
            (Some("multi"), "form", true),
            (Some("csv"), "form", false),
            (None, "form", false),
            (Some("ssv"), "spaceDelimited", false),
            (Some("pipes"), "pipeDelimited", false),
        ] {
            let out = convert_parameter(&param(fmt), "/p").unwrap();
            assert_eq!(out["style"], style, "{fmt:?}");
            assert_eq!(out["explode"], explode, "{fmt:?}");
            assert_eq!(out["schema"]["items"], json!({ "type": "string" }));
        }
        let (construct, pointer) = unsupported_at(convert_parameter(&param(Some("tsv")), "/p"));
        assert!(construct.contains("tsv"), "{construct}");
        assert_eq!(pointer, "/p/collectionFormat");
    }

    #[test]
    fn oauth2_implicit_becomes_a_security_scheme() {
        let out = swagger2_to_openapi3(&doc(json!({
            "securityDefinitions": { "oauth2": { "type": "oauth2", "flow": "implicit",
                "authorizationUrl": "https://login.example/authorize" } },
            "security": [{ "oauth2": [] }]
        })))
        .unwrap();
        assert_eq!(
            out["components"]["securitySchemes"]["oauth2"],
            json!({ "type": "oauth2", "flows": { "implicit": {
                "authorizationUrl": "https://login.example/authorize", "scopes": {} } } })
        );
        assert_eq!(out["security"], json!([{ "oauth2": [] }]));
    }

    #[test]
    fn unsupported_constructs_name_their_pointer() {
        let form = doc(json!({ "paths": { "/pets": { "post": {
            "operationId": "Add",
            "parameters": [{ "name": "f", "in": "formData", "type": "string" }],
            "responses": { "200": { "description": "ok" } }
        } } } }));
        let (construct, pointer) = unsupported_at(swagger2_to_openapi3(&form));
        assert_eq!(construct, "parameter in: formData");
        assert_eq!(pointer, "/paths/~1pets/post/parameters/0/in");

        let all_of = doc(json!({ "definitions": { "A": { "allOf": [] } } }));
        let (construct, pointer) = unsupported_at(swagger2_to_openapi3(&all_of));
        assert_eq!(construct, "schema keyword `allOf`");
        assert_eq!(pointer, "/definitions/A/allOf");

        let external = doc(json!({ "definitions": { "A": { "$ref": "other.json#/X" } } }));
        let (construct, pointer) = unsupported_at(swagger2_to_openapi3(&external));
        assert!(construct.contains("other.json#/X"), "{construct}");
        assert_eq!(pointer, "/definitions/A/$ref");

        let top = doc(json!({ "x-ms-paths": {}, "responses": {} }));
        let (construct, pointer) = unsupported_at(swagger2_to_openapi3(&top));
        assert_eq!(construct, "top-level `responses`");
        assert_eq!(pointer, "/responses");

        let path_body = doc(json!({ "paths": { "/t": {
            "parameters": [{ "name": "b", "in": "body", "schema": {} }]
        } } }));
        let (_, pointer) = unsupported_at(swagger2_to_openapi3(&path_body));
        assert_eq!(pointer, "/paths/~1t/parameters/0");

        let file = doc(json!({ "definitions": { "F": { "type": "file" } } }));
        let (construct, _) = unsupported_at(swagger2_to_openapi3(&file));
        assert_eq!(construct, "schema type: file");

        let dangling = doc(json!({ "paths": { "/t": { "get": {
            "operationId": "G", "parameters": [{ "$ref": "#/parameters/nope" }], "responses": {}
        } } } }));
        let (construct, pointer) = unsupported_at(swagger2_to_openapi3(&dangling));
        assert!(construct.contains("dangling"), "{construct}");
        assert_eq!(pointer, "/paths/~1t/get/parameters/0");

        let (construct, pointer) =
            unsupported_at(swagger2_to_openapi3(&json!({ "openapi": "3.0.0" })));
        assert!(construct.contains("swagger"), "{construct}");
        assert_eq!(pointer, "");

        let (construct, pointer) =
            unsupported_at(swagger2_to_openapi3(&json!({ "swagger": "1.2" })));
        assert!(construct.contains("1.2"), "{construct}");
        assert_eq!(pointer, "/swagger");
    }

    #[test]
    fn extensions_are_copied_unchanged() {
        let out = swagger2_to_openapi3(&doc(json!({ "paths": { "/t": { "get": {
            "operationId": "G",
            "x-ms-examples": { "e": { "$ref": "./examples/e.json" } },
            "x-ms-pageable": { "nextLinkName": "nextLink" },
            "responses": { "200": { "description": "ok" } }
        } } } })))
        .unwrap();
        let op = &out["paths"]["/t"]["get"];
        assert_eq!(op["x-ms-examples"]["e"]["$ref"], "./examples/e.json");
        assert_eq!(op["x-ms-pageable"]["nextLinkName"], "nextLink");
    }
}
