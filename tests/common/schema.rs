//! Our JSON schema for X-Ray segment documents, written as a validator (issue 3: "a JSON
//! schema that we write ourselves"). It is the only copy: integration tests use it through
//! `tests/common`, and the crate's unit tests compile this same file as
//! `exporter::awsxray::translate::schema_check`, so every document the translator produces in
//! the test suite is checked by it.
//!
//! Rules, from `docs/xray-schema-notes.md` (the 2016 AWS schema and its gaps) and the document
//! rules of `docs/xray-mapping.md`:
//! - Size: at most 64,000 bytes (§16, R-SIZE-1; X-Ray's 64 kB limit).
//! - Required: `name`, `id`, `trace_id`, `start_time` (schema) plus `fault`, `error`,
//!   `throttle` (R-SHAPE-3); `end_time` unless `in_progress` is `true`, and not with it
//!   (R-TIME-3/4).
//! - `id`, `parent_id`, exception `id` and `cause`: `^[0-9a-f]{16}$`; `trace_id`:
//!   `^1-[0-9a-f]{8}-[0-9a-f]{24}$` (the notes' practical anchored patterns).
//! - `name`: the schema's `java_pattern`, 1–200 characters of `\p{L}\p{Z}\p{N}` and
//!   `_ . : / % & # = + - @`.
//! - `start_time`, `end_time`: numbers; `in_progress`, `fault`, `error`, `throttle`: booleans.
//! - `user`: string ≤ 250 characters; `origin`, `resource_arn`: strings.
//! - `type`: only `"subsegment"`; `namespace`: `aws` or `remote`, only on subsegments (D16).
//!   A subsegment has `parent_id` and `trace_id` (R-SHAPE-2); no nested `subsegments`, no
//!   `precursor_ids` (R-LINK-3).
//! - `annotations`: keys `^[A-Za-z0-9_.]{1,500}$` (dots allowed, R-ANN-2), values string
//!   (≤ 1,000 characters), number or boolean.
//! - `metadata`: every member (namespace) is an object.
//! - `http`: only `request.{method,url,user_agent,client_ip}` (strings; the schema's 250-cap is
//!   not enforced, R-SIZE-2), `request.x_forwarded_for` (only `true`, R-HTTP-4),
//!   `response.{status,content_length}` (integers); no `traced` (R-HTTP-7).
//! - `aws`: the members of R-AWS-2/3 with their types (strings, `table_names` string array,
//!   `xray.auto_instrumentation` boolean, `elastic_beanstalk.deployment_id` integer,
//!   `cloudwatch_logs` entries with `log_group`); unknown members are errors.
//! - `sql`: the schema's string members, `user` ≤ 250; `service.version`: string.
//! - `cause`: an exception id, or an object of `working_directory`, `paths`, `exceptions`;
//!   exceptions have `id`, string `message`/`type`, boolean `remote`, integer
//!   `truncated`/`skipped`, `stack` frames of string `path`/`label` and integer `line`; ids are
//!   unique and every exception `cause` names an exception of the same document.
//! - `links`: `trace_id`, `id` (patterns above), optional object `attributes` (R-LINK-1).
//! - No JSON `null` outside `metadata` and link attributes, no empty arrays (R-SHAPE-3, D14);
//!   unknown top-level members are errors.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value};

/// Segment document budget (R-SIZE-1 default; X-Ray's limit is 64 kB).
pub const MAX_DOCUMENT_BYTES: usize = 64_000;

struct Patterns {
    hex16: Regex,
    trace_id: Regex,
    name: Regex,
    annotation_key: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        hex16: Regex::new(r"^[0-9a-f]{16}$").unwrap_or_else(|e| panic!("{e}")),
        trace_id: Regex::new(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$").unwrap_or_else(|e| panic!("{e}")),
        // Schema `java_pattern`: letters, separators, numbers and `_ . : / % & # = + - @`.
        name: Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/%&#=+\-@]{1,200}$")
            .unwrap_or_else(|e| panic!("{e}")),
        annotation_key: Regex::new(r"^[A-Za-z0-9_.]{1,500}$").unwrap_or_else(|e| panic!("{e}")),
    })
}

struct Checker {
    errors: Vec<String>,
}

