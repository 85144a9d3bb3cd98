//! loadgen: an OTLP load generator, run as the "function" of `mock-lambda` for the throughput
//! and memory figures of `make bench` (`benches/lambda.rs`, issue 5).
//!
//! It sends OTLP trace export requests to the collector for a fixed time, as fast as the
//! collector answers or at a target rate, and prints its totals. Like a Lambda function with
//! an OpenTelemetry SDK it reads:
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`, or `:4317` for gRPC) and
//!   `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the default, or `grpc`), set by the mock;
//! - `MOCK_XRAY_COUNT_ONLY=1` (set by `mock-lambda --xray-count-only`): then it prints no
//!   `SPAN <trace_id> <span_id>` lines — the mock only counts documents, so per-span accounting
//!   does not apply; compare the `spans_sent` total with the endpoint's count instead.
//!
//! Arguments (pass them with `mock-lambda --function-arg`):
//! - `--spans-per-request <N>` (default 50): spans per export request;
//! - `--duration-ms <N>` (default 10000): how long to send;
//! - `--rate <N>` (default 0): target spans per second over all connections; 0 = as fast as
//!   the collector answers (closed loop: each connection sends its next request when the
//!   previous one is answered);
//! - `--concurrency <N>` (default 4): requests in flight at once — HTTP/1.1 connections, or
//!   concurrent calls on one HTTP/2 connection for gRPC (as an SDK's channel does);
//! - `--out <path>`: also append the totals to this file, one JSON object per line;
//! - `--span-lines` / `--no-span-lines`: force the `SPAN` lines on or off.
//!
//! The spans look like the demo function's (`examples/demo-function.rs`): repeating groups of
//! one trace each — a SERVER span `GET /items/{id}` and its children, an HTTP CLIENT call, a
//! DynamoDB `GetItem` CLIENT call (`rpc.system=aws-api`) and an INTERNAL span, every third
//! group with an exception event and a 500 — under a Lambda resource. The requests are encoded
//! once at start; for each request the template's bytes are copied and every trace id and span
//! id (and parent span id) is overwritten in place with a fresh one, so every span sent is
//! unique (trace ids carry the current epoch second, as X-Ray trace ids do) at the cost of a
//! copy, not of a protobuf encoding: the collector, not the generator, should be the
//! bottleneck. A request the collector pushes back (HTTP 429/503, gRPC `UNAVAILABLE` /
//! `RESOURCE_EXHAUSTED`) is counted as failed, not resent, and its worker pauses 20 ms, as an
//! OTLP exporter backs off, on the same connection.
//!
//! Output: one line `LOADGEN {json}` on stdout with `protocol`, `spans_per_request`,
//! `concurrency`, `rate`, `duration_ms`, `elapsed_ms`, `requests_ok`, `requests_failed`,
//! `spans_sent` (acknowledged), `spans_rejected` (OTLP partial success), `spans_per_s`,
//! `cpu_ms` (this process, user + system) and `first_error`. Exits 1 if any request failed.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::time::Instant;

/// The OTLP/gRPC method.
const GRPC_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// The OTLP/HTTP traces path.
const HTTP_TRACES_PATH: &str = "/v1/traces";
/// Spans in one demo trace: SERVER, HTTP CLIENT, DynamoDB CLIENT, INTERNAL.
const GROUP: usize = 4;

/// The command line.
#[derive(Debug, Clone)]
struct Options {
    spans_per_request: usize,
    duration: Duration,
    /// Spans per second over all connections; 0 = closed loop.
    rate: u64,
    concurrency: usize,
    out: Option<PathBuf>,
    span_lines: bool,
}

