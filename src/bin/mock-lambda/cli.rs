//! Command-line arguments, parsed by hand (no clap: the mock is a test tool).

use crate::faults::{parse_fault, Fault, FaultSpec};
use crate::quirks::TelemetryQuirks;
use anyhow::{anyhow, bail, Context, Result};
use std::path::PathBuf;

/// Default of `--xray-endpoint-env`.
pub const DEFAULT_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_XRAY";
/// Values `--initialization-type` accepts (Telemetry API `initializationType`).
pub const INITIALIZATION_TYPES: [&str; 4] = [
    "on-demand",
    "provisioned-concurrency",
    "snap-start",
    MANAGED_INSTANCES,
];
/// The Lambda Managed Instances initialization type.
pub const MANAGED_INSTANCES: &str = "lambda-managed-instances";

/// Usage text printed by `--help` and after an argument error.
pub const USAGE: &str = "\
mock-lambda: a local AWS Lambda stand-in for testing Lambda extensions

USAGE:
  mock-lambda --extension <path> --function <path> [options]

OPTIONS:
  --extension <path>        extension executable (its file name is the expected
                            Lambda-Extension-Name)
  --function <path>         function executable, run once per invocation
  --function-arg <arg>      argument for the function (repeatable)
  --invocations <N>         number of invocations (default 5)
  --protocol <http|grpc>    OTLP protocol the function uses (default http)
  --config <path>           collector config, passed to the extension as
                            OPENTELEMETRY_COLLECTOR_CONFIG_URI
  --env <K=V>               extra environment for the extension (repeatable)
  --timeout-ms <N>          function timeout in ms (default 3000)
  --freeze-ms <N>           wait N ms between invocations (and after the last,
                            before SHUTDOWN) with the extension frozen (SIGSTOP)
                            (default 20; 0 = no gap, never freeze)
  --invocation-gap-ms <N>   the same setting as --freeze-ms (the gap between
                            invocations is the freeze); the last one given wins
  --function-sleep-ms <N>   pass MOCK_FUNCTION_SLEEP_MS=N to the function (the demo
                            function sleeps that long inside its SERVER span)
  --initialization-type <t> AWS_LAMBDA_INITIALIZATION_TYPE for the extension and
                            initializationType of the platform.init* records:
                            on-demand (default), provisioned-concurrency,
                            snap-start, lambda-managed-instances. With
                            lambda-managed-instances the environment is never
                            frozen (the gap is still waited).
                            An extension that does not register for INVOKE (as
                            with lambda-managed-instances) gets no INVOKE events:
                            invocations still run, and 'received before /next'
                            means received by the function's end + 100 ms
  --xray-fault <spec>       inject an X-Ray endpoint fault (repeatable; applied in
                            the order given, then normal service):
                              500:N / 503:N  next N calls: HTTP 500 InternalFailure
                                             / 503 ServiceUnavailableException
                              429:N          next N calls: HTTP 429
                                             ThrottledException 'Rate exceeded'
                              unprocessed:N  next N calls: 200, every document in
                                             UnprocessedTraceSegments, ErrorCode
                                             ThrottledException; none recorded
                              invalid:N      the same with ErrorCode InvalidSegment
                              slow:<ms>:N    next N calls: recorded on arrival,
                                             answered <ms> later
                              hang:N         next N calls: read, never answered
                              down:<ms>      refuse connections (listener and open
                                             connections closed) for <ms>, starting
                                             when it is next in line but not before
                                             the first invocation starts
                            faults apply to PutTraceSegments only, not to
                            --daemon-udp; report: xray_faults_injected,
                            xray_fault_log, xray_duplicates, lost_spans, ...
  --xray-fail-first <N>     alias of --xray-fault 500:N
  --xray-count-only         load tests: the X-Ray endpoint verifies and answers every
                            call as usual but only counts the documents and their
                            spans (report: xray_extension_documents/_spans) instead
                            of keeping them; no per-span accounting, no trees. The
                            function gets MOCK_XRAY_COUNT_ONLY=1 (examples/loadgen
                            then prints no SPAN lines)
  --xray-probe <N>          after the last invocation (extension still frozen),
                            replay the extension's last accepted PutTraceSegments
                            call N times from the mock's own client over one
                            kept-alive connection: the endpoint's own round trip
                            (report: xray_probe_rtt_ms)
  --xray-endpoint-env <NAME> environment variable that carries the X-Ray endpoint
                            URL to the extension (default AWS_ENDPOINT_URL_XRAY;
                            e.g. AWS_ENDPOINT_URL)
  --daemon-udp              also run an X-Ray daemon on UDP 127.0.0.1:<port> and
                            pass AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:<port> to the
                            extension
  --lambda-segments         emulate Lambda active tracing: record Lambda's own
                            AWS::Lambda and AWS::Lambda::Function segments for each
                            invocation (source lambda in the report; never
                            counted as spans)
  --telemetry-quirk <q>     Telemetry API oddity (repeatable):
                              duplicate-runtime-done  each runtimeDone sent twice
                              missing-runtime-done:K  no runtimeDone for
                                                      invocation K (1-based)
                              late-runtime-done       runtimeDone sent after
                                                      platform.report, same batch
                              unknown-events          platform.futureThing events
                                                      with odd records
                              string-logs             function/extension log
                                                      records as strings, even if
                                                      not subscribed
                              object-logs             ... as {timestamp, level,
                                                      requestId, message} objects
                              logs-dropped            platform.logsDropped per
                                                      invocation
                              single-batch            all of an invocation's events
                                                      in one POST, after
                                                      platform.report
  --telemetry-unsupported   answer the telemetry subscription with 202
                            Telemetry.NotSupported, like the emulator (RIE)
  --shutdown-burst          after the last invocation: thaw, run the function once
                            more without an INVOKE, then send SHUTDOWN at once
  --otlp-endpoint <url>     the function's OTEL_EXPORTER_OTLP_ENDPOINT (default
                            http://localhost:4318, or :4317 for grpc)
  --print-documents <N>     after the trees, print the first N documents the
                            extension delivered, as JSON
  --sample-ms <N>           every N ms, sample the extension's CPU time (utime+stime
                            of /proc/<pid>/stat), RSS, VmHWM, the documents and
                            spans X-Ray accepted so far and the mock's own CPU time
                            (report: samples; default 0 = off)
  --report <path.json>      write a JSON report
  --quiet                   print only the summary; do not forward child output
  --expect-all              exit 1 unless every span sent was received before the
                            /next that followed its invocation (before exit for
                            the shutdown burst)
  --help                    print this text
