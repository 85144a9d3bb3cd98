//! `user`, `annotations` and `metadata` (§13, §14).

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::attrs::Attrs;
use super::value::{cut_chars, kv_value, non_finite_text, JsonAny};
use super::TranslateConfig;

/// Prefix of resource attributes stored on segments (R-KIND-2, §14.3).
pub const RESOURCE_PREFIX: &str = "otel.resource.";
/// Maximum annotation key length in characters (R-ANN-2, D13).
pub const MAX_ANNOTATION_KEY_CHARS: usize = 500;
/// Maximum annotation string value length in characters (R-ANN-4, D13).
pub const MAX_ANNOTATION_VALUE_CHARS: usize = 1000;
/// Maximum `user` length in characters (R-USER-1, D13).
pub const MAX_USER_CHARS: usize = 250;
/// The special attribute listing extra keys to annotate (§14.3 step 2).
pub const ANNOTATIONS_KEY: &str = "aws.xray.annotations";
/// Prefix of span attributes holding JSON metadata objects (§14.3 step 4).
pub const METADATA_PREFIX: &str = "aws.xray.metadata.";

/// `enduser.id` → `user`, cut to 250 characters (R-USER-1, D13). The key is consumed whatever
/// its type (§14.5: never in metadata); only a non-empty string becomes `user`.
pub(crate) fn make_user<'a>(attrs: &mut Attrs<'a>) -> Option<&'a str> {
    let user = attrs.str("enduser.id");
    attrs.consume("enduser.id");
    let user = cut_chars(user?, MAX_USER_CHARS);
    (!user.is_empty()).then_some(user)
}

/// `fixkey`: every character other than `A-Z a-z 0-9` (and `.` when allowed) becomes `_`;
/// cut to 500 characters (R-ANN-2, D13). Borrows when nothing changes.
pub fn fix_key(key: &str, allow_dot: bool) -> Cow<'_, str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || (allow_dot && c == '.');
    let key = cut_chars(key, MAX_ANNOTATION_KEY_CHARS);
    if key.chars().all(ok) {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(key.chars().map(|c| if ok(c) { c } else { '_' }).collect())
    }
}

/// An annotation value (R-ANN-3/4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnnotationValue<'a> {
    /// String, cut to 1,000 characters.
    Str(&'a str),
    /// Integer.
    Int(i64),
    /// Finite double.
    Double(f64),
    /// Boolean.
    Bool(bool),
}

impl Serialize for AnnotationValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Str(v) => s.serialize_str(v),
            Self::Int(v) => s.serialize_i64(*v),
            Self::Double(v) => s.serialize_f64(*v),
            Self::Bool(v) => s.serialize_bool(*v),
        }
    }
}

/// `annotations`: an ordered map; a later duplicate key replaces the value (R-ANN-5).
#[derive(Debug, Clone, Default)]
pub struct Annotations<'a> {
    entries: Vec<(Cow<'a, str>, AnnotationValue<'a>)>,
}

impl<'a> Annotations<'a> {
    /// Inserts or replaces.
    pub fn insert(&mut self, key: Cow<'a, str>, value: AnnotationValue<'a>) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// No annotations (the member is then omitted, R-SHAPE-3).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of annotations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

impl Serialize for Annotations<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

thread_local! {
    /// Scratch buffer for `otel.resource.<key>` metadata keys while serialising.
    static KEY_BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// A metadata key: a borrowed/owned string or a resource key written as `otel.resource.<k>`.
#[derive(Debug, Clone)]
enum MetaKey<'a> {
    Str(Cow<'a, str>),
    Resource(&'a str),
}

impl MetaKey<'_> {
    fn matches(&self, other: &str) -> bool {
        match self {
            MetaKey::Str(s) => s == other,
            MetaKey::Resource(k) => other.strip_prefix(RESOURCE_PREFIX) == Some(*k),
        }
    }

    fn is_resource(&self) -> bool {
        match self {
            MetaKey::Str(s) => s.starts_with(RESOURCE_PREFIX),
            MetaKey::Resource(_) => true,
        }
    }
}

impl Serialize for MetaKey<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MetaKey::Str(k) => s.serialize_str(k),
            // Concatenated in a reused per-thread buffer: no allocation, no `fmt` machinery.
            MetaKey::Resource(k) => KEY_BUF.with(|buf| match buf.try_borrow_mut() {
                Ok(mut buf) => {
                    buf.clear();
                    buf.push_str(RESOURCE_PREFIX);
                    buf.push_str(k);
                    s.serialize_str(&buf)
                }
                Err(_) => s.collect_str(&format_args!("{RESOURCE_PREFIX}{k}")),
            }),
        }
    }
}

