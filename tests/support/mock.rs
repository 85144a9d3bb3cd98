//! Running the real `otlp-xray` binary under the `mock-lambda` stand-in, with the real
//! OpenTelemetry Rust SDK (`examples/demo-function.rs`) as the function. Each [`Setup`] has its
//! own temporary directory and its own OTLP ports, so tests run in parallel.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The extension binary built by cargo for this test run.
pub fn extension() -> &'static str {
    env!("CARGO_BIN_EXE_otlp-xray")
}

/// The stand-in binary.
pub fn mock() -> &'static str {
    env!("CARGO_BIN_EXE_mock-lambda")
}

/// `make test` builds the example (`cargo build --examples`) before running the tests.
pub fn demo_function() -> PathBuf {
    let bin = Path::new(extension());
    let dir = bin.parent().expect("binary dir");
    let f = dir.join("examples").join("demo-function");
    assert!(
        f.exists(),
        "{} not built: run `cargo build --examples` (make test does)",
        f.display()
    );
    f
}

/// A free TCP port on 127.0.0.1 (bound and released: a small race other tests cannot lose,
/// since each asks the kernel for a fresh ephemeral port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("ephemeral port")
}

/// One run's directory and ports.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub grpc_port: u16,
    pub http_port: u16,
    /// Set by tests that hold a port on purpose: a port clash at init is then the result, not
    /// a race to retry with fresh ports.
    pub keep_ports: std::cell::Cell<bool>,
}

impl Default for Setup {
    fn default() -> Self {
        Self::new()
    }
}

impl Setup {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            grpc_port: free_port(),
            http_port: free_port(),
            keep_ports: std::cell::Cell::new(false),
        }
    }

    /// A config with OTLP on this setup's ports, `exporters_yaml` (indented two spaces) used
    /// by the traces pipeline as `pipeline_exporters`, and optional `extensions_yaml`.
    pub fn config_with(
        &self,
        exporters_yaml: &str,
        pipeline_exporters: &str,
        extensions_yaml: &str,
    ) -> PathBuf {
        let ext = if extensions_yaml.is_empty() {
            String::new()
        } else {
            format!("extensions:\n{extensions_yaml}\n")
        };
        let yaml = format!(
            "{ext}receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{g}\n      http:\n        endpoint: 127.0.0.1:{h}\n\
             processors:\n  batch:\n\
             exporters:\n{exporters_yaml}\n\
             service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [{pipeline_exporters}]\n",
            g = self.grpc_port,
            h = self.http_port
        );
        let path = self.dir.path().join("collector.yaml");
        std::fs::write(&path, yaml).expect("write config");
        path
    }

    pub fn write_config(&self, exporters_yaml: &str, pipeline_exporters: &str) -> PathBuf {
        self.config_with(exporters_yaml, pipeline_exporters, "")
    }

    pub fn default_config(&self) -> PathBuf {
        self.write_config("  awsxray:\n    region: us-east-1\n", "awsxray")
    }

    /// A config with the `lambda` extension's settings (indented four spaces).
    pub fn lambda_config(&self, lambda_yaml: &str) -> PathBuf {
        self.config_with(
            "  awsxray:\n    region: us-east-1\n",
            "awsxray",
            &format!("  lambda:\n{lambda_yaml}"),
        )
    }

    pub fn endpoint(&self, protocol: &str) -> String {
        match protocol {
            "grpc" => format!("http://127.0.0.1:{}", self.grpc_port),
            _ => format!("http://127.0.0.1:{}", self.http_port),
        }
    }

    /// Runs the stand-in with the demo function and returns its JSON report and stdout.
    pub fn run(&self, config: &Path, protocol: &str, extra: &[&str]) -> (Value, String) {
        self.run_function(&demo_function(), config, protocol, extra)
    }

    /// Runs the stand-in with `function` and returns its JSON report and stdout.
    pub fn run_function(
        &self,
        function: &Path,
        config: &Path,
        protocol: &str,
        extra: &[&str],
    ) -> (Value, String) {
        let report = self.dir.path().join("report.json");
        let (mut grpc, mut http) = (self.grpc_port, self.http_port);
        for attempt in 0.. {
            let _ = std::fs::remove_file(&report);
            let endpoint = match protocol {
                "grpc" => format!("http://127.0.0.1:{grpc}"),
                _ => format!("http://127.0.0.1:{http}"),
            };
            let out = Command::new(mock())
                .args(["--extension", extension()])
                .arg("--function")
                .arg(function)
                .args(["--protocol", protocol])
                .arg("--config")
                .arg(config)
                .args(["--otlp-endpoint", &endpoint])
                .arg("--report")
                .arg(&report)
                .arg("--quiet")
                .args(extra)
                .output()
                .expect("run mock-lambda");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            let text = std::fs::read_to_string(&report).unwrap_or_else(|e| {
                panic!(
                    "no report ({e}); status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
                    out.status
                )
            });
            let value: Value = serde_json::from_str(&text).expect("report JSON");
            // A port picked by `free_port` can be taken, before the extension binds it, as
            // the local port of some other test's outgoing connection. Pick fresh ports and
            // run again (unless the test holds the port on purpose: `keep_ports`).
            let clash = value["init_error"]["error_type"] == "Extension.PortUnavailable";
            let ours = config
                .to_string_lossy()
                .starts_with(&*self.dir.path().to_string_lossy());
            if clash && ours && !self.keep_ports.get() && attempt < 3 {
                if let Ok(yaml) = std::fs::read_to_string(config) {
                    let (g, h) = (free_port(), free_port());
                    let yaml = yaml
                        .replace(&format!(":{grpc}\n"), &format!(":{g}\n"))
                        .replace(&format!(":{http}\n"), &format!(":{h}\n"));
                    if std::fs::write(config, yaml).is_ok() {
                        (grpc, http) = (g, h);
                        continue;
                    }
                }
            }
            return (value, stdout);
        }
        unreachable!("the loop returns")
    }
}

