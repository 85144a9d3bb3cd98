//! The main job, end to end: the real `otlp-xray` binary under the `mock-lambda` stand-in,
//! the real OpenTelemetry Rust SDK (`examples/demo-function.rs`) sending spans, and the
//! stand-in's X-Ray endpoint recording `PutTraceSegments`. Each test uses its own ports.

mod common;

#[path = "support/mock.rs"]
mod mock;

use std::collections::HashSet;
use std::process::Command;

use mock::{demo_function, documents, extension, extension_log, ids, Setup};
use serde_json::Value;

/// Every invocation's spans reached X-Ray as valid documents before the extension asked
/// for the next event; the extension initialised, ran and exited cleanly.
fn assert_all_delivered_before_next(report: &Value, invocations: usize) {
    let log = extension_log(report);
    assert!(
        report["init_error"].is_null(),
        "init error: {}\n{log}",
        report["init_error"]
    );
    let invs = report["invocations"].as_array().expect("invocations");
    assert_eq!(invs.len(), invocations, "{log}");
    let docs = documents(report);
    let doc_ids: HashSet<String> = docs
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_string))
        .collect();
    for (i, inv) in invs.iter().enumerate() {
        let sent = ids(&inv["spans_sent"]);
        assert!(
            sent.len() >= 4,
            "invocation {i}: the demo function sends ≥ 4 spans, got {sent:?}"
        );
        let received = ids(&inv["received_before_next"]);
        let missing: Vec<_> = sent.difference(&received).collect();
        assert!(
            missing.is_empty(),
            "invocation {i}: spans not at X-Ray before /next: {missing:?}\n{log}"
        );
        assert_eq!(inv["timed_out"], Value::Bool(false), "invocation {i}");
        // the spans' trace id is the invocation's X-Ray trace (Root=) and every document is there
        for s in inv["spans_sent"].as_array().into_iter().flatten() {
            let id = s["span_id"].as_str().unwrap_or_default();
            assert!(doc_ids.contains(id), "span {id} has no document");
        }
    }
    for d in &docs {
        let text = d.to_string();
        if let Err(errors) = common::schema::validate_document(&text) {
            panic!("document fails the segment rules: {errors:?}\n{text}");
        }
    }
    assert_eq!(report["extension_exit_code"], Value::from(0), "{log}");
    assert_eq!(report["extension_killed"], Value::Bool(false), "{log}");
    assert_eq!(
        report["xray_rejected_requests"],
        Value::from(0),
        "unsigned requests reached X-Ray"
    );
}

#[test]
fn ten_invocations_over_http_deliver_every_span_before_next() {
    let s = Setup::new();
    let cfg = s.default_config();
    let (report, stdout) = s.run(&cfg, "http", &["--invocations", "10"]);
    assert_all_delivered_before_next(&report, 10);
    // the summary a user reads
    assert!(stdout.contains("init"), "{stdout}");
}

#[test]
fn ten_invocations_over_grpc_deliver_every_span_before_next() {
    let s = Setup::new();
    let cfg = s.default_config();
    let (report, _) = s.run(&cfg, "grpc", &["--invocations", "10"]);
    assert_all_delivered_before_next(&report, 10);
}

#[test]
fn the_demo_trace_looks_right_in_xray() {
    let s = Setup::new();
    let cfg = s.default_config();
    let (report, _) = s.run(&cfg, "http", &["--invocations", "3"]);
    assert_all_delivered_before_next(&report, 3);
    let docs = documents(&report);
    let inv0 = &report["invocations"][0];
    let header = inv0["trace_header"].as_str().unwrap_or_default();
    // Root=1-xxxxxxxx-yyyy… → the documents of invocation 0 carry that trace id
    let root = header
        .split(';')
        .find_map(|p| p.strip_prefix("Root="))
        .expect("Root= in the trace header");
    let parent = header
        .split(';')
        .find_map(|p| p.strip_prefix("Parent="))
        .expect("Parent= in the trace header");
    let trace: Vec<&Value> = docs.iter().filter(|d| d["trace_id"] == root).collect();
    assert!(trace.len() >= 4, "documents of trace {root}: {trace:?}");
    // the SERVER span hangs under Lambda's function segment: by default it is sent as that
    // segment's subsegment (attach_to_lambda_segment), with its HTTP request, and it is the
    // only document of the trace parented there
    let under_lambda: Vec<_> = trace.iter().filter(|d| d["parent_id"] == parent).collect();
    assert_eq!(under_lambda.len(), 1, "{trace:?}");
    assert_eq!(under_lambda[0]["type"], "subsegment");
    assert!(under_lambda[0].get("namespace").is_none());
    assert!(under_lambda[0]["http"]["request"]["method"].is_string());
    // every other document is a subsegment of a document of the same trace
    let trace_ids: Vec<&Value> = trace.iter().map(|d| &d["id"]).collect();
    for d in &trace {
        if d["parent_id"] != parent {
            assert!(trace_ids.contains(&&d["parent_id"]), "orphan: {d}");
        }
    }
    // the DynamoDB call is an aws-namespace subsegment with the operation
    let dynamo = trace
        .iter()
        .find(|d| d["namespace"] == "aws")
        .expect("an aws subsegment");
    assert_eq!(dynamo["type"], "subsegment");
    assert_eq!(dynamo["aws"]["operation"], "GetItem");
    // the HTTP call is a remote subsegment
    assert!(trace
        .iter()
        .any(|d| d["namespace"] == "remote" && d["http"].is_object()));
    // invocation 2 (every third) has a fault with an exception cause
    let inv2 = &report["invocations"][2];
    let sent2 = ids(&inv2["spans_sent"]);
    assert!(
        docs.iter().any(|d| {
            d["id"].as_str().is_some_and(|id| sent2.contains(id))
                && d["cause"]["exceptions"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty())
        }),
        "no exception cause in invocation 2"
    );
}

