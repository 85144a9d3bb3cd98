//! `otlp-xray`: wiring only. Config → components → lifecycle; start-up errors go to
//! Lambda's `/extension/init/error` (`docs/lambda-extensions-api.md` §1).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use otlp_xray::config::{self, Config, ExporterConfig, ReceiverConfig};
use otlp_xray::exporter::awsxray::client::XraySettings;
use otlp_xray::exporter::awsxray::AwsXrayExporter;
use otlp_xray::exporter::debug::DebugExporter;
use otlp_xray::exporter::otlp::OtlpExporter;
use otlp_xray::exporter::{Exporter, FlushMode};
use otlp_xray::lambda::extensions_api::ExtensionsApi;
use otlp_xray::lambda::lifecycle::{Lifecycle, LifecycleSettings};
use otlp_xray::lambda::telemetry_api::{RuntimeDoneTracker, TelemetryListener};
use otlp_xray::pipeline::{BufferLimits, Pipeline};
use otlp_xray::processor::memory_limiter::total_memory_mib;
use otlp_xray::receiver;

/// Interval of the flush loop when running outside Lambda (no lifecycle drives flushes).
const STANDALONE_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Budget of each standalone flush.
const STANDALONE_FLUSH_BUDGET: Duration = Duration::from_secs(5);

/// A start-up failure: the error category sent as `Lambda-Extension-Function-Error-Type`
/// and a message naming the cause.
struct StartupError {
    kind: &'static str,
    message: String,
}

/// An `otlp`/`otlphttp` exporter that cannot be built (a TLS file that changed since the
/// config was read): `Extension.ConfigInvalid`, naming the key.
fn otlp_error(id: &str, e: otlp_xray::exporter::otlp::BuildError) -> StartupError {
    StartupError {
        kind: "Extension.ConfigInvalid",
        message: format!("exporters.{id}.{}: {}", e.key, e.message),
    }
}

/// What start-up builds.
struct Components {
    pipeline: Pipeline,
    lifecycle: LifecycleSettings,
    shutdown: tokio::sync::watch::Sender<bool>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.first().is_some_and(|a| a == "validate") {
        return validate(&args[1..]);
    }
    init_logging();
    // One thread runs everything but the CPU-heavy part of X-Ray calls (writing and signing
    // bodies) and DNS lookups, which go to the blocking pool: its threads start on first use,
    // not at init; a few are plenty (at most `num_workers` calls sign at once, each for well
    // under a millisecond), and they stay for a minute so invocations seconds apart reuse them.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .thread_keep_alive(Duration::from_secs(60))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("otlp-xray: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        match std::env::var("AWS_LAMBDA_RUNTIME_API") {
            Ok(api) if !api.is_empty() => run_extension(&api).await,
            _ => run_standalone().await,
        }
    });
    // Do not wait for blocking tasks (a DNS lookup of an unreachable endpoint can take
    // seconds): after the final flush there is nothing left worth Lambda's kill deadline.
    runtime.shutdown_background();
    code
}

/// `otlp-xray validate [--config URI]… [--format yaml|json]`: prints the resolved config or
/// every error (`otlp_xray::config::cli`); exit status 0 valid, 1 invalid, 2 bad arguments.
fn validate(args: &[String]) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("otlp-xray: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(config::cli::validate_command(
        args,
        |name| std::env::var(name).ok(),
        std::path::Path::new(config::DEFAULT_CONFIG_PATH),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ));
    runtime.shutdown_background();
    ExitCode::from(code)
}

/// The log filter's reload handle, and whether an environment variable chose the filter (then
/// `service.telemetry.logs.level` does not apply).
static LOG_FILTER: std::sync::OnceLock<(
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>,
    bool,
)> = std::sync::OnceLock::new();

/// Logs to stdout (CloudWatch Logs in Lambda) at the level `config::service::log_filter`
/// chooses from `OPENTELEMETRY_EXTENSION_LOG_LEVEL` and `RUST_LOG`; `info` until the config is
/// read ([`apply_config_log_level`]).
fn init_logging() {
    use tracing_subscriber::prelude::*;
    let env = |name: &str| std::env::var(name).ok();
    let choice = config::service::log_filter(
        env(config::EXTENSION_LOG_LEVEL_ENV).as_deref(),
        env("RUST_LOG").as_deref(),
        config::LogLevel::Info,
    );
    let filter = tracing_subscriber::EnvFilter::try_new(&choice.directive)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let output = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(false)
        .with_writer(std::io::stdout);
    if tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init()
        .is_ok()
    {
        let from_env = choice.source != config::service::LogSource::Config;
        let _ = LOG_FILTER.set((handle, from_env));
    }
    if let Some(w) = choice.warning {
        tracing::warn!("{w}");
    }
}

