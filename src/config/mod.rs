//! The collector config: OpenTelemetry Collector YAML, the subset otlp-xray implements.
//!
//! ```yaml
//! receivers:  { otlp: { protocols: { grpc: , http: } } }
//! processors: { batch: { timeout: 200ms } }
//! exporters:  { awsxray: { region: "${env:AWS_REGION}" } }
//! service:
//!   pipelines:
//!     traces: { receivers: [otlp], processors: [batch], exporters: [awsxray] }
//! ```
//!
//! Loading ([`load_from_env`], [`load_with`]):
//! 1. find the source: [`CONFIG_URI_ENV`] (a path or `file:` URI), else [`CONFIG_FILE_ENV`]
//!    (a path), else [`DEFAULT_CONFIG_PATH`] if it exists, else the embedded
//!    [`DEFAULT_CONFIG_YAML`]. A file named by a variable that does not exist is an error;
//!    other URI schemes (`s3:`, `https:`, `env:`, `yaml:`) are refused;
//! 2. parse the YAML (serde-saphyr) with budgets that refuse YAML bombs (nesting over 32
//!    levels, over 20,000 nodes, aliases replaying over 10,000 events), at most
//!    [`MAX_CONFIG_BYTES`];
//! 3. expand `${env:VAR}`, `${VAR}`, `${env:VAR:-default}` and `$$` in scalar *values*, after
//!    parsing (so references in comments are ignored and a variable's value cannot change the
//!    YAML structure); an unset variable without default is an error naming it and the key;
//!    a value that is exactly one reference is typed from the result (`${env:PORT}` → number);
//! 4. read each component by its type (`awsxray/prod` is an `awsxray` exporter), refusing
//!    unknown types and unknown keys;
//! 5. validate the pipelines.
//!
//! Every error is one line naming the file, the key path, the line and column, what was
//! expected and, for unknown keys and component types, what is supported — it is what the
//! function's author reads in the Lambda init error.
//!
//! What is supported: receivers `otlp` ([`receivers`]); processors `batch`, `decouple`
//! ([`processors`]); exporters `awsxray`, `debug`, `logging` ([`exporters`]); extensions
//! `health_check`, `pprof`, `zpages` (accepted, no effect); pipelines `traces[/name]` — and
//! `metrics`/`logs` pipelines, validated like the others and then ignored with a warning, so the
//! ADOT Lambda layer's default config (which has a metrics pipeline) loads unchanged.
//! Warnings are returned in [`Config::warnings`] for the caller to log once logging is set up.

pub mod duration;
mod error;
mod expand;
pub mod exporters;
pub mod extensions;
pub mod processors;
pub mod receivers;
pub mod service;
mod source;

mod de;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::de::DeserializeOwned;

use de::{closest, join, DeError};
use yaml::{Node, Value};

pub use duration::{parse_duration, DurationError};
pub use error::ConfigError;
pub use exporters::{
    AwsXrayExporterConfig, DebugExporterConfig, ExporterConfig, LoggingExporterConfig, Verbosity,
};
pub use processors::{BatchProcessorConfig, DecoupleProcessorConfig, ProcessorConfig};
pub use receivers::{
    CorsConfig, GrpcServerConfig, HttpServerConfig, OtlpProtocols, OtlpReceiverConfig,
    ReceiverConfig,
};
pub use service::{
    LogLevel, LogsTelemetry, PipelineConfig, ServiceConfig, Signal, TelemetryConfig,
};
pub use source::{CONFIG_FILE_ENV, CONFIG_URI_ENV, DEFAULT_CONFIG_PATH};

/// The default config, embedded in the binary: OTLP gRPC on `localhost:4317` and HTTP on
/// `localhost:4318` → `awsxray`, one traces pipeline. Used when no config file is named.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("../../config/default.yaml");

/// [`Config::origin`] of the embedded default config.
pub const EMBEDDED_ORIGIN: &str = "embedded default config";

/// Largest config accepted, in bytes (1 MiB).
pub const MAX_CONFIG_BYTES: usize = yaml::MAX_CONFIG_BYTES;

/// An untyped config value (settings accepted for compatibility but not interpreted, and
/// extension settings). Plain YAML scalars are typed by the YAML 1.2 core schema.
pub type RawValue = serde_json::Value;

pub use extensions::{ExtensionConfig, LambdaExtensionConfig, EXTENSION_TYPES};

/// The top-level keys of a config.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "receivers",
    "processors",
    "exporters",
    "extensions",
    "service",
];

