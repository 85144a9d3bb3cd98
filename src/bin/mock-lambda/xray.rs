//! A local X-Ray endpoint: `PutTraceSegments` (`POST /TraceSegments`), SigV4-verified.
//!
//! Fact sheet (docs/lambda-extensions-api.md §2, "Wire to X-Ray"): body
//! `{"TraceSegmentDocuments":["<json>",…]}`, at most 50 documents per call, reply
//! `{"UnprocessedTraceSegments":[{"Id","ErrorCode","Message"}]}`. Errors use the AWS JSON
//! protocol shape `{"__type","message"}`.
//!
//! Faults (`--xray-fault`, [`crate::faults`]) are applied to calls in arrival order; the
//! `down` fault closes the listening socket (connections refused) and every open connection
//! for its window. The daemon socket (`--daemon-udp`, [`crate::daemon`]) records into the
//! same [`Records`].
//!
//! For load tests (`--xray-count-only`) the endpoint still verifies each call's signature and
//! answers it as X-Ray does (invalid documents come back in `UnprocessedTraceSegments`), but
//! only counts the documents and the spans in them instead of keeping them. For the
//! post-runtime figures it times every call (arrival → answer ready, [`CallTiming`]) and can
//! replay the extension's last accepted call from a client of its own ([`probe`]), which
//! gives the endpoint's own round trip.

use crate::faults::{Fault, FaultQueue, FaultSpec, Take, DOWN_KEY};
use crate::http_util::{json, read_body, Resp};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// The fake credentials handed to the extension.
pub const ACCESS_KEY_ID: &str = "AKIDMOCKLAMBDA00000";
pub const SECRET_ACCESS_KEY: &str = "mock-secret-key";
pub const SESSION_TOKEN: &str = "mock-session-token";
pub const REGION: &str = "us-east-1";
pub const SERVICE: &str = "xray";
/// Documents per `PutTraceSegments` call (`maxSegmentsPerPut`).
pub const MAX_DOCUMENTS: usize = 50;
/// Segment document size quota (L-D781C0FD).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Largest request body read.
const BODY_LIMIT: usize = 8 << 20;
/// Clock skew AWS tolerates between `x-amz-date` and now.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// `source` of documents the extension sent.
pub const SOURCE_EXTENSION: &str = "extension";
/// `source` of the segments the mock records itself for `--lambda-segments`.
pub const SOURCE_LAMBDA: &str = "lambda";
/// Fault events kept for the report.
const FAULT_LOG_CAP: usize = 500;
/// Rejection reasons kept for the report.
const REJECTIONS_CAP: usize = 20;
/// Call timings kept (the first ones; enough for 100,000 calls).
const CALLS_CAP: usize = 100_000;
/// Header that marks a [`probe`] call: answered as usual, never recorded or counted as the
/// extension's. Not a signed header, so the replayed signature still verifies.
pub const PROBE_HEADER: &str = "x-mock-probe";

/// One document as received.
#[derive(Debug, Clone)]
pub struct ReceivedDoc {
    pub at: Instant,
    /// Milliseconds since the mock started.
    pub received_ms: f64,
    pub document: Value,
    /// Schema problems found (missing `name`, bad `id`, …); empty when the document looks valid.
    pub problems: Vec<String>,
    /// [`SOURCE_EXTENSION`] or [`SOURCE_LAMBDA`].
    pub source: &'static str,
    /// `http` (`PutTraceSegments`) or `udp` (daemon); None for [`SOURCE_LAMBDA`].
    pub transport: Option<&'static str>,
}

impl ReceivedDoc {
    /// True for documents the extension sent (not the mock's own Lambda segments).
    pub fn sent_by_extension(&self) -> bool {
        self.source == SOURCE_EXTENSION
    }
}

/// One injected fault, for the report's `xray_fault_log`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FaultEvent {
    /// Milliseconds since the mock started.
    pub at_ms: f64,
    /// The `xray_faults_injected` key (`500`, `slow`, `down`, …).
    pub fault: String,
    /// Number of the `POST /TraceSegments` call it hit (1-based); null for `down` windows.
    pub call: Option<u64>,
}

/// One `PutTraceSegments` call from the extension, timed by the endpoint.
#[derive(Debug, Clone, Copy)]
pub struct CallTiming {
    /// When the request head arrived.
    pub at: Instant,
    /// Arrival → answer ready (body read, signature verified, documents parsed and recorded or
    /// counted); the answer is written right after. Injected delays (`slow`) included.
    pub service: Duration,
}

/// What the endpoint saw.
#[derive(Debug, Default, Clone)]
pub struct Records {
    /// Every `POST /TraceSegments` call that reached the endpoint while it was up.
    pub requests: u64,
    /// Calls answered 403 (signature) or 400 (request shape).
    pub rejected: u64,
    /// Calls answered with an injected HTTP error (500, 503, 429).
    pub injected_failures: u64,
    /// Injected faults by kind (every configured kind is present, 0 until it fires).
    pub faults_injected: BTreeMap<String, u64>,
    /// Each injected fault, in order (first 500).
    pub fault_log: Vec<FaultEvent>,
    /// Requests (on connections opened before a `down` window) closed without an answer.
    pub down_dropped: u64,
    /// Why calls were rejected (first 20).
    pub rejections: Vec<String>,
    /// Accepted documents, in arrival order, including the mock's own Lambda segments.
    pub documents: Vec<ReceivedDoc>,
    /// Datagrams received on the daemon socket.
    pub udp_datagrams: u64,
    /// Datagrams rejected (bad header, no or non-JSON document).
    pub udp_malformed: u64,
    /// Why datagrams were rejected (first 20).
    pub udp_rejections: Vec<String>,
    /// `--xray-count-only`: documents are counted, not kept in `documents`.
    pub count_only: bool,
    /// Documents accepted from the extension (over HTTP and UDP), kept or counted.
    pub extension_documents: u64,
    /// Spans in them (each document and each subsegment embedded in it).
    pub extension_spans: u64,
    /// Timing of each `POST /TraceSegments` call from the extension that got an answer
    /// (first [`CALLS_CAP`]).
    pub calls: Vec<CallTiming>,
    /// [`probe`] calls answered.
    pub probe_requests: u64,
}

/// The connection is closed without an answer: the endpoint is down.
#[derive(Debug, thiserror::Error)]
#[error("the X-Ray endpoint is down")]
pub struct Down;

