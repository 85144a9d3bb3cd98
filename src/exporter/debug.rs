//! The `debug` exporter (old name `logging`): writes what it receives to stdout, in roughly the
//! shapes of the collector's debug exporter. Lambda sends stdout to CloudWatch Logs.
//!
//! - `basic`: one summary line per export:
//!   `Traces {"otelcol.component.id": "debug", "resource spans": 1, "spans": 4}`;
//! - `normal`: that line, then per resource a `ResourceTraces #i attrs…` line, per scope a
//!   `ScopeTraces #j name@version` line, and one line per span: `name trace_id span_id
//!   attrs…`;
//! - `detailed`: every field of every resource, scope, span, event and link, as the
//!   collector's `detailed` output (`ResourceSpans #0`, `Span #0`, `    Trace ID       : …`,
//!   attributes as `     -> key: Str(value)`), followed for each span by the X-Ray segment
//!   documents it translates to, so a user sees exactly what `awsxray` would send.
//!
//! Output is sampled as the collector samples its log: per second, the first
//! `sampling_initial` exports are printed, then every `sampling_thereafter`-th (default: all).
//! Spans are counted as exported whether printed or not.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, Span};

use super::awsxray::translate::{translate_span, TranslateConfig};
use super::ExportReport;

pub use crate::config::Verbosity;

/// The debug exporter.
pub struct DebugExporter {
    name: String,
    verbosity: Verbosity,
    translate: TranslateConfig,
    sampling_initial: u64,
    sampling_thereafter: u64,
    /// Start of the current one-second sampling window and exports seen in it.
    window: Mutex<(Option<Instant>, u64)>,
}

impl DebugExporter {
    /// A debug exporter named `name` (component id) printing at `verbosity`, every export.
    pub fn new(name: impl Into<String>, verbosity: Verbosity) -> Self {
        Self {
            name: name.into(),
            verbosity,
            translate: TranslateConfig::default(),
            sampling_initial: u64::MAX,
            sampling_thereafter: 1,
            window: Mutex::new((None, 0)),
        }
    }

    /// Samples the output as the collector does (`sampling_initial` exports per second in
    /// full, then every `sampling_thereafter`-th; 0 prints none after the initial ones).
    pub fn with_sampling(mut self, initial: u32, thereafter: u32) -> Self {
        self.sampling_initial = u64::from(initial);
        self.sampling_thereafter = u64::from(thereafter);
        self
    }

    /// The component id.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this export is printed (the sampling rule).
    fn sampled(&self) -> bool {
        let mut w = match self.window.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let now = Instant::now();
        if w.0
            .is_none_or(|start| now.duration_since(start).as_secs() >= 1)
        {
            *w = (Some(now), 0);
        }
        w.1 += 1;
        let n = w.1;
        n <= self.sampling_initial
            || (self.sampling_thereafter > 0
                && (n - self.sampling_initial).is_multiple_of(self.sampling_thereafter))
    }

