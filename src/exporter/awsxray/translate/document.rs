//! The typed X-Ray segment document (R-SHAPE-2/3), borrowing from the span where it can.
//!
//! Always written: `name`, `id`, `trace_id`, `start_time`, `end_time` (unless `in_progress`),
//! `fault`, `error`, `throttle`. Everything else is omitted when absent or empty (R-SHAPE-3, D14).

use std::borrow::Cow;

use serde::Serialize;

use super::annotations::{Annotations, Metadata};
use super::aws::Aws;
use super::cause::Cause;
use super::http::Http;
use super::ids::{Hex16, TraceId};
use super::links::Link;
use super::sql::Sql;

/// `"type":"subsegment"` (R-KIND-1).
pub const TYPE_SUBSEGMENT: &str = "subsegment";
/// Namespace of AWS SDK calls (R-NS-1/2).
pub const NAMESPACE_AWS: &str = "aws";
/// Namespace of other remote calls (R-NS-3).
pub const NAMESPACE_REMOTE: &str = "remote";

/// One segment or independent subsegment document.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    /// Sanitised name (§4).
    pub name: Cow<'a, str>,
    /// Segment id (R-ID-6).
    pub id: Hex16,
    /// X-Ray trace id (R-ID-1).
    pub trace_id: TraceId,
    /// Unix seconds (R-TIME-1).
    pub start_time: f64,
    /// Unix seconds; absent when in progress (R-TIME-3/4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    /// Only `true` is written (R-TIME-3/4).
    #[serde(skip_serializing_if = "is_false")]
    pub in_progress: bool,
    /// Parent id (R-ID-7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Hex16>,
    /// `subsegment` or absent (R-KIND-1).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// `aws`/`remote`, subsegments only (§5, D16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'static str>,
    /// Flags (R-ERR-3): always written.
    pub fault: bool,
    /// See `fault`.
    pub error: bool,
    /// See `fault`.
    pub throttle: bool,
    /// Origin (§7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<&'a str>,
    /// End user (R-USER-1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    /// HTTP (§8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Http<'a>>,
    /// AWS (§10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<Aws<'a>>,
    /// Service (§12).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service<'a>>,
    /// SQL (§11).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<Sql<'a>>,
    /// Cause (§9).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause<'a>>,
    /// Annotations (§14).
    #[serde(skip_serializing_if = "Annotations::is_empty")]
    pub annotations: Annotations<'a>,
    /// Metadata (§14).
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata<'a>,
    /// Links (§15).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link<'a>>,
}

/// The `service` object (R-SVC-1).
#[derive(Debug, Clone, Serialize)]
pub struct Service<'a> {
    /// `service.version`, else `container.image.tag`.
    pub version: &'a str,
}

// serde's `skip_serializing_if` passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// Unix seconds from nanoseconds, integer division first (R-TIME-1).
pub fn unix_seconds(nanos: u64) -> f64 {
    let secs = nanos / 1_000_000_000;
    let rem = nanos % 1_000_000_000;
    // Exact for any realistic timestamp: secs < 2^53 and rem < 2^30.
    #[allow(clippy::cast_precision_loss)]
    let v = secs as f64 + rem as f64 / 1e9;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_time_conversion_is_exact() {
        // R-TIME-1
        assert_eq!(
            unix_seconds(1_700_000_000_750_000_000).to_string(),
            "1700000000.75"
        );
        assert_eq!(
            unix_seconds(1_700_000_000_500_000_000).to_string(),
            "1700000000.5"
        );
        assert_eq!(unix_seconds(0).to_string(), "0");
    }
}
