//! The run report: JSON (`--report`), the text summary, and trace trees as the X-Ray console
//! would show them.

use crate::runtime_api::ErrorReport;
use crate::telemetry::{DeliveryStats, Subscription};
use crate::xray::{Duplicate, FaultEvent};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SpanRef {
    pub trace_id: String,
    pub span_id: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct InvocationReport {
    pub request_id: String,
    pub trace_header: String,
    pub spans_sent: Vec<SpanRef>,
    /// Span ids of `spans_sent` whose document had arrived when the extension called `/next`
    /// (without INVOKE registration: by the function's end + 100 ms).
    pub received_before_next: Vec<String>,
    /// Span ids of `spans_sent` whose document had arrived by the `/next` that ended the
    /// following invocation (for the last invocation: by the extension's exit).
    pub received_by_end_of_next_invocation: Vec<String>,
    /// runtimeDone emission → `/next` arrival; null when `/next` never came (or without
    /// INVOKE registration).
    pub post_runtime_ms: Option<f64>,
    /// `platform.runtimeDone` events sent for this invocation (0 or 2 under a quirk).
    pub runtime_done_sent: u32,
    /// `/next` did not come before `deadlineMs`.
    pub timed_out: bool,
    pub function_ms: f64,
    pub function_exit_code: Option<i32>,
    pub function_timed_out: bool,
    /// When the invocation started (ms since mock-lambda started).
    pub started_ms: f64,
    /// When `platform.runtimeDone` was emitted (the function's end), ms since mock-lambda
    /// started.
    pub runtime_done_ms: f64,
    /// When the `/next` that ended the invocation arrived, ms since mock-lambda started.
    pub next_ms: Option<f64>,
    /// runtimeDone emission → start of the Telemetry API POST that carried it: the
    /// subscription's buffering (`timeoutMs`, at least 25 ms), which Lambda imposes too.
    pub runtime_done_delivery_ms: Option<f64>,
    /// Start of that POST → `/next` arrival: the post-runtime duration without the Telemetry
    /// API's buffering (what the extension itself spends, X-Ray round trips included).
    pub post_runtime_after_delivery_ms: Option<f64>,
    /// `PutTraceSegments` calls from the extension that arrived between runtimeDone and `/next`.
    pub xray_calls_post_runtime: u64,
    /// Their summed service time at the endpoint (arrival → answer ready), ms.
    pub xray_service_ms_post_runtime: f64,
}

/// One `--sample-ms` sample.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Sample {
    /// Ms since mock-lambda started.
    pub t_ms: f64,
    /// The extension's CPU time so far (user + system), ms; null once it is gone.
    pub extension_cpu_ms: Option<f64>,
    /// The extension's resident set size now (`VmRSS`), KiB.
    pub extension_rss_kb: Option<u64>,
    /// Its peak resident set size so far (`VmHWM`), KiB.
    pub extension_hwm_kb: Option<u64>,
    /// Documents from the extension X-Ray accepted so far (kept or counted).
    pub xray_documents: u64,
    /// Spans in them.
    pub xray_spans: u64,
    /// mock-lambda's own CPU time so far, ms.
    pub mock_cpu_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BurstReport {
    pub spans_sent: Vec<SpanRef>,
    pub received_before_exit: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentReport {
    /// Milliseconds since mock-lambda started.
    pub received_ms: f64,
    pub document: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// `extension` (sent by the extension) or `lambda` (recorded by the mock for
    /// `--lambda-segments`; not a span).
    pub source: String,
    /// `http` (`PutTraceSegments`) or `udp` (daemon); absent for `lambda` documents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
}

/// A span that reached X-Ray more than once.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DuplicateSpan {
    pub trace_id: String,
    pub span_id: String,
    pub copies: u32,
}

/// Totals over every invocation and the shutdown burst.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SpanCounts {
    /// Spans the function handed to its exporter.
    pub sent: u64,
    /// Of those, received by X-Ray (at least once) by the end of the run.
    pub received: u64,
    /// Sent and never received.
    pub lost: u64,
    /// Received more than once.
    pub duplicated: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TelemetryReport {
    /// HTTP status the subscription call got (null: the extension never subscribed).
    pub subscription_status: Option<u16>,
    pub subscription: Option<Subscription>,
    #[serde(flatten)]
    pub delivery: DeliveryStats,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// exec → the extension's first `/next`; null if it never came.
    pub init_ms: Option<f64>,
    pub init_error: Option<ErrorReport>,
    pub init_timed_out: bool,
    pub exit_error: Option<ErrorReport>,
    pub extension_exit_code: Option<i32>,
    pub extension_exit_signal: Option<i32>,
    pub extension_killed: bool,
    pub invocations: Vec<InvocationReport>,
    pub shutdown_burst: Option<BurstReport>,
    /// SHUTDOWN delivery → exit (or kill); null when SHUTDOWN was never delivered.
    pub shutdown_ms: Option<f64>,
    /// The extension's peak resident set size (`VmHWM` of `/proc/<pid>/status`, KiB), read
    /// just before SHUTDOWN; null when unreadable.
    pub extension_vm_hwm_kb: Option<u64>,
    /// The same, read when the extension's first `/next` arrived (end of init).
    pub extension_vm_hwm_init_kb: Option<u64>,
    /// The extension's CPU time (user + system, `/proc/<pid>/stat`, 10 ms resolution) at the
    /// end of init, ms.
    pub extension_cpu_init_ms: Option<f64>,
    /// The same just before SHUTDOWN, ms.
    pub extension_cpu_ms: Option<f64>,
    /// `--initialization-type`.
    pub initialization_type: String,
    /// `--telemetry-quirk` values in effect.
    pub telemetry_quirks: Vec<String>,
    /// The variable that carried the X-Ray endpoint to the extension.
    pub xray_endpoint_env: String,
    /// `POST /TraceSegments` calls that reached the endpoint while it was up.
    pub xray_requests: u64,
    pub xray_rejected_requests: u64,
    /// Calls answered with an injected HTTP error (500, 503, 429).
    pub xray_injected_failures: u64,
    /// Injected faults by kind: `500`, `503`, `429`, `unprocessed`, `invalid`, `slow`,
    /// `hang` (calls), `down` (windows opened). Every configured kind is present.
    pub xray_faults_injected: BTreeMap<String, u64>,
    /// Every injected fault in order (first 500): `{at_ms, fault, call}`.
    pub xray_fault_log: Vec<FaultEvent>,
    /// Requests on connections opened before a `down` window, closed without an answer.
    pub xray_down_dropped: u64,
    pub xray_rejections: Vec<String>,
    /// Extra copies of documents received more than once (same trace_id and id).
    pub xray_duplicate_documents: u64,
    /// The documents received more than once.
    pub xray_duplicates: Vec<Duplicate>,
    /// `--daemon-udp`: the daemon's address (null without it).
    pub xray_daemon_address: Option<String>,
    pub xray_udp_datagrams: u64,
    /// Datagrams rejected (bad header, no document, not JSON).
    pub xray_udp_malformed: u64,
    pub xray_udp_rejections: Vec<String>,
    /// Accepted documents (extension and, with `--lambda-segments`, Lambda's own); empty
    /// with `--xray-count-only`.
    pub documents: Vec<DocumentReport>,
    /// `--xray-count-only`: documents were counted, not kept (span accounting does not apply).
    pub xray_count_only: bool,
    /// Documents from the extension X-Ray accepted (kept or counted).
    pub xray_extension_documents: u64,
    /// Spans in them (documents and embedded subsegments).
    pub xray_extension_spans: u64,
    /// `--xray-probe`: each round trip of the replayed call, ms.
    pub xray_probe_rtt_ms: Vec<f64>,
    /// Why the probe failed, if it did.
    pub xray_probe_error: Option<String>,
    /// `--sample-ms` samples, in time order.
    pub samples: Vec<Sample>,
    /// Totals of spans sent, received, lost, duplicated.
    pub span_counts: SpanCounts,
    /// Spans sent (invocations and shutdown burst) and never received by the end.
    pub lost_spans: Vec<SpanRef>,
    /// Spans received more than once.
    pub duplicate_spans: Vec<DuplicateSpan>,
    pub telemetry: TelemetryReport,
    pub extension_output: Vec<String>,
    /// Why `--expect-all` would fail (empty = every span arrived in time).
    pub expectation_failures: Vec<String>,
}

impl Report {
    /// Failures `--expect-all` cares about.
    pub fn expectation_failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        if let Some(e) = &self.init_error {
            f.push(format!("extension reported init error {:?}", e.error_type));
        }
        if self.init_timed_out {
            f.push("init did not finish within 10 s".into());
        } else if self.init_ms.is_none() && self.init_error.is_none() {
            f.push("extension never called /event/next".into());
        }
        for (i, inv) in self.invocations.iter().enumerate() {
            let missing: Vec<&str> = inv
                .spans_sent
                .iter()
                .map(|s| s.span_id.as_str())
                .filter(|id| !inv.received_before_next.iter().any(|r| r == id))
                .collect();
            if !missing.is_empty() {
                f.push(format!(
                    "invocation {}: {} of {} spans not received before /next: {}",
                    i + 1,
                    missing.len(),
                    inv.spans_sent.len(),
                    missing.join(",")
                ));
            }
            if inv.timed_out {
                f.push(format!(
                    "invocation {}: /next not called before the deadline",
                    i + 1
                ));
            }
            if inv.function_exit_code != Some(0) {
                f.push(format!(
                    "invocation {}: function ended with {:?}{}",
                    i + 1,
                    inv.function_exit_code,
                    if inv.function_timed_out {
                        " (timed out)"
                    } else {
                        ""
                    }
                ));
            }
        }
        if let Some(b) = &self.shutdown_burst {
            let missing = b
                .spans_sent
                .iter()
                .filter(|s| !b.received_before_exit.contains(&s.span_id))
                .count();
            if missing > 0 {
                f.push(format!(
                    "shutdown burst: {missing} of {} spans not received before exit",
                    b.spans_sent.len()
                ));
            }
        }
        if self.extension_killed {
            f.push("extension was SIGKILLed at the shutdown deadline".into());
        }
        f
    }

    /// The human summary (stdout).
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let ms = |v: Option<f64>| {
            v.map(|v| format!("{v:.1} ms"))
                .unwrap_or_else(|| "-".into())
        };
        let _ = writeln!(s, "init: {}", ms(self.init_ms));
        if let Some(e) = &self.init_error {
            let _ = writeln!(s, "init error: {} {}", e.error_type, e.body);
        }
        if self.init_timed_out {
            let _ = writeln!(s, "init: timed out after 10 s");
        }
        for (i, inv) in self.invocations.iter().enumerate() {
            let _ = writeln!(
                s,
                "invocation {} {}: spans sent {}, received before /next {}, by the end of the next invocation {}; post-runtime {}; function {:.1} ms{}{}",
                i + 1,
                inv.request_id,
                inv.spans_sent.len(),
                inv.received_before_next.len(),
                inv.received_by_end_of_next_invocation.len(),
                ms(inv.post_runtime_ms),
                inv.function_ms,
                if inv.timed_out { "; TIMED OUT" } else { "" },
                match inv.function_exit_code {
                    Some(0) => String::new(),
                    other => format!("; function exit {other:?}"),
                }
            );
        }
        if let Some(b) = &self.shutdown_burst {
            let _ = writeln!(
                s,
                "shutdown burst: spans sent {}, received before exit {}",
                b.spans_sent.len(),
                b.received_before_exit.len()
            );
        }
        let exit = match (self.extension_exit_code, self.extension_exit_signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => "still running".into(),
        };
        let _ = writeln!(
            s,
            "shutdown: {} ({exit}{})",
            ms(self.shutdown_ms),
            if self.extension_killed {
                ", SIGKILLed"
            } else {
                ""
            }
        );
        if let Some(kb) = self.extension_vm_hwm_kb {
            let _ = writeln!(
                s,
                "extension peak RSS (VmHWM): {:.1} MiB{}",
                kb as f64 / 1024.0,
                self.extension_vm_hwm_init_kb
                    .map(|i| format!(" ({:.1} MiB at the end of init)", i as f64 / 1024.0))
                    .unwrap_or_default()
            );
        }
        if let Some(cpu) = self.extension_cpu_ms {
            let _ = writeln!(s, "extension CPU time before SHUTDOWN: {cpu:.0} ms");
        }
        if let Some(e) = &self.exit_error {
            let _ = writeln!(s, "exit error: {} {}", e.error_type, e.body);
        }
        let _ = writeln!(
            s,
            "x-ray: {} requests, {} rejected, {} injected failures, {} documents",
            self.xray_requests,
            self.xray_rejected_requests,
            self.xray_injected_failures,
            self.documents.len()
        );
        if self.xray_count_only {
            let _ = writeln!(
                s,
                "x-ray (count only): {} documents, {} spans from the extension",
                self.xray_extension_documents, self.xray_extension_spans
            );
        }
        if !self.xray_probe_rtt_ms.is_empty() {
            let mut v = self.xray_probe_rtt_ms.clone();
            v.sort_by(f64::total_cmp);
            let _ = writeln!(
                s,
                "x-ray probe: {} replays of the last call, round trip median {:.3} ms (min {:.3}, max {:.3})",
                v.len(),
                v[v.len() / 2],
                v[0],
                v[v.len() - 1]
            );
        }
        if let Some(e) = &self.xray_probe_error {
            let _ = writeln!(s, "x-ray probe failed: {e}");
        }
        if !self.xray_faults_injected.is_empty() {
            let faults: Vec<String> = self
                .xray_faults_injected
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(
                s,
                "x-ray faults injected: {}{}",
                faults.join(" "),
                if self.xray_down_dropped > 0 {
                    format!(" ({} requests dropped while down)", self.xray_down_dropped)
                } else {
                    String::new()
                }
            );
        }
        if let Some(addr) = &self.xray_daemon_address {
            let _ = writeln!(
                s,
                "x-ray daemon {addr}: {} datagrams, {} malformed",
                self.xray_udp_datagrams, self.xray_udp_malformed
            );
        }
        if self.xray_duplicate_documents > 0 {
            let _ = writeln!(
                s,
                "x-ray duplicates: {} extra copies of {} documents",
                self.xray_duplicate_documents,
                self.xray_duplicates.len()
            );
        }
        for r in &self.xray_rejections {
            let _ = writeln!(s, "  rejected: {r}");
        }
        let bad: Vec<&DocumentReport> = self
            .documents
            .iter()
            .filter(|d| !d.problems.is_empty())
            .collect();
        for d in bad.iter().take(10) {
            let _ = writeln!(
                s,
                "  document {} has problems: {}",
                d.document.get("id").and_then(Value::as_str).unwrap_or("?"),
                d.problems.join("; ")
            );
        }
        let t = &self.telemetry;
        let _ = writeln!(
            s,
            "telemetry: subscription {}, {} batches / {} events delivered, {} failed attempts, {} batches dropped",
            t.subscription_status
                .map(|c| c.to_string())
                .unwrap_or_else(|| "none".into()),
            t.delivery.batches_delivered,
            t.delivery.events_delivered,
            t.delivery.failed_attempts,
            t.delivery.batches_dropped
        );
        let c = &self.span_counts;
        let _ = writeln!(
            s,
            "spans: sent {}, received {}, lost {}, duplicated {}",
            c.sent, c.received, c.lost, c.duplicated
        );
        if self.expectation_failures.is_empty() {
            let _ = writeln!(s, "result: every span arrived in time");
        } else {
            for f in &self.expectation_failures {
                let _ = writeln!(s, "FAIL: {f}");
            }
        }
        s
    }
}

