//! Flags and the `cause` object (§9).

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span::Event, Span};
use serde::Serialize;

use super::attrs::Attrs;
use super::ids::Hex16;
use super::json::{self, key, Arr, Obj, WriteJson};
use super::keys::Key;
use super::stack;
use super::value::{find, find_str};

/// OTLP status code ERROR.
const STATUS_ERROR: i32 = 2;

/// `cause` in its object form (R-CAUSE-4: never the short id form).
#[derive(Debug, Clone, Serialize)]
pub struct Cause<'a> {
    /// The exceptions, outermost first.
    pub exceptions: Vec<Exception<'a>>,
}

/// One exception (schema `definitions.exception`).
#[derive(Debug, Clone, Serialize)]
pub struct Exception<'a> {
    /// Random id (R-ID-8).
    pub id: Hex16,
    /// Exception type.
    #[serde(rename = "type", skip_serializing_if = "is_empty_cow")]
    pub kind: Cow<'a, str>,
    /// Message.
    #[serde(skip_serializing_if = "is_empty_cow")]
    pub message: Cow<'a, str>,
    /// Whether the exception came from a remote call (R-CAUSE-5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<bool>,
    /// Id of the exception that caused this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Hex16>,
    /// Frames (§9.4).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<Frame<'a>>,
    /// Frames removed by the document budget (R-SIZE-1 step 4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<usize>,
}

impl<'a> Exception<'a> {
    /// An exception with a fresh id and no stack.
    pub fn new(kind: Cow<'a, str>, message: Cow<'a, str>, remote: Option<bool>) -> Self {
        Self {
            id: Hex16::random(),
            kind,
            message,
            remote,
            cause: None,
            stack: Vec::new(),
            truncated: None,
        }
    }
}

/// A stack frame (schema `definitions.stackFrame`); `line` is 0 when unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame<'a> {
    /// File or module path.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub path: &'a str,
    /// Line number.
    pub line: i64,
    /// Function / method.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub label: &'a str,
}

impl WriteJson for Cause<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        let mut a = Arr::open(o.key(key!("exceptions")));
        for e in &self.exceptions {
            e.write_json(a.next());
        }
        a.close();
        o.close();
    }
}

impl WriteJson for Exception<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        self.id.write_json(o.key(key!("id")));
        if !self.kind.is_empty() {
            json::str(o.key(key!("type")), &self.kind);
        }
        if !self.message.is_empty() {
            json::str(o.key(key!("message")), &self.message);
        }
        if let Some(r) = self.remote {
            json::bool(o.key(key!("remote")), r);
        }
        if let Some(c) = &self.cause {
            c.write_json(o.key(key!("cause")));
        }
        if !self.stack.is_empty() {
            let mut a = Arr::open(o.key(key!("stack")));
            for f in &self.stack {
                let mut fo = Obj::open(a.next());
                if !f.path.is_empty() {
                    json::str(fo.key(key!("path")), f.path);
                }
                json::i64(fo.key(key!("line")), f.line);
                if !f.label.is_empty() {
                    json::str(fo.key(key!("label")), f.label);
                }
                fo.close();
            }
            a.close();
        }
        if let Some(t) = self.truncated {
            json::u64(o.key(key!("truncated")), t as u64);
        }
        o.close();
    }
}

fn is_empty_cow<S: AsRef<str>>(s: &S) -> bool {
    s.as_ref().is_empty()
}

/// The three flags (R-ERR-1..3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// 5xx or span status ERROR.
    pub fault: bool,
    /// 4xx.
    pub error: bool,
    /// 429.
    pub throttle: bool,
}

/// Flags from the HTTP status code (original map) and span status (R-ERR-2).
pub(crate) fn make_flags(span: &Span, attrs: &Attrs<'_>) -> Flags {
    let code = attrs
        .int(Key::HttpStatusCode)
        .or_else(|| attrs.int(Key::HttpResponseStatusCode));
    let status_error = span.status.as_ref().is_some_and(|s| s.code == STATUS_ERROR);
    match code {
        Some(c @ 400..=499) => Flags {
            fault: false,
            error: true,
            throttle: c == 429,
        },
        Some(500..=599) => Flags {
            fault: true,
            error: false,
            throttle: false,
        },
        _ => Flags {
            fault: status_error,
            error: false,
            throttle: false,
        },
    }
}

/// Inputs of the cause computation.
pub(crate) struct CauseInput<'a> {
    pub(crate) span: &'a Span,
    /// `telemetry.sdk.language` of the resource (§9.4).
    pub(crate) language: Option<&'a str>,
    /// Kind is CLIENT or PRODUCER (R-CAUSE-5 `remote`).
    pub(crate) remote: bool,
    pub(crate) aws_sdk: bool,
}

