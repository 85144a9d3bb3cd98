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
//! Loading ([`load_from_env`], [`load_with`], [`resolve`]):
//! 1. find the sources (`source`): [`CONFIG_URI_ENV`], else [`CONFIG_FILE_ENV`], else
//!    [`DEFAULT_CONFIG_PATH`] if it exists, else the embedded [`DEFAULT_CONFIG_YAML`]. A
//!    variable holds one or several config URIs: paths, `file:`, `env:`, `yaml:`, `http(s):`,
//!    `s3:`; remote ones are fetched within `fetch::FETCH_TIMEOUT`;
//! 2. parse each source's YAML (serde-saphyr) with budgets that refuse YAML bombs (nesting
//!    over 32 levels, over 20,000 nodes, aliases replaying over 10,000 events), at most
//!    [`MAX_CONFIG_BYTES`] each;
//! 3. nest `a::b` keys and merge the sources in order, as the collector's resolver does
//!    (`merge`);
//! 4. expand `${env:VAR}`, `${VAR}`, `${env:VAR:-default}` and `$$` in scalar *values*
//!    (`expand`); an unset variable without default is an error naming it and the key; a value
//!    that is exactly one reference is typed from the result (`${env:PORT}` → number);
//! 5. read each component by its type (`awsxray/prod` is an `awsxray` exporter), refusing
//!    unknown types and unknown keys;
//! 6. validate the pipelines.
//!
//! Every error found is reported, not just the first: each is one line naming the source, the
//! key path, the line and column, what was expected and, for unknown keys and component types,
//! what is supported — it is what the function's author reads in the Lambda init error and in
//! `otlp-xray validate`. Several errors come as [`ConfigError::Multiple`].
//!
//! What is supported: receivers `otlp` ([`receivers`]); processors ([`processors`]);
//! exporters ([`exporters`]); extensions `lambda`, `sigv4auth`, and `health_check`,
//! `healthcheckv2`, `pprof`, `zpages` (accepted, no effect) ([`extensions`]); pipelines
//! `traces[/name]` — and `metrics`/`logs` pipelines, validated like the others and then
//! ignored with a warning, so the ADOT Lambda layer's default config (which has a metrics
//! pipeline) loads unchanged.
//!
//! A component type that exists in the OpenTelemetry Collector (core, contrib, or the Lambda
//! layers) but not in otlp-xray (`tail_sampling`, `kafka`, `jaeger`…) is an error naming the
//! component, its line and what otlp-xray supports when a traces pipeline uses it (or, for an
//! extension, when `service.extensions` starts it). Defined but used only by ignored
//! metrics/logs pipelines, or not at all, it is accepted with a warning: those configs'
//! traces still flow. A type the collector does not have either is always an error.
//! Warnings are returned in [`Config::warnings`] for the caller to log once logging is set up.

pub mod cli;
pub mod duration;
mod error;
mod expand;
pub mod exporters;
pub mod extensions;
mod fetch;
mod known;
mod merge;
pub mod processors;
pub mod receivers;
mod render;
pub mod service;
mod source;

mod de;
mod yaml;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use serde::de::DeserializeOwned;

use de::{closest, join, DeError};
use yaml::{Node, Pos, Value};

pub use duration::{parse_duration, DurationError};
pub use error::ConfigError;
pub use exporters::{
    AwsXrayExporterConfig, DebugExporterConfig, ExporterConfig, LoggingExporterConfig, Verbosity,
};
pub use fetch::FETCH_TIMEOUT;
pub use processors::{BatchProcessorConfig, DecoupleProcessorConfig, ProcessorConfig};
pub use receivers::{
    CorsConfig, GrpcServerConfig, HttpServerConfig, OtlpProtocols, OtlpReceiverConfig,
    ReceiverConfig,
};
pub use service::{
    LogLevel, LogsTelemetry, PipelineConfig, ServiceConfig, Signal, TelemetryConfig,
    EXTENSION_LOG_LEVEL_ENV,
};
pub use source::{CONFIG_FILE_ENV, CONFIG_URI_ENV, DEFAULT_CONFIG_PATH};

/// The default config, embedded in the binary: OTLP gRPC on `localhost:4317` and HTTP on
/// `localhost:4318` → `awsxray`, one traces pipeline. Used when no config file is named.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("../../config/default.yaml");

/// [`Config::origin`] of the embedded default config.
pub const EMBEDDED_ORIGIN: &str = "embedded default config";

