//! YAML text → a small position-aware tree ([`Node`]).
//!
//! `serde-saphyr` does the parsing (panic-free, positions in errors). We deserialize into our
//! own tree rather than straight into the model because the model is chosen by the *key* of a
//! component (`awsxray/prod` → the `awsxray` exporter's config), because `${env:…}` expansion
//! runs on values after parsing, and because every later error must name the key path and line.
//!
//! Scalars keep their source text: YAML typing (`1.10` is a float, `0123` an integer) is
//! applied only when a field asks for a number or a bool, so `external_id: 0123` stays `0123`.
//!
//! A YAML bomb is refused by the budgets in [`options`]: nesting depth, node count, alias
//! count and alias replay are capped far above any real collector config and far below what
//! would cost the sandbox noticeable memory or time.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, MessageFormatter, Spanned};

/// Largest config accepted, in bytes (1 MiB). Real collector configs are a few KiB.
pub(crate) const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// Deepest nesting of mappings and sequences accepted. A collector config nests about 6 deep.
pub(crate) const MAX_DEPTH: usize = 32;
/// Most nodes (mappings, sequences, scalars), after alias expansion.
pub(crate) const MAX_NODES: usize = 20_000;
/// Most parser events replayed by aliases over the whole document (stops "billion laughs").
pub(crate) const MAX_ALIAS_REPLAY: usize = 10_000;

/// A position in the config text, 1-based. `line == 0` means unknown. `source` is the index
/// of the config source the text came from (several URIs may be merged; see `super::source`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Pos {
    pub line: u64,
    pub column: u64,
    pub source: u16,
}

impl Pos {
    fn from_location(l: &Location, source: u16) -> Self {
        Pos {
            line: l.line(),
            column: l.column(),
            source,
        }
    }

    /// Whether the position is known.
    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

/// A node of the config tree with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub pos: Pos,
}

/// The shape of a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `~`, `null` or nothing at all (`grpc:`).
    Null,
    /// Any scalar, as text.
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order (duplicate keys are refused by the parser).
    Map(Vec<(Key, Node)>),
}

/// A scalar's text and whether YAML typing applies to it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    /// The value (quotes and escapes resolved).
    pub text: String,
    /// Plain (unquoted) scalars may be read as numbers/bools by untyped (raw) fields; quoted
    /// and block scalars are always strings there. Typed fields parse numbers from any scalar.
    pub plain: bool,
    /// The value was expanded from an environment variable whose name looks secret
    /// (`*TOKEN*`, `*PASSWORD*`, `*SECRET*`, `*KEY*`…): `otlp-xray validate` masks it.
    pub sensitive: bool,
}

/// A mapping key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub name: String,
    pub pos: Pos,
}

impl Node {
    /// The entries of a mapping, `None` for anything else.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The child at `key` of a mapping, with its key.
    pub fn get(&self, key: &str) -> Option<(&Key, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, v)| (k, v))
    }

    /// Position of the deepest existing node along `segments` (mapping keys or list indexes):
    /// the key's position when the last segment is a key, else the nearest ancestor's.
    pub fn locate(&self, segments: &[&str]) -> Pos {
        let mut node = self;
        let mut pos = self.pos;
        for seg in segments {
            match &node.value {
                Value::Map(m) => match m.iter().find(|(k, _)| k.name == *seg) {
                    Some((k, v)) => {
                        pos = k.pos;
                        node = v;
                    }
                    None => return pos,
                },
                Value::Seq(items) => match seg.parse::<usize>().ok().and_then(|i| items.get(i)) {
                    Some(v) => {
                        pos = v.pos;
                        node = v;
                    }
                    None => return pos,
                },
                _ => return pos,
            }
        }
        pos
    }

    /// A short description for "expected …, found …" messages.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Null => "an empty value".to_owned(),
            Value::Scalar(s) => format!("`{}`", truncate(&s.text, 60)),
            Value::Seq(_) => "a list".to_owned(),
            Value::Map(_) => "a mapping".to_owned(),
        }
    }
}

/// `s` cut to at most `max` characters, with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// A YAML syntax or budget error: message and position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlError {
    pub message: String,
    pub pos: Pos,
}

