//! The pipelines: one bounded buffer between receivers and exporters, routed through the
//! configured traces pipelines.
//!
//! Receivers [`Pipeline::push`] decoded `ResourceSpans` and answer the SDK at once; the Lambda
//! lifecycle calls [`Pipeline::flush`] with a deadline before it lets Lambda freeze the sandbox.
//!
//! ## Several pipelines (`service.pipelines.traces`, `traces/xray`, …)
//!
//! Each traces pipeline is a [`Route`]: its receivers, its processors ([`Chain`]) and its
//! exporters. Data is buffered **once**, tagged with the receiver that pushed it (each receiver
//! holds a handle from [`Pipeline::for_receiver`]). A flush drains the buffer and, for each
//! route, takes the data of the route's receivers (the last route to use an item takes it,
//! the others get a copy), applies the route's processors to that copy, cuts it into export
//! calls of at most `send_batch_max_size` spans, and hands it to the route's exporters. An
//! exporter listed by several routes receives each route's data, in separate calls. So:
//! - data from a receiver reaches every pipeline that lists it, and only those;
//! - processors in one pipeline never affect another's data;
//! - there is one flush and one deadline for everything: every exporter runs concurrently
//!   (fan-out), each bounded by the same deadline, so a slow or failing exporter delays no
//!   other; an exporter's calls within one flush run one after the other;
//! - [`FlushReport`] keeps its meaning: `spans` is what left the buffer, each exporter's report
//!   sums its calls (`pending` is what it still holds after the last one).
//!
//! Processors run at flush time, not when the function's SDK is waiting for its answer.
//!
//! ## Limits
//!
//! A regular flush leaves the buffer alone while the exporters still hold [`MAX_BACKLOG`]
//! items from earlier flushes: a backlog waits here, where a full buffer pushes back on the
//! client, not in an exporter's queue, which can only drop.
//!
//! [`BufferLimits`] (the `lambda` extension's `max_buffered_spans`/`max_buffered_mib`) drop the
//! oldest data when full, as the X-Ray daemon does. A buffer a quarter full wakes the lifecycle to
//! flush at once ([`Pipeline::pressure`]), so drops happen only when spans arrive faster than
//! they can be exported. A `memory_limiter` processor adds an
//! admission limit ([`MemoryLimit`]) on the same buffer: above it, a receiver's push is
//! refused ([`Refused`]) and the receiver answers gRPC `UNAVAILABLE` / HTTP 503, so the SDK
//! retries — the collector's memory limiter behaviour. A receiver feeding several pipelines
//! obeys the strictest limit among them (the buffer is shared).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;

use crate::config::Config;
use crate::exporter::{Drops, ExportReport, Exporter, FlushMode};
use crate::processor::batch::{span_count, split};
use crate::processor::memory_limiter::MemoryLimit;
use crate::processor::Chain;

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
    /// Spans taken from the buffer by this flush (each counted once, however many pipelines
    /// it went through).
    pub spans: usize,
    /// Per exporter: its name and report (all its export calls of this flush, summed).
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

/// A refused push: nothing of the request was buffered. Receivers answer it as the
/// collector's OTLP receiver answers `ErrDataRefused` or a full sending queue: gRPC
/// [`Refused::GRPC_CODE`] (`UNAVAILABLE`), HTTP [`Refused::HTTP_STATUS`] (503), both retryable
/// for OTLP clients (OTLP spec, "Failures").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Spans in the refused request (0 when refused before decoding).
    pub spans: usize,
    /// Why.
    pub reason: RefusedReason,
}

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedReason {
    /// A `memory_limiter` processor's limit.
    MemoryLimit,
    /// The buffer is full while deliveries succeed ([`Pipeline::push`]).
    BufferFull,
}

impl Refused {
    /// gRPC status code `UNAVAILABLE`.
    pub const GRPC_CODE: i32 = 14;
    /// HTTP status 503 Service Unavailable.
    pub const HTTP_STATUS: u16 = 503;
}

impl fmt::Display for Refused {
    /// The collector's message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.reason {
            RefusedReason::MemoryLimit => "data refused due to high memory usage",
            RefusedReason::BufferFull => "sending queue is full",
        })
    }
}

impl std::error::Error for Refused {}

