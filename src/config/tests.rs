//! Unit tests of loading, expansion, validation and error messages.

use std::time::{Duration, Instant};

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(yaml: &str) -> Result<Config, ConfigError> {
    parse_str(yaml, "test.yaml", no_env)
}

/// [`super::load_with`], run to completion.
fn load_with(
    env: impl Fn(&str) -> Option<String>,
    default_path: &Path,
) -> Result<Config, ConfigError> {
    block_on(super::load_with(env, default_path))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn err(yaml: &str) -> String {
    match parse(yaml) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

const MINIMAL: &str = "\
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  awsxray:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [awsxray]
";

fn xray(c: &Config, id: &str) -> AwsXrayExporterConfig {
    match &c.exporters[id] {
        ExporterConfig::AwsXray(x) => x.clone(),
        other => panic!("not awsxray: {other:?}"),
    }
}

fn otlp(c: &Config, id: &str) -> OtlpReceiverConfig {
    let ReceiverConfig::Otlp(o) = &c.receivers[id];
    o.clone()
}

#[test]
fn embedded_default_loads() {
    let c = Config::embedded_default().unwrap();
    assert_eq!(c.origin, EMBEDDED_ORIGIN);
    let o = otlp(&c, "otlp");
    assert_eq!(o.protocols.grpc.unwrap().endpoint, "localhost:4317");
    assert_eq!(o.protocols.http.unwrap().endpoint, "localhost:4318");
    assert_eq!(xray(&c, "awsxray"), AwsXrayExporterConfig::default());
    let traces: Vec<_> = c.service.traces_pipelines().collect();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].1.receivers, ["otlp"]);
    assert_eq!(traces[0].1.exporters, ["awsxray"]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn defaults() {
    let c = parse(MINIMAL).unwrap();
    let o = otlp(&c, "otlp");
    let g = o.protocols.grpc.unwrap();
    assert_eq!(g, GrpcServerConfig::default());
    assert_eq!(g.endpoint, "localhost:4317");
    assert_eq!(g.max_recv_msg_size_mib, 4);
    assert_eq!(g.max_recv_msg_size_bytes(), 4 * 1024 * 1024);
    assert!(o.protocols.http.is_none(), "absent protocol = disabled");

    let h = HttpServerConfig::default();
    assert_eq!(h.endpoint, "localhost:4318");
    assert_eq!(h.max_request_body_size, 20_971_520);
    assert_eq!(h.traces_url_path, "/v1/traces");

    let x = xray(&c, "awsxray");
    assert!(x.skip_timestamp_validation && x.annotation_allow_dot);
    assert_eq!(x.max_document_bytes, 64_000);
    assert_eq!(
        (x.num_workers, x.request_timeout_seconds, x.max_retries),
        (8, 30, 2)
    );
    assert_eq!(
        x.translate_config(),
        crate::exporter::awsxray::translate::TranslateConfig::default()
    );

    let b = BatchProcessorConfig::default();
    assert_eq!(b.timeout, Duration::from_millis(200));
    assert_eq!((b.send_batch_size, b.send_batch_max_size), (8192, 0));
    assert_eq!(DebugExporterConfig::default().verbosity, Verbosity::Basic);
    assert_eq!(c.service.telemetry.logs.level, LogLevel::Info);
}

#[test]
fn full_config_reads_every_component() {
    let c = parse(
        "\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
        max_recv_msg_size_mib: 8
        max_concurrent_streams: 16
        include_metadata: true
        keepalive: { server_parameters: { time: 2h } }
      http:
        endpoint: 127.0.0.1:0
        max_request_body_size: 1048576
        traces_url_path: custom/traces
        cors: { allowed_origins: ['https://*.example.com'], max_age: 7200 }
        response_headers: { x-served-by: otlp-xray }
  otlp/2:
    protocols:
      http:
        endpoint: localhost:5318
processors:
  batch:
    timeout: 1.5s
    send_batch_size: 100
    send_batch_max_size: 200
  batch/fast:
    timeout: 0
  decouple:
exporters:
  awsxray/prod:
    region: eu-west-1
    endpoint: http://127.0.0.1:2000
    indexed_attributes: [http.route, tenant]
    index_all_attributes: true
    aws_log_groups: [/aws/lambda/fn]
    role_arn: arn:aws:iam::123456789012:role/x
    shared_credentials_file: /tmp/creds
    telemetry: { enabled: true }
    skip_timestamp_validation: false
    annotation_allow_dot: false
    lambda_origin: AWS::Lambda::Function
    max_document_bytes: 32000
  debug:
    verbosity: Detailed
    sampling_initial: 5
  logging:
    loglevel: debug
extensions:
  health_check:
    endpoint: localhost:13133
service:
  extensions: [health_check]
  telemetry:
    logs: { level: debug, encoding: json }
    metrics: { address: localhost:8888 }
  pipelines:
    traces:
      receivers: [otlp, otlp/2]
      processors: [batch, decouple]
      exporters: [awsxray/prod, debug, logging]
    traces/fast:
      receivers: [otlp]
      processors: [batch/fast]
      exporters: [debug]
",
    )
    .unwrap();
    let o = otlp(&c, "otlp");
    let g = o.protocols.grpc.unwrap();
    assert_eq!((g.max_recv_msg_size_mib, g.max_concurrent_streams), (8, 16));
    assert!(g.keepalive.is_some());
    let h = o.protocols.http.unwrap();
    assert_eq!(h.traces_url_path, "/custom/traces", "leading slash added");
    assert_eq!(h.max_request_body_size, 1_048_576);
    assert_eq!(h.cors.unwrap().max_age, Some(7200));
    assert_eq!(h.response_headers["x-served-by"], "otlp-xray");

    let ProcessorConfig::Batch(b) = &c.processors["batch"] else {
        panic!("batch")
    };
    assert_eq!(b.timeout, Duration::from_millis(1500));
    assert_eq!((b.send_batch_size, b.send_batch_max_size), (100, 200));
    let ProcessorConfig::Batch(fast) = &c.processors["batch/fast"] else {
        panic!("batch/fast")
    };
    assert_eq!(fast.timeout, Duration::ZERO);

    let x = xray(&c, "awsxray/prod");
    assert_eq!(x.region.as_deref(), Some("eu-west-1"));
    assert_eq!(x.shared_credentials_file, ["/tmp/creds"]);
    let t = x.translate_config();
    assert!(!t.skip_timestamp_validation && !t.annotation_allow_dot && t.index_all_attributes);
    assert_eq!(t.indexed_attributes, ["http.route", "tenant"]);
    assert_eq!(t.aws_log_groups, ["/aws/lambda/fn"]);
    assert_eq!(t.lambda_origin.as_deref(), Some("AWS::Lambda::Function"));
    assert_eq!(t.max_document_bytes, 32_000);

    let ExporterConfig::Debug(d) = &c.exporters["debug"] else {
        panic!("debug")
    };
    assert_eq!((d.verbosity, d.sampling_initial), (Verbosity::Detailed, 5));
    let ExporterConfig::Debug(l) = &c.exporters["logging"] else {
        panic!("logging")
    };
    assert_eq!(
        l.verbosity,
        Verbosity::Detailed,
        "loglevel debug → detailed"
    );

    assert_eq!(c.service.telemetry.logs.level, LogLevel::Debug);
    assert_eq!(c.service.traces_pipelines().count(), 2);
    assert!(c.extensions.contains_key("health_check"));
    assert!(
        c.warnings.iter().any(|w| w.contains("health_check")),
        "{:?}",
        c.warnings
    );
    assert_eq!(Config::component_type("awsxray/prod"), "awsxray");
}

#[test]
fn env_expansion() {
    let env = |name: &str| match name {
        "AWS_REGION" => Some("ap-south-1".to_owned()),
        "BATCH" => Some("500".to_owned()),
        "ON" => Some("true".to_owned()),
        _ => None,
    };
    let yaml = "\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: localhost:${env:GRPC_PORT:-4317}
processors:
  batch:
    send_batch_size: ${env:BATCH}
    timeout: ${env:BATCH_TIMEOUT:-2s}
exporters:
  awsxray:
    region: ${AWS_REGION}
    index_all_attributes: \"${env:ON}\"
    indexed_attributes: ['$${not.expanded}', 'cost$$']
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [awsxray]
";
    let c = parse_str(yaml, "t", env).unwrap();
    let x = xray(&c, "awsxray");
    assert_eq!(x.region.as_deref(), Some("ap-south-1"));
    assert!(x.index_all_attributes);
    assert_eq!(x.indexed_attributes, ["${not.expanded}", "cost$"]);
    assert_eq!(
        otlp(&c, "otlp").protocols.grpc.unwrap().endpoint,
        "localhost:4317"
    );
    let ProcessorConfig::Batch(b) = &c.processors["batch"] else {
        panic!()
    };
    assert_eq!(b.send_batch_size, 500);
    assert_eq!(b.timeout, Duration::from_secs(2));
}

#[test]
fn env_expansion_unset_is_an_error_naming_the_variable_and_key() {
    let yaml = MINIMAL.replace("  awsxray:\n", "  awsxray:\n    region: ${env:MY_REGION}\n");
    let e = parse(&yaml).unwrap_err();
    assert_eq!(e.key_path(), Some("exporters.awsxray.region"));
    assert_eq!(e.line(), Some(7));
    let msg = e.to_string();
    assert!(msg.contains("`MY_REGION` is not set"), "{msg}");
    assert!(msg.contains("${env:MY_REGION:-default}"), "{msg}");
}

#[test]
fn env_references_in_comments_are_ignored_and_values_cannot_inject_structure() {
    let yaml = format!("# set ${{env:NOT_SET}} to …\n{MINIMAL}")
        .replace("  awsxray:\n", "  awsxray:\n    region: ${env:EVIL}\n");
    let env = |n: &str| (n == "EVIL").then(|| "x\nendpoint: http://evil".to_owned());
    let c = parse_str(&yaml, "t", env).unwrap();
    let x = xray(&c, "awsxray");
    assert_eq!(x.region.as_deref(), Some("x\nendpoint: http://evil"));
    assert_eq!(x.endpoint, None);

    // Error messages stay on one line even when a value holds a newline.
    let yaml = MINIMAL.replace("  awsxray:\n", "  awsxray:\n    endpoint: ${env:EVIL}\n");
    let msg = parse_str(&yaml, "t", env).unwrap_err().to_string();
    assert!(!msg.contains('\n') && msg.contains("x\\nendpoint"), "{msg}");
}

#[test]
fn invalid_yaml_names_the_line() {
    let e = parse("receivers:\n  otlp:\n    protocols: [grpc\nexporters:\n").unwrap_err();
    assert!(matches!(e, ConfigError::Yaml { .. }), "{e:?}");
    assert!(e.line().is_some());
    let msg = e.to_string();
    assert!(msg.starts_with("test.yaml: invalid YAML at line "), "{msg}");

    let msg = err("receivers:\n  otlp:\n   bad\n  x: 1\n");
    assert!(msg.contains("line"), "{msg}");
    let msg = err("a: 1\na: 2\n");
    assert!(
        msg.contains("duplicate key `a`") && msg.contains("line 2"),
        "{msg}"
    );
    let msg = err("a: 1\n---\nb: 2\n");
    assert!(msg.contains("more than one YAML document"), "{msg}");
}

#[test]
fn collector_component_not_in_otlp_xray_used_by_traces_is_an_error() {
    let yaml = MINIMAL
        .replace("  awsxray:\n", "  awsxray:\n  kafka:\n    brokers: [x]\n")
        .replace("exporters: [awsxray]", "exporters: [awsxray, kafka]");
    let e = parse(&yaml).unwrap_err();
    assert_eq!(e.key_path(), Some("exporters.kafka"));
    assert_eq!(e.line(), Some(7));
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "test.yaml: exporters.kafka (line 7, column 3): exporter `kafka` exists in the \
             OpenTelemetry Collector but not in otlp-xray, and pipeline `traces` uses it; \
             supported exporters: awsxray, otlp"
        ),
        "{msg}"
    );

    let yaml = MINIMAL
        .replace(
            "exporters:\n",
            "processors:\n  tail_sampling:\n    policies: []\nexporters:\n",
        )
        .replace(
            "      exporters: [awsxray]",
            "      processors: [tail_sampling]\n      exporters: [awsxray]",
        );
    let msg = err(&yaml);
    assert!(
        msg.contains(
            "processors.tail_sampling (line 6, column 3): processor `tail_sampling` \
             exists in the OpenTelemetry Collector but not in otlp-xray, and pipeline `traces` \
             uses it; sample in the function's SDK"
        ),
        "{msg}"
    );
    assert!(
        msg.contains("supported processors: batch, decouple"),
        "{msg}"
    );

    let yaml = MINIMAL
        .replace(
            "receivers:\n",
            "receivers:\n  jaeger:\n    protocols: {grpc: }\n",
        )
        .replace("receivers: [otlp]", "receivers: [otlp, jaeger]");
    let msg = err(&yaml);
    assert!(
        msg.contains(
            "receivers.jaeger (line 2, column 3): receiver `jaeger` exists in the \
             OpenTelemetry Collector"
        ) && msg.contains("supported receivers: otlp"),
        "{msg}"
    );
}

