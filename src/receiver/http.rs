//! The OTLP/HTTP trace receiver: `POST <traces_url_path>` (default `/v1/traces`) with a
//! protobuf or OTLP/JSON `ExportTraceServiceRequest`, optionally gzip-compressed (OTLP spec,
//! "OTLP/HTTP"). HTTP/1.1 on hyper; one task per connection on the current runtime.
//!
//! The statuses it answers are listed on [`BoundHttp::serve`].

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use ::http::header::{ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use ::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use super::decode::{self, DecodeError, Encoding};
use super::{bind_listener, shutdown_requested, HttpSettings, Protocol, ReceiverError};
use crate::pipeline::Pipeline;
use crate::processor::batch::span_count;

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// A bound, not yet serving, OTLP/HTTP receiver (from [`bind_http`]).
#[derive(Debug)]
pub struct BoundHttp {
    listener: TcpListener,
    local_addr: SocketAddr,
    settings: HttpSettings,
}

/// Binds the OTLP/HTTP receiver's socket for `settings.endpoint` (see
/// [`HttpSettings::endpoint`] for the accepted forms). Synchronous and cheap: call it during init
/// so a port clash becomes an init error ([`ReceiverError::Bind`]).
pub fn bind_http(settings: &HttpSettings) -> Result<BoundHttp, ReceiverError> {
    let (listener, local_addr) = bind_listener(Protocol::Http, &settings.endpoint)?;
    Ok(BoundHttp {
        listener,
        local_addr,
        settings: settings.clone(),
    })
}

impl BoundHttp {
    /// The address actually bound (its port is the ephemeral one when the endpoint's port is 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Spawns the server on the current tokio runtime (panics outside one, as `tokio::spawn`).
    ///
    /// Answers, in the order the checks are made:
    ///
    /// | request | status | body |
    /// |---|---|---|
    /// | other path | 404 | text |
    /// | other method on the traces path | 405, `Allow: POST` | text |
    /// | `Content-Type` neither `application/x-protobuf` nor `application/json` | 415 | text |
    /// | `Content-Encoding` neither `gzip` nor `identity` | 415 | `Status` (3) |
    /// | `Content-Length`, bytes read or gunzipped size over the limit | 413 | `Status` (8) |
    /// | body unreadable, invalid gzip, protobuf or OTLP/JSON | 400 | `Status` (3) |
    /// | refused by a `memory_limiter`, or the buffer full while a flush drains it (see [`crate::pipeline::Refused`]) | 503 | `Status` (14) |
    /// | otherwise | 200 | empty `ExportTraceServiceResponse` |
    ///
    /// The limit is `max_request_body_size`. `Status` is a `google.rpc.Status` in the request's
    /// encoding, with the gRPC code in brackets (OTLP spec, "OTLP/HTTP Response" → "Failures").
    /// A failed request changes nothing: spans are pushed only after the whole body has decoded.
    ///
    /// When `shutdown` turns `true` (or its sender is dropped) the listener is closed at once
    /// and open connections finish their current request, then close. The returned task ends
    /// when the listener is closed.
    pub fn serve(
        self,
        pipeline: Pipeline,
        shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let handler = Arc::new(Handler {
            pipeline,
            max_body: self.settings.max_request_body_size,
            path: self.settings.traces_url_path,
        });
        let local_addr = self.local_addr;
        let std_listener = self.listener;
        tokio::spawn(async move {
            let listener = match tokio::net::TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(error) => {
                    tracing::error!(%local_addr, %error, "OTLP/HTTP receiver cannot start");
                    return;
                }
            };
            tracing::debug!(%local_addr, "OTLP/HTTP receiver listening");
            let mut stop = pin!(shutdown_requested(shutdown.clone()));
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _peer)) => {
                            let _ = stream.set_nodelay(true);
                            let connection =
                                serve_connection(stream, handler.clone(), shutdown.clone());
                            tokio::spawn(connection);
                        }
                        Err(error) => {
                            tracing::warn!(%local_addr, %error, "OTLP/HTTP receiver cannot accept");
                            tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                        }
                    },
                }
            }
            tracing::debug!(%local_addr, "OTLP/HTTP receiver stopped");
        })
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    handler: Arc<Handler>,
    shutdown: watch::Receiver<bool>,
) {
    let service = service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(req).await) }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let mut conn = pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = shutdown_requested(shutdown) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "OTLP/HTTP connection ended with an error");
    }
}

