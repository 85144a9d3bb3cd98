//! The OTLP trace receivers: gRPC (`TraceService/Export`, default port 4317) and HTTP
//! (`POST /v1/traces`, default port 4318, protobuf or JSON), as in the collector's `otlp`
//! receiver.
//!
//! Each receiver decodes a request, hands its `ResourceSpans` to the
//! [`Pipeline`](crate::pipeline::Pipeline) and answers at once: the function's SDK never waits
//! for X-Ray. Start-up is split in two so that a port clash surfaces during init, with a clear
//! error, before anything is served:
//!
//! 1. [`bind_grpc`] / [`bind_http`] bind the listening socket (synchronously, no runtime needed);
//! 2. [`BoundGrpc::serve`] / [`BoundHttp::serve`] spawn the server on the current tokio runtime
//!    and run until the shutdown watch turns `true`.
//!
//! [`decode`] holds what both share: content types, gzip with bounded output, limits, error
//! bodies. Rules cited are from the OTLP specification
//! (<https://opentelemetry.io/docs/specs/otlp/>), by section name.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, ToSocketAddrs};

pub mod decode;
mod grpc;
mod http;

pub use grpc::{bind_grpc, BoundGrpc};
pub use http::{bind_http, BoundHttp};

/// Settings of the OTLP/gRPC receiver (`receivers.otlp.protocols.grpc` in the collector's YAML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcSettings {
    /// `host:port` to listen on: `localhost:4317` (loopback IPv4, the default in Lambda),
    /// `0.0.0.0:4317`, `[::1]:4317`, `:4317` (all interfaces), or port `0` for an ephemeral port.
    pub endpoint: String,
    /// Largest accepted request message, in bytes, both as sent and after decompression. Larger
    /// messages are answered `RESOURCE_EXHAUSTED`. Collector default: 4 MiB
    /// ([`DEFAULT_GRPC_MAX_RECV_MSG_SIZE`]).
    pub max_recv_msg_size: usize,
}

/// Default of [`GrpcSettings::endpoint`].
pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:4317";
/// Default of [`GrpcSettings::max_recv_msg_size`]: 4 MiB, as `configgrpc` in the collector.
pub const DEFAULT_GRPC_MAX_RECV_MSG_SIZE: usize = 4 * 1024 * 1024;

impl Default for GrpcSettings {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_GRPC_ENDPOINT.to_owned(),
            max_recv_msg_size: DEFAULT_GRPC_MAX_RECV_MSG_SIZE,
        }
    }
}

/// Settings of the OTLP/HTTP receiver (`receivers.otlp.protocols.http` in the collector's YAML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// `host:port` to listen on; same forms as [`GrpcSettings::endpoint`]. Default
    /// `localhost:4318`.
    pub endpoint: String,
    /// Largest accepted request body, in bytes, both as sent and once gunzipped. Larger bodies
    /// are answered 413. Collector default: 20 MiB ([`DEFAULT_HTTP_MAX_REQUEST_BODY_SIZE`]).
    pub max_request_body_size: usize,
    /// Path that accepts trace exports. Default `/v1/traces` (OTLP spec, "OTLP/HTTP Request").
    pub traces_url_path: String,
}

/// Default of [`HttpSettings::endpoint`].
pub const DEFAULT_HTTP_ENDPOINT: &str = "localhost:4318";
/// Default of [`HttpSettings::max_request_body_size`]: 20 MiB, as `confighttp` in the collector.
pub const DEFAULT_HTTP_MAX_REQUEST_BODY_SIZE: usize = 20 * 1024 * 1024;
/// Default of [`HttpSettings::traces_url_path`] (OTLP spec, "OTLP/HTTP Request").
pub const DEFAULT_TRACES_URL_PATH: &str = "/v1/traces";

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_HTTP_ENDPOINT.to_owned(),
            max_request_body_size: DEFAULT_HTTP_MAX_REQUEST_BODY_SIZE,
            traces_url_path: DEFAULT_TRACES_URL_PATH.to_owned(),
        }
    }
}