/// Which receiver pushed an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A handle not tied to a receiver: every route takes its data.
    Any,
    /// Receiver number `i` (index into [`Inner::receivers`]).
    Receiver(usize),
}

/// One traces pipeline as the flush sees it.
pub struct Route {
    /// The pipeline id (`traces`, `traces/xray`).
    pub name: String,
    /// Receiver ids feeding it.
    pub receivers: Vec<String>,
    /// Exporter ids it feeds (each must be among the pipeline's exporters).
    pub exporters: Vec<String>,
    /// Its processors.
    pub chain: Chain,
}

/// A [`Route`] resolved to indexes.
struct RouteIx {
    name: String,
    /// Indexes into `Inner::receivers`; `None` = any source.
    receivers: Option<Vec<usize>>,
    exporters: Vec<usize>,
    chain: Chain,
}

impl RouteIx {
    fn accepts(&self, source: Source) -> bool {
        match (source, &self.receivers) {
            (_, None) | (Source::Any, _) => true,
            (Source::Receiver(i), Some(list)) => list.contains(&i),
        }
    }
}

struct Entry {
    batch: ResourceSpans,
    spans: usize,
    bytes: usize,
    source: Source,
}

#[derive(Default)]
struct Buffer {
    entries: VecDeque<Entry>,
    spans: usize,
    bytes: usize,
    queue_full: u64,
}

impl Buffer {
    /// Whether `spans` more spans of `bytes` more bytes fit within `limits`.
    fn fits(&self, limits: BufferLimits, spans: usize, bytes: usize) -> bool {
        self.spans.saturating_add(spans) <= limits.max_spans
            && self.bytes.saturating_add(bytes) <= limits.max_bytes
    }
}

struct Inner {
    limits: BufferLimits,
    buffer: Mutex<Buffer>,
    exporters: Vec<Arc<Exporter>>,
    routes: Vec<RouteIx>,
    /// Receiver ids, in first-seen order over the routes.
    receivers: Vec<String>,
    /// Serialises flushes so two callers never export the same data twice.
    flush_lock: tokio::sync::Mutex<()>,
    /// Every drop since start, for the summary at SHUTDOWN.
    total_drops: Mutex<Drops>,
    /// Items delivered since start.
    total_exported: AtomicU64,
    /// Items the exporters still held after the latest flush.
    pending: AtomicU64,
    /// Spans refused by a memory limiter since start.
    total_refused: AtomicU64,
    /// Whether the latest push was refused (to log the transitions only).
    refusing: AtomicBool,
    /// Woken when the buffer reaches [`PRESSURE_DIVISOR`]⁻¹ of its limits ([`Pipeline::pressure`]).
    pressure: tokio::sync::Notify,
    /// When the exporters last made progress, in ms since `started`: an export call that
    /// delivered something, or else the start of the first flush, which opens the window for
    /// the first delivery (0 = no flush yet).
    progress_ms: AtomicU64,
    started: Instant,
}

/// A regular flush leaves the buffer alone while the exporters hold at least this many items
/// from earlier flushes (documents or spans): one `awsxray` chunk.
pub const MAX_BACKLOG: u64 = crate::exporter::awsxray::DOCUMENTS_PER_CHUNK as u64;

/// The pressure mark is a quarter of the buffer's limits: early enough that the buffer keeps
/// room while the flush runs, and that one flush's documents stay a few MiB (RSS at 20,000
/// spans/s, BENCHMARKS.md) — the batch processor's `send_batch_size` in spirit.
pub const PRESSURE_DIVISOR: usize = 4;

/// Deliveries this recent (or a first flush started this recently) mean the buffer is being
/// drained ([`Pipeline::push`]); after an outage this long, a full buffer drops its oldest data
/// again.
const DRAINING_WINDOW_MS: u64 = 2_000;

/// A cloneable handle to the pipelines (receivers hold one each, the lifecycle another).
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
    source: Source,
    /// The admission limit for this handle's pushes.
    limit: Option<MemoryLimit>,
}

