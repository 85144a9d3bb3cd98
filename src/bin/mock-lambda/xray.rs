//! A local X-Ray endpoint: `PutTraceSegments` (`POST /TraceSegments`), SigV4-verified.
//!
//! Fact sheet (docs/lambda-extensions-api.md §2, "Wire to X-Ray"): body
//! `{"TraceSegmentDocuments":["<json>",…]}`, at most 50 documents per call, reply
//! `{"UnprocessedTraceSegments":[{"Id","ErrorCode","Message"}]}`. Errors use the AWS JSON
//! protocol shape `{"__type","message"}`.

use crate::http_util::{json, read_body, Resp};
use aws_sdk_xray::config::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use hyper::body::Incoming;
use hyper::{HeaderMap, Method, Request, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// The fake credentials handed to the extension.
pub const ACCESS_KEY_ID: &str = "AKIDMOCKLAMBDA00000";
pub const SECRET_ACCESS_KEY: &str = "mock-secret-key";
pub const SESSION_TOKEN: &str = "mock-session-token";
pub const REGION: &str = "us-east-1";
pub const SERVICE: &str = "xray";
/// Documents per `PutTraceSegments` call (`maxSegmentsPerPut`).
pub const MAX_DOCUMENTS: usize = 50;
/// Segment document size quota (L-D781C0FD).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Largest request body read.
const BODY_LIMIT: usize = 8 << 20;
/// Clock skew AWS tolerates between `x-amz-date` and now.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// One document as received.
#[derive(Debug, Clone)]
pub struct ReceivedDoc {
    pub at: Instant,
    /// Milliseconds since the mock started.
    pub received_ms: f64,
    pub document: Value,
    /// Schema problems found (missing `name`, bad `id`, …); empty when the document looks valid.
    pub problems: Vec<String>,
}

/// What the endpoint saw.
#[derive(Debug, Default, Clone)]
pub struct Records {
    /// Every `POST /TraceSegments` call.
    pub requests: u64,
    /// Calls answered 403 (signature) or 400 (request shape).
    pub rejected: u64,
    /// Calls answered 500 because of `--xray-fail-first`.
    pub injected_failures: u64,
    /// Why calls were rejected (first 20).
    pub rejections: Vec<String>,
    pub documents: Vec<ReceivedDoc>,
}

pub struct Xray {
    started: Instant,
    fail_first: u64,
    records: Mutex<Records>,
}

impl Xray {
    pub fn new(started: Instant, fail_first: u32) -> Self {
        Self {
            started,
            fail_first: fail_first.into(),
            records: Mutex::new(Records::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn snapshot(&self) -> Records {
        self.lock().clone()
    }

    fn reject(&self, status: StatusCode, kind: &str, message: &str) -> Resp {
        let mut r = self.lock();
        r.rejected += 1;
        if r.rejections.len() < 20 {
            r.rejections
                .push(format!("{} {kind}: {message}", status.as_u16()));
        }
        json(status, &json!({"__type": kind, "message": message}))
    }
}

/// The `serve` handler.
pub async fn handle(xray: Arc<Xray>, req: Request<Incoming>) -> Resp {
    if req.method() != Method::POST || req.uri().path() != "/TraceSegments" {
        return json(
            StatusCode::NOT_FOUND,
            &json!({"__type": "UnknownOperationException", "message": "mock X-Ray serves only POST /TraceSegments"}),
        );
    }
    let (parts, body) = req.into_parts();
    let call_no = {
        let mut r = xray.lock();
        r.requests += 1;
        r.requests
    };
    let body = match read_body(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return xray.reject(StatusCode::BAD_REQUEST, "InvalidRequestException", &e),
    };
    if call_no <= xray.fail_first {
        xray.lock().injected_failures += 1;
        return json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"__type": "InternalFailure"}),
        );
    }
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/TraceSegments");
    if let Err(e) = verify_sigv4(
        parts.method.as_str(),
        pq,
        &parts.headers,
        &body,
        SystemTime::now(),
    ) {
        return xray.reject(StatusCode::FORBIDDEN, "InvalidSignatureException", &e);
    }
    let docs = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => match v.get("TraceSegmentDocuments").and_then(Value::as_array) {
            Some(a) => a.clone(),
            None => {
                return xray.reject(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestException",
                    "TraceSegmentDocuments is required and must be a list",
                )
            }
        },
        Err(e) => {
            return xray.reject(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                &format!("body is not JSON: {e}"),
            )
        }
    };
    if docs.len() > MAX_DOCUMENTS {
        return xray.reject(
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
            &format!(
                "1 validation error detected: Value at 'traceSegmentDocuments' failed to satisfy constraint: Member must have length less than or equal to {MAX_DOCUMENTS} (got {})",
                docs.len()
            ),
        );
    }
    let at = Instant::now();
    let received_ms = at.duration_since(xray.started).as_secs_f64() * 1000.0;
    let mut unprocessed = Vec::new();
    let mut accepted = Vec::new();
    for d in docs {
        let parsed = match d.as_str() {
            Some(s) if s.len() > MAX_DOCUMENT_BYTES => Err(format!(
                "document is {} bytes, over the {MAX_DOCUMENT_BYTES}-byte limit",
                s.len()
            )),
            Some(s) => serde_json::from_str::<Value>(s)
                .map_err(|e| format!("document is not JSON: {e}"))
                .and_then(|v| {
                    if v.is_object() {
                        Ok(v)
                    } else {
                        Err("document is not a JSON object".into())
                    }
                }),
            None => Err("document is not a string".into()),
        };
        match parsed {
            Ok(document) => {
                let problems = document_problems(&document);
                accepted.push(ReceivedDoc {
                    at,
                    received_ms,
                    document,
                    problems,
                });
            }
            Err(message) => {
                // Best effort at the id, as X-Ray does.
                let id = d
                    .as_str()
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
                    .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_default();
                unprocessed
                    .push(json!({"Id": id, "ErrorCode": "InvalidSegment", "Message": message}));
            }
        }
    }
    xray.lock().documents.extend(accepted);
    json(
        StatusCode::OK,
        &json!({"UnprocessedTraceSegments": unprocessed}),
    )
}

