//! Document name (§4) and namespace (§5).

use std::borrow::Cow;

use super::attrs::Attrs;
use super::document::{NAMESPACE_AWS, NAMESPACE_REMOTE};
use super::keys::{Key, KeyTable};
use super::letters::is_letter;
use super::SpanKind;

/// Maximum name length in characters (R-NAME-5).
pub const MAX_NAME_CHARS: usize = 200;
/// Name used when sanitising leaves nothing (R-NAME-5).
pub const FALLBACK_NAME: &str = "span";

/// Whether `c` may appear in a name (R-NAME-4): Unicode letters (category `L*`, from the table
/// in [`super::letters`]), ASCII digits, ASCII space and `_ . : / % & # = + - @`. Non-ASCII
/// digits, combining marks and every other character are removed.
fn allowed(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                ' ' | '_' | '.' | ':' | '/' | '%' | '&' | '#' | '=' | '+' | '-' | '@'
            )
    } else {
        is_letter(c)
    }
}

/// [`allowed`] for every byte: `false` for non-ASCII bytes (those take the `char` path).
static ALLOWED_ASCII: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b' ' | b'_' | b'.' | b':' | b'/' | b'%' | b'&' | b'#' | b'=' | b'+' | b'-' | b'@'
            );
        b += 1;
    }
    t
};

/// Removes disallowed characters (R-NAME-4) and cuts to 200 characters (R-NAME-5, D2).
/// Returns an empty string when nothing is left; borrows when nothing changes.
pub fn sanitize(raw: &str) -> Cow<'_, str> {
    // Fast path: short, all allowed ASCII (at most 200 bytes is at most 200 characters).
    if raw.len() <= MAX_NAME_CHARS && raw.bytes().all(|b| ALLOWED_ASCII[usize::from(b)]) {
        return Cow::Borrowed(raw);
    }
    let mut clean = true;
    for (kept, (idx, c)) in raw.char_indices().enumerate() {
        if !allowed(c) {
            clean = false;
            break;
        }
        if kept == MAX_NAME_CHARS {
            return Cow::Borrowed(raw.get(..idx).unwrap_or(""));
        }
    }
    if clean {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(
        raw.chars()
            .filter(|c| allowed(*c))
            .take(MAX_NAME_CHARS)
            .collect(),
    )
}

/// Inputs of the name computation that are not attributes.
pub(crate) struct NameInput<'a, 'b> {
    pub(crate) kind: SpanKind,
    pub(crate) local_root: bool,
    /// The document is a segment (decides rows 1, 2 and 6, D3).
    pub(crate) is_segment: bool,
    pub(crate) aws_sdk: bool,
    pub(crate) span_name: &'a str,
    pub(crate) resource: &'b KeyTable<'a>,
    pub(crate) attrs: &'b Attrs<'a>,
}

/// The computed name and whether it came from `aws.service` (R-NS-2).
pub(crate) struct Named<'a> {
    pub(crate) name: Cow<'a, str>,
    pub(crate) from_aws_service: bool,
}

/// Removes the AWS SDK prefix of an `aws.remote.service` value (R-NAME-6).
pub fn trim_aws_sdk_prefix(s: &str) -> &str {
    s.strip_prefix("AWS.SDK.")
        .or_else(|| s.strip_prefix("AWS::"))
        .unwrap_or(s)
}

/// `aws.remote.service`, trimmed for AWS SDK spans (R-NAME-6).
pub(crate) fn remote_service<'a>(attrs: &Attrs<'a>, aws_sdk: bool) -> Option<&'a str> {
    let v = attrs.nonempty(Key::AwsRemoteService)?;
    Some(if aws_sdk { trim_aws_sdk_prefix(v) } else { v })
}

/// Host part of a URL-like string: after `scheme://`, without userinfo and port.
fn url_host(s: &str) -> Option<&str> {
    let (_, rest) = s.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(inner) = hostport.strip_prefix('[') {
        inner.split(']').next().unwrap_or("")
    } else {
        hostport.split(':').next().unwrap_or("")
    };
    (!host.is_empty()).then_some(host)
}

