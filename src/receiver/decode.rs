//! Shared OTLP request decoding: content types, gzip with a bounded output, size limits, and the
//! response and error bodies of OTLP/HTTP.
//!
//! Pure functions on bytes, no I/O: the HTTP receiver calls them in order
//! ([`parse_content_type`], [`parse_content_encoding`], [`decompress`], [`decode_request`]), and
//! the benches call them directly. Rules cited are from the OTLP specification
//! (<https://opentelemetry.io/docs/specs/otlp/>), sections named in each item.

use std::io::Read;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// `Content-Type` of protobuf-encoded OTLP/HTTP ("Binary Protobuf Encoding").
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";
/// `Content-Type` of OTLP/JSON ("JSON Protobuf Encoding").
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// The two OTLP/HTTP payload encodings (OTLP spec, "OTLP/HTTP Request": binary protobuf or JSON
/// protobuf). The response uses the encoding of the request ("OTLP/HTTP Response").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP/JSON: lowerCamelCase keys, hex trace/span ids, 64-bit integers as
    /// strings or numbers, enums as integers).
    Json,
}

impl Encoding {
    /// The `Content-Type` that names this encoding in requests and responses.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => CONTENT_TYPE_PROTOBUF,
            Encoding::Json => CONTENT_TYPE_JSON,
        }
    }
}

/// Compression of an OTLP/HTTP request body (`Content-Encoding`). The OTLP spec ("OTLP/HTTP
/// Request") names gzip as the compression clients may use; `identity` means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    /// No `Content-Encoding`, an empty one, or `identity`.
    Identity,
    /// `gzip` (or its legacy alias `x-gzip`, RFC 9110 §8.4.1.3).
    Gzip,
}