/// A metadata value.
#[derive(Debug, Clone)]
enum MetaValue<'a> {
    Any(&'a Value),
    Str(&'static str),
    Raw(&'a str),
    Json(serde_json::Value),
}

/// `metadata`: the `default` namespace plus namespaces from `aws.xray.metadata.<ns>` (§14.3).
#[derive(Debug, Clone, Default)]
pub struct Metadata<'a> {
    default: Vec<(MetaKey<'a>, MetaValue<'a>)>,
    namespaces: Vec<(&'a str, serde_json::Map<String, serde_json::Value>)>,
    string_cap: Option<usize>,
    /// Members of `aws.xray.metadata.default` were merged into `default`.
    merged_default: bool,
}

impl<'a> Metadata<'a> {
    /// No metadata at all (the member is then omitted, R-SHAPE-3).
    pub fn is_empty(&self) -> bool {
        self.default.is_empty() && self.namespaces.is_empty()
    }

    fn push(&mut self, key: MetaKey<'a>, value: MetaValue<'a>, dedup: bool) {
        if dedup {
            let existing = match &key {
                MetaKey::Str(s) => self.default.iter().position(|(k, _)| k.matches(s)),
                MetaKey::Resource(r) => self.default.iter().position(|(k, _)| match k {
                    MetaKey::Resource(o) => o == r,
                    MetaKey::Str(s) => s.strip_prefix(RESOURCE_PREFIX) == Some(*r),
                }),
            };
            if let Some(i) = existing {
                self.default.remove(i);
            }
        }
        self.default.push((key, value));
    }

    /// Keeps only `default` members whose key starts with `otel.resource.` (R-KIND-5).
    pub fn retain_resource_only(&mut self) {
        self.default.retain(|(k, _)| k.is_resource());
        self.namespaces.clear();
    }

    /// Cuts every string leaf to `cap` characters when serialising (R-SIZE-1 step 2).
    pub fn set_string_cap(&mut self, cap: usize) {
        self.string_cap = Some(cap);
    }

    /// Removes all metadata (R-SIZE-1 step 3).
    pub fn clear(&mut self) {
        self.default.clear();
        self.namespaces.clear();
    }
}

struct DefaultNs<'m, 'a> {
    entries: &'m [(MetaKey<'a>, MetaValue<'a>)],
    cap: Option<usize>,
}

impl Serialize for DefaultNs<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.entries.len()))?;
        let cap_str = |v: &'_ str| -> String {
            match self.cap {
                Some(c) => cut_chars(v, c).to_owned(),
                None => v.to_owned(),
            }
        };
        for (k, v) in self.entries {
            match v {
                MetaValue::Any(a) => map.serialize_entry(
                    k,
                    &JsonAny {
                        value: Some(a),
                        cap: self.cap,
                    },
                )?,
                MetaValue::Str(t) => map.serialize_entry(k, t)?,
                MetaValue::Raw(r) => match self.cap {
                    Some(_) => map.serialize_entry(k, &cap_str(r))?,
                    None => map.serialize_entry(k, r)?,
                },
                MetaValue::Json(j) => map.serialize_entry(
                    k,
                    &CappedJson {
                        value: j,
                        cap: self.cap,
                    },
                )?,
            }
        }
        map.end()
    }
}

