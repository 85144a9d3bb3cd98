//! Whole-span tests of the translator: shapes and rules not covered by the vectors.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use serde_json::Value as Json;

use super::*;

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}
fn s(key: &str, v: &str) -> KeyValue {
    kv(key, Value::StringValue(v.to_owned()))
}

fn trace_id() -> Vec<u8> {
    let mut t = vec![0u8; 16];
    t[..4].copy_from_slice(&1_700_000_000u32.to_be_bytes());
    t[15] = 9;
    t
}

fn span(kind: i32, parent: bool, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: trace_id(),
        span_id: vec![0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8],
        parent_span_id: if parent {
            vec![0xde, 0xfd, 0xfd, 0x99, 0x12, 0xdc, 0x5a, 0x56]
        } else {
            Vec::new()
        },
        name: "op".to_owned(),
        kind,
        start_time_unix_nano: 1_700_000_000_500_000_000,
        end_time_unix_nano: 1_700_000_000_750_000_000,
        attributes,
        ..Default::default()
    }
}

fn resource() -> Resource {
    Resource {
        attributes: vec![s("service.name", "checkout"), s("cloud.provider", "aws")],
        ..Default::default()
    }
}

fn docs(span: &Span, config: &TranslateConfig) -> Vec<Json> {
    translate_span(Some(&resource()), span, config, 1_700_000_100)
        .unwrap_or_default()
        .iter()
        .map(|d| serde_json::from_str(d).unwrap_or(Json::Null))
        .collect()
}

#[test]
fn drop_reasons() {
    // R-ID-3, R-ID-5 (D15), R-ID-6
    let config = TranslateConfig::default();
    let mut sp = span(2, false, vec![]);
    sp.trace_id = vec![0; 16];
    assert_eq!(
        translate_span(None, &sp, &config, 0),
        Err(DropReason::InvalidTraceId)
    );
    let mut sp = span(2, false, vec![]);
    sp.span_id = vec![0; 8];
    assert_eq!(
        translate_span(None, &sp, &config, 0),
        Err(DropReason::InvalidSpanId)
    );
    let sp = span(2, false, vec![]);
    let strict = TranslateConfig {
        skip_timestamp_validation: false,
        ..TranslateConfig::default()
    };
    assert!(translate_span(None, &sp, &strict, 1_700_000_100).is_ok());
    assert_eq!(
        translate_span(None, &sp, &strict, 1_800_000_000),
        Err(DropReason::InvalidTraceId)
    );
    // R-ID-4: default skips the check.
    assert!(translate_span(None, &sp, &config, 1_800_000_000).is_ok());
    assert_eq!(DropReason::TooLarge.as_str(), "too_large");
    assert_eq!(DropReason::InvalidTraceId.as_str(), "invalid_trace_id");
}

#[test]
fn kinds_to_segment_or_subsegment() {
    // R-KIND-1
    let config = TranslateConfig::default();
    for (kind, parent, sub) in [
        (2, true, false),
        (5, true, false),
        (3, true, true),
        (4, true, true),
        (1, true, true),
        (0, true, true),
        (3, false, false),
        (1, false, false),
    ] {
        let d = docs(&span(kind, parent, vec![]), &config);
        let t = d.first().and_then(|d| d.get("type")).and_then(Json::as_str);
        assert_eq!(t == Some("subsegment"), sub, "kind {kind} parent {parent}");
        if !sub {
            // D16
            assert!(d.first().and_then(|d| d.get("namespace")).is_none());
        }
    }
}

#[test]
fn always_written_fields() {
    // R-SHAPE-3
    let d = docs(&span(1, true, vec![]), &TranslateConfig::default());
    let d = d.first().cloned().unwrap_or(Json::Null);
    for key in [
        "name",
        "id",
        "trace_id",
        "start_time",
        "end_time",
        "fault",
        "error",
        "throttle",
    ] {
        assert!(d.get(key).is_some(), "{key}");
    }
    assert_eq!(d["aws"]["xray"]["auto_instrumentation"], Json::Bool(false));
}