struct Handler {
    pipeline: Pipeline,
    /// Bytes.
    max_body: usize,
    path: String,
}

/// Why a request on the traces path failed after its `Content-Type` was understood.
enum Failure {
    Decode(DecodeError),
    /// The body could not be read (bad chunked framing, connection cut).
    Read(String),
    /// A memory_limiter refused the data: 503 with an `UNAVAILABLE` status (retryable).
    Refused(crate::pipeline::Refused),
}

impl From<DecodeError> for Failure {
    fn from(e: DecodeError) -> Self {
        Failure::Decode(e)
    }
}

impl Handler {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.uri().path() != self.path {
            return text(StatusCode::NOT_FOUND, "404 page not found");
        }
        if req.method() != Method::POST {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "405 method not allowed, supported: [POST]",
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let encoding = match decode::parse_content_type(header(req.headers(), &CONTENT_TYPE)) {
            Ok(e) => e,
            Err(error) => {
                tracing::warn!(%error, "OTLP/HTTP request refused");
                return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, &error.to_string());
            }
        };
        match self.receive(req, encoding).await {
            Ok(()) => respond(StatusCode::OK, encoding, decode::success_body(encoding)),
            Err(Failure::Decode(error)) => {
                let status =
                    StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
                tracing::warn!(status = status.as_u16(), %error, "OTLP/HTTP request refused");
                let body = decode::status_body(encoding, error.grpc_code(), &error.to_string());
                respond(status, encoding, body)
            }
            Err(Failure::Refused(refused)) => {
                tracing::debug!(
                    spans = refused.spans,
                    "OTLP/HTTP request refused: {refused}"
                );
                let status = StatusCode::from_u16(crate::pipeline::Refused::HTTP_STATUS)
                    .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let body = decode::status_body(
                    encoding,
                    crate::pipeline::Refused::GRPC_CODE,
                    &refused.to_string(),
                );
                respond(status, encoding, body)
            }
            Err(Failure::Read(error)) => {
                tracing::warn!(%error, "OTLP/HTTP request body unreadable");
                let message = format!("cannot read the request body: {error}");
                let body = decode::status_body(encoding, decode::GRPC_INVALID_ARGUMENT, &message);
                respond(StatusCode::BAD_REQUEST, encoding, body)
            }
        }
    }

    async fn receive(&self, req: Request<Incoming>, encoding: Encoding) -> Result<(), Failure> {
        let limit = self.max_body;
        let compression = decode::parse_content_encoding(header(req.headers(), &CONTENT_ENCODING))?;
        // Refuse a declared oversize body before reading any of it (RFC 9110 §15.5.14).
        let declared =
            header(req.headers(), &CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX)) {
            return Err(DecodeError::TooLarge { limit }.into());
        }
        let body = Limited::new(req.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<LengthLimitError>().is_some() {
                    Failure::Decode(DecodeError::TooLarge { limit })
                } else {
                    Failure::Read(e.to_string())
                }
            })?
            .to_bytes();
        // A buffer that cannot take this while a flush drains it: refuse before decoding.
        self.pipeline.admits(body.len()).map_err(Failure::Refused)?;
        let body = decode::decompress(body, compression, limit)?;
        let request = decode::decode_request(&body, encoding)?;
        let spans = span_count(&request.resource_spans);
        let accepted = self
            .pipeline
            .push(request.resource_spans)
            .map_err(Failure::Refused)?;
        tracing::debug!(spans, accepted, ?encoding, "OTLP/HTTP export received");
        Ok(())
    }
}

/// A header's value as text; a value that is not visible ASCII is kept as a placeholder so that
/// it is refused rather than taken for an absent header.
fn header<'a>(headers: &'a HeaderMap, name: &::http::HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or("(not visible ASCII)"))
}

fn respond(status: StatusCode, encoding: Encoding, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}

fn text(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
