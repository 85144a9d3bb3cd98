//! The `aws` object (§10).

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use serde::Serialize;

use super::attrs::Attrs;
use super::value::{find, find_nonempty, find_str};

/// `aws` (R-AWS-1..4).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Aws<'a> {
    /// Account id (resource `cloud.account.id`, span `aws.account_id` wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<&'a str>,
    /// `aws.operation`, else `rpc.method`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<&'a str>,
    /// `aws.region`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'a str>,
    /// `aws.request_id` / `aws.requestId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
    /// Queue URL (R-AWS-3, D10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<&'a str>,
    /// Single DynamoDB table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_name: Option<&'a str>,
    /// Several DynamoDB tables.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub table_names: Vec<&'a str>,
    /// SDK information; always written.
    pub xray: XRay<'a>,
    /// EC2 host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec2: Option<Ec2<'a>>,
    /// ECS task/container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs: Option<Ecs<'a>>,
    /// EKS pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eks: Option<Eks<'a>>,
    /// Elastic Beanstalk environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elastic_beanstalk: Option<Beanstalk<'a>>,
    /// Log groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cloudwatch_logs: Vec<LogGroup<'a>>,
}

/// `aws.xray` (R-AWS-2).
#[derive(Debug, Clone, Default, Serialize)]
pub struct XRay<'a> {
    /// `<sdk.name> for <sdk.language>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk: Option<Cow<'a, str>>,
    /// `telemetry.sdk.version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_version: Option<&'a str>,
    /// `telemetry.auto.version` / `telemetry.distro.version` set.
    pub auto_instrumentation: bool,
}

/// `aws.ec2` (members omitted when empty, D14).
#[derive(Debug, Clone, Serialize)]
pub struct Ec2<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    availability_zone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_size: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ami_id: Option<&'a str>,
}

/// `aws.ecs`.
#[derive(Debug, Clone, Serialize)]
pub struct Ecs<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_family: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    availability_zone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    launch_type: Option<&'a str>,
}

/// `aws.eks`.
#[derive(Debug, Clone, Serialize)]
pub struct Eks<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pod: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container_id: Option<&'a str>,
}

/// `aws.elastic_beanstalk`.
#[derive(Debug, Clone, Serialize)]
pub struct Beanstalk<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    environment_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_label: Option<&'a str>,
    deployment_id: i64,
}

/// One `aws.cloudwatch_logs` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogGroup<'a> {
    /// Log group ARN (only from `aws.log.group.arns`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<&'a str>,
    /// Log group name.
    pub log_group: &'a str,
}

/// Whether the resource says the cloud is not AWS (R-AWS-1, R-ORIGIN-1).
pub(crate) fn non_aws_cloud(resource: &[KeyValue]) -> bool {
    find_str(resource, "cloud.provider").is_some_and(|p| p != "aws")
}