impl Checker {
    fn err(&mut self, path: &str, msg: impl std::fmt::Display) {
        self.errors.push(format!("{path}: {msg}"));
    }

    fn string<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v str> {
        match v {
            Value::String(s) => Some(s),
            other => {
                self.err(path, format!("expected a string, got {other}"));
                None
            }
        }
    }

    fn string_max(&mut self, path: &str, v: &Value, max_chars: usize) {
        if let Some(s) = self.string(path, v) {
            let n = s.chars().count();
            if n > max_chars {
                self.err(
                    path,
                    format!("string of {n} characters exceeds {max_chars}"),
                );
            }
        }
    }

    fn number(&mut self, path: &str, v: &Value) {
        if !v.is_number() {
            self.err(path, format!("expected a number, got {v}"));
        }
    }

    fn integer(&mut self, path: &str, v: &Value) {
        if !(v.is_i64() || v.is_u64()) {
            self.err(path, format!("expected an integer, got {v}"));
        }
    }

    fn boolean(&mut self, path: &str, v: &Value) {
        if !v.is_boolean() {
            self.err(path, format!("expected a boolean, got {v}"));
        }
    }

    fn pattern(&mut self, path: &str, v: &Value, re: &Regex, what: &str) {
        if let Some(s) = self.string(path, v) {
            if !re.is_match(s) {
                self.err(path, format!("{s:?} is not a valid {what}"));
            }
        }
    }

    fn object<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(o) => {
                if o.is_empty() {
                    self.err(path, "empty object should be omitted (R-SHAPE-3)");
                }
                Some(o)
            }
            other => {
                self.err(path, format!("expected an object, got {other}"));
                None
            }
        }
    }

    fn array<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Vec<Value>> {
        match v {
            Value::Array(a) => {
                if a.is_empty() {
                    self.err(path, "empty array should be omitted (R-SHAPE-3)");
                }
                Some(a)
            }
            other => {
                self.err(path, format!("expected an array, got {other}"));
                None
            }
        }
    }

    /// Checks that an object has only string members among `keys` (others are reported).
    fn string_members(&mut self, path: &str, o: &Map<String, Value>, keys: &[&str]) {
        for (k, v) in o {
            let p = format!("{path}.{k}");
            if keys.contains(&k.as_str()) {
                self.string(&p, v);
            } else {
                self.err(&p, "unknown member");
            }
        }
    }

    fn no_nulls(&mut self, path: &str, v: &Value) {
        match v {
            Value::Null => self.err(path, "null values are omitted (D14)"),
            Value::Object(o) => {
                for (k, v) in o {
                    self.no_nulls(&format!("{path}.{k}"), v);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    self.no_nulls(&format!("{path}[{i}]"), v);
                }
            }
            _ => {}
        }
    }
}