/// A `serde_json::Value` whose string leaves are cut to `cap` characters.
struct CappedJson<'v> {
    value: &'v serde_json::Value,
    cap: Option<usize>,
}

impl Serialize for CappedJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(cap) = self.cap else {
            return self.value.serialize(s);
        };
        match self.value {
            serde_json::Value::String(v) => s.serialize_str(cut_chars(v, cap)),
            serde_json::Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&CappedJson {
                        value: v,
                        cap: self.cap,
                    })?;
                }
                seq.end()
            }
            serde_json::Value::Object(o) => CappedObject {
                object: o,
                cap: self.cap,
            }
            .serialize(s),
            other => other.serialize(s),
        }
    }
}

/// A JSON object whose string leaves are cut to `cap` characters.
struct CappedObject<'v> {
    object: &'v serde_json::Map<String, serde_json::Value>,
    cap: Option<usize>,
}

impl Serialize for CappedObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.object.len()))?;
        for (k, v) in self.object {
            map.serialize_entry(
                k,
                &CappedJson {
                    value: v,
                    cap: self.cap,
                },
            )?;
        }
        map.end()
    }
}

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if !self.default.is_empty() {
            map.serialize_entry(
                "default",
                &DefaultNs {
                    entries: &self.default,
                    cap: self.string_cap,
                },
            )?;
        }
        for (ns, obj) in &self.namespaces {
            map.serialize_entry(
                ns,
                &CappedObject {
                    object: obj,
                    cap: self.string_cap,
                },
            )?;
        }
        map.end()
    }
}

/// Inputs of §14.3 that are not attributes.
pub(crate) struct AnnotationInput<'a> {
    pub(crate) resource: &'a [KeyValue],
    /// The document stores resource attributes (R-KIND-2).
    pub(crate) store_resource: bool,
    pub(crate) config: &'a TranslateConfig,
}

fn scalar(v: &Value) -> Option<AnnotationValue<'_>> {
    match v {
        Value::StringValue(s) => Some(AnnotationValue::Str(cut_chars(
            s,
            MAX_ANNOTATION_VALUE_CHARS,
        ))),
        Value::IntValue(i) => Some(AnnotationValue::Int(*i)),
        Value::DoubleValue(d) if d.is_finite() => Some(AnnotationValue::Double(*d)),
        Value::BoolValue(b) => Some(AnnotationValue::Bool(*b)),
        _ => None,
    }
}

/// Metadata value of an attribute that cannot be an annotation (D11, D13).
fn meta_value(v: &Value) -> MetaValue<'_> {
    match v {
        Value::DoubleValue(d) if !d.is_finite() => MetaValue::Str(non_finite_text(*d)),
        other => MetaValue::Any(other),
    }
}

