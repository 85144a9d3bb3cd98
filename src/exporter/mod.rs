//! Exporters: where a flush sends the buffered spans.
//!
//! Every exporter takes the same input (`&[ResourceSpans]`) and a deadline, and reports what it
//! delivered and what it dropped, by reason, in an [`ExportReport`]. An exporter never returns
//! an error: per-span and per-call failures are counted, so one bad span or one failing backend
//! never costs the rest of the batch (STYLE: per-span errors are values).

pub mod awsxray;
pub mod debug;
pub mod otlp;
pub mod otlp_tls;

use std::fmt;
use std::time::Instant;

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

/// Drops counted by reason. Reason names are the ones logged and documented in README
/// (`queue_full`, `too_large`, `rejected`, `deadline`, `invalid_span`, `retries_exhausted`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// A buffer or sending queue was full; the oldest data was dropped.
    pub queue_full: u64,
    /// A document stayed over the size budget after trimming (R-SIZE-1).
    pub too_large: u64,
    /// The backend refused the data: X-Ray (`UnprocessedTraceSegments` with a content error,
    /// or 4xx), an OTLP endpoint (HTTP 400 and other non-retryable statuses, gRPC
    /// `INVALID_ARGUMENT` and other non-retryable codes, or spans a partial success rejected).
    pub rejected: u64,
    /// The flush deadline passed before the data could be delivered (final flush, or an OTLP
    /// exporter with `sending_queue.enabled: false`).
    pub deadline: u64,
    /// The span could not be translated (bad ids, invalid trace id).
    pub invalid_span: u64,
    /// An OTLP exporter gave up retrying: `retry_on_failure.max_elapsed_time` passed, or
    /// retries are disabled.
    pub retries_exhausted: u64,
}

impl Drops {
    /// Sum of every reason.
    pub fn total(&self) -> u64 {
        self.queue_full
            + self.too_large
            + self.rejected
            + self.deadline
            + self.invalid_span
            + self.retries_exhausted
    }

    /// Adds `other` to `self`, reason by reason.
    pub fn add(&mut self, other: &Drops) {
        self.queue_full += other.queue_full;
        self.too_large += other.too_large;
        self.rejected += other.rejected;
        self.deadline += other.deadline;
        self.invalid_span += other.invalid_span;
        self.retries_exhausted += other.retries_exhausted;
    }
}

impl fmt::Display for Drops {
    /// `queue_full=0 too_large=0 rejected=0 deadline=0 invalid_span=0 retries_exhausted=0`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "queue_full={} too_large={} rejected={} deadline={} invalid_span={} \
             retries_exhausted={}",
            self.queue_full,
            self.too_large,
            self.rejected,
            self.deadline,
            self.invalid_span,
            self.retries_exhausted
        )
    }
}

/// What one export call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Items delivered (documents for `awsxray`, spans for `otlp`, `otlphttp` and `debug`).
    pub exported: u64,
    /// Calls repeated after a retryable failure.
    pub retries: u64,
    /// Items given up, by reason.
    pub dropped: Drops,
    /// Items still waiting for delivery after this export (queued or in flight), carried to
    /// the next flush.
    pub pending: u64,
}

impl ExportReport {
    /// Adds a later call's report to this one (several calls of one flush): counts add up,
    /// `pending` is what the exporter holds after the later call.
    pub fn then(&mut self, later: &ExportReport) {
        self.exported += later.exported;
        self.retries += later.retries;
        self.dropped.add(&later.dropped);
        self.pending = later.pending;
    }
}

/// Whether a flush is the last one of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// After an invocation or on a timer: what cannot be delivered before the deadline waits
    /// for the next flush.
    Regular,
    /// At SHUTDOWN: what cannot be delivered before the deadline is dropped and counted.
    Final,
}

