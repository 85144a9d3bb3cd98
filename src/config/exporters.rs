//! Exporter configs: `awsxray`, `otlp` (OTLP/gRPC), `otlphttp` (OTLP/HTTP), and `debug` (also
//! under its old name `logging`).
//!
//! Keys and defaults follow the collector-contrib `awsxray` exporter (its `awsutil` session
//! settings plus the exporter's own keys), the collector's `otlp` and `otlphttp` exporters (their
//! `configgrpc`/`confighttp` client settings, `configtls`, `configretry` and the exporter
//! helper's `timeout` and `sending_queue`), and the collector's `debug`/`logging` exporters.
//! Additions of otlp-xray are marked as such (`docs/xray-mapping.md` §18); so are the few
//! defaults that differ from the collector's, with the reason.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::de::{self, DeError};
use super::{Problem, RawValue};
use crate::exporter::awsxray::translate::TranslateConfig;

/// A configured exporter, by component type.
// Built once at start-up, a handful at most: boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ExporterConfig {
    /// `awsxray`: segment documents to AWS X-Ray.
    AwsXray(AwsXrayExporterConfig),
    /// `otlp`: spans to an OTLP/gRPC endpoint.
    Otlp(OtlpExporterConfig),
    /// `otlphttp`: spans to an OTLP/HTTP endpoint.
    OtlpHttp(OtlpHttpExporterConfig),
    /// `debug`, or the deprecated `logging`: spans printed to stdout.
    Debug(DebugExporterConfig),
}

/// The exporter types otlp-xray supports (`logging` is the old name of `debug`).
pub const EXPORTER_TYPES: &[&str] = &["awsxray", "otlp", "otlphttp", "debug", "logging"];

/// Largest segment document X-Ray accepts, in bytes (service quota, not adjustable).
pub const XRAY_MAX_DOCUMENT_BYTES: usize = 64_000;

/// `exporters.awsxray` (`docs/xray-mapping.md` §18).
///
/// Every key of the collector-contrib exporter is accepted and validated. Those that make no
/// sense inside Lambda, or that otlp-xray does not implement, say "no effect" below; they are
/// accepted so that existing collector configs load unchanged. The AWS fork's
/// `transit_spans_in_otlp_format` (R-OTLPX-1) is rejected as an unknown key: its service-side
/// contract is undocumented.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsXrayExporterConfig {
    /// AWS region of X-Ray (R-API-5). Default: the `AWS_REGION` Lambda sets.
    pub region: Option<String>,
    /// X-Ray endpoint URL (`https://…` or `http://…`), e.g. a local test endpoint. Default: the
    /// region's public endpoint.
    pub endpoint: Option<String>,
    /// Attribute keys recorded as annotations (searchable) rather than metadata (§14, R-ANN-1).
    pub indexed_attributes: Vec<String>,
    /// Record every scalar attribute as an annotation (§14.3). Default `false`.
    pub index_all_attributes: bool,
    /// CloudWatch log group names for `aws.cloudwatch_logs` when the resource names none
    /// (R-AWS-2).
    pub aws_log_groups: Vec<String>,
    /// IAM role to assume (STS) for `PutTraceSegments`, e.g. to write to another account
    /// (R-API-5). Validated (`arn:<partition>:iam::<account>:role/<name>`). No effect yet:
    /// documents are signed with the credentials Lambda gives the function (its execution
    /// role).
    pub role_arn: Option<String>,
    /// External ID for the role assumption; only valid together with `role_arn`. No effect yet
    /// (see `role_arn`).
    pub external_id: Option<String>,
    /// Concurrent `PutTraceSegments` calls. Default 8.
    pub num_workers: u32,
    /// Timeout of one `PutTraceSegments` call, in seconds. Default 30 (the flush deadline
    /// bounds it further).
    pub request_timeout_seconds: u64,
    /// Retries of a failed call. Default 2. No effect: otlp-xray retries throttling, 5xx and
    /// transport errors with jittered backoff until the flush deadline instead of a fixed
    /// count (R-API-4).
    pub max_retries: u32,
    /// Skip TLS certificate verification. Default `false`. No effect: certificates are always
    /// verified.
    pub no_verify_ssl: bool,
    /// HTTPS proxy URL for X-Ray calls. Validated (`http://` or `https://` URL). No effect yet.
    pub proxy_address: Option<String>,
    /// Collector key (skips EC2 metadata lookups). No effect in Lambda: there is no EC2
    /// instance metadata service.
    pub local_mode: bool,
    /// ARN of the resource running the collector. Validated (starts with `arn:`). No effect
    /// yet: documents carry no `resource_arn` (§19).
    pub resource_arn: Option<String>,
    /// Profile in the shared credentials file. No effect in Lambda: credentials come from the
    /// environment Lambda sets.
    pub profile: Option<String>,
    /// Shared credentials file(s); one path or a list. No effect in Lambda (see `profile`).
    #[serde(deserialize_with = "de::string_or_list")]
    pub shared_credentials_file: Vec<String>,
    /// PEM file of extra CA certificates for the X-Ray endpoint. No effect yet: the bundled
    /// web PKI roots are used.
    pub certificate_file_path: Option<String>,
    /// Retries of EC2 instance metadata calls. Default 0. No effect in Lambda: there is no EC2
    /// instance metadata service.
    pub imds_retries: u32,
    /// Collector telemetry of the exporter (periodic `PutTelemetryRecords`): `enabled`,
    /// `include_metadata` (booleans), `contributors` (list of strings), `hostname`,
    /// `instance_id`, `resource_arn` (strings). Parsed and validated; no effect (not
    /// implemented).
    pub telemetry: BTreeMap<String, RawValue>,
    /// Id of an extension that wraps the HTTP client. No effect: otlp-xray has no such
    /// extensions.
    pub middleware: Option<String>,
    /// Skip the trace-id epoch check (R-ID-3/4). Default `true`.
    pub skip_timestamp_validation: bool,
    /// Keep `.` in annotation keys (R-ANN-2). Default `true`.
    pub annotation_allow_dot: bool,
    /// otlp-xray: `origin` for `cloud.platform=aws_lambda` resources (R-ORIGIN-3, D4), e.g.
    /// `AWS::Lambda::Function`. Default none.
    pub lambda_origin: Option<String>,
    /// otlp-xray: serialised document budget in bytes (R-SIZE-1, D6), 1 to 64,000. Default
    /// 64,000.
    pub max_document_bytes: usize,
    /// otlp-xray: send documents to an X-Ray daemon over UDP at `host:port` (R-UDP-1/2)
    /// instead of calling `PutTraceSegments`. The daemon's `tcp:h:p udp:h:p` form is accepted.
    /// Lambda does not give extensions `AWS_XRAY_DAEMON_ADDRESS`, so it must be configured
    /// (e.g. `${env:MY_DAEMON}`). Default none.
    pub daemon_address: Option<String>,
    /// otlp-xray: a span whose parent is the Lambda function segment (the `Parent=` of the
    /// INVOKE event's trace header) is sent as a subsegment of it, as the X-Ray SDK does,
    /// instead of as a segment of its own; the service map then shows no extra node after the
    /// Lambda function. Default `true`.
    pub attach_to_lambda_segment: bool,
}