/// The parser options: serde-saphyr's defaults with budgets sized for a collector config.
fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_events = 4 * MAX_NODES;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = MAX_CONFIG_BYTES;
    budget.max_merge_keys = 1_000;
    budget.max_recorded_anchor_events = MAX_ALIAS_REPLAY;
    budget.max_recorded_anchor_bytes = MAX_CONFIG_BYTES;
    budget.max_reader_input_bytes = Some(MAX_CONFIG_BYTES);

    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_REPLAY;
    options.alias_limits.max_replay_stack_depth = 16;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    // Keys must be unique, as in the collector.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.with_snippet = false;
    options
}

/// Parses `text` into a tree. The caller checks the size first ([`MAX_CONFIG_BYTES`]).
/// `source` is recorded in every position (the index of the config source).
pub(crate) fn parse(text: &str, source: u16) -> Result<Node, YamlError> {
    let raw: Spanned<Raw> =
        serde_saphyr::from_str_with_options(text, options()).map_err(|e| yaml_error(&e, source))?;
    into_node(raw, text, source)
}

/// Turns a serde-saphyr error into one line without its own location suffix.
fn yaml_error(err: &serde_saphyr::Error, source: u16) -> YamlError {
    let pos = err
        .location()
        .map(|l| Pos::from_location(&l, source))
        .unwrap_or(Pos {
            source,
            ..Pos::default()
        });
    let mut inner = err;
    while let serde_saphyr::Error::WithSnippet { error, .. }
    | serde_saphyr::Error::AliasError { error, .. } = inner
    {
        inner = error;
    }
    let message = match inner {
        serde_saphyr::Error::Budget { breach, .. } => budget_message(breach),
        serde_saphyr::Error::AliasReplayLimitExceeded { .. }
        | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
        | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. } => format!(
            "aliases expand to more than {MAX_ALIAS_REPLAY} YAML events (a \"billion laughs\" \
             pattern?); refused"
        ),
        serde_saphyr::Error::MultipleDocuments { .. } => {
            "the file holds more than one YAML document (`---`); a config is one document"
                .to_owned()
        }
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => match key {
            Some(k) => format!("duplicate key `{k}` (each key may appear once per mapping)"),
            None => "duplicate key (each key may appear once per mapping)".to_owned(),
        },
        other => {
            let message = serde_saphyr::DefaultMessageFormatter
                .format_message(other)
                .into_owned();
            if message.contains("recursion limit") || message.contains("nesting limit") {
                format!("nested more than {MAX_DEPTH} levels deep; refused")
            } else {
                message
            }
        }
    };
    YamlError { message, pos }
}

fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    match breach {
        B::Depth { .. } => format!("nested more than {MAX_DEPTH} levels deep; refused"),
        B::Nodes { .. } | B::Events { .. } => {
            format!("more than {MAX_NODES} YAML nodes (after expanding aliases); refused")
        }
        B::Aliases { .. } | B::Anchors { .. } | B::AliasAnchorRatio { .. } => {
            "too many anchors or aliases (a \"billion laughs\" pattern?); refused".to_owned()
        }
        B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
            "anchors and aliases expand to too much data (a \"billion laughs\" pattern?); \
             refused"
                .to_owned()
        }
        B::Documents { .. } => {
            "the file holds more than one YAML document (`---`); a config is one document"
                .to_owned()
        }
        B::ScalarBytes { .. } | B::InputBytes { .. } => {
            format!("more than {MAX_CONFIG_BYTES} bytes of text; refused")
        }
        other => format!("YAML resource limit exceeded ({other:?}); refused"),
    }
}

