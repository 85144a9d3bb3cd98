//! End-to-end figures of the extension under the Lambda stand-in (issue 5), as one table.
//!
//! `cargo bench --bench lambda` (a `harness = false` bench: cargo builds it, `otlp-xray` and
//! `mock-lambda` in the bench profile, i.e. the release settings). The examples are not built
//! by `cargo bench`: `make bench` runs `cargo build --profile bench --examples` first, which
//! puts `demo-function`, `floor-extension` and `loadgen` in `target/release/examples/`.
//!
//! What it measures, every figure from `mock-lambda --report` JSON (`src/bin/mock-lambda`):
//! 1. **Init** — exec → first `/next` (`init_ms`), 30 runs of `otlp-xray` and 30 of the floor
//!    (`examples/floor-extension.rs`: register + `/next`, same profile and runtime),
//!    interleaved, each with `--invocations 0`; the ratio of the medians.
//! 2. **Memory** — peak RSS (`VmHWM`): at the end of init (the same 30 runs), after 100
//!    invocations of the demo trace, and after 20,000 spans/s for 10 s (`loadgen`).
//! 3. **Post-runtime duration** (runtimeDone → `/next`) with flush `end`, 100 invocations of
//!    the demo function: as Lambda bills it (including the Telemetry API's ≥ 25 ms buffering,
//!    which the stand-in imposes as Lambda does) and without that buffering (POST of
//!    runtimeDone to the extension → `/next`), beside the local X-Ray endpoint's own round
//!    trip (the extension's last call replayed 100 times by the stand-in, `--xray-probe`).
//! 4. **Throughput** — `loadgen` sending OTLP (HTTP protobuf and gRPC) with 1, 50 and 512
//!    spans per request, the X-Ray endpoint counting documents (`--xray-count-only`); the
//!    extension's CPU time from `/proc/<pid>/stat` (`--sample-ms`).
//!
//! Output: the table on stdout, and `target/bench/lambda.{json,md}` for BENCHMARKS.md.
//! `cargo bench --bench lambda -- init memory post throughput` runs only the named parts;
//! `LAMBDA_BENCH_QUICK=1` runs fewer, shorter runs (for trying the bench, not for figures).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

/// Runs of each extension for the init figure.
const INIT_RUNS: usize = 30;
/// Invocations of the demo trace (memory, post-runtime).
const DEMO_INVOCATIONS: usize = 100;
/// Replays of the extension's last X-Ray call (the endpoint's own round trip).
const PROBE_CALLS: usize = 100;
/// The sustained load of the memory figure: spans per second, for how long.
const LOAD_RATE: u64 = 20_000;
const LOAD_DURATION: Duration = Duration::from_secs(10);
/// Spans per request of the memory load: the SDKs' default `max_export_batch_size`, which a
/// BatchSpanProcessor fills at this rate.
const LOAD_SPANS_PER_REQUEST: usize = 512;
/// Length of each throughput run, and the warm-up left out of its window.
const THROUGHPUT_DURATION: Duration = Duration::from_secs(10);
const WARM_UP: Duration = Duration::from_secs(1);
/// Requests in flight from the load generator (HTTP/1.1 connections, or calls on one HTTP/2
/// connection for gRPC).
const CONCURRENCY: usize = 4;
/// Length of each "keeping up" run (a fixed rate below the saturated one).
const KEEP_UP_DURATION: Duration = Duration::from_secs(8);
/// The keeping-up rate, as a share of the saturated run's output rate.
const KEEP_UP_SHARE: f64 = 0.8;
/// Sampling period of the extension's CPU time, RSS and X-Ray's counts.
const SAMPLE_MS: u64 = 100;
/// Flush strategies of the memory runs: the backup timer flushes during the (long) invocation,
/// every second (README's example) and every 200 ms.
const MEMORY_FLUSHES: [&str; 2] = ["periodic,1000", "periodic,200"];
/// Flush strategy of the throughput runs.
const THROUGHPUT_FLUSH: &str = "periodic,200";

// ---------------------------------------------------------------------------------------------
// Statistics and the table.

/// Sorted copy of finite values.
fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    s
}

/// Median (mean of the two middle values for an even count).
fn median(v: &[f64]) -> Option<f64> {
    let s = sorted(v);
    let n = s.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(s[n / 2]),
        _ => Some((s[n / 2 - 1] + s[n / 2]) / 2.0),
    }
}

/// Nearest-rank percentile `p` (0–100).
fn percentile(v: &[f64], p: f64) -> Option<f64> {
    let s = sorted(v);
    if s.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    Some(s[rank.clamp(1, s.len()) - 1])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Miss,
    /// No goal, or not measured.
    Info,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::Info => "",
        }
    }
}

/// How a figure is printed.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Ms,
    /// Mebibytes: Lambda's memory "MB" (`memorySizeMB`, `maxMemoryUsedMB`) are MiB.
    Mib,
    Ratio,
    PerSecond,
    PerCpuSecond,
}

