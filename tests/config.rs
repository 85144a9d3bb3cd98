//! Real-world collector configs load through the public API, as the extension loads them.

use std::path::{Path, PathBuf};

use otlp_xray::config::{
    load_with, Config, ExporterConfig, LogLevel, ProcessorConfig, ReceiverConfig, Verbosity,
    CONFIG_FILE_ENV, CONFIG_URI_ENV,
};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Loads `rel` the way a function would name it: `OPENTELEMETRY_COLLECTOR_CONFIG_URI=file:…`,
/// with `AWS_REGION` set as Lambda sets it.
fn load(rel: &str) -> Config {
    let uri = format!("file://{}", repo(rel).display());
    let env = move |name: &str| match name {
        CONFIG_URI_ENV => Some(uri.clone()),
        "AWS_REGION" => Some("eu-central-1".to_owned()),
        _ => None,
    };
    match load_with(env, &repo("no-such-default.yaml")) {
        Ok(c) => c,
        Err(e) => panic!("{rel}: {e}"),
    }
}

fn otlp_endpoints(c: &Config, id: &str) -> (Option<String>, Option<String>) {
    let ReceiverConfig::Otlp(o) = &c.receivers[id];
    (
        o.protocols.grpc.as_ref().map(|g| g.endpoint.clone()),
        o.protocols.http.as_ref().map(|h| h.endpoint.clone()),
    )
}

#[test]
fn every_config_in_tests_configs_and_config_loads() {
    for dir in ["tests/configs", "config"] {
        let mut n = 0;
        for entry in std::fs::read_dir(repo(dir)).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let rel = path.strip_prefix(repo("")).expect("in repo");
                let c = load(&rel.display().to_string());
                assert!(c.service.traces_pipelines().next().is_some(), "{rel:?}");
                n += 1;
            }
        }
        assert!(n >= 3, "{dir}: only {n} configs");
    }
}

#[test]
fn adot_layer_default_loads_unchanged() {
    let c = load("tests/configs/adot-default.yaml");
    assert_eq!(
        otlp_endpoints(&c, "otlp"),
        (Some("localhost:4317".into()), Some("localhost:4318".into()))
    );
    let traces: Vec<_> = c.service.traces_pipelines().collect();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].1.exporters, ["awsxray"]);
    assert!(matches!(c.exporters["awsxray"], ExporterConfig::AwsXray(_)));
    assert!(matches!(c.exporters["debug"], ExporterConfig::Debug(_)));
    // The metrics pipeline is accepted, and the author is told it is ignored.
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("`metrics`") && w.contains("ignored")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn adot_legacy_logging_exporter_and_empty_protocols() {
    let c = load("tests/configs/adot-legacy-logging.yaml");
    assert_eq!(
        otlp_endpoints(&c, "otlp"),
        (Some("localhost:4317".into()), Some("localhost:4318".into())),
        "`grpc:` and `http:` with no value are enabled with default endpoints"
    );
    let ExporterConfig::Debug(d) = &c.exporters["logging"] else {
        panic!("logging is the debug exporter")
    };
    assert_eq!(d.verbosity, Verbosity::Detailed);
    let ExporterConfig::AwsXray(x) = &c.exporters["awsxray"] else {
        panic!("awsxray")
    };
    assert_eq!(x.region.as_deref(), Some("eu-central-1"));
}

#[test]
fn upstream_layer_default_loads() {
    let c = load("tests/configs/upstream-otel-lambda-default.yaml");
    let traces: Vec<_> = c.service.traces_pipelines().collect();
    assert_eq!(traces[0].1.exporters, ["debug"]);
    let ExporterConfig::Debug(d) = &c.exporters["debug"] else {
        panic!("debug")
    };
    assert_eq!(d.verbosity, Verbosity::Detailed);
}

#[test]
fn hand_written_adot_config_with_extensions_and_batch() {
    let c = load("tests/configs/adot-xray-batch.yaml");
    let ProcessorConfig::Batch(b) = &c.processors["batch"] else {
        panic!("batch")
    };
    assert_eq!(b.timeout, std::time::Duration::from_secs(1));
    assert_eq!(b.send_batch_size, 50);
    assert_eq!(c.service.extensions, ["health_check", "pprof"]);
    assert_eq!(c.service.telemetry.logs.level, LogLevel::Info);
    let ExporterConfig::AwsXray(x) = &c.exporters["awsxray"] else {
        panic!("awsxray")
    };
    let t = x.translate_config();
    assert_eq!(
        t.indexed_attributes,
        ["http.route", "traceloop.entity.input"]
    );
}

#[test]
fn file_env_var_and_errors_through_the_public_api() {
    let path = repo("config/xray-debug.yaml");
    let env = |name: &str| match name {
        CONFIG_FILE_ENV => Some(path.display().to_string()),
        _ => None,
    };
    // xray-debug.yaml references ${env:AWS_REGION} with no default.
    let e = load_with(env, &repo("no-such-default.yaml")).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("exporters.awsxray.region") && msg.contains("`AWS_REGION` is not set"),
        "{msg}"
    );
}
