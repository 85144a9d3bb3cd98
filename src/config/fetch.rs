//! Remote config sources: `http://`, `https://` and `s3://` URIs, fetched once at init.
//!
//! - One GET, following up to [`MAX_REDIRECTS`] redirects; anything but `200` is an error
//!   naming the status (as the collector's http provider does). The whole fetch — credentials,
//!   connection, TLS, body — must finish within [`FETCH_TIMEOUT`]: init is billed and bounded
//!   (Lambda gives extensions and the runtime 10 s together).
//! - `https://` verifies the server with rustls (`ring`) against the Mozilla root store compiled
//!   into the binary (`webpki-root-certs`, as the `otlp` exporters and the X-Ray client do): the
//!   collector's https provider uses the OS pool, which in Lambda is the same Mozilla set, and
//!   scanning it costs start-up time. Plain `http://` builds no TLS state at all.
//! - `s3://<bucket>.s3.<region>.amazonaws.com/<key>`: a SigV4-signed `GetObject` (service `s3`,
//!   `x-amz-content-sha256`, unnormalised path) with the credentials in the environment (in
//!   Lambda, the execution role's `AWS_ACCESS_KEY_ID`…), else those of the AWS SDK's default
//!   chain (`aws-config`: profiles, web identity, containers, IMDS). No `aws-sdk-s3`: one
//!   signed GET needs only `aws-sigv4`, already linked in. `AWS_ENDPOINT_URL_S3`, or
//!   `AWS_ENDPOINT_URL`, sends it to another endpoint, path-style
//!   (`<endpoint>/<bucket>/<key>`), as the AWS SDKs do (LocalStack, tests). Buckets with dots
//!   use the path-style `s3.<region>.amazonaws.com` host (a dotted virtual host does not match
//!   S3's wildcard certificate).
//!
//! Nothing here runs unless the config names such a URI: the default sources stay free of
//! network, TLS and credential work.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::error::ConfigError;
use super::source::Uri;
use super::yaml::MAX_CONFIG_BYTES;
use crate::exporter::otlp_tls::{Alpn, TlsMaterial};
use crate::net::{error_chain, sdk_config, sigv4_sign};

/// Longest a remote config fetch may take, credentials and redirects included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// Most redirects followed.
pub const MAX_REDIRECTS: usize = 5;

/// Fetches a remote source (`Http` or `S3`). `env` supplies `AWS_ENDPOINT_URL_S3` /
/// `AWS_ENDPOINT_URL`; credentials come from the process environment (the AWS SDK chain).
pub(crate) async fn fetch(
    uri: &Uri,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let fetch = async {
        match uri {
            Uri::Http(url) => get_text(url).await,
            Uri::S3 {
                bucket,
                region,
                key,
            } => {
                let credentials = load_credentials(region).await?;
                let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
                    .iter()
                    .filter_map(|v| env(v))
                    .map(|v| v.trim().to_owned())
                    .find(|v| !v.is_empty());
                fetch_s3(
                    bucket,
                    region,
                    key,
                    endpoint.as_deref(),
                    credentials,
                    SystemTime::now(),
                )
                .await
            }
            _ => Err("internal: not a remote source".to_owned()),
        }
    };
    let message = match tokio::time::timeout(FETCH_TIMEOUT, fetch).await {
        Ok(Ok(text)) => return Ok(text),
        Ok(Err(message)) => message,
        Err(_) => format!(
            "no complete answer within {} s (the limit for fetching a config at init)",
            FETCH_TIMEOUT.as_secs()
        ),
    };
    Err(ConfigError::Source {
        origin: uri.label(),
        message,
    })
}

