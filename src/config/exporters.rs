//! Exporter configs: `awsxray`, and `debug` (also under its old name `logging`).
//!
//! Keys and defaults follow the collector-contrib `awsxray` exporter (its `awsutil` session
//! settings plus the exporter's own keys) and the collector's `debug`/`logging` exporters.
//! Additions of otlp-xray are marked as such (`docs/xray-mapping.md` §18).

use std::collections::BTreeMap;

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
    /// `debug`, or the deprecated `logging`: spans printed to stdout.
    Debug(DebugExporterConfig),
}

/// The exporter types otlp-xray supports (`logging` is the old name of `debug`).
pub const EXPORTER_TYPES: &[&str] = &["awsxray", "debug", "logging"];

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
