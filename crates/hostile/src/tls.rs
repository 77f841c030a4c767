//! The TLS client every attack uses, and the edges' tests too: TLS 1.2 and 1.3, any
//! certificate accepted (the benchmark's certificates are self-signed; an attacker does not
//! verify either) or one pinned certificate, the ALPN list the caller asks for.

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

/// Accepts the certificate it was given (compared by its DER bytes), or any certificate when
/// given none. Name-based verification does not apply: HttpArena's certificate has no SAN and
/// its clients do not verify, and `openssl req -x509` marks the certificate as a CA, which
/// webpki refuses as an end entity. Signatures are still checked, so the handshake is real.
#[derive(Debug)]
struct ExpectedCertificate {
    der: Option<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ExpectedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.der {
            Some(der) if der.as_ref() != end_entity.as_ref() => Err(rustls::Error::General(
                "the server presented a certificate other than the expected one".into(),
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A connector offering `alpn` (e.g. `[b"h2"]`, `[b"http/1.1"]`, or none), TLS 1.2 and 1.3,
/// any certificate accepted.
pub fn connector(alpn: &[&[u8]]) -> Result<TlsConnector, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    connector_with(alpn, None, rustls::DEFAULT_VERSIONS, provider)
}

/// A connector offering `alpn` and the protocol `versions` with the crypto `provider` (a
/// test of a server uses the server's own), expecting the certificate `pinned` (`None`: any).
pub fn connector_with(
    alpn: &[&[u8]],
    pinned: Option<CertificateDer<'static>>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    provider: Arc<CryptoProvider>,
) -> Result<TlsConnector, Error> {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| Error::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ExpectedCertificate {
            der: pinned,
            provider,
        }))
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