#[test]
fn collector_components_only_in_ignored_pipelines_or_unused_are_warnings() {
    let yaml = format!(
        "{}    metrics:\n      receivers: [prometheus]\n      exporters: [awsemf]\n",
        MINIMAL
            .replace(
                "receivers:\n",
                "receivers:\n  prometheus:\n    config: {}\n",
            )
            .replace("  awsxray:\n", "  awsxray:\n  awsemf:\n  kafka:\n")
    );
    let c = parse(&yaml).unwrap();
    for id in [
        "receivers.prometheus",
        "exporters.awsemf",
        "exporters.kafka",
    ] {
        assert!(
            c.warnings.iter().any(|w| w.starts_with(id)
                && w.contains("exists in the OpenTelemetry Collector but not in otlp-xray")
                && w.contains("no traces pipeline uses it")),
            "{id}: {:?}",
            c.warnings
        );
    }
    assert!(!c.exporters.contains_key("kafka"));
}

#[test]
fn unknown_component_types_are_errors() {
    let yaml = MINIMAL
        .replace("  awsxray:\n", "  awsxray:\n  frobnicator:\n")
        .replace("exporters: [awsxray]", "exporters: [awsxray, frobnicator]");
    let msg = err(&yaml);
    // The pipeline's reference to it is not reported again.
    assert!(
        !msg.contains("is not defined") && !msg.contains("errors"),
        "{msg}"
    );
    assert!(
        msg.contains(
            "exporters.frobnicator (line 7, column 3): exporter type `frobnicator` is \
             not supported: it is not an OpenTelemetry Collector component otlp-xray knows of"
        ),
        "{msg}"
    );
    let yaml = MINIMAL.replace("  awsxray:\n", "  awsxrey:\n");
    let msg = err(&yaml);
    assert!(msg.contains("did you mean `awsxray`?"), "{msg}");
}