/// Why pipelines could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    /// A route names an exporter that was not built.
    #[error("pipeline `{pipeline}` uses exporter `{exporter}`, which was not started")]
    UnknownExporter {
        /// The pipeline id.
        pipeline: String,
        /// The exporter id.
        exporter: String,
    },
    /// A processor could not be set up (e.g. a `memory_limiter` percentage without a known
    /// memory size).
    #[error("service.pipelines.{pipeline}: {message}")]
    Processor {
        /// The pipeline id.
        pipeline: String,
        /// What went wrong, naming the processor.
        message: String,
    },
}

impl Pipeline {
    /// One pipeline that takes data from any receiver, has no processors and fans out to
    /// every exporter.
    pub fn new(limits: BufferLimits, exporters: Vec<Exporter>) -> Self {
        let inner = Inner::new(limits, exporters, Vec::new(), |n| {
            vec![RouteIx {
                name: "traces".to_owned(),
                receivers: None,
                exporters: (0..n).collect(),
                chain: Chain::default(),
            }]
        });
        Self::handle(Arc::new(inner), Source::Any)
    }

    /// Pipelines as `routes` describe them, over the exporters `exporters` (each named by its
    /// [`Exporter::name`]). An exporter no route lists is still flushed (with no new data).
    pub fn with_routes(
        limits: BufferLimits,
        exporters: Vec<Exporter>,
        routes: Vec<Route>,
    ) -> Result<Self, PipelineError> {
        let mut receivers: Vec<String> = Vec::new();
        let mut resolved = Vec::with_capacity(routes.len());
        for route in routes {
            let mut ix = Vec::with_capacity(route.receivers.len());
            for r in &route.receivers {
                let i = match receivers.iter().position(|x| x == r) {
                    Some(i) => i,
                    None => {
                        receivers.push(r.clone());
                        receivers.len() - 1
                    }
                };
                ix.push(i);
            }
            let mut ex = Vec::with_capacity(route.exporters.len());
            for e in &route.exporters {
                match exporters.iter().position(|x| x.name() == e) {
                    Some(i) => ex.push(i),
                    None => {
                        return Err(PipelineError::UnknownExporter {
                            pipeline: route.name.clone(),
                            exporter: e.clone(),
                        })
                    }
                }
            }
            resolved.push(RouteIx {
                name: route.name,
                receivers: Some(ix),
                exporters: ex,
                chain: route.chain,
            });
        }
        let inner = Inner::new(limits, exporters, receivers, |_| resolved);
        for r in &inner.routes {
            tracing::debug!(
                pipeline = %r.name,
                receivers = r.receivers.as_ref().map_or(0, Vec::len),
                exporters = r.exporters.len(),
                max_batch = r.chain.max_batch(),
                memory_limit = r.chain.memory_limit().map(|l| l.hard_bytes),
                "pipeline ready"
            );
        }
        Ok(Self::handle(Arc::new(inner), Source::Any))
    }

    /// The traces pipelines of `config` (`service.pipelines.traces[/name]`) over `exporters`,
    /// which must hold every exporter those pipelines use. `total_memory_mib` is what
    /// `memory_limiter` percentages refer to
    /// ([`crate::processor::memory_limiter::total_memory_mib`]).
    pub fn from_config(
        config: &Config,
        limits: BufferLimits,
        exporters: Vec<Exporter>,
        total_memory_mib: Option<u64>,
    ) -> Result<Self, PipelineError> {
        let mut routes = Vec::new();
        for (id, p) in config.service.traces_pipelines() {
            let chain = Chain::build(&p.processors, &config.processors, total_memory_mib).map_err(
                |message| PipelineError::Processor {
                    pipeline: id.to_owned(),
                    message,
                },
            )?;
            if let Some(limit) = chain.memory_limit() {
                if limit.soft_bytes >= limits.max_bytes {
                    tracing::info!(
                        pipeline = id,
                        soft_limit_mib = limit.soft_bytes / (1024 * 1024),
                        max_buffered_mib = limits.max_bytes / (1024 * 1024),
                        "memory_limiter: its soft limit is not below \
                         extensions.lambda.max_buffered_mib, so the buffer drops its oldest \
                         spans before the limiter refuses any"
                    );
                }
            }
            routes.push(Route {
                name: id.to_owned(),
                receivers: p.receivers.clone(),
                exporters: p.exporters.clone(),
                chain,
            });
        }
        Self::with_routes(limits, exporters, routes)
    }

