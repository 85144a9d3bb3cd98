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
use super::json::{self, key, Arr, Obj, WriteJson};
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
    /// Sanitised name (§4): only characters JSON writes verbatim (R-NAME-4).
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
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Service<'a> {
    /// `service.version`, else `container.image.tag`.
    pub version: &'a str,
}

impl Document<'_> {
    /// Panics unless `json` is byte for byte what `serde_json` writes for this document: the
    /// writer of [`super::json`] checked against the `Serialize` implementations (debug builds).
    #[cfg(debug_assertions)]
    pub(crate) fn debug_assert_same_as_serde(&self, json: &str) {
        match serde_json::to_string(self) {
            Ok(reference) => {
                assert_eq!(json, reference, "hand-written JSON differs from serde_json")
            }
            Err(e) => panic!("serde_json failed on a document: {e}"),
        }
    }
}

impl WriteJson for Document<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        // Sanitised names (R-NAME-4) hold no character JSON escapes.
        json::plain_str(o.key(key!("name")), &self.name);
        self.id.write_json(o.key(key!("id")));
        self.trace_id.write_json(o.key(key!("trace_id")));
        json::f64(o.key(key!("start_time")), self.start_time);
        if let Some(t) = self.end_time {
            json::f64(o.key(key!("end_time")), t);
        }
        if self.in_progress {
            json::bool(o.key(key!("in_progress")), true);
        }
        if let Some(p) = &self.parent_id {
            p.write_json(o.key(key!("parent_id")));
        }
        if let Some(k) = self.kind {
            json::str(o.key(key!("type")), k);
        }
        if let Some(n) = self.namespace {
            json::str(o.key(key!("namespace")), n);
        }
        o.members(
            FLAGS[usize::from(self.fault) << 2
                | usize::from(self.error) << 1
                | usize::from(self.throttle)],
        );
        if let Some(v) = self.origin {
            json::str(o.key(key!("origin")), v);
        }
        if let Some(v) = self.user {
            json::str(o.key(key!("user")), v);
        }
        if let Some(v) = &self.http {
            v.write_json(o.key(key!("http")));
        }
        if let Some(v) = &self.aws {
            v.write_json(o.key(key!("aws")));
        }
        if let Some(v) = &self.service {
            let mut s = Obj::open(o.key(key!("service")));
            json::str(s.key(key!("version")), v.version);
            s.close();
        }
        if let Some(v) = &self.sql {
            v.write_json(o.key(key!("sql")));
        }
        if let Some(v) = &self.cause {
            v.write_json(o.key(key!("cause")));
        }
        if !self.annotations.is_empty() {
            self.annotations.write_json(o.key(key!("annotations")));
        }
        if !self.metadata.is_empty() {
            self.metadata.write_json(o.key(key!("metadata")));
        }
        if !self.links.is_empty() {
            let mut a = Arr::open(o.key(key!("links")));
            for l in &self.links {
                l.write_json(a.next());
            }
            a.close();
        }
        o.close();
    }
}

/// `"fault":…,"error":…,"throttle":…` as one constant per combination, indexed by
/// `fault << 2 | error << 1 | throttle` (one copy instead of three members).
const FLAGS: [&str; 8] = {
    macro_rules! flags {
        ($f:literal, $e:literal, $t:literal) => {
            concat!("\"fault\":", $f, ",\"error\":", $e, ",\"throttle\":", $t)
        };
    }
    [
        flags!("false", "false", "false"),
        flags!("false", "false", "true"),
        flags!("false", "true", "false"),
        flags!("false", "true", "true"),
        flags!("true", "false", "false"),
        flags!("true", "false", "true"),
        flags!("true", "true", "false"),
        flags!("true", "true", "true"),
    ]
};

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