pub struct Xray {
    started: Instant,
    records: Mutex<Records>,
    /// The extension's last call answered 200 (for [`probe`]).
    last_put: Mutex<Option<StoredPut>>,
    faults: Mutex<FaultQueue>,
    /// Wakes the accept loop when the fault queue may have changed.
    changed: Notify,
    /// Bumped when a `down` window opens: every open connection closes.
    cut: watch::Sender<u64>,
}

impl Xray {
    pub fn new(started: Instant, faults: &[FaultSpec]) -> Self {
        let mut records = Records::default();
        for f in faults {
            records
                .faults_injected
                .entry(f.key().to_string())
                .or_insert(0);
        }
        Self {
            started,
            records: Mutex::new(records),
            last_put: Mutex::new(None),
            faults: Mutex::new(FaultQueue::new(faults, Instant::now())),
            changed: Notify::new(),
            cut: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn queue(&self) -> MutexGuard<'_, FaultQueue> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn snapshot(&self) -> Records {
        self.lock().clone()
    }

    /// `--xray-count-only`: count documents and spans instead of keeping the documents.
    pub fn with_count_only(self, count_only: bool) -> Self {
        self.lock().count_only = count_only;
        self
    }

    /// Documents and spans accepted from the extension so far (cheap: no copy).
    pub fn delivered(&self) -> (u64, u64) {
        let r = self.lock();
        (r.extension_documents, r.extension_spans)
    }

    /// Calls from the extension that arrived in `[from, to]`: how many, and their summed
    /// service time.
    pub fn calls_between(&self, from: Instant, to: Instant) -> (u64, Duration) {
        let r = self.lock();
        r.calls
            .iter()
            .filter(|c| c.at >= from && c.at <= to)
            .fold((0, Duration::ZERO), |(n, t), c| (n + 1, t + c.service))
    }

    fn ms_since_start(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.started).as_secs_f64() * 1000.0
    }

    /// The first invocation started: `down` windows may open from now on.
    pub fn arm_faults(&self) {
        self.queue().arm(Instant::now());
        self.changed.notify_one();
    }

    fn count(&self, key: &str, call: Option<u64>) {
        let at_ms = self.ms_since_start(Instant::now());
        let mut r = self.lock();
        *r.faults_injected.entry(key.to_string()).or_insert(0) += 1;
        if r.fault_log.len() < FAULT_LOG_CAP {
            r.fault_log.push(FaultEvent {
                at_ms: (at_ms * 1000.0).round() / 1000.0,
                fault: key.to_string(),
                call,
            });
        }
    }

    fn count_windows(&self, q: &mut FaultQueue) {
        for _ in 0..q.opened_windows() {
            self.count(DOWN_KEY, None);
        }
    }

    /// End of the open `down` window, if any.
    fn down_until(&self, now: Instant) -> Option<Instant> {
        let mut q = self.queue();
        let until = q.down_until(now);
        self.count_windows(&mut q);
        until
    }

    fn take_fault(&self, now: Instant) -> Take {
        let mut q = self.queue();
        let t = q.take(now);
        self.count_windows(&mut q);
        drop(q);
        // The head may have changed (a `down` may be due): let the accept loop look.
        self.changed.notify_one();
        t
    }

    fn reject(&self, status: StatusCode, kind: &str, message: &str) -> Resp {
        let mut r = self.lock();
        r.rejected += 1;
        if r.rejections.len() < REJECTIONS_CAP {
            r.rejections
                .push(format!("{} {kind}: {message}", status.as_u16()));
        }
        json(status, &json!({"__type": kind, "message": message}))
    }

    fn accept(&self, docs: Vec<Value>, transport: &'static str, source: &'static str) {
        let at = Instant::now();
        let received_ms = self.ms_since_start(at);
        let mut r = self.lock();
        if source == SOURCE_EXTENSION {
            r.extension_documents += docs.len() as u64;
            r.extension_spans += docs
                .iter()
                .map(|d| document_ids(d).len() as u64)
                .sum::<u64>();
            if r.count_only {
                return;
            }
        }
        for document in docs {
            let problems = document_problems(&document);
            r.documents.push(ReceivedDoc {
                at,
                received_ms,
                document,
                problems,
                source,
                transport: (source == SOURCE_EXTENSION).then_some(transport),
            });
        }
    }

    /// Records one datagram from the daemon socket.
    pub fn record_datagram(&self, datagram: &[u8]) {
        self.lock().udp_datagrams += 1;
        match crate::daemon::parse_datagram(datagram) {
            Ok(doc) => self.accept(vec![doc], "udp", SOURCE_EXTENSION),
            Err(e) => {
                let mut r = self.lock();
                r.udp_malformed += 1;
                if r.udp_rejections.len() < REJECTIONS_CAP {
                    r.udp_rejections.push(e);
                }
            }
        }
    }

    /// Records a segment as if Lambda itself had sent it (`--lambda-segments`).
    pub fn record_lambda(&self, docs: Vec<Value>) {
        self.accept(docs, "", SOURCE_LAMBDA);
    }
}

/// Binds `127.0.0.1:0` and serves `POST /TraceSegments` in the background. Unlike
/// [`crate::http_util::serve`], the listener closes during `down` windows (connections are
/// refused) and reopens on the same port afterwards.
pub async fn serve(xray: Arc<Xray>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(accept_loop(xray, listener, addr));
    Ok(addr)
}

