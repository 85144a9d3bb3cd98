//! Extension configs. `lambda` is otlp-xray's own: how the Lambda lifecycle flushes and how much
//! it buffers. `health_check`, `pprof` and `zpages` are accepted for configs written for the
//! OpenTelemetry Collector and have no effect (a Lambda sandbox has no probes or debug pages).

use std::time::Duration;

use serde::Deserialize;

use super::de::{self, DeError};
use super::{Problem, RawValue};
use crate::lambda::flush::FlushStrategy;

/// The extension types accepted.
pub const EXTENSION_TYPES: &[&str] = &["lambda", "health_check", "pprof", "zpages"];

/// A configured extension, by component type.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtensionConfig {
    /// `lambda`: the Lambda lifecycle's settings.
    Lambda(LambdaExtensionConfig),
    /// `health_check`, `pprof`, `zpages`: accepted, settings uninterpreted, no effect.
    Inert(RawValue),
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
