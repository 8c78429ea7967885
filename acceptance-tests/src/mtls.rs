//! A real mutual-TLS handshake over loopback with rustls, the check a mesh's STRICT mode
//! plus a client-policy trust amounts to: each side verifies the other's chain against the
//! CA, and the client verifies the server's name.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A certificate chain and key, as PEM text from a TLS Secret.
pub struct Identity {
    pub chain_pem: String,
    pub key_pem: String,
}

fn chain(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<_, _>>().expect("certificate PEM")
}

fn key(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).expect("key PEM")
}

fn roots(ca_pem: &str) -> Arc<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for c in chain(ca_pem) {
        roots.add(c).expect("CA certificate");
    }
    Arc::new(roots)
}

/// Runs one handshake and a round trip of application data. `Ok` when both sides accepted
/// each other; `Err` carries whichever side's refusal came first.
pub fn handshake(
    server: &Identity,
    server_trusts_ca: &str,
    client: &Identity,
    client_trusts_ca: &str,
    server_name: &str,
) -> Result<(), String> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let client_verifier = rustls::server::WebPkiClientVerifier::builder(roots(server_trusts_ca)).build().map_err(|e| e.to_string())?;
        let server_config = rustls::ServerConfig::builder()
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain(&server.chain_pem), key(&server.key_pem))
            .map_err(|e| format!("server identity: {e}"))?;
        let client_config = rustls::ClientConfig::builder()
            .with_root_certificates(roots(client_trusts_ca))
            .with_client_auth_cert(chain(&client.chain_pem), key(&client.key_pem))
            .map_err(|e| format!("client identity: {e}"))?;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let server_task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
            let mut tls = acceptor.accept(tcp).await.map_err(|e| format!("server refused: {e}"))?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.map_err(|e| format!("server read: {e}"))?;
            tls.write_all(b"pong").await.map_err(|e| format!("server write: {e}"))?;
            tls.shutdown().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(())
        });
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
        let name = ServerName::try_from(server_name.to_string()).map_err(|e| e.to_string())?;
        let client_result = async {
            let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let mut tls = connector.connect(name, tcp).await.map_err(|e| format!("client refused: {e}"))?;
            tls.write_all(b"ping").await.map_err(|e| format!("client write: {e}"))?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.map_err(|e| format!("client read (server refused us?): {e}"))?;
            (buf == *b"pong").then_some(()).ok_or_else(|| "unexpected reply".to_string())
        }
        .await;
        let server_result = match tokio::time::timeout(std::time::Duration::from_secs(10), server_task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("server timed out".into()),
        };
        // Both sides' errors: the side that refused names the reason, the other sees an alert.
        match (client_result, server_result) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(c), Ok(())) => Err(c),
            (Ok(()), Err(s)) => Err(s),
            (Err(c), Err(s)) => Err(format!("{c}; {s}")),
        }
    })
}
