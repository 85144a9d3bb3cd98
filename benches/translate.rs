//! Translator throughput (issue 3, "Performance"): spans per second for
//! - `realistic_mix`: the demo function's trace shapes (`examples/demo-function.rs`): one SERVER
//!   span with stable HTTP keys, an outgoing HTTP CLIENT span with v1.12 keys, a DynamoDB
//!   `GetItem` AWS SDK span and an INTERNAL span; every third invocation the INTERNAL span carries
//!   an `exception` event and the server answers 500;
//! - `exception_heavy`: CLIENT spans with Java (`Caused by:` chain) and Python (chained
//!   traceback) `exception` events whose stacks are parsed (§9.4).
//!
//! The spans are built once, outside the timed loop, grouped under their resource as OTLP
//! sends them: `realistic_mix` as one `ResourceSpans` per invocation (the demo function's SDK
//! exports the 4 spans of an invocation together), `exception_heavy` as one `ResourceSpans`
//! per service (language). A timing covers what the exporter does with a batch
//! (`AwsXrayExporter::export`): prepare each resource once, translate its spans and append the
//! documents to one list, then drop the list. Span times have nanosecond precision, as SDKs
//! send them, so the `start_time`/`end_time` doubles print as SDK times do.
//!
//! Besides criterion's timing, a counting global allocator reports heap allocations per span
//! for each mix (printed once before the timings).
//!
//! Run: `cargo bench --bench translate`.
//!
//! With `TRANSLATE_BENCH_PASSES=<n>` set, the bench skips criterion and translates each mix `n`
//! times, then exits: a fixed amount of work for `perf stat`, `perf record` or
//! `valgrind --tool=cachegrind` (instructions per span are stable where timings are noisy);
//! `TRANSLATE_BENCH_MIX=<name>` limits it to one mix.

#[path = "support/attrs.rs"]
mod attrs;

use attrs::{i, kv, s};

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use otlp_xray::exporter::awsxray::translate::{
    translate_prepared_into, PreparedResource, SpanOptions, TranslateConfig,
};
use otlp_xray::processor::batch::span_count;

/// Counts every allocation (and reallocation) made through the global allocator.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only adds a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const NOW: u64 = 1_700_000_100;

/// The resource the OTel Rust SDK sends from the demo function.
fn demo_resource() -> Resource {
    Resource {
        attributes: vec![
            s("service.name", "demo-function"),
            s("telemetry.sdk.language", "rust"),
            s("telemetry.sdk.name", "opentelemetry"),
            s("telemetry.sdk.version", "0.33.0"),
            s("cloud.provider", "aws"),
            s("cloud.platform", "aws_lambda"),
            s("cloud.region", "us-east-1"),
            s("faas.name", "demo-function"),
            s("faas.version", "$LATEST"),
        ],
        ..Default::default()
    }
}

fn ids(n: u64, parent: Option<u64>) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut trace = vec![0u8; 16];
    trace[..4].copy_from_slice(&1_700_000_000u32.to_be_bytes());
    trace[8..].copy_from_slice(&(n + 1).to_be_bytes());
    let span = (0x1000 + n).to_be_bytes().to_vec();
    let parent = parent.map(|p| p.to_be_bytes().to_vec()).unwrap_or_default();
    (trace, span, parent)
}

fn base(n: u64, parent: Option<u64>, name: &str, kind: i32, attributes: Vec<KeyValue>) -> Span {
    let (trace_id, span_id, parent_span_id) = ids(n, parent);
    Span {
        trace_id,
        span_id,
        parent_span_id,
        name: name.to_owned(),
        kind,
        // Nanosecond precision, as SDKs report: the times do not print as short decimals.
        start_time_unix_nano: 1_700_000_000_123_456_789 + n * 1_000_003_217,
        end_time_unix_nano: 1_700_000_000_374_691_356 + n * 1_000_003_217,
        attributes,
        ..Default::default()
    }
}

