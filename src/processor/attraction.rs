//! Actions on an attribute map, as the collector-contrib `coreinternal/attraction` package
//! defines them for the `attributes` and `resource` processors:
//!
//! - `insert`: add `key` when absent; `update`: replace its value when present; `upsert`:
//!   either. The value is the configured `value` or a copy of attribute `from_attribute` (when
//!   that attribute is absent, nothing happens);
//! - `delete`: remove `key` and every key `pattern` matches;
//! - `hash`: replace the value of `key` (and of every key `pattern` matches) with the lowercase
//!   hex SHA-256 of it — strings by their UTF-8 bytes, booleans as one byte 1/0, integers and
//!   doubles as 8 little-endian bytes; an empty string, a list, a map or bytes hash to `""`
//!   (the collector's `sha2Hasher`);
//! - `extract`: match `pattern` against the string value of `key`; each named group becomes
//!   (or overwrites) a string attribute, `""` for a group that did not take part;
//! - `convert`: change the value of `key` to `int`, `double` or `string` (strings that do not
//!   parse are left as they are).
//!
//! One deliberate difference: `delete` and `hash` act on every attribute with the key, where
//! the collector's map holds at most one (OTLP forbids duplicates, but a repeated key must not
//! let a value meant to be redacted slip through).

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use regex_lite::Regex;
use sha2::{Digest, Sha256};

use crate::config::processors::{compile, ActionKind, AttributeActionConfig};
use crate::config::RawValue;

/// Where `insert`/`update`/`upsert` take the value from.
#[derive(Debug, Clone)]
enum Source {
    /// The configured `value` (`None` only for a YAML value that converts to nothing).
    Value(Option<AnyValue>),
    /// A copy of another attribute of the same map.
    Attribute(String),
}

/// Target type of `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Int,
    Double,
    String,
}

#[derive(Debug, Clone)]
enum Action {
    Insert(String, Source),
    Update(String, Source),
    Upsert(String, Source),
    Delete(String, Option<Regex>),
    Hash(String, Option<Regex>),
    Extract(String, Regex, Vec<String>),
    Convert(String, Target),
}

/// A compiled list of actions, applied in order by [`AttrActions::apply`].
#[derive(Debug, Clone, Default)]
pub struct AttrActions {
    actions: Vec<Action>,
}

impl AttrActions {
    /// Compiles validated action configs. Errors (a pattern that does not compile, an action
    /// left out) cannot happen after config validation, but are reported rather than assumed.
    pub fn new(configs: &[AttributeActionConfig]) -> Result<Self, String> {
        let mut actions = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            let pattern = || -> Result<Option<Regex>, String> {
                if c.pattern.is_empty() {
                    Ok(None)
                } else {
                    compile(&c.pattern).map(Some)
                }
            };
            let source = || match &c.value {
                Some(v) => Source::Value(raw_to_any(v)),
                None => Source::Attribute(c.from_attribute.clone()),
            };
            let key = c.key.clone();
            let action = match c.action {
                Some(ActionKind::Insert) => Action::Insert(key, source()),
                Some(ActionKind::Update) => Action::Update(key, source()),
                Some(ActionKind::Upsert) => Action::Upsert(key, source()),
                Some(ActionKind::Delete) => Action::Delete(key, pattern()?),
                Some(ActionKind::Hash) => Action::Hash(key, pattern()?),
                Some(ActionKind::Extract) => {
                    let re =
                        pattern()?.ok_or_else(|| format!("action {i}: extract needs a pattern"))?;
                    let names = re
                        .capture_names()
                        .skip(1)
                        .map(|n| n.unwrap_or_default().to_owned())
                        .collect();
                    Action::Extract(key, re, names)
                }
                Some(ActionKind::Convert) => Action::Convert(
                    key,
                    match c.converted_type.as_str() {
                        "int" => Target::Int,
                        "double" => Target::Double,
                        _ => Target::String,
                    },
                ),
                None => return Err(format!("action {i} has no `action`")),
            };
            actions.push(action);
        }
        Ok(Self { actions })
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Applies every action, in order, to `attrs`.
    pub fn apply(&self, attrs: &mut Vec<KeyValue>) {
        for action in &self.actions {
            match action {
                Action::Insert(key, source) => {
                    if find(attrs, key).is_none() {
                        if let Some(v) = source_value(source, attrs) {
                            attrs.push(new_kv(key.clone(), v));
                        }
                    }
                }
                Action::Update(key, source) => {
                    if let Some(i) = find(attrs, key) {
                        if let Some(v) = source_value(source, attrs) {
                            attrs[i].value = v;
                        }
                    }
                }
                Action::Upsert(key, source) => {
                    if let Some(v) = source_value(source, attrs) {
                        match find(attrs, key) {
                            Some(i) => attrs[i].value = v,
                            None => attrs.push(new_kv(key.clone(), v)),
                        }
                    }
                }
                Action::Delete(key, pattern) => attrs.retain(|kv| !selected(kv, key, pattern)),
                Action::Hash(key, pattern) => {
                    for kv in attrs.iter_mut().filter(|kv| selected(kv, key, pattern)) {
                        let hashed = hash_value(kv.value.as_ref().and_then(|v| v.value.as_ref()));
                        kv.value = Some(string(hashed));
                    }
                }
                Action::Extract(key, re, names) => extract(attrs, key, re, names),
                Action::Convert(key, target) => {
                    if let Some(i) = find(attrs, key) {
                        convert(&mut attrs[i].value, *target);
                    }
                }
            }
        }
    }
}

