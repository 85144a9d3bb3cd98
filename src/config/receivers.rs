//! Receiver configs: `otlp` only, with the OpenTelemetry Collector's keys and defaults.
//!
//! ```yaml
//! receivers:
//!   otlp:
//!     protocols:
//!       grpc:                      # present (even empty) = enabled; absent = disabled
//!         endpoint: localhost:4317
//!       http:
//!         endpoint: localhost:4318
//! ```
//!
//! Keys the collector accepts but otlp-xray does not act on are accepted and documented as
//! such, so that configs written for the ADOT or upstream Lambda layers load unchanged. `tls`
//! and `auth` are refused: silently ignoring them would weaken what the author asked for.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::de::{self, DeError};
use super::{Problem, RawValue};

/// A configured receiver, by component type.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverConfig {
    /// `otlp`: OTLP over gRPC and/or HTTP.
    Otlp(OtlpReceiverConfig),
}

/// The receiver types otlp-xray supports.
pub const RECEIVER_TYPES: &[&str] = &["otlp"];

/// `receivers.otlp`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    /// Which protocols to serve. At least one is required.
    pub protocols: OtlpProtocols,
}

/// `receivers.otlp.protocols`: a protocol is enabled when its key is present, even with no
/// value (`grpc:`), as in the collector and the ADOT Lambda layer's config.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpProtocols {
    /// OTLP/gRPC server; `None` = disabled.
    #[serde(deserialize_with = "de::present")]
    pub grpc: Option<GrpcServerConfig>,
    /// OTLP/HTTP server; `None` = disabled.
    #[serde(deserialize_with = "de::present")]
    pub http: Option<HttpServerConfig>,
}

/// Default OTLP/gRPC endpoint (the collector's default since v0.104).
pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:4317";
/// Default OTLP/HTTP endpoint.
pub const DEFAULT_HTTP_ENDPOINT: &str = "localhost:4318";

/// `receivers.otlp.protocols.grpc`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcServerConfig {
    /// `host:port` to listen on. Default `localhost:4317`. Port `0` picks a free port.
    pub endpoint: String,
    /// Transport; only `tcp` (the default) is supported.
    pub transport: String,
    /// Largest request accepted, in MiB. Default 4.
    pub max_recv_msg_size_mib: u64,
    /// Most concurrent HTTP/2 streams per connection; 0 (default) = no limit set.
    pub max_concurrent_streams: u32,
    /// Socket read buffer size in bytes; `None` = the server's default.
    pub read_buffer_size: Option<u64>,
    /// Socket write buffer size in bytes; `None` = the server's default.
    pub write_buffer_size: Option<u64>,
    /// Collector keepalive settings. Accepted; no effect.
    pub keepalive: Option<RawValue>,
    /// Copy request metadata into the context. Accepted; no effect.
    pub include_metadata: bool,
    /// Authentication extension. Refused (not supported).
    pub auth: Option<RawValue>,
    /// TLS settings. Refused (not supported).
    pub tls: Option<RawValue>,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig {
            endpoint: DEFAULT_GRPC_ENDPOINT.to_owned(),
            transport: "tcp".to_owned(),
            max_recv_msg_size_mib: 4,
            max_concurrent_streams: 0,
            read_buffer_size: None,
            write_buffer_size: None,
            keepalive: None,
            include_metadata: false,
            auth: None,
            tls: None,
        }
    }
}

impl GrpcServerConfig {
    /// [`Self::max_recv_msg_size_mib`] in bytes.
    pub fn max_recv_msg_size_bytes(&self) -> usize {
        usize::try_from(self.max_recv_msg_size_mib.saturating_mul(1024 * 1024))
            .unwrap_or(usize::MAX)
    }
}

/// `receivers.otlp.protocols.http`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpServerConfig {
    /// `host:port` to listen on. Default `localhost:4318`. Port `0` picks a free port.
    pub endpoint: String,
    /// Largest request body accepted, in bytes (after decompression). Default 20 MiB
    /// (20,971,520), the collector's default.
    pub max_request_body_size: u64,
    /// Path of the traces endpoint. Default `/v1/traces`; a missing leading `/` is added.
    pub traces_url_path: String,
    /// Path of the metrics endpoint. Accepted; otlp-xray does not serve metrics.
    pub metrics_url_path: Option<String>,
    /// Path of the logs endpoint. Accepted; otlp-xray does not serve logs.
    pub logs_url_path: Option<String>,
    /// CORS settings for browser clients; `None` = no CORS headers.
    pub cors: Option<CorsConfig>,
    /// Copy request metadata into the context. Accepted; no effect.
    pub include_metadata: bool,
    /// Headers added to every response.
    pub response_headers: BTreeMap<String, String>,
    /// Accepted compression algorithms (collector key). Accepted; gzip is always accepted.
    pub compression_algorithms: Option<Vec<String>>,
    /// Collector server timeouts (`read_timeout`, …). Accepted; no effect.
    pub read_timeout: Option<RawValue>,
    /// See [`Self::read_timeout`].
    pub read_header_timeout: Option<RawValue>,
    /// See [`Self::read_timeout`].
    pub write_timeout: Option<RawValue>,
    /// See [`Self::read_timeout`].
    pub idle_timeout: Option<RawValue>,
    /// Collector key. Accepted; no effect.
    pub keep_alives_enabled: Option<bool>,
    /// Authentication extension. Refused (not supported).
    pub auth: Option<RawValue>,
    /// TLS settings. Refused (not supported).
    pub tls: Option<RawValue>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            endpoint: DEFAULT_HTTP_ENDPOINT.to_owned(),
            max_request_body_size: 20 * 1024 * 1024,
            traces_url_path: "/v1/traces".to_owned(),
            metrics_url_path: None,
            logs_url_path: None,
            cors: None,
            include_metadata: false,
            response_headers: BTreeMap::new(),
            compression_algorithms: None,
            read_timeout: None,
            read_header_timeout: None,
            write_timeout: None,
            idle_timeout: None,
            keep_alives_enabled: None,
            auth: None,
            tls: None,
        }
    }
}

