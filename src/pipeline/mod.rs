//! The pipeline: the bounded buffer between receivers and exporters.
//!
//! Receivers [`Pipeline::push`] decoded `ResourceSpans` and answer the SDK at once; the Lambda
//! lifecycle calls [`Pipeline::flush`] with a deadline before it lets Lambda freeze the sandbox.
//! A flush hands the whole buffer to every exporter concurrently (fan-out) and waits for all of
//! them, each bounded by the same deadline, then returns one [`FlushReport`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;

use crate::exporter::{Drops, ExportReport, Exporter, FlushMode};

/// Bounds of the buffer. When a push would exceed them, the **oldest** buffered data is dropped
/// first (counted as `queue_full`), as the X-Ray daemon's ring buffer does
/// (`docs/lambda-extensions-api.md` §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimits {
    /// Most spans held between flushes.
    pub max_spans: usize,
    /// Most bytes held between flushes (protobuf-encoded size of the buffered `ResourceSpans`).
    pub max_bytes: usize,
}

impl Default for BufferLimits {
    /// 100,000 spans or 64 MiB, whichever comes first: far above one invocation's output, low
    /// enough that a runaway function cannot take the sandbox's memory.
    fn default() -> Self {
        Self {
            max_spans: 100_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What one flush did, summed over every exporter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Spans taken from the buffer by this flush.
    pub spans: usize,
    /// Per exporter: its name and report.
    pub exporters: Vec<(String, ExportReport)>,
    /// Spans dropped before the flush because the buffer was full (`queue_full`).
    pub queue_full: u64,
}

impl FlushReport {
    /// Items still waiting in exporters for a later flush.
    pub fn pending(&self) -> u64 {
        self.exporters.iter().map(|(_, r)| r.pending).sum()
    }

    /// Items delivered, summed over exporters.
    pub fn exported(&self) -> u64 {
        self.exporters.iter().map(|(_, r)| r.exported).sum()
    }

    /// Drops summed over every exporter, plus `queue_full`.
    pub fn drops(&self) -> Drops {
        let mut d = Drops {
            queue_full: self.queue_full,
            ..Drops::default()
        };
        for (_, r) in &self.exporters {
            d.add(&r.dropped);
        }
        d
    }
}

#[derive(Default)]
struct Buffer {
    batches: VecDeque<(ResourceSpans, usize, usize)>,
    spans: usize,
    bytes: usize,
    queue_full: u64,
}

struct Inner {
    limits: BufferLimits,
    buffer: Mutex<Buffer>,
    exporters: Vec<Arc<Exporter>>,
    /// Serialises flushes so two callers never export the same data twice.
    flush_lock: tokio::sync::Mutex<()>,
    /// Every drop since start, for the summary at SHUTDOWN.
    total_drops: Mutex<Drops>,
    /// Items delivered since start.
    total_exported: std::sync::atomic::AtomicU64,
    /// Items the exporters still held after the latest flush.
    pending: std::sync::atomic::AtomicU64,
}

/// A cloneable handle to the pipeline (receivers hold one each, the lifecycle another).
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

impl Pipeline {
    /// A pipeline that fans out to `exporters`.
    pub fn new(limits: BufferLimits, exporters: Vec<Exporter>) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits,
                buffer: Mutex::new(Buffer::default()),
                exporters: exporters.into_iter().map(Arc::new).collect(),
                flush_lock: tokio::sync::Mutex::new(()),
                total_drops: Mutex::new(Drops::default()),
                total_exported: Default::default(),
                pending: Default::default(),
            }),
        }
    }

    /// The exporters this pipeline feeds.
    pub fn exporters(&self) -> impl Iterator<Item = &Exporter> {
        self.inner.exporters.iter().map(|e| e.as_ref())
    }

    /// Buffers decoded spans; never blocks on I/O. Returns the number of spans accepted.
    /// Empty `ResourceSpans` are skipped.
    pub fn push(&self, resource_spans: Vec<ResourceSpans>) -> usize {
        let mut accepted = 0;
        let limits = self.inner.limits;
        let mut buf = match self.inner.buffer.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        for rs in resource_spans {
            let spans: usize = rs.scope_spans.iter().map(|s| s.spans.len()).sum();
            if spans == 0 {
                continue;
            }
            let bytes = rs.encoded_len();
            // Oldest first out, until the new data fits (R: daemon ring-buffer semantics).
            while !buf.batches.is_empty()
                && (buf.spans + spans > limits.max_spans || buf.bytes + bytes > limits.max_bytes)
            {
                if let Some((_, s, b)) = buf.batches.pop_front() {
                    buf.spans -= s;
                    buf.bytes -= b;
                    buf.queue_full += s as u64;
                }
            }
            if spans > limits.max_spans || bytes > limits.max_bytes {
                buf.queue_full += spans as u64;
                continue;
            }
            buf.spans += spans;
            buf.bytes += bytes;
            buf.batches.push_back((rs, spans, bytes));
            accepted += spans;
        }
        accepted
    }

    /// Spans currently buffered.
    pub fn buffered_spans(&self) -> usize {
        match self.inner.buffer.lock() {
            Ok(b) => b.spans,
            Err(p) => p.into_inner().spans,
        }
    }

    /// Items delivered since the pipeline started (documents for `awsxray`).
    pub fn total_exported(&self) -> u64 {
        self.inner
            .total_exported
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether there is anything to flush: buffered spans, or items the exporters held back
    /// after the latest flush.
    pub fn has_undelivered(&self) -> bool {
        self.buffered_spans() > 0
            || self
                .inner
                .pending
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0
    }

    /// Every drop since the pipeline started, by reason.
    pub fn total_drops(&self) -> Drops {
        match self.inner.total_drops.lock() {
            Ok(d) => *d,
            Err(p) => *p.into_inner(),
        }
    }

    /// Exports everything buffered to every exporter, concurrently (fan-out: a slow exporter
    /// does not hold the others' data), each bounded by `deadline`. Exporters are called even
    /// with nothing new, so data they hold from earlier flushes is retried. Returns when every
    /// exporter has finished or reached the deadline. With [`FlushMode::Final`], whatever is
    /// still undelivered at the deadline is dropped and counted.
    pub async fn flush(&self, deadline: Instant, mode: FlushMode) -> FlushReport {
        let _guard = self.inner.flush_lock.lock().await;
        let (batch, queue_full) = {
            let mut buf = match self.inner.buffer.lock() {
                Ok(b) => b,
                Err(p) => p.into_inner(),
            };
            let batch: Vec<ResourceSpans> = buf.batches.drain(..).map(|(rs, _, _)| rs).collect();
            buf.spans = 0;
            buf.bytes = 0;
            (batch, std::mem::take(&mut buf.queue_full))
        };
        let spans = batch
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .map(|s| s.spans.len())
            .sum();
        let mut report = FlushReport {
            spans,
            queue_full,
            ..FlushReport::default()
        };
        let batch = Arc::new(batch);
        let mut set = tokio::task::JoinSet::new();
        for (i, exporter) in self.inner.exporters.iter().enumerate() {
            let exporter = Arc::clone(exporter);
            let batch = Arc::clone(&batch);
            set.spawn(async move { (i, exporter.export(&batch, deadline, mode).await) });
        }
        let mut results: Vec<(usize, ExportReport)> = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(r) => results.push(r),
                Err(e) => tracing::error!(error = %e, "exporter task failed"),
            }
        }
        results.sort_by_key(|(i, _)| *i);
        for (i, r) in results {
            report
                .exporters
                .push((self.inner.exporters[i].name().to_string(), r));
        }
        let drops = report.drops();
        use std::sync::atomic::Ordering;
        self.inner
            .total_exported
            .fetch_add(report.exported(), Ordering::Relaxed);
        self.inner
            .pending
            .store(report.pending(), Ordering::Relaxed);
        match self.inner.total_drops.lock() {
            Ok(mut d) => d.add(&drops),
            Err(p) => p.into_inner().add(&drops),
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span};

    fn rs(n: usize) -> ResourceSpans {
        ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..n)
                    .map(|i| Span {
                        name: format!("s{i}"),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn oldest_dropped_first_when_full() {
        let p = Pipeline::new(
            BufferLimits {
                max_spans: 5,
                max_bytes: usize::MAX,
            },
            vec![],
        );
        assert_eq!(p.push(vec![rs(3)]), 3);
        assert_eq!(p.push(vec![rs(3)]), 3);
        // the first batch of 3 was evicted to make room
        assert_eq!(p.buffered_spans(), 3);
        assert_eq!(p.push(vec![rs(0)]), 0);
        assert_eq!(
            p.push(vec![rs(9)]),
            0,
            "a batch larger than the buffer is refused"
        );
    }

    #[tokio::test]
    async fn flush_empties_the_buffer_and_reports_queue_full() {
        let p = Pipeline::new(
            BufferLimits {
                max_spans: 4,
                max_bytes: usize::MAX,
            },
            vec![],
        );
        p.push(vec![rs(3)]);
        p.push(vec![rs(2)]);
        let r = p.flush(Instant::now(), FlushMode::Regular).await;
        assert_eq!(r.spans, 2);
        assert_eq!(r.queue_full, 3);
        assert_eq!(r.drops().queue_full, 3);
        assert_eq!(p.buffered_spans(), 0);
        assert_eq!(p.flush(Instant::now(), FlushMode::Regular).await.spans, 0);
        assert_eq!(p.total_drops().queue_full, 3);
    }
}
