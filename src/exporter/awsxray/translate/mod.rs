//! The pure OTLP span → X-Ray segment document translator (`docs/xray-mapping.md`).
//!
//! `(resource, span, config, now) -> documents`: no I/O, no Lambda, no clock of its own.
//! One file per object of the document; this module orchestrates them in the order of
//! R-SHAPE-4 and handles segment/subsegment and the local-root split (§3).

pub mod annotations;
pub mod attrs;
pub mod aws;
pub mod budget;
pub mod cause;
pub mod document;
pub mod http;
pub mod ids;
mod json;
mod keys;
mod letters;
pub mod links;
pub mod name;
pub mod origin;
pub mod service;
pub mod sql;
pub mod stack;
pub mod value;

#[cfg(test)]
#[path = "../../../../tests/common/schema.rs"]
pub(crate) mod schema_check;
#[cfg(test)]
pub(crate) mod test_support;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::{resource::v1::Resource, trace::v1::Span};

use attrs::Attrs;
use aws::AwsResource;
use document::{unix_seconds, Document, Service, NAMESPACE_REMOTE, TYPE_SUBSEGMENT};
use ids::{Hex16, TraceId};
use keys::{Key, KeyTable};

/// Options of the translation, taken from the `awsxray` exporter's config (§18 of the spec).
#[derive(Debug, Clone, PartialEq)]
pub struct TranslateConfig {
    /// Skip the trace-id epoch check (R-ID-3/4). Default `true`.
    pub skip_timestamp_validation: bool,
    /// Attribute keys turned into annotations (§14).
    pub indexed_attributes: Vec<String>,
    /// Every scalar attribute becomes an annotation (§14). Default `false`.
    pub index_all_attributes: bool,
    /// Keep `.` in annotation keys (R-ANN-2). Default `true`.
    pub annotation_allow_dot: bool,
    /// Log group names for `aws.cloudwatch_logs` when the resource has none (R-AWS-2).
    pub aws_log_groups: Vec<String>,
    /// Origin written for `cloud.platform=aws_lambda` resources (R-ORIGIN-3, D4). Default none.
    pub lambda_origin: Option<String>,
    /// Serialised document budget in bytes (R-SIZE-1, D6). Default 64,000.
    pub max_document_bytes: usize,
}

impl Default for TranslateConfig {
    fn default() -> Self {
        Self {
            skip_timestamp_validation: true,
            indexed_attributes: Vec::new(),
            index_all_attributes: false,
            annotation_allow_dot: true,
            aws_log_groups: Vec::new(),
            lambda_origin: None,
            max_document_bytes: 64_000,
        }
    }
}

/// Why a span (or one of its documents) produced no document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// Trace id not 16 bytes, all zero (R-ID-5, D15), or outside the epoch window (R-ID-3).
    #[error("invalid xray traceid")]
    InvalidTraceId,
    /// Span id not 8 bytes or all zero (R-ID-6).
    #[error("invalid span id")]
    InvalidSpanId,
    /// Parent span id present but not 8 bytes (R-ID-7).
    #[error("invalid parent span id")]
    InvalidParentSpanId,
    /// Still larger than `max_document_bytes` after every shrinking step (R-SIZE-1, D6).
    #[error("document larger than the budget")]
    TooLarge,
    /// The JSON serialiser failed. Not produced any more: documents are written by an
    /// infallible writer (`json`); kept so that counters and logs keep their names.
    #[error("document serialisation failed")]
    Serialization,
}

impl DropReason {
    /// Snake-case name for counters and logs, e.g. `invalid_trace_id`, `too_large`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::InvalidTraceId => "invalid_trace_id",
            Self::InvalidSpanId => "invalid_span_id",
            Self::InvalidParentSpanId => "invalid_parent_span_id",
            Self::TooLarge => "too_large",
            Self::Serialization => "serialization",
        }
    }
}

/// The documents of one span (R-SHAPE-1): usually one, two for the local-root split (R-KIND-5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translation {
    /// Serialised JSON documents, each at most `max_document_bytes` bytes.
    pub documents: Vec<String>,
    /// How many documents of this span the budget dropped while others were kept (R-SIZE-1
    /// step 5; the reason is always [`DropReason::TooLarge`]).
    pub dropped: usize,
}

/// OTLP span kind (§3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// 0, and any unknown value.
    Unspecified,
    /// 1.
    Internal,
    /// 2.
    Server,
    /// 3.
    Client,
    /// 4.
    Producer,
    /// 5.
    Consumer,
}