/// A loaded, validated config.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Receivers by component id (`otlp`, `otlp/2`).
    pub receivers: BTreeMap<String, ReceiverConfig>,
    /// Processors by component id (`batch`, `batch/traces`).
    pub processors: BTreeMap<String, ProcessorConfig>,
    /// Exporters by component id (`awsxray`, `awsxray/prod`, `debug`).
    pub exporters: BTreeMap<String, ExporterConfig>,
    /// Extensions by component id (see [`EXTENSION_TYPES`]).
    pub extensions: BTreeMap<String, ExtensionConfig>,
    /// Pipelines, extensions to start, own telemetry.
    pub service: ServiceConfig,
    /// Where the config was loaded from (a path, or [`EMBEDDED_ORIGIN`]), for logs.
    pub origin: String,
    /// Things accepted but worth telling the author (ignored metrics pipelines, components that
    /// no traces pipeline uses, settings with no effect). One line each, for the caller to log.
    pub warnings: Vec<String>,
}

impl Config {
    /// The component type of an id: `awsxray/prod` → `awsxray`.
    pub fn component_type(id: &str) -> &str {
        id.split_once('/').map_or(id, |(t, _)| t)
    }

    /// The `lambda` extension's settings: the first `lambda[/name]` defined, else defaults.
    pub fn lambda(&self) -> LambdaExtensionConfig {
        self.extensions
            .iter()
            .find_map(|(id, e)| match e {
                ExtensionConfig::Lambda(l) if Self::component_type(id) == "lambda" => {
                    Some(l.clone())
                }
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The embedded default config ([`DEFAULT_CONFIG_YAML`]), parsed.
    pub fn embedded_default() -> Result<Config, ConfigError> {
        parse_str(DEFAULT_CONFIG_YAML, EMBEDDED_ORIGIN, |_| None)
    }
}

/// Loads the config from the process environment and [`DEFAULT_CONFIG_PATH`].
pub fn load_from_env() -> Result<Config, ConfigError> {
    load_with(
        |name| std::env::var(name).ok(),
        Path::new(DEFAULT_CONFIG_PATH),
    )
}

/// Loads the config with `env` as the environment (for both the source variables and
/// `${env:…}` expansion) and `default_path` in place of [`DEFAULT_CONFIG_PATH`].
pub fn load_with(
    env: impl Fn(&str) -> Option<String>,
    default_path: &Path,
) -> Result<Config, ConfigError> {
    match source::locate(&env, default_path)? {
        source::Source::File { path, var } => {
            let text = source::read(&path, var)?;
            parse_str(&text, &path.display().to_string(), env)
        }
        source::Source::Embedded => parse_str(DEFAULT_CONFIG_YAML, EMBEDDED_ORIGIN, env),
    }
}

/// Parses and validates a config. `origin` names it in errors and in [`Config::origin`]; `env`
/// resolves `${env:VAR}` references.
pub fn parse_str(
    yaml: &str,
    origin: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    if yaml.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            origin: origin.to_owned(),
            size: yaml.len() as u64,
            limit: MAX_CONFIG_BYTES,
        });
    }
    let yaml = yaml.strip_prefix('\u{feff}').unwrap_or(yaml);
    let mut root = yaml::parse(yaml).map_err(|e| ConfigError::Yaml {
        origin: origin.to_owned(),
        line: e.pos.is_known().then_some(e.pos.line),
        column: e.pos.is_known().then_some(e.pos.column),
        message: one_line(&e.message),
    })?;
    let invalid = |e: DeError| ConfigError::Invalid {
        origin: origin.to_owned(),
        key_path: one_line(&e.path.unwrap_or_default()),
        line: e.pos.is_known().then_some(e.pos.line),
        column: e.pos.is_known().then_some(e.pos.column),
        message: one_line(&e.message),
    };
    expand::expand_tree(&mut root, "", &env).map_err(invalid)?;
    let mut config = build(&root).map_err(invalid)?;
    config.origin = origin.to_owned();
    Ok(config)
}

/// Keeps a message on one line (values quoted in it may hold newlines).
fn one_line(s: &str) -> String {
    s.replace('\r', "\\r").replace('\n', "\\n")
}

/// A problem a component's `check` finds after deserializing: the key path relative to the
/// component (`["protocols", "grpc", "tls"]`) and the message.
pub(crate) type Problem = (Vec<&'static str>, String);

/// Deserializes one component and runs its checks, placing errors under `path`.
pub(crate) fn component<T: DeserializeOwned>(
    node: &Node,
    path: &str,
    check: impl FnOnce(&mut T) -> Result<(), Problem>,
) -> Result<T, DeError> {
    let mut cfg: T = de::from_node(node, path)?;
    check(&mut cfg).map_err(|(rel, message)| {
        let full = rel.iter().fold(path.to_owned(), |p, seg| join(&p, seg));
        DeError::at_path(&full, node.locate(&rel), message)
    })?;
    Ok(cfg)
}

/// What a config section holds, for messages.
struct Kind {
    section: &'static str,
    singular: &'static str,
    plural: &'static str,
    types: &'static [&'static str],
}

