//! The stored documents of the emulated hub (identities, twins, configurations, jobs) and the
//! pure logic on them: rendering in the wire shape, PATCH merge with `$metadata`, etags.

use super::error::HubError;
use super::validate;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A timestamp the service never set, as rendered in twins and later identity reads.
pub const NEVER: &str = "0001-01-01T00:00:00Z";
/// The same, as rendered in an identity create response.
pub const NEVER_FRESH: &str = "0001-01-01T00:00:00";

/// Now, with the 7 fractional digits and `Z` the service uses.
pub fn now_ts() -> String {
    ts(chrono::Utc::now())
}

/// Formats a time the way the service does (`2020-06-25T20:25:29.3360931Z`).
pub fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

/// Identity etag: base64 of the ASCII decimal counter (`MzQzMDYwMzU2` = "343060356").
pub fn identity_etag(n: u64) -> String {
    B64.encode(n.to_string())
}

/// Inverse of [`identity_etag`], for the "existingVersion/newVersion" message.
pub fn identity_etag_number(etag: &str) -> Option<u64> {
    let bytes = B64.decode(etag).ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

/// Twin etag: base64 of the 8-byte big-endian counter (`AAAAAAAAAAE=` = 1).
pub fn twin_etag(n: u64) -> String {
    B64.encode(n.to_be_bytes())
}

/// A 32-byte random key in base64, as the hub generates for `sas` identities.
pub fn generate_key() -> String {
    let bytes: [u8; 32] = rand::random();
    B64.encode(bytes)
}

/// The `If-Match` condition of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// Header absent or `""`.
    None,
    /// `*`.
    Any,
    /// A (de-quoted) etag.
    Tag(String),
}

impl IfMatch {
    /// Parses the header value; quotes are optional (`"AAAAAAAAAAE="` or `AAAAAAAAAAE=`).
    pub fn parse(v: Option<&str>) -> Self {
        let Some(v) = v.map(str::trim) else {
            return IfMatch::None;
        };
        let unq = v.strip_prefix("W/").unwrap_or(v);
        let unq = unq
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(unq);
        match unq {
            "" => IfMatch::None,
            "*" => IfMatch::Any,
            t => IfMatch::Tag(t.to_string()),
        }
    }
}

/// One section of twin properties (`desired` or `reported`): user values, `$metadata`, `$version`.
#[derive(Debug, Clone)]
pub struct Section {
    /// User keys.
    pub values: Map<String, Value>,
    /// The `$metadata` tree (root keys `$lastUpdated` and, after a service write, `$lastUpdatedVersion`).
    pub metadata: Map<String, Value>,
    /// `$version`.
    pub version: i64,
}

impl Section {
    fn new(created: &str) -> Self {
        let mut metadata = Map::new();
        metadata.insert("$lastUpdated".into(), json!(created));
        Self {
            values: Map::new(),
            metadata,
            version: 1,
        }
    }

    /// The wire form.
    pub fn render(&self) -> Value {
        let mut m = self.values.clone();
        m.insert("$metadata".into(), Value::Object(self.metadata.clone()));
        m.insert("$version".into(), json!(self.version));
        Value::Object(m)
    }

    /// Merges `patch` (null removes a key), bumping `$version` and the metadata of touched nodes.
    pub fn merge(&mut self, patch: &Map<String, Value>, now: &str) {
        self.version += 1;
        let ver = self.version;
        merge_with_metadata(&mut self.values, &mut self.metadata, patch, now, ver);
        self.metadata.insert("$lastUpdated".into(), json!(now));
        self.metadata
            .insert("$lastUpdatedVersion".into(), json!(ver));
    }

    /// Replaces every user key with `doc` (null leaves dropped).
    pub fn replace(&mut self, doc: &Map<String, Value>, now: &str) {
        self.values.clear();
        self.metadata.clear();
        self.merge(doc, now);
    }
}

fn leaf_meta(now: &str, ver: i64) -> Value {
    json!({"$lastUpdated": now, "$lastUpdatedVersion": ver})
}

