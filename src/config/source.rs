//! Where the config comes from, in order:
//!
//! 1. `OPENTELEMETRY_COLLECTOR_CONFIG_URI`: a path or a `file:` URI (`file:/var/task/c.yaml`,
//!    `file:///var/task/c.yaml`), as the ADOT and upstream OpenTelemetry Lambda layers accept.
//! 2. `OPENTELEMETRY_COLLECTOR_CONFIG_FILE`: a path (the upstream layer's older variable).
//! 3. [`DEFAULT_CONFIG_PATH`] if that file exists (e.g. shipped in a config layer).
//! 4. The default config embedded in the binary (`config/default.yaml`).
//!
//! An empty variable counts as unset. A file named by a variable that does not exist is an
//! error naming the path and the variable. Other URI schemes (`s3:`, `http:`, `https:`, `env:`,
//! `yaml:`) are refused with a message saying what to do instead.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::yaml::MAX_CONFIG_BYTES;

/// First place looked at: a path or `file:` URI of the config.
pub const CONFIG_URI_ENV: &str = "OPENTELEMETRY_COLLECTOR_CONFIG_URI";
/// Second place looked at: a path of the config.
pub const CONFIG_FILE_ENV: &str = "OPENTELEMETRY_COLLECTOR_CONFIG_FILE";
/// Third place looked at, used only if the file exists.
pub const DEFAULT_CONFIG_PATH: &str = "/opt/collector-config/config.yaml";

/// The chosen source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A file, and the variable that named it (`None` for the default path).
    File {
        path: PathBuf,
        var: Option<&'static str>,
    },
    /// The embedded default config.
    Embedded,
}

/// Picks the source from the environment and the default path.
pub(crate) fn locate(
    env: &dyn Fn(&str) -> Option<String>,
    default_path: &Path,
) -> Result<Source, ConfigError> {
    let get = |name: &str| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if let Some(uri) = get(CONFIG_URI_ENV) {
        return Ok(Source::File {
            path: path_from_uri(&uri)?,
            var: Some(CONFIG_URI_ENV),
        });
    }
    if let Some(path) = get(CONFIG_FILE_ENV) {
        return Ok(Source::File {
            path: PathBuf::from(path),
            var: Some(CONFIG_FILE_ENV),
        });
    }
    match std::fs::metadata(default_path) {
        Ok(_) => Ok(Source::File {
            path: default_path.to_owned(),
            var: None,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Source::Embedded),
        Err(e) => Err(ConfigError::Read {
            path: default_path.to_owned(),
            source: e,
        }),
    }
}

/// The path named by a `OPENTELEMETRY_COLLECTOR_CONFIG_URI` value.
pub(crate) fn path_from_uri(uri: &str) -> Result<PathBuf, ConfigError> {
    let unsupported = |reason: String| ConfigError::UnsupportedSource {
        var: CONFIG_URI_ENV,
        value: uri.to_owned(),
        reason,
    };
    if let Some(rest) = uri.strip_prefix("file:") {
        let path = match rest.strip_prefix("//") {
            // file://host/path: only an empty host or localhost names a local file.
            Some(authority_and_path) => {
                let (host, path) = match authority_and_path.find('/') {
                    Some(i) => authority_and_path.split_at(i),
                    None => (authority_and_path, ""),
                };
                if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                    return Err(unsupported(format!(
                        "file URIs on another host (`{host}`) are not supported; use \
                         file:///path/to/config.yaml"
                    )));
                }
                path
            }
            None => rest,
        };
        if path.is_empty() {
            return Err(unsupported("the file URI names no path".to_owned()));
        }
        return percent_decode(path)
            .map(PathBuf::from)
            .ok_or_else(|| unsupported("the file URI has an invalid %-escape".to_owned()));
    }
    if let Some((scheme, _)) = uri.split_once(':') {
        let is_scheme = scheme.len() > 1
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if is_scheme {
            return Err(unsupported(format!(
                "the `{scheme}:` config provider is not supported by otlp-xray; ship the \
                 config file with the function (/var/task) or in a layer (/opt) and name it \
                 by path or file: URI"
            )));
        }
    }
    if uri.contains(',') && !Path::new(uri).exists() {
        return Err(unsupported(
            "several config URIs (merged configs) are not supported; name one file".to_owned(),
        ));
    }
    Ok(PathBuf::from(uri))
}

/// Decodes `%XX` escapes; `None` on a malformed escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
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

/// Reads a config file, refusing more than [`MAX_CONFIG_BYTES`] and non-UTF-8 text.
pub(crate) fn read(path: &Path, var: Option<&'static str>) -> Result<String, ConfigError> {
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

    #[test]
    fn file_uris() {
        let p = |u: &str| path_from_uri(u).map(|p| p.display().to_string());
        assert_eq!(p("file:/var/task/c.yaml").unwrap(), "/var/task/c.yaml");
        assert_eq!(p("file:///var/task/c.yaml").unwrap(), "/var/task/c.yaml");
        assert_eq!(
            p("file://localhost/var/task/c.yaml").unwrap(),
            "/var/task/c.yaml"
        );
        assert_eq!(
            p("file:///var/task/my%20c.yaml").unwrap(),
            "/var/task/my c.yaml"
        );
        assert_eq!(p("/var/task/c.yaml").unwrap(), "/var/task/c.yaml");
        assert_eq!(p("collector.yaml").unwrap(), "collector.yaml");
        assert_eq!(p("file:collector.yaml").unwrap(), "collector.yaml");
    }

    #[test]
    fn other_schemes_are_refused() {
        for uri in [
            "s3://bucket.s3.eu-west-1.amazonaws.com/c.yaml",
            "https://example.com/c.yaml",
            "env:MY_CONFIG",
            "yaml:receivers::otlp::protocols::grpc:",
            "file://otherhost/c.yaml",
            "file:",
            "file:///bad%zz",
        ] {
            let e = path_from_uri(uri).unwrap_err().to_string();
            assert!(e.starts_with(CONFIG_URI_ENV), "{e}");
        }
        let e = path_from_uri("s3://b/c.yaml").unwrap_err().to_string();
        assert!(e.contains("`s3:` config provider is not supported"), "{e}");
    }
}
