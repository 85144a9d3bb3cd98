//! Processors: what a traces pipeline does to spans between its receivers and its exporters.
//!
//! A pipeline's `processors:` list compiles into one [`Chain`]:
//! - `resource` and `attributes` ([`attraction`], [`filter`]) rewrite attributes, in the listed
//!   order, when the pipeline flushes: off the function's request path, and only on that
//!   pipeline's copy of the data, so processors in one pipeline never affect another;
//! - `memory_limiter` ([`memory_limiter`]) becomes an admission limit that receivers apply
//!   before buffering a request;
//! - `batch` ([`batch`]) caps the spans of one export call (`send_batch_max_size`);
//! - `decouple` does nothing (the pipeline already decouples the function from the export).
//!
//! The position of `memory_limiter` and `batch` in the list does not matter here.

pub mod attraction;
pub mod batch;
pub mod filter;
pub mod memory_limiter;

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use crate::config::ProcessorConfig;
use attraction::AttrActions;
use filter::SpanFilter;
use memory_limiter::MemoryLimit;

/// One attribute-rewriting step.
#[derive(Debug, Clone)]
enum Step {
    /// `resource`: actions on each `ResourceSpans`' resource attributes.
    Resource(AttrActions),
    /// `attributes`: actions on the attributes of each span the filter selects.
    Attributes(AttrActions, Box<SpanFilter>),
}

/// The compiled processors of one pipeline.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    steps: Vec<Step>,
    max_batch: Option<usize>,
    memory_limit: Option<MemoryLimit>,
}

impl Chain {
    /// Compiles the processors `ids` (in order) from `processors`. `total_memory_mib` is what
    /// `memory_limiter` percentages refer to ([`memory_limiter::total_memory_mib`]).
    ///
    /// Errors name the processor: an id not defined (impossible after config validation), a
    /// percentage limit without a known memory size.
    pub fn build(
        ids: &[String],
        processors: &BTreeMap<String, ProcessorConfig>,
        total_memory_mib: Option<u64>,
    ) -> Result<Self, String> {
        let mut chain = Chain::default();
        for id in ids {
            let cfg = processors
                .get(id)
                .ok_or_else(|| format!("processor `{id}` is not defined under `processors`"))?;
            let named = |e: String| format!("processors.{id}: {e}");
            match cfg {
                ProcessorConfig::Batch(b) => {
                    if b.send_batch_max_size > 0 {
                        let max = b.send_batch_max_size as usize;
                        chain.max_batch = Some(chain.max_batch.map_or(max, |m| m.min(max)));
                    }
                }
                ProcessorConfig::Decouple(_) => {}
                ProcessorConfig::MemoryLimiter(m) => {
                    let limit = MemoryLimit::from_config(m, total_memory_mib).map_err(named)?;
                    chain.memory_limit = Some(chain.memory_limit.map_or(limit, |l| l.min(limit)));
                }
                ProcessorConfig::Resource(r) => {
                    let actions = AttrActions::new(&r.attributes).map_err(named)?;
                    chain.steps.push(Step::Resource(actions));
                }
                ProcessorConfig::Attributes(a) => {
                    let actions = AttrActions::new(&a.actions).map_err(named)?;
                    let filter =
                        SpanFilter::new(a.include.as_ref(), a.exclude.as_ref()).map_err(named)?;
                    chain
                        .steps
                        .push(Step::Attributes(actions, Box::new(filter)));
                }
            }
        }
        Ok(chain)
    }

    /// Whether [`Chain::apply`] changes nothing (no `resource`/`attributes` step).
    pub fn is_identity(&self) -> bool {
        self.steps.is_empty()
    }

    /// Most spans per export call (`batch.send_batch_max_size`; the smallest if several).
    pub fn max_batch(&self) -> Option<usize> {
        self.max_batch
    }

    /// The admission limit of `memory_limiter` (the strictest if several).
    pub fn memory_limit(&self) -> Option<MemoryLimit> {
        self.memory_limit
    }

    /// Applies the `resource` and `attributes` steps, in order, to `batch`.
    pub fn apply(&self, batch: &mut [ResourceSpans]) {
        for step in &self.steps {
            match step {
                Step::Resource(actions) => {
                    for rs in batch.iter_mut() {
                        let resource = rs.resource.get_or_insert_with(Default::default);
                        actions.apply(&mut resource.attributes);
                    }
                }
                Step::Attributes(actions, filter) => {
                    let all = filter.is_all();
                    for rs in batch.iter_mut() {
                        let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
                        for ss in rs.scope_spans.iter_mut() {
                            for span in ss.spans.iter_mut() {
                                if all || filter.applies(resource, ss.scope.as_ref(), span) {
                                    actions.apply(&mut span.attributes);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span};

    fn chain(processors_yaml: &str, used: &str) -> Chain {
        let yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\nprocessors:\n{processors_yaml}\n\
             exporters:\n  awsxray:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      \
             processors: [{used}]\n      exporters: [awsxray]\n"
        );
        let c = parse_str(&yaml, "t.yaml", |_| None).expect("config");
        let ids = c.service.pipelines["traces"].processors.clone();
        Chain::build(&ids, &c.processors, Some(1024)).expect("chain")
    }

    fn batch() -> Vec<ResourceSpans> {
        let s = |v: &str| {
            Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            })
        };
        vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: s("api"),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    Span {
                        name: "GET /users".into(),
                        attributes: vec![KeyValue {
                            key: "user.email".into(),
                            value: s("a@b.c"),
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                    Span {
                        name: "healthcheck".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    fn keys(attrs: &[KeyValue]) -> Vec<&str> {
        attrs.iter().map(|kv| kv.key.as_str()).collect()
    }

    #[test]
    fn steps_run_in_the_listed_order_with_filters() {
        let c = chain(
            "  resource:\n    attributes:\n      - { key: env, value: prod, action: upsert }\n\
             \x20 attributes/copy:\n    actions:\n      - { key: svc, value: x, action: insert }\n      \
             - { key: user.email, action: delete }\n    exclude:\n      match_type: strict\n      \
             span_names: [healthcheck]\n\
             \x20 attributes/second:\n    actions:\n      - { key: svc, value: second, action: update }\n\
             \x20 batch:\n    send_batch_size: 2\n    send_batch_max_size: 5\n\
             \x20 memory_limiter:\n    check_interval: 1s\n    limit_percentage: 50\n",
            "memory_limiter, resource, attributes/copy, attributes/second, batch",
        );
        assert_eq!(c.max_batch(), Some(5));
        assert_eq!(
            c.memory_limit().map(|l| l.hard_bytes),
            Some(512 * 1024 * 1024)
        );
        let mut b = batch();
        c.apply(&mut b);
        let r = b[0].resource.as_ref().unwrap();
        assert_eq!(keys(&r.attributes), ["service.name", "env"]);
        let spans = &b[0].scope_spans[0].spans;
        assert_eq!(keys(&spans[0].attributes), ["svc"]);
        assert_eq!(
            spans[0].attributes[0]
                .value
                .as_ref()
                .and_then(|v| v.value.clone()),
            Some(Value::StringValue("second".into())),
            "attributes/second ran after attributes/copy"
        );
        assert!(
            spans[1].attributes.is_empty(),
            "healthcheck excluded, and update needs the key"
        );
    }

    #[test]
    fn no_processors_is_the_identity() {
        let c = chain("  batch:\n", "batch");
        assert!(c.is_identity());
        assert_eq!(c.max_batch(), None);
        let mut b = batch();
        c.apply(&mut b);
        assert_eq!(b, batch());
    }
}