async fn accept_loop(xray: Arc<Xray>, listener: TcpListener, addr: SocketAddr) {
    let mut listener = Some(listener);
    loop {
        if let Some(until) = xray.down_until(Instant::now()) {
            if listener.take().is_some() {
                xray.cut.send_modify(|g| *g += 1);
            }
            tokio::time::sleep_until(until).await;
            continue;
        }
        let l = match &listener {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => listener.insert(l),
                Err(_) => {
                    // The port is briefly unavailable; try again.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            r = l.accept() => match r {
                Ok((stream, _)) => spawn_connection(&xray, stream),
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
            _ = xray.changed.notified() => {}
        }
    }
}

fn spawn_connection(xray: &Arc<Xray>, stream: TcpStream) {
    let mut cut = xray.cut.subscribe();
    let xray = xray.clone();
    tokio::spawn(async move {
        let svc = service_fn(move |req| handle(xray.clone(), req));
        let conn = http1::Builder::new()
            .title_case_headers(true)
            .serve_connection(TokioIo::new(stream), svc);
        // Connection errors (client vanished, frozen and killed) are expected.
        tokio::select! {
            _ = conn => {}
            _ = cut.changed() => {}
        }
    });
}

/// Serves one request. `Err` closes the connection without an answer (`down`).
pub async fn handle(xray: Arc<Xray>, req: Request<Incoming>) -> Result<Resp, Down> {
    if req.method() != Method::POST || req.uri().path() != "/TraceSegments" {
        return Ok(json(
            StatusCode::NOT_FOUND,
            &json!({"__type": "UnknownOperationException", "message": "mock X-Ray serves only POST /TraceSegments"}),
        ));
    }
    let arrived = Instant::now();
    if req.headers().contains_key(PROBE_HEADER) {
        return Ok(serve_probe(&xray, req).await);
    }
    let resp = serve_put(&xray, req).await;
    if resp.is_ok() {
        let mut r = xray.lock();
        if r.calls.len() < CALLS_CAP {
            r.calls.push(CallTiming {
                at: arrived,
                service: arrived.elapsed(),
            });
        }
    }
    resp
}

/// One `PutTraceSegments` call from the extension: faults, then [`process`].
async fn serve_put(xray: &Arc<Xray>, req: Request<Incoming>) -> Result<Resp, Down> {
    if xray.down_until(Instant::now()).is_some() {
        xray.lock().down_dropped += 1;
        return Err(Down);
    }
    let (parts, body) = req.into_parts();
    let call_no = {
        let mut r = xray.lock();
        r.requests += 1;
        r.requests
    };
    let body = match read_body(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return Ok(xray.reject(StatusCode::BAD_REQUEST, "InvalidRequestException", &e)),
    };
    let fault = match xray.take_fault(Instant::now()) {
        Take::Normal => None,
        Take::Down(_) => {
            xray.lock().down_dropped += 1;
            return Err(Down);
        }
        Take::Fault(f) => Some(f),
    };
    match fault {
        Some(f @ (Fault::InternalFailure | Fault::Unavailable | Fault::Throttled)) => {
            xray.count(f.key(), Some(call_no));
            xray.lock().injected_failures += 1;
            let (status, body) = f.error_answer().unwrap_or((500, Value::Null));
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Ok(json(status, &body))
        }
        Some(Fault::Hang) => {
            xray.count(Fault::Hang.key(), Some(call_no));
            // Never answer; the connection stays open until the client or a `down` closes it.
            std::future::pending::<()>().await;
            Err(Down)
        }
        Some(f @ Fault::Slow(delay)) => {
            xray.count(f.key(), Some(call_no));
            let resp = process(xray, &parts, &body, None, call_no, false);
            tokio::time::sleep(delay).await;
            Ok(resp)
        }
        other => {
            let resp = process(xray, &parts, &body, other, call_no, false);
            if other.is_none() && resp.status() == StatusCode::OK {
                if let Ok(mut last) = xray.last_put.lock() {
                    *last = Some(StoredPut {
                        path_and_query: parts
                            .uri
                            .path_and_query()
                            .map(|p| p.as_str().to_string())
                            .unwrap_or_else(|| "/TraceSegments".into()),
                        headers: parts.headers.clone(),
                        body,
                    });
                }
            }
            Ok(resp)
        }
    }
}

/// A [`probe`] call: verified and parsed like any call, never faulted, recorded or counted as
/// the extension's.
async fn serve_probe(xray: &Xray, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match read_body(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return xray.reject(StatusCode::BAD_REQUEST, "InvalidRequestException", &e),
    };
    process(xray, &parts, &body, None, 0, true)
}

/// Verifies, parses and records one call. `fault` is `Unprocessed` or `Invalid` (every
/// document returned unprocessed, nothing recorded) or None; a rejected call gives its fault
/// back to the queue. A `probe` call is answered the same way but nothing is recorded.
fn process(
    xray: &Xray,
    parts: &http::request::Parts,
    body: &[u8],
    fault: Option<Fault>,
    call_no: u64,
    probe: bool,
) -> Resp {
    let give_back = || {
        if let Some(f) = fault {
            xray.queue().put_back(f);
        }
    };
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/TraceSegments");
    if let Err(e) = verify_sigv4(
        parts.method.as_str(),
        pq,
        &parts.headers,
        body,
        SystemTime::now(),
    ) {
        give_back();
        return xray.reject(StatusCode::FORBIDDEN, "InvalidSignatureException", &e);
    }
    let docs = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut v)) => match v.remove("TraceSegmentDocuments") {
            Some(Value::Array(a)) => a,
            _ => {
                give_back();
                return xray.reject(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestException",
                    "TraceSegmentDocuments is required and must be a list",
                );
            }
        },
        Ok(_) => {
            give_back();
            return xray.reject(
                StatusCode::BAD_REQUEST,
                "InvalidRequestException",
                "TraceSegmentDocuments is required and must be a list",
            );
        }
        Err(e) => {
            give_back();
            return xray.reject(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                &format!("body is not JSON: {e}"),
            );
        }
    };
    if docs.len() > MAX_DOCUMENTS {
        give_back();
        return xray.reject(
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
            &format!(
                "1 validation error detected: Value at 'traceSegmentDocuments' failed to satisfy constraint: Member must have length less than or equal to {MAX_DOCUMENTS} (got {})",
                docs.len()
            ),
        );
    }
    if let Some(f) = fault {
        let code = f.unprocessed_code().unwrap_or("InternalFailure");
        let message = match f {
            Fault::Unprocessed => "Rate exceeded",
            _ => "Invalid segment",
        };
        xray.count(f.key(), Some(call_no));
        let unprocessed: Vec<Value> = docs
            .iter()
            .map(|d| json!({"Id": best_effort_id(d), "ErrorCode": code, "Message": message}))
            .collect();
        return json(
            StatusCode::OK,
            &json!({"UnprocessedTraceSegments": unprocessed}),
        );
    }
    let count_only = xray.lock().count_only;
    let mut unprocessed = Vec::new();
    let mut accepted = Vec::new();
    let (mut counted_docs, mut counted_spans) = (0u64, 0u64);
    for d in docs {
        let text = match d.as_str() {
            Some(s) if s.len() > MAX_DOCUMENT_BYTES => Err(format!(
                "document is {} bytes, over the {MAX_DOCUMENT_BYTES}-byte limit",
                s.len()
            )),
            Some(s) => Ok(s),
            None => Err("document is not a string".into()),
        };
        let outcome = text.and_then(|s| {
            if count_only {
                count_spans(s).map(|n| {
                    counted_docs += 1;
                    counted_spans += n;
                })
            } else {
                parse_document(s).map(|v| accepted.push(v))
            }
        });
        if let Err(message) = outcome {
            unprocessed.push(
                json!({"Id": best_effort_id(&d), "ErrorCode": "InvalidSegment", "Message": message}),
            );
        }
    }
    if probe {
        xray.lock().probe_requests += 1;
    } else if count_only {
        let mut r = xray.lock();
        r.extension_documents += counted_docs;
        r.extension_spans += counted_spans;
    } else {
        xray.accept(accepted, "http", SOURCE_EXTENSION);
    }
    json(
        StatusCode::OK,
        &json!({"UnprocessedTraceSegments": unprocessed}),
    )
}

