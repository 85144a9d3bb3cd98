//! The OTLP receivers over real sockets: both bound on 127.0.0.1:0 in front of a pipeline with
//! no exporters, fed by real clients (hyper, tonic, the OpenTelemetry Rust SDK's OTLP exporters)
//! and by raw TCP for requests no well-behaved client sends.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::{BufMut, Bytes};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otlp_xray::pipeline::Pipeline;
use otlp_xray::receiver::decode::Status as RpcStatus;
use otlp_xray::receiver::{
    bind_grpc, bind_http, GrpcSettings, HttpSettings, ReceiverError, DEFAULT_TRACES_URL_PATH,
};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tonic::codec::{Codec, CompressionEncoding, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::Code;

/// Request size limit of the receivers under test, in bytes (both protocols).
const LIMIT: usize = 64 * 1024;

struct Receivers {
    pipeline: Pipeline,
    http: SocketAddr,
    grpc: SocketAddr,
    stop: watch::Sender<bool>,
    http_task: tokio::task::JoinHandle<()>,
    grpc_task: tokio::task::JoinHandle<()>,
}

fn start() -> Receivers {
    let pipeline = Pipeline::new(Default::default(), vec![]);
    let (stop, shutdown) = watch::channel(false);
    let http = bind_http(&HttpSettings {
        endpoint: "127.0.0.1:0".into(),
        max_request_body_size: LIMIT,
        traces_url_path: DEFAULT_TRACES_URL_PATH.into(),
    })
    .unwrap();
    let grpc = bind_grpc(&GrpcSettings {
        endpoint: "127.0.0.1:0".into(),
        max_recv_msg_size: LIMIT,
    })
    .unwrap();
    let (http_addr, grpc_addr) = (http.local_addr(), grpc.local_addr());
    assert_ne!(http_addr.port(), 0);
    Receivers {
        http_task: http.serve(pipeline.clone(), shutdown.clone()),
        grpc_task: grpc.serve(pipeline.clone(), shutdown),
        pipeline,
        http: http_addr,
        grpc: grpc_addr,
        stop,
    }
}

/// A request of `n` spans with valid ids, named `name`.
fn request(n: usize, name: &str) -> ExportTraceServiceRequest {
    let spans = (0..n)
        .map(|i| Span {
            trace_id: vec![0x5b; 16],
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: name.to_owned(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_100_000_000,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

const JSON_ONE_SPAN: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
  "scopeSpans":[{"scope":{"name":"test"},"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
  "parentSpanId":"","name":"GET /","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
  "attributes":[{"key":"http.status_code","value":{"intValue":"200"}}],"status":{}}]}]}]}"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// One HTTP/1.1 request over a fresh connection, with hyper's client.
async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = sender
        .send_request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

async fn post(addr: SocketAddr, content_type: &str, body: impl Into<Bytes>) -> Reply {
    send(
        addr,
        Method::POST,
        "/v1/traces",
        &[("content-type", content_type)],
        body,
    )
    .await
}

