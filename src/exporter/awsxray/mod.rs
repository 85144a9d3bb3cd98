//! The `awsxray` exporter: translate each span into X-Ray segment documents
//! ([`translate`], pure) and deliver them with `PutTraceSegments` ([`client`]).

pub mod client;
pub mod translate;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use self::client::{XrayClient, XraySettings};
use self::translate::TranslateConfig;
use self::translate::{translate_span, DropReason};
use super::{Drops, ExportReport, FlushMode};

/// The `awsxray` exporter: a translator config and a lazily built X-Ray client.
pub struct AwsXrayExporter {
    name: String,
    translate: TranslateConfig,
    client: XrayClient,
}

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
        let mut documents = Vec::new();
        let mut dropped = Drops::default();
        for rs in batch {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    match translate_span(rs.resource.as_ref(), span, &self.translate, now) {
                        Ok(docs) => documents.extend(docs),
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
        let mut report = self.client.put_documents(documents, deadline, mode).await;
        report.dropped.add(&dropped);
        report
    }
}