/// Applies `service.telemetry.logs.level` unless an environment variable chose the level.
fn apply_config_log_level(config: &Config) {
    let level = config.service.telemetry.logs.level;
    if let Some((handle, false)) = LOG_FILTER.get() {
        if level != config::LogLevel::Info {
            let _ = handle.reload(tracing_subscriber::EnvFilter::new(level.directive()));
        }
    }
}

/// The file name Lambda knows us by (`/opt/extensions/<name>`): registration must use it.
fn extension_name() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "otlp-xray".to_string())
}

async fn run_extension(runtime_api: &str) -> ExitCode {
    let started = Instant::now();
    let mut api = match ExtensionsApi::new(runtime_api) {
        Ok(api) => api,
        Err(e) => {
            tracing::error!(error = %e, "cannot use the Extensions API");
            return ExitCode::FAILURE;
        }
    };
    let managed_instances = std::env::var("AWS_LAMBDA_INITIALIZATION_TYPE")
        .is_ok_and(|t| t == "lambda-managed-instances");
    let events: &[&str] = if managed_instances {
        &["SHUTDOWN"]
    } else {
        &["INVOKE", "SHUTDOWN"]
    };
    let name = extension_name();
    if let Err(e) = api.register(&name, events).await {
        // Without an identifier there is no /init/error to call: log and exit.
        tracing::error!(error = %e, "registration refused");
        return ExitCode::FAILURE;
    }
    let config = config::load_from_env().await;
    if let Ok(c) = &config {
        apply_config_log_level(c);
    }
    let components = match start(config, managed_instances).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(kind = e.kind, "{}", e.message);
            if let Err(report) = api.init_error(e.kind, &e.message).await {
                tracing::error!(error = %report, "init/error call failed");
            }
            return ExitCode::FAILURE;
        }
    };
    let runtime_done = subscribe_telemetry(&api).await;
    tracing::info!(
        extension = %name,
        init_ms = started.elapsed().as_secs_f64() * 1e3,
        telemetry = runtime_done.is_some(),
        flush = %components.lifecycle.strategy,
        "ready"
    );
    let lifecycle = Lifecycle::new(
        api,
        components.pipeline.clone(),
        runtime_done,
        components.lifecycle,
    );
    let result = lifecycle.run().await;
    let _ = components.shutdown.send(true);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "Extensions API failed; exiting");
            ExitCode::FAILURE
        }
    }
}

/// Binds the Telemetry API listener and subscribes. `None` (fall back to flushing at the next
/// event) when the listener cannot bind or Lambda refuses the subscription (202 locally).
async fn subscribe_telemetry(api: &ExtensionsApi) -> Option<RuntimeDoneTracker> {
    let listener = match TelemetryListener::bind() {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "no Telemetry API listener; flushing at each event instead");
            return None;
        }
    };
    match api.subscribe_telemetry(listener.subscription_body()).await {
        Ok((200, _)) => {
            let tracker = RuntimeDoneTracker::default();
            listener.serve(tracker.clone());
            Some(tracker)
        }
        Ok((status, body)) => {
            tracing::info!(status, body = %body, "Telemetry API subscription not available; flushing at each event instead");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "Telemetry API subscription failed; flushing at each event instead");
            None
        }
    }
}

/// Outside Lambda: serve the receivers and flush every second until SIGINT/SIGTERM.
async fn run_standalone() -> ExitCode {
    let config = config::load_from_env().await;
    if let Ok(c) = &config {
        apply_config_log_level(c);
    }
    let components = match start(config, false).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("otlp-xray: {}", e.message);
            return ExitCode::FAILURE;
        }
    };
    for e in components.pipeline.exporters() {
        e.warm_up();
    }
    tracing::info!("running outside Lambda (AWS_LAMBDA_RUNTIME_API unset); Ctrl-C to stop");
    let mut interval = tokio::time::interval(STANDALONE_FLUSH_INTERVAL);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                components.pipeline.flush(Instant::now() + STANDALONE_FLUSH_BUDGET, FlushMode::Regular).await;
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    components
        .pipeline
        .flush(Instant::now() + STANDALONE_FLUSH_BUDGET, FlushMode::Final)
        .await;
    let _ = components.shutdown.send(true);
    ExitCode::SUCCESS
}

