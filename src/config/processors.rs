//! Processor configs, with the OpenTelemetry Collector's keys:
//!
//! - `batch`: how exports are sized (`send_batch_max_size` splits export calls);
//! - `memory_limiter`: limits on the buffered data, above which receivers refuse new data;
//! - `resource` (`attributes: [actions]`) and `attributes` (`actions: [actions]`, optional
//!   `include`/`exclude`): actions on resource and span attributes, as the collector-contrib
//!   `coreinternal/attraction` package defines them;
//! - `decouple` (upstream OpenTelemetry Lambda layer): accepted, no effect, because otlp-xray's
//!   pipeline already answers the function at once and exports when the invocation ends.
//!
//! What each one does at run time is in `crate::processor`.

use std::time::Duration;

use serde::Deserialize;

use super::de::{self, join, DeError};
use super::yaml::Node;
use super::{Problem, RawValue};

/// A configured processor, by component type.
#[derive(Debug, Clone, PartialEq)]
pub enum ProcessorConfig {
    /// `batch`: how the pipeline sizes export calls.
    Batch(BatchProcessorConfig),
    /// `decouple` (upstream Lambda layer): accepted, no effect.
    Decouple(DecoupleProcessorConfig),
    /// `memory_limiter`: refuse new data above a limit.
    MemoryLimiter(MemoryLimiterProcessorConfig),
    /// `resource`: actions on resource attributes.
    Resource(ResourceProcessorConfig),
    /// `attributes`: actions on span attributes (boxed: its match properties are large).
    Attributes(Box<AttributesProcessorConfig>),
}

/// The processor types otlp-xray supports.
pub const PROCESSOR_TYPES: &[&str] = &[
    "batch",
    "decouple",
    "memory_limiter",
    "resource",
    "attributes",
];

/// `processors.batch`, with the collector's keys and defaults.
///
/// In Lambda the lifecycle's flush decides when data is sent (see README "Flush strategies"),
/// so `timeout` and `send_batch_size` have no effect beyond validation; `send_batch_max_size`
/// caps the spans handed to an exporter in one export call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchProcessorConfig {
    /// Longest a span waits in a batch before it is sent regardless of size. Default 200 ms.
    /// Zero means size alone triggers a send. (A Go duration: `"200ms"`, `"1s"`.) In Lambda the
    /// flush strategy replaces this timer.
    #[serde(deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// Spans that trigger a send. Default 8192. In Lambda the flush strategy decides when to
    /// send; accepted for compatibility.
    pub send_batch_size: u32,
    /// Most spans in one export call; larger batches are split into several calls. 0 (default)
    /// = no limit. When set, it must be at least `send_batch_size`.
    pub send_batch_max_size: u32,
    /// Client metadata keys that split batches. Accepted; no effect (no metadata is kept).
    pub metadata_keys: Vec<String>,
    /// Most distinct metadata value combinations. Default 1000. Accepted; no effect.
    pub metadata_cardinality_limit: u32,
}

impl Default for BatchProcessorConfig {
    fn default() -> Self {
        BatchProcessorConfig {
            timeout: Duration::from_millis(200),
            send_batch_size: 8192,
            send_batch_max_size: 0,
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: 1000,
        }
    }
}

impl BatchProcessorConfig {
    fn check(&mut self) -> Result<(), Problem> {
        if self.send_batch_max_size != 0 && self.send_batch_max_size < self.send_batch_size {
            return Err((
                vec!["send_batch_max_size"],
                format!(
                    "send_batch_max_size ({}) must be 0 (no limit) or at least send_batch_size \
                     ({})",
                    self.send_batch_max_size, self.send_batch_size
                ),
            ));
        }
        Ok(())
    }
}

/// `processors.decouple` (upstream OpenTelemetry Lambda layer). Accepted; no effect.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecoupleProcessorConfig {
    /// Queue length in the upstream layer. Accepted; no effect.
    pub max_queue_size: Option<u64>,
}

