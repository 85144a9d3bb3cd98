//! mock-lambda: a local stand-in for the AWS Lambda sandbox, to run a Lambda extension (such
//! as otlp-xray) end to end on a workstation or in CI.
//!
//! It serves the Extensions API and the Telemetry API (docs/lambda-extensions-api.md §1) and a
//! SigV4-checking X-Ray `PutTraceSegments` endpoint (§2), spawns the extension, runs the
//! function once per invocation, freezes the extension between invocations with SIGSTOP, and
//! reports which spans reached X-Ray before the extension let Lambda freeze it.
//!
//! Run `mock-lambda --help` for the options; the report format is documented on
//! [`report::Report`].

mod cli;
mod http_util;
mod ids;
mod process;
mod report;
mod runtime_api;
mod telemetry;
mod xray;

use anyhow::{bail, Context, Result};
use process::{Extension, FunctionRun};
use report::{BurstReport, DocumentReport, InvocationReport, Report, SpanRef, TelemetryReport};
use runtime_api::{RuntimeApi, FUNCTION_NAME, FUNCTION_VERSION};
use serde_json::json;
use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use telemetry::Telemetry;
use tokio::time::Instant;
use xray::Xray;

/// Init phase limit (extension init → first `/next`).
const INIT_LIMIT: Duration = Duration::from_secs(10);
/// How long an extension that called `/init/error` gets to exit.
const INIT_ERROR_EXIT_WAIT: Duration = Duration::from_secs(2);
/// Shutdown phase limit with external extensions; SIGKILL after it.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(2);
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