impl Default for AwsXrayExporterConfig {
    fn default() -> Self {
        AwsXrayExporterConfig {
            region: None,
            endpoint: None,
            indexed_attributes: Vec::new(),
            index_all_attributes: false,
            aws_log_groups: Vec::new(),
            role_arn: None,
            external_id: None,
            num_workers: 8,
            request_timeout_seconds: 30,
            max_retries: 2,
            no_verify_ssl: false,
            proxy_address: None,
            local_mode: false,
            resource_arn: None,
            profile: None,
            shared_credentials_file: Vec::new(),
            certificate_file_path: None,
            imds_retries: 0,
            telemetry: BTreeMap::new(),
            middleware: None,
            skip_timestamp_validation: true,
            annotation_allow_dot: true,
            lambda_origin: None,
            max_document_bytes: XRAY_MAX_DOCUMENT_BYTES,
            daemon_address: None,
            attach_to_lambda_segment: true,
        }
    }
}

impl AwsXrayExporterConfig {
    /// The translator's options (§18 of `docs/xray-mapping.md`).
    pub fn translate_config(&self) -> TranslateConfig {
        TranslateConfig {
            skip_timestamp_validation: self.skip_timestamp_validation,
            indexed_attributes: self.indexed_attributes.clone(),
            index_all_attributes: self.index_all_attributes,
            annotation_allow_dot: self.annotation_allow_dot,
            aws_log_groups: self.aws_log_groups.clone(),
            lambda_origin: self.lambda_origin.clone(),
            max_document_bytes: self.max_document_bytes,
        }
    }

    fn check(&mut self) -> Result<(), Problem> {
        // Empty strings (`region: ""`, `${env:X:-}`) mean "not set", as in the collector.
        for field in [
            &mut self.region,
            &mut self.endpoint,
            &mut self.role_arn,
            &mut self.external_id,
            &mut self.proxy_address,
            &mut self.resource_arn,
            &mut self.profile,
            &mut self.certificate_file_path,
            &mut self.middleware,
            &mut self.lambda_origin,
        ] {
            if field.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *field = None;
            }
        }
        if let Some(e) = &self.endpoint {
            if !(e.starts_with("https://") || e.starts_with("http://")) {
                return Err((
                    vec!["endpoint"],
                    format!(
                        "endpoint `{e}` must be a URL starting with https:// or http:// \
                         (e.g. https://xray.us-east-1.amazonaws.com)"
                    ),
                ));
            }
        }
        if self.max_document_bytes == 0 || self.max_document_bytes > XRAY_MAX_DOCUMENT_BYTES {
            return Err((
                vec!["max_document_bytes"],
                format!(
                    "max_document_bytes must be between 1 and {XRAY_MAX_DOCUMENT_BYTES} (the X-Ray \
                     segment document limit), not {}",
                    self.max_document_bytes
                ),
            ));
        }
        if let Some(addr) = &self.daemon_address {
            if let Err(message) = parse_daemon_address(addr) {
                return Err((vec!["daemon_address"], message));
            }
        }
        if let Some(arn) = &self.role_arn {
            let is_role = arn.starts_with("arn:")
                && arn.split(':').nth(2) == Some("iam")
                && arn
                    .split(':')
                    .nth(5)
                    .is_some_and(|r| r.starts_with("role/"));
            if !is_role {
                return Err((
                    vec!["role_arn"],
                    format!(
                        "role_arn `{arn}` must be an IAM role ARN, e.g. \
                         arn:aws:iam::123456789012:role/xray-writer"
                    ),
                ));
            }
        }
        if self.external_id.is_some() && self.role_arn.is_none() {
            return Err((
                vec!["external_id"],
                "external_id is only used with role_arn; set role_arn or remove external_id"
                    .to_owned(),
            ));
        }
        if let Some(p) = &self.proxy_address {
            if !(p.starts_with("https://") || p.starts_with("http://")) {
                return Err((
                    vec!["proxy_address"],
                    format!("proxy_address `{p}` must be a URL starting with http:// or https://"),
                ));
            }
        }
        if let Some(arn) = &self.resource_arn {
            if !arn.starts_with("arn:") {
                return Err((
                    vec!["resource_arn"],
                    format!("resource_arn `{arn}` must be an ARN (arn:…)"),
                ));
            }
        }
        check_telemetry(&self.telemetry)?;
        if self.num_workers == 0 {
            return Err((
                vec!["num_workers"],
                "num_workers must be at least 1".to_owned(),
            ));
        }
        if self.request_timeout_seconds == 0 {
            return Err((
                vec!["request_timeout_seconds"],
                "request_timeout_seconds must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Validates `exporters.awsxray.telemetry` (keys and value types of the collector's exporter
/// telemetry settings; §18). The settings themselves have no effect.
fn check_telemetry(telemetry: &BTreeMap<String, RawValue>) -> Result<(), Problem> {
    for (key, value) in telemetry {
        let ok = match key.as_str() {
            // YAML scalars may arrive untyped: `true` as a string is a boolean too.
            "enabled" | "include_metadata" => {
                value.is_boolean()
                    || value.is_null()
                    || value.as_str().is_some_and(|s| {
                        s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false")
                    })
            }
            "contributors" => {
                value.is_null()
                    || value.is_string()
                    || value
                        .as_array()
                        .is_some_and(|a| a.iter().all(RawValue::is_string))
            }
            "hostname" | "instance_id" | "resource_arn" => value.is_string() || value.is_null(),
            _ => {
                return Err((
                    vec!["telemetry"],
                    format!(
                        "unknown telemetry key `{key}`; expected enabled, include_metadata, \
                         contributors, hostname, instance_id or resource_arn"
                    ),
                ))
            }
        };
        if !ok {
            return Err((
                vec!["telemetry"],
                format!("telemetry.{key} has the wrong type ({value})"),
            ));
        }
    }
    Ok(())
}

/// Parses an X-Ray daemon address: `host:port`, `[v6]:port`, or the daemon's
/// `tcp:host:port udp:host:port` form (the `udp:` part is used), as in
/// `AWS_XRAY_DAEMON_ADDRESS` (R-UDP-2). Host names are resolved (only `localhost` without a
/// lookup). Errors say what was expected.
pub fn parse_daemon_address(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let text = text.trim();
    let addr = if text.contains(' ') {
        text.split_whitespace()
            .find_map(|p| p.strip_prefix("udp:"))
            .ok_or_else(|| format!("daemon_address `{text}` has no `udp:host:port` part"))?
    } else {
        text.strip_prefix("udp:").unwrap_or(text)
    };
    let expected = || format!("daemon_address `{text}` must be host:port, e.g. 127.0.0.1:2000");
    let (host, port) = addr.rsplit_once(':').ok_or_else(expected)?;
    let port: u16 = port.parse().map_err(|_| expected())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("daemon_address `{text}`: cannot resolve `{host}`"))
}

/// How much the `debug` exporter prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// One summary line per export (span count). The default.
    #[default]
    Basic,
    /// One line per span.
    Normal,
    /// Every field of every span.
    Detailed,
}

impl<'de> Deserialize<'de> for Verbosity {
    /// `basic`, `normal` or `detailed`, any case (as the collector).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "basic" => Ok(Verbosity::Basic),
            "normal" => Ok(Verbosity::Normal),
            "detailed" => Ok(Verbosity::Detailed),
            _ => Err(serde::de::Error::unknown_variant(
                &s,
                &["basic", "normal", "detailed"],
            )),
        }
    }
}

