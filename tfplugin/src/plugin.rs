//! Serving a provider the way go-plugin expects: magic cookie, protocol negotiation, a
//! loopback listener in the allowed port range, AutoMTLS, the handshake line on stdout, and
//! the controller, stdio and health services beside the provider service.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::Connected;
use tonic::transport::Server;

use crate::framework::Provider;
use crate::proto::plugin::{self as goplugin, grpc_controller_server, grpc_stdio_server};
use crate::server::ProviderServer;
use crate::tls;

pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// Terraform accepts schemas and states far larger than tonic's 4 MiB default.
const MAX_MESSAGE_BYTES: usize = 256 << 20;
const PROTOCOL_VERSION: u32 = 6;

pub struct ServeOptions {
    /// The provider's registry address, e.g. `registry.terraform.io/meshtls/meshtls`.
    pub address: &'static str,
    /// The binary's name, used in the message shown when it is run by hand.
    pub binary_name: &'static str,
    /// The provider's version, as its release archives name it; `--version` prints it.
    pub version: &'static str,
    /// Log targets held to errors at every level (see `logging::init`).
    pub held_log_targets: &'static [&'static str],
}

/// Entry point for a provider binary: parses `--debug` (and `--version`), builds the runtime
/// and serves.
pub fn main(provider: impl Provider, opts: ServeOptions) -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--version" || a == "-version") {
        println!("{} {}", opts.binary_name, opts.version);
        return ExitCode::SUCCESS;
    }
    crate::logging::init(opts.binary_name, opts.held_log_targets);
    let debug = std::env::args().skip(1).any(|a| a == "--debug" || a == "-debug");
    if !debug && std::env::var(MAGIC_COOKIE_KEY).as_deref() != Ok(MAGIC_COOKIE_VALUE) {
        eprintln!(
            "{} is a plugin for Terraform and OpenTofu, started by `terraform`/`tofu` when a configuration uses it; it is not meant to be run by hand (use --debug to run it for a debugger).",
            opts.binary_name
        );
        return ExitCode::from(1);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", opts.binary_name);
            return ExitCode::from(1);
        }
    };
    let provider: Arc<dyn Provider> = Arc::new(provider);
    let result = if debug { runtime.block_on(serve_debug(provider, &opts)) } else { runtime.block_on(serve_plugin(provider)) };
    // Spawned work (in-flight requests) must not keep the process alive after shutdown.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "plugin server failed");
            eprintln!("{}: {e}", opts.binary_name);
            ExitCode::from(1)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "this provider speaks plugin protocol {PROTOCOL_VERSION}, but the CLI offered only {0:?}; use Terraform 1.0 or later, or OpenTofu"
    )]
    Protocol(String),
    #[error("no free port on 127.0.0.1 between {0} and {1} (PLUGIN_MIN_PORT/PLUGIN_MAX_PORT)")]
    NoPort(u16, u16),
    #[error("invalid {0}: {1:?}")]
    Env(&'static str, String),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "PLUGIN_CLIENT_CERT is not set: the CLI did not offer mutual TLS, and this provider serves only over it; run it with --debug for a plaintext server a debugger can attach to"
    )]
    NoClientCertificate,
}

/// How long a connection may take to finish its TLS handshake: one that stalls is dropped
/// instead of holding a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn negotiate_protocol() -> Result<(), ServeError> {
    match std::env::var("PLUGIN_PROTOCOL_VERSIONS") {
        Ok(list) if !list.trim().is_empty() => {
            if list.split(',').any(|v| v.trim() == PROTOCOL_VERSION.to_string()) {
                Ok(())
            } else {
                Err(ServeError::Protocol(list))
            }
        }
        _ => Ok(()),
    }
}

fn port_env(name: &'static str, default: u16) -> Result<u16, ServeError> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.trim().parse().map_err(|_| ServeError::Env(name, v)),
        _ => Ok(default),
    }
}

/// Binds the first free port in the allowed range, starting at a pseudo-random offset so that
/// the many provider processes one CLI run starts rarely race for the same port.
async fn bind_in_range() -> Result<TcpListener, ServeError> {
    let (min, max) = (port_env("PLUGIN_MIN_PORT", 10000)?, port_env("PLUGIN_MAX_PORT", 25000)?);
    if min > max {
        return Err(ServeError::NoPort(min, max));
    }
    let span = u32::from(max - min) + 1;
    let seed = std::process::id() ^ time::OffsetDateTime::now_utc().nanosecond();
    for i in 0..span {
        let port = min as u32 + (seed.wrapping_add(i) % span);
        if let Ok(l) = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port as u16))).await {
            return Ok(l);
        }
    }
    Err(ServeError::NoPort(min, max))
}

async fn serve_plugin(provider: Arc<dyn Provider>) -> Result<(), ServeError> {
    negotiate_protocol()?;
    let listener = bind_in_range().await?;
    let addr = listener.local_addr()?;
    let client_cert = std::env::var("PLUGIN_CLIENT_CERT").ok().filter(|c| !c.trim().is_empty());
    let (shutdown_tx, mut shutdown_rx) = mpsc::channel::<()>(1);
    let router = router(provider, Some(shutdown_tx));
    let shutdown = async move {
        shutdown_rx.recv().await;
    };
    ignore_interrupts();
    exit_when_orphaned();

    // Only the CLI that started the provider may talk to it: every CLI meshtls supports
    // offers go-plugin's AutoMTLS, so a missing certificate is refused, not served in plaintext.
    let pem = client_cert.ok_or(ServeError::NoClientCertificate)?;
    let identity = tls::generate_server_identity()?;
    let config = tls::server_config(&identity, &pem)?;
    let cert = base64::engine::general_purpose::STANDARD_NO_PAD.encode(identity.cert_der.as_ref());
    announce(&format!("1|{PROTOCOL_VERSION}|tcp|{addr}|grpc|{cert}"))?;
    let incoming = tls_incoming(listener, tokio_rustls::TlsAcceptor::from(Arc::new(config)));
    serve(router, incoming, shutdown).await
}

