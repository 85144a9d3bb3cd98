//! The `debug` exporter (old name `logging`): writes what it receives to stdout, as the
//! collector's debug exporter does. Lambda sends stdout to CloudWatch Logs.
//!
//! - `basic`: one summary line per flush (span count);
//! - `normal`: one line per span (trace id, span id, name, kind, duration);
//! - `detailed`: the X-Ray segment documents the spans translate to, one JSON per line, so a
//!   user sees exactly what `awsxray` would send.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use super::awsxray::translate::{translate_span, TranslateConfig};
use super::ExportReport;

pub use crate::config::Verbosity;

/// The debug exporter.
pub struct DebugExporter {
    name: String,
    verbosity: Verbosity,
    translate: TranslateConfig,
}

impl DebugExporter {
    /// A debug exporter named `name` (component id) printing at `verbosity`.
    pub fn new(name: impl Into<String>, verbosity: Verbosity) -> Self {
        Self {
            name: name.into(),
            verbosity,
            translate: TranslateConfig::default(),
        }
    }

    /// The component id.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Prints `batch`; counts every span as exported.
    pub fn export(&self, batch: &[ResourceSpans]) -> ExportReport {
        if batch.is_empty() {
            return ExportReport::default();
        }
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let mut spans = 0u64;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for rs in batch {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    spans += 1;
                    match self.verbosity {
                        Verbosity::Basic => {}
                        Verbosity::Normal => {
                            let _ = writeln!(
                                out,
                                "span trace_id={} span_id={} name={:?} kind={} duration_ms={:.3}",
                                hex(&span.trace_id),
                                hex(&span.span_id),
                                span.name,
                                span.kind,
                                span.end_time_unix_nano
                                    .saturating_sub(span.start_time_unix_nano)
                                    as f64
                                    / 1e6
                            );
                        }
                        Verbosity::Detailed => {
                            match translate_span(rs.resource.as_ref(), span, &self.translate, now) {
                                Ok(docs) => {
                                    for d in docs {
                                        let _ = writeln!(out, "{d}");
                                    }
                                }
                                Err(reason) => {
                                    let _ = writeln!(
                                        out,
                                        "span {} dropped: {}",
                                        hex(&span.span_id),
                                        reason.as_str()
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        let _ = writeln!(out, "{}: exported {spans} spans", self.name);
        ExportReport {
            exported: spans,
            ..ExportReport::default()
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