/// A document string parsed into a JSON object.
fn parse_document(s: &str) -> Result<Value, String> {
    serde_json::from_str::<Value>(s)
        .map_err(|e| format!("document is not JSON: {e}"))
        .and_then(|v| {
            if v.is_object() {
                Ok(v)
            } else {
                Err("document is not a JSON object".into())
            }
        })
}

/// The shape `--xray-count-only` reads of a document: its embedded subsegments, every other
/// field skipped without being kept.
#[derive(Deserialize)]
struct Shape {
    #[serde(default)]
    subsegments: Vec<Shape>,
}

impl Shape {
    fn spans(&self) -> u64 {
        1 + self.subsegments.iter().map(Shape::spans).sum::<u64>()
    }
}

/// Spans in a document (itself and every embedded subsegment), without keeping it; `Err` when
/// it is not a JSON object (or `subsegments` is not a list of objects).
fn count_spans(s: &str) -> Result<u64, String> {
    if !s.trim_start().starts_with('{') {
        return Err("document is not a JSON object".into());
    }
    serde_json::from_str::<Shape>(s)
        .map(|shape| shape.spans())
        .map_err(|e| format!("document is not JSON: {e}"))
}

/// The extension's last call answered 200, kept for [`probe`].
#[derive(Debug, Clone)]
struct StoredPut {
    path_and_query: String,
    headers: HeaderMap,
    body: Bytes,
}

/// Replays the extension's last accepted `PutTraceSegments` call (same headers, so the same
/// signature, and the same body) `n` times, one after the other over one kept-alive
/// connection, marked with [`PROBE_HEADER`] so nothing is recorded; returns each round trip
/// (request written → whole answer read), the endpoint's own round trip for that call. The
/// client runs on a thread and runtime of its own, so, like the extension, it is scheduled
/// apart from the endpoint (an in-runtime client would see a shorter round trip than any
/// other process can). `Err` when the extension made no such call or a probe call fails.
pub async fn probe(xray: &Xray, addr: SocketAddr, n: usize) -> Result<Vec<Duration>, String> {
    let stored = xray
        .last_put
        .lock()
        .ok()
        .and_then(|l| l.clone())
        .ok_or("the extension made no accepted PutTraceSegments call to replay")?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("xray-probe".into())
        .spawn(move || {
            let result = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(replay(stored, addr, n)),
                Err(e) => Err(format!("cannot start the probe runtime: {e}")),
            };
            let _ = tx.send(result);
        })
        .map_err(|e| format!("cannot start the probe thread: {e}"))?;
    rx.await
        .map_err(|_| "the probe thread ended without an answer".to_string())?
}

/// The client side of [`probe`].
async fn replay(stored: StoredPut, addr: SocketAddr, n: usize) -> Result<Vec<Duration>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let conn = tokio::spawn(conn);
    let mut out = Vec::with_capacity(n);
    let result = async {
        for _ in 0..n {
            let mut req = Request::post(stored.path_and_query.as_str())
                .body(Full::new(stored.body.clone()))
                .map_err(|e| format!("cannot build the probe request: {e}"))?;
            *req.headers_mut() = stored.headers.clone();
            req.headers_mut()
                .insert(PROBE_HEADER, hyper::header::HeaderValue::from_static("1"));
            sender
                .ready()
                .await
                .map_err(|e| format!("connection closed: {e}"))?;
            let t = Instant::now();
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| format!("probe call failed: {e}"))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("probe answer: {e}"))?
                .to_bytes();
            out.push(t.elapsed());
            if status != StatusCode::OK {
                return Err(format!(
                    "probe call answered {status}: {}",
                    String::from_utf8_lossy(&body)
                ));
            }
        }
        Ok(())
    }
    .await;
    conn.abort();
    result.map(|()| out)
}

/// The `id` of a document string, best effort (as X-Ray reports it), else "".
fn best_effort_id(doc: &Value) -> String {
    doc.as_str()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default()
}

/// A document the extension delivered more than once.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Duplicate {
    pub trace_id: String,
    pub id: String,
    /// Copies received (≥ 2).
    pub copies: u32,
    /// When each copy arrived (ms since the mock started).
    pub received_ms: Vec<f64>,
}

/// Documents from the extension received more than once: same `trace_id` and `id` (an
/// `in_progress` copy followed by the completed one is an update, not a duplicate).
pub fn duplicates(docs: &[ReceivedDoc]) -> Vec<Duplicate> {
    let mut seen: BTreeMap<(String, String, bool), Vec<f64>> = BTreeMap::new();
    let mut order = Vec::new();
    for d in docs.iter().filter(|d| d.sent_by_extension()) {
        let (Some(t), Some(id)) = (
            d.document.get("trace_id").and_then(Value::as_str),
            d.document.get("id").and_then(Value::as_str),
        ) else {
            continue;
        };
        let in_progress = d.document.get("in_progress").and_then(Value::as_bool) == Some(true);
        let key = (t.to_string(), id.to_ascii_lowercase(), in_progress);
        let times = seen.entry(key.clone()).or_default();
        if times.len() == 1 {
            order.push(key);
        }
        times.push((d.received_ms * 1000.0).round() / 1000.0);
    }
    order
        .into_iter()
        .filter_map(|key| {
            let times = seen.remove(&key)?;
            Some(Duplicate {
                trace_id: key.0,
                id: key.1,
                copies: times.len() as u32,
                received_ms: times,
            })
        })
        .collect()
}

/// How many times each span id arrived in a completed document from the extension (as the
/// document itself or as an embedded subsegment).
pub fn span_copies(docs: &[ReceivedDoc]) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for d in docs.iter().filter(|d| d.sent_by_extension()) {
        if d.document.get("in_progress").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        for id in document_ids(&d.document) {
            *out.entry(id).or_insert(0) += 1;
        }
    }
    out
}

