//! One `PutTraceSegments` call over HTTPS (`docs/xray-mapping.md` §17.1), made with `hyper`,
//! `rustls` and `aws-sigv4` rather than the AWS SDK's operation stack.
//!
//! Why not `aws-sdk-xray`: a profile of the extension under load (BENCHMARKS.md, "What holds
//! back the missed goals") put 52 % of its CPU in the SDK's `PutTraceSegments` path, half of it
//! in `aws_smithy_json::escape_string` re-escaping every finished document byte by byte. Here
//! the request body is written once, finished documents escaped eight bytes at a time, signed
//! with `aws-sigv4` (the crate the SDK signs with) and sent on a kept-alive `hyper` connection.
//! Region, credentials, FIPS and endpoint settings still come from `aws-config`'s chains, so the
//! configuration a user knows from the SDK keeps working.
//!
//! The wire format is X-Ray's REST-JSON protocol ("PutTraceSegments", AWS X-Ray API
//! Reference): `POST /TraceSegments` with `{"TraceSegmentDocuments":["<document>", …]}`;
//! the answer is `{"UnprocessedTraceSegments":[{"Id","ErrorCode","Message"}]}`, and errors
//! carry their type in the `x-amzn-errortype` header or the body's `__type` / `code`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Deserialize;
use tokio::sync::Mutex;

use aws_sigv4::http_request::SigningSettings;

use crate::exporter::otlp_tls::{Alpn, TlsMaterial};
use crate::net::{error_chain, sdk_config, sigv4_sign};

/// SigV4 signing name of X-Ray.
pub const SIGNING_NAME: &str = "xray";
/// Path of the operation, appended to the endpoint URL.
pub const OPERATION_PATH: &str = "/TraceSegments";
/// Largest response body read: an answer lists at most 50 unprocessed documents.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Kept-alive connections idle longer than this are closed rather than reused: X-Ray's load
/// balancers close idle connections after about a minute, and a sandbox may stay frozen longer.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);
/// Cached credentials are refreshed this long before they expire.
const CREDENTIALS_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The outcome of one call.
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// HTTP 2xx: every document was accepted except those listed.
    Done(Vec<UnprocessedSegment>),
    /// The call may succeed if made again (429, 5xx, `ThrottledException`, connection or DNS
    /// failures, an unreadable answer, credentials not yet available). The text says why.
    Retryable(String),
    /// Making the call again cannot help (other 4xx, no region, no credentials).
    Permanent(String),
}

/// One entry of `UnprocessedTraceSegments`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UnprocessedSegment {
    /// The segment id of the document, when X-Ray could read it.
    #[serde(rename = "Id", default)]
    pub id: Option<String>,
    /// e.g. `InvalidTraceId`, `MissingId`, `InvalidSegment`, `ThrottledException`.
    #[serde(rename = "ErrorCode", default)]
    pub error_code: Option<String>,
    /// Human-readable reason.
    #[serde(rename = "Message", default)]
    pub message: Option<String>,
}

#[derive(Deserialize)]
struct PutResponse {
    #[serde(rename = "UnprocessedTraceSegments", default)]
    unprocessed: Vec<UnprocessedSegment>,
}

/// The request body of `PutTraceSegments` for `documents` (each a serialised segment
/// document): `{"TraceSegmentDocuments":["…","…"]}`, every document escaped once as a JSON
/// string, byte for byte as `serde_json` escapes it.
///
/// Why not `serde_json` alone: a finished document holds a `"` about every 6 bytes, and
/// `serde_json`'s escaper copies the run before each one and then the escape: ~16 % of the
/// extension's CPU under load (BENCHMARKS.md). A finished document is JSON, so it holds no
/// control character and its only bytes to escape are `"` and `\`: [`escape_quotes`] writes
/// every byte branch-free, with the `\` before it when it needs one. A document that does hold
/// a control character (never one from our translator) is written by `serde_json`.
pub fn request_body(documents: &[String]) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"TraceSegmentDocuments":["#;
    // Documents are mostly short strings: one escaped quote every ~6 bytes.
    let capacity = HEAD.len()
        + 2
        + documents
            .iter()
            .map(|d| d.len() + d.len() / 4 + 3)
            .sum::<usize>();
    let mut body = Vec::with_capacity(capacity);
    body.extend_from_slice(HEAD);
    for (i, document) in documents.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        push_json_string(&mut body, document);
    }
    body.extend_from_slice(b"]}");
    body
}