fn parse_args(args: impl IntoIterator<Item = String>, count_only: bool) -> Result<Options, String> {
    let mut o = Options {
        spans_per_request: 50,
        duration: Duration::from_millis(10_000),
        rate: 0,
        concurrency: 4,
        out: None,
        span_lines: !count_only,
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let number = |v: String| -> Result<u64, String> {
            v.parse::<u64>()
                .map_err(|_| format!("{flag} expects a non-negative integer, got {v:?}"))
        };
        match flag.as_str() {
            "--spans-per-request" => o.spans_per_request = number(value()?)? as usize,
            "--duration-ms" => o.duration = Duration::from_millis(number(value()?)?),
            "--rate" => o.rate = number(value()?)?,
            "--concurrency" => o.concurrency = number(value()?)? as usize,
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "--span-lines" => o.span_lines = true,
            "--no-span-lines" => o.span_lines = false,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.spans_per_request == 0 || o.concurrency == 0 {
        return Err("--spans-per-request and --concurrency must be at least 1".into());
    }
    Ok(o)
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.to_string()))
}

fn i(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

/// The function's resource, as the SDK's Lambda resource detector fills it.
fn resource() -> Resource {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "loadgen".into());
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let version = std::env::var("AWS_LAMBDA_FUNCTION_VERSION").unwrap_or_else(|_| "$LATEST".into());
    Resource {
        attributes: vec![
            s("service.name", &function),
            s("cloud.provider", "aws"),
            s("cloud.platform", "aws_lambda"),
            s("cloud.region", &region),
            s("faas.name", &function),
            s("faas.version", &version),
            s("telemetry.sdk.name", "opentelemetry"),
            s("telemetry.sdk.language", "rust"),
            s("telemetry.sdk.version", "0.33.0"),
        ],
        ..Default::default()
    }
}

/// A DynamoDB-style request id: 52 upper-case alphanumerics.
fn aws_request_id(rng: &mut StdRng) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..52)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// A pre-encoded export request and where its ids sit in the bytes.
struct Template {
    bytes: Vec<u8>,
    /// Per trace of the request: the offsets of its 16-byte trace id (one per span).
    trace_slots: Vec<Vec<usize>>,
    /// Per span id (the spans' own, and a parent outside the request): the offsets of the
    /// 8-byte id (as `span_id`, and as `parent_span_id` of its children).
    span_slots: Vec<Vec<usize>>,
    /// Per span of the request: (trace slot, span slot), for the `SPAN` lines.
    spans: Vec<(usize, usize)>,
}

