//! Combining config sources the way the OpenTelemetry Collector's `confmap` resolver does.
//!
//! - **`::` in a key nests**: `processors::batch::timeout: 2s` is `processors: {batch: {timeout:
//!   2s}}` (confmap's key delimiter, which is what makes the `yaml:` provider's one-line form
//!   work). It applies to every key of every source; `.` does not nest.
//! - **Several sources merge in order** (the collector's repeated `--config`): mappings merge
//!   key by key, recursively; anything else — a scalar, a list, an empty value — from a later
//!   source replaces what an earlier one had (koanf's merge, which confmap uses; lists are not
//!   appended).
//!
//! Both run on the parsed tree before `${env:…}` expansion, as in the collector, and keep each
//! node's position (with its source index) so errors still name the right file and line.

use super::yaml::{Key, Node, Value};

/// The collector's key delimiter.
pub(crate) const KEY_DELIMITER: &str = "::";

/// Rewrites every `a::b::c: v` entry under `node` into nested mappings, merging entries that
/// end up under the same key (`a::b: 1` and `a::c: 2` give `a: {b: 1, c: 2}`).
pub(crate) fn split_keys(node: &mut Node) {
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(split_keys),
        Value::Map(entries) => {
            let needs_rebuild = entries.iter().any(|(k, _)| k.name.contains(KEY_DELIMITER));
            for (_, v) in entries.iter_mut() {
                split_keys(v);
            }
            if !needs_rebuild {
                return;
            }
            let mut out: Vec<(Key, Node)> = Vec::with_capacity(entries.len());
            for (key, value) in std::mem::take(entries) {
                let (key, value) = nest(key, value);
                insert(&mut out, key, value);
            }
            *entries = out;
        }
        _ => {}
    }
}

/// `a::b::c: v` → `a: {b: {c: v}}`; the intermediate keys take the position of the written
/// key.
fn nest(key: Key, value: Node) -> (Key, Node) {
    if !key.name.contains(KEY_DELIMITER) {
        return (key, value);
    }
    let segments: Vec<&str> = key.name.split(KEY_DELIMITER).collect();
    let mut node = value;
    for seg in segments[1..].iter().rev() {
        node = Node {
            pos: key.pos,
            value: Value::Map(vec![(
                Key {
                    name: (*seg).to_owned(),
                    pos: key.pos,
                },
                node,
            )]),
        };
    }
    (
        Key {
            name: segments[0].to_owned(),
            pos: key.pos,
        },
        node,
    )
}

/// Adds `key: value` to a mapping's entries, merging into an existing entry of that name.
fn insert(entries: &mut Vec<(Key, Node)>, key: Key, value: Node) {
    match entries.iter_mut().find(|(k, _)| k.name == key.name) {
        Some((_, existing)) => merge(existing, value),
        None => entries.push((key, value)),
    }
}

/// Merges `over` (a later source) into `base`: two mappings merge key by key, recursively;
/// otherwise `over` replaces `base`.
pub(crate) fn merge(base: &mut Node, over: Node) {
    match (&mut base.value, over.value) {
        (Value::Map(base_entries), Value::Map(over_entries)) => {
            for (k, v) in over_entries {
                insert(base_entries, k, v);
            }
        }
        (_, value) => {
            *base = Node {
                value,
                pos: over.pos,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    fn tree(text: &str, source: u16) -> Node {
        let mut n = yaml::parse(text, source).unwrap();
        split_keys(&mut n);
        n
    }

    /// The tree as compact text: `{a: {b: 1}, l: [x]}`.
    fn show(n: &Node) -> String {
        match &n.value {
            Value::Null => "~".to_owned(),
            Value::Scalar(s) => s.text.clone(),
            Value::Seq(items) => format!(
                "[{}]",
                items.iter().map(show).collect::<Vec<_>>().join(", ")
            ),
            Value::Map(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.name, show(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    #[test]
    fn double_colon_keys_nest_like_the_yaml_provider() {
        // The collector's yamlprovider tests: one value, a named component, a map entry, a list
        // and two lines that share a prefix.
        assert_eq!(
            show(&tree("processors::batch::timeout: 2s", 0)),
            "{processors: {batch: {timeout: 2s}}}"
        );
        assert_eq!(
            show(&tree("processors::batch/foo::timeout: 3s", 0)),
            "{processors: {batch/foo: {timeout: 3s}}}"
        );
        assert_eq!(
            show(&tree(
                "processors: {batch/foo::timeout: 3s, batch::timeout: 2s}",
                0
            )),
            "{processors: {batch/foo: {timeout: 3s}, batch: {timeout: 2s}}}"
        );
        assert_eq!(
            show(&tree("service::extensions: [zpages, zpages/foo]", 0)),
            "{service: {extensions: [zpages, zpages/foo]}}"
        );
        assert_eq!(
            show(&tree(
                "processors::batch/foo::timeout: 3s\nprocessors::batch::timeout: 2s",
                0
            )),
            "{processors: {batch/foo: {timeout: 3s}, batch: {timeout: 2s}}}"
        );
        // `.` is not a delimiter.
        assert_eq!(
            show(&tree("processors.batch.timeout: 4s", 0)),
            "{processors.batch.timeout: 4s}"
        );
    }

    #[test]
    fn later_sources_win_maps_merge_lists_are_replaced() {
        let mut base = tree(
            "exporters:\n  debug: {verbosity: basic}\n  awsxray: {region: a}\nservice:\n  \
             pipelines: {traces: {receivers: [otlp], exporters: [awsxray]}}\n",
            0,
        );
        let over = tree(
            "exporters::debug::verbosity: detailed\nservice::pipelines::traces::exporters: \
             [awsxray, debug]\n",
            1,
        );
        merge(&mut base, over);
        assert_eq!(
            show(&base),
            "{exporters: {debug: {verbosity: detailed}, awsxray: {region: a}}, service: \
             {pipelines: {traces: {receivers: [otlp], exporters: [awsxray, debug]}}}}"
        );
        // Positions say which source a value came from.
        let (_, exporters) = base.get("exporters").unwrap();
        let (_, debug) = exporters.get("debug").unwrap();
        assert_eq!(debug.get("verbosity").unwrap().1.pos.source, 1);
        assert_eq!(exporters.get("awsxray").unwrap().1.pos.source, 0);

        // An empty value replaces a mapping (koanf), a mapping replaces a scalar.
        let mut base = tree("a: {b: 1}\nc: x\n", 0);
        merge(&mut base, tree("a:\nc: {d: 1}\n", 1));
        assert_eq!(show(&base), "{a: ~, c: {d: 1}}");
    }
}
