//! Fan-out under the stand-in: one function's spans reach the mock X-Ray endpoint and OTLP
//! receivers started by the test (a tonic gRPC server, hyper HTTP servers) in the same
//! invocation, before the extension lets Lambda freeze it; a target that is down leaves X-Ray
//! untouched and its drops are counted; headers and gzip arrive as configured.
//!
//! "Before /next" for the OTLP receivers is proven with the freeze: after each `/next` the
//! stand-in freezes the extension for `--freeze-ms` and only then starts the next invocation's
//! function. A request that left before `/next` therefore arrives at least `FREEZE_MS` before
//! the next invocation's first span starts; one that left after the thaw arrives within the
//! function's start-up time of it. The receivers record wall-clock arrival times and the
//! function's spans carry wall-clock start times.

#[path = "support/mock.rs"]
mod mock;
#[path = "support/otlp_sink.rs"]
mod otlp_sink;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mock::{
    assert_clean_exit, assert_nothing_lost_or_duplicated, extension_log, free_port, ids,
    max_post_runtime_ms, summary_count, Setup,
};
use otlp_sink::{grpc_sink, http_sink, Sink};
use serde_json::Value;

const FREEZE_MS: u64 = 600;
/// Smallest gap accepted between a request's arrival and the next invocation's first span:
/// the freeze, less slack for the stand-in's own scheduling.
const MIN_GAP_MS: u64 = FREEZE_MS - 150;
const FLUSH_TIMEOUT_MS: f64 = 500.0;
const TOKEN: &str = "secret-apm-token";

