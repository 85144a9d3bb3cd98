//! A serde `Deserializer` over the config tree that knows where it is.
//!
//! Component config types are plain `#[derive(Deserialize)]` structs with
//! `#[serde(default, deny_unknown_fields)]`. Deserializing them through [`NodeDe`] gives every
//! error the key path (`exporters.awsxray.regoin`) and the line and column of the offending key
//! or value: each level tags errors raised at that level with its own path and position, and
//! the innermost tag wins.
//!
//! Scalar typing is done here, on request: a `u64` field parses the scalar's text (quoted or
//! not, so `"${env:PORT}"` works), a `bool` field accepts `true`/`false` (any case), a string
//! field takes any scalar's text verbatim. Untyped fields ([`super::RawValue`]) get YAML 1.2
//! core-schema typing of plain scalars.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde::Deserialize;

use super::yaml::{Key, Node, Pos, Scalar, Value};

/// An error at a place in the config: what went wrong, the key path, the position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeError {
    pub message: String,
    /// `None` until a level of the deserializer claims it.
    pub path: Option<String>,
    pub pos: Pos,
}

impl DeError {
    /// An error with a message and no place yet.
    pub fn new(message: impl Into<String>) -> Self {
        DeError {
            message: message.into(),
            path: None,
            pos: Pos::default(),
        }
    }

    /// An error at `path`, `pos`.
    pub fn at_path(path: &str, pos: Pos, message: impl Into<String>) -> Self {
        DeError {
            message: message.into(),
            path: Some(path.to_owned()),
            pos,
        }
    }

    /// Claims the error for `path`/`pos` unless a deeper level already did.
    pub fn at(mut self, path: &str, pos: Pos) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_owned());
            if !self.pos.is_known() {
                self.pos = pos;
            }
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(format!("expected {}, found {unexp}", human_expected(exp)))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(format!("expected {}, found {unexp}", human_expected(exp)))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(unknown_key_message(field, expected))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut msg = format!("unknown value `{variant}`");
        if let Some(s) = closest(variant, expected.iter().copied()) {
            msg.push_str(&format!(" (did you mean `{s}`?)"));
        }
        msg.push_str(&format!("; expected one of: {}", expected.join(", ")));
        DeError::new(msg)
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(format!("missing required key `{field}`"))
    }
}

/// Serde names primitive types (`u64`); say what a config author would.
fn human_expected(exp: &dyn de::Expected) -> String {
    let s = exp.to_string();
    match s.as_str() {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" => "true or false".to_owned(),
        _ => s,
    }
}

/// "unknown key `regoin` (did you mean `region`?); supported keys: …".
pub(crate) fn unknown_key_message(field: &str, expected: &[&str]) -> String {
    let mut msg = format!("unknown key `{field}`");
    if let Some(s) = closest(field, expected.iter().copied()) {
        msg.push_str(&format!(" (did you mean `{s}`?)"));
    }
    if expected.is_empty() {
        msg.push_str("; no keys are supported here");
    } else {
        msg.push_str(&format!("; supported keys: {}", expected.join(", ")));
    }
    msg
}

/// The candidate closest to `word` by edit distance, if close enough to be a likely typo.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Option<&'c str> {
    let word_lc = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .map(|c| (levenshtein(&word_lc, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `parent.child`, or `child` at the root.
pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// Deserializes `T` from `node`, errors placed under `path`.
pub(crate) fn from_node<'a, T: Deserialize<'a>>(node: &'a Node, path: &str) -> Result<T, DeError> {
    T::deserialize(NodeDe { node, path })
}

/// The deserializer over one node.
pub(crate) struct NodeDe<'a, 'p> {
    node: &'a Node,
    path: &'p str,
}

impl NodeDe<'_, '_> {
    fn fail(&self, expected: &str) -> DeError {
        DeError::at_path(
            self.path,
            self.node.pos,
            format!("expected {expected}, found {}", self.node.describe()),
        )
    }

    fn scalar(&self, expected: &str) -> Result<&Scalar, DeError> {
        match &self.node.value {
            Value::Scalar(s) => Ok(s),
            _ => Err(self.fail(expected)),
        }
    }
}

/// YAML 1.2 core-schema booleans.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// YAML 1.2 core-schema integers: decimal with sign, `0x…`, `0o…`.
pub(crate) fn parse_int(s: &str) -> Option<i128> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i128::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i128>().ok()?
    } else {
        return None;
    };
    Some(if neg { -value } else { value })
}

/// YAML 1.2 core-schema floats (including `.inf`, `.nan`).
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let s = s.trim();
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let ok = !body.is_empty()
        && body.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if ok {
        s.parse::<f64>().ok()
    } else {
        None
    }
}