    fn handle(inner: Arc<Inner>, source: Source) -> Self {
        let limit = inner
            .routes
            .iter()
            .filter(|r| r.accepts(source))
            .filter_map(|r| r.chain.memory_limit())
            .reduce(MemoryLimit::min);
        Self {
            inner,
            source,
            limit,
        }
    }

    /// The handle a receiver pushes through: its data goes to the pipelines that list
    /// `receiver_id`, and it obeys their memory limits. An id no pipeline lists gets a handle
    /// whose data goes nowhere (its pushes are accepted and discarded, with a warning).
    pub fn for_receiver(&self, receiver_id: &str) -> Pipeline {
        match self.inner.receivers.iter().position(|r| r == receiver_id) {
            Some(i) => Self::handle(Arc::clone(&self.inner), Source::Receiver(i)),
            None if self.inner.routes.iter().any(|r| r.receivers.is_none()) => self.clone(),
            None => {
                tracing::warn!(
                    receiver = receiver_id,
                    "no traces pipeline lists this receiver; its data is discarded"
                );
                Self::handle(Arc::clone(&self.inner), Source::Receiver(usize::MAX))
            }
        }
    }

    /// The exporters the pipelines feed (each once).
    pub fn exporters(&self) -> impl Iterator<Item = &Exporter> {
        self.inner.exporters.iter().map(|e| e.as_ref())
    }

    /// The pipeline ids, in flush order.
    pub fn route_names(&self) -> impl Iterator<Item = &str> {
        self.inner.routes.iter().map(|r| r.name.as_str())
    }

