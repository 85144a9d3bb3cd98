//! The OTLP/gRPC trace receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`
//! (OTLP spec, "OTLP/gRPC"), served by tonic's server (HTTP/2 over hyper).
//!
//! The service is written out here rather than taken from the generated `TraceServiceServer`
//! for two reasons, both about which status code the SDK sees (its retry decision depends on it,
//! OTLP spec "OTLP/gRPC" → "Failures"):
//! - a message that does not decode is answered `INVALID_ARGUMENT` ("Bad Data"), where
//!   tonic-prost's codec says `INTERNAL`;
//! - a message over `max_recv_msg_size` is answered `RESOURCE_EXHAUSTED` (as grpc-go and the
//!   collector do), where tonic 0.14 says `OUT_OF_RANGE` for an uncompressed message, a code
//!   OTLP clients retry.

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::http::{HeaderValue, Request, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::codegen::{Body, CompressionEncoding, Service, StdError};
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Status};

use super::{bind_listener, shutdown_requested, GrpcSettings, Protocol, ReceiverError};
use crate::pipeline::Pipeline;
use crate::processor::batch::span_count;

/// The gRPC path of `TraceService/Export` (OTLP spec, "OTLP/gRPC").
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// A bound, not yet serving, OTLP/gRPC receiver (from [`bind_grpc`]).
#[derive(Debug)]
pub struct BoundGrpc {
    listener: TcpListener,
    local_addr: SocketAddr,
    max_recv_msg_size: usize,
}

/// Binds the OTLP/gRPC receiver's socket for `settings.endpoint` (see
/// [`GrpcSettings::endpoint`] for the accepted forms). Synchronous and cheap: call it during init
/// so a port clash becomes an init error ([`ReceiverError::Bind`]).
pub fn bind_grpc(settings: &GrpcSettings) -> Result<BoundGrpc, ReceiverError> {
    let (listener, local_addr) = bind_listener(Protocol::Grpc, &settings.endpoint)?;
    Ok(BoundGrpc {
        listener,
        local_addr,
        max_recv_msg_size: settings.max_recv_msg_size,
    })
}

impl BoundGrpc {
    /// The address actually bound (its port is the ephemeral one when the endpoint's port is 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Spawns the server on the current tokio runtime (panics outside one, as `tokio::spawn`).
    ///
    /// Every `Export` call is decoded (gzip accepted, `grpc-encoding: gzip`), its
    /// `resource_spans` pushed into `pipeline`, and answered at once with an empty
    /// `ExportTraceServiceResponse` (OTLP spec, "OTLP/gRPC" → "Full Success"). Errors:
    /// `RESOURCE_EXHAUSTED` for a message over `max_recv_msg_size` bytes (compressed or not),
    /// `INVALID_ARGUMENT` for one that does not decode, `UNIMPLEMENTED` for other methods,
    /// `UNAVAILABLE` when a `memory_limiter` refuses the data, or the buffer is full while a
    /// flush drains it ([`crate::pipeline::Refused`]).
    ///
    /// When `shutdown` turns `true` (or its sender is dropped) the listener is closed, in-flight
    /// calls finish, and the task ends once open connections have closed.
    pub fn serve(
        self,
        pipeline: Pipeline,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let service = ExportService {
            pipeline: Arc::new(pipeline),
            max_recv_msg_size: self.max_recv_msg_size,
        };
        let local_addr = self.local_addr;
        let std_listener = self.listener;
        tokio::spawn(async move {
            let listener = match tokio::net::TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(error) => {
                    tracing::error!(%local_addr, %error, "OTLP/gRPC receiver cannot start");
                    return;
                }
            };
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            tracing::debug!(%local_addr, "OTLP/gRPC receiver listening");
            let result = tonic::transport::Server::builder()
                .serve_with_incoming_shutdown(service, incoming, shutdown_requested(shutdown))
                .await;
            match result {
                Ok(()) => tracing::debug!(%local_addr, "OTLP/gRPC receiver stopped"),
                Err(error) => tracing::error!(%local_addr, %error, "OTLP/gRPC receiver failed"),
            }
        })
    }
}

/// The `TraceService` as a tower service: routes `Export`, answers `UNIMPLEMENTED` otherwise.
#[derive(Clone)]
struct ExportService {
    pipeline: Arc<Pipeline>,
    max_recv_msg_size: usize,
}

impl<B> Service<Request<B>> for ExportService
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if req.uri().path() != EXPORT_PATH {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let pipeline = self.pipeline.clone();
        let limit = self.max_recv_msg_size;
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ExportCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(limit);
            let mut response = grpc.unary(Export { pipeline }, req).await;
            // tonic answers OUT_OF_RANGE when the length prefix of an uncompressed message is over
            // the limit; OTLP clients retry OUT_OF_RANGE, so say RESOURCE_EXHAUSTED as grpc-go
            // does. Errors found before the handler runs are trailers-only responses, so the
            // status sits in the headers. `Export` itself never answers OUT_OF_RANGE.
            let headers = response.headers_mut();
            if headers.get(Status::GRPC_STATUS) == Some(&code_header(Code::OutOfRange)) {
                headers.insert(Status::GRPC_STATUS, code_header(Code::ResourceExhausted));
            }
            Ok(response)
        })
    }
}

fn code_header(code: Code) -> HeaderValue {
    HeaderValue::from(code as i32)
}

/// The unary `Export` handler.
struct Export {
    pipeline: Arc<Pipeline>,
}

impl tonic::server::UnaryService<ExportTraceServiceRequest> for Export {
    type Response = ExportTraceServiceResponse;
    type Future = std::future::Ready<Result<tonic::Response<ExportTraceServiceResponse>, Status>>;

    fn call(&mut self, request: tonic::Request<ExportTraceServiceRequest>) -> Self::Future {
        let request = request.into_inner();
        let spans = span_count(&request.resource_spans);
        let accepted = match self.pipeline.push(request.resource_spans) {
            Ok(n) => n,
            // Refused (memory_limiter, or a full buffer being drained): UNAVAILABLE, retryable,
            // as the collector answers.
            Err(refused) => {
                return std::future::ready(Err(Status::unavailable(refused.to_string())))
            }
        };
        tracing::debug!(spans, accepted, "OTLP/gRPC export received");
        std::future::ready(Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        })))
    }
}

/// Protobuf codec for `Export` that reports undecodable messages as `INVALID_ARGUMENT`.
struct ExportCodec;

impl Codec for ExportCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = ExportTraceServiceRequest;
    type Encoder = tonic_prost::ProstEncoder<ExportTraceServiceResponse>;
    type Decoder = ExportDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ExportDecoder
    }
}

struct ExportDecoder;

impl Decoder for ExportDecoder {
    type Item = ExportTraceServiceRequest;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        ExportTraceServiceRequest::decode(src)
            .map(Some)
            .map_err(|e| {
                Status::invalid_argument(format!("invalid ExportTraceServiceRequest: {e}"))
            })
    }
}