#[test]
fn extensions_accepted_and_refused() {
    let with = |ext: &str, started: &str| {
        MINIMAL.replace(
            "service:\n",
            &format!("extensions:\n{ext}service:\n  extensions: [{started}]\n"),
        )
    };
    let c = parse(&with(
        "  health_check:\n  healthcheckv2:\n  pprof:\n  zpages:\n  sigv4auth:\n    region: eu-west-1\n  lambda:\n",
        "health_check, healthcheckv2, pprof, zpages, sigv4auth, lambda",
    ))
    .unwrap();
    assert_eq!(c.extensions.len(), 6);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("`pprof` is accepted but has no effect")),
        "{:?}",
        c.warnings
    );
    assert!(
        !c.warnings.iter().any(|w| w.contains("`lambda`")),
        "{:?}",
        c.warnings
    );

    let msg = err(&with(
        "  bearertokenauth:\n    token: x\n",
        "bearertokenauth",
    ));
    assert!(
        msg.contains(
            "extensions.bearertokenauth (line 8, column 3): extension \
             `bearertokenauth` exists in the OpenTelemetry Collector but not in otlp-xray, and \
             service.extensions starts it; set the credential in the exporter's `headers`"
        ),
        "{msg}"
    );
    // Defined and not started: a warning.
    let c = parse(&with("  basicauth:\n  pprof:\n", "pprof")).unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("extensions.basicauth") && w.contains("does not start it")),
        "{:?}",
        c.warnings
    );
    let msg = err(&with("  pprof:\n", "pprof, zpages"));
    assert!(
        msg.contains("service.extensions[1]") && msg.contains("extension `zpages` is not defined"),
        "{msg}"
    );
}