/// Re-adds consumed indexed keys (R-ANN-1), then builds annotations and metadata (§14.3).
pub(crate) fn make_annotations_metadata<'a>(
    input: &AnnotationInput<'a>,
    attrs: &mut Attrs<'a>,
) -> (Annotations<'a>, Metadata<'a>) {
    let config = input.config;
    let allow_dot = config.annotation_allow_dot;
    let index_all = config.index_all_attributes;
    let mut annotations = Annotations::default();
    let mut metadata = Metadata::default();
    if input.store_resource {
        metadata.default.reserve(input.resource.len());
    }

    // Step 2: the indexed set.
    let mut indexed: Vec<&'a str> = if index_all {
        Vec::new()
    } else {
        config
            .indexed_attributes
            .iter()
            .map(String::as_str)
            .collect()
    };
    if let Some(Value::ArrayValue(a)) = attrs.value(ANNOTATIONS_KEY) {
        indexed.extend(a.values.iter().filter_map(|v| match &v.value {
            Some(Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }));
    }
    attrs.consume(ANNOTATIONS_KEY);

    // Step 3: resource attributes on segments.
    if input.store_resource {
        for kv in input.resource {
            let Some(v) = kv_value(kv) else {
                continue;
            };
            let listed = index_all
                || indexed
                    .iter()
                    .any(|k| k.strip_prefix(RESOURCE_PREFIX) == Some(kv.key.as_str()));
            match (listed, scalar(v)) {
                (true, Some(a)) => {
                    let full = format!("{RESOURCE_PREFIX}{}", kv.key);
                    let key = Cow::Owned(fix_key(&full, allow_dot).into_owned());
                    annotations.insert(key, a);
                }
                _ => metadata.push(MetaKey::Resource(&kv.key), meta_value(v), false),
            }
        }
    }

    // Step 4: span attributes.
    let attrs: &Attrs<'a> = attrs;
    metadata.default.reserve(attrs.live().count());
    for (pos, kv) in attrs.live().enumerate() {
        let Some(v) = kv_value(kv) else {
            continue;
        };
        let key = kv.key.as_str();
        // Keys can collide with resource keys, with members merged from
        // `aws.xray.metadata.default`, or with a repeated OTLP key: the later one wins (as
        // R-ANN-5 for annotations) so the JSON object never has duplicate members.
        let dedup = metadata.merged_default
            || key.starts_with(RESOURCE_PREFIX)
            || attrs.live().take(pos).any(|b| b.key == key);
        if let (Some(suffix), Value::StringValue(raw)) = (key.strip_prefix(METADATA_PREFIX), v) {
            match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw) {
                Ok(obj) if suffix.eq_ignore_ascii_case("default") => {
                    metadata.merged_default = true;
                    for (k, v) in obj {
                        metadata.push(MetaKey::Str(Cow::Owned(k)), MetaValue::Json(v), true);
                    }
                }
                Ok(obj) => {
                    if obj.is_empty() {
                        continue;
                    }
                    match metadata.namespaces.iter_mut().find(|(n, _)| *n == suffix) {
                        Some(slot) => slot.1 = obj,
                        None => metadata.namespaces.push((suffix, obj)),
                    }
                }
                Err(_) => {
                    metadata.push(MetaKey::Str(Cow::Borrowed(key)), MetaValue::Raw(raw), dedup)
                }
            }
            continue;
        }
        // An empty key cannot be an annotation key (R-ANN-2: 1–500 characters); it stays in
        // metadata like any other non-annotatable value (D11).
        if !key.is_empty() && (index_all || indexed.contains(&key)) {
            if let Some(a) = scalar(v) {
                annotations.insert(fix_key(key, allow_dot), a);
                continue;
            }
        }
        metadata.push(MetaKey::Str(Cow::Borrowed(key)), meta_value(v), dedup);
    }
    (annotations, metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue};

    fn kv(key: &str, v: Value) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }
    fn s(key: &str, v: &str) -> KeyValue {
        kv(key, Value::StringValue(v.to_owned()))
    }

    fn run(
        config: &TranslateConfig,
        resource: &[KeyValue],
        span: &[KeyValue],
        store_resource: bool,
    ) -> (String, String) {
        let whole = TranslateConfig {
            max_document_bytes: 64_000,
            ..config.clone()
        };
        let kind = if store_resource { 2 } else { 3 };
        let sp = super::super::test_support::span(kind, true, span.to_vec());
        assert!(!super::super::test_support::docs_for(resource, &sp, &whole).is_empty());
        let mut attrs = Attrs::new(span);
        let input = AnnotationInput {
            resource,
            store_resource,
            config,
        };
        let (a, m) = make_annotations_metadata(&input, &mut attrs);
        (
            serde_json::to_string(&a).unwrap_or_default(),
            serde_json::to_string(&m).unwrap_or_default(),
        )
    }

    #[test]
    fn fix_key_examples() {
        // R-ANN-2
        assert_eq!(fix_key("attr1@1", true), "attr1_1");
        assert_eq!(fix_key("Key.1", true), "Key.1");
        assert_eq!(fix_key("Key.1", false), "Key_1");
        assert_eq!(fix_key("città", true), "citt_");
        assert_eq!(fix_key("order id", true), "order_id");
        assert_eq!(fix_key(&"k".repeat(600), true).len(), 500); // D13
    }

    #[test]
    fn user_is_cut() {
        // R-USER-1 (D13)
        let kvs = [s("enduser.id", &"u".repeat(300))];
        let mut attrs = Attrs::new(&kvs);
        assert_eq!(make_user(&mut attrs).map(str::len), Some(250));
        assert_eq!(attrs.live().count(), 0);
    }

    #[test]
    fn annotation_values_and_limits() {
        // R-ANN-3 / R-ANN-4 (D13)
        let config = TranslateConfig {
            index_all_attributes: true,
            ..TranslateConfig::default()
        };
        let span = [
            s("long", &"x".repeat(1500)),
            kv("nan", Value::DoubleValue(f64::INFINITY)),
        ];
        let (a, m) = run(&config, &[], &span, false);
        assert!(a.contains(&format!(r#""long":"{}""#, "x".repeat(1000))));
        assert_eq!(m, r#"{"default":{"nan":"Infinity"}}"#);
    }

    #[test]
    fn collisions_later_wins() {
        // R-ANN-5
        let config = TranslateConfig {
            indexed_attributes: vec!["a.b".to_owned(), "a_b".to_owned()],
            annotation_allow_dot: false,
            ..TranslateConfig::default()
        };
        let (a, _) = run(&config, &[], &[s("a.b", "1"), s("a_b", "2")], false);
        assert_eq!(a, r#"{"a_b":"2"}"#);
    }

    #[test]
    fn xray_annotations_attribute() {
        // §14.3 step 2
        let list = kv(
            ANNOTATIONS_KEY,
            Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Value::StringValue("tenant".to_owned())),
                }],
            }),
        );
        let (a, m) = run(
            &TranslateConfig::default(),
            &[],
            &[list, s("tenant", "t1")],
            false,
        );
        assert_eq!(a, r#"{"tenant":"t1"}"#);
        assert_eq!(m, "{}");
    }

    #[test]
    fn xray_metadata_namespaces() {
        // §14.3 step 4 (D16)
        let span = [
            s("aws.xray.metadata.default", r#"{"k":"v"}"#),
            s("aws.xray.metadata.orders", r#"{"n":1}"#),
            s("aws.xray.metadata.bad", "not json"),
        ];
        let config = TranslateConfig {
            index_all_attributes: true,
            ..TranslateConfig::default()
        };
        let (a, m) = run(&config, &[], &span, false);
        assert_eq!(a, "{}");
        assert_eq!(
            m,
            r#"{"default":{"k":"v","aws.xray.metadata.bad":"not json"},"orders":{"n":1}}"#
        );
    }

    #[test]
    fn resource_only_on_segments() {
        // R-KIND-2 / §14.3 step 3
        let res = [s("service.name", "svc")];
        let (_, m) = run(&TranslateConfig::default(), &res, &[], true);
        assert_eq!(m, r#"{"default":{"otel.resource.service.name":"svc"}}"#);
        let (_, m) = run(&TranslateConfig::default(), &res, &[], false);
        assert_eq!(m, "{}");
    }

    #[test]
    fn string_cap_applies_to_leaves() {
        // R-SIZE-1 step 2
        let span = [
            s("big", &"y".repeat(2000)),
            s(
                "aws.xray.metadata.ns",
                &format!(r#"{{"a":["{}"]}}"#, "z".repeat(2000)),
            ),
        ];
        let mut attrs = Attrs::new(&span);
        let config = TranslateConfig::default();
        let input = AnnotationInput {
            resource: &[],
            store_resource: false,
            config: &config,
        };
        let (_, mut m) = make_annotations_metadata(&input, &mut attrs);
        m.set_string_cap(1024);
        let j = serde_json::to_string(&m).unwrap_or_default();
        assert!(j.len() < 2200, "{}", j.len());
    }
}
