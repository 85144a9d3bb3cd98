//! The `otlp` (OTLP/gRPC) and `otlphttp` (OTLP/HTTP) exporters: spans forwarded unchanged to
//! another OTLP endpoint — Jaeger, Elastic APM, Honeycomb, a central collector — beside or
//! instead of X-Ray.
//!
//! Delivery has the same flush and deadline semantics as `awsxray`
//! ([`super::awsxray::client`]):
//! - Each flush turns the new spans into export requests (at most [`MAX_REQUEST_BYTES`] of
//!   protobuf each) and appends them to a bounded **pending queue**; everything queued is sent,
//!   at most `sending_queue.num_consumers` calls at once, until the flush's deadline.
//! - **Retryable** failures — gRPC `UNAVAILABLE`, `RESOURCE_EXHAUSTED`, `CANCELLED`,
//!   `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS`; HTTP 429, 502, 503, 504
//!   (OTLP specification, "Failures"); connection, TLS and timeout errors — put the request back
//!   at the front of the queue and back off exponentially with jitter (`retry_on_failure`;
//!   HTTP `Retry-After` is honoured). A retry never starts after the deadline; the backoff
//!   state carries over to the next flush.
//! - What a regular flush cannot deliver stays queued for the next flush; at the final
//!   (SHUTDOWN) flush it is dropped and counted (`deadline`). A request that has been failing
//!   for longer than `retry_on_failure.max_elapsed_time`, or any failed request when retries are
//!   disabled, is dropped (`retries_exhausted`).
//! - A call still **in flight** at a regular flush's deadline is not abandoned: it keeps running
//!   (frozen with the sandbox, resumed on thaw) and the next flush books its outcome, so a slow
//!   answer never makes a second copy, and an answer never goes unaccounted.
//! - **Permanent** failures (HTTP 400 and other 4xx, gRPC `INVALID_ARGUMENT` and the other
//!   codes) drop the request's spans (`rejected`). A **partial success**
//!   (`ExportTraceServiceResponse.partial_success.rejected_spans`) counts those spans as
//!   `rejected` and logs the server's message.
//!
//! Counts in the [`ExportReport`] are spans.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message;
use rand::Rng;
use tokio::sync::Mutex;

use super::otlp_tls::{Alpn, TlsMaterial};
use super::{Calls, ExportReport, FlushMode, Step};
use crate::config::exporters::{
    Compression, Encoding, Headers, OtlpExporterConfig, OtlpHttpExporterConfig, QueueSizer,
    RetryConfig, SendingQueueConfig,
};
use crate::net::error_chain;

/// Largest export request, in bytes of protobuf: a flush's spans are split into requests no
/// larger (a single span larger than this goes alone). Below the 4 MiB that gRPC servers, the
/// collector's OTLP receiver included, accept by default.
pub const MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;
/// Largest response body read (a partial-success message or an error status).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// `User-Agent` of OTLP/HTTP requests and `user-agent` of gRPC calls.
pub const USER_AGENT: &str = concat!("otlp-xray/", env!("CARGO_PKG_VERSION"));

/// Why an exporter cannot be built from its config: the key (relative to the exporter) and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// Key path under the exporter, e.g. `tls.ca_file`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl BuildError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        BuildError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Exponential backoff with jitter (`retry_on_failure`, the collector's `configretry`).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retry at all.
    pub enabled: bool,
    /// First delay.
    pub initial_interval: Duration,
    /// Longest delay.
    pub max_interval: Duration,
    /// Growth per retry (≥ 1).
    pub multiplier: f64,
    /// Jitter: the delay is uniform in `delay × (1 ± factor)`.
    pub randomization_factor: f64,
    /// Give a request up after failing for this long; `None` = never.
    pub max_elapsed_time: Option<Duration>,
}

impl From<&RetryConfig> for RetryPolicy {
    fn from(c: &RetryConfig) -> Self {
        RetryPolicy {
            enabled: c.enabled,
            initial_interval: c.initial_interval,
            max_interval: c.max_interval.max(c.initial_interval),
            multiplier: c.multiplier.max(1.0),
            randomization_factor: c.randomization_factor.clamp(0.0, 1.0),
            max_elapsed_time: (!c.max_elapsed_time.is_zero()).then_some(c.max_elapsed_time),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (0-based):
    /// `min(max_interval, initial_interval × multiplier^attempt)`, then uniformly randomised in
    /// `± randomization_factor` of itself (as `cenkalti/backoff`, which the collector uses).
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let base =
            self.initial_interval.as_secs_f64() * self.multiplier.powi(attempt.min(64) as i32);
        let base = base.min(self.max_interval.as_secs_f64());
        let spread = base * self.randomization_factor;
        let secs = if spread > 0.0 {
            rng.random_range((base - spread)..=(base + spread))
        } else {
            base
        };
        Duration::from_secs_f64(secs.max(0.0))
    }
}

/// Delivery settings shared by both transports.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// Backoff and give-up rules.
    pub retry: RetryPolicy,
    /// Longest one call may take; `None` = no limit (the flush deadline still bounds waiting).
    pub timeout: Option<Duration>,
    /// Most calls in flight at once (`sending_queue.num_consumers`).
    pub max_concurrent_calls: usize,
    /// Keep undelivered requests for the next flush (`sending_queue.enabled`).
    pub keep_undelivered: bool,
    /// Bound of the pending queue in `sizer` units (`sending_queue.queue_size`).
    pub queue_size: u64,
    /// What `queue_size` counts.
    pub sizer: QueueSizer,
    /// Most protobuf bytes pending (`extensions.lambda.max_buffered_mib`).
    pub max_pending_bytes: usize,
    /// Largest request (see [`MAX_REQUEST_BYTES`]).
    pub max_request_bytes: usize,
}

impl DeliverySettings {
    fn new(
        retry: &RetryConfig,
        queue: &SendingQueueConfig,
        timeout: Duration,
        max_pending_bytes: usize,
    ) -> Self {
        DeliverySettings {
            retry: retry.into(),
            timeout: (!timeout.is_zero()).then_some(timeout),
            max_concurrent_calls: (queue.num_consumers as usize).max(1),
            keep_undelivered: queue.enabled,
            queue_size: queue.queue_size.max(1),
            sizer: queue.sizer,
            max_pending_bytes,
            max_request_bytes: MAX_REQUEST_BYTES,
        }
    }
}