/// `exporters.debug` (and `exporters.logging`, see [`LoggingExporterConfig`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebugExporterConfig {
    /// How much to print. Default `basic`.
    pub verbosity: Verbosity,
    /// Log lines per second printed in full before sampling starts. Default 2.
    pub sampling_initial: u32,
    /// After `sampling_initial`, print every Nth line. Default 1 (every line).
    pub sampling_thereafter: u32,
    /// Collector key. Accepted; output always goes to stdout.
    pub use_internal_logger: bool,
}

impl Default for DebugExporterConfig {
    fn default() -> Self {
        DebugExporterConfig {
            verbosity: Verbosity::Basic,
            sampling_initial: 2,
            sampling_thereafter: 1,
            use_internal_logger: true,
        }
    }
}

/// `exporters.logging`: the collector's deprecated name of `debug`, with its old `loglevel`
/// key (`debug` → detailed, `info` → normal, `warn`/`error` → basic). Becomes a
/// [`DebugExporterConfig`].
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingExporterConfig {
    /// Old verbosity control: `debug`, `info`, `warn`, `error`.
    pub loglevel: Option<String>,
    /// As [`DebugExporterConfig::verbosity`]; wins over `loglevel`.
    pub verbosity: Option<Verbosity>,
    /// As [`DebugExporterConfig::sampling_initial`].
    pub sampling_initial: Option<u32>,
    /// As [`DebugExporterConfig::sampling_thereafter`].
    pub sampling_thereafter: Option<u32>,
}

impl LoggingExporterConfig {
    fn into_debug(self) -> Result<DebugExporterConfig, Problem> {
        let defaults = DebugExporterConfig::default();
        let verbosity = match (self.verbosity, self.loglevel.as_deref()) {
            (Some(v), _) => v,
            (None, None) => defaults.verbosity,
            (None, Some(level)) => match level.to_ascii_lowercase().as_str() {
                "debug" => Verbosity::Detailed,
                "info" => Verbosity::Normal,
                "warn" | "error" => Verbosity::Basic,
                _ => {
                    return Err((
                        vec!["loglevel"],
                        format!("unknown loglevel `{level}`; expected debug, info, warn or error"),
                    ))
                }
            },
        };
        Ok(DebugExporterConfig {
            verbosity,
            sampling_initial: self.sampling_initial.unwrap_or(defaults.sampling_initial),
            sampling_thereafter: self
                .sampling_thereafter
                .unwrap_or(defaults.sampling_thereafter),
            use_internal_logger: defaults.use_internal_logger,
        })
    }
}

// ---- otlp and otlphttp ----------------------------------------------------------------------

/// Request compression of the `otlp` and `otlphttp` exporters (`compression`).
///
/// The collector's default for both is `gzip`. `none` (or an empty value) sends uncompressed.
/// The collector's other algorithms (`zstd`, `snappy`, `zlib`, `deflate`, `lz4`) are refused
/// with an error naming the two supported ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// gzip (`Content-Encoding: gzip` over HTTP, `grpc-encoding: gzip` over gRPC). The default.
    #[default]
    Gzip,
    /// No compression.
    None,
}

/// Algorithms the collector knows but otlp-xray does not implement, for a precise message.
const OTHER_COMPRESSIONS: &[&str] = &[
    "zstd",
    "snappy",
    "zlib",
    "deflate",
    "lz4",
    "x-snappy-framed",
];

impl<'de> Deserialize<'de> for Compression {
    /// `gzip`, `none`, or empty (none), as the collector's `configcompression`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s.as_deref().map(str::trim) {
            None | Some("") | Some("none") => Ok(Compression::None),
            Some("gzip") => Ok(Compression::Gzip),
            Some(other) if OTHER_COMPRESSIONS.contains(&other) => {
                Err(serde::de::Error::custom(format!(
                    "compression `{other}` exists in the OpenTelemetry Collector but not in \
                     otlp-xray; use gzip or none"
                )))
            }
            Some(other) => Err(serde::de::Error::unknown_variant(other, &["gzip", "none"])),
        }
    }
}

/// `compression_params` of `otlphttp`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompressionParams {
    /// gzip level: 1 (fastest) to 9 (smallest), or -1 for the default (6). Default -1.
    pub level: Option<i64>,
}

/// Request headers (`headers`): name → value. Written as a mapping (`Authorization: Bearer
/// ${env:TOKEN}`) or, as newer collectors also accept, a list of `{name, value}` pairs.
/// Names are case-insensitive (sent lowercase); values are secrets and are never logged.
pub type Headers = BTreeMap<String, String>;