/// Builds the template of a request of `n` spans whose first span is kind `first % 4` of the
/// demo group. Ids are random placeholders, found again in the encoded bytes.
fn build_template(
    n: usize,
    first: usize,
    now_nanos: u64,
    rng: &mut StdRng,
) -> Result<Template, String> {
    let mut trace_ph: Vec<[u8; 16]> = Vec::new();
    let mut span_ph: Vec<[u8; 8]> = Vec::new();
    let mut span_map = Vec::with_capacity(n);
    let mut spans = Vec::with_capacity(n);
    let mut parent_slot = 0;
    let mut group = 0u64;
    for k in 0..n {
        let kind = (first + k) % GROUP;
        if k == 0 || kind == 0 {
            let mut t = [0u8; 16];
            rng.fill_bytes(&mut t);
            trace_ph.push(t);
            group += 1;
            if kind != 0 {
                // The group's SERVER span went out in an earlier request: a parent of its own.
                let mut p = [0u8; 8];
                rng.fill_bytes(&mut p);
                span_ph.push(p);
                parent_slot = span_ph.len() - 1;
            }
        }
        let mut id = [0u8; 8];
        rng.fill_bytes(&mut id);
        span_ph.push(id);
        let slot = span_ph.len() - 1;
        if kind == 0 {
            parent_slot = slot;
        }
        let trace_slot = trace_ph.len() - 1;
        span_map.push((trace_slot, slot));
        let failing = group.is_multiple_of(3);
        let item = 40 + (group % 1000) as i64;
        let base = now_nanos;
        let ms = |v: u64| base + v * 1_000_000;
        let mut span = Span {
            trace_id: trace_ph[trace_slot].to_vec(),
            span_id: id.to_vec(),
            flags: 0x301,
            ..Default::default()
        };
        if kind != 0 {
            span.parent_span_id = span_ph[parent_slot].to_vec();
        }
        match kind {
            0 => {
                span.name = "GET /items/{id}".into();
                span.kind = SpanKind::Server as i32;
                span.start_time_unix_nano = ms(0);
                span.end_time_unix_nano = ms(9);
                span.attributes = vec![
                    s("http.request.method", "GET"),
                    s("url.path", &format!("/items/{item}")),
                    s("url.scheme", "https"),
                    s("http.route", "/items/{id}"),
                    s("server.address", "api.demo.example.com"),
                    s("user_agent.original", "curl/8.5.0"),
                    i("http.response.status_code", if failing { 500 } else { 200 }),
                ];
                if failing {
                    span.status = Some(Status {
                        code: StatusCode::Error as i32,
                        message: String::new(),
                    });
                }
            }
            1 => {
                span.name = "GET".into();
                span.kind = SpanKind::Client as i32;
                span.start_time_unix_nano = ms(1);
                span.end_time_unix_nano = ms(4);
                span.attributes = vec![
                    s("http.method", "GET"),
                    s(
                        "http.url",
                        &format!("https://pricing.example.com/v1/prices?item={item}"),
                    ),
                    s("net.peer.name", "pricing.example.com"),
                    i("http.status_code", 200),
                ];
            }
            2 => {
                span.name = "DynamoDB.GetItem".into();
                span.kind = SpanKind::Client as i32;
                span.start_time_unix_nano = ms(4);
                span.end_time_unix_nano = ms(6);
                span.attributes = vec![
                    s("rpc.system", "aws-api"),
                    s("rpc.service", "DynamoDB"),
                    s("rpc.method", "GetItem"),
                    s("aws.region", "us-east-1"),
                    kv(
                        "aws.dynamodb.table_names",
                        any_value::Value::ArrayValue(ArrayValue {
                            values: vec![AnyValue {
                                value: Some(any_value::Value::StringValue("demo-items".into())),
                            }],
                        }),
                    ),
                    s("aws.request_id", &aws_request_id(rng)),
                    i("http.status_code", 200),
                ];
            }
            _ => {
                span.name = "render-response".into();
                span.kind = SpanKind::Internal as i32;
                span.start_time_unix_nano = ms(6);
                span.end_time_unix_nano = ms(8);
                span.attributes = vec![i("demo.item_id", item)];
                if failing {
                    let message = format!("no price for item {item} in currency EUR");
                    span.events = vec![Event {
                        time_unix_nano: ms(7),
                        name: "exception".into(),
                        attributes: vec![
                            s("exception.type", "demo_function::pricing::PricingError"),
                            s("exception.message", &message),
                            s(
                                "exception.stacktrace",
                                &format!(
                                    "demo_function::pricing::PricingError: {message}\n   0: demo_function::pricing::convert\n             at ./examples/demo-function.rs:212:17\n   1: demo_function::render_response\n             at ./examples/demo-function.rs:188:9"
                                ),
                            ),
                        ],
                        dropped_attributes_count: 0,
                    }];
                    span.status = Some(Status {
                        code: StatusCode::Error as i32,
                        message,
                    });
                }
            }
        }
        spans.push(span);
    }
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource()),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "loadgen".into(),
                    version: "0.1.0".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let bytes = request.encode_to_vec();
    // Find every placeholder: 8-byte keys (a trace id by its first 8 bytes).
    let mut keys: HashMap<[u8; 8], (bool, usize)> = HashMap::new();
    for (slot, t) in trace_ph.iter().enumerate() {
        let mut k = [0u8; 8];
        k.copy_from_slice(&t[..8]);
        keys.insert(k, (true, slot));
    }
    for (slot, p) in span_ph.iter().enumerate() {
        keys.insert(*p, (false, slot));
    }
    let mut trace_slots = vec![Vec::new(); trace_ph.len()];
    let mut span_slots = vec![Vec::new(); span_ph.len()];
    let mut found = 0usize;
    for off in 0..bytes.len().saturating_sub(7) {
        let mut k = [0u8; 8];
        k.copy_from_slice(&bytes[off..off + 8]);
        match keys.get(&k) {
            Some(&(true, slot)) if bytes.get(off..off + 16) == Some(&trace_ph[slot][..]) => {
                trace_slots[slot].push(off);
                found += 1;
            }
            Some(&(false, slot)) => {
                span_slots[slot].push(off);
                found += 1;
            }
            _ => {}
        }
    }
    // Each span: its trace id, its span id and (children) its parent id.
    let expected = n
        + n
        + span_map
            .iter()
            .enumerate()
            .filter(|(k, _)| !(first + k).is_multiple_of(GROUP))
            .count();
    if found != expected {
        return Err(format!(
            "template ids: found {found} placeholders in the encoding, expected {expected}"
        ));
    }
    Ok(Template {
        bytes,
        trace_slots,
        span_slots,
        spans: span_map,
    })
}

