//! Delivery of segment documents (`docs/xray-mapping.md` §17): `PutTraceSegments` over HTTPS
//! (§17.1), or datagrams to an X-Ray daemon (§17.2).
//!
//! Delivery survives slow or failing endpoints and Lambda's freezes:
//! - Documents wait in a bounded **pending queue** until delivered; what a flush cannot deliver
//!   before its deadline stays queued for the next flush (counted as dropped only at the final,
//!   SHUTDOWN flush, reason `deadline`). When the queue is full the oldest documents go first
//!   (`queue_full`), as in the X-Ray daemon's ring buffer.
//! - A call still in flight at a flush deadline is **not abandoned**: it keeps running (frozen
//!   with the sandbox, resumed on thaw) and its outcome is collected by the next flush. So a
//!   slow answer never causes a second copy of the same documents.
//! - At most [`MAX_DOCUMENTS_PER_CALL`] documents per call (R-API-2), at most `num_workers`
//!   calls at once.
//! - Every retry is ours, with exponential backoff and full jitter, and never past the flush
//!   deadline (an SDK's standard retry does not know Lambda's deadlines). Retried: HTTP 429 and 5xx, `ThrottledException`, timeouts,
//!   connection and DNS failures, and `UnprocessedTraceSegments` entries whose error code is
//!   not a content error (R-API-3/4). Never retried: other 4xx and content errors
//!   (`rejected`).
//! - The client ([`XrayApi`]: credential chain, rustls with ring, region and endpoint
//!   resolution) is built lazily, in the background after init, so it costs the cold start
//!   nothing.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::{Mutex, OnceCell};

use super::api::{PutOutcome, XrayApi};
use crate::exporter::{Calls, ExportReport, FlushMode, Step};

/// R-API-2: the reference exporter and the X-Ray daemon both send at most 50 documents per call.
pub const MAX_DOCUMENTS_PER_CALL: usize = 50;
/// First backoff delay after a retryable failure; doubles per attempt up to [`BACKOFF_MAX`].
pub const BACKOFF_BASE: Duration = Duration::from_millis(10);
/// Longest backoff delay between two attempts.
pub const BACKOFF_MAX: Duration = Duration::from_millis(250);
/// R-UDP-1: the daemon's datagram header (one line, then one document).
pub const DAEMON_HEADER: &str = "{\"format\":\"json\",\"version\":1}\n";
/// R-UDP-3: the largest datagram the daemon reads (its 64 KiB receive buffer) and IPv4 allows.
pub const MAX_DATAGRAM_BYTES: usize = 65_507;

/// `UnprocessedTraceSegments` error codes that describe the document itself: retrying cannot
/// help (R-API-3).
const CONTENT_ERROR_CODES: &[&str] = &["InvalidTraceId", "MissingId", "InvalidSegment"];

/// Where and how to reach X-Ray.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XraySettings {
    /// Region; `None` = `AWS_REGION` / `AWS_DEFAULT_REGION` / the profile, via `aws-config`.
    pub region: Option<String>,
    /// Endpoint URL override; `None` = `AWS_ENDPOINT_URL_XRAY`, `AWS_ENDPOINT_URL`, else the
    /// regional endpoint ([`super::api::resolve_endpoint`]).
    pub endpoint: Option<String>,
    /// Send to an X-Ray daemon over UDP at this address instead of `PutTraceSegments`
    /// (R-UDP-2).
    pub daemon_address: Option<SocketAddr>,
    /// Most `PutTraceSegments` calls in flight at once (`num_workers`, default 8).
    pub max_concurrent_calls: usize,
    /// Longest one call may take, across freezes (`request_timeout_seconds`, default 30 s).
    pub request_timeout: Duration,
    /// Most bytes of documents waiting for delivery; the oldest are dropped beyond it.
    pub max_pending_bytes: usize,
}

impl Default for XraySettings {
    fn default() -> Self {
        Self {
            region: None,
            endpoint: None,
            daemon_address: None,
            max_concurrent_calls: 8,
            request_timeout: Duration::from_secs(30),
            max_pending_bytes: 8 * 1024 * 1024,
        }
    }
}

/// The outcome of one call, with the documents it carried.
struct Call {
    docs: Vec<String>,
    outcome: CallOutcome,
}

struct Unprocessed {
    id: Option<String>,
    code: String,
    message: String,
    retryable: bool,
}

enum CallOutcome {
    Done { unprocessed: Vec<Unprocessed> },
    Retryable(String),
    Permanent(String),
}

