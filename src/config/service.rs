//! `service`: pipelines, the extensions to start, and the collector's own telemetry.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::RawValue;

/// `service`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Extension ids to start, each defined under the top-level `extensions`.
    pub extensions: Vec<String>,
    /// Pipelines by id: `traces`, `traces/<name>`, `metrics[/<name>]`, `logs[/<name>]`. Only
    /// traces pipelines carry data in otlp-xray; metrics and logs pipelines are validated and
    /// then ignored, with a warning (so the ADOT layer's default config loads).
    pub pipelines: BTreeMap<String, PipelineConfig>,
    /// The collector's own telemetry.
    pub telemetry: TelemetryConfig,
}

impl ServiceConfig {
    /// The traces pipelines, by id, in id order: the only ones that carry data.
    pub fn traces_pipelines(&self) -> impl Iterator<Item = (&str, &PipelineConfig)> {
        self.pipelines
            .iter()
            .filter(|(id, _)| Signal::of_pipeline(id) == Some(Signal::Traces))
            .map(|(id, p)| (id.as_str(), p))
    }
}

/// `service.pipelines.<id>`: component ids, in order.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Receiver ids feeding the pipeline. At least one.
    pub receivers: Vec<String>,
    /// Processor ids, applied in order. May be empty.
    pub processors: Vec<String>,
    /// Exporter ids, all fed the same data. At least one.
    pub exporters: Vec<String>,
}

/// The signal a pipeline carries, from the type part of its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `traces`: handled.
    Traces,
    /// `metrics`: accepted and ignored.
    Metrics,
    /// `logs`: accepted and ignored.
    Logs,
}

/// The pipeline types the collector defines (profiles are not accepted).
pub const PIPELINE_TYPES: &[&str] = &["traces", "metrics", "logs"];

impl Signal {
    /// The signal of a pipeline id (`traces/2` → traces), `None` for an unknown type.
    pub fn of_pipeline(id: &str) -> Option<Signal> {
        match id.split_once('/').map_or(id, |(t, _)| t) {
            "traces" => Some(Signal::Traces),
            "metrics" => Some(Signal::Metrics),
            "logs" => Some(Signal::Logs),
            _ => None,
        }
    }
}

/// `service.telemetry`: only `logs.level` has an effect (the level of otlp-xray's own logs);
/// the rest is accepted so collector configs load.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `service.telemetry.logs`.
    pub logs: LogsTelemetry,
    /// `service.telemetry.metrics` (`address`, `level`, `readers`). Accepted; no effect.
    pub metrics: Option<RawValue>,
    /// `service.telemetry.traces`. Accepted; no effect.
    pub traces: Option<RawValue>,
    /// `service.telemetry.resource`. Accepted; no effect.
    pub resource: Option<RawValue>,
}

/// `service.telemetry.logs`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsTelemetry {
    /// Level of otlp-xray's own logs. Default `info`.
    pub level: LogLevel,
    /// Collector key (`console`/`json`). Accepted; no effect.
    pub encoding: Option<String>,
    /// Collector key. Accepted; no effect.
    pub development: Option<bool>,
    /// Collector key. Accepted; no effect.
    pub disable_caller: Option<bool>,
    /// Collector key. Accepted; no effect.
    pub disable_stacktrace: Option<bool>,
    /// Collector key. Accepted; no effect.
    pub sampling: Option<RawValue>,
    /// Collector key. Accepted; no effect (logs go to stdout).
    pub output_paths: Option<RawValue>,
    /// Collector key. Accepted; no effect.
    pub error_output_paths: Option<RawValue>,
    /// Collector key. Accepted; no effect.
    pub initial_fields: Option<RawValue>,
    /// Collector key. Accepted; no effect.
    pub processors: Option<RawValue>,
}

/// Level of otlp-xray's own logs (`service.telemetry.logs.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    /// `debug`.
    Debug,
    /// `info`, the default.
    #[default]
    Info,
    /// `warn`.
    Warn,
    /// `error` (also the collector's `dpanic`, `panic`, `fatal`).
    Error,
}

impl LogLevel {
    /// A level as the collector (zap) names it: `debug`, `info`, `warn` (`warning`), `error`,
    /// and `dpanic`, `panic`, `fatal` as `error`; any case. `None` for anything else.
    pub fn parse(s: &str) -> Option<LogLevel> {
        match s.trim().to_ascii_lowercase().as_str() {
            "debug" => Some(LogLevel::Debug),
            "info" => Some(LogLevel::Info),
            "warn" | "warning" => Some(LogLevel::Warn),
            "error" | "dpanic" | "panic" | "fatal" => Some(LogLevel::Error),
            _ => None,
        }
    }