/// Index of the first attribute with `key`.
fn find(attrs: &[KeyValue], key: &str) -> Option<usize> {
    attrs.iter().position(|kv| kv.key == key)
}

/// Whether `delete`/`hash` acts on `kv`: its key is `key`, or `pattern` matches it.
fn selected(kv: &KeyValue, key: &str, pattern: &Option<Regex>) -> bool {
    (!key.is_empty() && kv.key == key) || pattern.as_ref().is_some_and(|re| re.is_match(&kv.key))
}

/// The value to write: `None` when the source attribute is absent (nothing happens); the
/// inner `Option` is the attribute's value (`None` for an attribute without one).
fn source_value(source: &Source, attrs: &[KeyValue]) -> Option<Option<AnyValue>> {
    match source {
        Source::Value(v) => Some(v.clone()),
        Source::Attribute(from) => find(attrs, from).map(|i| attrs[i].value.clone()),
    }
}

fn new_kv(key: String, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key,
        value,
        ..Default::default()
    }
}

fn string(s: String) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(s)),
    }
}

/// A YAML value (typed by the YAML 1.2 core schema) as an OTLP value, as the collector's
/// `pcommon.Value.FromRaw`: integers beyond `i64` become doubles.
pub fn raw_to_any(v: &RawValue) -> Option<AnyValue> {
    let value = match v {
        RawValue::Null => return None,
        RawValue::Bool(b) => Value::BoolValue(*b),
        RawValue::Number(n) => match n.as_i64() {
            Some(i) => Value::IntValue(i),
            None => Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        },
        RawValue::String(s) => Value::StringValue(s.clone()),
        RawValue::Array(items) => Value::ArrayValue(ArrayValue {
            values: items
                .iter()
                .map(|i| raw_to_any(i).unwrap_or_default())
                .collect(),
        }),
        RawValue::Object(map) => Value::KvlistValue(KeyValueList {
            values: map
                .iter()
                .map(|(k, v)| new_kv(k.clone(), raw_to_any(v)))
                .collect(),
        }),
    };
    Some(AnyValue { value: Some(value) })
}

/// Lowercase hex SHA-256 of a value (see the module doc for the bytes hashed).
fn hash_value(v: Option<&Value>) -> String {
    let bytes: Vec<u8> = match v {
        Some(Value::StringValue(s)) => s.as_bytes().to_vec(),
        Some(Value::BoolValue(b)) => vec![u8::from(*b)],
        Some(Value::IntValue(i)) => i.to_le_bytes().to_vec(),
        Some(Value::DoubleValue(d)) => d.to_bits().to_le_bytes().to_vec(),
        _ => Vec::new(),
    };
    if bytes.is_empty() {
        return String::new();
    }
    let digest = Sha256::digest(&bytes);
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn extract(attrs: &mut Vec<KeyValue>, key: &str, re: &Regex, names: &[String]) {
    let Some(i) = find(attrs, key) else { return };
    let Some(Value::StringValue(s)) = attrs[i].value.as_ref().and_then(|v| v.value.as_ref()) else {
        return;
    };
    let Some(caps) = re.captures(s) else { return };
    let found: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            let v = caps.name(n).map(|m| m.as_str()).unwrap_or_default();
            (n.clone(), v.to_owned())
        })
        .collect();
    for (name, value) in found {
        match find(attrs, &name) {
            Some(j) => attrs[j].value = Some(string(value)),
            None => attrs.push(new_kv(name, Some(string(value)))),
        }
    }
}

