//! Extension configs. `lambda` is otlp-xray's own: how the Lambda lifecycle flushes and how much
//! it buffers.
//!
//! Collector extensions, and what otlp-xray does with them:
//!
//! | extension | here |
//! |---|---|
//! | `health_check`, `healthcheckv2`, `pprof`, `zpages` | accepted, no effect: nothing probes or debugs a Lambda sandbox over HTTP, and opening those ports would only cost init time |
//! | `sigv4auth` | accepted and validated (`region`, `service`, `assume_role`, `assume_role_with_web_identity`); both Lambda layers ship it, mostly for Amazon Managed Prometheus in metrics pipelines (ignored here). It signs nothing by itself |
//! | `basicauth`, `bearertokenauth`, `headers_setter`, `oauth2client`, other collector extensions | exist in the collector, not here: an error if `service.extensions` starts one (the message says to set the exporter's `headers` instead), a warning if only defined |

use std::time::Duration;

use serde::Deserialize;

use super::de::{self, DeError};
use super::{Problem, RawValue};
use crate::lambda::flush::FlushStrategy;

/// The extension types accepted.
pub const EXTENSION_TYPES: &[&str] = &[
    "lambda",
    "sigv4auth",
    "health_check",
    "healthcheckv2",
    "pprof",
    "zpages",
];

/// A configured extension, by component type.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtensionConfig {
    /// `lambda`: the Lambda lifecycle's settings.
    Lambda(LambdaExtensionConfig),
    /// `sigv4auth`: AWS SigV4 request signing settings, for an exporter that names it.
    SigV4Auth(SigV4AuthConfig),
    /// `health_check`, `healthcheckv2`, `pprof`, `zpages`: accepted, settings uninterpreted,
    /// no effect.
    Inert(RawValue),
}

/// `extensions.sigv4auth` (collector-contrib `sigv4authextension`): the keys of the collector,
/// validated. Empty strings mean "not set".
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigV4AuthConfig {
    /// Region to sign for. Default: the exporter endpoint's region, else `AWS_REGION`.
    pub region: Option<String>,
    /// Service to sign for (e.g. `aps`, `xray`). Default: from the endpoint host.
    pub service: Option<String>,
    /// A role to assume with STS before signing.
    pub assume_role: Option<AssumeRoleConfig>,
    /// A role to assume with a web identity token.
    pub assume_role_with_web_identity: Option<AssumeRoleWithWebIdentityConfig>,
}

/// `extensions.sigv4auth.assume_role`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssumeRoleConfig {
    /// Role ARN.
    pub arn: Option<String>,
    /// STS session name.
    pub session_name: Option<String>,
    /// STS region; default the extension's `region`.
    pub sts_region: Option<String>,
}

/// `extensions.sigv4auth.assume_role_with_web_identity`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssumeRoleWithWebIdentityConfig {
    /// Role ARN.
    pub arn: Option<String>,
    /// File holding the web identity token.
    pub token_file: Option<String>,
    /// STS region; default the extension's `region`.
    pub sts_region: Option<String>,
}

