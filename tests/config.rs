//! Real-world collector configs load through the public API, as the extension loads them; the
//! `otlp-xray validate` command; remote (S3) sources; YAML bombs under a memory limit; the log
//! level settings, observed on the real binary.
//!
//! The compatibility corpus is `tests/configs/*.yaml` (and the examples in `config/`). Each
//! file either loads, or fails with the message its header announces. Header lines, at the top
//! of the file:
//!
//! - `# expect-error: <text>`: loading fails and the error contains `<text>` (repeatable);
//! - `# expect-warning: <text>`: loading succeeds with a warning containing `<text>`;
//! - `# env: NAME=value`: an environment variable the config references.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use otlp_xray::config::{
    load_with, Config, ConfigError, ExporterConfig, LogLevel, ProcessorConfig, ReceiverConfig,
    Verbosity, CONFIG_FILE_ENV, CONFIG_URI_ENV,
};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

const BIN: &str = env!("CARGO_BIN_EXE_otlp-xray");

/// The environment every corpus file is loaded with, as Lambda sets it.
const LAMBDA_ENV: &[(&str, &str)] = &[("AWS_REGION", "eu-central-1")];

/// What a corpus file's header announces.
#[derive(Default, Debug)]
struct Header {
    errors: Vec<String>,
    warnings: Vec<String>,
    env: Vec<(String, String)>,
}

fn header(text: &str) -> Header {
    let mut h = Header::default();
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some(e) = line.strip_prefix("# expect-error:") {
            h.errors.push(e.trim().to_owned());
        } else if let Some(w) = line.strip_prefix("# expect-warning:") {
            h.warnings.push(w.trim().to_owned());
        } else if let Some(kv) = line.strip_prefix("# env:") {
            if let Some((k, v)) = kv.trim().split_once('=') {
                h.env.push((k.to_owned(), v.to_owned()));
            }
        }
    }
    h
}

/// Loads `path` the way a function would name it: `OPENTELEMETRY_COLLECTOR_CONFIG_URI=file:…`,
/// with [`LAMBDA_ENV`] and `extra`.
async fn load_file(path: &Path, extra: &[(String, String)]) -> Result<Config, ConfigError> {
    let uri = format!("file://{}", path.display());
    let extra = extra.to_vec();
    let env = move |name: &str| {
        if name == CONFIG_URI_ENV {
            return Some(uri.clone());
        }
        LAMBDA_ENV
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| {
                extra
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
    };
    load_with(env, &repo("no-such-default.yaml")).await
}

async fn load(rel: &str) -> Config {
    let path = repo(rel);
    let text = std::fs::read_to_string(&path).expect("read");
    match load_file(&path, &header(&text).env).await {
        Ok(c) => c,
        Err(e) => panic!("{rel}: {e}"),
    }
}

/// Checks one corpus file against its header; `Err` says how it differs.
async fn check_file(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let h = header(&text);
    match (load_file(path, &h.env).await, h.errors.is_empty()) {
        (Ok(c), true) => {
            if c.service.traces_pipelines().next().is_none() {
                return Err("loaded without a traces pipeline".into());
            }
            for w in &h.warnings {
                if !c.warnings.iter().any(|got| got.contains(w.as_str())) {
                    return Err(format!("no warning containing {w:?}; got {:?}", c.warnings));
                }
            }
            Ok(())
        }
        (Ok(_), false) => Err(format!("loaded, but expected the error {:?}", h.errors)),
        (Err(e), true) => Err(format!("failed: {e}")),
        (Err(e), false) => {
            let msg = e.to_string();
            for want in &h.errors {
                if !msg.contains(want.as_str()) {
                    return Err(format!("error does not contain {want:?}: {msg}"));
                }
            }
            if msg.contains('\n') {
                return Err(format!("error is not one line: {msg:?}"));
            }
            Ok(())
        }
    }
}

#[tokio::test]
async fn compatibility_corpus_loads_or_fails_as_announced() {
    let mut failures = Vec::new();
    for dir in ["tests/configs", "config"] {
        let mut n = 0;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(repo(dir))
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        entries.sort();
        for path in entries {
            n += 1;
            if let Err(why) = check_file(&path).await {
                let rel = path
                    .strip_prefix(repo(""))
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                failures.push(format!("{rel}: {why}"));
            }
        }
        assert!(n >= 3, "{dir}: only {n} configs");
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn adot_layer_default_loads_unchanged() {
    let c = load("tests/configs/adot-default.yaml").await;
    assert_eq!(
        otlp_endpoints(&c, "otlp"),
        (Some("localhost:4317".into()), Some("localhost:4318".into()))
    );
    let traces: Vec<_> = c.service.traces_pipelines().collect();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].1.exporters, ["awsxray"]);
    assert!(matches!(c.exporters["awsxray"], ExporterConfig::AwsXray(_)));
    assert!(matches!(c.exporters["debug"], ExporterConfig::Debug(_)));
    // The metrics pipeline is accepted, and the author is told it is ignored.
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("`metrics`") && w.contains("ignored")),
        "{:?}",
        c.warnings
    );
}