/// One invocation of the demo function: 4 spans (`examples/demo-function.rs`).
fn demo_invocation(index: u64) -> Vec<Span> {
    let failing = index % 3 == 2;
    let item = 40 + index;
    let status = if failing { 500 } else { 200 };
    let mut server = base(
        index,
        Some(0x5399_5c3f_42cd_8ad8),
        "GET /items/{id}",
        2,
        vec![
            s("http.request.method", "GET"),
            s("url.path", &format!("/items/{item}")),
            s("url.scheme", "https"),
            s("http.route", "/items/{id}"),
            s("server.address", "api.demo.example.com"),
            s("user_agent.original", "curl/8.5.0"),
            i("http.response.status_code", status),
        ],
    );
    if failing {
        server.status = Some(Status {
            code: 2,
            message: String::new(),
        });
    }
    let server_id = 0x1000 + index;
    let http = base(
        index,
        Some(server_id),
        "GET",
        3,
        vec![
            s("http.method", "GET"),
            s(
                "http.url",
                &format!("https://pricing.example.com/v1/prices?item={item}"),
            ),
            s("net.peer.name", "pricing.example.com"),
            i("http.status_code", 200),
        ],
    );
    let ddb = base(
        index,
        Some(server_id),
        "DynamoDB.GetItem",
        3,
        vec![
            s("rpc.system", "aws-api"),
            s("rpc.service", "DynamoDB"),
            s("rpc.method", "GetItem"),
            s("aws.region", "us-east-1"),
            kv(
                "aws.dynamodb.table_names",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::StringValue("demo-items".to_owned())),
                    }],
                }),
            ),
            s(
                "aws.request_id",
                "V3QO8N1D9AB6TNHN3CK9PLOMQBVV4KQNSO5AEMVJF66Q9ASUAAJG",
            ),
            i("http.status_code", 200),
        ],
    );
    let mut work = base(
        index,
        Some(server_id),
        "render-response",
        1,
        vec![i("demo.item_id", item as i64)],
    );
    if failing {
        let message = format!("no price for item {item} in currency EUR");
        work.events.push(Event {
            time_unix_nano: 1_700_000_000_700_000_000,
            name: "exception".to_owned(),
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
            ..Default::default()
        });
        work.status = Some(Status { code: 2, message });
    }
    vec![server, http, ddb, work]
}

const JAVA_TRACE: &str = "java.lang.IllegalStateException: could not load order 4711
\tat com.example.orders.OrderService.load(OrderService.java:88)
\tat com.example.orders.OrderHandler.handleRequest(OrderHandler.java:41)
\tat com.example.orders.OrderHandler.handleRequest(OrderHandler.java:17)
\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)
\tat java.base/java.lang.reflect.Method.invoke(Method.java:580)
\tat com.amazonaws.services.lambda.runtime.api.client.EventHandlerLoader$PojoHandlerAsStreamHandler.handleRequest(EventHandlerLoader.java:205)
\tat com.amazonaws.services.lambda.runtime.api.client.AWSLambda.processRequest(AWSLambda.java:226)
\tat com.amazonaws.services.lambda.runtime.api.client.AWSLambda.main(AWSLambda.java:260)
Caused by: software.amazon.awssdk.services.dynamodb.model.ResourceNotFoundException: Requested resource not found (Service: DynamoDb, Status Code: 400, Request ID: 3K8RLN1RKP0TC4LJQ8F2MI4AQ7VV4KQNSO5AEMVJF66Q9ASUAAJG)
\tat software.amazon.awssdk.core.internal.http.CombinedResponseHandler.handleErrorResponse(CombinedResponseHandler.java:125)
\tat software.amazon.awssdk.core.internal.http.CombinedResponseHandler.handleResponse(CombinedResponseHandler.java:82)
\tat software.amazon.awssdk.core.internal.http.pipeline.stages.RetryableStage.execute(RetryableStage.java:50)
\tat software.amazon.awssdk.services.dynamodb.DefaultDynamoDbClient.getItem(DefaultDynamoDbClient.java:4473)
\tat com.example.orders.OrderRepository.find(OrderRepository.java:33)
\tat com.example.orders.OrderService.load(OrderService.java:80)
\t... 6 more
";

const PYTHON_TRACE: &str = r#"Traceback (most recent call last):
  File "/var/task/orders/db.py", line 20, in fetch
    row = cursor.fetchone()
          ^^^^^^^^^^^^^^^^^
  File "/var/task/orders/pool.py", line 7, in checkout
    raise TimeoutError("pool exhausted")
TimeoutError: pool exhausted

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/var/task/handler.py", line 42, in lambda_handler
    order = load_order(event["id"])
            ^^^^^^^^^^^^^^^^^^^^^^^
  File "/var/task/orders/service.py", line 18, in load_order
    return fetch(order_id)
           ^^^^^^^^^^^^^^^
RuntimeError: could not load order 4711
"#;

