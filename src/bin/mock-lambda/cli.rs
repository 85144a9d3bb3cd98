//! Command-line arguments, parsed by hand (no clap: the mock is a test tool).

use anyhow::{anyhow, bail, Context, Result};
use std::path::PathBuf;

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
  --freeze-ms <N>           SIGSTOP the extension for N ms between invocations
                            (default 20; 0 = never freeze)
  --xray-fail-first <N>     answer the first N PutTraceSegments calls with HTTP 500
  --telemetry-unsupported   answer the telemetry subscription with 202
                            Telemetry.NotSupported, like the emulator (RIE)
  --shutdown-burst          after the last invocation: thaw, run the function once
                            more without an INVOKE, then send SHUTDOWN at once
  --otlp-endpoint <url>     the function's OTEL_EXPORTER_OTLP_ENDPOINT (default
                            http://localhost:4318, or :4317 for grpc)
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
    pub freeze_ms: u64,
    pub xray_fail_first: u32,
    pub telemetry_unsupported: bool,
    pub shutdown_burst: bool,
    pub report: Option<PathBuf>,
    pub quiet: bool,
    pub expect_all: bool,
    /// Overrides the function's `OTEL_EXPORTER_OTLP_ENDPOINT` (when the collector config
    /// listens elsewhere than 4317/4318).
    pub otlp_endpoint: Option<String>,
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
        xray_fail_first: 0,
        telemetry_unsupported: false,
        shutdown_burst: false,
        report: None,
        quiet: false,
        expect_all: false,
        otlp_endpoint: None,
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
            "--freeze-ms" => out.freeze_ms = number(&flag, &value(&flag)?)?,
            "--xray-fail-first" => out.xray_fail_first = number(&flag, &value(&flag)?)?,
            "--telemetry-unsupported" => out.telemetry_unsupported = true,
            "--shutdown-burst" => out.shutdown_burst = true,
            "--report" => out.report = Some(PathBuf::from(value(&flag)?)),
            "--otlp-endpoint" => out.otlp_endpoint = Some(value(&flag)?),
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