/// Row 5: `db.name`/`db.namespace` with `@host` (D1).
fn db_name<'a>(attrs: &Attrs<'a>) -> Option<Cow<'a, str>> {
    let db = attrs
        .nonempty(Key::DbName)
        .or_else(|| attrs.nonempty(Key::DbNamespace))?;
    let host = attrs
        .nonempty(Key::DbConnectionString)
        .and_then(|c| url_host(c.strip_prefix("jdbc:").unwrap_or(c)))
        .or_else(|| attrs.nonempty(Key::ServerAddress));
    Some(match host {
        Some(h) => Cow::Owned(format!("{db}@{h}")),
        None => Cow::Borrowed(db),
    })
}

/// Applies the precedence table of §4.1, sanitising every candidate (D2): the first row that
/// applies and gives a non-empty name wins; then the span name; then [`FALLBACK_NAME`].
pub(crate) fn compute_name<'a>(input: &NameInput<'a, '_>) -> Named<'a> {
    let attrs = input.attrs;
    let kind = input.kind;
    let named = |name: Cow<'a, str>, from_aws_service: bool| -> Option<Named<'a>> {
        let clean = match name {
            Cow::Borrowed(b) => sanitize(b),
            Cow::Owned(o) => Cow::Owned(sanitize(&o).into_owned()),
        };
        (!clean.is_empty()).then_some(Named {
            name: clean,
            from_aws_service,
        })
    };
    let pick = |value: Option<&'a str>| named(Cow::Borrowed(value?), false);

    let segment_like_server = kind == SpanKind::Server
        || (kind == SpanKind::Internal && input.local_root)
        || (kind == SpanKind::Consumer && input.is_segment);
    let remote_row = matches!(kind, SpanKind::Client | SpanKind::Producer)
        || (kind == SpanKind::Consumer && !input.is_segment);
    let service_name_row =
        kind == SpanKind::Server || (kind == SpanKind::Consumer && input.is_segment);

    // Rows in order; a row's lookup only happens when the rows above gave nothing.
    let row1 = || {
        if segment_like_server {
            pick(attrs.nonempty(Key::AwsLocalService))
        } else {
            None
        }
    };
    let row2 = || {
        if remote_row {
            pick(remote_service(attrs, input.aws_sdk))
        } else {
            None
        }
    };
    let row6 = || {
        if service_name_row {
            pick(input.resource.nonempty(Key::ServiceName))
        } else {
            None
        }
    };
    row1()
        .or_else(row2)
        .or_else(|| pick(attrs.nonempty(Key::PeerService)))
        .or_else(|| named(Cow::Borrowed(attrs.nonempty(Key::AwsService)?), true))
        .or_else(|| named(db_name(attrs)?, false))
        .or_else(row6)
        .or_else(|| pick(attrs.nonempty(Key::RpcService)))
        .or_else(|| pick(attrs.nonempty(Key::HttpHost)))
        .or_else(|| pick(attrs.nonempty(Key::NetPeerName)))
        .or_else(|| pick(attrs.nonempty(Key::ServerAddress)))
        .or_else(|| pick(Some(input.span_name)))
        .unwrap_or(Named {
            name: Cow::Borrowed(FALLBACK_NAME),
            from_aws_service: false,
        })
}

