//! The `http` object (§8).

use std::borrow::Cow;
use std::net::IpAddr;

use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde::Serialize;

use super::attrs::Attrs;
use super::value::{as_int, as_str, find, find_int, find_str};
use super::SpanKind;

/// `http` (§8).
#[derive(Debug, Clone, Serialize)]
pub struct Http<'a> {
    /// Request part, omitted when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<HttpRequest<'a>>,
    /// Response part, omitted when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HttpResponse>,
}

/// `http.request` (§8.1).
#[derive(Debug, Clone, Default, Serialize)]
pub struct HttpRequest<'a> {
    /// `http.method` / `http.request.method`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'a str>,
    /// Verbatim or rebuilt URL (R-HTTP-2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Cow<'a, str>>,
    /// `http.user_agent` / `user_agent.original`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<&'a str>,
    /// Client address (R-HTTP-4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<&'a str>,
    /// Only `true` is written (R-HTTP-4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_forwarded_for: Option<bool>,
}

/// `http.response` (§8.1).
#[derive(Debug, Clone, Default, Serialize)]
pub struct HttpResponse {
    /// Status code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// Only when known (R-HTTP-6, D5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_length: Option<i64>,
}

/// Values gathered in one pass over the attributes.
#[derive(Default)]
struct Parts<'a> {
    method: Option<&'a str>,
    user_agent: Option<&'a str>,
    primary_ip: Option<&'a str>,
    fallback_ip: Option<&'a str>,
    peer_seen: bool,
    url: Option<&'a str>,
    scheme: Option<&'a str>,
    http_host: Option<&'a str>,
    server_name: Option<&'a str>,
    net_host_name: Option<&'a str>,
    host_name: Option<&'a str>,
    net_peer_name: Option<&'a str>,
    net_peer_ip: Option<&'a str>,
    server_address: Option<&'a str>,
    net_host_port: Option<Cow<'a, str>>,
    net_peer_port: Option<Cow<'a, str>>,
    server_port: Option<Cow<'a, str>>,
    network_peer_port: Option<Cow<'a, str>>,
    target: Option<&'a str>,
    path: Option<&'a str>,
    query: Option<&'a str>,
    status: Option<i64>,
    has_http: bool,
    has_url_parts: bool,
}

fn port_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::IntValue(i) => Some(Cow::Owned(i.to_string())),
        Value::StringValue(s) if !s.is_empty() => Some(Cow::Borrowed(s.as_str())),
        _ => None,
    }
}

fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// Builds `http` and consumes every key of the §8.1 table (R-HTTP-1..6).
pub(crate) fn make_http<'a>(
    span: &'a Span,
    kind: SpanKind,
    attrs: &mut Attrs<'a>,
) -> Option<Http<'a>> {
    let mut p = Parts::default();
    for idx in 0..attrs.len() {
        let Some(kv) = attrs.visible_at(idx) else {
            continue;
        };
        let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) else {
            continue;
        };
        let s = as_str(v);
        let mut take = true;
        match kv.key.as_str() {
            "http.method" | "http.request.method" => {
                p.method = s.or(p.method);
                p.has_http = true;
            }
            "http.user_agent" | "user_agent.original" => {
                p.user_agent = s.or(p.user_agent);
                p.has_http = true;
            }
            "http.client_ip" => {
                p.primary_ip = s.or(p.primary_ip);
                p.has_http = true;
            }
            "client.address" => {
                if let Some(ip) = s.filter(|ip| is_ip(ip)) {
                    p.primary_ip = Some(ip);
                }
            }
            "net.peer.ip" => {
                if p.fallback_ip.is_none() {
                    p.fallback_ip = s;
                }
                p.net_peer_ip = s;
                p.peer_seen = true;
            }
            "network.peer.address" => {
                if let Some(ip) = s.filter(|ip| is_ip(ip)) {
                    if p.fallback_ip.is_none() {
                        p.fallback_ip = Some(ip);
                    }
                    p.peer_seen = true;
                }
                p.has_url_parts = true;
            }
            "http.url" | "url.full" => {
                p.url = s.or(p.url);
                p.has_http = true;
                p.has_url_parts = true;
            }
            "http.scheme" | "url.scheme" => {
                p.scheme = s.or(p.scheme);
                p.has_http = true;
            }
            "http.host" => {
                p.http_host = s;
                p.has_http = true;
                p.has_url_parts = true;
            }
            "http.server_name" => {
                p.server_name = s;
                p.has_http = true;
                p.has_url_parts = true;
            }
            "net.host.name" => {
                p.net_host_name = s;
                p.has_url_parts = true;
            }
            "host.name" => {
                p.host_name = s;
                p.has_url_parts = true;
            }
            "net.peer.name" => {
                p.net_peer_name = s;
                p.has_url_parts = true;
            }
            "server.address" => {
                p.server_address = s;
                p.has_url_parts = true;
            }
            "net.host.port" => {
                p.net_host_port = port_text(v);
                p.has_http = true;
            }
            "net.peer.port" => p.net_peer_port = port_text(v),
            "server.port" => p.server_port = port_text(v),
            "network.peer.port" => p.network_peer_port = port_text(v),
            "http.target" => {
                p.target = s;
                p.has_http = true;
            }
            "url.path" => {
                p.path = s;
                p.has_http = true;
            }
            "url.query" => {
                p.query = s;
                p.has_http = true;
            }
            "http.status_code" | "http.response.status_code" => {
                p.status = as_int(v).or(p.status);
                p.has_http = true;
            }
            _ => take = false,
        }
        if take {
            attrs.consume_at(idx);
        }
    }
    if !p.has_http {
        return None;
    }

    let client_ip = nonempty(p.primary_ip).or(nonempty(p.fallback_ip));
    let url = if p.has_url_parts {
        match p.url {
            Some(u) if !u.is_empty() => Some(Cow::Borrowed(u)),
            _ => build_url(&p, kind).map(Cow::Owned),
        }
    } else {
        None
    };
    let request = HttpRequest {
        method: p.method.filter(|s| !s.is_empty()),
        url,
        user_agent: p.user_agent.filter(|s| !s.is_empty()),
        client_ip,
        x_forwarded_for: (client_ip.is_some() && !p.peer_seen).then_some(true),
    };
    let request_empty = request.method.is_none()
        && request.url.is_none()
        && request.user_agent.is_none()
        && request.client_ip.is_none();
    let response = HttpResponse {
        status: p.status,
        content_length: content_length(span),
    };
    let response_empty = response.status.is_none() && response.content_length.is_none();
    if request_empty && response_empty {
        return None; // R-SHAPE-3: no empty `"http":{}` (e.g. only `http.method=""`)
    }
    Some(Http {
        request: (!request_empty).then_some(request),
        response: (!response_empty).then_some(response),
    })
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Rebuilds the URL from its parts (R-HTTP-2, D8, D9). `None` when no host is known.
fn build_url(p: &Parts<'_>, kind: SpanKind) -> Option<String> {
    let scheme = nonempty(p.scheme).unwrap_or("http");
    let (host, port) = if let Some(h) = nonempty(p.http_host) {
        (h, None)
    } else if kind == SpanKind::Server {
        let host = nonempty(p.server_name)
            .or(nonempty(p.net_host_name))
            .or(nonempty(p.host_name))
            .or(nonempty(p.server_address))?;
        (host, p.net_host_port.as_ref().or(p.server_port.as_ref()))
    } else {
        let host = nonempty(p.net_peer_name)
            .or(nonempty(p.net_peer_ip))
            .or(nonempty(p.server_address))?;
        let port = p
            .net_peer_port
            .as_ref()
            .or(p.server_port.as_ref())
            .or(p.network_peer_port.as_ref());
        (host, port)
    };
    let port = port
        .map(|c| c.as_ref())
        .filter(|port| !port.is_empty())
        .filter(|port| {
            !((scheme == "http" && *port == "80") || (scheme == "https" && *port == "443"))
        });

    let mut url = String::with_capacity(64);
    url.push_str(scheme);
    url.push_str("://");
    match port {
        Some(port) => {
            if host.contains(':') && !host.starts_with('[') {
                url.push('[');
                url.push_str(host);
                url.push(']');
            } else {
                url.push_str(host);
            }
            url.push(':');
            url.push_str(port);
        }
        None => url.push_str(host),
    }
    if let Some(target) = p.target {
        url.push_str(target);
    } else {
        url.push_str(nonempty(p.path).unwrap_or("/"));
        if let Some(q) = nonempty(p.query) {
            if !q.starts_with('?') {
                url.push('?');
            }
            url.push_str(q);
        }
    }
    Some(url)
}

