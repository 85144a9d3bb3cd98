//! The `awsxray` exporter: translate each span into X-Ray segment documents
//! ([`translate`], pure) and deliver them with `PutTraceSegments` ([`client`]).

pub mod api;
pub mod client;
pub mod translate;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use self::client::{XrayClient, XraySettings};
use self::translate::{
    translate_prepared_into, DropReason, PreparedResource, SpanOptions, TranslateConfig,
};
use super::{Drops, ExportReport, FlushMode};
use crate::processor::batch::span_count;

/// The `awsxray` exporter: a translator config and a lazily built X-Ray client.
pub struct AwsXrayExporter {
    name: String,
    translate: TranslateConfig,
    client: XrayClient,
    attach_to_lambda_segment: bool,
    /// Span ids of the latest invocations' Lambda function segments (newest last).
    lambda_segments: std::sync::Mutex<std::collections::VecDeque<[u8; 8]>>,
}

/// How many invocations' Lambda function segment ids are remembered: spans of an invocation
/// may be exported several invocations later (`continuous`, `periodic`, endpoint outages).
const REMEMBERED_LAMBDA_SEGMENTS: usize = 256;

impl AwsXrayExporter {
    /// An exporter named `name` (component id). Builds nothing yet: the AWS client is built by
    /// [`AwsXrayExporter::warm_up`] or on first use, off the init critical path.
    pub fn new(
        name: impl Into<String>,
        translate: TranslateConfig,
        settings: XraySettings,
    ) -> Self {
        Self {
            name: name.into(),
            translate,
            client: XrayClient::new(settings),
            attach_to_lambda_segment: true,
            lambda_segments: Default::default(),
        }
    }

    /// Whether spans whose parent is Lambda's function segment become its subsegments
    /// (config `attach_to_lambda_segment`, default `true`).
    pub fn with_lambda_attachment(mut self, attach: bool) -> Self {
        self.attach_to_lambda_segment = attach;
        self
    }

    /// Records the Lambda function segment id of an invocation (the `Parent=` of its trace
    /// header), so the spans under it are sent as its subsegments.
    pub fn note_lambda_segment(&self, id: [u8; 8]) {
        let mut ids = match self.lambda_segments.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !ids.contains(&id) {
            if ids.len() >= REMEMBERED_LAMBDA_SEGMENTS {
                ids.pop_front();
            }
            ids.push_back(id);
        }
    }

    /// The component id.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts building the AWS client (credential chain, TLS roots) in the background.
    pub fn warm_up(&self) {
        self.client.warm_up();
    }

    /// Translates every span of `batch` and delivers the documents, with those left from
    /// earlier flushes, until `deadline` (see [`client`] for what happens to the rest).
    /// Spans that cannot be translated are counted (`invalid_span`, `too_large`) and the rest
    /// ships (STYLE: per-span errors are values).
    pub async fn export(
        &self,
        batch: &[ResourceSpans],
        deadline: Instant,
        mode: FlushMode,
    ) -> ExportReport {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // Usually one document per span: one allocation for the list instead of a doubling
        // series.
        let mut documents = Vec::with_capacity(span_count(batch).min(DOCUMENTS_PER_CHUNK));
        let mut report = ExportReport::default();
        let mut dropped = Drops::default();
        let chunk_bytes = CHUNK_BYTES.min(self.client.max_pending_bytes() / 2).max(1);
        let mut bytes = 0;
        let lambda_segments: Vec<[u8; 8]> = if self.attach_to_lambda_segment {
            match self.lambda_segments.lock() {
                Ok(g) => g.iter().copied().collect(),
                Err(p) => p.into_inner().iter().copied().collect(),
            }
        } else {
            Vec::new()
        };
        for rs in batch {
            // The resource is read once for all its spans, not once per span.
            let resource = PreparedResource::new(rs.resource.as_ref(), &self.translate);
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    let options = SpanOptions {
                        under_lambda_segment: !lambda_segments.is_empty()
                            && lambda_segments
                                .iter()
                                .any(|id| span.parent_span_id == id[..]),
                    };
                    if documents.len() >= DOCUMENTS_PER_CHUNK || bytes >= chunk_bytes {
                        bytes = 0;
                        let chunk = std::mem::replace(
                            &mut documents,
                            Vec::with_capacity(DOCUMENTS_PER_CHUNK),
                        );
                        let r = self.client.put_documents(chunk, deadline, mode).await;
                        report.then(&r);
                    }
                    let before = documents.len();
                    let translated =
                        translate_prepared_into(&resource, span, now, options, &mut documents);
                    bytes += documents[before..].iter().map(String::len).sum::<usize>();
                    match translated {
                        Ok(too_large) => dropped.too_large += too_large as u64,
                        Err(reason) => {
                            tracing::debug!(reason = reason.as_str(), name = %span.name, "span dropped");
                            if reason == DropReason::TooLarge {
                                dropped.too_large += 1;
                            } else {
                                dropped.invalid_span += 1;
                            }
                        }
                    }
                }
            }
        }
        let r = self.client.put_documents(documents, deadline, mode).await;
        report.then(&r);
        report.dropped.add(&dropped);
        report
    }
}

/// A big batch (a busy function's flush can take 20,000 spans) is translated and delivered a
/// chunk at a time — at most this many documents, at most [`CHUNK_BYTES`] (and half the
/// client's pending limit, `max_buffered_mib`): the documents waiting for delivery stay within
/// about 650 KB instead of the whole batch's ~12 MB (RSS under load, BENCHMARKS.md), and never
/// overflow the pending limit, which would drop the oldest. 1,000 documents are 20 calls, more
/// than `num_workers` (8) keep in flight.
pub(crate) const DOCUMENTS_PER_CHUNK: usize = 1_000;
/// Most bytes of documents in one chunk (see [`DOCUMENTS_PER_CHUNK`]).
const CHUNK_BYTES: usize = 1024 * 1024;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry_proto::tonic::trace::v1::ScopeSpans;

    use super::*;
    use crate::exporter::awsxray::translate::test_support::span;

    /// A batch whose documents are far larger than the pending limit is delivered chunk by
    /// chunk: nothing is dropped as `queue_full` (UDP to a local daemon, which sends at once).
    #[tokio::test]
    async fn a_batch_larger_than_the_pending_limit_is_delivered_in_chunks() {
        let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let exporter = AwsXrayExporter::new(
            "awsxray",
            TranslateConfig::default(),
            XraySettings {
                daemon_address: Some(daemon.local_addr().expect("addr")),
                max_pending_bytes: 256 * 1024,
                ..XraySettings::default()
            },
        );
        let spans = 3 * DOCUMENTS_PER_CHUNK + 7;
        let batch = vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..spans)
                    .map(|i| {
                        let mut s = span(2, false, Vec::new());
                        s.span_id = (i as u64 + 1).to_be_bytes().to_vec();
                        s.name = format!("op-{i}-{}", "x".repeat(150));
                        s
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }];
        let report = exporter
            .export(
                &batch,
                Instant::now() + Duration::from_secs(5),
                FlushMode::Final,
            )
            .await;
        assert_eq!(report.dropped, Drops::default(), "{report:?}");
        assert_eq!(report.exported, spans as u64);
        assert_eq!(report.pending, 0);
    }
}
