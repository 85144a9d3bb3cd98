//! otlp-xray: an OpenTelemetry collector that runs as an AWS Lambda extension.
//!
//! Receivers (OTLP gRPC and HTTP) hand spans to the [`pipeline`], which the Lambda
//! [`lambda`] lifecycle flushes to the [`exporter`]s (AWS X-Ray, debug) before Lambda
//! freezes the sandbox. See `README.md` and `docs/` for the specs cited in the code.

pub mod config;
pub mod exporter;
pub mod lambda;
pub(crate) mod net;
pub mod pipeline;
pub mod processor;
pub mod receiver;
