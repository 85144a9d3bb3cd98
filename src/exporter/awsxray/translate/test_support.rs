//! Helpers shared by the translator's unit tests (`#[cfg(test)]` only).
//!
//! Every document [`super::translate`] produces in a test build is checked by
//! [`assert_valid`] against our X-Ray schema (`tests/common/schema.rs`, compiled into the crate
//! as `schema_check` so that unit and integration tests share one copy) and against the
//! document budget (R-SIZE-1). Module tests that build only one object of the document also
//! translate their inputs as a whole span through [`whole_span_docs`], so their inputs are
//! schema-checked as complete documents too.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::{translate_span, SpanKind, TranslateConfig};

/// `now` used by the helpers: 100 s after the epoch in [`trace_id`].
pub(crate) const NOW: u64 = 1_700_000_100;

/// Panics unless `doc` satisfies the schema and is at most `max_bytes` long (R-SIZE-1).
pub(crate) fn assert_valid(doc: &str, max_bytes: usize) {
    assert!(
        doc.len() <= max_bytes,
        "document of {} bytes exceeds the budget {max_bytes}",
        doc.len()
    );
    if let Err(errors) = super::schema_check::validate_document(doc) {
        panic!(
            "document fails the X-Ray schema:\n  {}\n{doc}",
            errors.join("\n  ")
        );
    }
}

/// Trace id `1-6553f100-0000000000000000000009` (epoch 1,700,000,000).
pub(crate) fn trace_id() -> Vec<u8> {
    let mut t = vec![0u8; 16];
    t[..4].copy_from_slice(&1_700_000_000u32.to_be_bytes());
    t[15] = 9;
    t
}

/// A span with fixed ids and times (`53995c3f42cd8ad8`, parent `defdfd9912dc5a56`).
pub(crate) fn span(kind: i32, parent: bool, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: trace_id(),
        span_id: vec![0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8],
        parent_span_id: if parent {
            vec![0xde, 0xfd, 0xfd, 0x99, 0x12, 0xdc, 0x5a, 0x56]
        } else {
            Vec::new()
        },
        name: "op".to_owned(),
        kind,
        start_time_unix_nano: 1_700_000_000_500_000_000,
        end_time_unix_nano: 1_700_000_000_750_000_000,
        attributes,
        ..Default::default()
    }
}

/// Translates `span` with `resource` attributes (schema-checked inside `translate`) and
/// returns the parsed documents; an empty list when the span is dropped.
pub(crate) fn docs_for(
    resource: &[KeyValue],
    span: &Span,
    config: &TranslateConfig,
) -> Vec<serde_json::Value> {
    let resource = Resource {
        attributes: resource.to_vec(),
        ..Default::default()
    };
    translate_span(Some(&resource), span, config, NOW)
        .unwrap_or_default()
        .iter()
        .map(|d| serde_json::from_str(d).unwrap_or(serde_json::Value::Null))
        .collect()
}

/// The documents of a whole span (child of a parent when `kind` is not SERVER) made of
/// `attributes` and `resource`, for module tests of single objects.
pub(crate) fn whole_span_docs(
    kind: SpanKind,
    resource: &[KeyValue],
    attributes: &[KeyValue],
) -> Vec<serde_json::Value> {
    let kind = match kind {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    };
    let docs = docs_for(
        resource,
        &span(kind, true, attributes.to_vec()),
        &TranslateConfig::default(),
    );
    assert!(!docs.is_empty(), "the span was dropped");
    docs
}