const RECEIVERS: Kind = Kind {
    section: "receivers",
    singular: "receiver",
    plural: "receivers",
    types: receivers::RECEIVER_TYPES,
};
const PROCESSORS: Kind = Kind {
    section: "processors",
    singular: "processor",
    plural: "processors",
    types: processors::PROCESSOR_TYPES,
};
const EXPORTERS: Kind = Kind {
    section: "exporters",
    singular: "exporter",
    plural: "exporters",
    types: exporters::EXPORTER_TYPES,
};
const EXTENSIONS: Kind = Kind {
    section: "extensions",
    singular: "extension",
    plural: "extensions",
    types: EXTENSION_TYPES,
};

fn build(root: &Node) -> Result<Config, DeError> {
    let entries = match &root.value {
        Value::Map(m) => m.as_slice(),
        Value::Null => {
            return Err(DeError::at_path(
                "",
                root.pos,
                "the config is empty; it needs at least `receivers`, `exporters` and \
                 `service.pipelines`",
            ))
        }
        _ => {
            return Err(DeError::at_path(
                "",
                root.pos,
                format!(
                    "expected a mapping with the keys {}, found {}",
                    TOP_LEVEL_KEYS.join(", "),
                    root.describe()
                ),
            ))
        }
    };
    for (k, v) in entries {
        match k.name.as_str() {
            name if TOP_LEVEL_KEYS.contains(&name) => {}
            "connectors" if v.as_map().is_none_or(|m| m.is_empty()) => {}
            "connectors" => {
                return Err(DeError::at_path(
                    "connectors",
                    k.pos,
                    "connectors are not supported by otlp-xray (it implements only some \
                     OpenTelemetry Collector components); remove the `connectors` section",
                ))
            }
            other => {
                return Err(DeError::at_path(
                    other,
                    k.pos,
                    de::unknown_key_message(other, TOP_LEVEL_KEYS),
                ))
            }
        }
    }

    let receivers = section(root, &RECEIVERS, receivers::build)?;
    let processors = section(root, &PROCESSORS, processors::build)?;
    let exporters = section(root, &EXPORTERS, exporters::build)?;
    let extensions = section(root, &EXTENSIONS, extensions::build)?;
    let service = match root.get("service") {
        Some((_, node)) => de::from_node::<ServiceConfig>(node, "service")?,
        None => {
            return Err(DeError::at_path(
                "service",
                root.pos,
                "the `service` section is missing; define service.pipelines with at least one \
                 traces pipeline",
            ))
        }
    };

    let mut config = Config {
        receivers,
        processors,
        exporters,
        extensions,
        service,
        origin: String::new(),
        warnings: Vec::new(),
    };
    validate(root, &mut config)?;
    Ok(config)
}

/// Reads one of `receivers`, `processors`, `exporters`, `extensions`: component id → config,
/// the config type chosen by the id's type. `build` returns `None` for an unsupported type.
fn section<T>(
    root: &Node,
    kind: &Kind,
    build: impl Fn(&str, &Node, &str) -> Option<Result<T, DeError>>,
) -> Result<BTreeMap<String, T>, DeError> {
    let mut out = BTreeMap::new();
    let Some((_, node)) = root.get(kind.section) else {
        return Ok(out);
    };
    let entries = match &node.value {
        Value::Null => return Ok(out),
        Value::Map(m) => m,
        _ => {
            return Err(DeError::at_path(
                kind.section,
                node.pos,
                format!(
                    "expected a mapping of {} by component id (e.g. `{}:`), found {}",
                    kind.plural,
                    kind.types[0],
                    node.describe()
                ),
            ))
        }
    };
    for (k, v) in entries {
        let path = join(kind.section, &k.name);
        let ty = component_type(&k.name).map_err(|m| DeError::at_path(&path, k.pos, m))?;
        match build(ty, v, &path) {
            Some(cfg) => {
                out.insert(k.name.clone(), cfg?);
            }
            None => {
                let mut msg = format!(
                    "{} type `{ty}` is not supported: otlp-xray implements only some \
                     OpenTelemetry Collector components",
                    kind.singular
                );
                if let Some(s) = closest(ty, kind.types.iter().copied()) {
                    msg.push_str(&format!(" (did you mean `{s}`?)"));
                }
                msg.push_str(&format!(
                    "; supported {}: {}",
                    kind.plural,
                    kind.types.join(", ")
                ));
                return Err(DeError::at_path(&path, k.pos, msg));
            }
        }
    }
    Ok(out)
}

