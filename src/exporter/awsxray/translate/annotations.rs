//! `user`, `annotations` and `metadata` (§13, §14).

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::attrs::Attrs;
use super::json::{self, key, Obj, WriteJson};
use super::keys::Key;
use super::value::{cut_chars, kv_value, non_finite_text, write_any, JsonAny};
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
    let user = attrs.str(Key::EnduserId);
    attrs.consume(Key::EnduserId);
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

impl WriteJson for Annotations<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        for (k, v) in &self.entries {
            let out = o.dyn_key(k);
            match v {
                AnnotationValue::Str(v) => json::str(out, v),
                AnnotationValue::Int(v) => json::i64(out, *v),
                AnnotationValue::Double(v) => json::f64(out, *v),
                AnnotationValue::Bool(v) => json::bool(out, *v),
            }
        }
        o.close();
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

/// Members of `default` taken whole from an attribute list: the entries whose bit is set, in
/// list order (keys as they are, values through [`meta_value`]). The common case needs no
/// list of its own (performance, issue 3).
#[derive(Debug, Clone, Copy, Default)]
struct Marked<'a> {
    kvs: &'a [KeyValue],
    bits: u64,
}

impl<'a> Marked<'a> {
    /// Marks entry `idx`; `false` when it cannot (index 64 or more).
    fn mark(&mut self, kvs: &'a [KeyValue], idx: usize) -> bool {
        if idx >= 64 || (self.bits != 0 && !std::ptr::eq(self.kvs, kvs)) {
            return false;
        }
        self.kvs = kvs;
        self.bits |= 1 << idx;
        true
    }

    /// The marked entries with a value, in order.
    fn entries(&self) -> impl Iterator<Item = (&'a str, &'a Value)> + '_ {
        let kvs = self.kvs;
        kvs.iter()
            .take(64)
            .enumerate()
            .filter(|(i, _)| self.bits & (1 << i) != 0)
            .filter_map(|(_, kv)| Some((kv.key.as_str(), kv_value(kv)?)))
    }
}

/// `metadata`: the `default` namespace plus namespaces from `aws.xray.metadata.<ns>` (§14.3).
///
/// `default` is, in this order: the `resource` entries marked (as `otel.resource.<key>`),
/// the `span` entries marked, then `listed`. Members go to `listed` (after moving the marked
/// ones there) only once a member must replace an earlier one or comes from elsewhere.
#[derive(Debug, Clone, Default)]
pub struct Metadata<'a> {
    resource: Marked<'a>,
    span: Marked<'a>,
    /// `listed` and the other namespaces; absent in the common case (performance: the
    /// document then carries, moves and drops one empty pointer instead of two lists).
    more: Option<Box<More<'a>>>,
    string_cap: Option<usize>,
    /// Members of `aws.xray.metadata.default` were merged into `default`.
    merged_default: bool,
}

/// The parts of [`Metadata`] that most documents do not have.
#[derive(Debug, Clone, Default)]
struct More<'a> {
    listed: Vec<(MetaKey<'a>, MetaValue<'a>)>,
    namespaces: Vec<(&'a str, serde_json::Map<String, serde_json::Value>)>,
}

impl<'a> Metadata<'a> {
    /// No metadata at all (the member is then omitted, R-SHAPE-3).
    pub fn is_empty(&self) -> bool {
        self.default_is_empty() && self.namespaces().is_empty()
    }

    fn default_is_empty(&self) -> bool {
        self.resource.bits == 0 && self.span.bits == 0 && self.listed().is_empty()
    }

    /// The members of `default` after the marked ones.
    fn listed(&self) -> &[(MetaKey<'a>, MetaValue<'a>)] {
        self.more.as_ref().map_or(&[], |m| &m.listed)
    }

    /// The namespaces other than `default`.
    fn namespaces(&self) -> &[(&'a str, serde_json::Map<String, serde_json::Value>)] {
        self.more.as_ref().map_or(&[], |m| &m.namespaces)
    }

    fn more_mut(&mut self) -> &mut More<'a> {
        self.more.get_or_insert_with(Box::default)
    }