/// Span ids from a list of ids or of `{trace_id, span_id}` objects.
pub fn ids(v: &Value) -> HashSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    x.as_str().map(str::to_string).or_else(|| {
                        x.get("span_id")
                            .and_then(|s| s.as_str())
                            .map(str::to_string)
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The documents the extension delivered (not Lambda's own, with `--lambda-segments`).
pub fn documents(report: &Value) -> Vec<Value> {
    report["documents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|d| d["source"].as_str() != Some("lambda"))
                .map(|d| d["document"].clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Lambda's own documents (`--lambda-segments`).
pub fn lambda_documents(report: &Value) -> Vec<Value> {
    report["documents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|d| d["source"].as_str() == Some("lambda"))
                .map(|d| d["document"].clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The extension's last output lines, joined.
pub fn extension_log(report: &Value) -> String {
    report["extension_output"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The extension initialised, was never killed, and exited 0.
pub fn assert_clean_exit(report: &Value) {
    let log = extension_log(report);
    assert!(
        report["init_error"].is_null(),
        "init error: {}\n{log}",
        report["init_error"]
    );
    assert_eq!(report["extension_exit_code"], Value::from(0), "{log}");
    assert_eq!(report["extension_killed"], Value::Bool(false), "{log}");
}

/// No span lost by the end of the run and none received twice.
pub fn assert_nothing_lost_or_duplicated(report: &Value) {
    let log = extension_log(report);
    let counts = &report["span_counts"];
    assert!(counts["sent"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(
        counts["lost"],
        Value::from(0),
        "lost: {}\n{log}",
        report["lost_spans"]
    );
    assert_eq!(
        counts["duplicated"],
        Value::from(0),
        "duplicated: {}\n{log}",
        report["duplicate_spans"]
    );
    assert_eq!(
        report["xray_duplicate_documents"],
        Value::from(0),
        "{}",
        report["xray_duplicates"]
    );
}

/// Largest post-runtime duration over the invocations, in ms.
pub fn max_post_runtime_ms(report: &Value) -> f64 {
    report["invocations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["post_runtime_ms"].as_f64())
        .fold(0.0, f64::max)
}

/// The SHUTDOWN summary line's `reason=N` count.
pub fn summary_count(report: &Value, reason: &str) -> Option<u64> {
    let log = extension_log(report);
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("shutdown") && l.contains("queue_full="))?;
    let at = line.find(&format!("{reason}="))? + reason.len() + 1;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}