/// Required fields of a segment document (xray-schema-notes): `name`, `id` (16 hex),
/// `trace_id` (`1-8hex-24hex`), `start_time`, and `end_time` or `in_progress`; subsegments
/// sent on their own also need `type: "subsegment"` and `parent_id`.
pub fn document_problems(doc: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let is_hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|c| c.is_ascii_hexdigit());
    match doc.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => {}
        _ => p.push("missing name".to_string()),
    }
    match doc.get("id").and_then(Value::as_str) {
        Some(id) if is_hex(id, 16) => {}
        other => p.push(format!("bad id {other:?}")),
    }
    let trace_ok = doc
        .get("trace_id")
        .and_then(Value::as_str)
        .map(|t| {
            let parts: Vec<&str> = t.split('-').collect();
            parts.len() == 3 && parts[0] == "1" && is_hex(parts[1], 8) && is_hex(parts[2], 24)
        })
        .unwrap_or(false);
    if !trace_ok {
        p.push(format!("bad trace_id {:?}", doc.get("trace_id")));
    }
    if !doc.get("start_time").map(Value::is_number).unwrap_or(false) {
        p.push("missing start_time".to_string());
    }
    let in_progress = doc
        .get("in_progress")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !in_progress && !doc.get("end_time").map(Value::is_number).unwrap_or(false) {
        p.push("missing end_time (and not in_progress)".to_string());
    }
    if doc.get("type").and_then(Value::as_str) == Some("subsegment")
        && doc.get("parent_id").is_none()
    {
        p.push("independent subsegment without parent_id".to_string());
    }
    p
}

/// Ids of a document and of the subsegments embedded in it (recursively).
pub fn document_ids(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        if let Some(id) = v.get("id").and_then(Value::as_str) {
            out.push(id.to_ascii_lowercase());
        }
        if let Some(subs) = v.get("subsegments").and_then(Value::as_array) {
            for s in subs {
                walk(s, out);
            }
        }
    }
    walk(doc, &mut out);
    out
}