/// Largest config accepted, in bytes (1 MiB), per source.
pub const MAX_CONFIG_BYTES: usize = yaml::MAX_CONFIG_BYTES;

/// Most errors reported for one component (each found by dropping the offending key and
/// reading the component again).
const MAX_ERRORS_PER_COMPONENT: usize = 16;

/// An untyped config value (settings accepted for compatibility but not interpreted, and
/// extension settings). Plain YAML scalars are typed by the YAML 1.2 core schema.
pub type RawValue = serde_json::Value;

pub use extensions::{ExtensionConfig, LambdaExtensionConfig, SigV4AuthConfig, EXTENSION_TYPES};

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
    /// Where the config was loaded from: a path, a URI, several joined by ` + `, or
    /// [`EMBEDDED_ORIGIN`]; for logs.
    pub origin: String,
    /// Things accepted but worth telling the author (ignored metrics pipelines, components that
    /// no traces pipeline uses, settings with no effect, the older config variable). One line
    /// each, for the caller to log.
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

/// A config with the merged, expanded YAML it was built from: what `otlp-xray validate`
/// prints.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The config.
    pub config: Config,
    tree: Node,
}

impl Resolved {
    /// The merged, expanded config as YAML, secrets masked (`render`): every value of a
    /// `headers` mapping, values under keys naming a token, password, secret, API key or
    /// authorization, passwords in URLs, and values expanded from variables whose names look
    /// secret. Key order is the config's.
    pub fn to_yaml(&self) -> String {
        render::to_yaml(&self.tree)
    }

    /// The same as JSON (scalars typed by the YAML 1.2 core schema), secrets masked.
    pub fn to_json(&self) -> String {
        render::to_json(&self.tree)
    }
}

/// Loads the config from the process environment and [`DEFAULT_CONFIG_PATH`].
pub async fn load_from_env() -> Result<Config, ConfigError> {
    load_with(
        |name| std::env::var(name).ok(),
        Path::new(DEFAULT_CONFIG_PATH),
    )
    .await
}

/// Loads the config with `env` as the environment (for the source variables, `env:` URIs,
/// `AWS_ENDPOINT_URL_S3` and `${env:…}` expansion) and `default_path` in place of
/// [`DEFAULT_CONFIG_PATH`]. Only `http(s):` and `s3:` sources await anything.
pub async fn load_with(
    env: impl Fn(&str) -> Option<String>,
    default_path: &Path,
) -> Result<Config, ConfigError> {
    resolve(env, default_path, &[]).await.map(|r| r.config)
}

/// Like [`load_with`], and keeps the merged, expanded tree. `uris`, when not empty, are the
/// config URIs to use instead of the environment's (`otlp-xray validate --config URI…`); each
/// may itself hold several, comma-separated.
pub async fn resolve(
    env: impl Fn(&str) -> Option<String>,
    default_path: &Path,
    uris: &[String],
) -> Result<Resolved, ConfigError> {
    let (sources, notes) = match source::plan(&env, default_path, uris)? {
        source::Plan::Embedded => (
            vec![(EMBEDDED_ORIGIN.to_owned(), DEFAULT_CONFIG_YAML.to_owned())],
            Vec::new(),
        ),
        source::Plan::Uris { uris, var, notes } => {
            let mut sources = Vec::with_capacity(uris.len());
            let mut errors = Vec::new();
            for uri in &uris {
                let text = if uri.is_remote() {
                    fetch::fetch(uri, &env).await
                } else {
                    source::read_local(uri, var, &env)
                };
                match text {
                    Ok(t) => sources.push((uri.label(), t)),
                    Err(e) => errors.push(e),
                }
            }
            if !errors.is_empty() {
                return Err(ConfigError::from_many(errors));
            }
            (sources, notes)
        }
    };
    let mut resolved = assemble(&sources, &env)?;
    resolved.config.warnings.splice(0..0, notes);
    Ok(resolved)
}

/// Parses and validates a config held in memory. `origin` names it in errors and in
/// [`Config::origin`]; `env` resolves `${env:VAR}` references.
pub fn parse_str(
    yaml: &str,
    origin: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    assemble(&[(origin.to_owned(), yaml.to_owned())], &env).map(|r| r.config)
}

/// Keeps a message on one line (values quoted in it may hold newlines).
fn one_line(s: &str) -> String {
    s.replace('\r', "\\r").replace('\n', "\\n")
}