/// Validates one serialised segment document. Returns every violation found.
pub fn validate_document(doc: &str) -> Result<(), Vec<String>> {
    let mut c = Checker { errors: Vec::new() };
    if doc.len() > MAX_DOCUMENT_BYTES {
        c.err(
            "$",
            format!(
                "document of {} bytes exceeds {MAX_DOCUMENT_BYTES}",
                doc.len()
            ),
        );
    }
    let value: Value = match serde_json::from_str(doc) {
        Ok(v) => v,
        Err(e) => return Err(vec![format!("$: not JSON: {e}")]),
    };
    let Value::Object(top) = &value else {
        return Err(vec!["$: document is not a JSON object".to_owned()]);
    };
    let p = patterns();

    for key in [
        "name",
        "id",
        "trace_id",
        "start_time",
        "fault",
        "error",
        "throttle",
    ] {
        if !top.contains_key(key) {
            c.err(&format!("$.{key}"), "required member missing");
        }
    }
    let in_progress = top.get("in_progress") == Some(&Value::Bool(true));
    match (in_progress, top.contains_key("end_time")) {
        (false, false) => c.err("$.end_time", "required unless in_progress (R-SHAPE-3)"),
        (true, true) => c.err("$.end_time", "must be absent when in_progress (R-TIME-3)"),
        _ => {}
    }
    let is_subsegment = top.get("type").and_then(Value::as_str) == Some("subsegment");

    let mut exception_ids: HashSet<String> = HashSet::new();
    let mut exception_causes: Vec<(String, String)> = Vec::new();

    for (key, v) in top {
        let path = format!("$.{key}");
        match key.as_str() {
            "name" => c.pattern(&path, v, &p.name, "name (1-200 allowed characters)"),
            "id" | "parent_id" => c.pattern(&path, v, &p.hex16, "16-hex id"),
            "trace_id" => c.pattern(&path, v, &p.trace_id, "X-Ray trace id"),
            "start_time" | "end_time" => c.number(&path, v),
            "in_progress" | "fault" | "error" | "throttle" => c.boolean(&path, v),
            "user" => c.string_max(&path, v, 250),
            "origin" | "resource_arn" => {
                c.string(&path, v);
            }
            "type" => {
                if v != "subsegment" {
                    c.err(&path, format!("type must be \"subsegment\", got {v}"));
                }
            }
            "namespace" => {
                if !(v == "aws" || v == "remote") {
                    c.err(&path, format!("namespace must be aws or remote, got {v}"));
                }
                if !is_subsegment {
                    c.err(&path, "namespace only on subsegments (D16)");
                }
            }
            "http" => check_http(&mut c, &path, v),
            "aws" => check_aws(&mut c, &path, v),
            "service" => {
                if let Some(o) = c.object(&path, v) {
                    c.string_members(&path, o, &["version"]);
                }
            }
            "sql" => {
                if let Some(o) = c.object(&path, v) {
                    for (k, v) in o {
                        let p2 = format!("{path}.{k}");
                        match k.as_str() {
                            "user" => c.string_max(&p2, v, 250),
                            "url" | "connection_string" | "sanitized_query" | "database_type"
                            | "database_version" | "driver_version" | "preparation" => {
                                c.string(&p2, v);
                            }
                            _ => c.err(&p2, "unknown member"),
                        }
                    }
                }
            }
            "cause" => check_cause(&mut c, &path, v, &mut exception_ids, &mut exception_causes),
            "annotations" => {
                if let Some(o) = c.object(&path, v) {
                    for (k, v) in o {
                        let p2 = format!("{path}.{k}");
                        if !p.annotation_key.is_match(k) {
                            c.err(&p2, "annotation key must match ^[A-Za-z0-9_.]{1,500}$");
                        }
                        match v {
                            Value::String(s) if s.chars().count() > 1000 => {
                                c.err(&p2, "annotation string longer than 1000 characters");
                            }
                            Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
                            other => c.err(&p2, format!("annotation value must be string, number or boolean, got {other}")),
                        }
                    }
                }
            }
            "metadata" => {
                if let Some(o) = c.object(&path, v) {
                    for (ns, members) in o {
                        c.object(&format!("{path}.{ns}"), members);
                    }
                }
            }
            "links" => {
                if let Some(a) = c.array(&path, v) {
                    for (i, l) in a.iter().enumerate() {
                        let p2 = format!("{path}[{i}]");
                        let Some(o) = c.object(&p2, l) else { continue };
                        for key in ["trace_id", "id"] {
                            if !o.contains_key(key) {
                                c.err(&format!("{p2}.{key}"), "required member missing");
                            }
                        }
                        for (k, v) in o {
                            let p3 = format!("{p2}.{k}");
                            match k.as_str() {
                                "trace_id" => c.pattern(&p3, v, &p.trace_id, "X-Ray trace id"),
                                "id" => c.pattern(&p3, v, &p.hex16, "16-hex id"),
                                "attributes" => {
                                    c.object(&p3, v);
                                }
                                _ => c.err(&p3, "unknown member"),
                            }
                        }
                    }
                }
            }
            "subsegments" => c.err(
                &path,
                "documents are independent; no nested subsegments (R-SHAPE-2)",
            ),
            "precursor_ids" => c.err(&path, "never written (R-LINK-3)"),
            _ => c.err(&path, "unknown top-level member"),
        }
        if !matches!(key.as_str(), "metadata" | "links") {
            c.no_nulls(&path, v);
        }
    }
    if is_subsegment {
        if !top.contains_key("parent_id") {
            c.err("$.parent_id", "a subsegment needs parent_id (R-SHAPE-2)");
        }
        if !top.contains_key("trace_id") {
            c.err(
                "$.trace_id",
                "an independent subsegment needs trace_id (R-SHAPE-2)",
            );
        }
    }
    for (path, cause) in exception_causes {
        if !exception_ids.contains(&cause) {
            c.err(
                &path,
                format!("cause {cause:?} does not name an exception of this document"),
            );
        }
    }
    if c.errors.is_empty() {
        Ok(())
    } else {
        Err(c.errors)
    }
}