fn otlp_endpoints(c: &Config, id: &str) -> (Option<String>, Option<String>) {
    let ReceiverConfig::Otlp(o) = &c.receivers[id];
    (
        o.protocols.grpc.as_ref().map(|g| g.endpoint.clone()),
        o.protocols.http.as_ref().map(|h| h.endpoint.clone()),
    )
}

#[tokio::test]
async fn adot_legacy_logging_exporter_and_empty_protocols() {
    let c = load("tests/configs/adot-legacy-logging.yaml").await;
    assert_eq!(
        otlp_endpoints(&c, "otlp"),
        (Some("localhost:4317".into()), Some("localhost:4318".into())),
        "`grpc:` and `http:` with no value are enabled with default endpoints"
    );
    let ExporterConfig::Debug(d) = &c.exporters["logging"] else {
        panic!("logging is the debug exporter")
    };
    assert_eq!(d.verbosity, Verbosity::Detailed);
    let ExporterConfig::AwsXray(x) = &c.exporters["awsxray"] else {
        panic!("awsxray")
    };
    assert_eq!(x.region.as_deref(), Some("eu-central-1"));
}

#[tokio::test]
async fn upstream_layer_default_loads() {
    let c = load("tests/configs/upstream-otel-lambda-default.yaml").await;
    let traces: Vec<_> = c.service.traces_pipelines().collect();
    assert_eq!(traces[0].1.exporters, ["debug"]);
    let ExporterConfig::Debug(d) = &c.exporters["debug"] else {
        panic!("debug")
    };
    assert_eq!(d.verbosity, Verbosity::Detailed);
}

#[tokio::test]
async fn hand_written_adot_config_with_extensions_and_batch() {
    let c = load("tests/configs/adot-xray-batch.yaml").await;
    let ProcessorConfig::Batch(b) = &c.processors["batch"] else {
        panic!("batch")
    };
    assert_eq!(b.timeout, std::time::Duration::from_secs(1));
    assert_eq!(b.send_batch_size, 50);
    assert_eq!(c.service.extensions, ["health_check", "pprof"]);
    assert_eq!(c.service.telemetry.logs.level, LogLevel::Info);
    let ExporterConfig::AwsXray(x) = &c.exporters["awsxray"] else {
        panic!("awsxray")
    };
    let t = x.translate_config();
    assert_eq!(
        t.indexed_attributes,
        ["http.route", "traceloop.entity.input"]
    );
}

#[tokio::test]
async fn file_env_var_and_errors_through_the_public_api() {
    let path = repo("config/xray-debug.yaml");
    let env = |name: &str| match name {
        CONFIG_FILE_ENV => Some(path.display().to_string()),
        _ => None,
    };
    // xray-debug.yaml references ${env:AWS_REGION} with no default.
    let e = load_with(env, &repo("no-such-default.yaml"))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("exporters.awsxray.region") && msg.contains("`AWS_REGION` is not set"),
        "{msg}"
    );
}