/// Documents not yet delivered and calls not yet answered. Owned by whichever flush holds the
/// lock; calls keep running between flushes.
#[derive(Default)]
struct State {
    pending: VecDeque<String>,
    pending_bytes: usize,
    calls: Calls<Call>,
    in_flight_docs: usize,
    attempt: u32,
}

/// A lazily built X-Ray client with its delivery state.
pub struct XrayClient {
    settings: XraySettings,
    client: Arc<OnceCell<Arc<XrayApi>>>,
    udp: OnceCell<Option<tokio::net::UdpSocket>>,
    state: Mutex<State>,
}

impl XrayClient {
    /// A client that builds itself on [`XrayClient::warm_up`] or first use.
    pub fn new(settings: XraySettings) -> Self {
        Self {
            settings,
            client: Arc::new(OnceCell::new()),
            udp: OnceCell::new(),
            state: Mutex::new(State::default()),
        }
    }

    /// Spawns the client's construction on the current runtime (no-op if already built or
    /// when sending to a daemon).
    pub fn warm_up(&self) {
        if self.settings.daemon_address.is_some() {
            return;
        }
        let cell = Arc::clone(&self.client);
        let settings = self.settings.clone();
        tokio::spawn(async move {
            cell.get_or_init(|| build_client(settings)).await;
        });
    }

    /// The most bytes of documents the pending queue holds ([`XraySettings::max_pending_bytes`]).
    pub fn max_pending_bytes(&self) -> usize {
        self.settings.max_pending_bytes
    }

    /// Documents queued or in flight, not yet delivered.
    pub async fn undelivered(&self) -> usize {
        let s = self.state.lock().await;
        s.pending.len() + s.in_flight_docs
    }

    /// Queues `documents` and delivers everything queued until `deadline`. With
    /// [`FlushMode::Final`] whatever is still undelivered at the deadline is dropped and
    /// counted (`deadline`); otherwise it waits for the next flush.
    pub async fn put_documents(
        &self,
        documents: Vec<String>,
        deadline: Instant,
        mode: FlushMode,
    ) -> ExportReport {
        let mut report = ExportReport::default();
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        state.calls.start_flush();
        // Book calls of earlier flushes that have finished meanwhile (e.g. during a freeze).
        while let Some(joined) = state.calls.try_join_next() {
            self.absorb_joined(state, joined, &mut report);
        }
        for doc in documents {
            state.pending_bytes += doc.len();
            state.pending.push_back(doc);
        }
        while state.pending_bytes > self.settings.max_pending_bytes {
            let Some(old) = state.pending.pop_front() else {
                break;
            };
            state.pending_bytes -= old.len();
            report.dropped.queue_full += 1;
        }
        if let Some(addr) = self.settings.daemon_address {
            self.send_udp(state, addr, &mut report).await;
            return report;
        }
        if state.pending.is_empty() && (mode == FlushMode::Regular || state.calls.is_empty()) {
            finish(state, mode, &mut report);
            return report;
        }
        let client = match tokio::time::timeout_at(deadline.into(), self.client()).await {
            Ok(c) => c,
            Err(_) => {
                tracing::warn!("X-Ray client not ready before the flush deadline");
                finish(state, mode, &mut report);
                return report;
            }
        };
        loop {
            // Start calls while there is room, data, and no backoff in force.
            let now = Instant::now();
            let backing_off = state.calls.backing_off(now);
            while !backing_off
                && now < deadline
                && !state.pending.is_empty()
                && state.calls.len() < self.settings.max_concurrent_calls.max(1)
            {
                let n = state.pending.len().min(MAX_DOCUMENTS_PER_CALL);
                let docs: Vec<String> = state.pending.drain(..n).collect();
                state.pending_bytes -= docs.iter().map(String::len).sum::<usize>();
                state.in_flight_docs += docs.len();
                let client = Arc::clone(client);
                let timeout = self.settings.request_timeout;
                state.calls.spawn(async move {
                    let shared = Arc::new(docs);
                    let outcome = put_once(&client, Arc::clone(&shared), timeout).await;
                    // The signing task has let go of its copy once the call has an outcome.
                    let docs = Arc::try_unwrap(shared).unwrap_or_else(|a| a.as_ref().clone());
                    Call { docs, outcome }
                });
            }
            let step = state
                .calls
                .wait(mode, state.pending.is_empty(), now, deadline)
                .await;
            match step {
                Step::Stop => break,
                Step::Again => {}
                Step::Joined(joined) => self.absorb_joined(state, joined, &mut report),
            }
        }
        finish(state, mode, &mut report);
        report
    }

    async fn client(&self) -> &Arc<XrayApi> {
        self.client
            .get_or_init(|| build_client(self.settings.clone()))
            .await
    }

