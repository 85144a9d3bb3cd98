//! The stand-in's load-test options with the real binary: `--xray-count-only` (with
//! `examples/loadgen.rs`), `--sample-ms` and `--xray-probe` (with the demo function). They
//! feed `benches/lambda.rs`; these tests check what they report, never how fast anything is.

#[path = "support/mock.rs"]
mod mock;

use std::path::{Path, PathBuf};

use mock::{assert_clean_exit, extension_log, summary_count, Setup};
use serde_json::Value;

/// `make test` builds the examples (`cargo build --examples`) before running the tests.
fn loadgen() -> PathBuf {
    let f = Path::new(mock::extension())
        .parent()
        .expect("binary dir")
        .join("examples")
        .join("loadgen");
    assert!(
        f.exists(),
        "{} not built: run `cargo build --examples` (make test does)",
        f.display()
    );
    f
}

/// How loadgen loads the extension.
struct Load {
    spans_per_request: usize,
    duration_ms: u64,
    rate: u64,
    concurrency: usize,
}

impl Load {
    /// `spans_per_request` spans per request, 2,000 spans/s for 300 ms on 2 connections.
    fn light(spans_per_request: usize) -> Self {
        Load {
            spans_per_request,
            duration_ms: 300,
            rate: 2000,
            concurrency: 2,
        }
    }
}