fn merge_with_metadata(
    values: &mut Map<String, Value>,
    meta: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    now: &str,
    ver: i64,
) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                values.remove(k);
                meta.remove(k);
            }
            Value::Object(p) => {
                let target = values.entry(k.clone()).or_insert_with(|| json!({}));
                if !target.is_object() {
                    *target = json!({});
                }
                let m = meta.entry(k.clone()).or_insert_with(|| json!({}));
                if !m.is_object() {
                    *m = json!({});
                }
                let (Some(t), Some(mm)) = (target.as_object_mut(), m.as_object_mut()) else {
                    continue;
                };
                mm.insert("$lastUpdated".into(), json!(now));
                mm.insert("$lastUpdatedVersion".into(), json!(ver));
                merge_with_metadata(t, mm, p, now, ver);
            }
            other => {
                values.insert(k.clone(), other.clone());
                meta.insert(k.clone(), leaf_meta(now, ver));
            }
        }
    }
}

/// Recursive JSON merge without metadata (tags): null removes a key.
pub fn merge_plain(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                target.remove(k);
            }
            Value::Object(p) => {
                let t = target.entry(k.clone()).or_insert_with(|| json!({}));
                if !t.is_object() {
                    *t = json!({});
                }
                if let Some(t) = t.as_object_mut() {
                    merge_plain(t, p);
                }
            }
            other => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
}

/// Drops null leaves (a replace stores no nulls).
pub fn strip_nulls(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            Value::Object(m) => (k.clone(), Value::Object(strip_nulls(m))),
            other => (k.clone(), other.clone()),
        })
        .collect()
}

/// The twin half of a device or module.
#[derive(Debug, Clone)]
pub struct Twin {
    /// Twin etag counter.
    pub etag: u64,
    /// Twin `version`.
    pub version: i64,
    /// `tags`, absent until first set.
    pub tags: Option<Map<String, Value>>,
    /// `properties.desired`.
    pub desired: Section,
    /// `properties.reported` (read-only through the service API).
    pub reported: Section,
    /// ADM configurations targeting this twin: id → `{status}`.
    pub configurations: Map<String, Value>,
    /// The IoT Plug and Play model id the device announced (`modelId`).
    pub model_id: Option<String>,
}

impl Twin {
    /// A fresh twin: etag 1, version 2 (as a new device twin reads), sections at `$version` 1.
    pub fn new(created: &str) -> Self {
        Self {
            etag: 1,
            version: 2,
            tags: None,
            desired: Section::new(created),
            reported: Section::new(created),
            configurations: Map::new(),
            model_id: None,
        }
    }

    /// Checks `If-Match` against the twin etag.
    pub fn check(&self, cond: &IfMatch, device_id: &str) -> Result<(), HubError> {
        match cond {
            IfMatch::Tag(t) if *t != twin_etag(self.etag) => Err(HubError::precondition(format!(
                "ETag mismatch for device ID '{device_id}'"
            ))),
            _ => Ok(()),
        }
    }

    /// Applies a PATCH (`merge = true`) or PUT body after validating it; nothing is applied on error.
    pub fn write(&mut self, body: &Value, merge: bool, now: &str) -> Result<(), HubError> {
        let parsed = TwinPatch::parse(body)?;
        let mut next = self.clone();
        match (merge, parsed.tags) {
            (true, Some(p)) => merge_plain(next.tags.get_or_insert_with(Map::new), &p),
            (false, Some(p)) => next.tags = Some(strip_nulls(&p)),
            (false, None) => next.tags = None,
            (true, None) => {}
        }
        if next.tags.as_ref().is_some_and(|t| t.is_empty()) && !merge {
            next.tags = None;
        }
        match (merge, parsed.desired) {
            (true, Some(p)) if !p.is_empty() => next.desired.merge(&p, now),
            (false, Some(p)) => next.desired.replace(&p, now),
            (false, None) => next.desired.replace(&Map::new(), now),
            _ => {}
        }
        if let Some(t) = &next.tags {
            validate::section_size("tags", t, validate::MAX_TAGS_SIZE)?;
        }
        validate::section_size(
            "properties.desired",
            &next.desired.values,
            validate::MAX_DESIRED_SIZE,
        )?;
        next.etag += 1;
        next.version += 1;
        *self = next;
        Ok(())
    }
}

/// The writable parts of a twin body: `tags` and `properties.desired` (read-only fields ignored).
pub struct TwinPatch {
    /// `tags`, when present.
    pub tags: Option<Map<String, Value>>,
    /// `properties.desired` without `$metadata`/`$version`, when present.
    pub desired: Option<Map<String, Value>>,
}