/// `content_length` only when known (R-HTTP-6, D5).
fn content_length(span: &Span) -> Option<i64> {
    for key in ["http.response.body.size", "http.response_content_length"] {
        if let Some(v) = find_int(&span.attributes, key) {
            return Some(v);
        }
    }
    let received = |kvs: &[KeyValue]| -> Option<i64> {
        if find_str(kvs, "message.type") != Some("RECEIVED") {
            return None;
        }
        [
            "messaging.message_payload_size_bytes",
            "messaging.message.body.size",
        ]
        .iter()
        .find_map(|k| match find(kvs, k) {
            Some(Value::IntValue(i)) if *i != 0 => Some(*i),
            _ => None,
        })
    };
    received(&span.attributes).or_else(|| span.events.iter().find_map(|e| received(&e.attributes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::trace::v1::span::Event;

    fn s(key: &str, v: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.to_owned())),
            }),
            ..Default::default()
        }
    }
    fn i(key: &str, v: i64) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::IntValue(v)),
            }),
            ..Default::default()
        }
    }

    fn run(kind: SpanKind, attributes: Vec<KeyValue>) -> (Option<String>, Vec<String>) {
        super::super::test_support::whole_span_docs(kind, &[], &attributes);
        let span = Span {
            attributes,
            ..Default::default()
        };
        let mut attrs = Attrs::new(&span.attributes);
        let http = make_http(&span, kind, &mut attrs);
        let json = http.map(|h| serde_json::to_string(&h).unwrap_or_default());
        let left = attrs.live().map(|kv| kv.key.clone()).collect();
        (json, left)
    }

    #[test]
    fn server_url_from_parts() {
        // R-HTTP-2
        let (json, _) = run(
            SpanKind::Server,
            vec![
                s("http.method", "GET"),
                s("http.scheme", "http"),
                s("net.host.name", "kb234.example.com"),
                i("net.host.port", 8080),
                s("http.target", "/users/junit"),
            ],
        );
        assert!(json
            .unwrap_or_default()
            .contains(r#""url":"http://kb234.example.com:8080/users/junit""#));
    }

    #[test]
    fn default_ports_omitted_and_ipv6_bracketed() {
        // R-HTTP-2, D9
        let (json, _) = run(
            SpanKind::Server,
            vec![
                s("url.scheme", "https"),
                s("server.address", "2001:db8:85a3::8a2e:370:7334"),
                i("server.port", 443),
                s("http.target", "/users/junit"),
            ],
        );
        assert!(json
            .unwrap_or_default()
            .contains(r#""url":"https://2001:db8:85a3::8a2e:370:7334/users/junit""#));
        let (json, _) = run(
            SpanKind::Client,
            vec![
                s("http.method", "GET"),
                s("server.address", "::1"),
                i("server.port", 8080),
            ],
        );
        assert!(json
            .unwrap_or_default()
            .contains(r#""url":"http://[::1]:8080/""#));
    }

    #[test]
    fn client_port_fallbacks() {
        // R-HTTP-3 (D8)
        let (json, _) = run(
            SpanKind::Client,
            vec![
                s("http.request.method", "GET"),
                s("server.address", "api"),
                i("network.peer.port", 9000),
                s("url.path", "/p"),
                s("url.query", "?a=1"),
            ],
        );
        assert!(json
            .unwrap_or_default()
            .contains(r#""url":"http://api:9000/p?a=1""#));
    }

    #[test]
    fn no_http_keys_no_object_but_consumed() {
        // R-HTTP-1
        let (json, left) = run(
            SpanKind::Client,
            vec![
                s("net.peer.name", "db"),
                i("net.peer.port", 3306),
                s("x", "y"),
            ],
        );
        assert!(json.is_none());
        assert_eq!(left, ["x"]);
    }

    #[test]
    fn no_host_no_url() {
        // D9
        let (json, _) = run(
            SpanKind::Client,
            vec![
                s("http.method", "GET"),
                s("network.peer.address", "10.0.0.1"),
            ],
        );
        let json = json.unwrap_or_default();
        assert!(!json.contains("url"));
        assert!(json.contains(r#""client_ip":"10.0.0.1""#));
        assert!(!json.contains("x_forwarded_for"));
    }

    #[test]
    fn x_forwarded_for_only_without_peer() {
        // R-HTTP-4
        let (json, _) = run(SpanKind::Server, vec![s("http.client_ip", "1.2.3.4")]);
        assert!(json
            .unwrap_or_default()
            .contains(r#""x_forwarded_for":true"#));
        let (json, _) = run(
            SpanKind::Server,
            vec![s("net.peer.ip", "5.6.7.8"), s("http.client_ip", "1.2.3.4")],
        );
        let json = json.unwrap_or_default();
        assert!(json.contains(r#""client_ip":"1.2.3.4""#));
        assert!(!json.contains("x_forwarded_for"));
        let (json, _) = run(
            SpanKind::Server,
            vec![s("http.method", "GET"), s("client.address", "not-an-ip")],
        );
        assert!(!json.unwrap_or_default().contains("client_ip"));
    }

    #[test]
    fn later_key_wins() {
        // R-HTTP-5
        let (json, _) = run(
            SpanKind::Server,
            vec![s("http.method", "GET"), s("http.request.method", "POST")],
        );
        assert!(json.unwrap_or_default().contains(r#""method":"POST""#));
    }

    #[test]
    fn content_length_sources() {
        // R-HTTP-6 (D5)
        let (json, left) = run(
            SpanKind::Server,
            vec![s("http.method", "GET"), i("http.response.body.size", 12)],
        );
        assert!(json.unwrap_or_default().contains(r#""content_length":12"#));
        assert_eq!(left, ["http.response.body.size"]);
        let span = Span {
            attributes: vec![s("http.method", "GET")],
            events: vec![Event {
                attributes: vec![
                    s("message.type", "RECEIVED"),
                    i("messaging.message.body.size", 7),
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(content_length(&span), Some(7));
        let (json, _) = run(SpanKind::Server, vec![s("http.method", "GET")]);
        assert!(!json.unwrap_or_default().contains("content_length"));
    }
}