/// [`request_body`] as `serde_json` writes it: the reference the escaper is tested and
/// benchmarked against (`benches/codec.rs`, `encode/xray-body-serde`).
#[doc(hidden)]
pub fn request_body_serde(documents: &[String]) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct PutRequest<'a> {
        #[serde(rename = "TraceSegmentDocuments")]
        documents: &'a [String],
    }
    // Serialising strings into a Vec cannot fail (no I/O, no non-string map keys).
    serde_json::to_vec(&PutRequest { documents }).unwrap_or_default()
}

/// Room [`escape_quotes`] may write past the escaped text (the window of the last bytes).
const WINDOW: usize = 32;

/// Appends `s` as a JSON string (quoted and escaped) to `body`.
fn push_json_string(body: &mut Vec<u8>, s: &str) {
    let start = body.len();
    // At most two bytes out per byte in, plus the quotes and the last window.
    body.resize(start + 2 * s.len() + 2 + WINDOW, 0);
    let written = match body.get_mut(start..) {
        Some(out) => escape_quotes(out, s.as_bytes()),
        None => None,
    };
    match written {
        Some(n) => body.truncate(start + n),
        None => {
            body.truncate(start);
            // Writing a string into a Vec cannot fail (no I/O).
            let _ = serde_json::to_writer(&mut *body, s);
        }
    }
}

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of each byte of `x` that is zero, exactly (the 7-bit sums cannot carry into the
/// next byte, unlike the usual `x - 0x01…` test whose borrows flag bytes above a match).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The high bit of each byte of `x` below 0x20 (a control character), exactly.
#[inline(always)]
fn control_bytes(x: u64) -> u64 {
    !(((x & LOW7) + ONES * 0x60) | x | LOW7)
}

/// Writes the first `len` bytes of the little-endian word `x` (the rest are spaces) to the
/// start of `window`, a `\\` before each `"` and `\\`, and returns how many bytes that took
/// (`len` to `2 × len`). Control characters are only flagged, in `controls`.
///
/// Whole words are stored: the bytes before the next `"` or `\\`, then past them the `\\` and
/// the rest, each store overwriting the previous one's tail. With a `"` every ~6 bytes, that is
/// a few operations per byte instead of a branch and a copy per escape. Positions are masked
/// to the first 16 bytes of `window` (they never pass 15), so no index can fall outside it.
#[inline(always)]
fn escape_word(window: &mut [u8; WINDOW], x: u64, len: usize, controls: &mut u64) -> usize {
    *controls |= control_bytes(x);
    let mut specials =
        zero_bytes(x ^ (ONES * u64::from(b'"'))) | zero_bytes(x ^ (ONES * u64::from(b'\\')));
    let mut k = 0;
    let mut consumed = 0;
    let mut rest = x;
    let mut store = |at: usize, word: u64| {
        let i = at & 15;
        if let Ok(dst) = <&mut [u8; 8]>::try_from(&mut window[i..i + 8]) {
            *dst = word.to_le_bytes();
        }
    };
    while specials != 0 {
        let p = (specials.trailing_zeros() / 8) as usize;
        store(k, rest);
        k += p - consumed;
        store(k, u64::from(b'\\'));
        k += 1;
        rest = x >> (8 * p);
        consumed = p;
        specials &= specials - 1;
    }
    store(k, rest);
    k + len - consumed
}

/// Writes `"`, `text` with a `\\` before every `"` and `\\`, and `"` to the start of `out`, and
/// returns how many bytes that took; `None` when `text` holds a control character (it needs
/// `serde_json`'s `\\u00xx` escapes) or `out` is shorter than `2 × text + 2 + WINDOW` bytes.
/// Eight bytes at a time ([`escape_word`]): about 4× `serde_json`'s escaper on a segment
/// document (BENCHMARKS.md).
fn escape_quotes(out: &mut [u8], text: &[u8]) -> Option<usize> {
    if out.len() < 2 * text.len() + 2 + WINDOW {
        return None;
    }
    let (first, rest) = out.split_first_mut()?;
    *first = b'"';
    let mut at = 0;
    let mut controls = 0;
    let mut words = text.chunks_exact(8);
    for word in &mut words {
        let window: &mut [u8; WINDOW] = rest.get_mut(at..at + WINDOW)?.try_into().ok()?;
        at += escape_word(
            window,
            u64::from_le_bytes(word.try_into().ok()?),
            8,
            &mut controls,
        );
    }
    let tail = words.remainder();
    let mut last = [b' '; 8];
    last.get_mut(..tail.len())?.copy_from_slice(tail);
    let window: &mut [u8; WINDOW] = rest.get_mut(at..at + WINDOW)?.try_into().ok()?;
    at += escape_word(window, u64::from_le_bytes(last), tail.len(), &mut controls);
    if controls != 0 {
        return None;
    }
    *rest.get_mut(at)? = b'"';
    Some(at + 2)
}

/// Where the calls go: the operation's full URL and the `Host` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// e.g. `https://xray.eu-west-1.amazonaws.com/TraceSegments`.
    pub uri: http::Uri,
    /// The authority of `uri` (host, and port when given).
    pub host: String,
}