";

/// OTLP protocol the function is told to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/HTTP protobuf to `http://localhost:4318`.
    Http,
    /// OTLP/gRPC to `http://localhost:4317`.
    Grpc,
}

impl Protocol {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for the function.
    pub fn endpoint(self) -> &'static str {
        match self {
            Protocol::Http => "http://localhost:4318",
            Protocol::Grpc => "http://localhost:4317",
        }
    }

    /// `OTEL_EXPORTER_OTLP_PROTOCOL` for the function.
    pub fn otel_name(self) -> &'static str {
        match self {
            Protocol::Http => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }
}

/// Everything the command line can say.
#[derive(Debug, Clone)]
pub struct Args {
    pub extension: PathBuf,
    pub function: PathBuf,
    pub function_args: Vec<String>,
    pub invocations: u32,
    pub protocol: Protocol,
    pub config: Option<String>,
    pub env: Vec<(String, String)>,
    pub timeout_ms: u64,
    /// Gap between invocations, extension frozen (`--freeze-ms`, `--invocation-gap-ms`).
    pub freeze_ms: u64,
    /// `--xray-fault` and `--xray-fail-first`, in command-line order.
    pub xray_faults: Vec<FaultSpec>,
    pub telemetry_quirks: TelemetryQuirks,
    pub function_sleep_ms: Option<u64>,
    pub initialization_type: String,
    pub lambda_segments: bool,
    pub daemon_udp: bool,
    pub xray_endpoint_env: String,
    pub telemetry_unsupported: bool,
    pub shutdown_burst: bool,
    pub report: Option<PathBuf>,
    pub quiet: bool,
    pub expect_all: bool,
    /// Overrides the function's `OTEL_EXPORTER_OTLP_ENDPOINT` (when the collector config
    /// listens elsewhere than 4317/4318).
    pub otlp_endpoint: Option<String>,
    /// Print the first N documents the extension delivered, as JSON (not with --quiet).
    pub print_documents: usize,
    /// `--xray-count-only`: count documents instead of keeping them.
    pub xray_count_only: bool,
    /// `--xray-probe N`: replay the extension's last accepted call N times (0 = off).
    pub xray_probe: usize,
    /// `--sample-ms N`: sampling period of the resource samples (0 = off).
    pub sample_ms: u64,
}