/// Namespace before local-root and segment rules (R-NS-1..3).
pub(crate) fn base_namespace(
    aws_sdk: bool,
    from_aws_service: bool,
    kind: SpanKind,
) -> Option<&'static str> {
    if aws_sdk || from_aws_service {
        Some(NAMESPACE_AWS)
    } else if matches!(kind, SpanKind::Client | SpanKind::Producer) {
        Some(NAMESPACE_REMOTE)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};

    fn kv(key: &str, v: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.to_owned())),
            }),
            ..Default::default()
        }
    }

    fn name_of(kind: SpanKind, attrs: &[KeyValue], resource: &[KeyValue], span: &str) -> String {
        let view = Attrs::new(attrs);
        let resource = &KeyTable::new(resource);
        compute_name(&NameInput {
            kind,
            local_root: false,
            is_segment: matches!(kind, SpanKind::Server | SpanKind::Consumer),
            aws_sdk: false,
            span_name: span,
            resource,
            attrs: &view,
        })
        .name
        .into_owned()
    }

    #[test]
    fn sanitize_examples() {
        // R-NAME-4 / R-NAME-5
        assert_eq!(
            sanitize("<subDomain>.example.com,1413"),
            "subDomain.example.com1413"
        );
        assert_eq!(sanitize("<>"), "");
        assert_eq!(
            sanitize("Zürich API @ v2.example.org#EU"),
            "Zürich API @ v2.example.org#EU"
        );
        assert_eq!(sanitize("compute tax (v2) <eu>"), "compute tax v2 eu");
        assert_eq!(sanitize("a\\b\tc\nd—e"), "abcde");
        assert_eq!(sanitize("x٣y"), "xy"); // non-ASCII digit removed
        assert!(matches!(sanitize("plain-name"), Cow::Borrowed(_)));
    }

    #[test]
    fn sanitize_cuts_by_characters() {
        // R-NAME-5 (D2)
        let long = "ü".repeat(250);
        assert_eq!(sanitize(&long).chars().count(), 200);
        let dirty = format!("<{long}>");
        assert_eq!(sanitize(&dirty).chars().count(), 200);
    }

    #[test]
    fn precedence_facts() {
        // R-NAME-1
        let res = [kv("service.name", "svc")];
        assert_eq!(
            name_of(
                SpanKind::Client,
                &[kv("http.host", "foo.com"), kv("net.peer.name", "bar.com")],
                &res,
                "x"
            ),
            "foo.com"
        );
        assert_eq!(
            name_of(
                SpanKind::Client,
                &[
                    kv("net.peer.name", "bar.com"),
                    kv("rpc.service", "com.foo.AnimalService"),
                    kv("http.host", "foo.com")
                ],
                &res,
                "x"
            ),
            "com.foo.AnimalService"
        );
        assert_eq!(
            name_of(
                SpanKind::Client,
                &[kv("aws.service", "s3"), kv("peer.service", "peer")],
                &res,
                "x"
            ),
            "peer"
        );
        assert_eq!(name_of(SpanKind::Server, &[], &res, "x"), "svc");
        assert_eq!(name_of(SpanKind::Client, &[], &res, "x"), "x");
        assert_eq!(name_of(SpanKind::Client, &[], &res, "<>"), "span");
    }

    #[test]
    fn consumer_segment_uses_service_name() {
        // R-NAME-3 (D3)
        let res = [kv("service.name", "svc")];
        assert_eq!(name_of(SpanKind::Consumer, &[], &res, "x"), "svc");
    }

    #[test]
    fn db_name_with_host() {
        // §4.1 row 5 (D1)
        let attrs = [
            kv("db.name", "customers"),
            kv(
                "db.connection_string",
                "jdbc:mysql://u@db.example.com:3306/x",
            ),
        ];
        assert_eq!(
            name_of(SpanKind::Client, &attrs, &[], "x"),
            "customers@db.example.com"
        );
        let attrs = [kv("db.namespace", "orders"), kv("server.address", "pg")];
        assert_eq!(name_of(SpanKind::Client, &attrs, &[], "x"), "orders@pg");
        let attrs = [kv("db.name", "orders")];
        assert_eq!(name_of(SpanKind::Client, &attrs, &[], "x"), "orders");
    }

    #[test]
    fn aws_sdk_prefix() {
        // R-NAME-6
        assert_eq!(trim_aws_sdk_prefix("AWS.SDK.DynamoDb"), "DynamoDb");
        assert_eq!(trim_aws_sdk_prefix("AWS::S3"), "S3");
        assert_eq!(trim_aws_sdk_prefix("inventory"), "inventory");
    }

    #[test]
    fn namespaces() {
        // R-NS-1..3
        assert_eq!(base_namespace(true, false, SpanKind::Server), Some("aws"));
        assert_eq!(base_namespace(false, true, SpanKind::Internal), Some("aws"));
        assert_eq!(
            base_namespace(false, false, SpanKind::Producer),
            Some("remote")
        );
        assert_eq!(base_namespace(false, false, SpanKind::Internal), None);
    }
}
