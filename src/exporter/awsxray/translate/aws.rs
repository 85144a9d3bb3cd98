//! The `aws` object (§10).

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde::{Serialize, Serializer};

use super::attrs::Attrs;
use super::json::{self, key, Arr, Obj, WriteJson};
use super::keys::{Key, KeySet, KeyTable};

/// `aws` (R-AWS-1..4): the members read from the span, then those of its resource.
#[derive(Debug, Clone, Serialize)]
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
    /// `xray`, the platform blocks and `cloudwatch_logs`, shared by every document of the
    /// resource (derived once, [`super::PreparedResource`]).
    #[serde(flatten)]
    pub resource: &'a AwsResource<'a>,
}

/// The members of `aws` that depend only on the resource and the config (R-AWS-2), in
/// document order after the span members. Derived (and written as JSON) once per resource.
#[derive(Debug, Clone, Serialize)]
pub struct AwsResource<'a> {
    /// Resource `cloud.account.id`, the account id of documents whose span has none (written
    /// through [`Aws::account_id`]).
    #[serde(skip)]
    pub account_id: Option<&'a str>,
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
    /// The members above as JSON text (`"xray":{…},…`, never empty), written once when the
    /// resource is prepared: every document of the resource copies them (performance, issue 3).
    #[serde(skip)]
    members_json: String,
}

/// `aws.xray` (R-AWS-2).
#[derive(Debug, Clone, Default, Serialize)]
pub struct XRay<'a> {
    /// `<sdk.name> for <sdk.language>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk: Option<SdkName<'a>>,
    /// `telemetry.sdk.version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_version: Option<&'a str>,
    /// `telemetry.auto.version` / `telemetry.distro.version` set.
    pub auto_instrumentation: bool,
}

/// `aws.xray.sdk`: `name`, followed by ` for <language>` when `language` is set (R-AWS-2).
/// Kept in parts so that the string is only put together while writing the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkName<'a> {
    /// `telemetry.sdk.name`.
    pub name: &'a str,
    /// `telemetry.sdk.language`, unless the name already ends with ` for <language>`.
    pub language: Option<&'a str>,
}

impl Serialize for SdkName<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.language {
            Some(l) => s.collect_str(&format_args!("{} for {l}", self.name)),
            None => s.serialize_str(self.name),
        }
    }
}

impl WriteJson for SdkName<'_> {
    fn write_json(&self, out: &mut String) {
        out.push('"');
        json::str_contents(out, self.name);
        if let Some(l) = self.language {
            out.push_str(" for ");
            json::str_contents(out, l);
        }
        out.push('"');
    }
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

/// Writes `"name":"value"` when `value` is set.
#[inline(always)]
fn opt_str(o: &mut Obj<'_>, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        json::str(o.key(name), v);
    }
}

impl WriteJson for Aws<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        opt_str(&mut o, key!("account_id"), self.account_id);
        opt_str(&mut o, key!("operation"), self.operation);
        opt_str(&mut o, key!("region"), self.region);
        opt_str(&mut o, key!("request_id"), self.request_id);
        opt_str(&mut o, key!("queue_url"), self.queue_url);
        opt_str(&mut o, key!("table_name"), self.table_name);
        if !self.table_names.is_empty() {
            let mut a = Arr::open(o.key(key!("table_names")));
            for t in &self.table_names {
                json::str(a.next(), t);
            }
            a.close();
        }
        o.members(&self.resource.members_json);
        o.close();
    }
}

