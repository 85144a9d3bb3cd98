//! The merged, expanded config tree as text, for `otlp-xray validate`, with secrets masked.
//!
//! Masked ([`MASK`], as the collector prints `configopaque` values):
//! - every value under a `headers` mapping (`Authorization: Bearer …`, `x-honeycomb-team`);
//! - values of keys whose name contains `token`, `password`, `passwd`, `secret`,
//!   `authorization`, `api_key`, `apikey` or `api-key` (any case), whole subtrees included;
//! - values expanded from an environment variable whose name looks secret (see
//!   `super::expand::is_secret_name`), wherever they are;
//! - the password of a URL with credentials (`https://user:***@host`).
//!
//! YAML keeps the config's key order; a scalar is quoted (JSON style, which YAML reads as a
//! double-quoted scalar) when written plain it would read differently. JSON types plain
//! scalars by the YAML 1.2 core schema, as the collector would.

use super::de::{parse_bool, parse_float, parse_int};
use super::yaml::{Node, Scalar, Value};

/// What a masked value is printed as.
pub(crate) const MASK: &str = "[REDACTED]";

/// Key names (lowercase substrings) whose values are masked.
const SECRET_KEYS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "authorization",
    "api_key",
    "apikey",
    "api-key",
];

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| k.contains(s))
}

/// A scalar's text as it may be shown: masked, or with a URL password hidden.
fn shown(s: &Scalar, masked: bool) -> Option<String> {
    if masked || s.sensitive {
        None
    } else {
        Some(hide_url_password(&s.text))
    }
}

/// `scheme://user:pass@host` → `scheme://user:***@host`, anywhere in the text.
fn hide_url_password(text: &str) -> String {
    let Some(i) = text.find("://") else {
        return text.to_owned();
    };
    let rest = &text[i + 3..];
    let authority_end = rest.find(['/', '?', '#', ' ']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!(
                "{}://{user}:***@{host}{}",
                &text[..i],
                &rest[authority_end..]
            )
        }
        _ => text.to_owned(),
    }
}

/// The tree as YAML.
pub(crate) fn to_yaml(root: &Node) -> String {
    let mut out = String::new();
    match &root.value {
        Value::Map(entries) => write_map(entries, 0, false, &mut out),
        _ => {
            write_inline(root, false, &mut out);
            out.push('\n');
        }
    }
    out
}

fn write_map(entries: &[(super::yaml::Key, Node)], indent: usize, masked: bool, out: &mut String) {
    for (k, v) in entries {
        out.push_str(&" ".repeat(indent));
        out.push_str(&scalar_text(&k.name, true, false));
        out.push(':');
        let masked = masked || is_secret_key(&k.name) || k.name.eq_ignore_ascii_case("headers");
        write_after_key(v, indent, masked, out);
    }
}

fn write_after_key(v: &Node, indent: usize, masked: bool, out: &mut String) {
    match &v.value {
        Value::Null => out.push('\n'),
        Value::Map(e) if e.is_empty() => out.push_str(" {}\n"),
        Value::Map(e) => {
            out.push('\n');
            write_map(e, indent + 2, masked, out);
        }
        Value::Seq(items) if items.iter().all(is_leaf) => {
            out.push(' ');
            write_inline(v, masked, out);
            out.push('\n');
        }
        Value::Seq(items) => {
            out.push('\n');
            for item in items {
                out.push_str(&" ".repeat(indent + 2));
                out.push_str("- ");
                match &item.value {
                    Value::Map(e) if !e.is_empty() => {
                        let mut inner = String::new();
                        write_map(e, indent + 4, masked, &mut inner);
                        out.push_str(inner.trim_start_matches(' '));
                    }
                    _ => {
                        write_inline(item, masked, out);
                        out.push('\n');
                    }
                }
            }
        }
        Value::Scalar(_) => {
            out.push(' ');
            write_inline(v, masked, out);
            out.push('\n');
        }
    }
}

fn is_leaf(n: &Node) -> bool {
    matches!(n.value, Value::Null | Value::Scalar(_))
}

/// A node in flow style (`[a, b]`, `{k: v}`, a scalar).
fn write_inline(n: &Node, masked: bool, out: &mut String) {
    match &n.value {
        Value::Null => out.push('~'),
        Value::Scalar(s) => match shown(s, masked) {
            Some(text) => out.push_str(&scalar_text(&text, s.plain, true)),
            None => out.push_str(&quote(MASK)),
        },
        Value::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_inline(item, masked, out);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&scalar_text(&k.name, true, true));
                out.push_str(": ");
                let masked =
                    masked || is_secret_key(&k.name) || k.name.eq_ignore_ascii_case("headers");
                write_inline(v, masked, out);
            }
            out.push('}');
        }
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.escape_default()))
}

/// YAML 1.2 core-schema non-strings (and YAML 1.1 booleans some readers still apply).
fn looks_typed(s: &str) -> bool {
    parse_bool(s).is_some()
        || parse_int(s).is_some()
        || parse_float(s).is_some()
        || matches!(s, "null" | "Null" | "NULL" | "~")
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "yes" | "no" | "on" | "off" | "y" | "n"
        )
}