    /// Prints `batch`; counts every span as exported.
    pub fn export(&self, batch: &[ResourceSpans]) -> ExportReport {
        let spans: u64 = batch
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .map(|ss| ss.spans.len() as u64)
            .sum();
        if spans == 0 {
            return ExportReport::default();
        }
        if self.sampled() {
            let text = self.render(batch, spans);
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        ExportReport {
            exported: spans,
            ..ExportReport::default()
        }
    }

    /// The text printed for `batch` at this exporter's verbosity.
    pub fn render(&self, batch: &[ResourceSpans], spans: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Traces {{\"otelcol.component.id\": {:?}, \"resource spans\": {}, \"spans\": {spans}}}",
            self.name,
            batch.len()
        );
        match self.verbosity {
            Verbosity::Basic => {}
            Verbosity::Normal => normal(&mut out, batch),
            Verbosity::Detailed => self.detailed(&mut out, batch),
        }
        out
    }

    fn detailed(&self, out: &mut String, batch: &[ResourceSpans]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for (i, rs) in batch.iter().enumerate() {
            let _ = writeln!(out, "ResourceSpans #{i}");
            let _ = writeln!(out, "Resource SchemaURL: {}", rs.schema_url);
            if let Some(r) = &rs.resource {
                attributes(out, "Resource attributes", &r.attributes);
            }
            for (j, ss) in rs.scope_spans.iter().enumerate() {
                let _ = writeln!(out, "ScopeSpans #{j}");
                let _ = writeln!(out, "ScopeSpans SchemaURL: {}", ss.schema_url);
                let (name, version) = ss
                    .scope
                    .as_ref()
                    .map(|s| (s.name.as_str(), s.version.as_str()))
                    .unwrap_or_default();
                let _ = writeln!(out, "InstrumentationScope {name} {version}");
                if let Some(scope) = &ss.scope {
                    if !scope.attributes.is_empty() {
                        attributes(out, "InstrumentationScope attributes", &scope.attributes);
                    }
                }
                for (k, span) in ss.spans.iter().enumerate() {
                    detailed_span(out, k, span);
                    match translate_span(rs.resource.as_ref(), span, &self.translate, now) {
                        Ok(docs) => {
                            let _ = writeln!(out, "X-Ray documents:");
                            for d in docs {
                                let _ = writeln!(out, "     -> {d}");
                            }
                        }
                        Err(reason) => {
                            let _ = writeln!(
                                out,
                                "X-Ray documents: none, the span is dropped ({})",
                                reason.as_str()
                            );
                        }
                    }
                }
            }
        }
    }
}

/// `normal`: one line per resource, scope and span.
fn normal(out: &mut String, batch: &[ResourceSpans]) {
    for (i, rs) in batch.iter().enumerate() {
        let _ = write!(out, "ResourceTraces #{i}");
        if !rs.schema_url.is_empty() {
            let _ = write!(out, " [{}]", rs.schema_url);
        }
        if let Some(r) = &rs.resource {
            inline_attributes(out, &r.attributes);
        }
        out.push('\n');
        for (j, ss) in rs.scope_spans.iter().enumerate() {
            let _ = write!(out, "ScopeTraces #{j}");
            if let Some(s) = &ss.scope {
                let _ = write!(out, " {}", s.name);
                if !s.version.is_empty() {
                    let _ = write!(out, "@{}", s.version);
                }
            }
            out.push('\n');
            for span in &ss.spans {
                let _ = write!(
                    out,
                    "{} {} {}",
                    span.name,
                    hex(&span.trace_id),
                    hex(&span.span_id)
                );
                inline_attributes(out, &span.attributes);
                out.push('\n');
            }
        }
    }
}

fn detailed_span(out: &mut String, k: usize, span: &Span) {
    let kind = span::SpanKind::try_from(span.kind)
        .map(|k| match k {
            span::SpanKind::Unspecified => "Unspecified",
            span::SpanKind::Internal => "Internal",
            span::SpanKind::Server => "Server",
            span::SpanKind::Client => "Client",
            span::SpanKind::Producer => "Producer",
            span::SpanKind::Consumer => "Consumer",
        })
        .unwrap_or("Unknown");
    let (code, message) = span
        .status
        .as_ref()
        .map(|s| {
            let code = match status::StatusCode::try_from(s.code) {
                Ok(status::StatusCode::Ok) => "Ok",
                Ok(status::StatusCode::Error) => "Error",
                _ => "Unset",
            };
            (code, s.message.as_str())
        })
        .unwrap_or(("Unset", ""));
    let _ = writeln!(out, "Span #{k}");
    let _ = writeln!(out, "    Trace ID       : {}", hex(&span.trace_id));
    let _ = writeln!(out, "    Parent ID      : {}", hex(&span.parent_span_id));
    let _ = writeln!(out, "    ID             : {}", hex(&span.span_id));
    let _ = writeln!(out, "    Name           : {}", span.name);
    let _ = writeln!(out, "    Kind           : {kind}");
    if !span.trace_state.is_empty() {
        let _ = writeln!(out, "    TraceState     : {}", span.trace_state);
    }
    let _ = writeln!(
        out,
        "    Start time     : {}",
        utc(span.start_time_unix_nano)
    );
    let _ = writeln!(out, "    End time       : {}", utc(span.end_time_unix_nano));
    let _ = writeln!(out, "    Status code    : {code}");
    let _ = writeln!(out, "    Status message : {message}");
    if span.dropped_attributes_count > 0 {
        let _ = writeln!(
            out,
            "    DroppedAttributesCount: {}",
            span.dropped_attributes_count
        );
    }
    attributes(out, "Attributes", &span.attributes);
    if !span.events.is_empty() {
        let _ = writeln!(out, "Events:");
        for (e, ev) in span.events.iter().enumerate() {
            let _ = writeln!(out, "SpanEvent #{e}");
            let _ = writeln!(out, "     -> Name: {}", ev.name);
            let _ = writeln!(out, "     -> Timestamp: {}", utc(ev.time_unix_nano));
            let _ = writeln!(
                out,
                "     -> DroppedAttributesCount: {}",
                ev.dropped_attributes_count
            );
            if !ev.attributes.is_empty() {
                let _ = writeln!(out, "     -> Attributes::");
                for kv in &ev.attributes {
                    let _ = writeln!(out, "          -> {}: {}", kv.key, any(kv.value.as_ref()));
                }
            }
        }
    }
    if !span.links.is_empty() {
        let _ = writeln!(out, "Links:");
        for (l, link) in span.links.iter().enumerate() {
            let _ = writeln!(out, "SpanLink #{l}");
            let _ = writeln!(out, "     -> Trace ID: {}", hex(&link.trace_id));
            let _ = writeln!(out, "     -> ID: {}", hex(&link.span_id));
            let _ = writeln!(out, "     -> TraceState: {}", link.trace_state);
            let _ = writeln!(
                out,
                "     -> DroppedAttributesCount: {}",
                link.dropped_attributes_count
            );
            if !link.attributes.is_empty() {
                let _ = writeln!(out, "     -> Attributes::");
                for kv in &link.attributes {
                    let _ = writeln!(out, "          -> {}: {}", kv.key, any(kv.value.as_ref()));
                }
            }
        }
    }
}

fn attributes(out: &mut String, title: &str, attrs: &[KeyValue]) {
    if attrs.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}:");
    for kv in attrs {
        let _ = writeln!(out, "     -> {}: {}", kv.key, any(kv.value.as_ref()));
    }
}

fn inline_attributes(out: &mut String, attrs: &[KeyValue]) {
    for kv in attrs {
        let _ = write!(out, " {}={}", kv.key, plain(kv.value.as_ref()));
    }
}

/// `Str(text)`, `Int(1)`, `Double(1.5)`, `Bool(true)`, `Bytes(hex)`, `Slice([…])`,
/// `Map({…})`, `Empty()`: the collector's rendering of an attribute value.
fn any(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => "Empty()".to_owned(),
        Some(any_value::Value::StringValue(s)) => format!("Str({s})"),
        Some(any_value::Value::StringValueStrindex(i)) => format!("StrIndex({i})"),
        Some(any_value::Value::BoolValue(b)) => format!("Bool({b})"),
        Some(any_value::Value::IntValue(i)) => format!("Int({i})"),
        Some(any_value::Value::DoubleValue(d)) => format!("Double({d})"),
        Some(any_value::Value::BytesValue(b)) => format!("Bytes({})", hex(b)),
        Some(any_value::Value::ArrayValue(_)) => format!("Slice({})", plain(v)),
        Some(any_value::Value::KvlistValue(_)) => format!("Map({})", plain(v)),
    }
}

