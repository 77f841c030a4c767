//! The TLS client every attack uses: TLS 1.2 and 1.3, any certificate accepted (the
//! benchmark's certificates are self-signed; an attacker does not verify either), the ALPN
//! list the caller asks for.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::{within, Error, Target};

/// How long a TCP connect plus TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A connector offering `alpn` (e.g. `[b"h2"]`, `[b"http/1.1"]`, or none).
pub fn connector(alpn: &[&[u8]]) -> Result<TlsConnector, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .map_err(|e| Error::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// TCP connect plus TLS handshake with `connector`, within [`HANDSHAKE_TIMEOUT`].
pub async fn connect(
    target: &Target,
    connector: &TlsConnector,
) -> Result<TlsStream<TcpStream>, Error> {
    within(HANDSHAKE_TIMEOUT, "connect + TLS handshake", async {
        let tcp = TcpStream::connect(target.addr)
            .await
            .map_err(|e| Error::Connect(target.addr, e))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(target.server_name.clone())
            .map_err(|e| Error::Tls(target.addr, std::io::Error::other(e)))?;
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| Error::Tls(target.addr, e))
    })
    .await
}

/// Whether the handshake of `tls` negotiated HTTP/2.
pub fn is_h2(tls: &TlsStream<TcpStream>) -> bool {
    tls.get_ref().1.alpn_protocol() == Some(b"h2")
}
