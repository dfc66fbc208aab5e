//! TLS roots for https remotes: the bundled webpki roots, plus the system CA bundle when the
//! image has one, plus `https_ca_file` (PEM) for private CAs.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;

use crate::error::{Context, Kind, Result};

/// An extra CA bundle and the setting that named it (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFile {
    pub path: std::path::PathBuf,
    pub setting: &'static str,
}

/// The extra CA bundle: `https_ca_file`, else `GIT_SSL_CAINFO` (what a device migrated from
/// the Python agent, i.e. from git, already has set); `env` reads the environment.
pub fn ca_file(
    https_ca_file: Option<&Path>,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<CaFile> {
    match https_ca_file {
        Some(p) => Some(CaFile {
            path: p.to_path_buf(),
            setting: "https_ca_file",
        }),
        None => env("GIT_SSL_CAINFO")
            .filter(|v| !v.is_empty())
            .map(|v| CaFile {
                path: v.into(),
                setting: "GIT_SSL_CAINFO",
            }),
    }
}

/// rustls client config: bundled roots + system bundle + `ca_file`. Read on every connect (a
/// few ms), so an updated system store or CA file is used without a restart. A CA file
/// that cannot be used is `Kind::Config` (the agent config names it).
pub fn tls_config(ca_file: Option<&CaFile>) -> Result<Arc<rustls::ClientConfig>> {
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
    if let Some(ca) = ca_file {
        add_ca_file(&mut roots, &ca.path, ca.setting).map_err(|e| e.with_kind(Kind::Config))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Add the certificates of the PEM file `path` (named by `setting`) to `roots`.
fn add_ca_file(roots: &mut rustls::RootCertStore, path: &Path, setting: &str) -> Result<()> {
    let shown = path.display();
    let mut count = 0;
    for cert in
        CertificateDer::pem_file_iter(path).with_context(|| format!("read {setting} {shown}"))?
    {
        let cert = cert.with_context(|| format!("{setting} {shown}: bad PEM"))?;
        roots
            .add(cert)
            .with_context(|| format!("{setting} {shown}: unusable CA certificate"))?;
        count += 1;
    }
    if count == 0 {
        crate::bail!("{setting} {shown}: no PEM certificate in it");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_ca_file_wins_then_git_ssl_cainfo() {
        let env = |k: &str| (k == "GIT_SSL_CAINFO").then(|| "/etc/git-ca.pem".into());
        let from_config = ca_file(Some(Path::new("/etc/ca.pem")), env).unwrap();
        assert_eq!(from_config.setting, "https_ca_file");
        let from_env = ca_file(None, env).unwrap();
        assert_eq!(
            (from_env.path.to_str(), from_env.setting),
            (Some("/etc/git-ca.pem"), "GIT_SSL_CAINFO")
        );
        assert_eq!(ca_file(None, |_| Some("".into())), None);
        assert_eq!(ca_file(None, |_| None), None);
    }
}