    fn absorb_joined(
        &self,
        state: &mut State,
        joined: Result<Call, tokio::task::JoinError>,
        report: &mut ExportReport,
    ) {
        match joined {
            Ok(call) => self.absorb(state, call, report),
            // A panicked or cancelled call: its documents are unknown (never expected).
            Err(e) => tracing::error!(error = %e, "PutTraceSegments task failed"),
        }
    }

    /// Books one finished call: delivered, re-queued (retryable) or rejected.
    fn absorb(&self, state: &mut State, call: Call, report: &mut ExportReport) {
        state.in_flight_docs = state.in_flight_docs.saturating_sub(call.docs.len());
        match call.outcome {
            CallOutcome::Done { unprocessed } => {
                let mut retry_ids: Vec<String> = Vec::new();
                let mut rejected_ids: Vec<String> = Vec::new();
                for u in unprocessed {
                    if u.retryable {
                        tracing::debug!(id = ?u.id, code = %u.code, "X-Ray did not process a document; will retry");
                    } else {
                        tracing::warn!(id = ?u.id, code = %u.code, message = %u.message, "X-Ray rejected a segment document");
                    }
                    match (u.id, u.retryable) {
                        (Some(id), true) => retry_ids.push(id),
                        (Some(id), false) => rejected_ids.push(id),
                        // Without an id the document cannot be told apart: count it.
                        (None, _) => report.dropped.rejected += 1,
                    }
                }
                let mut requeue = Vec::new();
                for doc in call.docs {
                    if retry_ids.iter().any(|id| doc_has_id(&doc, id)) {
                        requeue.push(doc);
                    } else if rejected_ids.iter().any(|id| doc_has_id(&doc, id)) {
                        report.dropped.rejected += 1;
                    } else {
                        report.exported += 1;
                    }
                }
                if requeue.is_empty() {
                    state.attempt = 0;
                    state.calls.not_before = None;
                } else {
                    self.requeue(state, requeue, report);
                }
            }
            CallOutcome::Retryable(reason) => {
                tracing::debug!(%reason, documents = call.docs.len(), "PutTraceSegments failed; will retry");
                self.requeue(state, call.docs, report);
            }
            CallOutcome::Permanent(reason) => {
                tracing::warn!(%reason, documents = call.docs.len(), "PutTraceSegments refused; documents dropped");
                report.dropped.rejected += call.docs.len() as u64;
            }
        }
    }

    /// Puts documents back at the front of the queue and schedules the next attempt.
    fn requeue(&self, state: &mut State, docs: Vec<String>, report: &mut ExportReport) {
        report.retries += 1;
        for doc in docs.into_iter().rev() {
            state.pending_bytes += doc.len();
            state.pending.push_front(doc);
        }
        let delay = backoff(state.attempt, &mut rand::rng());
        state.attempt = state.attempt.saturating_add(1);
        state.calls.not_before = Some(Instant::now() + delay);
    }

    /// R-UDP-1: one datagram per document, header line first. Datagrams are fire-and-forget;
    /// a local send error (no route, buffer full) keeps the rest queued for the next flush.
    async fn send_udp(&self, state: &mut State, addr: SocketAddr, report: &mut ExportReport) {
        let socket = self
            .udp
            .get_or_init(|| async move {
                let local: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                match tokio::net::UdpSocket::bind(local).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot open a UDP socket for the X-Ray daemon");
                        None
                    }
                }
            })
            .await;
        let Some(socket) = socket else {
            return;
        };
        let mut datagram = Vec::with_capacity(4096);
        while let Some(doc) = state.pending.pop_front() {
            state.pending_bytes -= doc.len();
            if DAEMON_HEADER.len() + doc.len() > MAX_DATAGRAM_BYTES {
                report.dropped.too_large += 1;
                continue;
            }
            datagram.clear();
            datagram.extend_from_slice(DAEMON_HEADER.as_bytes());
            datagram.extend_from_slice(doc.as_bytes());
            match socket.send_to(&datagram, addr).await {
                Ok(_) => report.exported += 1,
                Err(e) => {
                    tracing::warn!(error = %e, %addr, "UDP send to the X-Ray daemon failed; will retry");
                    state.pending_bytes += doc.len();
                    state.pending.push_front(doc);
                    report.retries += 1;
                    break;
                }
            }
        }
    }
}