impl AwsResource<'_> {
    /// Writes the members (`xray` first, so never none) into the open `aws` object.
    fn write_members(&self, o: &mut Obj<'_>) {
        {
            let x = &self.xray;
            let mut xo = Obj::open(o.key(key!("xray")));
            if let Some(sdk) = &x.sdk {
                sdk.write_json(xo.key(key!("sdk")));
            }
            opt_str(&mut xo, key!("sdk_version"), x.sdk_version);
            json::bool(xo.key(key!("auto_instrumentation")), x.auto_instrumentation);
            xo.close();
        }
        if let Some(e) = &self.ec2 {
            let mut eo = Obj::open(o.key(key!("ec2")));
            opt_str(&mut eo, key!("instance_id"), e.instance_id);
            opt_str(&mut eo, key!("availability_zone"), e.availability_zone);
            opt_str(&mut eo, key!("instance_size"), e.instance_size);
            opt_str(&mut eo, key!("ami_id"), e.ami_id);
            eo.close();
        }
        if let Some(e) = &self.ecs {
            let mut eo = Obj::open(o.key(key!("ecs")));
            opt_str(&mut eo, key!("container"), e.container);
            opt_str(&mut eo, key!("container_id"), e.container_id);
            opt_str(&mut eo, key!("task_arn"), e.task_arn);
            opt_str(&mut eo, key!("task_family"), e.task_family);
            opt_str(&mut eo, key!("cluster_arn"), e.cluster_arn);
            opt_str(&mut eo, key!("container_arn"), e.container_arn);
            opt_str(&mut eo, key!("availability_zone"), e.availability_zone);
            opt_str(&mut eo, key!("launch_type"), e.launch_type);
            eo.close();
        }
        if let Some(e) = &self.eks {
            let mut eo = Obj::open(o.key(key!("eks")));
            opt_str(&mut eo, key!("cluster_name"), e.cluster_name);
            opt_str(&mut eo, key!("pod"), e.pod);
            opt_str(&mut eo, key!("container_id"), e.container_id);
            eo.close();
        }
        if let Some(b) = &self.elastic_beanstalk {
            let mut bo = Obj::open(o.key(key!("elastic_beanstalk")));
            opt_str(&mut bo, key!("environment_name"), b.environment_name);
            opt_str(&mut bo, key!("version_label"), b.version_label);
            json::i64(bo.key(key!("deployment_id")), b.deployment_id);
            bo.close();
        }
        if !self.cloudwatch_logs.is_empty() {
            let mut a = Arr::open(o.key(key!("cloudwatch_logs")));
            for l in &self.cloudwatch_logs {
                let mut lo = Obj::open(a.next());
                opt_str(&mut lo, key!("arn"), l.arn);
                json::str(lo.key(key!("log_group")), l.log_group);
                lo.close();
            }
            a.close();
        }
    }
}

/// Whether the resource says the cloud is not AWS (R-AWS-1, R-ORIGIN-1).
pub(crate) fn non_aws_cloud(resource: &KeyTable<'_>) -> bool {
    resource.str(Key::CloudProvider).is_some_and(|p| p != "aws")
}

/// The span attributes read for `aws` (R-AWS-3).
const SPAN_KEYS: KeySet = KeySet::of(&[
    Key::AwsOperation,
    Key::RpcMethod,
    Key::AwsAccountId,
    Key::AwsRegion,
    Key::AwsRequestId,
    Key::AwsRequestIdCamel,
    Key::MessagingUrl,
    Key::AwsQueueUrlUnderscore,
    Key::AwsQueueUrl,
    Key::AwsSqsQueueUrl,
    Key::AwsTableNameUnderscore,
    Key::AwsTableName,
    Key::AwsDynamodbTableNames,
]);

/// The members of `aws` taken from span attributes (R-AWS-3, D10).
#[derive(Default)]
struct SpanMembers<'a> {
    operation: Option<&'a str>,
    region: Option<&'a str>,
    request_id: Option<&'a str>,
    queue_url: Option<&'a str>,
    table_name: Option<&'a str>,
    table_names: Vec<&'a str>,
    account_id: Option<&'a str>,
}

