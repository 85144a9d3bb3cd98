//! Per-span cost of processors and pipeline routing (issue 6):
//! - `chain/*`: `Chain::apply` alone — a `resource` processor with 2 actions and an
//!   `attributes` processor with 4 (insert, upsert from another attribute, hash, delete), with
//!   and without an `exclude` filter;
//! - `pipeline/*`: push + flush through the pipelines (no exporters, so only buffering,
//!   routing and processing are timed): one pipeline without processors (the data is moved, not
//!   copied), one with the processors above, and two pipelines fed by the same receiver (the
//!   first gets a copy).
//!
//! Run: `cargo bench --bench processors`.

#[path = "support/attrs.rs"]
mod attrs;

use attrs::{kv, s};

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otlp_xray::config::{parse_str, Config};
use otlp_xray::exporter::FlushMode;
use otlp_xray::pipeline::{BufferLimits, Pipeline, Route};
use otlp_xray::processor::Chain;

const SPANS: usize = 100;

/// One request as the demo function's SDK sends it: a resource with 6 attributes and 100 spans
/// with 8 attributes each.
fn batch() -> Vec<ResourceSpans> {
    let spans = (0..SPANS)
        .map(|i| Span {
            trace_id: vec![0x5b; 16],
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: format!("GET /items/{i}"),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_100_000_000,
            attributes: vec![
                s("http.request.method", "GET"),
                s("url.full", "https://api.example.com/items/40?x=1"),
                s("http.route", "/items/{id}"),
                kv("http.response.status_code", Value::IntValue(200)),
                s("user.email", "someone@example.com"),
                s("user_agent.original", "curl/8.5.0"),
                s("password", "hunter2"),
                kv("demo.item_id", Value::IntValue(40)),
            ],
            ..Default::default()
        })
        .collect();
    vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                s("service.name", "demo-function"),
                s("telemetry.sdk.language", "rust"),
                s("telemetry.sdk.name", "opentelemetry"),
                s("cloud.provider", "aws"),
                s("cloud.region", "us-east-1"),
                s("faas.name", "demo-function"),
            ],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }]
}

const PROCESSORS: &str = r#"processors:
  resource:
    attributes:
      - { key: deployment.environment, value: prod, action: upsert }
      - { key: telemetry.sdk.name, action: delete }
  attributes:
    actions:
      - { key: team, value: payments, action: insert }
      - { key: route.copy, from_attribute: http.route, action: upsert }
      - { key: user.email, action: hash }
      - { key: password, action: delete }
  attributes/filtered:
    actions:
      - { key: team, value: payments, action: insert }
      - { key: route.copy, from_attribute: http.route, action: upsert }
      - { key: user.email, action: hash }
      - { key: password, action: delete }
    exclude:
      match_type: strict
      span_names: [healthcheck]
"#;

fn config() -> Config {
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n{PROCESSORS}exporters:\n  debug:\n\
         service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      \
         processors: [resource, attributes, attributes/filtered]\n      exporters: [debug]\n"
    );
    parse_str(&yaml, "bench.yaml", |_| None).expect("config")
}

fn chain(config: &Config, ids: &[&str]) -> Chain {
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    Chain::build(&ids, &config.processors, None).expect("chain")
}

fn route(config: &Config, ids: &[&str]) -> Route {
    Route {
        name: "traces".into(),
        receivers: vec!["otlp".into()],
        exporters: vec![],
        chain: chain(config, ids),
    }
}

fn bench(c: &mut Criterion) {
    let config = config();
    let input = batch();
    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(SPANS as u64));
    for (name, ids) in [
        ("clone_only", &[][..]),
        ("resource_2_attributes_4", &["resource", "attributes"][..]),
        (
            "resource_2_attributes_4_with_exclude",
            &["resource", "attributes/filtered"][..],
        ),
    ] {
        let ch = chain(&config, ids);
        g.bench_function(name, |b| {
            b.iter_batched(
                || input.clone(),
                |mut data| {
                    ch.apply(&mut data);
                    black_box(data)
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    g.finish();

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(SPANS as u64));
    let cases: [(&str, Vec<Route>); 3] = [
        ("one_no_processors", vec![route(&config, &[])]),
        (
            "one_with_processors",
            vec![route(&config, &["resource", "attributes"])],
        ),
        (
            "two_no_processors",
            vec![route(&config, &[]), route(&config, &[])],
        ),
    ];
    for (name, routes) in cases {
        let p = Pipeline::with_routes(BufferLimits::default(), vec![], routes).expect("pipeline");
        let h = p.for_receiver("otlp");
        g.bench_function(name, |b| {
            b.iter_batched(
                || input.clone(),
                |data| {
                    h.push(data).expect("accepted");
                    rt.block_on(p.flush(Instant::now(), FlushMode::Regular))
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
