//! Where the config comes from, in order (the first that is set wins):
//!
//! 1. `OPENTELEMETRY_COLLECTOR_CONFIG_URI`: one or several config URIs (below).
//! 2. `OPENTELEMETRY_COLLECTOR_CONFIG_FILE`: the same, under the upstream layer's older name
//!    (a warning says so).
//! 3. [`DEFAULT_CONFIG_PATH`] if that file exists (e.g. shipped in a config layer).
//! 4. The default config embedded in the binary (`config/default.yaml`).
//!
//! `otlp-xray validate --config URI` replaces 1–4 with its URIs. An empty variable counts as
//! unset.
//!
//! A config URI is, as for the OpenTelemetry Collector's `--config` (its confmap providers,
//! the ones the ADOT and upstream Lambda layers ship):
//!
//! | URI | read from |
//! |---|---|
//! | `/var/task/c.yaml`, `c.yaml`, `file:/var/task/c.yaml`, `file:///var/task/c.yaml` | a file |
//! | `env:MY_CONFIG` | the YAML held in the environment variable `MY_CONFIG` |
//! | `yaml:exporters::debug::verbosity: detailed` | the inline YAML after `yaml:` (`::` nests keys) |
//! | `http://host/c.yaml`, `https://host/c.yaml` | a GET at init, [`super::fetch::FETCH_TIMEOUT`] at most |
//! | `s3://<bucket>.s3.<region>.amazonaws.com/<key>` | S3 `GetObject` with the function's AWS credentials |
//!
//! **Several URIs** in one value are separated by commas and merged in order (later wins; see
//! `super::merge`), as the collector merges repeated `--config` flags:
//! `OPENTELEMETRY_COLLECTOR_CONFIG_URI=/var/task/base.yaml,yaml:exporters::debug::verbosity: detailed`.
//! The collector has no separator inside one value; the comma is otlp-xray's (the upstream
//! layer takes exactly one URI). A `yaml:` URI extends to the next comma that starts another
//! URI (`,file:` `,env:` `,yaml:` `,http://` `,https://` `,s3://` or `,/`), so commas inside
//! its YAML (`[a, b]`) need no escaping; a value that names an existing file is one path even
//! if it holds a comma.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::yaml::{truncate, MAX_CONFIG_BYTES};

/// First place looked at: config URI(s).
pub const CONFIG_URI_ENV: &str = "OPENTELEMETRY_COLLECTOR_CONFIG_URI";
/// Second place looked at: the upstream layer's older name of [`CONFIG_URI_ENV`].
pub const CONFIG_FILE_ENV: &str = "OPENTELEMETRY_COLLECTOR_CONFIG_FILE";
/// Third place looked at, used only if the file exists.
pub const DEFAULT_CONFIG_PATH: &str = "/opt/collector-config/config.yaml";
/// What names the URIs given to `otlp-xray validate` in messages.
pub(crate) const CLI_FLAG: &str = "--config";

/// One config URI, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Uri {
    /// A local file.
    File(PathBuf),
    /// YAML held in an environment variable.
    Env(String),
    /// Inline YAML.
    Yaml(String),
    /// An `http://` or `https://` URL.
    Http(String),
    /// An S3 object.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Region of the bucket (from the host name).
        region: String,
        /// Object key, as written in the URI (percent-escapes not decoded).
        key: String,
    },
}

impl Uri {
    /// Whether reading it needs the network (and so the async runtime).
    pub(crate) fn is_remote(&self) -> bool {
        matches!(self, Uri::Http(_) | Uri::S3 { .. })
    }

    /// How the source is named in messages and [`super::Config::origin`]: the path, `env:NAME`,
    /// `yaml:…` (cut to 60 characters), the URL without its query (which may hold a presigned
    /// signature) and password.
    pub(crate) fn label(&self) -> String {
        match self {
            Uri::File(p) => p.display().to_string(),
            Uri::Env(name) => format!("env:{name}"),
            Uri::Yaml(text) => format!("yaml:{}", truncate(&text.replace('\n', "\\n"), 60)),
            Uri::Http(url) => redact_url(url),
            Uri::S3 {
                bucket,
                region,
                key,
            } => format!("s3://{bucket}.s3.{region}.amazonaws.com/{key}"),
        }
    }
}

/// `https://user:pass@host/p?sig=…` → `https://user:***@host/p?…`.
pub(crate) fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, _)) => (b, "?…"),
        None => (url, ""),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                    format!("{scheme}://{user}:***@{host}{path}")
                }
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    format!("{base}{query}")
}