/// Verifies an `Authorization: AWS4-HMAC-SHA256 …` header by re-signing the request with
/// `aws-sigv4` (the same headers, time and body) and comparing the signatures.
pub fn verify_sigv4(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), String> {
    let get = |name: &str| -> Result<Option<&str>, String> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(Some)
                .map_err(|_| format!("header {name} is not visible ASCII")),
        }
    };
    let auth = get("authorization")?.ok_or("missing Authorization header (request not signed)")?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("Authorization is not AWS4-HMAC-SHA256")?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| format!("malformed Authorization component {part:?}"))?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let credential = credential.ok_or("Authorization lacks Credential")?;
    let signed_headers = signed_headers.ok_or("Authorization lacks SignedHeaders")?;
    let signature = signature.ok_or("Authorization lacks Signature")?;

    let scope: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, terminator] = scope[..] else {
        return Err(format!("malformed Credential {credential:?}"));
    };
    if akid != ACCESS_KEY_ID {
        return Err(format!("unknown access key {akid:?}"));
    }
    if region != REGION || service != SERVICE || terminator != "aws4_request" {
        return Err(format!(
            "credential scope {date}/{region}/{service}/{terminator} is not <date>/{REGION}/{SERVICE}/aws4_request"
        ));
    }
    let amz_date = get("x-amz-date")?.ok_or("missing x-amz-date header")?;
    let time = parse_amz_date(amz_date).ok_or_else(|| format!("bad x-amz-date {amz_date:?}"))?;
    if !amz_date.starts_with(date) {
        return Err(format!(
            "credential date {date} does not match x-amz-date {amz_date}"
        ));
    }
    let skew = now
        .duration_since(time)
        .or_else(|_| time.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_SKEW {
        return Err(format!(
            "signature time {amz_date} is more than 15 minutes from now"
        ));
    }
    let token = get("x-amz-security-token")?.ok_or("missing x-amz-security-token header")?;
    if token != SESSION_TOKEN {
        return Err("wrong x-amz-security-token".into());
    }

    // The headers the client signed, minus the ones the signer adds itself.
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err("SignedHeaders must include host".into());
    }
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for name in &names {
        if *name == "x-amz-date" || *name == "x-amz-security-token" {
            continue;
        }
        let values = headers.get_all(*name);
        let mut any = false;
        for v in values {
            let v = v
                .to_str()
                .map_err(|_| format!("signed header {name} is not visible ASCII"))?;
            pairs.push((name, v));
            any = true;
        }
        if !any {
            return Err(format!("signed header {name} is missing from the request"));
        }
    }
    let host = get("host")?.ok_or("missing Host header")?;
    let uri = format!("http://{host}{path_and_query}");
    if uri
        .parse::<http::Uri>()
        .map(|u| u.authority().is_none())
        .unwrap_or(true)
    {
        return Err(format!("cannot rebuild the request URI from Host {host:?}"));
    }

    let identity = Credentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        Some(SESSION_TOKEN.into()),
        None,
        "mock-lambda",
    )
    .into();
    let mut settings = SigningSettings::default();
    // Only the signed headers are passed in, so nothing needs excluding.
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("signing params: {e}"))?
        .into();
    let signable = SignableRequest::new(method, uri, pairs.into_iter(), SignableBody::Bytes(body))
        .map_err(|e| format!("cannot rebuild the request: {e}"))?;
    let expected = sign(signable, &params)
        .map_err(|e| format!("cannot re-sign the request: {e}"))?
        .signature()
        .to_string();
    if expected != signature {
        return Err(
            "The request signature we calculated does not match the signature you provided".into(),
        );
    }
    Ok(())
}

