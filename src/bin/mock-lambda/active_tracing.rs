//! Lambda active tracing (`--lambda-segments`): the segments Lambda itself sends to X-Ray for
//! each traced invocation, so the printed tree shows the whole trace as the X-Ray console does.
//!
//! Per invocation (AWS Lambda developer guide, "Visualize Lambda function invocations using
//! AWS X-Ray"): an `AWS::Lambda` service segment (random id, named after the function) and an
//! `AWS::Lambda::Function` segment whose id is the `Parent=` of the trace header Lambda hands
//! to the runtime (and to extensions in the INVOKE event), with `Invocation` and `Overhead`
//! subsegments. The function's own spans are children of the `AWS::Lambda::Function` segment.

use crate::ids;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// `Root=…;Parent=…;Sampled=…` → (root, parent). Keys are case-sensitive as Lambda writes them.
pub fn parse_trace_header(header: &str) -> Option<(String, String)> {
    let mut root = None;
    let mut parent = None;
    for part in header.split(';') {
        match part.trim().split_once('=') {
            Some(("Root", v)) => root = Some(v.to_string()),
            Some(("Parent", v)) => parent = Some(v.to_string()),
            _ => {}
        }
    }
    Some((root?, parent?))
}

/// Seconds since the epoch, as X-Ray's `start_time` / `end_time`.
fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Timing and outcome of one invocation.
#[derive(Debug, Clone)]
pub struct InvocationTiming {
    pub request_id: String,
    pub trace_header: String,
    pub function_arn: String,
    pub function_name: String,
    /// The invocation started (INVOKE delivered).
    pub start: SystemTime,
    /// The function (runtime) finished.
    pub function_end: SystemTime,
    /// The invocation ended (the extension's `/next`, or the deadline).
    pub end: SystemTime,
    /// `platform.runtimeDone` status (`success`, `error`, `timeout`).
    pub status: String,
}

/// The `AWS::Lambda` and `AWS::Lambda::Function` documents for `t`; empty when the trace
/// header has no Root or Parent.
pub fn lambda_documents(t: &InvocationTiming) -> Vec<Value> {
    let Some((root, parent)) = parse_trace_header(&t.trace_header) else {
        return Vec::new();
    };
    let service_id = ids::hex(&ids::random_bytes::<8>());
    let (start, fn_end, end) = (secs(t.start), secs(t.function_end), secs(t.end));
    let failed = t.status != "success";
    let mut service = json!({
        "trace_id": root,
        "id": service_id,
        "name": t.function_name,
        "origin": "AWS::Lambda",
        "start_time": start,
        "end_time": end,
        "resource_arn": t.function_arn,
        // The Invoke API call itself succeeded, even when the function failed.
        "http": {"response": {"status": 200}},
        "aws": {"request_id": t.request_id},
    });
    if t.status == "timeout" {
        service["error"] = json!(true);
    }
    let mut function = json!({
        "trace_id": root,
        "id": parent,
        "parent_id": service_id,
        "name": t.function_name,
        "origin": "AWS::Lambda::Function",
        "start_time": start,
        "end_time": end,
        "resource_arn": t.function_arn,
        "aws": {"function_arn": t.function_arn, "resource_names": [t.function_name]},
        "subsegments": [
            {"id": ids::hex(&ids::random_bytes::<8>()), "name": "Invocation",
             "start_time": start, "end_time": fn_end},
            {"id": ids::hex(&ids::random_bytes::<8>()), "name": "Overhead",
             "start_time": fn_end, "end_time": end.max(fn_end)},
        ],
    });
    if failed {
        function["fault"] = json!(true);
    }
    vec![service, function]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn headers() {
        assert_eq!(
            parse_trace_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1"),
            Some((
                "1-5759e988-bd862e3fe1be46a994272793".into(),
                "53995c3f42cd8ad8".into()
            ))
        );
        assert_eq!(parse_trace_header("Root=1-a-b;Sampled=1"), None);
        assert_eq!(parse_trace_header(""), None);
    }

    #[test]
    fn documents_link_into_one_tree() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let t = InvocationTiming {
            request_id: "r".into(),
            trace_header:
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            function_name: "f".into(),
            start,
            function_end: start + Duration::from_millis(20),
            end: start + Duration::from_millis(30),
            status: "error".into(),
        };
        let docs = lambda_documents(&t);
        assert_eq!(docs.len(), 2);
        let (svc, func) = (&docs[0], &docs[1]);
        assert_eq!(svc["origin"], "AWS::Lambda");
        assert_eq!(func["origin"], "AWS::Lambda::Function");
        assert_eq!(func["id"], "53995c3f42cd8ad8");
        assert_eq!(func["parent_id"], svc["id"]);
        assert_eq!(svc["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(func["fault"], true);
        for d in &docs {
            assert!(crate::xray::document_problems(d).is_empty(), "{d}");
        }
        let out = crate::report::render_traces(&docs);
        assert!(out.lines().nth(1).unwrap().starts_with("  f "), "{out}");
        assert!(out.lines().nth(2).unwrap().starts_with("    f "), "{out}");
        assert!(out.contains("      Invocation"), "{out}");
        assert!(!out.contains("not received"), "{out}");
        let mut bad = t.clone();
        bad.trace_header = "nonsense".into();
        assert!(lambda_documents(&bad).is_empty());
    }
}