    /// The `tracing-subscriber` filter directive: `debug`, `info`, `warn` or `error`.
    pub fn directive(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// The `tracing` level with the same meaning.
    pub fn as_tracing(self) -> tracing::Level {
        match self {
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        }
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    /// `debug`, `info`, `warn`, `error` (and `dpanic`, `panic`, `fatal` as `error`), any case.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LogLevel::parse(&s).ok_or_else(|| {
            serde::de::Error::unknown_variant(&s, &["debug", "info", "warn", "error"])
        })
    }
}

/// The upstream Lambda layer's variable for the extension's own log level.
pub const EXTENSION_LOG_LEVEL_ENV: &str = "OPENTELEMETRY_EXTENSION_LOG_LEVEL";

/// Where otlp-xray's log filter came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// [`EXTENSION_LOG_LEVEL_ENV`].
    ExtensionEnv,
    /// `RUST_LOG`.
    RustLog,
    /// `service.telemetry.logs.level`, or its default `info`.
    Config,
}

/// The log filter that applies, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChoice {
    /// A `tracing-subscriber` `EnvFilter` directive (`info`, `otlp_xray=debug,warn`).
    pub directive: String,
    /// Where it came from.
    pub source: LogSource,
    /// A variable that was set but not understood, for the caller to log once logging works.
    pub warning: Option<String>,
}

/// Chooses otlp-xray's own log filter. Precedence, first usable wins:
///
/// 1. [`EXTENSION_LOG_LEVEL_ENV`] (the upstream layer's variable): a level name as the collector
///    writes it (`debug`, `info`, `warn`, `error`, also `trace`, `off`, and zap's `dpanic`,
///    `panic`, `fatal` = `error`), or `EnvFilter` directive syntax;
/// 2. `RUST_LOG`: `EnvFilter` directive syntax (a developer override);
/// 3. `config` (`service.telemetry.logs.level`; `info` before the config is read).
///
/// A variable that is set but unusable is skipped with a warning (the upstream layer falls back
/// to `info` the same way). Levels apply to every crate, as `RUST_LOG=debug` would.
pub fn log_filter(
    extension_env: Option<&str>,
    rust_log: Option<&str>,
    config: LogLevel,
) -> LogChoice {
    let mut warning = None;
    let candidates = [
        (
            extension_env,
            LogSource::ExtensionEnv,
            EXTENSION_LOG_LEVEL_ENV,
        ),
        (rust_log, LogSource::RustLog, "RUST_LOG"),
    ];
    for (value, source, var) in candidates {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            continue;
        };
        let parses = |d: &str| tracing_subscriber::EnvFilter::try_new(d).is_ok();
        let lower = value.to_ascii_lowercase();
        let directive = match (source, LogLevel::parse(value)) {
            (LogSource::ExtensionEnv, Some(level)) => Some(level.directive().to_owned()),
            (LogSource::ExtensionEnv, None) if lower == "trace" || lower == "off" => Some(lower),
            // Filter syntax (`otlp_xray=debug,warn`); a bare word would be a target name.
            (LogSource::ExtensionEnv, None) => {
                (value.contains('=') && parses(value)).then(|| value.to_owned())
            }
            (_, _) => parses(value).then(|| value.to_owned()),
        };
        if let Some(directive) = directive {
            return LogChoice {
                directive,
                source,
                warning,
            };
        }
        warning.get_or_insert(format!(
            "{var}=`{value}` is not a log level (debug, info, warn, error) or filter; ignored"
        ));
    }
    LogChoice {
        directive: config.directive().to_owned(),
        source: LogSource::Config,
        warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filter_precedence() {
        let c = |e: Option<&str>, r: Option<&str>, l| {
            let x = log_filter(e, r, l);
            (x.directive, x.source)
        };
        use LogLevel::*;
        use LogSource::*;
        assert_eq!(c(None, None, Info), ("info".into(), Config));
        assert_eq!(c(None, None, Debug), ("debug".into(), Config));
        assert_eq!(
            c(Some("WARN"), Some("trace"), Debug),
            ("warn".into(), ExtensionEnv)
        );
        assert_eq!(
            c(Some("fatal"), None, Debug),
            ("error".into(), ExtensionEnv)
        );
        assert_eq!(c(Some("trace"), None, Info), ("trace".into(), ExtensionEnv));
        assert_eq!(
            c(None, Some("otlp_xray=debug,warn"), Error),
            ("otlp_xray=debug,warn".into(), RustLog)
        );
        assert_eq!(c(Some(" "), None, Warn), ("warn".into(), Config));
        let x = log_filter(Some("loud"), None, Error);
        assert_eq!((x.directive.as_str(), x.source), ("error", Config));
        let w = x.warning.unwrap();
        assert!(
            w.contains("OPENTELEMETRY_EXTENSION_LOG_LEVEL=`loud`"),
            "{w}"
        );
        let x = log_filter(Some("loud"), Some("debug"), Error);
        assert_eq!((x.directive.as_str(), x.source), ("debug", RustLog));
        assert!(x.warning.is_some());
    }
}