fn convert(value: &mut Option<AnyValue>, target: Target) {
    let current = value.as_ref().and_then(|v| v.value.as_ref());
    let new = match (target, current) {
        (Target::String, Some(Value::StringValue(_))) => return,
        (Target::String, v) => Value::StringValue(as_string(v)),
        (Target::Int, Some(Value::DoubleValue(d))) => Value::IntValue(*d as i64),
        (Target::Int, Some(Value::BoolValue(b))) => Value::IntValue(i64::from(*b)),
        (Target::Int, Some(Value::StringValue(s))) => match s.parse::<i64>() {
            Ok(i) => Value::IntValue(i),
            Err(_) => return,
        },
        (Target::Double, Some(Value::IntValue(i))) => Value::DoubleValue(*i as f64),
        (Target::Double, Some(Value::BoolValue(b))) => Value::DoubleValue(f64::from(u8::from(*b))),
        (Target::Double, Some(Value::StringValue(s))) => match s.parse::<f64>() {
            Ok(d) => Value::DoubleValue(d),
            Err(_) => return,
        },
        _ => return,
    };
    *value = Some(AnyValue { value: Some(new) });
}

/// A value as text, as the collector's `pcommon.Value.AsString`: lists and maps as JSON, bytes
/// as base64, no value as `""`.
pub fn as_string(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => aws_smithy_types::base64::encode(b),
        Some(other) => to_json(Some(other)).to_string(),
    }
}