#[test]
fn every_error_is_reported_in_text_order() {
    let yaml = "\
receivers:
  otlp:
    protocols:
      grpc:
        max_recv_msg_size_mib: lots
        endpoint: ${env:NOPE}
exporters:
  awsxray:
    regoin: eu-west-1
    num_workers: many
    indexed_attributes: {a: 1}
  debug:
    verbosity: loud
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [awsxray, debug, otlp/none]
";
    let e = parse(yaml).unwrap_err();
    let ConfigError::Multiple(all) = &e else {
        panic!("{e:?}")
    };
    let got: Vec<(String, Option<u64>)> = all
        .iter()
        .map(|e| (e.key_path().unwrap_or_default().to_owned(), e.line()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "receivers.otlp.protocols.grpc.max_recv_msg_size_mib".to_owned(),
                Some(5)
            ),
            ("receivers.otlp.protocols.grpc.endpoint".to_owned(), Some(6)),
            ("exporters.awsxray.regoin".to_owned(), Some(9)),
            ("exporters.awsxray.num_workers".to_owned(), Some(10)),
            ("exporters.awsxray.indexed_attributes".to_owned(), Some(11)),
            ("exporters.debug.verbosity".to_owned(), Some(13)),
            ("service.pipelines.traces.exporters[2]".to_owned(), Some(18)),
        ]
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with("7 config errors: test.yaml: receivers.otlp"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    assert_eq!(e.errors().len(), 7);
}

#[test]
fn unknown_key_in_awsxray() {
    let yaml = MINIMAL.replace("  awsxray:\n", "  awsxray:\n    regoin: eu-west-1\n");
    let e = parse(&yaml).unwrap_err();
    assert_eq!(e.key_path(), Some("exporters.awsxray.regoin"));
    assert_eq!(e.line(), Some(7));
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "test.yaml: exporters.awsxray.regoin (line 7, column 5): unknown key `regoin`"
        ),
        "{msg}"
    );
    assert!(msg.contains("did you mean `region`?"), "{msg}");
    assert!(
        msg.contains("supported keys: region, endpoint, indexed_attributes"),
        "{msg}"
    );
}