/// One segment or subsegment, flattened out of the documents.
#[derive(Debug, Clone)]
struct Node {
    trace_id: String,
    id: String,
    parent_id: Option<String>,
    name: String,
    kind: &'static str,
    namespace: Option<String>,
    start: f64,
    end: Option<f64>,
    flags: Vec<&'static str>,
    http_status: Option<i64>,
}

fn flatten(doc: &Value, parent: Option<(&str, &str)>, out: &mut Vec<Node>) {
    let trace_id = doc
        .get("trace_id")
        .and_then(Value::as_str)
        .or(parent.map(|p| p.0))
        .unwrap_or("?")
        .to_string();
    let id = doc
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let parent_id = doc
        .get("parent_id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(parent.map(|p| p.1.to_string()));
    let kind = if parent.is_some() || doc.get("type").and_then(Value::as_str) == Some("subsegment")
    {
        "subsegment"
    } else {
        "segment"
    };
    let mut flags = Vec::new();
    for f in ["fault", "error", "throttle", "in_progress"] {
        if doc.get(f).and_then(Value::as_bool) == Some(true) {
            flags.push(f);
        }
    }
    let node = Node {
        trace_id: trace_id.clone(),
        id: id.clone(),
        parent_id,
        name: doc
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string(),
        kind,
        // `origin` (e.g. AWS::Lambda) stands in for segments, which have no namespace.
        namespace: doc
            .get("namespace")
            .or_else(|| doc.get("origin"))
            .and_then(Value::as_str)
            .map(str::to_string),
        start: doc.get("start_time").and_then(Value::as_f64).unwrap_or(0.0),
        end: doc.get("end_time").and_then(Value::as_f64),
        flags,
        http_status: doc.pointer("/http/response/status").and_then(Value::as_i64),
    };
    out.push(node);
    if let Some(subs) = doc.get("subsegments").and_then(Value::as_array) {
        for s in subs {
            flatten(s, Some((&trace_id, &id)), out);
        }
    }
}

/// Renders every trace as an indented tree: roots first, children by `start_time`.
pub fn render_traces(docs: &[Value]) -> String {
    let mut nodes = Vec::new();
    for d in docs {
        flatten(d, None, &mut nodes);
    }
    let mut traces: BTreeMap<String, Vec<Node>> = BTreeMap::new();
    for n in nodes {
        traces.entry(n.trace_id.clone()).or_default().push(n);
    }
    let mut order: Vec<(f64, String)> = traces
        .iter()
        .map(|(t, ns)| {
            (
                ns.iter().map(|n| n.start).fold(f64::INFINITY, f64::min),
                t.clone(),
            )
        })
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));

    let mut out = String::new();
    for (t0, trace_id) in order {
        let Some(ns) = traces.get(&trace_id) else {
            continue;
        };
        let t_end = ns
            .iter()
            .map(|n| n.end.unwrap_or(n.start))
            .fold(f64::NEG_INFINITY, f64::max);
        let _ = writeln!(
            out,
            "trace {trace_id}  ({} segments/subsegments, {:.1} ms)",
            ns.len(),
            (t_end - t0) * 1000.0
        );
        let ids: HashSet<&str> = ns.iter().map(|n| n.id.as_str()).collect();
        let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut roots = Vec::new();
        for (i, n) in ns.iter().enumerate() {
            match n.parent_id.as_deref() {
                Some(p) if ids.contains(p) && p != n.id => children.entry(p).or_default().push(i),
                _ => roots.push(i),
            }
        }
        let by_start = |v: &mut Vec<usize>| {
            v.sort_by(|a, b| {
                ns[*a]
                    .start
                    .total_cmp(&ns[*b].start)
                    .then_with(|| ns[*a].id.cmp(&ns[*b].id))
            })
        };
        by_start(&mut roots);
        for v in children.values_mut() {
            by_start(v);
        }
        let mut seen = vec![false; ns.len()];
        let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&r| (r, 1)).collect();
        loop {
            while let Some((i, depth)) = stack.pop() {
                if seen[i] {
                    continue;
                }
                seen[i] = true;
                let _ = writeln!(out, "{}", line(&ns[i], depth, t0, &ids));
                if let Some(c) = children.get(ns[i].id.as_str()) {
                    stack.extend(c.iter().rev().map(|&c| (c, depth + 1)));
                }
            }
            // Nodes caught in a parent cycle: show them as roots.
            match seen.iter().position(|s| !s) {
                Some(i) => stack.push((i, 1)),
                None => break,
            }
        }
    }
    out
}

