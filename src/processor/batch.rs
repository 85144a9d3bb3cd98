//! `batch`: `send_batch_max_size` caps the spans of one export call.
//!
//! In the collector the batch processor sends when `send_batch_size` spans are waiting or
//! `timeout` has passed, and splits anything above `send_batch_max_size`. In Lambda the flush
//! strategy decides when to send (the lifecycle flushes before the sandbox freezes), so only the
//! split remains: a flush hands an exporter its data in calls of at most `send_batch_max_size`
//! spans, one after the other.

use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

/// Splits `batch` into chunks of at most `max` spans (`max` ≥ 1), in order. A
/// `ResourceSpans` or `ScopeSpans` cut in two keeps its resource, scope and schema URL in
/// both halves, as the collector's `splitTraces` does. `ResourceSpans` without spans are
/// dropped.
pub fn split(batch: Vec<ResourceSpans>, max: usize) -> Vec<Vec<ResourceSpans>> {
    let max = max.max(1);
    let mut chunks: Vec<Vec<ResourceSpans>> = Vec::new();
    let mut current: Vec<ResourceSpans> = Vec::new();
    let mut room = max;
    for mut rs in batch {
        let scopes = std::mem::take(&mut rs.scope_spans);
        let mut out_rs = ResourceSpans {
            scope_spans: Vec::new(),
            ..rs.clone()
        };
        for mut ss in scopes {
            let mut spans = std::mem::take(&mut ss.spans).into_iter().peekable();
            while spans.peek().is_some() {
                let take: Vec<_> = spans.by_ref().take(room).collect();
                room -= take.len();
                out_rs.scope_spans.push(ScopeSpans {
                    spans: take,
                    ..ss.clone()
                });
                if room == 0 {
                    let full = std::mem::replace(
                        &mut out_rs,
                        ResourceSpans {
                            scope_spans: Vec::new(),
                            ..rs.clone()
                        },
                    );
                    current.push(full);
                    chunks.push(std::mem::take(&mut current));
                    room = max;
                }
            }
        }
        if !out_rs.scope_spans.is_empty() {
            current.push(out_rs);
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Spans in a batch.
pub fn span_count(batch: &[ResourceSpans]) -> usize {
    batch
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::trace::v1::Span;

    fn rs(scopes: &[(&str, usize)], schema: &str) -> ResourceSpans {
        ResourceSpans {
            schema_url: schema.into(),
            scope_spans: scopes
                .iter()
                .map(|(name, n)| ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: (*name).into(),
                        ..Default::default()
                    }),
                    spans: (0..*n)
                        .map(|i| Span {
                            name: format!("{name}{i}"),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn names(chunk: &[ResourceSpans]) -> Vec<String> {
        chunk
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect()
    }

    #[test]
    fn chunks_hold_at_most_max_spans_in_order_with_their_scopes() {
        let batch = vec![rs(&[("a", 3), ("b", 2)], "r1"), rs(&[("c", 4)], "r2")];
        let chunks = split(batch, 4);
        let sizes: Vec<usize> = chunks.iter().map(|c| span_count(c)).collect();
        assert_eq!(sizes, [4, 4, 1]);
        assert_eq!(names(&chunks[0]), ["a0", "a1", "a2", "b0"]);
        assert_eq!(names(&chunks[1]), ["b1", "c0", "c1", "c2"]);
        // b was cut: its second half keeps scope and resource.
        assert_eq!(chunks[1][0].schema_url, "r1");
        assert_eq!(
            chunks[1][0].scope_spans[0]
                .scope
                .as_ref()
                .map(|s| s.name.as_str()),
            Some("b")
        );
        assert_eq!(chunks[1][1].schema_url, "r2");
        assert_eq!(names(&chunks[2]), ["c3"]);
    }

    #[test]
    fn exact_fit_and_empty_input() {
        let chunks = split(vec![rs(&[("a", 2)], ""), rs(&[("b", 2)], "")], 2);
        assert_eq!(chunks.len(), 2);
        assert!(split(vec![], 3).is_empty());
        assert!(split(vec![rs(&[("a", 0)], "")], 3).is_empty());
    }
}