fn headers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Headers, D::Error> {
    use serde::de::{MapAccess, SeqAccess, Visitor};
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        name: String,
        #[serde(default)]
        value: Option<String>,
    }
    struct HeadersVisitor;
    impl<'de> Visitor<'de> for HeadersVisitor {
        type Value = Headers;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a mapping of header names to values, or a list of {name, value}")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Headers, E> {
            Ok(Headers::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Headers, A::Error> {
            let mut out = Headers::new();
            while let Some((k, v)) = a.next_entry::<String, Option<String>>()? {
                out.insert(k, v.unwrap_or_default());
            }
            Ok(out)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Headers, A::Error> {
            let mut out = Headers::new();
            while let Some(p) = a.next_element::<Pair>()? {
                out.insert(p.name, p.value.unwrap_or_default());
            }
            Ok(out)
        }
    }
    d.deserialize_any(HeadersVisitor)
}

/// Checks header names and values (RFC 9110 tokens, visible ASCII values); for gRPC also that
/// the name is usable as ASCII metadata (no `-bin` suffix, no `grpc-` prefix).
fn check_headers(headers: &Headers, grpc: bool) -> Result<(), Problem> {
    for (name, value) in headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err((
                vec!["headers"],
                format!(
                    "header name `{name}` is not a valid HTTP header name (letters, digits and \
                     !#$%&'*+-.^_`|~ only, no spaces)"
                ),
            ));
        }
        if http::HeaderValue::from_str(value).is_err() {
            return Err((
                vec!["headers"],
                format!("the value of header `{name}` has characters not allowed in a header"),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if grpc && (lower.ends_with("-bin") || lower.starts_with("grpc-")) {
            return Err((
                vec!["headers"],
                format!(
                    "header `{name}` cannot be sent as gRPC metadata (`-bin` binary metadata and \
                     `grpc-` names are not supported)"
                ),
            ));
        }
    }
    Ok(())
}

/// Client TLS settings (`tls`), the collector's `configtls` client settings.
///
/// Certificates are verified against the Mozilla root store bundled in the binary
/// (`webpki-root-certs`): otlp-xray never scans the system store. With `ca_file`/`ca_pem` only that
/// CA is trusted, unless `include_system_ca_certs_pool` adds the bundled roots. Files are read
/// and parsed when the config loads, so a missing or malformed file fails init with its key.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsClientConfig {
    /// `otlp` only: plaintext gRPC (HTTP/2 without TLS) when `true`. An `https://` endpoint
    /// always uses TLS. Note that, as in the collector, an `http://` endpoint uses TLS unless
    /// this is `true`. `otlphttp` follows the URL's scheme and ignores this. Default `false`.
    pub insecure: bool,
    /// Skip verification of the server's certificate chain and name (the handshake is still
    /// encrypted). For tests only. Default `false`.
    pub insecure_skip_verify: bool,
    /// PEM file of the CA(s) that verify the server certificate.
    pub ca_file: Option<String>,
    /// The same as PEM text.
    pub ca_pem: Option<String>,
    /// Also trust the bundled web PKI roots when `ca_file`/`ca_pem` is set. Default `false`.
    pub include_system_ca_certs_pool: bool,
    /// PEM certificate chain for mutual TLS (with `key_file`/`key_pem`).
    pub cert_file: Option<String>,
    /// The same as PEM text.
    pub cert_pem: Option<String>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for mutual TLS.
    pub key_file: Option<String>,
    /// The same as PEM text.
    pub key_pem: Option<String>,
    /// Name the server certificate is verified against (and sent as SNI), instead of the
    /// endpoint's host.
    pub server_name_override: Option<String>,
    /// Lowest TLS version: `1.2` or `1.3`. `1.0` and `1.1` are accepted and mean `1.2` (rustls
    /// implements TLS 1.2 and 1.3 only). Default `1.2`.
    pub min_version: Option<String>,
    /// Highest TLS version: `1.2` or `1.3`. Default `1.3`.
    pub max_version: Option<String>,
    /// Accepted; no effect: rustls' safe default suites are used.
    pub cipher_suites: Vec<String>,
    /// Accepted; no effect: rustls' default key-exchange groups are used.
    pub curve_preferences: Vec<String>,
    /// Accepted; no effect: certificates are read once (a Lambda sandbox lives for hours at
    /// most).
    #[serde(deserialize_with = "opt_duration")]
    pub reload_interval: Option<Duration>,
    /// Trusted platform module settings: only `enabled: false` is accepted.
    pub tpm: BTreeMap<String, RawValue>,
}

impl TlsClientConfig {
    fn check(&mut self) -> Result<(), Problem> {
        for field in [
            &mut self.ca_file,
            &mut self.ca_pem,
            &mut self.cert_file,
            &mut self.cert_pem,
            &mut self.key_file,
            &mut self.key_pem,
            &mut self.server_name_override,
            &mut self.min_version,
            &mut self.max_version,
        ] {
            if field.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *field = None;
            }
        }
        for (key, a, b) in [
            ("ca_pem", &self.ca_file, &self.ca_pem),
            ("cert_pem", &self.cert_file, &self.cert_pem),
            ("key_pem", &self.key_file, &self.key_pem),
        ] {
            if a.is_some() && b.is_some() {
                let file_key = key.replace("_pem", "_file");
                return Err((
                    vec!["tls", key],
                    format!("set either {file_key} or {key}, not both"),
                ));
            }
        }
        let has_cert = self.cert_file.is_some() || self.cert_pem.is_some();
        let has_key = self.key_file.is_some() || self.key_pem.is_some();
        if has_cert != has_key {
            let missing = if has_cert { "key_file" } else { "cert_file" };
            return Err((
                vec!["tls", missing],
                "for mutual TLS set both a certificate (cert_file or cert_pem) and a key \
                 (key_file or key_pem), or neither"
                    .to_owned(),
            ));
        }
        let min = tls_version(&self.min_version).map_err(|m| (vec!["tls", "min_version"], m))?;
        let max = tls_version(&self.max_version).map_err(|m| (vec!["tls", "max_version"], m))?;
        if max == Some(10) || max == Some(11) {
            return Err((
                vec!["tls", "max_version"],
                "max_version below 1.2 cannot be honoured: otlp-xray speaks TLS 1.2 and 1.3 only"
                    .to_owned(),
            ));
        }
        if let (Some(min), Some(max)) = (min, max) {
            if min > max {
                return Err((
                    vec!["tls", "min_version"],
                    "min_version is higher than max_version".to_owned(),
                ));
            }
        }
        if let Some(enabled) = self.tpm.get("enabled") {
            if enabled.as_bool() == Some(true) || enabled.as_str() == Some("true") {
                return Err((
                    vec!["tls", "tpm"],
                    "keys in a trusted platform module (tls.tpm) are not supported by otlp-xray; \
                     use key_file or key_pem"
                        .to_owned(),
                ));
            }
        }
        crate::exporter::otlp_tls::TlsMaterial::load(self)
            .map(|_| ())
            .map_err(|e| (vec!["tls", e.key], e.message))
    }

    /// The lowest TLS version allowed, as `12` or `13`.
    pub fn min_version_number(&self) -> u8 {
        match tls_version(&self.min_version) {
            Ok(Some(13)) => 13,
            _ => 12,
        }
    }

    /// The highest TLS version allowed, as `12` or `13`.
    pub fn max_version_number(&self) -> u8 {
        match tls_version(&self.max_version) {
            Ok(Some(12)) => 12,
            _ => 13,
        }
    }
}

/// `"1.2"` → `Some(12)`; errors name the accepted values.
fn tls_version(v: &Option<String>) -> Result<Option<u8>, String> {
    match v.as_deref().map(str::trim) {
        None => Ok(None),
        Some("1.0") => Ok(Some(10)),
        Some("1.1") => Ok(Some(11)),
        Some("1.2") => Ok(Some(12)),
        Some("1.3") => Ok(Some(13)),
        Some(other) => Err(format!(
            "unknown TLS version `{other}`; expected \"1.0\", \"1.1\", \"1.2\" or \"1.3\" (quoted)"
        )),
    }
}

/// An optional Go duration; `0` or empty means "not set".
fn opt_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => super::duration::parse_duration(text)
            .map(|d| (!d.is_zero()).then_some(d))
            .map_err(serde::de::Error::custom),
    }
}

/// `retry_on_failure` (the collector's `configretry`): exponential backoff with jitter.
///
/// The delay before retry *n* is `initial_interval × multiplierⁿ`, capped at `max_interval`,
/// then randomised by ± `randomization_factor`. A request is given up (`retries_exhausted`)
/// when it has failed for longer than `max_elapsed_time` (0 = never); it is also never retried
/// past a flush deadline: what is not delivered then waits for the next flush (see the
/// exporter). The backoff state carries over from one flush to the next, so a target that is
/// down costs one attempt per backoff interval, not every flush's whole budget.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Retry retryable failures. When `false` a failed request is dropped at once. Default
    /// `true`.
    pub enabled: bool,
    /// First delay. Default **50ms** — the collector's is 5s, longer than a whole Lambda flush
    /// (`flush_timeout`, 1s), which would leave a transient error (a 503 from a load balancer)
    /// no retry before the sandbox freezes.
    #[serde(deserialize_with = "de::duration")]
    pub initial_interval: Duration,
    /// Jitter: the delay is picked uniformly in `delay × (1 ± factor)`, 0 to 1. Default 0.5.
    pub randomization_factor: f64,
    /// Growth of the delay per retry, ≥ 1. Default 1.5.
    pub multiplier: f64,
    /// Longest delay. Default 30s.
    #[serde(deserialize_with = "de::duration")]
    pub max_interval: Duration,
    /// Give a request up after it has been failing for this long; 0 = never. Default 300s.
    #[serde(deserialize_with = "de::duration")]
    pub max_elapsed_time: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: Duration::from_millis(50),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