/// One invocation of loadgen under the stand-in, X-Ray counting only, with `mock_args` added:
/// the report and loadgen's totals.
fn run_loadgen(
    s: &Setup,
    config: &Path,
    protocol: &str,
    mock_args: &[&str],
    load: &Load,
) -> (Value, Value) {
    let out = s.dir.path().join("loadgen.jsonl");
    let mut args: Vec<String> = ["--xray-count-only", "--invocations", "1"]
        .iter()
        .chain(mock_args)
        .map(|a| a.to_string())
        .collect();
    for (k, val) in [
        ("--spans-per-request", load.spans_per_request.to_string()),
        ("--duration-ms", load.duration_ms.to_string()),
        ("--rate", load.rate.to_string()),
        ("--concurrency", load.concurrency.to_string()),
        ("--out", out.display().to_string()),
    ] {
        args.extend(["--function-arg".to_string(), k.to_string()]);
        args.extend(["--function-arg".to_string(), val]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (report, _) = s.run_function(&loadgen(), config, protocol, &args);
    assert_clean_exit(&report);
    let totals = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("loadgen totals: {e}: {}", report["invocations"]));
    let totals = serde_json::from_str(totals.lines().last().expect("a line")).expect("JSON");
    (report, totals)
}

#[test]
fn count_only_counts_every_span_the_load_generator_sent_over_http_and_grpc() {
    for (protocol, spr) in [("http", 50), ("grpc", 7)] {
        let s = Setup::new();
        let config = s.lambda_config("    flush: periodic,100\n");
        let (report, totals) = run_loadgen(
            &s,
            &config,
            protocol,
            &["--sample-ms", "20"],
            &Load::light(spr),
        );
        let sent = totals["spans_sent"].as_u64().expect("spans_sent");
        assert!(sent > 0, "{totals}");
        assert_eq!(totals["requests_failed"], Value::from(0), "{totals}");
        assert_eq!(sent % spr as u64, 0, "whole requests: {totals}");
        let log = extension_log(&report);
        // Every span reached the endpoint and was counted (one document per span), none kept.
        assert_eq!(report["xray_count_only"], Value::Bool(true));
        assert_eq!(report["xray_extension_spans"].as_u64(), Some(sent), "{log}");
        assert_eq!(
            report["xray_extension_documents"].as_u64(),
            Some(sent),
            "{log}"
        );
        assert!(report["documents"].as_array().is_some_and(Vec::is_empty));
        // In count-only mode loadgen prints no SPAN lines: no per-span accounting.
        assert_eq!(report["span_counts"]["sent"], Value::from(0));
        assert_eq!(
            report["invocations"][0]["function_exit_code"],
            Value::from(0)
        );
        // Samples: the extension's CPU time and RSS while it ran, X-Ray's counts.
        let samples = report["samples"].as_array().expect("samples");
        assert!(samples.len() >= 3, "{samples:?}");
        assert!(samples.iter().any(|x| x["extension_cpu_ms"].is_number()));
        assert!(samples
            .iter()
            .any(|x| x["extension_rss_kb"].as_u64() > Some(0)));
        let counts: Vec<u64> = samples
            .iter()
            .filter_map(|x| x["xray_spans"].as_u64())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        assert!(report["extension_cpu_ms"].is_number());
        assert!(report["extension_vm_hwm_init_kb"].as_u64() > Some(0));
    }
}

#[test]
fn the_probe_replays_the_last_call_and_post_runtime_is_split_at_the_telemetry_post() {
    let s = Setup::new();
    let config = s.lambda_config("    flush: end\n");
    let (report, _) = s.run(
        &config,
        "http",
        &["--invocations", "3", "--xray-probe", "5"],
    );
    assert_clean_exit(&report);
    let rtts = report["xray_probe_rtt_ms"].as_array().expect("probe");
    assert_eq!(rtts.len(), 5, "{}", report["xray_probe_error"]);
    assert!(report["xray_probe_error"].is_null());
    // The replays are not the extension's: nothing lost, nothing duplicated.
    mock::assert_nothing_lost_or_duplicated(&report);
    for inv in report["invocations"].as_array().expect("invocations") {
        let total = inv["post_runtime_ms"].as_f64().expect("post_runtime_ms");
        let buffering = inv["runtime_done_delivery_ms"]
            .as_f64()
            .expect("runtime_done_delivery_ms");
        let after = inv["post_runtime_after_delivery_ms"]
            .as_f64()
            .expect("post_runtime_after_delivery_ms");
        // The two parts add up to the whole (each rounded to the microsecond).
        assert!((buffering + after - total).abs() < 0.01, "{inv}");
        // With `end`, the flush's call to X-Ray comes between runtimeDone and /next.
        assert!(inv["xray_calls_post_runtime"].as_u64() >= Some(1), "{inv}");
        assert!(
            inv["next_ms"].as_f64() >= inv["runtime_done_ms"].as_f64(),
            "{inv}"
        );
    }
}

/// A busy invocation sends more spans than the buffer holds: with `end` the flush would come
/// only after runtimeDone, so the buffer filling to a quarter of its limit must trigger a flush at once
/// (pipeline pressure) instead of dropping the oldest spans.
#[test]
fn a_buffer_filling_mid_invocation_is_flushed_early_instead_of_dropping() {
    let s = Setup::new();
    let config = s.lambda_config("    flush: end\n    max_buffered_spans: 200\n");
    let (report, totals) = run_loadgen(&s, &config, "http", &[], &Load::light(20));
    let sent = totals["spans_sent"].as_u64().expect("spans_sent");
    let log = extension_log(&report);
    assert!(sent >= 400, "more than twice the buffer: {totals}");
    assert_eq!(report["xray_extension_spans"].as_u64(), Some(sent), "{log}");
    assert!(
        !log.contains("queue_full=") || log.contains("queue_full=0"),
        "{log}"
    );
}

/// A client sending faster than the exporter delivers fills the buffer while deliveries
/// succeed: requests are then refused with 503 "sending queue is full" (the client may retry),
/// and every span the extension acknowledged reaches X-Ray or is counted as dropped.
#[test]
fn a_full_buffer_pushes_back_with_503_while_deliveries_succeed() {
    let s = Setup::new();
    let config = s.lambda_config("    flush: end\n    max_buffered_spans: 60\n");
    // loadgen keeps to its schedule and pauses 20 ms per refusal: a modest rate keeps the run
    // short (at most 400 requests) while 4 workers still outpace a 60-span buffer.
    let load = Load {
        spans_per_request: 50,
        duration_ms: 500,
        rate: 40_000,
        concurrency: 4,
    };
    let (report, totals) = run_loadgen(&s, &config, "http", &["--timeout-ms", "20000"], &load);
    let log = extension_log(&report);
    let failed = totals["requests_failed"].as_u64().expect("requests_failed");
    assert!(failed > 0, "the buffer never pushed back: {totals}\n{log}");
    let first = totals["first_error"].as_str().unwrap_or_default();
    assert!(
        first.contains("503") && first.contains("sending queue is full"),
        "{totals}"
    );
    // Accounting: acknowledged = delivered + dropped (oldest-first drops happen only before
    // the first flush starts).
    let sent = totals["spans_sent"].as_u64().expect("spans_sent");
    let delivered = report["xray_extension_spans"].as_u64().expect("count");
    let queue_full = summary_count(&report, "queue_full").unwrap_or(0);
    assert_eq!(delivered + queue_full, sent, "{totals}\n{log}");
    assert!(
        queue_full < sent / 2,
        "mostly pushed back, not dropped: {log}"
    );
}

/// A slow endpoint under a steady load: the buffer fills while deliveries crawl. Each flush
/// hands the exporter a round of a quarter of the buffer (its pending queue, bounded by the
/// same `max_buffered_mib`, would overflow with a whole buffer's documents and drop the oldest
/// it had acknowledged); the rest waits in the buffer, which pushes back with 503. Every span
/// acknowledged is delivered.
#[test]
fn a_slow_endpoint_pushes_back_instead_of_dropping_acknowledged_spans() {
    let s = Setup::new();
    let config = s.lambda_config(
        "    flush: periodic,100\n    max_buffered_spans: 2000\n    max_buffered_mib: 1\n",
    );
    let load = Load {
        spans_per_request: 50,
        duration_ms: 1500,
        rate: 4000,
        concurrency: 4,
    };
    // The first 40 calls (50 documents each, 8 at a time) answer 300 ms late: ~1,300
    // documents/s for the first 1.5 s against 4,000 spans/s in.
    let (report, totals) = run_loadgen(
        &s,
        &config,
        "http",
        &["--timeout-ms", "20000", "--xray-fault", "slow:300:40"],
        &load,
    );
    let log = extension_log(&report);
    let sent = totals["spans_sent"].as_u64().expect("spans_sent");
    let delivered = report["xray_extension_spans"].as_u64().expect("count");
    let failed = totals["requests_failed"].as_u64().expect("requests_failed");
    assert!(failed > 0, "the buffer never pushed back: {totals}\n{log}");
    assert_eq!(
        summary_count(&report, "queue_full"),
        Some(0),
        "{totals}\n{log}"
    );
    assert_eq!(delivered, sent, "{totals}\n{log}");
}