/// The chosen sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// URIs, merged in order. `var` is what named them (`None`: the default path).
    Uris {
        uris: Vec<Uri>,
        var: Option<&'static str>,
        /// Things to tell the author (the older variable name), for [`super::Config::warnings`].
        notes: Vec<String>,
    },
    /// The embedded default config.
    Embedded,
}

/// Picks the sources: `cli` (the URIs given to `validate --config`) if any, else the
/// environment, else `default_path` if it exists, else the embedded config. Every malformed or
/// unsupported URI is reported.
pub(crate) fn plan(
    env: &dyn Fn(&str) -> Option<String>,
    default_path: &Path,
    cli: &[String],
) -> Result<Plan, ConfigError> {
    let get = |name: &str| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let (values, var, notes): (Vec<String>, &'static str, Vec<String>) = if !cli.is_empty() {
        (cli.to_vec(), CLI_FLAG, Vec::new())
    } else if let Some(v) = get(CONFIG_URI_ENV) {
        (vec![v], CONFIG_URI_ENV, Vec::new())
    } else if let Some(v) = get(CONFIG_FILE_ENV) {
        let note = format!(
            "{CONFIG_FILE_ENV} is the older name of {CONFIG_URI_ENV}; it still works, but \
             rename it"
        );
        (vec![v], CONFIG_FILE_ENV, vec![note])
    } else {
        return match std::fs::metadata(default_path) {
            Ok(_) => Ok(Plan::Uris {
                uris: vec![Uri::File(default_path.to_owned())],
                var: None,
                notes: Vec::new(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Plan::Embedded),
            Err(e) => Err(ConfigError::Read {
                path: default_path.to_owned(),
                source: e,
            }),
        };
    };
    let mut uris = Vec::new();
    let mut errors = Vec::new();
    for value in &values {
        for part in split_uris(value) {
            match classify(part, var) {
                Ok(u) => uris.push(u),
                Err(e) => errors.push(e),
            }
        }
    }
    if !errors.is_empty() {
        return Err(ConfigError::from_many(errors));
    }
    if uris.is_empty() {
        return Err(ConfigError::UnsupportedSource {
            var,
            value: values.join(","),
            reason: "names no config".to_owned(),
        });
    }
    Ok(Plan::Uris {
        uris,
        var: Some(var),
        notes,
    })
}

/// URI prefixes that start a new URI after a comma (see the module doc).
const URI_STARTS: &[&str] = &[
    "file:", "env:", "yaml:", "http://", "https://", "s3://", "/",
];

/// Splits a variable's value into URIs at commas; a `yaml:` URI runs to the next comma that
/// starts another URI. A value naming an existing file is one URI.
pub(crate) fn split_uris(value: &str) -> Vec<&str> {
    let value = value.trim();
    if value.contains(',') && Path::new(value).exists() {
        return vec![value];
    }
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b',' {
            let current = value[start..i].trim_start();
            let next = value[i + 1..].trim_start();
            let split =
                !current.starts_with("yaml:") || URI_STARTS.iter().any(|p| next.starts_with(p));
            if split {
                out.push(value[start..i].trim());
                start = i + 1;
            }
        }
        i += 1;
    }
    out.push(value[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// Classifies one URI. `var` names where it came from, for the error.
pub(crate) fn classify(uri: &str, var: &'static str) -> Result<Uri, ConfigError> {
    let unsupported = |reason: String| ConfigError::UnsupportedSource {
        var,
        value: uri.to_owned(),
        reason,
    };
    if let Some(rest) = uri.strip_prefix("file:") {
        return file_path(rest).map(Uri::File).map_err(unsupported);
    }
    if let Some(name) = uri.strip_prefix("env:") {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(unsupported(format!(
                "`{name}` is not a valid environment variable name (letters, digits and `_`, \
                 not starting with a digit)"
            )));
        }
        return Ok(Uri::Env(name.to_owned()));
    }
    if let Some(text) = uri.strip_prefix("yaml:") {
        return Ok(Uri::Yaml(text.to_owned()));
    }
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return match uri.parse::<http::Uri>() {
            Ok(u) if u.authority().is_some_and(|a| !a.host().is_empty()) => {
                Ok(Uri::Http(uri.to_owned()))
            }
            _ => Err(unsupported(
                "not a valid URL (write e.g. https://config.example.com/collector.yaml)".to_owned(),
            )),
        };
    }
    if let Some(rest) = uri.strip_prefix("s3://") {
        return s3_parts(rest).ok_or_else(|| {
            unsupported(
                "an S3 config URI is s3://<bucket>.s3.<region>.amazonaws.com/<key> (as for the \
                 collector's s3 provider), e.g. \
                 s3://my-bucket.s3.eu-west-1.amazonaws.com/collector.yaml"
                    .to_owned(),
            )
        });
    }
    if let Some((scheme, _)) = uri.split_once(':') {
        let is_scheme = scheme.len() > 1
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if is_scheme {
            return Err(unsupported(format!(
                "the `{scheme}:` config provider is not supported by otlp-xray; use a path or \
                 one of file:, env:, yaml:, http:, https:, s3:"
            )));
        }
    }
    Ok(Uri::File(PathBuf::from(uri)))
}

/// The path of a `file:` URI (after `file:`): `/p`, `///p`, `//localhost/p`, `rel/p`.
fn file_path(rest: &str) -> Result<PathBuf, String> {
    let path = match rest.strip_prefix("//") {
        // file://host/path: only an empty host or localhost names a local file.
        Some(authority_and_path) => {
            let (host, path) = match authority_and_path.find('/') {
                Some(i) => authority_and_path.split_at(i),
                None => (authority_and_path, ""),
            };
            if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                return Err(format!(
                    "file URIs on another host (`{host}`) are not supported; use \
                     file:///path/to/config.yaml"
                ));
            }
            path
        }
        None => rest,
    };
    if path.is_empty() {
        return Err("the file URI names no path".to_owned());
    }
    percent_decode(path)
        .map(PathBuf::from)
        .ok_or_else(|| "the file URI has an invalid %-escape".to_owned())
}

/// `bucket.s3.region.amazonaws.com/key` → the parts, as the collector's s3 provider matches
/// them (`^s3://([a-z0-9.-]{3,63})\.s3\.([a-z0-9-]+)\.amazonaws\.com/.`).
fn s3_parts(rest: &str) -> Option<Uri> {
    let (host, key) = rest.split_once('/')?;
    let key = key.split(['?', '#']).next().unwrap_or("");
    if key.is_empty() {
        return None;
    }
    let host = host.strip_suffix(".amazonaws.com")?;
    let (bucket, region) = host.rsplit_once(".s3.")?;
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (bucket_ok && region_ok).then(|| Uri::S3 {
        bucket: bucket.to_owned(),
        region: region.to_owned(),
        key: key.to_owned(),
    })
}

/// Decodes `%XX` escapes; `None` on a malformed escape or non-UTF-8 result.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads a source that needs no network: a file, an `env:` variable, inline `yaml:`.
/// `var` is what named it (for "does not exist" errors). Remote URIs are read by
/// `super::fetch`.
pub(crate) fn read_local(
    uri: &Uri,
    var: Option<&'static str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    match uri {
        Uri::File(path) => read_file(path, var),
        Uri::Env(name) => env(name).ok_or_else(|| ConfigError::Source {
            origin: uri.label(),
            message: format!(
                "the environment variable `{name}` that should hold the config is not set"
            ),
        }),
        Uri::Yaml(text) => Ok(text.clone()),
        Uri::Http(_) | Uri::S3 { .. } => Err(ConfigError::Source {
            origin: uri.label(),
            message: "internal: a remote source read as a local one".to_owned(),
        }),
    }
}

