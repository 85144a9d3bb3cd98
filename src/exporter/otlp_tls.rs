//! TLS for the `otlp` and `otlphttp` exporters: the collector's `configtls` client settings
//! ([`TlsClientConfig`]) turned into a rustls client config and an HTTPS connector.
//!
//! - Roots: the Mozilla root certificates compiled into the binary (`webpki-root-certs`, see
//!   [`bundled_roots`]); never a scan of the system store (it costs milliseconds at start-up).
//!   `ca_file`/`ca_pem` replace them, unless `include_system_ca_certs_pool`.
//! - Crypto: rustls with ring, TLS 1.2 and 1.3 (`min_version`/`max_version` narrow it).
//! - `cert_file`/`key_file` (or `_pem`): a client certificate for mutual TLS.
//! - `insecure_skip_verify`: the server's chain and name are not checked; handshake signatures
//!   still are (as Go's `InsecureSkipVerify`).
//! - `server_name_override`: the name verified and sent as SNI.
//!
//! PEM files are read and parsed by [`TlsMaterial::load`] when the config loads, so a missing
//! or malformed file fails init with the key that names it.

use std::sync::{Arc, OnceLock};

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::exporters::TlsClientConfig;

/// A TLS setting that cannot be used: the key under `tls` and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    /// The key under `tls` (`ca_file`, `key_pem`, …).
    pub key: &'static str,
    /// What is wrong, naming the file.
    pub message: String,
}

/// Certificates and key read from the `tls` settings. The default trusts the bundled roots
/// only, with every TLS version and no client certificate: what the X-Ray client and the
/// remote config sources use.
#[derive(Default)]
pub struct TlsMaterial {
    /// Extra CA certificates (`ca_file`/`ca_pem`); empty = the bundled roots only.
    ca: Vec<CertificateDer<'static>>,
    /// Also trust the bundled roots when `ca` is not empty.
    include_bundled_roots: bool,
    /// Client certificate chain and key for mutual TLS.
    client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    skip_verify: bool,
    server_name: Option<ServerName<'static>>,
    tls13_only: bool,
    tls12_only: bool,
}

/// Which HTTP versions the connector offers in ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// HTTP/2 only (gRPC).
    Http2,
    /// HTTP/1.1 only (OTLP/HTTP).
    Http1,
}

impl TlsMaterial {
    /// Reads and parses the PEM files and texts of `tls`. Errors name the key and the file.
    pub fn load(tls: &TlsClientConfig) -> Result<Self, TlsError> {
        let ca = match (&tls.ca_file, &tls.ca_pem) {
            (Some(path), _) => certs("ca_file", &read("ca_file", path)?, Some(path))?,
            (None, Some(pem)) => certs("ca_pem", pem.as_bytes(), None)?,
            (None, None) => Vec::new(),
        };
        let chain = match (&tls.cert_file, &tls.cert_pem) {
            (Some(path), _) => Some(certs("cert_file", &read("cert_file", path)?, Some(path))?),
            (None, Some(pem)) => Some(certs("cert_pem", pem.as_bytes(), None)?),
            (None, None) => None,
        };
        let key = match (&tls.key_file, &tls.key_pem) {
            (Some(path), _) => Some(key("key_file", &read("key_file", path)?, Some(path))?),
            (None, Some(pem)) => Some(key("key_pem", pem.as_bytes(), None)?),
            (None, None) => None,
        };
        let client_auth = match (chain, key) {
            (Some(c), Some(k)) => Some((c, k)),
            _ => None,
        };
        let server_name = match &tls.server_name_override {
            Some(name) => Some(ServerName::try_from(name.clone()).map_err(|_| TlsError {
                key: "server_name_override",
                message: format!("`{name}` is not a valid DNS name or IP address"),
            })?),
            None => None,
        };
        let material = TlsMaterial {
            ca,
            include_bundled_roots: tls.include_system_ca_certs_pool,
            client_auth,
            skip_verify: tls.insecure_skip_verify,
            server_name,
            tls13_only: tls.min_version_number() == 13,
            tls12_only: tls.max_version_number() == 12,
        };
        // Build once so that a key rustls refuses (wrong type, not matching) fails here.
        material.client_config(Alpn::Http1)?;
        Ok(material)
    }

