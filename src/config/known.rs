//! Component types of the OpenTelemetry Collector (core and contrib, plus the ADOT and upstream
//! Lambda layers' own), to tell "exists in the collector but not in otlp-xray" from "unknown"
//! (a typo, or a component of some other distribution).
//!
//! The lists hold the type names written in configs (`tail_sampling`, not the Go module name
//! `tailsamplingprocessor`), from the collector-contrib component folders and their
//! `metadata.yaml` `type`, including recently removed or renamed ones that old configs still
//! use (`logging`, `jaeger` exporter, `memory_ballast`). A type missing here only makes the
//! message less specific; it never changes whether a config loads.

/// Receiver types.
pub(crate) const RECEIVERS: &[&str] = &[
    "activedirectoryds",
    "aerospike",
    "apache",
    "apachespark",
    "awscloudwatch",
    "awscontainerinsightreceiver",
    "awsecscontainermetrics",
    "awsfirehose",
    "awss3",
    "awsxray",
    "azureblob",
    "azureeventhub",
    "azuremonitor",
    "bigip",
    "carbon",
    "chrony",
    "cloudflare",
    "cloudfoundry",
    "collectd",
    "couchdb",
    "datadog",
    "docker_stats",
    "elasticsearch",
    "envoyals",
    "expvar",
    "faro",
    "filelog",
    "filestats",
    "flinkmetrics",
    "fluentforward",
    "github",
    "gitlab",
    "googlecloudmonitoring",
    "googlecloudpubsub",
    "googlecloudspanner",
    "haproxy",
    "hostmetrics",
    "httpcheck",
    "huaweicloudces",
    "iis",
    "influxdb",
    "jaeger",
    "jmx",
    "journald",
    "k8s_cluster",
    "k8s_events",
    "k8sobjects",
    "kafka",
    "kafkametrics",
    "kubeletstats",
    "libhoney",
    "loki",
    "memcached",
    "mongodb",
    "mongodbatlas",
    "mysql",
    "namedpipe",
    "netflow",
    "nginx",
    "nop",
    "nsxt",
    "ntp",
    "opencensus",
    "oracledb",
    "osquery",
    "otelarrow",
    "otlp",
    "otlpjsonfile",
    "podman_stats",
    "postgresql",
    "prometheus",
    "prometheus_simple",
    "prometheusremotewrite",
    "pulsar",
    "purefa",
    "purefb",
    "rabbitmq",
    "receiver_creator",
    "redis",
    "riak",
    "saphana",
    "sapm",
    "signalfx",
    "skywalking",
    "snmp",
    "snowflake",
    "solace",
    "splunk_hec",
    "splunkenterprise",
    "sqlquery",
    "sqlserver",
    "sshcheck",
    "statsd",
    "syslog",
    "systemd",
    "tcpcheck",
    "tcplog",
    "telemetryapi",
    "tlscheck",
    "udplog",
    "vcenter",
    "wavefront",
    "webhookevent",
    "windowseventlog",
    "windowsperfcounters",
    "zipkin",
    "zookeeper",
];

/// Processor types.
pub(crate) const PROCESSORS: &[&str] = &[
    "attributes",
    "batch",
    "coldstart",
    "cumulativetodelta",
    "decouple",
    "deltatocumulative",
    "deltatorate",
    "dnslookup",
    "experimental_metricsgeneration",
    "filter",
    "geoip",
    "groupbyattrs",
    "groupbytrace",
    "interval",
    "isolationforest",
    "k8sattributes",
    "logdedup",
    "logstransform",
    "memory_limiter",
    "metricsgeneration",
    "metricstarttime",
    "metricstransform",
    "probabilistic_sampler",
    "redaction",
    "remotetap",
    "resource",
    "resourcedetection",
    "routing",
    "schema",
    "servicegraph",
    "span",
    "spanmetrics",
    "sumologic",
    "tail_sampling",
    "transform",
    "unroll",
];

/// Exporter types.
pub(crate) const EXPORTERS: &[&str] = &[
    "alertmanager",
    "alibabacloud_logservice",
    "awscloudwatchlogs",
    "awsemf",
    "awskinesis",
    "awss3",
    "awsxray",
    "azureblob",
    "azuredataexplorer",
    "azuremonitor",
    "bmchelix",
    "carbon",
    "cassandra",
    "clickhouse",
    "coralogix",
    "datadog",
    "dataset",
    "debug",
    "doris",
    "dynatrace",
    "elasticsearch",
    "faro",
    "file",
    "googlecloud",
    "googlecloudpubsub",
    "googlecloudstorage",
    "googlemanagedprometheus",
    "honeycombmarker",
    "influxdb",
    "instana",
    "jaeger",
    "jaeger_thrift",
    "kafka",
    "kinetica",
    "loadbalancing",
    "logging",
    "logicmonitor",
    "logzio",
    "loki",
    "mezmo",
    "nop",
    "opencensus",
    "opensearch",
    "otelarrow",
    "otlp",
    "otlp_grpc",
    "otlp_http",
    "otlphttp",
    "prometheus",
    "prometheusremotewrite",
    "pulsar",
    "rabbitmq",
    "sapm",
    "sematext",
    "sentry",
    "signalfx",
    "splunk_hec",
    "stef",
    "sumologic",
    "syslog",
    "tencentcloud_logservice",
    "tinybird",
    "zipkin",
];