// ---- otlp-xray validate --------------------------------------------------------------------

/// Runs the built binary with `args`, no config variables inherited, plus `env`.
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove(CONFIG_URI_ENV)
        .env_remove(CONFIG_FILE_ENV)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("RUST_LOG")
        .env_remove("OPENTELEMETRY_EXTENSION_LOG_LEVEL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run otlp-xray");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_prints_the_expanded_config_with_secrets_masked() {
    let path = repo("tests/configs/elastic-apm.yaml");
    let env = [
        ("AWS_REGION", "eu-central-1"),
        ("ELASTIC_APM_SERVER_URL", "https://apm.example.com:443"),
        ("APM_SERVER_TOKEN", "s3cr3t-t0ken"),
    ];
    let (code, out, err) = run(&["validate", "--config", path.to_str().unwrap()], &env);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("s3cr3t-t0ken"), "token leaked:\n{out}");
    assert!(
        out.contains("    endpoint: https://apm.example.com:443\n"),
        "expanded:\n{out}"
    );
    assert!(out.contains("Authorization: \"[REDACTED]\""), "{out}");
    assert!(
        err.contains("elastic-apm.yaml: valid (secrets masked)"),
        "{err}"
    );

    // JSON, and the sources from the environment when --config is absent.
    let env_uri = format!("file:{}", path.display());
    let mut env2 = env.to_vec();
    env2.push((CONFIG_URI_ENV, &env_uri));
    let (code, out, err) = run(&["validate", "--format", "json"], &env2);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        v["exporters"]["otlp/elastic"]["headers"]["Authorization"],
        "[REDACTED]"
    );
    assert_eq!(
        v["service"]["pipelines"]["traces"]["exporters"],
        serde_json::json!(["awsxray", "otlp/elastic"])
    );
}

#[test]
fn validate_lists_every_error_and_exits_1() {
    let path = repo("tests/configs/several-errors.yaml");
    let (code, out, err) = run(&["validate", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 4, "{err}");
    assert!(errors[0].contains("processors.batch.timeout"), "{err}");
    assert!(err.ends_with("the config is invalid (4 errors)\n"), "{err}");

    // A missing file and an unsupported provider are reported too, with no config read.
    let (code, _, err) = run(
        &["validate", "--config", "/nonexistent/c.yaml,vault:x"],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("`vault:` config provider is not supported"),
        "{err}"
    );

    let (code, _, err) = run(&["validate", "--bogus"], &[]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn validate_without_config_uses_the_embedded_default() {
    let (code, out, err) = run(&["validate"], &[]);
    // The machine running the tests has no /opt/collector-config/config.yaml.
    if Path::new("/opt/collector-config/config.yaml").exists() {
        return;
    }
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("  awsxray:\n"), "{out}");
    assert!(err.contains("embedded default config: valid"), "{err}");
}

/// A one-shot HTTP server on 127.0.0.1:0 answering `body` (status 200) to the first request on
/// `path`; returns its address and a receiver for the request's head.
fn one_shot_server(
    path: &'static str,
    body: String,
) -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let ok = head.starts_with(&format!("GET {path} "));
        let (status, body) = if ok {
            ("200 OK", body)
        } else {
            ("404 Not Found", String::new())
        };
        let _ = write!(
            s,
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tx.send(head);
    });
    (addr, rx)
}