/// The type part of a component id (`type[/name]`), checked as the collector does.
fn component_type(id: &str) -> Result<&str, String> {
    let (ty, name) = match id.split_once('/') {
        Some((t, n)) => (t, Some(n)),
        None => (id, None),
    };
    let type_ok = ty.len() <= 63
        && ty.starts_with(|c: char| c.is_ascii_alphabetic())
        && ty.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let name_ok = name.is_none_or(|n| {
        !n.is_empty() && !n.contains('/') && !n.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if type_ok && name_ok {
        Ok(ty)
    } else {
        Err(format!(
            "invalid component id `{id}`: write `type` or `type/name`, e.g. `otlp` or `otlp/2`"
        ))
    }
}

/// Cross-checks: pipelines name defined components, at least one traces pipeline, no two
/// receivers on one endpoint. Collects warnings.
fn validate(root: &Node, cfg: &mut Config) -> Result<(), DeError> {
    let at = |segments: &[&str]| root.locate(segments);
    let mut warnings = Vec::new();

    for kind in [&RECEIVERS, &EXPORTERS] {
        let empty = match kind.section {
            "receivers" => cfg.receivers.is_empty(),
            _ => cfg.exporters.is_empty(),
        };
        if empty {
            return Err(DeError::at_path(
                kind.section,
                at(&[kind.section]),
                format!(
                    "no {} are defined; define at least one (supported: {})",
                    kind.plural,
                    kind.types.join(", ")
                ),
            ));
        }
    }

    for (i, id) in cfg.service.extensions.iter().enumerate() {
        let index = i.to_string();
        let segments = ["service", "extensions", index.as_str()];
        check_ref(id, &cfg.extensions, &EXTENSIONS, &segments, at(&segments))?;
        warnings.push(format!(
            "extension `{id}` is accepted but has no effect in otlp-xray"
        ));
    }

    if cfg.service.pipelines.is_empty() {
        return Err(DeError::at_path(
            "service.pipelines",
            at(&["service", "pipelines"]),
            "no pipelines are defined; otlp-xray needs at least one traces pipeline \
             (service.pipelines.traces)",
        ));
    }

    let mut used: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (id, p) in &cfg.service.pipelines {
        let path = format!("service.pipelines.{id}");
        let key_pos = at(&["service", "pipelines", id]);
        let signal = match (Signal::of_pipeline(id), component_type(id)) {
            (Some(s), Ok(_)) => s,
            (Some(_), Err(_)) => {
                return Err(DeError::at_path(
                    &path,
                    key_pos,
                    format!(
                        "invalid pipeline id `{id}`: write `traces` or `traces/name`, e.g. \
                         `traces/xray`"
                    ),
                ))
            }
            (None, _) => {
                let ty = Config::component_type(id);
                let mut msg = format!("unknown pipeline type `{ty}`");
                if let Some(s) = closest(ty, service::PIPELINE_TYPES.iter().copied()) {
                    msg.push_str(&format!(" (did you mean `{s}`?)"));
                }
                msg.push_str(
                    "; a pipeline id is `traces`, `metrics` or `logs`, optionally followed by \
                     `/name` (e.g. `traces/xray`)",
                );
                return Err(DeError::at_path(&path, key_pos, msg));
            }
        };
        for (field, list) in [("receivers", &p.receivers), ("exporters", &p.exporters)] {
            if list.is_empty() {
                return Err(DeError::at_path(
                    &join(&path, field),
                    at(&["service", "pipelines", id, field]),
                    format!("pipeline `{id}` has no {field}; list at least one"),
                ));
            }
        }
        let lists: [(&str, &Vec<String>, &Kind); 3] = [
            ("receivers", &p.receivers, &RECEIVERS),
            ("processors", &p.processors, &PROCESSORS),
            ("exporters", &p.exporters, &EXPORTERS),
        ];
        for (field, list, kind) in lists {
            let mut seen = BTreeSet::new();
            for (i, ref_id) in list.iter().enumerate() {
                let index = i.to_string();
                let segments = ["service", "pipelines", id.as_str(), field, index.as_str()];
                let pos = at(&segments);
                let defined = match field {
                    "receivers" => cfg.receivers.contains_key(ref_id),
                    "processors" => cfg.processors.contains_key(ref_id),
                    _ => cfg.exporters.contains_key(ref_id),
                };
                if !defined {
                    let ids: Vec<&str> = match field {
                        "receivers" => cfg.receivers.keys().map(String::as_str).collect(),
                        "processors" => cfg.processors.keys().map(String::as_str).collect(),
                        _ => cfg.exporters.keys().map(String::as_str).collect(),
                    };
                    return Err(undefined_ref(ref_id, &ids, kind, &segments, pos));
                }
                if !seen.insert(ref_id) {
                    return Err(DeError::at_path(
                        &path_of(&segments),
                        pos,
                        format!(
                            "pipeline `{id}` lists the {} `{ref_id}` twice",
                            kind.singular
                        ),
                    ));
                }
                if signal == Signal::Traces {
                    used.insert((kind.section, ref_id.as_str()));
                }
            }
        }
        if signal != Signal::Traces {
            warnings.push(format!(
                "pipeline `{id}` is accepted but ignored: otlp-xray handles traces only"
            ));
        }
    }
    if cfg.service.traces_pipelines().next().is_none() {
        return Err(DeError::at_path(
            "service.pipelines",
            at(&["service", "pipelines"]),
            "no traces pipeline: otlp-xray exports traces only; add one, e.g. \
             `traces: { receivers: [otlp], exporters: [awsxray] }`",
        ));
    }

    // Receivers actually started must not fight over an endpoint (same text; port 0 aside).
    let mut endpoints: BTreeMap<&str, String> = BTreeMap::new();
    for (id, r) in &cfg.receivers {
        if !used.contains(&("receivers", id.as_str())) {
            continue;
        }
        let ReceiverConfig::Otlp(otlp) = r;
        let listeners = [
            otlp.protocols
                .grpc
                .as_ref()
                .map(|g| (g.endpoint.as_str(), "grpc")),
            otlp.protocols
                .http
                .as_ref()
                .map(|h| (h.endpoint.as_str(), "http")),
        ];
        for (endpoint, protocol) in listeners.into_iter().flatten() {
            if endpoint.ends_with(":0") {
                continue; // port 0: each listener gets its own free port
            }
            let this = format!("{id} ({protocol})");
            if let Some(other) = endpoints.insert(endpoint, this.clone()) {
                let segments = ["receivers", id.as_str(), "protocols", protocol, "endpoint"];
                return Err(DeError::at_path(
                    &path_of(&segments),
                    at(&segments),
                    format!(
                        "receivers {other} and {this} both listen on `{endpoint}`; give each a \
                         different endpoint"
                    ),
                ));
            }
        }
    }

    let sections: [(&Kind, Vec<&String>); 3] = [
        (&RECEIVERS, cfg.receivers.keys().collect()),
        (&PROCESSORS, cfg.processors.keys().collect()),
        (&EXPORTERS, cfg.exporters.keys().collect()),
    ];
    for (kind, ids) in sections {
        for id in ids {
            if !used.contains(&(kind.section, id.as_str())) {
                warnings.push(format!(
                    "{} `{id}` is defined but no traces pipeline uses it; it is not started",
                    kind.singular
                ));
            }
        }
    }
    cfg.warnings = warnings;
    Ok(())
}

fn check_ref<T>(
    id: &str,
    defined: &BTreeMap<String, T>,
    kind: &Kind,
    segments: &[&str],
    pos: yaml::Pos,
) -> Result<(), DeError> {
    if defined.contains_key(id) {
        return Ok(());
    }
    let ids: Vec<&str> = defined.keys().map(String::as_str).collect();
    Err(undefined_ref(id, &ids, kind, segments, pos))
}

fn undefined_ref(
    id: &str,
    ids: &[&str],
    kind: &Kind,
    segments: &[&str],
    pos: yaml::Pos,
) -> DeError {
    let mut msg = format!(
        "{} `{id}` is not defined under `{}`",
        kind.singular, kind.section
    );
    if let Some(s) = closest(id, ids.iter().copied()) {
        msg.push_str(&format!(" (did you mean `{s}`?)"));
    }
    if ids.is_empty() {
        msg.push_str(&format!("; no {} are defined", kind.plural));
    } else {
        msg.push_str(&format!("; defined {}: {}", kind.plural, ids.join(", ")));
    }
    DeError::at_path(&path_of(segments), pos, msg)
}

/// `service.pipelines.traces.exporters[0]` from its segments.
fn path_of(segments: &[&str]) -> String {
    segments.iter().fold(String::new(), |p, seg| {
        if seg.parse::<usize>().is_ok() {
            format!("{p}[{seg}]")
        } else {
            join(&p, seg)
        }
    })
}

#[cfg(test)]
mod tests;