/// Fresh ids: a random per-run prefix and counters, so no two spans share an id.
struct Ids {
    prefix: u32,
    traces: AtomicU64,
    spans: AtomicU64,
}

impl Ids {
    /// `1-<epoch>-<random>` style: the first 4 bytes are the current Unix second, as X-Ray
    /// trace ids carry it.
    fn trace_id(&self, epoch: u32) -> [u8; 16] {
        let n = self.traces.fetch_add(1, Ordering::Relaxed);
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&epoch.to_be_bytes());
        id[4..8].copy_from_slice(&self.prefix.to_be_bytes());
        id[8..].copy_from_slice(&n.to_be_bytes());
        id
    }

    fn span_id(&self) -> [u8; 8] {
        let n = self.spans.fetch_add(1, Ordering::Relaxed) & 0xff_ffff_ffff;
        ((u64::from(self.prefix) << 40) | n).to_be_bytes()
    }
}

/// `(trace_id, span_id)` of each span of a request, for the `SPAN` lines.
type SpanIds = Vec<([u8; 16], [u8; 8])>;

/// One request's bytes with fresh ids, and the ids of each span (when `want_ids`).
fn materialise(t: &Template, ids: &Ids, want_ids: bool) -> (Bytes, SpanIds) {
    let mut buf = t.bytes.clone();
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let traces: Vec<[u8; 16]> = t
        .trace_slots
        .iter()
        .map(|offs| {
            let id = ids.trace_id(epoch);
            for &o in offs {
                buf[o..o + 16].copy_from_slice(&id);
            }
            id
        })
        .collect();
    let spans: Vec<[u8; 8]> = t
        .span_slots
        .iter()
        .map(|offs| {
            let id = ids.span_id();
            for &o in offs {
                buf[o..o + 8].copy_from_slice(&id);
            }
            id
        })
        .collect();
    let list = if want_ids {
        t.spans
            .iter()
            .map(|&(tr, sp)| (traces[tr], spans[sp]))
            .collect()
    } else {
        Vec::new()
    };
    (Bytes::from(buf), list)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Totals over every worker.
#[derive(Default)]
struct Totals {
    requests_ok: AtomicU64,
    requests_failed: AtomicU64,
    spans_sent: AtomicU64,
    spans_rejected: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Totals {
    fn fail(&self, e: String) {
        self.requests_failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = self.first_error.lock() {
            f.get_or_insert(e);
        }
    }
}

/// What every worker shares.
struct Shared {
    options: Options,
    templates: Vec<Template>,
    ids: Ids,
    /// Requests handed out so far (pacing: request k is due at `start + k·spans/rate`).
    next: AtomicU64,
    start: Instant,
    end: Instant,
    totals: Totals,
}

impl Shared {
    /// The next request to send, after waiting for its turn; None when the time is up.
    async fn next_request(&self) -> Option<(Bytes, SpanIds, usize)> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        if self.options.rate > 0 {
            let spans_before = k as f64 * self.options.spans_per_request as f64;
            let due = self.start + Duration::from_secs_f64(spans_before / self.options.rate as f64);
            if due >= self.end {
                return None;
            }
            tokio::time::sleep_until(due).await;
        } else if Instant::now() >= self.end {
            return None;
        }
        let t = &self.templates[(k % self.templates.len() as u64) as usize];
        let (bytes, ids) = materialise(t, &self.ids, self.options.span_lines);
        Some((bytes, ids, t.spans.len()))
    }

    fn acknowledged(&self, spans: usize, rejected: i64, ids: &[([u8; 16], [u8; 8])]) {
        self.totals.requests_ok.fetch_add(1, Ordering::Relaxed);
        self.totals
            .spans_sent
            .fetch_add(spans as u64, Ordering::Relaxed);
        self.totals
            .spans_rejected
            .fetch_add(rejected.max(0) as u64, Ordering::Relaxed);
        if !ids.is_empty() {
            let mut out = std::io::stdout().lock();
            for (t, s) in ids {
                let _ = writeln!(out, "SPAN {} {}", hex(t), hex(s));
            }
        }
    }
}

/// A failed export: the text counted as its error, and whether it was the collector pushing
/// back (HTTP 429/503, gRPC `UNAVAILABLE`/`RESOURCE_EXHAUSTED`): then the connection is fine
/// and the worker pauses.
struct Failure {
    pushed_back: bool,
    text: String,
}

impl From<String> for Failure {
    fn from(text: String) -> Self {
        Failure {
            pushed_back: false,
            text,
        }
    }
}
/// How long a worker pauses after being pushed back, as an OTLP exporter backs off before its
/// next export (OTLP spec, "Retryable response codes"; SDKs wait longer, from 1 s). The
/// refused request is counted as failed, not resent.
const PUSH_BACK_PAUSE: Duration = Duration::from_millis(20);

/// One HTTP/1.1 connection sending requests one after the other.
async fn http_worker(shared: Arc<Shared>, authority: String) {
    let mut sender = None;
    while let Some((body, ids, spans)) = shared.next_request().await {
        if sender.is_none() {
            match connect_http(&authority).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    shared.totals.fail(e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        let req = hyper::Request::post(HTTP_TRACES_PATH)
            .header(hyper::header::HOST, authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
            .body(Full::new(body));
        let req = match req {
            Ok(r) => r,
            Err(e) => {
                shared.totals.fail(format!("cannot build the request: {e}"));
                continue;
            }
        };
        let answer = async {
            s.ready().await.map_err(|e| format!("connection: {e}"))?;
            let resp = s
                .send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("answer: {e}"))?
                .to_bytes();
            if !status.is_success() {
                return Err(Failure {
                    pushed_back: matches!(status.as_u16(), 429 | 503),
                    text: format!("HTTP {status}: {}", String::from_utf8_lossy(&body)),
                });
            }
            Ok::<_, Failure>(
                ExportTraceServiceResponse::decode(body)
                    .ok()
                    .and_then(|r| r.partial_success)
                    .map(|p| p.rejected_spans)
                    .unwrap_or(0),
            )
        }
        .await;
        match answer {
            Ok(rejected) => shared.acknowledged(spans, rejected, &ids),
            Err(Failure {
                pushed_back: true,
                text,
            }) => {
                shared.totals.fail(text);
                tokio::time::sleep(PUSH_BACK_PAUSE).await;
            }
            Err(Failure { text, .. }) => {
                shared.totals.fail(text);
                sender = None;
            }
        }
    }
}

type HttpSender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect_http(authority: &str) -> Result<HttpSender, String> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake with {authority}: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

/// A gRPC codec for requests that are already protobuf-encoded.
#[derive(Debug, Clone, Copy, Default)]
struct PreEncoded;

struct BytesEncoder;
struct ResponseDecoder;

impl tonic::codec::Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for ResponseDecoder {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Self::Item>, tonic::Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("bad response: {e}")))
    }
}