fn check_http(c: &mut Checker, path: &str, v: &Value) {
    let Some(o) = c.object(path, v) else { return };
    for (k, v) in o {
        let p2 = format!("{path}.{k}");
        match k.as_str() {
            "request" => {
                let Some(r) = c.object(&p2, v) else { continue };
                for (k, v) in r {
                    let p3 = format!("{p2}.{k}");
                    match k.as_str() {
                        // The schema caps these at 250; the spec does not cut them (R-SIZE-2),
                        // so only the type is checked here.
                        "method" | "url" | "user_agent" | "client_ip" => {
                            c.string(&p3, v);
                        }
                        "x_forwarded_for" => {
                            if v != &Value::Bool(true) {
                                c.err(&p3, "only true is written (R-HTTP-4)");
                            }
                        }
                        "traced" => c.err(&p3, "never written (R-HTTP-7)"),
                        _ => c.err(&p3, "unknown member"),
                    }
                }
            }
            "response" => {
                let Some(r) = c.object(&p2, v) else { continue };
                for (k, v) in r {
                    let p3 = format!("{p2}.{k}");
                    match k.as_str() {
                        "status" | "content_length" => c.integer(&p3, v),
                        _ => c.err(&p3, "unknown member"),
                    }
                }
            }
            _ => c.err(&p2, "unknown member"),
        }
    }
}

fn check_aws(c: &mut Checker, path: &str, v: &Value) {
    let Some(o) = c.object(path, v) else { return };
    for (k, v) in o {
        let p2 = format!("{path}.{k}");
        match k.as_str() {
            "account_id" | "operation" | "region" | "request_id" | "queue_url" | "table_name" => {
                c.string(&p2, v);
            }
            "table_names" => {
                if let Some(a) = c.array(&p2, v) {
                    for (i, t) in a.iter().enumerate() {
                        c.string(&format!("{p2}[{i}]"), t);
                    }
                }
            }
            "xray" => {
                let Some(x) = c.object(&p2, v) else { continue };
                for (k, v) in x {
                    let p3 = format!("{p2}.{k}");
                    match k.as_str() {
                        "sdk" | "sdk_version" => {
                            c.string(&p3, v);
                        }
                        "auto_instrumentation" => c.boolean(&p3, v),
                        _ => c.err(&p3, "unknown member"),
                    }
                }
            }
            "ec2" => {
                if let Some(x) = c.object(&p2, v) {
                    c.string_members(
                        &p2,
                        x,
                        &[
                            "instance_id",
                            "availability_zone",
                            "instance_size",
                            "ami_id",
                        ],
                    );
                }
            }
            "ecs" => {
                if let Some(x) = c.object(&p2, v) {
                    c.string_members(
                        &p2,
                        x,
                        &[
                            "container",
                            "container_id",
                            "task_arn",
                            "task_family",
                            "cluster_arn",
                            "container_arn",
                            "availability_zone",
                            "launch_type",
                        ],
                    );
                }
            }
            "eks" => {
                if let Some(x) = c.object(&p2, v) {
                    c.string_members(&p2, x, &["cluster_name", "pod", "container_id"]);
                }
            }
            "elastic_beanstalk" => {
                let Some(x) = c.object(&p2, v) else { continue };
                for (k, v) in x {
                    let p3 = format!("{p2}.{k}");
                    match k.as_str() {
                        "environment_name" | "version_label" => {
                            c.string(&p3, v);
                        }
                        "deployment_id" => c.integer(&p3, v),
                        _ => c.err(&p3, "unknown member"),
                    }
                }
            }
            "cloudwatch_logs" => {
                let Some(a) = c.array(&p2, v) else { continue };
                for (i, g) in a.iter().enumerate() {
                    let p3 = format!("{p2}[{i}]");
                    if let Some(x) = c.object(&p3, g) {
                        if !x.contains_key("log_group") {
                            c.err(&format!("{p3}.log_group"), "required member missing");
                        }
                        c.string_members(&p3, x, &["log_group", "arn"]);
                    }
                }
            }
            _ => c.err(&p2, "unknown member"),
        }
    }
}

