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

/// What a delivery loop does next: see [`Calls::wait`].
pub(crate) enum Step<T> {
    /// End the flush: nothing is left, the deadline has passed, or the backoff outlasts it.
    Stop,
    /// A backoff ended (or the calls waited for are gone): start calls again.
    Again,
    /// A call ended: book it, then start calls again.
    Joined(Result<T, tokio::task::JoinError>),
}

/// The calls of a delivery loop (the X-Ray client and the OTLP exporters): the call tasks in
/// flight, each tagged with the flush ("generation") that started it, and how many of them the
/// current flush started. A regular flush waits only for its own calls, so a call left hanging
/// by an earlier flush never holds a later one; the final flush waits for every call in flight.
/// Calls keep running between flushes.
pub(crate) struct Calls<T> {
    in_flight: tokio::task::JoinSet<(u64, T)>,
    /// Which flush this is.
    generation: u64,
    /// Calls of the current generation still in flight.
    current: usize,
    /// No call starts before this (a backoff after a retryable failure).
    pub(crate) not_before: Option<Instant>,
}

impl<T> Default for Calls<T> {
    fn default() -> Self {
        Self {
            in_flight: tokio::task::JoinSet::new(),
            generation: 0,
            current: 0,
            not_before: None,
        }
    }
}

impl<T: Send + 'static> Calls<T> {
    /// A new flush begins: calls started from now on are its own.
    pub(crate) fn start_flush(&mut self) {
        self.generation += 1;
        self.current = 0;
    }

    /// Calls in flight, whichever flush started them.
    pub(crate) fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether a backoff holds new calls back at `now`.
    pub(crate) fn backing_off(&self, now: Instant) -> bool {
        self.not_before.is_some_and(|t| t > now)
    }

    /// Whether no call is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Starts `call` on behalf of the current flush.
    pub(crate) fn spawn(&mut self, call: impl std::future::Future<Output = T> + Send + 'static) {
        self.current += 1;
        let generation = self.generation;
        self.in_flight
            .spawn(async move { (generation, call.await) });
    }

    /// A call that has already ended, if any (calls of earlier flushes that finished meanwhile,
    /// e.g. during a freeze).
    pub(crate) fn try_join_next(&mut self) -> Option<Result<T, tokio::task::JoinError>> {
        let joined = self.in_flight.try_join_next()?;
        Some(self.book(joined))
    }

    /// Cancels every call in flight (the end of the final flush).
    pub(crate) fn abort_all(&mut self) {
        self.in_flight.abort_all();
    }

    /// Counts a call of the current flush as ended, and unwraps its outcome.
    fn book(
        &mut self,
        joined: Result<(u64, T), tokio::task::JoinError>,
    ) -> Result<T, tokio::task::JoinError> {
        joined.map(|(generation, outcome)| {
            if generation == self.generation {
                self.current = self.current.saturating_sub(1);
            }
            outcome
        })
    }

    /// The wait of a delivery loop once it has started every call it may: for a call of this
    /// flush to end (every call in flight, on the final flush), never past `deadline`.
    ///
    /// With none of those calls in flight but data pending, only two things can hold the data
    /// back: a backoff ([`Calls::not_before`]) or call slots held by earlier flushes' calls; it waits
    /// for whichever ends first. It stops at once when `now` is past the deadline: a freeze can
    /// carry the process past it in the middle of a backoff, and looping there would spin while
    /// holding the flush lock. If the calls it waits for vanish without an outcome (a call task
    /// panicked, never expected), it stops counting them and says [`Step::Again`].
    pub(crate) async fn wait(
        &mut self,
        mode: FlushMode,
        pending_empty: bool,
        now: Instant,
        deadline: Instant,
    ) -> Step<T> {
        let waiting = match mode {
            FlushMode::Regular => self.current,
            FlushMode::Final => self.in_flight.len(),
        };
        if waiting > 0 {
            let joined = tokio::select! {
                j = self.in_flight.join_next() => j,
                _ = tokio::time::sleep_until(deadline.into()) => return Step::Stop,
            };
            return match joined {
                Some(j) => Step::Joined(self.book(j)),
                None => {
                    self.current = 0;
                    Step::Again
                }
            };
        }
        if pending_empty || now >= deadline {
            return Step::Stop;
        }
        match self.not_before.filter(|t| *t > now) {
            // Backing off past the deadline: the rest waits for the next flush.
            Some(until) if until >= deadline => Step::Stop,
            Some(until) => {
                tokio::time::sleep_until(until.into()).await;
                Step::Again
            }
            None if self.in_flight.is_empty() => Step::Stop,
            None => {
                let joined = tokio::select! {
                    j = self.in_flight.join_next() => j,
                    _ = tokio::time::sleep_until(deadline.into()) => return Step::Stop,
                };
                match joined {
                    Some(j) => Step::Joined(self.book(j)),
                    None => Step::Again,
                }
            }
        }
    }
}