    /// Calls `f` with every member of `default`, in order.
    fn try_each_default<E>(
        &self,
        mut f: impl FnMut(&MetaKey<'a>, &MetaValue<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        for (k, v) in self.resource.entries() {
            f(&MetaKey::Resource(k), &meta_value(v))?;
        }
        for (k, v) in self.span.entries() {
            f(&MetaKey::Str(Cow::Borrowed(k)), &meta_value(v))?;
        }
        for (k, v) in self.listed() {
            f(k, v)?;
        }
        Ok(())
    }

    /// Moves the marked members to `listed`, keeping the order.
    fn list_marked(&mut self) {
        if self.resource.bits == 0 && self.span.bits == 0 {
            return;
        }
        let mut all = Vec::with_capacity(
            (self.resource.bits.count_ones() + self.span.bits.count_ones()) as usize
                + self.listed().len(),
        );
        all.extend(
            self.resource
                .entries()
                .map(|(k, v)| (MetaKey::Resource(k), meta_value(v))),
        );
        all.extend(
            self.span
                .entries()
                .map(|(k, v)| (MetaKey::Str(Cow::Borrowed(k)), meta_value(v))),
        );
        let more = self.more_mut();
        all.append(&mut more.listed);
        more.listed = all;
        self.resource.bits = 0;
        self.span.bits = 0;
    }

    /// Adds resource entry `idx` of `kvs` (which has a value) to `default`.
    fn push_resource(&mut self, kvs: &'a [KeyValue], idx: usize) {
        if self.span.bits != 0 || !self.listed().is_empty() || !self.resource.mark(kvs, idx) {
            if let Some((k, v)) = kvs.get(idx).and_then(|kv| Some((&kv.key, kv_value(kv)?))) {
                self.list_marked();
                self.more_mut()
                    .listed
                    .push((MetaKey::Resource(k), meta_value(v)));
            }
        }
    }

    /// Adds span entry `idx` of `kvs` (which has a value) to `default`; with `dedup`, an
    /// earlier member with the same key is removed first.
    fn push_span(&mut self, kvs: &'a [KeyValue], idx: usize, dedup: bool) {
        if dedup || !self.listed().is_empty() || !self.span.mark(kvs, idx) {
            if let Some((k, v)) = kvs.get(idx).and_then(|kv| Some((&kv.key, kv_value(kv)?))) {
                self.push(MetaKey::Str(Cow::Borrowed(k)), meta_value(v), dedup);
            }
        }
    }

    fn push(&mut self, key: MetaKey<'a>, value: MetaValue<'a>, dedup: bool) {
        self.list_marked();
        let listed = &mut self.more_mut().listed;
        if dedup {
            let existing = match &key {
                MetaKey::Str(s) => listed.iter().position(|(k, _)| k.matches(s)),
                MetaKey::Resource(r) => listed.iter().position(|(k, _)| match k {
                    MetaKey::Resource(o) => o == r,
                    MetaKey::Str(s) => s.strip_prefix(RESOURCE_PREFIX) == Some(*r),
                }),
            };
            if let Some(i) = existing {
                listed.remove(i);
            }
        }
        listed.push((key, value));
    }

    /// Keeps only `default` members whose key starts with `otel.resource.` (R-KIND-5).
    pub fn retain_resource_only(&mut self) {
        // Marked span entries may be named `otel.resource.…` too: list them to check.
        if self.span.bits != 0 {
            self.list_marked();
        }
        if let Some(more) = self.more.as_mut() {
            more.listed.retain(|(k, _)| k.is_resource());
            more.namespaces.clear();
        }
    }

    /// Cuts every string leaf to `cap` characters when serialising (R-SIZE-1 step 2).
    pub fn set_string_cap(&mut self, cap: usize) {
        self.string_cap = Some(cap);
    }

    /// Removes all metadata (R-SIZE-1 step 3).
    pub fn clear(&mut self) {
        self.resource.bits = 0;
        self.span.bits = 0;
        self.more = None;
    }
}

