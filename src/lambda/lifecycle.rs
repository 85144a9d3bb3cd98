//! The conductor: the Extensions API event loop (`docs/lambda-extensions-api.md` §1, §3).
//!
//! States: `Idle` (waiting on `/event/next`, sandbox possibly frozen) → on INVOKE `Running`
//! (waiting for `platform.runtimeDone` of that request, never past the event's deadline minus
//! [`INVOKE_MARGIN`]) → `Flushing` (according to the [flush strategy](super::flush), bounded
//! by `flush_timeout` and the same deadline) → `Idle`. On SHUTDOWN: `Draining` (a final flush
//! bounded by the SHUTDOWN deadline minus [`SHUTDOWN_MARGIN`]) → exit.
//!
//! With the `end` strategy `/next` is never called while an export is in flight: that is what
//! loses spans at freeze in the Go collector (§3). With the others a flush may be frozen
//! midway; it resumes on thaw (calls in flight are never abandoned, see
//! `exporter::awsxray::client`) and is re-driven at the next INVOKE.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::events::Event;
use super::extensions_api::{ApiError, ExtensionsApi};
use super::flush::{FlushState, FlushStrategy, Plan};
use super::telemetry_api::RuntimeDoneTracker;
use crate::exporter::FlushMode;
use crate::pipeline::{FlushReport, Pipeline};

/// Work for an INVOKE (runtimeDone wait + flush) ends this long before the event's
/// `deadlineMs`, so the function is never timed out because of us.
pub const INVOKE_MARGIN: Duration = Duration::from_millis(50);
/// Default longest flush after an invocation (`extensions.lambda.flush_timeout`): a slow or
/// down X-Ray must not bill the function for seconds. What is not delivered in time waits for
/// the next flush.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_millis(1_000);
/// The SHUTDOWN drain ends this long before the event's `deadlineMs` (Lambda sends SIGKILL at
/// the deadline, 2,000 ms after SHUTDOWN with external extensions), leaving time to exit.
pub const SHUTDOWN_MARGIN: Duration = Duration::from_millis(300);
/// A background flush works in slices this long, so a SHUTDOWN never waits longer than one
/// slice for it to let go of the pipeline.
pub const BACKGROUND_SLICE: Duration = Duration::from_millis(200);
/// Flush interval for Lambda Managed Instances (no INVOKE events) when no `periodic`
/// strategy is configured.
pub const MANAGED_INSTANCES_INTERVAL: Duration = Duration::from_secs(1);

/// Converts a Unix-epoch-milliseconds deadline into an [`Instant`], `margin` earlier, given the
/// wall clock and monotonic clock read at the same moment. Past deadlines give `now_instant`.
pub fn deadline_instant(
    deadline_ms: u64,
    now_unix_ms: u64,
    now_instant: Instant,
    margin: Duration,
) -> Instant {
    let remaining = Duration::from_millis(deadline_ms.saturating_sub(now_unix_ms));
    now_instant + remaining.saturating_sub(margin)
}

/// The `Parent=` of an `X-Amzn-Trace-Id` header (`Root=1-…;Parent=53995c3f42cd8ad8;Sampled=1`,
/// keys case-insensitive, any order): the id of Lambda's function segment for the invocation.
pub fn parent_segment_id(header: &str) -> Option<[u8; 8]> {
    let value = header.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case("parent").then_some(v.trim())
    })?;
    if value.len() != 16 {
        return None;
    }
    let mut id = [0u8; 8];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(value.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why the loop ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// `/event/next` failed: Lambda wants us gone (500) or the API is unreachable.
    #[error("{0}")]
    Api(#[from] ApiError),
}

/// How the lifecycle flushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleSettings {
    /// The flush strategy.
    pub strategy: FlushStrategy,
    /// Longest flush after an invocation.
    pub flush_timeout: Duration,
    /// Lambda Managed Instances: no INVOKE events; flush on a timer.
    pub managed_instances: bool,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            strategy: FlushStrategy::Adaptive,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            managed_instances: false,
        }
    }
}

/// The lifecycle of one extension process.
pub struct Lifecycle {
    api: ExtensionsApi,
    pipeline: Pipeline,
    runtime_done: Option<RuntimeDoneTracker>,
    settings: LifecycleSettings,
    flush: FlushState,
    invocations: u64,
    stopping: Arc<AtomicBool>,
}