impl RetryConfig {
    fn check(&self) -> Result<(), Problem> {
        if !self.enabled {
            return Ok(());
        }
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            return Err((
                vec!["retry_on_failure", "randomization_factor"],
                format!(
                    "randomization_factor must be between 0 and 1, not {}",
                    self.randomization_factor
                ),
            ));
        }
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Err((
                vec!["retry_on_failure", "multiplier"],
                format!("multiplier must be at least 1, not {}", self.multiplier),
            ));
        }
        if !self.max_elapsed_time.is_zero() {
            if self.max_elapsed_time < self.initial_interval {
                return Err((
                    vec!["retry_on_failure", "max_elapsed_time"],
                    "max_elapsed_time must not be less than initial_interval".to_owned(),
                ));
            }
            if self.max_elapsed_time < self.max_interval {
                return Err((
                    vec!["retry_on_failure", "max_elapsed_time"],
                    "max_elapsed_time must not be less than max_interval".to_owned(),
                ));
            }
        }
        Ok(())
    }
}

/// What `sending_queue.queue_size` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueSizer {
    /// Export requests (one or more per flush). The default.
    #[default]
    Requests,
    /// Spans.
    Items,
    /// Bytes of encoded spans.
    Bytes,
}

/// `sending_queue` (the collector's exporter helper queue): the requests waiting for delivery
/// between flushes.
///
/// The queue is in memory and also bounded by `extensions.lambda.max_buffered_mib`; when full,
/// the oldest requests are dropped (`queue_full`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SendingQueueConfig {
    /// Keep what a flush could not deliver for the next flush. When `false`, it is dropped
    /// (`deadline`) at the end of the flush. Default `true`.
    pub enabled: bool,
    /// Most export calls in flight at once. Default 10.
    pub num_consumers: u32,
    /// Most queued requests, spans or bytes (see `sizer`). Default 1000.
    pub queue_size: u64,
    /// What `queue_size` counts: `requests`, `items` (spans) or `bytes`. Default `requests`.
    pub sizer: QueueSizer,
    /// Accepted; no effect: receivers never wait for the queue.
    pub blocking: bool,
    /// Accepted; no effect (see `blocking`).
    pub block_on_overflow: bool,
    /// Accepted; no effect: receivers answer as soon as spans are buffered.
    pub wait_for_result: bool,
    /// Accepted; no effect: the queue is in memory only.
    pub storage: Option<String>,
    /// Accepted; no effect: the pipeline's flush decides what a request holds.
    pub batch: Option<RawValue>,
}

impl Default for SendingQueueConfig {
    fn default() -> Self {
        SendingQueueConfig {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            sizer: QueueSizer::Requests,
            blocking: false,
            block_on_overflow: false,
            wait_for_result: false,
            storage: None,
            batch: None,
        }
    }
}

