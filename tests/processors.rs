//! Processors and pipelines, end to end: the real `otlp-xray` binary under the `mock-lambda`
//! stand-in with the demo function (real OpenTelemetry SDK), and the receivers in front of a
//! pipeline with a `memory_limiter`, fed by real clients.

#[path = "support/mock.rs"]
mod mock;

use std::collections::BTreeSet;
use std::path::PathBuf;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mock::{assert_clean_exit, assert_nothing_lost_or_duplicated, documents, Setup};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otlp_xray::config::parse_str;
use otlp_xray::pipeline::{BufferLimits, Pipeline};
use otlp_xray::receiver::decode::Status as RpcStatus;
use otlp_xray::receiver::{bind_grpc, bind_http, GrpcSettings, HttpSettings};
use prost::Message;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Writes a config with OTLP on the setup's ports and the given sections (each a YAML block at
/// the top level, already indented).
fn write_config(s: &Setup, rest: &str) -> PathBuf {
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{g}\n      \
         http:\n        endpoint: 127.0.0.1:{h}\n{rest}",
        g = s.grpc_port,
        h = s.http_port
    );
    let path = s.dir.path().join("collector.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path
}

fn meta<'a>(doc: &'a Value, key: &str) -> &'a Value {
    &doc["metadata"]["default"][key]
}

fn hex_sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn resource_and_attributes_actions_show_in_the_xray_documents() {
    let s = Setup::new();
    let cfg = write_config(
        &s,
        "processors:\n\
         \x20 memory_limiter:\n    check_interval: 1s\n    limit_mib: 64\n\
         \x20 resource:\n    attributes:\n\
         \x20     - { key: service.name, value: renamed-by-resource, action: upsert }\n\
         \x20     - { key: deployment.environment, value: e2e, action: insert }\n\
         \x20 attributes:\n    actions:\n\
         \x20     - { key: team, value: payments, action: insert }\n\
         \x20     - { key: demo.item_id, action: delete }\n\
         \x20     - { key: http.route, action: hash }\n\
         \x20 batch:\n    send_batch_size: 2\n    send_batch_max_size: 2\n\
         exporters:\n  awsxray:\n    region: us-east-1\n    attach_to_lambda_segment: false\n\
         service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      \
         processors: [memory_limiter, resource, attributes, batch]\n      exporters: [awsxray]\n",
    );
    let (report, _) = s.run(&cfg, "http", &["--invocations", "3"]);
    assert_clean_exit(&report);
    // Export calls of at most 2 spans lose nothing.
    assert_nothing_lost_or_duplicated(&report);
    let docs = documents(&report);
    assert!(docs.len() >= 12, "{} documents", docs.len());
    for d in &docs {
        assert_eq!(meta(d, "team"), "payments", "attributes insert: {d}");
        assert!(meta(d, "demo.item_id").is_null(), "attributes delete: {d}");
    }
    let segments: Vec<&Value> = docs.iter().filter(|d| d["type"].is_null()).collect();
    assert_eq!(segments.len(), 3, "one SERVER segment per invocation");
    for seg in segments {
        assert_eq!(seg["name"], "renamed-by-resource", "resource upsert: {seg}");
        assert_eq!(
            meta(seg, "otel.resource.deployment.environment"),
            "e2e",
            "resource insert: {seg}"
        );
        assert_eq!(
            meta(seg, "http.route"),
            hex_sha256("/items/{id}").as_str(),
            "attributes hash: {seg}"
        );
    }
}

#[test]
fn two_pipelines_each_reach_their_own_exporter_with_their_own_processors() {
    let s = Setup::new();
    let cfg = write_config(
        &s,
        "processors:\n\
         \x20 attributes/tag:\n    actions:\n\
         \x20     - { key: team, value: payments, action: insert }\n\
         \x20 attributes/mark:\n    actions:\n\
         \x20     - { key: pipeline, value: debug, action: insert }\n\
         exporters:\n  awsxray:\n    region: us-east-1\n  debug:\n    verbosity: normal\n\
         service:\n  pipelines:\n\
         \x20   traces/xray:\n      receivers: [otlp]\n      processors: [attributes/tag]\n      \
         exporters: [awsxray]\n\
         \x20   traces/debug:\n      receivers: [otlp]\n      processors: [attributes/mark]\n      \
         exporters: [debug]\n",
    );
    let (report, _) = s.run(&cfg, "grpc", &["--invocations", "2"]);
    assert_clean_exit(&report);
    assert_nothing_lost_or_duplicated(&report);
    let xray = documents(&report);
    assert!(!xray.is_empty());
    for d in &xray {
        assert_eq!(meta(d, "team"), "payments", "traces/xray's processor: {d}");
        assert!(
            meta(d, "pipeline").is_null(),
            "traces/debug's processor leaked: {d}"
        );
    }
    let xray_ids: BTreeSet<String> = xray
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect();
    // `normal` prints one line per span: `name trace_id span_id key=value…`.
    let span_line = regex::Regex::new(r"\b[0-9a-f]{32} ([0-9a-f]{16})\b").expect("regex");
    let mut debug_ids = BTreeSet::new();
    for line in report["extension_output"].as_array().into_iter().flatten() {
        let line = line.as_str().unwrap_or_default();
        let Some(c) = span_line.captures(line) else {
            continue;
        };
        debug_ids.insert(c[1].to_owned());
        assert!(
            line.contains(" pipeline=debug"),
            "traces/debug's processor: {line}"
        );
        assert!(
            !line.contains(" team="),
            "traces/xray's processor leaked: {line}"
        );
    }
    assert_eq!(
        debug_ids, xray_ids,
        "both pipelines received every span from the one receiver"
    );
}