impl TwinPatch {
    /// Extracts and validates the writable parts.
    pub fn parse(body: &Value) -> Result<Self, HubError> {
        let Some(obj) = body.as_object() else {
            return Err(HubError::format("the twin body must be a JSON object"));
        };
        let tags = match obj.get("tags") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                validate::section("tags", m)?;
                Some(m.clone())
            }
            Some(_) => return Err(HubError::invalid("tags must be a JSON object")),
        };
        let desired = match obj.get("properties") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => match p.get("desired") {
                None | Some(Value::Null) => None,
                Some(Value::Object(d)) => {
                    let d: Map<String, Value> = d
                        .iter()
                        .filter(|(k, _)| *k != "$metadata" && *k != "$version")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    validate::section("properties.desired", &d)?;
                    Some(d)
                }
                Some(_) => {
                    return Err(HubError::invalid(
                        "properties.desired must be a JSON object",
                    ));
                }
            },
            Some(_) => return Err(HubError::invalid("properties must be a JSON object")),
        };
        Ok(Self { tags, desired })
    }
}

/// Authentication mechanism of an identity.
#[derive(Debug, Clone)]
pub struct Auth {
    /// `sas`, `selfSigned`, `certificateAuthority` or `none`.
    pub kind: String,
    /// Primary symmetric key.
    pub primary_key: Option<String>,
    /// Secondary symmetric key.
    pub secondary_key: Option<String>,
    /// Primary X.509 thumbprint.
    pub primary_thumbprint: Option<String>,
    /// Secondary X.509 thumbprint.
    pub secondary_thumbprint: Option<String>,
}

impl Auth {
    /// Parses `authentication` from a create/update body; `previous` supplies keys that are omitted.
    pub fn parse(v: Option<&Value>, previous: Option<&Auth>) -> Result<Self, HubError> {
        let obj = match v {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(HubError::invalid("authentication must be a JSON object")),
        };
        let kind = match obj.and_then(|o| o.get("type")) {
            None | Some(Value::Null) => "sas".to_string(),
            Some(Value::String(s)) => match s.as_str() {
                "sas" | "selfSigned" | "certificateAuthority" | "none" => s.clone(),
                other => {
                    return Err(HubError::invalid(format!(
                        "authentication.type '{other}' is not one of sas, selfSigned, certificateAuthority, none"
                    )));
                }
            },
            Some(_) => return Err(HubError::invalid("authentication.type must be a string")),
        };
        let field = |outer: &str, inner: &str| -> Result<Option<String>, HubError> {
            match obj.and_then(|o| o.get(outer)).and_then(|o| o.get(inner)) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(HubError::invalid(format!(
                    "authentication.{outer}.{inner} must be a string"
                ))),
            }
        };
        let mut primary_key = field("symmetricKey", "primaryKey")?;
        let mut secondary_key = field("symmetricKey", "secondaryKey")?;
        let primary_thumbprint = field("x509Thumbprint", "primaryThumbprint")?;
        let secondary_thumbprint = field("x509Thumbprint", "secondaryThumbprint")?;
        match kind.as_str() {
            "sas" => {
                for (name, k) in [
                    ("primaryKey", &primary_key),
                    ("secondaryKey", &secondary_key),
                ] {
                    if let Some(k) = k {
                        let ok = B64
                            .decode(k)
                            .map(|b| (16..=64).contains(&b.len()))
                            .unwrap_or(false);
                        if !ok {
                            return Err(HubError::invalid(format!(
                                "authentication.symmetricKey.{name} must be base64 of 16 to 64 bytes"
                            )));
                        }
                    }
                }
                let prev = previous.filter(|p| p.kind == "sas");
                if primary_key.is_none() && secondary_key.is_none() {
                    primary_key = prev.and_then(|p| p.primary_key.clone());
                    secondary_key = prev.and_then(|p| p.secondary_key.clone());
                }
                if primary_key.is_none() {
                    primary_key = Some(generate_key());
                }
                if secondary_key.is_none() {
                    secondary_key = Some(generate_key());
                }
            }
            "selfSigned" => {
                if primary_thumbprint.is_none() {
                    return Err(HubError::invalid(
                        "authentication.x509Thumbprint.primaryThumbprint is required for selfSigned authentication",
                    ));
                }
                primary_key = None;
                secondary_key = None;
            }
            _ => {
                primary_key = None;
                secondary_key = None;
            }
        }
        Ok(Self {
            kind,
            primary_key,
            secondary_key,
            primary_thumbprint,
            secondary_thumbprint,
        })
    }

    /// The wire form.
    pub fn render(&self) -> Value {
        json!({
            "symmetricKey": {"primaryKey": self.primary_key, "secondaryKey": self.secondary_key},
            "x509Thumbprint": self.thumbprints(),
            "type": self.kind,
        })
    }

    /// `{primaryThumbprint, secondaryThumbprint}`.
    pub fn thumbprints(&self) -> Value {
        json!({"primaryThumbprint": self.primary_thumbprint, "secondaryThumbprint": self.secondary_thumbprint})
    }
}

