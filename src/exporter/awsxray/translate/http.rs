//! The `http` object (§8).

use std::net::IpAddr;

use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde::{Serialize, Serializer};

use super::attrs::Attrs;
use super::json::{self, key, Obj, WriteJson};
use super::keys::{Key, KeyTable};
use super::value::{as_int, as_str, find, find_str};
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
    pub url: Option<Url<'a>>,
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

impl WriteJson for Http<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        if let Some(r) = &self.request {
            let mut q = Obj::open(o.key(key!("request")));
            if let Some(v) = r.method {
                json::str(q.key(key!("method")), v);
            }
            if let Some(v) = &r.url {
                v.write_json(q.key(key!("url")));
            }
            if let Some(v) = r.user_agent {
                json::str(q.key(key!("user_agent")), v);
            }
            if let Some(v) = r.client_ip {
                json::str(q.key(key!("client_ip")), v);
            }
            if let Some(v) = r.x_forwarded_for {
                json::bool(q.key(key!("x_forwarded_for")), v);
            }
            q.close();
        }
        if let Some(r) = &self.response {
            let mut q = Obj::open(o.key(key!("response")));
            if let Some(v) = r.status {
                json::i64(q.key(key!("status")), v);
            }
            if let Some(v) = r.content_length {
                json::i64(q.key(key!("content_length")), v);
            }
            q.close();
        }
        o.close();
    }
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
    net_host_port: Option<Port<'a>>,
    net_peer_port: Option<Port<'a>>,
    server_port: Option<Port<'a>>,
    network_peer_port: Option<Port<'a>>,
    target: Option<&'a str>,
    path: Option<&'a str>,
    query: Option<&'a str>,
    status: Option<i64>,
    has_http: bool,
    has_url_parts: bool,
}

fn port_text(v: &Value) -> Option<Port<'_>> {
    match v {
        Value::IntValue(i) => Some(Port::Int(*i)),
        Value::StringValue(s) if !s.is_empty() => Some(Port::Text(s.as_str())),
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
        let Some(key) = attrs.class_at(idx) else {
            continue;
        };
        let Some(kv) = attrs.visible_at(idx) else {
            continue;
        };
        let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) else {
            continue;
        };
        let s = as_str(v);
        let mut take = true;
        match key {
            Key::HttpMethod | Key::HttpRequestMethod => {
                p.method = s.or(p.method);
                p.has_http = true;
            }
            Key::HttpUserAgent | Key::UserAgentOriginal => {
                p.user_agent = s.or(p.user_agent);
                p.has_http = true;
            }
            Key::HttpClientIp => {
                p.primary_ip = s.or(p.primary_ip);
                p.has_http = true;
            }
            Key::ClientAddress => {
                if let Some(ip) = s.filter(|ip| is_ip(ip)) {
                    p.primary_ip = Some(ip);
                }
            }
            Key::NetPeerIp => {
                if p.fallback_ip.is_none() {
                    p.fallback_ip = s;
                }
                p.net_peer_ip = s;
                p.peer_seen = true;
            }
            Key::NetworkPeerAddress => {
                if let Some(ip) = s.filter(|ip| is_ip(ip)) {
                    if p.fallback_ip.is_none() {
                        p.fallback_ip = Some(ip);
                    }
                    p.peer_seen = true;
                }
                p.has_url_parts = true;
            }
            Key::HttpUrl | Key::UrlFull => {
                p.url = s.or(p.url);
                p.has_http = true;
                p.has_url_parts = true;
            }
            Key::HttpScheme | Key::UrlScheme => {
                p.scheme = s.or(p.scheme);
                p.has_http = true;
            }
            Key::HttpHost => {
                p.http_host = s;
                p.has_http = true;
                p.has_url_parts = true;
            }
            Key::HttpServerName => {
                p.server_name = s;
                p.has_http = true;
                p.has_url_parts = true;
            }
            Key::NetHostName => {
                p.net_host_name = s;
                p.has_url_parts = true;
            }
            Key::HostName => {
                p.host_name = s;
                p.has_url_parts = true;
            }
            Key::NetPeerName => {
                p.net_peer_name = s;
                p.has_url_parts = true;
            }
            Key::ServerAddress => {
                p.server_address = s;
                p.has_url_parts = true;
            }
            Key::NetHostPort => {
                p.net_host_port = port_text(v);
                p.has_http = true;
            }
            Key::NetPeerPort => p.net_peer_port = port_text(v),
            Key::ServerPort => p.server_port = port_text(v),
            Key::NetworkPeerPort => p.network_peer_port = port_text(v),
            Key::HttpTarget => {
                p.target = s;
                p.has_http = true;
            }
            Key::UrlPath => {
                p.path = s;
                p.has_http = true;
            }
            Key::UrlQuery => {
                p.query = s;
                p.has_http = true;
            }
            Key::HttpStatusCode | Key::HttpResponseStatusCode => {
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
            Some(u) if !u.is_empty() => Some(Url::Verbatim(u)),
            _ => build_url(&p, kind),
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
        content_length: content_length(span, attrs.table()),
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

/// A port as the span gives it: an integer, or a non-empty string used verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port<'a> {
    /// `IntValue`.
    Int(i64),
    /// Non-empty `StringValue`.
    Text(&'a str),
}

impl Port<'_> {
    /// Whether this is the default port of `scheme` (`http` 80, `https` 443), which the URL
    /// leaves out (R-HTTP-2).
    fn is_default_for(self, scheme: &str) -> bool {
        match (scheme, self) {
            ("http", Port::Int(80)) | ("https", Port::Int(443)) => true,
            ("http", Port::Text(t)) => t == "80",
            ("https", Port::Text(t)) => t == "443",
            _ => false,
        }
    }
}

/// `http.request.url`: the span's own URL, or one rebuilt from its parts (R-HTTP-2, D8, D9).
/// The rebuilt form is only put together while the document is written (no allocation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Url<'a> {
    /// `http.url` / `url.full`, verbatim.
    Verbatim(&'a str),
    /// `<scheme>://<host>[:<port>]<target>`, or `…<path>[?<query>]` without a target.
    Parts {
        /// Scheme, `http` when the span has none.
        scheme: &'a str,
        /// Host; IPv6 literals are bracketed when a port follows.
        host: &'a str,
        /// Port, unless absent or the scheme's default.
        port: Option<Port<'a>>,
        /// `http.target`: written as is.
        target: Option<&'a str>,
        /// `url.path`, `/` when absent or empty (used without a target).
        path: &'a str,
        /// `url.query`, non-empty (used without a target); `?` is added unless present.
        query: Option<&'a str>,
    },
}

impl Url<'_> {
    /// Calls `piece` with the parts of the URL text, in order.
    fn pieces(&self, mut piece: impl FnMut(&str)) {
        match *self {
            Url::Verbatim(u) => piece(u),
            Url::Parts {
                scheme,
                host,
                port,
                target,
                path,
                query,
            } => {
                piece(scheme);
                piece("://");
                match port {
                    Some(port) => {
                        if host.contains(':') && !host.starts_with('[') {
                            piece("[");
                            piece(host);
                            piece("]");
                        } else {
                            piece(host);
                        }
                        piece(":");
                        match port {
                            Port::Int(i) => piece(itoa::Buffer::new().format(i)),
                            Port::Text(t) => piece(t),
                        }
                    }
                    None => piece(host),
                }
                if let Some(target) = target {
                    piece(target);
                } else {
                    piece(path);
                    if let Some(q) = query {
                        if !q.starts_with('?') {
                            piece("?");
                        }
                        piece(q);
                    }
                }
            }
        }
    }
}