impl SigV4AuthConfig {
    fn check(&mut self) -> Result<(), Problem> {
        for field in [&mut self.region, &mut self.service] {
            if field.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *field = None;
            }
        }
        let arns = [
            (
                "assume_role",
                self.assume_role.as_ref().and_then(|r| r.arn.as_deref()),
            ),
            (
                "assume_role_with_web_identity",
                self.assume_role_with_web_identity
                    .as_ref()
                    .and_then(|r| r.arn.as_deref()),
            ),
        ];
        for (key, arn) in arns {
            if let Some(arn) = arn.filter(|a| !a.is_empty()) {
                if !(arn.starts_with("arn:") && arn.contains(":role/")) {
                    return Err((
                        vec![key, "arn"],
                        format!(
                            "`{arn}` is not a role ARN (arn:<partition>:iam::<account>:role/<name>)"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `extensions.lambda`: the Lambda lifecycle. Used when defined (listing it in
/// `service.extensions` is allowed but not required, since Lambda always runs the lifecycle).
///
/// ```yaml
/// extensions:
///   lambda:
///     flush: end              # end | periodic,<ms> | continuous | adaptive (default)
///     flush_timeout: 1s       # longest flush after an invocation
///     max_buffered_spans: 20000
///     max_buffered_mib: 8
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LambdaExtensionConfig {
    /// When the lifecycle flushes (see `lambda::flush` and README "Flush strategies").
    #[serde(deserialize_with = "flush_strategy")]
    pub flush: FlushStrategy,
    /// Longest flush after an invocation (Go duration, default `1s`); never past the
    /// invocation's deadline. Undelivered data waits for the next flush.
    #[serde(deserialize_with = "de::duration")]
    pub flush_timeout: Duration,
    /// Most spans buffered between flushes; beyond it the oldest are dropped (`queue_full`).
    /// Default 20,000.
    pub max_buffered_spans: usize,
    /// Most MiB buffered between flushes (encoded spans), and again for documents waiting for
    /// delivery; beyond it the oldest are dropped (`queue_full`). Default 8.
    pub max_buffered_mib: usize,
}

impl Default for LambdaExtensionConfig {
    fn default() -> Self {
        Self {
            flush: FlushStrategy::Adaptive,
            flush_timeout: crate::lambda::lifecycle::DEFAULT_FLUSH_TIMEOUT,
            max_buffered_spans: 20_000,
            max_buffered_mib: 8,
        }
    }
}

impl LambdaExtensionConfig {
    fn check(&mut self) -> Result<(), Problem> {
        if self.flush_timeout.is_zero() {
            return Err((
                vec!["flush_timeout"],
                "flush_timeout must be above 0".to_owned(),
            ));
        }
        if self.max_buffered_spans == 0 {
            return Err((
                vec!["max_buffered_spans"],
                "max_buffered_spans must be at least 1".to_owned(),
            ));
        }
        if self.max_buffered_mib == 0 || self.max_buffered_mib > 1024 {
            return Err((
                vec!["max_buffered_mib"],
                "max_buffered_mib must be between 1 and 1024".to_owned(),
            ));
        }
        Ok(())
    }
}

fn flush_strategy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<FlushStrategy, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// Deserializes the extension of type `ty`, or `None` for an unknown type.
pub(crate) fn build(
    ty: &str,
    node: &super::yaml::Node,
    path: &str,
) -> Option<Result<ExtensionConfig, DeError>> {
    match ty {
        "lambda" => Some(
            super::component(node, path, LambdaExtensionConfig::check).map(ExtensionConfig::Lambda),
        ),
        "sigv4auth" => Some(
            super::component(node, path, SigV4AuthConfig::check).map(ExtensionConfig::SigV4Auth),
        ),
        _ if EXTENSION_TYPES.contains(&ty) => {
            Some(de::from_node::<RawValue>(node, path).map(ExtensionConfig::Inert))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse_str, Config, ExtensionConfig};
    use crate::lambda::flush::FlushStrategy;
    use std::time::Duration;

    fn parse(ext: &str) -> Result<Config, String> {
        let yaml = format!(
            "extensions:\n{ext}\nreceivers:\n  otlp:\n    protocols:\n      http:\nexporters:\n  awsxray:\n\
             service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [awsxray]\n"
        );
        parse_str(&yaml, "t.yaml", |_| None).map_err(|e| e.to_string())
    }

    #[test]
    fn lambda_extension_keys_and_defaults() {
        let c = parse("  lambda:\n    flush: periodic,60000\n    flush_timeout: 500ms\n").unwrap();
        match c.extensions.get("lambda") {
            Some(ExtensionConfig::Lambda(l)) => {
                assert_eq!(l.flush, FlushStrategy::Periodic(Duration::from_secs(60)));
                assert_eq!(l.flush_timeout, Duration::from_millis(500));
                assert_eq!(l.max_buffered_spans, 20_000);
            }
            other => panic!("{other:?}"),
        }
        let c = parse("  lambda:\n").unwrap();
        assert!(
            matches!(c.extensions.get("lambda"), Some(ExtensionConfig::Lambda(l)) if l.flush == FlushStrategy::Adaptive)
        );
    }

    #[test]
    fn sigv4auth_is_read_and_validated() {
        let c = parse(
            "  sigv4auth:\n    region: us-west-2\n    service: aps\n    assume_role:\n      \
             arn: arn:aws:iam::123456789012:role/writer\n      sts_region: us-east-1\n",
        )
        .unwrap();
        match c.extensions.get("sigv4auth") {
            Some(ExtensionConfig::SigV4Auth(s)) => {
                assert_eq!(s.region.as_deref(), Some("us-west-2"));
                assert_eq!(s.service.as_deref(), Some("aps"));
                let r = s.assume_role.as_ref().unwrap();
                assert_eq!(r.sts_region.as_deref(), Some("us-east-1"));
            }
            other => panic!("{other:?}"),
        }
        let e = parse("  sigv4auth:\n    assume_role:\n      arn: nope\n").unwrap_err();
        assert!(
            e.contains("extensions.sigv4auth.assume_role.arn (line 4") && e.contains("role ARN"),
            "{e}"
        );
        let e = parse("  sigv4auth:\n    regoin: x\n").unwrap_err();
        assert!(e.contains("did you mean `region`"), "{e}");
    }

    #[test]
    fn bad_lambda_settings_name_the_key() {
        let e = parse("  lambda:\n    flush: sometimes\n").unwrap_err();
        assert!(
            e.contains("extensions.lambda.flush") && e.contains("periodic"),
            "{e}"
        );
        let e = parse("  lambda:\n    flush_timeout: 0s\n").unwrap_err();
        assert!(e.contains("flush_timeout"), "{e}");
        let e = parse("  lambda:\n    flsh: end\n").unwrap_err();
        assert!(e.contains("flsh") && e.contains("flush"), "{e}");
    }
}
