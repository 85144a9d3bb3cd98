//! demo-function: the body of a small Lambda function instrumented with the official
//! OpenTelemetry Rust SDK, exporting OTLP to the collector extension.
//!
//! mock-lambda runs it once per invocation with the environment Lambda (plus an OTel wrapper)
//! would give it: `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc` or
//! `http/protobuf`), `_X_AMZN_TRACE_ID`, `AWS_LAMBDA_REQUEST_ID`, `AWS_LAMBDA_FUNCTION_NAME`,
//! `AWS_REGION` and `MOCK_INVOCATION_INDEX`; with `mock-lambda --function-sleep-ms N` also
//! `MOCK_FUNCTION_SLEEP_MS=N`, and the handler then sleeps N ms inside its SERVER span (a long
//! invocation).
//!
//! Per run it records one SERVER span that continues Lambda's X-Ray trace (parent taken from
//! `_X_AMZN_TRACE_ID`) with three children: an outgoing HTTP call, a DynamoDB `GetItem` call
//! and an INTERNAL span. Every third invocation (`MOCK_INVOCATION_INDEX % 3 == 2`) the
//! INTERNAL span records an exception and the server answers 500.
//!
//! Spans are exported synchronously as they end (SimpleSpanProcessor), then the provider is
//! flushed and shut down, as Lambda OTel wrappers do before the handler returns. For every
//! span handed to the exporter it prints `SPAN <trace_id> <span_id>` on stdout. The process
//! exits 1 if any export failed.

use opentelemetry::trace::{
    Span, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer, TracerProvider,
};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Wraps the OTLP exporter: prints `SPAN <trace_id> <span_id>` for each span it is handed
/// and remembers whether any export failed.
#[derive(Debug)]
struct ReportingExporter<E> {
    inner: E,
    failed: Arc<AtomicBool>,
}