fn to_json(v: Option<&Value>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        None => J::Null,
        Some(Value::StringValue(s)) => J::String(s.clone()),
        Some(Value::BoolValue(b)) => J::Bool(*b),
        Some(Value::IntValue(i)) => J::from(*i),
        Some(Value::DoubleValue(d)) => J::from(*d),
        Some(Value::BytesValue(b)) => J::String(aws_smithy_types::base64::encode(b)),
        Some(Value::ArrayValue(a)) => {
            J::Array(a.values.iter().map(|x| to_json(x.value.as_ref())).collect())
        }
        Some(Value::KvlistValue(l)) => J::Object(
            l.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        to_json(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                    )
                })
                .collect(),
        ),
        // Profiles-only string-table references carry no text here.
        Some(_) => J::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kv(key: &str, v: Value) -> KeyValue {
        new_kv(key.into(), Some(AnyValue { value: Some(v) }))
    }

    fn s(key: &str, v: &str) -> KeyValue {
        kv(key, Value::StringValue(v.into()))
    }

    fn action(yaml: serde_json::Value) -> AttributeActionConfig {
        serde_json::from_value(yaml).expect("action")
    }

    fn run(actions: &[serde_json::Value], mut attrs: Vec<KeyValue>) -> Vec<KeyValue> {
        let configs: Vec<_> = actions.iter().cloned().map(action).collect();
        AttrActions::new(&configs)
            .expect("compile")
            .apply(&mut attrs);
        attrs
    }

    fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
        attrs
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    #[test]
    fn insert_only_adds_missing_keys() {
        let out = run(
            &[
                json!({"key": "a", "value": "new", "action": "insert"}),
                json!({"key": "b", "value": 7, "action": "insert"}),
                json!({"key": "c", "value": 1.5, "action": "insert"}),
                json!({"key": "d", "value": true, "action": "insert"}),
            ],
            vec![s("a", "old")],
        );
        assert_eq!(get(&out, "a"), Some(&Value::StringValue("old".into())));
        assert_eq!(get(&out, "b"), Some(&Value::IntValue(7)));
        assert_eq!(get(&out, "c"), Some(&Value::DoubleValue(1.5)));
        assert_eq!(get(&out, "d"), Some(&Value::BoolValue(true)));
    }

    #[test]
    fn update_only_changes_existing_keys() {
        let out = run(
            &[
                json!({"key": "a", "value": "new", "action": "update"}),
                json!({"key": "b", "value": "new", "action": "update"}),
            ],
            vec![s("a", "old")],
        );
        assert_eq!(get(&out, "a"), Some(&Value::StringValue("new".into())));
        assert_eq!(get(&out, "b"), None);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn upsert_does_both_and_from_attribute_copies() {
        let out = run(
            &[
                json!({"key": "a", "value": "new", "action": "upsert"}),
                json!({"key": "b", "value": "new", "action": "upsert"}),
                json!({"key": "copy", "from_attribute": "src", "action": "upsert"}),
                json!({"key": "none", "from_attribute": "absent", "action": "upsert"}),
            ],
            vec![s("a", "old"), kv("src", Value::IntValue(3))],
        );
        assert_eq!(get(&out, "a"), Some(&Value::StringValue("new".into())));
        assert_eq!(get(&out, "b"), Some(&Value::StringValue("new".into())));
        assert_eq!(get(&out, "copy"), Some(&Value::IntValue(3)));
        assert!(
            out.iter().all(|kv| kv.key != "none"),
            "absent source: no action"
        );
    }

    #[test]
    fn delete_by_key_and_pattern_including_duplicates() {
        let out = run(
            &[
                json!({"key": "password", "action": "delete"}),
                json!({"pattern": "^secret\\.", "action": "delete"}),
            ],
            vec![
                s("password", "x"),
                s("keep", "y"),
                s("password", "dup"),
                s("secret.token", "z"),
                s("not.secret.x", "k"),
            ],
        );
        let keys: Vec<&str> = out.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["keep", "not.secret.x"]);
    }

    #[test]
    fn hash_is_hex_sha256_of_the_collector_bytes() {
        let out = run(
            &[
                json!({"key": "email", "action": "hash"}),
                json!({"pattern": "^n", "action": "hash"}),
                json!({"key": "empty", "action": "hash"}),
            ],
            vec![
                s("email", "abc"),
                kv("n_int", Value::IntValue(1)),
                kv("n_bool", Value::BoolValue(true)),
                s("empty", ""),
            ],
        );
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            get(&out, "email"),
            Some(&Value::StringValue(
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()
            ))
        );
        let expect = |bytes: &[u8]| {
            Value::StringValue(
                Sha256::digest(bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            )
        };
        assert_eq!(get(&out, "n_int"), Some(&expect(&1i64.to_le_bytes())));
        assert_eq!(get(&out, "n_bool"), Some(&expect(&[1])));
        assert_eq!(get(&out, "empty"), Some(&Value::StringValue(String::new())));
    }

    #[test]
    fn extract_named_groups() {
        let out = run(
            &[
                json!({"key": "http.url", "pattern": "^/api/(?P<version>v\\d+)/(?P<res>\\w+)(?P<opt>/x)?", "action": "extract"}),
            ],
            vec![s("http.url", "/api/v2/users/7"), s("version", "old")],
        );
        assert_eq!(get(&out, "version"), Some(&Value::StringValue("v2".into())));
        assert_eq!(get(&out, "res"), Some(&Value::StringValue("users".into())));
        assert_eq!(get(&out, "opt"), Some(&Value::StringValue(String::new())));
        let untouched = run(
            &[json!({"key": "n", "pattern": "(?P<d>\\d)", "action": "extract"})],
            vec![kv("n", Value::IntValue(5))],
        );
        assert_eq!(untouched.len(), 1, "only string values are extracted from");
    }

    #[test]
    fn convert_between_types() {
        let out = run(
            &[
                json!({"key": "a", "converted_type": "int", "action": "convert"}),
                json!({"key": "b", "converted_type": "double", "action": "convert"}),
                json!({"key": "c", "converted_type": "string", "action": "convert"}),
                json!({"key": "d", "converted_type": "int", "action": "convert"}),
                json!({"key": "e", "converted_type": "int", "action": "convert"}),
            ],
            vec![
                s("a", "42"),
                kv("b", Value::IntValue(2)),
                kv("c", Value::BoolValue(false)),
                s("d", "forty"),
                kv("e", Value::DoubleValue(3.9)),
            ],
        );
        assert_eq!(get(&out, "a"), Some(&Value::IntValue(42)));
        assert_eq!(get(&out, "b"), Some(&Value::DoubleValue(2.0)));
        assert_eq!(get(&out, "c"), Some(&Value::StringValue("false".into())));
        assert_eq!(get(&out, "d"), Some(&Value::StringValue("forty".into())));
        assert_eq!(get(&out, "e"), Some(&Value::IntValue(3)));
    }

    #[test]
    fn yaml_lists_and_maps_become_otlp_values() {
        let v = raw_to_any(&json!({"a": [1, "x"]})).and_then(|v| v.value);
        assert_eq!(as_string(v.as_ref()), r#"{"a":[1,"x"]}"#);
        assert_eq!(
            raw_to_any(&json!(u64::MAX)).and_then(|v| v.value),
            Some(Value::DoubleValue(u64::MAX as f64))
        );
    }
}