impl SpanKind {
    /// From the OTLP enum value; unknown values are `Unspecified`.
    pub fn from_otlp(kind: i32) -> Self {
        match kind {
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => Self::Unspecified,
        }
    }
}

/// Attribute value marking a local root (R-KIND-3).
pub const LOCAL_ROOT: &str = "LOCAL_ROOT";
/// Keys removed from the local-root service segment before translation (R-KIND-5).
const SERVICE_SEGMENT_REMOVED: [Key; 4] = [
    Key::AwsRemoteService,
    Key::AwsRemoteOperation,
    Key::RemoteTarget,
    Key::K8sRemoteNamespace,
];

/// Which document of a span is being built (§3.3).
#[derive(Debug, Clone, Copy)]
enum Variant {
    /// The only document (R-KIND-1, R-KIND-4, R-KIND-6).
    Plain,
    /// Local-root dependency subsegment whose parent is the generated service segment.
    Dependency { service_id: Hex16 },
    /// Local-root service segment with the generated id.
    Service { service_id: Hex16 },
}

/// Everything about the span that does not change between its documents.
struct Ctx<'a> {
    /// The span's resource, prepared once for all its spans.
    res: &'a PreparedResource<'a>,
    span: &'a Span,
    now_unix_secs: u64,
    trace_id: TraceId,
    id: Hex16,
    parent: Option<Hex16>,
    kind: SpanKind,
    local_root: bool,
    /// The span hangs under Lambda's function segment and is sent as its subsegment.
    lambda_subsegment: bool,
}

/// A resource and the translator config, prepared once for every span under the resource
/// (performance, issue 3): the resource attributes are classified once and the document parts
/// that depend only on them and on the config are derived once: `origin` (§7), the resource
/// members of `aws` (R-AWS-2), `service` (§12) and the SDK language that picks the stack
/// parser (§9.4). Translating with it gives exactly the documents [`translate`] gives.
pub struct PreparedResource<'a> {
    config: &'a TranslateConfig,
    /// Lookups in the resource attributes (empty without a resource), which segments store
    /// (R-KIND-2).
    table: KeyTable<'a>,
    origin: Option<&'a str>,
    /// `None` when the resource says the cloud is not AWS (R-AWS-1).
    aws: Option<AwsResource<'a>>,
    service: Option<Service<'a>>,
    /// `telemetry.sdk.language`.
    language: Option<&'a str>,
}

impl<'a> PreparedResource<'a> {
    /// Prepares `resource` (`None`: a span without one) for translating its spans with `config`.
    pub fn new(resource: Option<&'a Resource>, config: &'a TranslateConfig) -> Self {
        let table = KeyTable::new(resource.map_or(&[][..], |r| r.attributes.as_slice()));
        Self {
            config,
            origin: origin::make_origin(&table, config.lambda_origin.as_deref()),
            aws: AwsResource::new(&table, &config.aws_log_groups),
            service: service::make_service(&table),
            language: table.str(Key::TelemetrySdkLanguage),
            table,
        }
    }
}

/// Per-span facts the translator cannot know from the span itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanOptions {
    /// The span's parent is the Lambda function segment of its invocation (the `Parent=` of
    /// the INVOKE event's trace header): send the span as a **subsegment** of that segment, as
    /// the X-Ray SDK does in Lambda, instead of a segment of its own (which would add a node
    /// after the Lambda function in the service map). Not applied to local roots (§3.3).
    pub under_lambda_segment: bool,
}

/// An AWS SDK span: `rpc.system` (or `rpc.system.name`, D1) is `aws-api` (R-NS-1, R-NAME-6).
fn is_aws_sdk(span_keys: &KeyTable<'_>) -> bool {
    span_keys.str(Key::RpcSystem) == Some("aws-api")
        || span_keys.str(Key::RpcSystemName) == Some("aws-api")
}

/// Translates one span with its resource into X-Ray documents (R-SHAPE-1).
///
/// Errors drop the whole span: invalid ids (§2), or every document over the budget (§16).
/// `now_unix_secs` is the clock for the trace-id epoch check (R-ID-3).
pub fn translate(
    resource: Option<&Resource>,
    span: &Span,
    config: &TranslateConfig,
    now_unix_secs: u64,
) -> Result<Translation, DropReason> {
    let mut documents = Vec::new();
    let dropped = translate_prepared_into(
        &PreparedResource::new(resource, config),
        span,
        now_unix_secs,
        SpanOptions::default(),
        &mut documents,
    )?;
    Ok(Translation { documents, dropped })
}