impl<E: SpanExporter> SpanExporter for ReportingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let ids: Vec<String> = batch
            .iter()
            .map(|s| {
                format!(
                    "SPAN {} {}",
                    s.span_context.trace_id(),
                    s.span_context.span_id()
                )
            })
            .collect();
        let result = self.inner.export(batch).await;
        if let Err(e) = &result {
            self.failed.store(true, Ordering::SeqCst);
            eprintln!("demo-function: OTLP export failed: {e}");
        }
        let mut out = std::io::stdout().lock();
        for line in ids {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1` → the remote
/// parent span context (trace id = Root without version and dashes, span id = Parent).
fn parent_from_xray_header(header: &str) -> Option<SpanContext> {
    let mut root = None;
    let mut parent = None;
    let mut sampled = false;
    for part in header.split(';') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Root" => root = Some(v),
            "Parent" => parent = Some(v),
            "Sampled" => sampled = v == "1",
            _ => {}
        }
    }
    let mut fields = root?.split('-');
    if fields.next()? != "1" {
        return None;
    }
    let hex = format!("{}{}", fields.next()?, fields.next()?);
    let trace_id = TraceId::from_hex(&hex).ok()?;
    let span_id = SpanId::from_hex(parent?).ok()?;
    if hex.len() != 32 || trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Some(SpanContext::new(
        trace_id,
        span_id,
        flags,
        true,
        TraceState::default(),
    ))
}

fn build_exporter() -> Result<opentelemetry_otlp::SpanExporter, String> {
    let protocol =
        std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_else(|_| "http/protobuf".into());
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT");
    let built = match protocol.as_str() {
        "grpc" => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.unwrap_or_else(|_| "http://localhost:4317".into()))
            .build(),
        "http/protobuf" => {
            let base = endpoint.unwrap_or_else(|_| "http://localhost:4318".into());
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                // Set this way, the HTTP exporter needs the full signal URL.
                .with_endpoint(format!("{}/v1/traces", base.trim_end_matches('/')))
                .build()
        }
        other => return Err(format!("unsupported OTEL_EXPORTER_OTLP_PROTOCOL {other:?}")),
    };
    built.map_err(|e| e.to_string())
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// A DynamoDB-style request id: 52 upper-case alphanumerics.
fn aws_request_id(rng: &mut StdRng) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..52)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// `MOCK_FUNCTION_SLEEP_MS`: extra time the handler spends inside its SERVER span (0 if unset
/// or not a number).
fn extra_sleep_ms() -> u64 {
    std::env::var("MOCK_FUNCTION_SLEEP_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The handler: one request to `GET /items/{id}`.
fn handle_request(tracer: &SdkTracer, parent: &Context, index: u64) {
    let mut rng = StdRng::from_os_rng();
    let failing = index % 3 == 2;
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let item = 40 + index;

    let server = tracer
        .span_builder("GET /items/{id}")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.path", format!("/items/{item}")),
            KeyValue::new("url.scheme", "https"),
            KeyValue::new("http.route", "/items/{id}"),
            KeyValue::new("server.address", "api.demo.example.com"),
            KeyValue::new("user_agent.original", "curl/8.5.0"),
        ])
        .start_with_context(tracer, parent);
    let cx = parent.with_span(server);
    sleep_ms(1);

    // An outgoing HTTP call, with the older semantic-convention keys many SDKs still emit.
    let mut http = tracer
        .span_builder("GET")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("http.method", "GET"),
            KeyValue::new(
                "http.url",
                format!("https://pricing.example.com/v1/prices?item={item}"),
            ),
            KeyValue::new("net.peer.name", "pricing.example.com"),
        ])
        .start_with_context(tracer, &cx);
    sleep_ms(3);
    http.set_attribute(KeyValue::new("http.status_code", 200));
    http.end();

    // An AWS SDK call, as the AWS SDK instrumentation records it.
    let mut ddb = tracer
        .span_builder("DynamoDB.GetItem")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("rpc.system", "aws-api"),
            KeyValue::new("rpc.service", "DynamoDB"),
            KeyValue::new("rpc.method", "GetItem"),
            KeyValue::new("aws.region", region),
            KeyValue::new(
                "aws.dynamodb.table_names",
                Value::Array(Array::String(vec![StringValue::from("demo-items")])),
            ),
            KeyValue::new("aws.request_id", aws_request_id(&mut rng)),
            KeyValue::new("http.status_code", 200),
        ])
        .start_with_context(tracer, &cx);
    sleep_ms(2);
    ddb.end();

    // In-process work.
    let mut work = tracer
        .span_builder("render-response")
        .with_kind(SpanKind::Internal)
        .with_attributes([KeyValue::new("demo.item_id", item as i64)])
        .start_with_context(tracer, &cx);
    sleep_ms(2);
    let status = if failing {
        let message = format!("no price for item {item} in currency EUR");
        work.add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", "demo_function::pricing::PricingError"),
                KeyValue::new("exception.message", message.clone()),
                KeyValue::new(
                    "exception.stacktrace",
                    format!(
                        "demo_function::pricing::PricingError: {message}\n\
                         \x20  0: demo_function::pricing::convert\n\
                         \x20            at ./examples/demo-function.rs:212:17\n\
                         \x20  1: demo_function::render_response\n\
                         \x20            at ./examples/demo-function.rs:188:9\n\
                         \x20  2: demo_function::handle_request\n\
                         \x20            at ./examples/demo-function.rs:140:5\n\
                         \x20  3: demo_function::main\n\
                         \x20            at ./examples/demo-function.rs:301:5"
                    ),
                ),
            ],
        );
        work.set_status(Status::error(message));
        500
    } else {
        200
    };
    work.end();

    sleep_ms(1 + extra_sleep_ms());
    let server = cx.span();
    server.set_attribute(KeyValue::new("http.response.status_code", status as i64));
    if status >= 500 {
        // Server spans are errors for 5xx only (HTTP semantic conventions).
        server.set_status(Status::error(""));
    }
    server.end();
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("demo-function: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The exporters need a Tokio context (hyper/tonic tasks, timers). The handler runs on this
    // thread, which is not a runtime worker, so the SimpleSpanProcessor may block it while the
    // runtime's workers drive the I/O.
    let guard = runtime.enter();

    let exporter = match build_exporter() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("demo-function: cannot build the OTLP exporter: {e}");
            return ExitCode::FAILURE;
        }
    };
    let failed = Arc::new(AtomicBool::new(false));
    let function_name =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "demo-function".into());
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let resource = Resource::builder()
        .with_service_name(function_name.clone())
        .with_attributes([
            KeyValue::new("cloud.provider", "aws"),
            KeyValue::new("cloud.platform", "aws_lambda"),
            KeyValue::new("cloud.region", region),
            KeyValue::new("faas.name", function_name),
            KeyValue::new(
                "faas.version",
                std::env::var("AWS_LAMBDA_FUNCTION_VERSION").unwrap_or_else(|_| "$LATEST".into()),
            ),
        ])
        .build();
    let provider = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_simple_exporter(ReportingExporter {
            inner: exporter,
            failed: failed.clone(),
        })
        .build();
    let tracer = provider.tracer("demo-function");

    let parent = std::env::var("_X_AMZN_TRACE_ID")
        .ok()
        .and_then(|h| parent_from_xray_header(&h))
        .map(|sc| Context::new().with_remote_span_context(sc))
        .unwrap_or_default();
    let index = std::env::var("MOCK_INVOCATION_INDEX")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    handle_request(&tracer, &parent, index);

    let mut ok = true;
    if let Err(e) = provider.force_flush() {
        eprintln!("demo-function: flush failed: {e}");
        ok = false;
    }
    if let Err(e) = provider.shutdown() {
        eprintln!("demo-function: shutdown failed: {e}");
        ok = false;
    }
    drop(guard);
    runtime.shutdown_timeout(Duration::from_millis(500));
    if ok && !failed.load(Ordering::SeqCst) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lambda_trace_header() {
        let sc = parent_from_xray_header(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        )
        .unwrap();
        assert_eq!(
            sc.trace_id().to_string(),
            "5759e988bd862e3fe1be46a994272793"
        );
        assert_eq!(sc.span_id().to_string(), "53995c3f42cd8ad8");
        assert!(sc.is_sampled() && sc.is_remote());
        assert!(parent_from_xray_header("Root=1-5759e988-bd86;Parent=53995c3f42cd8ad8").is_none());
        assert!(parent_from_xray_header("garbage").is_none());
        assert!(!parent_from_xray_header(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=a:1"
        )
        .unwrap()
        .is_sampled());
    }
}