#[test]
fn spans_sent_right_before_shutdown_arrive_and_the_process_exits_in_time() {
    let s = Setup::new();
    let cfg = s.default_config();
    let (report, _) = s.run(&cfg, "http", &["--invocations", "1", "--shutdown-burst"]);
    let burst = &report["shutdown_burst"];
    let sent = ids(&burst["spans_sent"]);
    assert!(!sent.is_empty(), "{report}");
    let received = ids(&burst["received_before_exit"]);
    assert!(
        sent.is_subset(&received),
        "lost at shutdown: {:?}",
        sent.difference(&received)
    );
    assert_eq!(report["extension_exit_code"], Value::from(0));
    assert_eq!(report["extension_killed"], Value::Bool(false));
    let ms = report["shutdown_ms"].as_f64().expect("shutdown_ms");
    assert!(
        ms < 2000.0,
        "exited {ms} ms after SHUTDOWN, past Lambda's deadline"
    );
}

#[test]
fn xray_failing_the_first_call_still_gets_the_documents_within_the_flush() {
    let s = Setup::new();
    let cfg = s.default_config();
    let (report, _) = s.run(
        &cfg,
        "http",
        &["--invocations", "2", "--xray-fail-first", "1"],
    );
    assert_all_delivered_before_next(&report, 2);
    assert!(report["xray_requests"].as_u64().unwrap_or(0) >= 2);
}

fn assert_init_error(report: &Value, needle: &str) {
    let err = &report["init_error"];
    assert!(!err.is_null(), "expected /init/error; report: {report}");
    assert_eq!(err["error_type"], "Extension.ConfigInvalid", "{err}");
    let message = err["body"]["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "message {message:?} should name {needle:?}"
    );
    let code = report["extension_exit_code"].as_i64();
    assert!(
        code.is_some_and(|c| c != 0),
        "exit code {code:?} should be non-zero"
    );
}

#[test]
fn invalid_yaml_fails_init_with_its_line() {
    let s = Setup::new();
    let path = s.dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "receivers:\n  otlp:\n    protocols: [grpc\nexporters: {\n",
    )
    .unwrap();
    let (report, _) = s.run(&path, "http", &["--invocations", "1"]);
    assert_init_error(&report, "line");
}

#[test]
fn unknown_exporter_fails_init_naming_it() {
    let s = Setup::new();
    let cfg = s.write_config("  kafka:\n    brokers: [localhost:9092]\n", "kafka");
    let (report, _) = s.run(&cfg, "http", &["--invocations", "1"]);
    assert_init_error(&report, "kafka");
}

#[test]
fn missing_config_file_fails_init_naming_the_path() {
    let s = Setup::new();
    let path = s.dir.path().join("does-not-exist.yaml");
    let (report, _) = s.run(&path, "http", &["--invocations", "1"]);
    assert_init_error(&report, "does-not-exist.yaml");
}

#[test]
fn a_taken_port_fails_init_naming_the_port_and_the_key() {
    let s = Setup::new();
    let cfg = s.default_config();
    let _held = std::net::TcpListener::bind(("127.0.0.1", s.http_port)).expect("hold port");
    s.keep_ports.set(true);
    let (report, _) = s.run(&cfg, "http", &["--invocations", "1"]);
    let err = &report["init_error"];
    assert!(!err.is_null(), "{report}");
    let message = err["body"]["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(&s.http_port.to_string()), "{message}");
    assert!(message.contains("endpoint"), "{message}");
}

/// The function sends bad requests first (malformed protobuf, wrong content type, bad JSON,
/// unknown path, wrong method) with curl, then runs the real SDK: the bad requests get their
/// statuses and every valid span still arrives.
#[test]
fn bad_input_is_refused_and_valid_spans_still_arrive() {
    let s = Setup::new();
    let cfg = s.default_config();
    let script = s.dir.path().join("function.sh");
    let statuses = s.dir.path().join("statuses.txt");
    let base = format!("http://127.0.0.1:{}", s.http_port);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             c() {{ curl -s -o /dev/null -w '%{{http_code}}\\n' \"$@\" >> {st}; }}\n\
             c -X POST -H 'Content-Type: application/x-protobuf' --data-binary 'not protobuf at all' {base}/v1/traces\n\
             c -X POST -H 'Content-Type: text/plain' --data-binary 'hello' {base}/v1/traces\n\
             c -X POST -H 'Content-Type: application/json' --data-binary '{{\"resourceSpans\": 7' {base}/v1/traces\n\
             c -X POST -H 'Content-Type: application/x-protobuf' --data-binary '' {base}/v1/nope\n\
             c -X GET {base}/v1/traces\n\
             exec {f}\n",
            st = statuses.display(),
            f = demo_function().display()
        ),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();

    let report_path = s.dir.path().join("report.json");
    let out = Command::new(mock::mock())
        .args(["--extension", extension()])
        .arg("--function")
        .arg(&script)
        .args(["--protocol", "http", "--invocations", "2", "--quiet"])
        .arg("--config")
        .arg(&cfg)
        .args(["--otlp-endpoint", &s.endpoint("http")])
        .arg("--report")
        .arg(&report_path)
        .output()
        .expect("mock-lambda");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&report_path)
            .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&out.stderr))),
    )
    .expect("report");
    let got = std::fs::read_to_string(&statuses).expect("statuses");
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(
        got,
        ["400", "415", "400", "404", "405", "400", "415", "400", "404", "405"]
    );
    assert_all_delivered_before_next(&report, 2);
}
