//! `otlp-xray validate`: load a config exactly as the extension would, then print it resolved
//! and expanded (secrets masked), or print every error found.
//!
//! ```text
//! otlp-xray validate [--config URI]... [--format yaml|json]
//! ```
//!
//! Without `--config` the sources are the extension's (`OPENTELEMETRY_COLLECTOR_CONFIG_URI`,
//! `…_FILE`, `/opt/collector-config/config.yaml`, the embedded default). `--config` may be
//! repeated, or hold several comma-separated URIs; they are merged in order.
//!
//! The config goes to stdout; the verdict, warnings and errors (one per line) to stderr.
//! Exit status: 0 valid, 1 invalid, 2 bad arguments.

use std::io::Write;
use std::path::Path;

/// The `validate` subcommand's help text.
pub const VALIDATE_USAGE: &str = "\
usage: otlp-xray validate [--config URI]... [--format yaml|json]

Loads the collector config the way the extension does and prints it merged and
expanded, with secrets masked, or prints every error found.

  --config URI     a config URI instead of the environment's sources: a path,
                   file:PATH, env:VAR, yaml:INLINE, http(s)://URL or
                   s3://BUCKET.s3.REGION.amazonaws.com/KEY; repeat it (or separate
                   URIs with commas) to merge several, later ones winning
  --format FORMAT  yaml (default) or json
  -h, --help       this text

Without --config: OPENTELEMETRY_COLLECTOR_CONFIG_URI, then
OPENTELEMETRY_COLLECTOR_CONFIG_FILE, then /opt/collector-config/config.yaml,
then the embedded default config.

Exit status: 0 valid, 1 invalid, 2 bad arguments.
";

/// Output format of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Json,
}

/// Runs `otlp-xray validate` with `args` (those after `validate`), `env` as the environment
/// and `default_path` as the config layer's path. Writes the config to `out` and messages to
/// `err`; returns the exit status (0 valid, 1 invalid, 2 bad arguments).
pub async fn validate_command(
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
    default_path: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut uris = Vec::new();
    let mut format = Format::Yaml;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = || match inline.clone() {
            Some(v) => Some(v),
            None => {
                i += 1;
                args.get(i).cloned()
            }
        };
        match flag {
            "-h" | "--help" => {
                let _ = out.write_all(VALIDATE_USAGE.as_bytes());
                return 0;
            }
            "--config" | "-c" => match value() {
                Some(v) => uris.push(v),
                None => return usage(err, "--config needs a URI"),
            },
            "--format" => match value().as_deref() {
                Some("yaml") => format = Format::Yaml,
                Some("json") => format = Format::Json,
                Some(other) => {
                    return usage(err, &format!("unknown format `{other}` (yaml or json)"))
                }
                None => return usage(err, "--format needs yaml or json"),
            },
            "--json" => format = Format::Json,
            other => return usage(err, &format!("unknown argument `{other}`")),
        }
        i += 1;
    }

    match super::resolve(env, default_path, &uris).await {
        Ok(resolved) => {
            let text = match format {
                Format::Yaml => resolved.to_yaml(),
                Format::Json => resolved.to_json(),
            };
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            for w in &resolved.config.warnings {
                let _ = writeln!(err, "warning: {w}");
            }
            let _ = writeln!(
                err,
                "otlp-xray: {}: valid (secrets masked)",
                resolved.config.origin
            );
            0
        }
        Err(e) => {
            let errors = e.errors();
            for e in &errors {
                let _ = writeln!(err, "error: {e}");
            }
            let _ = writeln!(
                err,
                "otlp-xray: the config is invalid ({} error{})",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            1
        }
    }
}

fn usage(err: &mut dyn Write, message: &str) -> u8 {
    let _ = writeln!(err, "otlp-xray validate: {message}\n");
    let _ = err.write_all(VALIDATE_USAGE.as_bytes());
    2
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(args: &[&str], env: &[(&str, &str)]) -> (u8, String, String) {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = validate_command(
            &args,
            move |n| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()),
            Path::new("/nonexistent/otlp-xray/config.yaml"),
            &mut out,
            &mut err,
        )
        .await;
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[tokio::test]
    async fn embedded_default_is_valid() {
        let (code, out, err) = run(&[], &[]).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("receivers:\n  otlp:\n"), "{out}");
        assert!(err.contains("embedded default config: valid"), "{err}");
    }

    #[tokio::test]
    async fn config_flags_merge_and_json_output() {
        let (code, out, err) = run(
            &[
                "--config",
                "env:BASE",
                "--config=yaml:exporters::debug::verbosity: detailed,yaml:service::pipelines::traces::exporters: [awsxray, debug]",
                "--format",
                "json",
            ],
            &[(
                "BASE",
                "receivers: {otlp: {protocols: {http: }}}\nexporters: {awsxray: }\nservice: \
                 {pipelines: {traces: {receivers: [otlp], exporters: [awsxray]}}}\n",
            )],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["exporters"]["debug"]["verbosity"], "detailed");
        assert_eq!(
            v["service"]["pipelines"]["traces"]["exporters"],
            serde_json::json!(["awsxray", "debug"])
        );
        assert!(
            err.contains("env:BASE + yaml:exporters::debug::verbosity: detailed + yaml:"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn every_error_is_printed_and_the_status_is_1() {
        let (code, out, err) = run(
            &["--config", "env:BAD"],
            &[(
                "BAD",
                "receivers:\n  otlp:\n    protocols: {grpc: {endpoint: \"${env:NOPE}\"}}\n\
                 exporters:\n  awsxray:\n    regoin: x\n    num_workers: many\n  kafka:\n\
                 service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      \
                 exporters: [awsxray, kafka, debug]\n",
            )],
        )
        .await;
        assert_eq!(code, 1);
        assert!(out.is_empty(), "{out}");
        let lines: Vec<&str> = err.lines().collect();
        let has = |s: &str| {
            lines
                .iter()
                .any(|l| l.starts_with("error: ") && l.contains(s))
        };
        assert!(has("`NOPE` is not set"), "{err}");
        assert!(has("exporters.awsxray.regoin (line 6"), "{err}");
        assert!(has("exporters.awsxray.num_workers (line 7"), "{err}");
        assert!(
            has("exporters.kafka (line 8") && has("exists in the OpenTelemetry Collector"),
            "{err}"
        );
        assert!(has("service.pipelines.traces.exporters[2]"), "{err}");
        assert!(err.ends_with("the config is invalid (5 errors)\n"), "{err}");
    }

    #[tokio::test]
    async fn bad_arguments_exit_2() {
        assert_eq!(run(&["--frob"], &[]).await.0, 2);
        assert_eq!(run(&["--config"], &[]).await.0, 2);
        assert_eq!(run(&["--format", "xml"], &[]).await.0, 2);
        let (code, out, _) = run(&["--help"], &[]).await;
        assert_eq!(code, 0);
        assert!(out.starts_with("usage: otlp-xray validate"));
    }
}