/// Endpoint settings other than the region, as the AWS SDKs read them ("Service-specific
/// endpoints" and "Dual-stack and FIPS endpoints" of the AWS SDKs and Tools Reference Guide).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointSettings {
    /// The exporter's `endpoint` key: wins over everything else.
    pub explicit: Option<String>,
    /// `AWS_ENDPOINT_URL_XRAY`.
    pub service_env: Option<String>,
    /// `AWS_ENDPOINT_URL` or the profile's `endpoint_url` (from `aws-config`).
    pub global: Option<String>,
    /// `AWS_USE_FIPS_ENDPOINT`.
    pub fips: bool,
    /// `AWS_USE_DUALSTACK_ENDPOINT`.
    pub dual_stack: bool,
}

/// Resolves the endpoint of X-Ray in `region`: an explicit URL first (the `endpoint` key, then
/// `AWS_ENDPOINT_URL_XRAY`, then `AWS_ENDPOINT_URL`), else the regional endpoint of the
/// region's partition (`xray[-fips].<region>.<suffix>`, or `xray[-fips].<region>.api.aws`
/// dual-stack), as the SDK's endpoint rules do for X-Ray. A URL without a scheme is taken as
/// `https://`. Errors name the URL and what is wrong with it.
pub fn resolve_endpoint(region: &str, settings: &EndpointSettings) -> Result<Endpoint, String> {
    let explicit = [&settings.explicit, &settings.service_env, &settings.global]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .find(|s| !s.is_empty());
    let base = match explicit {
        Some(url) if url.contains("://") => url.to_owned(),
        Some(url) => format!("https://{url}"),
        None => {
            let service = if settings.fips { "xray-fips" } else { "xray" };
            let suffix = if settings.dual_stack {
                dual_stack_suffix(region)
            } else {
                dns_suffix(region)
            };
            format!("https://{service}.{region}.{suffix}")
        }
    };
    let url = format!("{}{OPERATION_PATH}", base.trim_end_matches('/'));
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("the X-Ray endpoint `{base}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(format!(
                "the X-Ray endpoint `{base}` must use http:// or https://"
            ))
        }
    }
    let host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("the X-Ray endpoint `{base}` has no host"))?;
    Ok(Endpoint { uri, host })
}

/// The DNS suffix of the partition `region` belongs to (the SDK's `partitions.json`).
fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-isof-") {
        "csp.hci.ic.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else if region.starts_with("eu-isoe-") {
        "cloud.adc-e.uk"
    } else {
        "amazonaws.com"
    }
}

/// The dual-stack DNS suffix of `region`'s partition.
fn dual_stack_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "api.amazonwebservices.com.cn"
    } else {
        "api.aws"
    }
}