impl SendingQueueConfig {
    fn check(&self) -> Result<(), Problem> {
        if self.enabled && self.num_consumers == 0 {
            return Err((
                vec!["sending_queue", "num_consumers"],
                "num_consumers must be at least 1".to_owned(),
            ));
        }
        if self.enabled && self.queue_size == 0 {
            return Err((
                vec!["sending_queue", "queue_size"],
                "queue_size must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// `keepalive` of `otlp`: HTTP/2 pings on the gRPC connection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeepaliveConfig {
    /// Idle time before a ping. Default 10s.
    #[serde(deserialize_with = "de::duration")]
    pub time: Duration,
    /// How long to wait for the ping's answer before closing the connection. Default 10s.
    #[serde(deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// Also ping while no call is in flight. Default `false`.
    pub permit_without_stream: bool,
}

impl Default for KeepaliveConfig {
    fn default() -> Self {
        KeepaliveConfig {
            time: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            permit_without_stream: false,
        }
    }
}

/// Authenticator extensions (`auth`), middlewares: refused with a pointer to `headers`.
fn check_no_auth(auth: &Option<RawValue>, middlewares: &[RawValue]) -> Result<(), Problem> {
    if auth.as_ref().is_some_and(|a| !a.is_null()) {
        return Err((
            vec!["auth"],
            "authenticator extensions (auth.authenticator) are not supported by otlp-xray's \
             exporters; send credentials with `headers` instead (e.g. `Authorization: Bearer \
             ${env:TOKEN}`)"
                .to_owned(),
        ));
    }
    if !middlewares.is_empty() {
        return Err((
            vec!["middlewares"],
            "middleware extensions are not supported by otlp-xray's exporters".to_owned(),
        ));
    }
    Ok(())
}

/// `exporters.otlp`: OTLP/gRPC (`opentelemetry.proto.collector.trace.v1.TraceService/Export`).
///
/// Keys are the collector `otlp` exporter's. Delivery follows the same flush and deadline rules
/// as `awsxray` (see [`crate::exporter::otlp`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpExporterConfig {
    /// `host:port`, optionally with `http://`, `https://` or `dns:///` in front. Required.
    /// `https://` forces TLS; otherwise TLS is on unless `tls.insecure: true`.
    pub endpoint: String,
    /// `gzip` (default) or `none`.
    pub compression: Compression,
    /// Metadata sent with every call.
    #[serde(deserialize_with = "headers")]
    pub headers: Headers,
    /// Longest one call may take (0 = no limit; the flush deadline still bounds how long a
    /// flush waits). Default 5s.
    #[serde(deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// TLS.
    pub tls: TlsClientConfig,
    /// Retries.
    pub retry_on_failure: RetryConfig,
    /// The queue of undelivered requests.
    pub sending_queue: SendingQueueConfig,
    /// HTTP/2 keepalive pings; on by default (10s, 10s), as in the collector.
    pub keepalive: KeepaliveConfig,
    /// Accepted; no effect (one connection to the endpoint's first address).
    pub balancer_name: Option<String>,
    /// Accepted; no effect (`:authority` is the endpoint's host and port).
    pub authority: Option<String>,
    /// Accepted; no effect (calls fail fast when the endpoint is down and are retried).
    pub wait_for_ready: bool,
    /// Accepted; no effect.
    pub read_buffer_size: u64,
    /// Accepted; no effect.
    pub write_buffer_size: u64,
    /// Refused: authenticator extensions are not supported (use `headers`).
    pub auth: Option<RawValue>,
    /// Refused: middleware extensions are not supported.
    pub middlewares: Vec<RawValue>,
    /// The exporter helper's deprecated batcher. Accepted; no effect.
    pub batcher: Option<RawValue>,
}

impl Default for OtlpExporterConfig {
    fn default() -> Self {
        OtlpExporterConfig {
            endpoint: String::new(),
            compression: Compression::Gzip,
            headers: Headers::new(),
            timeout: Duration::from_secs(5),
            tls: TlsClientConfig::default(),
            retry_on_failure: RetryConfig::default(),
            sending_queue: SendingQueueConfig::default(),
            keepalive: KeepaliveConfig::default(),
            balancer_name: None,
            authority: None,
            wait_for_ready: false,
            read_buffer_size: 0,
            write_buffer_size: 0,
            auth: None,
            middlewares: Vec::new(),
            batcher: None,
        }
    }
}

/// Where an `otlp` exporter connects: scheme (TLS or not), host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcTarget {
    /// TLS on (`https`) or off (`http`, with `tls.insecure: true`).
    pub tls: bool,
    /// Host name or IP address (IPv6 in brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl GrpcTarget {
    /// The origin URI (`https://host:port`) requests are sent to.
    pub fn origin(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

impl OtlpExporterConfig {
    /// Parses `endpoint` as the collector does (`configgrpc`): strips `http://`, `https://`
    /// or `dns:///`; requires `host:port`. TLS unless `tls.insecure` (and always for
    /// `https://`).
    pub fn target(&self) -> Result<GrpcTarget, String> {
        let e = self.endpoint.trim();
        if e.is_empty() {
            return Err(
                "the otlp exporter needs an endpoint (host:port, e.g. collector.example.com:4317)"
                    .to_owned(),
            );
        }
        if e.starts_with("unix:") {
            return Err(format!(
                "endpoint `{e}`: unix sockets are not supported by otlp-xray; use host:port"
            ));
        }
        let (https, rest) = if let Some(r) = e.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = e.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = e.strip_prefix("dns://") {
            (false, r.strip_prefix('/').unwrap_or(r))
        } else {
            (false, e)
        };
        let rest = rest.trim_end_matches('/');
        let expected = || {
            format!("endpoint `{e}` must be host:port, e.g. collector.example.com:4317 or https://api.example.com:443")
        };
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err(expected());
        }
        let (host, port) = rest.rsplit_once(':').ok_or_else(expected)?;
        let port: u16 = port.parse().map_err(|_| expected())?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.is_empty() || (host.starts_with('[') != host.ends_with(']')) {
            return Err(expected());
        }
        if !host.starts_with('[') && host.contains(':') {
            return Err(format!(
                "endpoint `{e}`: write an IPv6 address in brackets, e.g. [::1]:4317"
            ));
        }
        if http::uri::Authority::try_from(format!("{host}:{port}").as_str()).is_err() {
            return Err(expected());
        }
        Ok(GrpcTarget {
            tls: https || !self.tls.insecure,
            host: host.to_owned(),
            port,
        })
    }

    fn check(&mut self) -> Result<(), Problem> {
        self.target().map_err(|m| (vec!["endpoint"], m))?;
        check_headers(&self.headers, true)?;
        self.tls.check()?;
        self.retry_on_failure.check()?;
        self.sending_queue.check()?;
        check_no_auth(&self.auth, &self.middlewares)?;
        Ok(())
    }
}

/// Body encoding of `otlphttp` (`encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Binary protobuf, `Content-Type: application/x-protobuf`. The default.
    #[default]
    Proto,
    /// OTLP/JSON, `Content-Type: application/json`.
    Json,
}

/// `exporters.otlphttp`: OTLP/HTTP (`POST <endpoint>/v1/traces`).
///
/// Keys are the collector `otlphttp` exporter's (its `confighttp` client settings). Delivery
/// follows the same flush and deadline rules as `awsxray` (see [`crate::exporter::otlp`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpHttpExporterConfig {
    /// Base URL (`https://apm.example.com:443`); traces go to `<endpoint>/v1/traces`.
    pub endpoint: Option<String>,
    /// Full URL for traces; wins over `endpoint`.
    pub traces_endpoint: Option<String>,
    /// Accepted; unused (otlp-xray exports traces only).
    pub metrics_endpoint: Option<String>,
    /// Accepted; unused.
    pub logs_endpoint: Option<String>,
    /// Accepted; unused.
    pub profiles_endpoint: Option<String>,
    /// `proto` (default) or `json`.
    pub encoding: Encoding,
    /// `gzip` (default) or `none`.
    pub compression: Compression,
    /// gzip level.
    pub compression_params: CompressionParams,
    /// Headers sent with every request.
    #[serde(deserialize_with = "headers")]
    pub headers: Headers,
    /// Longest one request may take (0 = no limit; the flush deadline still bounds how long
    /// a flush waits). Default 30s.
    #[serde(deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// TLS for `https://` URLs.
    pub tls: TlsClientConfig,
    /// Retries.
    pub retry_on_failure: RetryConfig,
    /// The queue of undelivered requests.
    pub sending_queue: SendingQueueConfig,
    /// Accepted; no effect.
    pub read_buffer_size: u64,
    /// Accepted; no effect.
    pub write_buffer_size: u64,
    /// Refused: proxies are not supported.
    pub proxy_url: Option<String>,
    /// Accepted; no effect.
    pub max_idle_conns: Option<u64>,
    /// Most idle connections kept to the endpoint (0 = no limit). Default: no limit.
    pub max_idle_conns_per_host: Option<u64>,
    /// Accepted; no effect (`sending_queue.num_consumers` bounds the calls in flight).
    pub max_conns_per_host: Option<u64>,
    /// How long an idle connection is kept (0 = forever). Default 90s.
    #[serde(deserialize_with = "de::duration")]
    pub idle_conn_timeout: Duration,
    /// A new connection for every request. Default `false`.
    pub disable_keep_alives: bool,
    /// Accepted; no effect (HTTP/1.1 is used).
    #[serde(deserialize_with = "opt_duration")]
    pub http2_read_idle_timeout: Option<Duration>,
    /// Accepted; no effect.
    #[serde(deserialize_with = "opt_duration")]
    pub http2_ping_timeout: Option<Duration>,
    /// Accepted; no effect.
    pub force_attempt_http2: Option<bool>,
    /// Accepted; no effect (no cookies are kept).
    pub cookies: Option<RawValue>,
    /// Refused: authenticator extensions are not supported (use `headers`).
    pub auth: Option<RawValue>,
    /// Refused: middleware extensions are not supported.
    pub middlewares: Vec<RawValue>,
    /// The exporter helper's deprecated batcher. Accepted; no effect.
    pub batcher: Option<RawValue>,
}

impl Default for OtlpHttpExporterConfig {
    fn default() -> Self {
        OtlpHttpExporterConfig {
            endpoint: None,
            traces_endpoint: None,
            metrics_endpoint: None,
            logs_endpoint: None,
            profiles_endpoint: None,
            encoding: Encoding::Proto,
            compression: Compression::Gzip,
            compression_params: CompressionParams::default(),
            headers: Headers::new(),
            timeout: Duration::from_secs(30),
            tls: TlsClientConfig::default(),
            retry_on_failure: RetryConfig::default(),
            sending_queue: SendingQueueConfig::default(),
            read_buffer_size: 0,
            write_buffer_size: 0,
            proxy_url: None,
            max_idle_conns: None,
            max_idle_conns_per_host: None,
            max_conns_per_host: None,
            idle_conn_timeout: Duration::from_secs(90),
            disable_keep_alives: false,
            http2_read_idle_timeout: None,
            http2_ping_timeout: None,
            force_attempt_http2: None,
            cookies: None,
            auth: None,
            middlewares: Vec::new(),
            batcher: None,
        }
    }
}

impl OtlpHttpExporterConfig {
    /// The URL traces are POSTed to: `traces_endpoint`, else `endpoint` with `v1/traces`
    /// appended to its path (as the collector does: `https://h/otlp` → `https://h/otlp/v1/traces`).
    pub fn traces_url(&self) -> Result<http::Uri, (&'static str, String)> {
        if let Some(url) = &self.traces_endpoint {
            return parse_http_url(url).map_err(|m| ("traces_endpoint", m));
        }
        let Some(base) = &self.endpoint else {
            return Err((
                "endpoint",
                "the otlphttp exporter needs `endpoint` (base URL, e.g. https://apm.example.com) \
                 or `traces_endpoint` (full URL of the traces path)"
                    .to_owned(),
            ));
        };
        let uri = parse_http_url(base).map_err(|m| ("endpoint", m))?;
        let mut parts = uri.into_parts();
        let (path, query) = match &parts.path_and_query {
            Some(pq) => (pq.path().to_owned(), pq.query().map(str::to_owned)),
            None => (String::new(), None),
        };
        let mut path = path;
        if !path.ends_with('/') {
            path.push('/');
        }
        path.push_str("v1/traces");
        let pq = match query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        parts.path_and_query = Some(
            pq.parse()
                .map_err(|_| ("endpoint", format!("endpoint `{base}` has an invalid path")))?,
        );
        http::Uri::from_parts(parts)
            .map_err(|_| ("endpoint", format!("endpoint `{base}` is not a valid URL")))
    }