/// `receivers.otlp.protocols.http.cors`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Allowed origins; `*` wildcards as in the collector (`https://*.example.com`).
    pub allowed_origins: Vec<String>,
    /// Extra request headers allowed beyond the CORS-safelisted ones.
    pub allowed_headers: Vec<String>,
    /// How long a preflight may be cached, in seconds; `None` = not sent.
    pub max_age: Option<u64>,
}

impl OtlpReceiverConfig {
    /// Checks what serde cannot: at least one protocol, endpoints, no TLS/auth.
    pub(crate) fn check(&mut self) -> Result<(), Problem> {
        if self.protocols.grpc.is_none() && self.protocols.http.is_none() {
            return Err((
                vec!["protocols"],
                "the otlp receiver needs at least one protocol: add `grpc:` and/or `http:` \
                 under `protocols`"
                    .to_owned(),
            ));
        }
        if let Some(g) = &self.protocols.grpc {
            check_endpoint(&g.endpoint).map_err(|m| (vec!["protocols", "grpc", "endpoint"], m))?;
            if g.transport != "tcp" {
                return Err((
                    vec!["protocols", "grpc", "transport"],
                    format!(
                        "transport `{}` is not supported; only `tcp` is",
                        g.transport
                    ),
                ));
            }
            refuse_tls_auth(&g.tls, &g.auth, "grpc")?;
        }
        if let Some(h) = &mut self.protocols.http {
            check_endpoint(&h.endpoint).map_err(|m| (vec!["protocols", "http", "endpoint"], m))?;
            if !h.traces_url_path.starts_with('/') {
                h.traces_url_path.insert(0, '/');
            }
            refuse_tls_auth(&h.tls, &h.auth, "http")?;
        }
        Ok(())
    }
}

fn refuse_tls_auth(
    tls: &Option<RawValue>,
    auth: &Option<RawValue>,
    protocol: &'static str,
) -> Result<(), Problem> {
    if tls.as_ref().is_some_and(|t| !t.is_null()) {
        return Err((
            vec!["protocols", protocol, "tls"],
            "TLS is not supported: the receiver serves the function inside the Lambda sandbox \
             over loopback; remove `tls`"
                .to_owned(),
        ));
    }
    if auth.as_ref().is_some_and(|a| !a.is_null()) {
        return Err((
            vec!["protocols", protocol, "auth"],
            "receiver authentication (`auth`) is not supported; remove it".to_owned(),
        ));
    }
    Ok(())
}

/// `host:port`, `[v6]:port` or `:port`, with a port from 0 to 65535.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "endpoint `{endpoint}` {why}; write `host:port`, e.g. `localhost:4317`"
        ))
    };
    let Some((host, port)) = endpoint.rsplit_once(':') else {
        return bad("has no port");
    };
    if port.parse::<u16>().is_err() {
        return bad("has an invalid port");
    }
    if host.contains('/') || host.contains(char::is_whitespace) {
        return bad("is not a host and port (no scheme or path)");
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return bad("has an IPv6 address without brackets");
    }
    Ok(())
}

/// Deserializes the receiver of type `ty`, or `None` for an unknown type.
pub(crate) fn build(
    ty: &str,
    node: &super::yaml::Node,
    path: &str,
) -> Option<Result<ReceiverConfig, DeError>> {
    match ty {
        "otlp" => {
            Some(super::component(node, path, OtlpReceiverConfig::check).map(ReceiverConfig::Otlp))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        for ok in [
            "localhost:4317",
            ":4317",
            "0.0.0.0:0",
            "[::1]:4318",
            "127.0.0.1:65535",
        ] {
            assert!(check_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "localhost",
            "localhost:99999",
            "http://localhost:4317",
            "::1:4317",
            "a b:1",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
    }
}
