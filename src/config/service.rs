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
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "error" | "dpanic" | "panic" | "fatal" => Ok(LogLevel::Error),
            _ => Err(serde::de::Error::unknown_variant(
                &s,
                &["debug", "info", "warn", "error"],
            )),
        }
    }
}
