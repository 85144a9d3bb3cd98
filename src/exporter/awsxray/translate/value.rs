//! Helpers over OTLP attribute values: typed lookups, string cutting and a borrowing JSON
//! serialiser for `AnyValue` (used for metadata, §14.3, and link attributes, R-LINK-1).

use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::json::{self, Arr, Obj};

/// The value of a key-value pair, `None` when it is unset (an "empty" `AnyValue`).
pub(crate) fn kv_value(kv: &KeyValue) -> Option<&Value> {
    kv.value.as_ref().and_then(|v| v.value.as_ref())
}

/// First value for `key` in a plain attribute list (resource, event, link attributes).
pub(crate) fn find<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    kvs.iter().find(|kv| kv.key == key).and_then(kv_value)
}

/// String value for `key`, `None` when absent or not a string.
pub(crate) fn find_str<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match find(kvs, key) {
        Some(Value::StringValue(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// A value read as an integer (int, or a string that parses as one).
pub(crate) fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::IntValue(i) => Some(*i),
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The string of a string value.
pub(crate) fn as_str(v: &Value) -> Option<&str> {
    match v {
        Value::StringValue(s) => Some(s.as_str()),
        _ => None,
    }
}

/// `s` cut to at most `max` Unicode scalar values (never splits a character).
pub(crate) fn cut_chars(s: &str, max: usize) -> &str {
    // At most `max` bytes is at most `max` characters: no need to count (the common case).
    if s.len() <= max {
        return s;
    }
    match s.char_indices().nth(max) {
        Some((idx, _)) => s.get(..idx).unwrap_or(s),
        None => s,
    }
}

/// Standard base64 (with padding) of `bytes`; bytes values become such strings in metadata.
pub(crate) fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    base64_into(&mut out, bytes);
    out
}

/// Appends the standard base64 (with padding) of `bytes` to `out`.
pub(crate) fn base64_into(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.reserve(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = u32::from(chunk.first().copied().unwrap_or(0));
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let n = (b0 << 16) | (b1 << 8) | b2;
        let sym = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sym(18));
        out.push(sym(12));
        out.push(if chunk.len() > 1 { sym(6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(0) } else { '=' });
    }
}

/// Text used for a non-finite double, which JSON cannot carry as a number (D13).
pub(crate) fn non_finite_text(d: f64) -> &'static str {
    if d.is_nan() {
        "NaN"
    } else if d > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// Writes an OTLP value as JSON, exactly as [`JsonAny`] serialises it (§14.3, R-SIZE-1).
pub(crate) fn write_any(out: &mut String, value: Option<&Value>, cap: Option<usize>) {
    match value {
        None | Some(Value::StringValueStrindex(_)) => out.push_str("null"),
        Some(Value::StringValue(v)) => match cap {
            Some(n) => json::str(out, cut_chars(v, n)),
            None => json::str(out, v),
        },
        Some(Value::BoolValue(b)) => json::bool(out, *b),
        Some(Value::IntValue(i)) => json::i64(out, *i),
        Some(Value::DoubleValue(d)) => {
            if d.is_finite() {
                json::f64(out, *d);
            } else {
                json::str(out, non_finite_text(*d));
            }
        }
        Some(Value::BytesValue(b)) => {
            // The base64 alphabet and `=` need no escaping.
            out.push('"');
            base64_into(out, b);
            out.push('"');
        }
        Some(Value::ArrayValue(a)) => {
            let mut arr = Arr::open(out);
            for v in &a.values {
                write_any(arr.next(), v.value.as_ref(), cap);
            }
            arr.close();
        }
        Some(Value::KvlistValue(l)) => write_attr_map(out, &l.values, cap),
    }
}

/// Writes an attribute list as a JSON object, exactly as [`AttrMap`] serialises it.
pub(crate) fn write_attr_map(out: &mut String, kvs: &[KeyValue], cap: Option<usize>) {
    let mut obj = Obj::open(out);
    for kv in kvs {
        if let Some(v) = kv_value(kv) {
            write_any(obj.dyn_key(&kv.key), Some(v), cap);
        }
    }
    obj.close();
}

/// Serialises an OTLP value as JSON without copying it: arrays → arrays, key-value lists →
/// objects, bytes → base64 strings, non-finite doubles → strings (§14.3). With `cap`, every
/// string leaf is cut to that many characters (R-SIZE-1 step 2).
pub(crate) struct JsonAny<'a> {
    pub(crate) value: Option<&'a Value>,
    pub(crate) cap: Option<usize>,
}

impl Serialize for JsonAny<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let cap = self.cap;
        match self.value {
            None | Some(Value::StringValueStrindex(_)) => s.serialize_none(),
            Some(Value::StringValue(v)) => match cap {
                Some(n) => s.serialize_str(cut_chars(v, n)),
                None => s.serialize_str(v),
            },
            Some(Value::BoolValue(b)) => s.serialize_bool(*b),
            Some(Value::IntValue(i)) => s.serialize_i64(*i),
            Some(Value::DoubleValue(d)) => {
                if d.is_finite() {
                    s.serialize_f64(*d)
                } else {
                    s.serialize_str(non_finite_text(*d))
                }
            }
            Some(Value::BytesValue(b)) => s.serialize_str(&base64(b)),
            Some(Value::ArrayValue(a)) => {
                let mut seq = s.serialize_seq(Some(a.values.len()))?;
                for v in &a.values {
                    seq.serialize_element(&JsonAny {
                        value: v.value.as_ref(),
                        cap,
                    })?;
                }
                seq.end()
            }
            Some(Value::KvlistValue(l)) => AttrMap {
                kvs: &l.values,
                cap,
            }
            .serialize(s),
        }
    }
}

/// Serialises an attribute list as a JSON object (later duplicates are written as well; the
/// last one wins in most JSON readers). Unset values are skipped.
pub(crate) struct AttrMap<'a> {
    pub(crate) kvs: &'a [KeyValue],
    pub(crate) cap: Option<usize>,
}

impl Serialize for AttrMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for kv in self.kvs {
            if let Some(v) = kv_value(kv) {
                map.serialize_entry(
                    &kv.key,
                    &JsonAny {
                        value: Some(v),
                        cap: self.cap,
                    },
                )?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList};

    fn kv(key: &str, v: Value) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    #[test]
    fn cut_chars_respects_char_boundaries() {
        // R-NAME-5 / D13: cut by characters, never split UTF-8.
        assert_eq!(cut_chars("zürich", 2), "zü");
        assert_eq!(cut_chars("ab", 5), "ab");
        assert_eq!(cut_chars("", 0), "");
    }

    #[test]
    fn base64_matches_rfc4648() {
        // §14.3: bytes → base64 string.
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn json_any_converts_nested_values() {
        // §14.3: arrays → arrays, kvlists → objects, non-finite doubles → strings (D13).
        let v = Value::KvlistValue(KeyValueList {
            values: vec![
                kv(
                    "a",
                    Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(Value::IntValue(1)),
                        }],
                    }),
                ),
                kv("n", Value::DoubleValue(f64::NAN)),
                kv("s", Value::StringValue("abcdef".to_owned())),
            ],
        });
        let out = serde_json::to_string(&JsonAny {
            value: Some(&v),
            cap: Some(3),
        })
        .unwrap_or_default();
        assert_eq!(out, r#"{"a":[1],"n":"NaN","s":"abc"}"#);
    }
}