#[test]
fn in_progress_rules() {
    // R-TIME-3 / R-TIME-4 (D7)
    let config = TranslateConfig::default();
    let d = docs(
        &span(
            1,
            true,
            vec![kv("aws.xray.inprogress", Value::BoolValue(true))],
        ),
        &config,
    );
    assert_eq!(d[0]["in_progress"], Json::Bool(true));
    assert!(d[0].get("end_time").is_none());
    assert!(d[0].get("metadata").is_none());
    let d = docs(
        &span(
            1,
            true,
            vec![kv("aws.xray.inprogress", Value::BoolValue(false))],
        ),
        &config,
    );
    assert!(d[0].get("in_progress").is_none());
    assert!(d[0].get("end_time").is_some());
    let mut sp = span(1, true, vec![]);
    sp.end_time_unix_nano = 0;
    let d = docs(&sp, &config);
    assert_eq!(d[0]["in_progress"], Json::Bool(true));
    assert!(d[0].get("end_time").is_none());
}

#[test]
fn local_root_server_is_one_segment() {
    // R-KIND-4
    let config = TranslateConfig::default();
    let d = docs(
        &span(
            1,
            true,
            vec![
                s("aws.span.kind", "LOCAL_ROOT"),
                s("aws.local.service", "orders"),
            ],
        ),
        &config,
    );
    assert_eq!(d.len(), 1);
    assert!(d[0].get("type").is_none());
    assert_eq!(d[0]["name"], "orders");
}

#[test]
fn local_root_client_split_worked_example() {
    // R-KIND-5 worked example
    let config = TranslateConfig {
        indexed_attributes: vec!["aws.remote.service".to_owned(), "tenant".to_owned()],
        annotation_allow_dot: false,
        ..TranslateConfig::default()
    };
    let mut sp = span(
        3,
        true,
        vec![
            s("aws.span.kind", "LOCAL_ROOT"),
            s("aws.local.service", "orders"),
            s("aws.remote.service", "inventory"),
            s("aws.remote.operation", "GET /items"),
            s("http.method", "POST"),
            s("aws.operation", "UpdateItem"),
            s("aws.table_name", "items"),
            s("tenant", "t1"),
        ],
    );
    sp.links.push(Link {
        trace_id: trace_id(),
        span_id: vec![1; 8],
        ..Default::default()
    });
    let d = docs(&sp, &config);
    assert_eq!(d.len(), 2);
    let (dep, svc) = (&d[0], &d[1]);
    assert_eq!(dep["id"], "53995c3f42cd8ad8");
    assert_eq!(dep["type"], "subsegment");
    assert_eq!(dep["namespace"], "remote");
    assert_eq!(dep["name"], "inventory");
    assert_eq!(dep["http"]["request"]["method"], "POST");
    assert_eq!(dep["aws"]["operation"], "UpdateItem");
    assert_eq!(dep["aws"]["table_name"], "items");
    assert_eq!(dep["annotations"]["aws_remote_service"], "inventory");
    assert_eq!(dep["annotations"]["tenant"], "t1");
    assert_eq!(
        dep["metadata"]["default"]["aws.remote.operation"],
        "GET /items"
    );
    assert!(dep["metadata"]["default"]
        .get("otel.resource.service.name")
        .is_none());
    assert_eq!(dep["links"].as_array().map(Vec::len), Some(1));

    assert_eq!(svc["id"], dep["parent_id"]);
    assert_eq!(svc["parent_id"], "defdfd9912dc5a56");
    assert_eq!(svc["name"], "orders");
    assert!(svc.get("type").is_none());
    assert!(svc.get("namespace").is_none());
    assert!(svc.get("http").is_none());
    assert!(svc["aws"].get("operation").is_none());
    assert!(svc["aws"].get("table_name").is_none());
    assert_eq!(svc["annotations"], serde_json::json!({"tenant": "t1"}));
    assert!(svc.get("metadata").is_none());
    assert!(svc.get("links").is_none());
    assert_eq!(svc["start_time"], dep["start_time"]);
}