/// Sources `(origin, text)`, in merge order → the config. Reports every error found.
fn assemble(
    sources: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, ConfigError> {
    let mut errors = Vec::new();
    let mut root: Option<Node> = None;
    for (i, (origin, text)) in sources.iter().enumerate() {
        if text.len() > MAX_CONFIG_BYTES {
            errors.push(ConfigError::TooLarge {
                origin: origin.clone(),
                size: text.len() as u64,
                limit: MAX_CONFIG_BYTES,
            });
            continue;
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let index = u16::try_from(i).unwrap_or(u16::MAX);
        match yaml::parse(text, index) {
            Ok(mut node) => {
                merge::split_keys(&mut node);
                if let Some(r) = root.as_mut() {
                    // An empty source adds nothing (the collector reads it as an empty map).
                    if node.value == Value::Null {
                        continue;
                    }
                    if r.value == Value::Null {
                        *r = node;
                    } else {
                        merge::merge(r, node);
                    }
                } else {
                    root = Some(node);
                }
            }
            Err(e) => errors.push(ConfigError::Yaml {
                origin: origin.clone(),
                line: e.pos.is_known().then_some(e.pos.line),
                column: e.pos.is_known().then_some(e.pos.column),
                message: one_line(&e.message),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigError::from_many(errors));
    }
    let mut root = root.unwrap_or(Node {
        value: Value::Null,
        pos: Pos::default(),
    });
    let origin_of = |pos: Pos| {
        sources
            .get(usize::from(pos.source))
            .map_or_else(String::new, |(o, _)| o.clone())
    };

    let mut expand_errors = Vec::new();
    expand::expand_tree(&mut root, "", env, &mut expand_errors);
    let mut skip: HashSet<Pos> = expand_errors
        .iter()
        .filter(|e| e.pos.is_known())
        .map(|e| e.pos)
        .collect();
    // Checks report a bad value at its key: skip those too.
    let mut keys = Vec::new();
    keys_of_values(&root, &skip, &mut keys);
    skip.extend(keys);
    let mut cx = Ctx {
        skip,
        errors: expand_errors,
    };
    let config = build(&root, &mut cx);
    if !cx.errors.is_empty() {
        let mut all = cx.errors;
        // In the order of the text: source, line, column (unknown positions last).
        all.sort_by_key(|e| (e.pos.source, !e.pos.is_known(), e.pos.line, e.pos.column));
        let errors = all
            .into_iter()
            .map(|e| ConfigError::Invalid {
                origin: origin_of(e.pos),
                key_path: one_line(&e.path.unwrap_or_default()),
                line: e.pos.is_known().then_some(e.pos.line),
                column: e.pos.is_known().then_some(e.pos.column),
                message: one_line(&e.message),
            })
            .collect();
        return Err(ConfigError::from_many(errors));
    }
    let Some(mut config) = config else {
        return Err(ConfigError::from_many(Vec::new()));
    };
    config.origin = sources
        .iter()
        .map(|(o, _)| o.as_str())
        .collect::<Vec<_>>()
        .join(" + ");
    Ok(Resolved { config, tree: root })
}

/// The positions of the keys whose values are at one of `positions`.
fn keys_of_values(node: &Node, positions: &HashSet<Pos>, out: &mut Vec<Pos>) {
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                if positions.contains(&v.pos) {
                    out.push(k.pos);
                }
                keys_of_values(v, positions, out);
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| keys_of_values(i, positions, out)),
        _ => {}
    }
}

/// The component ids written under a section (whether they could be read or not).
fn written_ids<'a>(root: &'a Node, section: &str) -> Vec<&'a str> {
    root.get(section)
        .and_then(|(_, n)| n.as_map())
        .unwrap_or_default()
        .iter()
        .map(|(k, _)| k.name.as_str())
        .collect()
}

/// Errors found so far. Errors at the position of a failed `${…}` are dropped (the reference
/// was already reported).
struct Ctx {
    errors: Vec<DeError>,
    skip: HashSet<Pos>,
}