/// Result of parsing: either a run or a request for help.
#[derive(Debug)]
pub enum Command {
    Run(Box<Args>),
    Help,
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command> {
    let mut it = args.into_iter();
    let mut extension = None;
    let mut function = None;
    let mut out = Args {
        extension: PathBuf::new(),
        function: PathBuf::new(),
        function_args: Vec::new(),
        invocations: 5,
        protocol: Protocol::Http,
        config: None,
        env: Vec::new(),
        timeout_ms: 3000,
        freeze_ms: 20,
        xray_faults: Vec::new(),
        telemetry_quirks: TelemetryQuirks::default(),
        function_sleep_ms: None,
        initialization_type: "on-demand".to_string(),
        lambda_segments: false,
        daemon_udp: false,
        xray_endpoint_env: DEFAULT_ENDPOINT_ENV.to_string(),
        telemetry_unsupported: false,
        shutdown_burst: false,
        report: None,
        quiet: false,
        expect_all: false,
        otlp_endpoint: None,
        print_documents: 0,
        xray_count_only: false,
        xray_probe: 0,
        sample_ms: 0,
    };
    while let Some(arg) = it.next() {
        // Accept `--flag=value` as well as `--flag value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| anyhow!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--extension" => extension = Some(PathBuf::from(value(&flag)?)),
            "--function" => function = Some(PathBuf::from(value(&flag)?)),
            "--function-arg" => out.function_args.push(value(&flag)?),
            "--invocations" => out.invocations = number(&flag, &value(&flag)?)?,
            "--protocol" => {
                out.protocol = match value(&flag)?.as_str() {
                    "http" | "http/protobuf" => Protocol::Http,
                    "grpc" => Protocol::Grpc,
                    other => bail!("--protocol must be http or grpc, not {other:?}"),
                }
            }
            "--config" => out.config = Some(value(&flag)?),
            "--env" => {
                let kv = value(&flag)?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--env expects K=V, got {kv:?}"))?;
                if k.is_empty() {
                    bail!("--env expects K=V, got {kv:?}");
                }
                out.env.push((k.to_string(), v.to_string()));
            }
            "--timeout-ms" => out.timeout_ms = number(&flag, &value(&flag)?)?,
            "--freeze-ms" | "--invocation-gap-ms" => out.freeze_ms = number(&flag, &value(&flag)?)?,
            "--function-sleep-ms" => out.function_sleep_ms = Some(number(&flag, &value(&flag)?)?),
            "--initialization-type" => {
                let t = value(&flag)?;
                if !INITIALIZATION_TYPES.contains(&t.as_str()) {
                    bail!("--initialization-type {t:?} is not one of {INITIALIZATION_TYPES:?}");
                }
                out.initialization_type = t;
            }
            "--xray-fault" => out
                .xray_faults
                .push(parse_fault(&value(&flag)?).map_err(|e| anyhow!(e))?),
            "--xray-fail-first" => out.xray_faults.push(FaultSpec::Calls {
                fault: Fault::InternalFailure,
                n: number(&flag, &value(&flag)?)?,
            }),
            "--xray-endpoint-env" => {
                let name = value(&flag)?;
                let valid = name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    bail!("--xray-endpoint-env {name:?} is not an environment variable name");
                }
                out.xray_endpoint_env = name;
            }
            "--daemon-udp" => out.daemon_udp = true,
            "--xray-count-only" => out.xray_count_only = true,
            "--xray-probe" => out.xray_probe = number(&flag, &value(&flag)?)?,
            "--sample-ms" => out.sample_ms = number(&flag, &value(&flag)?)?,
            "--lambda-segments" => out.lambda_segments = true,
            "--telemetry-quirk" => out
                .telemetry_quirks
                .add(&value(&flag)?)
                .map_err(|e| anyhow!(e))?,
            "--telemetry-unsupported" => out.telemetry_unsupported = true,
            "--shutdown-burst" => out.shutdown_burst = true,
            "--report" => out.report = Some(PathBuf::from(value(&flag)?)),
            "--otlp-endpoint" => out.otlp_endpoint = Some(value(&flag)?),
            "--print-documents" => out.print_documents = number(&flag, &value(&flag)?)?,
            "--quiet" => out.quiet = true,
            "--expect-all" => out.expect_all = true,
            other => bail!("unknown argument {other:?}"),
        }
    }
    out.extension = extension.ok_or_else(|| anyhow!("--extension is required"))?;
    out.function = function.ok_or_else(|| anyhow!("--function is required"))?;
    if out.timeout_ms == 0 {
        bail!("--timeout-ms must be > 0");
    }
    Ok(Command::Run(Box::new(out)))
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    v.parse::<T>()
        .with_context(|| format!("{flag} expects a non-negative integer, got {v:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_all_flags() {
        let cmd = parse(args(&[
            "--extension",
            "/x/otlp-xray",
            "--function=/f",
            "--function-arg",
            "a",
            "--invocations",
            "2",
            "--protocol",
            "grpc",
            "--env",
            "A=b=c",
            "--freeze-ms",
            "0",
            "--quiet",
            "--expect-all",
        ]))
        .unwrap();
        let Command::Run(a) = cmd else { panic!() };
        assert_eq!(a.extension, PathBuf::from("/x/otlp-xray"));
        assert_eq!(a.function, PathBuf::from("/f"));
        assert_eq!(a.function_args, vec!["a"]);
        assert_eq!(a.invocations, 2);
        assert_eq!(a.protocol, Protocol::Grpc);
        assert_eq!(a.env, vec![("A".to_string(), "b=c".to_string())]);
        assert_eq!(a.freeze_ms, 0);
        assert!(a.quiet && a.expect_all);
        assert_eq!(a.timeout_ms, 3000);
    }

    #[test]
    fn parses_the_fault_and_quirk_flags() {
        let cmd = parse(args(&[
            "--extension=/e",
            "--function=/f",
            "--xray-fault",
            "503:2",
            "--xray-fail-first",
            "1",
            "--xray-fault=down:100",
            "--telemetry-quirk",
            "late-runtime-done",
            "--telemetry-quirk=missing-runtime-done:3",
            "--function-sleep-ms",
            "250",
            "--initialization-type",
            "lambda-managed-instances",
            "--invocation-gap-ms",
            "300",
            "--daemon-udp",
            "--lambda-segments",
            "--xray-endpoint-env",
            "AWS_ENDPOINT_URL",
        ]))
        .unwrap();
        let Command::Run(a) = cmd else { panic!() };
        assert_eq!(
            a.xray_faults,
            vec![
                FaultSpec::Calls {
                    fault: Fault::Unavailable,
                    n: 2
                },
                FaultSpec::Calls {
                    fault: Fault::InternalFailure,
                    n: 1
                },
                FaultSpec::Down(std::time::Duration::from_millis(100)),
            ]
        );
        assert!(a.telemetry_quirks.late_runtime_done);
        assert!(a.telemetry_quirks.missing_runtime_done.contains(&3));
        assert_eq!(a.function_sleep_ms, Some(250));
        assert_eq!(a.initialization_type, MANAGED_INSTANCES);
        assert_eq!(a.freeze_ms, 300);
        assert!(a.daemon_udp && a.lambda_segments);
        assert_eq!(a.xray_endpoint_env, "AWS_ENDPOINT_URL");
    }

    #[test]
    fn parses_the_load_test_flags() {
        let Command::Run(a) = parse(args(&[
            "--extension=/e",
            "--function=/f",
            "--invocations",
            "0",
            "--xray-count-only",
            "--xray-probe",
            "100",
            "--sample-ms=50",
        ]))
        .unwrap() else {
            panic!()
        };
        assert_eq!(a.invocations, 0);
        assert!(a.xray_count_only);
        assert_eq!((a.xray_probe, a.sample_ms), (100, 50));
        let Command::Run(d) = parse(args(&["--extension=/e", "--function=/f"])).unwrap() else {
            panic!()
        };
        assert!(!d.xray_count_only);
        assert_eq!((d.xray_probe, d.sample_ms), (0, 0));
        assert!(parse(args(&[
            "--extension=/e",
            "--function=/f",
            "--sample-ms",
            "x"
        ]))
        .is_err());
    }

    #[test]
    fn defaults_keep_the_old_behaviour() {
        let Command::Run(a) = parse(args(&["--extension", "/e", "--function", "/f"])).unwrap()
        else {
            panic!()
        };
        assert!(a.xray_faults.is_empty());
        assert_eq!(a.telemetry_quirks, TelemetryQuirks::default());
        assert_eq!(a.function_sleep_ms, None);
        assert_eq!(a.initialization_type, "on-demand");
        assert!(!a.daemon_udp && !a.lambda_segments);
        assert_eq!(a.xray_endpoint_env, DEFAULT_ENDPOINT_ENV);
        assert_eq!(a.freeze_ms, 20);
    }

    #[test]
    fn rejects_bad_fault_quirk_and_names() {
        let base = ["--extension", "/e", "--function", "/f"];
        for extra in [
            &["--xray-fault", "404:1"][..],
            &["--xray-fault"],
            &["--telemetry-quirk", "sometimes"],
            &["--initialization-type", "eager"],
            &["--xray-endpoint-env", "1BAD"],
            &["--xray-endpoint-env", "A-B"],
            &["--xray-endpoint-env", ""],
            &["--function-sleep-ms", "-5"],
        ] {
            let mut v: Vec<&str> = base.to_vec();
            v.extend_from_slice(extra);
            assert!(parse(args(&v)).is_err(), "{extra:?}");
        }
    }

    #[test]
    fn rejects_missing_and_unknown() {
        assert!(parse(args(&["--function", "/f"])).is_err());
        assert!(parse(args(&["--extension", "/e", "--function", "/f", "--nope"])).is_err());
        assert!(parse(args(&[
            "--extension",
            "/e",
            "--function",
            "/f",
            "--invocations",
            "x"
        ]))
        .is_err());
        assert!(matches!(parse(args(&["--help"])), Ok(Command::Help)));
    }
}