/// Signs a `PutTraceSegments` request carrying `body` with SigV4 (signing name `xray`) at
/// `time`. The signed headers are `host`, `content-type`, `x-amz-date` and, with session
/// credentials, `x-amz-security-token`; the payload hash covers the whole body.
pub fn signed_request(
    endpoint: &Endpoint,
    region: &str,
    credentials: &Credentials,
    body: Bytes,
    time: SystemTime,
) -> Result<http::Request<Full<Bytes>>, String> {
    let payload = body.clone();
    let request = http::Request::post(endpoint.uri.clone())
        .header(http::header::HOST, endpoint.host.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("otlp-xray/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(body))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    sigv4_sign(
        request,
        &payload,
        SIGNING_NAME,
        region,
        credentials,
        SigningSettings::default(),
        time,
    )
}

/// Reads an answer: 2xx lists the unprocessed documents; an error status is classified
/// (R-API-4: 429, 5xx and `ThrottledException` are retryable, other errors are not).
pub fn read_answer(status: http::StatusCode, error_type: Option<&str>, body: &[u8]) -> PutOutcome {
    if status.is_success() {
        if body.iter().all(u8::is_ascii_whitespace) {
            return PutOutcome::Done(Vec::new());
        }
        return match serde_json::from_slice::<PutResponse>(body) {
            Ok(r) => PutOutcome::Done(r.unprocessed),
            // The documents may or may not have been taken: as the SDK does, try again.
            Err(e) => PutOutcome::Retryable(format!("unreadable PutTraceSegments answer: {e}")),
        };
    }
    #[derive(Deserialize, Default)]
    struct ErrorBody {
        #[serde(rename = "__type", alias = "code", alias = "Code", default)]
        kind: Option<String>,
        #[serde(alias = "Message", default)]
        message: Option<String>,
    }
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    // `aws.protocols#restJson1` error types: `[namespace#]Name[:uri]`.
    let code = error_type
        .map(str::to_owned)
        .or(parsed.kind)
        .map(|t| {
            let t = t.split(':').next().unwrap_or_default();
            t.rsplit('#').next().unwrap_or_default().to_owned()
        })
        .unwrap_or_default();
    let mut text = format!("HTTP {}", status.as_u16());
    if !code.is_empty() {
        text.push_str(&format!(" {code}"));
    }
    if let Some(m) = parsed.message.filter(|m| !m.is_empty()) {
        text.push_str(&format!(": {m}"));
    }
    if status.as_u16() == 429 || status.is_server_error() || code == "ThrottledException" {
        PutOutcome::Retryable(text)
    } else {
        PutOutcome::Permanent(text)
    }
}

/// Region, credentials and endpoint as resolved once when the client is built.
struct Resolved {
    region: String,
    endpoint: Endpoint,
    credentials: SharedCredentialsProvider,
}

/// A `PutTraceSegments` client: the resolved settings, a cache of the credentials, and a pool
/// of kept-alive HTTP/1.1 connections (TLS with the bundled roots, never the system store).
pub struct XrayApi {
    resolved: Result<Arc<Resolved>, String>,
    cached: Mutex<Option<Credentials>>,
    http: Result<Client<HttpsConnector<HttpConnector>, Full<Bytes>>, String>,
}

impl XrayApi {
    /// Resolves region, credentials provider and endpoint with `aws-config`'s default chains
    /// (environment, profile files, container and instance metadata). `region` and `endpoint`
    /// are the exporter's keys and win over the chains. A missing region or a bad endpoint is
    /// not an error here: every call then reports it ([`PutOutcome::Permanent`]).
    pub async fn build(region: Option<String>, endpoint: Option<String>) -> Self {
        let sdk = sdk_config(region).await;
        let ignore_configured = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        let settings = EndpointSettings {
            explicit: endpoint,
            service_env: std::env::var("AWS_ENDPOINT_URL_XRAY")
                .ok()
                .filter(|_| !ignore_configured),
            global: sdk.endpoint_url().map(str::to_owned),
            fips: sdk.use_fips().unwrap_or(false),
            dual_stack: sdk.use_dual_stack().unwrap_or(false),
        };
        let resolved = match (sdk.region(), sdk.credentials_provider()) {
            (None, _) => {
                Err("no AWS region: set the exporter's `region` key or AWS_REGION".to_owned())
            }
            (_, None) => Err("no AWS credentials provider is configured".to_owned()),
            (Some(region), Some(credentials)) => {
                let region = region.as_ref().to_owned();
                resolve_endpoint(&region, &settings).map(|endpoint| Resolved {
                    region,
                    endpoint,
                    credentials,
                })
            }
        };
        Self::with(resolved.map(Arc::new))
    }

    /// A client with fixed settings and credentials (tests, benches).
    pub fn fixed(region: &str, endpoint: Endpoint, credentials: Credentials) -> Self {
        Self::with(Ok(Arc::new(Resolved {
            region: region.to_owned(),
            endpoint,
            credentials: SharedCredentialsProvider::new(credentials),
        })))
    }

    fn with(resolved: Result<Arc<Resolved>, String>) -> Self {
        // Building the connector cannot fail with the default settings; if it ever did, every
        // call would say why instead of the process panicking.
        let http = TlsMaterial::default()
            .connector(Alpn::Http1)
            .map(|https| {
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                    .pool_timer(TokioTimer::new())
                    .timer(TokioTimer::new())
                    .build(https)
            })
            .map_err(|e| format!("no TLS configuration for X-Ray: {}", e.message));
        Self {
            resolved,
            cached: Mutex::new(None),
            http,
        }
    }

    /// Credentials from the cache, or from the provider when absent or about to expire.
    async fn credentials(&self, resolved: &Resolved) -> Result<Credentials, PutOutcome> {
        let mut cached = self.cached.lock().await;
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|t| t > SystemTime::now() + CREDENTIALS_REFRESH_MARGIN)
        };
        if let Some(c) = cached.as_ref().filter(|c| fresh(c)) {
            return Ok(c.clone());
        }
        match resolved.credentials.provide_credentials().await {
            Ok(c) => {
                *cached = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                let text = format!(
                    "no AWS credentials: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                );
                Err(match e {
                    CredentialsError::CredentialsNotLoaded(_)
                    | CredentialsError::InvalidConfiguration(_) => PutOutcome::Permanent(text),
                    _ => PutOutcome::Retryable(text),
                })
            }
        }
    }

    /// Sends `documents` (at most 50, R-API-2) in one call. Never fails otherwise than through
    /// the outcome; the caller bounds the time it may take.
    ///
    /// The body is written and signed (escaping and SHA-256 of every byte, a third of the
    /// extension's CPU under load) on Tokio's blocking pool, beside the thread that runs the
    /// receivers, so a busy function's spans are decoded on one core while the previous ones
    /// are signed on the other. The pool's thread starts at the first call, never at init.
    pub async fn put(&self, documents: Arc<Vec<String>>) -> PutOutcome {
        let (resolved, http) = match (&self.resolved, &self.http) {
            (Ok(r), Ok(h)) => (r, h),
            (Err(e), _) | (_, Err(e)) => return PutOutcome::Permanent(e.clone()),
        };
        let credentials = match self.credentials(resolved).await {
            Ok(c) => c,
            Err(outcome) => return outcome,
        };
        let settings = Arc::clone(resolved);
        let signed = tokio::task::spawn_blocking(move || {
            let body = Bytes::from(request_body(&documents));
            signed_request(
                &settings.endpoint,
                &settings.region,
                &credentials,
                body,
                SystemTime::now(),
            )
        })
        .await;
        let request = match signed {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return PutOutcome::Permanent(e),
            Err(e) => return PutOutcome::Retryable(format!("signing task failed: {e}")),
        };
        let response = match http.request(request).await {
            Ok(r) => r,
            Err(e) => return PutOutcome::Retryable(error_chain(&e)),
        };
        let status = response.status();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return PutOutcome::Retryable(format!("cannot read the answer: {e}"));
            }
        };
        read_answer(status, error_type.as_deref(), &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EndpointSettings {
        EndpointSettings::default()
    }

    #[test]
    fn body_escapes_each_document_once() {
        let docs = vec![
            r#"{"name":"a","id":"1"}"#.to_owned(),
            "{\"name\":\"line\\nbreak \u{e9}\"}".to_owned(),
        ];
        let body = request_body(&docs);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        let got: Vec<String> = v["TraceSegmentDocuments"]
            .as_array()
            .expect("array")
            .iter()
            .map(|d| d.as_str().expect("string").to_owned())
            .collect();
        assert_eq!(got, docs);
        // Whatever the text, the body is JSON that gives it back (quotes, backslashes,
        // control characters, non-ASCII).
        let odd = vec![
            "\"\\\u{0}\u{1f}\t\r\n\u{7f}\u{2028}😀".to_owned(),
            String::new(),
        ];
        let v: serde_json::Value = serde_json::from_slice(&request_body(&odd)).expect("JSON");
        assert_eq!(
            v["TraceSegmentDocuments"][0].as_str(),
            Some(odd[0].as_str())
        );
        assert_eq!(v["TraceSegmentDocuments"][1].as_str(), Some(""));
        assert_eq!(
            request_body(&[]),
            br#"{"TraceSegmentDocuments":[]}"#.to_vec()
        );
    }

    #[test]
    fn body_is_what_serde_json_writes() {
        // Escapes at every offset of the 8-byte chunks, runs of them, and a control character
        // (the `serde_json` path) between documents that take the fast one.
        let mut docs: Vec<String> = (0..20)
            .map(|n| format!("{}\"{}", "a".repeat(n), "\\".repeat(n % 5)))
            .collect();
        docs.push(r#"{"a":"\"\\","b":[1,2],"c":"é\u0001"}"#.to_owned());
        docs.push("tab\there".to_owned());
        docs.push("\"".repeat(40));
        docs.push("ü".repeat(9) + "\u{7f}\u{2028}");
        assert_eq!(request_body(&docs), request_body_serde(&docs));
        for doc in &docs {
            let one = std::slice::from_ref(doc);
            assert_eq!(request_body(one), request_body_serde(one), "{doc:?}");
        }
    }

    #[test]
    fn escapes_at_every_pair_of_positions_of_the_words() {
        // Two specials (quote, backslash, control) at any two offsets of one or two 8-byte
        // words and the tail, with neighbours that sit next to them in the byte order.
        let specials = ['"', '\\', '\u{1}', '\u{1f}'];
        for len in 1..20 {
            for i in 0..len {
                for j in i..len {
                    for (a, b) in specials.iter().zip(specials.iter().rev()) {
                        let doc: String = (0..len)
                            .map(|k| match k {
                                k if k == i => *a,
                                k if k == j => *b,
                                k if k % 3 == 0 => '!',
                                k if k % 3 == 1 => ']',
                                _ => '#',
                            })
                            .collect();
                        let one = std::slice::from_ref(&doc);
                        assert_eq!(request_body(one), request_body_serde(one), "{doc:?}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_documents_are_written_as_serde_json_writes_them(
            docs in proptest::collection::vec(proptest::prelude::any::<String>(), 0..4),
        ) {
            proptest::prop_assert_eq!(request_body(&docs), request_body_serde(&docs));
        }

        #[test]
        fn json_texts_are_written_as_serde_json_writes_them(
            docs in proptest::collection::vec("[a-z\"\\\\:{},\\[\\] é]{0,70}", 0..4),
        ) {
            proptest::prop_assert_eq!(request_body(&docs), request_body_serde(&docs));
        }
    }

    #[test]
    fn regional_endpoints_follow_the_partition() {
        let uri = |region: &str, s: &EndpointSettings| {
            resolve_endpoint(region, s).map(|e| e.uri.to_string())
        };
        assert_eq!(
            uri("eu-west-1", &settings()).as_deref(),
            Ok("https://xray.eu-west-1.amazonaws.com/TraceSegments")
        );
        assert_eq!(
            uri("cn-north-1", &settings()).as_deref(),
            Ok("https://xray.cn-north-1.amazonaws.com.cn/TraceSegments")
        );
        let fips = EndpointSettings {
            fips: true,
            ..settings()
        };
        assert_eq!(
            uri("us-gov-west-1", &fips).as_deref(),
            Ok("https://xray-fips.us-gov-west-1.amazonaws.com/TraceSegments")
        );
        let dual = EndpointSettings {
            dual_stack: true,
            ..settings()
        };
        assert_eq!(
            uri("us-east-1", &dual).as_deref(),
            Ok("https://xray.us-east-1.api.aws/TraceSegments")
        );
    }

    #[test]
    fn explicit_endpoints_win_in_order_and_keep_their_path() {
        let s = EndpointSettings {
            explicit: None,
            service_env: Some("http://127.0.0.1:2000/".into()),
            global: Some("http://global:1".into()),
            ..settings()
        };
        let e = resolve_endpoint("eu-west-1", &s).expect("endpoint");
        assert_eq!(e.uri.to_string(), "http://127.0.0.1:2000/TraceSegments");
        assert_eq!(e.host, "127.0.0.1:2000");
        let s = EndpointSettings {
            explicit: Some("localhost:4000/prefix".into()),
            ..s
        };
        let e = resolve_endpoint("eu-west-1", &s).expect("endpoint");
        assert_eq!(
            e.uri.to_string(),
            "https://localhost:4000/prefix/TraceSegments"
        );
        let bad = EndpointSettings {
            explicit: Some("ftp://x".into()),
            ..settings()
        };
        assert!(resolve_endpoint("eu-west-1", &bad)
            .unwrap_err()
            .contains("http:// or https://"));
        let bad = EndpointSettings {
            explicit: Some("http://exa mple".into()),
            ..settings()
        };
        assert!(resolve_endpoint("eu-west-1", &bad)
            .unwrap_err()
            .contains("not a URL"));
    }

    #[test]
    fn answers_are_classified() {
        use http::StatusCode as S;
        assert_eq!(read_answer(S::OK, None, b""), PutOutcome::Done(vec![]));
        let body = br#"{"UnprocessedTraceSegments":[{"Id":"abc","ErrorCode":"InvalidTraceId","Message":"bad"}]}"#;
        assert_eq!(
            read_answer(S::OK, None, body),
            PutOutcome::Done(vec![UnprocessedSegment {
                id: Some("abc".into()),
                error_code: Some("InvalidTraceId".into()),
                message: Some("bad".into()),
            }])
        );
        assert!(matches!(
            read_answer(S::OK, None, b"<html>"),
            PutOutcome::Retryable(_)
        ));
        assert!(matches!(
            read_answer(S::TOO_MANY_REQUESTS, None, b""),
            PutOutcome::Retryable(_)
        ));
        assert!(matches!(
            read_answer(S::SERVICE_UNAVAILABLE, None, b"{}"),
            PutOutcome::Retryable(_)
        ));
        let throttled = read_answer(
            S::BAD_REQUEST,
            Some("ThrottledException:http://internal.amazon.com/"),
            b"{}",
        );
        assert!(
            matches!(throttled, PutOutcome::Retryable(ref t) if t.contains("ThrottledException"))
        );
        let body =
            br#"{"__type":"com.amazonaws.xray#InvalidRequestException","message":"too many"}"#;
        match read_answer(S::BAD_REQUEST, None, body) {
            PutOutcome::Permanent(t) => {
                assert_eq!(t, "HTTP 400 InvalidRequestException: too many")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read_answer(S::FORBIDDEN, None, b"not json"),
            PutOutcome::Permanent(_)
        ));
    }

    #[test]
    fn signed_requests_carry_the_xray_scope_and_the_token() {
        let endpoint = resolve_endpoint("eu-west-1", &settings()).expect("endpoint");
        let creds = Credentials::new("AKID", "SECRET", Some("TOKEN".into()), None, "test");
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let request = signed_request(&endpoint, "eu-west-1", &creds, Bytes::from("{}"), time)
            .expect("signed");
        let h = request.headers();
        let auth = h["authorization"].to_str().expect("ascii");
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKID/20231114/eu-west-1/xray/aws4_request"
            ),
            "{auth}"
        );
        assert!(auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"));
        assert_eq!(h["x-amz-security-token"], "TOKEN");
        assert_eq!(h["x-amz-date"], "20231114T221320Z");
        assert_eq!(h["host"], "xray.eu-west-1.amazonaws.com");
        assert_eq!(request.method(), http::Method::POST);
    }

    #[tokio::test]
    async fn missing_region_is_reported_by_every_call() {
        let api = XrayApi::with(Err("no AWS region".into()));
        assert_eq!(
            api.put(Arc::new(vec!["{}".to_owned()])).await,
            PutOutcome::Permanent("no AWS region".into())
        );
    }
}