impl Unit {
    fn fmt(self, v: f64) -> String {
        match self {
            Unit::Ms if v.abs() < 10.0 => format!("{v:.2} ms"),
            Unit::Ms => format!("{v:.1} ms"),
            Unit::Mib => format!("{v:.1} MiB"),
            Unit::Ratio => format!("{v:.2}×"),
            Unit::PerSecond => format!("{} /s", thousands(v)),
            Unit::PerCpuSecond => format!("{} /CPU-s", thousands(v)),
        }
    }

    fn bare(self, v: f64) -> String {
        match self {
            Unit::Ms if v.abs() < 10.0 => format!("{v:.2}"),
            Unit::Ms => format!("{v:.1}"),
            Unit::Mib => format!("{v:.1}"),
            Unit::Ratio => format!("{v:.2}"),
            Unit::PerSecond | Unit::PerCpuSecond => thousands(v),
        }
    }
}

fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
struct Row {
    figure: String,
    unit: Unit,
    /// How many values the statistics are over (runs, invocations, 1-s windows).
    n: usize,
    median: Option<f64>,
    /// `("p90", value)` or `("p99", value)`.
    tail: Option<(&'static str, f64)>,
    min: Option<f64>,
    max: Option<f64>,
    goal: String,
    verdict: Verdict,
}

impl Row {
    /// A row over `values`, with a tail percentile.
    fn over(
        figure: impl Into<String>,
        unit: Unit,
        values: &[f64],
        tail: Option<&'static str>,
    ) -> Self {
        let s = sorted(values);
        Row {
            figure: figure.into(),
            unit,
            n: s.len(),
            median: median(&s),
            tail: tail.and_then(|t| {
                let p = t.trim_start_matches('p').parse::<f64>().ok()?;
                percentile(&s, p).map(|v| (t, v))
            }),
            min: s.first().copied(),
            max: s.last().copied(),
            goal: String::new(),
            verdict: Verdict::Info,
        }
    }

    /// A single value.
    fn one(figure: impl Into<String>, unit: Unit, value: Option<f64>) -> Self {
        Row {
            figure: figure.into(),
            unit,
            n: usize::from(value.is_some()),
            median: value,
            tail: None,
            min: None,
            max: None,
            goal: String::new(),
            verdict: Verdict::Info,
        }
    }

    /// Sets the goal and judges the median against it: `at_most` true means ≤ `limit`.
    fn goal(mut self, text: &str, limit: f64, at_most: bool) -> Self {
        self.goal = text.to_string();
        self.verdict = match self.median {
            None => Verdict::Info,
            Some(m) if (at_most && m <= limit) || (!at_most && m >= limit) => Verdict::Pass,
            Some(_) => Verdict::Miss,
        };
        self
    }

    fn cells(&self) -> [String; 6] {
        let tail = self
            .tail
            .map(|(t, v)| format!("{t} {}", self.unit.bare(v)))
            .unwrap_or_default();
        let range = match (self.min, self.max) {
            (Some(a), Some(b)) if self.n > 1 => {
                format!("{}–{}", self.unit.bare(a), self.unit.bare(b))
            }
            _ => String::new(),
        };
        [
            if self.n > 1 {
                format!("{} (n={})", self.figure, self.n)
            } else {
                self.figure.clone()
            },
            self.median
                .map(|m| self.unit.fmt(m))
                .unwrap_or_else(|| "—".into()),
            tail,
            range,
            self.goal.clone(),
            self.verdict.text().to_string(),
        ]
    }

