//! `${env:VAR}` expansion, as the OpenTelemetry Collector does it.
//!
//! Forms, in any scalar value (keys are not expanded):
//! - `${env:NAME}` and `${NAME}`: the variable's value; unset is an error naming it (the
//!   collector only warns and substitutes nothing; an unset credential silently sent as an
//!   empty header is worse than a failed init).
//! - `${env:NAME:-default}` and `${NAME:-default}`: the default when the variable is **unset**;
//!   a variable set to the empty string stays empty (the collector's env provider).
//! - `$$`: a literal `$` (so `$${env:X}` is the text `${env:X}`).
//! - a `$` followed by anything else is kept as is.
//!
//! Expansion runs on the parsed (and merged) tree, value by value, not on the raw text: a
//! reference inside a YAML comment is ignored, a value containing `: ` or a newline cannot
//! change the structure of the config, and an error names the key path and line where the
//! reference was written. As in the collector, a value that is exactly one reference
//! (`port: ${env:PORT}`) is typed from the expanded text, so it can become a number or a bool.
//! Every error is collected, not just the first.
//!
//! A value built from a variable whose name looks secret ([`is_secret_name`]) is marked
//! sensitive, so `otlp-xray validate` masks it wherever it appears.
//!
//! Other config providers inside values (`${file:…}`, `${yaml:…}`, `${http:…}`, `${https:…}`,
//! `${s3:…}`) are not supported and are reported as such.

use super::de::{join, DeError};
use super::yaml::{Node, Value};

/// Expands every scalar value under `node` in place. `path` is the node's key path. Each
/// failed reference adds an error to `errors` and leaves its value unexpanded.
pub(crate) fn expand_tree(
    node: &mut Node,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<DeError>,
) {
    let pos = node.pos;
    match &mut node.value {
        Value::Scalar(s) if s.text.contains('$') => match expand_str(&s.text, env) {
            Ok(x) => {
                s.text = x.text;
                if x.whole {
                    s.plain = true;
                }
                s.sensitive |= x.sensitive;
            }
            Err(m) => errors.push(DeError::at_path(path, pos, m)),
        },
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_tree(item, &format!("{path}[{i}]"), env, errors);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                expand_tree(v, &join(path, &k.name), env, errors);
            }
        }
        _ => {}
    }
}

/// The result of expanding one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expanded {
    /// The expanded text.
    pub text: String,
    /// The input was exactly one reference (the result is typed like a plain scalar).
    pub whole: bool,
    /// A referenced variable's name looks secret.
    pub sensitive: bool,
}

/// Whether an environment variable's name suggests a secret: it contains `TOKEN`, `PASSWORD`,
/// `PASSWD`, `SECRET`, `KEY`, `AUTH` or `CREDENTIAL` (any case).
pub(crate) fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "KEY",
        "AUTH",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// Expands one string.
pub(crate) fn expand_str(
    input: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Expanded, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut whole = false;
    let mut sensitive = false;
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
            let (value, name) = resolve(reference, env)?;
            sensitive |= is_secret_name(name);
            out.push_str(&value);
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(Expanded {
        text: out,
        whole,
        sensitive,
    })
}

/// Resolves the inside of `${…}`: the value and the variable's name.
fn resolve<'r>(
    reference: &'r str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, &'r str), String> {
    let (scheme, spec) = match reference.split_once(':') {
        // `NAME:-default` has no scheme: the first `:` starts the default.
        Some((s, rest)) if !rest.starts_with('-') => (Some(s), rest),
        _ => (None, reference),
    };
    match scheme {
        None | Some("env") => {}
        Some(other) => {
            return Err(format!(
                "`${{{reference}}}`: the `{other}` config provider is not supported inside \
                 values; otlp-xray expands only environment variables (`${{env:NAME}}`)"
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
        (Some(v), _) => Ok((v, name)),
        (None, Some(d)) => Ok((d.to_owned(), name)),
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
            "APM_SERVER_TOKEN" => Some("s3cr3t".into()),
            _ => None,
        }
    }

    fn x(s: &str) -> Result<(String, bool), String> {
        expand_str(s, &env).map(|e| (e.text, e.whole))
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
    fn defaults_apply_only_when_unset() {
        assert_eq!(x("${env:NOPE:-us-east-1}"), Ok(("us-east-1".into(), true)));
        assert_eq!(x("${NOPE:-a:b}"), Ok(("a:b".into(), true)));
        // The collector's env provider: a variable set to "" is "", default or not.
        assert_eq!(x("${env:EMPTY:-d}"), Ok(("".into(), true)));
        assert_eq!(x("${env:EMPTY}"), Ok(("".into(), true)));
        assert_eq!(x("${env:REGION:-d}"), Ok(("eu-west-1".into(), true)));
        assert_eq!(x("${env:NOPE:-}"), Ok(("".into(), true)));
    }

    #[test]
    fn dollar_escapes() {
        assert_eq!(x("$$"), Ok(("$".into(), false)));
        assert_eq!(x("a$$b"), Ok(("a$b".into(), false)));
        assert_eq!(x("$${env:REGION}"), Ok(("${env:REGION}".into(), false)));
        assert_eq!(x("$$$${env:REGION}"), Ok(("$${env:REGION}".into(), false)));
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

    #[test]
    fn secret_looking_variables_mark_the_value_sensitive() {
        let e = expand_str("Bearer ${env:APM_SERVER_TOKEN}", &env).unwrap();
        assert_eq!(e.text, "Bearer s3cr3t");
        assert!(e.sensitive && !e.whole);
        assert!(!expand_str("${env:REGION}", &env).unwrap().sensitive);
        for name in ["HONEYCOMB_API_KEY", "db_password", "MY_SECRET", "OAUTH_X"] {
            assert!(is_secret_name(name), "{name}");
        }
        assert!(!is_secret_name("AWS_REGION"));
    }

    #[test]
    fn every_bad_reference_is_reported() {
        let mut root = crate::config::yaml::parse(
            "a: ${env:ONE}\nb:\n  - ok\n  - ${env:TWO}\nc: {d: '${env:REGION}'}\n",
            0,
        )
        .unwrap();
        let mut errors = Vec::new();
        expand_tree(&mut root, "", &env, &mut errors);
        let got: Vec<_> = errors
            .iter()
            .map(|e| (e.path.clone().unwrap_or_default(), e.pos.line))
            .collect();
        assert_eq!(got, [("a".to_owned(), 1), ("b[1]".to_owned(), 4)]);
    }
}