/// The scalar as YAML: plain when that reads back the same, else quoted. `plain` says whether
/// the source wrote it unquoted (a plain `4317` stays a number, a quoted `"4317"` a string).
fn scalar_text(s: &str, plain: bool, in_flow: bool) -> String {
    let risky_start = s.starts_with([
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`', ' ',
    ]);
    let risky = s.is_empty()
        || risky_start
        || s.ends_with([' ', ':'])
        || s.contains(": ")
        || s.contains(" #")
        || s.chars().any(|c| c.is_control())
        || (in_flow && s.contains([',', '[', ']', '{', '}']))
        || (!plain && looks_typed(s));
    if risky {
        quote(s)
    } else {
        s.to_owned()
    }
}

/// The tree as pretty JSON (object keys sorted).
pub(crate) fn to_json(root: &Node) -> String {
    let value = json(root, false);
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| "null".to_owned());
    text.push('\n');
    text
}

fn json(n: &Node, masked: bool) -> serde_json::Value {
    use serde_json::Value as J;
    match &n.value {
        Value::Null => J::Null,
        Value::Scalar(s) => match shown(s, masked) {
            None => J::String(MASK.to_owned()),
            Some(text) if s.plain => typed(&text),
            Some(text) => J::String(text),
        },
        Value::Seq(items) => J::Array(items.iter().map(|i| json(i, masked)).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let masked =
                        masked || is_secret_key(&k.name) || k.name.eq_ignore_ascii_case("headers");
                    (k.name.clone(), json(v, masked))
                })
                .collect(),
        ),
    }
}

fn typed(text: &str) -> serde_json::Value {
    use serde_json::Value as J;
    if matches!(text, "null" | "Null" | "NULL" | "~") {
        J::Null
    } else if let Some(b) = parse_bool(text) {
        J::Bool(b)
    } else if let Some(i) = parse_int(text) {
        i64::try_from(i)
            .map(J::from)
            .or_else(|_| u64::try_from(i).map(J::from))
            .unwrap_or_else(|_| J::String(text.to_owned()))
    } else if let Some(f) = parse_float(text).and_then(serde_json::Number::from_f64) {
        J::Number(f)
    } else {
        J::String(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{expand, yaml};

    fn tree(text: &str) -> Node {
        let mut n = yaml::parse(text, 0).unwrap();
        let env = |k: &str| match k {
            "APM_SERVER_TOKEN" => Some("tok-123".to_owned()),
            "ENDPOINT" => Some("https://apm.example.com".to_owned()),
            _ => None,
        };
        let mut errors = Vec::new();
        expand::expand_tree(&mut n, "", &env, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        n
    }

    const CONFIG: &str = "\
exporters:
  otlp/elastic:
    endpoint: ${env:ENDPOINT}
    headers:
      Authorization: Bearer ${env:APM_SERVER_TOKEN}
      x-tenant: acme
  otlphttp:
    endpoint: https://user:hunter2@collector.example.com:4318
    api_key: abc
    tls: {insecure: false}
    note: \"key ${env:APM_SERVER_TOKEN}\"
  awsxray:
    indexed_attributes: [http.route, 'a: b', '4317']
    port: 4317
    quoted: \"true\"
    empty: ''
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp/elastic, awsxray]
  extensions:
    - name: x
      more: 1
";

    #[test]
    fn yaml_masks_secrets_and_reads_back_the_same_values() {
        let text = to_yaml(&tree(CONFIG));
        for secret in ["tok-123", "hunter2", "abc", "acme"] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        assert!(text.contains("Authorization: \"[REDACTED]\""), "{text}");
        assert!(
            text.contains("https://user:***@collector.example.com:4318"),
            "{text}"
        );
        assert!(
            text.contains("endpoint: https://apm.example.com\n"),
            "{text}"
        );
        assert!(
            text.contains("indexed_attributes: [http.route, \"a: b\", \"4317\"]"),
            "{text}"
        );
        assert!(text.contains("port: 4317\n"), "{text}");
        assert!(text.contains("quoted: \"true\"\n"), "{text}");
        assert!(text.contains("empty: \"\"\n"), "{text}");
        assert!(text.contains("    - name: x\n      more: 1\n"), "{text}");
        // It parses back to the same structure (masked values aside).
        let back = yaml::parse(&text, 0).unwrap();
        let (_, ex) = back.get("exporters").unwrap();
        let (_, x) = ex.get("awsxray").unwrap();
        let attrs = &x.get("indexed_attributes").unwrap().1.value;
        let Value::Seq(items) = attrs else {
            panic!("{attrs:?}")
        };
        let texts: Vec<_> = items
            .iter()
            .map(|i| match &i.value {
                Value::Scalar(s) => (s.text.clone(), s.plain),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            texts,
            [
                ("http.route".to_owned(), true),
                ("a: b".to_owned(), false),
                ("4317".to_owned(), false)
            ]
        );
    }

    #[test]
    fn json_masks_secrets_and_types_plain_scalars() {
        let text = to_json(&tree(CONFIG));
        for secret in ["tok-123", "hunter2", "abc", "acme"] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let x = &v["exporters"]["awsxray"];
        assert_eq!(x["port"], serde_json::json!(4317));
        assert_eq!(x["quoted"], serde_json::json!("true"));
        assert_eq!(x["indexed_attributes"][2], serde_json::json!("4317"));
        assert_eq!(
            v["exporters"]["otlp/elastic"]["headers"]["Authorization"],
            serde_json::json!(MASK)
        );
        assert_eq!(
            v["exporters"]["otlphttp"]["note"],
            serde_json::json!(MASK),
            "expanded from a secret-looking variable"
        );
    }
}