/// YAML 1.2 core-schema nulls written as text (`null`, `~`).
fn is_null_text(s: &str) -> bool {
    matches!(s, "null" | "Null" | "NULL" | "~")
}

macro_rules! deserialize_via {
    ($($method:ident => $visit:ident as $ty:ty, $parse:ident, $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let s = self.scalar($what)?;
            let Some(v) = $parse(&s.text) else { return Err(self.fail($what)) };
            match <$ty>::try_from(v) {
                Ok(v) => visitor.$visit(v).map_err(|e: DeError| e.at(self.path, self.node.pos)),
                Err(_) => Err(self.fail(&format!(
                    "{} from {} to {}",
                    $what,
                    <$ty>::MIN,
                    <$ty>::MAX
                ))),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for NodeDe<'de, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let (path, pos) = (self.path, self.node.pos);
        let result = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Scalar(s) if s.plain => {
                if is_null_text(&s.text) {
                    visitor.visit_unit()
                } else if let Some(b) = parse_bool(&s.text) {
                    visitor.visit_bool(b)
                } else if let Some(i) = parse_int(&s.text) {
                    if let Ok(u) = u64::try_from(i) {
                        visitor.visit_u64(u)
                    } else if let Ok(i) = i64::try_from(i) {
                        visitor.visit_i64(i)
                    } else {
                        visitor.visit_str(&s.text)
                    }
                } else if let Some(f) = parse_float(&s.text).filter(|f| f.is_finite()) {
                    visitor.visit_f64(f)
                } else {
                    visitor.visit_str(&s.text)
                }
            }
            Value::Scalar(s) => visitor.visit_str(&s.text),
            Value::Seq(items) => visitor.visit_seq(SeqDe::new(items, path)),
            Value::Map(entries) => visitor.visit_map(MapDe::new(entries, path)),
        };
        result.map_err(|e: DeError| e.at(path, pos))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let s = self.scalar("true or false")?;
        match parse_bool(&s.text) {
            Some(b) => visitor
                .visit_bool(b)
                .map_err(|e: DeError| e.at(self.path, self.node.pos)),
            None => Err(self.fail("true or false")),
        }
    }

    deserialize_via! {
        deserialize_i8 => visit_i8 as i8, parse_int, "an integer";
        deserialize_i16 => visit_i16 as i16, parse_int, "an integer";
        deserialize_i32 => visit_i32 as i32, parse_int, "an integer";
        deserialize_i64 => visit_i64 as i64, parse_int, "an integer";
        deserialize_u8 => visit_u8 as u8, parse_int, "a non-negative integer";
        deserialize_u16 => visit_u16 as u16, parse_int, "a non-negative integer";
        deserialize_u32 => visit_u32 as u32, parse_int, "a non-negative integer";
        deserialize_u64 => visit_u64 as u64, parse_int, "a non-negative integer";
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let s = self.scalar("a number")?;
        let v = parse_int(&s.text)
            .map(|i| i as f64)
            .or_else(|| parse_float(&s.text));
        match v {
            Some(v) => visitor
                .visit_f64(v)
                .map_err(|e: DeError| e.at(self.path, self.node.pos)),
            None => Err(self.fail("a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let s = self.scalar("a string")?;
        visitor
            .visit_str(&s.text)
            .map_err(|e: DeError| e.at(self.path, self.node.pos))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, DeError> {
        Err(self.fail("binary data (not supported)"))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let (path, pos) = (self.path, self.node.pos);
        match &self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e: DeError| e.at(path, pos))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Null => visitor
                .visit_unit()
                .map_err(|e: DeError| e.at(self.path, self.node.pos)),
            _ => Err(self.fail("an empty value")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let (path, pos) = (self.path, self.node.pos);
        visitor
            .visit_newtype_struct(self)
            .map_err(|e: DeError| e.at(path, pos))
    }

    /// A list; an empty value (`processors:`) is an empty list.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let (path, pos) = (self.path, self.node.pos);
        match &self.node.value {
            Value::Seq(items) => visitor.visit_seq(SeqDe::new(items, path)),
            Value::Null => visitor.visit_seq(SeqDe::new(&[], path)),
            _ => return Err(self.fail("a list")),
        }
        .map_err(|e: DeError| e.at(path, pos))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    /// A mapping; an empty value (`awsxray:`) is an empty mapping, i.e. all defaults.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let (path, pos) = (self.path, self.node.pos);
        match &self.node.value {
            Value::Map(entries) => visitor.visit_map(MapDe::new(entries, path)),
            Value::Null => visitor.visit_map(MapDe::new(&[], path)),
            _ => return Err(self.fail("a mapping of `key: value` pairs")),
        }
        .map_err(|e: DeError| e.at(path, pos))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    /// Unit variants from a scalar (`verbosity: detailed`).
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let s = self.scalar("one of the listed values")?;
        visitor
            .visit_enum(UnitVariant(&s.text))
            .map_err(|e: DeError| e.at(self.path, self.node.pos))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

/// A unit enum variant named by a scalar.
struct UnitVariant<'a>(&'a str);

impl<'de> EnumAccess<'de> for UnitVariant<'_> {
    type Error = DeError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), DeError> {
        let v = seed.deserialize(self.0.into_deserializer())?;
        Ok((v, self))
    }
}

impl<'de> VariantAccess<'de> for UnitVariant<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, _seed: S) -> Result<S::Value, DeError> {
        Err(DeError::new("expected a mapping for this value"))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _v: V) -> Result<V::Value, DeError> {
        Err(DeError::new("expected a list for this value"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _v: V,
    ) -> Result<V::Value, DeError> {
        Err(DeError::new("expected a mapping for this value"))
    }
}

struct SeqDe<'a, 'p> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
    path: &'p str,
}

impl<'a, 'p> SeqDe<'a, 'p> {
    fn new(items: &'a [Node], path: &'p str) -> Self {
        SeqDe {
            items: items.iter(),
            index: 0,
            path,
        }
    }
}

impl<'de> SeqAccess<'de> for SeqDe<'de, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{}]", self.path, self.index);
        self.index += 1;
        seed.deserialize(NodeDe { node, path: &path })
            .map(Some)
            .map_err(|e: DeError| e.at(&path, node.pos))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a, 'p> {
    entries: std::slice::Iter<'a, (Key, Node)>,
    pending: Option<(&'a Node, String)>,
    path: &'p str,
}

impl<'a, 'p> MapDe<'a, 'p> {
    fn new(entries: &'a [(Key, Node)], path: &'p str) -> Self {
        MapDe {
            entries: entries.iter(),
            pending: None,
            path,
        }
    }
}

impl<'de> MapAccess<'de> for MapDe<'de, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, node)) = self.entries.next() else {
            return Ok(None);
        };
        let path = join(self.path, &key.name);
        let k = seed
            .deserialize(KeyDe(&key.name))
            .map_err(|e: DeError| e.at(&path, key.pos))?;
        self.pending = Some((node, path));
        Ok(Some(k))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((node, path)) = self.pending.take() else {
            return Err(DeError::new("internal: value requested before key"));
        };
        seed.deserialize(NodeDe { node, path: &path })
            .map_err(|e: DeError| e.at(&path, node.pos))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A mapping key: always a string.
struct KeyDe<'a>(&'a str);

