//! TLS roots for https remotes: the bundled webpki roots, plus the system CA bundle when the
//! image has one, plus `https_ca_file` (PEM) for private CAs.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;

use crate::error::{Context, Kind, Result};

/// rustls client config: bundled roots + system bundle + `ca_file`. Read on every connect (a
/// few ms), so an updated system store or CA file is used without a restart. A CA file
/// that cannot be used is `Kind::Config` (the agent config names it).
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(bundle) = system_bundle() {
        // Unparsable entries in the system store are skipped, as curl/openssl do.
        match CertificateDer::pem_file_iter(&bundle) {
            Ok(certs) => {
                let (added, skipped) =
                    roots.add_parsable_certificates(certs.filter_map(|c| c.ok()));
                log::trace!(
                    "http: {added} roots from {} ({skipped} skipped)",
                    bundle.display()
                );
            }
            Err(e) => log::debug!(
                "http: system CA bundle {} unreadable: {e}",
                bundle.display()
            ),
        }
    }
    if let Some(path) = ca_file {
        add_ca_file(&mut roots, path).map_err(|e| e.with_kind(Kind::Config))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Add the certificates of the PEM file `path` (`https_ca_file`) to `roots`.
fn add_ca_file(roots: &mut rustls::RootCertStore, path: &Path) -> Result<()> {
    let shown = path.display();
    let mut count = 0;
    for cert in CertificateDer::pem_file_iter(path)
        .with_context(|| format!("read https_ca_file {shown}"))?
    {
        let cert = cert.with_context(|| format!("https_ca_file {shown}: bad PEM"))?;
        roots
            .add(cert)
            .with_context(|| format!("https_ca_file {shown}: unusable CA certificate"))?;
        count += 1;
    }
    if count == 0 {
        crate::bail!("https_ca_file {shown}: no PEM certificate in it");
    }
    Ok(())
}

/// The system's CA bundle: `SSL_CERT_FILE`, else the first of the usual distribution paths.
fn system_bundle() -> Option<std::path::PathBuf> {
    const CANDIDATES: &[&str] = &[
        "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch, Yocto
        "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // newer RHEL
        "/etc/ssl/ca-bundle.pem",             // openSUSE
        "/etc/ssl/cert.pem",                  // Alpine (libressl), OpenWrt
    ];
    std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            CANDIDATES
                .iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.is_file())
        })
}
