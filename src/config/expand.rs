//! `${env:VAR}` expansion, as the OpenTelemetry Collector does it.
//!
//! Forms, in any scalar value (keys are not expanded):
//! - `${env:NAME}` and `${NAME}`: the variable's value; unset is an error naming it.
//! - `${env:NAME:-default}` and `${NAME:-default}`: the default when the variable is unset or
//!   empty (shell semantics).
//! - `$$`: a literal `$` (so `$${env:X}` is the text `${env:X}`).
//! - a `$` followed by anything else is kept as is.
//!
//! Expansion runs on the parsed tree, value by value, not on the raw text: a reference inside a
//! YAML comment is ignored, a value containing `: ` or a newline cannot change the structure of
//! the config, and an error names the key path and line where the reference was written. As in
//! the collector, a value that is exactly one reference (`port: ${env:PORT}`) is typed from the
//! expanded text, so it can become a number or a bool.
//!
//! Other config providers (`${file:…}`, `${yaml:…}`, `${http:…}`, `${https:…}`, `${s3:…}`) are
//! not supported and are reported as such.

use super::de::{join, DeError};
use super::yaml::{Node, Value};

/// Expands every scalar value under `node` in place. `path` is the node's key path.
pub(crate) fn expand_tree(
    node: &mut Node,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), DeError> {
    let pos = node.pos;
    match &mut node.value {
        Value::Scalar(s) if s.text.contains('$') => {
            let (text, whole) =
                expand_str(&s.text, env).map_err(|m| DeError::at_path(path, pos, m))?;
            s.text = text;
            if whole {
                s.plain = true;
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_tree(item, &format!("{path}[{i}]"), env)?;
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                expand_tree(v, &join(path, &k.name), env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Expands one string. Returns the text and whether the input was exactly one reference.
pub(crate) fn expand_str(
    input: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, bool), String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut whole = false;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let Some(end) = r.find('}') else {
                return Err(format!(
                    "unterminated `${{` in `{input}` (write `$$` for a literal `$`)"
                ));
            };
            let reference = &r[..end];
            whole = i == 0 && end + 1 == r.len() && out.is_empty();
            out.push_str(&resolve(reference, env)?);
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok((out, whole))
}

/// Resolves the inside of `${…}`.
fn resolve(reference: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let (scheme, spec) = match reference.split_once(':') {
        // `NAME:-default` has no scheme: the first `:` starts the default.
        Some((s, rest)) if !rest.starts_with('-') => (Some(s), rest),
        _ => (None, reference),
    };
    match scheme {
        None | Some("env") => {}
        Some(other) => {
            return Err(format!(
                "`${{{reference}}}`: the `{other}` config provider is not supported; otlp-xray \
                 expands only environment variables (`${{env:NAME}}`)"
            ))
        }
    }
    let (name, default) = match spec.split_once(":-") {
        Some((n, d)) => (n, Some(d)),
        None => (spec, None),
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`${{{reference}}}`: `{name}` is not a valid environment variable name \
             (letters, digits and `_`, not starting with a digit)"
        ));
    }
    match (env(name), default) {
        (Some(v), Some(d)) if v.is_empty() => Ok(d.to_owned()),
        (Some(v), _) => Ok(v),
        (None, Some(d)) => Ok(d.to_owned()),
        (None, None) => Err(format!(
            "environment variable `{name}` is not set (referenced as `${{{reference}}}`; write \
             `${{env:{name}:-default}}` to give a default)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "REGION" => Some("eu-west-1".into()),
            "PORT" => Some("4317".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn x(s: &str) -> Result<(String, bool), String> {
        expand_str(s, &env)
    }

    #[test]
    fn expands_references() {
        assert_eq!(x("${env:REGION}"), Ok(("eu-west-1".into(), true)));
        assert_eq!(x("${REGION}"), Ok(("eu-west-1".into(), true)));
        assert_eq!(
            x("localhost:${env:PORT}"),
            Ok(("localhost:4317".into(), false))
        );
        assert_eq!(
            x("${env:REGION}-${PORT}"),
            Ok(("eu-west-1-4317".into(), false))
        );
        assert_eq!(x("no refs"), Ok(("no refs".into(), false)));
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        assert_eq!(x("${env:NOPE:-us-east-1}"), Ok(("us-east-1".into(), true)));
        assert_eq!(x("${NOPE:-a:b}"), Ok(("a:b".into(), true)));
        assert_eq!(x("${env:EMPTY:-d}"), Ok(("d".into(), true)));
        assert_eq!(x("${env:EMPTY}"), Ok(("".into(), true)));
        assert_eq!(x("${env:REGION:-d}"), Ok(("eu-west-1".into(), true)));
        assert_eq!(x("${env:NOPE:-}"), Ok(("".into(), true)));
    }

    #[test]
    fn dollar_escapes() {
        assert_eq!(x("$$"), Ok(("$".into(), false)));
        assert_eq!(x("a$$b"), Ok(("a$b".into(), false)));
        assert_eq!(x("$${env:REGION}"), Ok(("${env:REGION}".into(), false)));
        assert_eq!(x("$5 and $x"), Ok(("$5 and $x".into(), false)));
        assert_eq!(x("$"), Ok(("$".into(), false)));
    }

    #[test]
    fn errors_name_the_variable() {
        let e = x("${env:NOPE}").unwrap_err();
        assert!(e.contains("`NOPE` is not set"), "{e}");
        let e = x("${file:/etc/x}").unwrap_err();
        assert!(e.contains("`file` config provider is not supported"), "{e}");
        let e = x("${env:1BAD}").unwrap_err();
        assert!(e.contains("not a valid"), "{e}");
        let e = x("${env:REGION").unwrap_err();
        assert!(e.contains("unterminated"), "{e}");
    }
}