#[test]
fn bad_values_name_key_line_and_expectation() {
    let yaml = MINIMAL.replace(
        "      grpc:\n",
        "      grpc:\n        max_recv_msg_size_mib: lots\n",
    );
    let msg = err(&yaml);
    assert!(
        msg.contains("receivers.otlp.protocols.grpc.max_recv_msg_size_mib (line 5, column 32)"),
        "{msg}"
    );
    assert!(
        msg.contains("expected a non-negative integer, found `lots`"),
        "{msg}"
    );

    let yaml = MINIMAL.replace(
        "exporters:\n",
        "processors:\n  batch:\n    timeout: 5\nexporters:\n",
    );
    let msg = err(&yaml);
    assert!(
        msg.contains("processors.batch.timeout") && msg.contains("missing unit"),
        "{msg}"
    );

    let yaml = MINIMAL.replace(
        "  awsxray:\n",
        "  debug:\n    verbosity: loud\n  awsxray:\n",
    );
    let msg = err(&yaml);
    assert!(
        msg.contains("exporters.debug.verbosity") && msg.contains("basic, normal, detailed"),
        "{msg}"
    );

    let yaml = MINIMAL.replace(
        "  awsxray:\n",
        "  awsxray:\n    max_document_bytes: 100000\n",
    );
    let msg = err(&yaml);
    assert!(
        msg.contains("exporters.awsxray.max_document_bytes (line 7"),
        "{msg}"
    );

    let yaml = MINIMAL.replace(
        "  awsxray:\n",
        "  awsxray:\n    endpoint: xray.local:2000\n",
    );
    assert!(err(&yaml).contains("must be a URL"));
}

#[test]
fn tls_and_no_protocol_are_refused() {
    let yaml = MINIMAL.replace(
        "      grpc:\n",
        "      grpc:\n        tls:\n          cert_file: x\n",
    );
    let msg = err(&yaml);
    assert!(
        msg.contains("receivers.otlp.protocols.grpc.tls (line 5, column 9)")
            && msg.contains("TLS is not supported"),
        "{msg}"
    );
    let yaml = MINIMAL.replace("    protocols:\n      grpc:\n", "    protocols:\n");
    let msg = err(&yaml);
    assert!(
        msg.contains("receivers.otlp.protocols") && msg.contains("at least one protocol"),
        "{msg}"
    );
}

#[test]
fn pipeline_referencing_undefined_component() {
    let yaml = MINIMAL.replace("exporters: [awsxray]", "exporters: [awsxray, debug]");
    let e = parse(&yaml).unwrap_err();
    assert_eq!(e.key_path(), Some("service.pipelines.traces.exporters[1]"));
    assert_eq!(e.line(), Some(11));
    let msg = e.to_string();
    assert!(
        msg.contains(
            "exporter `debug` is not defined under `exporters`; defined exporters: awsxray"
        ),
        "{msg}"
    );

    let yaml = MINIMAL.replace("receivers: [otlp]", "receivers: [otlp/2]");
    let msg = err(&yaml);
    assert!(msg.contains("receiver `otlp/2` is not defined"), "{msg}");

    let yaml = MINIMAL.replace(
        "      exporters: [awsxray]",
        "      processors: [batch]\n      exporters: [awsxray]",
    );
    let msg = err(&yaml);
    assert!(msg.contains("no processors are defined"), "{msg}");
}