    fn check(&mut self) -> Result<(), Problem> {
        for field in [
            &mut self.endpoint,
            &mut self.traces_endpoint,
            &mut self.metrics_endpoint,
            &mut self.logs_endpoint,
            &mut self.profiles_endpoint,
            &mut self.proxy_url,
        ] {
            if field.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *field = None;
            }
        }
        self.traces_url().map_err(|(k, m)| (vec![k], m))?;
        check_headers(&self.headers, false)?;
        if let Some(level) = self.compression_params.level {
            if level != -1 && !(1..=9).contains(&level) {
                return Err((
                    vec!["compression_params", "level"],
                    format!("gzip level must be 1 to 9, or -1 for the default; not {level}"),
                ));
            }
        }
        if self.proxy_url.is_some() {
            return Err((
                vec!["proxy_url"],
                "proxy_url is not supported by otlp-xray; the exporter connects directly"
                    .to_owned(),
            ));
        }
        self.tls.check()?;
        self.retry_on_failure.check()?;
        self.sending_queue.check()?;
        check_no_auth(&self.auth, &self.middlewares)?;
        Ok(())
    }
}

/// An absolute `http://` or `https://` URL with a host.
fn parse_http_url(text: &str) -> Result<http::Uri, String> {
    let text = text.trim();
    let expected =
        || format!("`{text}` must be an http:// or https:// URL, e.g. https://apm.example.com:443");
    let uri: http::Uri = text.parse().map_err(|_| expected())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(h)) if !h.is_empty() => Ok(uri),
        _ => Err(expected()),
    }
}

