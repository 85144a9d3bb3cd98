//! Everything that knows about Lambda: the Extensions API client, the Telemetry API listener,
//! event types, and the lifecycle that drives flushes. Nothing here knows OTLP or X-Ray.

pub mod events;
pub mod extensions_api;
pub mod flush;
pub mod lifecycle;
pub mod telemetry_api;