struct DefaultNs<'m, 'a> {
    metadata: &'m Metadata<'a>,
    cap: Option<usize>,
}

impl Serialize for DefaultNs<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        let cap_str = |v: &'_ str| -> String {
            match self.cap {
                Some(c) => cut_chars(v, c).to_owned(),
                None => v.to_owned(),
            }
        };
        self.metadata.try_each_default(|k, v| match v {
            MetaValue::Any(a) => map.serialize_entry(
                k,
                &JsonAny {
                    value: Some(a),
                    cap: self.cap,
                },
            ),
            MetaValue::Str(t) => map.serialize_entry(k, t),
            MetaValue::Raw(r) => match self.cap {
                Some(_) => map.serialize_entry(k, &cap_str(r)),
                None => map.serialize_entry(k, r),
            },
            MetaValue::Json(j) => map.serialize_entry(
                k,
                &CappedJson {
                    value: j,
                    cap: self.cap,
                },
            ),
        })?;
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
        if !self.default_is_empty() {
            map.serialize_entry(
                "default",
                &DefaultNs {
                    metadata: self,
                    cap: self.string_cap,
                },
            )?;
        }
        for (ns, obj) in self.namespaces() {
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

impl WriteJson for Metadata<'_> {
    fn write_json(&self, out: &mut String) {
        let cap = self.string_cap;
        let mut o = Obj::open(out);
        if !self.default_is_empty() {
            let mut d = Obj::open(o.key(key!("default")));
            // `meta_value` only turns non-finite doubles into the strings `write_any` writes.
            for (k, v) in self.resource.entries() {
                write_any(resource_key(&mut d, k), Some(v), cap);
            }
            for (k, v) in self.span.entries() {
                write_any(d.dyn_key(k), Some(v), cap);
            }
            for (k, v) in self.listed() {
                let out = match k {
                    MetaKey::Str(k) => d.dyn_key(k),
                    MetaKey::Resource(k) => resource_key(&mut d, k),
                };
                match v {
                    MetaValue::Any(a) => write_any(out, Some(a), cap),
                    MetaValue::Str(t) => json::str(out, t),
                    MetaValue::Raw(r) => json::str(out, cap.map_or(*r, |c| cut_chars(r, c))),
                    MetaValue::Json(j) => json::json_value(out, j, cap),
                }
            }
            d.close();
        }
        for (ns, obj) in self.namespaces() {
            json::json_object(o.dyn_key(ns), obj, cap);
        }
        o.close();
    }
}

