//! mock-lambda: a local stand-in for the AWS Lambda sandbox, to run a Lambda extension (such
//! as otlp-xray) end to end on a workstation or in CI.
//!
//! It serves the Extensions API and the Telemetry API (docs/lambda-extensions-api.md §1) and a
//! SigV4-checking X-Ray `PutTraceSegments` endpoint (§2), spawns the extension, runs the
//! function once per invocation, freezes the extension between invocations with SIGSTOP, and
//! reports which spans reached X-Ray before the extension let Lambda freeze it.
//!
//! To test flush strategies against a hostile world it can also inject X-Ray faults
//! ([`faults`]), Telemetry API oddities ([`quirks`]), run an X-Ray daemon on UDP ([`daemon`]),
//! record Lambda's own active-tracing segments ([`active_tracing`]) and emulate Lambda
//! Managed Instances (no INVOKE, no freeze).
//!
//! Run `mock-lambda --help` for the options; the report format is documented on
//! [`report::Report`].

mod active_tracing;
mod cli;
mod daemon;
mod faults;
mod http_util;
mod ids;
mod process;
mod quirks;
mod report;
mod runtime_api;
mod telemetry;
mod xray;

use anyhow::{bail, Context, Result};
use process::{Extension, FunctionRun};
use report::{
    BurstReport, DocumentReport, DuplicateSpan, InvocationReport, Report, Sample, SpanCounts,
    SpanRef, TelemetryReport,
};
use runtime_api::{RuntimeApi, FUNCTION_NAME, FUNCTION_VERSION};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use telemetry::{LogCategory, LogMode, Telemetry};
use tokio::time::Instant;
use xray::Xray;

/// Init phase limit (extension init → first `/next`).
const INIT_LIMIT: Duration = Duration::from_secs(10);
/// How long an extension that called `/init/error` gets to exit.
const INIT_ERROR_EXIT_WAIT: Duration = Duration::from_secs(2);
/// Shutdown phase limit with external extensions; SIGKILL after it.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(2);
/// Without INVOKE registration there is no `/next` to end an invocation: it ends this long
/// after the function did.
const NO_INVOKE_SETTLE: Duration = Duration::from_millis(100);
const MEMORY_SIZE_MB: u64 = 128;
const MAX_MEMORY_USED_MB: u64 = 42;