impl<'de> Deserializer<'de> for KeyDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_str(self.0)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

// ---- helpers for `#[serde(deserialize_with = …)]` in the model ------------------------------

/// A present key enables the thing even with an empty value: `grpc:` means "gRPC on, with
/// defaults", as in the collector. Use with `#[serde(default)]` so an absent key is `None`.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A list of strings, also accepted as one string (`shared_credentials_file: ~/.aws/creds`).
pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![v.to_owned()])
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = a.next_element::<String>()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(OneOrMany)
}

/// A Go-style duration string (`"200ms"`, `"1.5s"`, `"5m"`); see [`super::duration`].
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
    let s = String::deserialize(d)?;
    super::duration::parse_duration(&s).map_err(de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::super::yaml;
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Inner {
        region: Option<String>,
        retries: u32,
        on: bool,
        names: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Outer {
        inner: Inner,
        raw: BTreeMap<String, serde_json::Value>,
    }

    fn de<T: for<'a> Deserialize<'a>>(text: &str) -> Result<T, DeError> {
        let node = yaml::parse(text, 0).unwrap();
        from_node(&node, "top")
    }

    #[test]
    fn typed_fields_read_scalars() {
        let o: Outer = de(
            "inner:\n  region: 0123\n  retries: \"7\"\n  on: True\n  names: [a, 1, 'b']\nraw:\n  \
             a: 1\n  b: '1'\n  c: yes\n  d: ~\n  e: 1.5\n",
        )
        .unwrap();
        assert_eq!(o.inner.region.as_deref(), Some("0123"));
        assert_eq!(o.inner.retries, 7);
        assert!(o.inner.on);
        assert_eq!(o.inner.names, ["a", "1", "b"]);
        assert_eq!(o.raw["a"], serde_json::json!(1));
        assert_eq!(o.raw["b"], serde_json::json!("1"));
        assert_eq!(o.raw["c"], serde_json::json!("yes"));
        assert_eq!(o.raw["d"], serde_json::Value::Null);
        assert_eq!(o.raw["e"], serde_json::json!(1.5));
    }

    #[test]
    fn unknown_key_has_path_position_and_list() {
        let e = de::<Outer>("inner:\n  regoin: x\n").unwrap_err();
        assert_eq!(e.path.as_deref(), Some("top.inner.regoin"));
        assert_eq!((e.pos.line, e.pos.column), (2, 3));
        assert!(e.message.contains("did you mean `region`"), "{}", e.message);
        assert!(
            e.message.contains("region, retries, on, names"),
            "{}",
            e.message
        );
    }

    #[test]
    fn bad_values_have_path_and_position() {
        let e = de::<Outer>("inner:\n  retries: -1\n").unwrap_err();
        assert_eq!(e.path.as_deref(), Some("top.inner.retries"));
        assert_eq!(e.pos.line, 2);
        assert!(e.message.contains("non-negative integer"), "{}", e.message);
        let e = de::<Outer>("inner:\n  names: [a, [b]]\n").unwrap_err();
        assert_eq!(e.path.as_deref(), Some("top.inner.names[1]"));
        let e = de::<Outer>("inner:\n  on: maybe\n").unwrap_err();
        assert!(e.message.contains("true or false"), "{}", e.message);
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            closest("regoin", ["region", "endpoint"].into_iter()),
            Some("region")
        );
        assert_eq!(closest("xyz", ["region"].into_iter()), None);
        assert_eq!(
            closest("awsxrey", ["awsxray", "debug"].into_iter()),
            Some("awsxray")
        );
    }
}