#[test]
fn pipeline_rules() {
    let msg = err(&MINIMAL.replace("    traces:\n", "    metrics:\n"));
    assert!(msg.contains("no traces pipeline"), "{msg}");
    let msg = err(&MINIMAL.replace("    traces:\n", "    traces/:\n"));
    assert!(msg.contains("invalid pipeline id `traces/`"), "{msg}");
    let msg = err(&MINIMAL.replace("    traces:\n", "    trace:\n"));
    assert!(
        msg.contains("unknown pipeline type `trace` (did you mean `traces`?)"),
        "{msg}"
    );
    let msg = err(&MINIMAL.replace("exporters: [awsxray]", "exporters: []"));
    assert!(msg.contains("pipeline `traces` has no exporters"), "{msg}");
    let msg = err(&MINIMAL.replace("receivers: [otlp]", "receivers: [otlp, otlp]"));
    assert!(msg.contains("lists the receiver `otlp` twice"), "{msg}");
    let msg = err(&MINIMAL.replace("service:\n  pipelines:", "service:\n  pipelinez:"));
    assert!(
        msg.contains("service.pipelinez") && msg.contains("did you mean `pipelines`"),
        "{msg}"
    );
    let msg = err("receivers:\n  otlp:\n    protocols: {grpc: }\nexporters:\n  awsxray:\n");
    assert!(msg.contains("`service` section is missing"), "{msg}");
    let msg = err("");
    assert!(msg.contains("the config is empty"), "{msg}");
    let msg = err(&format!("{MINIMAL}connectors:\n  spanmetrics:\n"));
    assert!(
        msg.contains(
            "connectors (spanmetrics) exist in the OpenTelemetry Collector but not in \
             otlp-xray"
        ),
        "{msg}"
    );
    let msg = err(&format!("{MINIMAL}recievers: {{}}\n"));
    assert!(
        msg.contains("unknown key `recievers` (did you mean `receivers`?)"),
        "{msg}"
    );
}

#[test]
fn metrics_pipelines_are_accepted_with_a_warning_when_valid() {
    let yaml =
        format!("{MINIMAL}    metrics:\n      receivers: [otlp]\n      exporters: [awsxray]\n");
    let c = parse(&yaml).unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("pipeline `metrics` is accepted but ignored")),
        "{:?}",
        c.warnings
    );
    let yaml = format!("{MINIMAL}    logs:\n      receivers: [otlp]\n      exporters: [emf]\n");
    let msg = err(&yaml);
    assert!(
        msg.contains("service.pipelines.logs.exporters[0]") && msg.contains("`emf`"),
        "{msg}"
    );
}

#[test]
fn receivers_may_not_share_an_endpoint() {
    let yaml = MINIMAL
        .replace(
            "receivers:\n",
            "receivers:\n  otlp/2:\n    protocols:\n      grpc:\n",
        )
        .replace("receivers: [otlp]", "receivers: [otlp, otlp/2]");
    let msg = err(&yaml);
    assert!(msg.contains("both listen on `localhost:4317`"), "{msg}");
}

#[test]
fn unused_components_are_warned_about() {
    let yaml = MINIMAL.replace("  awsxray:\n", "  awsxray:\n  debug:\n");
    let c = parse(&yaml).unwrap();
    assert_eq!(
        c.warnings,
        ["exporter `debug` is defined but no traces pipeline uses it; it is not started"]
    );
}

#[test]
fn invalid_component_ids() {
    let msg = err(&MINIMAL.replace("  awsxray:\n", "  awsxray/:\n  awsxray:\n"));
    assert!(msg.contains("invalid component id `awsxray/`"), "{msg}");
}