/// A module identity with its twin.
#[derive(Debug, Clone)]
pub struct Module {
    /// Module id.
    pub module_id: String,
    /// `managedBy`.
    pub managed_by: Option<String>,
    /// `generationId`.
    pub generation_id: String,
    /// Identity etag counter.
    pub etag: u64,
    /// Authentication.
    pub auth: Auth,
    /// Whether the identity has been written since creation (renders `…Z` times).
    pub touched: bool,
    /// The module twin.
    pub twin: Twin,
}

/// A device identity with its twin and modules.
#[derive(Debug, Clone)]
pub struct Device {
    /// Device id.
    pub device_id: String,
    /// `generationId`.
    pub generation_id: String,
    /// Identity etag counter.
    pub etag: u64,
    /// `enabled` / `disabled`.
    pub status: String,
    /// `statusReason`.
    pub status_reason: Option<String>,
    /// `statusUpdatedTime`, once the status changed.
    pub status_updated: Option<String>,
    /// Authentication.
    pub auth: Auth,
    /// `capabilities.iotEdge`.
    pub iot_edge: bool,
    /// `deviceScope`, for edge hierarchies.
    pub device_scope: Option<String>,
    /// `parentScopes`.
    pub parent_scopes: Vec<String>,
    /// Whether the identity has been written since creation (renders `…Z` times).
    pub touched: bool,
    /// The device twin.
    pub twin: Twin,
    /// Modules by id.
    pub modules: BTreeMap<String, Module>,
}

/// A fresh `generationId` (18 decimal digits, like the service's tick-based ids).
pub fn generation_id() -> String {
    let ticks = chrono::Utc::now().timestamp_micros() as u64 * 10 + 621_355_968_000_000_000;
    ticks.to_string()
}

fn str_field(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, HubError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(HubError::invalid(format!("{name} must be a string"))),
    }
}

/// The writable fields of a device create/update body.
pub struct DeviceInput {
    /// `status`.
    pub status: Option<String>,
    /// `statusReason`.
    pub status_reason: Option<String>,
    /// `capabilities.iotEdge`.
    pub iot_edge: Option<bool>,
    /// `deviceScope`.
    pub device_scope: Option<String>,
    /// `parentScopes`.
    pub parent_scopes: Option<Vec<String>>,
    /// `authentication` (raw, parsed against the previous value).
    pub authentication: Option<Value>,
}

impl DeviceInput {
    /// Parses a device body; `path_id` must match `deviceId` when the body has one.
    pub fn parse(body: &Value, path_id: &str) -> Result<Self, HubError> {
        let Some(obj) = body.as_object() else {
            return Err(HubError::format("the device body must be a JSON object"));
        };
        if let Some(id) = str_field(obj, "deviceId")?
            && id != path_id
        {
            return Err(HubError::invalid(format!(
                "deviceId '{id}' in the body does not match '{path_id}' in the path"
            )));
        }
        let status = str_field(obj, "status")?;
        if let Some(s) = &status
            && s != "enabled"
            && s != "disabled"
        {
            return Err(HubError::invalid(format!(
                "status '{s}' is not one of enabled, disabled"
            )));
        }
        let iot_edge = match obj.get("capabilities") {
            None | Some(Value::Null) => None,
            Some(Value::Object(c)) => match c.get("iotEdge") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => return Err(HubError::invalid("capabilities.iotEdge must be a boolean")),
            },
            Some(_) => return Err(HubError::invalid("capabilities must be a JSON object")),
        };
        let parent_scopes = match obj.get("parentScopes") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| HubError::invalid("parentScopes must be an array of strings"))?,
            ),
            Some(_) => {
                return Err(HubError::invalid(
                    "parentScopes must be an array of strings",
                ));
            }
        };
        Ok(Self {
            status,
            status_reason: str_field(obj, "statusReason")?,
            iot_edge,
            device_scope: str_field(obj, "deviceScope")?,
            parent_scopes,
            authentication: obj.get("authentication").cloned(),
        })
    }
}

