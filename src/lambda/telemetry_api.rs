//! The Telemetry API subscription and its HTTP listener (`docs/lambda-extensions-api.md` §1).
//!
//! We subscribe to `platform` records only (schema `2022-12-13`, buffering `timeoutMs` 25, the
//! minimum, so `platform.runtimeDone` reaches us at most ~25 ms after the function returns).
//! The listener records which request ids are done; the lifecycle waits on that.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

use super::events::parse_telemetry_batch;

/// Host name Lambda gives the sandbox for Telemetry API destinations.
pub const SANDBOX_HOST: &str = "sandbox.localdomain";
/// Schema version we subscribe with.
pub const SCHEMA_VERSION: &str = "2022-12-13";
/// Buffering `timeoutMs`: the minimum Lambda allows, so runtimeDone arrives quickly.
pub const BUFFER_TIMEOUT_MS: u32 = 25;
/// Buffering `maxItems` (allowed 1,000–10,000).
pub const BUFFER_MAX_ITEMS: u32 = 1_000;
/// Buffering `maxBytes` (allowed 262,144–1,048,576).
pub const BUFFER_MAX_BYTES: u32 = 262_144;
/// Largest delivery body we read: Lambda may send up to 2 × maxBytes plus metadata.
pub const MAX_DELIVERY_BYTES: usize = 4 * BUFFER_MAX_BYTES as usize;
/// How many finished request ids are remembered (records may arrive before we wait for them).
const REMEMBERED_REQUESTS: usize = 64;

/// Errors starting the listener.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The listener could not bind.
    #[error("cannot listen for the Telemetry API on {addr}: {source}")]
    Bind {
        /// Address tried.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Shared record of `platform.runtimeDone` arrivals.
#[derive(Clone, Default)]
pub struct RuntimeDoneTracker {
    inner: Arc<(Mutex<VecDeque<String>>, Notify)>,
}

impl RuntimeDoneTracker {
    /// Records that `request_id` finished (duplicates are harmless).
    pub fn mark_done(&self, request_id: &str) {
        let (lock, notify) = &*self.inner;
        let mut done = match lock.lock() {
            Ok(d) => d,
            Err(p) => p.into_inner(),
        };
        if !done.iter().any(|r| r == request_id) {
            if done.len() >= REMEMBERED_REQUESTS {
                done.pop_front();
            }
            done.push_back(request_id.to_string());
        }
        drop(done);
        notify.notify_waiters();
    }

    /// Whether `request_id` is known to be done.
    pub fn is_done(&self, request_id: &str) -> bool {
        let (lock, _) = &*self.inner;
        match lock.lock() {
            Ok(d) => d.iter().any(|r| r == request_id),
            Err(p) => p.into_inner().iter().any(|r| r == request_id),
        }
    }

    /// Waits until `request_id` is done or `deadline` passes; returns whether it was seen.
    pub async fn wait(&self, request_id: &str, deadline: Instant) -> bool {
        loop {
            let notified = self.inner.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_done(request_id) {
                return true;
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return self.is_done(request_id);
            }
        }
    }
}

/// The destination host and bind address. In Lambda `sandbox.localdomain` is in `/etc/hosts`;
/// elsewhere (local runs under a stand-in) it does not resolve and we use 127.0.0.1. Reading
/// the hosts file avoids a DNS query that could hang on a machine without a resolver.
pub fn destination_host(hosts_file: &str) -> (String, IpAddr) {
    for line in hosts_file.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(ip) = fields.next().and_then(|f| f.parse::<IpAddr>().ok()) else {
            continue;
        };
        if fields.any(|name| name.eq_ignore_ascii_case(SANDBOX_HOST)) {
            return (SANDBOX_HOST.to_string(), ip);
        }
    }
    (
        Ipv4Addr::LOCALHOST.to_string(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    )
}

/// A bound listener, ready to serve and to be named in the subscription.
pub struct TelemetryListener {
    listener: std::net::TcpListener,
    uri: String,
}

impl TelemetryListener {
    /// Binds an ephemeral port on the sandbox address.
    pub fn bind() -> Result<Self, TelemetryError> {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let (host, ip) = destination_host(&hosts);
        let addr = SocketAddr::new(ip, 0);
        let bind = || -> std::io::Result<(std::net::TcpListener, SocketAddr)> {
            let l = std::net::TcpListener::bind(addr)?;
            l.set_nonblocking(true)?;
            let local = l.local_addr()?;
            Ok((l, local))
        };
        let (listener, local) = bind().map_err(|source| TelemetryError::Bind { addr, source })?;
        Ok(Self {
            listener,
            uri: format!("http://{host}:{}/", local.port()),
        })
    }

    /// The destination URI for the subscription.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The subscription body: `platform` records, schema 2022-12-13, buffering timeoutMs 25.
    pub fn subscription_body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": SCHEMA_VERSION,
            "types": ["platform"],
            "buffering": {
                "maxItems": BUFFER_MAX_ITEMS,
                "maxBytes": BUFFER_MAX_BYTES,
                "timeoutMs": BUFFER_TIMEOUT_MS,
            },
            "destination": { "protocol": "HTTP", "URI": self.uri },
        }))
        .unwrap_or_default()
    }

    /// Serves deliveries forever, marking `platform.runtimeDone` records on `tracker`.
    /// Bad bodies are answered 400 and otherwise ignored.
    pub fn serve(self, tracker: RuntimeDoneTracker) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let listener = match tokio::net::TcpListener::from_std(self.listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "telemetry listener failed");
                    return;
                }
            };
            loop {
                let (stream, _) = match listener.accept().await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(error = %e, "telemetry accept failed");
                        continue;
                    }
                };
                let tracker = tracker.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let tracker = tracker.clone();
                        async move {
                            let status = match Limited::new(req.into_body(), MAX_DELIVERY_BYTES)
                                .collect()
                                .await
                            {
                                Ok(body) => handle_delivery(&body.to_bytes(), &tracker),
                                Err(_) => hyper::StatusCode::PAYLOAD_TOO_LARGE,
                            };
                            let mut resp = hyper::Response::new(Full::new(Bytes::new()));
                            *resp.status_mut() = status;
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        })
    }
}