/// End of a flush: on the final flush everything undelivered is dropped (`deadline`) and
/// calls in flight are cancelled; otherwise it all waits for the next flush.
fn finish(state: &mut State, mode: FlushMode, report: &mut ExportReport) {
    if mode == FlushMode::Final {
        let lost = state.pending.len() + state.in_flight_docs;
        if lost > 0 {
            report.dropped.deadline += lost as u64;
            tracing::warn!(
                documents = lost,
                "shutdown deadline reached; documents dropped"
            );
        }
        state.pending.clear();
        state.pending_bytes = 0;
        state.calls.abort_all();
        state.in_flight_docs = 0;
    }
    report.pending = (state.pending.len() + state.in_flight_docs) as u64;
}

/// The delay before retry number `attempt` (0-based): full jitter over an exponentially growing
/// window, `uniform(1 ms, min(BACKOFF_MAX, BACKOFF_BASE * 2^attempt))` (AWS Architecture Blog,
/// "Exponential Backoff And Jitter").
pub fn backoff(attempt: u32, rng: &mut impl Rng) -> Duration {
    let window = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_MAX);
    let ms = window.as_millis().max(1) as u64;
    Duration::from_millis(rng.random_range(1..=ms))
}

/// Whether the serialised document `doc` has `"id":"<id>"`. Documents are ours, so the exact
/// spelling is known (serde_json, no spaces), and `id` precedes any nested `"id"` field.
fn doc_has_id(doc: &str, id: &str) -> bool {
    let needle = format!("\"id\":\"{id}\"");
    doc.contains(&needle)
}

async fn put_once(client: &XrayApi, docs: Arc<Vec<String>>, timeout: Duration) -> CallOutcome {
    match tokio::time::timeout(timeout, client.put(docs)).await {
        Err(_) => CallOutcome::Retryable(format!("no answer within {timeout:?}")),
        Ok(PutOutcome::Done(unprocessed)) => CallOutcome::Done {
            unprocessed: unprocessed
                .into_iter()
                .map(|u| {
                    let code = u.error_code.unwrap_or_default();
                    Unprocessed {
                        id: u.id,
                        retryable: !CONTENT_ERROR_CODES.contains(&code.as_str()),
                        code,
                        message: u.message.unwrap_or_default(),
                    }
                })
                .collect(),
        },
        Ok(PutOutcome::Retryable(text)) => CallOutcome::Retryable(text),
        Ok(PutOutcome::Permanent(text)) => CallOutcome::Permanent(text),
    }
}

async fn build_client(settings: XraySettings) -> Arc<XrayApi> {
    let started = Instant::now();
    let client = XrayApi::build(settings.region, settings.endpoint).await;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        "X-Ray client built"
    );
    Arc::new(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_stays_inside_its_window() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for attempt in 0..40 {
            let d = backoff(attempt, &mut rng);
            assert!(d >= Duration::from_millis(1));
            let window = BACKOFF_BASE
                .saturating_mul(1 << attempt.min(16))
                .min(BACKOFF_MAX);
            assert!(
                d <= window.max(Duration::from_millis(1)),
                "attempt {attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn doc_id_match_is_exact() {
        let doc = r#"{"name":"a","id":"53995c3f42cd8ad8","trace_id":"1-x"}"#;
        assert!(doc_has_id(doc, "53995c3f42cd8ad8"));
        assert!(!doc_has_id(doc, "53995c3f42cd8ad9"));
    }

    #[tokio::test]
    async fn udp_sends_one_document_per_datagram_with_the_header() {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let client = XrayClient::new(XraySettings {
            daemon_address: Some(addr),
            ..XraySettings::default()
        });
        let docs = vec![r#"{"id":"a"}"#.to_string(), r#"{"id":"b"}"#.to_string()];
        let r = client
            .put_documents(
                docs,
                Instant::now() + Duration::from_secs(1),
                FlushMode::Regular,
            )
            .await;
        assert_eq!(r.exported, 2);
        let mut buf = [0u8; 1024];
        for want in [r#"{"id":"a"}"#, r#"{"id":"b"}"#] {
            let n = server.recv(&mut buf).await.unwrap();
            let text = std::str::from_utf8(&buf[..n]).unwrap();
            assert_eq!(text, format!("{DAEMON_HEADER}{want}"));
        }
    }

    #[tokio::test]
    async fn pending_queue_drops_the_oldest_beyond_its_byte_limit() {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let client = XrayClient::new(XraySettings {
            daemon_address: Some(server.local_addr().unwrap()),
            max_pending_bytes: 25,
            ..XraySettings::default()
        });
        let docs = vec!["0123456789".to_string(); 4];
        let r = client
            .put_documents(
                docs,
                Instant::now() + Duration::from_secs(1),
                FlushMode::Regular,
            )
            .await;
        assert_eq!(r.dropped.queue_full, 2);
        assert_eq!(r.exported, 2);
    }
}
