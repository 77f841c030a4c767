//! TLS 1.2 and 1.3 with rustls, ALPN `h2` first and `http/1.1` second.
//!
//! The crypto provider is *ring* unless the crate is built with `--features aws-lc`. Measured
//! on this 2-vCPU AMD EPYC VM (the whole stack on one pinned CPU, h2load on the other, the
//! HttpArena mix at 256 connections, interleaved runs) — the figures are in
//! `docs/BENCHMARKS.md` and in the edge's section of the issue note. ring builds from a few C
//! and assembly files; aws-lc-rs compiles a large C tree (about a minute of CPU more per cold
//! Docker build), which the 300 s validation window cares about.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading the certificate chain {path}: {message}")]
    Certificate { path: String, message: String },
    #[error("reading the private key {path}: {message}")]
    Key { path: String, message: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The crypto provider this build uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[cfg(feature = "aws-lc")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(not(feature = "aws-lc"))]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

pub fn provider_name() -> &'static str {
    if cfg!(feature = "aws-lc") {
        "aws-lc-rs"
    } else {
        "ring"
    }
}

/// The certificate the edge serves, reloadable while it runs: every handshake asks it for the
/// current chain and key (a read lock and a reference count, next to a handshake's public-key
/// operations), and [`Certificate::reload`] (SIGHUP in `main`) swaps in what the files hold
/// now. Connections already open keep the certificate they were made with; a reload that
/// fails (a missing file, a key that does not match its certificate) changes nothing.
#[derive(Debug)]
pub struct Certificate {
    /// The PEM certificate chain (`TLS_CERT`).
    cert: PathBuf,
    /// The PEM private key (`TLS_KEY`).
    key: PathBuf,
    /// What handshakes get.
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    /// Loads the PEM chain at `cert` and the PEM key at `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        Ok(Arc::new(Self {
            current: RwLock::new(read(cert, key)?),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }))
    }

    /// Reads the files again and serves what they hold from the next handshake on.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = read(&self.cert, &self.key)?;
        match self.current.write() {
            Ok(mut current) => *current = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    /// The end-entity certificate served now (DER).
    pub fn leaf(&self) -> Option<CertificateDer<'static>> {
        self.served().cert.first().cloned()
    }

    fn served(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.served())
    }
}

/// The chain at `cert` and the key at `key`, checked to belong together.
fn read(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificate {
            path: cert.display().to_string(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.display().to_string(),
            message: "no CERTIFICATE block found".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(Arc::new(CertifiedKey::from_der(
        chain,
        key_der,
        &provider(),
    )?))
}

/// A server configuration serving `certificate`.
pub fn server_config(certificate: Arc<Certificate>) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(certificate);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = Certificate::load(&empty, &empty).unwrap_err().to_string();
        assert!(
            err.contains("empty.pem") && err.contains("certificate"),
            "{err}"
        );
        let err = Certificate::load(&dir.path().join("nope.crt"), &empty)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.crt"), "{err}");
    }
}