    /// Buffers decoded spans; never blocks on I/O. Returns the number of spans accepted (fewer
    /// than sent when a batch larger than the whole buffer is dropped). Empty `ResourceSpans`
    /// are skipped.
    ///
    /// Errors with [`Refused`] when a `memory_limiter` of a pipeline this handle feeds refuses
    /// the request (see [`MemoryLimit::refuses`]); then nothing of it is buffered.
    pub fn push(&self, resource_spans: Vec<ResourceSpans>) -> Result<usize, Refused> {
        if self.source == Source::Receiver(usize::MAX) {
            return Ok(0);
        }
        let mut incoming: Vec<(ResourceSpans, usize, usize)> = resource_spans
            .into_iter()
            .filter_map(|rs| {
                let spans = span_count(std::slice::from_ref(&rs));
                (spans > 0).then(|| {
                    let bytes = rs.encoded_len();
                    (rs, spans, bytes)
                })
            })
            .collect();
        let (in_spans, in_bytes) = incoming
            .iter()
            .fold((0, 0), |(s, b), (_, sp, by)| (s + sp, b + by));
        let limits = self.inner.limits;
        let mut buf = match self.inner.buffer.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(limit) = self.limit {
            if limit.refuses(buf.bytes, in_bytes) {
                let buffered = buf.bytes;
                drop(buf);
                if !self.inner.refusing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        buffered_bytes = buffered,
                        request_bytes = in_bytes,
                        soft_limit_bytes = limit.soft_bytes,
                        hard_limit_bytes = limit.hard_bytes,
                        "memory_limiter: buffer above its limit; refusing data until a flush"
                    );
                }
                return Err(self.refused(in_spans, RefusedReason::MemoryLimit));
            }
            if self.inner.refusing.swap(false, Ordering::Relaxed) {
                tracing::info!("memory_limiter: buffer back within limits; accepting data");
            }
        }
        // Back-pressure: when the data does not fit while deliveries succeed, refuse rather
        // than drop the oldest spans — the client retries in a moment and nothing is lost (the
        // collector's "sending queue is full"). Without deliveries (an endpoint down) the
        // oldest go, so a client is never held back by an outage.
        if !buf.fits(limits, in_spans, in_bytes) && self.inner.draining() {
            drop(buf);
            return Err(self.refused(in_spans, RefusedReason::BufferFull));
        }
        let mut accepted = 0;
        for (rs, spans, bytes) in incoming.drain(..) {
            // Oldest first out, until the new data fits (R: daemon ring-buffer semantics).
            while !buf.entries.is_empty() && !buf.fits(limits, spans, bytes) {
                if let Some(old) = buf.entries.pop_front() {
                    buf.spans -= old.spans;
                    buf.bytes -= old.bytes;
                    buf.queue_full += old.spans as u64;
                }
            }
            if spans > limits.max_spans || bytes > limits.max_bytes {
                buf.queue_full += spans as u64;
                continue;
            }
            buf.spans += spans;
            buf.bytes += bytes;
            buf.entries.push_back(Entry {
                batch: rs,
                spans,
                bytes,
                source: self.source,
            });
            accepted += spans;
        }
        if buf.spans >= limits.max_spans / PRESSURE_DIVISOR
            || buf.bytes >= limits.max_bytes / PRESSURE_DIVISOR
        {
            self.inner.pressure.notify_one();
        }
        Ok(accepted)
    }

    /// Counts `spans` as refused and says why.
    fn refused(&self, spans: usize, reason: RefusedReason) -> Refused {
        self.inner
            .total_refused
            .fetch_add(spans as u64, Ordering::Relaxed);
        Refused { spans, reason }
    }

    /// A check before decoding a request of `wire_bytes` (its body as received): refuses it at
    /// once, as [`Pipeline::push`] would, when the buffer cannot take that much while a flush is
    /// draining it — so a client sending faster than the exporters deliver does not cost the
    /// decoding of data that would be refused anyway. Decoded data is checked again by `push`.
    pub fn admits(&self, wire_bytes: usize) -> Result<(), Refused> {
        let limits = self.inner.limits;
        let full = {
            let buf = match self.inner.buffer.lock() {
                Ok(b) => b,
                Err(p) => p.into_inner(),
            };
            // At least one span comes with any request.
            !buf.fits(limits, 1, wire_bytes)
        };
        if full && self.inner.draining() {
            return Err(self.refused(0, RefusedReason::BufferFull));
        }
        Ok(())
    }

    /// Resolves when a push has filled the buffer to a quarter of its [`BufferLimits`] (spans or
    /// bytes) since the last call: the lifecycle then flushes at once rather than waiting for
    /// its strategy's moment, so a busy function's spans are sent instead of overflowing the
    /// buffer — the batch processor's `send_batch_size` trigger, with the buffer's own limits.
    /// A wake-up that arrives while nobody waits is kept (one), not lost.
    pub async fn pressure(&self) {
        self.inner.pressure.notified().await;
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
        self.inner.total_exported.load(Ordering::Relaxed)
    }

    /// Spans refused (by a `memory_limiter`, or a full buffer being drained) since the pipeline
    /// started; the SDK may have sent them again. Requests refused before decoding count 0.
    pub fn total_refused(&self) -> u64 {
        self.inner.total_refused.load(Ordering::Relaxed)
    }

    /// Whether there is anything to flush: buffered spans, or items the exporters held back
    /// after the latest flush.
    pub fn has_undelivered(&self) -> bool {
        self.buffered_spans() > 0 || self.inner.pending.load(Ordering::Relaxed) > 0
    }

    /// Every drop since the pipeline started, by reason.
    pub fn total_drops(&self) -> Drops {
        match self.inner.total_drops.lock() {
            Ok(d) => *d,
            Err(p) => *p.into_inner(),
        }
    }

    /// Exports everything buffered through every pipeline to its exporters, concurrently
    /// (fan-out: a slow exporter does not hold the others' data), each bounded by `deadline`.
    /// Exporters are called even with nothing new, so data they hold from earlier flushes is
    /// retried. The buffer is handed over in rounds of about a quarter of its limits
    /// ([`Pipeline::take`]'s reasons), until it is empty or the deadline passes; a regular flush
    /// also stops when the exporters hold a backlog of [`MAX_BACKLOG`] items, and leaves the
    /// rest buffered. Returns when every exporter has finished or reached the deadline. With
    /// [`FlushMode::Final`], whatever is still undelivered at the deadline is dropped and
    /// counted.
    pub async fn flush(&self, deadline: Instant, mode: FlushMode) -> FlushReport {
        let _guard = self.inner.flush_lock.lock().await;
        self.inner.flush_started();
        let mut report = FlushReport::default();
        let mut per_exporter: Vec<Option<ExportReport>> = vec![None; self.inner.exporters.len()];
        loop {
            // Past the deadline, a final flush hands over everything left, for the exporters
            // to count as dropped; a regular one takes a round's worth at most (then stops).
            let sliced = !(mode == FlushMode::Final && Instant::now() >= deadline);
            let (entries, queue_full, more) = self.take(mode, sliced);
            report.spans += entries.iter().map(|e| e.spans).sum::<usize>();
            report.queue_full += queue_full;
            self.export_round(entries, deadline, mode, &mut per_exporter)
                .await;
            // The backlog the next round's `take` sees.
            let held: u64 = per_exporter.iter().flatten().map(|r| r.pending).sum();
            self.inner.pending.store(held, Ordering::Relaxed);
            let regular_stop =
                mode == FlushMode::Regular && (held >= MAX_BACKLOG || Instant::now() >= deadline);
            if !more || regular_stop {
                break;
            }
        }
        report.exporters = self
            .inner
            .exporters
            .iter()
            .zip(per_exporter)
            .filter_map(|(e, r)| r.map(|r| (e.name().to_string(), r)))
            .collect();
        self.inner
            .total_exported
            .fetch_add(report.exported(), Ordering::Relaxed);
        let drops = report.drops();
        match self.inner.total_drops.lock() {
            Ok(mut d) => d.add(&drops),
            Err(p) => p.into_inner().add(&drops),
        }
        report
    }

    /// Takes the next entries of the buffer for a flush round, with the `queue_full` count
    /// since the last one and whether entries are left. A round takes about a quarter of the
    /// buffer's limits (the pressure mark's worth, at least one entry; everything when not
    /// `sliced`): a full buffer's 20,000 spans are ~12 MB of X-Ray documents, more than an
    /// exporter's pending queue holds (`max_buffered_mib`, 8 MiB), so handing them over at once
    /// would drop the oldest there when delivery is slower than translation. What a round does
    /// not take stays here, where a full buffer pushes back on the client. A regular flush
    /// takes nothing while the exporters hold a backlog of [`MAX_BACKLOG`] items from earlier
    /// flushes: they deliver it first.
    fn take(&self, mode: FlushMode, sliced: bool) -> (Vec<Entry>, u64, bool) {
        let mut buf = match self.inner.buffer.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        let queue_full = std::mem::take(&mut buf.queue_full);
        let backlog = self.inner.pending.load(Ordering::Relaxed);
        if mode == FlushMode::Regular && backlog >= MAX_BACKLOG {
            return (Vec::new(), queue_full, false);
        }
        let limits = self.inner.limits;
        let (max_spans, max_bytes) = if sliced {
            (
                (limits.max_spans / PRESSURE_DIVISOR).max(1),
                (limits.max_bytes / PRESSURE_DIVISOR).max(1),
            )
        } else {
            (usize::MAX, usize::MAX)
        };
        let (mut spans, mut bytes) = (0, 0);
        let mut entries = Vec::new();
        while spans < max_spans && bytes < max_bytes {
            let Some(entry) = buf.entries.pop_front() else {
                break;
            };
            spans += entry.spans;
            bytes += entry.bytes;
            entries.push(entry);
        }
        buf.spans -= spans;
        buf.bytes -= bytes;
        (entries, queue_full, !buf.entries.is_empty())
    }

    /// One round of a flush: routes `entries` and runs every exporter's calls (exporters get
    /// called even with nothing new, so data they hold from earlier flushes is retried), then
    /// adds each exporter's report to its slot of `totals` (by exporter index; `pending` is what
    /// it holds after its latest call).
    async fn export_round(
        &self,
        entries: Vec<Entry>,
        deadline: Instant,
        mode: FlushMode,
        totals: &mut [Option<ExportReport>],
    ) {
        let per_exporter = self.inner.route(entries);
        let mut set = tokio::task::JoinSet::new();
        for (i, (exporter, calls)) in self.inner.exporters.iter().zip(per_exporter).enumerate() {
            let exporter = Arc::clone(exporter);
            let inner = Arc::clone(&self.inner);
            // With nothing new, one call without data: the exporter retries what it holds.
            let calls = if calls.is_empty() {
                vec![Call::default()]
            } else {
                calls
            };
            set.spawn(async move {
                let mut total = ExportReport::default();
                for call in calls {
                    let report = exporter.export(&call, deadline, mode).await;
                    // Each call that delivers keeps a long flush from looking like an outage.
                    if report.exported > 0 {
                        inner.delivered();
                    }
                    // `pending`: what it still holds after its latest call (earlier leftovers
                    // included).
                    total.then(&report);
                }
                (i, total)
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((i, r)) => {
                    if let Some(slot) = totals.get_mut(i) {
                        slot.get_or_insert_with(ExportReport::default).then(&r);
                    }
                }
                Err(e) => tracing::error!(error = %e, "exporter task failed"),
            }
        }
    }
}