impl Device {
    /// A new device from a validated create body.
    pub fn create(id: &str, input: DeviceInput, etag: u64) -> Result<Self, HubError> {
        let auth = Auth::parse(input.authentication.as_ref(), None)?;
        let created = now_ts();
        Ok(Self {
            device_id: id.to_string(),
            generation_id: generation_id(),
            etag,
            status: input.status.unwrap_or_else(|| "enabled".into()),
            status_reason: input.status_reason,
            status_updated: None,
            auth,
            iot_edge: input.iot_edge.unwrap_or(false),
            device_scope: input.device_scope,
            parent_scopes: input.parent_scopes.unwrap_or_default(),
            touched: false,
            twin: Twin::new(&created),
            modules: BTreeMap::new(),
        })
    }

    /// Applies an update body (new etag supplied by the caller); nothing changes on error.
    pub fn update(&mut self, input: DeviceInput, etag: u64) -> Result<(), HubError> {
        let auth = Auth::parse(input.authentication.as_ref(), Some(&self.auth))?;
        let status = input.status.unwrap_or_else(|| self.status.clone());
        if status != self.status {
            self.status_updated = Some(now_ts());
        }
        self.status = status;
        self.status_reason = input.status_reason;
        self.auth = auth;
        if let Some(e) = input.iot_edge {
            self.iot_edge = e;
        }
        self.device_scope = input.device_scope.or(self.device_scope.take());
        if let Some(p) = input.parent_scopes {
            self.parent_scopes = p;
        }
        self.etag = etag;
        self.touched = true;
        Ok(())
    }

    /// The identity in wire form.
    pub fn render(&self) -> Value {
        let never = if self.touched { NEVER } else { NEVER_FRESH };
        let mut v = json!({
            "deviceId": self.device_id,
            "generationId": self.generation_id,
            "etag": identity_etag(self.etag),
            "connectionState": "Disconnected",
            "status": self.status,
            "statusReason": self.status_reason,
            "connectionStateUpdatedTime": never,
            "statusUpdatedTime": self.status_updated.as_deref().unwrap_or(never),
            "lastActivityTime": never,
            "cloudToDeviceMessageCount": 0,
            "authentication": self.auth.render(),
            "capabilities": {"iotEdge": self.iot_edge},
        });
        if let Some(s) = &self.device_scope {
            v["deviceScope"] = json!(s);
        }
        if !self.parent_scopes.is_empty() {
            v["parentScopes"] = json!(self.parent_scopes);
        }
        v
    }

    /// The device twin in wire form.
    pub fn render_twin(&self) -> Value {
        let mut v = twin_common(&self.device_id, &self.twin, self.etag, &self.auth);
        v["status"] = json!(self.status);
        v["statusUpdateTime"] = json!(self.status_updated.as_deref().unwrap_or(NEVER));
        v["capabilities"] = json!({"iotEdge": self.iot_edge});
        if let Some(r) = &self.status_reason {
            v["statusReason"] = json!(r);
        }
        if let Some(s) = &self.device_scope {
            v["deviceScope"] = json!(s);
        }
        v
    }

    /// A module twin in wire form (modules carry the device's status).
    pub fn render_module_twin(&self, m: &Module) -> Value {
        let mut v = twin_common(&self.device_id, &m.twin, m.etag, &m.auth);
        v["moduleId"] = json!(m.module_id);
        v["status"] = json!("enabled");
        v["statusUpdateTime"] = json!(NEVER);
        v
    }
}

fn twin_common(device_id: &str, twin: &Twin, identity_etag_n: u64, auth: &Auth) -> Value {
    let mut v = json!({
        "deviceId": device_id,
        "etag": twin_etag(twin.etag),
        "deviceEtag": identity_etag(identity_etag_n),
        "connectionState": "Disconnected",
        "lastActivityTime": NEVER,
        "cloudToDeviceMessageCount": 0,
        "authenticationType": auth.kind,
        "x509Thumbprint": auth.thumbprints(),
        "version": twin.version,
        "properties": {"desired": twin.desired.render(), "reported": twin.reported.render()},
    });
    if let Some(t) = &twin.tags {
        v["tags"] = Value::Object(t.clone());
    }
    if !twin.configurations.is_empty() {
        v["configurations"] = Value::Object(twin.configurations.clone());
    }
    if let Some(m) = &twin.model_id {
        v["modelId"] = json!(m);
    }
    v
}