/// [`translate`] for a span under a [`PreparedResource`] (the config is the prepared one),
/// with per-span [`SpanOptions`], appending the documents of the span to `documents` (the
/// exporter's batch, without a list per span). Returns how many documents of the span the budget dropped
/// while others were kept (R-SIZE-1 step 5: always [`DropReason::TooLarge`]); on `Err` nothing
/// was appended.
pub fn translate_prepared_into(
    resource: &PreparedResource<'_>,
    span: &Span,
    now_unix_secs: u64,
    options: SpanOptions,
    documents: &mut Vec<String>,
) -> Result<usize, DropReason> {
    let config = resource.config;
    let trace_id = TraceId::from_otlp(&span.trace_id).ok_or(DropReason::InvalidTraceId)?;
    if !config.skip_timestamp_validation && !trace_id.epoch_is_valid(now_unix_secs) {
        return Err(DropReason::InvalidTraceId);
    }
    let id = Hex16::from_span_id(&span.span_id).ok_or(DropReason::InvalidSpanId)?;
    let parent = if span.parent_span_id.iter().all(|b| *b == 0) {
        None
    } else {
        Some(Hex16::from_span_id(&span.parent_span_id).ok_or(DropReason::InvalidParentSpanId)?)
    };
    let kind = SpanKind::from_otlp(span.kind);
    let mut attrs = Attrs::new(&span.attributes);
    let local_root = attrs.table().str(Key::AwsSpanKind) == Some(LOCAL_ROOT);
    let ctx = Ctx {
        res: resource,
        span,
        now_unix_secs,
        trace_id,
        id,
        parent,
        kind,
        local_root,
        lambda_subsegment: options.under_lambda_segment && parent.is_some() && !local_root,
    };

    let split = ctx.local_root && !matches!(kind, SpanKind::Server | SpanKind::Internal);
    let before = documents.len();
    let mut dropped = 0;
    // By reference: a document is large, and moving it costs a copy.
    let mut emit =
        |doc: &mut Document<'_>| match budget::serialize_within(doc, config.max_document_bytes) {
            Ok(json) => {
                // Test builds: every document checked against our schema and the budget.
                #[cfg(test)]
                test_support::assert_valid(&json, config.max_document_bytes);
                // Debug builds (every test, unit or integration): the hand-written JSON must be
                // byte for byte what `serde_json` writes for the same document.
                #[cfg(debug_assertions)]
                doc.debug_assert_same_as_serde(&json);
                documents.push(json);
            }
            // `serialize_within` has no other reason.
            Err(_) => dropped += 1,
        };
    if split {
        let service_id = Hex16::random();
        emit(&mut build(
            &ctx,
            Variant::Dependency { service_id },
            &mut attrs.clone(),
        ));
        emit(&mut build(
            &ctx,
            Variant::Service { service_id },
            &mut attrs,
        ));
    } else {
        emit(&mut build(&ctx, Variant::Plain, &mut attrs));
    }
    if documents.len() == before {
        return Err(DropReason::TooLarge);
    }
    Ok(dropped)
}

/// Translates one span into serialised X-Ray documents, or says why it was dropped.
/// See [`translate`]; documents individually over budget in a local-root split are left out.
pub fn translate_span(
    resource: Option<&Resource>,
    span: &Span,
    config: &TranslateConfig,
    now_unix_secs: u64,
) -> Result<Vec<String>, DropReason> {
    translate(resource, span, config, now_unix_secs).map(|t| t.documents)
}

