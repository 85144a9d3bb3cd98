//! [`ConfigError`]: one human-readable message per failure, sent verbatim to Lambda's
//! `/extension/init/error`.

use std::path::PathBuf;

/// Why the config could not be loaded. `Display` is one line that names the file, the key
/// path, the line and column, and what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A config file named by an environment variable does not exist.
    #[error("config file {} does not exist (named by {var})", path.display())]
    NotFound {
        /// The path looked for.
        path: PathBuf,
        /// The environment variable that named it.
        var: &'static str,
    },
    /// A config file exists but could not be read (permissions, a directory, not UTF-8).
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A config URI is malformed or names a provider otlp-xray does not have.
    #[error("{var}=`{value}`: {reason}")]
    UnsupportedSource {
        /// The environment variable (or `--config`) that held the URI.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong and what to do instead.
        reason: String,
    },
    /// A config source could not be read: an `env:` URI naming an unset variable, an
    /// `http(s):` or `s3:` fetch that failed, timed out or answered other than 200.
    #[error("{origin}: {message}")]
    Source {
        /// The source, as written (secrets in URLs masked).
        origin: String,
        /// What went wrong.
        message: String,
    },
    /// The config is larger than the limit.
    #[error("{origin}: the config is {size} bytes, more than the {limit}-byte limit")]
    TooLarge {
        /// Where the config came from.
        origin: String,
        /// Its size in bytes (at least).
        size: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// The text is not valid YAML, or exceeds the parser's budgets (a YAML bomb).
    #[error("{origin}: invalid YAML{}: {message}", at(*line, *column))]
    Yaml {
        /// Where the config came from.
        origin: String,
        /// 1-based line, if known.
        line: Option<u64>,
        /// 1-based column, if known.
        column: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// Valid YAML, invalid config: an unknown key or component type, a bad value, an unset
    /// environment variable, a pipeline naming an undefined component, …
    #[error("{origin}: {}{message}", place(key_path, *line, *column))]
    Invalid {
        /// Where the config came from.
        origin: String,
        /// Dotted key path, e.g. `exporters.awsxray.region`; empty for the whole config.
        key_path: String,
        /// 1-based line, if known.
        line: Option<u64>,
        /// 1-based column, if known.
        column: Option<u64>,
        /// What is wrong, what was expected, what is supported.
        message: String,
    },
    /// Several of the above, in the order of the config text. `Display` joins them on one
    /// line; [`ConfigError::errors`] lists them (what `otlp-xray validate` prints).
    #[error("{} config errors: {}", .0.len(), join(.0))]
    Multiple(Vec<ConfigError>),
}

/// `a; b; c`.
fn join(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ConfigError {
    /// The key path of an [`ConfigError::Invalid`] error (of the first error of
    /// [`ConfigError::Multiple`]).
    pub fn key_path(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key_path, .. } => Some(key_path),
            ConfigError::Multiple(all) => all.first().and_then(ConfigError::key_path),
            _ => None,
        }
    }

    /// The 1-based line of a YAML or config error, if known (of the first error of
    /// [`ConfigError::Multiple`]).
    pub fn line(&self) -> Option<u64> {
        match self {
            ConfigError::Invalid { line, .. } | ConfigError::Yaml { line, .. } => *line,
            ConfigError::Multiple(all) => all.first().and_then(ConfigError::line),
            _ => None,
        }
    }

    /// Every error: the list of a [`ConfigError::Multiple`], else this one.
    pub fn errors(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Multiple(all) => all.iter().collect(),
            one => vec![one],
        }
    }

    /// One error as itself, several as [`ConfigError::Multiple`]. `errors` must not be empty
    /// (an empty list gives an `Invalid` error saying so, rather than a panic).
    pub(crate) fn from_many(mut errors: Vec<ConfigError>) -> ConfigError {
        match errors.len() {
            1 => errors.remove(0),
            0 => ConfigError::Invalid {
                origin: String::new(),
                key_path: String::new(),
                line: None,
                column: None,
                message: "internal: no error to report".to_owned(),
            },
            _ => ConfigError::Multiple(errors),
        }
    }
}

/// `line 7, column 5`, `line 7` or nothing.
fn pos(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}"),
        (Some(l), None) => format!("line {l}"),
        _ => String::new(),
    }
}

/// ` at line 7, column 5` or nothing.
fn at(line: Option<u64>, column: Option<u64>) -> String {
    let p = pos(line, column);
    if p.is_empty() {
        p
    } else {
        format!(" at {p}")
    }
}

/// `exporters.awsxray.region (line 7, column 5): `, or the parts known.
fn place(key_path: &str, line: Option<u64>, column: Option<u64>) -> String {
    let p = pos(line, column);
    match (key_path.is_empty(), p.is_empty()) {
        (true, true) => String::new(),
        (true, false) => format!("{p}: "),
        (false, true) => format!("{key_path}: "),
        (false, false) => format!("{key_path} ({p}): "),
    }
}