#[test]
fn local_root_consumer_split_links_and_resource() {
    // R-KIND-5: links only on the service segment for CONSUMER; parentless root stores resource.
    let mut sp = span(
        5,
        false,
        vec![
            s("aws.span.kind", "LOCAL_ROOT"),
            s("aws.remote.service", "AWS.SDK.SQS"),
            s("rpc.system", "aws-api"),
        ],
    );
    sp.links.push(Link {
        trace_id: trace_id(),
        span_id: vec![1; 8],
        ..Default::default()
    });
    let d = docs(&sp, &TranslateConfig::default());
    assert_eq!(d.len(), 2);
    assert_eq!(d[0]["name"], "SQS"); // R-NAME-6
    assert_eq!(d[0]["namespace"], "aws");
    assert!(d[0].get("links").is_none());
    assert_eq!(d[1]["name"], "checkout");
    assert_eq!(d[1]["links"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        d[1]["metadata"]["default"]["otel.resource.service.name"],
        "checkout"
    );
}

#[test]
fn budget_shrinks_metadata_then_stacks_then_drops() {
    // R-SIZE-1 (D6)
    let mut sp = span(1, true, vec![s("big", &"x".repeat(5000))]);
    let config = TranslateConfig {
        max_document_bytes: 3000,
        ..TranslateConfig::default()
    };
    let d = docs(&sp, &config);
    assert_eq!(
        d[0]["metadata"]["default"]["big"].as_str().map(str::len),
        Some(1024)
    );

    let config = TranslateConfig {
        max_document_bytes: 700,
        ..TranslateConfig::default()
    };
    let d = docs(&sp, &config);
    assert!(d[0].get("metadata").is_none());

    let frames: String = (0..50)
        .map(|i| format!("\n\tat a.B.c{i}(B.java:{i})"))
        .collect();
    sp.events.push(Event {
        name: "exception".to_owned(),
        attributes: vec![
            s("exception.type", "E"),
            s("exception.stacktrace", &format!("E: m{frames}")),
        ],
        ..Default::default()
    });
    let res = Resource {
        attributes: vec![s("telemetry.sdk.language", "java")],
        ..Default::default()
    };
    let out = translate_span(Some(&res), &sp, &config, 0).unwrap_or_default();
    let d: Json =
        serde_json::from_str(out.first().map_or("null", String::as_str)).unwrap_or(Json::Null);
    assert_eq!(d["cause"]["exceptions"][0]["truncated"], 50);
    assert!(d["cause"]["exceptions"][0].get("stack").is_none());
    assert!(out.iter().all(|o| o.len() <= 700));

    let config = TranslateConfig {
        max_document_bytes: 50,
        ..TranslateConfig::default()
    };
    assert_eq!(
        translate_span(None, &sp, &config, 0),
        Err(DropReason::TooLarge)
    );
}

#[test]
fn status_error_with_exception_event_remote_for_clients() {
    // R-CAUSE-5: remote = kind CLIENT/PRODUCER
    let mut sp = span(3, true, vec![]);
    sp.status = Some(Status {
        code: 2,
        message: "x".to_owned(),
    });
    sp.events.push(Event {
        name: "exception".to_owned(),
        attributes: vec![s("exception.type", "E"), s("exception.message", "m")],
        ..Default::default()
    });
    let d = docs(&sp, &TranslateConfig::default());
    assert_eq!(d[0]["cause"]["exceptions"][0]["remote"], true);
    assert_eq!(d[0]["fault"], true);
}

#[test]
fn malformed_inputs_never_panic() {
    // R-STACK-safety and general robustness
    let config = TranslateConfig::default();
    for lang in ["java", "python", "javascript", "dotnet", "go", "php"] {
        for text in [
            "",
            ":",
            "\n",
            "\t",
            "Caused by: :",
            "  File \",,\"",
            "During handling of the above exception, another exception occurred:",
        ] {
            let mut sp = span(
                3,
                true,
                vec![s("http.status_code", "abc"), s("url.query", "")],
            );
            sp.events.push(Event {
                name: "exception".to_owned(),
                attributes: vec![s("exception.stacktrace", text)],
                ..Default::default()
            });
            let res = Resource {
                attributes: vec![s("telemetry.sdk.language", lang)],
                ..Default::default()
            };
            let _ = translate_span(Some(&res), &sp, &config, 0);
        }
    }
    let mut sp = span(3, true, vec![]);
    sp.parent_span_id = vec![1, 2, 3];
    assert_eq!(
        translate_span(None, &sp, &config, 0),
        Err(DropReason::InvalidParentSpanId)
    );
}

#[test]
fn prepared_resource_gives_the_documents_of_translate() {
    // One preparation for many spans (the exporter's path, with the `aws` members written
    // ahead) translates every span as `translate` does, whatever the resource.
    let i = |k: &str, v: i64| kv(k, Value::IntValue(v));
    let resources = [
        vec![],
        vec![
            s("service.name", "demo"),
            s("telemetry.sdk.name", "opentelemetry"),
            s("telemetry.sdk.language", "rust"),
            s("telemetry.sdk.version", "0.33.0"),
            s("cloud.provider", "aws"),
            s("cloud.platform", "aws_lambda"),
        ],
        vec![
            s("cloud.platform", "aws_ec2"),
            s("host.id", "i-1"),
            s("cloud.account.id", "123"),
            s("aws.log.group.names", "a&b"),
            s("telemetry.auto.version", "1"),
        ],
        vec![
            s("cloud.platform", "aws_ecs"),
            s("container.name", "c\"q"),
            s("k8s.cluster.name", "k"),
            s("service.version", "v1"),
        ],
        vec![s("cloud.provider", "gcp"), s("service.name", "g")],
    ];
    let spans = [
        span(
            2,
            true,
            vec![s("http.request.method", "GET"), i("http.status_code", 500)],
        ),
        span(
            3,
            true,
            vec![s("rpc.system", "aws-api"), s("aws.account_id", "9")],
        ),
        span(1, false, vec![s("aws.region", "r")]),
    ];
    let config = TranslateConfig {
        aws_log_groups: vec!["cfg".to_owned()],
        lambda_origin: Some("AWS::Lambda::Function".to_owned()),
        ..TranslateConfig::default()
    };
    for attributes in resources {
        let resource = Resource {
            attributes,
            ..Default::default()
        };
        let prepared = PreparedResource::new(Some(&resource), &config);
        let mut batch = vec!["earlier".to_owned()];
        for sp in &spans {
            let one = translate_span(Some(&resource), sp, &config, 1_700_000_100);
            let before = batch.len();
            let appended = translate_prepared_into(
                &prepared,
                sp,
                1_700_000_100,
                SpanOptions::default(),
                &mut batch,
            );
            assert_eq!(appended, Ok(0));
            assert_eq!(one.ok(), batch.get(before..).map(<[String]>::to_vec));
        }
    }
}

#[test]
fn prepared_translation_appends_nothing_on_a_drop() {
    // On `Err` the batch is left as it was; on `Ok` it gets what `translate` gives.
    let config = TranslateConfig::default();
    let resource = resource();
    let prepared = PreparedResource::new(Some(&resource), &config);
    let mut bad = span(2, false, vec![]);
    bad.span_id = vec![0; 8];
    let mut batch = Vec::new();
    assert_eq!(
        translate_prepared_into(&prepared, &bad, 0, SpanOptions::default(), &mut batch),
        Err(DropReason::InvalidSpanId)
    );
    assert!(batch.is_empty());
    let good = span(2, false, vec![]);
    let dropped = translate_prepared_into(&prepared, &good, 0, SpanOptions::default(), &mut batch);
    assert_eq!(
        dropped.map(|dropped| Translation {
            documents: batch,
            dropped
        }),
        translate(Some(&resource), &good, &config, 0)
    );
}