#[test]
fn a_memory_limiter_percentage_without_a_memory_size_is_explained() {
    // Percentages need the Lambda memory size; with it they load.
    let yaml = "receivers:\n  otlp:\n    protocols:\n      http:\n\
                processors:\n  memory_limiter:\n    check_interval: 1s\n    limit_percentage: 50\n\
                exporters:\n  debug:\n\
                service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      \
                processors: [memory_limiter]\n      exporters: [debug]\n";
    let config = parse_str(yaml, "t.yaml", |_| None).expect("config");
    let exporters = || {
        vec![otlp_xray::exporter::Exporter::Debug(
            otlp_xray::exporter::debug::DebugExporter::new("debug", Default::default()),
        )]
    };
    let e = Pipeline::from_config(&config, BufferLimits::default(), exporters(), None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("service.pipelines.traces")
            && e.contains("memory_limiter")
            && e.contains("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
        "{e}"
    );
    assert!(
        Pipeline::from_config(&config, BufferLimits::default(), exporters(), Some(128)).is_ok()
    );
}

/// One request of one span whose name is `bytes` long.
fn big_request(bytes: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![0x5b; 16],
                    span_id: vec![1; 8],
                    name: "x".repeat(bytes),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test]
async fn receivers_answer_a_memory_limiter_refusal_as_the_collector_does() {
    // limit_mib 1: the soft limit is 0.8 MiB; each request is ~300 KB.
    let yaml = "receivers:\n  otlp:\n    protocols:\n      grpc:\n      http:\n\
                processors:\n  memory_limiter:\n    check_interval: 1s\n    limit_mib: 1\n\
                exporters:\n  debug:\n\
                service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      \
                processors: [memory_limiter]\n      exporters: [debug]\n";
    let config = parse_str(yaml, "t.yaml", |_| None).expect("config");
    let pipeline = Pipeline::from_config(
        &config,
        BufferLimits::default(),
        vec![otlp_xray::exporter::Exporter::Debug(
            otlp_xray::exporter::debug::DebugExporter::new("debug", Default::default()),
        )],
        None,
    )
    .expect("pipeline");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let http = bind_http(&HttpSettings {
        endpoint: "127.0.0.1:0".into(),
        ..Default::default()
    })
    .expect("bind http");
    let grpc = bind_grpc(&GrpcSettings {
        endpoint: "127.0.0.1:0".into(),
        ..Default::default()
    })
    .expect("bind grpc");
    let (http_addr, grpc_addr) = (http.local_addr(), grpc.local_addr());
    let http_task = http.serve(pipeline.for_receiver("otlp"), shutdown.clone());
    let grpc_task = grpc.serve(pipeline.for_receiver("otlp"), shutdown);

    let post = |body: Vec<u8>| async move {
        let stream = tokio::net::TcpStream::connect(http_addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = http::Request::post("/v1/traces")
            .header("content-type", "application/x-protobuf")
            .body(Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        let status = res.status();
        (status, res.into_body().collect().await.unwrap().to_bytes())
    };
    let mut accepted = 0;
    let (status, body) = loop {
        let (status, body) = post(big_request(300_000).encode_to_vec()).await;
        if status != http::StatusCode::OK {
            break (status, body);
        }
        accepted += 1;
        assert!(accepted < 10, "never refused");
    };
    assert_eq!(
        accepted, 3,
        "0.9 MB buffered is over the 0.8 MiB soft limit"
    );
    assert_eq!(status, http::StatusCode::SERVICE_UNAVAILABLE);
    let rpc = RpcStatus::decode(body).expect("a google.rpc.Status body");
    assert_eq!(rpc.code, 14, "UNAVAILABLE");
    assert_eq!(rpc.message, "data refused due to high memory usage");

    let mut client = TraceServiceClient::connect(format!("http://{grpc_addr}"))
        .await
        .expect("connect");
    let err = client
        .export(big_request(1000))
        .await
        .expect_err("refused over gRPC too");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert_eq!(err.message(), "data refused due to high memory usage");
    assert_eq!(pipeline.buffered_spans(), 3, "nothing buffered was dropped");

    // A flush empties the buffer: data is accepted again.
    pipeline
        .flush(
            std::time::Instant::now(),
            otlp_xray::exporter::FlushMode::Regular,
        )
        .await;
    client
        .export(big_request(1000))
        .await
        .expect("accepted after the flush");
    assert_eq!(pipeline.total_refused(), 2);

    let _ = stop.send(true);
    let _ = http_task.await;
    let _ = grpc_task.await;
}