impl Lifecycle {
    /// `runtime_done` is `None` when the Telemetry API subscription was refused: then each
    /// INVOKE flushes what the previous invocations left, and SHUTDOWN flushes the rest.
    pub fn new(
        api: ExtensionsApi,
        pipeline: Pipeline,
        runtime_done: Option<RuntimeDoneTracker>,
        settings: LifecycleSettings,
    ) -> Self {
        Self {
            api,
            pipeline,
            runtime_done,
            flush: FlushState::new(settings.strategy),
            settings,
            invocations: 0,
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Runs until SHUTDOWN (returns `Ok`) or until the Extensions API fails.
    pub async fn run(mut self) -> Result<(), LifecycleError> {
        if self.settings.managed_instances {
            self.start_ticker();
        }
        self.start_pressure_flusher();
        loop {
            let event = self.api.next_event().await?;
            match event {
                Event::Invoke(invoke) => {
                    let received = Instant::now();
                    let deadline = deadline_instant(
                        invoke.deadline_ms,
                        now_unix_ms(),
                        received,
                        INVOKE_MARGIN,
                    );
                    if self.invocations == 0 {
                        // Off the init critical path: the function runs now, we have time.
                        for e in self.pipeline.exporters() {
                            e.warm_up();
                        }
                    }
                    self.invocations += 1;
                    if let Some(id) = invoke
                        .tracing
                        .as_ref()
                        .and_then(|t| parent_segment_id(&t.value))
                    {
                        for e in self.pipeline.exporters() {
                            e.note_lambda_segment(id);
                        }
                    }
                    let plan = self.flush.on_invoke(received);
                    self.serve_invoke(plan, &invoke.request_id, deadline).await;
                }
                Event::Shutdown(shutdown) => {
                    self.stopping.store(true, Ordering::Relaxed);
                    let deadline = deadline_instant(
                        shutdown.deadline_ms,
                        now_unix_ms(),
                        Instant::now(),
                        SHUTDOWN_MARGIN,
                    );
                    let report = self.pipeline.flush(deadline, FlushMode::Final).await;
                    log_flush("shutdown", &shutdown.shutdown_reason, &report);
                    let drops = self.pipeline.total_drops();
                    tracing::info!(
                        reason = %shutdown.shutdown_reason,
                        invocations = self.invocations,
                        exported = self.pipeline.total_exported(),
                        dropped = drops.total(),
                        %drops,
                        "shutdown"
                    );
                    return Ok(());
                }
                Event::Other(kind) => {
                    tracing::debug!(%kind, "ignoring unknown event type");
                }
            }
        }
    }

    async fn serve_invoke(&mut self, plan: Plan, request_id: &str, deadline: Instant) {
        match plan {
            Plan::End => {
                self.wait_runtime_done(request_id, deadline).await;
                let now = Instant::now();
                self.flush.on_flush(now);
                let flush_deadline = deadline.min(now + self.settings.flush_timeout);
                let report = self
                    .pipeline
                    .flush(flush_deadline, FlushMode::Regular)
                    .await;
                log_flush("invoke", request_id, &report);
            }
            Plan::Continuous => {
                // Re-drive what an earlier flush left when the freeze cut it.
                if self.pipeline.has_undelivered() {
                    self.background_flush(Instant::now() + self.settings.flush_timeout);
                }
                self.wait_runtime_done(request_id, deadline).await;
                let now = Instant::now();
                self.flush.on_flush(now);
                self.background_flush(now + self.settings.flush_timeout);
            }
            Plan::Periodic {
                flush_now,
                interval,
            } => {
                let now = Instant::now();
                if flush_now {
                    self.flush.on_flush(now);
                    self.background_flush(now + self.settings.flush_timeout);
                }
                // The backup timer: a long invocation gets a flush every `interval`; once
                // runtimeDone is seen (or after a freeze, when the timer fires late) it stops.
                let pipeline = self.pipeline.clone();
                let tracker = self.runtime_done.clone();
                let stopping = Arc::clone(&self.stopping);
                let request = request_id.to_string();
                let timeout = self.settings.flush_timeout;
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(interval).await;
                        let done = tracker.as_ref().is_none_or(|t| t.is_done(&request));
                        if done || stopping.load(Ordering::Relaxed) {
                            return;
                        }
                        sliced_flush(&pipeline, Instant::now() + timeout, &stopping).await;
                    }
                });
            }
        }
    }

    async fn wait_runtime_done(&self, request_id: &str, deadline: Instant) {
        if let Some(tracker) = &self.runtime_done {
            if !tracker.wait(request_id, deadline).await {
                tracing::warn!(
                    request_id,
                    "no platform.runtimeDone before the deadline; flushing anyway"
                );
            }
        }
    }

    /// Starts a flush that runs beside the event loop until `window_end`, in slices.
    fn background_flush(&self, window_end: Instant) {
        let pipeline = self.pipeline.clone();
        let stopping = Arc::clone(&self.stopping);
        tokio::spawn(async move { sliced_flush(&pipeline, window_end, &stopping).await });
    }

    /// Flushes whenever the buffer is a quarter full ([`Pipeline::pressure`]), whatever the
    /// strategy: spans that would overflow the buffer are better sent early than dropped. It
    /// only ever runs while the sandbox runs (something is pushing spans), and the flush lock
    /// keeps it from racing the strategy's own flushes.
    fn start_pressure_flusher(&self) {
        let pipeline = self.pipeline.clone();
        let stopping = Arc::clone(&self.stopping);
        let timeout = self.settings.flush_timeout;
        tokio::spawn(async move {
            loop {
                pipeline.pressure().await;
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                sliced_flush(&pipeline, Instant::now() + timeout, &stopping).await;
            }
        });
    }

    /// Lambda Managed Instances: flush every interval for the life of the process.
    fn start_ticker(&self) {
        let interval = match self.settings.strategy {
            FlushStrategy::Periodic(d) => d,
            _ => MANAGED_INSTANCES_INTERVAL,
        };
        let pipeline = self.pipeline.clone();
        let stopping = Arc::clone(&self.stopping);
        let timeout = self.settings.flush_timeout;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                if pipeline.has_undelivered() {
                    sliced_flush(&pipeline, Instant::now() + timeout, &stopping).await;
                }
            }
        });
    }
}