impl tonic::codec::Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = BytesEncoder;
    type Decoder = ResponseDecoder;
    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }
    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}

/// One stream of unary calls on the shared HTTP/2 channel.
async fn grpc_worker(shared: Arc<Shared>, channel: tonic::transport::Channel) {
    let mut grpc = tonic::client::Grpc::new(channel);
    let path = http::uri::PathAndQuery::from_static(GRPC_EXPORT_PATH);
    while let Some((body, ids, spans)) = shared.next_request().await {
        let answer = async {
            grpc.ready().await.map_err(|e| format!("channel: {e}"))?;
            grpc.unary(tonic::Request::new(body), path.clone(), PreEncoded)
                .await
                .map_err(|s| Failure {
                    pushed_back: matches!(
                        s.code(),
                        tonic::Code::Unavailable | tonic::Code::ResourceExhausted
                    ),
                    text: format!("gRPC {:?}: {}", s.code(), s.message()),
                })
        }
        .await;
        match answer {
            Ok(resp) => {
                let rejected = resp
                    .into_inner()
                    .partial_success
                    .map(|p| p.rejected_spans)
                    .unwrap_or(0);
                shared.acknowledged(spans, rejected, &ids);
            }
            Err(Failure { pushed_back, text }) => {
                shared.totals.fail(text);
                if pushed_back {
                    tokio::time::sleep(PUSH_BACK_PAUSE).await;
                }
            }
        }
    }
}