/// Builds `cause` (R-CAUSE-1..6); consumes `http.status_text` in the status branch.
pub(crate) fn make_cause<'a>(input: &CauseInput<'a>, attrs: &mut Attrs<'a>) -> Option<Cause<'a>> {
    let span = input.span;
    let from_events = span
        .events
        .iter()
        .any(|e| e.name == "exception" || (input.aws_sdk && e.name == "HTTP request failure"));
    if from_events {
        let mut exceptions = Vec::new();
        for event in &span.events {
            if event.name == "exception" {
                exception_event(event, input, &mut exceptions);
            } else if input.aws_sdk && event.name == "HTTP request failure" {
                if let Some(e) = http_failure_event(event) {
                    exceptions.push(e);
                }
            }
        }
        return (!exceptions.is_empty()).then_some(Cause { exceptions });
    }
    if span.status.as_ref().is_some_and(|s| s.code == STATUS_ERROR) {
        let status_text = attrs.str(Key::HttpStatusText);
        attrs.consume(Key::HttpStatusText);
        let message = span
            .status
            .as_ref()
            .map(|s| s.message.as_str())
            .filter(|m| !m.is_empty())
            .or(status_text)
            .filter(|m| !m.is_empty())?;
        return Some(Cause {
            exceptions: vec![Exception::new(
                Cow::Borrowed(""),
                Cow::Borrowed(message),
                None,
            )],
        });
    }
    None
}

fn event_str<'a>(attrs: &'a [KeyValue], key: &str) -> &'a str {
    find_str(attrs, key).unwrap_or("")
}

/// An `exception` event → one exception plus any chained ones from the stack text (R-CAUSE-5/6).
fn exception_event<'a>(event: &'a Event, input: &CauseInput<'a>, out: &mut Vec<Exception<'a>>) {
    let kind = event_str(&event.attributes, "exception.type");
    let message = event_str(&event.attributes, "exception.message");
    let stacktrace = event_str(&event.attributes, "exception.stacktrace");
    let first = Exception::new(
        Cow::Borrowed(kind),
        Cow::Borrowed(message),
        Some(input.remote),
    );
    let start = out.len();
    out.push(first);
    if !stacktrace.is_empty() {
        if let Some(lang) = input.language {
            stack::fill(lang, stacktrace, out, start);
        }
    }
}