/// `processors.memory_limiter`, with the collector's keys and rules
/// (`go.opentelemetry.io/collector/internal/memorylimiter`).
///
/// In otlp-xray the memory measured is the pipeline buffer (the encoded size of the spans
/// waiting for the next flush), counted exactly at every request, so `check_interval` is only
/// validated. Above the soft limit (`limit − spike`) receivers refuse new data (OTLP/gRPC
/// `UNAVAILABLE`, OTLP/HTTP 503, as the collector's OTLP receiver answers the memory limiter's
/// refusal) and the SDK retries later; a request that would take the buffer over the hard limit
/// is refused too. Nothing already buffered is dropped by this processor.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryLimiterProcessorConfig {
    /// Time between measurements in the collector; must be above zero. No effect here (the
    /// buffer is measured at every request).
    #[serde(deserialize_with = "de::duration")]
    pub check_interval: Duration,
    /// Hard limit in MiB. Takes precedence over `limit_percentage`.
    pub limit_mib: u32,
    /// Expected spike between measurements, in MiB; the soft limit is `limit_mib −
    /// spike_limit_mib`. Default (0): 20 % of the limit. Must be below `limit_mib`.
    pub spike_limit_mib: u32,
    /// Hard limit as a percentage of the memory available: in Lambda the function's memory size
    /// (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`), elsewhere the machine's total memory. 1–100.
    pub limit_percentage: u32,
    /// Spike as a percentage of that memory; must be below `limit_percentage`.
    pub spike_limit_percentage: u32,
    /// Collector key (garbage-collection pacing). Accepted; no effect.
    #[serde(deserialize_with = "optional_duration")]
    pub min_gc_interval_when_soft_limited: Option<Duration>,
    /// Collector key (garbage-collection pacing). Accepted; no effect.
    #[serde(deserialize_with = "optional_duration")]
    pub min_gc_interval_when_hard_limited: Option<Duration>,
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de::duration(d).map(Some)
}

impl MemoryLimiterProcessorConfig {
    /// The collector's validation, in its order.
    fn check(&mut self) -> Result<(), Problem> {
        if self.check_interval.is_zero() {
            return Err((
                vec!["check_interval"],
                "check_interval must be greater than zero (e.g. 1s)".to_owned(),
            ));
        }
        if self.limit_mib == 0 && self.limit_percentage == 0 {
            return Err((
                vec!["limit_mib"],
                "limit_mib or limit_percentage must be greater than zero".to_owned(),
            ));
        }
        if self.limit_percentage > 100 {
            return Err((
                vec!["limit_percentage"],
                "limit_percentage must be at most 100".to_owned(),
            ));
        }
        if self.spike_limit_percentage > 100 {
            return Err((
                vec!["spike_limit_percentage"],
                "spike_limit_percentage must be at most 100".to_owned(),
            ));
        }
        if self.limit_mib > 0 && self.limit_mib <= self.spike_limit_mib {
            return Err((
                vec!["spike_limit_mib"],
                format!(
                    "spike_limit_mib ({}) must be smaller than limit_mib ({})",
                    self.spike_limit_mib, self.limit_mib
                ),
            ));
        }
        if self.limit_percentage > 0 && self.limit_percentage <= self.spike_limit_percentage {
            return Err((
                vec!["spike_limit_percentage"],
                format!(
                    "spike_limit_percentage ({}) must be smaller than limit_percentage ({})",
                    self.spike_limit_percentage, self.limit_percentage
                ),
            ));
        }
        Ok(())
    }
}

/// `processors.resource`: actions on the resource attributes of every span batch.
///
/// ```yaml
/// processors:
///   resource:
///     attributes:
///       - { key: deployment.environment, value: prod, action: upsert }
///       - { key: process.command_args, action: delete }
/// ```
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceProcessorConfig {
    /// The actions, applied in order. At least one.
    pub attributes: Vec<AttributeActionConfig>,
}

/// `processors.attributes`: actions on the attributes of every span.
///
/// ```yaml
/// processors:
///   attributes:
///     actions:
///       - { key: team, value: payments, action: insert }
///       - { key: user.email, action: hash }
///       - { pattern: ^password.*, action: delete }
///     exclude:
///       match_type: strict
///       span_names: [healthcheck]
/// ```
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributesProcessorConfig {
    /// The actions, applied in order. At least one.
    pub actions: Vec<AttributeActionConfig>,
    /// Spans the actions apply to (all when absent).
    pub include: Option<MatchProperties>,
    /// Spans the actions skip, checked after `include`.
    pub exclude: Option<MatchProperties>,
}