// ---- sources -------------------------------------------------------------------------------

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn write(dir: &Path, name: &str, exporter_region: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let yaml = MINIMAL.replace(
        "  awsxray:\n",
        &format!("  awsxray:\n    region: {exporter_region}\n"),
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn source_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let uri_file = write(dir.path(), "uri.yaml", "from-uri");
    let file_file = write(dir.path(), "file.yaml", "from-file");
    let default_file = write(dir.path(), "default.yaml", "from-default");
    let missing_default = dir.path().join("none.yaml");
    let region = |c: Config| xray(&c, "awsxray").region;

    // 1. URI (plain path and file: URIs) beats everything.
    for uri in [
        uri_file.display().to_string(),
        format!("file:{}", uri_file.display()),
        format!("file://{}", uri_file.display()),
    ] {
        let env = env_of(&[
            (CONFIG_URI_ENV, &uri),
            (CONFIG_FILE_ENV, &file_file.display().to_string()),
        ]);
        let c = load_with(env, &default_file).unwrap();
        assert_eq!(c.origin, uri_file.display().to_string());
        assert_eq!(region(c).as_deref(), Some("from-uri"));
    }
    // 2. FILE next (an empty URI variable counts as unset).
    let env = env_of(&[
        (CONFIG_URI_ENV, " "),
        (CONFIG_FILE_ENV, &file_file.display().to_string()),
    ]);
    assert_eq!(
        region(load_with(env, &default_file).unwrap()).as_deref(),
        Some("from-file")
    );
    // 3. The default path if it exists.
    assert_eq!(
        region(load_with(no_env, &default_file).unwrap()).as_deref(),
        Some("from-default")
    );
    // 4. The embedded default.
    let c = load_with(no_env, &missing_default).unwrap();
    assert_eq!(c.origin, EMBEDDED_ORIGIN);
    assert_eq!(region(c), None);
}

#[test]
fn missing_named_file_is_an_error_naming_path_and_variable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    for var in [CONFIG_URI_ENV, CONFIG_FILE_ENV] {
        let env = env_of(&[(var, &missing.display().to_string())]);
        let e = load_with(env, &dir.path().join("also-missing.yaml")).unwrap_err();
        assert!(matches!(e, ConfigError::NotFound { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(&missing.display().to_string()) && msg.contains(var),
            "{msg}"
        );
    }
    let env = env_of(&[(CONFIG_URI_ENV, "s3://bucket/config.yaml")]);
    let msg = load_with(env, &missing).unwrap_err().to_string();
    assert!(
        msg.contains("an S3 config URI is s3://<bucket>.s3.<region>.amazonaws.com/<key>"),
        "{msg}"
    );
    let env = env_of(&[(CONFIG_URI_ENV, "vault:secret/otel")]);
    let msg = load_with(env, &missing).unwrap_err().to_string();
    assert!(
        msg.contains("the `vault:` config provider is not supported"),
        "{msg}"
    );
}

#[test]
fn file_errors_carry_the_path_as_origin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        MINIMAL.replace("  awsxray:\n", "  awsxray:\n    regoin: x\n"),
    )
    .unwrap();
    let env = env_of(&[(CONFIG_FILE_ENV, &path.display().to_string())]);
    let msg = load_with(env, &path).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: exporters.awsxray.regoin (line 7",
            path.display()
        )),
        "{msg}"
    );

    let env = env_of(&[(CONFIG_FILE_ENV, &dir.path().display().to_string())]);
    let e = load_with(env, &path).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e:?}");

    std::fs::write(&path, vec![b'#'; MAX_CONFIG_BYTES + 10]).unwrap();
    let env = env_of(&[(CONFIG_FILE_ENV, &path.display().to_string())]);
    let e = load_with(env, &path).unwrap_err();
    assert!(matches!(e, ConfigError::TooLarge { .. }), "{e:?}");
}

#[test]
fn older_variable_name_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "c.yaml", "x");
    let env = env_of(&[(CONFIG_FILE_ENV, &file.display().to_string())]);
    let c = load_with(env, &dir.path().join("none.yaml")).unwrap();
    assert_eq!(
        c.warnings[0],
        "OPENTELEMETRY_COLLECTOR_CONFIG_FILE is the older name of \
         OPENTELEMETRY_COLLECTOR_CONFIG_URI; it still works, but rename it"
    );
    // It takes URIs too, as upstream.
    let env = env_of(&[
        (CONFIG_FILE_ENV, "env:CFG"),
        ("CFG", &std::fs::read_to_string(&file).unwrap()),
    ]);
    assert_eq!(
        load_with(env, &dir.path().join("none.yaml"))
            .unwrap()
            .origin,
        "env:CFG"
    );
}

#[test]
fn env_and_yaml_sources_merge_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "base.yaml", "from-file");
    let uri = format!(
        "file://{},env:OVERLAY,yaml:exporters::awsxray::indexed_attributes: [a, b]",
        file.display()
    );
    let env = env_of(&[
        (CONFIG_URI_ENV, &uri),
        (
            "OVERLAY",
            "exporters:\n  awsxray:\n    region: from-env\n  debug:\n    verbosity: \
             detailed\nservice::pipelines::traces::exporters: [awsxray, debug]\n",
        ),
    ]);
    let c = load_with(env, &dir.path().join("none.yaml")).unwrap();
    let x = xray(&c, "awsxray");
    assert_eq!(x.region.as_deref(), Some("from-env"), "later source wins");
    assert_eq!(x.indexed_attributes, ["a", "b"]);
    assert_eq!(
        c.service.pipelines["traces"].exporters,
        ["awsxray", "debug"],
        "lists are replaced, not appended"
    );
    assert_eq!(c.service.pipelines["traces"].receivers, ["otlp"]);
    assert_eq!(
        c.origin,
        format!(
            "{} + env:OVERLAY + yaml:exporters::awsxray::indexed_attributes: [a, b]",
            file.display()
        )
    );
}