/// Deserializes the exporter of type `ty`, or `None` for an unknown type.
pub(crate) fn build(
    ty: &str,
    node: &super::yaml::Node,
    path: &str,
) -> Option<Result<ExporterConfig, DeError>> {
    Some(match ty {
        "awsxray" => {
            super::component(node, path, AwsXrayExporterConfig::check).map(ExporterConfig::AwsXray)
        }
        "otlp" => super::component(node, path, OtlpExporterConfig::check).map(ExporterConfig::Otlp),
        "otlphttp" => super::component(node, path, OtlpHttpExporterConfig::check)
            .map(ExporterConfig::OtlpHttp),
        "debug" => super::component(node, path, |_: &mut DebugExporterConfig| Ok(()))
            .map(ExporterConfig::Debug),
        "logging" => {
            let mut out = None;
            super::component(node, path, |l: &mut LoggingExporterConfig| {
                out = Some(std::mem::take(l).into_debug()?);
                Ok(())
            })
            .map(|_| ExporterConfig::Debug(out.unwrap_or_default()))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod otlp_tests {
    use super::*;
    use crate::config::{parse_str, Config, ConfigError};

    /// A config whose traces pipeline exports to `id`, defined by `exporters`.
    fn config(exporters: &str, id: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n{exporters}\
             service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [{id}]\n"
        );
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_str(&yaml, "test.yaml", move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn otlp(exporter: &str) -> OtlpExporterConfig {
        match config(&format!("  otlp:\n{exporter}"), "otlp", &[]) {
            Ok(c) => match &c.exporters["otlp"] {
                ExporterConfig::Otlp(o) => o.clone(),
                other => panic!("{other:?}"),
            },
            Err(e) => panic!("{e}"),
        }
    }

    /// Loads the exporter `<ty>/x` with `body` (indented four spaces).
    fn load(ty: &str, body: &str, env: &[(&str, &str)]) -> Result<ExporterConfig, String> {
        config(&format!("  {ty}/x:\n{body}"), &format!("{ty}/x"), env)
            .map(|c| c.exporters[&format!("{ty}/x")].clone())
            .map_err(|e| e.to_string())
    }

    fn err(ty: &str, body: &str) -> String {
        match load(ty, body, &[]) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn otlp_defaults_follow_the_collector_where_it_makes_sense() {
        let c = OtlpExporterConfig::default();
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert!(c.retry_on_failure.enabled);
        assert_eq!(
            c.retry_on_failure.initial_interval,
            Duration::from_millis(50)
        );
        assert_eq!(c.retry_on_failure.max_interval, Duration::from_secs(30));
        assert_eq!(
            c.retry_on_failure.max_elapsed_time,
            Duration::from_secs(300)
        );
        assert_eq!(c.sending_queue.num_consumers, 10);
        let h = OtlpHttpExporterConfig::default();
        assert_eq!(h.compression, Compression::Gzip);
        assert_eq!(h.encoding, Encoding::Proto);
        assert_eq!(h.timeout, Duration::from_secs(30));
    }

    #[test]
    fn an_elastic_style_otlp_config_loads_with_every_key() {
        let body = "    endpoint: https://apm.example.com:443\n    compression: none\n    \
            timeout: 2s\n    headers:\n      Authorization: \"Bearer ${env:APM_SERVER_TOKEN}\"\n    \
            tls:\n      insecure: false\n      insecure_skip_verify: false\n      min_version: \"1.2\"\n    \
            keepalive:\n      time: 20s\n      timeout: 5s\n      permit_without_stream: true\n    \
            retry_on_failure:\n      enabled: true\n      initial_interval: 100ms\n      \
            max_interval: 1s\n      max_elapsed_time: 60s\n      multiplier: 2\n      \
            randomization_factor: 0.2\n    sending_queue:\n      enabled: true\n      \
            num_consumers: 2\n      queue_size: 50\n      sizer: items\n    \
            balancer_name: round_robin\n    wait_for_ready: true\n";
        let c = match load("otlp", body, &[("APM_SERVER_TOKEN", "s3cr3t")]) {
            Ok(ExporterConfig::Otlp(c)) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(c.headers["Authorization"], "Bearer s3cr3t");
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.retry_on_failure.multiplier, 2.0);
        assert_eq!(c.sending_queue.sizer, QueueSizer::Items);
        assert_eq!(c.keepalive.time, Duration::from_secs(20));
        let t = c.target().unwrap();
        assert!(t.tls);
        assert_eq!(t.origin(), "https://apm.example.com:443");
    }

    #[test]
    fn grpc_endpoints_as_the_collector_reads_them() {
        let target = |endpoint: &str, insecure: bool| {
            let mut c = OtlpExporterConfig {
                endpoint: endpoint.into(),
                ..Default::default()
            };
            c.tls.insecure = insecure;
            c.target()
        };
        assert_eq!(
            target("jaeger:4317", true).unwrap().origin(),
            "http://jaeger:4317"
        );
        assert_eq!(
            target("jaeger:4317", false).unwrap().origin(),
            "https://jaeger:4317"
        );
        // As in the collector, http:// alone does not turn TLS off; https:// forces it on.
        assert_eq!(
            target("http://jaeger:4317", false).unwrap().origin(),
            "https://jaeger:4317"
        );
        assert_eq!(
            target("http://jaeger:4317", true).unwrap().origin(),
            "http://jaeger:4317"
        );
        assert_eq!(
            target("https://jaeger:4317", true).unwrap().origin(),
            "https://jaeger:4317"
        );
        assert_eq!(
            target("dns:///jaeger:4317", true).unwrap().origin(),
            "http://jaeger:4317"
        );
        assert_eq!(
            target("[::1]:4317", true).unwrap().origin(),
            "http://[::1]:4317"
        );
        for bad in [
            "",
            "jaeger",
            "jaeger:port",
            "https://jaeger:4317/v1",
            "unix:///tmp/s",
            "::1:4317",
        ] {
            assert!(target(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn otlphttp_traces_url_and_encodings() {
        let url = |endpoint: Option<&str>, traces: Option<&str>| {
            OtlpHttpExporterConfig {
                endpoint: endpoint.map(Into::into),
                traces_endpoint: traces.map(Into::into),
                ..Default::default()
            }
            .traces_url()
            .map(|u| u.to_string())
        };
        assert_eq!(
            url(Some("https://apm.example.com"), None).unwrap(),
            "https://apm.example.com/v1/traces"
        );
        assert_eq!(
            url(Some("https://h:4318/otlp/"), None).unwrap(),
            "https://h:4318/otlp/v1/traces"
        );
        assert_eq!(
            url(Some("http://h:4318/otlp?x=1"), None).unwrap(),
            "http://h:4318/otlp/v1/traces?x=1"
        );
        assert_eq!(
            url(Some("http://h"), Some("http://t/api/traces")).unwrap(),
            "http://t/api/traces"
        );
        assert_eq!(url(None, None).unwrap_err().0, "endpoint");
        assert_eq!(
            url(Some("apm.example.com:443"), None).unwrap_err().0,
            "endpoint"
        );

        let body = "    endpoint: http://jaeger:4318\n    encoding: json\n    compression: \"\"\n    \
            headers:\n      - name: x-api-key\n        value: k\n    compression_params:\n      level: 9\n";
        let c = match load("otlphttp", body, &[]) {
            Ok(ExporterConfig::OtlpHttp(c)) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(c.encoding, Encoding::Json);
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.headers["x-api-key"], "k");
    }

    #[test]
    fn bad_keys_and_values_name_the_key_and_line() {
        let e = err(
            "otlp",
            "    endpoint: h:4317\n    tls:\n      insecure_skip_verfy: true\n",
        );
        assert!(
            e.contains("exporters.otlp/x.tls.insecure_skip_verfy"),
            "{e}"
        );
        assert!(e.contains("line 9"), "{e}");
        assert!(e.contains("did you mean `insecure_skip_verify`"), "{e}");

        let e = err("otlphttp", "    endpoint: http://h\n    encodng: json\n");
        assert!(e.contains("exporters.otlphttp/x.encodng"), "{e}");

        let e = err("otlp", "    endpoint: h:4317\n    compression: zstd\n");
        assert!(e.contains("exporters.otlp/x.compression"), "{e}");
        assert!(
            e.contains("exists in the OpenTelemetry Collector but not in otlp-xray"),
            "{e}"
        );

        let e = err(
            "otlphttp",
            "    endpoint: http://h\n    encoding: protobuf\n",
        );
        assert!(e.contains("expected one of: proto, json"), "{e}");

        let e = err("otlp", "    compression: gzip\n");
        assert!(
            e.contains("exporters.otlp/x.endpoint") && e.contains("needs an endpoint"),
            "{e}"
        );

        let e = err(
            "otlp",
            "    endpoint: h:4317\n    tls:\n      ca_file: /nonexistent/ca.pem\n",
        );
        assert!(e.contains("exporters.otlp/x.tls.ca_file (line 9"), "{e}");
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");

        let e = err(
            "otlp",
            "    endpoint: h:4317\n    tls:\n      cert_file: /x.pem\n",
        );
        assert!(e.contains("tls.key_file"), "{e}");

        let e = err(
            "otlphttp",
            "    endpoint: http://h\n    headers:\n      \"bad name\": v\n",
        );
        assert!(
            e.contains("exporters.otlphttp/x.headers") && e.contains("bad name"),
            "{e}"
        );

        let e = err(
            "otlp",
            "    endpoint: h:4317\n    auth:\n      authenticator: oauth2client\n",
        );
        assert!(
            e.contains("exporters.otlp/x.auth") && e.contains("headers"),
            "{e}"
        );

        let e = err(
            "otlp",
            "    endpoint: h:4317\n    retry_on_failure:\n      max_elapsed_time: 10s\n",
        );
        assert!(e.contains("retry_on_failure.max_elapsed_time"), "{e}");

        let e = err(
            "otlphttp",
            "    endpoint: http://h\n    proxy_url: http://proxy:3128\n",
        );
        assert!(e.contains("exporters.otlphttp/x.proxy_url"), "{e}");

        let e = err(
            "otlp",
            "    endpoint: h:4317\n    tls:\n      min_version: \"1.4\"\n",
        );
        assert!(e.contains("tls.min_version"), "{e}");
    }

    #[test]
    fn flow_style_tls_insecure_turns_tls_off() {
        let c = otlp("    endpoint: collector:4317\n    tls: { insecure: true }\n");
        assert!(!c.target().unwrap().tls);
    }
}