/// Flushes in [`BACKGROUND_SLICE`]s until nothing is left, `window_end` passes, or SHUTDOWN
/// has begun (the final flush takes over).
async fn sliced_flush(pipeline: &Pipeline, window_end: Instant, stopping: &AtomicBool) {
    loop {
        let now = Instant::now();
        let deadline = window_end.min(now + BACKGROUND_SLICE);
        let report = pipeline.flush(deadline, FlushMode::Regular).await;
        log_flush("background", "", &report);
        // Nothing left anywhere: neither in the exporters nor in the buffer (a flush leaves
        // what its rounds did not reach there).
        if !pipeline.has_undelivered()
            || Instant::now() >= window_end
            || stopping.load(Ordering::Relaxed)
        {
            return;
        }
        // An exporter backing off returns early with data pending: flushing again at once
        // would spin on the CPU until the window ends. Wait out the slice instead.
        if report.exported() == 0 && report.drops().total() == 0 {
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

fn log_flush(phase: &str, id: &str, report: &FlushReport) {
    let drops = report.drops();
    let exported = report.exported();
    let retries: u64 = report.exporters.iter().map(|(_, r)| r.retries).sum();
    let pending = report.pending();
    if drops.total() > 0 {
        tracing::warn!(phase, id, spans = report.spans, exported, retries, pending, dropped = drops.total(), %drops, "flush dropped data");
    } else if report.spans > 0 || exported > 0 || pending > 0 {
        tracing::debug!(
            phase,
            id,
            spans = report.spans,
            exported,
            retries,
            pending,
            "flushed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_segment_id_from_trace_header() {
        assert_eq!(
            parent_segment_id(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
            ),
            Some([0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8])
        );
        assert_eq!(
            parent_segment_id("root=1-a-b; parent=0000000000000001 ;Lineage=x:1"),
            Some([0, 0, 0, 0, 0, 0, 0, 1])
        );
        for bad in [
            "Root=1-a-b",
            "Parent=123",
            "Parent=zz995c3f42cd8ad8",
            "Parent=€€€€€€€€",
            "",
        ] {
            assert_eq!(parent_segment_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn deadline_conversion_applies_margin_and_clamps() {
        let now = Instant::now();
        let d = deadline_instant(10_000, 7_000, now, Duration::from_millis(50));
        assert_eq!(d - now, Duration::from_millis(2_950));
        // already past: no time left, never before `now`
        assert_eq!(
            deadline_instant(5_000, 7_000, now, Duration::from_millis(50)),
            now
        );
        // margin larger than what remains
        assert_eq!(
            deadline_instant(7_010, 7_000, now, Duration::from_millis(50)),
            now
        );
    }
}