/// Required fields of a segment document (xray-schema-notes): `name`, `id` (16 hex),
/// `trace_id` (`1-8hex-24hex`), `start_time`, and `end_time` or `in_progress`; subsegments
/// sent on their own also need `type: "subsegment"` and `parent_id`.
pub fn document_problems(doc: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let is_hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|c| c.is_ascii_hexdigit());
    match doc.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => {}
        _ => p.push("missing name".to_string()),
    }
    match doc.get("id").and_then(Value::as_str) {
        Some(id) if is_hex(id, 16) => {}
        other => p.push(format!("bad id {other:?}")),
    }
    let trace_ok = doc
        .get("trace_id")
        .and_then(Value::as_str)
        .map(|t| {
            let parts: Vec<&str> = t.split('-').collect();
            parts.len() == 3 && parts[0] == "1" && is_hex(parts[1], 8) && is_hex(parts[2], 24)
        })
        .unwrap_or(false);
    if !trace_ok {
        p.push(format!("bad trace_id {:?}", doc.get("trace_id")));
    }
    if !doc.get("start_time").map(Value::is_number).unwrap_or(false) {
        p.push("missing start_time".to_string());
    }
    let in_progress = doc
        .get("in_progress")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !in_progress && !doc.get("end_time").map(Value::is_number).unwrap_or(false) {
        p.push("missing end_time (and not in_progress)".to_string());
    }
    if doc.get("type").and_then(Value::as_str) == Some("subsegment")
        && doc.get("parent_id").is_none()
    {
        p.push("independent subsegment without parent_id".to_string());
    }
    p
}

/// Ids of a document and of the subsegments embedded in it (recursively).
pub fn document_ids(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        if let Some(id) = v.get("id").and_then(Value::as_str) {
            out.push(id.to_ascii_lowercase());
        }
        if let Some(subs) = v.get("subsegments").and_then(Value::as_array) {
            for s in subs {
                walk(s, out);
            }
        }
    }
    walk(doc, &mut out);
    out
}

/// Verifies an `Authorization: AWS4-HMAC-SHA256 …` header by re-signing the request with
/// `aws-sigv4` (the same headers, time and body) and comparing the signatures.
pub fn verify_sigv4(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), String> {
    let get = |name: &str| -> Result<Option<&str>, String> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(Some)
                .map_err(|_| format!("header {name} is not visible ASCII")),
        }
    };
    let auth = get("authorization")?.ok_or("missing Authorization header (request not signed)")?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("Authorization is not AWS4-HMAC-SHA256")?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| format!("malformed Authorization component {part:?}"))?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let credential = credential.ok_or("Authorization lacks Credential")?;
    let signed_headers = signed_headers.ok_or("Authorization lacks SignedHeaders")?;
    let signature = signature.ok_or("Authorization lacks Signature")?;

    let scope: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, terminator] = scope[..] else {
        return Err(format!("malformed Credential {credential:?}"));
    };
    if akid != ACCESS_KEY_ID {
        return Err(format!("unknown access key {akid:?}"));
    }
    if region != REGION || service != SERVICE || terminator != "aws4_request" {
        return Err(format!(
            "credential scope {date}/{region}/{service}/{terminator} is not <date>/{REGION}/{SERVICE}/aws4_request"
        ));
    }
    let amz_date = get("x-amz-date")?.ok_or("missing x-amz-date header")?;
    let time = parse_amz_date(amz_date).ok_or_else(|| format!("bad x-amz-date {amz_date:?}"))?;
    if !amz_date.starts_with(date) {
        return Err(format!(
            "credential date {date} does not match x-amz-date {amz_date}"
        ));
    }
    let skew = now
        .duration_since(time)
        .or_else(|_| time.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_SKEW {
        return Err(format!(
            "signature time {amz_date} is more than 15 minutes from now"
        ));
    }
    let token = get("x-amz-security-token")?.ok_or("missing x-amz-security-token header")?;
    if token != SESSION_TOKEN {
        return Err("wrong x-amz-security-token".into());
    }

    // The headers the client signed, minus the ones the signer adds itself.
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err("SignedHeaders must include host".into());
    }
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for name in &names {
        if *name == "x-amz-date" || *name == "x-amz-security-token" {
            continue;
        }
        let values = headers.get_all(*name);
        let mut any = false;
        for v in values {
            let v = v
                .to_str()
                .map_err(|_| format!("signed header {name} is not visible ASCII"))?;
            pairs.push((name, v));
            any = true;
        }
        if !any {
            return Err(format!("signed header {name} is missing from the request"));
        }
    }
    let host = get("host")?.ok_or("missing Host header")?;
    let uri = format!("http://{host}{path_and_query}");
    if uri
        .parse::<http::Uri>()
        .map(|u| u.authority().is_none())
        .unwrap_or(true)
    {
        return Err(format!("cannot rebuild the request URI from Host {host:?}"));
    }

    let identity = Credentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        Some(SESSION_TOKEN.into()),
        None,
        "mock-lambda",
    )
    .into();
    let mut settings = SigningSettings::default();
    // Only the signed headers are passed in, so nothing needs excluding.
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("signing params: {e}"))?
        .into();
    let signable = SignableRequest::new(method, uri, pairs.into_iter(), SignableBody::Bytes(body))
        .map_err(|e| format!("cannot rebuild the request: {e}"))?;
    let expected = sign(signable, &params)
        .map_err(|e| format!("cannot re-sign the request: {e}"))?
        .signature()
        .to_string();
    if expected != signature {
        return Err(
            "The request signature we calculated does not match the signature you provided".into(),
        );
    }
    Ok(())
}