/// The tree as serde-saphyr hands it over: values plus spans. Converted to [`Node`] with the
/// source text at hand (to recover the text of numbers, bools and the quoting of strings).
#[derive(Debug)]
enum Raw {
    Null,
    /// A string scalar (plain, quoted or block).
    Str(String),
    /// A scalar YAML typed as bool/number: its fallback text (the source slice is preferred).
    Typed(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
                Raw::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Typed(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Typed(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
                Ok(Raw::Typed(v.to_string()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
                Ok(Raw::Typed(v.to_string()))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
                Ok(Raw::Typed(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Typed(v.to_string()))
            }
            fn visit_char<E>(self, v: char) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Str(v))
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Raw, E> {
                Err(E::custom("binary (`!!binary`) values are not supported"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element::<Spanned<Raw>>()? {
                    items.push(item);
                }
                Ok(Raw::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = a.next_key::<Spanned<Raw>>()? {
                    let value = a.next_value::<Spanned<Raw>>()?;
                    entries.push((key, value));
                }
                Ok(Raw::Map(entries))
            }
        }
        d.deserialize_any(RawVisitor)
    }
}

/// The source text of a node, from its defining location (aliases point at the anchor).
fn source_slice<'t>(text: &'t str, s: &Spanned<Raw>) -> Option<&'t str> {
    let span = s.defined.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    text.get(start..start.checked_add(len)?)
}

fn into_node(raw: Spanned<Raw>, text: &str, source: u16) -> Result<Node, YamlError> {
    let pos = Pos::from_location(&raw.referenced, source);
    let slice = source_slice(text, &raw);
    let value = match raw.value {
        Raw::Null => Value::Null,
        Raw::Str(s) => {
            let plain = !slice.is_some_and(|src| {
                src.starts_with(['"', '\'', '|', '>']) || src.starts_with("!!str")
            });
            Value::Scalar(Scalar {
                text: s,
                plain,
                sensitive: false,
            })
        }
        Raw::Typed(fallback) => {
            let text = slice
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.starts_with(['*', '&', '!']))
                .map(str::to_owned)
                .unwrap_or(fallback);
            Value::Scalar(Scalar {
                text,
                plain: true,
                sensitive: false,
            })
        }
        Raw::Seq(items) => Value::Seq(
            items
                .into_iter()
                .map(|i| into_node(i, text, source))
                .collect::<Result<_, _>>()?,
        ),
        Raw::Map(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let key_pos = Pos::from_location(&k.referenced, source);
                let key = into_node(k, text, source)?;
                let name = match key.value {
                    Value::Scalar(s) => s.text,
                    Value::Null => String::new(),
                    _ => {
                        return Err(YamlError {
                            message: "a mapping key must be a plain value, not a list or mapping"
                                .to_owned(),
                            pos: key_pos,
                        })
                    }
                };
                out.push((Key { name, pos: key_pos }, into_node(v, text, source)?));
            }
            Value::Map(out)
        }
    };
    Ok(Node { value, pos })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(n: &Node) -> (&str, bool) {
        match &n.value {
            Value::Scalar(s) => (&s.text, s.plain),
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn keeps_source_text_quoting_and_positions() {
        let root = parse(
            "a: 0123\nb: \"4317\"\nc: 1.10\nd: yes\ne:\nf: ~\ng: [x, 2]\n",
            0,
        )
        .unwrap();
        assert_eq!(scalar(root.get("a").unwrap().1), ("0123", true));
        assert_eq!(scalar(root.get("b").unwrap().1), ("4317", false));
        assert_eq!(scalar(root.get("c").unwrap().1), ("1.10", true));
        assert_eq!(scalar(root.get("d").unwrap().1), ("yes", true));
        assert_eq!(root.get("e").unwrap().1.value, Value::Null);
        assert_eq!(root.get("f").unwrap().1.value, Value::Null);
        let (k, _) = root.get("b").unwrap();
        assert_eq!((k.pos.line, k.pos.column), (2, 1));
        assert_eq!(root.locate(&["g", "1"]).line, 7);
    }

    #[test]
    fn aliases_and_merge_keys_work_in_small_doses() {
        let root = parse("base: &b {region: eu-west-1}\nx:\n  <<: *b\n  y: *b\n", 0).unwrap();
        let (_, x) = root.get("x").unwrap();
        assert_eq!(scalar(x.get("region").unwrap().1).0, "eu-west-1");
        assert!(x.get("y").unwrap().1.get("region").is_some());
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = parse("a:\n  b: [1, 2\n", 0).unwrap_err();
        assert!(e.pos.line >= 2, "{e:?}");
        let e = parse("a: 1\na: 2\n", 0).unwrap_err();
        assert_eq!(e.pos.line, 2);
        assert!(e.message.contains("duplicate"), "{}", e.message);
    }
}