/// Why a request body could not be turned into an `ExportTraceServiceRequest`. Each variant maps
/// to one HTTP status ([`DecodeError::http_status`]) and one gRPC code for the error body
/// ([`DecodeError::grpc_code`]).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// `Content-Type` absent or neither `application/x-protobuf` nor `application/json`.
    #[error("unsupported Content-Type {0:?}, supported: application/x-protobuf, application/json")]
    UnsupportedContentType(String),
    /// `Content-Encoding` other than `gzip` or `identity`.
    #[error("unsupported Content-Encoding {0:?}, supported: gzip, identity")]
    UnsupportedContentEncoding(String),
    /// The body (as sent, or once decompressed) is larger than the limit, in bytes.
    #[error("request body larger than the limit of {limit} bytes")]
    TooLarge {
        /// The configured limit in bytes (`max_request_body_size`).
        limit: usize,
    },
    /// The body claims to be gzip but is not valid gzip.
    #[error("invalid gzip body: {0}")]
    Gzip(#[source] std::io::Error),
    /// The body is not a valid protobuf `ExportTraceServiceRequest`.
    #[error("invalid protobuf ExportTraceServiceRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The body is not a valid OTLP/JSON `ExportTraceServiceRequest`.
    #[error("invalid OTLP/JSON ExportTraceServiceRequest: {0}")]
    Json(#[from] serde_json::Error),
}

impl DecodeError {
    /// The HTTP status to answer with:
    /// 415 for an unsupported `Content-Type` or `Content-Encoding` (RFC 9110 §15.5.16 names 415
    /// for both; the Go collector answers 400 for an unknown encoding, and both are
    /// non-retryable for OTLP clients), 413 for a body over the limit (RFC 9110 §15.5.14), 400
    /// for a body that does not decode (OTLP spec, "OTLP/HTTP Response" → "Bad Data").
    pub fn http_status(&self) -> u16 {
        match self {
            DecodeError::UnsupportedContentType(_) | DecodeError::UnsupportedContentEncoding(_) => {
                415
            }
            DecodeError::TooLarge { .. } => 413,
            DecodeError::Gzip(_) | DecodeError::Protobuf(_) | DecodeError::Json(_) => 400,
        }
    }

    /// The gRPC status code carried in the `google.rpc.Status` error body (OTLP spec,
    /// "OTLP/HTTP Response" → "Failures"): `RESOURCE_EXHAUSTED` (8) for a body over the limit,
    /// `INVALID_ARGUMENT` (3) otherwise.
    pub fn grpc_code(&self) -> i32 {
        match self {
            DecodeError::TooLarge { .. } => GRPC_RESOURCE_EXHAUSTED,
            _ => GRPC_INVALID_ARGUMENT,
        }
    }
}

/// gRPC status code `INVALID_ARGUMENT`.
pub const GRPC_INVALID_ARGUMENT: i32 = 3;
/// gRPC status code `RESOURCE_EXHAUSTED`.
pub const GRPC_RESOURCE_EXHAUSTED: i32 = 8;

/// Parses a `Content-Type` header value: the media type is compared case-insensitively and
/// parameters (`; charset=utf-8`) are ignored (RFC 9110 §8.3.1). `None` (header absent) is
/// unsupported, as in the Go collector.
pub fn parse_content_type(value: Option<&str>) -> Result<Encoding, DecodeError> {
    let raw = value.unwrap_or("");
    let media_type = raw.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case(CONTENT_TYPE_PROTOBUF) {
        Ok(Encoding::Protobuf)
    } else if media_type.eq_ignore_ascii_case(CONTENT_TYPE_JSON) {
        Ok(Encoding::Json)
    } else {
        Err(DecodeError::UnsupportedContentType(raw.to_owned()))
    }
}

/// Parses a `Content-Encoding` header value (case-insensitive, RFC 9110 §8.4.1). Only a single
/// coding is accepted: stacked codings such as `gzip, gzip` are unsupported.
pub fn parse_content_encoding(value: Option<&str>) -> Result<ContentEncoding, DecodeError> {
    let raw = value.unwrap_or("").trim();
    if raw.is_empty() || raw.eq_ignore_ascii_case("identity") {
        Ok(ContentEncoding::Identity)
    } else if raw.eq_ignore_ascii_case("gzip") || raw.eq_ignore_ascii_case("x-gzip") {
        Ok(ContentEncoding::Gzip)
    } else {
        Err(DecodeError::UnsupportedContentEncoding(raw.to_owned()))
    }
}

/// Undoes `encoding`, refusing output larger than `limit` bytes.
///
/// The limit applies to the decompressed size: at most `limit + 1` bytes are ever inflated, so
/// a gzip bomb costs at most `limit + 1` bytes of memory before it is rejected with
/// [`DecodeError::TooLarge`]. Identity bodies are returned as they are (the caller has already
/// bounded them while reading).
pub fn decompress(
    body: Bytes,
    encoding: ContentEncoding,
    limit: usize,
) -> Result<Bytes, DecodeError> {
    match encoding {
        ContentEncoding::Identity => {
            if body.len() > limit {
                return Err(DecodeError::TooLarge { limit });
            }
            Ok(body)
        }
        ContentEncoding::Gzip => {
            let take = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
            let mut reader = flate2::read::MultiGzDecoder::new(body.as_ref()).take(take);
            // A typical OTLP payload compresses 5–10×; start there, never above the limit.
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
            reader.read_to_end(&mut out).map_err(DecodeError::Gzip)?;
            if out.len() > limit {
                return Err(DecodeError::TooLarge { limit });
            }
            Ok(Bytes::from(out))
        }
    }
}

/// Decodes an `ExportTraceServiceRequest` in the given encoding.
///
/// Protobuf goes through `prost`. JSON goes through the `serde` implementation of
/// `opentelemetry-proto`, which follows the OTLP spec's "JSON Protobuf Encoding": lowerCamelCase
/// keys, trace and span ids as hex strings (not base64), 64-bit integers as decimal strings or
/// numbers, enum values as integers, unknown keys ignored. A UTF-8 byte-order mark is skipped.
/// Ids of the wrong length are left for the translator to drop.
pub fn decode_request(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportTraceServiceRequest, DecodeError> {
    match encoding {
        Encoding::Protobuf => Ok(ExportTraceServiceRequest::decode(body)?),
        Encoding::Json => {
            let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
            match serde_json::from_slice(body) {
                Ok(request) => Ok(request),
                // The strict pass is the fast path; valid ProtoJSON it misses gets a second,
                // normalising pass (failures only, so valid requests pay nothing).
                Err(strict) => decode_proto_json_leniently(body).ok_or(DecodeError::Json(strict)),
            }
        }
    }
}

/// Second pass for OTLP/JSON that `opentelemetry-proto`'s strict `serde` derive refuses but the
/// ProtoJSON mapping that OTLP/JSON builds on (OTLP spec, "JSON Protobuf Encoding") allows:
/// - `null` for any field (it means the default value);
/// - `{"arrayValue": {}}` and `{"kvlistValue": {}}`: an empty repeated field may be omitted,
///   and Go's `protojson` (the collector forwarding OTLP/JSON) does omit it;
/// - 32-bit integers (`flags`, `kind`, `code`, `dropped*Count`) and `doubleValue` as strings;
/// - enum names for `kind` and `status.code` (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`), which
///   the OTLP spec forbids but ProtoJSON parsers accept.
///
/// Non-finite `doubleValue` strings (`"NaN"`, `"Infinity"`) stay refused: `serde_json` numbers
/// cannot hold them. Returns `None` when the body still does not decode.
fn decode_proto_json_leniently(body: &[u8]) -> Option<ExportTraceServiceRequest> {
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    normalize_proto_json(&mut value);
    serde_json::from_value(value).ok()
}

/// Rewrites, in place, the ProtoJSON forms listed on [`decode_proto_json_leniently`]. Every JSON
/// object key in an OTLP request is a protobuf field name (attribute keys are string values), so
/// matching on key names is safe.
fn normalize_proto_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Array(items) => items.iter_mut().for_each(normalize_proto_json),
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for (key, v) in map.iter_mut() {
                match (key.as_str(), &*v) {
                    ("arrayValue" | "kvlistValue", Value::Object(inner))
                        if !inner.contains_key("values") =>
                    {
                        if let Value::Object(inner) = v {
                            inner.insert("values".to_owned(), Value::Array(Vec::new()));
                        }
                    }
                    (
                        "flags"
                        | "droppedAttributesCount"
                        | "droppedEventsCount"
                        | "droppedLinksCount"
                        | "kind"
                        | "code",
                        Value::String(s),
                    ) => {
                        let n = s.trim().parse::<i64>().ok().or_else(|| enum_number(s));
                        if let Some(n) = n {
                            *v = Value::from(n);
                        }
                    }
                    ("doubleValue", Value::String(s)) => {
                        if let Some(n) = s
                            .trim()
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                        {
                            *v = Value::Number(n);
                        }
                    }
                    _ => {}
                }
                normalize_proto_json(v);
            }
        }
        _ => {}
    }
}