impl Ctx {
    fn push(&mut self, e: DeError) {
        if e.pos.is_known() && self.skip.contains(&e.pos) {
            return;
        }
        if !self.errors.contains(&e) {
            self.errors.push(e);
        }
    }
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

/// Reports `first` and then every further error of a component: the entry the last error
/// points at is removed from a copy of the component and the component is read again, until it
/// reads cleanly, the error cannot be located, or [`MAX_ERRORS_PER_COMPONENT`] were found.
fn report_all(
    node: &Node,
    first: DeError,
    cx: &mut Ctx,
    read: impl Fn(&Node) -> Result<(), DeError>,
) {
    let mut scratch = node.clone();
    let mut last = first.clone();
    cx.push(first);
    for _ in 1..MAX_ERRORS_PER_COMPONENT {
        if !last.pos.is_known() {
            return;
        }
        let Some(removed) = remove_at(&mut scratch, last.pos) else {
            return;
        };
        match read(&scratch) {
            Ok(()) => return,
            Err(e) if e == last => return,
            // Caused by the removal itself, not by the config.
            Err(e)
                if e.message
                    .starts_with(&format!("missing required key `{removed}`")) =>
            {
                return
            }
            Err(e) => {
                cx.push(e.clone());
                last = e;
            }
        }
    }
}

/// Removes the innermost mapping entry at `pos` (its key or value is there, or its value
/// contains the node there). The removed key's name, if one was removed.
fn remove_at(node: &mut Node, pos: Pos) -> Option<String> {
    fn contains(node: &Node, pos: Pos) -> bool {
        node.pos == pos
            || match &node.value {
                Value::Seq(items) => items.iter().any(|i| contains(i, pos)),
                Value::Map(entries) => entries
                    .iter()
                    .any(|(k, v)| k.pos == pos || contains(v, pos)),
                _ => false,
            }
    }
    match &mut node.value {
        Value::Map(entries) => {
            if let Some(name) = entries.iter_mut().find_map(|(_, v)| remove_at(v, pos)) {
                return Some(name);
            }
            let i = entries
                .iter()
                .position(|(k, v)| k.pos == pos || contains(v, pos))?;
            Some(entries.remove(i).0.name)
        }
        Value::Seq(items) => items.iter_mut().find_map(|i| remove_at(i, pos)),
        _ => None,
    }
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

/// A component whose type exists in the OpenTelemetry Collector but not in otlp-xray.
struct Unsupported {
    kind: &'static Kind,
    id: String,
    ty: String,
    pos: Pos,
}

impl Unsupported {
    /// "exporter `kafka` exists in the OpenTelemetry Collector but not in otlp-xray".
    fn what(&self) -> String {
        format!(
            "{} `{}` exists in the OpenTelemetry Collector but not in otlp-xray",
            self.kind.singular, self.ty
        )
    }

    /// The error when something uses it: what, who uses it, what to do, what is supported.
    fn error(&self, uses: &[String]) -> String {
        let mut msg = format!("{}, and {}", self.what(), uses.join(" and "));
        if let Some(h) = known::hint(self.kind.section, &self.ty) {
            msg.push_str(&format!("; {h}"));
        }
        msg.push_str(&format!(
            "; supported {}: {}",
            self.kind.plural,
            self.kind.types.join(", ")
        ));
        msg
    }
}

/// What the sections hold besides the components read: ids that failed to read (so pipeline
/// references to them are not reported again) and unsupported collector components.
#[derive(Default)]
struct Others {
    failed: BTreeSet<(&'static str, String)>,
    unsupported: Vec<Unsupported>,
}

impl Others {
    fn knows(&self, section: &str, id: &str) -> bool {
        self.failed.iter().any(|(s, i)| *s == section && i == id)
            || self
                .unsupported
                .iter()
                .any(|u| u.kind.section == section && u.id == id)
    }
}

fn build(root: &Node, cx: &mut Ctx) -> Option<Config> {
    let entries = match &root.value {
        Value::Map(m) => m.as_slice(),
        Value::Null => {
            cx.push(DeError::at_path(
                "",
                root.pos,
                "the config is empty; it needs at least `receivers`, `exporters` and \
                 `service.pipelines`",
            ));
            return None;
        }
        _ => {
            cx.push(DeError::at_path(
                "",
                root.pos,
                format!(
                    "expected a mapping with the keys {}, found {}",
                    TOP_LEVEL_KEYS.join(", "),
                    root.describe()
                ),
            ));
            return None;
        }
    };
    for (k, v) in entries {
        match k.name.as_str() {
            name if TOP_LEVEL_KEYS.contains(&name) => {}
            "connectors" if v.as_map().is_none_or(|m| m.is_empty()) => {}
            "connectors" => {
                let ids: Vec<&str> = v
                    .as_map()
                    .unwrap_or_default()
                    .iter()
                    .map(|(k, _)| k.name.as_str())
                    .collect();
                cx.push(DeError::at_path(
                    "connectors",
                    k.pos,
                    format!(
                        "connectors ({}) exist in the OpenTelemetry Collector but not in \
                         otlp-xray; remove the `connectors` section and the pipelines that use \
                         them",
                        ids.join(", ")
                    ),
                ));
            }
            other => cx.push(DeError::at_path(
                other,
                k.pos,
                de::unknown_key_message(other, TOP_LEVEL_KEYS),
            )),
        }
    }

    let mut others = Others::default();
    let receivers = section(root, &RECEIVERS, receivers::build, cx, &mut others);
    let processors = section(root, &PROCESSORS, processors::build, cx, &mut others);
    let exporters = section(root, &EXPORTERS, exporters::build, cx, &mut others);
    let extensions = section(root, &EXTENSIONS, extensions::build, cx, &mut others);
    let service = match root.get("service") {
        Some((_, node)) => match de::from_node::<ServiceConfig>(node, "service") {
            Ok(s) => Some(s),
            Err(e) => {
                report_all(node, e, cx, |n| {
                    de::from_node::<ServiceConfig>(n, "service").map(|_| ())
                });
                None
            }
        },
        None => {
            cx.push(DeError::at_path(
                "service",
                root.pos,
                "the `service` section is missing; define service.pipelines with at least one \
                 traces pipeline",
            ));
            None
        }
    }?;

    let mut config = Config {
        receivers,
        processors,
        exporters,
        extensions,
        service,
        origin: String::new(),
        warnings: Vec::new(),
    };
    validate(root, &mut config, &others, cx);
    cx.errors.is_empty().then_some(config)
}

/// Reads one of `receivers`, `processors`, `exporters`, `extensions`: component id → config,
/// the config type chosen by the id's type. `build` returns `None` for an unsupported type.
fn section<T>(
    root: &Node,
    kind: &'static Kind,
    build: impl Fn(&str, &Node, &str) -> Option<Result<T, DeError>>,
    cx: &mut Ctx,
    others: &mut Others,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    let Some((_, node)) = root.get(kind.section) else {
        return out;
    };
    let entries = match &node.value {
        Value::Null => return out,
        Value::Map(m) => m,
        _ => {
            cx.push(DeError::at_path(
                kind.section,
                node.pos,
                format!(
                    "expected a mapping of {} by component id (e.g. `{}:`), found {}",
                    kind.plural,
                    kind.types[0],
                    node.describe()
                ),
            ));
            return out;
        }
    };
    for (k, v) in entries {
        let path = join(kind.section, &k.name);
        let ty = match component_type(&k.name) {
            Ok(ty) => ty,
            Err(m) => {
                cx.push(DeError::at_path(&path, k.pos, m));
                others.failed.insert((kind.section, k.name.clone()));
                continue;
            }
        };
        match build(ty, v, &path) {
            Some(Ok(cfg)) => {
                out.insert(k.name.clone(), cfg);
            }
            Some(Err(e)) => {
                others.failed.insert((kind.section, k.name.clone()));
                report_all(v, e, cx, |n| match build(ty, n, &path) {
                    Some(r) => r.map(|_| ()),
                    None => Ok(()),
                });
            }
            None if known::is_collector_component(kind.section, ty) => {
                others.unsupported.push(Unsupported {
                    kind,
                    id: k.name.clone(),
                    ty: ty.to_owned(),
                    pos: k.pos,
                });
            }
            None => {
                let mut msg = format!(
                    "{} type `{ty}` is not supported: it is not an OpenTelemetry Collector \
                     component otlp-xray knows of",
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
                others.failed.insert((kind.section, k.name.clone()));
                cx.push(DeError::at_path(&path, k.pos, msg));
            }
        }
    }
    out
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
/// receivers on one endpoint, unsupported components unused by traces pipelines. Collects
/// warnings.
fn validate(root: &Node, cfg: &mut Config, others: &Others, cx: &mut Ctx) {
    let at = |segments: &[&str]| root.locate(segments);
    let mut warnings = Vec::new();
    // Unsupported components a traces pipeline (or service.extensions) uses, by index.
    let mut blocking: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let unsupported_index = |section: &str, id: &str| {
        others
            .unsupported
            .iter()
            .position(|u| u.kind.section == section && u.id == id)
    };

    for kind in [&RECEIVERS, &EXPORTERS] {
        let defined = match kind.section {
            "receivers" => !cfg.receivers.is_empty(),
            _ => !cfg.exporters.is_empty(),
        } || others.failed.iter().any(|(s, _)| *s == kind.section)
            || others
                .unsupported
                .iter()
                .any(|u| u.kind.section == kind.section);
        if !defined {
            cx.push(DeError::at_path(
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
        if let Some(u) = unsupported_index("extensions", id) {
            blocking
                .entry(u)
                .or_default()
                .push("service.extensions starts it".to_owned());
            continue;
        }
        if !(cfg.extensions.contains_key(id) || others.knows("extensions", id)) {
            let ids = written_ids(root, "extensions");
            cx.push(undefined_ref(
                id,
                &ids,
                &EXTENSIONS,
                &segments,
                at(&segments),
            ));
            continue;
        }
        match cfg.extensions.get(id) {
            Some(ExtensionConfig::Lambda(_)) | None => {}
            Some(ExtensionConfig::SigV4Auth(_)) => warnings.push(format!(
                "extension `{id}` is accepted; it signs nothing by itself (an exporter would \
                 have to name it in `auth.authenticator`)"
            )),
            Some(ExtensionConfig::Inert(_)) => warnings.push(format!(
                "extension `{id}` is accepted but has no effect in otlp-xray"
            )),
        }
    }

    let pipelines_pos = at(&["service", "pipelines"]);
    if cfg.service.pipelines.is_empty() {
        cx.push(DeError::at_path(
            "service.pipelines",
            pipelines_pos,
            "no pipelines are defined; otlp-xray needs at least one traces pipeline \
             (service.pipelines.traces)",
        ));
    }

    let mut used: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut any_traces = false;
    for (id, p) in &cfg.service.pipelines {
        let path = format!("service.pipelines.{id}");
        let key_pos = at(&["service", "pipelines", id]);
        let signal = match (Signal::of_pipeline(id), component_type(id)) {
            (Some(s), Ok(_)) => s,
            (Some(_), Err(_)) => {
                cx.push(DeError::at_path(
                    &path,
                    key_pos,
                    format!(
                        "invalid pipeline id `{id}`: write `traces` or `traces/name`, e.g. \
                         `traces/xray`"
                    ),
                ));
                continue;
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
                cx.push(DeError::at_path(&path, key_pos, msg));
                continue;
            }
        };
        any_traces |= signal == Signal::Traces;
        for (field, list) in [("receivers", &p.receivers), ("exporters", &p.exporters)] {
            if list.is_empty() {
                cx.push(DeError::at_path(
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
                if !seen.insert(ref_id) {
                    cx.push(DeError::at_path(
                        &path_of(&segments),
                        pos,
                        format!(
                            "pipeline `{id}` lists the {} `{ref_id}` twice",
                            kind.singular
                        ),
                    ));
                    continue;
                }
                if let Some(u) = unsupported_index(field, ref_id) {
                    if signal == Signal::Traces {
                        blocking
                            .entry(u)
                            .or_default()
                            .push(format!("pipeline `{id}` uses it"));
                    }
                    continue;
                }
                let defined = match field {
                    "receivers" => cfg.receivers.contains_key(ref_id),
                    "processors" => cfg.processors.contains_key(ref_id),
                    _ => cfg.exporters.contains_key(ref_id),
                } || others.knows(field, ref_id);
                if !defined {
                    let ids = written_ids(root, field);
                    cx.push(undefined_ref(ref_id, &ids, kind, &segments, pos));
                    continue;
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
    if !cfg.service.pipelines.is_empty() && !any_traces {
        cx.push(DeError::at_path(
            "service.pipelines",
            pipelines_pos,
            "no traces pipeline: otlp-xray exports traces only; add one, e.g. \
             `traces: { receivers: [otlp], exporters: [awsxray] }`",
        ));
    }

    for (i, u) in others.unsupported.iter().enumerate() {
        let path = join(u.kind.section, &u.id);
        match blocking.get(&i) {
            Some(uses) => cx.push(DeError::at_path(&path, u.pos, u.error(uses))),
            None => warnings.push(format!(
                "{path} (line {}): {}; accepted and ignored because {}",
                u.pos.line,
                u.what(),
                if u.kind.section == "extensions" {
                    "service.extensions does not start it"
                } else {
                    "no traces pipeline uses it"
                }
            )),
        }
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
                cx.push(DeError::at_path(
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
