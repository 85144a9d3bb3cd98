//! The conductor: the Extensions API event loop (`docs/lambda-extensions-api.md` §1, §3).
//!
//! States: `Idle` (waiting on `/event/next`, sandbox possibly frozen) → on INVOKE `Running`
//! (waiting for `platform.runtimeDone` of that request, bounded by the event's deadline) →
//! `Flushing` (pipeline flush bounded by [`INVOKE_FLUSH_BUDGET`] and the deadline) → `Idle`.
//! On SHUTDOWN: `Draining` (flush bounded by the SHUTDOWN deadline minus
//! [`SHUTDOWN_MARGIN`]) → exit. `/next` is never called while an export is in flight: that is
//! what loses spans at freeze in the Go collector (§3).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::events::Event;
use super::extensions_api::{ApiError, ExtensionsApi};
use super::telemetry_api::RuntimeDoneTracker;
use crate::pipeline::{FlushReport, Pipeline};

/// Work for an INVOKE (runtimeDone wait + flush) ends this long before the event's
/// `deadlineMs`, so the function is never timed out because of us.
pub const INVOKE_MARGIN: Duration = Duration::from_millis(50);
/// Longest flush after an invocation: a slow or down X-Ray must not bill the function for
/// seconds. What is not delivered in time is counted as dropped (`deadline`).
pub const INVOKE_FLUSH_BUDGET: Duration = Duration::from_millis(1_500);
/// The SHUTDOWN drain ends this long before the event's `deadlineMs` (Lambda sends SIGKILL at
/// the deadline, 2,000 ms after SHUTDOWN with external extensions), leaving time to exit.
pub const SHUTDOWN_MARGIN: Duration = Duration::from_millis(250);

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

/// The lifecycle of one extension process.
pub struct Lifecycle {
    api: ExtensionsApi,
    pipeline: Pipeline,
    runtime_done: Option<RuntimeDoneTracker>,
    invocations: u64,
}

impl Lifecycle {
    /// `runtime_done` is `None` when the Telemetry API subscription was refused: then each
    /// INVOKE flushes what the previous invocations left, and SHUTDOWN flushes the rest.
    pub fn new(
        api: ExtensionsApi,
        pipeline: Pipeline,
        runtime_done: Option<RuntimeDoneTracker>,
    ) -> Self {
        Self {
            api,
            pipeline,
            runtime_done,
            invocations: 0,
        }
    }

    /// Runs until SHUTDOWN (returns `Ok`) or until the Extensions API fails.
    pub async fn run(mut self) -> Result<(), LifecycleError> {
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
                    if let Some(tracker) = &self.runtime_done {
                        if !tracker.wait(&invoke.request_id, deadline).await {
                            tracing::warn!(request_id = %invoke.request_id, "no platform.runtimeDone before the deadline; flushing anyway");
                        }
                    }
                    let flush_deadline = deadline.min(Instant::now() + INVOKE_FLUSH_BUDGET);
                    let report = self.pipeline.flush(flush_deadline).await;
                    log_flush("invoke", &invoke.request_id, &report);
                }
                Event::Shutdown(shutdown) => {
                    let deadline = deadline_instant(
                        shutdown.deadline_ms,
                        now_unix_ms(),
                        Instant::now(),
                        SHUTDOWN_MARGIN,
                    );
                    let report = self.pipeline.flush(deadline).await;
                    log_flush("shutdown", &shutdown.shutdown_reason, &report);
                    tracing::info!(
                        reason = %shutdown.shutdown_reason,
                        invocations = self.invocations,
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
}

fn log_flush(phase: &str, id: &str, report: &FlushReport) {
    let drops = report.drops();
    let exported: u64 = report.exporters.iter().map(|(_, r)| r.exported).sum();
    let retries: u64 = report.exporters.iter().map(|(_, r)| r.retries).sum();
    if drops.total() > 0 {
        tracing::warn!(phase, id, spans = report.spans, exported, retries, %drops, "flush dropped data");
    } else if report.spans > 0 {
        tracing::debug!(
            phase,
            id,
            spans = report.spans,
            exported,
            retries,
            "flushed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