/// One configured exporter. An enum rather than a trait object: the set is closed and small,
/// and `async fn` stays simple. (Each lives behind an `Arc` in the pipeline, so the size
/// difference between variants costs nothing.)
#[allow(clippy::large_enum_variant)]
pub enum Exporter {
    /// `awsxray`: segment documents to `PutTraceSegments`.
    AwsXray(awsxray::AwsXrayExporter),
    /// `otlp` (gRPC) or `otlphttp`: spans to another OTLP endpoint.
    Otlp(otlp::OtlpExporter),
    /// `debug` (old name `logging`): prints to stdout.
    Debug(debug::DebugExporter),
}

impl Exporter {
    /// The component id from the config (`awsxray`, `debug/2`, …).
    pub fn name(&self) -> &str {
        match self {
            Exporter::AwsXray(e) => e.name(),
            Exporter::Otlp(e) => e.name(),
            Exporter::Debug(e) => e.name(),
        }
    }

    /// Starts any slow set-up (credentials, TLS) in the background, off the init critical path.
    pub fn warm_up(&self) {
        if let Exporter::AwsXray(e) = self {
            e.warm_up();
        }
    }

    /// Tells the exporter the Lambda function segment id of an invocation (see
    /// [`awsxray::AwsXrayExporter::note_lambda_segment`]).
    pub fn note_lambda_segment(&self, id: [u8; 8]) {
        if let Exporter::AwsXray(e) = self {
            e.note_lambda_segment(id);
        }
    }

    /// Exports `batch` (possibly empty: earlier undelivered data is retried too), returning
    /// at `deadline` at the latest.
    pub async fn export(
        &self,
        batch: &[ResourceSpans],
        deadline: Instant,
        mode: FlushMode,
    ) -> ExportReport {
        match self {
            Exporter::AwsXray(e) => e.export(batch, deadline, mode).await,
            Exporter::Otlp(e) => e.export(batch, deadline, mode).await,
            Exporter::Debug(e) => e.export(batch),
        }
    }
}

/// What a delivery loop does next: see [`wait_step`].
pub(crate) enum Step<T> {
    /// End the flush: nothing is left, the deadline has passed, or the backoff outlasts it.
    Stop,
    /// A backoff ended (or the call set emptied): start calls again.
    Again,
    /// A call ended: book it, then start calls again.
    Joined(Result<T, tokio::task::JoinError>),
    /// The calls this flush waited for are gone without an outcome (a call task panicked,
    /// never expected): stop counting them, then start calls again.
    Vanished,
}

/// The wait of the delivery loops shared by the X-Ray client and the OTLP exporters, once they
/// have started every call they may. A regular flush waits for the `current_calls` it started
/// itself (a call left hanging by an earlier flush never holds a later one); the final flush
/// waits for every call in flight. Never past `deadline`.
///
/// With none of those calls in flight but data pending, only two things can hold the data
/// back: a backoff (`not_before`) or call slots held by earlier flushes' calls; it waits for
/// whichever ends first. It stops at once when `now` is past the deadline: a freeze can carry
/// the process past it in the middle of a backoff, and looping there would spin while holding
/// the flush lock.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn wait_step<T: 'static>(
    mode: FlushMode,
    current_calls: usize,
    pending_empty: bool,
    not_before: Option<Instant>,
    in_flight: &mut tokio::task::JoinSet<T>,
    now: Instant,
    deadline: Instant,
) -> Step<T> {
    let waiting = match mode {
        FlushMode::Regular => current_calls,
        FlushMode::Final => in_flight.len(),
    };
    if waiting > 0 {
        return tokio::select! {
            j = in_flight.join_next() => j.map_or(Step::Vanished, Step::Joined),
            _ = tokio::time::sleep_until(deadline.into()) => Step::Stop,
        };
    }
    if pending_empty || now >= deadline {
        return Step::Stop;
    }
    match not_before.filter(|t| *t > now) {
        // Backing off past the deadline: the rest waits for the next flush.
        Some(until) if until >= deadline => Step::Stop,
        Some(until) => {
            tokio::time::sleep_until(until.into()).await;
            Step::Again
        }
        None if in_flight.is_empty() => Step::Stop,
        None => tokio::select! {
            j = in_flight.join_next() => j.map_or(Step::Again, Step::Joined),
            _ = tokio::time::sleep_until(deadline.into()) => Step::Stop,
        },
    }
}