/// `--debug`: plaintext on a free loopback port, running until interrupted, so a debugger can
/// hold the process while the CLI reattaches to it any number of times.
async fn serve_debug(provider: Arc<dyn Provider>, opts: &ServeOptions) -> Result<(), ServeError> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let addr = listener.local_addr()?;
    let reattach = serde_json::json!({
        opts.address: {
            "Protocol": "grpc",
            "ProtocolVersion": PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": { "Network": "tcp", "String": addr.to_string() }
        }
    });
    announce(&format!(
        "Provider started. To attach Terraform or OpenTofu, set TF_REATTACH_PROVIDERS to this value:\n\n\tTF_REATTACH_PROVIDERS='{reattach}'\n"
    ))?;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(router(provider, None), plain_incoming(listener), shutdown).await
}

fn announce(line: &str) -> Result<(), ServeError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// The CLI forwards Ctrl-C to the whole process group; a plugin must keep running and wait
/// for StopProvider and the controller's Shutdown instead.
fn ignore_interrupts() {
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            tracing::debug!("ignoring SIGINT: waiting for the CLI to stop the provider");
        }
    });
}

/// A CLI that crashes never sends Shutdown; without this, its plugin would live on alone.
fn exit_when_orphaned() {
    let parent = std::os::unix::process::parent_id();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if std::os::unix::process::parent_id() != parent {
                tracing::warn!("the CLI that started this plugin is gone; exiting");
                std::process::exit(1);
            }
        }
    });
}

/// Every RPC answer is written as separate HTTP/2 frames; with Nagle's algorithm on, the last
/// frame waits for the CLI's delayed ACK (about 40 ms), which would add that much to every
/// call of a run.
fn no_delay(tcp: &tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::warn!(error = %e, "could not set TCP_NODELAY");
    }
}

fn plain_incoming(listener: TcpListener) -> impl Stream<Item = Result<tokio::net::TcpStream, std::io::Error>> {
    TcpListenerStream::new(listener).map(|conn| conn.inspect(no_delay))
}

/// Accepts TCP connections and completes TLS handshakes off the accept loop, so one slow or
/// refused client never holds up the others.
fn tls_incoming(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) -> impl Stream<Item = Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, std::io::Error>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            no_delay(&tcp);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => tracing::warn!(peer = %peer, error = %e, "TLS handshake refused"),
                    Err(_) => tracing::warn!(peer = %peer, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

fn router(provider: Arc<dyn Provider>, shutdown: Option<mpsc::Sender<()>>) -> tonic::service::Routes {
    use crate::proto::tfplugin6::provider_server::ProviderServer as Svc;
    let provider_service =
        Svc::new(ProviderServer::new(provider)).max_decoding_message_size(MAX_MESSAGE_BYTES).max_encoding_message_size(MAX_MESSAGE_BYTES);
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    // go-plugin's client checks the health of the service named "plugin".
    let reporter = health_reporter.clone();
    tokio::spawn(async move {
        reporter.set_service_status("plugin", tonic_health::ServingStatus::Serving).await;
    });
    let mut routes = tonic::service::Routes::new(provider_service);
    routes = routes.add_service(health_service);
    routes = routes.add_service(grpc_controller_server::GrpcControllerServer::new(Controller { shutdown }));
    routes = routes.add_service(grpc_stdio_server::GrpcStdioServer::new(Stdio));
    routes
}

async fn serve<S, IO, IE>(
    routes: tonic::service::Routes,
    incoming: S,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError>
where
    S: Stream<Item = Result<IO, IE>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Server::builder().add_routes(routes).serve_with_incoming_shutdown(incoming, shutdown).await?;
    Ok(())
}

struct Controller {
    shutdown: Option<mpsc::Sender<()>>,
}

#[tonic::async_trait]
impl grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _: tonic::Request<goplugin::Empty>) -> Result<tonic::Response<goplugin::Empty>, tonic::Status> {
        match &self.shutdown {
            Some(tx) => {
                tracing::debug!("shutdown requested by the CLI");
                let _ = tx.try_send(());
            }
            None => tracing::debug!("shutdown request ignored in debug mode"),
        }
        Ok(tonic::Response::new(goplugin::Empty {}))
    }
}

/// Logs go straight to stderr, which go-plugin already reads, so the stdio stream carries
/// nothing; it stays open until the client goes away.
struct Stdio;

#[tonic::async_trait]
impl grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = tokio_stream::Pending<Result<goplugin::StdioData, tonic::Status>>;

    async fn stream_stdio(&self, _: tonic::Request<()>) -> Result<tonic::Response<Self::StreamStdioStream>, tonic::Status> {
        Ok(tonic::Response::new(tokio_stream::pending()))
    }
}