/// A value as JSON-ish text (`normal` lines, and inside `Slice`/`Map`).
fn plain(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::StringValueStrindex(i)) => format!("#{i}"),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex(b),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(|x| json_value(Some(x))).collect();
            format!("[{}]", items.join(","))
        }
        Some(any_value::Value::KvlistValue(m)) => {
            let items: Vec<String> = m
                .values
                .iter()
                .map(|kv| format!("{:?}:{}", kv.key, json_value(kv.value.as_ref())))
                .collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

fn json_value(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => format!("{s:?}"),
        Some(any_value::Value::BytesValue(b)) => format!("{:?}", hex(b)),
        None => "null".to_owned(),
        _ => plain(v),
    }
}

/// `2024-05-01 12:00:00.123456789 +0000 UTC` (Go's `time.Time` format, as the collector prints).
fn utc(nanos: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut s = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let frac = t.nanosecond();
    if frac > 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::ScopeSpans;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn batch() -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "my-fn")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    version: "1.2".into(),
                    ..Default::default()
                }),
                spans: vec![Span {
                    trace_id: vec![0x5b; 16],
                    span_id: vec![0xee; 8],
                    name: "GET /".into(),
                    kind: 2,
                    start_time_unix_nano: 1_544_712_660_000_000_000,
                    end_time_unix_nano: 1_544_712_661_500_000_000,
                    attributes: vec![kv("http.method", "GET")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    #[test]
    fn basic_is_one_summary_line() {
        let e = DebugExporter::new("debug", Verbosity::Basic);
        let text = e.render(&batch(), 1);
        assert_eq!(
            text,
            "Traces {\"otelcol.component.id\": \"debug\", \"resource spans\": 1, \"spans\": 1}\n"
        );
    }

    #[test]
    fn normal_is_one_line_per_span() {
        let e = DebugExporter::new("debug/2", Verbosity::Normal);
        let text = e.render(&batch(), 1);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[1], "ResourceTraces #0 service.name=my-fn");
        assert_eq!(lines[2], "ScopeTraces #0 lib@1.2");
        assert_eq!(
            lines[3],
            format!(
                "GET / {} {} http.method=GET",
                "5b".repeat(16),
                "ee".repeat(8)
            )
        );
    }

    #[test]
    fn detailed_has_every_field_and_the_documents() {
        let e = DebugExporter::new("debug", Verbosity::Detailed);
        let text = e.render(&batch(), 1);
        for want in [
            "ResourceSpans #0",
            "     -> service.name: Str(my-fn)",
            "InstrumentationScope lib 1.2",
            "Span #0",
            "    Kind           : Server",
            "    Start time     : 2018-12-13 14:51:00 +0000 UTC",
            "    End time       : 2018-12-13 14:51:01.5 +0000 UTC",
            "    Status code    : Unset",
            "     -> http.method: Str(GET)",
            "X-Ray documents:",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn sampling_prints_the_first_then_every_nth() {
        let e = DebugExporter::new("debug", Verbosity::Basic).with_sampling(2, 3);
        let printed: Vec<bool> = (0..8).map(|_| e.sampled()).collect();
        assert_eq!(
            printed,
            [true, true, false, false, true, false, false, true]
        );
        let all = DebugExporter::new("debug", Verbosity::Basic);
        assert!((0..100).all(|_| all.sampled()));
    }
}
