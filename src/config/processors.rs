//! Processor configs: `batch`, and `decouple` (accepted for configs written for the upstream
//! OpenTelemetry Lambda layer; it has no effect here because otlp-xray's pipeline already
//! answers the function at once and exports when the invocation ends).

use std::time::Duration;

use serde::Deserialize;

use super::de::{self, DeError};
use super::Problem;

/// A configured processor, by component type.
#[derive(Debug, Clone, PartialEq)]
pub enum ProcessorConfig {
    /// `batch`: how the pipeline groups spans before an export.
    Batch(BatchProcessorConfig),
    /// `decouple` (upstream Lambda layer): accepted, no effect.
    Decouple(DecoupleProcessorConfig),
}

/// The processor types otlp-xray supports.
pub const PROCESSOR_TYPES: &[&str] = &["batch", "decouple"];

/// `processors.batch`, with the collector's keys and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchProcessorConfig {
    /// Longest a span waits in a batch before it is sent regardless of size. Default 200 ms.
    /// Zero means size alone triggers a send. (A Go duration: `"200ms"`, `"1s"`.)
    #[serde(deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// Spans that trigger a send. Default 8192.
    pub send_batch_size: u32,
    /// Most spans in one batch; larger batches are split. 0 (default) = no limit. When set, it
    /// must be at least `send_batch_size`.
    pub send_batch_max_size: u32,
    /// Client metadata keys that split batches. Accepted; no effect (no metadata is kept).
    pub metadata_keys: Vec<String>,
    /// Most distinct metadata value combinations. Default 1000. Accepted; no effect.
    pub metadata_cardinality_limit: u32,
}

impl Default for BatchProcessorConfig {
    fn default() -> Self {
        BatchProcessorConfig {
            timeout: Duration::from_millis(200),
            send_batch_size: 8192,
            send_batch_max_size: 0,
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: 1000,
        }
    }
}

impl BatchProcessorConfig {
    fn check(&mut self) -> Result<(), Problem> {
        if self.send_batch_max_size != 0 && self.send_batch_max_size < self.send_batch_size {
            return Err((
                vec!["send_batch_max_size"],
                format!(
                    "send_batch_max_size ({}) must be 0 (no limit) or at least send_batch_size \
                     ({})",
                    self.send_batch_max_size, self.send_batch_size
                ),
            ));
        }
        Ok(())
    }
}

/// `processors.decouple` (upstream OpenTelemetry Lambda layer). Accepted; no effect.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecoupleProcessorConfig {
    /// Queue length in the upstream layer. Accepted; no effect.
    pub max_queue_size: Option<u64>,
}

/// Deserializes the processor of type `ty`, or `None` for an unknown type.
pub(crate) fn build(
    ty: &str,
    node: &super::yaml::Node,
    path: &str,
) -> Option<Result<ProcessorConfig, DeError>> {
    match ty {
        "batch" => Some(
            super::component(node, path, BatchProcessorConfig::check).map(ProcessorConfig::Batch),
        ),
        "decouple" => Some(
            super::component(node, path, |_: &mut DecoupleProcessorConfig| Ok(()))
                .map(ProcessorConfig::Decouple),
        ),
        _ => None,
    }
}