/// One export call's data.
type Call = Arc<Vec<ResourceSpans>>;

impl Inner {
    fn new(
        limits: BufferLimits,
        exporters: Vec<Exporter>,
        receivers: Vec<String>,
        routes: impl FnOnce(usize) -> Vec<RouteIx>,
    ) -> Self {
        let routes = routes(exporters.len());
        Inner {
            limits,
            buffer: Mutex::new(Buffer::default()),
            exporters: exporters.into_iter().map(Arc::new).collect(),
            routes,
            receivers,
            flush_lock: tokio::sync::Mutex::new(()),
            total_drops: Mutex::new(Drops::default()),
            total_exported: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            total_refused: AtomicU64::new(0),
            refusing: AtomicBool::new(false),
            pressure: tokio::sync::Notify::new(),
            progress_ms: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Whether deliveries succeed: an export call delivered something within
    /// [`DRAINING_WINDOW_MS`], or the first flush started that recently and has not delivered
    /// yet (a burst at the start of the first invocation fills the buffer while the first
    /// delivery is on its way: that is not an outage). Then the buffer is being drained — a
    /// flush is running, or the pressure mark ([`Pipeline::pressure`]) starts one at once — so
    /// data refused now is taken moments later when the client retries: refusing loses
    /// nothing, where dropping would.
    fn draining(&self) -> bool {
        let last = self.progress_ms.load(Ordering::Relaxed);
        last > 0 && self.now_ms().saturating_sub(last) <= DRAINING_WINDOW_MS
    }

    /// Notes a delivery now.
    fn delivered(&self) {
        self.progress_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Notes that a flush starts: the first one opens the window for the first delivery.
    fn flush_started(&self) {
        let _ = self.progress_ms.compare_exchange(
            0,
            self.now_ms(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Milliseconds since `started`, at least 1 (0 means "never" in `progress_ms`).
    fn now_ms(&self) -> u64 {
        (self.started.elapsed().as_millis() as u64).max(1)
    }

    /// Routes drained entries: per exporter (by index), the export calls it gets. Each route
    /// takes the entries its receivers pushed; the last route to use an entry moves it, earlier
    /// ones copy it (with one pipeline and no processors nothing is copied).
    fn route(&self, entries: Vec<Entry>) -> Vec<Vec<Call>> {
        let mut calls: Vec<Vec<Call>> = vec![Vec::new(); self.exporters.len()];
        if entries.is_empty() {
            return calls;
        }
        let mut users: Vec<usize> = entries
            .iter()
            .map(|e| self.routes.iter().filter(|r| r.accepts(e.source)).count())
            .collect();
        let sources: Vec<Source> = entries.iter().map(|e| e.source).collect();
        let mut slots: Vec<Option<ResourceSpans>> =
            entries.into_iter().map(|e| Some(e.batch)).collect();
        for route in &self.routes {
            let mut data = Vec::new();
            for (k, slot) in slots.iter_mut().enumerate() {
                if !route.accepts(sources[k]) {
                    continue;
                }
                users[k] -= 1;
                let item = if users[k] == 0 {
                    slot.take()
                } else {
                    slot.clone()
                };
                data.extend(item);
            }
            if data.is_empty() {
                continue;
            }
            route.chain.apply(&mut data);
            let chunks: Vec<Call> = match route.chain.max_batch() {
                Some(max) => split(data, max).into_iter().map(Arc::new).collect(),
                None => vec![Arc::new(data)],
            };
            for &e in &route.exporters {
                calls[e].extend(chunks.iter().cloned());
            }
        }
        calls
    }
}

#[cfg(test)]
mod tests;