fn lambda_yaml() -> String {
    format!("  lambda:\n    flush: end\n    flush_timeout: {FLUSH_TIMEOUT_MS}ms\n")
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Span ids per invocation, in order.
fn invocation_spans(report: &Value) -> Vec<HashSet<String>> {
    report["invocations"]
        .as_array()
        .expect("invocations")
        .iter()
        .map(|inv| ids(&inv["spans_sent"]))
        .collect()
}

/// Every span the function sent reached `sink` exactly once, and each invocation's spans
/// arrived before the extension's `/next` (see the module docs).
fn assert_delivered_before_next(name: &str, sink: &Sink, report: &Value) {
    let per_invocation = invocation_spans(report);
    let seen = sink.spans();
    let mut copies: HashMap<&str, u32> = HashMap::new();
    for (_, s) in &seen {
        *copies.entry(s.span_id.as_str()).or_default() += 1;
    }
    for (i, spans) in per_invocation.iter().enumerate() {
        assert!(!spans.is_empty(), "invocation {i} sent no spans");
        for id in spans {
            assert_eq!(
                copies.get(id.as_str()).copied(),
                Some(1),
                "{name}: span {id} of invocation {i} arrived {:?} times\n{}",
                copies.get(id.as_str()),
                extension_log(report)
            );
        }
    }
    for (i, pair) in per_invocation.windows(2).enumerate() {
        let last_arrival = seen
            .iter()
            .filter(|(_, s)| pair[0].contains(&s.span_id))
            .map(|(at, _)| unix_nanos(*at))
            .max()
            .expect("arrivals");
        let next_start = seen
            .iter()
            .filter(|(_, s)| pair[1].contains(&s.span_id))
            .map(|(_, s)| s.start_unix_nano)
            .min()
            .expect("next spans");
        let gap_ms = next_start.saturating_sub(last_arrival) / 1_000_000;
        eprintln!("{name}: invocation {i} → {}: {gap_ms} ms", i + 1);
        assert!(
            next_start > last_arrival && gap_ms >= MIN_GAP_MS,
            "{name}: invocation {i}'s spans arrived {gap_ms} ms before invocation {}'s first \
             span (expected ≥ {MIN_GAP_MS} ms: before /next and the {FREEZE_MS} ms freeze)\n{}",
            i + 1,
            extension_log(report)
        );
    }
}

fn assert_xray_before_next(report: &Value) {
    assert_nothing_lost_or_duplicated(report);
    for (i, inv) in report["invocations"]
        .as_array()
        .expect("invocations")
        .iter()
        .enumerate()
    {
        assert_eq!(
            ids(&inv["spans_sent"]),
            ids(&inv["received_before_next"]),
            "X-Ray: invocation {i} not delivered before /next\n{}",
            extension_log(report)
        );
    }
}

#[test]
fn spans_reach_xray_and_otlp_grpc_and_http_receivers_before_next() {
    let grpc = grpc_sink(0);
    let http = http_sink(0);
    let json = http_sink(0);
    let s = Setup::new();
    let exporters = format!(
        "  awsxray:\n    region: us-east-1\n\
         \x20 otlp:\n    endpoint: {grpc_addr}\n    tls:\n      insecure: true\n    headers:\n      Authorization: \"Bearer ${{env:APM_SERVER_TOKEN}}\"\n\
         \x20 otlphttp:\n    endpoint: {http_url}\n    headers:\n      Authorization: \"Bearer ${{env:APM_SERVER_TOKEN}}\"\n      x-tenant: team-a\n\
         \x20 otlphttp/json:\n    traces_endpoint: {json_url}/custom/traces\n    encoding: json\n    compression: none\n",
        grpc_addr = grpc.addr,
        http_url = http.url(),
        json_url = json.url(),
    );
    let cfg = s.config_with(
        &exporters,
        "awsxray, otlp, otlphttp, otlphttp/json",
        &lambda_yaml(),
    );
    let token_env = format!("APM_SERVER_TOKEN={TOKEN}");
    let freeze = FREEZE_MS.to_string();
    let (report, _) = s.run(
        &cfg,
        "http",
        &[
            "--invocations",
            "3",
            "--freeze-ms",
            &freeze,
            "--env",
            &token_env,
        ],
    );
    assert_clean_exit(&report);
    assert_xray_before_next(&report);
    assert_delivered_before_next("otlp (gRPC)", &grpc, &report);
    assert_delivered_before_next("otlphttp", &http, &report);
    assert_delivered_before_next("otlphttp/json", &json, &report);

    // Headers and compression as configured.
    let bearer = format!("Bearer {TOKEN}");
    for a in grpc.arrivals() {
        assert_eq!(
            a.headers.get("authorization"),
            Some(&bearer),
            "{:?}",
            a.headers
        );
        assert_eq!(
            a.headers.get("grpc-encoding").map(String::as_str),
            Some("gzip")
        );
    }
    for a in http.arrivals() {
        assert_eq!(
            a.headers.get("authorization"),
            Some(&bearer),
            "{:?}",
            a.headers
        );
        assert_eq!(
            a.headers.get("x-tenant").map(String::as_str),
            Some("team-a")
        );
        assert_eq!(
            a.headers.get("content-encoding").map(String::as_str),
            Some("gzip")
        );
        assert_eq!(
            a.headers.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
    }
    for a in json.arrivals() {
        assert_eq!(a.headers.get("content-encoding"), None, "{:?}", a.headers);
        assert_eq!(
            a.headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
    }
    // The secret never reaches the logs.
    assert!(!extension_log(&report).contains(TOKEN));
    assert_eq!(
        summary_count(&report, "deadline"),
        Some(0),
        "{}",
        extension_log(&report)
    );
}

#[test]
fn a_down_otlp_target_leaves_xray_untouched_and_its_drops_are_counted() {
    // gRPC: nothing listens on the port. HTTP: every request answered 503.
    let closed_port = free_port();
    let unavailable = http_sink(503);
    let s = Setup::new();
    let exporters = format!(
        "  awsxray:\n    region: us-east-1\n\
         \x20 otlp:\n    endpoint: 127.0.0.1:{closed_port}\n    tls:\n      insecure: true\n\
         \x20 otlphttp:\n    endpoint: {url}\n",
        url = unavailable.url()
    );
    let cfg = s.config_with(&exporters, "awsxray, otlp, otlphttp", &lambda_yaml());
    let (report, _) = s.run(&cfg, "grpc", &["--invocations", "3", "--freeze-ms", "50"]);
    assert_clean_exit(&report);
    assert_xray_before_next(&report);
    let max = max_post_runtime_ms(&report);
    assert!(
        max <= FLUSH_TIMEOUT_MS + 400.0,
        "an invocation was held {max} ms\n{}",
        extension_log(&report)
    );
    // Every span of both OTLP exporters is dropped at SHUTDOWN and counted.
    let sent = report["span_counts"]["sent"].as_u64().expect("sent");
    assert_eq!(
        summary_count(&report, "deadline"),
        Some(2 * sent),
        "{}",
        extension_log(&report)
    );
    assert!(
        unavailable
            .refused
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    );
    let log = extension_log(&report);
    for name in ["exporter=otlp ", "exporter=otlphttp "] {
        assert!(
            log.lines()
                .any(|l| l.contains(name) && l.contains("(deadline)")),
            "no drop line for {name}\n{log}"
        );
    }
}

#[test]
fn a_target_that_recovers_gets_everything_once() {
    // The HTTP target refuses (503) for the first invocation, then recovers: what it refused
    // is delivered by a later flush, once, with X-Ray unaffected throughout.
    let flaky = http_sink(503);
    let grpc = grpc_sink(14); // UNAVAILABLE
    let s = Setup::new();
    let exporters = format!(
        "  awsxray:\n    region: us-east-1\n\
         \x20 otlp:\n    endpoint: {grpc_addr}\n    tls:\n      insecure: true\n    retry_on_failure:\n      initial_interval: 10ms\n      max_interval: 100ms\n\
         \x20 otlphttp:\n    endpoint: {url}\n    retry_on_failure:\n      initial_interval: 10ms\n      max_interval: 100ms\n",
        grpc_addr = grpc.addr,
        url = flaky.url()
    );
    let cfg = s.config_with(&exporters, "awsxray, otlp, otlphttp", &lambda_yaml());
    let (fail, refused) = (flaky.fail_with.clone(), flaky.refused.clone());
    let (fail_grpc, refused_grpc) = (grpc.fail_with.clone(), grpc.refused.clone());
    let healer = std::thread::spawn(move || {
        // Heal once both targets have refused something.
        otlp_sink::wait_for(Duration::from_secs(30), || {
            refused.load(std::sync::atomic::Ordering::SeqCst) > 0
                && refused_grpc.load(std::sync::atomic::Ordering::SeqCst) > 0
        });
        fail.store(0, std::sync::atomic::Ordering::SeqCst);
        fail_grpc.store(0, std::sync::atomic::Ordering::SeqCst);
    });
    let (report, _) = s.run(&cfg, "http", &["--invocations", "4", "--freeze-ms", "700"]);
    let _ = healer.join();
    assert_clean_exit(&report);
    assert_xray_before_next(&report);
    assert!(flaky.refused.load(std::sync::atomic::Ordering::SeqCst) > 0);
    assert!(grpc.refused.load(std::sync::atomic::Ordering::SeqCst) > 0);
    for (name, sink) in [("otlphttp", &flaky), ("otlp", &grpc)] {
        let mut copies: HashMap<String, u32> = HashMap::new();
        for (_, span) in sink.spans() {
            *copies.entry(span.span_id).or_default() += 1;
        }
        for spans in invocation_spans(&report) {
            for id in spans {
                assert_eq!(
                    copies.get(&id).copied(),
                    Some(1),
                    "{name}: span {id}\n{}",
                    extension_log(&report)
                );
            }
        }
    }
    assert_eq!(
        summary_count(&report, "deadline"),
        Some(0),
        "{}",
        extension_log(&report)
    );
}

#[test]
fn a_down_otlp_target_never_holds_xray_with_background_flushes() {
    // `continuous`: the flush runs beside the event loop and is frozen with the sandbox, often
    // in the middle of the OTLP exporter's backoff. X-Ray must still get every span, the
    // extension must exit cleanly at SHUTDOWN, and the OTLP drops must be counted.
    let closed_port = free_port();
    let s = Setup::new();
    let exporters = format!(
        "  awsxray:\n    region: us-east-1\n\
         \x20 otlp:\n    endpoint: 127.0.0.1:{closed_port}\n    tls:\n      insecure: true\n"
    );
    let cfg = s.config_with(
        &exporters,
        "awsxray, otlp",
        "  lambda:\n    flush: continuous\n    flush_timeout: 500ms\n",
    );
    let (report, _) = s.run(&cfg, "http", &["--invocations", "5", "--freeze-ms", "300"]);
    assert_clean_exit(&report);
    assert_nothing_lost_or_duplicated(&report);
    let sent = report["span_counts"]["sent"].as_u64().expect("sent");
    assert_eq!(
        summary_count(&report, "deadline"),
        Some(sent),
        "{}",
        extension_log(&report)
    );
}
