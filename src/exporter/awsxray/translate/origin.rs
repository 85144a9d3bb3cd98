//! `origin` from resource attributes (§7).

use super::aws::non_aws_cloud;
use super::keys::{Key, KeyTable};

/// The origin of a document, or `None` (R-ORIGIN-1..3). `lambda_origin` is the D4 option;
/// `resource` holds the resource attributes (none: no origin).
pub(crate) fn make_origin<'a>(
    resource: &KeyTable<'a>,
    lambda_origin: Option<&'a str>,
) -> Option<&'a str> {
    if non_aws_cloud(resource) {
        return None;
    }
    match resource.str(Key::CloudPlatform)? {
        "aws_ec2" => Some("AWS::EC2::Instance"),
        "aws_ecs" => Some(match resource.str(Key::AwsEcsLaunchtype) {
            Some("ec2") => "AWS::ECS::EC2",
            Some("fargate") => "AWS::ECS::Fargate",
            _ => "AWS::ECS::Container",
        }),
        "aws_eks" => Some("AWS::EKS::Container"),
        "aws_elastic_beanstalk" => Some("AWS::ElasticBeanstalk::Environment"),
        "aws_app_runner" => Some("AWS::AppRunner::Service"),
        "aws_lambda" => lambda_origin.filter(|o| !o.is_empty()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};

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
    fn platform_table() {
        // R-ORIGIN-2
        let o = |r: &[KeyValue]| make_origin(&KeyTable::new(r), None).map(str::to_owned);
        assert_eq!(
            o(&[s("cloud.platform", "aws_ec2")]).as_deref(),
            Some("AWS::EC2::Instance")
        );
        assert_eq!(
            o(&[
                s("cloud.platform", "aws_ecs"),
                s("aws.ecs.launchtype", "fargate")
            ])
            .as_deref(),
            Some("AWS::ECS::Fargate")
        );
        assert_eq!(
            o(&[s("cloud.platform", "aws_ecs")]).as_deref(),
            Some("AWS::ECS::Container")
        );
        assert_eq!(
            o(&[s("cloud.provider", "gcp"), s("cloud.platform", "aws_ec2")]),
            None
        ); // R-ORIGIN-1
        assert_eq!(o(&[s("cloud.platform", "aws_lambda")]), None);
        assert_eq!(make_origin(&KeyTable::new(&[]), Some("x")), None);
    }

    #[test]
    fn lambda_origin_option() {
        // R-ORIGIN-3 (D4)
        let r = [s("cloud.platform", "aws_lambda")];
        assert_eq!(
            make_origin(&KeyTable::new(&r), Some("AWS::Lambda::Function")),
            Some("AWS::Lambda::Function")
        );
    }
}