/// Consumes the span-level aws keys and builds `aws` unless the cloud is not AWS (R-AWS-1..3).
pub(crate) fn make_aws<'a>(
    resource: &'a [KeyValue],
    attrs: &mut Attrs<'a>,
    config_log_groups: &'a [String],
) -> Option<Aws<'a>> {
    let operation = attrs
        .nonempty("aws.operation")
        .or_else(|| attrs.nonempty("rpc.method"));
    let region = attrs.nonempty("aws.region");
    let request_id = attrs
        .nonempty("aws.request_id")
        .or_else(|| attrs.nonempty("aws.requestId"));
    let queue_url = attrs
        .nonempty("messaging.url")
        .or_else(|| attrs.nonempty("aws.queue_url"))
        .or_else(|| attrs.nonempty("aws.queue.url"))
        .or_else(|| attrs.nonempty("aws.sqs.queue.url"));
    let mut table_name = attrs
        .nonempty("aws.table_name")
        .or_else(|| attrs.nonempty("aws.table.name"));
    let mut table_names = Vec::new();
    match attrs.value("aws.dynamodb.table_names") {
        Some(Value::ArrayValue(a)) => {
            let names: Vec<&str> = a
                .values
                .iter()
                .filter_map(|v| match &v.value {
                    Some(Value::StringValue(s)) => Some(s.as_str()),
                    _ => None,
                })
                .collect();
            if names.len() == 1 {
                table_name = names.first().copied();
            } else if names.len() > 1 {
                table_name = None;
                table_names = names;
            }
        }
        Some(Value::StringValue(s)) if !s.is_empty() => table_name = Some(s.as_str()),
        _ => {}
    }
    let account_override = attrs.nonempty("aws.account_id");
    for key in [
        "aws.operation",
        "rpc.method",
        "aws.account_id",
        "aws.region",
        "aws.request_id",
        "aws.requestId",
        "aws.queue_url",
        "aws.queue.url",
        "aws.sqs.queue.url",
        "aws.table_name",
        "aws.table.name",
    ] {
        attrs.consume(key);
    }
    if non_aws_cloud(resource) {
        return None;
    }
    let platform = find_str(resource, "cloud.platform").unwrap_or("");
    let r = |k: &str| find_nonempty(resource, k);

    // R-SHAPE-3 / D14: a block whose members are all missing is omitted, not `{}`.
    let ec2 = (platform == "aws_ec2" || r("host.id").is_some())
        .then(|| Ec2 {
            instance_id: r("host.id"),
            availability_zone: r("cloud.availability_zone"),
            instance_size: r("host.type"),
            ami_id: r("host.image.id"),
        })
        .filter(|e| {
            e.instance_id.is_some()
                || e.availability_zone.is_some()
                || e.instance_size.is_some()
                || e.ami_id.is_some()
        });
    let ecs = (platform == "aws_ecs")
        .then(|| Ecs {
            container: r("container.name"),
            container_id: r("container.id"),
            task_arn: r("aws.ecs.task.arn"),
            task_family: r("aws.ecs.task.family"),
            cluster_arn: r("aws.ecs.cluster.arn"),
            container_arn: r("aws.ecs.container.arn"),
            availability_zone: r("cloud.availability_zone"),
            launch_type: r("aws.ecs.launchtype"),
        })
        .filter(|e| {
            [
                e.container,
                e.container_id,
                e.task_arn,
                e.task_family,
                e.cluster_arn,
                e.container_arn,
                e.availability_zone,
                e.launch_type,
            ]
            .iter()
            .any(Option::is_some)
        });
    let eks = (platform == "aws_eks" || r("k8s.cluster.name").is_some())
        .then(|| Eks {
            cluster_name: r("k8s.cluster.name"),
            pod: r("k8s.pod.name"),
            container_id: r("container.id"),
        })
        .filter(|e| e.cluster_name.is_some() || e.pod.is_some() || e.container_id.is_some());
    let elastic_beanstalk = match r("service.instance.id") {
        Some(id) if platform == "aws_elastic_beanstalk" => Some(Beanstalk {
            environment_name: r("service.namespace"),
            version_label: r("service.version"),
            deployment_id: id.trim().parse().unwrap_or(0),
        }),
        _ => None,
    };

    Some(Aws {
        account_id: account_override.or_else(|| r("cloud.account.id")),
        operation,
        region,
        request_id,
        queue_url,
        table_name,
        table_names,
        xray: xray(resource),
        ec2,
        ecs,
        eks,
        elastic_beanstalk,
        cloudwatch_logs: log_groups(resource, config_log_groups),
    })
}

/// `aws.xray` from the resource (R-AWS-2).
fn xray(resource: &[KeyValue]) -> XRay<'_> {
    let name = find_nonempty(resource, "telemetry.sdk.name");
    let lang = find_nonempty(resource, "telemetry.sdk.language");
    let sdk = match (name, lang) {
        (Some(n), Some(l)) => {
            // Already ends with ` for <language>` (any case)?
            let already = n
                .len()
                .checked_sub(l.len() + 5)
                .and_then(|at| n.get(at..))
                .and_then(|end| end.get(..5).zip(end.get(5..)))
                .is_some_and(|(sep, lang)| {
                    sep.eq_ignore_ascii_case(" for ") && lang.eq_ignore_ascii_case(l)
                });
            Some(if already {
                Cow::Borrowed(n)
            } else {
                let mut sdk = String::with_capacity(n.len() + 5 + l.len());
                sdk.push_str(n);
                sdk.push_str(" for ");
                sdk.push_str(l);
                Cow::Owned(sdk)
            })
        }
        (Some(n), None) => Some(Cow::Borrowed(n)),
        _ => None,
    };
    XRay {
        sdk,
        sdk_version: find_nonempty(resource, "telemetry.sdk.version"),
        auto_instrumentation: find_nonempty(resource, "telemetry.auto.version").is_some()
            || find_nonempty(resource, "telemetry.distro.version").is_some(),
    }
}

