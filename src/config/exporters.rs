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

/// `exporters.awsxray`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsXrayExporterConfig {
    /// AWS region of X-Ray. Default: the `AWS_REGION` Lambda sets.
    pub region: Option<String>,
    /// X-Ray endpoint URL (`https://…` or `http://…`), e.g. a local test endpoint. Default: the
    /// region's public endpoint.
    pub endpoint: Option<String>,
    /// Attribute keys recorded as annotations (searchable) rather than metadata.
    pub indexed_attributes: Vec<String>,
    /// Record every scalar attribute as an annotation. Default `false`.
    pub index_all_attributes: bool,
    /// CloudWatch log group names for `aws.cloudwatch_logs` when the resource names none.
    pub aws_log_groups: Vec<String>,
    /// IAM role to assume (STS) for `PutTraceSegments`, e.g. to write to another account.
    pub role_arn: Option<String>,
    /// External ID for the role assumption.
    pub external_id: Option<String>,
    /// Concurrent `PutTraceSegments` calls. Default 8.
    pub num_workers: u32,
    /// Timeout of one `PutTraceSegments` call, in seconds. Default 30 (the flush deadline
    /// bounds it further).
    pub request_timeout_seconds: u64,
    /// Retries of a failed call. Default 2.
    pub max_retries: u32,
    /// Skip TLS certificate verification. Default `false`.
    pub no_verify_ssl: bool,
    /// HTTPS proxy URL for X-Ray calls.
    pub proxy_address: Option<String>,
    /// Collector key (skips EC2 metadata lookups). Accepted; no effect in Lambda.
    pub local_mode: bool,
    /// ARN of the resource running the collector, written to documents.
    pub resource_arn: Option<String>,
    /// Profile in the shared credentials file.
    pub profile: Option<String>,
    /// Shared credentials file(s); one path or a list.
    #[serde(deserialize_with = "de::string_or_list")]
    pub shared_credentials_file: Vec<String>,
    /// PEM file of extra CA certificates for the X-Ray endpoint.
    pub certificate_file_path: Option<String>,
    /// Retries of EC2 instance metadata calls. Default 0. Accepted; no effect in Lambda.
    pub imds_retries: u32,
    /// Collector telemetry settings of the exporter (`enabled`, `include_metadata`, …).
    /// Accepted; no effect.
    pub telemetry: BTreeMap<String, RawValue>,
    /// Id of an extension that wraps the HTTP client. Accepted; no effect.
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
