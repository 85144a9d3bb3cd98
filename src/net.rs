//! HTTP client plumbing shared by the X-Ray client, the OTLP exporters and the remote config
//! sources: error text, SigV4 signing (`aws-sigv4`) and the AWS SDK's configuration chains
//! (`aws-config`, its own HTTP client trusting the bundled roots). TLS for our own clients is
//! [`crate::exporter::otlp_tls::TlsMaterial`].

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};

/// An error and its causes on one line, `error: cause: cause`, each cause once (hyper's own
/// message is only "client error (Connect)").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Signs `request` with SigV4 for `service` in `region` at `time`: computes the signature over
/// its method, URI, headers (but those `settings` excludes: by default `user-agent`,
/// `authorization`, `x-amzn-trace-id` and `transfer-encoding`) and `payload`, then adds the
/// signer's headers (`authorization`, `x-amz-date`, and `x-amz-security-token` with session
/// credentials; both secrets marked sensitive). The signer's own `apply_to_request_http1x`
/// is not used: it panics on a header value it cannot convert and marks nothing sensitive.
pub(crate) fn sigv4_sign<B>(
    mut request: http::Request<B>,
    payload: &[u8],
    service: &str,
    region: &str,
    credentials: &Credentials,
    settings: SigningSettings,
    time: SystemTime,
) -> Result<http::Request<B>, String> {
    let identity = credentials.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot sign the request: {e}"))?
        .into();
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| value.to_str().map(|v| (name.as_str(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "cannot sign the request: a header value is not visible ASCII".to_owned())?;
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.uri().to_string(),
        headers.into_iter(),
        SignableBody::Bytes(payload),
    )
    .map_err(|e| format!("cannot sign the request: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("cannot sign the request: {e}"))?
        .into_parts();
    for (name, value) in instructions.headers() {
        let mut value = http::HeaderValue::from_str(value)
            .map_err(|_| format!("the AWS credentials give an invalid `{name}` header value"))?;
        if matches!(name, "authorization" | "x-amz-security-token") {
            value.set_sensitive(true);
        }
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("the signer produced an invalid header name `{name}`"))?;
        request.headers_mut().insert(name, value);
    }
    Ok(request)
}

/// The AWS SDK's configuration (region, credentials provider, endpoint and FIPS settings) from
/// `aws-config`'s default chains — environment, profile files, container and instance metadata —
/// with `region` winning when given. Its own HTTP client (for credential providers that call
/// AWS) uses rustls with ring and the bundled roots.
pub(crate) async fn sdk_config(region: Option<String>) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(bundled_tls_context())
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    loader.load().await
}

/// The web PKI root certificates compiled into the binary (`webpki-root-certs`, Mozilla's
/// list), as one PEM bundle: [`aws_smithy_http_client::tls::TrustStore`] takes PEM only.
///
/// Why: the default trust store scans the system certificate store when the first connection
/// is built, which production Rust extensions measured at ~45 ms in Lambda; the bundle costs no
/// file I/O and parses in about a millisecond (BENCHMARKS.md).
fn bundled_roots_pem() -> String {
    use aws_smithy_types::base64;
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
    let mut pem = String::with_capacity(roots.iter().map(|c| c.len() * 4 / 3 + 64).sum());
    for cert in roots {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        pem.push_str(&base64::encode(cert.as_ref()));
        pem.push_str("\n-----END CERTIFICATE-----\n");
    }
    pem
}

/// TLS context of `aws-config`'s own HTTP client (credential providers that call AWS: STS, SSO,
/// container and instance metadata): the bundled roots only, never the system store.
fn bundled_tls_context() -> aws_smithy_http_client::tls::TlsContext {
    let trust_store = aws_smithy_http_client::tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(bundled_roots_pem().into_bytes());
    aws_smithy_http_client::tls::TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        // Only a custom-roots setting can fail here, and ours is built above from valid DER.
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_roots_parse_back_to_every_certificate() {
        use rustls::pki_types::pem::PemObject;
        let pem = bundled_roots_pem();
        let parsed: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("valid PEM");
        assert_eq!(parsed.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(parsed.len() > 100, "{} roots", parsed.len());
        for (got, want) in parsed.iter().zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS) {
            assert_eq!(got.as_ref(), want.as_ref());
        }
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn error_chain_lists_each_cause_once() {
        let e = Layer(
            "client error (Connect)",
            Some(Box::new(Layer(
                "tcp connect error: Connection refused",
                Some(Box::new(Layer("Connection refused", None))),
            ))),
        );
        assert_eq!(
            error_chain(&e),
            "client error (Connect): tcp connect error: Connection refused"
        );
    }
}