/// This process's CPU time (user + system) in ms, from `/proc/self/stat` (fields 14, 15,
/// counted after the command name; clock ticks at the usual 100 Hz).
fn self_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let u: u64 = f.next()?.parse().ok()?;
    let s: u64 = f.next()?.parse().ok()?;
    Some((u + s) as f64 * 10.0)
}

async fn run(options: Options) -> Result<serde_json::Value, String> {
    let protocol =
        std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_else(|_| "http/protobuf".into());
    let grpc = match protocol.as_str() {
        "grpc" => true,
        "http/protobuf" => false,
        other => return Err(format!("unsupported OTEL_EXPORTER_OTLP_PROTOCOL {other:?}")),
    };
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_else(|_| {
        if grpc {
            "http://localhost:4317".into()
        } else {
            "http://localhost:4318".into()
        }
    });
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT {endpoint:?}: {e}"))?;
    let authority = uri
        .authority()
        .map(|a| a.to_string())
        .ok_or_else(|| format!("OTEL_EXPORTER_OTLP_ENDPOINT {endpoint:?} has no host:port"))?;

    let mut rng = StdRng::from_os_rng();
    let now_nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let templates = (0..GROUP)
        .map(|first| build_template(options.spans_per_request, first, now_nanos, &mut rng))
        .collect::<Result<Vec<_>, _>>()?;
    let prefix = rng.random_range(1..=0xff_ffffu32);
    let start = Instant::now();
    let shared = Arc::new(Shared {
        templates,
        ids: Ids {
            prefix,
            traces: AtomicU64::new(0),
            spans: AtomicU64::new(0),
        },
        next: AtomicU64::new(0),
        start,
        end: start + options.duration,
        totals: Totals::default(),
        options: options.clone(),
    });
    let mut workers = Vec::new();
    if grpc {
        let channel = tonic::transport::Endpoint::from_shared(endpoint.clone())
            .map_err(|e| format!("gRPC endpoint {endpoint:?}: {e}"))?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {endpoint}: {e}"))?;
        for _ in 0..options.concurrency {
            workers.push(tokio::spawn(grpc_worker(shared.clone(), channel.clone())));
        }
    } else {
        for _ in 0..options.concurrency {
            workers.push(tokio::spawn(http_worker(shared.clone(), authority.clone())));
        }
    }
    for w in workers {
        let _ = w.await;
    }
    let elapsed = start.elapsed();
    let t = &shared.totals;
    let sent = t.spans_sent.load(Ordering::Relaxed);
    Ok(serde_json::json!({
        "protocol": protocol,
        "endpoint": endpoint,
        "spans_per_request": options.spans_per_request,
        "concurrency": options.concurrency,
        "rate": options.rate,
        "duration_ms": options.duration.as_millis() as u64,
        "elapsed_ms": (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        "requests_ok": t.requests_ok.load(Ordering::Relaxed),
        "requests_failed": t.requests_failed.load(Ordering::Relaxed),
        "spans_sent": sent,
        "spans_rejected": t.spans_rejected.load(Ordering::Relaxed),
        "spans_per_s": (sent as f64 / elapsed.as_secs_f64()).round(),
        "request_bytes": shared.templates.first().map(|t| t.bytes.len()).unwrap_or(0),
        "cpu_ms": self_cpu_ms(),
        "first_error": t.first_error.lock().ok().and_then(|e| e.clone()),
    }))
}

fn main() -> ExitCode {
    let count_only = std::env::var("MOCK_XRAY_COUNT_ONLY").is_ok_and(|v| v == "1");
    let options = match parse_args(std::env::args().skip(1), count_only) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let totals = match runtime.block_on(run(options.clone())) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("LOADGEN {totals}");
    if let Some(path) = &options.out {
        let line = format!("{totals}\n");
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            eprintln!("loadgen: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let failed = totals["requests_failed"].as_u64().unwrap_or(0);
    let ok = totals["requests_ok"].as_u64().unwrap_or(0);
    if failed > 0 || ok == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_find_every_id_and_requests_get_fresh_ones() {
        let mut rng = StdRng::seed_from_u64(7);
        for (n, first) in [(1, 0), (1, 2), (50, 1), (512, 3)] {
            let t = build_template(n, first, 1_700_000_000_000_000_000, &mut rng).unwrap();
            let ids = Ids {
                prefix: 0xabcdef,
                traces: AtomicU64::new(0),
                spans: AtomicU64::new(0),
            };
            let (a, list_a) = materialise(&t, &ids, true);
            let (_, list_b) = materialise(&t, &ids, true);
            assert_eq!(list_a.len(), n);
            let req = ExportTraceServiceRequest::decode(a).unwrap();
            let spans = &req.resource_spans[0].scope_spans[0].spans;
            assert_eq!(spans.len(), n);
            for (s, (trace, id)) in spans.iter().zip(&list_a) {
                assert_eq!(s.trace_id, trace.to_vec());
                assert_eq!(s.span_id, id.to_vec());
            }
            // Children point at their SERVER span when it is in the same request.
            for s in spans.iter().filter(|s| s.kind != SpanKind::Server as i32) {
                assert_eq!(s.parent_span_id.len(), 8);
                if let Some(p) = spans.iter().find(|p| p.span_id == s.parent_span_id) {
                    assert_eq!(p.kind, SpanKind::Server as i32);
                    assert_eq!(p.trace_id, s.trace_id);
                }
            }
            let mut all: Vec<[u8; 8]> = list_a.iter().chain(&list_b).map(|(_, s)| *s).collect();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), 2 * n, "span ids are unique across requests");
        }
    }

    #[test]
    fn arguments() {
        let o = parse_args(
            [
                "--spans-per-request",
                "512",
                "--rate=20000",
                "--duration-ms",
                "100",
                "--concurrency",
                "2",
            ]
            .map(String::from),
            true,
        )
        .unwrap();
        assert_eq!(
            (o.spans_per_request, o.rate, o.concurrency),
            (512, 20_000, 2)
        );
        assert_eq!(o.duration, Duration::from_millis(100));
        assert!(!o.span_lines, "count-only mode prints no SPAN lines");
        assert!(parse_args(Vec::<String>::new(), false).unwrap().span_lines);
        assert!(parse_args(["--rate".to_string()], false).is_err());
        assert!(parse_args(["--bogus".to_string()], false).is_err());
        assert!(parse_args(["--concurrency=0".to_string()], false).is_err());
    }
}