/// Which receiver an error is about; displays as `OTLP/gRPC` or `OTLP/HTTP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The OTLP/gRPC receiver.
    Grpc,
    /// The OTLP/HTTP receiver.
    Http,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Grpc => "OTLP/gRPC",
            Protocol::Http => "OTLP/HTTP",
        })
    }
}

/// Errors of receiver start-up. Requests that fail to decode are answered to the client and
/// logged, never returned here.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The endpoint is not a `host:port` this receiver can listen on.
    #[error("invalid endpoint {endpoint:?} for {protocol}: {reason}")]
    Endpoint {
        /// Which receiver.
        protocol: Protocol,
        /// The endpoint as configured.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Binding or configuring the listening socket failed, e.g. the port is already in use:
    /// `cannot listen on localhost:4318 for OTLP/HTTP: Address already in use (os error 98)`.
    #[error("cannot listen on {endpoint} for {protocol}: {source}")]
    Bind {
        /// Which receiver.
        protocol: Protocol,
        /// The endpoint as configured.
        endpoint: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// Resolves an endpoint to a socket address without DNS for the common forms: `localhost` is
/// IPv4 loopback (`127.0.0.1`, as the Lambda SDKs' default `http://localhost:4318` reaches it),
/// an empty host (`:4317`) is every IPv4 interface as in Go's `net.Listen`, literal IPv4/IPv6
/// addresses (`[::1]:4317`) parse directly. Any other host name is resolved through the system
/// resolver and the first address is used.
pub(crate) fn resolve_endpoint(
    protocol: Protocol,
    endpoint: &str,
) -> Result<SocketAddr, ReceiverError> {
    let invalid = |reason: &str| ReceiverError::Endpoint {
        protocol,
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = endpoint.trim();
    let (host, port) = trimmed
        .rsplit_once(':')
        .ok_or_else(|| invalid("expected host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| invalid("the port is not a number from 0 to 65535"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| invalid(&format!("cannot resolve the host: {e}")))?
        .next()
        .ok_or_else(|| invalid("the host resolves to no address"))
}

/// Binds a non-blocking std listener for `endpoint` (converted to tokio when served).
pub(crate) fn bind_listener(
    protocol: Protocol,
    endpoint: &str,
) -> Result<(TcpListener, SocketAddr), ReceiverError> {
    let addr = resolve_endpoint(protocol, endpoint)?;
    let bind_error = |source| ReceiverError::Bind {
        protocol,
        endpoint: endpoint.to_owned(),
        source,
    };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local_addr))
}

/// Resolves when `shutdown` holds `true`, or when its sender is gone (nobody can ask any more,
/// so the owner has gone away).
pub(crate) async fn shutdown_requested(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(endpoint: &str) -> Result<SocketAddr, ReceiverError> {
        resolve_endpoint(Protocol::Http, endpoint)
    }

    #[test]
    fn endpoints_resolve_without_dns() {
        assert_eq!(
            resolve("localhost:4318").unwrap(),
            "127.0.0.1:4318".parse().unwrap()
        );
        assert_eq!(
            resolve("0.0.0.0:4317").unwrap(),
            "0.0.0.0:4317".parse().unwrap()
        );
        assert_eq!(resolve(":4317").unwrap(), "0.0.0.0:4317".parse().unwrap());
        assert_eq!(
            resolve("127.0.0.1:0").unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(
            resolve("[::1]:4318").unwrap(),
            "[::1]:4318".parse().unwrap()
        );
    }

    #[test]
    fn bad_endpoints_name_the_protocol() {
        for bad in ["localhost", "localhost:http", "localhost:70000", ""] {
            let err = resolve(bad).unwrap_err();
            assert!(matches!(err, ReceiverError::Endpoint { .. }), "{bad}");
            assert!(err.to_string().contains("OTLP/HTTP"), "{err}");
        }
    }

    #[test]
    fn port_clash_reads_well() {
        let (_first, bound) = bind_listener(Protocol::Http, "127.0.0.1:0").unwrap();
        let port = bound.port();
        let endpoint = format!("localhost:{port}");
        let err = bind_listener(Protocol::Http, &endpoint).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("cannot listen on {endpoint} for OTLP/HTTP: ")),
            "{text}"
        );
        assert!(matches!(err, ReceiverError::Bind { .. }));
    }
}
