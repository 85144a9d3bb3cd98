use std::collections::BTreeMap;

use super::*;
use crate::config::processors::{
    ActionKind, AttributeActionConfig, AttributesProcessorConfig, BatchProcessorConfig,
    MemoryLimiterProcessorConfig,
};
use crate::config::{ProcessorConfig, Verbosity};
use crate::exporter::debug::DebugExporter;
use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span};

fn rs(n: usize) -> ResourceSpans {
    named("s", n)
}

fn named(prefix: &str, n: usize) -> ResourceSpans {
    ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: (0..n)
                .map(|i| Span {
                    name: format!("{prefix}{i}"),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// One pipeline holding at most `max_spans` spans (no byte limit) in front of `exporters`.
fn spans_limited(max_spans: usize, exporters: Vec<Exporter>) -> Pipeline {
    Pipeline::new(
        BufferLimits {
            max_spans,
            max_bytes: usize::MAX,
        },
        exporters,
    )
}

fn debug(name: &str) -> Exporter {
    Exporter::Debug(DebugExporter::new(name, Verbosity::Basic))
}

/// Processors by id: `tag` inserts `team=payments` on spans, `batch2` caps calls at 2 spans,
/// `limit1` is a memory limiter of 1 MiB (soft 512 KiB).
fn processors() -> BTreeMap<String, ProcessorConfig> {
    let mut m = BTreeMap::new();
    m.insert(
        "tag".to_owned(),
        ProcessorConfig::Attributes(Box::new(AttributesProcessorConfig {
            actions: vec![AttributeActionConfig {
                key: "team".into(),
                value: Some(serde_json::json!("payments")),
                action: Some(ActionKind::Insert),
                ..Default::default()
            }],
            ..Default::default()
        })),
    );
    m.insert(
        "batch2".to_owned(),
        ProcessorConfig::Batch(BatchProcessorConfig {
            send_batch_size: 1,
            send_batch_max_size: 2,
            ..Default::default()
        }),
    );
    m.insert(
        "limit1".to_owned(),
        ProcessorConfig::MemoryLimiter(MemoryLimiterProcessorConfig {
            check_interval: std::time::Duration::from_secs(1),
            limit_mib: 1,
            spike_limit_mib: 0,
            ..Default::default()
        }),
    );
    m
}

fn route(name: &str, receivers: &[&str], processors_: &[&str], exporters: &[&str]) -> Route {
    let ids: Vec<String> = processors_.iter().map(|s| s.to_string()).collect();
    Route {
        name: name.to_owned(),
        receivers: receivers.iter().map(|s| s.to_string()).collect(),
        exporters: exporters.iter().map(|s| s.to_string()).collect(),
        chain: Chain::build(&ids, &processors(), None).expect("chain"),
    }
}

fn drain(p: &Pipeline) -> Vec<Entry> {
    let mut buf = p.inner.buffer.lock().unwrap();
    buf.spans = 0;
    buf.bytes = 0;
    buf.entries.drain(..).collect()
}

/// Span names of each call, with `+` after a span that has the `team` attribute.
fn calls_seen(calls: &[Call]) -> Vec<Vec<String>> {
    calls
        .iter()
        .map(|c| {
            c.iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .map(|s| {
                    let tagged = s.attributes.iter().any(|kv| kv.key == "team");
                    format!("{}{}", s.name, if tagged { "+" } else { "" })
                })
                .collect()
        })
        .collect()
}

#[test]
fn oldest_dropped_first_when_full() {
    let p = spans_limited(5, vec![]);
    assert_eq!(p.push(vec![rs(3)]), Ok(3));
    assert_eq!(p.push(vec![rs(3)]), Ok(3));
    // the first batch of 3 was evicted to make room
    assert_eq!(p.buffered_spans(), 3);
    assert_eq!(p.push(vec![rs(0)]), Ok(0));
    assert_eq!(
        p.push(vec![rs(9)]),
        Ok(0),
        "a batch larger than the buffer is refused"
    );
}

#[tokio::test]
async fn flush_empties_the_buffer_and_reports_queue_full() {
    let p = spans_limited(4, vec![]);
    p.push(vec![rs(3)]).unwrap();
    p.push(vec![rs(2)]).unwrap();
    let r = p.flush(Instant::now(), FlushMode::Regular).await;
    assert_eq!(r.spans, 2);
    assert_eq!(r.queue_full, 3);
    assert_eq!(r.drops().queue_full, 3);
    assert_eq!(p.buffered_spans(), 0);
    assert_eq!(p.flush(Instant::now(), FlushMode::Regular).await.spans, 0);
    assert_eq!(p.total_drops().queue_full, 3);
}

#[test]
fn each_pipeline_gets_its_receivers_data_through_its_own_processors() {
    let p = Pipeline::with_routes(
        BufferLimits::default(),
        vec![debug("a"), debug("b"), debug("both")],
        vec![
            route("traces/a", &["otlp"], &["tag"], &["a", "both"]),
            route("traces/b", &["otlp", "otlp/2"], &[], &["b", "both"]),
        ],
    )
    .unwrap();
    p.for_receiver("otlp").push(vec![named("x", 1)]).unwrap();
    p.for_receiver("otlp/2").push(vec![named("y", 1)]).unwrap();
    let calls = p.inner.route(drain(&p));
    // `a`: only otlp's data, tagged by traces/a.
    assert_eq!(calls_seen(&calls[0]), [vec!["x0+"]]);
    // `b`: both receivers, untouched by traces/a's processor.
    assert_eq!(calls_seen(&calls[1]), [vec!["x0", "y0"]]);
    // `both` is listed by both pipelines: one call per pipeline.
    assert_eq!(calls_seen(&calls[2]), [vec!["x0+"], vec!["x0", "y0"]]);
}

#[test]
fn a_receiver_no_pipeline_lists_goes_nowhere() {
    let p = Pipeline::with_routes(
        BufferLimits::default(),
        vec![debug("a")],
        vec![route("traces", &["otlp"], &[], &["a"])],
    )
    .unwrap();
    assert_eq!(p.for_receiver("zipkin").push(vec![rs(2)]), Ok(0));
    assert_eq!(p.buffered_spans(), 0);
    assert_eq!(p.for_receiver("otlp").push(vec![rs(2)]), Ok(2));
}

#[test]
fn unknown_exporter_is_an_error() {
    let e = Pipeline::with_routes(
        BufferLimits::default(),
        vec![debug("a")],
        vec![route("traces/x", &["otlp"], &[], &["b"])],
    )
    .err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("pipeline `traces/x` uses exporter `b`, which was not started".to_owned())
    );
}

#[tokio::test]
async fn send_batch_max_size_splits_export_calls() {
    let p = Pipeline::with_routes(
        BufferLimits::default(),
        vec![debug("a")],
        vec![route("traces", &["otlp"], &["batch2"], &["a"])],
    )
    .unwrap();
    let h = p.for_receiver("otlp");
    h.push(vec![named("x", 3), named("y", 2)]).unwrap();
    let calls = p.inner.route(drain(&p));
    assert_eq!(
        calls_seen(&calls[0]),
        [vec!["x0", "x1"], vec!["x2", "y0"], vec!["y1"]]
    );
    // Through a flush, the exporter's report sums its calls.
    h.push(vec![named("x", 5)]).unwrap();
    let r = p.flush(Instant::now(), FlushMode::Regular).await;
    assert_eq!(r.spans, 5);
    assert_eq!(r.exporters[0].1.exported, 5);
}

#[tokio::test]
async fn memory_limiter_refuses_above_its_limit_until_a_flush() {
    let p = Pipeline::with_routes(
        BufferLimits::default(),
        vec![debug("a"), debug("b")],
        vec![
            route("traces/limited", &["otlp"], &["limit1"], &["a"]),
            route("traces/free", &["otlp/free"], &[], &["b"]),
        ],
    )
    .unwrap();
    let limited = p.for_receiver("otlp");
    let free = p.for_receiver("otlp/free");
    // ~100 KB per request: the soft limit (1 MiB − 20 %) is reached after a few.
    let big = |i: usize| {
        let mut r = named(&format!("r{i}-"), 1);
        r.scope_spans[0].spans[0].name = "x".repeat(100_000);
        r
    };
    let mut accepted = 0;
    let refused = loop {
        match limited.push(vec![big(accepted)]) {
            Ok(n) => {
                assert_eq!(n, 1);
                accepted += 1;
                assert!(accepted < 20, "never refused");
            }
            Err(e) => break e,
        }
    };
    assert_eq!(refused.spans, 1);
    assert_eq!(refused.to_string(), "data refused due to high memory usage");
    assert_eq!(accepted, 9, "refused at 0.8 MiB buffered, not before");
    assert_eq!(p.buffered_spans(), 9, "nothing buffered was dropped");
    assert_eq!(p.total_refused(), 1);
    // A receiver whose pipelines have no memory limiter is not refused.
    assert_eq!(free.push(vec![big(99)]), Ok(1));
    // After a flush the buffer is empty and data is accepted again.
    p.flush(Instant::now(), FlushMode::Regular).await;
    assert_eq!(limited.push(vec![big(100)]), Ok(1));
    // A request larger than the hard limit is always refused.
    let huge = {
        let mut r = named("h", 1);
        r.scope_spans[0].spans[0].name = "x".repeat(1024 * 1024 + 1);
        r
    };
    assert!(limited.push(vec![huge]).is_err());
}

#[tokio::test]
async fn a_quarter_full_buffer_signals_pressure_once() {
    use std::time::Duration;
    let p = spans_limited(20, vec![]);
    let quick = Duration::from_millis(20);
    p.push(vec![rs(4)]).unwrap();
    assert!(
        tokio::time::timeout(quick, p.pressure()).await.is_err(),
        "4 of 20 spans: no pressure yet"
    );
    p.push(vec![rs(1)]).unwrap();
    p.push(vec![rs(1)]).unwrap();
    // Kept while nobody waited; several pushes above the mark wake one flush, not several.
    assert!(tokio::time::timeout(quick, p.pressure()).await.is_ok());
    assert!(tokio::time::timeout(quick, p.pressure()).await.is_err());
    p.flush(Instant::now(), FlushMode::Regular).await;
    p.push(vec![rs(2)]).unwrap();
    assert!(tokio::time::timeout(quick, p.pressure()).await.is_err());
}

/// A pipeline whose last progress (a delivery, or the first flush's start) was at its start,
/// longer ago than the draining window.
fn progress_long_ago(limits: BufferLimits) -> Pipeline {
    let p = Pipeline {
        inner: Arc::new(Inner {
            started: Instant::now() - std::time::Duration::from_millis(DRAINING_WINDOW_MS + 11),
            ..Inner::new(limits, vec![], vec![], |_| vec![])
        }),
        source: Source::Any,
        limit: None,
    };
    p.inner.progress_ms.store(1, Ordering::Relaxed);
    p
}

#[test]
fn a_full_buffer_refuses_while_deliveries_succeed_and_drops_the_oldest_otherwise() {
    let p = spans_limited(4, vec![]);
    p.push(vec![rs(3)]).unwrap();
    assert_eq!(p.admits(10), Ok(()));
    // Nothing was ever delivered (endpoint down): the oldest go.
    assert_eq!(p.push(vec![rs(2)]), Ok(2));
    assert_eq!(p.buffered_spans(), 2);
    // Deliveries succeed: a push that does not fit is refused, nothing is dropped.
    p.inner.delivered();
    p.push(vec![rs(2)]).unwrap();
    assert_eq!(
        p.push(vec![rs(1)]),
        Err(Refused {
            spans: 1,
            reason: RefusedReason::BufferFull
        })
    );
    assert_eq!(p.buffered_spans(), 4);
    assert_eq!(
        p.admits(1).map_err(|r| r.reason),
        Err(RefusedReason::BufferFull)
    );
    assert_eq!(p.total_refused(), 1);
    // The last delivery is older than the window (an outage began): the oldest go again.
    let p2 = progress_long_ago(p.inner.limits);
    p2.push(vec![rs(4)]).unwrap();
    assert_eq!(p2.admits(1), Ok(()));
    assert_eq!(p2.push(vec![rs(1)]), Ok(1));
    assert_eq!(p2.buffered_spans(), 1);
    // A first flush that started long ago and never delivered is an outage too, and a later
    // flush does not reopen the window: only a delivery does.
    let p3 = progress_long_ago(p.inner.limits);
    p3.inner.flush_started();
    p3.push(vec![rs(4)]).unwrap();
    assert_eq!(p3.push(vec![rs(1)]), Ok(1));
}

#[tokio::test]
async fn a_full_buffer_refuses_while_the_first_flush_is_on_its_way() {
    // The first flush has started and not delivered yet (a burst at the start of the first
    // invocation): a full buffer refuses instead of dropping what it acknowledged.
    let p = spans_limited(4, vec![debug("debug")]);
    p.push(vec![rs(3)]).unwrap();
    assert_eq!(p.push(vec![rs(2)]), Ok(2), "no flush yet: the oldest go");
    p.inner.flush_started();
    p.push(vec![rs(2)]).unwrap();
    assert_eq!(
        p.push(vec![rs(1)]).map_err(|r| r.reason),
        Err(RefusedReason::BufferFull)
    );
    assert_eq!(p.buffered_spans(), 4);
    // A real flush delivers (the debug exporter) and keeps the window open.
    let report = p
        .flush(
            Instant::now() + std::time::Duration::from_secs(5),
            FlushMode::Regular,
        )
        .await;
    assert_eq!(report.exported(), 4);
    p.push(vec![rs(4)]).unwrap();
    assert_eq!(
        p.push(vec![rs(1)]).map_err(|r| r.reason),
        Err(RefusedReason::BufferFull)
    );
}

#[tokio::test]
async fn a_regular_flush_leaves_the_buffer_while_exporters_hold_a_backlog() {
    let p = spans_limited(100, vec![debug("debug")]);
    p.push(vec![rs(3)]).unwrap();
    p.inner.pending.store(MAX_BACKLOG, Ordering::Relaxed);
    let r = p.flush(Instant::now(), FlushMode::Regular).await;
    assert_eq!(r.spans, 0);
    assert_eq!(p.buffered_spans(), 3);
    // The backlog is gone (the debug exporter holds nothing): the next flush takes the data.
    assert_eq!(p.flush(Instant::now(), FlushMode::Regular).await.spans, 3);
    // The final flush always takes everything.
    p.push(vec![rs(2)]).unwrap();
    p.inner.pending.store(MAX_BACKLOG, Ordering::Relaxed);
    assert_eq!(p.flush(Instant::now(), FlushMode::Final).await.spans, 2);
}

#[tokio::test]
async fn a_flush_hands_the_buffer_over_in_rounds_of_a_quarter() {
    // Limits of 8 spans: a round takes 2 (a quarter), whole entries, at least one.
    let p = spans_limited(8, vec![debug("debug")]);
    for _ in 0..4 {
        p.push(vec![rs(2)]).unwrap();
    }
    // With time left, rounds follow each other until the buffer is empty.
    let r = p
        .flush(
            Instant::now() + std::time::Duration::from_secs(5),
            FlushMode::Regular,
        )
        .await;
    assert_eq!((r.spans, r.exported()), (8, 8));
    assert_eq!(p.buffered_spans(), 0);
    assert_eq!(
        r.exporters.len(),
        1,
        "one report per exporter, rounds summed"
    );

    // Past its deadline a regular flush takes one round and leaves the rest buffered, where
    // a full buffer pushes back on the client.
    for _ in 0..4 {
        p.push(vec![rs(2)]).unwrap();
    }
    let r = p.flush(Instant::now(), FlushMode::Regular).await;
    assert_eq!(r.spans, 2);
    assert_eq!(p.buffered_spans(), 6);
    assert!(p.has_undelivered());

    // A final flush past its deadline hands everything over (the exporters count what they
    // cannot deliver); the buffer ends empty.
    let r = p.flush(Instant::now(), FlushMode::Final).await;
    assert_eq!(r.spans, 6);
    assert_eq!(p.buffered_spans(), 0);

    // An entry larger than a round is taken whole.
    p.push(vec![rs(5)]).unwrap();
    let r = p.flush(Instant::now(), FlushMode::Regular).await;
    assert_eq!(r.spans, 5);
}