fn check_cause(
    c: &mut Checker,
    path: &str,
    v: &Value,
    ids: &mut HashSet<String>,
    causes: &mut Vec<(String, String)>,
) {
    let p = patterns();
    if let Value::String(_) = v {
        c.pattern(path, v, &p.hex16, "exception id");
        return;
    }
    let Some(o) = c.object(path, v) else { return };
    for (k, v) in o {
        let p2 = format!("{path}.{k}");
        match k.as_str() {
            "working_directory" => {
                c.string(&p2, v);
            }
            "paths" => {
                if let Some(a) = c.array(&p2, v) {
                    for (i, s) in a.iter().enumerate() {
                        c.string(&format!("{p2}[{i}]"), s);
                    }
                }
            }
            "exceptions" => {
                let Some(a) = c.array(&p2, v) else { continue };
                for (i, e) in a.iter().enumerate() {
                    let p3 = format!("{p2}[{i}]");
                    let Some(x) = c.object(&p3, e) else { continue };
                    if !x.contains_key("id") {
                        c.err(&format!("{p3}.id"), "required member missing");
                    }
                    for (k, v) in x {
                        let p4 = format!("{p3}.{k}");
                        match k.as_str() {
                            "id" => {
                                c.pattern(&p4, v, &p.hex16, "exception id");
                                if let Some(s) = v.as_str() {
                                    if !ids.insert(s.to_owned()) {
                                        c.err(&p4, "duplicate exception id");
                                    }
                                }
                            }
                            "cause" => {
                                c.pattern(&p4, v, &p.hex16, "exception id");
                                if let Some(s) = v.as_str() {
                                    causes.push((p4.clone(), s.to_owned()));
                                }
                            }
                            "message" | "type" => {
                                c.string(&p4, v);
                            }
                            "remote" => c.boolean(&p4, v),
                            "truncated" | "skipped" => c.integer(&p4, v),
                            "stack" => {
                                let Some(frames) = c.array(&p4, v) else {
                                    continue;
                                };
                                for (j, f) in frames.iter().enumerate() {
                                    let p5 = format!("{p4}[{j}]");
                                    let Some(fo) = c.object(&p5, f) else { continue };
                                    for (k, v) in fo {
                                        let p6 = format!("{p5}.{k}");
                                        match k.as_str() {
                                            "path" | "label" => {
                                                c.string(&p6, v);
                                            }
                                            "line" => c.integer(&p6, v),
                                            _ => c.err(&p6, "unknown member"),
                                        }
                                    }
                                }
                            }
                            _ => c.err(&p4, "unknown member"),
                        }
                    }
                }
            }
            _ => c.err(&p2, "unknown member"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_minimal_segment() {
        let doc = r#"{"name":"a","id":"53995c3f42cd8ad8","trace_id":"1-6553f100-a1b2c3d4e5f60718293a4b5c","start_time":1.5,"end_time":2,"fault":false,"error":false,"throttle":false}"#;
        assert_eq!(validate_document(doc), Ok(()));
    }

    #[test]
    fn reports_violations() {
        let doc = r#"{"name":"a<b","id":"XYZ","trace_id":"1-6553f100-a1b2","start_time":"1","type":"subsegment","namespace":"other","fault":false,"error":false,"throttle":false,"annotations":{"bad key":1,"ok":[1]},"metadata":{"default":1}}"#;
        let errs = validate_document(doc).err().unwrap_or_default();
        for needle in [
            "$.name",
            "$.id",
            "$.trace_id",
            "$.start_time",
            "$.end_time",
            "$.namespace",
            "$.parent_id",
            "$.annotations.bad key",
            "$.annotations.ok",
            "$.metadata.default",
        ] {
            assert!(
                errs.iter().any(|e| e.starts_with(needle)),
                "{needle} not in {errs:#?}"
            );
        }
    }
}