/// Builds one document in the order of R-SHAPE-4 from the untouched span attributes `attrs`
/// (which it marks: one view per document).
fn build<'a>(ctx: &Ctx<'a>, variant: Variant, attrs: &mut Attrs<'a>) -> Document<'a> {
    let span = ctx.span;
    let config = ctx.res.config;
    let kind = ctx.kind;
    let res = ctx.res;
    if let Variant::Service { .. } = variant {
        for key in SERVICE_SEGMENT_REMOVED {
            attrs.remove(key);
        }
    }
    let (id, parent_id) = match variant {
        Variant::Plain => (ctx.id, ctx.parent),
        Variant::Dependency { service_id } => (ctx.id, Some(service_id)),
        Variant::Service { service_id } => (service_id, ctx.parent),
    };
    // R-KIND-1 on the (possibly re-parented) span; decides resource storage (R-KIND-2).
    let base_segment = !ctx.lambda_subsegment
        && (matches!(kind, SpanKind::Server | SpanKind::Consumer) || parent_id.is_none());
    let is_segment = match variant {
        Variant::Plain => base_segment || ctx.local_root, // R-KIND-4 (other kinds split)
        Variant::Dependency { .. } => false,
        Variant::Service { .. } => true,
    };
    let aws_sdk = is_aws_sdk(attrs.table());

    // Times and in_progress (§6).
    let mut in_progress = false;
    if let Some(Value::BoolValue(b)) = attrs.value(Key::AwsXrayInprogress) {
        in_progress = *b;
        attrs.consume(Key::AwsXrayInprogress);
    }
    if span.end_time_unix_nano == 0 {
        in_progress = true; // R-TIME-4 (D7)
    }
    let start_time = unix_seconds(span.start_time_unix_nano);
    let end_time = (!in_progress).then(|| unix_seconds(span.end_time_unix_nano));

    let http = http::make_http(span, kind, attrs);
    let flags = cause::make_flags(span, attrs);
    let cause = cause::make_cause(
        &cause::CauseInput {
            span,
            language: res.language,
            remote: matches!(kind, SpanKind::Client | SpanKind::Producer),
            aws_sdk,
        },
        attrs,
    );
    let origin = res.origin;
    let aws = aws::make_aws(res.aws.as_ref(), attrs);
    let service = res.service;
    let sql = sql::make_sql(&span.name, attrs);
    for key in &config.indexed_attributes {
        attrs.restore(key); // R-ANN-1
    }
    let user = annotations::make_user(attrs);
    let (annotations, metadata) = annotations::make_annotations_metadata(
        &annotations::AnnotationInput {
            resource: res.table.kvs(),
            store_resource: base_segment,
            config,
        },
        attrs,
    );
    let links = links::make_links(
        &span.links,
        !config.skip_timestamp_validation,
        ctx.now_unix_secs,
    );
    let named = name::compute_name(&name::NameInput {
        kind,
        local_root: ctx.local_root,
        is_segment,
        aws_sdk,
        span_name: &span.name,
        resource: &res.table,
        attrs,
    });
    let mut namespace = name::base_namespace(aws_sdk, named.from_aws_service, kind);
    let mut name = named.name;
    let (mut http, mut aws, mut metadata, mut links) = (http, aws, metadata, links);

    match variant {
        Variant::Plain => {
            // R-KIND-6
            if !is_segment
                && namespace.is_none()
                && matches!(
                    kind,
                    SpanKind::Client | SpanKind::Producer | SpanKind::Consumer
                )
                && attrs.has(Key::AwsRemoteService)
            {
                namespace = Some(NAMESPACE_REMOTE);
            }
        }
        Variant::Dependency { .. } => {
            // R-KIND-5 (1)
            if let Some(remote) = name::remote_service(attrs, aws_sdk) {
                let clean = name::sanitize(remote);
                if !clean.is_empty() {
                    name = clean;
                }
            }
            namespace = namespace.or(Some(NAMESPACE_REMOTE));
            if kind == SpanKind::Consumer {
                links.clear();
            }
        }
        Variant::Service { .. } => {
            // R-KIND-5 (2)
            if let Some(local) = attrs.nonempty(Key::AwsLocalService) {
                let clean = name::sanitize(local);
                if !clean.is_empty() {
                    name = clean;
                }
            }
            http = None;
            if let Some(aws) = aws.as_mut() {
                aws.operation = None;
                aws.account_id = None;
                aws.region = None;
                aws.request_id = None;
                aws.queue_url = None;
                aws.table_name = None;
                aws.table_names.clear();
            }
            metadata.retain_resource_only();
            if kind != SpanKind::Consumer {
                links.clear();
            }
        }
    }
    // Built last, in place: the document is large, and a local moved out would be copied.
    Document {
        name,
        id,
        trace_id: ctx.trace_id,
        start_time,
        end_time,
        in_progress,
        parent_id,
        kind: (!is_segment).then_some(TYPE_SUBSEGMENT),
        namespace: namespace.filter(|_| !is_segment), // D16: never on segments
        fault: flags.fault,
        error: flags.error,
        throttle: flags.throttle,
        origin,
        user,
        http,
        aws,
        service,
        sql,
        cause,
        annotations,
        metadata,
        links,
    }
}

#[cfg(test)]
mod tests;
