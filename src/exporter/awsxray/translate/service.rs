//! The `service` object (§12).

use opentelemetry_proto::tonic::common::v1::KeyValue;

use super::document::Service;
use super::value::find_nonempty;

/// `service.version` from resource `service.version`, else `container.image.tag` (R-SVC-1).
pub(crate) fn make_service(resource: &[KeyValue]) -> Option<Service<'_>> {
    find_nonempty(resource, "service.version")
        .or_else(|| find_nonempty(resource, "container.image.tag"))
        .map(|version| Service { version })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue};

    fn s(key: &str, v: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.to_owned())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn version_fallback() {
        // R-SVC-1
        assert_eq!(
            make_service(&[s("container.image.tag", "t")]).map(|s| s.version),
            Some("t")
        );
        assert_eq!(
            make_service(&[s("container.image.tag", "t"), s("service.version", "v")])
                .map(|s| s.version),
            Some("v")
        );
        assert!(make_service(&[]).is_none());
    }
}
