//! `include`/`exclude` of the `attributes` processor: which spans its actions apply to, as the
//! collector-contrib `internal/filter` packages match spans (`filterconfig.MatchProperties`).
//!
//! A span is processed when it matches `include` (if given) and does not match `exclude` (if
//! given). A set of properties matches when every property given matches:
//! - `services`: the resource's `service.name` (`""` when absent) equals / matches any item;
//! - `span_names`: the span name, any item; `span_kinds`: `SPAN_KIND_SERVER` …, any item;
//! - `attributes` (span) and `resources` (resource): every listed key is present and, when a
//!   value is given, equal to it (`strict`; a string compares with the attribute's text, so
//!   `"200"` matches the integer 200) or matched by it (`regexp`, on the attribute's text;
//!   lists and maps never match);
//! - `libraries`: the instrumentation scope's name and, when given, version, any item.
//!
//! `regexp` patterns are searched anywhere in the text (unanchored), as Go's
//! `regexp.MatchString`.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use regex_lite::Regex;

use super::attraction::raw_to_any;
use crate::config::processors::{compile, MatchProperties, SPAN_KINDS};
use crate::config::RawValue;

/// One string test: equality or a regular expression.
#[derive(Debug, Clone)]
enum Text {
    Exact(String),
    Pattern(Regex),
}

impl Text {
    fn new(s: &str, regexp: bool) -> Result<Self, String> {
        if regexp {
            compile(s).map(Text::Pattern)
        } else {
            Ok(Text::Exact(s.to_owned()))
        }
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            Text::Exact(e) => e == s,
            Text::Pattern(re) => re.is_match(s),
        }
    }
}

/// The value test of one attribute.
#[derive(Debug, Clone)]
enum ValueTest {
    /// Present with any value.
    Any,
    /// The attribute's text (see [`text_of`]) passes.
    Text(Text),
    /// Equal to this value (strict, non-string config value).
    Equal(Option<AnyValue>),
}

#[derive(Debug, Clone)]
struct AttrTest {
    key: String,
    value: ValueTest,
}

impl AttrTest {
    fn matches(&self, attrs: &[KeyValue]) -> bool {
        let Some(kv) = attrs.iter().find(|kv| kv.key == self.key) else {
            return false;
        };
        let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
        match &self.value {
            ValueTest::Any => true,
            ValueTest::Text(t) => text_of(value).is_some_and(|s| t.matches(&s)),
            ValueTest::Equal(expected) => expected.as_ref().and_then(|v| v.value.as_ref()) == value,
        }
    }
}

#[derive(Debug, Clone)]
struct LibraryTest {
    name: Text,
    version: Option<Text>,
}

/// A compiled `MatchProperties`.
#[derive(Debug, Clone)]
struct Properties {
    services: Vec<Text>,
    span_names: Vec<Text>,
    span_kinds: Vec<Text>,
    attributes: Vec<AttrTest>,
    resources: Vec<AttrTest>,
    libraries: Vec<LibraryTest>,
}