    fn json(&self) -> Value {
        json!({
            "figure": self.figure,
            "unit": format!("{:?}", self.unit),
            "n": self.n,
            "median": self.median,
            "tail": self.tail.map(|(t, v)| json!({"percentile": t, "value": v})),
            "min": self.min,
            "max": self.max,
            "goal": self.goal,
            "verdict": self.verdict.text(),
        })
    }
}

const HEADERS: [&str; 6] = ["figure", "median", "p90/p99", "min–max", "goal", "verdict"];

fn text_table(rows: &[Row]) -> String {
    let cells: Vec<[String; 6]> = rows.iter().map(Row::cells).collect();
    let mut width = HEADERS.map(|h| h.chars().count());
    for c in &cells {
        for (w, s) in width.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |c: &[String; 6]| -> String {
        let mut s = String::new();
        for (k, (cell, w)) in c.iter().zip(width).enumerate() {
            let pad = w - cell.chars().count();
            if k == 1 {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            }
            s.push_str("  ");
        }
        s.trim_end().to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", line(&HEADERS.map(String::from)));
    let _ = writeln!(out, "{}", width.map(|w| "-".repeat(w)).join("  "));
    for c in &cells {
        let _ = writeln!(out, "{}", line(c));
    }
    out
}

fn markdown_table(rows: &[Row]) -> String {
    let mut out = format!("| {} |\n|---|--:|---|---|---|---|\n", HEADERS.join(" | "));
    for r in rows {
        let c = r.cells();
        let _ = writeln!(out, "| {} |", c.join(" | "));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Running the stand-in.

/// The programs under test.
struct Programs {
    mock: PathBuf,
    extension: PathBuf,
    floor: PathBuf,
    demo: PathBuf,
    loadgen: PathBuf,
    /// `target/`.
    target: PathBuf,
}

fn locate() -> Result<Programs, String> {
    let extension = PathBuf::from(env!("CARGO_BIN_EXE_otlp-xray"));
    let mock = PathBuf::from(env!("CARGO_BIN_EXE_mock-lambda"));
    let profile_dir = extension
        .parent()
        .map(Path::to_path_buf)
        .ok_or("the otlp-xray binary has no directory")?;
    let target = profile_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    // Beside the binaries cargo built for this bench; else under CARGO_TARGET_DIR.
    let mut dirs = vec![profile_dir.join("examples")];
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        dirs.push(Path::new(&t).join("release").join("examples"));
    }
    let find = |name: &str| -> Result<PathBuf, String> {
        dirs.iter()
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                format!(
                    "example `{name}` not found in {}: build the examples in the bench profile \
                     first: `cargo build --profile bench --examples` (`make bench` does)",
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            })
    };
    Ok(Programs {
        floor: find("floor-extension")?,
        demo: find("demo-function")?,
        loadgen: find("loadgen")?,
        mock,
        extension,
        target,
    })
}

/// A free TCP port on 127.0.0.1 (bound and released).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// A collector config on fresh ports; `lambda` holds the `extensions.lambda` keys.
struct Config {
    path: PathBuf,
    grpc_port: u16,
    http_port: u16,
}

impl Config {
    fn write(dir: &Path, name: &str, lambda: &[(&str, String)]) -> Result<Self, String> {
        let (grpc_port, http_port) = (free_port()?, free_port()?);
        let mut yaml = String::new();
        if !lambda.is_empty() {
            yaml.push_str("extensions:\n  lambda:\n");
            for (k, v) in lambda {
                let _ = writeln!(yaml, "    {k}: {v}");
            }
        }
        let _ = write!(
            yaml,
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc_port}\n      \
             http:\n        endpoint: 127.0.0.1:{http_port}\n\
             exporters:\n  awsxray:\n    region: us-east-1\n\
             service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [awsxray]\n"
        );
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(Config {
            path,
            grpc_port,
            http_port,
        })
    }

    fn endpoint(&self, protocol: &str) -> String {
        match protocol {
            "grpc" => format!("http://127.0.0.1:{}", self.grpc_port),
            _ => format!("http://127.0.0.1:{}", self.http_port),
        }
    }
}

/// Runs mock-lambda once and returns its JSON report.
fn run_mock(
    p: &Programs,
    dir: &Path,
    extension: &Path,
    function: &Path,
    args: &[String],
) -> Result<Value, String> {
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let out = Command::new(&p.mock)
        .arg("--extension")
        .arg(extension)
        .arg("--function")
        .arg(function)
        .arg("--report")
        .arg(&report)
        .arg("--quiet")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", p.mock.display()))?;
    let text = std::fs::read_to_string(&report).map_err(|e| {
        format!(
            "mock-lambda wrote no report ({e}); status {:?}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    serde_json::from_str(&text).map_err(|e| format!("report is not JSON: {e}"))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn f64_at(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64)
}

/// KiB (as `/proc` reports them) → MiB.
fn kb_to_mib(kb: f64) -> f64 {
    kb / 1024.0
}

/// The extension's last lines that mention drops, and its SHUTDOWN summary's `dropped=`.
fn extension_drops(report: &Value) -> (Option<u64>, Option<String>) {
    let lines: Vec<&str> = report["extension_output"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let summary = lines
        .iter()
        .rev()
        .find(|l| l.contains(" shutdown ") || l.contains("INFO shutdown"));
    let dropped = summary.and_then(|l| {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix("dropped="))
            .and_then(|v| v.parse().ok())
    });
    let drops = summary.and_then(|l| {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix("drops="))
            .map(|first| {
                // `drops=queue_full=N too_large=N …`: keep the non-zero reasons.
                let rest: Vec<&str> = l
                    .split_whitespace()
                    .skip_while(|w| !w.starts_with("drops="))
                    .skip(1)
                    .filter(|w| w.contains('='))
                    .collect();
                std::iter::once(first)
                    .chain(rest)
                    .filter(|kv| !kv.ends_with("=0"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
    });
    (dropped, drops)
}

// ---------------------------------------------------------------------------------------------
// The parts.

/// Shared state of one bench run.
struct Bench {
    p: Programs,
    dir: tempfile::TempDir,
    quick: bool,
    rows: Vec<Row>,
    notes: Vec<String>,
    raw: serde_json::Map<String, Value>,
}

impl Bench {
    fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }

    fn init(&mut self) -> Result<(), String> {
        let runs = if self.quick { 5 } else { INIT_RUNS };
        let cfg = Config::write(self.dir.path(), "init", &[])?;
        let args = |c: &Config| -> Vec<String> {
            vec![
                "--invocations".into(),
                "0".into(),
                "--config".into(),
                c.path.display().to_string(),
            ]
        };
        let (ext, floor, demo) = (
            self.p.extension.clone(),
            self.p.floor.clone(),
            self.p.demo.clone(),
        );
        // One untimed run of each: page cache, dynamic loader.
        run_mock(&self.p, self.dir.path(), &ext, &demo, &args(&cfg))?;
        run_mock(&self.p, self.dir.path(), &floor, &demo, &args(&cfg))?;
        let (mut ours, mut base, mut hwm_init, mut floor_hwm) = (vec![], vec![], vec![], vec![]);
        for k in 0..runs {
            // Interleaved, alternating which goes first.
            let order = if k % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for is_ours in order {
                let bin = if is_ours { &ext } else { &floor };
                let r = run_mock(&self.p, self.dir.path(), bin, &demo, &args(&cfg))?;
                let init = f64_at(&r, "/init_ms").ok_or_else(|| {
                    format!("{} did not finish init: {}", bin.display(), r["init_error"])
                })?;
                let hwm = f64_at(&r, "/extension_vm_hwm_init_kb").map(kb_to_mib);
                if is_ours {
                    ours.push(init);
                    hwm_init.extend(hwm);
                } else {
                    base.push(init);
                    floor_hwm.extend(hwm);
                }
            }
        }
        let ratio = median(&ours).zip(median(&base)).map(|(a, b)| a / b);
        self.rows.push(
            Row::over(
                "init otlp-xray: exec → first /next",
                Unit::Ms,
                &ours,
                Some("p90"),
            )
            .goal("≤ 5 ms", 5.0, true),
        );
        self.rows.push(Row::over(
            "init floor (register + /next only)",
            Unit::Ms,
            &base,
            Some("p90"),
        ));
        self.rows.push(
            Row::one(
                "init ratio: median otlp-xray / median floor",
                Unit::Ratio,
                ratio,
            )
            .goal("≤ 1.5×", 1.5, true),
        );
        // Each round's two runs back to back: the ratio within a round moves less with the
        // machine's load than the ratio of the medians.
        let paired: Vec<f64> = ours.iter().zip(&base).map(|(a, b)| a / b).collect();
        self.rows.push(Row::over(
            "  init ratio within each interleaved round",
            Unit::Ratio,
            &paired,
            Some("p90"),
        ));
        self.rows.push(
            Row::over(
                "RSS after init (VmHWM at first /next)",
                Unit::Mib,
                &hwm_init,
                Some("p90"),
            )
            .goal("≤ 8 MB (MiB)", 8.0, true),
        );
        self.rows.push(Row::over(
            "RSS after init, floor",
            Unit::Mib,
            &floor_hwm,
            Some("p90"),
        ));
        self.raw.insert(
            "init".into(),
            json!({"otlp_xray_ms": ours, "floor_ms": base, "otlp_xray_vm_hwm_mib": hwm_init, "floor_vm_hwm_mib": floor_hwm}),
        );
        Ok(())
    }

    /// 100 invocations of the demo trace with flush `end`: memory after them and the
    /// post-runtime figures.
    fn demo_invocations(&mut self) -> Result<(), String> {
        let n = if self.quick { 20 } else { DEMO_INVOCATIONS };
        let cfg = Config::write(self.dir.path(), "end", &[("flush", "end".into())])?;
        let mut args = strings(&["--protocol", "http", "--xray-probe"]);
        args.push(PROBE_CALLS.to_string());
        args.extend(["--invocations".into(), n.to_string()]);
        args.extend(["--config".into(), cfg.path.display().to_string()]);
        args.extend(["--otlp-endpoint".into(), cfg.endpoint("http")]);
        let (ext, demo) = (self.p.extension.clone(), self.p.demo.clone());
        let r = run_mock(&self.p, self.dir.path(), &ext, &demo, &args)?;
        let invs = r["invocations"].as_array().cloned().unwrap_or_default();
        let col = |key: &str| -> Vec<f64> { invs.iter().filter_map(|i| i[key].as_f64()).collect() };
        let post = col("post_runtime_ms");
        let buffering = col("runtime_done_delivery_ms");
        let after = col("post_runtime_after_delivery_ms");
        let calls = col("xray_calls_post_runtime");
        let service: Vec<f64> = invs
            .iter()
            .filter(|i| i["xray_calls_post_runtime"].as_u64() == Some(1))
            .filter_map(|i| i["xray_service_ms_post_runtime"].as_f64())
            .collect();
        let rtt: Vec<f64> = r["xray_probe_rtt_ms"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let rtt_median = median(&rtt);
        // Per invocation: post-runtime without the buffering, minus one endpoint round trip
        // per X-Ray call the extension made in it.
        let overhead: Vec<f64> = match rtt_median {
            Some(m) => invs
                .iter()
                .filter_map(|i| {
                    let a = i["post_runtime_after_delivery_ms"].as_f64()?;
                    let c = i["xray_calls_post_runtime"].as_f64()?;
                    Some(a - c * m)
                })
                .collect(),
            None => Vec::new(),
        };
        let hwm = f64_at(&r, "/extension_vm_hwm_kb").map(kb_to_mib);
        self.rows.push(Row::one(
            format!("RSS after {n} invocations of the demo trace (VmHWM)"),
            Unit::Mib,
            hwm,
        ));
        self.rows.push(Row::over(
            "post-runtime (flush end), as billed: runtimeDone → /next",
            Unit::Ms,
            &post,
            Some("p99"),
        ));
        self.rows.push(Row::over(
            "  of which Telemetry API buffering (runtimeDone → its POST)",
            Unit::Ms,
            &buffering,
            Some("p99"),
        ));
        self.rows.push(Row::over(
            "post-runtime without buffering: runtimeDone POST → /next",
            Unit::Ms,
            &after,
            Some("p99"),
        ));
        self.rows.push(Row::over(
            "X-Ray endpoint round trip (the last call replayed)",
            Unit::Ms,
            &rtt,
            Some("p99"),
        ));
        self.rows.push(Row::over(
            "X-Ray endpoint service time per call (server side)",
            Unit::Ms,
            &service,
            Some("p99"),
        ));
        self.rows.push(
            Row::over(
                "post-runtime above the endpoint round trip (without buffering)",
                Unit::Ms,
                &overhead,
                Some("p99"),
            )
            .goal("≤ 1 ms", 1.0, true),
        );
        let spans = &r["span_counts"];
        let late: usize = invs
            .iter()
            .filter(|i| {
                i["spans_sent"].as_array().map(Vec::len)
                    != i["received_before_next"].as_array().map(Vec::len)
            })
            .count();
        self.note(format!(
            "demo trace, flush `end`, OTLP/HTTP, {n} invocations (frozen 20 ms between them): {} spans sent, {} lost, {} duplicated, {late} invocations with a span not in X-Ray before /next; X-Ray calls per invocation: {}",
            spans["sent"], spans["lost"], spans["duplicated"],
            median(&calls).map(|m| format!("median {m}")).unwrap_or_else(|| "-".into())
        ));
        if let Some(e) = r["xray_probe_error"].as_str() {
            self.note(format!("X-Ray probe failed: {e}"));
        }
        self.raw.insert(
            "demo_invocations".into(),
            json!({"post_runtime_ms": post, "runtime_done_delivery_ms": buffering,
                   "post_runtime_after_delivery_ms": after, "xray_probe_rtt_ms": rtt,
                   "xray_service_ms": service, "overhead_ms": overhead, "vm_hwm_mib": hwm,
                   "span_counts": spans.clone()}),
        );
        Ok(())
    }

    /// One loadgen invocation: returns the report and loadgen's totals.
    fn load_run(
        &mut self,
        name: &str,
        protocol: &str,
        spans_per_request: usize,
        rate: u64,
        duration: Duration,
        lambda: &[(&str, String)],
    ) -> Result<(Value, Value), String> {
        let cfg = Config::write(self.dir.path(), name, lambda)?;
        let out = self.dir.path().join(format!("{name}.loadgen.jsonl"));
        let _ = std::fs::remove_file(&out);
        let mut args = strings(&[
            "--invocations",
            "1",
            "--xray-count-only",
            "--protocol",
            protocol,
        ]);
        args.extend(["--config".into(), cfg.path.display().to_string()]);
        args.extend(["--otlp-endpoint".into(), cfg.endpoint(protocol)]);
        args.extend(["--sample-ms".into(), SAMPLE_MS.to_string()]);
        args.extend([
            "--timeout-ms".into(),
            (duration.as_millis() as u64 + 15_000).to_string(),
        ]);
        for (k, v) in [
            ("--spans-per-request", spans_per_request.to_string()),
            ("--duration-ms", duration.as_millis().to_string()),
            ("--rate", rate.to_string()),
            ("--concurrency", CONCURRENCY.to_string()),
            ("--out", out.display().to_string()),
        ] {
            args.extend([
                "--function-arg".into(),
                k.into(),
                "--function-arg".into(),
                v,
            ]);
        }
        let (ext, lg) = (self.p.extension.clone(), self.p.loadgen.clone());
        let r = run_mock(&self.p, self.dir.path(), &ext, &lg, &args)?;
        let totals = std::fs::read_to_string(&out)
            .ok()
            .and_then(|t| t.lines().last().and_then(|l| serde_json::from_str(l).ok()))
            .ok_or_else(|| {
                format!(
                    "loadgen wrote no totals ({name}); function exit {:?}; extension said: {}",
                    r.pointer("/invocations/0/function_exit_code"),
                    r["extension_output"]
                )
            })?;
        Ok((r, totals))
    }

    /// 20,000 spans/s for 10 s: peak RSS, with each of [`MEMORY_FLUSHES`].
    fn memory_under_load(&mut self) -> Result<(), String> {
        let duration = if self.quick {
            Duration::from_secs(3)
        } else {
            LOAD_DURATION
        };
        let mut raw = Vec::new();
        for flush in MEMORY_FLUSHES {
            let (r, lg) = self.load_run(
                &format!("memory-load-{}", flush.replace(',', "-")),
                "http",
                LOAD_SPANS_PER_REQUEST,
                LOAD_RATE,
                duration,
                &[("flush", flush.into())],
            )?;
            let hwm = f64_at(&r, "/extension_vm_hwm_kb").map(kb_to_mib);
            self.rows.push(
                Row::one(
                    format!(
                        "RSS under {} spans/s for {} s, flush {flush} (VmHWM)",
                        thousands(LOAD_RATE as f64),
                        duration.as_secs()
                    ),
                    Unit::Mib,
                    hwm,
                )
                .goal("≤ 24 MB (MiB)", 24.0, true),
            );
            let sent = lg["spans_sent"].as_u64().unwrap_or(0);
            let got = r["xray_extension_spans"].as_u64().unwrap_or(0);
            let cpu = f64_at(&r, "/extension_cpu_ms").unwrap_or(0.0)
                - f64_at(&r, "/extension_cpu_init_ms").unwrap_or(0.0);
            let (dropped, why) = extension_drops(&r);
            self.note(format!(
                "memory load, flush `{flush}`: OTLP/HTTP, {LOAD_SPANS_PER_REQUEST} spans per request, default buffer limits (20,000 spans, 8 MiB); loadgen sent {sent} spans ({} /s), X-Ray accepted {got}; extension drops {} {}; extension CPU {cpu:.0} ms after init ({} spans accepted per CPU-second)",
                thousands(lg["spans_per_s"].as_f64().unwrap_or(0.0)),
                dropped.map(|d| d.to_string()).unwrap_or_else(|| "?".into()),
                why.unwrap_or_default(),
                if cpu > 0.0 { thousands(got as f64 / cpu * 1000.0) } else { "?".into() },
            ));
            raw.push(
                json!({"flush": flush, "vm_hwm_mib": hwm, "loadgen": lg, "xray_spans": got,
                            "extension_cpu_ms": cpu, "samples": r["samples"].clone()}),
            );
        }
        self.raw.insert("memory_load".into(), Value::Array(raw));
        Ok(())
    }

    /// For each protocol and request size: a saturated run (as fast as the extension answers)
    /// for the end-to-end rate, then a run at [`KEEP_UP_SHARE`] of that rate for the CPU cost
    /// of spans that are all delivered.
    fn throughput(&mut self) -> Result<(), String> {
        let (duration, keep_up) = if self.quick {
            (Duration::from_secs(4), Duration::from_secs(3))
        } else {
            (THROUGHPUT_DURATION, KEEP_UP_DURATION)
        };
        // Default buffer limits: a saturated extension pushes back (503 / UNAVAILABLE) and
        // keeps its memory bounded, as it would in Lambda.
        let lambda = [("flush", THROUGHPUT_FLUSH.to_string())];
        let mut raw = Vec::new();
        for protocol in ["http", "grpc"] {
            for spr in [1usize, 50, 512] {
                let label = match protocol {
                    "http" => "OTLP/HTTP",
                    _ => "OTLP/gRPC",
                };
                let name = format!("throughput-{protocol}-{spr}");
                let (r, lg) = self.load_run(&name, protocol, spr, 0, duration, &lambda)?;
                let w = Window::of(&r, WARM_UP);
                let mut row = Row::over(
                    format!("throughput {label}, {spr} spans/request, saturated: X-Ray-accepted spans/s"),
                    Unit::PerSecond,
                    &w.rates,
                    None,
                );
                // The slow end of a rate is its low percentile.
                row.tail = percentile(&w.rates, 10.0).map(|v| ("p10", v));
                if protocol == "http" && spr == 512 {
                    row = row.goal("≥ 250,000 /s", 250_000.0, false);
                }
                self.rows.push(row);
                let sent = lg["spans_sent"].as_u64().unwrap_or(0);
                let got = r["xray_extension_spans"].as_u64().unwrap_or(0);
                let (dropped, why) = extension_drops(&r);
                let saturated_per_cpu = median(&w.per_cpu);
                self.note(format!(
                    "{label} {spr}/request saturated: loadgen had {sent} spans acknowledged ({} /s in, {:.0} % of a core for loadgen); X-Ray accepted {got} by exit; over the window the extension used {:.0} % of a core ({} X-Ray-accepted spans per CPU-second) and mock-lambda {:.0} %; extension drops {} {}{}{}",
                    thousands(lg["spans_per_s"].as_f64().unwrap_or(0.0)),
                    lg["cpu_ms"].as_f64().unwrap_or(0.0) / lg["elapsed_ms"].as_f64().unwrap_or(1.0) * 100.0,
                    w.extension_cpu_share * 100.0,
                    saturated_per_cpu.map(thousands).unwrap_or_else(|| "?".into()),
                    w.mock_cpu_share * 100.0,
                    dropped.map(|d| d.to_string()).unwrap_or_else(|| "?".into()),
                    why.unwrap_or_default(),
                    if r["extension_killed"] == Value::Bool(true) { "; extension SIGKILLed at the shutdown deadline" } else { "" },
                    lg["first_error"].as_str().map(|e| format!("; loadgen error: {e}")).unwrap_or_default(),
                ));

                // Keeping up: a fixed rate below the saturated output.
                let rate = (median(&w.rates).unwrap_or(0.0) * KEEP_UP_SHARE).max(1_000.0) as u64;
                let name = format!("keepup-{protocol}-{spr}");
                let (k, klg) = self.load_run(&name, protocol, spr, rate, keep_up, &lambda)?;
                let kw = Window::of(&k, WARM_UP);
                let mut cpu = Row::over(
                    format!(
                        "  spans per CPU-second, {label} {spr}, keeping up at {} /s",
                        thousands(rate as f64)
                    ),
                    Unit::PerCpuSecond,
                    &kw.per_cpu,
                    None,
                );
                cpu.tail = percentile(&kw.per_cpu, 10.0).map(|v| ("p10", v));
                cpu = cpu.goal("≥ 500,000 /CPU-s", 500_000.0, false);
                self.rows.push(cpu);
                let ksent = klg["spans_sent"].as_u64().unwrap_or(0);
                let kgot = k["xray_extension_spans"].as_u64().unwrap_or(0);
                let (kdropped, kwhy) = extension_drops(&k);
                self.note(format!(
                    "{label} {spr}/request at {} /s: sent {ksent}, X-Ray accepted {kgot} by exit (drops {} {}); extension {:.0} % of a core — at this cost one core would carry at most ≈ {} spans/s (derived, not measured)",
                    thousands(rate as f64),
                    kdropped.map(|d| d.to_string()).unwrap_or_else(|| "?".into()),
                    kwhy.unwrap_or_default(),
                    kw.extension_cpu_share * 100.0,
                    median(&kw.per_cpu).map(thousands).unwrap_or_else(|| "?".into()),
                ));
                raw.push(json!({"protocol": protocol, "spans_per_request": spr,
                    "saturated": {"loadgen": lg, "xray_spans": got, "window_rates": w.rates,
                                  "window_per_cpu": w.per_cpu, "extension_cpu_share": w.extension_cpu_share,
                                  "mock_cpu_share": w.mock_cpu_share, "dropped": dropped,
                                  "samples": r["samples"].clone()},
                    "keeping_up": {"rate": rate, "loadgen": klg, "xray_spans": kgot,
                                   "window_rates": kw.rates, "window_per_cpu": kw.per_cpu,
                                   "extension_cpu_share": kw.extension_cpu_share, "dropped": kdropped,
                                   "samples": k["samples"].clone()}}));
            }
        }
        self.raw.insert("throughput".into(), Value::Array(raw));
        Ok(())
    }
}

/// The steady-state window of a load run: from the invocation's start plus a warm-up to the
/// function's end (runtimeDone), cut into 1-s slices of the `--sample-ms` samples.
struct Window {
    /// X-Ray-accepted spans per second, per slice.
    rates: Vec<f64>,
    /// X-Ray-accepted spans per CPU-second of the extension, per slice.
    per_cpu: Vec<f64>,
    extension_cpu_share: f64,
    mock_cpu_share: f64,
}

impl Window {
    fn of(report: &Value, warm_up: Duration) -> Window {
        let samples: Vec<(f64, f64, Option<f64>, Option<f64>)> = report["samples"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| {
                        Some((
                            s["t_ms"].as_f64()?,
                            s["xray_spans"].as_f64()?,
                            s["extension_cpu_ms"].as_f64(),
                            s["mock_cpu_ms"].as_f64(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let start = f64_at(report, "/invocations/0/started_ms").unwrap_or(0.0)
            + warm_up.as_secs_f64() * 1000.0;
        let end = f64_at(report, "/invocations/0/runtime_done_ms").unwrap_or(0.0);
        // The last sample at or before `t` that has a CPU reading.
        let at = |t: f64| {
            samples
                .iter()
                .rev()
                .find(|s| s.0 <= t && s.2.is_some())
                .copied()
        };
        let mut w = Window {
            rates: Vec::new(),
            per_cpu: Vec::new(),
            extension_cpu_share: 0.0,
            mock_cpu_share: 0.0,
        };
        let mut t = start;
        while t + 1000.0 <= end {
            if let (Some(a), Some(b)) = (at(t), at(t + 1000.0)) {
                let dt = (b.0 - a.0) / 1000.0;
                let spans = b.1 - a.1;
                let cpu = (b.2.unwrap_or(0.0) - a.2.unwrap_or(0.0)) / 1000.0;
                if dt > 0.0 {
                    w.rates.push(spans / dt);
                }
                if cpu > 0.0 {
                    w.per_cpu.push(spans / cpu);
                }
            }
            t += 1000.0;
        }
        if let (Some(a), Some(b)) = (at(start), at(end)) {
            let dt = b.0 - a.0;
            if dt > 0.0 {
                w.extension_cpu_share = (b.2.unwrap_or(0.0) - a.2.unwrap_or(0.0)) / dt;
                w.mock_cpu_share = (b.3.unwrap_or(0.0) - a.3.unwrap_or(0.0)) / dt;
            }
        }
        w
    }
}

// ---------------------------------------------------------------------------------------------

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    let git = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": kernel,
        "git": git,
    })
}

fn main() {
    // `cargo bench` passes `--bench`; other words name the parts to run.
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |p: &str| parts.is_empty() || parts.iter().any(|x| x == p);
    let p = match locate() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("lambda bench: {e}");
            std::process::exit(2);
        }
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("lambda bench: no temporary directory: {e}");
            std::process::exit(2);
        }
    };
    let quick = std::env::var("LAMBDA_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let load_before = load_average();
    let started = std::time::Instant::now();
    let mut b = Bench {
        p,
        dir,
        quick,
        rows: Vec::new(),
        notes: Vec::new(),
        raw: serde_json::Map::new(),
    };
    let mut failed = Vec::new();
    type Part = fn(&mut Bench) -> Result<(), String>;
    let all: [(&str, &str, Part); 4] = [
        ("init", "init (30 + 30 runs)", Bench::init),
        (
            "post",
            "100 demo invocations (memory, post-runtime)",
            Bench::demo_invocations,
        ),
        ("memory", "memory under load", Bench::memory_under_load),
        (
            "throughput",
            "throughput (6 saturated + 6 keeping-up runs)",
            Bench::throughput,
        ),
    ];
    for (key, label, part) in all {
        // RSS after the demo invocations is a memory figure too.
        let selected = wants(key) || (key == "post" && wants("memory"));
        if !selected {
            continue;
        }
        eprintln!("lambda bench: {label} …");
        if let Err(e) = part(&mut b) {
            eprintln!("lambda bench: {key} failed: {e}");
            failed.push(format!("{key}: {e}"));
        }
    }
    let load_after = load_average();
    let m = machine();
    let header = format!(
        "otlp-xray under mock-lambda — {} ({} cores), kernel {}, {}; load average (1/5/15 min) before {load_before}, after {load_after}; {:.0} s{}",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["kernel"].as_str().unwrap_or("?"),
        m["git"].as_str().map(|g| format!("commit {g}")).unwrap_or_default(),
        started.elapsed().as_secs_f64(),
        if quick { " (QUICK: fewer, shorter runs)" } else { "" }
    );
    let method = [
        "Init: exec → first /next as mock-lambda sees it, --invocations 0; otlp-xray and the floor interleaved; ratio of the medians.".to_string(),
        "RSS: VmHWM of /proc/<pid>/status (peak resident set, file-backed pages of the binary included), in MiB — Lambda's memory 'MB' (memorySizeMB, maxMemoryUsedMB) are MiB, and the goals are read the same way. The binaries are the glibc build of target/release, not the static musl layer build.".to_string(),
        "Post-runtime: runtimeDone emitted → /next arrived. Lambda's Telemetry API buffers platform events for at least 25 ms (timeoutMs ≥ 25) and the stand-in does the same, so the billed figure carries that delay; 'without buffering' starts at the POST that delivers runtimeDone to the extension. The endpoint round trip is the extension's last PutTraceSegments call replayed by mock-lambda over a kept-alive connection (same headers, body and signature check); 'above the round trip' subtracts one median round trip per X-Ray call of the invocation.".to_string(),
        format!("Throughput: one long invocation per figure (steady state: a flush every 200 ms by the backup timer, `{THROUGHPUT_FLUSH}`, flushes also start when the buffer is a quarter full; default buffer limits, so a saturated extension answers 503 / UNAVAILABLE (loadgen counts the request as failed and pauses 20 ms, as an OTLP exporter backs off) and drops the oldest spans only when deliveries stall). loadgen (examples/loadgen.rs) sends unique demo-shaped spans with {CONCURRENCY} requests in flight, first as fast as the extension answers for {} s (saturated: the end-to-end rate), then at {:.0} % of the rate that reached X-Ray for {} s (keeping up: the CPU cost of spans that are all delivered). The X-Ray endpoint verifies each call's SigV4 and counts documents (--xray-count-only). Figures are over 1-s slices from {} s after the invocation starts to the function's end: spans accepted by the endpoint per second (p10 = the slow end) and per CPU-second of the extension (utime+stime of /proc/<pid>/stat, 10 ms resolution). loadgen, mock-lambda and the extension share the machine's cores; the extension runs one thread, plus the blocking pool that writes and signs X-Ray request bodies.", THROUGHPUT_DURATION.as_secs(), KEEP_UP_SHARE * 100.0, KEEP_UP_DURATION.as_secs(), WARM_UP.as_secs()),
        "Memory under load: loadgen at 20,000 spans/s, 512 spans per request (what a BatchSpanProcessor sends at that rate), one 10-s invocation, default buffer limits, with each flush interval.".to_string(),
    ];
    let table = text_table(&b.rows);
    println!("\n{header}\n\n{table}");
    for n in &b.notes {
        println!("- {n}");
    }
    for f in &failed {
        println!("FAILED {f}");
    }
    println!("\nMethod:");
    for m in &method {
        println!("- {m}");
    }
    let out_dir = b.p.target.join("bench");
    let md = format!(
        "{header}\n\n{}\n{}\n\nMethod:\n{}\n",
        markdown_table(&b.rows),
        b.notes
            .iter()
            .chain(failed.iter())
            .map(|n| format!("- {n}"))
            .collect::<Vec<_>>()
            .join("\n"),
        method
            .iter()
            .map(|m| format!("- {m}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let doc = json!({
        "header": header,
        "machine": m,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "quick": quick,
        "rows": b.rows.iter().map(Row::json).collect::<Vec<_>>(),
        "notes": b.notes,
        "failed": failed,
        "method": method,
        "raw": Value::Object(std::mem::take(&mut b.raw)),
    });
    let written = std::fs::create_dir_all(&out_dir)
        .and_then(|()| std::fs::write(out_dir.join("lambda.md"), &md))
        .and_then(|()| {
            std::fs::write(
                out_dir.join("lambda.json"),
                serde_json::to_string_pretty(&doc).unwrap_or_default(),
            )
        });
    match written {
        Ok(()) => println!(
            "\nwritten: {} and lambda.md",
            out_dir.join("lambda.json").display()
        ),
        Err(e) => eprintln!("lambda bench: cannot write {}: {e}", out_dir.display()),
    }
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