/// `20150830T123600Z` → time; `None` for any other shape or an impossible date.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let format =
        time::format_description::parse_borrowed::<2>("[year][month][day]T[hour][minute][second]Z")
            .ok()?;
    let t = time::PrimitiveDateTime::parse(s, &format).ok()?;
    Some(SystemTime::from(t.assume_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::SigningSettings;

    /// Signs like the AWS SDK does and returns the headers of the signed request.
    fn signed(body: &[u8], time: SystemTime, secret: &str) -> HeaderMap {
        let identity =
            Credentials::new(ACCESS_KEY_ID, secret, Some(SESSION_TOKEN.into()), None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(SERVICE)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let mut req = http::Request::post("http://127.0.0.1:40000/TraceSegments")
            .header("host", "127.0.0.1:40000")
            .header("content-type", "application/x-amz-json-1.1")
            .header("content-length", body.len().to_string())
            .header("x-amz-user-agent", "aws-sdk-rust/1.0 api/xray")
            .header("user-agent", "aws-sdk-rust/1.0")
            .body(())
            .unwrap();
        let hs: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            "http://127.0.0.1:40000/TraceSegments",
            hs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instr, _) = sign(signable, &params).unwrap().into_parts();
        instr.apply_to_request_http1x(&mut req);
        req.headers().clone()
    }

    #[test]
    fn accepts_a_real_signature_and_rejects_tampering() {
        let now = SystemTime::now();
        let body = br#"{"TraceSegmentDocuments":[]}"#;
        let h = signed(body, now, SECRET_ACCESS_KEY);
        assert_eq!(
            verify_sigv4("POST", "/TraceSegments", &h, body, now),
            Ok(())
        );
        // body tampered
        assert!(verify_sigv4("POST", "/TraceSegments", &h, b"{}", now).is_err());
        // path / method tampered
        assert!(verify_sigv4("POST", "/Other", &h, body, now).is_err());
        assert!(verify_sigv4("PUT", "/TraceSegments", &h, body, now).is_err());
        // a signed header changed
        let mut h2 = h.clone();
        h2.insert("content-type", "text/plain".parse().unwrap());
        assert!(verify_sigv4("POST", "/TraceSegments", &h2, body, now).is_err());
        // an unsigned header changed: fine
        let mut h3 = h.clone();
        h3.insert("user-agent", "other".parse().unwrap());
        assert_eq!(
            verify_sigv4("POST", "/TraceSegments", &h3, body, now),
            Ok(())
        );
        // wrong secret
        let h4 = signed(body, now, "other-secret");
        assert!(verify_sigv4("POST", "/TraceSegments", &h4, body, now)
            .unwrap_err()
            .contains("does not match"));
        // missing token / date / authorization
        for name in ["x-amz-security-token", "x-amz-date", "authorization"] {
            let mut h5 = h.clone();
            h5.remove(name);
            assert!(
                verify_sigv4("POST", "/TraceSegments", &h5, body, now).is_err(),
                "{name}"
            );
        }
        // too old
        assert!(verify_sigv4(
            "POST",
            "/TraceSegments",
            &h,
            body,
            now + Duration::from_secs(3600)
        )
        .is_err());
        // garbage authorization never panics
        for junk in ["", "AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256 Credential=a/b", "AWS4-HMAC-SHA256 Credential=AKIDMOCKLAMBDA00000/2/us-east-1/xray/aws4_request, SignedHeaders=, Signature=x"] {
            let mut h6 = h.clone();
            h6.insert("authorization", junk.parse().unwrap());
            assert!(verify_sigv4("POST", "/TraceSegments", &h6, body, now).is_err(), "{junk}");
        }
        let mut h7 = h.clone();
        h7.insert("host", "[bad".parse().unwrap());
        assert!(verify_sigv4("POST", "/TraceSegments", &h7, body, now).is_err());
    }

    #[test]
    fn amz_dates() {
        assert_eq!(
            parse_amz_date("20150830T123600Z"),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(1_440_938_160))
        );
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
        assert_eq!(parse_amz_date("20151330T123600Z"), None);
        assert_eq!(parse_amz_date("2015083xT123600Z"), None);
    }

    #[test]
    fn ids_and_problems() {
        let doc = json!({
            "name": "a", "id": "AAAAAAAAAAAAAAA1", "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
            "start_time": 1.0, "end_time": 2.0,
            "subsegments": [{"id": "bbbbbbbbbbbbbbb2", "subsegments": [{"id": "ccccccccccccccc3"}]}]
        });
        assert_eq!(
            document_ids(&doc),
            vec!["aaaaaaaaaaaaaaa1", "bbbbbbbbbbbbbbb2", "ccccccccccccccc3"]
        );
        assert!(document_problems(&doc).is_empty());
        assert_eq!(document_problems(&json!({"type": "subsegment"})).len(), 6);
    }

    fn sdk_client(addr: SocketAddr, timeout: Option<Duration>) -> aws_sdk_xray::Client {
        let mut timeouts = aws_sdk_xray::config::timeout::TimeoutConfig::builder();
        if let Some(t) = timeout {
            timeouts = timeouts.operation_timeout(t);
        }
        let conf = aws_sdk_xray::Config::builder()
            .behavior_version(aws_sdk_xray::config::BehaviorVersion::latest())
            .region(aws_sdk_xray::config::Region::new(REGION))
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                Some(SESSION_TOKEN.into()),
                None,
                "t",
            ))
            .endpoint_url(format!("http://{addr}"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .retry_config(aws_sdk_xray::config::retry::RetryConfig::disabled())
            .timeout_config(timeouts.build())
            .build();
        aws_sdk_xray::Client::from_conf(conf)
    }

    fn doc(id: &str) -> String {
        json!({"name": "svc", "id": id, "trace_id": "1-581cf771-a006649127e371903a2de979", "start_time": 1.0, "end_time": 2.0}).to_string()
    }

    fn specs(v: &[&str]) -> Vec<FaultSpec> {
        v.iter()
            .map(|s| crate::faults::parse_fault(s).unwrap())
            .collect()
    }

    /// The real AWS SDK for Rust signs, the mock verifies: proves the verifier matches the
    /// SDK the extension uses.
    #[tokio::test]
    async fn aws_sdk_put_trace_segments_is_accepted() {
        let xray = Arc::new(Xray::new(Instant::now(), &specs(&["500:1"])));
        let addr = serve(xray.clone()).await.unwrap();
        let client = sdk_client(addr, None);
        let doc = doc("70de5b6f19ff9a0a");
        // first call: injected 500
        assert!(client
            .put_trace_segments()
            .trace_segment_documents(doc.clone())
            .send()
            .await
            .is_err());
        let out = client
            .put_trace_segments()
            .trace_segment_documents(doc)
            .trace_segment_documents("{not json")
            .send()
            .await
            .unwrap();
        let un = out.unprocessed_trace_segments();
        assert_eq!(un.len(), 1);
        assert_eq!(un[0].error_code(), Some("InvalidSegment"));
        let r = xray.snapshot();
        assert_eq!(
            (
                r.requests,
                r.rejected,
                r.injected_failures,
                r.documents.len()
            ),
            (2, 0, 1, 1)
        );
        assert_eq!(r.documents[0].document["name"], "svc");
        assert_eq!(r.documents[0].transport, Some("http"));
        assert_eq!(r.faults_injected.get("500"), Some(&1));

        // unsigned → 403 and counted
        let client2: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let resp = client2
            .request(
                hyper::Request::post(format!("http://{addr}/TraceSegments"))
                    .body(http_body_util::Full::from(
                        r#"{"TraceSegmentDocuments":[]}"#,
                    ))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        assert_eq!(xray.snapshot().rejected, 1);
    }

    #[tokio::test]
    async fn count_only_counts_documents_and_spans_without_keeping_them() {
        let xray = Arc::new(Xray::new(Instant::now(), &[]).with_count_only(true));
        let addr = serve(xray.clone()).await.unwrap();
        let client = sdk_client(addr, None);
        let nested = json!({"name": "svc", "id": "aaaaaaaaaaaaaaaa", "trace_id": "1-581cf771-a006649127e371903a2de979",
            "start_time": 1.0, "end_time": 2.0,
            "subsegments": [{"id": "bbbbbbbbbbbbbbbb", "name": "x", "start_time": 1.0, "end_time": 1.5,
                             "subsegments": [{"id": "cccccccccccccccc", "name": "y", "start_time": 1.1, "end_time": 1.2}]}]})
        .to_string();
        let out = client
            .put_trace_segments()
            .trace_segment_documents(doc("1111111111111111"))
            .trace_segment_documents(nested)
            .trace_segment_documents("{not json")
            .trace_segment_documents("[1, 2]")
            .send()
            .await
            .unwrap();
        // Bad documents are answered as X-Ray does, and not counted.
        let un = out.unprocessed_trace_segments();
        assert_eq!(un.len(), 2);
        assert!(un.iter().all(|u| u.error_code() == Some("InvalidSegment")));
        client
            .put_trace_segments()
            .trace_segment_documents(doc("2222222222222222"))
            .send()
            .await
            .unwrap();
        let r = xray.snapshot();
        assert!(r.count_only);
        assert_eq!((r.extension_documents, r.extension_spans), (3, 5));
        assert_eq!(xray.delivered(), (3, 5));
        assert!(r.documents.is_empty(), "count-only keeps no document");
        assert_eq!((r.requests, r.rejected), (2, 0));
        // Unsigned calls are still refused.
        let plain: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let resp = plain
            .request(
                hyper::Request::post(format!("http://{addr}/TraceSegments"))
                    .body(http_body_util::Full::from(
                        r#"{"TraceSegmentDocuments":[]}"#,
                    ))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        assert_eq!(xray.delivered(), (3, 5));
    }

    #[tokio::test]
    async fn calls_are_timed_and_the_probe_replays_the_last_one_without_recording_it() {
        let xray = Arc::new(Xray::new(Instant::now(), &[]));
        let addr = serve(xray.clone()).await.unwrap();
        // Nothing to replay yet.
        assert!(probe(&xray, addr, 3).await.is_err());
        let before = Instant::now();
        sdk_client(addr, None)
            .put_trace_segments()
            .trace_segment_documents(doc("1111111111111111"))
            .send()
            .await
            .unwrap();
        let after = Instant::now();
        let rtts = probe(&xray, addr, 5).await.unwrap();
        assert_eq!(rtts.len(), 5);
        assert!(rtts.iter().all(|d| *d > Duration::ZERO));
        let r = xray.snapshot();
        // The replays verified (same signature) and were answered, but only the extension's
        // call is recorded and timed.
        assert_eq!(r.probe_requests, 5);
        assert_eq!((r.requests, r.rejected), (1, 0));
        assert_eq!(r.documents.len(), 1);
        assert_eq!(r.extension_documents, 1);
        assert_eq!(r.calls.len(), 1);
        let (n, service) = xray.calls_between(before, after);
        assert_eq!(n, 1);
        assert!(service <= after - before);
        assert_eq!(xray.calls_between(after, Instant::now()).0, 0);
    }

    #[tokio::test]
    async fn call_faults_apply_in_order_and_are_counted() {
        let xray = Arc::new(Xray::new(
            Instant::now(),
            &specs(&["429:1", "503:1", "unprocessed:1", "invalid:1", "slow:60:1"]),
        ));
        let addr = serve(xray.clone()).await.unwrap();
        let client = sdk_client(addr, None);
        let put = |d: String| {
            client
                .put_trace_segments()
                .trace_segment_documents(d)
                .send()
        };
        let e = put(doc("1111111111111111")).await.unwrap_err();
        assert_eq!(
            e.into_service_error().meta().code(),
            Some("ThrottledException")
        );
        let e = put(doc("1111111111111111")).await.unwrap_err();
        assert_eq!(
            e.raw_response().map(|r| r.status().as_u16()),
            Some(503),
            "503"
        );
        let out = put(doc("1111111111111111")).await.unwrap();
        let un = out.unprocessed_trace_segments();
        assert_eq!(
            (un.len(), un[0].id(), un[0].error_code()),
            (1, Some("1111111111111111"), Some("ThrottledException"))
        );
        let out = put(doc("1111111111111111")).await.unwrap();
        assert_eq!(
            out.unprocessed_trace_segments()[0].error_code(),
            Some("InvalidSegment")
        );
        assert!(xray.snapshot().documents.is_empty());
        let t = std::time::Instant::now();
        let out = put(doc("1111111111111111")).await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(60));
        assert!(out.unprocessed_trace_segments().is_empty());
        put(doc("1111111111111111")).await.unwrap();
        put(doc("2222222222222222")).await.unwrap();
        let r = xray.snapshot();
        assert_eq!(r.documents.len(), 3);
        assert_eq!(r.requests, 7);
        assert_eq!(r.injected_failures, 2);
        for k in ["429", "503", "unprocessed", "invalid", "slow"] {
            assert_eq!(r.faults_injected.get(k), Some(&1), "{k}");
        }
        assert_eq!(
            r.fault_log.iter().map(|e| e.call).collect::<Vec<_>>(),
            vec![Some(1), Some(2), Some(3), Some(4), Some(5)]
        );
        let dups = duplicates(&r.documents);
        assert_eq!(dups.len(), 1);
        assert_eq!(
            (dups[0].id.as_str(), dups[0].copies),
            ("1111111111111111", 2)
        );
        assert_eq!(span_copies(&r.documents).get("2222222222222222"), Some(&1));
    }

    #[tokio::test]
    async fn a_rejected_call_does_not_use_up_an_unprocessed_fault() {
        let xray = Arc::new(Xray::new(Instant::now(), &specs(&["unprocessed:1"])));
        let addr = serve(xray.clone()).await.unwrap();
        let plain: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let resp = plain
            .request(
                hyper::Request::post(format!("http://{addr}/TraceSegments"))
                    .body(http_body_util::Full::from("{}"))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        let out = sdk_client(addr, None)
            .put_trace_segments()
            .trace_segment_documents(doc("1111111111111111"))
            .send()
            .await
            .unwrap();
        assert_eq!(out.unprocessed_trace_segments().len(), 1);
        assert_eq!(xray.snapshot().faults_injected.get("unprocessed"), Some(&1));
    }

    #[tokio::test]
    async fn hang_never_answers_then_service_resumes() {
        let xray = Arc::new(Xray::new(Instant::now(), &specs(&["hang:1"])));
        let addr = serve(xray.clone()).await.unwrap();
        let client = sdk_client(addr, Some(Duration::from_millis(200)));
        let put = || {
            client
                .put_trace_segments()
                .trace_segment_documents(doc("1111111111111111"))
                .send()
        };
        assert!(put().await.is_err());
        put().await.unwrap();
        let r = xray.snapshot();
        assert_eq!(r.faults_injected.get("hang"), Some(&1));
        assert_eq!(r.documents.len(), 1);
    }

    #[tokio::test]
    async fn down_refuses_connections_after_the_first_invocation_then_recovers() {
        use tokio::io::AsyncReadExt;
        let xray = Arc::new(Xray::new(Instant::now(), &specs(&["down:300", "500:1"])));
        let addr = serve(xray.clone()).await.unwrap();
        let client = sdk_client(addr, Some(Duration::from_secs(2)));
        let put = || {
            client
                .put_trace_segments()
                .trace_segment_documents(doc("1111111111111111"))
                .send()
        };
        // Before the first invocation: up, and the `down` waits.
        put().await.unwrap();
        let mut idle = TcpStream::connect(addr).await.unwrap();
        xray.arm_faults();
        tokio::time::sleep(Duration::from_millis(30)).await;
        // The open connection was closed, new ones are refused, calls fail.
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(1), idle.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        assert!(TcpStream::connect(addr).await.is_err());
        assert!(put().await.is_err());
        tokio::time::sleep(Duration::from_millis(350)).await;
        // Recovered, on the same port; then the 500 that followed the window.
        assert!(put().await.is_err());
        put().await.unwrap();
        let r = xray.snapshot();
        assert_eq!(r.faults_injected.get("down"), Some(&1));
        assert_eq!(r.faults_injected.get("500"), Some(&1));
        assert_eq!(r.documents.len(), 2);
    }

    #[test]
    fn datagrams_are_recorded_or_counted() {
        let xray = Xray::new(Instant::now(), &[]);
        xray.record_datagram(
            format!(
                "{{\"format\": \"json\", \"version\": 1}}\n{}",
                doc("3333333333333333")
            )
            .as_bytes(),
        );
        xray.record_datagram(b"{\"format\":\"json\",\"version\":1}\nnot json");
        xray.record_datagram(b"garbage");
        xray.record_lambda(vec![json!({"id": "4444444444444444", "trace_id": "t"})]);
        let r = xray.snapshot();
        assert_eq!((r.udp_datagrams, r.udp_malformed), (3, 2));
        assert_eq!(r.udp_rejections.len(), 2);
        assert_eq!(r.documents.len(), 2);
        assert_eq!(r.documents[0].transport, Some("udp"));
        assert!(r.documents[0].sent_by_extension());
        assert_eq!(r.documents[1].source, SOURCE_LAMBDA);
        assert_eq!(r.documents[1].transport, None);
        // Lambda's own segments are not spans and never duplicates.
        assert!(!span_copies(&r.documents).contains_key("4444444444444444"));
    }

    #[test]
    fn duplicate_detection() {
        let t0 = Instant::now();
        let mk = |v: Value, ms: f64, source: &'static str| ReceivedDoc {
            at: t0,
            received_ms: ms,
            document: v,
            problems: vec![],
            source,
            transport: Some("http"),
        };
        let t = "1-581cf771-a006649127e371903a2de979";
        let docs = vec![
            mk(
                json!({"trace_id": t, "id": "aaaaaaaaaaaaaaaa", "in_progress": true}),
                1.0,
                SOURCE_EXTENSION,
            ),
            mk(
                json!({"trace_id": t, "id": "aaaaaaaaaaaaaaaa", "end_time": 2.0}),
                2.0,
                SOURCE_EXTENSION,
            ),
            mk(
                json!({"trace_id": t, "id": "bbbbbbbbbbbbbbbb", "subsegments": [{"id": "cccccccccccccccc"}]}),
                3.0,
                SOURCE_EXTENSION,
            ),
            mk(
                json!({"trace_id": t, "id": "BBBBBBBBBBBBBBBB"}),
                4.0,
                SOURCE_EXTENSION,
            ),
            mk(
                json!({"trace_id": t, "id": "bbbbbbbbbbbbbbbb"}),
                5.0,
                SOURCE_EXTENSION,
            ),
            mk(
                json!({"trace_id": "1-00000000-000000000000000000000000", "id": "bbbbbbbbbbbbbbbb"}),
                6.0,
                SOURCE_EXTENSION,
            ),
            mk(
                json!({"trace_id": t, "id": "cccccccccccccccc", "type": "subsegment", "parent_id": "bbbbbbbbbbbbbbbb"}),
                7.0,
                SOURCE_EXTENSION,
            ),
            mk(
                json!({"trace_id": t, "id": "dddddddddddddddd"}),
                8.0,
                SOURCE_LAMBDA,
            ),
            mk(
                json!({"trace_id": t, "id": "dddddddddddddddd"}),
                9.0,
                SOURCE_LAMBDA,
            ),
            mk(json!({"id": "eeeeeeeeeeeeeeee"}), 10.0, SOURCE_EXTENSION),
            mk(json!({"id": "eeeeeeeeeeeeeeee"}), 11.0, SOURCE_EXTENSION),
        ];
        let d = duplicates(&docs);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].id, "bbbbbbbbbbbbbbbb");
        assert_eq!(d[0].copies, 3);
        assert_eq!(d[0].received_ms, vec![3.0, 4.0, 5.0]);
        let c = span_copies(&docs);
        assert_eq!(c.get("aaaaaaaaaaaaaaaa"), Some(&1));
        assert_eq!(c.get("bbbbbbbbbbbbbbbb"), Some(&4));
        assert_eq!(c.get("cccccccccccccccc"), Some(&2));
        assert_eq!(c.get("dddddddddddddddd"), None);
    }
}