/// Config → exporters → pipeline → bound receivers. Every failure names its cause.
async fn start(
    config: Result<Config, config::ConfigError>,
    managed_instances: bool,
) -> Result<Components, StartupError> {
    let config = config.map_err(|e| StartupError {
        kind: "Extension.ConfigInvalid",
        message: e.to_string(),
    })?;
    tracing::debug!(origin = %config.origin, "config loaded");
    for w in &config.warnings {
        tracing::warn!("config: {w}");
    }
    // Every exporter and receiver used by a traces pipeline (one shared buffer for now).
    let mut exporter_ids: Vec<&str> = Vec::new();
    let mut receiver_ids: Vec<&str> = Vec::new();
    for (name, p) in &config.service.pipelines {
        if !(name == "traces" || name.starts_with("traces/")) {
            continue;
        }
        for e in &p.exporters {
            if !exporter_ids.contains(&e.as_str()) {
                exporter_ids.push(e);
            }
        }
        for r in &p.receivers {
            if !receiver_ids.contains(&r.as_str()) {
                receiver_ids.push(r);
            }
        }
    }
    let lambda = config.lambda();
    let buffer_bytes = lambda.max_buffered_mib.saturating_mul(1024 * 1024);
    let mut exporters = Vec::new();
    for id in exporter_ids {
        match config.exporters.get(id) {
            Some(ExporterConfig::AwsXray(c)) => exporters.push(Exporter::AwsXray(
                AwsXrayExporter::new(
                    id,
                    c.translate_config(),
                    XraySettings {
                        region: c.region.clone(),
                        endpoint: c.endpoint.clone(),
                        daemon_address: c
                            .daemon_address
                            .as_deref()
                            .and_then(|a| config::exporters::parse_daemon_address(a).ok()),
                        max_concurrent_calls: c.num_workers as usize,
                        request_timeout: Duration::from_secs(c.request_timeout_seconds),
                        max_pending_bytes: buffer_bytes,
                    },
                )
                .with_lambda_attachment(c.attach_to_lambda_segment),
            )),
            Some(ExporterConfig::Otlp(c)) => exporters.push(Exporter::Otlp(
                OtlpExporter::grpc(id, c, buffer_bytes).map_err(|e| otlp_error(id, e))?,
            )),
            Some(ExporterConfig::OtlpHttp(c)) => exporters.push(Exporter::Otlp(
                OtlpExporter::http(id, c, buffer_bytes).map_err(|e| otlp_error(id, e))?,
            )),
            Some(ExporterConfig::Debug(c)) => exporters.push(Exporter::Debug(
                DebugExporter::new(id, c.verbosity)
                    .with_sampling(c.sampling_initial, c.sampling_thereafter),
            )),
            None => {
                return Err(StartupError {
                    kind: "Extension.ConfigInvalid",
                    message: format!("exporter {id:?} is used by a pipeline but not defined"),
                })
            }
        }
    }
    // One buffer routed through every traces pipeline (receivers → processors → exporters).
    let pipeline = Pipeline::from_config(
        &config,
        BufferLimits {
            max_spans: lambda.max_buffered_spans,
            max_bytes: buffer_bytes,
        },
        exporters,
        total_memory_mib(|name| std::env::var(name).ok()),
    )
    .map_err(|e| StartupError {
        kind: "Extension.ConfigInvalid",
        message: e.to_string(),
    })?;
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    for id in receiver_ids {
        let Some(ReceiverConfig::Otlp(otlp)) = config.receivers.get(id) else {
            continue;
        };
        let otlp = &otlp.protocols;
        let bind_err = |e: receiver::ReceiverError, key: &str| StartupError {
            kind: "Extension.PortUnavailable",
            message: format!("{e} (change receivers.{id}.protocols.{key}.endpoint)"),
        };
        if let Some(g) = &otlp.grpc {
            let settings = receiver::GrpcSettings {
                endpoint: g.endpoint.clone(),
                max_recv_msg_size: g.max_recv_msg_size_bytes(),
            };
            let bound = receiver::bind_grpc(&settings).map_err(|e| bind_err(e, "grpc"))?;
            bound.serve(pipeline.for_receiver(id), shutdown_rx.clone());
        }
        if let Some(h) = &otlp.http {
            let settings = receiver::HttpSettings {
                endpoint: h.endpoint.clone(),
                max_request_body_size: h.max_request_body_size as usize,
                traces_url_path: h.traces_url_path.clone(),
            };
            let bound = receiver::bind_http(&settings).map_err(|e| bind_err(e, "http"))?;
            bound.serve(pipeline.for_receiver(id), shutdown_rx.clone());
        }
    }
    Ok(Components {
        pipeline,
        lifecycle: LifecycleSettings {
            strategy: lambda.flush,
            flush_timeout: lambda.flush_timeout,
            managed_instances,
        },
        shutdown,
    })
}
