//! Receiver and exporter codecs (issue 5): spans per second for
//! - `decode/protobuf` and `decode/json`: an OTLP `ExportTraceServiceRequest` of 512 spans
//!   through [`decode_request`], as the HTTP and gRPC receivers do;
//! - `decode/protobuf+gzip`: the same after [`decompress`] (the SDKs' `gzip` option);
//! - `encode/protobuf`: `prost` encoding of the same request (the `otlp`/`otlphttp` exporters'
//!   body, and the pipeline's byte accounting through `encoded_len`);
//! - `encode/xray-body`: the `PutTraceSegments` body ([`request_body`]) of the same spans'
//!   X-Ray documents, each escaped into a JSON string; `encode/xray-body-serde` writes the
//!   same body with `serde_json`, the reference our escaper is measured against.
//!
//! The spans are the demo function's shapes (SERVER with HTTP keys, HTTP CLIENT, DynamoDB
//! `GetItem`, INTERNAL), with distinct ids. Translation to X-Ray documents is `benches/translate.rs`.
//!
//! Run: `cargo bench --bench codec` (or `make bench`).

#[path = "support/attrs.rs"]
mod attrs;

use attrs::{i, s};

use std::hint::black_box;
use std::io::Write;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use otlp_xray::exporter::awsxray::api::{request_body, request_body_serde};
use otlp_xray::exporter::awsxray::translate::{translate, TranslateConfig};
use otlp_xray::receiver::decode::{decode_request, decompress, ContentEncoding, Encoding};
use prost::Message;

/// Spans per request: the OpenTelemetry SDKs' default `max_export_batch_size`.
const SPANS: usize = 512;

/// The `n`-th span of the mix, with ids unique to `n`.
fn span(n: usize) -> Span {
    let trace = (n / 4) as u128 + 0x5f3a_0000_0000_0000_0000_0000_0000_0001;
    let start = 1_700_000_000_000_000_000u64 + n as u64 * 1_000_000;
    let (name, kind, attributes) = match n % 4 {
        0 => (
            "GET /orders/{id}",
            2,
            vec![
                s("http.request.method", "GET"),
                s("url.path", "/orders/42"),
                s("url.scheme", "https"),
                s("http.route", "/orders/{id}"),
                i("http.response.status_code", 200),
                s("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
                s("client.address", "203.0.113.7"),
            ],
        ),
        1 => (
            "GET",
            3,
            vec![
                s("http.method", "GET"),
                s("http.url", "https://api.example.com/v1/prices?sku=42"),
                i("http.status_code", 200),
                s("net.peer.name", "api.example.com"),
            ],
        ),
        2 => (
            "DynamoDB.GetItem",
            3,
            vec![
                s("rpc.system", "aws-api"),
                s("rpc.service", "DynamoDB"),
                s("rpc.method", "GetItem"),
                s("aws.region", "us-east-1"),
                s("aws.dynamodb.table_names", "orders"),
                s(
                    "aws.request_id",
                    "V2HJ3K4L5M6N7O8P9Q0R1S2T3U4V5W6X7Y8Z9A0B1C2D3E4F5G6",
                ),
                i("http.status_code", 200),
            ],
        ),
        _ => (
            "price.compute",
            1,
            vec![i("items", 3), s("currency", "EUR")],
        ),
    };
    Span {
        trace_id: trace.to_be_bytes().to_vec(),
        span_id: (n as u64 + 1).to_be_bytes().to_vec(),
        parent_span_id: if n.is_multiple_of(4) {
            Vec::new()
        } else {
            ((n - n % 4) as u64 + 1).to_be_bytes().to_vec()
        },
        name: name.to_owned(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 850_000,
        attributes,
        status: Some(Status::default()),
        ..Default::default()
    }
}

fn request() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "orders"),
                    s("cloud.provider", "aws"),
                    s("cloud.platform", "aws_lambda"),
                    s("cloud.region", "us-east-1"),
                    s("faas.name", "orders-handler"),
                    s("telemetry.sdk.language", "rust"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "orders".to_owned(),
                    version: "1.0.0".to_owned(),
                    ..Default::default()
                }),
                spans: (0..SPANS).map(span).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn codec(c: &mut Criterion) {
    let req = request();
    let proto = Bytes::from(req.encode_to_vec());
    let json = serde_json::to_vec(&req).expect("the request serialises");
    let gzip = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&proto).expect("in-memory gzip");
        Bytes::from(enc.finish().expect("in-memory gzip"))
    };
    // Checks the bench measures real work: every encoding decodes back to the same request.
    assert_eq!(
        decode_request(&proto, Encoding::Protobuf).ok(),
        Some(req.clone())
    );
    assert_eq!(
        decode_request(&json, Encoding::Json).ok(),
        Some(req.clone())
    );
    println!(
        "codec: {SPANS} spans per request; protobuf {} B, JSON {} B, protobuf+gzip {} B",
        proto.len(),
        json.len(),
        gzip.len()
    );

    // The X-Ray documents of the request's spans (the trace ids' epoch check off: the
    // spans' start times are fixed).
    let config = TranslateConfig {
        skip_timestamp_validation: true,
        ..Default::default()
    };
    let documents: Vec<String> = req.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .flat_map(|span| {
            translate(req.resource_spans[0].resource.as_ref(), span, &config, 0)
                .expect("the mix translates")
                .documents
        })
        .collect();
    assert_eq!(documents.len(), SPANS);
    let body = request_body(&documents);
    let parsed: serde_json::Value = serde_json::from_slice(&body).expect("the body is JSON");
    assert_eq!(
        parsed["TraceSegmentDocuments"][SPANS - 1],
        documents[SPANS - 1]
    );
    println!(
        "codec: X-Ray documents {} B in all, PutTraceSegments body {} B",
        documents.iter().map(String::len).sum::<usize>(),
        body.len()
    );

    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.bench_function("decode/protobuf", |b| {
        b.iter(|| decode_request(black_box(&proto), Encoding::Protobuf))
    });
    g.bench_function("decode/json", |b| {
        b.iter(|| decode_request(black_box(&json), Encoding::Json))
    });
    g.bench_function("decode/protobuf+gzip", |b| {
        b.iter(|| {
            let body = decompress(black_box(gzip.clone()), ContentEncoding::Gzip, 20 << 20);
            body.map(|b| decode_request(&b, Encoding::Protobuf))
        })
    });
    g.bench_function("encode/protobuf", |b| {
        b.iter(|| black_box(&req).encode_to_vec())
    });
    g.bench_function("encode/xray-body", |b| {
        b.iter(|| request_body(black_box(&documents)))
    });
    assert_eq!(request_body_serde(&documents), body);
    g.bench_function("encode/xray-body-serde", |b| {
        b.iter(|| request_body_serde(black_box(&documents)))
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