/// GETs `url` (following redirects) and returns the body as UTF-8 text.
async fn get_text(url: &str) -> Result<String, String> {
    let mut url = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let request = http::Request::get(url.as_str())
            .header(
                http::header::USER_AGENT,
                concat!("otlp-xray/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = send(request).await?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| format!("HTTP {status} without a Location header"))?;
            url = resolve_location(&url, location);
            continue;
        }
        let body = read_body(response.into_body()).await?;
        if status != http::StatusCode::OK {
            return Err(format!(
                "HTTP {status}{}",
                snippet(&String::from_utf8_lossy(&body))
            ));
        }
        return into_text(body);
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

/// An absolute URL for a `Location` header value relative to `base`.
fn resolve_location(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    if location.starts_with('/') {
        format!("{origin}{location}")
    } else {
        let path = rest[authority_end..].split(['?', '#']).next().unwrap_or("");
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{origin}{dir}/{location}")
    }
}

/// Sends one request over plain HTTP or HTTPS, by the URI's scheme.
async fn send(
    request: http::Request<Empty<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String> {
    let https = TlsMaterial::default()
        .connector(Alpn::Http1)
        .map_err(|e| format!("TLS set-up failed: {}", e.message))?;
    let result = Client::builder(TokioExecutor::new())
        .build(https)
        .request(request)
        .await;
    result.map_err(|e| error_chain(&e))
}

/// Reads a body of at most [`MAX_CONFIG_BYTES`].
async fn read_body(body: hyper::body::Incoming) -> Result<Vec<u8>, String> {
    match Limited::new(body, MAX_CONFIG_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(format!(
            "the config is more than the {MAX_CONFIG_BYTES}-byte limit"
        )),
        Err(e) => Err(format!("reading the body failed: {}", error_chain(&*e))),
    }
}

fn into_text(body: Vec<u8>) -> Result<String, String> {
    String::from_utf8(body).map_err(|e| {
        format!(
            "the config is not valid UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// ` (S3: AccessDenied: Access Denied)` from an S3 XML error, else the first 200 characters of
/// a body, else nothing.
fn snippet(body: &str) -> String {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find("</")? + start;
        Some(body[start..end].trim().to_owned())
    };
    if let Some(code) = tag("Code") {
        return match tag("Message") {
            Some(m) => format!(" ({code}: {m})"),
            None => format!(" ({code})"),
        };
    }
    let text = body.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            super::yaml::truncate(&text.replace(['\r', '\n'], " "), 200)
        )
    }
}

/// Credentials for `region`: from the environment variables when set (what Lambda gives every
/// function: no HTTP client, no TLS context, no profile files), else the AWS SDK's default
/// chain.
async fn load_credentials(region: &str) -> Result<aws_credential_types::Credentials, String> {
    use aws_credential_types::provider::ProvideCredentials;
    let from_env = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    if let Ok(credentials) = from_env.provide_credentials().await {
        return Ok(credentials);
    }
    let sdk = sdk_config(Some(region.to_owned())).await;
    let provider = sdk
        .credentials_provider()
        .ok_or("no AWS credentials provider is configured")?;
    provider.provide_credentials().await.map_err(|e| {
        format!(
            "no AWS credentials to read the S3 object: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        )
    })
}

/// Reads `s3://<bucket>.s3.<region>.amazonaws.com/<key>` with `credentials`, at `endpoint`
/// (path-style) when given.
async fn fetch_s3(
    bucket: &str,
    region: &str,
    key: &str,
    endpoint: Option<&str>,
    credentials: aws_credential_types::Credentials,
    now: SystemTime,
) -> Result<String, String> {
    let key = super::source::percent_decode(key)
        .ok_or_else(|| "the S3 key has an invalid %-escape".to_owned())?;
    let key = encode_key(&key);
    let url = match endpoint {
        Some(e) => format!("{}/{bucket}/{key}", e.trim_end_matches('/')),
        None if bucket.contains('.') => format!("https://s3.{region}.amazonaws.com/{bucket}/{key}"),
        None => format!("https://{bucket}.s3.{region}.amazonaws.com/{key}"),
    };
    let request = signed_get(&url, region, credentials, now)?;
    let response = send(request).await?;
    let status = response.status();
    let body = read_body(response.into_body()).await?;
    if status != http::StatusCode::OK {
        let hint = match status.as_u16() {
            403 => "; the function's role needs s3:GetObject on the object",
            404 => "; check the bucket, region and key",
            _ => "",
        };
        return Err(format!(
            "S3 GetObject answered HTTP {status}{}{hint}",
            snippet(&String::from_utf8_lossy(&body))
        ));
    }
    into_text(body)
}

/// Percent-encodes an S3 key for a URL path: everything but unreserved characters and `/`.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A GET of `url` signed with SigV4 for S3 in `region` at `time`.
pub(crate) fn signed_get(
    url: &str,
    region: &str,
    credentials: aws_credential_types::Credentials,
    time: SystemTime,
) -> Result<http::Request<Empty<Bytes>>, String> {
    use aws_sigv4::http_request::{
        PayloadChecksumKind, PercentEncodingMode, SigningSettings, UriPathNormalizationMode,
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("cannot build the S3 URL {url}: {e}"))?;
    let host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or_else(|| format!("the S3 URL {url} has no host"))?;
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let request = http::Request::get(uri)
        .header(http::header::HOST, host.as_str())
        .header(
            http::header::USER_AGENT,
            concat!("otlp-xray/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("cannot build the S3 request: {e}"))?;
    sigv4_sign(request, &[], "s3", region, &credentials, settings, time)
        .map_err(|e| format!("S3 request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    type Seen = Arc<Mutex<Vec<http::Request<()>>>>;

    /// Serves `answer` on 127.0.0.1:0 until the test ends; records every request.
    async fn serve(
        answer: impl Fn(&http::Request<Incoming>) -> http::Response<Full<Bytes>> + Send + Sync + 'static,
    ) -> (String, Seen) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let answer = Arc::new(answer);
        let recorded = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let answer = answer.clone();
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: http::Request<Incoming>| {
                        let response = answer(&req);
                        let (parts, _) = req.into_parts();
                        recorded
                            .lock()
                            .unwrap()
                            .push(http::Request::from_parts(parts, ()));
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (format!("http://{addr}"), seen)
    }

    fn text(status: u16, body: &str) -> http::Response<Full<Bytes>> {
        http::Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[tokio::test]
    async fn http_fetch_follows_redirects_and_reports_statuses() {
        let (base, seen) = serve(|req| match req.uri().path() {
            "/c.yaml" => text(200, "receivers: {}\n"),
            "/moved" => http::Response::builder()
                .status(302)
                .header("location", "/c.yaml")
                .body(Full::new(Bytes::new()))
                .unwrap(),
            "/loop" => http::Response::builder()
                .status(301)
                .header("location", "loop")
                .body(Full::new(Bytes::new()))
                .unwrap(),
            _ => text(404, "no such config\n"),
        })
        .await;
        let get = |p: &str| {
            let uri = Uri::Http(format!("{base}{p}"));
            async move { fetch(&uri, &no_env).await.map_err(|e| e.to_string()) }
        };
        assert_eq!(get("/c.yaml").await.unwrap(), "receivers: {}\n");
        assert_eq!(get("/moved").await.unwrap(), "receivers: {}\n");
        let e = get("/nope").await.unwrap_err();
        assert_eq!(
            e,
            format!("{base}/nope: HTTP 404 Not Found (no such config)")
        );
        let e = get("/loop").await.unwrap_err();
        assert!(e.ends_with("more than 5 redirects"), "{e}");
        assert!(seen.lock().unwrap().len() >= 4);
    }

    #[tokio::test]
    async fn http_fetch_refuses_large_bodies_and_times_out() {
        let (base, _) = serve(|req| match req.uri().path() {
            "/big" => text(200, &"#".repeat(MAX_CONFIG_BYTES + 1)),
            _ => text(200, "x: 1\n"),
        })
        .await;
        let e = fetch(&Uri::Http(format!("{base}/big")), &no_env)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than the 1048576-byte limit"), "{e}");

        // A server that accepts and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let _keep = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        });
        let started = std::time::Instant::now();
        let e = fetch(&Uri::Http(format!("http://{addr}/c.yaml")), &no_env)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("no complete answer within 3 s"), "{e}");
        assert!(started.elapsed() < FETCH_TIMEOUT + Duration::from_secs(1));

        // Nothing listening: the connection error says so.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = fetch(&Uri::Http(format!("http://127.0.0.1:{port}/c")), &no_env)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.to_lowercase().contains("connect"), "{e}");
    }

    #[tokio::test]
    async fn https_to_a_plain_http_server_fails_the_tls_handshake() {
        let (base, _) = serve(|_| text(200, "x: 1\n")).await;
        let url = base.replace("http://", "https://");
        let e = fetch(&Uri::Http(format!("{url}/c.yaml")), &no_env)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(&format!("{url}/c.yaml: ")), "{e}");
    }

    fn creds() -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("tok".into()),
            None,
            "t",
        )
    }

    #[tokio::test]
    async fn s3_get_is_sigv4_signed_for_s3_path_style_at_the_endpoint() {
        let (base, seen) = serve(|req| match req.uri().path() {
            "/my-bucket/dir/collector%20a.yaml" => text(200, "exporters: {}\n"),
            _ => text(
                403,
                "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
            ),
        })
        .await;
        let now = SystemTime::now();
        let got = fetch_s3(
            "my-bucket",
            "eu-west-1",
            "dir/collector%20a.yaml",
            Some(&format!("{base}/")),
            creds(),
            now,
        )
        .await
        .unwrap();
        assert_eq!(got, "exporters: {}\n");
        let req = seen.lock().unwrap().remove(0);
        let h = |n: &str| req.headers().get(n).unwrap().to_str().unwrap().to_owned();
        let auth = h("authorization");
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(auth.contains("/eu-west-1/s3/aws4_request"), "{auth}");
        assert!(
            auth.contains(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
            ),
            "{auth}"
        );
        assert_eq!(
            h("x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(h("x-amz-security-token"), "tok");
        // The signature is the one aws-sigv4 computes for that request.
        let again = signed_get(
            &format!("{base}/my-bucket/dir/collector%20a.yaml"),
            "eu-west-1",
            creds(),
            now,
        )
        .unwrap();
        assert_eq!(
            again.headers()["authorization"].to_str().unwrap(),
            auth,
            "same request, same time, same signature"
        );

        let e = fetch_s3(
            "my-bucket",
            "eu-west-1",
            "other.yaml",
            Some(&base),
            creds(),
            now,
        )
        .await
        .unwrap_err();
        assert_eq!(
            e,
            "S3 GetObject answered HTTP 403 Forbidden (AccessDenied: Access Denied); the \
             function's role needs s3:GetObject on the object"
        );
    }

    #[test]
    fn keys_and_locations() {
        assert_eq!(encode_key("a b/c+d.yaml"), "a%20b/c%2Bd.yaml");
        assert_eq!(
            resolve_location("http://h:1/a/b.yaml?x", "c.yaml"),
            "http://h:1/a/c.yaml"
        );
        assert_eq!(resolve_location("https://h/a/b", "/z"), "https://h/z");
        assert_eq!(
            resolve_location("https://h/a/b", "http://o/p"),
            "http://o/p"
        );
    }
}