fn handle_delivery(body: &[u8], tracker: &RuntimeDoneTracker) -> hyper::StatusCode {
    match parse_telemetry_batch(body) {
        Ok(events) => {
            for e in events {
                match e.kind.as_str() {
                    "platform.runtimeDone" => {
                        if let Some(id) = e.request_id() {
                            tracker.mark_done(id);
                        }
                    }
                    "platform.logsDropped" => {
                        tracing::warn!(record = %e.record, "Lambda dropped telemetry records");
                    }
                    _ => {}
                }
            }
            hyper::StatusCode::OK
        }
        Err(e) => {
            tracing::debug!(error = %e, "unreadable telemetry delivery");
            hyper::StatusCode::BAD_REQUEST
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sandbox_host_from_hosts_file() {
        let hosts = "127.0.0.1 localhost\n# 1.2.3.4 sandbox.localdomain\n169.254.100.1  sandbox.localdomain sandbox\n";
        assert_eq!(
            destination_host(hosts),
            (SANDBOX_HOST.to_string(), "169.254.100.1".parse().unwrap())
        );
        assert_eq!(destination_host("127.0.0.1 localhost").0, "127.0.0.1");
    }

    #[tokio::test]
    async fn wait_sees_earlier_and_later_runtime_done() {
        let t = RuntimeDoneTracker::default();
        t.mark_done("a");
        assert!(t.wait("a", Instant::now()).await);
        let t2 = t.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            t2.mark_done("b");
        });
        assert!(t.wait("b", Instant::now() + Duration::from_secs(5)).await);
        assert!(!t.wait("c", Instant::now() + Duration::from_millis(5)).await);
    }

    #[test]
    fn delivery_marks_runtime_done_and_survives_oddities() {
        let t = RuntimeDoneTracker::default();
        let body = br#"[{"type":"platform.start","record":{"requestId":"x"}},
            {"type":"platform.runtimeDone","record":{"requestId":"x","status":"success"}},
            {"type":"platform.runtimeDone","record":{"requestId":"x"}},
            {"type":"function","record":{"message":"hi"}}]"#;
        assert_eq!(handle_delivery(body, &t), hyper::StatusCode::OK);
        assert!(t.is_done("x"));
        assert_eq!(
            handle_delivery(b"garbage", &t),
            hyper::StatusCode::BAD_REQUEST
        );
    }
}