/// One action on an attribute map (`coreinternal/attraction.ActionKeyValue`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributeActionConfig {
    /// The attribute acted upon. Required except for `delete`/`hash` with a `pattern`.
    pub key: String,
    /// The value for `insert`/`update`/`upsert`, typed from YAML: string, integer, double,
    /// boolean, list or mapping (`"42"` quoted is a string).
    pub value: Option<RawValue>,
    /// Take the value from this attribute of the same map instead (nothing happens when it is
    /// absent).
    pub from_attribute: String,
    /// Take the value from the request's client metadata. Not supported: otlp-xray keeps no
    /// request metadata.
    pub from_context: String,
    /// A regular expression: for `delete`/`hash`, every key it matches (besides `key`); for
    /// `extract`, the rule whose named groups become attributes. Go RE2 syntax (a regex-lite
    /// subset: no Unicode classes).
    pub pattern: String,
    /// For `convert`: `int`, `double` or `string`.
    pub converted_type: String,
    /// What to do (any case). Required.
    pub action: Option<ActionKind>,
}

/// The actions of `coreinternal/attraction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Add the key when absent.
    Insert,
    /// Replace the value when the key exists.
    Update,
    /// Insert or update.
    Upsert,
    /// Remove the key (and the keys `pattern` matches).
    Delete,
    /// Replace the value with the hex SHA-256 of it (and of the keys `pattern` matches).
    Hash,
    /// Add attributes from the named groups of `pattern` applied to the key's string value.
    Extract,
    /// Convert the value to `converted_type`.
    Convert,
}

/// The action names, for messages.
pub const ACTION_NAMES: &[&str] = &[
    "insert", "update", "upsert", "delete", "hash", "extract", "convert",
];

impl<'de> Deserialize<'de> for ActionKind {
    /// Any case, as the collector lowercases it.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.to_ascii_lowercase().as_str() {
            "insert" => ActionKind::Insert,
            "update" => ActionKind::Update,
            "upsert" => ActionKind::Upsert,
            "delete" => ActionKind::Delete,
            "hash" => ActionKind::Hash,
            "extract" => ActionKind::Extract,
            "convert" => ActionKind::Convert,
            _ => return Err(serde::de::Error::unknown_variant(&s, ACTION_NAMES)),
        })
    }
}

impl ActionKind {
    /// The name as written in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Insert => "insert",
            ActionKind::Update => "update",
            ActionKind::Upsert => "upsert",
            ActionKind::Delete => "delete",
            ActionKind::Hash => "hash",
            ActionKind::Extract => "extract",
            ActionKind::Convert => "convert",
        }
    }
}

/// Types `convert` accepts.
pub const CONVERTED_TYPES: &[&str] = &["int", "double", "string"];