#[test]
fn s3_source_is_fetched_with_sigv4_from_the_aws_credential_chain() {
    let body = std::fs::read_to_string(repo("tests/configs/adot-default.yaml")).unwrap();
    let (addr, head) = one_shot_server("/my-config-bucket/lambda/collector.yaml", body);
    let endpoint = format!("http://{addr}");
    let env = [
        ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_SESSION_TOKEN", "session-token-example"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws/config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws/credentials",
        ),
    ];
    let uri = "s3://my-config-bucket.s3.eu-west-1.amazonaws.com/lambda/collector.yaml";
    let started = Instant::now();
    let (code, out, err) = run(&["validate", "--config", uri], &env);
    let elapsed = started.elapsed();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("awsxray"), "{out}");
    assert!(err.contains(&format!("{uri}: valid")), "{err}");
    let head = head.recv_timeout(Duration::from_secs(5)).expect("request");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("authorization: aws4-hmac-sha256 credential=akidexample/")
            && lower.contains("/eu-west-1/s3/aws4_request"),
        "{head}"
    );
    assert!(lower.contains("x-amz-content-sha256: e3b0c442"), "{head}");
    assert!(lower.contains("x-amz-date: "), "{head}");
    assert!(
        lower.contains("x-amz-security-token: session-token-example"),
        "{head}"
    );
    eprintln!("validate with an s3:// source: {elapsed:?} (process start to exit)");

    // Without credentials, the error says so.
    let env = [
        ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws/config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws/credentials",
        ),
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
    ];
    let (code, _, err) = run(&["validate", "--config", uri], &env);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("error: {uri}: ")), "{err}");
}

#[test]
fn yaml_bombs_are_refused_within_a_small_memory_limit() {
    // 256 MiB of address space: far less than expanding either bomb would take.
    for file in [
        "yaml-bomb-billion-laughs.yaml",
        "yaml-bomb-deep-nesting.yaml",
    ] {
        let path = repo(&format!("tests/configs/{file}"));
        let started = Instant::now();
        let out = Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 262144 && exec \"$0\" validate --config \"$1\"")
            .arg(BIN)
            .arg(&path)
            .env_remove(CONFIG_URI_ENV)
            .output()
            .expect("sh");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {err}");
        assert!(err.contains("refused"), "{file}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{file}: {:?}",
            started.elapsed()
        );
    }
}

// ---- log level -----------------------------------------------------------------------------

/// Starts the extension outside Lambda with `config`, reads its stdout for `wait`, stops it.
fn standalone_log(config: &str, env: &[(&str, &str)], wait: Duration) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, config).expect("write");
    let mut cmd = Command::new(BIN);
    cmd.env_remove(CONFIG_URI_ENV)
        .env_remove(CONFIG_FILE_ENV)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("RUST_LOG")
        .env_remove("OPENTELEMETRY_EXTENSION_LOG_LEVEL")
        .env(CONFIG_URI_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + wait;
    let mut lines = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => lines.push(l),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines.join("\n")
}

fn config_with_level(level: &str) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n\
         exporters:\n  debug:\n  debug/unused:\nservice:\n  telemetry:\n    logs:\n      \
         level: {level}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: \
         [debug]\n"
    )
}

#[test]
fn service_telemetry_logs_level_and_the_extension_variable_set_our_log_level() {
    let wait = Duration::from_millis(1500);
    // Config says debug: the debug line of start-up shows.
    let log = standalone_log(&config_with_level("debug"), &[], wait);
    assert!(log.contains("config loaded"), "{log}");
    assert!(log.contains("running outside Lambda"), "{log}");

    // Config says error: neither info nor the unused-exporter warning shows.
    let log = standalone_log(&config_with_level("error"), &[], wait);
    assert!(!log.contains("running outside Lambda"), "{log}");
    assert!(!log.contains("debug/unused"), "{log}");

    // The variable wins over the config: warn shows the warning, not the info line.
    let log = standalone_log(
        &config_with_level("debug"),
        &[("OPENTELEMETRY_EXTENSION_LOG_LEVEL", "warn")],
        wait,
    );
    assert!(log.contains("exporter `debug/unused` is defined"), "{log}");
    assert!(!log.contains("running outside Lambda"), "{log}");
    assert!(!log.contains("config loaded"), "{log}");

    // An unusable value is reported and the config's level applies.
    let log = standalone_log(
        &config_with_level("info"),
        &[("OPENTELEMETRY_EXTENSION_LOG_LEVEL", "loud")],
        wait,
    );
    assert!(
        log.contains("OPENTELEMETRY_EXTENSION_LOG_LEVEL=`loud`"),
        "{log}"
    );
    assert!(log.contains("running outside Lambda"), "{log}");
}