/// Extension types.
pub(crate) const EXTENSIONS: &[&str] = &[
    "ack",
    "asapclient",
    "avro_log_encoding",
    "aws_logs_encoding",
    "awscloudwatchmetricstreams_encoding",
    "awsproxy",
    "azureauth",
    "basicauth",
    "bearertokenauth",
    "cgroupruntime",
    "datadog",
    "db_storage",
    "docker_observer",
    "ecs_observer",
    "ecs_task_observer",
    "file_storage",
    "googleclientauth",
    "googlecloudlogentry_encoding",
    "headers_setter",
    "health_check",
    "healthcheckv2",
    "host_observer",
    "http_forwarder",
    "jaeger_encoding",
    "jaegerremotesampling",
    "json_log_encoding",
    "k8s_leader_elector",
    "k8s_observer",
    "memory_ballast",
    "memory_limiter",
    "oauth2client",
    "oidc",
    "opamp",
    "otlp_encoding",
    "pprof",
    "redis_storage",
    "remotetap",
    "sigv4auth",
    "solarwindsapmsettings",
    "storage",
    "sumologic",
    "text_encoding",
    "zipkin_encoding",
    "zpages",
];

/// The known types of a config section (`receivers`, `processors`, `exporters`,
/// `extensions`).
pub(crate) fn types_of(section: &str) -> &'static [&'static str] {
    match section {
        "receivers" => RECEIVERS,
        "processors" => PROCESSORS,
        "exporters" => EXPORTERS,
        "extensions" => EXTENSIONS,
        _ => &[],
    }
}

/// Whether `ty` is a component type of the OpenTelemetry Collector in `section`.
pub(crate) fn is_collector_component(section: &str, ty: &str) -> bool {
    types_of(section).contains(&ty)
}

/// What to do instead, for the unsupported components Lambda users most often bring.
pub(crate) fn hint(section: &str, ty: &str) -> Option<&'static str> {
    Some(match (section, ty) {
        ("processors", "tail_sampling" | "probabilistic_sampler") => {
            "sample in the function's SDK instead (OTEL_TRACES_SAMPLER, e.g. \
             parentbased_traceidratio)"
        }
        ("processors", "filter" | "transform" | "span" | "redaction") => {
            "shape spans in the function's SDK (a span processor) instead"
        }
        ("processors", "resourcedetection" | "coldstart") => {
            "the SDK's Lambda resource detector (OTEL_RESOURCE_ATTRIBUTES, the AWS Lambda \
             detector) adds the same resource attributes"
        }
        ("exporters", "jaeger" | "jaeger_thrift") => {
            "Jaeger accepts OTLP: use the `otlp` exporter with the collector's OTLP port \
             (4317)"
        }
        ("exporters", "zipkin") => "send OTLP instead if the backend accepts it",
        ("exporters", "logging") => "`logging` is the old name of `debug`",
        ("receivers", "jaeger" | "zipkin" | "opencensus") => {
            "have the function's SDK export OTLP to localhost:4317 or localhost:4318"
        }
        ("extensions", "basicauth" | "bearertokenauth" | "headers_setter" | "oauth2client") => {
            "set the credential in the exporter's `headers` instead (e.g. `Authorization: \
             Bearer ${env:TOKEN}`)"
        }
        ("extensions", "memory_ballast") => {
            "the collector itself removed memory_ballast; delete it from the config"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_unique_and_valid_type_names() {
        for list in [RECEIVERS, PROCESSORS, EXPORTERS, EXTENSIONS] {
            for w in list.windows(2) {
                assert!(w[0] < w[1], "{} / {}", w[0], w[1]);
            }
            for t in list {
                assert!(
                    t.starts_with(|c: char| c.is_ascii_lowercase())
                        && t.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{t}"
                );
            }
        }
        assert!(is_collector_component("processors", "tail_sampling"));
        assert!(is_collector_component("exporters", "kafka"));
        assert!(is_collector_component("receivers", "jaeger"));
        assert!(!is_collector_component("exporters", "awsxrey"));
    }
}
