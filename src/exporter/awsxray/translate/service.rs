//! The `service` object (§12).

use super::document::Service;
use super::keys::{Key, KeyTable};

/// `service.version` from resource `service.version`, else `container.image.tag` (R-SVC-1).
pub(crate) fn make_service<'a>(resource: &KeyTable<'a>) -> Option<Service<'a>> {
    resource
        .nonempty(Key::ServiceVersion)
        .or_else(|| resource.nonempty(Key::ContainerImageTag))
        .map(|version| Service { version })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};

    fn make_service(kvs: &[KeyValue]) -> Option<Service<'_>> {
        super::make_service(&KeyTable::new(kvs))
    }

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
