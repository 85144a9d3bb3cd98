//! Data-driven test over every `tests/xray-vectors/*.json` (format and matching rules in
//! `tests/xray-vectors/README.md`): builds the OTLP resource and span from the vector's OTLP/JSON,
//! translates it with the vector's config, matches the output against `expect`, and validates
//! every produced document with `common::schema`. All failures are reported at once.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::{resource::v1::Resource, trace::v1::Span};
use otlp_xray::exporter::awsxray::translate::{translate_span, TranslateConfig};
use regex::Regex;
use serde_json::Value;

use common::schema::validate_document;

const FLOAT_TOLERANCE: f64 = 1e-6;

/// `tests/xray-vectors`, or the directory in `XRAY_VECTORS_DIR` (to try out extra vectors).
fn vectors_dir() -> PathBuf {
    match std::env::var_os("XRAY_VECTORS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("xray-vectors"),
    }
}

/// Expands `{"$repeat": "x", "count": N}` into the repeated string (README "Input macro").
fn expand_macros(v: &mut Value) -> Result<(), String> {
    match v {
        Value::Object(o) => {
            if let Some(rep) = o.get("$repeat") {
                let unit = rep.as_str().ok_or("$repeat must be a string")?;
                let count = o
                    .get("count")
                    .and_then(Value::as_u64)
                    .ok_or("$repeat needs an integer count")?;
                let count = usize::try_from(count).map_err(|e| e.to_string())?;
                *v = Value::String(unit.repeat(count));
                return Ok(());
            }
            for child in o.values_mut() {
                expand_macros(child)?;
            }
        }
        Value::Array(a) => {
            for child in a {
                expand_macros(child)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The vector's `config` over the defaults, plus `now_unix_seconds`.
fn config_from(v: Option<&Value>) -> Result<(TranslateConfig, u64), String> {
    let mut config = TranslateConfig::default();
    let mut now = None;
    let Some(obj) = v.and_then(Value::as_object) else {
        return Err("config missing".to_owned());
    };
    let strings = |v: &Value| -> Result<Vec<String>, String> {
        v.as_array()
            .ok_or("expected an array")?
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "expected strings".to_owned())
            })
            .collect()
    };
    let boolean = |k: &str, v: &Value| v.as_bool().ok_or(format!("config {k}: expected a bool"));
    for (k, v) in obj {
        match k.as_str() {
            "now_unix_seconds" => now = v.as_u64(),
            "skip_timestamp_validation" => config.skip_timestamp_validation = boolean(k, v)?,
            "index_all_attributes" => config.index_all_attributes = boolean(k, v)?,
            "annotation_allow_dot" => config.annotation_allow_dot = boolean(k, v)?,
            "indexed_attributes" => config.indexed_attributes = strings(v)?,
            "aws_log_groups" => config.aws_log_groups = strings(v)?,
            "lambda_origin" => config.lambda_origin = v.as_str().map(str::to_owned),
            "max_document_bytes" => {
                config.max_document_bytes = v
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or("config max_document_bytes: expected an integer")?;
            }
            other => return Err(format!("unknown config key {other:?}")),
        }
    }
    Ok((config, now.ok_or("config.now_unix_seconds missing")?))
}

/// Resolves an RFC 6901 pointer in the actual document.
fn resolve<'a>(root: &'a Value, pointer: &str) -> Option<&'a Value> {
    root.pointer(pointer)
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "<absent>".to_owned(),
        Some(v) => v.to_string(),
    }
}

