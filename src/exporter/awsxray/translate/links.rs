//! `links` (§15).

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::Link as OtlpLink;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::ids::{Hex16, TraceId};
use super::json::{key, Obj, WriteJson};
use super::value::{write_attr_map, AttrMap};

/// One link `{trace_id, id, attributes}` (R-LINK-1).
#[derive(Debug, Clone)]
pub struct Link<'a> {
    /// Linked trace (R-ID-1 form).
    pub trace_id: TraceId,
    /// Linked span id.
    pub id: Hex16,
    /// Raw attribute values; omitted when empty.
    pub attributes: &'a [KeyValue],
}

impl Serialize for Link<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("trace_id", &self.trace_id)?;
        map.serialize_entry("id", &self.id)?;
        // R-LINK-1: omitted when the link has no attribute with a value.
        if self
            .attributes
            .iter()
            .any(|kv| kv.value.as_ref().is_some_and(|v| v.value.is_some()))
        {
            map.serialize_entry(
                "attributes",
                &AttrMap {
                    kvs: self.attributes,
                    cap: None,
                },
            )?;
        }
        map.end()
    }
}

impl WriteJson for Link<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        self.trace_id.write_json(o.key(key!("trace_id")));
        self.id.write_json(o.key(key!("id")));
        if self
            .attributes
            .iter()
            .any(|kv| kv.value.as_ref().is_some_and(|v| v.value.is_some()))
        {
            write_attr_map(o.key(key!("attributes")), self.attributes, None);
        }
        o.close();
    }
}

/// Converts the span's links. A link with an invalid trace id (wrong length, all zero, or —
/// with validation on — an epoch outside the window) or an invalid span id is dropped on its
/// own (R-LINK-1, R-ID-3, D12).
pub(crate) fn make_links(
    links: &[OtlpLink],
    validate_epoch: bool,
    now_unix_secs: u64,
) -> Vec<Link<'_>> {
    links
        .iter()
        .filter_map(|l| {
            let trace_id = TraceId::from_otlp(&l.trace_id)?;
            if validate_epoch && !trace_id.epoch_is_valid(now_unix_secs) {
                tracing::debug!(
                    trace_id = trace_id.as_str(),
                    "dropping span link with invalid trace id"
                );
                return None;
            }
            let id = Hex16::from_span_id(&l.span_id)?;
            Some(Link {
                trace_id,
                id,
                attributes: &l.attributes,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(trace: [u8; 16], span: [u8; 8]) -> OtlpLink {
        OtlpLink {
            trace_id: trace.to_vec(),
            span_id: span.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn links_converted_and_bad_ones_dropped() {
        // R-LINK-1, D12
        let mut good = [0u8; 16];
        good[..4].copy_from_slice(&1_700_000_000u32.to_be_bytes());
        good[15] = 7;
        let mut old = good;
        old[..4].copy_from_slice(&1_600_000_000u32.to_be_bytes());
        let links = vec![
            link(good, [1; 8]),
            link([0; 16], [1; 8]),
            link(old, [2; 8]),
            link(good, [0; 8]),
        ];
        assert_eq!(make_links(&links, false, 1_700_000_100).len(), 2);
        let kept = make_links(&links, true, 1_700_000_100);
        assert_eq!(kept.len(), 1);
        let json = serde_json::to_string(&kept).unwrap_or_default();
        let expected = format!(
            r#"[{{"trace_id":"1-6553f100-{}07","id":"0101010101010101"}}]"#,
            "0".repeat(22)
        );
        assert_eq!(json, expected);
    }
}