/// Reads and consumes the span-level aws keys.
fn span_members<'a>(attrs: &mut Attrs<'a>) -> SpanMembers<'a> {
    // Most spans have none of them: then there is nothing to read or consume.
    if !attrs.table().may_have_any(SPAN_KEYS) {
        return SpanMembers::default();
    }
    let operation = attrs
        .nonempty(Key::AwsOperation)
        .or_else(|| attrs.nonempty(Key::RpcMethod));
    let region = attrs.nonempty(Key::AwsRegion);
    let request_id = attrs
        .nonempty(Key::AwsRequestId)
        .or_else(|| attrs.nonempty(Key::AwsRequestIdCamel));
    let queue_url = attrs
        .nonempty(Key::MessagingUrl)
        .or_else(|| attrs.nonempty(Key::AwsQueueUrlUnderscore))
        .or_else(|| attrs.nonempty(Key::AwsQueueUrl))
        .or_else(|| attrs.nonempty(Key::AwsSqsQueueUrl));
    let mut table_name = attrs
        .nonempty(Key::AwsTableNameUnderscore)
        .or_else(|| attrs.nonempty(Key::AwsTableName));
    let mut table_names = Vec::new();
    match attrs.value(Key::AwsDynamodbTableNames) {
        Some(Value::ArrayValue(a)) => {
            let mut names = a.values.iter().filter_map(|v| match &v.value {
                Some(Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            });
            // One name (the usual case) needs no list.
            match (names.next(), names.next()) {
                (Some(one), None) => table_name = Some(one),
                (Some(a), Some(b)) => {
                    table_name = None;
                    table_names = [a, b].into_iter().chain(names).collect();
                }
                _ => {}
            }
        }
        Some(Value::StringValue(s)) if !s.is_empty() => table_name = Some(s.as_str()),
        _ => {}
    }
    let account_id = attrs.nonempty(Key::AwsAccountId);
    for key in [
        Key::AwsOperation,
        Key::RpcMethod,
        Key::AwsAccountId,
        Key::AwsRegion,
        Key::AwsRequestId,
        Key::AwsRequestIdCamel,
        Key::AwsQueueUrlUnderscore,
        Key::AwsQueueUrl,
        Key::AwsSqsQueueUrl,
        Key::AwsTableNameUnderscore,
        Key::AwsTableName,
    ] {
        attrs.consume(key);
    }
    SpanMembers {
        operation,
        region,
        request_id,
        queue_url,
        table_name,
        table_names,
        account_id,
    }
}

/// Consumes the span-level aws keys and builds `aws` unless the cloud is not AWS (R-AWS-1..3).
/// `resource` is the resource part from [`AwsResource::new`], `None` for a non-AWS cloud.
pub(crate) fn make_aws<'a>(
    resource: Option<&'a AwsResource<'a>>,
    attrs: &mut Attrs<'a>,
) -> Option<Aws<'a>> {
    let SpanMembers {
        operation,
        region,
        request_id,
        queue_url,
        table_name,
        table_names,
        account_id: account_override,
    } = span_members(attrs);
    let resource = resource?;
    Some(Aws {
        account_id: account_override.or(resource.account_id),
        operation,
        region,
        request_id,
        queue_url,
        table_name,
        table_names,
        resource,
    })
}