/// Numbers of the `SpanKind` and `Status.StatusCode` enum names (opentelemetry-proto
/// `trace.proto`).
fn enum_number(name: &str) -> Option<i64> {
    Some(match name {
        "SPAN_KIND_UNSPECIFIED" | "STATUS_CODE_UNSET" => 0,
        "SPAN_KIND_INTERNAL" | "STATUS_CODE_OK" => 1,
        "SPAN_KIND_SERVER" | "STATUS_CODE_ERROR" => 2,
        "SPAN_KIND_CLIENT" => 3,
        "SPAN_KIND_PRODUCER" => 4,
        "SPAN_KIND_CONSUMER" => 5,
        _ => return None,
    })
}

/// The body of a successful OTLP/HTTP response: an empty `ExportTraceServiceResponse` in the
/// request's encoding (OTLP spec, "OTLP/HTTP Response" → "Full Success"): zero bytes in
/// protobuf, `{}` in JSON.
pub fn success_body(encoding: Encoding) -> Bytes {
    match encoding {
        Encoding::Protobuf => Bytes::new(),
        Encoding::Json => Bytes::from_static(b"{}"),
    }
}

/// The subset of `google.rpc.Status` that OTLP error bodies carry (OTLP spec, "OTLP/HTTP
/// Response" → "Failures": "the response body MUST be a Protobuf-encoded Status message").
/// `details` (field 3) is never set by this receiver, so it is not declared.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct Status {
    /// A gRPC status code (`INVALID_ARGUMENT` = 3, `RESOURCE_EXHAUSTED` = 8, …).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// A developer-facing English message.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// Encodes a `google.rpc.Status { code, message }` error body in the request's encoding:
