//! The provider binary as go-plugin's client sees it: refusal without the magic cookie,
//! protocol negotiation, and AutoMTLS that admits only the CLI's own certificate.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const COOKIE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

fn provider_binary() -> &'static str {
    env!("CARGO_BIN_EXE_terraform-provider-meshtls")
}

struct Plugin(Child);

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn run_by_hand_explains_and_exits_1() {
    let out = Command::new(provider_binary()).env_remove("TF_PLUGIN_MAGIC_COOKIE").output().expect("run provider");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("is a plugin for Terraform and OpenTofu"), "{text}");
    assert_eq!(text.trim().lines().count(), 1, "one line expected: {text}");
    assert!(out.stdout.is_empty(), "nothing may reach stdout, where the CLI expects the handshake");
}

#[test]
fn refuses_protocol_versions_it_does_not_speak() {
    let out = Command::new(provider_binary())
        .env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "4,5")
        .output()
        .expect("run provider");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("speaks plugin protocol 6"));
    assert!(out.stdout.is_empty());
}

/// An ECDSA P-521/SHA-512 self-signed certificate, as go-plugin's client makes.
fn client_identity() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("P-521 key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("self-signed");
    (cert.pem(), cert.der().clone(), PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
}

/// Starts the plugin as the CLI would and returns it with its handshake line's fields.
fn start_plugin(client_cert_pem: &str) -> (Plugin, Vec<String>) {
    let mut child = Command::new(provider_binary())
        .env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_MIN_PORT", "30000")
        .env("PLUGIN_MAX_PORT", "30100")
        .env("PLUGIN_CLIENT_CERT", client_cert_pem)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start provider");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("handshake line");
    (Plugin(child), line.trim().split('|').map(str::to_string).collect())
}

/// Trusts exactly the certificate from the handshake line, as go-plugin's client does (it
/// makes that certificate its only root; webpki would refuse it as a CA used as a leaf).
#[derive(Debug)]
struct PinnedServer {
    der: Vec<u8>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::client::danger::ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.der.as_slice() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("unexpected server certificate".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Connects with TLS (optionally presenting a client certificate) and reports whether the
/// server then speaks HTTP/2 to us: a server that refused the client certificate closes the
/// connection with an alert instead.
async fn server_talks_to(
    addr: &str,
    server_cert: CertificateDer<'static>,
    client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> bool {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let verifier = PinnedServer { der: server_cert.as_ref().to_vec(), algorithms: provider.signature_verification_algorithms };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match client {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let Ok(mut tls) = connector.connect(ServerName::try_from("localhost").expect("name"), tcp).await else { return false };
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "the server must negotiate ALPN h2");
    if tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 9];
    // The server's first frame is its SETTINGS frame (type 4).
    matches!(tokio::time::timeout(Duration::from_secs(10), tls.read_exact(&mut buf)).await, Ok(Ok(_)) if buf[3] == 4)
}

#[test]
fn automtls_admits_only_the_cli_certificate() {
    use base64::Engine as _;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (pem, cert, key) = client_identity();
    let (_plugin, fields) = start_plugin(&pem);
    assert_eq!(fields.len(), 6, "handshake line has six fields: {fields:?}");
    assert_eq!((fields[0].as_str(), fields[1].as_str(), fields[2].as_str(), fields[4].as_str()), ("1", "6", "tcp", "grpc"));
    let port: u16 = fields[3].rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    assert!((30000..=30100).contains(&port), "port {port} outside PLUGIN_MIN_PORT..PLUGIN_MAX_PORT");
    assert!(fields[3].starts_with("127.0.0.1:"));
    assert!(!fields[5].ends_with('='), "certificate must be unpadded base64");
    let server_cert = CertificateDer::from(base64::engine::general_purpose::STANDARD_NO_PAD.decode(&fields[5]).expect("base64 DER"));

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (_, stranger_cert, stranger_key) = client_identity();
    assert!(rt.block_on(server_talks_to(&fields[3], server_cert.clone(), Some((cert, key)))), "the CLI's certificate must be admitted");
    assert!(!rt.block_on(server_talks_to(&fields[3], server_cert.clone(), None)), "a client without a certificate must be refused");
    assert!(
        !rt.block_on(server_talks_to(&fields[3], server_cert, Some((stranger_cert, stranger_key)))),
        "another certificate must be refused"
    );
}

/// Without the CLI's certificate there is no mutual TLS to serve: the provider refuses to
/// start rather than serve in plaintext, and says how to run it for a debugger.
#[test]
fn refuses_to_serve_without_the_cli_certificate() {
    let out = Command::new(provider_binary())
        .env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env_remove("PLUGIN_CLIENT_CERT")
        .output()
        .expect("run provider");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("PLUGIN_CLIENT_CERT is not set") && text.contains("--debug"), "{text}");
    assert!(out.stdout.is_empty(), "no handshake line: nothing is served");
}

/// A connection that never finishes its TLS handshake is dropped after the handshake timeout,
/// and the server keeps serving the CLI.
#[test]
fn a_stalled_handshake_is_dropped() {
    use base64::Engine as _;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (pem, cert, key) = client_identity();
    let (_plugin, fields) = start_plugin(&pem);
    let server_cert = CertificateDer::from(base64::engine::general_purpose::STANDARD_NO_PAD.decode(&fields[5]).expect("base64 DER"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut idle = tokio::net::TcpStream::connect(&fields[3]).await.expect("connect");
        let mut buf = [0u8; 1];
        // The server closes the silent connection: read returns 0 bytes (or an error), well
        // within twice the timeout, rather than hanging.
        let closed = tokio::time::timeout(Duration::from_secs(25), idle.read(&mut buf)).await;
        assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "a stalled handshake must be dropped: {closed:?}");
    });
    assert!(rt.block_on(server_talks_to(&fields[3], server_cert, Some((cert, key)))), "the CLI is still served");
}