/// Reads a config file, refusing more than [`MAX_CONFIG_BYTES`] and non-UTF-8 text.
pub(crate) fn read_file(path: &Path, var: Option<&'static str>) -> Result<String, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::NotFound {
                path: path.to_owned(),
                var: var.unwrap_or("the default config path"),
            })
        }
        Err(e) => return Err(read_err(e)),
    };
    let mut buf = Vec::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    if buf.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            origin: path.display().to_string(),
            size: buf.len() as u64,
            limit: MAX_CONFIG_BYTES,
        });
    }
    String::from_utf8(buf).map_err(|e| {
        read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(u: &str) -> Result<Uri, String> {
        classify(u, CONFIG_URI_ENV).map_err(|e| e.to_string())
    }

    fn path(u: &str) -> String {
        match one(u) {
            Ok(Uri::File(p)) => p.display().to_string(),
            other => panic!("{u}: {other:?}"),
        }
    }

    #[test]
    fn file_uris() {
        assert_eq!(path("file:/var/task/c.yaml"), "/var/task/c.yaml");
        assert_eq!(path("file:///var/task/c.yaml"), "/var/task/c.yaml");
        assert_eq!(path("file://localhost/var/task/c.yaml"), "/var/task/c.yaml");
        assert_eq!(path("file:///var/task/my%20c.yaml"), "/var/task/my c.yaml");
        assert_eq!(path("/var/task/c.yaml"), "/var/task/c.yaml");
        assert_eq!(path("collector.yaml"), "collector.yaml");
        assert_eq!(path("file:collector.yaml"), "collector.yaml");
    }

    #[test]
    fn provider_uris() {
        assert_eq!(one("env:MY_CONFIG"), Ok(Uri::Env("MY_CONFIG".into())));
        assert_eq!(
            one("yaml:exporters::debug::verbosity: detailed"),
            Ok(Uri::Yaml("exporters::debug::verbosity: detailed".into()))
        );
        assert_eq!(
            one("https://cfg.example.com/c.yaml?x=1"),
            Ok(Uri::Http("https://cfg.example.com/c.yaml?x=1".into()))
        );
        assert_eq!(
            one("s3://my-bucket.s3.eu-west-1.amazonaws.com/dir/c.yaml"),
            Ok(Uri::S3 {
                bucket: "my-bucket".into(),
                region: "eu-west-1".into(),
                key: "dir/c.yaml".into()
            })
        );
        assert_eq!(
            one("s3://my.dotted.bucket.s3.us-east-1.amazonaws.com/c.yaml"),
            Ok(Uri::S3 {
                bucket: "my.dotted.bucket".into(),
                region: "us-east-1".into(),
                key: "c.yaml".into()
            })
        );
    }

    #[test]
    fn bad_and_unsupported_uris_are_refused() {
        for (uri, expect) in [
            (
                "s3://bucket/config.yaml",
                "s3://<bucket>.s3.<region>.amazonaws.com/<key>",
            ),
            ("s3://b.s3.eu-west-1.amazonaws.com/", "s3://<bucket>"),
            ("s3://UPPER.s3.eu-west-1.amazonaws.com/k", "s3://<bucket>"),
            (
                "secretsmanager:arn:aws:…",
                "`secretsmanager:` config provider is not supported",
            ),
            ("env:1BAD", "not a valid environment variable name"),
            ("http://", "not a valid URL"),
            ("file://otherhost/c.yaml", "another host"),
            ("file:", "names no path"),
            ("file:///bad%zz", "invalid %-escape"),
        ] {
            let e = one(uri).unwrap_err();
            assert!(e.starts_with(CONFIG_URI_ENV), "{e}");
            assert!(e.contains(expect), "{uri}: {e}");
        }
    }

    #[test]
    fn several_uris_split_at_commas_but_not_inside_yaml() {
        assert_eq!(split_uris("/a.yaml,/b.yaml"), ["/a.yaml", "/b.yaml"]);
        assert_eq!(split_uris(" a.yaml , env:X ,"), ["a.yaml", "env:X"]);
        assert_eq!(
            split_uris("/base.yaml,yaml:service::extensions: [a, b],file:/c.yaml"),
            [
                "/base.yaml",
                "yaml:service::extensions: [a, b]",
                "file:/c.yaml"
            ]
        );
        assert_eq!(
            split_uris("yaml:a: {b: 1, c: 2}, yaml:d: 3"),
            ["yaml:a: {b: 1, c: 2}", "yaml:d: 3"]
        );
        assert_eq!(
            split_uris("s3://b.s3.r.amazonaws.com/k,https://h/c.yaml"),
            ["s3://b.s3.r.amazonaws.com/k", "https://h/c.yaml"]
        );
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a,b.yaml");
        std::fs::write(&odd, "").unwrap();
        let odd = odd.display().to_string();
        assert_eq!(split_uris(&odd), [odd.as_str()]);
    }

    #[test]
    fn labels_hide_url_secrets() {
        assert_eq!(
            Uri::Http("https://u:p@h.example/c.yaml?X-Amz-Signature=abc".into()).label(),
            "https://u:***@h.example/c.yaml?…"
        );
        assert_eq!(
            Uri::Http("http://h:8080/c.yaml".into()).label(),
            "http://h:8080/c.yaml"
        );
        assert_eq!(Uri::Env("C".into()).label(), "env:C");
        assert_eq!(Uri::Yaml("a: 1\nb: 2".into()).label(), "yaml:a: 1\\nb: 2");
    }
}