impl Properties {
    fn new(p: &MatchProperties) -> Result<Self, String> {
        let regexp = p.match_type == "regexp";
        let texts = |list: &[String]| -> Result<Vec<Text>, String> {
            list.iter().map(|s| Text::new(s, regexp)).collect()
        };
        let attrs = |list: &[crate::config::processors::MatchAttribute]| {
            list.iter()
                .map(|a| {
                    let value = match &a.value {
                        None | Some(RawValue::Null) => ValueTest::Any,
                        Some(RawValue::String(s)) => ValueTest::Text(Text::new(s, regexp)?),
                        Some(other) => ValueTest::Equal(raw_to_any(other)),
                    };
                    Ok(AttrTest {
                        key: a.key.clone(),
                        value,
                    })
                })
                .collect::<Result<Vec<_>, String>>()
        };
        Ok(Self {
            services: texts(&p.services)?,
            span_names: texts(&p.span_names)?,
            span_kinds: texts(&p.span_kinds)?,
            attributes: attrs(&p.attributes)?,
            resources: attrs(&p.resources)?,
            libraries: p
                .libraries
                .iter()
                .map(|l| {
                    Ok(LibraryTest {
                        name: Text::new(&l.name, regexp)?,
                        version: l
                            .version
                            .as_deref()
                            .map(|v| Text::new(v, regexp))
                            .transpose()?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?,
        })
    }

    fn matches(
        &self,
        resource: &[KeyValue],
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        if !self.services.is_empty() {
            let service = resource
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| text_of(kv.value.as_ref().and_then(|v| v.value.as_ref())))
                .unwrap_or_default();
            if !self.services.iter().any(|t| t.matches(&service)) {
                return false;
            }
        }
        if !self.span_names.is_empty() && !self.span_names.iter().any(|t| t.matches(&span.name)) {
            return false;
        }
        if !self.span_kinds.is_empty() {
            let kind = usize::try_from(span.kind)
                .ok()
                .and_then(|k| SPAN_KINDS.get(k))
                .copied()
                .unwrap_or_default();
            if !self.span_kinds.iter().any(|t| t.matches(kind)) {
                return false;
            }
        }
        if !self.libraries.is_empty() {
            let (name, version) = scope.map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
            let any = self.libraries.iter().any(|l| {
                l.name.matches(name) && l.version.as_ref().is_none_or(|v| v.matches(version))
            });
            if !any {
                return false;
            }
        }
        self.attributes.iter().all(|a| a.matches(&span.attributes))
            && self.resources.iter().all(|a| a.matches(resource))
    }
}

/// Which spans a processor applies to.
#[derive(Debug, Clone, Default)]
pub struct SpanFilter {
    include: Option<Properties>,
    exclude: Option<Properties>,
}

impl SpanFilter {
    /// Compiles validated `include`/`exclude` properties.
    pub fn new(
        include: Option<&MatchProperties>,
        exclude: Option<&MatchProperties>,
    ) -> Result<Self, String> {
        Ok(Self {
            include: include.map(Properties::new).transpose()?,
            exclude: exclude.map(Properties::new).transpose()?,
        })
    }

    /// Whether every span is processed (no `include`, no `exclude`).
    pub fn is_all(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    /// Whether the processor applies to `span` of `scope` under `resource` attributes.
    pub fn applies(
        &self,
        resource: &[KeyValue],
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        if let Some(i) = &self.include {
            if !i.matches(resource, scope, span) {
                return false;
            }
        }
        if let Some(e) = &self.exclude {
            if e.matches(resource, scope, span) {
                return false;
            }
        }
        true
    }
}

/// A scalar's text as the collector's filter compares it (`strconv` forms); `None` for lists,
/// maps, bytes and no value, which never match a string test.
fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::StringValue(s) => Some(s.clone()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: serde_json::Value) -> MatchProperties {
        serde_json::from_value(v).expect("properties")
    }

    fn kv(key: &str, v: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    fn span(name: &str, kind: i32, attrs: Vec<KeyValue>) -> Span {
        Span {
            name: name.into(),
            kind,
            attributes: attrs,
            ..Default::default()
        }
    }

    #[test]
    fn strict_include_needs_every_property() {
        let f = SpanFilter::new(
            Some(&props(json!({
                "match_type": "strict",
                "services": ["api", "web"],
                "span_kinds": ["SPAN_KIND_SERVER"],
                "attributes": [{"key": "http.status_code", "value": "200"}, {"key": "user"}],
            }))),
            None,
        )
        .unwrap();
        let resource = [kv("service.name", Value::StringValue("api".into()))];
        let good = span(
            "GET",
            2,
            vec![
                kv("http.status_code", Value::IntValue(200)),
                kv("user", Value::BoolValue(true)),
            ],
        );
        assert!(f.applies(&resource, None, &good));
        let mut client = good.clone();
        client.kind = 3;
        assert!(!f.applies(&resource, None, &client));
        let mut no_user = good.clone();
        no_user.attributes.pop();
        assert!(!f.applies(&resource, None, &no_user));
        let other = [kv("service.name", Value::StringValue("batch".into()))];
        assert!(!f.applies(&other, None, &good));
    }

    #[test]
    fn regexp_exclude_skips_matching_spans() {
        let f = SpanFilter::new(
            None,
            Some(&props(json!({
                "match_type": "regexp",
                "span_names": ["health"],
                "libraries": [{"name": "^io\\.otel", "version": "^1\\."}],
            }))),
        )
        .unwrap();
        let scope = InstrumentationScope {
            name: "io.otel.http".into(),
            version: "1.2".into(),
            ..Default::default()
        };
        assert!(!f.applies(&[], Some(&scope), &span("GET /healthcheck", 2, vec![])));
        assert!(f.applies(&[], Some(&scope), &span("GET /users", 2, vec![])));
        let old = InstrumentationScope {
            version: "0.9".into(),
            ..scope.clone()
        };
        assert!(f.applies(&[], Some(&old), &span("GET /healthcheck", 2, vec![])));
    }

    #[test]
    fn strict_non_string_values_compare_by_value() {
        let f = SpanFilter::new(
            Some(&props(json!({
                "match_type": "strict",
                "resources": [{"key": "replicas", "value": 3}],
            }))),
            None,
        )
        .unwrap();
        let s = span("x", 1, vec![]);
        assert!(f.applies(&[kv("replicas", Value::IntValue(3))], None, &s));
        assert!(!f.applies(&[kv("replicas", Value::StringValue("3".into()))], None, &s));
    }
}