    /// The rustls client config, ALPN unset (the connector sets it).
    pub fn client_config(&self, _alpn: Alpn) -> Result<rustls::ClientConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&'static rustls::SupportedProtocolVersion] = if self.tls13_only {
            &[&rustls::version::TLS13]
        } else if self.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            rustls::ALL_VERSIONS
        };
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .map_err(|e| TlsError {
                key: "min_version",
                message: format!("unusable TLS versions: {e}"),
            })?;
        let builder = if self.skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoServerVerification(
                    provider.signature_verification_algorithms,
                )))
        } else if self.ca.is_empty() {
            builder.with_root_certificates(bundled_roots())
        } else {
            let mut roots = if self.include_bundled_roots {
                (*bundled_roots()).clone()
            } else {
                RootCertStore::empty()
            };
            for cert in &self.ca {
                roots.add(cert.clone()).map_err(|e| TlsError {
                    key: "ca_file",
                    message: format!("a CA certificate cannot be used: {e}"),
                })?;
            }
            builder.with_root_certificates(roots)
        };
        match &self.client_auth {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| TlsError {
                    key: "key_file",
                    message: format!("the client certificate and key cannot be used: {e}"),
                }),
            None => Ok(builder.with_no_client_auth()),
        }
    }

    /// An HTTP(S) connector: TLS for `https://` URIs, plain TCP for `http://` ones.
    pub fn connector(&self, alpn: Alpn) -> Result<HttpsConnector<HttpConnector>, TlsError> {
        let config = self.client_config(alpn)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let builder = HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http();
        let builder = match &self.server_name {
            Some(name) => builder.with_server_name_resolver(
                hyper_rustls::FixedServerNameResolver::new(name.clone()),
            ),
            None => builder,
        };
        Ok(match alpn {
            Alpn::Http2 => builder.enable_http2().wrap_connector(http),
            Alpn::Http1 => builder.enable_http1().wrap_connector(http),
        })
    }
}

/// The Mozilla root certificates compiled into the binary (`webpki-root-certs`, the crate the
/// X-Ray client's trust store also uses, so the binary holds one copy), parsed once (about
/// 0.1 ms) and shared by every exporter.
pub fn bundled_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned(),
            );
            Arc::new(roots)
        })
        .clone()
}

/// Longest TCP connect. A connection attempt that is not answered (a firewall dropping SYNs)
/// gives up after this and is retried with backoff.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn read(key: &'static str, path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError {
        key,
        message: format!("cannot read `{path}`: {e}"),
    })
}

fn certs(
    key: &'static str,
    pem: &[u8],
    path: Option<&str>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let what = path.map_or_else(|| "the PEM text".to_owned(), |p| format!("`{p}`"));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError {
            key,
            message: format!("{what} is not valid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError {
            key,
            message: format!("{what} holds no certificate (expected -----BEGIN CERTIFICATE-----)"),
        });
    }
    Ok(certs)
}

fn key(
    key: &'static str,
    pem: &[u8],
    path: Option<&str>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let what = path.map_or_else(|| "the PEM text".to_owned(), |p| format!("`{p}`"));
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError {
        key,
        message: format!(
            "{what} holds no usable private key (expected PKCS#8, PKCS#1 or SEC1 PEM): {e}"
        ),
    })
}

/// `insecure_skip_verify`: accepts any server certificate, still checks the handshake
/// signatures with the provider's algorithms.
#[derive(Debug)]
struct NoServerVerification(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoServerVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_settings_build_with_bundled_roots() {
        assert!(bundled_roots().len() > 100);
        let m = TlsMaterial::load(&TlsClientConfig::default()).unwrap();
        assert!(m.ca.is_empty());
        assert!(m.connector(Alpn::Http2).is_ok());
        assert!(m.connector(Alpn::Http1).is_ok());
    }

    #[test]
    fn missing_and_malformed_files_name_their_key() {
        let tls = TlsClientConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let e = TlsMaterial::load(&tls).err().unwrap();
        assert_eq!(e.key, "ca_file");
        assert!(e.message.contains("/nonexistent/ca.pem"), "{}", e.message);

        let tls = TlsClientConfig {
            ca_pem: Some("not a certificate".into()),
            ..Default::default()
        };
        let e = TlsMaterial::load(&tls).err().unwrap();
        assert_eq!(e.key, "ca_pem");
        assert!(e.message.contains("no certificate"), "{}", e.message);

        let tls = TlsClientConfig {
            cert_pem: Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()),
            key_pem: Some("nope".into()),
            ..Default::default()
        };
        let e = TlsMaterial::load(&tls).err().unwrap();
        assert_eq!(e.key, "key_pem");
    }

    #[test]
    fn skip_verify_and_versions_build() {
        let tls = TlsClientConfig {
            insecure_skip_verify: true,
            min_version: Some("1.3".into()),
            server_name_override: Some("collector.internal".into()),
            ..Default::default()
        };
        let m = TlsMaterial::load(&tls).unwrap();
        assert!(m.tls13_only);
        assert!(m.connector(Alpn::Http2).is_ok());
    }
}
