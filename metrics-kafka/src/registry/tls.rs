//! TLS for the registry client: rustls with the ring provider (given to the client, no
//! process-wide default installed), the system's roots plus an optional CA file.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::RegistryError;

/// The rustls configuration for `registry`: system roots (rustls-native-certs, which
/// honours `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus the certificates of `ca_path`.
pub(super) fn client_config(
    ca_path: Option<&Path>,
    registry: &str,
) -> Result<rustls::ClientConfig, RegistryError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(registry, %error, "cannot load some system CA certificates");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(registry, added, ignored, "system CA certificates loaded");

    if let Some(path) = ca_path {
        let ca_error = |reason: String| RegistryError::CaCertificate {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|error| ca_error(error.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| ca_error(format!("not a valid PEM file: {error}")))?;
        if certs.is_empty() {
            return Err(ca_error(
                "no '-----BEGIN CERTIFICATE-----' block found; expected PEM CA certificates"
                    .to_owned(),
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|error| ca_error(format!("not a usable CA certificate: {error}")))?;
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| RegistryError::Client {
            registry: registry.to_owned(),
            reason: format!("TLS set-up failed: {error}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