impl AttributeActionConfig {
    /// The collector's rules (`attraction.NewAttrProc`): which fields each action needs and
    /// refuses. Returns the offending key (relative to the action) and the message.
    fn check(&self) -> Result<(), (&'static str, String)> {
        let Some(action) = self.action else {
            return Err((
                "action",
                format!(
                    "missing required key `action`; expected one of: {}",
                    ACTION_NAMES.join(", ")
                ),
            ));
        };
        let name = action.as_str();
        if !self.from_context.is_empty() {
            return Err((
                "from_context",
                "from_context is not supported by otlp-xray: it keeps no request metadata \
                 (use `value` or `from_attribute`)"
                    .to_owned(),
            ));
        }
        let sources =
            usize::from(self.value.is_some()) + usize::from(!self.from_attribute.is_empty());
        let not_used = |field: &'static str| {
            Err((
                field,
                format!("action `{name}` does not use `{field}`; remove it"),
            ))
        };
        match action {
            ActionKind::Delete | ActionKind::Hash => {
                if self.key.is_empty() && self.pattern.is_empty() {
                    return Err((
                        "key",
                        format!("action `{name}` needs `key`, `pattern` or both"),
                    ));
                }
                if self.value.is_some() {
                    return not_used("value");
                }
                if !self.from_attribute.is_empty() {
                    return not_used("from_attribute");
                }
                if !self.converted_type.is_empty() {
                    return not_used("converted_type");
                }
                if !self.pattern.is_empty() {
                    compile(&self.pattern).map_err(|m| ("pattern", m))?;
                }
            }
            ActionKind::Insert | ActionKind::Update | ActionKind::Upsert => {
                if self.key.is_empty() {
                    return Err(("key", format!("action `{name}` needs `key`")));
                }
                if sources == 0 {
                    return Err((
                        "value",
                        format!("action `{name}` needs `value` or `from_attribute`"),
                    ));
                }
                if sources > 1 {
                    return Err((
                        "from_attribute",
                        format!(
                            "action `{name}` takes one of `value` and `from_attribute`, not both"
                        ),
                    ));
                }
                if !self.pattern.is_empty() {
                    return not_used("pattern");
                }
                if !self.converted_type.is_empty() {
                    return not_used("converted_type");
                }
            }
            ActionKind::Extract => {
                if self.key.is_empty() {
                    return Err(("key", "action `extract` needs `key`".to_owned()));
                }
                if self.value.is_some() {
                    return not_used("value");
                }
                if !self.from_attribute.is_empty() {
                    return not_used("from_attribute");
                }
                if !self.converted_type.is_empty() {
                    return not_used("converted_type");
                }
                if self.pattern.is_empty() {
                    return Err((
                        "pattern",
                        "action `extract` needs `pattern`, a regular expression with named \
                         groups, e.g. ^/api/(?P<version>v\\d+)/"
                            .to_owned(),
                    ));
                }
                let re = compile(&self.pattern).map_err(|m| ("pattern", m))?;
                let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
                if names.is_empty() {
                    return Err((
                        "pattern",
                        "the pattern has no named groups ((?P<name>…)); extract creates one \
                         attribute per named group"
                            .to_owned(),
                    ));
                }
                if names.iter().any(Option::is_none) {
                    return Err((
                        "pattern",
                        "every group of an extract pattern must be named ((?P<name>…)); use \
                         (?:…) for grouping only"
                            .to_owned(),
                    ));
                }
            }
            ActionKind::Convert => {
                if self.key.is_empty() {
                    return Err(("key", "action `convert` needs `key`".to_owned()));
                }
                if sources > 0 {
                    return not_used(if self.value.is_some() {
                        "value"
                    } else {
                        "from_attribute"
                    });
                }
                if !self.pattern.is_empty() {
                    return not_used("pattern");
                }
                if !CONVERTED_TYPES.contains(&self.converted_type.as_str()) {
                    let found = if self.converted_type.is_empty() {
                        "it is missing".to_owned()
                    } else {
                        format!("found `{}`", self.converted_type)
                    };
                    return Err((
                        "converted_type",
                        format!(
                            "action `convert` needs `converted_type`, one of: {} ({found})",
                            CONVERTED_TYPES.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Compiles a `pattern` (Go RE2 syntax, through `regex-lite`). The message names the problem.
pub fn compile(pattern: &str) -> Result<regex_lite::Regex, String> {
    regex_lite::Regex::new(pattern).map_err(|e| {
        format!(
            "invalid regular expression `{pattern}`: {}",
            e.to_string().replace('\n', " ")
        )
    })
}

/// `include`/`exclude` of the `attributes` processor (`filterconfig.MatchProperties`, the
/// span keys). A span matches when every property given matches: `services` (the resource's
/// `service.name`, any of the list), `span_names` (any), `span_kinds` (any; `SPAN_KIND_SERVER`
/// …), `attributes` (all; a key without `value` only needs to exist), `resources` (all),
/// `libraries` (any; the instrumentation scope's `name` and optional `version`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchProperties {
    /// `strict` (equality) or `regexp` (the patterns are searched in the values, unanchored,
    /// as Go's `regexp.MatchString`). Required.
    pub match_type: String,
    /// Regexp cache settings in the collector. Accepted; no effect.
    pub regexp: Option<RawValue>,
    /// Resource `service.name` values.
    pub services: Vec<String>,
    /// Span names.
    pub span_names: Vec<String>,
    /// Span kinds: `SPAN_KIND_INTERNAL`, `SPAN_KIND_SERVER`, `SPAN_KIND_CLIENT`,
    /// `SPAN_KIND_PRODUCER`, `SPAN_KIND_CONSUMER` (strict), or patterns (regexp).
    pub span_kinds: Vec<String>,
    /// Span attributes that must all match.
    pub attributes: Vec<MatchAttribute>,
    /// Resource attributes that must all match.
    pub resources: Vec<MatchAttribute>,
    /// Instrumentation scopes, any of which must match.
    pub libraries: Vec<MatchLibrary>,
    /// Logs only in the collector: refused for spans.
    pub log_bodies: Option<RawValue>,
    /// Logs only in the collector: refused for spans.
    pub log_severity_texts: Option<RawValue>,
    /// Logs only in the collector: refused for spans.
    pub log_severity_number: Option<RawValue>,
    /// Metrics only in the collector: refused for spans.
    pub metric_names: Option<RawValue>,
}

/// An attribute to match: the key and, optionally, the value (any scalar for `strict`, a
/// pattern for `regexp`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchAttribute {
    /// The attribute key. Required.
    pub key: String,
    /// The value; absent = any value.
    pub value: Option<RawValue>,
}

/// An instrumentation scope to match.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchLibrary {
    /// The scope name (or pattern). Required.
    pub name: String,
    /// The version; absent = any version, empty = only an empty version.
    pub version: Option<String>,
}

/// The span kind names `span_kinds` takes with `match_type: strict`, by OTLP kind number.
pub const SPAN_KINDS: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

impl MatchProperties {
    /// `filterconfig.ValidateForSpans` and `filterset` rules. Returns the offending key
    /// (relative, dotted, with list indexes) and the message.
    fn check(&self) -> Result<(), (String, String)> {
        let regexp = match self.match_type.as_str() {
            "strict" => false,
            "regexp" => true,
            "" => {
                return Err((
                    "match_type".to_owned(),
                    "missing required key `match_type`: `strict` or `regexp`".to_owned(),
                ))
            }
            other => {
                return Err((
                    "match_type".to_owned(),
                    format!("unknown match_type `{other}`; expected `strict` or `regexp`"),
                ))
            }
        };
        for (field, set) in [
            ("log_bodies", &self.log_bodies),
            ("log_severity_texts", &self.log_severity_texts),
            ("log_severity_number", &self.log_severity_number),
            ("metric_names", &self.metric_names),
        ] {
            if set.is_some() {
                return Err((
                    field.to_owned(),
                    format!("{field} should not be specified for trace spans"),
                ));
            }
        }
        if self.services.is_empty()
            && self.span_names.is_empty()
            && self.span_kinds.is_empty()
            && self.attributes.is_empty()
            && self.resources.is_empty()
            && self.libraries.is_empty()
        {
            return Err((
                String::new(),
                "give at least one of services, span_names, span_kinds, attributes, resources, \
                 libraries"
                    .to_owned(),
            ));
        }
        if !regexp {
            if let Some((i, k)) = self
                .span_kinds
                .iter()
                .enumerate()
                .find(|(_, k)| !SPAN_KINDS[1..].contains(&k.as_str()))
            {
                return Err((
                    format!("span_kinds[{i}]"),
                    format!(
                        "unknown span kind `{k}`; with match_type strict, expected one of: {}",
                        SPAN_KINDS[1..].join(", ")
                    ),
                ));
            }
        }
        for (field, list) in [
            ("attributes", &self.attributes),
            ("resources", &self.resources),
        ] {
            for (i, a) in list.iter().enumerate() {
                if a.key.is_empty() {
                    return Err((
                        format!("{field}[{i}].key"),
                        "missing required key `key`".to_owned(),
                    ));
                }
                match (&a.value, regexp) {
                    (Some(RawValue::String(p)), true) => {
                        compile(p).map_err(|m| (format!("{field}[{i}].value"), m))?;
                    }
                    (Some(_), true) => {
                        return Err((
                            format!("{field}[{i}].value"),
                            "with match_type regexp the value must be a string pattern".to_owned(),
                        ))
                    }
                    (Some(RawValue::Object(_)), false) | (Some(RawValue::Array(_)), false) => {
                        return Err((
                            format!("{field}[{i}].value"),
                            "expected a string, number or boolean".to_owned(),
                        ))
                    }
                    _ => {}
                }
            }
        }
        for (i, l) in self.libraries.iter().enumerate() {
            if l.name.is_empty() {
                return Err((
                    format!("libraries[{i}].name"),
                    "missing required key `name`".to_owned(),
                ));
            }
        }
        if regexp {
            let lists = [
                ("services", &self.services),
                ("span_names", &self.span_names),
                ("span_kinds", &self.span_kinds),
            ];
            for (field, list) in lists {
                for (i, p) in list.iter().enumerate() {
                    compile(p).map_err(|m| (format!("{field}[{i}]"), m))?;
                }
            }
            for (i, l) in self.libraries.iter().enumerate() {
                compile(&l.name).map_err(|m| (format!("libraries[{i}].name"), m))?;
                if let Some(v) = &l.version {
                    compile(v).map_err(|m| (format!("libraries[{i}].version"), m))?;
                }
            }
        }
        Ok(())
    }
}

/// Places an action's problem at `<path>.<field>[<i>].<key>`.
fn check_actions(
    node: &Node,
    path: &str,
    field: &'static str,
    actions: &[AttributeActionConfig],
) -> Result<(), DeError> {
    if actions.is_empty() {
        return Err(DeError::at_path(
            &join(path, field),
            node.locate(&[field]),
            format!(
                "missing required key `{field}`: a list of actions, e.g. `- {{ key: team, value: \
                 payments, action: upsert }}`"
            ),
        ));
    }
    for (i, a) in actions.iter().enumerate() {
        if let Err((key, message)) = a.check() {
            let index = i.to_string();
            let full = format!("{}[{i}].{key}", join(path, field));
            let pos = node.locate(&[field, index.as_str(), key]);
            return Err(DeError::at_path(&full, pos, message));
        }
    }
    Ok(())
}

fn build_resource(node: &Node, path: &str) -> Result<ResourceProcessorConfig, DeError> {
    let cfg: ResourceProcessorConfig = de::from_node(node, path)?;
    check_actions(node, path, "attributes", &cfg.attributes)?;
    Ok(cfg)
}

fn build_attributes(node: &Node, path: &str) -> Result<AttributesProcessorConfig, DeError> {
    let cfg: AttributesProcessorConfig = de::from_node(node, path)?;
    check_actions(node, path, "actions", &cfg.actions)?;
    for (field, props) in [("include", &cfg.include), ("exclude", &cfg.exclude)] {
        let Some(props) = props else { continue };
        if let Err((rel, message)) = props.check() {
            let base = join(path, field);
            let full = if rel.is_empty() {
                base
            } else {
                join(&base, &rel)
            };
            // `attributes[0].key` → segments `attributes`, `0`, `key` for the position.
            let spelled = rel.replace('[', ".").replace(']', "");
            let mut segments: Vec<&str> = vec![field];
            segments.extend(spelled.split('.').filter(|s| !s.is_empty()));
            return Err(DeError::at_path(&full, node.locate(&segments), message));
        }
    }
    Ok(cfg)
}

/// Deserializes the processor of type `ty`, or `None` for an unknown type.
pub(crate) fn build(
    ty: &str,
    node: &super::yaml::Node,
    path: &str,
) -> Option<Result<ProcessorConfig, DeError>> {
    match ty {
        "batch" => Some(
            super::component(node, path, BatchProcessorConfig::check).map(ProcessorConfig::Batch),
        ),
        "decouple" => Some(
            super::component(node, path, |_: &mut DecoupleProcessorConfig| Ok(()))
                .map(ProcessorConfig::Decouple),
        ),
        "memory_limiter" => Some(
            super::component(node, path, MemoryLimiterProcessorConfig::check)
                .map(ProcessorConfig::MemoryLimiter),
        ),
        "resource" => Some(build_resource(node, path).map(ProcessorConfig::Resource)),
        "attributes" => {
            Some(build_attributes(node, path).map(|a| ProcessorConfig::Attributes(Box::new(a))))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_str, Config};

    /// A config with `processors_yaml` (indented two spaces) used by the traces pipeline.
    fn parse(processors_yaml: &str, used: &str) -> Result<Config, String> {
        let yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\nprocessors:\n{processors_yaml}\n\
             exporters:\n  awsxray:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      \
             processors: [{used}]\n      exporters: [awsxray]\n"
        );
        parse_str(&yaml, "t.yaml", |_| None).map_err(|e| e.to_string())
    }

    fn err(processors_yaml: &str, used: &str) -> String {
        match parse(processors_yaml, used) {
            Ok(c) => panic!("accepted: {:?}", c.processors),
            Err(e) => e,
        }
    }

    #[test]
    fn resource_and_attributes_actions_load_with_typed_values() {
        let c = parse(
            "  resource:\n    attributes:\n      - key: deployment.environment\n        value: prod\n        action: UPSERT\n\
             \x20 attributes/x:\n    actions:\n      - { key: n, value: 42, action: insert }\n      \
             - { key: d, value: 1.5, action: insert }\n      - { key: b, value: true, action: insert }\n      \
             - { key: s, value: '42', action: insert }\n      - { key: c, from_attribute: n, action: upsert }\n      \
             - { pattern: ^secret, action: delete }\n      - { key: e, action: hash }\n      \
             - { key: url, pattern: '^/(?P<v>v\\d+)/', action: extract }\n      \
             - { key: n, converted_type: string, action: convert }\n",
            "resource, attributes/x",
        )
        .unwrap();
        let ProcessorConfig::Resource(r) = &c.processors["resource"] else {
            panic!("resource")
        };
        assert_eq!(r.attributes[0].action, Some(ActionKind::Upsert));
        assert_eq!(r.attributes[0].value, Some(serde_json::json!("prod")));
        let ProcessorConfig::Attributes(a) = &c.processors["attributes/x"] else {
            panic!("attributes")
        };
        let values: Vec<_> = a.actions[..4].iter().map(|a| a.value.clone()).collect();
        assert_eq!(
            values,
            [
                Some(serde_json::json!(42)),
                Some(serde_json::json!(1.5)),
                Some(serde_json::json!(true)),
                Some(serde_json::json!("42")),
            ]
        );
        assert_eq!(a.actions[8].action, Some(ActionKind::Convert));
    }

    #[test]
    fn action_rules_name_the_key() {
        let cases = [
            (
                "  attributes:\n    actions:\n      - { key: a, action: insert }\n",
                "processors.attributes.actions[0].value",
                "needs `value` or `from_attribute`",
            ),
            (
                "  attributes:\n    actions:\n      - { key: a, value: 1, from_attribute: b, action: upsert }\n",
                "processors.attributes.actions[0].from_attribute",
                "not both",
            ),
            (
                "  attributes:\n    actions:\n      - { key: a, value: 1, action: delete }\n",
                "processors.attributes.actions[0].value",
                "does not use `value`",
            ),
            (
                "  attributes:\n    actions:\n      - { action: hash }\n",
                "processors.attributes.actions[0].key",
                "`key`, `pattern` or both",
            ),
            (
                "  attributes:\n    actions:\n      - { key: a, value: 1, action: inserts }\n",
                "processors.attributes.actions[0].action",
                "did you mean `insert`",
            ),
            (
                "  attributes:\n    actions:\n      - { key: a, value: 1 }\n",
                "processors.attributes.actions[0].action",
                "missing required key `action`",
            ),
            (
                "  attributes:\n    actions:\n      - { pattern: '(', action: delete }\n",
                "processors.attributes.actions[0].pattern",
                "invalid regular expression",
            ),
            (
                "  attributes:\n    actions:\n      - { key: u, pattern: '(\\d+)', action: extract }\n",
                "processors.attributes.actions[0].pattern",
                "must be named",
            ),
            (
                "  attributes:\n    actions:\n      - { key: u, converted_type: float, action: convert }\n",
                "processors.attributes.actions[0].converted_type",
                "int, double, string",
            ),
            (
                "  attributes:\n    actions:\n      - { key: a, from_context: metadata.x, action: insert }\n",
                "processors.attributes.actions[0].from_context",
                "not supported",
            ),
            (
                "  attributes:\n    actions: []\n",
                "processors.attributes.actions",
                "missing required key `actions`",
            ),
            ("  resource:\n", "processors.resource.attributes", "missing required key"),
            (
                "  resource:\n    actions:\n      - { key: a, action: delete }\n",
                "processors.resource.actions",
                "supported keys: attributes",
            ),
        ];
        for (yaml, path, needle) in cases {
            let ty = yaml.trim().split(':').next().unwrap_or_default();
            let e = err(yaml, ty);
            assert!(e.contains(path) && e.contains(needle), "{yaml}\n→ {e}");
            assert!(e.contains("line "), "{e}");
        }
    }

    #[test]
    fn include_exclude_rules_name_the_key() {
        let base = "  attributes:\n    actions:\n      - { key: a, action: delete }\n";
        let cases = [
            (
                "    include:\n      services: [a]\n",
                "processors.attributes.include.match_type",
                "strict` or `regexp",
            ),
            (
                "    exclude:\n      match_type: strict\n",
                "processors.attributes.exclude",
                "at least one of services",
            ),
            (
                "    include:\n      match_type: strict\n      span_kinds: [server]\n",
                "processors.attributes.include.span_kinds[0]",
                "SPAN_KIND_SERVER",
            ),
            (
                "    include:\n      match_type: regexp\n      attributes:\n        - { key: a, value: '(' }\n",
                "processors.attributes.include.attributes[0].value",
                "invalid regular expression",
            ),
            (
                "    include:\n      match_type: strict\n      log_bodies: [x]\n",
                "processors.attributes.include.log_bodies",
                "trace spans",
            ),
        ];
        for (yaml, path, needle) in cases {
            let e = err(&format!("{base}{yaml}"), "attributes");
            assert!(e.contains(path) && e.contains(needle), "{yaml}\n→ {e}");
        }
        let c = parse(
            &format!(
                "{base}    include:\n      match_type: regexp\n      services: ['^api']\n      \
                 libraries: [{{ name: io.opentelemetry.* }}]\n"
            ),
            "attributes",
        )
        .unwrap();
        let ProcessorConfig::Attributes(a) = &c.processors["attributes"] else {
            panic!()
        };
        assert_eq!(a.include.as_ref().map(|i| i.services.len()), Some(1));
    }

    #[test]
    fn memory_limiter_rules() {
        let c = parse(
            "  memory_limiter:\n    check_interval: 1s\n    limit_mib: 64\n    spike_limit_mib: 16\n",
            "memory_limiter",
        )
        .unwrap();
        let ProcessorConfig::MemoryLimiter(m) = &c.processors["memory_limiter"] else {
            panic!()
        };
        assert_eq!((m.limit_mib, m.spike_limit_mib), (64, 16));
        let cases = [
            ("    limit_mib: 64\n", "check_interval", "greater than zero"),
            ("    check_interval: 1s\n", "limit_mib", "limit_percentage"),
            (
                "    check_interval: 1s\n    limit_mib: 10\n    spike_limit_mib: 10\n",
                "spike_limit_mib",
                "smaller than limit_mib",
            ),
            (
                "    check_interval: 1s\n    limit_percentage: 101\n",
                "limit_percentage",
                "at most 100",
            ),
            (
                "    check_interval: 1s\n    limit_percentage: 50\n    spike_limit_percentage: 60\n",
                "spike_limit_percentage",
                "smaller than limit_percentage",
            ),
        ];
        for (yaml, key, needle) in cases {
            let e = err(&format!("  memory_limiter:\n{yaml}"), "memory_limiter");
            assert!(
                e.contains(&format!("processors.memory_limiter.{key}")) && e.contains(needle),
                "{yaml}\n→ {e}"
            );
        }
    }
}