/// protobuf bytes, or `{"code":3,"message":"…"}` for JSON (OTLP spec, "OTLP/HTTP Response" →
/// "Failures").
pub fn status_body(encoding: Encoding, code: i32, message: &str) -> Bytes {
    let status = Status {
        code,
        message: message.to_owned(),
    };
    match encoding {
        Encoding::Protobuf => Bytes::from(status.encode_to_vec()),
        // Serialising two plain fields cannot fail; fall back to an empty object regardless.
        Encoding::Json => serde_json::to_vec(&status)
            .map(Bytes::from)
            .unwrap_or_else(|_| Bytes::from_static(b"{}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Bytes {
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        Bytes::from(enc.finish().unwrap())
    }

    fn one_span_request() -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![0x5b; 16],
                        span_id: vec![0x05; 8],
                        name: "GET /".into(),
                        kind: 2,
                        start_time_unix_nano: 1_700_000_000_000_000_000,
                        end_time_unix_nano: 1_700_000_000_100_000_000,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// An OTLP/JSON request as the spec's example and the JS/Python SDKs write it.
    const JSON_REQUEST: &str = r#"{
      "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeSpans": [{
          "scope": {"name": "my.library", "version": "1.0.0"},
          "spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "EEE19B7EC3C1B174",
            "parentSpanId": "",
            "name": "I'm a server span",
            "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": 1544712661000000000,
            "kind": 2,
            "flags": 257,
            "droppedAttributesCount": 0,
            "attributes": [
              {"key": "http.status_code", "value": {"intValue": "200"}},
              {"key": "retries", "value": {"intValue": 3}},
              {"key": "ratio", "value": {"doubleValue": 0.5}},
              {"key": "ok", "value": {"boolValue": true}},
              {"key": "raw", "value": {"bytesValue": "AQID"}},
              {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
              {"key": "map", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"intValue": "-1"}}]}}}
            ],
            "events": [{"timeUnixNano": "1544712660500000000", "name": "exception"}],
            "links": [{"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175"}],
            "status": {"code": 2, "message": "boom"},
            "someFutureField": {"nested": [1, 2, 3]}
          }]
        }]
      }]
    }"#;

    #[test]
    fn protobuf_round_trip() {
        let req = one_span_request();
        let decoded = decode_request(&req.encode_to_vec(), Encoding::Protobuf).unwrap();
        assert_eq!(decoded, req);
    }

    #[test]
    fn empty_protobuf_body_is_an_empty_request() {
        let decoded = decode_request(b"", Encoding::Protobuf).unwrap();
        assert!(decoded.resource_spans.is_empty());
    }

    #[test]
    fn malformed_protobuf_is_400() {
        let err = decode_request(b"\xff\xff\xff\xff", Encoding::Protobuf).unwrap_err();
        assert!(matches!(err, DecodeError::Protobuf(_)));
        assert_eq!(err.http_status(), 400);
        assert_eq!(err.grpc_code(), GRPC_INVALID_ARGUMENT);
    }

    #[test]
    fn otlp_json_hex_ids_string_int64_and_integer_enums() {
        let req = decode_request(JSON_REQUEST.as_bytes(), Encoding::Json).unwrap();
        let rs = &req.resource_spans[0];
        let span = &rs.scope_spans[0].spans[0];
        assert_eq!(
            span.trace_id,
            vec![
                0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
                0xc6, 0x0c
            ]
        );
        assert_eq!(
            span.span_id,
            vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
        );
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.kind, 2);
        assert_eq!(span.flags, 257);
        let value = |i: usize| {
            span.attributes[i]
                .value
                .as_ref()
                .and_then(|v| v.value.clone())
        };
        assert_eq!(value(0), Some(Value::IntValue(200)));
        assert_eq!(value(1), Some(Value::IntValue(3)));
        assert_eq!(value(2), Some(Value::DoubleValue(0.5)));
        assert_eq!(value(3), Some(Value::BoolValue(true)));
        assert_eq!(value(4), Some(Value::BytesValue(vec![1, 2, 3])));
        assert!(matches!(value(5), Some(Value::ArrayValue(a)) if a.values.len() == 1));
        assert!(matches!(value(6), Some(Value::KvlistValue(kv)) if kv.values.len() == 1));
        assert_eq!(span.events[0].time_unix_nano, 1_544_712_660_500_000_000);
        assert_eq!(span.links[0].span_id[7], 0x75);
        let status = span.status.as_ref().unwrap();
        assert_eq!((status.code, status.message.as_str()), (2, "boom"));
        let resource = rs.resource.as_ref().unwrap();
        assert_eq!(resource.attributes[0].key, "service.name");
    }

    #[test]
    fn json_equals_protobuf_for_the_same_request() {
        let req = one_span_request();
        let json = serde_json::to_vec(&req).unwrap();
        assert_eq!(decode_request(&json, Encoding::Json).unwrap(), req);
    }

    #[test]
    fn json_with_bom_and_empty_object() {
        let decoded = decode_request(b"\xEF\xBB\xBF{}", Encoding::Json).unwrap();
        assert!(decoded.resource_spans.is_empty());
    }

    #[test]
    fn json_accepted_by_the_lenient_protojson_pass() {
        let span = |fields: &str| {
            format!(
                r#"{{"resourceSpans":[{{"resource":null,"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c",{fields}}}]}}]}}]}}"#
            )
        };
        let body = span(
            r#""kind":"SPAN_KIND_CLIENT","flags":"257","droppedAttributesCount":"2",
               "status":{"code":"STATUS_CODE_ERROR","message":null},"parentSpanId":null,
               "attributes":[
                 {"key":"empty.list","value":{"arrayValue":{}}},
                 {"key":"empty.map","value":{"kvlistValue":{}}},
                 {"key":"ratio","value":{"doubleValue":"1.5"}},
                 {"key":"unset","value":null}
               ],
               "events":null"#,
        );
        let req = decode_request(body.as_bytes(), Encoding::Json).unwrap();
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            (span.kind, span.flags, span.dropped_attributes_count),
            (3, 257, 2)
        );
        assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
        assert_eq!(span.trace_id.len(), 16);
        let value = |i: usize| {
            span.attributes[i]
                .value
                .as_ref()
                .and_then(|v| v.value.clone())
        };
        assert!(matches!(value(0), Some(Value::ArrayValue(a)) if a.values.is_empty()));
        assert!(matches!(value(1), Some(Value::KvlistValue(kv)) if kv.values.is_empty()));
        assert_eq!(value(2), Some(Value::DoubleValue(1.5)));
        assert_eq!(value(3), None);
    }

    #[test]
    fn malformed_json_is_400() {
        for body in [
            &b"{"[..],
            b"not json",
            br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}"#,
            br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}"#,
            br#"{"resourceSpans": {}}"#,
            // Base64 ids (the generic ProtoJSON bytes form) are not OTLP/JSON.
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"W47/95gDgQPSabYzgT/GDA=="}]}]}]}"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_NONSENSE"}]}]}]}"#,
        ] {
            let err = decode_request(body, Encoding::Json).unwrap_err();
            assert!(matches!(err, DecodeError::Json(_)), "{err}");
            assert_eq!(err.http_status(), 400);
        }
    }

    #[test]
    fn content_type_parsing() {
        assert_eq!(
            parse_content_type(Some("application/x-protobuf")).unwrap(),
            Encoding::Protobuf
        );
        assert_eq!(
            parse_content_type(Some("Application/X-Protobuf")).unwrap(),
            Encoding::Protobuf
        );
        assert_eq!(
            parse_content_type(Some("application/json")).unwrap(),
            Encoding::Json
        );
        assert_eq!(
            parse_content_type(Some("application/json; charset=utf-8")).unwrap(),
            Encoding::Json
        );
        assert_eq!(
            parse_content_type(Some(" application/json ;charset=UTF-8")).unwrap(),
            Encoding::Json
        );
        for bad in [
            None,
            Some(""),
            Some("text/plain"),
            Some("application/protobuf"),
            Some("application/jsonx"),
            Some("application/grpc"),
        ] {
            let err = parse_content_type(bad).unwrap_err();
            assert_eq!(err.http_status(), 415, "{bad:?}");
        }
    }

    #[test]
    fn content_encoding_parsing() {
        assert_eq!(
            parse_content_encoding(None).unwrap(),
            ContentEncoding::Identity
        );
        assert_eq!(
            parse_content_encoding(Some("identity")).unwrap(),
            ContentEncoding::Identity
        );
        assert_eq!(
            parse_content_encoding(Some("GZIP")).unwrap(),
            ContentEncoding::Gzip
        );
        assert_eq!(
            parse_content_encoding(Some("x-gzip")).unwrap(),
            ContentEncoding::Gzip
        );
        for bad in ["br", "deflate", "zstd", "gzip, gzip"] {
            let err = parse_content_encoding(Some(bad)).unwrap_err();
            assert_eq!(err.http_status(), 415, "{bad}");
        }
    }

    #[test]
    fn gzip_protobuf_and_json() {
        let req = one_span_request();
        let body = decompress(gzip(&req.encode_to_vec()), ContentEncoding::Gzip, 1 << 20).unwrap();
        assert_eq!(decode_request(&body, Encoding::Protobuf).unwrap(), req);
        let body = decompress(
            gzip(JSON_REQUEST.as_bytes()),
            ContentEncoding::Gzip,
            1 << 20,
        )
        .unwrap();
        assert!(decode_request(&body, Encoding::Json).is_ok());
    }

    #[test]
    fn gzip_exactly_at_the_limit_is_accepted() {
        let data = vec![b'a'; 1000];
        let out = decompress(gzip(&data), ContentEncoding::Gzip, 1000).unwrap();
        assert_eq!(out.len(), 1000);
        let err = decompress(gzip(&data), ContentEncoding::Gzip, 999).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { limit: 999 }));
        assert_eq!(err.http_status(), 413);
        assert_eq!(err.grpc_code(), GRPC_RESOURCE_EXHAUSTED);
    }

    #[test]
    fn gzip_bomb_is_rejected_without_inflating_it() {
        // 64 MiB of zeros compresses to ~64 KiB; the limit is 1 MiB.
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::best());
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&chunk).unwrap();
        }
        let bomb = Bytes::from(enc.finish().unwrap());
        assert!(bomb.len() < 1 << 20);
        let err = decompress(bomb, ContentEncoding::Gzip, 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. }));
    }

    #[test]
    fn invalid_gzip_is_400() {
        let err = decompress(
            Bytes::from_static(b"definitely not gzip"),
            ContentEncoding::Gzip,
            1 << 20,
        )
        .unwrap_err();
        assert!(matches!(err, DecodeError::Gzip(_)));
        assert_eq!(err.http_status(), 400);
        // Truncated gzip is invalid too.
        let full = gzip(&one_span_request().encode_to_vec());
        let truncated = full.slice(..full.len() - 6);
        let err = decompress(truncated, ContentEncoding::Gzip, 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Gzip(_)), "{err}");
    }

    #[test]
    fn identity_body_over_the_limit_is_413() {
        let err =
            decompress(Bytes::from(vec![0u8; 11]), ContentEncoding::Identity, 10).unwrap_err();
        assert_eq!(err.http_status(), 413);
        assert!(decompress(Bytes::from(vec![0u8; 10]), ContentEncoding::Identity, 10).is_ok());
    }

    #[test]
    fn response_and_status_bodies() {
        assert!(success_body(Encoding::Protobuf).is_empty());
        assert_eq!(&success_body(Encoding::Json)[..], b"{}");
        let pb = status_body(Encoding::Protobuf, 3, "bad");
        assert_eq!(
            Status::decode(pb).unwrap(),
            Status {
                code: 3,
                message: "bad".into()
            }
        );
        let json = status_body(Encoding::Json, 3, "bad \"quoted\"");
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"code": 3, "message": "bad \"quoted\""})
        );
    }
}