impl Module {
    /// A new module from a create body.
    pub fn create(mid: &str, body: &Value, etag: u64) -> Result<Self, HubError> {
        let obj = body
            .as_object()
            .ok_or_else(|| HubError::format("the module body must be a JSON object"))?;
        let auth = Auth::parse(obj.get("authentication"), None)?;
        Ok(Self {
            module_id: mid.to_string(),
            managed_by: str_field(obj, "managedBy")?,
            generation_id: generation_id(),
            etag,
            auth,
            touched: false,
            twin: Twin::new(NEVER),
        })
    }

    /// Applies an update body; nothing changes on error.
    pub fn update(&mut self, body: &Value, etag: u64) -> Result<(), HubError> {
        let obj = body
            .as_object()
            .ok_or_else(|| HubError::format("the module body must be a JSON object"))?;
        self.auth = Auth::parse(obj.get("authentication"), Some(&self.auth))?;
        self.managed_by = str_field(obj, "managedBy")?;
        self.etag = etag;
        self.touched = true;
        Ok(())
    }

    /// The identity in wire form.
    pub fn render(&self, device_id: &str) -> Value {
        let never = if self.touched { NEVER } else { NEVER_FRESH };
        json!({
            "moduleId": self.module_id,
            "managedBy": self.managed_by,
            "deviceId": device_id,
            "generationId": self.generation_id,
            "etag": identity_etag(self.etag),
            "connectionState": "Disconnected",
            "connectionStateUpdatedTime": never,
            "lastActivityTime": never,
            "cloudToDeviceMessageCount": 0,
            "authentication": self.auth.render(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags() {
        assert_eq!(twin_etag(1), "AAAAAAAAAAE=");
        assert_eq!(twin_etag(2), "AAAAAAAAAAI=");
        assert_eq!(identity_etag(343060356), "MzQzMDYwMzU2");
        assert_eq!(identity_etag(1), "MQ==");
        assert_eq!(identity_etag_number("MzQzMDYwMzU3"), Some(343060357));
        assert_eq!(IfMatch::parse(Some("\"abc\"")), IfMatch::Tag("abc".into()));
        assert_eq!(IfMatch::parse(Some("\"\"")), IfMatch::None);
        assert_eq!(IfMatch::parse(Some("*")), IfMatch::Any);
        assert_eq!(IfMatch::parse(None), IfMatch::None);
    }

    #[test]
    fn patch_merges_and_tracks_metadata() {
        let mut t = Twin::new("2020-01-01T00:00:00.0000000Z");
        t.write(&json!({"tags": {"a": {"b": 1}}, "properties": {"desired": {"x": 1, "o": {"p": 2}, "$version": 9}}}), true, "T1")
            .unwrap();
        assert_eq!(t.etag, 2);
        assert_eq!(t.version, 3);
        assert_eq!(t.desired.version, 2);
        assert_eq!(t.desired.metadata["x"]["$lastUpdatedVersion"], 2);
        assert_eq!(t.desired.metadata["o"]["p"]["$lastUpdated"], "T1");
        t.write(
            &json!({"tags": {"a": {"b": null, "c": 2}}, "properties": {"desired": {"x": null}}}),
            true,
            "T2",
        )
        .unwrap();
        assert_eq!(t.tags.as_ref().unwrap()["a"], json!({"c": 2}));
        assert!(!t.desired.values.contains_key("x"));
        assert!(!t.desired.metadata.contains_key("x"));
        assert_eq!(t.desired.version, 3);
        // tags-only write leaves the desired version alone
        t.write(&json!({"tags": {"z": 1}}), true, "T3").unwrap();
        assert_eq!(t.desired.version, 3);
        assert_eq!(t.version, 5);
        // replace
        t.write(
            &json!({"properties": {"desired": {"only": true}}}),
            false,
            "T4",
        )
        .unwrap();
        assert!(t.tags.is_none());
        assert_eq!(
            t.desired.values,
            *json!({"only": true}).as_object().unwrap()
        );
        // invalid → nothing applied
        let before = t.etag;
        assert!(
            t.write(&json!({"tags": {"bad.key": 1}}), true, "T5")
                .is_err()
        );
        assert_eq!(t.etag, before);
    }

    #[test]
    fn timestamps_have_seven_digits() {
        let s = now_ts();
        assert_eq!(s.len(), "2020-06-25T20:25:29.3360931Z".len(), "{s}");
    }
}