/// The resource of a service in `language` with parsed exception stacks.
fn exception_resource(language: &str) -> Resource {
    Resource {
        attributes: vec![
            s("service.name", "orders"),
            s("telemetry.sdk.language", language),
            s("telemetry.sdk.name", "opentelemetry"),
            s("telemetry.sdk.version", "1.40.0"),
            s("cloud.provider", "aws"),
            s("cloud.platform", "aws_lambda"),
        ],
        ..Default::default()
    }
}

/// `n` CLIENT spans with parsed exception stacks: half from a Java service, half from a
/// Python one.
fn exception_spans(n: u64) -> Vec<ResourceSpans> {
    let spans = |k: u64, ty: &str, trace: &str| {
        let msg = "could not load order 4711";
        let mut span = base(
            k,
            Some(0x77),
            "orders.load",
            3,
            vec![
                s("http.request.method", "POST"),
                s("url.full", "https://orders.internal/v1/load"),
                i("http.response.status_code", 503),
            ],
        );
        span.status = Some(Status {
            code: 2,
            message: msg.to_owned(),
        });
        span.events.push(Event {
            time_unix_nano: 1_700_000_000_700_000_000,
            name: "exception".to_owned(),
            attributes: vec![
                s("exception.type", ty),
                s("exception.message", msg),
                s("exception.stacktrace", trace),
            ],
            ..Default::default()
        });
        span
    };
    vec![
        resource_spans(
            exception_resource("java"),
            (0..n / 2)
                .map(|k| spans(2 * k, "java.lang.IllegalStateException", JAVA_TRACE))
                .collect(),
        ),
        resource_spans(
            exception_resource("python"),
            (0..n / 2)
                .map(|k| spans(2 * k + 1, "RuntimeError", PYTHON_TRACE))
                .collect(),
        ),
    ]
}

fn resource_spans(resource: Resource, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(resource),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// 30 invocations of the demo function, each exported as its own `ResourceSpans`.
fn realistic_mix() -> Vec<ResourceSpans> {
    (0..30)
        .map(|k| resource_spans(demo_resource(), demo_invocation(k)))
        .collect()
}

/// Translates `batch` as the exporter does; returns the documents written.
fn translate_batch(batch: &[ResourceSpans], config: &TranslateConfig) -> Vec<String> {
    let mut documents = Vec::with_capacity(span_count(batch));
    for rs in batch {
        let resource = PreparedResource::new(rs.resource.as_ref(), config);
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            // Every span of the mixes translates: a drop would only shrink the work.
            let _ = translate_prepared_into(
                &resource,
                span,
                NOW,
                SpanOptions::default(),
                &mut documents,
            );
        }
    }
    documents
}

/// Bytes of the documents of `batch` (the documents are dropped, as after a send).
fn translate_all(batch: &[ResourceSpans], config: &TranslateConfig) -> usize {
    translate_batch(batch, config).iter().map(String::len).sum()
}

/// Allocations per span over a few passes (after one warm-up pass).
fn allocations_per_span(batch: &[ResourceSpans], config: &TranslateConfig) -> f64 {
    const PASSES: usize = 20;
    black_box(translate_all(batch, config));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..PASSES {
        black_box(translate_all(batch, config));
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    (after - before) as f64 / (PASSES * span_count(batch)) as f64
}

fn bench(c: &mut Criterion) {
    let config = TranslateConfig::default();
    let mixes = [
        ("realistic_mix", realistic_mix()),
        ("exception_heavy", exception_spans(40)),
    ];
    if let Some(passes) = std::env::var("TRANSLATE_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let only = std::env::var("TRANSLATE_BENCH_MIX").ok();
        for (name, spans) in &mixes {
            if only.as_deref().is_some_and(|o| o != *name) {
                continue;
            }
            for _ in 0..passes {
                black_box(translate_all(black_box(spans), &config));
            }
            eprintln!(
                "translate/{name}: {passes} passes of {} spans",
                span_count(spans)
            );
        }
        return;
    }
    for (name, spans) in &mixes {
        let count = span_count(spans);
        let docs = translate_batch(spans, &config);
        let bytes: usize = docs.iter().map(String::len).sum();
        eprintln!(
            "translate/{name}: {count} spans -> {} documents, {:.0} bytes/span, {:.2} allocations/span",
            docs.len(),
            bytes as f64 / count as f64,
            allocations_per_span(spans, &config)
        );
    }
    let mut group = c.benchmark_group("translate");
    for (name, spans) in &mixes {
        group.throughput(Throughput::Elements(span_count(spans) as u64));
        group.bench_function(*name, |b| {
            b.iter(|| black_box(translate_all(black_box(spans), &config)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
