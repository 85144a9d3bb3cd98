//! OTLP receivers started by a test: a tonic `TraceService` server (OTLP/gRPC) and a hyper
//! server (OTLP/HTTP), each on `127.0.0.1:0`, recording every request's arrival time, headers
//! and spans. They run on their own runtime thread and stop when dropped.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use otlp_xray::receiver::decode::{decode_request, Encoding};

/// One span as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanSeen {
    pub trace_id: String,
    pub span_id: String,
    pub start_unix_nano: u64,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// Wall-clock time the request arrived.
    pub at: SystemTime,
    /// Header (HTTP) or metadata (gRPC) names, lowercase, and values.
    pub headers: HashMap<String, String>,
    pub spans: Vec<SpanSeen>,
}

/// A running OTLP receiver.
pub struct Sink {
    pub addr: SocketAddr,
    pub arrivals: Arc<Mutex<Vec<Arrival>>>,
    /// Requests answered with an error (the configured failure status).
    pub refused: Arc<AtomicU64>,
    /// HTTP status (or gRPC code, for the gRPC sink) to answer with; 0 / 200 = success.
    pub fail_with: Arc<AtomicU16>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Sink {
    /// Every request so far.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Every span so far, with the time its request arrived.
    pub fn spans(&self) -> Vec<(SystemTime, SpanSeen)> {
        self.arrivals()
            .into_iter()
            .flat_map(|a| a.spans.into_iter().map(move |s| (a.at, s)))
            .collect()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn spans_of(req: &ExportTraceServiceRequest) -> Vec<SpanSeen> {
    req.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter())
        .map(|s| SpanSeen {
            trace_id: hex(&s.trace_id),
            span_id: hex(&s.span_id),
            start_unix_nano: s.start_time_unix_nano,
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("sink runtime")
}

#[derive(Clone)]
struct GrpcRecorder {
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    refused: Arc<AtomicU64>,
    fail_with: Arc<AtomicU16>,
}

#[tonic::async_trait]
impl TraceService for GrpcRecorder {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let at = SystemTime::now();
        let headers = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let code = self.fail_with.load(Ordering::SeqCst);
        if code != 0 {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(tonic::Status::new(
                tonic::Code::from(code as i32),
                "sink refuses",
            ));
        }
        let spans = spans_of(request.get_ref());
        if let Ok(mut a) = self.arrivals.lock() {
            a.push(Arrival { at, headers, spans });
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A tonic OTLP/gRPC server accepting gzip. `fail_code` (a gRPC code, 0 = none) makes it answer
/// every call with that status.
pub fn grpc_sink(fail_code: u16) -> Sink {
    let rt = runtime();
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicU64::new(0));
    let fail_with = Arc::new(AtomicU16::new(fail_code));
    let recorder = GrpcRecorder {
        arrivals: arrivals.clone(),
        refused: refused.clone(),
        fail_with: fail_with.clone(),
    };
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind grpc sink");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move {
        let service = TraceServiceServer::new(recorder)
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let _ = tonic::transport::Server::builder()
            .serve_with_incoming(service, incoming)
            .await;
    });
    Sink {
        addr,
        arrivals,
        refused,
        fail_with,
        runtime: Some(rt),
    }
}

/// A hyper OTLP/HTTP server on any path: decodes gzip, protobuf or JSON (by `Content-Type`),
/// answers 200 with an empty response, or `fail_status` (non-zero) to every request.
pub fn http_sink(fail_status: u16) -> Sink {
    let rt = runtime();
    let arrivals: Arc<Mutex<Vec<Arrival>>> = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicU64::new(0));
    let fail_with = Arc::new(AtomicU16::new(fail_status));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind http sink");
    let addr = listener.local_addr().expect("addr");
    let (a, r, f) = (arrivals.clone(), refused.clone(), fail_with.clone());
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (a, r, f) = (a.clone(), r.clone(), f.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<Incoming>| {
                    let (a, r, f) = (a.clone(), r.clone(), f.clone());
                    async move {
                        let at = SystemTime::now();
                        let headers: HashMap<String, String> = req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.as_str().to_owned(),
                                    v.to_str().unwrap_or_default().to_owned(),
                                )
                            })
                            .collect();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let status = f.load(Ordering::SeqCst);
                        if status != 0 && status != 200 {
                            r.fetch_add(1, Ordering::SeqCst);
                            return Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::new()))
                                    .expect("response"),
                            );
                        }
                        let raw = if headers.get("content-encoding").map(String::as_str)
                            == Some("gzip")
                        {
                            use std::io::Read;
                            let mut out = Vec::new();
                            let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out);
                            out
                        } else {
                            body.to_vec()
                        };
                        let encoding = if headers
                            .get("content-type")
                            .is_some_and(|c| c.starts_with("application/json"))
                        {
                            Encoding::Json
                        } else {
                            Encoding::Protobuf
                        };
                        let (status, spans) = match decode_request(&raw, encoding) {
                            Ok(req) => (200, spans_of(&req)),
                            Err(_) => (400, Vec::new()),
                        };
                        if let Ok(mut list) = a.lock() {
                            list.push(Arrival { at, headers, spans });
                        }
                        Ok(hyper::Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::new()))
                            .expect("response"))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Sink {
        addr,
        arrivals,
        refused,
        fail_with,
        runtime: Some(rt),
    }
}

/// Waits up to `timeout` for `cond`.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}