fn line(n: &Node, depth: usize, t0: f64, ids: &HashSet<&str>) -> String {
    let label = format!("{}{}", "  ".repeat(depth), n.name);
    let kind = match &n.namespace {
        Some(ns) => format!("{} {ns}", n.kind),
        None => n.kind.to_string(),
    };
    let dur = match n.end {
        Some(e) => format!("{:.1} ms", (e - n.start) * 1000.0),
        None => "…".to_string(),
    };
    let mut extra = Vec::new();
    if let Some(s) = n.http_status {
        extra.push(format!("http {s}"));
    }
    extra.extend(n.flags.iter().map(|f| f.to_string()));
    if let Some(p) = &n.parent_id {
        if !ids.contains(p.as_str()) {
            extra.push(format!("(parent {p} not received)"));
        }
    }
    format!(
        "{label:<44} {kind:<20} {dur:>10} {:>+10.1} ms  {}",
        (n.start - t0) * 1000.0,
        extra.join(" ")
    )
    .trim_end()
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tree_links_parents_and_sorts_children() {
        let t = "1-5759e988-bd862e3fe1be46a994272793";
        let docs = vec![
            json!({"trace_id": t, "id": "c2", "parent_id": "root", "type": "subsegment", "name": "second",
                   "start_time": 100.003, "end_time": 100.004, "namespace": "aws"}),
            json!({"trace_id": t, "id": "root", "parent_id": "lambda", "name": "demo-function",
                   "start_time": 100.0, "end_time": 100.010, "fault": true, "http": {"response": {"status": 500}},
                   "subsegments": [{"id": "c1", "name": "first", "start_time": 100.001, "end_time": 100.002,
                                    "namespace": "remote", "http": {"response": {"status": 200}}}]}),
            json!({"trace_id": t, "id": "g1", "parent_id": "c2", "type": "subsegment", "name": "grandchild",
                   "start_time": 100.0035, "end_time": 100.0038, "error": true}),
        ];
        let out = render_traces(&docs);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with(&format!("trace {t}  (4 segments/subsegments, 10.0 ms)")),
            "{out}"
        );
        assert!(lines[1].starts_with("  demo-function"), "{out}");
        assert!(
            lines[1].contains("segment") && lines[1].contains("http 500 fault"),
            "{out}"
        );
        assert!(lines[1].contains("(parent lambda not received)"), "{out}");
        assert!(
            lines[2].starts_with("    first") && lines[2].contains("subsegment remote"),
            "{out}"
        );
        assert!(
            lines[2].contains("1.0 ms") && lines[2].contains("+1.0 ms"),
            "{out}"
        );
        assert!(
            lines[3].starts_with("    second") && lines[3].contains("subsegment aws"),
            "{out}"
        );
        assert!(
            lines[4].starts_with("      grandchild") && lines[4].contains("error"),
            "{out}"
        );
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn tree_survives_garbage_and_cycles() {
        let docs = vec![
            json!({"id": "a", "parent_id": "b"}),
            json!({"id": "b", "parent_id": "a"}),
            json!("not an object"),
            json!({"subsegments": "nope"}),
        ];
        let out = render_traces(&docs);
        assert!(out.contains("trace ?"), "{out}");
        assert_eq!(out.lines().count(), 5, "{out}");
    }

    #[test]
    fn expectations() {
        let inv = InvocationReport {
            request_id: "r".into(),
            trace_header: "h".into(),
            spans_sent: vec![SpanRef {
                trace_id: "t".into(),
                span_id: "s1".into(),
            }],
            post_runtime_ms: Some(1.0),
            runtime_done_sent: 1,
            function_ms: 1.0,
            function_exit_code: Some(0),
            ..Default::default()
        };
        let mut r = Report {
            init_ms: Some(1.0),
            init_error: None,
            init_timed_out: false,
            exit_error: None,
            extension_exit_code: Some(0),
            extension_exit_signal: None,
            extension_killed: false,
            invocations: vec![inv],
            shutdown_burst: None,
            shutdown_ms: Some(1.0),
            extension_vm_hwm_kb: Some(4096),
            telemetry: TelemetryReport {
                subscription_status: None,
                subscription: None,
                delivery: DeliveryStats::default(),
            },
            ..Default::default()
        };
        assert_eq!(r.expectation_failures().len(), 1);
        r.invocations[0].received_before_next.push("s1".into());
        assert!(r.expectation_failures().is_empty());
        let v = serde_json::to_value(&r).unwrap();
        for k in [
            "init_ms",
            "init_error",
            "extension_exit_code",
            "extension_killed",
            "invocations",
            "shutdown_burst",
            "shutdown_ms",
            "xray_requests",
            "xray_rejected_requests",
            "documents",
            "extension_output",
            "xray_faults_injected",
            "xray_duplicate_documents",
            "xray_duplicates",
            "lost_spans",
            "duplicate_spans",
            "span_counts",
            "extension_vm_hwm_init_kb",
            "extension_cpu_ms",
            "xray_count_only",
            "xray_extension_documents",
            "xray_extension_spans",
            "xray_probe_rtt_ms",
            "samples",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        for k in [
            "runtime_done_delivery_ms",
            "post_runtime_after_delivery_ms",
            "xray_calls_post_runtime",
            "next_ms",
        ] {
            assert!(v["invocations"][0].get(k).is_some(), "{k}");
        }
        r.xray_count_only = true;
        r.xray_extension_documents = 7;
        r.xray_extension_spans = 9;
        r.xray_probe_rtt_ms = vec![0.3, 0.1, 0.2];
        let text = r.summary();
        assert!(
            text.contains("x-ray (count only): 7 documents, 9 spans"),
            "{text}"
        );
        assert!(text.contains("round trip median 0.200 ms"), "{text}");
        r.xray_count_only = false;
        r.xray_probe_rtt_ms.clear();
        assert!(v["invocations"][0]
            .get("received_by_end_of_next_invocation")
            .is_some());
        assert!(v["invocations"][0].get("post_runtime_ms").is_some());
        assert!(r.summary().contains("result: every span arrived in time"));
        assert!(r
            .summary()
            .contains("spans: sent 0, received 0, lost 0, duplicated 0"));
    }
}