/// Writes `raw` and reads the reply up to the end of the stream (or a reset, which the server
/// may send when it refuses a body without reading it); returns the status and raw text.
async fn raw(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await
    {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn decode_status(body: &Bytes) -> RpcStatus {
    RpcStatus::decode(body.clone()).unwrap()
}

#[tokio::test]
async fn http_protobuf_json_and_gzip_are_buffered() {
    let r = start();

    let reply = post(
        r.http,
        "application/x-protobuf",
        request(2, "pb").encode_to_vec(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/x-protobuf");
    assert!(reply.body.is_empty());
    assert_eq!(r.pipeline.buffered_spans(), 2);

    let reply = post(r.http, "application/json; charset=utf-8", JSON_ONE_SPAN).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/json");
    assert_eq!(&reply.body[..], b"{}");
    assert_eq!(r.pipeline.buffered_spans(), 3);

    let gz_headers = |ct| [("content-type", ct), ("content-encoding", "gzip")];
    let body = gzip(&request(3, "gz").encode_to_vec());
    let reply = send(
        r.http,
        Method::POST,
        "/v1/traces",
        &gz_headers("application/x-protobuf"),
        body,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = gzip(JSON_ONE_SPAN.as_bytes());
    let reply = send(
        r.http,
        Method::POST,
        "/v1/traces",
        &gz_headers("application/json"),
        body,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(r.pipeline.buffered_spans(), 7);

    // An empty request is fine.
    let reply = post(r.http, "application/x-protobuf", Bytes::new()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = post(r.http, "application/json", "{}").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(r.pipeline.buffered_spans(), 7);
}

#[tokio::test]
async fn http_bad_requests_are_refused_and_change_nothing() {
    let r = start();
    let good = request(1, "good").encode_to_vec();
    assert_eq!(
        post(r.http, "application/x-protobuf", good.clone())
            .await
            .status,
        StatusCode::OK
    );

    // 404: unknown path.
    let reply = send(
        r.http,
        Method::POST,
        "/v1/metrics",
        &[("content-type", "application/x-protobuf")],
        good.clone(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    // 405: wrong method on the traces path, with Allow.
    let reply = send(r.http, Method::GET, "/v1/traces", &[], Bytes::new()).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers.get("allow").unwrap(), "POST");

    // 415: content types.
    for ct in ["text/plain", "application/protobuf", ""] {
        let reply = post(r.http, ct, good.clone()).await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
    }
    let reply = send(r.http, Method::POST, "/v1/traces", &[], good.clone()).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // 415: content encodings, answered with a Status in the request's encoding.
    let reply = send(
        r.http,
        Method::POST,
        "/v1/traces",
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "br"),
        ],
        good.clone(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(decode_status(&reply.body).code, 3);

    // 400: malformed protobuf → protobuf Status; malformed JSON → JSON Status.
    let reply = post(r.http, "application/x-protobuf", &b"\xff\xff\xff\xff"[..]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.content_type(), "application/x-protobuf");
    let status = decode_status(&reply.body);
    assert_eq!(status.code, 3);
    assert!(status.message.contains("protobuf"), "{}", status.message);

    let reply = post(r.http, "application/json", r#"{"resourceSpans": [{"#).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.content_type(), "application/json");
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(json["code"], 3);
    assert!(json["message"].as_str().unwrap().contains("JSON"));

    let reply = post(
        r.http,
        "application/json",
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"not hex"}]}]}]}"#,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // 400: gzip that is not gzip.
    let reply = send(
        r.http,
        Method::POST,
        "/v1/traces",
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        good.clone(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // 413: over the limit as sent (Content-Length), checked before the body is read.
    let (status, _) = raw(
        r.http,
        b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n\
          content-length: 100000000\r\n\r\n",
    )
    .await;
    assert_eq!(status, 413);

    // 413: over the limit while reading a chunked body (no Content-Length).
    let mut chunked =
        b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n\
          transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            .to_vec();
    for _ in 0..(LIMIT / 1024 + 1) {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[0u8; 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, _) = raw(r.http, &chunked).await;
    assert_eq!(status, 413);

    // 413: small as sent, over the limit once gunzipped (a gzip bomb).
    let bomb = gzip(&request(5_000, "x".repeat(100).as_str()).encode_to_vec());
    assert!(bomb.len() < LIMIT);
    let reply = send(
        r.http,
        Method::POST,
        "/v1/traces",
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        bomb,
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(decode_status(&reply.body).code, 8);

    // Nothing above touched the buffer, and valid spans are still taken.
    assert_eq!(r.pipeline.buffered_spans(), 1);
    let reply = post(r.http, "application/json", JSON_ONE_SPAN).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(r.pipeline.buffered_spans(), 2);
}

#[tokio::test]
async fn http_keep_alive_connection_survives_a_bad_request() {
    let r = start();
    let stream = TcpStream::connect(r.http).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    for (body, expected) in [
        (Bytes::from_static(b"\xff\xff"), StatusCode::BAD_REQUEST),
        (
            Bytes::from(request(4, "ka").encode_to_vec()),
            StatusCode::OK,
        ),
    ] {
        let req = Request::post("/v1/traces")
            .header("content-type", "application/x-protobuf")
            .body(Full::new(body))
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        assert_eq!(res.status(), expected);
        res.into_body().collect().await.unwrap();
    }
    assert_eq!(r.pipeline.buffered_spans(), 4);
}

async fn grpc_client(addr: SocketAddr) -> TraceServiceClient<Channel> {
    TraceServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

#[tokio::test]
async fn grpc_export_plain_gzip_and_empty() {
    let r = start();
    let mut client = grpc_client(r.grpc).await;
    let response = client
        .export(request(2, "grpc"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        response,
        ExportTraceServiceResponse {
            partial_success: None
        }
    );
    assert_eq!(r.pipeline.buffered_spans(), 2);

    let mut gz = client.clone().send_compressed(CompressionEncoding::Gzip);
    gz.export(request(3, "gzip")).await.unwrap();
    assert_eq!(r.pipeline.buffered_spans(), 5);

    client
        .export(ExportTraceServiceRequest::default())
        .await
        .unwrap();
    assert_eq!(r.pipeline.buffered_spans(), 5);
}

/// Sends raw bytes as the `Export` request message, for bodies no generated client would send.
#[derive(Default)]
struct RawCodec;

struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawEncoder;
    type Decoder = tonic_prost::ProstDecoder<ExportTraceServiceResponse>;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        Default::default()
    }
}

async fn grpc_raw(
    addr: SocketAddr,
    body: Vec<u8>,
) -> Result<ExportTraceServiceResponse, tonic::Status> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    grpc.unary(tonic::Request::new(body), path, RawCodec)
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn grpc_bad_requests_are_refused_and_change_nothing() {
    let r = start();
    let mut client = grpc_client(r.grpc).await;

    // Malformed protobuf: INVALID_ARGUMENT (not tonic-prost's INTERNAL).
    let status = grpc_raw(r.grpc, b"\xff\xff\xff\xff".to_vec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // Over max_recv_msg_size, uncompressed: RESOURCE_EXHAUSTED (not tonic's OUT_OF_RANGE).
    let big = request(2_000, &"x".repeat(100));
    assert!(big.encoded_len() > LIMIT);
    let status = client.export(big.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // Over max_recv_msg_size once decompressed only: RESOURCE_EXHAUSTED.
    let mut gz = client.clone().send_compressed(CompressionEncoding::Gzip);
    let status = gz.export(big).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // Wrong id lengths are the translator's business: accepted.
    let mut odd = request(1, "odd ids");
    odd.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![1, 2, 3];
    client.export(odd).await.unwrap();
    assert_eq!(r.pipeline.buffered_spans(), 1);

    // Valid spans after the bad requests, on the same connection, are buffered.
    client.export(request(2, "after")).await.unwrap();
    assert_eq!(r.pipeline.buffered_spans(), 3);
}

fn sdk_span(name: &'static str, span_id: u64) -> opentelemetry_sdk::trace::SpanData {
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};
    opentelemetry_sdk::trace::SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes([0x5b; 16]),
            SpanId::from_bytes(span_id.to_be_bytes()),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: name.into(),
        start_time: SystemTime::now(),
        end_time: SystemTime::now(),
        attributes: vec![opentelemetry::KeyValue::new("http.request.method", "GET")],
        dropped_attributes_count: 0,
        events: Default::default(),
        links: Default::default(),
        status: opentelemetry::trace::Status::Unset,
        instrumentation_scope: opentelemetry::InstrumentationScope::builder("receivers-test")
            .build(),
    }
}

#[tokio::test]
async fn opentelemetry_sdk_exporters_reach_the_pipeline() {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::trace::SpanExporter as _;

    let r = start();
    let grpc = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{}", r.grpc))
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    grpc.export(vec![sdk_span("via gRPC", 1), sdk_span("via gRPC", 2)])
        .await
        .unwrap();
    assert_eq!(r.pipeline.buffered_spans(), 2);

    let http = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("http://{}/v1/traces", r.http))
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    http.export(vec![sdk_span("via HTTP", 3)]).await.unwrap();
    assert_eq!(r.pipeline.buffered_spans(), 3);
}

#[tokio::test]
async fn a_port_in_use_is_an_init_error() {
    let r = start();
    let err = bind_http(&HttpSettings {
        endpoint: format!("localhost:{}", r.http.port()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, ReceiverError::Bind { .. }));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot listen on localhost:{} for OTLP/HTTP: ",
            r.http.port()
        )),
        "{text}"
    );
    let err = bind_grpc(&GrpcSettings {
        endpoint: format!("127.0.0.1:{}", r.grpc.port()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("for OTLP/gRPC: "), "{err}");
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    let r = start();
    assert_eq!(
        post(
            r.http,
            "application/x-protobuf",
            request(1, "before").encode_to_vec()
        )
        .await
        .status,
        StatusCode::OK
    );
    r.stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), r.http_task)
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), r.grpc_task)
        .await
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(r.http).await.is_err());
    assert!(TcpStream::connect(r.grpc).await.is_err());
    assert_eq!(r.pipeline.buffered_spans(), 1);
}