/// Span ids (lowercase) of documents that arrived at or before `at`.
fn received_ids(xray: &Xray, at: Instant) -> HashSet<String> {
    xray.snapshot()
        .documents
        .iter()
        .filter(|d| d.at <= at)
        .flat_map(|d| xray::document_ids(&d.document))
        .collect()
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
    .collect()
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

    let telemetry = Arc::new(Telemetry::new());
    let api = Arc::new(RuntimeApi::new(
        ext_name,
        telemetry.clone(),
        args.telemetry_unsupported,
    ));
    let api_addr = http_util::serve(api.clone(), runtime_api::handle)
        .await
        .context("cannot bind the Runtime API")?;
    let xray = Arc::new(Xray::new(started, args.xray_fail_first));
    let xray_addr = http_util::serve(xray.clone(), xray::handle)
        .await
        .context("cannot bind the X-Ray endpoint")?;
    log(
        args,
        &format!("Runtime API on {api_addr}, X-Ray on {xray_addr}"),
    );

    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_RUNTIME_API", api_addr.to_string()),
        ("AWS_REGION", xray::REGION.to_string()),
        ("AWS_DEFAULT_REGION", xray::REGION.to_string()),
        ("AWS_ACCESS_KEY_ID", xray::ACCESS_KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY", xray::SECRET_ACCESS_KEY.to_string()),
        ("AWS_SESSION_TOKEN", xray::SESSION_TOKEN.to_string()),
        ("AWS_ENDPOINT_URL_XRAY", format!("http://{xray_addr}")),
        ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", FUNCTION_VERSION.to_string()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            MEMORY_SIZE_MB.to_string(),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(c) = &args.config {
        env.push(("OPENTELEMETRY_COLLECTOR_CONFIG_URI".into(), c.clone()));
    }
    env.extend(args.env.iter().cloned());

    let mut ext = Extension::spawn(&args.extension, &env, args.quiet)
        .with_context(|| format!("cannot start extension {}", args.extension.display()))?;
    telemetry.emit(
        "platform.initStart",
        json!({"initializationType": "on-demand", "phase": "init", "runtimeVersion": "mock-lambda",
               "functionName": FUNCTION_NAME, "functionVersion": FUNCTION_VERSION}),
    );

    let mut report = Report {
        init_ms: None,
        init_error: None,
        init_timed_out: false,
        exit_error: None,
        extension_exit_code: None,
        extension_exit_signal: None,
        extension_killed: false,
        invocations: Vec::new(),
        shutdown_burst: None,
        shutdown_ms: None,
        extension_vm_hwm_kb: None,
        xray_requests: 0,
        xray_rejected_requests: 0,
        xray_injected_failures: 0,
        xray_rejections: Vec::new(),
        documents: Vec::new(),
        telemetry: TelemetryReport {
            subscription_status: None,
            subscription: None,
            delivery: Default::default(),
        },
        extension_output: Vec::new(),
        expectation_failures: Vec::new(),
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
                init_ok = true;
                log(args, &format!("init done in {init_ms:.1} ms"));
                telemetry.emit(
                    "platform.initRuntimeDone",
                    json!({"initializationType": "on-demand", "phase": "init", "status": "success"}),
                );
                telemetry.emit(
                    "platform.initReport",
                    json!({"initializationType": "on-demand", "phase": "init", "status": "success",
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
            telemetry.emit(
                "platform.runtimeDone",
                json!({"requestId": inv.request_id, "status": status,
                       "metrics": {"durationMs": fn_ms, "producedBytes": 0},
                       "spans": [
                           {"name": "responseLatency", "start": ids::iso8601(run_started), "durationMs": fn_ms},
                           {"name": "responseDuration", "start": ids::iso8601(run_started + run.duration), "durationMs": 0.0}
                       ]}),
            );
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
                (Some(runtime_done_at), false)
            };
            let cut = next_at.unwrap_or_else(Instant::now);
            let received = received_ids(&xray, cut);
            let post_runtime_ms =
                next_at.map(|at| ms(at.saturating_duration_since(runtime_done_at)));
            let spans_sent = span_refs(&run);
            let received_before_next: Vec<String> = spans_sent
                .iter()
                .filter(|s| received.contains(&s.span_id))
                .map(|s| s.span_id.clone())
                .collect();
            let duration_ms = ms(cut.duration_since(invoke_started));
            telemetry.emit(
                "platform.report",
                json!({"requestId": inv.request_id, "status": if timed_out { "timeout" } else { status },
                       "metrics": {"billedDurationMs": duration_ms.ceil() as u64, "durationMs": duration_ms,
                                   "maxMemoryUsedMB": MAX_MEMORY_USED_MB, "memorySizeMB": MEMORY_SIZE_MB}}),
            );
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
                post_runtime_ms,
                timed_out,
                function_ms: fn_ms,
                function_exit_code: run.exit_code,
                function_timed_out: run.timed_out,
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
                ext.freeze();
                tokio::time::sleep(Duration::from_millis(args.freeze_ms)).await;
            }
        }

        // ---- Shutdown burst: the function runs once more, then SHUTDOWN comes at once.
        let mut burst: Option<Vec<SpanRef>> = None;
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

        // ---- Shutdown.
        ext.thaw();
        report.extension_vm_hwm_kb = process::vm_hwm_kb(ext.pid);
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
            if let Some(spans_sent) = burst {
                let received = received_ids(&xray, exit_at);
                let received_before_exit = spans_sent
                    .iter()
                    .filter(|s| received.contains(&s.span_id))
                    .map(|s| s.span_id.clone())
                    .collect();
                report.shutdown_burst = Some(BurstReport {
                    spans_sent,
                    received_before_exit,
                });
            }
        } else if let Some(spans_sent) = burst {
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
    if let Some(e) = ext.exited() {
        report.extension_exit_code = e.code;
        report.extension_exit_signal = e.signal;
        log(args, &format!("extension ended: {}", e.describe()));
    }
    report.extension_killed = ext.killed;
    report.exit_error = api.exit_error();
    let records = xray.snapshot();
    report.xray_requests = records.requests;
    report.xray_rejected_requests = records.rejected;
    report.xray_injected_failures = records.injected_failures;
    report.xray_rejections = records.rejections;
    report.documents = records
        .documents
        .iter()
        .map(|d| DocumentReport {
            received_ms: (d.received_ms * 1000.0).round() / 1000.0,
            document: d.document.clone(),
            problems: d.problems.clone(),
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
        let docs: Vec<serde_json::Value> = records
            .documents
            .iter()
            .map(|d| d.document.clone())
            .collect();
        println!();
        print!("{}", report::render_traces(&docs));
    }
    if let Some(path) = &args.report {
        let text = serde_json::to_string_pretty(&report).context("cannot serialize the report")?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(report)
}