/// Starts the member `otel.resource.<key>` of `d`.
#[inline(always)]
fn resource_key<'o>(d: &'o mut Obj<'_>, key: &str) -> &'o mut String {
    // `otel.resource.` needs no escaping; the key is escaped on its own.
    let out = d.key("\"otel.resource.");
    json::str_contents(out, key);
    out.push_str("\":");
    out
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
    if let Some(Value::ArrayValue(a)) = attrs.value(Key::AwsXrayAnnotations) {
        indexed.extend(a.values.iter().filter_map(|v| match &v.value {
            Some(Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }));
    }
    attrs.consume(Key::AwsXrayAnnotations);

    // Step 3: resource attributes on segments.
    if input.store_resource {
        for (idx, kv) in input.resource.iter().enumerate() {
            let Some(v) = kv_value(kv) else {
                continue;
            };
            let listed = index_all
                || indexed
                    .iter()
                    .any(|k| k.strip_prefix(RESOURCE_PREFIX) == Some(kv.key.as_str()));
            // Only a listed attribute's value is looked at (most are not listed).
            match listed.then(|| scalar(v)).flatten() {
                Some(a) => {
                    let full = format!("{RESOURCE_PREFIX}{}", kv.key);
                    let key = Cow::Owned(fix_key(&full, allow_dot).into_owned());
                    annotations.insert(key, a);
                }
                None => metadata.push_resource(input.resource, idx),
            }
        }
    }

    // Step 4: span attributes.
    let attrs: &Attrs<'a> = attrs;
    let span_kvs = attrs.table().kvs();
    for (pos, (idx, kv)) in attrs.live_indexed().enumerate() {
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
                    let namespaces = &mut metadata.more_mut().namespaces;
                    match namespaces.iter_mut().find(|(n, _)| *n == suffix) {
                        Some(slot) => slot.1 = obj,
                        None => namespaces.push((suffix, obj)),
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
        metadata.push_span(span_kvs, idx, dedup);
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
        (json_of(&a), json_of(&m))
    }

    /// The JSON of `v`, checked to be the same from the writer and from serde.
    fn json_of<T: Serialize + WriteJson>(v: &T) -> String {
        let mut written = String::new();
        v.write_json(&mut written);
        assert_eq!(written, serde_json::to_string(v).unwrap_or_default());
        written
    }

    const DEFAULTS: &TranslateConfig = &TranslateConfig {
        skip_timestamp_validation: true,
        indexed_attributes: Vec::new(),
        index_all_attributes: false,
        annotation_allow_dot: true,
        aws_log_groups: Vec::new(),
        lambda_origin: None,
        max_document_bytes: 64_000,
    };

    fn metadata_of<'a>(
        resource: &'a [KeyValue],
        span: &'a [KeyValue],
        store_resource: bool,
    ) -> Metadata<'a> {
        let config = DEFAULTS;
        let mut attrs = Attrs::new(span);
        let input = AnnotationInput {
            resource,
            store_resource,
            config,
        };
        make_annotations_metadata(&input, &mut attrs).1
    }

    #[test]
    fn later_members_replace_earlier_ones_in_order() {
        // §14.3: a span key `otel.resource.<k>` replaces the resource member, a repeated key
        // replaces the earlier one; the replacing member moves to the end.
        let i = |k: &str, v: i64| kv(k, Value::IntValue(v));
        let resource = [s("a", "1"), s("b", "2")];
        let span = [i("x", 3), i("otel.resource.a", 9), i("x", 4)];
        let m = metadata_of(&resource, &span, true);
        assert_eq!(
            json_of(&m),
            r#"{"default":{"otel.resource.b":"2","otel.resource.a":9,"x":4}}"#
        );
        let m = metadata_of(&resource, &span, false);
        assert_eq!(json_of(&m), r#"{"default":{"otel.resource.a":9,"x":4}}"#);
    }

    #[test]
    fn service_segment_keeps_resource_members_only() {
        // R-KIND-5
        let resource = [s("a", "1")];
        let span = [s("y", "1"), s("otel.resource.z", "s"), s("w", "2")];
        let mut m = metadata_of(&resource, &span, true);
        m.retain_resource_only();
        assert_eq!(
            json_of(&m),
            r#"{"default":{"otel.resource.a":"1","otel.resource.z":"s"}}"#
        );
        let mut m = metadata_of(&resource, &span[..1], true);
        m.retain_resource_only();
        assert_eq!(json_of(&m), r#"{"default":{"otel.resource.a":"1"}}"#);
        m.clear();
        assert!(m.is_empty());
        assert_eq!(json_of(&m), "{}");
    }

    #[test]
    fn many_members_keep_their_order() {
        // More than 64 entries on each side (past the marked form).
        let resource: Vec<KeyValue> = (0..70).map(|n| s(&format!("r{n}"), "v")).collect();
        let span: Vec<KeyValue> = (0..70).map(|n| s(&format!("s{n}"), "v")).collect();
        let m = metadata_of(&resource, &span, true);
        let members: Vec<String> = (0..70)
            .map(|n| format!(r#""otel.resource.r{n}":"v""#))
            .chain((0..70).map(|n| format!(r#""s{n}":"v""#)))
            .collect();
        assert_eq!(
            json_of(&m),
            format!(r#"{{"default":{{{}}}}}"#, members.join(","))
        );
        let mut capped = metadata_of(&resource[..1], &span[..1], true);
        capped.set_string_cap(0);
        assert_eq!(
            json_of(&capped),
            r#"{"default":{"otel.resource.r0":"","s0":""}}"#
        );
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