/// What one call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; `rejected` of its spans were refused (partial success), with the server's
    /// message.
    Delivered {
        /// `partial_success.rejected_spans`.
        rejected: u64,
        /// `partial_success.error_message`.
        message: String,
    },
    /// Failed, worth retrying; `retry_after` is the server's requested delay.
    Retryable {
        /// What failed.
        reason: String,
        /// HTTP `Retry-After`, if given.
        retry_after: Option<Duration>,
    },
    /// Refused; retrying cannot help.
    Permanent(String),
}

impl Outcome {
    fn retryable(reason: impl Into<String>) -> Self {
        Outcome::Retryable {
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// One export request: its spans, counted and sized.
struct Request {
    body: Arc<ExportTraceServiceRequest>,
    spans: u64,
    bytes: usize,
    /// When it first failed (for `max_elapsed_time`).
    first_failure: Option<Instant>,
}

/// A finished call with its request.
struct Call {
    request: Request,
    outcome: Outcome,
}

/// Requests not yet delivered and calls not yet answered (see [`super::awsxray::client`],
/// whose design this follows).
#[derive(Default)]
struct State {
    pending: VecDeque<Request>,
    pending_bytes: usize,
    pending_spans: u64,
    calls: Calls<Call>,
    in_flight_spans: u64,
    /// Consecutive failures (drives the backoff; reset by a success).
    attempt: u32,
}

impl State {
    fn push_back(&mut self, r: Request) {
        self.pending_bytes += r.bytes;
        self.pending_spans += r.spans;
        self.pending.push_back(r);
    }

    fn push_front(&mut self, r: Request) {
        self.pending_bytes += r.bytes;
        self.pending_spans += r.spans;
        self.pending.push_front(r);
    }

    fn pop_front(&mut self) -> Option<Request> {
        let r = self.pending.pop_front()?;
        self.pending_bytes -= r.bytes;
        self.pending_spans -= r.spans;
        Some(r)
    }
}

/// How requests reach the endpoint.
pub enum Transport {
    /// OTLP/gRPC.
    Grpc(GrpcTransport),
    /// OTLP/HTTP.
    Http(HttpTransport),
}

impl Transport {
    async fn send(&self, request: &ExportTraceServiceRequest) -> Outcome {
        match self {
            Transport::Grpc(t) => t.send(request).await,
            Transport::Http(t) => t.send(request).await,
        }
    }
}

/// An `otlp` or `otlphttp` exporter.
pub struct OtlpExporter {
    name: String,
    endpoint: String,
    transport: Arc<Transport>,
    settings: DeliverySettings,
    state: Mutex<State>,
}

impl OtlpExporter {
    /// An `otlp` (gRPC) exporter named `name`. Builds the TLS config and the (lazily
    /// connecting) client; no I/O. `max_pending_bytes` bounds the pending queue.
    pub fn grpc(
        name: impl Into<String>,
        config: &OtlpExporterConfig,
        max_pending_bytes: usize,
    ) -> Result<Self, BuildError> {
        let name = name.into();
        let transport = GrpcTransport::new(config)?;
        let endpoint = transport.origin.clone();
        if config.endpoint.trim().starts_with("http://") && !config.tls.insecure {
            tracing::warn!(
                exporter = %name,
                endpoint = %config.endpoint,
                "endpoint starts with http:// but tls.insecure is not true: TLS is used, as in \
                 the OpenTelemetry Collector; set tls.insecure: true for a plaintext server"
            );
        }
        Ok(Self::with_transport(
            name,
            endpoint,
            Transport::Grpc(transport),
            DeliverySettings::new(
                &config.retry_on_failure,
                &config.sending_queue,
                config.timeout,
                max_pending_bytes,
            ),
        ))
    }

    /// An `otlphttp` exporter named `name` (see [`OtlpExporter::grpc`]).
    pub fn http(
        name: impl Into<String>,
        config: &OtlpHttpExporterConfig,
        max_pending_bytes: usize,
    ) -> Result<Self, BuildError> {
        let transport = HttpTransport::new(config)?;
        let endpoint = transport.url.to_string();
        Ok(Self::with_transport(
            name.into(),
            endpoint,
            Transport::Http(transport),
            DeliverySettings::new(
                &config.retry_on_failure,
                &config.sending_queue,
                config.timeout,
                max_pending_bytes,
            ),
        ))
    }

    /// An exporter over an already built transport.
    pub fn with_transport(
        name: String,
        endpoint: String,
        transport: Transport,
        settings: DeliverySettings,
    ) -> Self {
        OtlpExporter {
            name,
            endpoint,
            transport: Arc::new(transport),
            settings,
            state: Mutex::new(State::default()),
        }
    }

    /// The component id.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Spans queued or in flight, not yet delivered.
    pub async fn undelivered(&self) -> u64 {
        let s = self.state.lock().await;
        s.pending_spans + s.in_flight_spans
    }

    /// Queues `batch` and delivers everything queued until `deadline` (see the module docs for
    /// what happens to the rest).
    pub async fn export(
        &self,
        batch: &[ResourceSpans],
        deadline: Instant,
        mode: FlushMode,
    ) -> ExportReport {
        let mut report = ExportReport::default();
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        state.calls.start_flush();
        // Book calls of earlier flushes that finished meanwhile (e.g. during a freeze).
        while let Some(joined) = state.calls.try_join_next() {
            self.absorb_joined(state, joined, &mut report);
        }
        for body in split_batch(batch, self.settings.max_request_bytes) {
            let spans = count_spans(&body.resource_spans);
            let bytes = body.encoded_len();
            state.push_back(Request {
                body: Arc::new(body),
                spans,
                bytes,
                first_failure: None,
            });
        }
        self.enforce_queue_bounds(state, &mut report);
        if state.pending.is_empty() && (mode == FlushMode::Regular || state.calls.is_empty()) {
            self.finish(state, mode, &mut report);
            return report;
        }
        // The last flush of the process: one more attempt even if the backoff says later.
        if mode == FlushMode::Final && state.calls.not_before.is_some_and(|t| t >= deadline) {
            state.calls.not_before = None;
        }
        loop {
            let now = Instant::now();
            let backing_off = state.calls.backing_off(now);
            while !backing_off
                && now < deadline
                && state.calls.len() < self.settings.max_concurrent_calls
            {
                let Some(request) = state.pop_front() else {
                    break;
                };
                state.in_flight_spans += request.spans;
                let transport = Arc::clone(&self.transport);
                let timeout = self.settings.timeout;
                state.calls.spawn(async move {
                    let call = transport.send(&request.body);
                    let outcome = match timeout {
                        Some(t) => match tokio::time::timeout(t, call).await {
                            Ok(o) => o,
                            Err(_) => Outcome::retryable(format!("no answer within {t:?}")),
                        },
                        None => call.await,
                    };
                    Call { request, outcome }
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
        self.finish(state, mode, &mut report);
        report
    }

    /// Drops the oldest requests while the queue is over `queue_size` or the byte bound.
    fn enforce_queue_bounds(&self, state: &mut State, report: &mut ExportReport) {
        let mut dropped = 0u64;
        loop {
            let over_size = match self.settings.sizer {
                QueueSizer::Requests => state.pending.len() as u64 > self.settings.queue_size,
                QueueSizer::Items => state.pending_spans > self.settings.queue_size,
                QueueSizer::Bytes => state.pending_bytes as u64 > self.settings.queue_size,
            };
            if !(over_size || state.pending_bytes > self.settings.max_pending_bytes) {
                break;
            }
            let Some(old) = state.pop_front() else {
                break;
            };
            dropped += old.spans;
        }
        if dropped > 0 {
            report.dropped.queue_full += dropped;
            tracing::warn!(exporter = %self.name, spans = dropped, "sending queue full; oldest spans dropped (queue_full)");
        }
    }

    fn absorb_joined(
        &self,
        state: &mut State,
        joined: Result<Call, tokio::task::JoinError>,
        report: &mut ExportReport,
    ) {
        match joined {
            Ok(call) => self.absorb(state, call, report),
            // A panicked or cancelled call: its spans are unknown (never expected).
            Err(e) => tracing::error!(exporter = %self.name, error = %e, "export task failed"),
        }
    }

    /// Books one finished call: delivered (maybe partly), re-queued, or dropped.
    fn absorb(&self, state: &mut State, call: Call, report: &mut ExportReport) {
        let Call {
            mut request,
            outcome,
        } = call;
        state.in_flight_spans = state.in_flight_spans.saturating_sub(request.spans);
        match outcome {
            Outcome::Delivered { rejected, message } => {
                let rejected = rejected.min(request.spans);
                report.exported += request.spans - rejected;
                if rejected > 0 {
                    report.dropped.rejected += rejected;
                    tracing::warn!(exporter = %self.name, spans = rejected, message = %message, "the endpoint rejected spans (partial success; rejected)");
                } else if !message.is_empty() {
                    tracing::warn!(exporter = %self.name, message = %message, "the endpoint accepted the spans with a warning");
                }
                if state.attempt > 0 {
                    tracing::info!(exporter = %self.name, endpoint = %self.endpoint, "delivering again after failures");
                }
                state.attempt = 0;
                state.calls.not_before = None;
            }
            Outcome::Retryable {
                reason,
                retry_after,
            } => {
                let now = Instant::now();
                let first = *request.first_failure.get_or_insert(now);
                let exhausted = !self.settings.retry.enabled
                    || self
                        .settings
                        .retry
                        .max_elapsed_time
                        .is_some_and(|max| now.duration_since(first) >= max);
                if exhausted {
                    report.dropped.retries_exhausted += request.spans;
                    tracing::warn!(exporter = %self.name, endpoint = %self.endpoint, spans = request.spans, %reason, "export failed; spans dropped (retries_exhausted)");
                    return;
                }
                if state.attempt == 0 {
                    tracing::warn!(exporter = %self.name, endpoint = %self.endpoint, spans = request.spans, %reason, "export failed; will retry");
                } else {
                    tracing::debug!(exporter = %self.name, spans = request.spans, attempt = state.attempt, %reason, "export failed again; will retry");
                }
                report.retries += 1;
                state.push_front(request);
                let mut delay = self.settings.retry.delay(state.attempt, &mut rand::rng());
                if let Some(after) = retry_after {
                    delay = delay.max(after);
                }
                state.attempt = state.attempt.saturating_add(1);
                let until = now + delay;
                // Several calls failing together back off once, to the latest time asked.
                state.calls.not_before =
                    Some(state.calls.not_before.map_or(until, |t| t.max(until)));
            }
            Outcome::Permanent(reason) => {
                report.dropped.rejected += request.spans;
                tracing::warn!(exporter = %self.name, endpoint = %self.endpoint, spans = request.spans, %reason, "the endpoint refused the export; spans dropped (rejected)");
            }
        }
    }

    /// End of a flush: on the final flush everything undelivered is dropped (`deadline`) and
    /// calls in flight are cancelled; on a regular flush it waits for the next one, unless the
    /// sending queue is disabled (then the queued requests are dropped, `deadline`).
    fn finish(&self, state: &mut State, mode: FlushMode, report: &mut ExportReport) {
        let lost = match mode {
            FlushMode::Final => {
                let lost = state.pending_spans + state.in_flight_spans;
                state.calls.abort_all();
                state.in_flight_spans = 0;
                lost
            }
            FlushMode::Regular if !self.settings.keep_undelivered => state.pending_spans,
            FlushMode::Regular => 0,
        };
        if lost > 0 {
            while state.pop_front().is_some() {}
            report.dropped.deadline += lost;
            tracing::warn!(exporter = %self.name, endpoint = %self.endpoint, spans = lost, "not delivered by the flush deadline; spans dropped (deadline)");
        }
        report.pending = state.pending_spans + state.in_flight_spans;
    }
}

fn count_spans(resource_spans: &[ResourceSpans]) -> u64 {
    resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .map(|ss| ss.spans.len() as u64)
        .sum()
}

/// Splits `batch` into requests of at most `max_bytes` of protobuf each, keeping resources and
/// scopes with their spans. A `ResourceSpans` too large for one request is cut between spans;
/// a single span larger than `max_bytes` goes in a request of its own. Empty input, no request.
pub fn split_batch(batch: &[ResourceSpans], max_bytes: usize) -> Vec<ExportTraceServiceRequest> {
    let mut requests = Vec::new();
    let mut current: Vec<ResourceSpans> = Vec::new();
    let mut current_bytes = 0usize;
    let mut push = |rs: ResourceSpans, len: usize, current: &mut Vec<ResourceSpans>| {
        // Each element costs its length plus a tag and a length prefix (≤ 6 bytes).
        let cost = len + 6;
        if !current.is_empty() && current_bytes + cost > max_bytes {
            requests.push(ExportTraceServiceRequest {
                resource_spans: std::mem::take(current),
            });
            current_bytes = 0;
        }
        current_bytes += cost;
        current.push(rs);
    };
    for rs in batch {
        if rs.scope_spans.iter().all(|ss| ss.spans.is_empty()) {
            continue;
        }
        let len = rs.encoded_len();
        if len + 6 <= max_bytes {
            push(rs.clone(), len, &mut current);
            continue;
        }
        for part in split_resource_spans(rs, max_bytes) {
            let len = part.encoded_len();
            push(part, len, &mut current);
        }
    }
    if !current.is_empty() {
        requests.push(ExportTraceServiceRequest {
            resource_spans: current,
        });
    }
    requests
}

/// Cuts one `ResourceSpans` into pieces under `max_bytes`, span by span.
fn split_resource_spans(rs: &ResourceSpans, max_bytes: usize) -> Vec<ResourceSpans> {
    let shell = ResourceSpans {
        resource: rs.resource.clone(),
        scope_spans: Vec::new(),
        schema_url: rs.schema_url.clone(),
    };
    let shell_len = shell.encoded_len();
    let mut parts = Vec::new();
    for ss in &rs.scope_spans {
        let scope_shell = ScopeSpans {
            scope: ss.scope.clone(),
            spans: Vec::new(),
            schema_url: ss.schema_url.clone(),
        };
        let overhead = shell_len + scope_shell.encoded_len() + 16;
        let mut spans = Vec::new();
        let mut bytes = overhead;
        for span in &ss.spans {
            let len = span.encoded_len() + 6;
            if !spans.is_empty() && bytes + len > max_bytes {
                let mut part = shell.clone();
                let mut scope = scope_shell.clone();
                scope.spans = std::mem::take(&mut spans);
                part.scope_spans.push(scope);
                parts.push(part);
                bytes = overhead;
            }
            bytes += len;
            spans.push(span.clone());
        }
        if !spans.is_empty() {
            let mut part = shell.clone();
            let mut scope = scope_shell.clone();
            scope.spans = spans;
            part.scope_spans.push(scope);
            parts.push(part);
        }
    }
    parts
}

// ---- OTLP/gRPC ------------------------------------------------------------------------------

type GrpcClient = Client<HttpsConnector<HttpConnector>, tonic::body::Body>;

/// OTLP/gRPC over a hyper HTTP/2 client (TLS by rustls): `TraceService/Export` with the
/// configured metadata and compression.
pub struct GrpcTransport {
    client: TraceServiceClient<GrpcClient>,
    metadata: tonic::metadata::MetadataMap,
    gzip: bool,
    origin: String,
}

impl GrpcTransport {
    /// Builds the client (no connection yet: the first call connects).
    pub fn new(config: &OtlpExporterConfig) -> Result<Self, BuildError> {
        let target = config
            .target()
            .map_err(|m| BuildError::new("endpoint", m))?;
        let origin = target.origin();
        let uri: http::Uri = origin
            .parse()
            .map_err(|_| BuildError::new("endpoint", format!("`{origin}` is not a valid URI")))?;
        let connector = if target.tls {
            TlsMaterial::load(&config.tls)
                .and_then(|m| m.connector(Alpn::Http2))
                .map_err(|e| BuildError::new(format!("tls.{}", e.key), e.message))?
        } else {
            plain_connector(Alpn::Http2)?
        };
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .http2_only(true)
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .http2_keep_alive_interval(
                (!config.keepalive.time.is_zero()).then_some(config.keepalive.time),
            )
            .http2_keep_alive_timeout(config.keepalive.timeout.max(Duration::from_secs(1)))
            .http2_keep_alive_while_idle(config.keepalive.permit_without_stream);
        let client = TraceServiceClient::with_origin(builder.build(connector), uri);
        let mut metadata = tonic::metadata::MetadataMap::new();
        for (name, value) in &config.headers {
            let key = tonic::metadata::MetadataKey::from_bytes(name.as_bytes()).map_err(|_| {
                BuildError::new(
                    "headers",
                    format!("`{name}` is not a valid gRPC metadata key"),
                )
            })?;
            let value = tonic::metadata::MetadataValue::try_from(value.as_str()).map_err(|_| {
                BuildError::new(
                    "headers",
                    format!("the value of `{name}` is not valid gRPC metadata"),
                )
            })?;
            metadata.insert(key, value);
        }
        Ok(GrpcTransport {
            client,
            metadata,
            gzip: config.compression == Compression::Gzip,
            origin,
        })
    }

    async fn send(&self, body: &ExportTraceServiceRequest) -> Outcome {
        let mut client = self.client.clone();
        if self.gzip {
            client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
        }
        client = client.accept_compressed(tonic::codec::CompressionEncoding::Gzip);
        let mut request = tonic::Request::new(body.clone());
        *request.metadata_mut() = self.metadata.clone();
        if let Ok(ua) = tonic::metadata::MetadataValue::try_from(USER_AGENT) {
            request.metadata_mut().insert("user-agent", ua);
        }
        match client.export(request).await {
            Ok(response) => delivered(response.into_inner()),
            Err(status) => classify_status(&status),
        }
    }
}

/// OTLP specification, "Failures" (OTLP/gRPC): these codes are retryable. `RESOURCE_EXHAUSTED`
/// is retried too (with backoff: the server asked for less load). A client-side transport
/// failure (connection refused or reset, DNS, TLS) arrives as `UNKNOWN` with a source error
/// and is retried as the collector's gRPC client would see it (`UNAVAILABLE`).
pub fn classify_status(status: &tonic::Status) -> Outcome {
    use tonic::Code;
    let text = if status.message().is_empty() {
        format!("gRPC {:?}", status.code())
    } else {
        format!("gRPC {:?}: {}", status.code(), status.message())
    };
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss
        | Code::ResourceExhausted => Outcome::retryable(text),
        Code::Unknown => match std::error::Error::source(status) {
            Some(source) => Outcome::retryable(error_chain(source)),
            None => Outcome::Permanent(text),
        },
        _ => Outcome::Permanent(text),
    }
}

fn delivered(response: ExportTraceServiceResponse) -> Outcome {
    match response.partial_success {
        Some(p) => Outcome::Delivered {
            rejected: u64::try_from(p.rejected_spans).unwrap_or(0),
            message: p.error_message,
        },
        None => Outcome::Delivered {
            rejected: 0,
            message: String::new(),
        },
    }
}

/// The connector for a plaintext origin (`http://`): the default TLS settings are loaded but
/// never used, as an `http://` URI never starts TLS.
fn plain_connector(alpn: Alpn) -> Result<HttpsConnector<HttpConnector>, BuildError> {
    TlsMaterial::default()
        .connector(alpn)
        .map_err(|e| BuildError::new(format!("tls.{}", e.key), e.message))
}

// ---- OTLP/HTTP ------------------------------------------------------------------------------

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// OTLP/HTTP over a hyper HTTP/1.1 client (TLS by rustls for `https://`): `POST` of the
/// protobuf or JSON request, gzip-compressed unless `compression: none`.
pub struct HttpTransport {
    client: HttpClient,
    url: http::Uri,
    headers: http::HeaderMap,
    encoding: Encoding,
    gzip: Option<flate2::Compression>,
}

impl HttpTransport {
    /// Builds the client (no connection yet).
    pub fn new(config: &OtlpHttpExporterConfig) -> Result<Self, BuildError> {
        let url = config
            .traces_url()
            .map_err(|(key, m)| BuildError::new(key, m))?;
        let connector = if url.scheme_str() == Some("https") {
            TlsMaterial::load(&config.tls)
                .and_then(|m| m.connector(Alpn::Http1))
                .map_err(|e| BuildError::new(format!("tls.{}", e.key), e.message))?
        } else {
            plain_connector(Alpn::Http1)?
        };
        let mut builder = Client::builder(TokioExecutor::new());
        builder.pool_timer(TokioTimer::new()).pool_idle_timeout(
            (!config.idle_conn_timeout.is_zero()).then_some(config.idle_conn_timeout),
        );
        if config.disable_keep_alives {
            builder.pool_max_idle_per_host(0);
        } else if let Some(n) = config.max_idle_conns_per_host.filter(|n| *n > 0) {
            builder.pool_max_idle_per_host(usize::try_from(n).unwrap_or(usize::MAX));
        }
        let headers = header_map(&config.headers)?;
        let gzip = match config.compression {
            Compression::None => None,
            Compression::Gzip => Some(match config.compression_params.level {
                Some(level @ 1..=9) => flate2::Compression::new(level as u32),
                _ => flate2::Compression::default(),
            }),
        };
        Ok(HttpTransport {
            client: builder.build(connector),
            url,
            headers,
            encoding: config.encoding,
            gzip,
        })
    }

    /// The body as sent: encoded, then compressed.
    pub fn body(&self, request: &ExportTraceServiceRequest) -> Result<Vec<u8>, String> {
        let encoded = match self.encoding {
            Encoding::Proto => request.encode_to_vec(),
            Encoding::Json => {
                serde_json::to_vec(request).map_err(|e| format!("cannot encode JSON: {e}"))?
            }
        };
        match self.gzip {
            None => Ok(encoded),
            Some(level) => {
                use std::io::Write;
                let mut gz = flate2::write::GzEncoder::new(
                    Vec::with_capacity(encoded.len() / 4 + 64),
                    level,
                );
                gz.write_all(&encoded)
                    .and_then(|()| gz.finish())
                    .map_err(|e| format!("cannot gzip the body: {e}"))
            }
        }
    }

    async fn send(&self, request: &ExportTraceServiceRequest) -> Outcome {
        let body = match self.body(request) {
            Ok(b) => b,
            Err(e) => return Outcome::Permanent(e),
        };
        let content_type = match self.encoding {
            Encoding::Proto => crate::receiver::decode::CONTENT_TYPE_PROTOBUF,
            Encoding::Json => crate::receiver::decode::CONTENT_TYPE_JSON,
        };
        let mut builder = http::Request::post(self.url.clone())
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::USER_AGENT, USER_AGENT);
        if self.gzip.is_some() {
            builder = builder.header(http::header::CONTENT_ENCODING, "gzip");
        }
        let mut req = match builder.body(Full::new(Bytes::from(body))) {
            Ok(r) => r,
            Err(e) => return Outcome::Permanent(format!("cannot build the request: {e}")),
        };
        for (name, value) in &self.headers {
            req.headers_mut().insert(name.clone(), value.clone());
        }
        let response = match self.client.request(req).await {
            Ok(r) => r,
            Err(e) => return Outcome::retryable(error_chain(&e)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let json = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let body = match Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            // The status is what matters; a body cut short or too long is ignored.
            Err(_) => Bytes::new(),
        };
        classify_http(status.as_u16(), &body, json, retry_after)
    }
}

/// OTLP specification, "Failures" (OTLP/HTTP): 2xx is success (the body may carry a partial
/// success); 429, 502, 503 and 504 are retryable (honouring `Retry-After`); every other status
/// is permanent. The message of an error's `google.rpc.Status` body is quoted.
pub fn classify_http(
    status: u16,
    body: &[u8],
    json: bool,
    retry_after: Option<Duration>,
) -> Outcome {
    if (200..300).contains(&status) {
        return partial_success(body, json);
    }
    let detail = status_message(body, json);
    let text = match detail {
        Some(m) if !m.is_empty() => format!("HTTP {status}: {m}"),
        _ => format!("HTTP {status}"),
    };
    match status {
        429 | 502 | 503 | 504 => Outcome::Retryable {
            reason: text,
            retry_after,
        },
        _ => Outcome::Permanent(text),
    }
}

fn partial_success(body: &[u8], json: bool) -> Outcome {
    let none = Outcome::Delivered {
        rejected: 0,
        message: String::new(),
    };
    if body.is_empty() {
        return none;
    }
    if json {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return none;
        };
        let p = v.get("partialSuccess").or_else(|| v.get("partial_success"));
        let Some(p) = p else {
            return none;
        };
        let rejected = p
            .get("rejectedSpans")
            .or_else(|| p.get("rejected_spans"))
            .and_then(|r| {
                r.as_u64()
                    .or_else(|| r.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(0);
        let message = p
            .get("errorMessage")
            .or_else(|| p.get("error_message"))
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned();
        return Outcome::Delivered { rejected, message };
    }
    match ExportTraceServiceResponse::decode(body) {
        Ok(r) => delivered(r),
        Err(_) => none,
    }
}

/// The `message` of a `google.rpc.Status` error body (protobuf field 2, or JSON `message`), or
/// a short text body as is.
fn status_message(body: &[u8], json: bool) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    if json {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        return v.get("message").and_then(|m| m.as_str()).map(str::to_owned);
    }
    if let Ok(status) = crate::receiver::decode::Status::decode(body) {
        if !status.message.is_empty() {
            return Some(status.message);
        }
    }
    // Not a Status: a short UTF-8 body (a proxy's error page) says more than nothing.
    std::str::from_utf8(body)
        .ok()
        .map(|s| s.chars().take(200).collect::<String>())
}

fn header_map(headers: &Headers) -> Result<http::HeaderMap, BuildError> {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        let n = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            BuildError::new("headers", format!("`{name}` is not a valid header name"))
        })?;
        let v = http::HeaderValue::from_str(value).map_err(|_| {
            BuildError::new(
                "headers",
                format!("the value of `{name}` is not a valid header value"),
            )
        })?;
        map.insert(n, v);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use rand::SeedableRng;

    fn rs(spans: usize, name_len: usize) -> ResourceSpans {
        ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..spans)
                    .map(|i| Span {
                        trace_id: vec![1; 16],
                        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                        name: "x".repeat(name_len),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn backoff_grows_caps_and_jitters_within_its_factor() {
        let p = RetryPolicy::from(&RetryConfig::default());
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        for attempt in 0..40 {
            let base = (0.05 * 1.5f64.powi(attempt)).min(30.0);
            let d = p.delay(attempt as u32, &mut rng).as_secs_f64();
            assert!(
                d >= base * 0.5 - 1e-9 && d <= base * 1.5 + 1e-9,
                "{attempt}: {d}"
            );
        }
        let fixed = RetryPolicy {
            randomization_factor: 0.0,
            ..p
        };
        assert_eq!(fixed.delay(0, &mut rng), Duration::from_millis(50));
        assert_eq!(fixed.delay(100, &mut rng), Duration::from_secs(30));
    }

    #[test]
    fn split_keeps_every_span_and_respects_the_size() {
        let batch = vec![rs(100, 1000), rs(3, 10), rs(0, 0), rs(50, 2000)];
        let max = 20_000;
        let requests = split_batch(&batch, max);
        let total: u64 = requests
            .iter()
            .map(|r| count_spans(&r.resource_spans))
            .sum();
        assert_eq!(total, 153);
        for r in &requests {
            assert!(r.encoded_len() <= max, "{}", r.encoded_len());
        }
        assert!(requests.len() > 1);
        // Nothing to send, no request.
        assert!(split_batch(&[rs(0, 0)], max).is_empty());
        // A span larger than the limit still goes, alone.
        let big = split_batch(&[rs(2, 50_000)], max);
        assert_eq!(big.len(), 2);
    }

    #[test]
    fn http_status_classes() {
        assert!(matches!(
            classify_http(200, b"", false, None),
            Outcome::Delivered { rejected: 0, .. }
        ));
        for s in [429, 502, 503, 504] {
            assert!(
                matches!(
                    classify_http(s, b"", false, None),
                    Outcome::Retryable { .. }
                ),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 413, 500] {
            assert!(
                matches!(classify_http(s, b"", false, None), Outcome::Permanent(_)),
                "{s}"
            );
        }
        match classify_http(503, b"", false, Some(Duration::from_secs(2))) {
            Outcome::Retryable { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(2)))
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn partial_success_and_error_messages_are_read() {
        let resp = ExportTraceServiceResponse {
            partial_success: Some(
                opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                    rejected_spans: 3,
                    error_message: "too old".into(),
                },
            ),
        };
        assert_eq!(
            classify_http(200, &resp.encode_to_vec(), false, None),
            Outcome::Delivered {
                rejected: 3,
                message: "too old".into()
            }
        );
        let json = br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"bad"}}"#;
        assert_eq!(
            classify_http(200, json, true, None),
            Outcome::Delivered {
                rejected: 2,
                message: "bad".into()
            }
        );
        let status = crate::receiver::decode::status_body(
            crate::receiver::decode::Encoding::Protobuf,
            3,
            "missing resource",
        );
        match classify_http(400, &status, false, None) {
            Outcome::Permanent(m) => assert!(m.contains("missing resource"), "{m}"),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn grpc_codes() {
        use tonic::{Code, Status};
        for c in [
            Code::Unavailable,
            Code::ResourceExhausted,
            Code::DeadlineExceeded,
            Code::Aborted,
        ] {
            assert!(
                matches!(
                    classify_status(&Status::new(c, "x")),
                    Outcome::Retryable { .. }
                ),
                "{c:?}"
            );
        }
        for c in [
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unknown,
        ] {
            assert!(
                matches!(classify_status(&Status::new(c, "x")), Outcome::Permanent(_)),
                "{c:?}"
            );
        }
        let transport = Status::from_error(Box::new(std::io::Error::other("connection refused")));
        assert!(matches!(
            classify_status(&transport),
            Outcome::Retryable { .. }
        ));
    }

    // ---- delivery against in-process servers ----

    use std::sync::atomic::{AtomicUsize, Ordering};

    /// One scripted answer: wait, then answer `status` with `body`.
    #[derive(Clone)]
    struct Answer {
        delay_ms: u64,
        status: u16,
        body: Vec<u8>,
    }

    fn ok() -> Answer {
        Answer {
            delay_ms: 0,
            status: 200,
            body: Vec::new(),
        }
    }

    fn status(code: u16) -> Answer {
        Answer {
            status: code,
            ..ok()
        }
    }

    /// An OTLP/HTTP endpoint answering request *n* with `script[n]` (the last one thereafter);
    /// counts the requests.
    async fn scripted_server(script: Vec<Answer>) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (c, script) = (c.clone(), script.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let (c, script) = (c.clone(), script.clone());
                            async move {
                                let _ = req.into_body().collect().await;
                                let n = c.fetch_add(1, Ordering::SeqCst);
                                let a = script[n.min(script.len() - 1)].clone();
                                tokio::time::sleep(Duration::from_millis(a.delay_ms)).await;
                                Ok::<_, std::convert::Infallible>(
                                    http::Response::builder()
                                        .status(a.status)
                                        .body(Full::new(Bytes::from(a.body)))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (url, count)
    }

    fn http_exporter(url: &str, tweak: impl FnOnce(&mut OtlpHttpExporterConfig)) -> OtlpExporter {
        let mut config = OtlpHttpExporterConfig {
            endpoint: Some(url.to_owned()),
            ..Default::default()
        };
        config.retry_on_failure.initial_interval = Duration::from_millis(5);
        config.retry_on_failure.max_interval = Duration::from_millis(20);
        tweak(&mut config);
        OtlpExporter::http("otlphttp", &config, 1 << 20).unwrap()
    }

    fn in_ms(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[tokio::test]
    async fn retryable_failures_are_retried_within_the_deadline() {
        let (url, count) = scripted_server(vec![status(503), status(429), ok()]).await;
        let e = http_exporter(&url, |_| {});
        let r = e.export(&[rs(3, 5)], in_ms(2000), FlushMode::Regular).await;
        assert_eq!(r.exported, 3);
        assert_eq!(r.retries, 2);
        assert_eq!(r.pending, 0);
        assert_eq!(r.dropped.total(), 0);
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_failures_and_partial_success_are_counted_as_rejected() {
        let partial = ExportTraceServiceResponse {
            partial_success: Some(
                opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                    rejected_spans: 1,
                    error_message: "span too old".into(),
                },
            ),
        };
        let (url, count) = scripted_server(vec![
            Answer {
                body: partial.encode_to_vec(),
                ..ok()
            },
            status(400),
        ])
        .await;
        let e = http_exporter(&url, |_| {});
        let r = e.export(&[rs(3, 5)], in_ms(2000), FlushMode::Regular).await;
        assert_eq!((r.exported, r.dropped.rejected), (2, 1));
        let r = e.export(&[rs(4, 5)], in_ms(2000), FlushMode::Regular).await;
        assert_eq!((r.exported, r.dropped.rejected, r.retries), (0, 4, 0));
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_call_cut_by_the_deadline_is_booked_by_the_next_flush_never_sent_twice() {
        let (url, count) = scripted_server(vec![Answer {
            delay_ms: 300,
            ..ok()
        }])
        .await;
        let e = http_exporter(&url, |_| {});
        let r = e.export(&[rs(2, 5)], in_ms(50), FlushMode::Regular).await;
        assert_eq!((r.exported, r.pending), (0, 2));
        tokio::time::sleep(Duration::from_millis(400)).await;
        let r = e.export(&[], in_ms(50), FlushMode::Regular).await;
        assert_eq!((r.exported, r.pending), (2, 0));
        assert_eq!(count.load(Ordering::SeqCst), 1, "no second copy");
        assert_eq!(e.undelivered().await, 0);
    }

    #[tokio::test]
    async fn undelivered_spans_wait_for_the_next_flush_and_the_final_one_drops_them() {
        let (url, count) = scripted_server(vec![status(503)]).await;
        let e = http_exporter(&url, |_| {});
        let r = e.export(&[rs(2, 5)], in_ms(100), FlushMode::Regular).await;
        assert_eq!((r.exported, r.pending, r.dropped.total()), (0, 2, 0));
        assert!(r.retries >= 1);
        let r = e.export(&[rs(1, 5)], in_ms(100), FlushMode::Final).await;
        assert_eq!((r.pending, r.dropped.deadline), (0, 3));
        assert!(count.load(Ordering::SeqCst) >= 2);
    }

    #[tokio::test]
    async fn a_down_target_backs_off_across_flushes() {
        // Nothing listens: connection refused. With a 200 ms first backoff, the second flush
        // (right after the first) does not try again and returns at once.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = http_exporter(&format!("http://127.0.0.1:{port}"), |c| {
            c.retry_on_failure.initial_interval = Duration::from_millis(200);
            c.retry_on_failure.randomization_factor = 0.0;
        });
        let r = e.export(&[rs(1, 5)], in_ms(100), FlushMode::Regular).await;
        assert_eq!((r.retries, r.pending), (1, 1));
        let started = Instant::now();
        let r = e.export(&[], in_ms(100), FlushMode::Regular).await;
        assert_eq!((r.retries, r.pending), (0, 1));
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_freeze_during_a_backoff_ends_the_flush_at_once_after_the_thaw() {
        // The sandbox freezing in the middle of a backoff sleep is simulated by blocking the
        // (single) runtime thread past the flush deadline.
        let (url, _) = scripted_server(vec![status(503)]).await;
        let e = http_exporter(&url, |c| {
            c.retry_on_failure.initial_interval = Duration::from_millis(60);
            c.retry_on_failure.randomization_factor = 0.0;
        });
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            std::thread::sleep(Duration::from_millis(400));
        });
        let batch = [rs(1, 5)];
        let flush = e.export(&batch, in_ms(150), FlushMode::Regular);
        let r = tokio::time::timeout(Duration::from_secs(3), flush)
            .await
            .expect("the flush ends after the thaw");
        assert_eq!((r.pending, r.retries), (1, 1));
    }

    #[tokio::test]
    async fn calls_of_earlier_flushes_holding_every_slot_delay_nothing_past_the_deadline() {
        let (url, count) = scripted_server(vec![
            Answer {
                delay_ms: 400,
                ..ok()
            },
            ok(),
        ])
        .await;
        let e = http_exporter(&url, |c| c.sending_queue.num_consumers = 1);
        let r = e.export(&[rs(1, 5)], in_ms(50), FlushMode::Regular).await;
        assert_eq!(r.pending, 1);
        let started = Instant::now();
        let r = e.export(&[rs(2, 5)], in_ms(100), FlushMode::Regular).await;
        assert_eq!((r.exported, r.pending), (0, 3));
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let r = e.export(&[], in_ms(500), FlushMode::Regular).await;
        assert_eq!((r.exported, r.pending), (3, 0));
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn disabled_retries_and_disabled_queue_drop_at_once() {
        let (url, _) = scripted_server(vec![status(503)]).await;
        let e = http_exporter(&url, |c| c.retry_on_failure.enabled = false);
        let r = e.export(&[rs(2, 5)], in_ms(500), FlushMode::Regular).await;
        assert_eq!((r.dropped.retries_exhausted, r.pending), (2, 0));

        let e = http_exporter(&url, |c| {
            c.sending_queue.enabled = false;
            c.retry_on_failure.initial_interval = Duration::from_millis(500);
        });
        let r = e.export(&[rs(2, 5)], in_ms(100), FlushMode::Regular).await;
        assert_eq!((r.dropped.deadline, r.pending), (2, 0));
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest() {
        let (url, _) = scripted_server(vec![status(503)]).await;
        let e = http_exporter(&url, |c| {
            c.sending_queue.queue_size = 3;
            c.sending_queue.sizer = QueueSizer::Items;
            c.retry_on_failure.initial_interval = Duration::from_secs(5);
        });
        let r = e.export(&[rs(2, 5)], in_ms(100), FlushMode::Regular).await;
        assert_eq!(r.pending, 2);
        let r = e.export(&[rs(2, 5)], in_ms(100), FlushMode::Regular).await;
        assert_eq!((r.dropped.queue_full, r.pending), (2, 2));
    }

    #[tokio::test]
    async fn grpc_partial_success_metadata_and_permanent_codes() {
        use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
            TraceService, TraceServiceServer,
        };
        #[derive(Clone, Default)]
        struct Server {
            calls: Arc<AtomicUsize>,
            saw_auth: Arc<std::sync::Mutex<Vec<String>>>,
        }
        #[tonic::async_trait]
        impl TraceService for Server {
            async fn export(
                &self,
                request: tonic::Request<ExportTraceServiceRequest>,
            ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
                if let Some(v) = request.metadata().get("authorization") {
                    self.saw_auth
                        .lock()
                        .unwrap()
                        .push(v.to_str().unwrap().to_owned());
                }
                if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Ok(tonic::Response::new(ExportTraceServiceResponse {
                        partial_success: Some(
                            opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                                rejected_spans: 2,
                                error_message: "no".into(),
                            },
                        ),
                    }))
                } else {
                    Err(tonic::Status::invalid_argument("bad span"))
                }
            }
        }
        let server = Server::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let svc = TraceServiceServer::new(server.clone())
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
        tokio::spawn(
            tonic::transport::Server::builder()
                .serve_with_incoming(svc, tonic::transport::server::TcpIncoming::from(listener)),
        );
        let mut config = OtlpExporterConfig {
            endpoint: addr.to_string(),
            ..Default::default()
        };
        config.tls.insecure = true;
        config
            .headers
            .insert("Authorization".into(), "Bearer t".into());
        let e = OtlpExporter::grpc("otlp", &config, 1 << 20).unwrap();
        let r = e.export(&[rs(3, 5)], in_ms(2000), FlushMode::Regular).await;
        assert_eq!((r.exported, r.dropped.rejected), (1, 2));
        let r = e.export(&[rs(3, 5)], in_ms(2000), FlushMode::Regular).await;
        assert_eq!((r.exported, r.dropped.rejected, r.retries), (0, 3, 0));
        assert_eq!(*server.saw_auth.lock().unwrap(), ["Bearer t", "Bearer t"]);
    }

    // ---- TLS against an in-process HTTPS server (certificates in tests/support/tls) ----

    fn tls_file(name: &str) -> String {
        format!("{}/tests/support/tls/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    /// A one-thread HTTPS/1.1 server answering 200 to every request; with `client_ca`, it
    /// requires a client certificate signed by it. Returns its port and a request counter.
    fn https_server(client_ca: bool) -> (u16, Arc<AtomicUsize>) {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use std::io::{Read, Write};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(tls_file("server.pem"))
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
        let key = PrivateKeyDer::from_pem_file(tls_file("server.key")).unwrap();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if client_ca {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(tls_file("ca.pem")).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            builder.with_client_cert_verifier(
                rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap(),
            )
        } else {
            builder.with_no_client_auth()
        };
        let config = Arc::new(builder.with_single_cert(certs, key).unwrap());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(sock) = sock else { return };
                let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, sock);
                // Read the head, then Content-Length bytes of body; answer 200.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let ok = loop {
                    match tls.read(&mut chunk) {
                        Ok(0) | Err(_) => break false,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        while buf.len() < end + 4 + len {
                            match tls.read(&mut chunk) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        break true;
                    }
                };
                if ok {
                    c.fetch_add(1, Ordering::SeqCst);
                    let _ = tls.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            }
        });
        (port, count)
    }

    async fn export_once(e: &OtlpExporter) -> ExportReport {
        e.export(&[rs(1, 5)], in_ms(1500), FlushMode::Regular).await
    }

    #[tokio::test]
    async fn https_with_ca_file_skip_verify_and_mutual_tls() {
        // Unknown issuer: not delivered (retried until the deadline).
        let (port, count) = https_server(false);
        let url = format!("https://localhost:{port}");
        let e = http_exporter(&url, |_| {});
        let r = e.export(&[rs(1, 5)], in_ms(300), FlushMode::Regular).await;
        assert_eq!((r.exported, r.pending), (0, 1));
        assert_eq!(count.load(Ordering::SeqCst), 0);

        // The test CA in ca_file: delivered.
        let e = http_exporter(&url, |c| c.tls.ca_file = Some(tls_file("ca.pem")));
        assert_eq!(export_once(&e).await.exported, 1);
        // By IP address too (the certificate names 127.0.0.1).
        let e = http_exporter(&format!("https://127.0.0.1:{port}"), |c| {
            c.tls.ca_file = Some(tls_file("ca.pem"))
        });
        assert_eq!(export_once(&e).await.exported, 1);
        // A wrong server_name_override fails verification.
        let e = http_exporter(&url, |c| {
            c.tls.ca_file = Some(tls_file("ca.pem"));
            c.tls.server_name_override = Some("other.example.com".into());
        });
        let r = e.export(&[rs(1, 5)], in_ms(300), FlushMode::Regular).await;
        assert_eq!(r.exported, 0);
        // insecure_skip_verify: delivered without the CA.
        let e = http_exporter(&url, |c| c.tls.insecure_skip_verify = true);
        assert_eq!(export_once(&e).await.exported, 1);
        assert_eq!(count.load(Ordering::SeqCst), 3);

        // Mutual TLS: refused without a client certificate, accepted with one.
        let (port, count) = https_server(true);
        let url = format!("https://localhost:{port}");
        let e = http_exporter(&url, |c| c.tls.ca_file = Some(tls_file("ca.pem")));
        let r = e.export(&[rs(1, 5)], in_ms(300), FlushMode::Regular).await;
        assert_eq!(r.exported, 0);
        let e = http_exporter(&url, |c| {
            c.tls.ca_file = Some(tls_file("ca.pem"));
            c.tls.cert_file = Some(tls_file("client.pem"));
            c.tls.key_file = Some(tls_file("client.key"));
        });
        assert_eq!(export_once(&e).await.exported, 1);
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn json_body_round_trips_through_our_receiver() {
        let config = OtlpHttpExporterConfig {
            endpoint: Some("http://127.0.0.1:1".into()),
            encoding: Encoding::Json,
            compression: Compression::None,
            ..Default::default()
        };
        let t = HttpTransport::new(&config).unwrap();
        let req = ExportTraceServiceRequest {
            resource_spans: vec![rs(2, 5)],
        };
        let body = t.body(&req).unwrap();
        let decoded =
            crate::receiver::decode::decode_request(&body, crate::receiver::decode::Encoding::Json)
                .unwrap();
        assert_eq!(decoded, req);
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.contains("\"traceId\":\"01010101010101010101010101010101\""),
            "{text}"
        );
    }
}