#[test]
fn errors_name_the_source_they_are_in() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "base.yaml", "x");
    let uri = format!(
        "{},yaml:exporters::awsxray::regoin: y,env:BROKEN,env:UNSET",
        file.display()
    );
    let env = env_of(&[(CONFIG_URI_ENV, &uri), ("BROKEN", "a: [1\n")]);
    let e = load_with(&env, &dir.path().join("none.yaml")).unwrap_err();
    let msgs: Vec<String> = e.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        msgs,
        ["env:UNSET: the environment variable `UNSET` that should hold the config is not set"]
    );
    let uri = format!(
        "{},yaml:exporters::awsxray::regoin: y,env:BROKEN",
        file.display()
    );
    let env = env_of(&[(CONFIG_URI_ENV, &uri), ("BROKEN", "a: [1\n")]);
    let msg = load_with(&env, &dir.path().join("none.yaml"))
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("env:BROKEN: invalid YAML at line"), "{msg}");
    let env = env_of(&[(CONFIG_URI_ENV, &uri), ("BROKEN", "{}")]);
    let msg = load_with(&env, &dir.path().join("none.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with(
            "yaml:exporters::awsxray::regoin: y: exporters.awsxray.regoin (line 1, column 1): \
             unknown key `regoin`"
        ),
        "{msg}"
    );
}

#[test]
fn http_source_is_fetched_at_init() {
    block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = MINIMAL.replace("  awsxray:\n", "  awsxray:\n    region: from-http\n");
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(response.as_bytes()).await.unwrap();
            request
        });
        let uri = format!("http://{addr}/collector.yaml");
        let env = env_of(&[(CONFIG_URI_ENV, &uri)]);
        let c = super::load_with(env, Path::new("/nonexistent"))
            .await
            .unwrap();
        assert_eq!(xray(&c, "awsxray").region.as_deref(), Some("from-http"));
        assert_eq!(c.origin, uri);
        let request = server.await.unwrap();
        assert!(
            request.starts_with("GET /collector.yaml HTTP/1.1\r\n"),
            "{request}"
        );
    });
}

#[test]
fn default_source_does_no_network_or_credential_work() {
    // The embedded default is parsed synchronously: the future is ready on the first poll.
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let mut fut = Box::pin(super::load_with(
        no_env,
        Path::new("/nonexistent/config.yaml"),
    ));
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(c)) => assert_eq!(c.origin, EMBEDDED_ORIGIN),
        other => panic!(
            "not ready at once: {:?}",
            other.map(|r| r.map(|c| c.origin))
        ),
    }
}

// ---- YAML bombs ----------------------------------------------------------------------------

#[test]
fn billion_laughs_is_refused_quickly() {
    let mut yaml = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        yaml.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    let start = Instant::now();
    let e = parse(&yaml).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(e, ConfigError::Yaml { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("refused"), "{msg}");
}

#[test]
fn alias_fan_out_within_budgets_but_large_is_refused() {
    // 1,000 aliases of a 100-element list: 100,000 nodes after expansion.
    let mut yaml = format!("x: &x [{}]\ny: [", vec!["1"; 100].join(","));
    yaml.push_str(&vec!["*x"; 1000].join(","));
    yaml.push_str("]\n");
    let e = parse(&yaml).unwrap_err();
    assert!(e.to_string().contains("refused"), "{e}");
}

#[test]
fn deep_nesting_is_refused_quickly() {
    let start = Instant::now();
    let flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let e = parse(&flow).unwrap_err();
    assert!(matches!(e, ConfigError::Yaml { .. }), "{e:?}");

    let maps = format!("{}1{}", "{a: ".repeat(10_000), "}".repeat(10_000));
    assert!(matches!(
        parse(&maps).unwrap_err(),
        ConfigError::Yaml { .. }
    ));

    let mut block = String::new();
    for i in 0..1000 {
        block.push_str(&" ".repeat(i));
        block.push_str("k:\n");
    }
    let e = parse(&block).unwrap_err();
    assert!(e.to_string().contains("nested more than"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn oversized_text_is_refused() {
    let yaml = format!("{MINIMAL}#{}\n", "x".repeat(MAX_CONFIG_BYTES));
    assert!(matches!(
        parse(&yaml).unwrap_err(),
        ConfigError::TooLarge { .. }
    ));
}