impl std::fmt::Display for Url<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut result = Ok(());
        self.pieces(|p| {
            if result.is_ok() {
                result = f.write_str(p);
            }
        });
        result
    }
}

impl Serialize for Url<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Url::Verbatim(u) => s.serialize_str(u),
            parts => s.collect_str(parts),
        }
    }
}

impl WriteJson for Url<'_> {
    fn write_json(&self, out: &mut String) {
        out.push('"');
        self.pieces(|p| json::str_contents(out, p));
        out.push('"');
    }
}

/// The URL from its parts (R-HTTP-2, D8, D9). `None` when no host is known.
fn build_url<'a>(p: &Parts<'a>, kind: SpanKind) -> Option<Url<'a>> {
    let scheme = nonempty(p.scheme).unwrap_or("http");
    let (host, port) = if let Some(h) = nonempty(p.http_host) {
        (h, None)
    } else if kind == SpanKind::Server {
        let host = nonempty(p.server_name)
            .or(nonempty(p.net_host_name))
            .or(nonempty(p.host_name))
            .or(nonempty(p.server_address))?;
        (host, p.net_host_port.or(p.server_port))
    } else {
        let host = nonempty(p.net_peer_name)
            .or(nonempty(p.net_peer_ip))
            .or(nonempty(p.server_address))?;
        let port = p.net_peer_port.or(p.server_port).or(p.network_peer_port);
        (host, port)
    };
    Some(Url::Parts {
        scheme,
        host,
        port: port.filter(|port| !port.is_default_for(scheme)),
        target: p.target,
        path: nonempty(p.path).unwrap_or("/"),
        query: nonempty(p.query),
    })
}

/// `content_length` only when known (R-HTTP-6, D5); `span_keys` are the span's attributes.
fn content_length(span: &Span, span_keys: &KeyTable<'_>) -> Option<i64> {
    for key in [Key::HttpResponseBodySize, Key::HttpResponseContentLength] {
        if let Some(v) = span_keys.int(key) {
            return Some(v);
        }
    }
    let positive = |v: Option<&Value>| match v {
        Some(Value::IntValue(i)) if *i != 0 => Some(*i),
        _ => None,
    };
    if span_keys.str(Key::MessageType) == Some("RECEIVED") {
        if let Some(n) = positive(span_keys.find(Key::MessagingPayloadSizeBytes))
            .or_else(|| positive(span_keys.find(Key::MessagingBodySize)))
        {
            return Some(n);
        }
    }
    let received = |kvs: &[KeyValue]| -> Option<i64> {
        if find_str(kvs, Key::MessageType.text()) != Some("RECEIVED") {
            return None;
        }
        [Key::MessagingPayloadSizeBytes, Key::MessagingBodySize]
            .iter()
            .find_map(|k| positive(find(kvs, k.text())))
    };
    span.events.iter().find_map(|e| received(&e.attributes))
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
        assert_eq!(
            content_length(&span, &KeyTable::new(&span.attributes)),
            Some(7)
        );
        let (json, _) = run(SpanKind::Server, vec![s("http.method", "GET")]);
        assert!(!json.unwrap_or_default().contains("content_length"));
    }
}