/// Matches `expected` against `actual` at `path` (README "Matching rules").
fn check(
    expected: &Value,
    actual: Option<&Value>,
    path: &str,
    root: &Value,
    errs: &mut Vec<String>,
) {
    let actual_present = actual.filter(|a| !a.is_null());
    let mut fail = |why: &str| {
        errs.push(format!(
            "  at {path}: {why}\n    expected: {expected}\n    actual:   {}",
            show(actual)
        ));
    };
    match expected {
        Value::String(s) if s == "$absent" => {
            if actual_present.is_some() {
                fail("must be absent");
            }
        }
        Value::String(s) if s == "$present" => {
            if actual.is_none() {
                fail("must be present");
            }
        }
        Value::String(s) if s == "$hex16" => {
            let ok = actual
                .and_then(Value::as_str)
                .is_some_and(|a| Regex::new("^[0-9a-f]{16}$").is_ok_and(|re| re.is_match(a)));
            if !ok {
                fail("must be 16 lower-case hex digits");
            }
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("$len") => {
            let want = o.get("$len").and_then(Value::as_u64);
            let got = actual
                .and_then(Value::as_str)
                .map(|s| s.chars().count() as u64);
            if want.is_none() || want != got {
                fail(&format!(
                    "string length must be {}, got {}",
                    show(o.get("$len")),
                    got.map_or("<not a string>".to_owned(), |g| g.to_string())
                ));
            }
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("$ref") => {
            let pointer = o.get("$ref").and_then(Value::as_str).unwrap_or("");
            let target = resolve(root, pointer);
            if target.is_none() || target != actual {
                fail(&format!(
                    "must equal the value at {pointer} ({})",
                    show(target)
                ));
            }
        }
        Value::Object(o) => {
            let Some(Value::Object(a)) = actual_present else {
                fail("must be an object");
                return;
            };
            for (k, ev) in o {
                if path == "$" && k.starts_with('$') {
                    continue; // top-level directives, handled by the caller
                }
                check(ev, a.get(k), &format!("{path}.{k}"), root, errs);
            }
        }
        Value::Array(e) => {
            let Some(Value::Array(a)) = actual_present else {
                fail("must be an array");
                return;
            };
            if a.len() != e.len() {
                fail(&format!(
                    "array length must be {}, got {}",
                    e.len(),
                    a.len()
                ));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                check(ev, Some(av), &format!("{path}[{i}]"), root, errs);
            }
        }
        Value::Number(n) => {
            let Some(Value::Number(a)) = actual_present else {
                fail("must be a number");
                return;
            };
            if n.is_i64() || n.is_u64() {
                if !(a.is_i64() || a.is_u64()) || a != n {
                    fail("integers must be equal integers");
                }
            } else {
                let (Some(e), Some(g)) = (n.as_f64(), a.as_f64()) else {
                    fail("not comparable");
                    return;
                };
                if (e - g).abs() > FLOAT_TOLERANCE {
                    fail("floats differ by more than 1e-6");
                }
            }
        }
        other => {
            if actual_present != Some(other) {
                fail("must be equal");
            }
        }
    }
}

/// Runs one vector; returns its failure report (empty when it passes).
fn run_vector(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read: {e}"))?;
    let mut vector: Value = serde_json::from_str(&text).map_err(|e| format!("parse: {e}"))?;
    expand_macros(&mut vector)?;
    let resource: Option<Resource> = match vector.get("resource") {
        Some(r) => Some(serde_json::from_value(r.clone()).map_err(|e| format!("resource: {e}"))?),
        None => None,
    };
    let span: Span = serde_json::from_value(vector.get("span").cloned().unwrap_or(Value::Null))
        .map_err(|e| format!("span: {e}"))?;
    let (config, now) = config_from(vector.get("config"))?;
    let expect = vector.get("expect").ok_or("no expect")?;

    let result = translate_span(resource.as_ref(), &span, &config, now);

    if expect.get("$dropped") == Some(&Value::Bool(true)) {
        return match result {
            Err(reason) => match expect.get("reason").and_then(Value::as_str) {
                Some(want) if want != reason.as_str() => Err(format!(
                    "  dropped as expected, but reason is {:?} (vector says {want:?})",
                    reason.as_str()
                )),
                _ => Ok(()),
            },
            Ok(docs) => Err(format!(
                "  expected the span to be dropped, got {} document(s):\n{}",
                docs.len(),
                docs.join("\n")
            )),
        };
    }

    let docs = result.map_err(|reason| {
        format!(
            "  span dropped ({}) but a document was expected",
            reason.as_str()
        )
    })?;
    let mut report = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if let Err(errs) = validate_document(doc) {
            let _ = writeln!(report, "  document {i} fails the schema:");
            for e in errs {
                let _ = writeln!(report, "    {e}");
            }
        }
    }
    if docs.len() != 1 {
        let _ = writeln!(report, "  expected exactly 1 document, got {}", docs.len());
    }
    if let Some(doc) = docs.first() {
        if let Some(max) = expect.get("$document_max_bytes").and_then(Value::as_u64) {
            if doc.len() as u64 > max {
                let _ = writeln!(
                    report,
                    "  document is {} bytes, more than $document_max_bytes {max}",
                    doc.len()
                );
            }
        }
        let actual: Value =
            serde_json::from_str(doc).map_err(|e| format!("output is not JSON: {e}"))?;
        let mut errs = Vec::new();
        check(expect, Some(&actual), "$", &actual, &mut errs);
        for e in errs {
            let _ = writeln!(report, "{e}");
        }
        if !report.is_empty() {
            let pretty = serde_json::to_string_pretty(&actual).unwrap_or_default();
            let _ = writeln!(report, "  actual document:\n{pretty}");
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(report)
    }
}

#[test]
fn xray_vectors() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .unwrap_or_else(|e| panic!("cannot read vectors: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no vectors found");
    let mut failures = Vec::new();
    let mut passed = 0;
    for path in &paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match run_vector(path) {
            Ok(()) => passed += 1,
            Err(report) => failures.push(format!("FAIL {name}\n{report}")),
        }
    }
    eprintln!("xray vectors: {passed}/{} passed", paths.len());
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}