/// An AWS SDK `HTTP request failure` event (R-CAUSE-5).
fn http_failure_event(event: &Event) -> Option<Exception<'_>> {
    let status = match find(&event.attributes, "http.response.status_code") {
        Some(Value::IntValue(i)) => *i,
        Some(Value::StringValue(s)) => s.trim().parse().ok()?,
        _ => return None,
    };
    let msg = find_str(&event.attributes, "aws.http.error_message")?;
    let t = event.time_unix_nano;
    let mut secs = t / 1_000_000_000;
    let mut micros = (t % 1_000_000_000 + 500) / 1000;
    if micros >= 1_000_000 {
        secs += 1;
        micros -= 1_000_000;
    }
    Some(Exception::new(
        Cow::Borrowed("aws.http.error.event"),
        Cow::Owned(format!("{status}@{secs}.{micros:06}@{msg}")),
        Some(true),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::trace::v1::Status;

    fn s(key: &str, v: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.to_owned())),
            }),
            ..Default::default()
        }
    }
    fn i(key: &str, v: i64) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::IntValue(v)),
            }),
            ..Default::default()
        }
    }
    fn span(attributes: Vec<KeyValue>, code: i32, message: &str) -> Span {
        Span {
            attributes,
            status: Some(Status {
                code,
                message: message.to_owned(),
            }),
            ..Default::default()
        }
    }
    fn flags(code: Option<i64>, status: i32) -> Flags {
        let sp = span(
            code.map(|c| i("http.status_code", c)).into_iter().collect(),
            status,
            "",
        );
        let attrs = Attrs::new(&sp.attributes);
        make_flags(&sp, &attrs)
    }

    #[test]
    fn flag_rules() {
        // R-ERR-2
        assert_eq!(
            flags(Some(404), 2),
            Flags {
                fault: false,
                error: true,
                throttle: false
            }
        );
        assert_eq!(
            flags(Some(429), 0),
            Flags {
                fault: false,
                error: true,
                throttle: true
            }
        );
        assert_eq!(
            flags(Some(500), 0),
            Flags {
                fault: true,
                error: false,
                throttle: false
            }
        );
        assert_eq!(
            flags(Some(200), 2),
            Flags {
                fault: true,
                error: false,
                throttle: false
            }
        );
        assert_eq!(flags(None, 1), Flags::default());
    }

    #[test]
    fn status_message_cause_consumes_status_text() {
        // R-CAUSE-2
        let sp = span(vec![s("http.status_text", "Bad Gateway")], 2, "");
        let mut attrs = Attrs::new(&sp.attributes);
        let input = CauseInput {
            span: &sp,
            language: None,
            remote: false,
            aws_sdk: false,
        };
        let cause = make_cause(&input, &mut attrs);
        let json = serde_json::to_string(&cause).unwrap_or_default();
        assert!(json.contains(r#""message":"Bad Gateway""#));
        assert!(!json.contains("type"));
        assert_eq!(attrs.live().count(), 0);
    }

    #[test]
    fn no_message_no_cause_and_status_text_kept_otherwise() {
        // R-CAUSE-2 / R-CAUSE-3
        let sp = span(vec![], 2, "");
        let mut attrs = Attrs::new(&sp.attributes);
        let input = CauseInput {
            span: &sp,
            language: None,
            remote: false,
            aws_sdk: false,
        };
        assert!(make_cause(&input, &mut attrs).is_none());
        let sp = span(vec![s("http.status_text", "OK")], 0, "");
        let mut attrs = Attrs::new(&sp.attributes);
        let input = CauseInput {
            span: &sp,
            language: None,
            remote: false,
            aws_sdk: false,
        };
        assert!(make_cause(&input, &mut attrs).is_none());
        assert_eq!(attrs.live().count(), 1);
    }

    #[test]
    fn aws_http_failure_event() {
        // R-CAUSE-5
        let mut sp = span(vec![], 0, "");
        sp.events.push(Event {
            name: "HTTP request failure".to_owned(),
            time_unix_nano: 1_696_954_761_000_001_000,
            attributes: vec![
                i("http.response.status_code", 503),
                s(
                    "aws.http.error_message",
                    "service is temporarily unavailable",
                ),
            ],
            ..Default::default()
        });
        let mut attrs = Attrs::new(&sp.attributes);
        let input = CauseInput {
            span: &sp,
            language: None,
            remote: false,
            aws_sdk: true,
        };
        let json = serde_json::to_string(&make_cause(&input, &mut attrs)).unwrap_or_default();
        assert!(json
            .contains(r#""message":"503@1696954761.000001@service is temporarily unavailable""#));
        assert!(json.contains(r#""type":"aws.http.error.event""#));
        assert!(json.contains(r#""remote":true"#));
        // Not an AWS SDK span: ignored.
        let input = CauseInput {
            span: &sp,
            language: None,
            remote: false,
            aws_sdk: false,
        };
        assert!(make_cause(&input, &mut attrs).is_none());
    }

    #[test]
    fn exception_event_uses_event_attributes() {
        // R-CAUSE-5 / R-CAUSE-6
        let mut sp = span(vec![], 2, "status message ignored");
        sp.events.push(Event {
            name: "exception".to_owned(),
            attributes: vec![
                s("exception.type", "ValueError"),
                s("exception.message", "bad"),
                s("exception.stacktrace", "Other: text"),
            ],
            ..Default::default()
        });
        let mut attrs = Attrs::new(&sp.attributes);
        let input = CauseInput {
            span: &sp,
            language: Some("python"),
            remote: true,
            aws_sdk: false,
        };
        let cause = make_cause(&input, &mut attrs);
        let ex = cause.map(|c| c.exceptions).unwrap_or_default();
        assert_eq!(ex.len(), 1);
        assert_eq!(ex.first().map(|e| e.kind.as_ref()), Some("ValueError"));
        assert_eq!(ex.first().map(|e| e.message.as_ref()), Some("bad"));
        assert_eq!(ex.first().and_then(|e| e.remote), Some(true));
    }

    #[test]
    fn whole_span_chained_cause_links_ids() {
        // R-CAUSE-5, R-STACK-java: the chained exception is linked by `cause` in the document.
        use crate::exporter::awsxray::translate::test_support::{docs_for, span as mk_span};
        let mut sp = mk_span(3, true, vec![i("http.status_code", 502)]);
        sp.events.push(Event {
            name: "exception".to_owned(),
            attributes: vec![
                s("exception.type", "java.lang.RuntimeException"),
                s("exception.message", "outer"),
                s(
                    "exception.stacktrace",
                    "java.lang.RuntimeException: outer\n\tat a.B.c(B.java:1)\nCaused by: java.io.IOException: inner\n\tat d.E.f(E.java:2)\n\t... 1 more",
                ),
            ],
            ..Default::default()
        });
        let docs = docs_for(
            &[s("telemetry.sdk.language", "java")],
            &sp,
            &crate::exporter::awsxray::translate::TranslateConfig::default(),
        );
        let ex = &docs[0]["cause"]["exceptions"];
        assert_eq!(ex.as_array().map(Vec::len), Some(2));
        assert_eq!(ex[0]["cause"], ex[1]["id"]);
        assert_eq!(ex[0]["remote"], true);
        assert_eq!(ex[1]["type"], "java.io.IOException");
        assert_eq!(ex[1]["stack"][0]["path"], "E.java");
        assert_eq!(docs[0]["fault"], true);
    }
}