/// Items of a string-array or `&`-separated string attribute (R-AWS-2).
fn items<'a>(resource: &'a [KeyValue], key: &str) -> Vec<&'a str> {
    match find(resource, key) {
        Some(Value::ArrayValue(a)) => a
            .values
            .iter()
            .filter_map(|v| match &v.value {
                Some(Value::StringValue(s)) if !s.is_empty() => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        Some(Value::StringValue(s)) => s.split('&').filter(|p| !p.is_empty()).collect(),
        _ => Vec::new(),
    }
}

/// The log-group name inside a log-group ARN: the 7th `:`-separated field (R-AWS-2).
pub fn log_group_from_arn(arn: &str) -> &str {
    arn.split(':').nth(6).unwrap_or(arn)
}

/// `aws.cloudwatch_logs` (R-AWS-2).
fn log_groups<'a>(resource: &'a [KeyValue], config: &'a [String]) -> Vec<LogGroup<'a>> {
    let arns = items(resource, "aws.log.group.arns");
    if !arns.is_empty() {
        return arns
            .into_iter()
            .map(|arn| LogGroup {
                arn: Some(arn),
                log_group: log_group_from_arn(arn),
            })
            .collect();
    }
    let names = items(resource, "aws.log.group.names");
    if !names.is_empty() {
        return names
            .into_iter()
            .map(|log_group| LogGroup {
                arn: None,
                log_group,
            })
            .collect();
    }
    config
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| LogGroup {
            arn: None,
            log_group: s.as_str(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue};

    fn s(key: &str, v: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.to_owned())),
            }),
            ..Default::default()
        }
    }
    fn arr(key: &str, vs: &[&str]) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::ArrayValue(ArrayValue {
                    values: vs
                        .iter()
                        .map(|v| AnyValue {
                            value: Some(Value::StringValue((*v).to_owned())),
                        })
                        .collect(),
                })),
            }),
            ..Default::default()
        }
    }

    fn json(resource: &[KeyValue], span: &[KeyValue]) -> String {
        super::super::test_support::whole_span_docs(
            crate::exporter::awsxray::translate::SpanKind::Client,
            resource,
            span,
        );
        let mut attrs = Attrs::new(span);
        let aws = make_aws(resource, &mut attrs, &[]);
        serde_json::to_string(&aws).unwrap_or_default()
    }

    #[test]
    fn non_aws_cloud_no_object_but_consumed() {
        // R-AWS-1
        let span = [s("aws.region", "x")];
        let mut attrs = Attrs::new(&span);
        let res = [s("cloud.provider", "gcp")];
        assert!(make_aws(&res, &mut attrs, &[]).is_none());
        assert_eq!(attrs.live().count(), 0);
    }

    #[test]
    fn sdk_string() {
        // R-AWS-2
        let j = json(
            &[
                s("telemetry.sdk.name", "opentelemetry for Java"),
                s("telemetry.sdk.language", "java"),
            ],
            &[],
        );
        assert!(j.contains(r#""sdk":"opentelemetry for Java""#));
        assert!(j.contains(r#""auto_instrumentation":false"#));
        let j = json(&[s("telemetry.auto.version", "1")], &[]);
        assert!(j.contains(r#""auto_instrumentation":true"#));
    }

    #[test]
    fn log_groups_precedence() {
        // R-AWS-2
        let arn = "arn:aws:logs:us-east-1:123:log-group:app:*";
        let j = json(
            &[
                s("aws.log.group.arns", arn),
                arr("aws.log.group.names", &["n"]),
            ],
            &[],
        );
        assert!(j.contains(r#""cloudwatch_logs":[{"arn":"arn:aws:logs:us-east-1:123:log-group:app:*","log_group":"app"}]"#));
        let j = json(&[s("aws.log.group.names", "a&&b")], &[]);
        assert!(j.contains(r#"[{"log_group":"a"},{"log_group":"b"}]"#));
        assert_eq!(log_group_from_arn("short:arn"), "short:arn");
        let mut attrs = Attrs::new(&[]);
        let cfg = vec!["cfg".to_owned()];
        let aws = make_aws(&[], &mut attrs, &cfg);
        assert_eq!(aws.map(|a| a.cloudwatch_logs.len()), Some(1));
    }

    #[test]
    fn span_members_and_overrides() {
        // R-AWS-3 (D10)
        let j = json(
            &[s("cloud.account.id", "1")],
            &[
                s("aws.account_id", "2"),
                s("rpc.method", "M"),
                s("aws.sqs.queue.url", "q"),
                arr("aws.dynamodb.table_names", &["a", "b"]),
                s("aws.table_name", "t"),
            ],
        );
        assert!(j.contains(r#""account_id":"2""#));
        assert!(j.contains(r#""operation":"M""#));
        assert!(j.contains(r#""queue_url":"q""#));
        assert!(j.contains(r#""table_names":["a","b"]"#));
        assert!(!j.contains("table_name\""));
    }

    #[test]
    fn platforms() {
        // R-AWS-2
        let j = json(
            &[
                s("cloud.platform", "aws_elastic_beanstalk"),
                s("service.instance.id", "23"),
                s("service.namespace", "env"),
                s("k8s.cluster.name", "c"),
            ],
            &[],
        );
        assert!(j.contains(r#""elastic_beanstalk":{"environment_name":"env","deployment_id":23}"#));
        assert!(j.contains(r#""eks":{"cluster_name":"c"}"#));
        assert!(!j.contains("ec2"));
    }
}
