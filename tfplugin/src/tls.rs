//! go-plugin's AutoMTLS: the CLI passes its own certificate in PLUGIN_CLIENT_CERT; the plugin
//! makes a server certificate at start, announces it in the handshake line, and accepts only
//! connections that present exactly the CLI's certificate.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("PLUGIN_CLIENT_CERT holds no PEM certificate")]
    NoClientCertificate,
    #[error("generating the server certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("configuring TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

pub struct ServerIdentity {
    pub cert_der: CertificateDer<'static>,
    key_der: PrivatePkcs8KeyDer<'static>,
}

/// A short-lived self-signed certificate for `localhost`, the name go-plugin's client checks.
pub fn generate_server_identity() -> Result<ServerIdentity, TlsError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params.distinguished_name.push(DnType::OrganizationName, "terraform-provider plugin");
    // The client trusts this certificate as its own root, as go-plugin's servers do.
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::KeyCertSign];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::seconds(30);
    params.not_after = now + time::Duration::days(1);
    let cert = params.self_signed(&key)?;
    Ok(ServerIdentity { cert_der: cert.der().clone(), key_der: PrivatePkcs8KeyDer::from(key.serialize_der()) })
}

/// Accepts exactly one client certificate, byte for byte. go-plugin's client certificate is
/// self-signed and marked as a CA, so path validation (which refuses a CA as an end entity)
/// is the wrong tool; pinning is both stricter and simpler. The handshake signature is still
/// verified, which proves the peer holds the certificate's key.
#[derive(Debug)]
struct PinnedClientCertificate {
    der: Vec<u8>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClientCertificate {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.der.as_slice() {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::warn!("refused a TLS client whose certificate is not the one in PLUGIN_CLIENT_CERT");
            Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The aws-lc-rs backend is used because it verifies ECDSA P-521/SHA-512, the signature
/// go-plugin's client certificate carries.
pub fn server_config(identity: &ServerIdentity, client_cert_pem: &str) -> Result<rustls::ServerConfig, TlsError> {
    let client_cert =
        CertificateDer::pem_slice_iter(client_cert_pem.as_bytes()).next().and_then(Result::ok).ok_or(TlsError::NoClientCertificate)?;
    let provider: CryptoProvider = rustls::crypto::aws_lc_rs::default_provider();
    let verifier = PinnedClientCertificate { der: client_cert.as_ref().to_vec(), algorithms: provider.signature_verification_algorithms };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(vec![identity.cert_der.clone()], PrivateKeyDer::Pkcs8(identity.key_der.clone_key()))?;
    // gRPC clients (grpc-go 1.67 and later) insist on ALPN h2.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}