fn main() -> ExitCode {
    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(cli::Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(cli::Command::Run(a)) => a,
        Err(e) => {
            eprintln!("mock-lambda: {e:#}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mock-lambda: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let expect_all = args.expect_all;
    let result = rt.block_on(async {
        tokio::select! {
            r = run(&args) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    // Dropping the runtime drops the child handles, which SIGKILLs anything still running.
    drop(rt);
    match result {
        Ok(report) if expect_all && !report.expectation_failures.is_empty() => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-lambda: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Outcome of waiting on the extension.
#[derive(Debug, PartialEq, Eq)]
enum Wait {
    Ready,
    Exited,
    TimedOut,
}

/// Waits until `cond` holds, the extension exits, or `deadline` passes.
async fn wait_until(
    api: &RuntimeApi,
    ext: &Extension,
    deadline: Instant,
    cond: impl Fn() -> bool,
) -> Wait {
    let mut exit = ext.exit_watch();
    loop {
        let notified = api.notify.notified();
        if cond() {
            return Wait::Ready;
        }
        if ext.exited().is_some() {
            return Wait::Exited;
        }
        tokio::select! {
            _ = notified => {}
            _ = exit.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {
                return if cond() { Wait::Ready } else { Wait::TimedOut };
            }
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn log(args: &cli::Args, msg: &str) {
    if !args.quiet {
        eprintln!("mock-lambda: {msg}");
    }
}

/// Span ids (lowercase) of the extension's documents that arrived at or before `at`.
fn received_ids(docs: &[xray::ReceivedDoc], at: Instant) -> HashSet<String> {
    docs.iter()
        .filter(|d| d.at <= at && d.sent_by_extension())
        .flat_map(|d| xray::document_ids(&d.document))
        .collect()
}

/// The ids of `spans` found in `received`.
fn received_of(spans: &[SpanRef], received: &HashSet<String>) -> Vec<String> {
    spans
        .iter()
        .filter(|s| received.contains(&s.span_id))
        .map(|s| s.span_id.clone())
        .collect()
}

/// The wall-clock time of `at` (an instant in the past or now).
fn wall(at: Instant) -> SystemTime {
    SystemTime::now()
        .checked_sub(Instant::now().saturating_duration_since(at))
        .unwrap_or_else(SystemTime::now)
}

fn span_refs(run: &FunctionRun) -> Vec<SpanRef> {
    run.spans
        .iter()
        .map(|(t, s)| SpanRef {
            trace_id: t.clone(),
            span_id: s.clone(),
        })
        .collect()
}

struct Invocation {
    request_id: String,
    trace_header: String,
    index: u32,
}

/// One `--sample-ms` sample of the extension `pid` and of X-Ray's counts.
fn sample(pid: u32, started: Instant, xray: &Xray) -> Sample {
    let (xray_documents, xray_spans) = xray.delivered();
    Sample {
        t_ms: ms(started.elapsed()),
        extension_cpu_ms: process::cpu_ms(pid),
        extension_rss_kb: process::vm_rss_kb(pid),
        extension_hwm_kb: process::vm_hwm_kb(pid),
        xray_documents,
        xray_spans,
        mock_cpu_ms: process::self_cpu_ms(),
    }
}

/// `--sample-ms`: samples every `period` until the extension exits (one last sample then).
fn start_sampler(
    period: Duration,
    ext: &Extension,
    started: Instant,
    xray: Arc<Xray>,
) -> (Arc<Mutex<Vec<Sample>>>, tokio::task::JoinHandle<()>) {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let (out, pid, mut exit) = (samples.clone(), ext.pid, ext.exit_watch());
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let gone = exit.borrow().is_some();
            let s = sample(pid, started, &xray);
            if let Ok(mut v) = out.lock() {
                v.push(s);
            }
            if gone {
                return;
            }
            tokio::select! {
                _ = tick.tick() => {}
                _ = exit.changed() => {}
            }
        }
    });
    (samples, task)
}

fn function_env(args: &cli::Args, inv: &Invocation) -> Vec<(String, String)> {
    [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            args.otlp_endpoint
                .clone()
                .unwrap_or_else(|| args.protocol.endpoint().to_string()),
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            args.protocol.otel_name().to_string(),
        ),
        ("_X_AMZN_TRACE_ID", inv.trace_header.clone()),
        ("AWS_LAMBDA_REQUEST_ID", inv.request_id.clone()),
        ("MOCK_INVOCATION_INDEX", inv.index.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", FUNCTION_VERSION.to_string()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            MEMORY_SIZE_MB.to_string(),
        ),
        ("AWS_REGION", xray::REGION.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(
        args.function_sleep_ms
            .map(|ms| ("MOCK_FUNCTION_SLEEP_MS".to_string(), ms.to_string())),
    )
    .chain(
        args.xray_count_only
            .then(|| ("MOCK_XRAY_COUNT_ONLY".to_string(), "1".to_string())),
    )
    .collect()
}

/// `--telemetry-quirk unknown-events`: a platform event type from the future, with records of
/// every shape (unknown fields, known fields of the wrong type, array, null, string).
fn emit_unknown_events(telemetry: &Telemetry, request_id: &str) {
    let records = [
        json!({"requestId": request_id, "futureField": {"nested": [1, "two", null, {"three": 3.5}]},
               "status": "maybe", "metrics": {"durationMs": "not a number"}, "spans": "not a list",
               "tracing": 7, "huge": 1e308, "negative": -1}),
        json!({"requestId": 12345}),
        json!(["an", "array", 42]),
        Value::Null,
        json!("a future platform event carried as text"),
    ];
    for r in records {
        telemetry.emit("platform.futureThing", r);
    }
}

/// `platform.runtimeDone` for one invocation.
fn runtime_done_record(
    request_id: &str,
    status: &str,
    run: &FunctionRun,
    run_started: SystemTime,
) -> Value {
    let fn_ms = ms(run.duration);
    json!({"requestId": request_id, "status": status,
    "metrics": {"durationMs": fn_ms, "producedBytes": 0},
    "spans": [
        {"name": "responseLatency", "start": ids::iso8601(run_started), "durationMs": fn_ms},
        {"name": "responseDuration", "start": ids::iso8601(run_started + run.duration), "durationMs": 0.0}
    ]})
}

fn new_invocation(index: u32) -> Invocation {
    Invocation {
        request_id: ids::uuid_v4(),
        trace_header: ids::trace_header(ids::now_unix_ms() / 1000),
        index,
    }
}

async fn run(args: &cli::Args) -> Result<Report> {
    let started = Instant::now();
    let ext_name = args
        .extension
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("--extension has no file name")?;
    if !args.extension.is_file() {
        bail!("extension {} is not a file", args.extension.display());
    }
    if !args.function.is_file() {
        bail!("function {} is not a file", args.function.display());
    }
    let quirks = &args.telemetry_quirks;
    let init_type = args.initialization_type.as_str();
    let managed_instances = init_type == cli::MANAGED_INSTANCES;

    let telemetry = Arc::new(Telemetry::with_log_mode(LogMode::from_quirks(
        quirks.string_logs,
        quirks.object_logs,
    )));
    let api = Arc::new(RuntimeApi::new(
        ext_name,
        telemetry.clone(),
        args.telemetry_unsupported,
    ));
    let api_addr = http_util::serve(api.clone(), runtime_api::handle)
        .await
        .context("cannot bind the Runtime API")?;
    let xray =
        Arc::new(Xray::new(started, &args.xray_faults).with_count_only(args.xray_count_only));
    let xray_addr = xray::serve(xray.clone())
        .await
        .context("cannot bind the X-Ray endpoint")?;
    let daemon_addr = if args.daemon_udp {
        Some(
            daemon::serve(xray.clone())
                .await
                .context("cannot bind the X-Ray daemon socket")?,
        )
    } else {
        None
    };
    log(
        args,
        &format!(
            "Runtime API on {api_addr}, X-Ray on {xray_addr}{}",
            daemon_addr
                .map(|a| format!(", X-Ray daemon on udp {a}"))
                .unwrap_or_default()
        ),
    );

    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_RUNTIME_API", api_addr.to_string()),
        ("AWS_REGION", xray::REGION.to_string()),
        ("AWS_DEFAULT_REGION", xray::REGION.to_string()),
        ("AWS_ACCESS_KEY_ID", xray::ACCESS_KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY", xray::SECRET_ACCESS_KEY.to_string()),
        ("AWS_SESSION_TOKEN", xray::SESSION_TOKEN.to_string()),
        (
            args.xray_endpoint_env.as_str(),
            format!("http://{xray_addr}"),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", FUNCTION_VERSION.to_string()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            MEMORY_SIZE_MB.to_string(),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", init_type.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(a) = daemon_addr {
        env.push(("AWS_XRAY_DAEMON_ADDRESS".into(), a.to_string()));
    }
    if let Some(c) = &args.config {
        env.push(("OPENTELEMETRY_COLLECTOR_CONFIG_URI".into(), c.clone()));
    }
    env.extend(args.env.iter().cloned());

    let mut ext = Extension::spawn(&args.extension, &env, args.quiet, &telemetry)
        .with_context(|| format!("cannot start extension {}", args.extension.display()))?;
    let sampler = (args.sample_ms > 0).then(|| {
        start_sampler(
            Duration::from_millis(args.sample_ms),
            &ext,
            started,
            xray.clone(),
        )
    });
    telemetry.emit(
        "platform.initStart",
        json!({"initializationType": init_type, "phase": "init", "runtimeVersion": "mock-lambda",
               "functionName": FUNCTION_NAME, "functionVersion": FUNCTION_VERSION}),
    );

    let mut report = Report {
        initialization_type: init_type.to_string(),
        telemetry_quirks: quirks.names(),
        xray_endpoint_env: args.xray_endpoint_env.clone(),
        xray_daemon_address: daemon_addr.map(|a| a.to_string()),
        ..Default::default()
    };

    // ---- Init: exec → first /next, at most 10 s.
    let init = wait_until(&api, &ext, ext.started + INIT_LIMIT, || {
        api.init_error().is_some() || api.pending_next_at().is_some()
    })
    .await;
    let mut init_ok = false;
    if let Some(e) = api.init_error() {
        log(
            args,
            &format!("extension reported init error {:?}", e.error_type),
        );
        report.init_error = Some(e);
        if ext
            .wait_exit(Instant::now() + INIT_ERROR_EXIT_WAIT)
            .await
            .is_none()
        {
            ext.kill();
        }
    } else {
        match init {
            Wait::Ready => {
                let at = api.pending_next_at().unwrap_or_else(Instant::now);
                let init_ms = ms(at.duration_since(ext.started));
                report.init_ms = Some(init_ms);
                report.extension_vm_hwm_init_kb = process::vm_hwm_kb(ext.pid);
                report.extension_cpu_init_ms = process::cpu_ms(ext.pid);
                init_ok = true;
                log(args, &format!("init done in {init_ms:.1} ms"));
                telemetry.emit(
                    "platform.initRuntimeDone",
                    json!({"initializationType": init_type, "phase": "init", "status": "success"}),
                );
                telemetry.emit(
                    "platform.initReport",
                    json!({"initializationType": init_type, "phase": "init", "status": "success",
                           "metrics": {"durationMs": init_ms}}),
                );
            }
            Wait::Exited => log(args, "extension exited during init"),
            Wait::TimedOut => {
                log(
                    args,
                    "init did not finish within 10 s; killing the extension",
                );
                report.init_timed_out = true;
                ext.kill();
            }
        }
    }

    // When each invocation ended (its /next, deadline or the extension's exit).
    let mut invocation_ends: Vec<Instant> = Vec::new();
    let mut burst: Option<Vec<SpanRef>> = None;
    if init_ok {
        let registration = api.registration();
        let wants = |e: &str| {
            registration
                .as_ref()
                .map(|r| r.events.iter().any(|x| x == e))
                .unwrap_or(false)
        };
        let (wants_invoke, wants_shutdown) = (wants("INVOKE"), wants("SHUTDOWN"));

        // ---- Invocations.
        let mut shutdown_reason = "spindown";
        for index in 0..args.invocations {
            if ext.exited().is_some() {
                log(args, "extension exited; no more invocations");
                break;
            }
            ext.thaw();
            let inv = new_invocation(index);
            let timeout = Duration::from_millis(args.timeout_ms);
            let deadline = Instant::now() + timeout;
            let deadline_ms = ids::now_unix_ms() + args.timeout_ms;
            let invoke_started = Instant::now();
            let invoke_wall = SystemTime::now();
            if index == 0 {
                xray.arm_faults();
            }
            telemetry.set_request_id(Some(&inv.request_id));
            if quirks.single_batch {
                telemetry.hold();
            }
            let mut next_calls_before = api.next_calls();
            if wants_invoke {
                if wait_until(&api, &ext, deadline, || api.pending_next_at().is_some()).await
                    == Wait::Ready
                {
                    next_calls_before = api.next_calls();
                    if !api.deliver(&runtime_api::invoke_event(
                        &inv.request_id,
                        deadline_ms,
                        &inv.trace_header,
                    )) {
                        log(
                            args,
                            "the extension's /next went away before INVOKE could be delivered",
                        );
                    }
                } else {
                    log(
                        args,
                        "extension is not waiting on /next; INVOKE not delivered",
                    );
                }
            }
            telemetry.emit(
                "platform.start",
                json!({"requestId": inv.request_id, "version": FUNCTION_VERSION,
                       "tracing": {"type": "X-Amzn-Trace-Id", "value": inv.trace_header}}),
            );
            if quirks.logs_dropped {
                telemetry.emit(
                    "platform.logsDropped",
                    json!({"droppedBytes": 4096, "droppedRecords": 12,
                           "reason": "Some logs were dropped because the downstream consumer is slower than the logs production rate"}),
                );
            }
            if quirks.unknown_events {
                emit_unknown_events(&telemetry, &inv.request_id);
            }
            if quirks.forces_logs() {
                telemetry.log(
                    LogCategory::Function,
                    &format!(
                        "{}\t{}\tINFO\tmock-lambda: invocation {} started",
                        ids::iso8601(SystemTime::now()),
                        inv.request_id,
                        index + 1
                    ),
                );
            }
            let run_started = SystemTime::now();
            let run = process::run_function(
                &args.function,
                &args.function_args,
                &function_env(args, &inv),
                deadline,
                args.quiet,
                &telemetry,
            )
            .await;
            if let Some(e) = &run.error {
                log(args, e);
            }
            let runtime_done_at = Instant::now();
            let status = if run.timed_out {
                "timeout"
            } else if run.exit_code == Some(0) {
                "success"
            } else {
                "error"
            };
            let fn_ms = ms(run.duration);
            let runtime_done = runtime_done_record(&inv.request_id, status, &run, run_started);
            let runtime_done_sent = quirks.runtime_done_copies(index);
            if !quirks.late_runtime_done {
                for _ in 0..runtime_done_sent {
                    telemetry.emit("platform.runtimeDone", runtime_done.clone());
                }
            }
            let (next_at, timed_out) = if wants_invoke {
                match wait_until(&api, &ext, deadline, || {
                    api.next_calls() > next_calls_before && api.pending_next_at().is_some()
                })
                .await
                {
                    Wait::Ready => (api.pending_next_at(), false),
                    Wait::TimedOut => (None, true),
                    Wait::Exited => (None, false),
                }
            } else {
                // No /next ends the invocation: give the extension a short settle.
                tokio::time::sleep(NO_INVOKE_SETTLE).await;
                (None, false)
            };
            let cut = next_at.unwrap_or_else(Instant::now);
            invocation_ends.push(cut);
            let received = received_ids(&xray.snapshot().documents, cut);
            let post_runtime_ms =
                next_at.map(|at| ms(at.saturating_duration_since(runtime_done_at)));
            let delivered = telemetry.runtime_done_posted(&inv.request_id);
            let (xray_calls, xray_service) = xray.calls_between(runtime_done_at, cut);
            let spans_sent = span_refs(&run);
            let received_before_next = received_of(&spans_sent, &received);
            let duration_ms = ms(cut.duration_since(invoke_started));
            let platform_report = json!({"requestId": inv.request_id, "status": if timed_out { "timeout" } else { status },
                   "metrics": {"billedDurationMs": duration_ms.ceil() as u64, "durationMs": duration_ms,
                               "maxMemoryUsedMB": MAX_MEMORY_USED_MB, "memorySizeMB": MEMORY_SIZE_MB}});
            if quirks.late_runtime_done {
                let mut events = vec![("platform.report", platform_report)];
                for _ in 0..runtime_done_sent {
                    events.push(("platform.runtimeDone", runtime_done.clone()));
                }
                telemetry.emit_batch(events);
            } else {
                telemetry.emit("platform.report", platform_report);
            }
            telemetry.release();
            telemetry.set_request_id(None);
            if args.lambda_segments {
                xray.record_lambda(active_tracing::lambda_documents(
                    &active_tracing::InvocationTiming {
                        request_id: inv.request_id.clone(),
                        trace_header: inv.trace_header.clone(),
                        function_arn: runtime_api::function_arn(),
                        function_name: FUNCTION_NAME.to_string(),
                        start: invoke_wall,
                        function_end: wall(runtime_done_at),
                        end: wall(cut),
                        status: if timed_out { "timeout" } else { status }.to_string(),
                    },
                ));
            }
            log(
                args,
                &format!(
                    "invocation {} {}: {} spans sent, {} received before /next, post-runtime {}",
                    index + 1,
                    inv.request_id,
                    spans_sent.len(),
                    received_before_next.len(),
                    post_runtime_ms
                        .map(|v| format!("{v:.1} ms"))
                        .unwrap_or_else(|| "-".into())
                ),
            );
            report.invocations.push(InvocationReport {
                request_id: inv.request_id,
                trace_header: inv.trace_header,
                spans_sent,
                received_before_next,
                received_by_end_of_next_invocation: Vec::new(),
                post_runtime_ms,
                runtime_done_sent,
                timed_out,
                function_ms: fn_ms,
                function_exit_code: run.exit_code,
                function_timed_out: run.timed_out,
                started_ms: ms(invoke_started.duration_since(started)),
                runtime_done_ms: ms(runtime_done_at.duration_since(started)),
                next_ms: next_at.map(|at| ms(at.duration_since(started))),
                runtime_done_delivery_ms: delivered
                    .map(|d| ms(d.saturating_duration_since(runtime_done_at))),
                post_runtime_after_delivery_ms: next_at
                    .zip(delivered)
                    .map(|(n, d)| ms(n.saturating_duration_since(d))),
                xray_calls_post_runtime: xray_calls,
                xray_service_ms_post_runtime: ms(xray_service),
            });
            if timed_out {
                // Lambda resets the sandbox after a timeout: SHUTDOWN (reason timeout), no more
                // invokes on this extension.
                log(
                    args,
                    "invocation timed out; resetting (SHUTDOWN reason timeout)",
                );
                shutdown_reason = "timeout";
                break;
            }
            if args.freeze_ms > 0 {
                // Lambda Managed Instances environments are never frozen.
                if !managed_instances {
                    ext.freeze();
                }
                tokio::time::sleep(Duration::from_millis(args.freeze_ms)).await;
            }
        }

        // ---- Shutdown burst: the function runs once more, then SHUTDOWN comes at once.
        if args.shutdown_burst && ext.exited().is_none() {
            ext.thaw();
            let inv = new_invocation(args.invocations);
            let deadline = Instant::now() + Duration::from_millis(args.timeout_ms);
            let run = process::run_function(
                &args.function,
                &args.function_args,
                &function_env(args, &inv),
                deadline,
                args.quiet,
                &telemetry,
            )
            .await;
            burst = Some(span_refs(&run));
        }

        // ---- The endpoint's own round trip, while the extension is still frozen.
        if args.xray_probe > 0 {
            match xray::probe(&xray, xray_addr, args.xray_probe).await {
                Ok(rtts) => report.xray_probe_rtt_ms = rtts.into_iter().map(ms).collect(),
                Err(e) => {
                    log(args, &format!("x-ray probe failed: {e}"));
                    report.xray_probe_error = Some(e);
                }
            }
        }

        // ---- Shutdown.
        ext.thaw();
        report.extension_vm_hwm_kb = process::vm_hwm_kb(ext.pid);
        report.extension_cpu_ms = process::cpu_ms(ext.pid);
        if ext.exited().is_none() {
            let shutdown_at = Instant::now();
            let deadline = shutdown_at + SHUTDOWN_LIMIT;
            if wants_shutdown {
                if wait_until(&api, &ext, deadline, || api.pending_next_at().is_some()).await
                    == Wait::Ready
                {
                    let remaining = deadline
                        .saturating_duration_since(Instant::now())
                        .as_millis() as u64;
                    api.deliver(&runtime_api::shutdown_event(
                        shutdown_reason,
                        ids::now_unix_ms() + remaining,
                    ));
                } else {
                    log(
                        args,
                        "extension is not waiting on /next; SHUTDOWN not delivered",
                    );
                }
            }
            if ext.wait_exit(deadline).await.is_none() {
                log(args, "extension did not exit within 2,000 ms; SIGKILL");
                ext.kill();
                ext.wait_exit(Instant::now() + Duration::from_secs(1)).await;
            }
            let exit_at = ext.exited().map(|e| e.at).unwrap_or_else(Instant::now);
            report.shutdown_ms = Some(ms(exit_at.saturating_duration_since(shutdown_at)));
            if let Some(spans_sent) = burst.clone() {
                let received = received_ids(&xray.snapshot().documents, exit_at);
                report.shutdown_burst = Some(BurstReport {
                    received_before_exit: received_of(&spans_sent, &received),
                    spans_sent,
                });
            }
        } else if let Some(spans_sent) = burst.clone() {
            report.shutdown_burst = Some(BurstReport {
                spans_sent,
                received_before_exit: Vec::new(),
            });
        }
    }

    // ---- Collect.
    if ext.exited().is_none() {
        ext.kill();
        ext.wait_exit(Instant::now() + Duration::from_secs(1)).await;
    }
    ext.drain_output().await;
    let exit_at = ext.exited().map(|e| e.at).unwrap_or_else(Instant::now);
    if let Some(e) = ext.exited() {
        report.extension_exit_code = e.code;
        report.extension_exit_signal = e.signal;
        log(args, &format!("extension ended: {}", e.describe()));
    }
    report.extension_killed = ext.killed;
    report.exit_error = api.exit_error();
    if let Some((samples, task)) = sampler {
        // The sampler takes a last sample when the extension exits; give it a moment.
        let _ = tokio::time::timeout(Duration::from_millis(500), task).await;
        report.samples = samples.lock().map(|v| v.clone()).unwrap_or_default();
    }
    let records = xray.snapshot();
    report.xray_count_only = records.count_only;
    report.xray_extension_documents = records.extension_documents;
    report.xray_extension_spans = records.extension_spans;
    fill_span_results(&mut report, &records.documents, &invocation_ends, exit_at);
    report.xray_requests = records.requests;
    report.xray_rejected_requests = records.rejected;
    report.xray_injected_failures = records.injected_failures;
    report.xray_faults_injected = records.faults_injected.clone();
    report.xray_fault_log = records.fault_log.clone();
    report.xray_down_dropped = records.down_dropped;
    report.xray_rejections = records.rejections.clone();
    report.xray_udp_datagrams = records.udp_datagrams;
    report.xray_udp_malformed = records.udp_malformed;
    report.xray_udp_rejections = records.udp_rejections.clone();
    let duplicates = xray::duplicates(&records.documents);
    report.xray_duplicate_documents = duplicates
        .iter()
        .map(|d| u64::from(d.copies.saturating_sub(1)))
        .sum();
    report.xray_duplicates = duplicates;
    report.documents = records
        .documents
        .iter()
        .map(|d| DocumentReport {
            received_ms: (d.received_ms * 1000.0).round() / 1000.0,
            document: d.document.clone(),
            problems: d.problems.clone(),
            source: d.source.to_string(),
            transport: d.transport.map(str::to_string),
        })
        .collect();
    let (subscription, status) = api.subscription();
    report.telemetry = TelemetryReport {
        subscription_status: status,
        subscription,
        delivery: telemetry.stats(),
    };
    report.extension_output = ext.last_lines();
    report.expectation_failures = report.expectation_failures();

    print!("{}", report.summary());
    if !args.quiet {
        let docs: Vec<Value> = records
            .documents
            .iter()
            .map(|d| d.document.clone())
            .collect();
        println!();
        print!("{}", report::render_traces(&docs));
        if args.print_documents > 0 {
            println!();
            println!(
                "segment documents as received by PutTraceSegments (first {}):",
                args.print_documents
            );
            for d in records
                .documents
                .iter()
                .filter(|d| d.sent_by_extension())
                .take(args.print_documents)
            {
                println!("{}", d.document);
            }
        }
    }
    if let Some(path) = &args.report {
        let text = serde_json::to_string_pretty(&report).context("cannot serialize the report")?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(report)
}

/// Fills `received_by_end_of_next_invocation`, `span_counts`, `lost_spans` and
/// `duplicate_spans` from the documents received over the whole run. `ends[k]` is when
/// invocation k ended; `exit_at` when the extension exited.
fn fill_span_results(
    report: &mut Report,
    docs: &[xray::ReceivedDoc],
    ends: &[Instant],
    exit_at: Instant,
) {
    for (k, inv) in report.invocations.iter_mut().enumerate() {
        let until = ends.get(k + 1).copied().unwrap_or(exit_at);
        inv.received_by_end_of_next_invocation =
            received_of(&inv.spans_sent, &received_ids(docs, until));
    }
    let copies = xray::span_copies(docs);
    let all_sent = report
        .invocations
        .iter()
        .flat_map(|i| i.spans_sent.iter())
        .chain(
            report
                .shutdown_burst
                .iter()
                .flat_map(|b| b.spans_sent.iter()),
        );
    let mut counts = SpanCounts::default();
    let mut lost = Vec::new();
    let mut duplicated = Vec::new();
    for s in all_sent {
        counts.sent += 1;
        match copies.get(&s.span_id).copied().unwrap_or(0) {
            0 => lost.push(s.clone()),
            n => {
                counts.received += 1;
                if n > 1 {
                    duplicated.push(DuplicateSpan {
                        trace_id: s.trace_id.clone(),
                        span_id: s.span_id.clone(),
                        copies: n,
                    });
                }
            }
        }
    }
    counts.lost = lost.len() as u64;
    counts.duplicated = duplicated.len() as u64;
    report.span_counts = counts;
    report.lost_spans = lost;
    report.duplicate_spans = duplicated;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str) -> SpanRef {
        SpanRef {
            trace_id: "t".into(),
            span_id: id.into(),
        }
    }

    fn inv(spans: &[&str]) -> InvocationReport {
        InvocationReport {
            request_id: "r".into(),
            trace_header: "h".into(),
            spans_sent: spans.iter().map(|s| span(s)).collect(),
            runtime_done_sent: 1,
            function_ms: 1.0,
            function_exit_code: Some(0),
            ..Default::default()
        }
    }

    #[test]
    fn span_results_over_the_whole_run() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let doc = |id: &str, when: u64, source: &'static str| xray::ReceivedDoc {
            at: at(when),
            received_ms: when as f64,
            document: json!({"trace_id": "1-581cf771-a006649127e371903a2de979", "id": id}),
            problems: vec![],
            source,
            transport: Some("http"),
        };
        let docs = vec![
            doc("aaaaaaaaaaaaaaaa", 5, xray::SOURCE_EXTENSION),
            doc("bbbbbbbbbbbbbbbb", 15, xray::SOURCE_EXTENSION),
            doc("cccccccccccccccc", 25, xray::SOURCE_EXTENSION),
            doc("aaaaaaaaaaaaaaaa", 26, xray::SOURCE_EXTENSION),
            // Lambda's own segment with a sent span's id does not make it received.
            doc("dddddddddddddddd", 1, xray::SOURCE_LAMBDA),
        ];
        let mut report = Report {
            invocations: vec![
                inv(&["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"]),
                inv(&["cccccccccccccccc"]),
            ],
            shutdown_burst: Some(BurstReport {
                spans_sent: vec![span("dddddddddddddddd")],
                received_before_exit: vec![],
            }),
            ..Default::default()
        };
        // Invocation 1 ends at 10, invocation 2 at 20, the extension exits at 30.
        fill_span_results(&mut report, &docs, &[at(10), at(20)], at(30));
        assert_eq!(
            report.invocations[0].received_by_end_of_next_invocation,
            vec!["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"]
        );
        assert_eq!(
            report.invocations[1].received_by_end_of_next_invocation,
            vec!["cccccccccccccccc"]
        );
        assert_eq!(
            report.span_counts,
            SpanCounts {
                sent: 4,
                received: 3,
                lost: 1,
                duplicated: 1
            }
        );
        assert_eq!(report.lost_spans, vec![span("dddddddddddddddd")]);
        assert_eq!(
            report.duplicate_spans,
            vec![DuplicateSpan {
                trace_id: "t".into(),
                span_id: "aaaaaaaaaaaaaaaa".into(),
                copies: 2
            }]
        );
        assert!(report
            .summary()
            .contains("spans: sent 4, received 3, lost 1, duplicated 1"));
    }
}