impl<'a> AwsResource<'a> {
    /// The resource part of `aws`, `None` when the resource says the cloud is not AWS
    /// (R-AWS-1, R-AWS-2). `config_log_groups` is the `aws_log_groups` option.
    pub(crate) fn new(resource: &KeyTable<'a>, config_log_groups: &'a [String]) -> Option<Self> {
        if non_aws_cloud(resource) {
            return None;
        }
        let platform = resource.str(Key::CloudPlatform).unwrap_or("");
        let r = |k: Key| resource.nonempty(k);

        // R-SHAPE-3 / D14: a block whose members are all missing is omitted, not `{}`.
        let ec2 = (platform == "aws_ec2" || r(Key::HostId).is_some())
            .then(|| Ec2 {
                instance_id: r(Key::HostId),
                availability_zone: r(Key::CloudAvailabilityZone),
                instance_size: r(Key::HostType),
                ami_id: r(Key::HostImageId),
            })
            .filter(|e| {
                e.instance_id.is_some()
                    || e.availability_zone.is_some()
                    || e.instance_size.is_some()
                    || e.ami_id.is_some()
            });
        let ecs = (platform == "aws_ecs")
            .then(|| Ecs {
                container: r(Key::ContainerName),
                container_id: r(Key::ContainerId),
                task_arn: r(Key::AwsEcsTaskArn),
                task_family: r(Key::AwsEcsTaskFamily),
                cluster_arn: r(Key::AwsEcsClusterArn),
                container_arn: r(Key::AwsEcsContainerArn),
                availability_zone: r(Key::CloudAvailabilityZone),
                launch_type: r(Key::AwsEcsLaunchtype),
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
        let eks = (platform == "aws_eks" || r(Key::K8sClusterName).is_some())
            .then(|| Eks {
                cluster_name: r(Key::K8sClusterName),
                pod: r(Key::K8sPodName),
                container_id: r(Key::ContainerId),
            })
            .filter(|e| e.cluster_name.is_some() || e.pod.is_some() || e.container_id.is_some());
        let elastic_beanstalk = match r(Key::ServiceInstanceId) {
            Some(id) if platform == "aws_elastic_beanstalk" => Some(Beanstalk {
                environment_name: r(Key::ServiceNamespace),
                version_label: r(Key::ServiceVersion),
                deployment_id: id.trim().parse().unwrap_or(0),
            }),
            _ => None,
        };
        let mut aws = Self {
            account_id: r(Key::CloudAccountId),
            xray: xray(resource),
            ec2,
            ecs,
            eks,
            elastic_beanstalk,
            cloudwatch_logs: log_groups(resource, config_log_groups),
            members_json: String::new(),
        };
        // Written as a whole object, then kept without its braces.
        let mut json = String::with_capacity(128);
        let mut o = Obj::open(&mut json);
        aws.write_members(&mut o);
        o.close();
        json.pop();
        json.remove(0);
        aws.members_json = json;
        Some(aws)
    }
}

/// `aws.xray` from the resource (R-AWS-2).
fn xray<'a>(resource: &KeyTable<'a>) -> XRay<'a> {
    let name = resource.nonempty(Key::TelemetrySdkName);
    let lang = resource.nonempty(Key::TelemetrySdkLanguage);
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
            Some(SdkName {
                name: n,
                language: (!already).then_some(l),
            })
        }
        (Some(n), None) => Some(SdkName {
            name: n,
            language: None,
        }),
        _ => None,
    };
    XRay {
        sdk,
        sdk_version: resource.nonempty(Key::TelemetrySdkVersion),
        auto_instrumentation: resource.nonempty(Key::TelemetryAutoVersion).is_some()
            || resource.nonempty(Key::TelemetryDistroVersion).is_some(),
    }
}

/// Items of a string-array or `&`-separated string attribute (R-AWS-2).
fn items<'a>(resource: &KeyTable<'a>, key: Key) -> Vec<&'a str> {
    match resource.find(key) {
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
fn log_groups<'a>(resource: &KeyTable<'a>, config: &'a [String]) -> Vec<LogGroup<'a>> {
    let arns = items(resource, Key::AwsLogGroupArns);
    if !arns.is_empty() {
        return arns
            .into_iter()
            .map(|arn| LogGroup {
                arn: Some(arn),
                log_group: log_group_from_arn(arn),
            })
            .collect();
    }
    let names = items(resource, Key::AwsLogGroupNames);
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
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};

    /// `aws` of a span under `resource`; the resource part is leaked to outlive the result
    /// (tests only).
    fn make_aws<'a>(
        resource: &'a [KeyValue],
        attrs: &mut Attrs<'a>,
        config_log_groups: &'a [String],
    ) -> Option<Aws<'a>> {
        let part = AwsResource::new(&KeyTable::new(resource), config_log_groups);
        super::make_aws(part.map(|p| &*Box::leak(Box::new(p))), attrs)
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
        assert_eq!(aws.map(|a| a.resource.cloudwatch_logs.len()), Some(1));
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
