//! Attribute builders shared by the criterion benches (`#[path]`-included, as the tests'
//! `tests/support` files are).
#![allow(dead_code)]

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};

/// An attribute `key` = `v`.
pub fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// A string attribute.
pub fn s(key: &str, v: &str) -> KeyValue {
    kv(key, Value::StringValue(v.to_owned()))
}

/// An integer attribute.
pub fn i(key: &str, v: i64) -> KeyValue {
    kv(key, Value::IntValue(v))
}