/// `20150830T123600Z` → time.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = crate::ids::days_from_civil(y as i64, mo as u32, d as u32);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + se;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::SigningSettings;

    /// Signs like the AWS SDK does and returns the headers of the signed request.
    fn signed(body: &[u8], time: SystemTime, secret: &str) -> HeaderMap {
        let identity =
            Credentials::new(ACCESS_KEY_ID, secret, Some(SESSION_TOKEN.into()), None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(SERVICE)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let mut req = http::Request::post("http://127.0.0.1:40000/TraceSegments")
            .header("host", "127.0.0.1:40000")
            .header("content-type", "application/x-amz-json-1.1")
            .header("content-length", body.len().to_string())
            .header("x-amz-user-agent", "aws-sdk-rust/1.0 api/xray")
            .header("user-agent", "aws-sdk-rust/1.0")
            .body(())
            .unwrap();
        let hs: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            "http://127.0.0.1:40000/TraceSegments",
            hs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instr, _) = sign(signable, &params).unwrap().into_parts();
        instr.apply_to_request_http1x(&mut req);
        req.headers().clone()
    }

    #[test]
    fn accepts_a_real_signature_and_rejects_tampering() {
        let now = SystemTime::now();
        let body = br#"{"TraceSegmentDocuments":[]}"#;
        let h = signed(body, now, SECRET_ACCESS_KEY);
        assert_eq!(
            verify_sigv4("POST", "/TraceSegments", &h, body, now),
            Ok(())
        );
        // body tampered
        assert!(verify_sigv4("POST", "/TraceSegments", &h, b"{}", now).is_err());
        // path / method tampered
        assert!(verify_sigv4("POST", "/Other", &h, body, now).is_err());
        assert!(verify_sigv4("PUT", "/TraceSegments", &h, body, now).is_err());
        // a signed header changed
        let mut h2 = h.clone();
        h2.insert("content-type", "text/plain".parse().unwrap());
        assert!(verify_sigv4("POST", "/TraceSegments", &h2, body, now).is_err());
        // an unsigned header changed: fine
        let mut h3 = h.clone();
        h3.insert("user-agent", "other".parse().unwrap());
        assert_eq!(
            verify_sigv4("POST", "/TraceSegments", &h3, body, now),
            Ok(())
        );
        // wrong secret
        let h4 = signed(body, now, "other-secret");
        assert!(verify_sigv4("POST", "/TraceSegments", &h4, body, now)
            .unwrap_err()
            .contains("does not match"));
        // missing token / date / authorization
        for name in ["x-amz-security-token", "x-amz-date", "authorization"] {
            let mut h5 = h.clone();
            h5.remove(name);
            assert!(
                verify_sigv4("POST", "/TraceSegments", &h5, body, now).is_err(),
                "{name}"
            );
        }
        // too old
        assert!(verify_sigv4(
            "POST",
            "/TraceSegments",
            &h,
            body,
            now + Duration::from_secs(3600)
        )
        .is_err());
        // garbage authorization never panics
        for junk in ["", "AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256 Credential=a/b", "AWS4-HMAC-SHA256 Credential=AKIDMOCKLAMBDA00000/2/us-east-1/xray/aws4_request, SignedHeaders=, Signature=x"] {
            let mut h6 = h.clone();
            h6.insert("authorization", junk.parse().unwrap());
            assert!(verify_sigv4("POST", "/TraceSegments", &h6, body, now).is_err(), "{junk}");
        }
        let mut h7 = h.clone();
        h7.insert("host", "[bad".parse().unwrap());
        assert!(verify_sigv4("POST", "/TraceSegments", &h7, body, now).is_err());
    }

    #[test]
    fn amz_dates() {
        assert_eq!(
            parse_amz_date("20150830T123600Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_440_938_160))
        );
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
        assert_eq!(parse_amz_date("20151330T123600Z"), None);
        assert_eq!(parse_amz_date("2015083xT123600Z"), None);
    }

    #[test]
    fn ids_and_problems() {
        let doc = json!({
            "name": "a", "id": "AAAAAAAAAAAAAAA1", "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
            "start_time": 1.0, "end_time": 2.0,
            "subsegments": [{"id": "bbbbbbbbbbbbbbb2", "subsegments": [{"id": "ccccccccccccccc3"}]}]
        });
        assert_eq!(
            document_ids(&doc),
            vec!["aaaaaaaaaaaaaaa1", "bbbbbbbbbbbbbbb2", "ccccccccccccccc3"]
        );
        assert!(document_problems(&doc).is_empty());
        assert_eq!(document_problems(&json!({"type": "subsegment"})).len(), 6);
    }

    /// The real AWS SDK for Rust signs, the mock verifies: proves the verifier matches the
    /// SDK the extension uses.
    #[tokio::test]
    async fn aws_sdk_put_trace_segments_is_accepted() {
        let xray = Arc::new(Xray::new(Instant::now(), 1));
        let addr = crate::http_util::serve(xray.clone(), handle).await.unwrap();
        let conf = aws_sdk_xray::Config::builder()
            .behavior_version(aws_sdk_xray::config::BehaviorVersion::latest())
            .region(aws_sdk_xray::config::Region::new(REGION))
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                Some(SESSION_TOKEN.into()),
                None,
                "t",
            ))
            .endpoint_url(format!("http://{addr}"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .retry_config(aws_sdk_xray::config::retry::RetryConfig::disabled())
            .build();
        let client = aws_sdk_xray::Client::from_conf(conf);
        let doc = json!({"name": "svc", "id": "70de5b6f19ff9a0a", "trace_id": "1-581cf771-a006649127e371903a2de979", "start_time": 1.0, "end_time": 2.0}).to_string();
        // first call: injected 500
        assert!(client
            .put_trace_segments()
            .trace_segment_documents(doc.clone())
            .send()
            .await
            .is_err());
        let out = client
            .put_trace_segments()
            .trace_segment_documents(doc)
            .trace_segment_documents("{not json")
            .send()
            .await
            .unwrap();
        let un = out.unprocessed_trace_segments();
        assert_eq!(un.len(), 1);
        assert_eq!(un[0].error_code(), Some("InvalidSegment"));
        let r = xray.snapshot();
        assert_eq!(
            (
                r.requests,
                r.rejected,
                r.injected_failures,
                r.documents.len()
            ),
            (2, 0, 1, 1)
        );
        assert_eq!(r.documents[0].document["name"], "svc");

        // unsigned → 403 and counted
        let client2: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let resp = client2
            .request(
                hyper::Request::post(format!("http://{addr}/TraceSegments"))
                    .body(http_body_util::Full::from(
                        r#"{"TraceSegmentDocuments":[]}"#,
                    ))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        assert_eq!(xray.snapshot().rejected, 1);
    }
}
